//! Hardware task switching (Intel SDM vol. 3 ch. 7) and the entry to and
//! exit from virtual-8086 mode (ch. 20).
//!
//! A task switch saves the running task's registers into its TSS, loads
//! the new task's from the new TSS, and maintains the busy bits, the NT
//! flag and the back link as the reason for the switch requires.

use super::paging::Access;
use super::segment::{system_type as st, Descriptor, Segment};
use super::{flags, reg, seg, vector, Cpu, Fault, Result, W16, W32};
use oxbox_devices::Bus;

/// Why a task switch happens; it decides busy bits, NT and the back link
/// (SDM vol. 3 table 7-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchReason {
    Jump,
    Call,
    Iret,
    /// An interrupt or exception through a task gate.
    Interrupt,
}

fn is_tss32(d: &Descriptor) -> bool {
    matches!(d.system_type(), st::TSS32_AVAILABLE | st::TSS32_BUSY)
}

fn is_tss(d: &Descriptor) -> bool {
    !d.is_segment()
        && matches!(
            d.system_type(),
            st::TSS16_AVAILABLE | st::TSS16_BUSY | st::TSS32_AVAILABLE | st::TSS32_BUSY
        )
}

fn is_busy(d: &Descriptor) -> bool {
    matches!(d.system_type(), st::TSS16_BUSY | st::TSS32_BUSY)
}

impl Cpu {
    fn sv_read(&mut self, bus: &mut dyn Bus, lin: u32, len: u32) -> Result<u32> {
        self.read_lin(bus, lin, len, Access::SupervisorRead)
    }

    fn sv_write(&mut self, bus: &mut dyn Bus, lin: u32, len: u32, v: u32) -> Result<()> {
        self.write_lin_as(bus, lin, len, v, Access::SupervisorWrite)
    }

    /// Set or clear the busy bit of a TSS descriptor in the GDT.
    fn set_tss_busy(&mut self, bus: &mut dyn Bus, selector: u16, busy: bool) -> Result<()> {
        let addr = self.gdtr_base.wrapping_add((selector & 0xFFF8) as u32 + 5);
        let b = self.sv_read(bus, addr, 1)?;
        let b = if busy { b | 2 } else { b & !2 };
        self.sv_write(bus, addr, 1, b)
    }

