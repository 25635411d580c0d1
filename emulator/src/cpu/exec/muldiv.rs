//! MUL, IMUL, DIV, IDIV (SDM vol. 2; 8086 quirks from the SingleStepTests
//! 8086 notes).

use crate::cpu::decode::{pfx, Instr};
use crate::cpu::flags::{szp, AF, CF, OF, OSZAPC, SZP};
use crate::cpu::{reg, Cpu, Fault, Result, Width};
use oxbox_devices::Bus;

/// On the 8086 a REP/REPNE prefix flips the sign of IMUL's product and
/// IDIV's quotient (the microcode reuses the prefix latch).
#[inline]
fn rep_negates(cpu: &Cpu, i: &Instr) -> bool {
    cpu.quirks.rep_negates_mul_div && i.pfx & (pfx::REP | pfx::REPNE) != 0
}

/// The double-width accumulator (AX, DX:AX, EDX:EAX) as a u64.
#[inline]
fn acc_wide<W: Width>(cpu: &Cpu) -> u64 {
    match W::BITS {
        8 => cpu.reg::<crate::cpu::W16>(reg::AX) as u64,
        16 => ((cpu.reg::<W>(reg::DX) as u64) << 16) | cpu.reg::<W>(reg::AX) as u64,
        _ => ((cpu.regs[reg::DX] as u64) << 32) | cpu.regs[reg::AX] as u64,
    }
}

#[inline]
fn set_acc_wide<W: Width>(cpu: &mut Cpu, v: u64) {
    match W::BITS {
        8 => cpu.set_reg::<crate::cpu::W16>(reg::AX, v as u32),
        _ => {
            cpu.set_reg::<W>(reg::AX, v as u32 & W::MASK);
            cpu.set_reg::<W>(reg::DX, (v >> W::BITS) as u32 & W::MASK);
        }
    }
}

/// Store quotient and remainder (AL/AH, AX/DX, EAX/EDX).
#[inline]
fn set_quot_rem<W: Width>(cpu: &mut Cpu, q: u32, r: u32) {
    match W::BITS {
        8 => {
            cpu.set_reg::<W>(reg::AX, q);
            cpu.set_reg::<W>(4, r); // AH
        }
        _ => {
            cpu.set_reg::<W>(reg::AX, q);
            cpu.set_reg::<W>(reg::DX, r);
        }
    }
}

/// Flags after a multiply: CF = OF = `overflow`. SF, ZF, AF and PF are
/// undefined; the silicon leaves SF/ZF/PF as for the high half of the
/// product and AF by model (`Quirks::mul_sets_af`).
#[inline]
fn mul_flags<W: Width>(cpu: &mut Cpu, high: u32, overflow: bool) {
    let mut f = szp(high, W::BITS);
    if overflow {
        f |= CF | OF;
    }
    if cpu.quirks.mul_sets_af {
        f |= AF;
    }
    cpu.set_flags(OSZAPC, f);
}

/// MUL r/m: unsigned accumulator × operand.
pub fn mul<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let src = cpu.read_rm::<W>(bus, i)? as u64;
    let a = cpu.reg::<W>(reg::AX) as u64;
    let p = a * src;
    set_acc_wide::<W>(cpu, p);
    let high = (p >> W::BITS) as u32 & W::MASK;
    mul_flags::<W>(cpu, high, high != 0);
    Ok(())
}

/// Signed product of two values of width `W`, returning (product, overflow)
/// where overflow means the product does not fit in `W`.
#[inline]
fn signed_product<W: Width>(a: u32, b: u32) -> (i64, bool) {
    let p = (W::sext(a) as i32 as i64) * (W::sext(b) as i32 as i64);
    let fits = p == (W::sext(p as u32 & W::MASK) as i32 as i64);
    (p, !fits)
}

