//! The opcode table: the one source of truth for every encoding.
//!
//! Each row names an instruction form: mnemonic, whether it has a ModRM
//! byte, its immediate operands, the functions that execute it (16- and
//! 32-bit operand size), the status flags it leaves undefined, and the
//! models that have it. The decoder, the conformance runner's flag masks and
//! the debugger all read these rows; nothing restates them.
//!
//! Rows for ModRM-selected groups (0x80, 0xF6, 0xFF, ...) carry the `reg`
//! field they apply to. Later rows override earlier ones for the models they
//! cover, which is how the 8086's aliases of undefined opcodes are stated.

use std::sync::OnceLock;

use super::decode::{prefix, Exec};
use super::exec::{alu, bcd, bits, control, data, muldiv, privileged, shift, string, system};
use super::flags::{AF, CF, OF, OSZAPC, PF, SF, SZAP, ZF};
use super::model::CpuModel;
use super::timing::{self as tm, Timing};
use super::{W16, W32, W8};

/// Immediate operands following the ModRM/displacement bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imm {
    None,
    /// One byte.
    B,
    /// Two bytes, whatever the operand size.
    W,
    /// Two or four bytes by operand size.
    V,
    /// Far pointer: offset (operand size) then a 16-bit selector.
    Ap,
    /// A memory offset of the address size (MOV AL, [moffs]).
    Moffs,
    /// ENTER: a 16-bit frame size and an 8-bit nesting level.
    WB,
}

/// One row of the opcode table.
#[derive(Clone, Copy, Debug)]
pub struct OpDef {
    pub mnemonic: &'static str,
    pub modrm: bool,
    pub imm: Imm,
    /// Executors for 16-bit and 32-bit operand size (the same function for
    /// byte-sized and size-independent instructions).
    pub exec: [Exec; 2],
    /// Status flags the instruction leaves undefined (Intel's documentation;
    /// for the 8086 also SingleStepTests' metadata, which agrees).
    pub undef: u32,
    pub since: CpuModel,
    pub until: CpuModel,
    /// For group opcodes: the rows selected by ModRM.reg.
    pub group: Option<[u16; 8]>,
    /// 0x0F on the 286 and later: the next byte indexes the two-byte map.
    pub escape_0f: bool,
    /// May carry a LOCK prefix (with a memory destination). The 386 and
    /// later raise #UD for LOCK on anything else (SDM vol. 2, LOCK).
    pub lockable: bool,
    /// Clocks per model ([`super::timing`]).
    pub timing: &'static Timing,
}

const fn def(mnemonic: &'static str, modrm: bool, imm: Imm, exec: [Exec; 2], undef: u32) -> OpDef {
    OpDef {
        mnemonic,
        modrm,
        imm,
        exec,
        undef,
        since: CpuModel::I8086,
        until: CpuModel::PentiumPro,
        group: None,
        escape_0f: false,
        lockable: false,
        timing: &tm::NONE,
    }
}

impl OpDef {
    const fn since(mut self, m: CpuModel) -> OpDef {
        self.since = m;
        self
    }

    const fn only(mut self, m: CpuModel) -> OpDef {
        self.since = m;
        self.until = m;
        self
    }

    const fn lockable(mut self) -> OpDef {
        self.lockable = true;
        self
    }

    const fn t(mut self, timing: &'static Timing) -> OpDef {
        self.timing = timing;
        self
    }

    fn covers(&self, m: CpuModel) -> bool {
        self.since <= m && m <= self.until
    }
}

/// Which opcode map a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Map {
    One,
    Two,
}

struct Spec {
    map: Map,
    opcode: u8,
    /// ModRM.reg for group rows.
    reg: Option<u8>,
    def: OpDef,
}

macro_rules! b {
    ($f:path) => {
        [$f as Exec, $f as Exec]
    };
    ($f:ident :: $g:ident, $($c:expr),+) => {
        [$f::$g::<W8, $($c),+> as Exec, $f::$g::<W8, $($c),+> as Exec]
    };
}
macro_rules! b8 {
    ($f:ident :: $g:ident) => {
        [$f::$g::<W8> as Exec, $f::$g::<W8> as Exec]
    };
}
macro_rules! w {
    ($f:ident :: $g:ident) => {
        [$f::$g::<W16> as Exec, $f::$g::<W32> as Exec]
    };
    ($f:ident :: $g:ident, $($c:expr),+) => {
        [$f::$g::<W16, $($c),+> as Exec, $f::$g::<W32, $($c),+> as Exec]
    };
}
macro_rules! one {
    ($op:expr, $d:expr) => {
        Spec {
            map: Map::One,
            opcode: $op,
            reg: None,
            def: $d,
        }
    };
}
macro_rules! grp {
    ($op:expr, $reg:expr, $d:expr) => {
        Spec {
            map: Map::One,
            opcode: $op,
            reg: Some($reg),
            def: $d,
        }
    };
}
macro_rules! two {
    ($op:expr, $d:expr) => {
        Spec {
            map: Map::Two,
            opcode: $op,
            reg: None,
            def: $d,
        }
    };
}
macro_rules! grp2 {
    ($op:expr, $reg:expr, $d:expr) => {
        Spec {
            map: Map::Two,
            opcode: $op,
            reg: Some($reg),
            def: $d,
        }
    };
}

use CpuModel::{I80186 as M186, I80286 as M286, I80386 as M386, I80486 as M486, I8086 as M86};
use Imm::{Ap, Moffs, None as NoImm, B as Ib, V as Iv, W as Iw, WB as IwIb};

const LOGIC_UNDEF: u32 = AF;
const SHIFT_UNDEF: u32 = OF | AF;
const ROT_UNDEF: u32 = OF;

const ALU_NAMES: [&str; 8] = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const SHIFT_NAMES: [&str; 8] = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
const CC_NAMES: [&str; 16] = [
    "o", "no", "b", "nb", "z", "nz", "be", "a", "s", "ns", "p", "np", "l", "nl", "le", "g",
];

