//! String instructions with their REP/REPE/REPNE forms: MOVS, CMPS, STOS,
//! LODS, SCAS, INS, OUTS (SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! A repeated instruction runs iteration by iteration; between iterations a
//! pending interrupt suspends it with EIP still on the instruction, so it
//! resumes after the handler returns with the registers as they were left.

use std::cell::Cell;

use crate::cpu::decode::{pfx, Instr};
use crate::cpu::flags::{DF, ZF};
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
    cpu.interrupts_enabled() && bus.interrupt_pending()
}

/// Drive `body` under the instruction's repeat prefix. `compares` marks
/// CMPS/SCAS, which also stop on the ZF condition of REPE/REPNE.
#[inline(always)]
fn repeat(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
    st: &Step,
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
        if let Err(f) = body(cpu, bus) {
            // The 286 may already have counted the faulting iteration.
            set_idx(
                cpu,
                i,
                reg::CX,
                count.wrapping_sub(st.counted_at_fault.get()),
            );
            return Err(f);
        }
        set_idx(cpu, i, reg::CX, count.wrapping_sub(1));
        if compares {
            let zf = cpu.flag(ZF);
            if (i.pfx & pfx::REP != 0 && !zf) || (i.pfx & pfx::REPNE != 0 && zf) {
                return Ok(());
            }
        }
        if count != 1 && interrupt_waiting(cpu, bus) {
            // Suspend: re-execute this instruction after the interrupt.
            let mut back = i.len as u32;
            if cpu.quirks.rep_resumes_at_last_prefix {
                back -= i.prefixes as u32 - 1;
            }
            cpu.eip = cpu.eip.wrapping_sub(back) & cpu.ip_mask();
            return Ok(());
        }
    }
}

/// Index-register bookkeeping for one string iteration. On most models the
/// registers advance after every access of the iteration succeeded, so a
/// faulting iteration restarts cleanly; the 286 advances each register as
/// part of its access, even one that faults (`Quirks::commits_index_before_fault`).
struct Step {
    early: bool,
    d: u32,
    /// How far a REP loop has counted CX down if the access being made now
    /// faults (286 only; 0 elsewhere). SingleStepTests 80286 data: a read
    /// fault counts the iteration once, a write fault twice, and the first
    /// (ES:DI) read of CMPS not at all.
    counted_at_fault: Cell<u32>,
}

impl Step {
    fn new<W: Width>(cpu: &Cpu) -> Step {
        Step {
            early: cpu.quirks.commits_index_before_fault,
            d: delta::<W>(cpu),
            counted_at_fault: Cell::new(0),
        }
    }

    /// The next access of this iteration, were it to fault, leaves CX
    /// counted down `n` times (286).
    #[inline(always)]
    fn counts(&self, n: u32) {
        if self.early {
            self.counted_at_fault.set(n);
        }
    }

    /// The offset for an access through index register `r`.
    #[inline(always)]
    fn at(&self, cpu: &mut Cpu, i: &Instr, r: usize) -> u32 {
        let off = idx(cpu, i, r);
        if self.early {
            advance(cpu, i, r, self.d);
        }
        off
    }

    /// A write through ES:DI.
    #[inline(always)]
    fn write<W: Width>(&self, cpu: &mut Cpu, bus: &mut dyn Bus, off: u32, v: u32) -> Result<()> {
        self.counts(2);
        cpu.write::<W>(bus, seg::ES, off, v)
    }

    /// After the iteration's accesses succeeded.
    #[inline(always)]
    fn done(&self, cpu: &mut Cpu, i: &Instr, regs: &[usize]) {
        if !self.early {
            for &r in regs {
                advance(cpu, i, r, self.d);
            }
        }
    }
}

pub fn movs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, false, |cpu, bus| {
        st.counts(1);
        let src = st.at(cpu, i, reg::SI);
        let v = cpu.read::<W>(bus, i.seg(), src)?;
        let dst = st.at(cpu, i, reg::DI);
        st.write::<W>(cpu, bus, dst, v)?;
        st.done(cpu, i, &[reg::SI, reg::DI]);
        Ok(())
    })
}

pub fn cmps<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, true, |cpu, bus| {
        let (a, b) = if st.early {
            // The 286 fetches the ES:DI operand first.
            st.counts(0);
            let dst = st.at(cpu, i, reg::DI);
            let b = cpu.read::<W>(bus, seg::ES, dst)?;
            st.counts(1);
            let src = st.at(cpu, i, reg::SI);
            (cpu.read::<W>(bus, i.seg(), src)?, b)
        } else {
            let src = st.at(cpu, i, reg::SI);
            let a = cpu.read::<W>(bus, i.seg(), src)?;
            let dst = st.at(cpu, i, reg::DI);
            (a, cpu.read::<W>(bus, seg::ES, dst)?)
        };
        alu::<W>(cpu, CMP, a, b);
        st.done(cpu, i, &[reg::SI, reg::DI]);
        Ok(())
    })
}

pub fn stos<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, false, |cpu, bus| {
        let v = cpu.reg::<W>(reg::AX);
        let dst = st.at(cpu, i, reg::DI);
        st.write::<W>(cpu, bus, dst, v)?;
        st.done(cpu, i, &[reg::DI]);
        Ok(())
    })
}

pub fn lods<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, false, |cpu, bus| {
        st.counts(1);
        let src = st.at(cpu, i, reg::SI);
        let v = cpu.read::<W>(bus, i.seg(), src)?;
        cpu.set_reg::<W>(reg::AX, v);
        st.done(cpu, i, &[reg::SI]);
        Ok(())
    })
}

pub fn scas<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, true, |cpu, bus| {
        let a = cpu.reg::<W>(reg::AX);
        st.counts(1);
        let dst = st.at(cpu, i, reg::DI);
        let b = cpu.read::<W>(bus, seg::ES, dst)?;
        alu::<W>(cpu, CMP, a, b);
        st.done(cpu, i, &[reg::DI]);
        Ok(())
    })
}

/// INS (186+): port DX → ES:DI. The destination is checked before the port
/// is read, so a faulting INS does not consume input.
pub fn ins<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, false, |cpu, bus| {
        let port = cpu.reg::<W16>(reg::DX) as u16;
        let dst = st.at(cpu, i, reg::DI);
        st.counts(2);
        cpu.check_access(seg::ES, dst, W::BYTES, true)?;
        let v = cpu.port_in::<W>(bus, port);
        st.write::<W>(cpu, bus, dst, v)?;
        st.done(cpu, i, &[reg::DI]);
        Ok(())
    })
}

/// OUTS (186+): seg:SI → port DX.
pub fn outs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let st = Step::new::<W>(cpu);
    repeat(cpu, bus, i, &st, false, |cpu, bus| {
        let port = cpu.reg::<W16>(reg::DX) as u16;
        st.counts(1);
        let src = st.at(cpu, i, reg::SI);
        let v = cpu.read::<W>(bus, i.seg(), src)?;
        cpu.port_out::<W>(bus, port, v);
        st.done(cpu, i, &[reg::SI]);
        Ok(())
    })
}