/// IMUL r/m: signed accumulator × operand.
pub fn imul<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let src = cpu.read_rm::<W>(bus, i)?;
    let a = cpu.reg::<W>(reg::AX);
    let (mut p, _) = signed_product::<W>(a, src);
    if rep_negates(cpu, i) {
        p = -p;
    }
    let overflow = p != W::sext(p as u32 & W::MASK) as i32 as i64;
    let wide_mask = if W::BITS == 32 {
        u64::MAX
    } else {
        (1u64 << (2 * W::BITS)) - 1
    };
    set_acc_wide::<W>(cpu, p as u64 & wide_mask);
    mul_flags::<W>(cpu, (p >> W::BITS) as u32 & W::MASK, overflow);
    Ok(())
}

/// Shared body of the two- and three-operand IMUL forms.
#[inline]
fn imul_into_reg<W: Width>(cpu: &mut Cpu, i: &Instr, a: u32, b: u32) {
    let (p, overflow) = signed_product::<W>(a, b);
    cpu.set_reg::<W>(i.reg(), p as u32 & W::MASK);
    mul_flags::<W>(cpu, (p >> W::BITS) as u32 & W::MASK, overflow);
}

/// IMUL reg, r/m, imm (0x69)
pub fn imul_r_rm_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.read_rm::<W>(bus, i)?;
    imul_into_reg::<W>(cpu, i, a, i.imm & W::MASK);
    Ok(())
}

/// IMUL reg, r/m, imm8 sign-extended (0x6B)
pub fn imul_r_rm_imm8<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let a = cpu.read_rm::<W>(bus, i)?;
    let b = i.imm as u8 as i8 as i32 as u32 & W::MASK;
    imul_into_reg::<W>(cpu, i, a, b);
    Ok(())
}

/// IMUL reg, r/m (0x0F 0xAF)
pub fn imul_r_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let b = cpu.read_rm::<W>(bus, i)?;
    let a = cpu.reg::<W>(i.reg());
    imul_into_reg::<W>(cpu, i, a, b);
    Ok(())
}

/// Raise the divide error: a fault on the 286 and later; on the 8086 the
/// pushed return address is the next instruction (handled by the step loop
/// through `Quirks::divide_error_pushes_next_ip`).
#[inline]
fn divide_error() -> Fault {
    Fault::de()
}

/// Flags after a division: all six are undefined. oxbox leaves SF/ZF/PF as
/// for the quotient and clears the others.
#[inline]
fn div_flags<W: Width>(cpu: &mut Cpu, q: u32) {
    cpu.set_flags(OSZAPC, szp(q, W::BITS) & SZP);
}

/// DIV r/m: unsigned accumulator ÷ operand.
pub fn div<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = cpu.read_rm::<W>(bus, i)? as u64;
    if d == 0 {
        return Err(divide_error());
    }
    let n = acc_wide::<W>(cpu);
    let q = n / d;
    if q > W::MASK as u64 {
        return Err(divide_error());
    }
    let r = n % d;
    set_quot_rem::<W>(cpu, q as u32, r as u32);
    div_flags::<W>(cpu, q as u32);
    Ok(())
}

/// IDIV r/m: signed accumulator ÷ operand, truncating toward zero.
pub fn idiv<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = W::sext(cpu.read_rm::<W>(bus, i)?) as i32 as i64;
    if d == 0 {
        return Err(divide_error());
    }
    let wide = acc_wide::<W>(cpu);
    let n: i64 = match W::BITS {
        8 => wide as u16 as i16 as i64,
        16 => wide as u32 as i32 as i64,
        _ => wide as i64,
    };
    // i64::MIN / -1 cannot arise: n fits in 2×W bits ≤ 64 with W ≤ 32, but
    // for W = 32 the dividend may be i64::MIN.
    let (Some(mut q), Some(r)) = (n.checked_div(d), n.checked_rem(d)) else {
        return Err(divide_error());
    };
    if rep_negates(cpu, i) {
        q = -q;
    }
    let max = (W::SIGN - 1) as i64;
    let min = if cpu.quirks.idiv_rejects_most_negative {
        -max
    } else {
        -max - 1
    };
    if q > max || q < min {
        return Err(divide_error());
    }
    set_quot_rem::<W>(cpu, q as u32 & W::MASK, r as u32 & W::MASK);
    div_flags::<W>(cpu, q as u32);
    Ok(())
}
