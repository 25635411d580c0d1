//! CPU models and every documented difference between them, in one place.
//!
//! The executor never asks "is this an 8086?"; it asks a question of
//! [`Quirks`] ("does PUSH SP push the decremented value?"), so a difference
//! between models is stated once, here.

use std::fmt;
use std::str::FromStr;

/// A selectable CPU model, oldest first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum CpuModel {
    I8086,
    I80186,
    I80286,
    I80386,
    I80486,
    Pentium,
    PentiumPro,
}

impl CpuModel {
    pub const ALL: [CpuModel; 7] = [
        CpuModel::I8086,
        CpuModel::I80186,
        CpuModel::I80286,
        CpuModel::I80386,
        CpuModel::I80486,
        CpuModel::Pentium,
        CpuModel::PentiumPro,
    ];

    /// The model's name as given on the command line (`--cpu`).
    pub fn name(self) -> &'static str {
        match self {
            CpuModel::I8086 => "8086",
            CpuModel::I80186 => "80186",
            CpuModel::I80286 => "80286",
            CpuModel::I80386 => "80386",
            CpuModel::I80486 => "80486",
            CpuModel::Pentium => "pentium",
            CpuModel::PentiumPro => "p6",
        }
    }

    /// Parse a model name; accepts the common aliases (`286`, `i386`, `486`,
    /// `586`, `686`, `pentiumpro`).
    pub fn from_name(name: &str) -> Option<CpuModel> {
        let lower = name.trim().to_ascii_lowercase();
        let stripped = lower.strip_prefix('i').unwrap_or(&lower);
        Some(match stripped {
            "8086" | "8088" | "86" => CpuModel::I8086,
            "80186" | "80188" | "186" => CpuModel::I80186,
            "80286" | "286" => CpuModel::I80286,
            "80386" | "386" => CpuModel::I80386,
            "80486" | "486" => CpuModel::I80486,
            "pentium" | "586" | "p5" => CpuModel::Pentium,
            "p6" | "686" | "pentiumpro" | "pentium-pro" | "ppro" => CpuModel::PentiumPro,
            _ => return None,
        })
    }

    /// The model-specific behaviour table.
    pub fn quirks(self) -> &'static Quirks {
        match self {
            CpuModel::I8086 => &QUIRKS_8086,
            CpuModel::I80186 => &QUIRKS_80186,
            CpuModel::I80286 => &QUIRKS_80286,
            CpuModel::I80386 => &QUIRKS_80386,
            CpuModel::I80486 | CpuModel::Pentium | CpuModel::PentiumPro => &QUIRKS_80486,
        }
    }

    /// True for the 80386 and later (32-bit registers, 0x66/0x67 prefixes).
    pub fn is_32bit(self) -> bool {
        self >= CpuModel::I80386
    }
}

impl fmt::Display for CpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CpuModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CpuModel::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = CpuModel::ALL.iter().map(|m| m.name()).collect();
            format!(
                "unknown CPU model '{s}' (expected one of: {})",
                names.join(", ")
            )
        })
    }
}

/// A placeholder for a CPU being deserialized, before its model's table
/// is looked up.
pub(crate) fn default_quirks() -> &'static Quirks {
    CpuModel::I8086.quirks()
}

/// How a model treats a word access that runs past the end of a segment in
/// real mode (offset 0xFFFF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentWrap {
    /// 8086/80186: the second byte comes from offset 0 of the same segment.
    WrapWithinSegment,
    /// 80286 and later: the segment limit (0xFFFF in real mode) is checked and
    /// the access faults. The 286 raises #GP (13) for every segment
    /// ("segment overrun", 80286 PRM §9.x real-mode exceptions); the 386 and
    /// later raise #SS for stack-segment references and #GP otherwise.
    LimitFault,
}

