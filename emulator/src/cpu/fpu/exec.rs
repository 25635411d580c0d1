//! The ESC opcode table (D8-DF × ModRM) and the glue between the CPU and
//! the x87 state.
//!
//! [`lookup`] is the one source of truth for x87 encodings: each row names
//! the mnemonic, the operand form (which also says what memory operand is
//! read or written), attributes (non-waiting, control instruction, P6-only)
//! and the semantic function. The CPU calls [`execute`] from the D8-DF rows
//! of its own table; the debugger can disassemble with [`lookup`] and
//! [`EscDef::operands`]; the differential tests drive [`execute_on`], which
//! runs a row on an [`Fpu`] with an already-read memory operand.
//!
//! Encodings follow SDM vol. 2 (each instruction) and appendix A.4
//! ("Escape opcode instructions"); the undocumented aliases the P6 decodes
//! (FSTP1, FCOM2, FCOMP3, FXCH4, FCOMP5, FXCH7, FSTP8, FSTP9, FFREEP) are
//! included.

use super::f80::{self, exc, Class, Cmp, Ctx, F80};
use super::trans::{self, TrigOp, TrigOut};
use super::{sw, EnvFormat, Fpu};
use crate::cpu::decode::Instr;
use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
use crate::cpu::{reg, seg, vector, Cpu, CpuModel, Fault, Result, W16, W32, W8};
use oxbox_devices::Bus;
use std::sync::OnceLock;

/// CR0 bits the x87 looks at (SDM vol. 3 §2.5).
pub const CR0_MP: u32 = 1 << 1;
pub const CR0_EM: u32 = 1 << 2;
pub const CR0_TS: u32 = 1 << 3;
pub const CR0_NE: u32 = 1 << 5;

/// Whether `model` has an on-chip (or, for oxbox, any) x87. The 80386 is
/// modelled without a 387.
pub fn has_fpu(model: CpuModel) -> bool {
    model >= CpuModel::I80486
}

/// The operand forms of the x87 encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    None,
    /// ST(0), ST(i).
    St0StI,
    /// ST(i), ST(0).
    StISt0,
    /// ST(i).
    StI,
    M32Real,
    M64Real,
    M80Real,
    M16Int,
    M32Int,
    M64Int,
    M80Bcd,
    /// A control or status word in memory.
    M16,
    /// The 14/28-byte environment.
    Env,
    /// The 94/108-byte state.
    State,
    /// AX (FNSTSW AX).
    Ax,
}

impl Form {
    /// Bytes of the memory operand (environment and state forms depend on
    /// the operand size and mode).
    pub fn mem_len(self) -> u32 {
        match self {
            Form::M32Real | Form::M32Int => 4,
            Form::M64Real | Form::M64Int => 8,
            Form::M80Real | Form::M80Bcd => 10,
            Form::M16Int | Form::M16 => 2,
            _ => 0,
        }
    }
}

/// A memory operand's value, read before the semantic function runs or
/// produced by it for the glue to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    None,
    F32(u32),
    F64(u64),
    F80(F80),
    I16(i16),
    I32(i32),
    I64(i64),
    Bcd([u8; 10]),
    Word(u16),
}

/// The inputs of a semantic function.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// The ESC opcode (D8-DF).
    pub opcode: u8,
    /// ModRM.reg.
    pub reg: u8,
    /// ModRM.rm: the i of ST(i).
    pub i: usize,
    pub mem: Mem,
    /// FCMOVcc: the EFLAGS condition holds.
    pub cond: bool,
}

/// What a semantic function asks the glue to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    None,
    /// Store to the memory operand.
    Mem(Mem),
    /// FNSTSW AX.
    Ax(u16),
    /// FCOMI/FUCOMI: ZF, PF, CF as EFLAGS bits (OF, SF, AF cleared).
    Eflags(u32),
}

pub type Sem = fn(&mut Fpu, &Arg) -> Out;

/// Row attributes.
pub mod attr {
    /// Does not check for pending unmasked exceptions (FN* forms).
    pub const NOWAIT: u8 = 1 << 0;
    /// A control instruction: leaves FIP/FCS/FOP/FDP/FDS unchanged.
    pub const CONTROL: u8 = 1 << 1;
    /// P6 family only (FCMOVcc, FCOMI, FUCOMI and their popping forms).
    pub const P6: u8 = 1 << 2;
    /// Not an instruction: #UD.
    pub const INVALID: u8 = 1 << 3;
    /// Writes its memory operand.
    pub const STORE: u8 = 1 << 4;
    /// FCMOVcc: needs the EFLAGS condition.
    pub const FCMOV: u8 = 1 << 5;
}

/// One row of the x87 opcode table.
#[derive(Clone, Copy, Debug)]
pub struct EscDef {
    pub mnemonic: &'static str,
    pub form: Form,
    pub sem: Sem,
    pub attrs: u8,
}

impl EscDef {
    /// The operand text of a register form, e.g. "st(0), st(3)"; memory
    /// forms give the operand size for the disassembler to prefix.
    pub fn operands(&self, modrm: u8) -> String {
        let i = modrm & 7;
        match self.form {
            Form::None => String::new(),
            Form::St0StI => format!("st(0), st({i})"),
            Form::StISt0 => format!("st({i}), st(0)"),
            Form::StI => format!("st({i})"),
            Form::Ax => "ax".into(),
            Form::M32Real | Form::M32Int => "dword ptr".into(),
            Form::M64Real | Form::M64Int => "qword ptr".into(),
            Form::M80Real | Form::M80Bcd => "tbyte ptr".into(),
            Form::M16Int | Form::M16 => "word ptr".into(),
            Form::Env | Form::State => "[mem]".into(),
        }
    }
}

const fn row(mnemonic: &'static str, form: Form, sem: Sem, attrs: u8) -> EscDef {
    EscDef {
        mnemonic,
        form,
        sem,
        attrs,
    }
}

fn sem_invalid(_: &mut Fpu, _: &Arg) -> Out {
    Out::None
}

fn sem_special(_: &mut Fpu, _: &Arg) -> Out {
    // Environment/state forms are carried out by the glue (they need the
    // mode and the whole memory image).
    Out::None
}

const BAD: EscDef = row("(bad)", Form::None, sem_invalid, attr::INVALID);

