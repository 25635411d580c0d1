//! Decimal adjust instructions and SALC (SDM vol. 2: DAA, DAS, AAA, AAS,
//! AAM, AAD).

use crate::cpu::decode::Instr;
use crate::cpu::flags::{self, szp, AF, CF, OF, OSZAPC, PF, SF, ZF};
use crate::cpu::{reg, Cpu, Fault, Result, W16, W8};
use oxbox_devices::Bus;

#[inline]
fn al(cpu: &Cpu) -> u32 {
    cpu.reg::<W8>(reg::AX)
}

#[inline]
fn set_al(cpu: &mut Cpu, v: u32) {
    cpu.set_reg::<W8>(reg::AX, v);
}

/// DAA: decimal adjust AL after addition.
pub fn daa(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let old_al = al(cpu);
    let old_cf = cpu.cf();
    let old_af = cpu.flag(AF);
    let mut v = old_al;
    let mut f = 0;
    if v & 0x0F > 9 || old_af {
        v += 6;
        f |= AF;
    }
    // The 8086 and 286 compare the original AL against 0x99 (or 0x9F when
    // the low-nibble adjust happened without AF set... see SDM pseudocode).
    if old_al > 0x99 || old_cf {
        v += 0x60;
        f |= CF;
    }
    let v = v & 0xFF;
    f |= szp(v, 8);
    // OF is undefined; the silicon sets it as for the signed add it performs.
    if (old_al ^ v) & v & 0x80 != 0 {
        f |= OF;
    }
    set_al(cpu, v);
    cpu.set_flags(OSZAPC, f);
    Ok(())
}

/// DAS: decimal adjust AL after subtraction.
pub fn das(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let old_al = al(cpu);
    let old_cf = cpu.cf();
    let old_af = cpu.flag(AF);
    let mut v = old_al;
    let mut f = 0;
    if v & 0x0F > 9 || old_af {
        v = v.wrapping_sub(6);
        f |= AF;
    }
    if old_al > 0x99 || old_cf {
        v = v.wrapping_sub(0x60);
        f |= CF;
    }
    let v = v & 0xFF;
    f |= szp(v, 8);
    if (old_al ^ v) & old_al & 0x80 != 0 {
        f |= OF;
    }
    set_al(cpu, v);
    cpu.set_flags(OSZAPC, f);
    Ok(())
}

/// AAA: ASCII adjust after addition.
pub fn aaa(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let a = al(cpu);
    let adjust = a & 0x0F > 9 || cpu.flag(AF);
    let mut f = 0;
    let mut v = a;
    if adjust {
        if cpu.model >= crate::cpu::CpuModel::I80286 {
            // The 286 and later add 0x106 to AX as a whole.
            let ax = cpu.reg::<W16>(reg::AX).wrapping_add(0x106);
            cpu.set_reg::<W16>(reg::AX, ax);
            v = ax & 0xFF;
        } else {
            v = (a + 6) & 0xFF;
            let ah = (cpu.reg::<W8>(4) + 1) & 0xFF;
            cpu.set_reg::<W8>(4, ah);
        }
        f |= AF | CF;
    }
    f |= szp(v, 8) & (SF | ZF | PF);
    set_al(cpu, v & 0x0F);
    cpu.set_flags(OSZAPC, f);
    Ok(())
}

/// AAS: ASCII adjust after subtraction.
pub fn aas(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let a = al(cpu);
    let adjust = a & 0x0F > 9 || cpu.flag(AF);
    let mut f = 0;
    let mut v = a;
    if adjust {
        if cpu.model >= crate::cpu::CpuModel::I80286 {
            let ax = cpu.reg::<W16>(reg::AX).wrapping_sub(6);
            let ah = ((ax >> 8).wrapping_sub(1)) & 0xFF;
            cpu.set_reg::<W16>(reg::AX, (ah << 8) | (ax & 0xFF));
            v = ax & 0xFF;
        } else {
            v = a.wrapping_sub(6) & 0xFF;
            let ah = cpu.reg::<W8>(4).wrapping_sub(1) & 0xFF;
            cpu.set_reg::<W8>(4, ah);
        }
        f |= AF | CF;
    }
    f |= szp(v, 8) & (SF | ZF | PF);
    set_al(cpu, v & 0x0F);
    cpu.set_flags(OSZAPC, f);
    Ok(())
}

/// AAM imm8: AH = AL / imm, AL = AL % imm; imm = 0 raises #DE.
pub fn aam(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let base = i.imm & 0xFF;
    if base == 0 {
        return Err(Fault::de());
    }
    let a = al(cpu);
    let (q, r) = (a / base, a % base);
    cpu.set_reg::<W8>(4, q);
    set_al(cpu, r);
    cpu.set_flags(OSZAPC, szp(r, 8));
    Ok(())
}

/// AAD imm8: AL = AL + AH × imm, AH = 0. Flags as for the 8-bit add the
/// microcode performs (OF, AF, CF are documented as undefined).
pub fn aad(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let base = i.imm & 0xFF;
    let a = al(cpu);
    let product = (cpu.reg::<W8>(4) * base) & 0xFF;
    let r = (a + product) & 0xFF;
    cpu.set_reg::<W16>(reg::AX, r);
    cpu.set_lazy(flags::LazyOp::Add, 8, a, product, r, OSZAPC);
    Ok(())
}

/// SALC (undocumented 0xD6): AL = CF ? 0xFF : 0.
pub fn salc(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let v = if cpu.cf() { 0xFF } else { 0 };
    set_al(cpu, v);
    Ok(())
}
