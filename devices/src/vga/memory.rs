//! CPU access to video memory (FreeVGA, "VGA Memory Organization",
//! "Graphics Registers": "Graphics Mode Register" for write modes 0-3 and
//! read modes 0-1, "Data Rotate Register", "Bit Mask Register",
//! "Miscellaneous Graphics Register" for the window; "Sequencer Memory
//! Mode Register" for chain-4 and odd/even).
//!
//! A CPU read loads all four latches from the addressed plane offset and
//! returns either one plane's byte (read mode 0) or the colour-compare
//! result (read mode 1). A CPU write goes through the rotator, set/reset,
//! the ALU (with the latches) and the bit mask (write modes 0-3), then into
//! the planes the map mask (and chain-4 or odd/even addressing) selects.
//! The pipeline applies in every addressing mode, as on the chip; with
//! the registers a BIOS sets for text and mode 13h it passes bytes
//! through unchanged.

use super::regs::*;
use super::{Vga, LEGACY_BASE, LEGACY_SIZE};

/// Bytes per VGA plane (the CPU sees 64 KiB per plane).
const PLANE_SIZE: u32 = 0x1_0000;

impl Vga {
    /// Byte `off` of plane `plane` (0-3); 0 outside video memory.
    pub(super) fn plane_byte(&self, plane: usize, off: u32) -> u8 {
        let i = (off as usize) << 2 | (plane & 3);
        self.vram.get(i).copied().unwrap_or(0)
    }

    pub(super) fn set_plane_byte(&mut self, plane: usize, off: u32, v: u8) {
        let i = (off as usize) << 2 | (plane & 3);
        if let Some(b) = self.vram.get_mut(i) {
            *b = v;
        }
    }

    /// A byte of the physical address space the machine routed here.
    pub(super) fn mem_read8(&mut self, addr: u32) -> u8 {
        if let Some(off) = addr.checked_sub(LEGACY_BASE).filter(|&o| o < LEGACY_SIZE) {
            return self.legacy_read(off);
        }
        match addr.checked_sub(self.lfb_base) {
            Some(off) => self.vram.get(off as usize).copied().unwrap_or(0xFF),
            None => 0xFF,
        }
    }

    pub(super) fn mem_write8(&mut self, addr: u32, v: u8) {
        if let Some(off) = addr.checked_sub(LEGACY_BASE).filter(|&o| o < LEGACY_SIZE) {
            self.legacy_write(off, v);
            return;
        }
        if let Some(off) = addr.checked_sub(self.lfb_base) {
            if let Some(b) = self.vram.get_mut(off as usize) {
                *b = v;
            }
        }
    }

    /// The offset within the memory map GC06 bits 2-3 select, if `off`
    /// (from 0xA0000) falls inside it: 0 = A0000-BFFFF, 1 = A0000-AFFFF,
    /// 2 = B0000-B7FFF, 3 = B8000-BFFFF.
    fn window_offset(&self, off: u32) -> Option<u32> {
        let (start, len) = match (self.gc[GC_MISC] >> 2) & 3 {
            0 => (0, 0x2_0000),
            1 => (0, 0x1_0000),
            2 => (0x1_0000, 0x8000),
            _ => (0x1_8000, 0x8000),
        };
        off.checked_sub(start).filter(|&o| o < len)
    }

    /// A direct-colour VBE mode owns the window: A0000-AFFFF is a 64 KiB
    /// bank of linear video memory.
    fn vbe_banked(&self) -> bool {
        self.vbe.enabled() && self.vbe.bpp != 4
    }

    fn legacy_read(&mut self, off: u32) -> u8 {
        if self.misc & MISC_RAM_ENABLE == 0 {
            return 0xFF;
        }
        if self.vbe_banked() {
            if off >= 0x1_0000 {
                return 0xFF;
            }
            let at = self.vbe.bank_offset() + off as usize;
            return self.vram.get(at).copied().unwrap_or(0xFF);
        }
        match self.window_offset(off) {
            Some(o) => self.planar_read(o),
            None => 0xFF,
        }
    }

    fn legacy_write(&mut self, off: u32, v: u8) {
        if self.misc & MISC_RAM_ENABLE == 0 {
            return;
        }
        if self.vbe_banked() {
            if off < 0x1_0000 {
                let at = self.vbe.bank_offset() + off as usize;
                if let Some(b) = self.vram.get_mut(at) {
                    *b = v;
                }
            }
            return;
        }
        if let Some(o) = self.window_offset(off) {
            self.planar_write(o, v);
        }
    }

