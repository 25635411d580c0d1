//! Memory access: segmentation checks, paging, and the physical fast path.
//!
//! seg:offset → linear (segment limit and rights, SDM vol. 3 §5.3-5.6) →
//! physical (paging through the TLB, [`super::paging`]) → RAM, or the bus
//! for everything that is not RAM. The common case is a few compares and a
//! slice access; everything unusual goes to one cold function.

use super::model::SegmentWrap;
use super::paging::Access;
use super::segment::rights;
use super::{seg, Cpu, CpuModel, Fault, Result, Width};
use oxbox_devices::{Bus, IoSize};

impl Cpu {
    /// Translate seg:offset for an access of `len` bytes needing `need`
    /// ([`rights`]) into a linear address, with the segment's limit and
    /// rights checks.
    #[inline(always)]
    pub(crate) fn linear(&self, s: usize, off: u32, len: u32, need: u8) -> Result<u32> {
        let segment = &self.segs[s];
        let end = off.wrapping_add(len - 1);
        if off < segment.lo || end > segment.hi || end < off || segment.rights & need != need {
            return Err(self.segment_fault(s));
        }
        if self.cpl == 3 && off & (len - 1) != 0 && self.alignment_check_enabled() {
            return Err(Fault::with_code(super::vector::AC, 0));
        }
        Ok(segment.base.wrapping_add(off))
    }

    /// Alignment checking (486 and later): CR0.AM and EFLAGS.AC at CPL 3
    /// make a misaligned data access raise #AC(0) (SDM vol. 3 §6.15,
    /// interrupt 17).
    #[inline]
    fn alignment_check_enabled(&self) -> bool {
        self.cr0 & (1 << 18) != 0
            && self.flags & super::flags::AC != 0
            && self.model >= CpuModel::I80486
    }

    /// The fault for a segment limit or rights violation: #SS(0) for the
    /// stack segment, #GP(0) otherwise; the 286 in real mode raises #GP for
    /// every segment (SingleStepTests 80286 data).
    fn segment_fault(&self, s: usize) -> Fault {
        if s != seg::SS || (self.model == CpuModel::I80286 && !self.protected_mode()) {
            Fault::gp(0)
        } else {
            Fault::ss(0)
        }
    }

    /// Whether an access of `len` bytes at `off` runs past the segment's end
    /// and must be split byte by byte (the 8086's wrap within a segment).
    #[inline(always)]
    fn wraps(&self, s: usize, off: u32, len: u32) -> bool {
        len > 1
            && self.quirks.segment_wrap == SegmentWrap::WrapWithinSegment
            && off.wrapping_add(len - 1) > self.segs[s].limit
    }

    /// Read `W` bytes at seg:off.
    #[inline(always)]
    pub fn read<W: Width>(&mut self, bus: &mut dyn Bus, s: usize, off: u32) -> Result<u32> {
        if self.wraps(s, off, W::BYTES) {
            return self.read_split::<W>(bus, s, off);
        }
        let lin = self.linear(s, off, W::BYTES, rights::READ)?;
        self.charge_odd::<W>(off);
        if self.debug.data_check {
            self.note_data(lin, W::BYTES, false, None);
        }
        self.read_lin(bus, lin, W::BYTES, Access::Read)
    }

    /// Write `W` bytes at seg:off.
    #[inline(always)]
    pub fn write<W: Width>(&mut self, bus: &mut dyn Bus, s: usize, off: u32, v: u32) -> Result<()> {
        if self.wraps(s, off, W::BYTES) {
            return self.write_split::<W>(bus, s, off, v);
        }
        let lin = self.linear(s, off, W::BYTES, rights::WRITE)?;
        self.charge_odd::<W>(off);
        if self.debug.data_check {
            self.note_data(lin, W::BYTES, true, Some(v & W::MASK));
        }
        self.write_lin(bus, lin, W::BYTES, v)
    }

    /// Check that an access of `len` bytes at seg:off passes the segment
    /// checks, without accessing memory (for multi-part operands that must
    /// fault before any part is used).
    #[inline]
    pub fn check_access(&self, s: usize, off: u32, len: u32, write: bool) -> Result<()> {
        if len > 1 && self.quirks.segment_wrap == SegmentWrap::WrapWithinSegment {
            return Ok(());
        }
        let need = if write { rights::WRITE } else { rights::READ };
        self.linear(s, off, len, need).map(|_| ())
    }

