//! Instruction clocks per CPU model: the "Clocks" columns of Intel's
//! manuals, one [`Timing`] per opcode-table row (each row of
//! [`super::table`] names its timing; nothing else restates it).
//!
//! Sources, column by column (facts only; values are Intel's):
//! - 8086: *8086 Family User's Manual* (1979), Table 2-21 (instruction
//!   timing) and Table 2-20 (effective-address calculation time);
//! - 80186: *80186/80188 High-Integration 16-bit Microprocessors* data
//!   sheet, "Instruction Set Summary" (clocks include the EA calculation);
//! - 80286: *80286 Programmer's Reference Manual* (1987), Appendix B
//!   (instruction set), "Clocks" column;
//! - 80386: *80386 Programmer's Reference Manual* (1986), chapter 17
//!   (instruction set), "Clocks" column;
//! - 80486: *i486 Microprocessor Programmer's Reference Manual* (1990),
//!   instruction set chapter, "Clocks" column;
//! - Pentium: *Pentium Processor Family Developer's Manual*, vol. 3,
//!   instruction timing (non-pipelined, cache-hit figures);
//! - P6: no per-instruction clock table exists for an out-of-order core.
//!   oxbox uses a simple model: 1 clock for register and load forms, 2 for
//!   read-modify-write forms, MUL/IMUL 4 and DIV 19/23/39 (8/16/32-bit)
//!   from the latencies in Agner Fog's *Instruction tables* (PPro/PII
//!   section), and the Pentium's figures for string, I/O, far transfer and
//!   system instructions.
//!
//! Conventions:
//! - where a manual gives a range (MUL, DIV, IMUL with early-out, BSF) the
//!   table holds its lower bound (the manuals' "best case");
//! - the 286's and 386's "+m" (bytes / components of the next instruction,
//!   paid on a transfer of control) is taken as m = 2;
//! - 8086 memory forms add the EA time by addressing mode at decode; the
//!   8086 and 186 add [`ODD_WORD`] clocks per word transferred at an odd
//!   address or port (data, stack and I/O; not instruction fetches);
//! - 8086/80186 prefixes cost 2 clocks each (a REP prefix of a string
//!   instruction is inside the string's own figure); 486 and Pentium
//!   prefixes 1 clock each; 286, 386 and P6 prefixes none;
//! - protected-mode forms (segment loads, far transfers through
//!   descriptors and gates, task switches, interrupts) are charged where
//!   they happen, as the difference between the manual's protected-mode
//!   figure and the real-mode one ([`System`]).

use super::decode::{pfx, Instr};
use super::model::CpuModel;
use super::{Cpu, Width};

/// Extra clocks of a word transfer at an odd address on the 8086 and 186
/// (two bus cycles instead of one; 8086 Family User's Manual, notes to
/// Table 2-21).
pub const ODD_WORD: u64 = 4;

/// How many models the columns cover (in [`CpuModel::ALL`] order).
pub const MODELS: usize = 7;

type Col = [u16; MODELS];

/// What the `extra` column means for a row, and when it is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No extra.
    Plain,
    /// Added when the branch (or INTO's trap) is taken.
    Taken,
    /// String instruction: `reg` is the single form, `mem` the REP form's
    /// start-up and `extra` each REP iteration.
    Rep,
    /// Added per bit of a shift count (8086: 4, 186/286: 1).
    PerCount,
    /// Added for a 32-bit operand (DIV/IDIV).
    Op32,
}

/// The clocks of one opcode-table row on every model.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Register (or operand-less) form.
    pub reg: Col,
    /// Memory-operand form (8086: without the EA time).
    pub mem: Col,
    pub extra: Col,
    pub kind: Kind,
}

const Z: Col = [0; MODELS];

/// An operand-less instruction, or one whose forms cost the same.
const fn flat(c: Col) -> Timing {
    Timing {
        reg: c,
        mem: c,
        extra: Z,
        kind: Kind::Plain,
    }
}

/// A ModRM instruction: register form, memory form.
const fn rm(reg: Col, mem: Col) -> Timing {
    Timing {
        reg,
        mem,
        extra: Z,
        kind: Kind::Plain,
    }
}

