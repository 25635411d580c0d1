//! Protected mode: descriptor tables, segment loads with their checks, far
//! transfers through code segments and call gates, interrupt and exception
//! delivery through the IDT, and IRET (Intel SDM vol. 3 ch. 3, 5 and 6;
//! vol. 2 JMP, CALL, RET, IRET, INT n, MOV/POP Sreg).
//!
//! Every check raises the exception and error code the manual gives; an
//! error code for a selector is the selector with its RPL bits replaced by
//! the EXT bit (set when an external event caused the reference).

use super::paging::Access;
use super::segment::{system_type as st, Descriptor, Segment};
use super::task::SwitchReason;
use super::{flags, reg, seg, vector, Cpu, CpuModel, Fault, Result, W16, W32};
use oxbox_devices::Bus;

/// What started an interrupt delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// INT n, INT3, INTO: the gate's DPL is checked against CPL.
    Software,
    /// A CPU exception.
    Exception,
    /// A hardware interrupt (INTR, NMI).
    External,
}

/// The error code for a selector: index and TI, with EXT in bit 0.
#[inline]
fn sel_code(selector: u16, ext: bool) -> u32 {
    (selector as u32 & 0xFFFC) | ext as u32
}

/// A fault while pushing onto the new stack of an inner-privilege switch:
/// a limit violation there is #SS(new SS selector), not the #SS(0) of an
/// ordinary push (SDM vol. 2, CALL "#SS(selector) ... when a stack switch
/// occurs"; INT n "#SS(error_code(NewSS, 0, EXT))"). Page faults pass.
fn on_new_stack(f: Fault, ss: u16, ext: bool) -> Fault {
    if f.vector == vector::SS {
        Fault::ss(sel_code(ss, ext))
    } else {
        f
    }
}

impl Cpu {
    /// The linear address of a selector's descriptor, or #GP(selector) if it
    /// lies beyond its table's limit (or the LDT is null).
    fn descriptor_address(&self, selector: u16, ext: bool) -> Result<u32> {
        let (base, limit) = if selector & 4 != 0 {
            if self.ldtr.selector & 0xFFFC == 0 {
                return Err(Fault::gp(sel_code(selector, ext)));
            }
            (self.ldtr.base, self.ldtr.limit)
        } else {
            (self.gdtr_base, self.gdtr_limit)
        };
        let offset = (selector & 0xFFF8) as u32;
        if offset + 7 > limit {
            return Err(Fault::gp(sel_code(selector, ext)));
        }
        Ok(base.wrapping_add(offset))
    }