fn alu_undef(op: usize) -> u32 {
    if matches!(op, 1 | 4 | 6) {
        LOGIC_UNDEF
    } else {
        0
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The whole table as specs, in override order. One row per line, like a
/// table (rustfmt would spread them over several).
#[rustfmt::skip]
fn specs() -> Vec<Spec> {
    let mut v: Vec<Spec> = Vec::with_capacity(700);

    // 00-3F: the eight ALU operations in their six forms.
    macro_rules! alu_block {
        ($n:expr, $op:expr) => {{
            let base = ($n as u8) << 3;
            let name = ALU_NAMES[$n];
            let u = alu_undef($n);
            let lock = |d: OpDef| if $n == 7 { d } else { d.lockable() };
            // CMP writes nothing back: its memory forms are cheaper.
            let (mr, mi) = if $n == 7 { (&tm::CMP_MR, &tm::CMP_MI) } else { (&tm::ALU_MR, &tm::ALU_MI) };
            v.push(one!(base, lock(def(name, true, NoImm, b!(alu::rm_r, $op), u)).t(mr)));
            v.push(one!(base + 1, lock(def(name, true, NoImm, w!(alu::rm_r, $op), u)).t(mr)));
            v.push(one!(base + 2, def(name, true, NoImm, b!(alu::r_rm, $op), u).t(&tm::ALU_RM)));
            v.push(one!(base + 3, def(name, true, NoImm, w!(alu::r_rm, $op), u).t(&tm::ALU_RM)));
            v.push(one!(base + 4, def(name, false, Ib, b!(alu::acc_imm, $op), u).t(&tm::ALU_ACC_I)));
            v.push(one!(base + 5, def(name, false, Iv, w!(alu::acc_imm, $op), u).t(&tm::ALU_ACC_I)));
            v.push(grp!(0x80, $n as u8, lock(def(name, true, Ib, b!(alu::rm_imm, $op), u)).t(mi)));
            v.push(grp!(0x81, $n as u8, lock(def(name, true, Iv, w!(alu::rm_imm, $op), u)).t(mi)));
            // 0x82 is 0x80 again (undocumented; #UD in 64-bit mode only).
            v.push(grp!(0x82, $n as u8, lock(def(name, true, Ib, b!(alu::rm_imm, $op), u)).t(mi)));
            v.push(grp!(0x83, $n as u8, lock(def(name, true, Ib, w!(alu::rm_imm8s, $op), u)).t(mi)));
        }};
    }
    alu_block!(0, 0);
    alu_block!(1, 1);
    alu_block!(2, 2);
    alu_block!(3, 3);
    alu_block!(4, 4);
    alu_block!(5, 5);
    alu_block!(6, 6);
    alu_block!(7, 7);

    // Segment register pushes and pops.
    for (op, name) in [
        (0x06u8, "push es"),
        (0x0E, "push cs"),
        (0x16, "push ss"),
        (0x1E, "push ds"),
    ] {
        v.push(one!(op, def(name, false, NoImm, w!(data::push_sreg), 0).t(&tm::PUSH_SREG)));
    }
    for (op, name) in [(0x07u8, "pop es"), (0x17, "pop ss"), (0x1F, "pop ds")] {
        v.push(one!(op, def(name, false, NoImm, w!(data::pop_sreg), 0).t(&tm::POP_SREG)));
    }
    // 0x0F: POP CS on the 8086, the two-byte escape from the 286 on.
    v.push(one!(0x0F, def("pop cs", false, NoImm, w!(data::pop_sreg), 0).only(M86).t(&tm::POP_SREG)));
    v.push(one!(0x0F, OpDef { escape_0f: true, ..def("(0f)", false, NoImm, b!(system::ud), 0).since(M286) }));

    v.push(one!(0x27, def("daa", false, NoImm, b!(bcd::daa), OF).t(&tm::DAA)));
    v.push(one!(0x2F, def("das", false, NoImm, b!(bcd::das), OF).t(&tm::DAA)));
    v.push(one!(0x37, def("aaa", false, NoImm, b!(bcd::aaa), OF | SF | ZF | PF).t(&tm::AAA)));
    v.push(one!(0x3F, def("aas", false, NoImm, b!(bcd::aas), OF | SF | ZF | PF).t(&tm::AAS)));

    for r in 0..8u8 {
        v.push(one!(0x40 + r, def("inc", false, NoImm, w!(alu::inc_r), 0).t(&tm::INC_R)));
        v.push(one!(0x48 + r, def("dec", false, NoImm, w!(alu::dec_r), 0).t(&tm::INC_R)));
        v.push(one!(0x50 + r, def("push", false, NoImm, w!(data::push_r), 0).t(&tm::PUSH_R)));
        v.push(one!(0x58 + r, def("pop", false, NoImm, w!(data::pop_r), 0).t(&tm::POP_R)));
        v.push(one!(0x90 + r, def(if r == 0 { "nop" } else { "xchg" }, false, NoImm, w!(data::xchg_acc_r), 0).t(if r == 0 { &tm::NOP } else { &tm::XCHG_ACC })));
        v.push(one!(0xB0 + r, def("mov", false, Ib, b8!(data::mov_r_imm), 0).t(&tm::MOV_RI)));
        v.push(one!(0xB8 + r, def("mov", false, Iv, w!(data::mov_r_imm), 0).t(&tm::MOV_RI)));
    }

    // 186 additions.
    v.push(one!(0x60, def("pusha", false, NoImm, w!(data::pusha), 0).since(M186).t(&tm::PUSHA)));
    v.push(one!(0x61, def("popa", false, NoImm, w!(data::popa), 0).since(M186).t(&tm::POPA)));
    v.push(one!(0x62, def("bound", true, NoImm, w!(data::bound), 0).since(M186).t(&tm::BOUND)));
    v.push(one!(0x68, def("push", false, Iv, w!(data::push_imm), 0).since(M186).t(&tm::PUSH_I)));
    v.push(one!(0x69, def("imul", true, Iv, w!(muldiv::imul_r_rm_imm), SZAP).since(M186).t(&tm::IMUL_RMI)));
    v.push(one!(0x6A, def("push", false, Ib, w!(data::push_imm8), 0).since(M186).t(&tm::PUSH_I)));
    v.push(one!(0x6B, def("imul", true, Ib, w!(muldiv::imul_r_rm_imm8), SZAP).since(M186).t(&tm::IMUL_RMI)));
    v.push(one!(0x6C, def("insb", false, NoImm, b8!(string::ins), 0).since(M186).t(&tm::INS)));
    v.push(one!(0x6D, def("ins", false, NoImm, w!(string::ins), 0).since(M186).t(&tm::INS)));
    v.push(one!(0x6E, def("outsb", false, NoImm, b8!(string::outs), 0).since(M186).t(&tm::OUTS)));
    v.push(one!(0x6F, def("outs", false, NoImm, w!(string::outs), 0).since(M186).t(&tm::OUTS)));

    for cc in 0..16u8 {
        v.push(one!(0x70 + cc, def(leak(format!("j{}", CC_NAMES[cc as usize])), false, Ib, b!(control::jcc_short), 0).t(&tm::JCC)));
        // On the 8086, 60-6F decode as 70-7F (SingleStepTests: status alias).
        v.push(one!(0x60 + cc, def(leak(format!("j{}", CC_NAMES[cc as usize])), false, Ib, b!(control::jcc_short), 0) .only(M86).t(&tm::JCC)));
    }

    v.push(one!(0x84, def("test", true, NoImm, b8!(alu::test_rm_r), LOGIC_UNDEF).t(&tm::TEST_MR)));
    v.push(one!(0x85, def("test", true, NoImm, w!(alu::test_rm_r), LOGIC_UNDEF).t(&tm::TEST_MR)));
    v.push(one!(0x86, def("xchg", true, NoImm, b8!(data::xchg_rm_r), 0).lockable().t(&tm::XCHG_MR)));
    v.push(one!(0x87, def("xchg", true, NoImm, w!(data::xchg_rm_r), 0).lockable().t(&tm::XCHG_MR)));
    v.push(one!(0x88, def("mov", true, NoImm, b8!(data::mov_rm_r), 0).t(&tm::MOV_MR)));
    v.push(one!(0x89, def("mov", true, NoImm, w!(data::mov_rm_r), 0).t(&tm::MOV_MR)));
    v.push(one!(0x8A, def("mov", true, NoImm, b8!(data::mov_r_rm), 0).t(&tm::MOV_RM)));
    v.push(one!(0x8B, def("mov", true, NoImm, w!(data::mov_r_rm), 0).t(&tm::MOV_RM)));
    v.push(one!(0x8C, def("mov", true, NoImm, w!(data::mov_rm_sreg), 0).t(&tm::MOV_M_SREG)));
    v.push(one!(0x8D, def("lea", true, NoImm, w!(data::lea), 0).t(&tm::LEA)));
    v.push(one!(0x8E, def("mov", true, NoImm, w!(data::mov_sreg_rm), 0).t(&tm::MOV_SREG_M)));
    for r in 0..8u8 {
        // 8F /1-7: the 8086 ignores reg; later models raise #UD.
        let d = def("pop", true, NoImm, w!(data::pop_rm), 0).t(&tm::POP_M);
        v.push(grp!(0x8F, r, if r == 0 { d } else { d.only(M86) }));
    }

    v.push(one!(0x98, def("cbw", false, NoImm, w!(data::cbw), 0).t(&tm::CBW)));
    v.push(one!(0x99, def("cwd", false, NoImm, w!(data::cwd), 0).t(&tm::CWD)));
    v.push(one!(0x9A, def("call far", false, Ap, w!(control::call_far), 0).t(&tm::CALL_FAR)));
    v.push(one!(0x9B, def("wait", false, NoImm, b!(system::wait), 0).t(&tm::WAIT)));
    v.push(one!(0x9C, def("pushf", false, NoImm, w!(data::pushf), 0).t(&tm::PUSHF)));
    v.push(one!(0x9D, def("popf", false, NoImm, w!(data::popf), 0).t(&tm::POPF)));
    v.push(one!(0x9E, def("sahf", false, NoImm, b!(data::sahf), 0).t(&tm::SAHF)));
    v.push(one!(0x9F, def("lahf", false, NoImm, b!(data::lahf), 0).t(&tm::LAHF)));
    v.push(one!(0xA0, def("mov", false, Moffs, b8!(data::mov_acc_moffs), 0).t(&tm::MOV_ACC_M)));
    v.push(one!(0xA1, def("mov", false, Moffs, w!(data::mov_acc_moffs), 0).t(&tm::MOV_ACC_M)));
    v.push(one!(0xA2, def("mov", false, Moffs, b8!(data::mov_moffs_acc), 0).t(&tm::MOV_M_ACC)));
    v.push(one!(0xA3, def("mov", false, Moffs, w!(data::mov_moffs_acc), 0).t(&tm::MOV_M_ACC)));
    v.push(one!(0xA4, def("movsb", false, NoImm, b8!(string::movs), 0).t(&tm::MOVS)));
    v.push(one!(0xA5, def("movs", false, NoImm, w!(string::movs), 0).t(&tm::MOVS)));
    v.push(one!(0xA6, def("cmpsb", false, NoImm, b8!(string::cmps), 0).t(&tm::CMPS)));
    v.push(one!(0xA7, def("cmps", false, NoImm, w!(string::cmps), 0).t(&tm::CMPS)));
    v.push(one!(0xA8, def("test", false, Ib, b8!(alu::test_acc_imm), LOGIC_UNDEF).t(&tm::TEST_ACC_I)));
    v.push(one!(0xA9, def("test", false, Iv, w!(alu::test_acc_imm), LOGIC_UNDEF).t(&tm::TEST_ACC_I)));
    v.push(one!(0xAA, def("stosb", false, NoImm, b8!(string::stos), 0).t(&tm::STOS)));
    v.push(one!(0xAB, def("stos", false, NoImm, w!(string::stos), 0).t(&tm::STOS)));
    v.push(one!(0xAC, def("lodsb", false, NoImm, b8!(string::lods), 0).t(&tm::LODS)));
    v.push(one!(0xAD, def("lods", false, NoImm, w!(string::lods), 0).t(&tm::LODS)));
    v.push(one!(0xAE, def("scasb", false, NoImm, b8!(string::scas), 0).t(&tm::SCAS)));
    v.push(one!(0xAF, def("scas", false, NoImm, w!(string::scas), 0).t(&tm::SCAS)));

    // Shift group: C0/C1 by imm8 (186+), D0/D1 by 1, D2/D3 by CL.
    for r in 0..8u8 {
        let name = SHIFT_NAMES[r as usize];
        let (u1, un) = if r < 4 {
            (0, ROT_UNDEF)
        } else {
            (AF, SHIFT_UNDEF)
        };
        v.push(grp!(0xC0, r, def(name, true, Ib, b!(shift::group, 0, 2), un).since(M186).t(&tm::SHIFT_I)));
        v.push(grp!(0xC1, r, def(name, true, Ib, w!(shift::group, 0, 2), un).since(M186).t(&tm::SHIFT_I)));
        v.push(grp!(0xD0, r, def(name, true, NoImm, b!(shift::group, 0, 0), u1).t(&tm::SHIFT_1)));
        v.push(grp!(0xD1, r, def(name, true, NoImm, w!(shift::group, 0, 0), u1).t(&tm::SHIFT_1)));
        v.push(grp!(0xD2, r, def(name, true, NoImm, b!(shift::group, 0, 1), un).t(&tm::SHIFT_CL)));
        v.push(grp!(0xD3, r, def(name, true, NoImm, w!(shift::group, 0, 1), un).t(&tm::SHIFT_CL)));
    }
    // 8086: /6 is SETMO (D0/D1) and SETMOC (D2/D3): all ones, flags undefined.
    v.push(grp!(0xD0, 6, def("setmo", true, NoImm, b!(shift::group, 1, 0), OSZAPC).only(M86).t(&tm::SHIFT_1)));
    v.push(grp!(0xD1, 6, def("setmo", true, NoImm, w!(shift::group, 1, 0), OSZAPC).only(M86).t(&tm::SHIFT_1)));
    v.push(grp!(0xD2, 6, def("setmoc", true, NoImm, b!(shift::group, 1, 1), OSZAPC).only(M86).t(&tm::SHIFT_CL)));
    v.push(grp!(0xD3, 6, def("setmoc", true, NoImm, w!(shift::group, 1, 1), OSZAPC).only(M86).t(&tm::SHIFT_CL)));

    v.push(one!(0xC2, def("ret", false, Iw, w!(control::ret_near_imm), 0).t(&tm::RET_I)));
    v.push(one!(0xC3, def("ret", false, NoImm, w!(control::ret_near), 0).t(&tm::RET)));
    v.push(one!(0xC4, def("les", true, NoImm, w!(data::les), 0).t(&tm::LDS)));
    v.push(one!(0xC5, def("lds", true, NoImm, w!(data::lds), 0).t(&tm::LDS)));
    for r in 0..8u8 {
        let d6 = def("mov", true, Ib, b8!(data::mov_rm_imm), 0).t(&tm::MOV_MI);
        let d7 = def("mov", true, Iv, w!(data::mov_rm_imm), 0).t(&tm::MOV_MI);
        // C6/C7 /1-7: the 8086 ignores reg; later models raise #UD.
        v.push(grp!(0xC6, r, if r == 0 { d6 } else { d6.only(M86) }));
        v.push(grp!(0xC7, r, if r == 0 { d7 } else { d7.only(M86) }));
    }
    v.push(one!(0xC8, def("enter", false, IwIb, w!(data::enter), 0).since(M186).t(&tm::ENTER)));
    v.push(one!(0xC9, def("leave", false, NoImm, w!(data::leave), 0).since(M186).t(&tm::LEAVE)));
    v.push(one!(0xCA, def("retf", false, Iw, w!(control::ret_far_imm), 0).t(&tm::RETF_I)));
    v.push(one!(0xCB, def("retf", false, NoImm, w!(control::ret_far), 0).t(&tm::RETF)));
    // 8086 aliases: C0/C1 = C2/C3, C8/C9 = CA/CB.
    v.push(one!(0xC0, def("ret", false, Iw, w!(control::ret_near_imm), 0).only(M86).t(&tm::RET_I)));
    v.push(one!(0xC1, def("ret", false, NoImm, w!(control::ret_near), 0).only(M86).t(&tm::RET)));
    v.push(one!(0xC8, def("retf", false, Iw, w!(control::ret_far_imm), 0).only(M86).t(&tm::RETF_I)));
    v.push(one!(0xC9, def("retf", false, NoImm, w!(control::ret_far), 0).only(M86).t(&tm::RETF)));
    v.push(one!(0xCC, def("int3", false, NoImm, b!(control::int3), 0).t(&tm::INT3)));
    v.push(one!(0xCD, def("int", false, Ib, b!(control::int_imm), 0).t(&tm::INT)));
    v.push(one!(0xCE, def("into", false, NoImm, b!(control::into), 0).t(&tm::INTO)));
    v.push(one!(0xCF, def("iret", false, NoImm, w!(control::iret), 0).t(&tm::IRET)));

    v.push(one!(0xD4, def("aam", false, Ib, b!(bcd::aam), OF | AF | CF).t(&tm::AAM)));
    v.push(one!(0xD5, def("aad", false, Ib, b!(bcd::aad), OF | AF | CF).t(&tm::AAD)));
    v.push(one!(0xD6, def("salc", false, NoImm, b!(bcd::salc), 0).t(&tm::SALC)));
    v.push(one!(0xD7, def("xlat", false, NoImm, b!(data::xlat), 0).t(&tm::XLAT)));
    for op in 0xD8..=0xDFu8 {
        v.push(one!(op, def("esc", true, NoImm, b!(system::esc), 0).t(&tm::ESC)));
    }

    v.push(one!(0xE0, def("loopne", false, Ib, b!(control::loop_cc), 0).t(&tm::LOOPNE)));
    v.push(one!(0xE1, def("loope", false, Ib, b!(control::loop_cc), 0).t(&tm::LOOPE)));
    v.push(one!(0xE2, def("loop", false, Ib, b!(control::loop_cc), 0).t(&tm::LOOP)));
    v.push(one!(0xE3, def("jcxz", false, Ib, b!(control::jcxz), 0).t(&tm::JCXZ)));
    v.push(one!(0xE4, def("in", false, Ib, b8!(system::in_imm), 0).t(&tm::IN_I)));
    v.push(one!(0xE5, def("in", false, Ib, w!(system::in_imm), 0).t(&tm::IN_I)));
    v.push(one!(0xE6, def("out", false, Ib, b8!(system::out_imm), 0).t(&tm::OUT_I)));
    v.push(one!(0xE7, def("out", false, Ib, w!(system::out_imm), 0).t(&tm::OUT_I)));
    v.push(one!(0xE8, def("call", false, Iv, w!(control::call_near), 0).t(&tm::CALL)));
    v.push(one!(0xE9, def("jmp", false, Iv, w!(control::jmp_near), 0).t(&tm::JMP)));
    v.push(one!(0xEA, def("jmp far", false, Ap, w!(control::jmp_far), 0).t(&tm::JMP_FAR)));
    v.push(one!(0xEB, def("jmp", false, Ib, b!(control::jmp_short), 0).t(&tm::JMP)));
    v.push(one!(0xEC, def("in", false, NoImm, b8!(system::in_dx), 0).t(&tm::IN_DX)));
    v.push(one!(0xED, def("in", false, NoImm, w!(system::in_dx), 0).t(&tm::IN_DX)));
    v.push(one!(0xEE, def("out", false, NoImm, b8!(system::out_dx), 0).t(&tm::OUT_DX)));
    v.push(one!(0xEF, def("out", false, NoImm, w!(system::out_dx), 0).t(&tm::OUT_DX)));
    v.push(one!(0xF1, def("int1", false, NoImm, b!(control::int1), 0).since(M386).t(&tm::INT3)));
    v.push(one!(0xF4, def("hlt", false, NoImm, b!(system::hlt), 0).t(&tm::HLT)));
    v.push(one!(0xF5, def("cmc", false, NoImm, b!(system::cmc), 0).t(&tm::FLAG_OP)));
    for (op, name) in [
        (0xF8u8, "clc"),
        (0xF9, "stc"),
        (0xFA, "cli"),
        (0xFB, "sti"),
        (0xFC, "cld"),
        (0xFD, "std"),
    ] {
        let t = match op {
            0xFA => &tm::CLI,
            0xFB => &tm::STI,
            _ => &tm::FLAG_OP,
        };
        v.push(one!(op, def(name, false, NoImm, b!(system::flag_op), 0).t(t)));
    }

    // Group 3.
    v.push(grp!(0xF6, 0, def("test", true, Ib, b8!(alu::test_rm_imm), LOGIC_UNDEF).t(&tm::TEST_MI)));
    v.push(grp!(0xF7, 0, def("test", true, Iv, w!(alu::test_rm_imm), LOGIC_UNDEF).t(&tm::TEST_MI)));
    v.push(grp!(0xF6, 1, def("test", true, Ib, b8!(alu::test_rm_imm), LOGIC_UNDEF).t(&tm::TEST_MI)));
    v.push(grp!(0xF7, 1, def("test", true, Iv, w!(alu::test_rm_imm), LOGIC_UNDEF).t(&tm::TEST_MI)));
    v.push(grp!(0xF6, 2, def("not", true, NoImm, b8!(alu::not_rm), 0).lockable().t(&tm::NOT_NEG)));
    v.push(grp!(0xF7, 2, def("not", true, NoImm, w!(alu::not_rm), 0).lockable().t(&tm::NOT_NEG)));
    v.push(grp!(0xF6, 3, def("neg", true, NoImm, b8!(alu::neg_rm), 0).lockable().t(&tm::NOT_NEG)));
    v.push(grp!(0xF7, 3, def("neg", true, NoImm, w!(alu::neg_rm), 0).lockable().t(&tm::NOT_NEG)));
    v.push(grp!(0xF6, 4, def("mul", true, NoImm, b8!(muldiv::mul), SZAP).t(&tm::MUL8)));
    v.push(grp!(0xF7, 4, def("mul", true, NoImm, w!(muldiv::mul), SZAP).t(&tm::MUL16)));
    v.push(grp!(0xF6, 5, def("imul", true, NoImm, b8!(muldiv::imul), SZAP).t(&tm::IMUL8)));
    v.push(grp!(0xF7, 5, def("imul", true, NoImm, w!(muldiv::imul), SZAP).t(&tm::IMUL16)));
    v.push(grp!(0xF6, 6, def("div", true, NoImm, b8!(muldiv::div), OSZAPC).t(&tm::DIV8)));
    v.push(grp!(0xF7, 6, def("div", true, NoImm, w!(muldiv::div), OSZAPC).t(&tm::DIV16)));
    v.push(grp!(0xF6, 7, def("idiv", true, NoImm, b8!(muldiv::idiv), OSZAPC).t(&tm::IDIV8)));
    v.push(grp!(0xF7, 7, def("idiv", true, NoImm, w!(muldiv::idiv), OSZAPC).t(&tm::IDIV16)));

    // Groups 4 and 5.
    v.push(grp!(0xFE, 0, def("inc", true, NoImm, b8!(alu::inc_rm), 0).lockable().t(&tm::INC_M8)));
    v.push(grp!(0xFE, 1, def("dec", true, NoImm, b8!(alu::dec_rm), 0).lockable().t(&tm::INC_M8)));
    v.push(grp!(0xFF, 0, def("inc", true, NoImm, w!(alu::inc_rm), 0).lockable().t(&tm::INC_M)));
    v.push(grp!(0xFF, 1, def("dec", true, NoImm, w!(alu::dec_rm), 0).lockable().t(&tm::INC_M)));
    v.push(grp!(0xFF, 2, def("call", true, NoImm, w!(control::call_rm), 0).t(&tm::CALL_RM)));
    v.push(grp!(0xFF, 3, def("call far", true, NoImm, w!(control::call_far_m), 0).t(&tm::CALL_FAR_M)));
    v.push(grp!(0xFF, 4, def("jmp", true, NoImm, w!(control::jmp_rm), 0).t(&tm::JMP_RM)));
    v.push(grp!(0xFF, 5, def("jmp far", true, NoImm, w!(control::jmp_far_m), 0).t(&tm::JMP_FAR_M)));
    v.push(grp!(0xFF, 6, def("push", true, NoImm, w!(data::push_rm), 0).t(&tm::PUSH_M)));
    v.push(grp!(0xFF, 7, def("push", true, NoImm, w!(data::push_rm), 0).only(M86).t(&tm::PUSH_M)));
    // FE /2-7 on the 8086 run the FF microcode with a byte operand; oxbox
    // gives them the word forms (undefined, untested by any suite).
    for r in 2..8u8 {
        let d = match r {
            2 => def("call", true, NoImm, w!(control::call_rm), 0).t(&tm::CALL_RM),
            3 => def("call far", true, NoImm, w!(control::call_far_m), 0).t(&tm::CALL_FAR_M),
            4 => def("jmp", true, NoImm, w!(control::jmp_rm), 0).t(&tm::JMP_RM),
            5 => def("jmp far", true, NoImm, w!(control::jmp_far_m), 0).t(&tm::JMP_FAR_M),
            _ => def("push", true, NoImm, w!(data::push_rm), 0).t(&tm::PUSH_M),
        };
        v.push(grp!(0xFE, r, d.only(M86)));
    }

    // Two-byte map (286 and later): system instructions.
    let sys = |name: &'static str, f: [Exec; 2]| def(name, true, NoImm, f, 0).since(M286);
    v.push(grp2!(0x00, 0, sys("sldt", w!(privileged::sldt)).t(&tm::SLDT)));
    v.push(grp2!(0x00, 1, sys("str", w!(privileged::str_)).t(&tm::SLDT)));
    v.push(grp2!(0x00, 2, sys("lldt", b!(privileged::lldt)).t(&tm::LLDT)));
    v.push(grp2!(0x00, 3, sys("ltr", b!(privileged::ltr)).t(&tm::LTR)));
    v.push(grp2!(0x00, 4, def("verr", true, NoImm, b!(privileged::verr_verw), 0).since(M286).t(&tm::VERR)));
    v.push(grp2!(0x00, 5, def("verw", true, NoImm, b!(privileged::verr_verw), 0).since(M286).t(&tm::VERR)));
    v.push(grp2!(0x01, 0, sys("sgdt", w!(privileged::sgdt)).t(&tm::SGDT)));
    v.push(grp2!(0x01, 1, sys("sidt", w!(privileged::sidt)).t(&tm::SGDT)));
    v.push(grp2!(0x01, 2, sys("lgdt", w!(privileged::lgdt)).t(&tm::LGDT)));
    v.push(grp2!(0x01, 3, sys("lidt", w!(privileged::lidt)).t(&tm::LGDT)));
    v.push(grp2!(0x01, 4, sys("smsw", w!(privileged::smsw)).t(&tm::SMSW)));
    v.push(grp2!(0x01, 6, sys("lmsw", b!(privileged::lmsw)).t(&tm::LMSW)));
    v.push(grp2!(0x01, 7, def("invlpg", true, NoImm, b!(privileged::invlpg), 0).since(M486).t(&tm::INVLPG)));
    v.push(two!(0x02, def("lar", true, NoImm, w!(privileged::lar), 0).since(M286).t(&tm::LAR)));
    v.push(two!(0x03, def("lsl", true, NoImm, w!(privileged::lsl), 0).since(M286).t(&tm::LSL)));
    v.push(two!(0x06, def("clts", false, NoImm, b!(privileged::clts), 0).since(M286).t(&tm::CLTS)));
    v.push(one!(0x63, def("arpl", true, NoImm, b!(privileged::arpl), 0).since(M286).t(&tm::ARPL)));

    // 386 additions.
    for cc in 0..16u8 {
        let name = CC_NAMES[cc as usize];
        v.push(two!(0x80 + cc, def(leak(format!("j{name}")), false, Iv, w!(control::jcc_near), 0) .since(M386).t(&tm::JCC_NEAR)));
        v.push(two!(0x90 + cc, def(leak(format!("set{name}")), true, NoImm, b!(data::setcc), 0).since(M386).t(&tm::SETCC)));
    }
    v.push(two!(0x20, def("mov", true, NoImm, b!(privileged::mov_r_cr), 0).since(M386).t(&tm::MOV_R_CR)));
    v.push(two!(0x22, def("mov", true, NoImm, b!(privileged::mov_cr_r), 0).since(M386).t(&tm::MOV_CR_R)));
    v.push(two!(0x21, def("mov", true, NoImm, b!(privileged::mov_r_dr), 0).since(M386).t(&tm::MOV_R_DR)));
    v.push(two!(0x23, def("mov", true, NoImm, b!(privileged::mov_dr_r), 0).since(M386).t(&tm::MOV_DR_R)));
    v.push(two!(0xA0, def("push fs", false, NoImm, w!(data::push_sreg), 0).since(M386).t(&tm::PUSH_SREG)));
    v.push(two!(0xA1, def("pop fs", false, NoImm, w!(data::pop_sreg), 0).since(M386).t(&tm::POP_SREG)));
    v.push(two!(0xA8, def("push gs", false, NoImm, w!(data::push_sreg), 0).since(M386).t(&tm::PUSH_SREG)));
    v.push(two!(0xA9, def("pop gs", false, NoImm, w!(data::pop_sreg), 0).since(M386).t(&tm::POP_SREG)));
    let bt_undef = OF | SF | AF | PF;
    v.push(two!(0xA3, def("bt", true, NoImm, w!(bits::bt_rm_r, 0), bt_undef).since(M386).t(&tm::BT_R)));
    v.push(two!(0xAB, def("bts", true, NoImm, w!(bits::bt_rm_r, 1), bt_undef).since(M386).lockable().t(&tm::BTX_R)));
    v.push(two!(0xB3, def("btr", true, NoImm, w!(bits::bt_rm_r, 2), bt_undef).since(M386).lockable().t(&tm::BTX_R)));
    v.push(two!(0xBB, def("btc", true, NoImm, w!(bits::bt_rm_r, 3), bt_undef).since(M386).lockable().t(&tm::BTX_R)));
    for (r, name) in [(4u8, "bt"), (5, "bts"), (6, "btr"), (7, "btc")] {
        v.push(grp2!(0xBA, r, { let d = def(name, true, Ib, w!(bits::bt_rm_imm), bt_undef).since(M386); if r == 4 { d.t(&tm::BT_I) } else { d.lockable().t(&tm::BTX_I) } }));
    }
    v.push(two!(0xA4, def("shld", true, Ib, w!(shift::shld, 0), SHIFT_UNDEF).since(M386).t(&tm::SHD_I)));
    v.push(two!(0xA5, def("shld", true, NoImm, w!(shift::shld, 1), SHIFT_UNDEF).since(M386).t(&tm::SHD_CL)));
    v.push(two!(0xAC, def("shrd", true, Ib, w!(shift::shrd, 0), SHIFT_UNDEF).since(M386).t(&tm::SHD_I)));
    v.push(two!(0xAD, def("shrd", true, NoImm, w!(shift::shrd, 1), SHIFT_UNDEF).since(M386).t(&tm::SHD_CL)));
    v.push(two!(0xAF, def("imul", true, NoImm, w!(muldiv::imul_r_rm), SZAP).since(M386).t(&tm::IMUL_RRM)));
    v.push(two!(0xB2, def("lss", true, NoImm, w!(data::lss), 0).since(M386).t(&tm::LSS)));
    v.push(two!(0xB4, def("lfs", true, NoImm, w!(data::lfs), 0).since(M386).t(&tm::LSS)));
    v.push(two!(0xB5, def("lgs", true, NoImm, w!(data::lgs), 0).since(M386).t(&tm::LSS)));
    v.push(two!(0xB6, def("movzx", true, NoImm, w!(data::movzx, 8), 0).since(M386).t(&tm::MOVX)));
    v.push(two!(0xB7, def("movzx", true, NoImm, w!(data::movzx, 16), 0).since(M386).t(&tm::MOVX)));
    v.push(two!(0xBE, def("movsx", true, NoImm, w!(data::movsx, 8), 0).since(M386).t(&tm::MOVX)));
    v.push(two!(0xBF, def("movsx", true, NoImm, w!(data::movsx, 16), 0).since(M386).t(&tm::MOVX)));
    let bs_undef = OF | SF | AF | PF | CF;
    v.push(two!(0xBC, def("bsf", true, NoImm, w!(bits::bsf), bs_undef).since(M386).t(&tm::BSF)));
    v.push(two!(0xBD, def("bsr", true, NoImm, w!(bits::bsr), bs_undef).since(M386).t(&tm::BSF)));

    // 486 additions.
    v.push(two!(0x08, def("invd", false, NoImm, b!(privileged::invd), 0).since(M486).t(&tm::INVD)));
    v.push(two!(0x09, def("wbinvd", false, NoImm, b!(privileged::invd), 0).since(M486).t(&tm::WBINVD)));
    v.push(two!(0xA2, def("cpuid", false, NoImm, b!(privileged::cpuid), 0).since(M486).t(&tm::CPUID)));
    v.push(two!(0xB0, def("cmpxchg", true, NoImm, b8!(alu::cmpxchg), 0).since(M486).lockable().t(&tm::CMPXCHG)));
    v.push(two!(0xB1, def("cmpxchg", true, NoImm, w!(alu::cmpxchg), 0).since(M486).lockable().t(&tm::CMPXCHG)));
    v.push(two!(0xC0, def("xadd", true, NoImm, b8!(alu::xadd), 0).since(M486).lockable().t(&tm::XADD)));
    v.push(two!(0xC1, def("xadd", true, NoImm, w!(alu::xadd), 0).since(M486).lockable().t(&tm::XADD)));
    for r in 0..8u8 {
        v.push(two!(0xC8 + r, def("bswap", false, NoImm, b!(data::bswap), 0).since(M486).t(&tm::BSWAP)));
    }

    // Pentium and P6 additions.
    v.push(two!(0x30, def("wrmsr", false, NoImm, b!(privileged::wrmsr), 0).since(CpuModel::Pentium).t(&tm::WRMSR)));
    v.push(two!(0x31, def("rdtsc", false, NoImm, b!(privileged::rdtsc), 0).since(CpuModel::Pentium).t(&tm::RDTSC)));
    v.push(two!(0x32, def("rdmsr", false, NoImm, b!(privileged::rdmsr), 0).since(CpuModel::Pentium).t(&tm::RDMSR)));
    v.push(grp2!(0xC7, 1, def("cmpxchg8b", true, NoImm, b!(alu::cmpxchg8b), 0).since(CpuModel::Pentium).lockable().t(&tm::CMPXCHG8B)));
    v.push(two!(0x33, def("rdpmc", false, NoImm, b!(privileged::rdpmc), 0).since(CpuModel::PentiumPro).t(&tm::P6_SYS)));
    v.push(two!(0x34, def("sysenter", false, NoImm, b!(privileged::sysenter), 0).since(CpuModel::PentiumPro).t(&tm::P6_SYS)));
    v.push(two!(0x35, def("sysexit", false, NoImm, b!(privileged::sysexit), 0).since(CpuModel::PentiumPro).t(&tm::P6_SYS)));
    v.push(two!(0x0B, def("ud2", false, NoImm, b!(privileged::ud2), 0).since(M286)));
    v.push(grp2!(0xAE, 0, def("fxsave", true, NoImm, b!(privileged::fxsave), 0).since(CpuModel::PentiumPro).t(&tm::FXSAVE)));
    v.push(grp2!(0xAE, 1, def("fxrstor", true, NoImm, b!(privileged::fxrstor), 0).since(CpuModel::PentiumPro).t(&tm::FXSAVE)));
    for cc in 0..16u8 {
        let name = leak(format!("cmov{}", CC_NAMES[cc as usize]));
        v.push(two!(0x40 + cc, def(name, true, NoImm, w!(data::cmovcc), 0).since(CpuModel::PentiumPro).t(&tm::CMOV)));
    }
    v
}

/// The decode maps for one model: row indices into [`rows`].
pub struct Tables {
    pub one: [u16; 256],
    pub two: [u16; 256],
}

struct All {
    rows: Vec<OpDef>,
    models: Vec<Tables>,
}

fn undefined_row() -> OpDef {
    def("(bad)", false, NoImm, b!(system::ud), 0)
}

/// Build every model's maps from the specs.
fn build() -> All {
    let specs = specs();
    let mut rows: Vec<OpDef> = vec![undefined_row()];
    let mut models = Vec::new();
    for model in CpuModel::ALL {
        let mut maps = [[0u16; 256]; 2];
        // Group rows collected per (map, opcode).
        let mut groups: Vec<((Map, u8), [u16; 8])> = Vec::new();
        for s in specs.iter().filter(|s| s.def.covers(model)) {
            let idx = rows.len() as u16;
            rows.push(s.def);
            let m = if s.map == Map::One { 0 } else { 1 };
            match s.reg {
                None => maps[m][s.opcode as usize] = idx,
                Some(r) => {
                    let key = (s.map, s.opcode);
                    match groups.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, g)) => g[r as usize] = idx,
                        None => {
                            let mut g = [0u16; 8];
                            g[r as usize] = idx;
                            groups.push((key, g));
                        }
                    }
                }
            }
        }
        for ((map, opcode), g) in groups {
            // A ModRM-only header row whose group selects the real row;
            // undefined reg values keep row 0 (#UD).
            let first = rows[g.iter().copied().find(|&r| r != 0).unwrap_or(0) as usize];
            let header = OpDef {
                group: Some(g),
                modrm: true,
                imm: NoImm,
                ..first
            };
            let idx = rows.len() as u16;
            rows.push(header);
            maps[if map == Map::One { 0 } else { 1 }][opcode as usize] = idx;
        }
        // A group with undefined members needs a ModRM-decoding #UD row.
        let ud_modrm = rows.len() as u16;
        rows.push(def("(bad)", true, NoImm, b!(system::ud), 0));
        for r in rows.iter_mut() {
            if let Some(g) = r.group.as_mut() {
                for slot in g.iter_mut() {
                    if *slot == 0 {
                        *slot = ud_modrm;
                    }
                }
            }
        }
        models.push(Tables {
            one: maps[0],
            two: maps[1],
        });
    }
    All { rows, models }
}

