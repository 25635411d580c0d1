//! Trace lines (`trace on [FILE]`): one per instruction executed, as
//!
//! ```text
//! <instructions> <cycles> <cs>:<eip> <bytes> <disassembly> <changes>
//! ```
//!
//! where instructions and cycles are the counters before the instruction,
//! bytes are its encoding in hex, and changes list every register whose
//! value the instruction changed (EIP excepted) as `name=new`, in the
//! order the debugger's `r`, `sreg` and `creg` show them. Nothing in a
//! line depends on the host, so the trace of a run is the same every time.

use std::fmt::Write;

use crate::cpu::hooks::{RegSnapshot, TraceRecord};
use crate::cpu::{reg, seg};

use super::disasm::Disassembler;

/// Format one traced instruction.
pub fn trace_line(d: &mut Disassembler, r: &TraceRecord) -> String {
    let avail = &r.bytes[..r.len as usize];
    let (text, len) = if avail.is_empty() {
        ("(unmapped)".to_string(), 0)
    } else {
        d.decode(avail, r.code32, r.before.eip)
    };
    let mut hex = String::new();
    for b in &avail[..len.max(1).min(avail.len())] {
        let _ = write!(hex, "{b:02x}");
    }
    let cs = r.before.segs[seg::CS];
    let mut line = format!(
        "{:>10} {:>12} {cs:04x}:{:08x} {hex:<30} {text:<32}",
        r.instructions, r.cycles, r.before.eip
    );
    changes(&mut line, &r.before, &r.after);
    line.trim_end().to_string()
}

/// Append ` name=value` for every register that changed.
fn changes(line: &mut String, a: &RegSnapshot, b: &RegSnapshot) {
    for i in 0..8 {
        if a.gpr[i] != b.gpr[i] {
            let _ = write!(line, " {}={:08x}", reg::NAMES[i], b.gpr[i]);
        }
    }
    if a.eflags != b.eflags {
        let _ = write!(line, " eflags={:08x}", b.eflags);
    }
    for i in 0..6 {
        if a.segs[i] != b.segs[i] {
            let _ = write!(line, " {}={:04x}", seg::NAMES[i], b.segs[i]);
        }
    }
    for (i, n) in [0, 2, 3, 4].iter().enumerate() {
        if a.cr[i] != b.cr[i] {
            let _ = write!(line, " cr{n}={:08x}", b.cr[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_counters_address_bytes_text_and_changes() {
        let mut before = RegSnapshot::default();
        before.segs[seg::CS] = 0xF000;
        before.eip = 0x40;
        let mut after = before;
        after.eip = 0x42;
        after.gpr[reg::AX] = 0x68AC;
        after.eflags = 0x6;
        let mut bytes = [0; 15];
        bytes[..2].copy_from_slice(&[0x01, 0xD8]);
        let r = TraceRecord {
            instructions: 7,
            cycles: 9,
            lin: 0xF0040,
            code32: false,
            bytes,
            len: 15,
            before,
            after,
        };
        let line = trace_line(&mut Disassembler::new(), &r);
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields,
            [
                "7",
                "9",
                "f000:00000040",
                "01d8",
                "add",
                "ax,",
                "bx",
                "eax=000068ac",
                "eflags=00000006"
            ]
        );
    }
}