/// A conditional transfer: clocks when not taken and when taken.
const fn branch(not_taken: Col, taken: Col) -> Timing {
    let mut extra = Z;
    let mut i = 0;
    while i < MODELS {
        extra[i] = taken[i] - not_taken[i];
        i += 1;
    }
    Timing {
        reg: not_taken,
        mem: not_taken,
        extra,
        kind: Kind::Taken,
    }
}

/// A string instruction: once, REP start-up, per REP iteration.
const fn string(once: Col, rep: Col, per: Col) -> Timing {
    Timing {
        reg: once,
        mem: rep,
        extra: per,
        kind: Kind::Rep,
    }
}

const fn shift(reg: Col, mem: Col, per_bit: Col) -> Timing {
    Timing {
        reg,
        mem,
        extra: per_bit,
        kind: Kind::PerCount,
    }
}

const fn op32(t: Timing, extra: Col) -> Timing {
    Timing {
        extra,
        kind: Kind::Op32,
        ..t
    }
}

// Columns:                 8086 186  286  386  486  P5   P6

/// Rows that never execute (undefined opcodes raise #UD; its delivery is
/// charged as an exception).
pub const NONE: Timing = flat(Z);

// ----- ALU ---------------------------------------------------------------
/// ADD/OR/ADC/SBB/AND/SUB/XOR r/m, r.
pub const ALU_MR: Timing = rm([3, 3, 2, 2, 1, 1, 1], [16, 10, 7, 7, 3, 3, 2]);
/// The same operations r, r/m.
pub const ALU_RM: Timing = rm([3, 3, 2, 2, 1, 1, 1], [9, 10, 7, 6, 2, 2, 1]);
/// CMP r/m, r (no write-back).
pub const CMP_MR: Timing = rm([3, 3, 2, 2, 1, 1, 1], [9, 10, 7, 5, 2, 2, 1]);
/// AL/AX/EAX, imm.
pub const ALU_ACC_I: Timing = flat([4, 4, 3, 2, 1, 1, 1]);
pub const ALU_MI: Timing = rm([4, 4, 3, 2, 1, 1, 1], [17, 16, 7, 7, 3, 3, 2]);
pub const CMP_MI: Timing = rm([4, 3, 3, 2, 1, 1, 1], [10, 10, 6, 5, 2, 2, 1]);
pub const TEST_MR: Timing = rm([3, 3, 2, 2, 1, 1, 1], [9, 10, 6, 5, 2, 2, 1]);
pub const TEST_MI: Timing = rm([5, 4, 3, 2, 1, 1, 1], [11, 10, 6, 5, 2, 2, 1]);
pub const TEST_ACC_I: Timing = flat([4, 4, 3, 2, 1, 1, 1]);
pub const NOT_NEG: Timing = rm([3, 3, 2, 2, 1, 1, 1], [16, 10, 7, 6, 3, 3, 2]);
/// INC/DEC r16 (40-4F).
pub const INC_R: Timing = flat([2, 3, 2, 2, 1, 1, 1]);
/// INC/DEC r/m8 (FE /0-1).
pub const INC_M8: Timing = rm([3, 3, 2, 2, 1, 1, 1], [15, 15, 7, 6, 3, 3, 2]);
/// INC/DEC r/m16 (FF /0-1).
pub const INC_M: Timing = rm([2, 3, 2, 2, 1, 1, 1], [15, 15, 7, 6, 3, 3, 2]);
pub const DAA: Timing = flat([4, 4, 3, 4, 2, 3, 1]);
pub const AAA: Timing = flat([8, 8, 3, 4, 3, 3, 1]);
pub const AAS: Timing = flat([8, 7, 3, 4, 3, 3, 1]);
pub const AAM: Timing = flat([83, 19, 16, 17, 15, 18, 18]);
pub const AAD: Timing = flat([60, 15, 14, 19, 14, 10, 10]);
/// SALC is in no Intel table: the 8086's 3 is SingleStepTests' measured
/// figure; later models time it as CMC.
pub const SALC: Timing = flat([3, 2, 2, 2, 2, 2, 1]);
pub const CBW: Timing = flat([2, 2, 2, 3, 3, 3, 1]);
pub const CWD: Timing = flat([5, 4, 2, 2, 3, 2, 1]);

