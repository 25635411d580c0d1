//! String instructions with their REP/REPE/REPNE forms: MOVS, CMPS, STOS,
//! LODS, SCAS, INS, OUTS (SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! A repeated instruction runs iteration by iteration; between iterations a
//! pending interrupt suspends it with EIP still on the instruction, so it
//! resumes after the handler returns with the registers as they were left.

use crate::cpu::decode::{pfx, Instr};
use crate::cpu::flags::{DF, IF, ZF};
use crate::cpu::{reg, seg, Cpu, Result, Width, W16};
use oxbox_devices::Bus;

use super::alu::{alu, CMP};

/// Per-iteration step of SI/DI: ±width by DF.
#[inline(always)]
fn delta<W: Width>(cpu: &Cpu) -> u32 {
    if cpu.flag(DF) {
        0u32.wrapping_sub(W::BYTES)
    } else {
        W::BYTES
    }
}

/// Read an index register (SI, DI, CX) at the address size.
#[inline(always)]
fn idx(cpu: &Cpu, i: &Instr, r: usize) -> u32 {
    if i.addr32() {
        cpu.regs[r]
    } else {
        cpu.regs[r] & 0xFFFF
    }
}

#[inline(always)]
fn set_idx(cpu: &mut Cpu, i: &Instr, r: usize, v: u32) {
    if i.addr32() {
        cpu.regs[r] = v;
    } else {
        cpu.set_reg::<W16>(r, v);
    }
}

#[inline(always)]
fn advance(cpu: &mut Cpu, i: &Instr, r: usize, d: u32) {
    let v = idx(cpu, i, r).wrapping_add(d);
    set_idx(cpu, i, r, v);
}

/// Whether a REP loop should stop for an interrupt before its next iteration.
#[inline(always)]
fn interrupt_waiting(cpu: &Cpu, bus: &dyn Bus) -> bool {
    cpu.flags_word() & IF != 0 && bus.interrupt_pending()
}

/// Drive `body` under the instruction's repeat prefix. `compares` marks
/// CMPS/SCAS, which also stop on the ZF condition of REPE/REPNE.
#[inline(always)]
fn repeat(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
    compares: bool,
    mut body: impl FnMut(&mut Cpu, &mut dyn Bus) -> Result<()>,
) -> Result<()> {
    if i.pfx & (pfx::REP | pfx::REPNE) == 0 {
        return body(cpu, bus);
    }
    loop {
        let count = idx(cpu, i, reg::CX);
        if count == 0 {
            return Ok(());
        }
        body(cpu, bus)?;
        set_idx(cpu, i, reg::CX, count.wrapping_sub(1));
        if compares {
            let zf = cpu.flag(ZF);
            if (i.pfx & pfx::REP != 0 && !zf) || (i.pfx & pfx::REPNE != 0 && zf) {
                return Ok(());
            }
        }
        if count != 1 && interrupt_waiting(cpu, bus) {
            // Suspend: re-execute this instruction after the interrupt.
            cpu.eip = cpu.eip.wrapping_sub(i.len as u32) & cpu.ip_mask();
            return Ok(());
        }
    }
}

pub fn movs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, false, |cpu, bus| {
        let v = cpu.read::<W>(bus, i.seg(), idx(cpu, i, reg::SI))?;
        cpu.write::<W>(bus, seg::ES, idx(cpu, i, reg::DI), v)?;
        advance(cpu, i, reg::SI, d);
        advance(cpu, i, reg::DI, d);
        Ok(())
    })
}

pub fn cmps<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, true, |cpu, bus| {
        let a = cpu.read::<W>(bus, i.seg(), idx(cpu, i, reg::SI))?;
        let b = cpu.read::<W>(bus, seg::ES, idx(cpu, i, reg::DI))?;
        alu::<W>(cpu, CMP, a, b);
        advance(cpu, i, reg::SI, d);
        advance(cpu, i, reg::DI, d);
        Ok(())
    })
}

pub fn stos<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, false, |cpu, bus| {
        let v = cpu.reg::<W>(reg::AX);
        cpu.write::<W>(bus, seg::ES, idx(cpu, i, reg::DI), v)?;
        advance(cpu, i, reg::DI, d);
        Ok(())
    })
}

pub fn lods<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, false, |cpu, bus| {
        let v = cpu.read::<W>(bus, i.seg(), idx(cpu, i, reg::SI))?;
        cpu.set_reg::<W>(reg::AX, v);
        advance(cpu, i, reg::SI, d);
        Ok(())
    })
}

pub fn scas<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, true, |cpu, bus| {
        let a = cpu.reg::<W>(reg::AX);
        let b = cpu.read::<W>(bus, seg::ES, idx(cpu, i, reg::DI))?;
        alu::<W>(cpu, CMP, a, b);
        advance(cpu, i, reg::DI, d);
        Ok(())
    })
}

/// INS (186+): port DX → ES:DI.
pub fn ins<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, false, |cpu, bus| {
        let port = cpu.reg::<W16>(reg::DX) as u16;
        let di = idx(cpu, i, reg::DI);
        // The destination is checked before the port is read.
        cpu.check_access(seg::ES, di, W::BYTES)?;
        let v = cpu.port_in::<W>(bus, port);
        cpu.write::<W>(bus, seg::ES, di, v)?;
        advance(cpu, i, reg::DI, d);
        Ok(())
    })
}

/// OUTS (186+): seg:SI → port DX.
pub fn outs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let d = delta::<W>(cpu);
    repeat(cpu, bus, i, false, |cpu, bus| {
        let port = cpu.reg::<W16>(reg::DX) as u16;
        let v = cpu.read::<W>(bus, i.seg(), idx(cpu, i, reg::SI))?;
        cpu.port_out::<W>(bus, port, v);
        advance(cpu, i, reg::SI, d);
        Ok(())
    })
}
