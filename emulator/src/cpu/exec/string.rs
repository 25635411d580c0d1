//! String instructions with their REP/REPE/REPNE forms: MOVS, CMPS, STOS,
//! LODS, SCAS, INS, OUTS (SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! A repeated instruction runs iteration by iteration; between iterations a
//! pending interrupt suspends it with EIP still on the instruction, so it
//! resumes after the handler returns with the registers as they were left.

use std::cell::Cell;

use crate::cpu::decode::{pfx, Instr};
use crate::cpu::flags::{DF, ZF};
use crate::cpu::paging::Access;
use crate::cpu::segment::rights;
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
    if cpu.rep_paused {
        // Resuming after a batch boundary: the start-up was paid before.
        cpu.rep_paused = false;
        cpu.cycles -= i.clocks as u64;
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
        cpu.cycles += i.clocks_x as u64; // one REP iteration
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
        if count != 1 && cpu.cycles >= cpu.cycle_deadline {
            // The batch's cycle limit (a device deadline): stop and resume
            // from the first prefix once the devices have caught up. Unlike
            // an interrupted REP this pause must not show: the instruction
            // counts once (the run loop counts this return) and pays its
            // start-up once (the resumption takes it back).
            cpu.eip = cpu.eip.wrapping_sub(i.len as u32) & cpu.ip_mask();
            cpu.instructions = cpu.instructions.wrapping_sub(1);
            cpu.rep_paused = true;
            return Ok(());
        }
    }
}

/// CR0.AM: alignment checks may apply at CPL 3.
const CR0_AM: u32 = 1 << 18;

/// The fast path of forward REP MOVS and REP STOS between RAM pages: runs
/// as many iterations as it can as block copies (or fills), then leaves the
/// rest to the element-by-element loop of [`repeat`]. A block never
/// crosses a page, the segment's limit or the 16-bit address wrap on either
/// side, touches only RAM, and is not used while data breakpoints (the
/// guest's, or the host debugger's watchpoints) or alignment checks are
/// armed, so it cannot fault part-way and leaves the same memory and
/// registers as the iterations it replaces. It runs only
/// on a bus whose interrupt line cannot rise during an instruction (the
/// machine advances its devices between instructions), so checking once
/// per block is the loop's own between-iterations check. `source` is
/// MOVS's source segment (None for STOS).
fn block_transfer<W: Width>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
    source: Option<usize>,
) -> Result<()> {
    if i.pfx & (pfx::REP | pfx::REPNE) == 0
        || !bus.interrupts_settle_between_instructions()
        || cpu.flag(DF)
        || cpu.debug.data_check
        || (cpu.cpl == 3 && cpu.cr0 & CR0_AM != 0)
    {
        return Ok(());
    }
    loop {
        let count = idx(cpu, i, reg::CX);
        if count < 2 || interrupt_waiting(cpu, bus) || cpu.cycles >= cpu.cycle_deadline {
            return Ok(());
        }
        let Some((dst_lin, dst_room)) = block_room::<W>(cpu, i, seg::ES, reg::DI, rights::WRITE)
        else {
            return Ok(());
        };
        let mut n = count.min(dst_room);
        // Only the iterations that end before the batch's cycle limit: the
        // element loop runs the one that reaches it, then stops.
        let per = i.clocks_x as u64;
        if let Some(before) = (cpu.cycle_deadline - cpu.cycles - 1).checked_div(per) {
            n = n.min(before.min(u32::MAX as u64) as u32);
        }
        let src_lin = match source {
            Some(s) => {
                let Some((lin, room)) = block_room::<W>(cpu, i, s, reg::SI, rights::READ) else {
                    return Ok(());
                };
                n = n.min(room);
                Some(lin)
            }
            None => None,
        };
        if n < 2 {
            return Ok(());
        }
        let bytes = n * W::BYTES;
        // Translated in the order the first iteration accesses them, so a
        // page fault is the one that iteration would raise.
        let src = match src_lin {
            Some(lin) => match block_phys(cpu, bus, lin, bytes, Access::Read)? {
                Some(p) => Some(p),
                None => return Ok(()),
            },
            None => None,
        };
        let Some(dst) = block_phys(cpu, bus, dst_lin, bytes, Access::Write)? else {
            return Ok(());
        };
        match src {
            Some(src) => {
                // A destination just above the source would re-read
                // elements already written (a repeating pattern): copy only
                // the part that does not overlap.
                if dst > src && dst - src < n * W::BYTES {
                    n = (dst - src) / W::BYTES;
                    if n < 2 {
                        return Ok(());
                    }
                }
                cpu.mem.copy_within(src, dst, n * W::BYTES);
                advance(cpu, i, reg::SI, n * W::BYTES);
            }
            None => {
                let v = cpu.reg::<W>(reg::AX);
                cpu.mem.fill(dst, W::BYTES, n, v);
            }
        }
        advance(cpu, i, reg::DI, n * W::BYTES);
        set_idx(cpu, i, reg::CX, count - n);
        cpu.cycles += n as u64 * per;
    }
}

/// The linear address of s:r and how many forward elements fit before the
/// segment's limit, the 16-bit offset wrap or the end of the page; None
/// when the segment forbids the access or the offset is outside it.
fn block_room<W: Width>(cpu: &Cpu, i: &Instr, s: usize, r: usize, need: u8) -> Option<(u32, u32)> {
    let off = idx(cpu, i, r);
    let segment = &cpu.segs[s];
    if off < segment.lo || off > segment.hi || segment.rights & need != need {
        return None;
    }
    let mut room = segment.hi as u64 - off as u64 + 1;
    if !i.addr32() {
        room = room.min(0x1_0000 - off as u64);
    }
    let lin = segment.base.wrapping_add(off);
    room = room.min(0x1000 - (lin & 0xFFF) as u64);
    Some((lin, (room / W::BYTES as u64) as u32))
}

/// The physical address of a block of `bytes` at `lin` (inside one page)
/// when the whole block is RAM the access may use directly.
fn block_phys(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    lin: u32,
    bytes: u32,
    kind: Access,
) -> Result<Option<u32>> {
    let phys = if cpu.paging() {
        cpu.translate(bus, lin, kind)?
    } else {
        lin
    };
    let start = phys & cpu.addr_mask;
    let last = phys.wrapping_add(bytes - 1);
    if last & cpu.addr_mask != start.wrapping_add(bytes - 1) {
        return Ok(None);
    }
    let ram = match kind {
        Access::Write => cpu.mem.writable(start, bytes),
        _ => cpu.mem.readable(start, bytes),
    };
    Ok(ram.then_some(start))
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
    block_transfer::<W>(cpu, bus, i, Some(i.seg()))?;
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
    block_transfer::<W>(cpu, bus, i, None)?;
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