/// Index of a memory form: (opcode - D8) × 8 + reg; register forms follow
/// at 64 + (opcode - D8) × 64 + (modrm - C0).
fn index(opcode: u8, modrm: u8) -> usize {
    let op = (opcode.wrapping_sub(0xD8) & 7) as usize;
    if modrm < 0xC0 {
        op * 8 + ((modrm >> 3) & 7) as usize
    } else {
        64 + op * 64 + (modrm - 0xC0) as usize
    }
}

const ARITH: [&str; 8] = [
    "fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr",
];
const IARITH: [&str; 8] = [
    "fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr",
];
/// DC/DE register forms: reg 4-7 are FSUBR, FSUB, FDIVR, FDIV (the
/// destination is ST(i)).
const ARITH_DC: [&str; 8] = [
    "fadd", "fmul", "fcom2", "fcomp3", "fsubr", "fsub", "fdivr", "fdiv",
];
const ARITH_DE: [&str; 8] = [
    "faddp", "fmulp", "fcomp5", "", "fsubrp", "fsubp", "fdivrp", "fdivp",
];

fn build() -> Vec<EscDef> {
    use attr::*;
    use Form::*;
    let mut t = vec![BAD; 64 + 512];
    let mut set = |opcode: u8, modrm: u8, d: EscDef| t[index(opcode, modrm)] = d;
    let m = |reg: u8| reg << 3;
    for r in 0..8u8 {
        set(
            0xD8,
            m(r),
            row(ARITH[r as usize], M32Real, sem_arith_mem, 0),
        );
        set(
            0xDC,
            m(r),
            row(ARITH[r as usize], M64Real, sem_arith_mem, 0),
        );
        set(
            0xDA,
            m(r),
            row(IARITH[r as usize], M32Int, sem_arith_mem, 0),
        );
        set(
            0xDE,
            m(r),
            row(IARITH[r as usize], M16Int, sem_arith_mem, 0),
        );
        for i in 0..8u8 {
            let rm = 0xC0 | r << 3 | i;
            let d8_form = if r == 2 || r == 3 { StI } else { St0StI };
            set(0xD8, rm, row(ARITH[r as usize], d8_form, sem_arith_d8, 0));
            let dc_form = if r == 2 || r == 3 { StI } else { StISt0 };
            set(
                0xDC,
                rm,
                row(ARITH_DC[r as usize], dc_form, sem_arith_dc, 0),
            );
            if r != 3 {
                set(
                    0xDE,
                    rm,
                    row(ARITH_DE[r as usize], dc_form, sem_arith_de, 0),
                );
            }
        }
    }
    set(0xDE, 0xD9, row("fcompp", None, sem_fcompp, 0));

    // D9
    set(0xD9, m(0), row("fld", M32Real, sem_fld_mem, 0));
    set(0xD9, m(2), row("fst", M32Real, sem_fst_mem, STORE));
    set(0xD9, m(3), row("fstp", M32Real, sem_fst_mem, STORE));
    set(0xD9, m(4), row("fldenv", Env, sem_special, CONTROL));
    set(0xD9, m(5), row("fldcw", M16, sem_fldcw, CONTROL));
    set(
        0xD9,
        m(6),
        row("fnstenv", Env, sem_special, CONTROL | NOWAIT | STORE),
    );
    set(
        0xD9,
        m(7),
        row("fnstcw", M16, sem_fnstcw, CONTROL | NOWAIT | STORE),
    );
    for i in 0..8u8 {
        set(0xD9, 0xC0 | i, row("fld", StI, sem_fld_st, 0));
        set(0xD9, 0xC8 | i, row("fxch", StI, sem_fxch, 0));
        set(0xD9, 0xD8 | i, row("fstp1", StI, sem_fst_st, 0));
    }
    set(0xD9, 0xD0, row("fnop", None, sem_nop, 0));
    set(0xD9, 0xE0, row("fchs", None, sem_fchs, 0));
    set(0xD9, 0xE1, row("fabs", None, sem_fabs, 0));
    set(0xD9, 0xE4, row("ftst", None, sem_ftst, 0));
    set(0xD9, 0xE5, row("fxam", None, sem_fxam, 0));
    for (k, name) in [
        "fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz",
    ]
    .iter()
    .enumerate()
    {
        set(0xD9, 0xE8 + k as u8, row(name, None, sem_fldconst, 0));
    }
    let d9f: [(&str, Sem); 16] = [
        ("f2xm1", sem_f2xm1),
        ("fyl2x", sem_fyl2x),
        ("fptan", sem_fptan),
        ("fpatan", sem_fpatan),
        ("fxtract", sem_fxtract),
        ("fprem1", sem_fprem1),
        ("fdecstp", sem_fdecstp),
        ("fincstp", sem_fincstp),
        ("fprem", sem_fprem),
        ("fyl2xp1", sem_fyl2xp1),
        ("fsqrt", sem_fsqrt),
        ("fsincos", sem_fsincos),
        ("frndint", sem_frndint),
        ("fscale", sem_fscale),
        ("fsin", sem_fsin),
        ("fcos", sem_fcos),
    ];
    for (k, (name, f)) in d9f.iter().enumerate() {
        set(0xD9, 0xF0 + k as u8, row(name, None, *f, 0));
    }

    // DA
    for (r, name) in ["fcmovb", "fcmove", "fcmovbe", "fcmovu"].iter().enumerate() {
        for i in 0..8u8 {
            set(
                0xDA,
                0xC0 | (r as u8) << 3 | i,
                row(name, St0StI, sem_fcmov, P6 | FCMOV),
            );
        }
    }
    set(0xDA, 0xE9, row("fucompp", None, sem_fucompp, 0));

    // DB
    set(0xDB, m(0), row("fild", M32Int, sem_fild, 0));
    set(0xDB, m(2), row("fist", M32Int, sem_fist, STORE));
    set(0xDB, m(3), row("fistp", M32Int, sem_fist, STORE));
    set(0xDB, m(5), row("fld", M80Real, sem_fld_mem, 0));
    set(0xDB, m(7), row("fstp", M80Real, sem_fstp80, STORE));
    for (r, name) in ["fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu"]
        .iter()
        .enumerate()
    {
        for i in 0..8u8 {
            set(
                0xDB,
                0xC0 | (r as u8) << 3 | i,
                row(name, St0StI, sem_fcmov, P6 | FCMOV),
            );
        }
    }
    // FENI/FDISI (8087) and FSETPM (287) are no-ops from the 387 on.
    set(0xDB, 0xE0, row("fneni", None, sem_nop, CONTROL | NOWAIT));
    set(0xDB, 0xE1, row("fndisi", None, sem_nop, CONTROL | NOWAIT));
    set(
        0xDB,
        0xE2,
        row("fnclex", None, sem_fnclex, CONTROL | NOWAIT),
    );
    set(
        0xDB,
        0xE3,
        row("fninit", None, sem_fninit, CONTROL | NOWAIT),
    );
    set(0xDB, 0xE4, row("fnsetpm", None, sem_nop, CONTROL | NOWAIT));
    for i in 0..8u8 {
        set(0xDB, 0xE8 | i, row("fucomi", St0StI, sem_fcomi, P6));
        set(0xDB, 0xF0 | i, row("fcomi", St0StI, sem_fcomi, P6));
    }

    // DD
    set(0xDD, m(0), row("fld", M64Real, sem_fld_mem, 0));
    set(0xDD, m(2), row("fst", M64Real, sem_fst_mem, STORE));
    set(0xDD, m(3), row("fstp", M64Real, sem_fst_mem, STORE));
    set(0xDD, m(4), row("frstor", State, sem_special, CONTROL));
    set(
        0xDD,
        m(6),
        row("fnsave", State, sem_special, CONTROL | NOWAIT | STORE),
    );
    set(
        0xDD,
        m(7),
        row("fnstsw", M16, sem_fnstsw, CONTROL | NOWAIT | STORE),
    );
    for i in 0..8u8 {
        set(0xDD, 0xC0 | i, row("ffree", StI, sem_ffree, 0));
        set(0xDD, 0xC8 | i, row("fxch4", StI, sem_fxch, 0));
        set(0xDD, 0xD0 | i, row("fst", StI, sem_fst_st, 0));
        set(0xDD, 0xD8 | i, row("fstp", StI, sem_fst_st, 0));
        set(0xDD, 0xE0 | i, row("fucom", StI, sem_fucom, 0));
        set(0xDD, 0xE8 | i, row("fucomp", StI, sem_fucom, 0));
    }

    // DF
    set(0xDF, m(0), row("fild", M16Int, sem_fild, 0));
    set(0xDF, m(2), row("fist", M16Int, sem_fist, STORE));
    set(0xDF, m(3), row("fistp", M16Int, sem_fist, STORE));
    set(0xDF, m(4), row("fbld", M80Bcd, sem_fbld, 0));
    set(0xDF, m(5), row("fild", M64Int, sem_fild, 0));
    set(0xDF, m(6), row("fbstp", M80Bcd, sem_fbstp, STORE));
    set(0xDF, m(7), row("fistp", M64Int, sem_fist, STORE));
    for i in 0..8u8 {
        set(0xDF, 0xC0 | i, row("ffreep", StI, sem_ffree, 0));
        set(0xDF, 0xC8 | i, row("fxch7", StI, sem_fxch, 0));
        set(0xDF, 0xD0 | i, row("fstp8", StI, sem_fst_st, 0));
        set(0xDF, 0xD8 | i, row("fstp9", StI, sem_fst_st, 0));
        set(0xDF, 0xE8 | i, row("fucomip", St0StI, sem_fcomi, P6));
        set(0xDF, 0xF0 | i, row("fcomip", St0StI, sem_fcomi, P6));
    }
    set(
        0xDF,
        0xE0,
        row("fnstsw", Ax, sem_fnstsw, CONTROL | NOWAIT | STORE),
    );

    t
}