// ----- multiply and divide (lower bounds of the manuals' ranges) ---------
pub const MUL8: Timing = rm([70, 26, 13, 9, 13, 11, 4], [76, 32, 16, 12, 13, 11, 4]);
pub const MUL16: Timing = rm([118, 35, 21, 9, 13, 11, 4], [124, 41, 24, 12, 13, 11, 4]);
pub const IMUL8: Timing = rm([80, 25, 13, 9, 13, 11, 4], [86, 31, 16, 12, 13, 11, 4]);
pub const IMUL16: Timing = rm([128, 34, 21, 9, 13, 11, 4], [134, 40, 24, 12, 13, 11, 4]);
/// IMUL r, r/m, imm (69, 6B).
pub const IMUL_RMI: Timing = rm([0, 22, 21, 9, 13, 10, 4], [0, 29, 24, 12, 13, 10, 4]);
/// IMUL r, r/m (0F AF).
pub const IMUL_RRM: Timing = rm([0, 0, 0, 9, 13, 10, 4], [0, 0, 0, 12, 13, 10, 4]);
pub const DIV8: Timing = rm([80, 29, 14, 14, 16, 17, 19], [86, 35, 17, 17, 16, 17, 19]);
/// DIV r/m16; the 32-bit form adds 16 clocks (386: 38, 486: 40, P5: 41).
pub const DIV16: Timing = op32(
    rm([144, 38, 22, 22, 24, 25, 23], [150, 44, 25, 25, 24, 25, 23]),
    [0, 0, 0, 16, 16, 16, 16],
);
pub const IDIV8: Timing = rm([101, 44, 17, 19, 19, 22, 19], [107, 50, 20, 22, 20, 22, 19]);
/// IDIV r/m16; the 32-bit form adds 16 clocks (386: 43, 486: 43, P5: 46).
pub const IDIV16: Timing = op32(
    rm([165, 53, 25, 27, 27, 30, 23], [171, 59, 28, 30, 28, 30, 23]),
    [0, 0, 0, 16, 16, 16, 16],
);

// ----- shifts and bit operations ------------------------------------------
/// Shift/rotate by 1 (D0, D1).
pub const SHIFT_1: Timing = rm([2, 2, 2, 3, 3, 1, 1], [15, 15, 7, 7, 4, 3, 2]);
/// By CL (D2, D3): the 8086 adds 4 clocks per bit, the 186 and 286 one.
pub const SHIFT_CL: Timing = shift(
    [8, 5, 5, 3, 3, 4, 1],
    [20, 17, 8, 7, 4, 4, 2],
    [4, 1, 1, 0, 0, 0, 0],
);
/// By imm8 (C0, C1; 186 and later).
pub const SHIFT_I: Timing = shift(
    [0, 5, 5, 3, 2, 1, 1],
    [0, 17, 8, 7, 4, 3, 2],
    [0, 1, 1, 0, 0, 0, 0],
);
pub const SHD_I: Timing = rm([0, 0, 0, 3, 2, 4, 1], [0, 0, 0, 7, 3, 4, 2]);
pub const SHD_CL: Timing = rm([0, 0, 0, 3, 3, 4, 1], [0, 0, 0, 7, 4, 5, 2]);
pub const BT_R: Timing = rm([0, 0, 0, 3, 3, 4, 1], [0, 0, 0, 12, 8, 9, 1]);
/// BTS/BTR/BTC r/m, r.
pub const BTX_R: Timing = rm([0, 0, 0, 6, 6, 7, 1], [0, 0, 0, 13, 13, 13, 2]);
pub const BT_I: Timing = rm([0, 0, 0, 3, 3, 4, 1], [0, 0, 0, 6, 3, 4, 1]);
pub const BTX_I: Timing = rm([0, 0, 0, 6, 6, 7, 1], [0, 0, 0, 8, 8, 8, 2]);
pub const BSF: Timing = rm([0, 0, 0, 10, 6, 6, 1], [0, 0, 0, 10, 7, 6, 1]);
pub const SETCC: Timing = rm([0, 0, 0, 4, 4, 1, 1], [0, 0, 0, 5, 3, 2, 1]);