    /// Turn a CPU offset within the window into a plane offset: 64 KiB
    /// per plane, or in the VBE 4-bpp mode the current bank of planes a
    /// quarter of video memory long.
    fn plane_offset(&self, off: u32) -> u32 {
        if self.vbe.enabled() {
            (self.vbe.bank_offset() as u32).wrapping_add(off & (PLANE_SIZE - 1))
        } else {
            off & (PLANE_SIZE - 1)
        }
    }

    fn load_latches(&mut self, plane_off: u32) {
        for p in 0..4 {
            self.latch[p] = self.plane_byte(p, plane_off);
        }
    }

    /// A CPU read of planar memory at window offset `off`.
    pub(super) fn planar_read(&mut self, off: u32) -> u8 {
        let mode = self.seq[SR_MEMORY_MODE];
        let (plane_off, plane) = if mode & SR04_CHAIN4 != 0 {
            // Chain 4: A1-A0 select the plane; the plane offset keeps
            // them, so mode 13h uses every fourth byte of each plane.
            (off & !3, (off & 3) as usize)
        } else if self.gc[GC_MODE] & GC05_ODD_EVEN != 0 {
            // Odd/even: A0 selects plane 0/2 or 1/3, the read map
            // select's bit 1 chooses the pair.
            (
                off & !1,
                usize::from(self.gc[GC_READ_MAP] & 2) | (off & 1) as usize,
            )
        } else {
            (off, usize::from(self.gc[GC_READ_MAP] & 3))
        };
        let plane_off = self.plane_offset(plane_off);
        self.load_latches(plane_off);
        if self.gc[GC_MODE] & GC05_READ_COMPARE != 0 {
            self.colour_compare()
        } else {
            self.latch[plane]
        }
    }

    /// Read mode 1: a 1 for each pixel whose colour (one bit from each
    /// latch) matches the colour compare register in every plane the
    /// colour don't care register includes.
    fn colour_compare(&self) -> u8 {
        let compare = self.gc[GC_COLOUR_COMPARE];
        let care = self.gc[GC_DONT_CARE];
        let mut differ = 0u8;
        for p in 0..4 {
            if care >> p & 1 != 0 {
                let want = if compare >> p & 1 != 0 { 0xFF } else { 0x00 };
                differ |= self.latch[p] ^ want;
            }
        }
        !differ
    }

    /// What a CPU write of `cpu` puts into each plane (before the plane
    /// selection): the write mode's data through the ALU and bit mask.
    pub(super) fn write_pipeline(&self, cpu: u8) -> [u8; 4] {
        let gc = &self.gc;
        let rotated = cpu.rotate_right(u32::from(gc[GC_ROTATE] & 7));
        let set_reset = gc[GC_SET_RESET];
        let enable_sr = gc[GC_ENABLE_SET_RESET];
        let expand = |bit: u8| if bit & 1 != 0 { 0xFFu8 } else { 0x00 };
        let mut out = [0u8; 4];
        let mode = gc[GC_MODE] & 3;
        if mode == 1 {
            // Write mode 1: the latches, as loaded by the last read.
            return self.latch;
        }
        let mut mask = gc[GC_BIT_MASK];
        if mode == 3 {
            mask &= rotated;
        }
        for (p, o) in out.iter_mut().enumerate() {
            let data = match mode {
                0 if enable_sr >> p & 1 != 0 => expand(set_reset >> p),
                0 => rotated,
                2 => expand(cpu >> p),
                _ => expand(set_reset >> p),
            };
            let latch = self.latch[p];
            let alu = match (gc[GC_ROTATE] >> 3) & 3 {
                0 => data,
                1 => data & latch,
                2 => data | latch,
                _ => data ^ latch,
            };
            *o = (alu & mask) | (latch & !mask);
        }
        out
    }

    /// A CPU write of planar memory at window offset `off`.
    pub(super) fn planar_write(&mut self, off: u32, cpu: u8) {
        let mode = self.seq[SR_MEMORY_MODE];
        let (plane_off, planes) = if mode & SR04_CHAIN4 != 0 {
            (off & !3, 1u8 << (off & 3))
        } else if mode & SR04_ODD_EVEN_OFF == 0 {
            // Odd/even: even addresses reach planes 0 and 2, odd ones 1
            // and 3.
            (off & !1, if off & 1 != 0 { 0b1010 } else { 0b0101 })
        } else {
            (off, 0b1111)
        };
        let planes = planes & self.seq[SR_MAP_MASK];
        if planes == 0 {
            return;
        }
        let plane_off = self.plane_offset(plane_off);
        let data = self.write_pipeline(cpu);
        for (p, &d) in data.iter().enumerate() {
            if planes >> p & 1 != 0 {
                self.set_plane_byte(p, plane_off, d);
            }
        }
    }
}