/// The table row for an ESC opcode (D8-DF) and its ModRM byte.
pub fn lookup(opcode: u8, modrm: u8) -> &'static EscDef {
    static T: OnceLock<Vec<EscDef>> = OnceLock::new();
    &T.get_or_init(build)[index(opcode, modrm)]
}

// ----- helpers -----------------------------------------------------------------

/// A memory operand of an arithmetic instruction as an extended value, and
/// whether it was a denormal in its own format.
fn mem_value(m: Mem) -> (F80, bool) {
    match m {
        Mem::F32(v) => f80::from_f32(v),
        Mem::F64(v) => f80::from_f64(v),
        Mem::I16(v) => (f80::from_int(v as i64), false),
        Mem::I32(v) => (f80::from_int(v as i64), false),
        Mem::I64(v) => (f80::from_int(v), false),
        Mem::F80(v) => (v, false),
        _ => (F80::ZERO, false),
    }
}

/// The arithmetic of reg field `op` (D8 numbering: 0 add, 1 mul, 4 x-y,
/// 5 y-x, 6 x/y, 7 y/x).
fn arith(ctx: &mut Ctx, op: u8, x: F80, y: F80, extra_de: bool) -> F80 {
    match op {
        0 => f80::add(ctx, x, y, extra_de),
        1 => f80::mul(ctx, x, y, extra_de),
        4 => f80::sub(ctx, x, y, extra_de),
        5 => f80::sub(ctx, y, x, extra_de),
        6 => f80::div(ctx, x, y, extra_de),
        _ => f80::div(ctx, y, x, extra_de),
    }
}

/// ST(dst) ← ST(dst) op ST(src), then pop if asked.
fn arith_regs(f: &mut Fpu, op: u8, dst: usize, src: usize, pop: bool) {
    if f.is_empty(dst) || f.is_empty(src) {
        if f.stack_fault(false) {
            f.set_st(dst, F80::INDEFINITE);
            if pop {
                f.pop();
            }
        }
        return;
    }
    let mut ctx = f.ctx();
    let r = arith(&mut ctx, op, f.st(dst), f.st(src), false);
    if f.commit(&ctx) {
        f.set_st(dst, r);
        if pop {
            f.pop();
        }
    }
}

/// Compare ST(0) with `y`; set C3/C2/C0 (or return EFLAGS) and pop `pops`
/// times. `y_empty`: the second operand is an empty register.
fn compare(
    f: &mut Fpu,
    y: F80,
    y_empty: bool,
    quiet: bool,
    extra_de: bool,
    pops: u8,
    eflags: bool,
) -> Out {
    // The condition codes (or EFLAGS) are set even when the exception is
    // unmasked; only the pops are suppressed then (host x87).
    let (result, deliver) = if f.is_empty(0) || y_empty {
        (Cmp::Unordered, f.stack_fault(false))
    } else {
        let mut ctx = f.ctx();
        let c = f80::compare(&mut ctx, f.st(0), y, quiet, extra_de);
        (c, f.commit(&ctx))
    };
    if deliver {
        for _ in 0..pops {
            f.pop();
        }
    }
    if eflags {
        let cc = result.cc();
        let mut fl = 0;
        if cc & sw::C3 != 0 {
            fl |= ZF;
        }
        if cc & sw::C2 != 0 {
            fl |= PF;
        }
        if cc & sw::C0 != 0 {
            fl |= CF;
        }
        Out::Eflags(fl)
    } else {
        f.set_cc(sw::C0 | sw::C2 | sw::C3, result.cc());
        Out::None
    }
}