// ----- data movement ------------------------------------------------------
/// MOV r/m, r (88, 89).
pub const MOV_MR: Timing = rm([2, 2, 2, 2, 1, 1, 1], [9, 12, 3, 2, 1, 1, 1]);
/// MOV r, r/m (8A, 8B).
pub const MOV_RM: Timing = rm([2, 2, 2, 2, 1, 1, 1], [8, 9, 5, 4, 1, 1, 1]);
/// MOV r/m, imm (C6, C7).
pub const MOV_MI: Timing = rm([4, 3, 2, 2, 1, 1, 1], [10, 12, 3, 2, 1, 1, 1]);
/// MOV r, imm (B0-BF).
pub const MOV_RI: Timing = flat([4, 3, 2, 2, 1, 1, 1]);
/// MOV AL/AX, moffs (A0, A1).
pub const MOV_ACC_M: Timing = flat([10, 8, 5, 4, 1, 1, 1]);
/// MOV moffs, AL/AX (A2, A3).
pub const MOV_M_ACC: Timing = flat([10, 9, 3, 2, 1, 1, 1]);
/// MOV r/m, Sreg (8C).
pub const MOV_M_SREG: Timing = rm([2, 2, 2, 2, 3, 1, 1], [9, 11, 3, 2, 3, 1, 1]);
/// MOV Sreg, r/m (8E): real-mode figure; protected mode adds
/// [`System::seg_load`].
pub const MOV_SREG_M: Timing = rm([2, 2, 2, 2, 3, 2, 2], [8, 9, 5, 5, 3, 3, 3]);
pub const LEA: Timing = flat([2, 6, 3, 2, 1, 1, 1]);
/// LDS/LES (real mode; protected mode adds [`System::seg_load`]).
pub const LDS: Timing = flat([16, 18, 7, 7, 6, 4, 4]);
/// LSS/LFS/LGS.
pub const LSS: Timing = flat([0, 0, 0, 7, 6, 4, 4]);
pub const MOVX: Timing = rm([0, 0, 0, 3, 3, 3, 1], [0, 0, 0, 6, 3, 3, 1]);
pub const XCHG_ACC: Timing = flat([3, 3, 3, 3, 3, 2, 1]);
pub const NOP: Timing = flat([3, 3, 3, 3, 1, 1, 1]);
pub const XCHG_MR: Timing = rm([4, 4, 3, 3, 3, 3, 3], [17, 17, 5, 5, 5, 3, 3]);
pub const XLAT: Timing = flat([11, 11, 5, 5, 4, 4, 4]);
pub const LAHF: Timing = flat([4, 2, 2, 2, 3, 2, 1]);
pub const SAHF: Timing = flat([4, 3, 2, 3, 2, 2, 1]);
pub const CMOV: Timing = rm([0, 0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 2]);
pub const BSWAP: Timing = flat([0, 0, 0, 0, 1, 1, 1]);
pub const CMPXCHG: Timing = rm([0, 0, 0, 0, 6, 5, 5], [0, 0, 0, 0, 7, 6, 6]);
pub const XADD: Timing = rm([0, 0, 0, 0, 3, 3, 3], [0, 0, 0, 0, 4, 4, 4]);
pub const CMPXCHG8B: Timing = flat([0, 0, 0, 0, 0, 10, 10]);

// ----- stack ---------------------------------------------------------------
pub const PUSH_R: Timing = flat([11, 10, 3, 2, 1, 1, 1]);
pub const POP_R: Timing = flat([8, 10, 5, 4, 1, 1, 1]);
/// PUSH r/m (FF /6).
pub const PUSH_M: Timing = rm([11, 10, 3, 2, 1, 1, 1], [16, 16, 5, 5, 4, 2, 2]);
/// POP r/m (8F).
pub const POP_M: Timing = rm([8, 10, 5, 4, 4, 3, 1], [17, 20, 5, 5, 6, 3, 2]);
pub const PUSH_I: Timing = flat([0, 10, 3, 2, 1, 1, 1]);
pub const PUSH_SREG: Timing = flat([10, 9, 3, 2, 3, 1, 1]);
/// POP Sreg (real mode; protected mode adds [`System::seg_load`]).
pub const POP_SREG: Timing = flat([8, 8, 5, 7, 3, 3, 3]);
pub const PUSHA: Timing = flat([0, 36, 17, 18, 11, 5, 5]);
pub const POPA: Timing = flat([0, 51, 19, 24, 9, 5, 5]);
pub const PUSHF: Timing = flat([10, 9, 3, 4, 4, 4, 3]);
pub const POPF: Timing = flat([8, 8, 5, 5, 9, 6, 6]);
/// ENTER with nesting level 0 (deeper levels are not charged extra).
pub const ENTER: Timing = flat([0, 15, 11, 10, 14, 11, 11]);
pub const LEAVE: Timing = flat([0, 8, 5, 4, 5, 3, 3]);
pub const BOUND: Timing = flat([0, 33, 13, 10, 7, 8, 8]);

