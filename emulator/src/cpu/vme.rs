//! Virtual-mode extensions (CR4.VME) and protected-mode virtual interrupts
//! (CR4.PVI), Intel SDM vol. 3 §20.3 and §20.4: with IOPL < 3, CLI/STI,
//! PUSHF/POPF, INT n and IRET in v8086 mode work on the virtual interrupt
//! flag (VIF) instead of faulting, and software interrupts can be redirected
//! to the v8086 program's own vector table through the TSS's interrupt
//! redirection bitmap.

use super::paging::Access;
use super::segment::system_type as st;
use super::{flags, reg, seg, Cpu, Fault, Result, W16};
use oxbox_devices::Bus;

pub const CR4_VME: u32 = 1 << 0;
pub const CR4_PVI: u32 = 1 << 1;

impl Cpu {
    fn iopl(&self) -> u32 {
        (self.flags_word() & flags::IOPL) >> 12
    }

    /// v8086 mode with VME and IOPL < 3: the IOPL-sensitive instructions
    /// use VIF.
    pub(crate) fn vme_active(&self) -> bool {
        self.v86() && self.cr4 & CR4_VME != 0 && self.iopl() < 3
    }

    /// Protected mode at CPL 3 with PVI and IOPL < 3: CLI/STI use VIF.
    pub(crate) fn pvi_active(&self) -> bool {
        self.protected_mode()
            && !self.v86()
            && self.cpl == 3
            && self.cr4 & CR4_PVI != 0
            && self.iopl() < 3
    }

    /// CLI/STI on the virtual flag; STI with a pending virtual interrupt
    /// raises #GP(0) so the monitor can deliver it.
    pub(crate) fn virtual_cli_sti(&mut self, set: bool) -> Result<()> {
        if set {
            if self.flag(flags::VIP) {
                return Err(Fault::gp(0));
            }
            self.set_flags(flags::VIF, flags::VIF);
        } else {
            self.set_flags(flags::VIF, 0);
        }
        Ok(())
    }

    /// The FLAGS image PUSHF stores under VME: IF replaced by VIF, IOPL 3.
    pub(crate) fn vme_flags_image(&self) -> u32 {
        let f = self.flags_word();
        let mut v = (f & !(flags::IF | flags::IOPL)) | flags::IOPL;
        if f & flags::VIF != 0 {
            v |= flags::IF;
        }
        v & 0xFFFF
    }

    /// POPF/IRET (16-bit) under VME: IF goes to VIF; TF set, or IF set
    /// with a virtual interrupt pending, raises #GP(0).
    pub(crate) fn vme_load_flags(&mut self, v: u32) -> Result<()> {
        if v & flags::TF != 0 || (v & flags::IF != 0 && self.flag(flags::VIP)) {
            return Err(Fault::gp(0));
        }
        let keep = flags::IF | flags::IOPL;
        self.write_flags(v, 0xFFFF & !keep);
        self.set_flags(flags::VIF, if v & flags::IF != 0 { flags::VIF } else { 0 });
        Ok(())
    }

    /// INT n in v8086 mode with VME: whether the TSS redirection bitmap
    /// sends it to the v8086 program's vector table (bit clear).
    pub(crate) fn vme_redirected(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<bool> {
        let tss32 = matches!(
            (self.tr.attr & 0xF) as u8,
            st::TSS32_AVAILABLE | st::TSS32_BUSY
        );
        if !tss32 || self.tr.limit < 0x67 {
            return Err(Fault::gp(0));
        }
        let base = self.tr.base;
        let map = self.read_lin(bus, base.wrapping_add(0x66), 2, Access::SupervisorRead)?;
        let byte_off = map.wrapping_sub(32).wrapping_add(vector as u32 / 8);
        if byte_off > self.tr.limit {
            return Err(Fault::gp(0));
        }
        let b = self.read_lin(bus, base.wrapping_add(byte_off), 1, Access::SupervisorRead)?;
        Ok(b & (1 << (vector & 7)) == 0)
    }

    /// Deliver INT n inside v8086 mode through the program's own real-mode
    /// vector table (SDM vol. 3 §20.4.2, method 5).
    pub(crate) fn vme_interrupt(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        return_ip: u32,
    ) -> Result<()> {
        let image = if self.iopl() < 3 {
            self.vme_flags_image()
        } else {
            self.flags_word() & 0xFFFF
        };
        let entry = self.read_lin(bus, vector as u32 * 4, 4, Access::Read)?;
        let cs = self.segs[seg::CS].selector as u32;
        let sp = self.regs[reg::SP];
        let pushed = self
            .push::<W16>(bus, image)
            .and_then(|_| self.push::<W16>(bus, cs))
            .and_then(|_| self.push::<W16>(bus, return_ip & 0xFFFF));
        if let Err(f) = pushed {
            self.regs[reg::SP] = sp;
            return Err(f);
        }
        if self.iopl() < 3 {
            self.set_flags(flags::VIF | flags::TF, 0);
        } else {
            self.set_flags(flags::IF | flags::TF, 0);
        }
        self.load_seg_real(seg::CS, (entry >> 16) as u16);
        self.eip = entry & 0xFFFF;
        Ok(())
    }
}