/// A one-operand instruction on ST(0): the masked stack-underflow response
/// writes the real indefinite.
fn unary(f: &mut Fpu, op: impl FnOnce(&mut Ctx, F80) -> F80) {
    if f.is_empty(0) {
        if f.stack_fault(false) {
            f.set_st(0, F80::INDEFINITE);
        }
        return;
    }
    let mut ctx = f.ctx();
    let r = op(&mut ctx, f.st(0));
    if f.commit(&ctx) {
        f.set_st(0, r);
    }
}

/// ST(1) ← op(ST(1), ST(0)), pop (FPATAN, FYL2X, FYL2XP1).
fn binary_pop(f: &mut Fpu, op: impl FnOnce(&mut Ctx, F80, F80) -> F80) {
    if f.is_empty(0) || f.is_empty(1) {
        if f.stack_fault(false) {
            f.set_st(1, F80::INDEFINITE);
            f.pop();
        }
        return;
    }
    let mut ctx = f.ctx();
    let r = op(&mut ctx, f.st(1), f.st(0));
    if f.commit(&ctx) {
        f.set_st(1, r);
        f.pop();
    }
}

// ----- semantic functions ----------------------------------------------------------

fn sem_arith_mem(f: &mut Fpu, a: &Arg) -> Out {
    let (y, den) = mem_value(a.mem);
    match a.reg {
        2 | 3 => compare(f, y, false, false, den, (a.reg == 3) as u8, false),
        op => {
            if f.is_empty(0) {
                if f.stack_fault(false) {
                    f.set_st(0, F80::INDEFINITE);
                }
                return Out::None;
            }
            let mut ctx = f.ctx();
            let r = arith(&mut ctx, op, f.st(0), y, den);
            if f.commit(&ctx) {
                f.set_st(0, r);
            }
            Out::None
        }
    }
}

fn sem_arith_d8(f: &mut Fpu, a: &Arg) -> Out {
    match a.reg {
        2 | 3 => {
            let (y, e) = (f.st(a.i), f.is_empty(a.i));
            compare(f, y, e, false, false, (a.reg == 3) as u8, false)
        }
        op => {
            arith_regs(f, op, 0, a.i, false);
            Out::None
        }
    }
}

/// DC/DE register forms: the destination is ST(i); reg 4-7 swap the
/// direction relative to D8.
fn arith_dc(f: &mut Fpu, a: &Arg, pop: bool) -> Out {
    match a.reg {
        2 | 3 => {
            let (y, e) = (f.st(a.i), f.is_empty(a.i));
            compare(f, y, e, false, false, (a.reg == 3 || pop) as u8, false)
        }
        op => {
            let op = if op >= 4 { op ^ 1 } else { op };
            arith_regs(f, op, a.i, 0, pop);
            Out::None
        }
    }
}

fn sem_arith_dc(f: &mut Fpu, a: &Arg) -> Out {
    arith_dc(f, a, false)
}

fn sem_arith_de(f: &mut Fpu, a: &Arg) -> Out {
    arith_dc(f, a, true)
}

fn sem_fcompp(f: &mut Fpu, _: &Arg) -> Out {
    let (y, e) = (f.st(1), f.is_empty(1));
    compare(f, y, e, false, false, 2, false)
}

fn sem_fucompp(f: &mut Fpu, _: &Arg) -> Out {
    let (y, e) = (f.st(1), f.is_empty(1));
    compare(f, y, e, true, false, 2, false)
}

fn sem_fucom(f: &mut Fpu, a: &Arg) -> Out {
    let (y, e) = (f.st(a.i), f.is_empty(a.i));
    compare(f, y, e, true, false, (a.reg == 5) as u8, false)
}

/// FCOMI/FUCOMI/FCOMIP/FUCOMIP (SDM vol. 2 FCOMI: C1 cleared, C0/C2/C3
/// unchanged).
fn sem_fcomi(f: &mut Fpu, a: &Arg) -> Out {
    // DB E8 (fucomi) / F0 (fcomi); DF E8 (fucomip) / F0 (fcomip).
    let quiet = a.reg == 5;
    let pop = a.opcode == 0xDF;
    let (y, e) = (f.st(a.i), f.is_empty(a.i));
    f.set_cc(sw::C1, 0);
    compare(f, y, e, quiet, false, pop as u8, true)
}

fn sem_ftst(f: &mut Fpu, _: &Arg) -> Out {
    compare(f, F80::ZERO, false, false, false, 0, false)
}

fn sem_fxam(f: &mut Fpu, _: &Arg) -> Out {
    let x = f.st(0);
    let c1 = if x.sign() { sw::C1 } else { 0 };
    let cc = if f.is_empty(0) {
        sw::C3 | sw::C0
    } else {
        match x.class() {
            Class::Unsupported => 0,
            Class::QNaN | Class::SNaN => sw::C0,
            Class::Normal => sw::C2,
            Class::Infinity => sw::C2 | sw::C0,
            Class::Zero => sw::C3,
            Class::Denormal => sw::C3 | sw::C2,
        }
    };
    f.set_cc(sw::CC, cc | c1);
    Out::None
}

fn sem_fld_st(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    let v = if f.is_empty(a.i) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        F80::INDEFINITE
    } else {
        f.st(a.i)
    };
    f.push_checked(v);
    Out::None
}

fn sem_fld_mem(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    if !f.is_empty(7) {
        f.push_checked(F80::ZERO);
        return Out::None;
    }
    let v = match a.mem {
        Mem::F80(v) => v,
        m => {
            let (x, den) = mem_value(m);
            let mut ctx = f.ctx();
            let v = f80::load_converted(&mut ctx, x, den);
            // An unmasked DE still loads the value (host x87); an unmasked
            // IE (SNaN) does not.
            if !f.commit(&ctx) && ctx.flags & exc::IE != 0 {
                return Out::None;
            }
            v
        }
    };
    f.push(v);
    Out::None
}

fn sem_fild(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    let (v, _) = mem_value(a.mem);
    f.push_checked(v);
    Out::None
}