// ----- strings: once, REP start-up, per iteration ----------------------------
pub const MOVS: Timing = string(
    [18, 9, 5, 7, 7, 4, 4],
    [9, 8, 5, 7, 12, 13, 13],
    [17, 8, 4, 4, 3, 1, 1],
);
pub const CMPS: Timing = string(
    [22, 22, 8, 10, 8, 5, 5],
    [9, 5, 5, 5, 7, 9, 9],
    [22, 22, 9, 9, 7, 4, 4],
);
pub const STOS: Timing = string(
    [11, 10, 3, 4, 5, 3, 3],
    [9, 6, 4, 5, 7, 9, 9],
    [10, 9, 3, 5, 4, 1, 1],
);
pub const LODS: Timing = string(
    [12, 10, 5, 5, 5, 2, 2],
    [9, 6, 5, 5, 7, 7, 7],
    [13, 11, 4, 6, 4, 3, 3],
);
pub const SCAS: Timing = string(
    [15, 15, 7, 7, 6, 4, 4],
    [9, 5, 5, 5, 7, 9, 9],
    [15, 15, 8, 8, 5, 4, 4],
);
pub const INS: Timing = string(
    [0, 14, 5, 15, 17, 9, 9],
    [0, 8, 5, 13, 16, 11, 11],
    [0, 8, 4, 6, 8, 3, 3],
);
pub const OUTS: Timing = string(
    [0, 14, 5, 14, 17, 13, 13],
    [0, 8, 5, 12, 17, 13, 13],
    [0, 8, 4, 5, 5, 4, 4],
);

// ----- I/O ----------------------------------------------------------------
pub const IN_I: Timing = flat([10, 10, 5, 12, 14, 7, 7]);
pub const IN_DX: Timing = flat([8, 8, 5, 13, 14, 7, 7]);
pub const OUT_I: Timing = flat([10, 9, 3, 10, 16, 12, 12]);
pub const OUT_DX: Timing = flat([8, 7, 3, 11, 16, 12, 12]);

// ----- control transfer (286/386 figures include m = 2) --------------------
pub const JCC: Timing = branch([4, 4, 3, 3, 1, 1, 1], [16, 13, 9, 9, 3, 1, 1]);
/// Jcc rel16/32 (0F 80-8F).
pub const JCC_NEAR: Timing = branch([0, 0, 0, 3, 1, 1, 1], [0, 0, 0, 9, 3, 1, 1]);
pub const LOOPNE: Timing = branch([5, 6, 4, 11, 6, 7, 7], [19, 16, 10, 13, 9, 8, 8]);
pub const LOOPE: Timing = branch([6, 6, 4, 11, 6, 7, 7], [18, 16, 10, 13, 9, 8, 8]);
pub const LOOP: Timing = branch([5, 6, 4, 11, 6, 6, 6], [17, 16, 10, 13, 7, 6, 6]);
pub const JCXZ: Timing = branch([6, 5, 4, 5, 5, 5, 5], [18, 16, 10, 11, 8, 6, 6]);
/// JMP rel8/rel16/32 (EB, E9).
pub const JMP: Timing = flat([15, 14, 9, 9, 3, 1, 1]);
/// JMP r/m (FF /4).
pub const JMP_RM: Timing = rm([11, 11, 9, 9, 5, 2, 2], [18, 17, 13, 12, 5, 2, 2]);
/// JMP ptr16:16 (EA), real mode; protected mode adds [`System`] deltas.
pub const JMP_FAR: Timing = flat([15, 14, 13, 14, 17, 3, 3]);
/// JMP m16:16 (FF /5).
pub const JMP_FAR_M: Timing = flat([24, 26, 17, 19, 13, 4, 4]);
pub const CALL: Timing = flat([19, 15, 9, 9, 3, 1, 1]);
/// CALL r/m (FF /2).
pub const CALL_RM: Timing = rm([16, 13, 9, 9, 5, 2, 2], [21, 19, 13, 12, 5, 2, 2]);
/// CALL ptr16:16 (9A), real mode.
pub const CALL_FAR: Timing = flat([28, 23, 15, 19, 18, 4, 4]);
/// CALL m16:16 (FF /3), real mode.
pub const CALL_FAR_M: Timing = flat([37, 38, 18, 24, 17, 5, 5]);
pub const RET: Timing = flat([16, 16, 13, 12, 5, 2, 2]);
pub const RET_I: Timing = flat([20, 18, 13, 12, 5, 3, 3]);
pub const RETF: Timing = flat([26, 22, 17, 20, 13, 4, 4]);
pub const RETF_I: Timing = flat([25, 25, 17, 20, 14, 4, 4]);
pub const INT3: Timing = flat([52, 45, 25, 33, 26, 13, 13]);
pub const INT: Timing = flat([51, 47, 25, 37, 30, 16, 16]);
pub const INTO: Timing = branch([4, 4, 3, 3, 3, 4, 4], [53, 48, 26, 35, 28, 13, 13]);
pub const IRET: Timing = flat([32, 28, 19, 22, 15, 8, 8]);

