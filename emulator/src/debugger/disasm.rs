//! Disassembly for `u` and trace lines, through iced-x86's decoder and
//! Intel-syntax formatter (lower case, `0x` hex, as Bochs' debugger
//! prints).

use std::fmt::Write;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, OpKind};

/// A formatter kept between calls (building one allocates).
pub struct Disassembler {
    fmt: IntelFormatter,
    text: String,
}

impl Default for Disassembler {
    fn default() -> Self {
        Disassembler::new()
    }
}

impl Disassembler {
    pub fn new() -> Disassembler {
        let mut fmt = IntelFormatter::new();
        let o = fmt.options_mut();
        o.set_hex_prefix("0x");
        o.set_hex_suffix("");
        o.set_uppercase_hex(false);
        o.set_space_after_operand_separator(true);
        o.set_show_branch_size(false);
        Disassembler {
            fmt,
            text: String::new(),
        }
    }

    /// The instruction at the start of `bytes`, decoded as 16- or 32-bit
    /// code at offset `ip`: its text and length. Bytes that do not form an
    /// instruction give "(bad)" (length 0 when they run out first).
    pub fn decode(&mut self, bytes: &[u8], code32: bool, ip: u32) -> (String, usize) {
        let bitness = if code32 { 32 } else { 16 };
        let mut decoder = Decoder::with_ip(bitness, bytes, ip as u64, DecoderOptions::NONE);
        let mut instr = Instruction::default();
        decoder.decode_out(&mut instr);
        if instr.is_invalid() {
            return ("(bad)".into(), 0);
        }
        self.text.clear();
        match instr.op0_kind() {
            // iced's Intel syntax writes a far pointer as "offset,
            // selector"; debuggers (Bochs, gdb) write selector:offset.
            // Its mnemonic text already says "far".
            OpKind::FarBranch16 | OpKind::FarBranch32 => {
                self.fmt.format_mnemonic(&instr, &mut self.text);
                let (off, width) = if instr.op0_kind() == OpKind::FarBranch16 {
                    (instr.far_branch16() as u32, 4)
                } else {
                    (instr.far_branch32(), 8)
                };
                let sel = instr.far_branch_selector();
                let _ = write!(self.text, " {sel:#06x}:0x{off:0width$x}");
            }
            _ => self.fmt.format(&instr, &mut self.text),
        }
        (self.text.clone(), instr.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_and_thirty_two_bit_code_decode_differently() {
        let mut d = Disassembler::new();
        // B8 34 12 is MOV AX, imm16 in 16-bit code ...
        assert_eq!(
            d.decode(&[0xB8, 0x34, 0x12], false, 0),
            ("mov ax, 0x1234".into(), 3)
        );
        // ... and needs four immediate bytes in 32-bit code.
        assert_eq!(
            d.decode(&[0xB8, 0x78, 0x56, 0x34, 0x12], true, 0),
            ("mov eax, 0x12345678".into(), 5)
        );
        assert_eq!(d.decode(&[0x0F, 0xFF], false, 0).0, "(bad)");
    }

    #[test]
    fn branch_targets_are_offsets_from_ip() {
        let mut d = Disassembler::new();
        // EB FE: a jump to itself.
        assert_eq!(d.decode(&[0xEB, 0xFE], false, 0x100).0, "jmp 0x0100");
        assert_eq!(
            d.decode(&[0xEA, 0x5B, 0xE0, 0x00, 0xF0], false, 0xFFF0).0,
            "jmp far 0xf000:0xe05b"
        );
    }
}