fn sem_fbld(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    if let Mem::Bcd(b) = a.mem {
        f.push_checked(f80::from_bcd(b));
    }
    Out::None
}

fn sem_fldconst(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    let v = match a.i {
        0 => F80::ONE,
        6 => F80::ZERO,
        n => {
            let mut ctx = f.ctx();
            trans::constant(&mut ctx, n as u8)
        }
    };
    f.push_checked(v);
    Out::None
}

/// FST/FSTP m32/m64 (reg 2/3 of D9/DD).
fn sem_fst_mem(f: &mut Fpu, a: &Arg) -> Out {
    let pop = a.reg == 3;
    let double = matches!(a.mem, Mem::F64(_));
    let out = if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        if double {
            Mem::F64(0xFFF8_0000_0000_0000)
        } else {
            Mem::F32(0xFFC0_0000)
        }
    } else {
        let mut ctx = f.ctx();
        let x = f.st(0);
        let r = if double {
            f80::to_f64(&mut ctx, x).map(Mem::F64)
        } else {
            f80::to_f32(&mut ctx, x).map(Mem::F32)
        };
        if !f.commit(&ctx) {
            return Out::None;
        }
        match r {
            Some(m) => m,
            None => return Out::None,
        }
    };
    if pop {
        f.pop();
    }
    Out::Mem(out)
}

fn sem_fstp80(f: &mut Fpu, _: &Arg) -> Out {
    let v = if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        F80::INDEFINITE
    } else {
        f.set_cc(sw::C1, 0);
        f.st(0)
    };
    f.pop();
    Out::Mem(Mem::F80(v))
}

/// FIST/FISTP m16/m32/m64.
fn sem_fist(f: &mut Fpu, a: &Arg) -> Out {
    let pop = a.reg != 2;
    let bits = match a.mem {
        Mem::I16(_) => 16,
        Mem::I32(_) => 32,
        _ => 64,
    };
    let v = if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        None
    } else {
        let mut ctx = f.ctx();
        let v = f80::to_int(&mut ctx, f.st(0), bits);
        if !f.commit(&ctx) {
            return Out::None;
        }
        v
    };
    // The integer indefinite is the most negative value.
    let v = v.unwrap_or(i64::MIN);
    if pop {
        f.pop();
    }
    Out::Mem(match bits {
        16 => Mem::I16(if v == i64::MIN { i16::MIN } else { v as i16 }),
        32 => Mem::I32(if v == i64::MIN { i32::MIN } else { v as i32 }),
        _ => Mem::I64(v),
    })
}

fn sem_fbstp(f: &mut Fpu, _: &Arg) -> Out {
    let b = if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        None
    } else {
        let mut ctx = f.ctx();
        let b = f80::to_bcd(&mut ctx, f.st(0));
        if !f.commit(&ctx) {
            return Out::None;
        }
        b
    };
    f.pop();
    Out::Mem(Mem::Bcd(b.unwrap_or(f80::BCD_INDEFINITE)))
}

/// FST/FSTP ST(i) and the FSTP aliases.
fn sem_fst_st(f: &mut Fpu, a: &Arg) -> Out {
    // DD D0 is FST; every other row of this function pops (FSTP, and the
    // aliases FSTP1 = D9 D8, FSTP8 = DF D0, FSTP9 = DF D8).
    let pop = !(a.opcode == 0xDD && a.reg == 2);
    f.set_cc(sw::C1, 0);
    if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        f.set_st(a.i, F80::INDEFINITE);
    } else {
        let v = f.st(0);
        f.set_st(a.i, v);
    }
    if pop {
        f.pop();
    }
    Out::None
}

fn sem_fxch(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    if f.is_empty(0) || f.is_empty(a.i) {
        if !f.stack_fault(false) {
            return Out::None;
        }
        for k in [0, a.i] {
            if f.is_empty(k) {
                f.set_st(k, F80::INDEFINITE);
            }
        }
    }
    let (x, y) = (f.st(0), f.st(a.i));
    f.set_st(0, y);
    f.set_st(a.i, x);
    Out::None
}

fn sem_ffree(f: &mut Fpu, a: &Arg) -> Out {
    f.free(a.i);
    if a.opcode == 0xDF {
        // FFREEP (DF C0+i): free, then pop.
        f.inc_top();
    }
    Out::None
}

fn sem_nop(_: &mut Fpu, _: &Arg) -> Out {
    Out::None
}

fn sem_fchs(f: &mut Fpu, _: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    unary(f, |_, x| x.neg());
    Out::None
}

fn sem_fabs(f: &mut Fpu, _: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    unary(f, |_, x| x.abs());
    Out::None
}

fn sem_fdecstp(f: &mut Fpu, _: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    f.dec_top();
    Out::None
}

fn sem_fincstp(f: &mut Fpu, _: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    f.inc_top();
    Out::None
}

fn sem_fsqrt(f: &mut Fpu, _: &Arg) -> Out {
    unary(f, f80::sqrt);
    Out::None
}

fn sem_frndint(f: &mut Fpu, _: &Arg) -> Out {
    unary(f, f80::round_to_int);
    Out::None
}

fn sem_f2xm1(f: &mut Fpu, _: &Arg) -> Out {
    unary(f, trans::f2xm1);
    Out::None
}

fn sem_fscale(f: &mut Fpu, _: &Arg) -> Out {
    if f.is_empty(0) || f.is_empty(1) {
        if f.stack_fault(false) {
            f.set_st(0, F80::INDEFINITE);
        }
        return Out::None;
    }
    let mut ctx = f.ctx();
    let r = f80::scale(&mut ctx, f.st(0), f.st(1));
    if f.commit(&ctx) {
        f.set_st(0, r);
    }
    Out::None
}

fn sem_fxtract(f: &mut Fpu, _: &Arg) -> Out {
    if f.is_empty(0) || !f.is_empty(7) {
        // Both stack faults: ST(0) and the pushed register become the
        // indefinite (host x87).
        let overflow = !f.is_empty(0);
        if f.stack_fault(overflow) {
            f.set_st(0, F80::INDEFINITE);
            f.push(F80::INDEFINITE);
        }
        return Out::None;
    }
    let mut ctx = f.ctx();
    let (e, s) = f80::extract(&mut ctx, f.st(0));
    if f.commit(&ctx) {
        f.set_st(0, e);
        f.push(s);
    }
    Out::None
}