// ----- processor control ---------------------------------------------------
pub const HLT: Timing = flat([2, 2, 2, 5, 4, 4, 4]);
pub const WAIT: Timing = flat([3, 6, 3, 6, 1, 1, 1]);
/// CMC, CLC, STC, CLD, STD.
pub const FLAG_OP: Timing = flat([2, 2, 2, 2, 2, 2, 1]);
pub const CLI: Timing = flat([2, 2, 3, 3, 5, 7, 7]);
pub const STI: Timing = flat([2, 2, 2, 3, 5, 7, 7]);
/// ESC / x87: the 8086 figures for ESC; 486 and later a representative
/// FADD (486: 8; Pentium: 3). x87 clocks per instruction are not modelled.
pub const ESC: Timing = rm([2, 6, 2, 2, 8, 3, 3], [8, 6, 2, 2, 8, 3, 3]);

// ----- system instructions (286 and later) ---------------------------------
pub const SLDT: Timing = rm([0, 0, 2, 2, 2, 2, 2], [0, 0, 3, 2, 3, 2, 2]);
pub const LLDT: Timing = rm([0, 0, 17, 20, 11, 9, 9], [0, 0, 19, 24, 11, 9, 9]);
pub const LTR: Timing = rm([0, 0, 17, 23, 20, 10, 10], [0, 0, 19, 27, 20, 10, 10]);
pub const VERR: Timing = rm([0, 0, 14, 10, 11, 7, 7], [0, 0, 16, 11, 11, 7, 7]);
pub const SGDT: Timing = flat([0, 0, 11, 9, 10, 4, 4]);
pub const LGDT: Timing = flat([0, 0, 11, 11, 11, 6, 6]);
pub const SMSW: Timing = rm([0, 0, 2, 2, 2, 4, 4], [0, 0, 3, 3, 3, 4, 4]);
pub const LMSW: Timing = rm([0, 0, 3, 10, 13, 8, 8], [0, 0, 6, 13, 13, 8, 8]);
pub const INVLPG: Timing = flat([0, 0, 0, 0, 12, 25, 25]);
pub const LAR: Timing = rm([0, 0, 14, 15, 11, 8, 8], [0, 0, 16, 16, 11, 8, 8]);
pub const LSL: Timing = rm([0, 0, 14, 20, 10, 8, 8], [0, 0, 16, 21, 10, 8, 8]);
pub const CLTS: Timing = flat([0, 0, 2, 5, 7, 10, 10]);
pub const ARPL: Timing = rm([0, 0, 10, 20, 9, 7, 7], [0, 0, 11, 21, 9, 7, 7]);
/// MOV r32, CRn / MOV CRn, r32 (the CR0 figures).
pub const MOV_R_CR: Timing = flat([0, 0, 0, 6, 4, 4, 4]);
pub const MOV_CR_R: Timing = flat([0, 0, 0, 10, 17, 22, 22]);
pub const MOV_R_DR: Timing = flat([0, 0, 0, 22, 10, 11, 11]);
pub const MOV_DR_R: Timing = flat([0, 0, 0, 22, 11, 11, 11]);
pub const INVD: Timing = flat([0, 0, 0, 0, 4, 15, 15]);
pub const WBINVD: Timing = flat([0, 0, 0, 0, 5, 2000, 2000]);
/// CPUID: the Pentium's figure (also for the late 486 steppings that
/// have it).
pub const CPUID: Timing = flat([0, 0, 0, 0, 14, 14, 14]);
pub const WRMSR: Timing = flat([0, 0, 0, 0, 0, 30, 30]);
pub const RDMSR: Timing = flat([0, 0, 0, 0, 0, 20, 20]);
pub const RDTSC: Timing = flat([0, 0, 0, 0, 0, 20, 20]);
/// RDPMC, SYSENTER, SYSEXIT (P6): representative microcode lengths.
pub const P6_SYS: Timing = flat([0, 0, 0, 0, 0, 0, 20]);
/// FXSAVE/FXRSTOR (P6): representative.
pub const FXSAVE: Timing = flat([0, 0, 0, 0, 0, 0, 100]);