/// Every documented behavioural difference between the models.
#[derive(Debug)]
pub struct Quirks {
    /// Physical address lines: 20 on the 8086/186, 24 on the 286, 32 after.
    pub address_bits: u32,
    /// `PUSH SP` pushes the value of SP after the decrement (8086/186) instead
    /// of before it (286 and later).
    pub push_sp_pushes_new_value: bool,
    /// Shift and rotate counts are masked to 5 bits (186 and later). The 8086
    /// shifts up to 255 times.
    pub shift_count_mask: u8,
    /// Undefined opcodes raise #UD (6). The 8086 has no invalid-opcode
    /// exception: every byte sequence does something.
    pub has_invalid_opcode: bool,
    /// 0x0F is `POP CS` (8086 only).
    pub pop_cs: bool,
    /// 0x0F introduces two-byte opcodes (286 and later).
    pub two_byte_opcodes: bool,
    /// The 186 instruction additions (PUSHA, BOUND, ENTER, INS/OUTS, shifts
    /// by immediate, PUSH imm, IMUL imm). On the 8086 their opcodes are
    /// aliases of other instructions.
    pub has_186_instructions: bool,
    /// FLAGS bits that always read as 1 (bits 12-15 on the 8086/186, bit 1 on
    /// every model).
    pub flags_fixed_ones: u32,
    /// FLAGS bits software can change in real mode.
    pub flags_writable_real: u32,
    /// Real-mode segment overrun behaviour.
    pub segment_wrap: SegmentWrap,
    /// The divide-error return address is the next instruction (8086/186)
    /// rather than the faulting one.
    pub divide_error_pushes_next_ip: bool,
    /// A quotient of exactly 0x80 / 0x8000 (the most negative value) faults
    /// with #DE in IDIV on the 8086/186; the 286 and later return it.
    pub idiv_rejects_most_negative: bool,
    /// A REP/REPNE prefix on IMUL/IDIV negates the result (8086 microcode
    /// reuses the REP latch as a sign flip; documented by reenigne and in the
    /// SingleStepTests 8086 notes).
    pub rep_negates_mul_div: bool,
    /// 0xF1 is an alias of the LOCK prefix (8086/186); on the 286 it is the
    /// ICE prefix, and on the 386 and later INT1 (ICEBP).
    pub f1_is_lock: bool,
    /// The 8086 decodes 8C/8E with only two bits of ModRM.reg (4-7 alias 0-3).
    pub sreg_two_bit_decode: bool,
    /// 0x66/0x67 operand and address size prefixes, FS/GS, 32-bit registers.
    pub has_386_instructions: bool,
    /// 0xD6 is SALC (set AL from carry). Undocumented, present on every Intel
    /// model from the 8086 on.
    pub has_salc: bool,
    /// DAA/DAS the 8086 way: the high-nibble adjust compares the original AL
    /// with 0x9F instead of 0x99 when AF was set, and the low-nibble adjust
    /// never sets CF by its own carry (fits all SingleStepTests 8086
    /// vectors; the 286 follows the SDM pseudocode).
    pub bcd_adjust_8086: bool,
    /// Status flags AAM 0 leaves set when it raises #DE, as recorded on the
    /// silicon (`None`: flags unchanged). 8086: SF=0 ZF=1 PF=1; 286: SF=0
    /// ZF=0 PF=1 (SingleStepTests data; OF/AF/CF are undefined).
    pub aam_zero_szp: Option<u32>,
    /// The 286 updates SP/SI/DI as part of a memory access that then faults
    /// with a segment overrun: POP m16 keeps SP incremented, and a string
    /// instruction keeps the index register of the faulting access advanced
    /// (SingleStepTests 80286 data). CMPS reads ES:DI before DS:SI.
    pub commits_index_before_fault: bool,
    /// AF after SHR/SAR by a non-zero count (undefined): the 8086 clears it,
    /// the 286 sets it (every SingleStepTests vector agrees).
    pub shift_right_sets_af: bool,
    /// AF after MUL/IMUL (undefined): the 8086 clears it, the 286 sets it.
    /// Both leave SF/ZF/PF as for the high half of the product
    /// (SingleStepTests data).
    pub mul_sets_af: bool,
    /// A REP string instruction interrupted between iterations resumes at
    /// its last prefix byte, losing any prefix before it (a segment
    /// override written before REP): the 8086/8088 behaviour Intel documents
    /// in the 8086 family user's manual. Later models resume at the first.
    pub rep_resumes_at_last_prefix: bool,
    /// LOCK is only accepted on the read-modify-write instructions with a
    /// memory destination; elsewhere it raises #UD (386 and later; the 8086
    /// and 286 assert LOCK# for anything, as the 286 vectors show).
    pub lock_requires_lockable: bool,
    /// The instruction length limit (bytes) after which #GP is raised.
    /// The 8086 has none; the 286 limits to 10, the 386 and later to 15.
    pub max_instruction_len: usize,
}

