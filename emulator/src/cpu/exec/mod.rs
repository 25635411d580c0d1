//! Instruction semantics, by group. Every executor has the signature
//! [`super::decode::Exec`]; operands are already decoded into the
//! [`Instr`], and widths come from the [`Width`] type parameter.

pub mod alu;
pub mod bcd;
pub mod bits;
pub mod control;
pub mod data;
pub mod muldiv;
pub mod privileged;
pub mod shift;
pub mod string;
pub mod system;

use super::decode::{pfx, Instr, NO_REG};
use super::{Cpu, Result, Width};
use oxbox_devices::Bus;

impl Cpu {
    /// The effective address (offset within the segment) of the memory
    /// operand, wrapped to the address size.
    #[inline(always)]
    pub fn ea(&self, i: &Instr) -> u32 {
        let mut a = i.disp;
        if i.base != NO_REG {
            a = a.wrapping_add(self.regs[i.base as usize]);
        }
        if i.index != NO_REG {
            a = a.wrapping_add(self.regs[i.index as usize] << i.scale);
        }
        if i.pfx & pfx::ADDR32 != 0 {
            a
        } else {
            a & 0xFFFF
        }
    }

    /// Read the ModRM r/m operand.
    #[inline(always)]
    pub fn read_rm<W: Width>(&mut self, bus: &mut dyn Bus, i: &Instr) -> Result<u32> {
        if i.is_mem() {
            let ea = self.ea(i);
            self.read::<W>(bus, i.seg(), ea)
        } else {
            Ok(self.reg::<W>(i.rm()))
        }
    }

    /// Write the ModRM r/m operand.
    #[inline(always)]
    pub fn write_rm<W: Width>(&mut self, bus: &mut dyn Bus, i: &Instr, v: u32) -> Result<()> {
        if i.is_mem() {
            let ea = self.ea(i);
            self.write::<W>(bus, i.seg(), ea, v)
        } else {
            self.set_reg::<W>(i.rm(), v);
            Ok(())
        }
    }

    /// Read-modify-write of the r/m operand: `f` maps the old value to the
    /// new one, or to `None` to leave it unwritten (CMP, TEST).
    #[inline(always)]
    pub fn modify_rm<W: Width>(
        &mut self,
        bus: &mut dyn Bus,
        i: &Instr,
        f: impl FnOnce(&mut Cpu, u32) -> Option<u32>,
    ) -> Result<()> {
        if i.is_mem() {
            let ea = self.ea(i);
            let s = i.seg();
            let old = self.read::<W>(bus, s, ea)?;
            if let Some(new) = f(self, old) {
                self.write::<W>(bus, s, ea, new)?;
            }
        } else {
            let r = i.rm();
            let old = self.reg::<W>(r);
            if let Some(new) = f(self, old) {
                self.set_reg::<W>(r, new);
            }
        }
        Ok(())
    }

    /// Register forms of memory-only instructions (LEA, LES/LDS, CALL/JMP
    /// FAR m, BOUND): #UD from the 186 on. On the 8086 they are undefined
    /// (they reuse a stale internal address); oxbox makes them no-ops, so
    /// this returns `Ok(false)` there and the caller does nothing.
    #[inline]
    pub fn memory_operand_present(&self, i: &Instr) -> Result<bool> {
        if i.is_mem() {
            Ok(true)
        } else if self.quirks.has_invalid_opcode {
            Err(super::Fault::ud())
        } else {
            Ok(false)
        }
    }

    /// Read the far pointer m16:16/32 (offset, then selector) of the memory
    /// operand; the whole operand is checked against the segment first.
    /// `None` for the 8086's register forms (see
    /// [`Cpu::memory_operand_present`]).
    pub fn read_far_pointer<W: Width>(
        &mut self,
        bus: &mut dyn Bus,
        i: &Instr,
    ) -> Result<Option<(u16, u32)>> {
        if !self.memory_operand_present(i)? {
            return Ok(None);
        }
        let ea = self.ea(i);
        self.check_access(i.seg(), ea, W::BYTES + 2, false)?;
        let off = self.read::<W>(bus, i.seg(), ea)?;
        let sel_off = self.ea_plus(i, ea, W::BYTES);
        let sel = self.read::<super::W16>(bus, i.seg(), sel_off)?;
        Ok(Some((sel as u16, off)))
    }

    /// `ea + delta` wrapped to the instruction's address size (the second
    /// half of a far pointer or a BOUND pair).
    #[inline]
    pub fn ea_plus(&self, i: &Instr, ea: u32, delta: u32) -> u32 {
        let a = ea.wrapping_add(delta);
        if i.addr32() {
            a
        } else {
            a & 0xFFFF
        }
    }
}
