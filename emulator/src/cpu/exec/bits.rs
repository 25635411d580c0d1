//! Bit test and scan (386): BT, BTS, BTR, BTC, BSF, BSR.

use crate::cpu::decode::Instr;
use crate::cpu::flags::{CF, ZF};
use crate::cpu::{Cpu, Result, Width};
use oxbox_devices::Bus;

/// Apply bit operation `op` (0 BT, 1 BTS, 2 BTR, 3 BTC) to `v`; CF = old bit.
#[inline]
fn bit_op(cpu: &mut Cpu, op: u8, v: u32, bit: u32) -> Option<u32> {
    let mask = 1u32 << bit;
    cpu.set_flags(CF, if v & mask != 0 { CF } else { 0 });
    match op {
        0 => None,
        1 => Some(v | mask),
        2 => Some(v & !mask),
        _ => Some(v ^ mask),
    }
}

/// BT/BTS/BTR/BTC r/m, reg. With a memory operand the bit offset is a
/// signed value that may reach outside the addressed word (SDM vol. 2, BT).
pub fn bt_rm_r<W: Width, const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let offset = cpu.reg::<W>(i.reg());
    if !i.is_mem() {
        let r = i.rm();
        let v = cpu.reg::<W>(r);
        if let Some(nv) = bit_op(cpu, OP, v, offset & (W::BITS - 1)) {
            cpu.set_reg::<W>(r, nv);
        }
        return Ok(());
    }
    let signed = W::sext(offset) as i32;
    let word = signed.div_euclid(W::BITS as i32);
    let bit = signed.rem_euclid(W::BITS as i32) as u32;
    let ea = cpu.ea_plus(i, cpu.ea(i), (word * W::BYTES as i32) as u32);
    let v = cpu.read::<W>(bus, i.seg(), ea)?;
    if let Some(nv) = bit_op(cpu, OP, v, bit) {
        cpu.write::<W>(bus, i.seg(), ea, nv)?;
    }
    Ok(())
}

/// BT/BTS/BTR/BTC r/m, imm8 (0x0F 0xBA /4-7).
pub fn bt_rm_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let op = (i.reg() & 3) as u8;
    let bit = i.imm & (W::BITS - 1);
    cpu.modify_rm::<W>(bus, i, |cpu, v| bit_op(cpu, op, v, bit))
}

/// BSF reg, r/m: index of the lowest set bit; ZF = source is zero (the
/// destination is then left unchanged, as the silicon does).
pub fn bsf<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read_rm::<W>(bus, i)?;
    if v == 0 {
        cpu.set_flags(ZF, ZF);
    } else {
        cpu.set_flags(ZF, 0);
        cpu.set_reg::<W>(i.reg(), v.trailing_zeros());
    }
    Ok(())
}

/// BSR reg, r/m: index of the highest set bit.
pub fn bsr<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read_rm::<W>(bus, i)?;
    if v == 0 {
        cpu.set_flags(ZF, ZF);
    } else {
        cpu.set_flags(ZF, 0);
        cpu.set_reg::<W>(i.reg(), 31 - v.leading_zeros());
    }
    Ok(())
}