    /// Read the descriptor a selector names.
    pub fn read_descriptor(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<Descriptor> {
        self.read_descriptor_ext(bus, selector, false)
    }

    fn read_descriptor_ext(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        ext: bool,
    ) -> Result<Descriptor> {
        let addr = self.descriptor_address(selector, ext)?;
        self.read_descriptor_at(bus, addr)
    }

    /// The 8-byte descriptor or gate at linear address `addr`, as this
    /// model sees it. The 80286 ignores the last word (reserved for the
    /// 386: base 24-31, limit 16-19, G, D/B, the high gate offset) and knows
    /// only the system types 1-7; the types with bit 3 set are the 386's
    /// (SDM vol. 3 §3.5, table 3-2) and read as the reserved type 0.
    fn read_descriptor_at(&mut self, bus: &mut dyn Bus, addr: u32) -> Result<Descriptor> {
        let lo = self.read_lin(bus, addr, 4, Access::SupervisorRead)? as u64;
        let hi = self.read_lin(bus, addr.wrapping_add(4), 4, Access::SupervisorRead)? as u64;
        let mut raw = lo | (hi << 32);
        if self.model < CpuModel::I80386 {
            const S: u64 = 1 << 44;
            const TYPE_386: u64 = 1 << 43;
            raw &= 0x0000_FFFF_FFFF_FFFF;
            if raw & S == 0 && raw & TYPE_386 != 0 {
                raw &= !(0xF << 40);
            }
        }
        Ok(Descriptor::parse(raw))
    }

    /// Set the accessed bit of a code or data descriptor in memory (SDM vol.
    /// 3 §3.4.5.1: set on every segment-register load that finds it clear).
    fn mark_accessed(&mut self, bus: &mut dyn Bus, selector: u16, d: &Descriptor) -> Result<()> {
        if d.is_segment() && d.attr & super::segment::attr::ACCESSED == 0 {
            let addr = self.descriptor_address(selector, false)?.wrapping_add(5);
            let byte = (d.attr & 0xFF) as u32 | 1;
            self.write_lin_as(bus, addr, 1, byte, Access::SupervisorWrite)?;
        }
        Ok(())
    }

    /// Load CS from a code descriptor at privilege `cpl`.
    fn set_cs(&mut self, selector: u16, d: &Descriptor, cpl: u8) {
        self.segs[seg::CS] = Segment::from_descriptor((selector & 0xFFFC) | cpl as u16, d);
        self.cpl = cpl;
    }

    /// Load a data segment register or SS under the protected-mode rules
    /// (SDM vol. 2, MOV: "If SS is loaded ..."; "If DS, ES, FS, or GS is
    /// loaded ...").
    pub(crate) fn load_seg_protected(
        &mut self,
        bus: &mut dyn Bus,
        s: usize,
        selector: u16,
    ) -> Result<()> {
        let rpl = (selector & 3) as u8;
        let code = sel_code(selector, false);
        if s == seg::SS {
            if selector & 0xFFFC == 0 || rpl != self.cpl {
                return Err(Fault::gp(if selector & 0xFFFC == 0 { 0 } else { code }));
            }
            let d = self.read_descriptor(bus, selector)?;
            if !d.writable_data() || d.dpl() != self.cpl {
                return Err(Fault::gp(code));
            }
            if !d.present() {
                return Err(Fault::ss(code));
            }
            self.mark_accessed(bus, selector, &d)?;
            self.segs[seg::SS] = Segment::from_descriptor(selector, &d);
            self.charge(|s| s.seg_load);
            return Ok(());
        }
        if selector & 0xFFFC == 0 {
            self.segs[s] = Segment::null(selector);
            return Ok(());
        }
        let d = self.read_descriptor(bus, selector)?;
        if !d.is_segment() || !d.readable() {
            return Err(Fault::gp(code));
        }
        if (d.is_data() || !d.conforming()) && (rpl > d.dpl() || self.cpl > d.dpl()) {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        self.mark_accessed(bus, selector, &d)?;
        self.segs[s] = Segment::from_descriptor(selector, &d);
        self.charge(|s| s.seg_load);
        Ok(())
    }

    /// The code descriptor a far transfer targets, with the checks common
    /// to JMP/CALL through a code segment: present and of the right
    /// privilege (conforming: DPL ≤ CPL; non-conforming: RPL ≤ CPL and DPL =
    /// CPL).
    fn direct_code_target(&mut self, d: &Descriptor, selector: u16) -> Result<()> {
        let code = sel_code(selector, false);
        let rpl = (selector & 3) as u8;
        if d.conforming() {
            if d.dpl() > self.cpl {
                return Err(Fault::gp(code));
            }
        } else if rpl > self.cpl || d.dpl() != self.cpl {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        Ok(())
    }

    /// Read and check the code segment a gate points to.
    /// The checks JMP and CALL share on a call gate (SDM Vol. 3A §5.8.4):
    /// gate DPL against CPL and RPL, gate present, then the target code
    /// segment. Returns the target selector and its descriptor.
    fn through_call_gate(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        gate: &Descriptor,
        code: u32,
    ) -> Result<(u16, Descriptor)> {
        let rpl = (selector & 3) as u8;
        if gate.dpl() < self.cpl || gate.dpl() < rpl {
            return Err(Fault::gp(code));
        }
        if !gate.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        let target = gate.gate_selector();
        let cd = self.gate_target(bus, target, false)?;
        Ok((target, cd))
    }

    fn gate_target(&mut self, bus: &mut dyn Bus, selector: u16, ext: bool) -> Result<Descriptor> {
        if selector & 0xFFFC == 0 {
            return Err(Fault::gp(ext as u32));
        }
        let d = self.read_descriptor_ext(bus, selector, ext)?;
        let code = sel_code(selector, ext);
        if !d.is_code() || d.dpl() > self.cpl {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        Ok(d)
    }

    /// The stack for privilege level `cpl` from the current TSS (SDM vol. 3
    /// §7.2.1 and figure 7-11 for the 16-bit TSS).
    fn tss_stack(&mut self, bus: &mut dyn Bus, cpl: u8, ext: bool) -> Result<(u16, u32)> {
        let ts = Fault::with_code(vector::TS, sel_code(self.tr.selector, ext));
        let tss32 = matches!(
            (self.tr.attr & 0xF) as u8,
            st::TSS32_AVAILABLE | st::TSS32_BUSY
        );
        let (esp_off, ss_off, width) = if tss32 {
            (4 + 8 * cpl as u32, 8 + 8 * cpl as u32, 4)
        } else {
            (2 + 4 * cpl as u32, 4 + 4 * cpl as u32, 2)
        };
        if ss_off + 1 > self.tr.limit {
            return Err(ts);
        }
        let base = self.tr.base;
        let esp = self.read_lin(
            bus,
            base.wrapping_add(esp_off),
            width,
            Access::SupervisorRead,
        )?;
        let ss = self.read_lin(bus, base.wrapping_add(ss_off), 2, Access::SupervisorRead)? as u16;
        Ok((ss, esp))
    }

    /// Check the stack segment of an inner-privilege transfer (#TS for a bad
    /// descriptor, #SS when not present).
    fn check_inner_stack(
        &mut self,
        bus: &mut dyn Bus,
        ss: u16,
        cpl: u8,
        ext: bool,
    ) -> Result<Descriptor> {
        let code = sel_code(ss, ext);
        if ss & 0xFFFC == 0 || (ss & 3) as u8 != cpl {
            return Err(Fault::with_code(vector::TS, code));
        }
        let d = self
            .read_descriptor_ext(bus, ss, ext)
            .map_err(|_| Fault::with_code(vector::TS, code))?;
        if !d.writable_data() || d.dpl() != cpl {
            return Err(Fault::with_code(vector::TS, code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::SS, code));
        }
        Ok(d)
    }

    /// Push a value of the gate's width.
    fn push_width(&mut self, bus: &mut dyn Bus, wide: bool, v: u32) -> Result<()> {
        if wide {
            self.push::<W32>(bus, v)
        } else {
            self.push::<W16>(bus, v)
        }
    }

    /// Far JMP in protected mode: to a code segment or through a call gate.
    pub(crate) fn jump_far_protected(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        if selector & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let d = self.read_descriptor(bus, selector)?;
        let code = sel_code(selector, false);
        if d.is_code() {
            self.direct_code_target(&d, selector)?;
            if offset > d.limit {
                return Err(Fault::gp(0));
            }
            self.mark_accessed(bus, selector, &d)?;
            let cpl = self.cpl;
            self.set_cs(selector, &d, cpl);
            self.eip = offset;
            self.charge(|s| s.far_jump);
            return Ok(());
        }
        match d.system_type() {
            st::CALL_GATE16 | st::CALL_GATE32 if !d.is_segment() => {
                let (target, cd) = self.through_call_gate(bus, selector, &d, code)?;
                // JMP through a gate never changes privilege.
                if !cd.conforming() && cd.dpl() != self.cpl {
                    return Err(Fault::gp(sel_code(target, false)));
                }
                let off = d.gate_offset();
                if off > cd.limit {
                    return Err(Fault::gp(0));
                }
                let cpl = self.cpl;
                self.set_cs(target, &cd, cpl);
                self.eip = off;
                self.charge(|s| s.jump_gate);
                Ok(())
            }
            _ if !d.is_segment() => {
                let target = self.task_target(bus, selector, &d)?;
                let eip = self.eip;
                self.task_switch(bus, target.0, target.1, SwitchReason::Jump, eip, None)
            }
            _ => Err(Fault::gp(code)),
        }
    }

    /// For a far JMP/CALL to a TSS or a task gate: the privilege checks
    /// (DPL ≥ CPL and ≥ RPL) and the TSS selector and descriptor to switch
    /// to (SDM vol. 3 §7.3).
    fn task_target(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        d: &Descriptor,
    ) -> Result<(u16, Descriptor)> {
        let code = sel_code(selector, false);
        let rpl = (selector & 3) as u8;
        let kind = d.system_type();
        let is_gate = kind == st::TASK_GATE;
        let is_tss = matches!(
            kind,
            st::TSS16_AVAILABLE | st::TSS16_BUSY | st::TSS32_AVAILABLE | st::TSS32_BUSY
        );
        if !is_gate && !is_tss {
            return Err(Fault::gp(code));
        }
        if d.dpl() < self.cpl || d.dpl() < rpl {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        if !is_gate {
            return Ok((selector, *d));
        }
        let tss_sel = d.gate_selector();
        if tss_sel & 4 != 0 {
            return Err(Fault::gp(sel_code(tss_sel, false)));
        }
        let tss = self.read_descriptor(bus, tss_sel)?;
        Ok((tss_sel, tss))
    }

    /// Far CALL in protected mode: to a code segment, or through a call
    /// gate with an inner-privilege stack switch and parameter copy (SDM
    /// vol. 3 §5.8.5).
    pub(crate) fn call_far_protected(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
        op32: bool,
    ) -> Result<()> {
        if selector & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let d = self.read_descriptor(bus, selector)?;
        let code = sel_code(selector, false);
        let (old_cs, old_eip) = (self.segs[seg::CS].selector as u32, self.eip);
        if d.is_code() {
            self.direct_code_target(&d, selector)?;
            if offset > d.limit {
                return Err(Fault::gp(0));
            }
            let sp = self.regs[reg::SP];
            let pushed = self
                .push_width(bus, op32, old_cs)
                .and_then(|_| self.push_width(bus, op32, old_eip));
            if let Err(f) = pushed {
                self.regs[reg::SP] = sp;
                return Err(f);
            }
            self.mark_accessed(bus, selector, &d)?;
            let cpl = self.cpl;
            self.set_cs(selector, &d, cpl);
            self.eip = offset;
            self.charge(|s| s.far_call);
            return Ok(());
        }
        if d.is_segment() {
            return Err(Fault::gp(code));
        }
        if !matches!(d.system_type(), st::CALL_GATE16 | st::CALL_GATE32) {
            let target = self.task_target(bus, selector, &d)?;
            let eip = self.eip;
            return self.task_switch(bus, target.0, target.1, SwitchReason::Call, eip, None);
        }
        let (target, cd) = self.through_call_gate(bus, selector, &d, code)?;
        let wide = d.gate32();
        let off = d.gate_offset();
        if off > cd.limit {
            return Err(Fault::gp(0));
        }
        if !cd.conforming() && cd.dpl() < self.cpl {
            // Inner privilege: new stack from the TSS; copy the parameters.
            let new_cpl = cd.dpl();
            let (ss, esp) = self.tss_stack(bus, new_cpl, false)?;
            let ssd = self.check_inner_stack(bus, ss, new_cpl, false)?;
            let old_ss = self.segs[seg::SS];
            let old_esp = self.regs[reg::SP];
            let width = if wide { 4 } else { 2 };
            let count = d.gate_params();
            let mut params = Vec::with_capacity(count as usize);
            for i in 0..count {
                let off = old_esp.wrapping_add(i * width) & self.sp_mask();
                let v = if wide {
                    self.read::<W32>(bus, seg::SS, off)?
                } else {
                    self.read::<W16>(bus, seg::SS, off)?
                };
                params.push(v);
            }
            self.segs[seg::SS] = Segment::from_descriptor(ss, &ssd);
            self.regs[reg::SP] = esp;
            let old_cpl = self.cpl;
            self.cpl = new_cpl;
            let result = (|| -> Result<()> {
                self.push_width(bus, wide, old_ss.selector as u32)?;
                self.push_width(bus, wide, old_esp)?;
                for &p in params.iter().rev() {
                    self.push_width(bus, wide, p)?;
                }
                self.push_width(bus, wide, old_cs)?;
                self.push_width(bus, wide, old_eip)
            })();
            if let Err(f) = result {
                self.segs[seg::SS] = old_ss;
                self.regs[reg::SP] = old_esp;
                self.cpl = old_cpl;
                return Err(on_new_stack(f, ss, false));
            }
            self.mark_accessed(bus, ss, &ssd)?;
            self.set_cs(target, &cd, new_cpl);
            self.charge(|s| s.call_gate_inner + count as u16 * s.call_gate_param);
        } else {
            let sp = self.regs[reg::SP];
            let pushed = self
                .push_width(bus, wide, old_cs)
                .and_then(|_| self.push_width(bus, wide, old_eip));
            if let Err(f) = pushed {
                self.regs[reg::SP] = sp;
                return Err(f);
            }
            let cpl = self.cpl;
            self.set_cs(target, &cd, cpl);
            self.charge(|s| s.call_gate);
        }
        self.eip = off;
        Ok(())
    }

    /// The checks on the CS a RET/IRET returns to: RPL ≥ CPL, a present
    /// code segment whose DPL fits the RPL.
    fn return_code_target(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<Descriptor> {
        if selector & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let code = sel_code(selector, false);
        let rpl = (selector & 3) as u8;
        if rpl < self.cpl {
            return Err(Fault::gp(code));
        }
        let d = self.read_descriptor(bus, selector)?;
        if !d.is_code() {
            return Err(Fault::gp(code));
        }
        if (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl) {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        Ok(d)
    }

    /// After a return to an outer level: data segment registers the new
    /// level may not use are loaded with null (SDM vol. 2, RET).
    fn drop_inaccessible_segments(&mut self) {
        for s in [seg::ES, seg::DS, seg::FS, seg::GS] {
            let sg = &self.segs[s];
            let code = sg.attr & super::segment::attr::CODE != 0;
            let conforming = code && sg.attr & super::segment::attr::CONFORMING != 0;
            if sg.rights != 0 && !conforming && sg.dpl() < self.cpl {
                self.segs[s] = Segment::null(0);
            }
        }
    }

    /// Far RET in protected mode. `extra` is RET imm16's byte count,
    /// released on both stacks.
    pub(crate) fn ret_far_protected(
        &mut self,
        bus: &mut dyn Bus,
        op32: bool,
        extra: u32,
    ) -> Result<()> {
        let width = if op32 { 4 } else { 2 };
        let (eip, cs) = if op32 {
            (self.peek::<W32>(bus, 0)?, self.peek::<W32>(bus, 4)? as u16)
        } else {
            (self.peek::<W16>(bus, 0)?, self.peek::<W16>(bus, 2)? as u16)
        };
        let d = self.return_code_target(bus, cs)?;
        let rpl = (cs & 3) as u8;
        if eip > d.limit {
            return Err(Fault::gp(0));
        }
        if rpl == self.cpl {
            self.set_cs(cs, &d, rpl);
            self.eip = eip;
            self.adjust_sp(2 * width + extra);
            self.charge(|s| s.far_ret);
            return Ok(());
        }
        // Return to an outer level: the caller's SS:ESP follow.
        let depth = 2 * width + extra;
        let (esp, ss) = if op32 {
            (
                self.peek::<W32>(bus, depth)?,
                self.peek::<W32>(bus, depth + 4)? as u16,
            )
        } else {
            (
                self.peek::<W16>(bus, depth)?,
                self.peek::<W16>(bus, depth + 2)? as u16,
            )
        };
        let ssd = self.outer_stack(bus, ss, rpl)?;
        self.set_cs(cs, &d, rpl);
        self.eip = eip;
        self.segs[seg::SS] = Segment::from_descriptor(ss, &ssd);
        let m = self.sp_mask();
        self.regs[reg::SP] = (self.regs[reg::SP] & !m) | (esp.wrapping_add(extra) & m);
        self.drop_inaccessible_segments();
        self.charge(|s| s.far_ret_outer);
        Ok(())
    }

    /// Check the SS popped by a return to privilege `rpl`.
    fn outer_stack(&mut self, bus: &mut dyn Bus, ss: u16, rpl: u8) -> Result<Descriptor> {
        let code = sel_code(ss, false);
        if ss & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        if (ss & 3) as u8 != rpl {
            return Err(Fault::gp(code));
        }
        let d = self.read_descriptor(bus, ss)?;
        if !d.writable_data() || d.dpl() != rpl {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::ss(code));
        }
        Ok(d)
    }

    /// IRET in protected mode (same or outer privilege; task returns and
    /// returns to v8086 mode are not implemented yet).
    pub(crate) fn iret_protected(&mut self, bus: &mut dyn Bus, op32: bool) -> Result<()> {
        if self.flag(flags::NT) {
            // Return from a nested task: switch back through the link
            // field of the current TSS (SDM vol. 3 §7.4).
            let link = self.read_lin(bus, self.tr.base, 2, Access::SupervisorRead)? as u16;
            if link & 4 != 0 {
                return Err(Fault::with_code(vector::TS, sel_code(link, false)));
            }
            let d = self
                .read_descriptor(bus, link)
                .map_err(|_| Fault::with_code(vector::TS, sel_code(link, false)))?;
            let eip = self.eip;
            return self.task_switch(bus, link, d, SwitchReason::Iret, eip, None);
        }
        let width = if op32 { 4 } else { 2 };
        let (eip, cs, fl) = if op32 {
            (
                self.peek::<W32>(bus, 0)?,
                self.peek::<W32>(bus, 4)? as u16,
                self.peek::<W32>(bus, 8)?,
            )
        } else {
            (
                self.peek::<W16>(bus, 0)?,
                self.peek::<W16>(bus, 2)? as u16,
                self.peek::<W16>(bus, 4)?,
            )
        };
        if op32 && fl & flags::VM != 0 && self.cpl == 0 {
            self.charge(|s| s.iret_outer);
            return self.iret_to_v86(bus);
        }
        let d = self.return_code_target(bus, cs)?;
        let rpl = (cs & 3) as u8;
        if eip > d.limit {
            return Err(Fault::gp(0));
        }
        // Which flags the return may change depends on the privilege the
        // IRET runs at (SDM vol. 2, IRET).
        let old_cpl = self.cpl;
        let iopl = (self.flags_word() & flags::IOPL) >> 12;
        let mut mask = if op32 { 0x0025_7FD5 } else { 0x7FD5 };
        if old_cpl > 0 {
            mask &= !flags::IOPL;
        }
        if old_cpl as u32 > iopl {
            mask &= !flags::IF;
        }
        mask &= !(flags::VM | flags::VIF | flags::VIP);
        if rpl == old_cpl {
            self.set_cs(cs, &d, rpl);
            self.eip = eip;
            self.adjust_sp(3 * width);
            self.charge(|s| s.iret);
        } else {
            let (esp, ss) = if op32 {
                (
                    self.peek::<W32>(bus, 12)?,
                    self.peek::<W32>(bus, 16)? as u16,
                )
            } else {
                (self.peek::<W16>(bus, 6)?, self.peek::<W16>(bus, 8)? as u16)
            };
            let ssd = self.outer_stack(bus, ss, rpl)?;
            self.set_cs(cs, &d, rpl);
            self.eip = eip;
            self.segs[seg::SS] = Segment::from_descriptor(ss, &ssd);
            if ssd.attr & super::segment::attr::DB != 0 {
                self.regs[reg::SP] = esp;
            } else {
                self.regs[reg::SP] = (self.regs[reg::SP] & !0xFFFF) | (esp & 0xFFFF);
            }
            self.drop_inaccessible_segments();
            self.charge(|s| s.iret_outer);
        }
        self.write_flags(fl, mask);
        Ok(())
    }

    /// Deliver an interrupt or exception through the IDT (SDM vol. 3 §6.12).
    pub(crate) fn interrupt_protected(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        source: Source,
        error_code: Option<u32>,
        return_eip: u32,
    ) -> Result<()> {
        if source == Source::Software && self.v86() {
            let iopl = (self.flags_word() & flags::IOPL) >> 12;
            if self.cr4 & super::vme::CR4_VME != 0 && self.vme_redirected(bus, vector)? {
                return self.vme_interrupt(bus, vector, return_eip);
            }
            if iopl < 3 {
                // INT n in v8086 mode is IOPL-sensitive.
                return Err(Fault::gp(0));
            }
        }
        let ext = source != Source::Software;
        let idt_code = vector as u32 * 8 + 2 + ext as u32;
        if vector as u32 * 8 + 7 > self.idtr_limit {
            return Err(Fault::gp(idt_code));
        }
        let entry = self.idtr_base.wrapping_add(vector as u32 * 8);
        let gate = self.read_descriptor_at(bus, entry)?;
        let kind = gate.system_type();
        let valid = !gate.is_segment()
            && matches!(
                kind,
                st::TASK_GATE
                    | st::INTERRUPT_GATE16
                    | st::TRAP_GATE16
                    | st::INTERRUPT_GATE32
                    | st::TRAP_GATE32
            );
        if !valid {
            return Err(Fault::gp(idt_code));
        }
        if source == Source::Software && gate.dpl() < self.cpl {
            return Err(Fault::gp(idt_code));
        }
        if !gate.present() {
            return Err(Fault::with_code(vector::NP, idt_code));
        }
        if kind == st::TASK_GATE {
            let tss_sel = gate.gate_selector();
            if tss_sel & 4 != 0 {
                return Err(Fault::with_code(vector::TS, sel_code(tss_sel, ext)));
            }
            let tss = self.read_descriptor_ext(bus, tss_sel, ext)?;
            self.task_switch(
                bus,
                tss_sel,
                tss,
                SwitchReason::Interrupt,
                return_eip,
                error_code,
            )?;
            self.record_exception(vector, 0);
            return Ok(());
        }
        let target = gate.gate_selector();
        let cd = self.gate_target(bus, target, ext)?;
        let wide = gate.gate32();
        let off = gate.gate_offset();
        let flags_image = self.flags_word();
        let (old_cs, old_ss, old_esp, old_cpl) = (
            self.segs[seg::CS].selector as u32,
            self.segs[seg::SS],
            self.regs[reg::SP],
            self.cpl,
        );
        let new_cpl = if !cd.conforming() && cd.dpl() < self.cpl {
            cd.dpl()
        } else {
            self.cpl
        };
        let from_v86 = self.v86();
        if from_v86 && (new_cpl != 0 || cd.conforming()) {
            // Out of v8086 mode only to a ring-0 non-conforming handler.
            return Err(Fault::gp(sel_code(target, ext)));
        }
        let v86_segs = [
            self.segs[seg::GS].selector,
            self.segs[seg::FS].selector,
            self.segs[seg::DS].selector,
            self.segs[seg::ES].selector,
        ];
        let mut flags_addr = 0;
        // `pushing`: the stack checks passed and the frame is being pushed;
        // `switched_ss`: the new stack's selector when there was a switch.
        let mut pushing = false;
        let mut switched_ss = None;
        let result = (|| -> Result<()> {
            if new_cpl < old_cpl {
                let (ss, esp) = self.tss_stack(bus, new_cpl, ext)?;
                let ssd = self.check_inner_stack(bus, ss, new_cpl, ext)?;
                switched_ss = Some(ss);
                pushing = true;
                self.segs[seg::SS] = Segment::from_descriptor(ss, &ssd);
                self.regs[reg::SP] = esp;
                self.cpl = new_cpl;
                if from_v86 {
                    for &sel in &v86_segs {
                        self.push_width(bus, wide, sel as u32)?;
                    }
                }
                self.push_width(bus, wide, old_ss.selector as u32)?;
                self.push_width(bus, wide, old_esp)?;
            }
            pushing = true;
            self.push_width(bus, wide, flags_image)?;
            flags_addr = self.segs[seg::SS]
                .base
                .wrapping_add(self.regs[reg::SP] & self.sp_mask());
            self.push_width(bus, wide, old_cs)?;
            self.push_width(bus, wide, return_eip)?;
            if let Some(code) = error_code {
                self.push_width(bus, wide, code)?;
            }
            if off > cd.limit {
                return Err(Fault::gp(ext as u32));
            }
            Ok(())
        })();
        if let Err(f) = result {
            self.segs[seg::SS] = old_ss;
            self.regs[reg::SP] = old_esp;
            self.cpl = old_cpl;
            // No room for the frame: #SS(NewSS) after a switch, else
            // #SS(EXT) (SDM vol. 2, INT n, "INTER-" and
            // "INTRA-PRIVILEGE-LEVEL-INTERRUPT").
            return Err(match switched_ss {
                _ if !pushing => f,
                Some(ss) => on_new_stack(f, ss, ext),
                None if f.vector == vector::SS => Fault::ss(ext as u32),
                None => f,
            });
        }
        self.set_cs(target, &cd, new_cpl);
        self.eip = off;
        if new_cpl < old_cpl {
            self.charge(|s| s.int_inner);
        } else {
            self.charge(|s| s.int);
        }
        if from_v86 {
            for s in [seg::GS, seg::FS, seg::DS, seg::ES] {
                self.segs[s] = Segment::null(0);
            }
        }
        let mut clear = flags::TF | flags::NT | flags::RF | flags::VM;
        if matches!(kind, st::INTERRUPT_GATE16 | st::INTERRUPT_GATE32) {
            clear |= flags::IF;
        }
        self.set_flags(clear, 0);
        self.record_exception(vector, flags_addr & self.addr_mask);
        Ok(())
    }

    /// Load the LDT register (LLDT): a GDT selector of an LDT descriptor, or
    /// null to disable the LDT.
    pub fn load_ldtr(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<()> {
        if selector & 0xFFFC == 0 {
            self.ldtr = Segment::null(selector);
            return Ok(());
        }
        let code = sel_code(selector, false);
        if selector & 4 != 0 {
            return Err(Fault::gp(code));
        }
        let d = self.read_descriptor(bus, selector)?;
        if d.is_segment() || d.system_type() != st::LDT {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        self.ldtr = Segment {
            selector,
            base: d.base,
            limit: d.limit,
            attr: d.attr,
            ..Segment::null(selector)
        };
        Ok(())
    }

    /// Load the task register (LTR) and mark the TSS busy.
    pub fn load_tr(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<()> {
        let code = sel_code(selector, false);
        if selector & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        if selector & 4 != 0 {
            return Err(Fault::gp(code));
        }
        let d = self.read_descriptor(bus, selector)?;
        // (A 386 TSS reads as the reserved type 0 on the 286.)
        let available = matches!(d.system_type(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE);
        if d.is_segment() || !available {
            return Err(Fault::gp(code));
        }
        if !d.present() {
            return Err(Fault::with_code(vector::NP, code));
        }
        let addr = self.descriptor_address(selector, false)?.wrapping_add(5);
        self.write_lin_as(
            bus,
            addr,
            1,
            (d.attr & 0xFF) as u32 | 2,
            Access::SupervisorWrite,
        )?;
        self.tr = Segment {
            selector,
            base: d.base,
            limit: d.limit,
            attr: d.attr | 2,
            ..Segment::null(selector)
        };
        Ok(())
    }

    /// Whether the I/O permission check lets the current code reach `len`
    /// ports from `port` (SDM vol. 1 §19.5): CPL ≤ IOPL, or the TSS's I/O
    /// bitmap clears every bit (a 16-bit TSS has no bitmap).
    pub(crate) fn io_permitted(&mut self, bus: &mut dyn Bus, port: u16, len: u32) -> Result<()> {
        if !self.protected_mode() {
            return Ok(());
        }
        let iopl = (self.flags_word() & flags::IOPL) >> 12;
        if self.cpl as u32 <= iopl && self.flags_word() & flags::VM == 0 {
            return Ok(());
        }
        let tss32 = matches!(
            (self.tr.attr & 0xF) as u8,
            st::TSS32_AVAILABLE | st::TSS32_BUSY
        );
        if !tss32 || self.tr.limit < 0x67 {
            return Err(Fault::gp(0));
        }
        let base = self.tr.base;
        let map = self.read_lin(bus, base.wrapping_add(0x66), 2, Access::SupervisorRead)?;
        let first = map + port as u32 / 8;
        let last = map + (port as u32 + len - 1) / 8;
        if last > self.tr.limit {
            return Err(Fault::gp(0));
        }
        let mut bits = 0u32;
        for (i, a) in (first..=last).enumerate() {
            bits |= self.read_lin(bus, base.wrapping_add(a), 1, Access::SupervisorRead)? << (8 * i);
        }
        let mask = ((1u32 << len) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }
}