const FLAGS_LOW: u32 = 0x0FD5; // CF PF AF ZF SF TF IF DF OF
const ZF_PF: u32 = 0x44;
const PF_ONLY: u32 = 0x04;

static QUIRKS_8086: Quirks = Quirks {
    address_bits: 20,
    push_sp_pushes_new_value: true,
    shift_count_mask: 0xFF,
    has_invalid_opcode: false,
    pop_cs: true,
    two_byte_opcodes: false,
    has_186_instructions: false,
    flags_fixed_ones: 0xF002,
    flags_writable_real: FLAGS_LOW,
    segment_wrap: SegmentWrap::WrapWithinSegment,
    divide_error_pushes_next_ip: true,
    idiv_rejects_most_negative: true,
    rep_negates_mul_div: true,
    f1_is_lock: true,
    sreg_two_bit_decode: true,
    has_386_instructions: false,
    has_salc: true,
    bcd_adjust_8086: true,
    aam_zero_szp: Some(ZF_PF),
    commits_index_before_fault: false,
    shift_right_sets_af: false,
    mul_sets_af: false,
    rep_resumes_at_last_prefix: true,
    lock_requires_lockable: false,
    max_instruction_len: usize::MAX,
};

static QUIRKS_80186: Quirks = Quirks {
    shift_count_mask: 0x1F,
    has_invalid_opcode: true,
    pop_cs: false,
    has_186_instructions: true,
    rep_negates_mul_div: false,
    sreg_two_bit_decode: false,
    rep_resumes_at_last_prefix: false,
    // The 80186 pushes the address of the faulting DIV (80186 data sheet,
    // "Interrupt type 0"), unlike the 8086.
    divide_error_pushes_next_ip: false,
    ..QUIRKS_8086
};

static QUIRKS_80286: Quirks = Quirks {
    address_bits: 24,
    push_sp_pushes_new_value: false,
    two_byte_opcodes: true,
    // Real mode: IOPL and NT cannot be set and bit 15 is zero; bits 12-15
    // read as 0 (80286 PRM, "Flags").
    flags_fixed_ones: 0x0002,
    flags_writable_real: FLAGS_LOW,
    segment_wrap: SegmentWrap::LimitFault,
    idiv_rejects_most_negative: false,
    bcd_adjust_8086: false,
    aam_zero_szp: Some(PF_ONLY),
    commits_index_before_fault: true,
    shift_right_sets_af: true,
    mul_sets_af: true,
    f1_is_lock: false,
    max_instruction_len: 10,
    ..QUIRKS_80186
};

static QUIRKS_80386: Quirks = Quirks {
    address_bits: 32,
    // IOPL and NT are writable in real mode on the 386 (SDM vol. 3 §20.1).
    flags_writable_real: FLAGS_LOW | 0x7000,
    has_386_instructions: true,
    lock_requires_lockable: true,
    aam_zero_szp: None,
    commits_index_before_fault: false,
    max_instruction_len: 15,
    ..QUIRKS_80286
};

static QUIRKS_80486: Quirks = Quirks { ..QUIRKS_80386 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in CpuModel::ALL {
            assert_eq!(CpuModel::from_name(m.name()), Some(m));
            assert_eq!(m.name().parse::<CpuModel>(), Ok(m));
        }
        assert_eq!(CpuModel::from_name("i386"), Some(CpuModel::I80386));
        assert!("z80".parse::<CpuModel>().is_err());
    }

    #[test]
    fn push_sp_differs_between_8086_and_286() {
        assert!(CpuModel::I8086.quirks().push_sp_pushes_new_value);
        assert!(!CpuModel::I80286.quirks().push_sp_pushes_new_value);
    }
}