fn prem(f: &mut Fpu, ieee: bool) {
    if f.is_empty(0) || f.is_empty(1) {
        if f.stack_fault(false) {
            f.set_st(0, F80::INDEFINITE);
            f.set_cc(sw::C2, 0);
        }
        return;
    }
    let mut ctx = f.ctx();
    let r = f80::rem(&mut ctx, f.st(0), f.st(1), ieee);
    if f.commit(&ctx) {
        f.set_st(0, r.value);
        if r.complete {
            let q = r.q as u16;
            let cc = ((q >> 2 & 1) * sw::C0) | ((q >> 1 & 1) * sw::C3) | ((q & 1) * sw::C1);
            f.set_cc(sw::CC, cc);
        } else {
            f.set_cc(sw::C2, sw::C2);
        }
    }
}

fn sem_fprem(f: &mut Fpu, _: &Arg) -> Out {
    prem(f, false);
    Out::None
}

fn sem_fprem1(f: &mut Fpu, _: &Arg) -> Out {
    prem(f, true);
    Out::None
}

fn sem_fpatan(f: &mut Fpu, _: &Arg) -> Out {
    binary_pop(f, trans::atan2);
    Out::None
}

fn sem_fyl2x(f: &mut Fpu, _: &Arg) -> Out {
    binary_pop(f, trans::fyl2x);
    Out::None
}

fn sem_fyl2xp1(f: &mut Fpu, _: &Arg) -> Out {
    binary_pop(f, trans::fyl2xp1);
    Out::None
}

fn trig_op(f: &mut Fpu, op: TrigOp) {
    let pushes = matches!(op, TrigOp::Tan | TrigOp::SinCos);
    if f.is_empty(0) || (pushes && !f.is_empty(7)) {
        let overflow = !f.is_empty(0);
        if f.stack_fault(overflow) {
            f.set_st(0, F80::INDEFINITE);
            if pushes {
                f.push(F80::INDEFINITE);
            }
        }
        return;
    }
    let mut ctx = f.ctx();
    match trans::trig(&mut ctx, f.st(0), op) {
        TrigOut::OutOfRange => {
            f.set_cc(sw::C2, sw::C2);
        }
        TrigOut::Done(a, b) => {
            if f.commit(&ctx) {
                f.set_cc(sw::C2, 0);
                f.set_st(0, a);
                if pushes {
                    f.push(b);
                }
            }
        }
    }
}

fn sem_fsin(f: &mut Fpu, _: &Arg) -> Out {
    trig_op(f, TrigOp::Sin);
    Out::None
}

fn sem_fcos(f: &mut Fpu, _: &Arg) -> Out {
    trig_op(f, TrigOp::Cos);
    Out::None
}

fn sem_fsincos(f: &mut Fpu, _: &Arg) -> Out {
    trig_op(f, TrigOp::SinCos);
    Out::None
}

fn sem_fptan(f: &mut Fpu, _: &Arg) -> Out {
    trig_op(f, TrigOp::Tan);
    Out::None
}

fn sem_fcmov(f: &mut Fpu, a: &Arg) -> Out {
    f.set_cc(sw::C1, 0);
    if f.is_empty(0) || f.is_empty(a.i) {
        if f.stack_fault(false) {
            f.set_st(0, F80::INDEFINITE);
        }
        return Out::None;
    }
    if a.cond {
        let v = f.st(a.i);
        f.set_st(0, v);
    }
    Out::None
}

fn sem_fldcw(f: &mut Fpu, a: &Arg) -> Out {
    if let Mem::Word(v) = a.mem {
        f.set_control_word(v);
    }
    Out::None
}

fn sem_fnstcw(f: &mut Fpu, _: &Arg) -> Out {
    Out::Mem(Mem::Word(f.control_word()))
}

fn sem_fnstsw(f: &mut Fpu, a: &Arg) -> Out {
    let v = f.status_word();
    if a.reg == 4 {
        // DF E0: FNSTSW AX.
        Out::Ax(v)
    } else {
        Out::Mem(Mem::Word(v))
    }
}

fn sem_fnclex(f: &mut Fpu, _: &Arg) -> Out {
    let s = f.status_word() & !(sw::EXCEPTIONS | sw::SF);
    f.set_status_word(s);
    Out::None
}

fn sem_fninit(f: &mut Fpu, _: &Arg) -> Out {
    f.init();
    Out::None
}

// ----- running a row ---------------------------------------------------------------

/// Run the row for `opcode`/`modrm` on `f` with `mem` already read (the
/// memory forms that store get a `mem` of the right variant with any value,
/// e.g. `Mem::F32(0)`, and return the value to store). `cond` is the FCMOVcc
/// condition. Environment/state forms are not handled here.
pub fn execute_on(f: &mut Fpu, opcode: u8, modrm: u8, mem: Mem, cond: bool) -> Out {
    let d = lookup(opcode, modrm);
    let reg = (modrm >> 3) & 7;
    (d.sem)(
        f,
        &Arg {
            opcode,
            reg,
            i: (modrm & 7) as usize,
            mem,
            cond,
        },
    )
}

/// The memory variant a form reads or writes, with a zero value.
fn mem_kind(form: Form) -> Mem {
    match form {
        Form::M32Real => Mem::F32(0),
        Form::M64Real => Mem::F64(0),
        Form::M80Real => Mem::F80(F80::ZERO),
        Form::M16Int => Mem::I16(0),
        Form::M32Int => Mem::I32(0),
        Form::M64Int => Mem::I64(0),
        Form::M80Bcd => Mem::Bcd([0; 10]),
        Form::M16 => Mem::Word(0),
        _ => Mem::None,
    }
}

/// Read `n` bytes of the memory operand (after checking the whole range).
fn read_bytes(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32, out: &mut [u8]) -> Result<()> {
    let s = i.seg();
    cpu.check_access(s, ea, out.len() as u32, false)?;
    for (k, b) in out.iter_mut().enumerate() {
        let at = cpu.ea_plus(i, ea, k as u32);
        *b = cpu.read::<W8>(bus, s, at)? as u8;
    }
    Ok(())
}

fn write_bytes(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32, data: &[u8]) -> Result<()> {
    let s = i.seg();
    cpu.check_access(s, ea, data.len() as u32, true)?;
    for (k, b) in data.iter().enumerate() {
        let at = cpu.ea_plus(i, ea, k as u32);
        cpu.write::<W8>(bus, s, at, *b as u32)?;
    }
    Ok(())
}

