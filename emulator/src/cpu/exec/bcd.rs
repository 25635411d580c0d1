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

/// DAA and DAS share one rule (SDM vol. 2 pseudocode): adjust the low
/// nibble by 6 if it exceeds 9 or AF is set (CF also takes the carry of that
/// step), then the high nibble by 0x60 if the original AL exceeded 0x99 or CF
/// was set. The 8086 differs (`Quirks::bcd_adjust_8086`).
fn decimal_adjust(cpu: &mut Cpu, subtract: bool) {
    let old_al = al(cpu);
    let old_cf = cpu.cf();
    let old_af = cpu.flag(AF);
    let mut v = old_al;
    let mut f = 0;
    let low_adjust = v & 0x0F > 9 || old_af;
    if low_adjust {
        let (r, carry) = if subtract {
            (v.wrapping_sub(6), v < 6)
        } else {
            (v + 6, v + 6 > 0xFF)
        };
        v = r & 0xFF;
        f |= AF;
        if (carry && !cpu.quirks.bcd_adjust_8086) || old_cf {
            f |= CF;
        }
    }
    let threshold = if old_af && cpu.quirks.bcd_adjust_8086 {
        0x9F
    } else {
        0x99
    };
    if old_al > threshold || old_cf {
        v = if subtract {
            v.wrapping_sub(0x60)
        } else {
            v + 0x60
        } & 0xFF;
        f |= CF;
    }
    f |= szp(v, 8);
    // OF is undefined; the silicon sets it as for the signed add/subtract
    // of the adjustment.
    let overflow = if subtract {
        (old_al ^ v) & old_al & 0x80 != 0
    } else {
        (old_al ^ v) & v & 0x80 != 0
    };
    if overflow {
        f |= OF;
    }
    set_al(cpu, v);
    cpu.set_flags(OSZAPC, f);
}

/// DAA: decimal adjust AL after addition.
pub fn daa(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    decimal_adjust(cpu, false);
    Ok(())
}

/// DAS: decimal adjust AL after subtraction.
pub fn das(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    decimal_adjust(cpu, true);
    Ok(())
}

/// AAA and AAS: if the low nibble of AL exceeds 9 or AF is set, adjust AL
/// by 6 and AH by 1 (up for AAA, down for AAS) and set AF and CF; then keep
/// only AL's low nibble. The 286 and later adjust AX as a whole (a carry or
/// borrow out of AL reaches AH); the 8086 adjusts AL and AH separately.
fn ascii_adjust(cpu: &mut Cpu, subtract: bool) {
    let a = al(cpu);
    let adjust = a & 0x0F > 9 || cpu.flag(AF);
    let mut f = 0;
    let mut v = a;
    if adjust {
        let ah = cpu.reg::<W8>(4);
        let (new_al, new_ah) = if cpu.model >= crate::cpu::CpuModel::I80286 {
            if subtract {
                let ax = cpu.reg::<W16>(reg::AX).wrapping_sub(6);
                (ax & 0xFF, (ax >> 8).wrapping_sub(1))
            } else {
                let ax = cpu.reg::<W16>(reg::AX).wrapping_add(0x106);
                (ax & 0xFF, ax >> 8)
            }
        } else if subtract {
            (a.wrapping_sub(6), ah.wrapping_sub(1))
        } else {
            (a + 6, ah + 1)
        };
        v = new_al & 0xFF;
        cpu.set_reg::<W8>(4, new_ah & 0xFF);
        f |= AF | CF;
    }
    f |= szp(v, 8) & (SF | ZF | PF);
    set_al(cpu, v & 0x0F);
    cpu.set_flags(OSZAPC, f);
}

/// AAA: ASCII adjust after addition.
pub fn aaa(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    ascii_adjust(cpu, false);
    Ok(())
}

/// AAS: ASCII adjust after subtraction.
pub fn aas(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    ascii_adjust(cpu, true);
    Ok(())
}

/// AAM imm8: AH = AL / imm, AL = AL % imm; imm = 0 raises #DE.
pub fn aam(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let base = i.imm & 0xFF;
    if base == 0 {
        if let Some(f) = cpu.quirks.aam_zero_szp {
            cpu.set_flags(SF | ZF | PF, f);
        }
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