    fn read_split<W: Width>(&mut self, bus: &mut dyn Bus, s: usize, off: u32) -> Result<u32> {
        let mut v = 0;
        for i in 0..W::BYTES {
            let o = off.wrapping_add(i) & self.segs[s].limit;
            let lin = self.linear(s, o, 1, rights::READ)?;
            v |= self.read_lin(bus, lin, 1, Access::Read)? << (8 * i);
        }
        Ok(v)
    }

    fn write_split<W: Width>(
        &mut self,
        bus: &mut dyn Bus,
        s: usize,
        off: u32,
        v: u32,
    ) -> Result<()> {
        for i in 0..W::BYTES {
            let o = off.wrapping_add(i) & self.segs[s].limit;
            let lin = self.linear(s, o, 1, rights::WRITE)?;
            self.write_lin(bus, lin, 1, v >> (8 * i))?;
        }
        Ok(())
    }

    /// Read `len` (1, 2 or 4) bytes at a linear address. `kind` says whose
    /// access it is for the page-level checks (the CPU's own accesses to
    /// descriptor tables and the TSS are supervisor accesses).
    #[inline(always)]
    pub fn read_lin(&mut self, bus: &mut dyn Bus, lin: u32, len: u32, kind: Access) -> Result<u32> {
        if !self.paging() {
            return Ok(self.read_phys(bus, lin, len));
        }
        if (lin & 0xFFF) + len <= 0x1000 {
            let phys = self.translate(bus, lin, kind)?;
            return Ok(self.read_phys(bus, phys, len));
        }
        // Crossing a page: both pages are translated (and may fault) before
        // the value is assembled.
        let first = self.translate(bus, lin, kind)?;
        let second = self.translate(bus, (lin | 0xFFF).wrapping_add(1), kind)?;
        let mut v = 0;
        for i in 0..len {
            let l = lin.wrapping_add(i);
            let p = if l & 0xFFF >= lin & 0xFFF {
                first - (lin & 0xFFF) + (l & 0xFFF)
            } else {
                second + (l & 0xFFF)
            };
            v |= self.read_phys(bus, p, 1) << (8 * i);
        }
        Ok(v)
    }

    /// Write `len` (1, 2 or 4) bytes at a linear address (a data write by
    /// the running code: user-level checks apply at CPL 3).
    #[inline(always)]
    pub fn write_lin(&mut self, bus: &mut dyn Bus, lin: u32, len: u32, v: u32) -> Result<()> {
        self.write_lin_as(bus, lin, len, v, Access::Write)
    }

    /// Write at a linear address with an explicit access kind.
    #[inline(always)]
    pub fn write_lin_as(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        len: u32,
        v: u32,
        kind: Access,
    ) -> Result<()> {
        if !self.paging() {
            self.write_phys(bus, lin, len, v);
            return Ok(());
        }
        if (lin & 0xFFF) + len <= 0x1000 {
            let phys = self.translate(bus, lin, kind)?;
            self.write_phys(bus, phys, len, v);
            return Ok(());
        }
        let first = self.translate(bus, lin, kind)?;
        let second = self.translate(bus, (lin | 0xFFF).wrapping_add(1), kind)?;
        for i in 0..len {
            let l = lin.wrapping_add(i);
            let p = if l & 0xFFF >= lin & 0xFFF {
                first - (lin & 0xFFF) + (l & 0xFFF)
            } else {
                second + (l & 0xFFF)
            };
            self.write_phys(bus, p, 1, v >> (8 * i));
        }
        Ok(())
    }

    /// Read `len` bytes at a physical address (before the A20/address-line
    /// mask). The fast path needs the access not to wrap around the address
    /// space; `wrapping_add` keeps the test itself from overflowing.
    #[inline(always)]
    pub fn read_phys(&mut self, bus: &mut dyn Bus, addr: u32, len: u32) -> u32 {
        let phys = addr & self.addr_mask;
        if phys.wrapping_add(len - 1) & self.addr_mask == phys.wrapping_add(len - 1)
            && self.mem.readable(phys, len)
        {
            return self.mem.read_le(phys, len);
        }
        self.read_phys_slow(bus, addr, len)
    }