fn read_u64(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32) -> Result<u64> {
    let s = i.seg();
    cpu.check_access(s, ea, 8, false)?;
    let lo = cpu.read::<W32>(bus, s, ea)? as u64;
    let at = cpu.ea_plus(i, ea, 4);
    let hi = cpu.read::<W32>(bus, s, at)? as u64;
    Ok(lo | hi << 32)
}

fn read_mem(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32, form: Form) -> Result<Mem> {
    let s = i.seg();
    Ok(match form {
        Form::M32Real => Mem::F32(cpu.read::<W32>(bus, s, ea)?),
        Form::M32Int => Mem::I32(cpu.read::<W32>(bus, s, ea)? as i32),
        Form::M16Int => Mem::I16(cpu.read::<W16>(bus, s, ea)? as i16),
        Form::M16 => Mem::Word(cpu.read::<W16>(bus, s, ea)? as u16),
        Form::M64Real => Mem::F64(read_u64(cpu, bus, i, ea)?),
        Form::M64Int => Mem::I64(read_u64(cpu, bus, i, ea)? as i64),
        Form::M80Real | Form::M80Bcd => {
            let mut b = [0u8; 10];
            read_bytes(cpu, bus, i, ea, &mut b)?;
            if form == Form::M80Real {
                Mem::F80(F80::from_bytes(b))
            } else {
                Mem::Bcd(b)
            }
        }
        _ => Mem::None,
    })
}

fn write_mem(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32, m: Mem) -> Result<()> {
    let s = i.seg();
    match m {
        Mem::F32(v) => cpu.write::<W32>(bus, s, ea, v),
        Mem::I32(v) => cpu.write::<W32>(bus, s, ea, v as u32),
        Mem::I16(v) => cpu.write::<W16>(bus, s, ea, v as u16 as u32),
        Mem::Word(v) => cpu.write::<W16>(bus, s, ea, v as u32),
        Mem::F64(v) => write_bytes(cpu, bus, i, ea, &v.to_le_bytes()),
        Mem::I64(v) => write_bytes(cpu, bus, i, ea, &v.to_le_bytes()),
        Mem::F80(v) => write_bytes(cpu, bus, i, ea, &v.to_bytes()),
        Mem::Bcd(b) => write_bytes(cpu, bus, i, ea, &b),
        Mem::None => Ok(()),
    }
}

/// The environment layout for the current mode and operand size (virtual-
/// 8086 mode uses the real-mode layout).
fn env_format(cpu: &Cpu, i: &Instr) -> EnvFormat {
    EnvFormat::new(i.op32(), cpu.protected_mode() && !cpu.v86())
}

/// #NM for an ESC instruction (SDM vol. 3 table 2-2): CR0.EM or CR0.TS.
#[inline]
fn check_nm(cpu: &Cpu) -> Result<()> {
    if cpu.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Fault::new(vector::NM));
    }
    Ok(())
}

/// A pending unmasked exception at a waiting instruction: #MF with CR0.NE;
/// without it the exception goes out on FERR#/IRQ13 and the instruction
/// proceeds (IGNNE# asserted, as a PC's chipset does once the handler has
/// acknowledged; see [`Fpu::irq13_pending`]).
#[inline]
fn check_mf(cpu: &Cpu) -> Result<()> {
    if cpu.fpu.pending() && cpu.cr0 & CR0_NE != 0 {
        return Err(Fault::new(vector::MF));
    }
    Ok(())
}

/// Execute an ESC instruction (D8-DF) on a model with an x87.
pub fn execute(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    check_nm(cpu)?;
    let d = lookup(i.opcode, i.modrm);
    if d.attrs & attr::INVALID != 0 || (d.attrs & attr::P6 != 0 && cpu.model < CpuModel::PentiumPro)
    {
        return Err(Fault::ud());
    }
    if d.attrs & attr::NOWAIT == 0 {
        check_mf(cpu)?;
    }
    let ea = if i.is_mem() { cpu.ea(i) } else { 0 };
    if matches!(d.form, Form::Env | Form::State) {
        return env_state(cpu, bus, i, ea, d);
    }
    let store = d.attrs & attr::STORE != 0 && i.is_mem();
    let mem = if !i.is_mem() {
        Mem::None
    } else if store {
        cpu.check_access(i.seg(), ea, d.form.mem_len(), true)?;
        mem_kind(d.form)
    } else {
        read_mem(cpu, bus, i, ea, d.form)?
    };
    // Work on a copy so that a fault while storing leaves the x87 as it was.
    let mut f = cpu.fpu;
    if d.attrs & attr::CONTROL == 0 {
        let start = cpu.eip.wrapping_sub(i.len as u32) & cpu.ip_mask();
        f.fip = start;
        f.fcs = cpu.segs[seg::CS].selector;
        f.fop = ((i.opcode as u16 & 7) << 8) | i.modrm as u16;
        if i.is_mem() {
            f.fdp = ea;
            f.fds = cpu.segs[i.seg()].selector;
        }
    }
    let cond = if d.attrs & attr::FCMOV != 0 {
        // DA: B, E, BE, U; DB: the negations (Jcc condition numbers).
        const CC: [u8; 4] = [0x2, 0x4, 0x6, 0xA];
        cpu.condition(CC[i.reg() & 3] | (i.opcode & 1))
    } else {
        false
    };
    match execute_on(&mut f, i.opcode, i.modrm, mem, cond) {
        Out::None => {}
        Out::Mem(m) => write_mem(cpu, bus, i, ea, m)?,
        Out::Ax(v) => cpu.set_reg::<W16>(reg::AX, v as u32),
        Out::Eflags(v) => cpu.set_flags(ZF | PF | CF | OF | SF | AF, v),
    }
    cpu.fpu = f;
    Ok(())
}

/// FLDENV, FNSTENV, FRSTOR, FNSAVE.
fn env_state(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, ea: u32, d: &EscDef) -> Result<()> {
    let fmt = env_format(cpu, i);
    let len = fmt.len() + if d.form == Form::State { 80 } else { 0 };
    let mut buf = [0u8; 108];
    match (d.form, i.reg()) {
        (Form::Env, 4) => {
            read_bytes(cpu, bus, i, ea, &mut buf[..len])?;
            cpu.fpu.load_env(&buf[..len], fmt);
        }
        (Form::Env, _) => {
            let img = cpu.fpu.store_env(fmt);
            write_bytes(cpu, bus, i, ea, &img[..len])?;
            // FNSTENV then masks every exception (SDM vol. 2 FSTENV).
            let cw = cpu.fpu.control_word() | sw::EXCEPTIONS;
            cpu.fpu.set_control_word(cw);
        }
        (_, 4) => {
            read_bytes(cpu, bus, i, ea, &mut buf[..len])?;
            cpu.fpu.load_state(&buf[..len], fmt);
        }
        _ => {
            let img = cpu.fpu.store_state(fmt);
            write_bytes(cpu, bus, i, ea, &img[..len])?;
            cpu.fpu.init();
        }
    }
    Ok(())
}