/// Protected-mode extras, charged on top of the instruction's real-mode
/// figure where the transfer or load happens: the manual's protected-mode
/// clocks minus its real-mode clocks for the same instruction. Exception
/// and external-interrupt delivery costs [`System::deliver`] in any mode.
#[derive(Clone, Copy, Debug)]
pub struct System {
    /// Delivering an exception or external interrupt (the INT n figure).
    pub deliver: u16,
    /// A segment register loaded from a descriptor (MOV/POP Sreg, LDS...).
    pub seg_load: u16,
    /// JMP far to a code segment.
    pub far_jump: u16,
    /// JMP far through a call gate.
    pub jump_gate: u16,
    /// CALL far to a code segment.
    pub far_call: u16,
    /// CALL far through a call gate, same privilege.
    pub call_gate: u16,
    /// CALL far through a call gate to an inner privilege level.
    pub call_gate_inner: u16,
    /// Per parameter copied by such a call.
    pub call_gate_param: u16,
    /// RET far, same privilege.
    pub far_ret: u16,
    /// RET far to an outer privilege level.
    pub far_ret_outer: u16,
    /// IRET, same privilege.
    pub iret: u16,
    /// IRET to an outer privilege level (or to v8086 mode).
    pub iret_outer: u16,
    /// INT through a gate, same privilege.
    pub int: u16,
    /// INT through a gate to an inner privilege level.
    pub int_inner: u16,
    /// A task switch (through a TSS, task gate, or IRET with NT).
    pub task_switch: u16,
}

/// Per model, in [`CpuModel::ALL`] order. The 8086 and 186 have no
/// protected mode (only `deliver` applies).
const SYSTEM: [System; MODELS] = [
    // 8086: INT n 51.
    sys(51, [0; 14]),
    // 80186: INT n 47.
    sys(47, [0; 14]),
    // 80286 (m = 2): MOV Sreg 2 → 17; CALL far 15 → 28, gate 43, inner 84,
    // +4 per parameter; JMP far 13 → 25, gate 40; RETF 17 → 27, outer 57;
    // IRET 19 → 33, outer 57; INT 25 → 42, inner 80; via a TSS ~180.
    sys(25, [15, 12, 27, 13, 28, 69, 4, 10, 40, 14, 38, 17, 55, 165]),
    // 80386 (m = 2): MOV Sreg 2 → 18; CALL far 19 → 36, gate 54, inner 88;
    // JMP far 14 → 29, gate 47; RETF 20 → 34, outer 71; IRET 22 → 38,
    // outer 82; INT 37 → 59, inner 99; a task switch ~309 (386 TSS).
    sys(37, [16, 15, 33, 17, 35, 69, 4, 14, 51, 16, 60, 22, 62, 290]),
    // 80486: MOV Sreg 3 → 9; CALL far 18 → 20, gate 35, inner 69; JMP far
    // 17 → 19, gate 32; RETF 13 → 18, outer 33; IRET 15 → 36; INT 30 → 44,
    // inner 71; a task switch 37 + 199 (486 TSS).
    sys(30, [6, 2, 15, 2, 17, 51, 4, 5, 20, 21, 21, 14, 41, 220]),
    // Pentium (representative: the manual gives ranges by descriptor
    // type); P6 uses the same.
    sys(16, [6, 8, 15, 9, 18, 40, 2, 8, 19, 9, 19, 15, 32, 85]),
    sys(16, [6, 8, 15, 9, 18, 40, 2, 8, 19, 9, 19, 15, 32, 85]),
];