fn all() -> &'static All {
    static ALL: OnceLock<All> = OnceLock::new();
    ALL.get_or_init(build)
}

/// The decode maps for `model`.
#[inline]
pub fn for_model(model: CpuModel) -> &'static Tables {
    &all().models[model as usize]
}

/// Row `idx` of the table.
#[inline]
pub fn row(idx: u16) -> &'static OpDef {
    &all().rows[idx as usize]
}

/// The table row an instruction's bytes decode to on `model`, or `None` if
/// the bytes end early.
pub fn lookup(model: CpuModel, bytes: &[u8]) -> Option<&'static OpDef> {
    let q = model.quirks();
    let t = for_model(model);
    let mut i = 0;
    while prefix(q, *bytes.get(i)?).is_some() {
        i += 1;
    }
    let mut r = row(t.one[*bytes.get(i)? as usize]);
    if r.escape_0f {
        i += 1;
        r = row(t.two[*bytes.get(i)? as usize]);
    }
    if let Some(g) = r.group {
        let modrm = *bytes.get(i + 1)?;
        r = row(g[((modrm >> 3) & 7) as usize]);
    }
    Some(r)
}

/// The FLAGS bits the opcode table says the instruction in `bytes` leaves
/// undefined on `model` (0 for bytes that do not decode).
pub fn undefined_flags(model: CpuModel, bytes: &[u8]) -> u16 {
    lookup(model, bytes).map_or(0, |r| r.undef as u16)
}