    #[inline(always)]
    pub fn write_phys(&mut self, bus: &mut dyn Bus, addr: u32, len: u32, v: u32) {
        let phys = addr & self.addr_mask;
        if phys.wrapping_add(len - 1) & self.addr_mask == phys.wrapping_add(len - 1)
            && self.mem.writable(phys, len)
        {
            self.mem.write_le(phys, len, v);
            return;
        }
        self.write_phys_slow(bus, addr, len, v);
    }

    /// Accesses that leave RAM or wrap around the top of the address space:
    /// byte by byte, each byte to RAM or to the bus.
    #[cold]
    fn read_phys_slow(&mut self, bus: &mut dyn Bus, addr: u32, len: u32) -> u32 {
        self.request_irq_poll();
        bus.sync_cycles(self.cycles);
        let mut v = 0;
        for i in 0..len {
            let phys = addr.wrapping_add(i) & self.addr_mask;
            let b = if self.mem.readable(phys, 1) {
                self.mem.read_u8(phys) as u32
            } else {
                bus.mmio_read(phys, IoSize::Byte) & 0xFF
            };
            v |= b << (8 * i);
        }
        v
    }

    #[cold]
    fn write_phys_slow(&mut self, bus: &mut dyn Bus, addr: u32, len: u32, v: u32) {
        self.request_irq_poll();
        bus.sync_cycles(self.cycles);
        for i in 0..len {
            let phys = addr.wrapping_add(i) & self.addr_mask;
            let b = (v >> (8 * i)) & 0xFF;
            if self.mem.writable(phys, 1) {
                self.mem.write_u8(phys, b as u8);
            } else {
                bus.mmio_write(phys, IoSize::Byte, b);
            }
        }
    }

    /// A physical byte as the debugger reads it: RAM where reads reach
    /// RAM, otherwise what the bus shows without side effects (0xFF when
    /// nothing).
    pub fn peek_phys(&self, bus: &dyn Bus, phys: u32) -> u8 {
        if self.mem.readable(phys, 1) {
            self.mem.read_u8(phys)
        } else {
            bus.peek(phys).unwrap_or(0xFF)
        }
    }

    /// Fill `buf` from linear address `lin` without side effects (see
    /// [`Cpu::peek_translate`]); returns how many bytes could be read
    /// before the first unmapped page.
    pub fn peek_linear(&self, bus: &dyn Bus, lin: u32, buf: &mut [u8]) -> usize {
        let mut page = None;
        for (i, b) in buf.iter_mut().enumerate() {
            let l = lin.wrapping_add(i as u32);
            if i == 0 || l & 0xFFF == 0 {
                page = self.peek_translate(l).map(|p| p & !0xFFF);
            }
            let Some(base) = page else {
                return i;
            };
            *b = self.peek_phys(bus, base | (l & 0xFFF));
        }
        buf.len()
    }

    /// Read a code byte at CS:offset for the decoder; returns it with its
    /// physical address.
    #[inline]
    pub(crate) fn fetch_code_byte(&mut self, bus: &mut dyn Bus, offset: u32) -> Result<(u8, u32)> {
        // The 8086/186 fetch an instruction that runs past offset 0xFFFF
        // from offset 0 of CS; the 286 and later raise #GP(0) (80386 PRM
        // §14.7 item 8, "Sequential execution across offset 65,535"; 286
        // PRM, real-mode interrupt 13).
        let off = if self.quirks.segment_wrap == SegmentWrap::WrapWithinSegment {
            offset & self.ip_mask()
        } else {
            offset
        };
        let cs = &self.segs[seg::CS];
        if off > cs.limit {
            return Err(Fault::gp(0));
        }
        let lin = cs.base.wrapping_add(off);
        let phys = if self.paging() {
            self.translate(bus, lin, Access::Execute)?
        } else {
            lin
        } & self.addr_mask;
        let b = if self.mem.readable(phys, 1) {
            self.mem.read_u8(phys)
        } else {
            bus.mmio_read(phys, IoSize::Byte) as u8
        };
        Ok((b, phys))
    }
}
