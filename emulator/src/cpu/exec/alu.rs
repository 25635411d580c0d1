//! Integer arithmetic and logic: ADD..CMP, TEST, INC, DEC, NOT, NEG,
//! CMPXCHG, XADD (SDM vol. 2).

use crate::cpu::decode::Instr;
use crate::cpu::flags::{LazyOp, OSZAP, OSZAPC};
use crate::cpu::{reg, Cpu, Result, Width};
use oxbox_devices::Bus;

pub const ADD: u8 = 0;
pub const OR: u8 = 1;
pub const ADC: u8 = 2;
pub const SBB: u8 = 3;
pub const AND: u8 = 4;
pub const SUB: u8 = 5;
pub const XOR: u8 = 6;
pub const CMP: u8 = 7;

/// One of the eight ALU operations; sets the flags and returns the result
/// (CMP returns `a`, so callers skip the write-back).
#[inline(always)]
pub fn alu<W: Width>(cpu: &mut Cpu, op: u8, a: u32, b: u32) -> u32 {
    let m = W::MASK;
    match op {
        ADD => {
            let r = a.wrapping_add(b) & m;
            cpu.set_lazy(LazyOp::Add, W::BITS, a, b, r, OSZAPC);
            r
        }
        ADC => {
            let c = cpu.cf() as u32;
            let r = a.wrapping_add(b).wrapping_add(c) & m;
            cpu.set_lazy(LazyOp::Add, W::BITS, a, b, r, OSZAPC);
            r
        }
        SUB | CMP => {
            let r = a.wrapping_sub(b) & m;
            cpu.set_lazy(LazyOp::Sub, W::BITS, a, b, r, OSZAPC);
            if op == CMP {
                a
            } else {
                r
            }
        }
        SBB => {
            let c = cpu.cf() as u32;
            let r = a.wrapping_sub(b).wrapping_sub(c) & m;
            cpu.set_lazy(LazyOp::Sub, W::BITS, a, b, r, OSZAPC);
            r
        }
        _ => {
            let r = match op {
                OR => a | b,
                AND => a & b,
                _ => a ^ b,
            };
            cpu.set_lazy(LazyOp::Logic, W::BITS, a, b, r, OSZAPC);
            r
        }
    }
}

/// `op r/m, reg`
pub fn rm_r<W: Width, const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let b = cpu.reg::<W>(i.reg());
    cpu.modify_rm::<W>(bus, i, |cpu, a| {
        let r = alu::<W>(cpu, OP, a, b);
        (OP != CMP).then_some(r)
    })
}

/// `op reg, r/m`
pub fn r_rm<W: Width, const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let b = cpu.read_rm::<W>(bus, i)?;
    let a = cpu.reg::<W>(i.reg());
    let r = alu::<W>(cpu, OP, a, b);
    if OP != CMP {
        cpu.set_reg::<W>(i.reg(), r);
    }
    Ok(())
}

/// `op AL/AX/EAX, imm`
pub fn acc_imm<W: Width, const OP: u8>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.reg::<W>(reg::AX);
    let r = alu::<W>(cpu, OP, a, i.imm & W::MASK);
    if OP != CMP {
        cpu.set_reg::<W>(reg::AX, r);
    }
    Ok(())
}

/// `op r/m, imm` (0x80, 0x81, 0x82)
pub fn rm_imm<W: Width, const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let b = i.imm & W::MASK;
    cpu.modify_rm::<W>(bus, i, |cpu, a| {
        let r = alu::<W>(cpu, OP, a, b);
        (OP != CMP).then_some(r)
    })
}

/// `op r/m, imm8` sign-extended (0x83)
pub fn rm_imm8s<W: Width, const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let b = (i.imm as u8 as i8 as i32 as u32) & W::MASK;
    cpu.modify_rm::<W>(bus, i, |cpu, a| {
        let r = alu::<W>(cpu, OP, a, b);
        (OP != CMP).then_some(r)
    })
}

pub fn test_rm_r<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.read_rm::<W>(bus, i)?;
    let b = cpu.reg::<W>(i.reg());
    alu::<W>(cpu, AND, a, b);
    Ok(())
}

pub fn test_acc_imm<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.reg::<W>(reg::AX);
    alu::<W>(cpu, AND, a, i.imm & W::MASK);
    Ok(())
}

pub fn test_rm_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.read_rm::<W>(bus, i)?;
    alu::<W>(cpu, AND, a, i.imm & W::MASK);
    Ok(())
}