    /// Switch to the task whose TSS `selector`/`desc` names. `return_eip`
    /// is saved as the outgoing task's EIP; `error_code` is pushed on the
    /// new task's stack (exceptions through a task gate).
    pub(crate) fn task_switch(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        desc: Descriptor,
        reason: SwitchReason,
        return_eip: u32,
        error_code: Option<u32>,
    ) -> Result<()> {
        let code = (selector & 0xFFFC) as u32;
        if selector & 4 != 0 || !is_tss(&desc) {
            return Err(Fault::gp(code));
        }
        self.charge(|s| s.task_switch);
        let new32 = is_tss32(&desc);
        let min_limit = if new32 { 0x67 } else { 0x2B };
        if desc.limit < min_limit {
            return Err(Fault::with_code(vector::TS, code));
        }
        if !desc.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        let busy = is_busy(&desc);
        if reason == SwitchReason::Iret {
            if !busy {
                return Err(Fault::with_code(vector::TS, code));
            }
        } else if busy {
            return Err(Fault::gp(code));
        }

        // Save the outgoing task.
        let old_sel = self.tr.selector;
        let old_base = self.tr.base;
        let old32 = matches!(
            (self.tr.attr & 0xF) as u8,
            st::TSS32_AVAILABLE | st::TSS32_BUSY
        );
        let mut eflags = self.flags_word();
        if reason == SwitchReason::Iret {
            eflags &= !flags::NT;
        }
        if old32 {
            self.sv_write(bus, old_base.wrapping_add(0x20), 4, return_eip)?;
            self.sv_write(bus, old_base.wrapping_add(0x24), 4, eflags)?;
            for r in 0..8 {
                let v = self.regs[r];
                self.sv_write(bus, old_base.wrapping_add(0x28 + 4 * r as u32), 4, v)?;
            }
            for s in 0..6 {
                let v = self.segs[s].selector as u32;
                self.sv_write(bus, old_base.wrapping_add(0x48 + 4 * s as u32), 2, v)?;
            }
        } else {
            self.sv_write(bus, old_base.wrapping_add(0x0E), 2, return_eip & 0xFFFF)?;
            self.sv_write(bus, old_base.wrapping_add(0x10), 2, eflags & 0xFFFF)?;
            for r in 0..8 {
                let v = self.regs[r] & 0xFFFF;
                self.sv_write(bus, old_base.wrapping_add(0x12 + 2 * r as u32), 2, v)?;
            }
            for s in 0..4 {
                let v = self.segs[s].selector as u32;
                self.sv_write(bus, old_base.wrapping_add(0x22 + 2 * s as u32), 2, v)?;
            }
        }
        if matches!(reason, SwitchReason::Jump | SwitchReason::Iret) {
            self.set_tss_busy(bus, old_sel, false)?;
        }

        // Read the incoming task's state.
        let base = desc.base;
        // The T flag (32-bit TSS only, bit 0 of offset 0x64).
        let mut debug_trap = false;
        let (eip, mut new_flags, regs, sels, ldt, cr3) = if new32 {
            let eip = self.sv_read(bus, base.wrapping_add(0x20), 4)?;
            let fl = self.sv_read(bus, base.wrapping_add(0x24), 4)?;
            let mut regs = [0u32; 8];
            for (r, slot) in regs.iter_mut().enumerate() {
                *slot = self.sv_read(bus, base.wrapping_add(0x28 + 4 * r as u32), 4)?;
            }
            let mut sels = [0u16; 6];
            for (s, slot) in sels.iter_mut().enumerate() {
                *slot = self.sv_read(bus, base.wrapping_add(0x48 + 4 * s as u32), 2)? as u16;
            }
            let ldt = self.sv_read(bus, base.wrapping_add(0x60), 2)? as u16;
            let cr3 = self.sv_read(bus, base.wrapping_add(0x1C), 4)?;
            debug_trap = self.sv_read(bus, base.wrapping_add(0x64), 2)? & 1 != 0;
            (eip, fl, regs, sels, ldt, Some(cr3))
        } else {
            let eip = self.sv_read(bus, base.wrapping_add(0x0E), 2)?;
            let fl = self.sv_read(bus, base.wrapping_add(0x10), 2)?;
            let mut regs = [0u32; 8];
            for (r, slot) in regs.iter_mut().enumerate() {
                *slot = (self.regs[r] & 0xFFFF_0000)
                    | self.sv_read(bus, base.wrapping_add(0x12 + 2 * r as u32), 2)?;
            }
            let mut sels = [0u16; 6];
            for (s, slot) in sels.iter_mut().take(4).enumerate() {
                *slot = self.sv_read(bus, base.wrapping_add(0x22 + 2 * s as u32), 2)? as u16;
            }
            let ldt = self.sv_read(bus, base.wrapping_add(0x2A), 2)? as u16;
            (eip, fl, regs, sels, ldt, None)
        };
        if matches!(reason, SwitchReason::Call | SwitchReason::Interrupt) {
            new_flags |= flags::NT;
            self.sv_write(bus, base, 2, old_sel as u32)?;
        }
        if reason != SwitchReason::Iret {
            self.set_tss_busy(bus, selector, true)?;
        }

        // Commit: from here on, faults belong to the new task.
        self.tr = Segment {
            selector,
            base: desc.base,
            limit: desc.limit,
            attr: desc.attr | 2,
            ..Segment::null(selector)
        };
        self.cr0 |= 1 << 3; // TS
        if debug_trap {
            // #DB after the switch, before the new task's first
            // instruction (SDM vol. 3 §7.2.1 "T flag", §17.3.1.5).
            self.debug.task_trap = true;
            self.poll_irq = true;
        }
        if let Some(cr3) = cr3 {
            if self.paging() {
                self.cr3 = cr3;
                self.flush_tlb(true);
            } else {
                self.cr3 = cr3;
            }
        }
        self.regs = regs;
        self.eip = eip;
        let writable = if new32 {
            0x0025_7FD5 | flags::VM
        } else {
            0x7FD5
        };
        let merged = (self.flags_word() & !writable) | (new_flags & writable);
        self.load_flags_raw(merged);
        let ts = |sel: u16| Fault::with_code(vector::TS, (sel & 0xFFFC) as u32);
        self.load_ldtr(bus, ldt).map_err(|_| ts(ldt))?;
        if self.v86() {
            for (s, &sel) in sels.iter().enumerate() {
                self.load_seg_real(s, sel);
            }
            self.cpl = 3;
        } else {
            self.load_task_segments(bus, &sels)?;
        }
        if let Some(code) = error_code {
            if new32 {
                self.push::<W32>(bus, code)?;
            } else {
                self.push::<W16>(bus, code)?;
            }
        }
        if self.eip > self.segs[seg::CS].limit {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// Load CS, SS, DS, ES, FS, GS from the new task's TSS, with the
    /// checks of SDM vol. 3 §7.3 step 12 (#TS for a bad selector).
    fn load_task_segments(&mut self, bus: &mut dyn Bus, sels: &[u16; 6]) -> Result<()> {
        let ts = |sel: u16| Fault::with_code(vector::TS, (sel & 0xFFFC) as u32);
        let cs = sels[seg::CS];
        if cs & 0xFFFC == 0 {
            return Err(ts(cs));
        }
        let cd = self.read_descriptor(bus, cs).map_err(|_| ts(cs))?;
        if !cd.is_code() {
            return Err(ts(cs));
        }
        let cpl = (cs & 3) as u8;
        if (cd.conforming() && cd.dpl() > cpl) || (!cd.conforming() && cd.dpl() != cpl) {
            return Err(ts(cs));
        }
        if !cd.present() {
            return Err(Fault::with_code(vector::NP, (cs & 0xFFFC) as u32));
        }
        self.segs[seg::CS] = Segment::from_descriptor(cs, &cd);
        self.cpl = cpl;
        for s in [seg::SS, seg::DS, seg::ES, seg::FS, seg::GS] {
            let sel = sels[s];
            if let Err(f) = self.load_seg_protected(bus, s, sel) {
                return Err(if f.vector == vector::GP { ts(sel) } else { f });
            }
        }
        Ok(())
    }

    /// IRET with EFLAGS.VM set in the popped image, at CPL 0: return to
    /// virtual-8086 mode (SDM vol. 2, IRET "RETURN-TO-VIRTUAL-8086-MODE").
    pub(crate) fn iret_to_v86(&mut self, bus: &mut dyn Bus) -> Result<()> {
        let mut vals = [0u32; 9];
        for (k, v) in vals.iter_mut().enumerate() {
            *v = self.peek::<W32>(bus, 4 * k as u32)?;
        }
        let [eip, cs, fl, esp, ss, es, ds, fs, gs] = vals;
        // The whole EFLAGS image is loaded, VIF and VIP included.
        self.load_flags_raw((fl & 0x003F_7FD5) | flags::VM);
        self.load_seg_real(seg::CS, cs as u16);
        self.load_seg_real(seg::SS, ss as u16);
        self.load_seg_real(seg::ES, es as u16);
        self.load_seg_real(seg::DS, ds as u16);
        self.load_seg_real(seg::FS, fs as u16);
        self.load_seg_real(seg::GS, gs as u16);
        for s in 0..6 {
            let sel = self.segs[s].selector;
            self.segs[s] = Segment::real(sel);
        }
        self.regs[reg::SP] = esp;
        self.eip = eip & 0xFFFF;
        self.cpl = 3;
        Ok(())
    }
}