/// The mnemonic of the instruction in `bytes` on `model`.
pub fn mnemonic(model: CpuModel, bytes: &[u8]) -> &'static str {
    lookup(model, bytes).map_or("(bad)", |r| r.mnemonic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_decodes_the_basic_alu_forms() {
        for m in CpuModel::ALL {
            assert_eq!(mnemonic(m, &[0x00, 0xC0]), "add");
            assert_eq!(mnemonic(m, &[0x83, 0xF8, 0x01]), "cmp");
        }
    }

    #[test]
    fn the_8086_aliases_60_to_6f_onto_jcc() {
        assert_eq!(mnemonic(CpuModel::I8086, &[0x60, 0x00]), "jo");
        assert_eq!(mnemonic(CpuModel::I80286, &[0x60]), "pusha");
        assert_eq!(mnemonic(CpuModel::I8086, &[0xC1]), "ret");
        assert_eq!(mnemonic(CpuModel::I80186, &[0xC1, 0xE0, 1]), "shl");
    }

    #[test]
    fn group_members_absent_on_a_model_are_invalid() {
        assert_eq!(mnemonic(CpuModel::I8086, &[0xFF, 0xF8]), "push");
        assert_eq!(mnemonic(CpuModel::I80286, &[0xFF, 0xF8]), "(bad)");
        assert_eq!(mnemonic(CpuModel::I80286, &[0x8F, 0xC8]), "(bad)");
        assert_eq!(mnemonic(CpuModel::I8086, &[0x8F, 0xC8]), "pop");
    }

    #[test]
    fn undefined_flag_masks_follow_intel_documentation() {
        let m = CpuModel::I80286;
        assert_eq!(undefined_flags(m, &[0x20, 0xC0]) as u32, AF);
        assert_eq!(undefined_flags(m, &[0xF6, 0xF0]) as u32, OSZAPC);
        assert_eq!(undefined_flags(m, &[0xF6, 0xE0]) as u32, SZAP);
        assert_eq!(undefined_flags(m, &[0x26, 0xD4, 0x0A]) as u32, OF | AF | CF);
        assert_eq!(undefined_flags(m, &[0x00, 0xC0]), 0);
    }

    #[test]
    fn lockable_rows_are_the_read_modify_write_forms() {
        let m = CpuModel::I80386;
        let lockable = |b: &[u8]| lookup(m, b).unwrap().lockable;
        assert!(lockable(&[0x01, 0x00])); // ADD m, r
        assert!(!lockable(&[0x39, 0x00])); // CMP m, r
        assert!(!lockable(&[0x03, 0x00])); // ADD r, m
        assert!(lockable(&[0x83, 0x30, 1])); // XOR m, imm
        assert!(!lockable(&[0x83, 0x38, 1])); // CMP m, imm
        assert!(lockable(&[0x0F, 0xBA, 0x28, 1])); // BTS m, imm
        assert!(!lockable(&[0x0F, 0xBA, 0x20, 1])); // BT m, imm
        assert!(!lockable(&[0x8B, 0x00])); // MOV
    }

    #[test]
    fn two_byte_map_starts_with_the_286() {
        assert_eq!(mnemonic(CpuModel::I8086, &[0x0F]), "pop cs");
        assert_eq!(mnemonic(CpuModel::I80186, &[0x0F, 0x01, 0xE0]), "(bad)");
        assert_eq!(mnemonic(CpuModel::I80286, &[0x0F, 0x01, 0xE0]), "smsw");
        assert_eq!(mnemonic(CpuModel::I80286, &[0x0F, 0xB6, 0xC0]), "(bad)");
        assert_eq!(mnemonic(CpuModel::I80386, &[0x0F, 0xB6, 0xC0]), "movzx");
    }
}