#[inline(always)]
fn inc<W: Width>(cpu: &mut Cpu, a: u32) -> u32 {
    let r = a.wrapping_add(1) & W::MASK;
    cpu.set_lazy(LazyOp::Add, W::BITS, a, 1, r, OSZAP);
    r
}

#[inline(always)]
fn dec<W: Width>(cpu: &mut Cpu, a: u32) -> u32 {
    let r = a.wrapping_sub(1) & W::MASK;
    cpu.set_lazy(LazyOp::Sub, W::BITS, a, 1, r, OSZAP);
    r
}

/// INC reg (0x40-0x47)
pub fn inc_r<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = (i.opcode & 7) as usize;
    let v = inc::<W>(cpu, cpu.reg::<W>(r));
    cpu.set_reg::<W>(r, v);
    Ok(())
}

/// DEC reg (0x48-0x4F)
pub fn dec_r<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = (i.opcode & 7) as usize;
    let v = dec::<W>(cpu, cpu.reg::<W>(r));
    cpu.set_reg::<W>(r, v);
    Ok(())
}

pub fn inc_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.modify_rm::<W>(bus, i, |cpu, a| Some(inc::<W>(cpu, a)))
}

pub fn dec_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.modify_rm::<W>(bus, i, |cpu, a| Some(dec::<W>(cpu, a)))
}

pub fn not_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.modify_rm::<W>(bus, i, |_, a| Some(!a & W::MASK))
}

pub fn neg_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.modify_rm::<W>(bus, i, |cpu, a| {
        let r = 0u32.wrapping_sub(a) & W::MASK;
        cpu.set_lazy(LazyOp::Sub, W::BITS, 0, a, r, OSZAPC);
        Some(r)
    })
}

/// CMPXCHG r/m, reg (486): compare the accumulator with r/m; if equal, store
/// reg, else load r/m into the accumulator. The destination is written in
/// both cases (SDM vol. 2: "the destination operand is written back if the
/// comparison fails").
pub fn cmpxchg<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let acc = cpu.reg::<W>(reg::AX);
    let src = cpu.reg::<W>(i.reg());
    let mut old = 0;
    cpu.modify_rm::<W>(bus, i, |cpu, d| {
        old = d;
        alu::<W>(cpu, CMP, acc, d);
        Some(if acc == d { src } else { d })
    })?;
    if acc != old {
        cpu.set_reg::<W>(reg::AX, old);
    }
    Ok(())
}

/// XADD r/m, reg (486): exchange, then store the sum in r/m.
pub fn xadd<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let src = cpu.reg::<W>(i.reg());
    let mut old = 0;
    cpu.modify_rm::<W>(bus, i, |cpu, d| {
        old = d;
        Some(alu::<W>(cpu, ADD, d, src))
    })?;
    cpu.set_reg::<W>(i.reg(), old);
    if !i.is_mem() {
        // Register destination: the sum wins when both name one register.
        let sum = old.wrapping_add(src) & W::MASK;
        cpu.set_reg::<W>(i.rm(), sum);
    }
    Ok(())
}

/// CMPXCHG8B m64 (Pentium): compare EDX:EAX with the operand; if equal
/// store ECX:EBX and set ZF, else load the operand into EDX:EAX and clear
/// ZF. The operand is written in both cases (SDM vol. 2, CMPXCHG8B).
pub fn cmpxchg8b(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !i.is_mem() {
        return Err(crate::cpu::Fault::ud());
    }
    let ea = cpu.ea(i);
    let s = i.seg();
    cpu.check_access(s, ea, 8, true)?;
    let hi_off = cpu.ea_plus(i, ea, 4);
    let lo = cpu.read::<crate::cpu::W32>(bus, s, ea)?;
    let hi = cpu.read::<crate::cpu::W32>(bus, s, hi_off)?;
    let equal = lo == cpu.regs[reg::AX] && hi == cpu.regs[reg::DX];
    let (new_lo, new_hi) = if equal {
        (cpu.regs[reg::BX], cpu.regs[reg::CX])
    } else {
        (lo, hi)
    };
    cpu.write::<crate::cpu::W32>(bus, s, ea, new_lo)?;
    cpu.write::<crate::cpu::W32>(bus, s, hi_off, new_hi)?;
    if !equal {
        cpu.regs[reg::AX] = lo;
        cpu.regs[reg::DX] = hi;
    }
    let zf = crate::cpu::flags::ZF;
    cpu.set_flags(zf, if equal { zf } else { 0 });
    Ok(())
}