const fn sys(deliver: u16, v: [u16; 14]) -> System {
    System {
        deliver,
        seg_load: v[0],
        far_jump: v[1],
        jump_gate: v[2],
        far_call: v[3],
        call_gate: v[4],
        call_gate_inner: v[5],
        call_gate_param: v[6],
        far_ret: v[7],
        far_ret_outer: v[8],
        iret: v[9],
        iret_outer: v[10],
        int: v[11],
        int_inner: v[12],
        task_switch: v[13],
    }
}

/// The protected-mode and delivery extras of `model`.
#[inline]
pub fn system(model: CpuModel) -> &'static System {
    &SYSTEM[model as usize]
}

impl Cpu {
    /// The 8086/186 bus moves a word at an odd memory address or port in
    /// two cycles (segment bases are even, so an offset's parity is its
    /// address's).
    #[inline(always)]
    pub(crate) fn charge_odd<W: Width>(&mut self, addr: u32) {
        if W::BITS == 16 && addr & 1 != 0 && self.model <= CpuModel::I80186 {
            self.cycles += ODD_WORD;
        }
    }

    /// Add one of the model's [`System`] extras to the cycle counter.
    #[inline]
    pub(crate) fn charge(&mut self, which: impl Fn(&System) -> u16) {
        self.cycles += which(system(self.model)) as u64;
    }
}

/// 8086 effective-address calculation time for a 16-bit ModRM memory
/// operand (8086 Family User's Manual, Table 2-20).
fn ea_8086(modrm: u8) -> u16 {
    let md = modrm >> 6;
    let rm = modrm & 7;
    if md == 0 && rm == 6 {
        return 6; // displacement only
    }
    let disp = md != 0;
    match (rm, disp) {
        (4..=7, false) => 5, // base or index
        (4..=7, true) => 9,  // displacement + base or index
        (0 | 3, false) => 7, // BX+SI, BP+DI
        (1 | 2, false) => 8, // BX+DI, BP+SI
        (0 | 3, true) => 11,
        _ => 12,
    }
}

/// The clocks a decoded instruction costs when it starts, and its dynamic
/// extra (taken branch, REP iteration, shift bit; 0 if none), computed once
/// at decode from the row's timing, the operand form and the prefixes.
pub fn clocks(t: &Timing, model: CpuModel, ins: &Instr) -> (u16, u8) {
    let m = model as usize;
    let rep = ins.pfx & (pfx::REP | pfx::REPNE) != 0;
    let mut prefixes = ins.prefixes as u16;
    let mut base = match t.kind {
        Kind::Rep if rep => {
            prefixes = prefixes.saturating_sub(1);
            t.mem[m]
        }
        Kind::Rep => t.reg[m],
        _ if ins.is_mem() => {
            let mut c = t.mem[m];
            match model {
                CpuModel::I8086 if !ins.addr32() => c += ea_8086(ins.modrm),
                // 286: one more clock for base + index + displacement.
                CpuModel::I80286 if !ins.addr32() && ins.modrm >> 6 != 0 && ins.modrm & 7 < 4 => {
                    c += 1
                }
                _ => {}
            }
            c
        }
        _ => t.reg[m],
    };
    if t.kind == Kind::Op32 && ins.op32() {
        base += t.extra[m];
    }
    base += prefixes
        * match model {
            CpuModel::I8086 | CpuModel::I80186 => 2,
            CpuModel::I80486 | CpuModel::Pentium => 1,
            _ => 0,
        };
    let extra = match t.kind {
        Kind::Taken | Kind::PerCount => t.extra[m],
        Kind::Rep if rep => t.extra[m],
        _ => 0,
    };
    (base, extra.min(u8::MAX as u16) as u8)
}