/// WAIT/FWAIT on a model with an x87: #NM when CR0.TS and CR0.MP are both
/// set, then any pending unmasked exception is reported.
pub fn wait(cpu: &mut Cpu) -> Result<()> {
    if cpu.cr0 & (CR0_MP | CR0_TS) == (CR0_MP | CR0_TS) {
        return Err(Fault::new(vector::NM));
    }
    check_mf(cpu)
}

/// The linear address of seg:off must be 16-byte aligned for FXSAVE and
/// FXRSTOR (#GP(0) otherwise, SDM vol. 2 FXSAVE).
fn fx_checks(cpu: &Cpu, s: usize, off: u32) -> Result<()> {
    if cpu.model < CpuModel::PentiumPro || cpu.cr0 & CR0_EM != 0 {
        return Err(Fault::ud());
    }
    if cpu.cr0 & CR0_TS != 0 {
        return Err(Fault::new(vector::NM));
    }
    if cpu.segs[s].base.wrapping_add(off) & 15 != 0 {
        return Err(Fault::gp(0));
    }
    cpu.check_access(s, off, 512, false)
}

/// FXSAVE m512 (0F AE /0): the x87 part of the image (bytes 0-23, 32-159).
pub fn fxsave(cpu: &mut Cpu, bus: &mut dyn Bus, s: usize, off: u32) -> Result<()> {
    fx_checks(cpu, s, off)?;
    let img = cpu.fpu.fxsave_image();
    for (k, b) in img.iter().enumerate() {
        if (24..32).contains(&k) {
            continue;
        }
        cpu.write::<W8>(bus, s, off.wrapping_add(k as u32), *b as u32)?;
    }
    Ok(())
}

/// FXRSTOR m512 (0F AE /1).
pub fn fxrstor(cpu: &mut Cpu, bus: &mut dyn Bus, s: usize, off: u32) -> Result<()> {
    fx_checks(cpu, s, off)?;
    let mut img = [0u8; 160];
    for (k, b) in img.iter_mut().enumerate() {
        *b = cpu.read::<W8>(bus, s, off.wrapping_add(k as u32))? as u8;
    }
    cpu.fpu.fxrstor_image(&img);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_documented_encoding() {
        assert_eq!(lookup(0xD8, 0xC1).mnemonic, "fadd");
        assert_eq!(lookup(0xDC, 0xE9).mnemonic, "fsub");
        assert_eq!(lookup(0xDC, 0xE1).mnemonic, "fsubr");
        assert_eq!(lookup(0xDE, 0xF9).mnemonic, "fdivp");
        assert_eq!(lookup(0xDE, 0xD9).mnemonic, "fcompp");
        assert_eq!(lookup(0xD9, 0xFE).mnemonic, "fsin");
        assert_eq!(lookup(0xDF, 0xE0).mnemonic, "fnstsw");
        assert_eq!(lookup(0xDD, 0x38).mnemonic, "fnstsw");
        assert_eq!(lookup(0xDB, 0x28).mnemonic, "fld");
        assert_eq!(lookup(0xDB, 0x28).form, Form::M80Real);
        assert_eq!(lookup(0xDA, 0xE9).mnemonic, "fucompp");
        assert_eq!(lookup(0xDB, 0xF1).mnemonic, "fcomi");
        assert_eq!(lookup(0xD9, 0xD1).attrs & attr::INVALID, attr::INVALID);
        assert_eq!(lookup(0xDB, 0x08).attrs & attr::INVALID, attr::INVALID);
        assert_eq!(lookup(0xDC, 0xE9).operands(0xE9), "st(1), st(0)");
    }

    fn fresh() -> Fpu {
        let mut f = Fpu::new();
        f.init();
        f
    }

    #[test]
    fn fsub_directions_follow_the_sdm_encodings() {
        // ST(0) = 1, ST(1) = 3.
        for (op, modrm, want_st1, want_st0) in [
            (0xD8u8, 0xE1u8, None, -2i64), // fsub st0, st1: 1-3
            (0xD8, 0xE9, None, 2),         // fsubr st0, st1: 3-1
            (0xDC, 0xE9, Some(2i64), 1),   // fsub st1, st0: 3-1
            (0xDC, 0xE1, Some(-2), 1),     // fsubr st1, st0: 1-3
        ] {
            let mut f = fresh();
            f.push(f80::from_int(3));
            f.push(F80::ONE);
            execute_on(&mut f, op, modrm, Mem::None, false);
            assert_eq!(f.st(0), f80::from_int(want_st0), "{op:x} {modrm:x}");
            if let Some(w) = want_st1 {
                assert_eq!(f.st(1), f80::from_int(w), "{op:x} {modrm:x}");
            }
        }
    }

    #[test]
    fn masked_stack_underflow_writes_the_indefinite() {
        let mut f = fresh();
        execute_on(&mut f, 0xD9, 0xE0, Mem::None, false); // fchs on empty
        assert_eq!(f.st(0), F80::INDEFINITE);
        assert_eq!(f.status_word() & 0x7F, 0x41);
        assert_eq!(f.status_word() & sw::C1, 0);
    }

    #[test]
    fn masked_stack_overflow_pushes_the_indefinite_with_c1() {
        let mut f = fresh();
        for _ in 0..8 {
            execute_on(&mut f, 0xD9, 0xE8, Mem::None, false);
        }
        execute_on(&mut f, 0xD9, 0xE8, Mem::None, false);
        assert_eq!(f.st(0), F80::INDEFINITE);
        assert_eq!(f.status_word() & (0x7F | sw::C1), 0x41 | sw::C1);
    }

    #[test]
    fn unmasked_invalid_leaves_the_destination_and_sets_es() {
        let mut f = fresh();
        f.set_control_word(0x037E);
        f.push(F80::ONE.neg());
        execute_on(&mut f, 0xD9, 0xFA, Mem::None, false); // fsqrt
        assert_eq!(f.st(0), F80::ONE.neg());
        assert!(f.pending());
        assert_eq!(f.status_word() & 0x80FF, 0x8081);
    }
}
