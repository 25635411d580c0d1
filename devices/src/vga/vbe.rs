//! The Bochs VBE display interface ("dispi"): a 16-bit index register at
//! 0x1CE and a 16-bit data register at 0x1CF, through which a VBE BIOS or
//! a driver (Linux `bochs-drm`, the SeaBIOS/Bochs VGA BIOSes) sets a
//! resolution and depth directly, bypassing the VGA registers. Register
//! numbers, the ID values 0xB0C0-0xB0C5 and the ENABLE bits are those of
//! Bochs' `iodev/display/vga.h`.
//!
//! Behaviour (facts from Bochs' and QEMU's implementations; the code is
//! oxbox's): the ID register takes only the IDs the card implements, and a
//! guest learns whether a version is supported by writing it and reading
//! it back. XRES, YRES and BPP take writes only while the interface is
//! disabled, and only values the card can display. Setting ENABLE's bit 0
//! switches the display to the mode (resetting the virtual width to XRES
//! and the display offsets to 0, and clearing the visible memory unless
//! bit 7 NOCLEARMEM is set); enabling a mode that does not fit video
//! memory is refused. BANK selects which 64 KiB of video memory the window
//! at 0xA0000 shows. With GETCAPS (ENABLE bit 1) set, XRES/YRES/BPP read
//! back the maximums. 8BIT_DAC (bit 5) widens the DAC to 8 bits per
//! component.

use serde::{Deserialize, Serialize};

use super::Vga;

pub const VBE_INDEX_PORT: u16 = 0x1CE;
pub const VBE_DATA_PORT: u16 = 0x1CF;

pub const VBE_DISPI_INDEX_ID: u16 = 0x0;
pub const VBE_DISPI_INDEX_XRES: u16 = 0x1;
pub const VBE_DISPI_INDEX_YRES: u16 = 0x2;
pub const VBE_DISPI_INDEX_BPP: u16 = 0x3;
pub const VBE_DISPI_INDEX_ENABLE: u16 = 0x4;
pub const VBE_DISPI_INDEX_BANK: u16 = 0x5;
pub const VBE_DISPI_INDEX_VIRT_WIDTH: u16 = 0x6;
pub const VBE_DISPI_INDEX_VIRT_HEIGHT: u16 = 0x7;
pub const VBE_DISPI_INDEX_X_OFFSET: u16 = 0x8;
pub const VBE_DISPI_INDEX_Y_OFFSET: u16 = 0x9;
pub const VBE_DISPI_INDEX_VIDEO_MEMORY_64K: u16 = 0xA;

pub const VBE_DISPI_ID0: u16 = 0xB0C0;
/// The newest interface version implemented (VIDEO_MEMORY_64K).
pub const VBE_DISPI_ID5: u16 = 0xB0C5;

pub const VBE_DISPI_ENABLED: u16 = 0x01;
pub const VBE_DISPI_GETCAPS: u16 = 0x02;
pub const VBE_DISPI_8BIT_DAC: u16 = 0x20;
pub const VBE_DISPI_LFB_ENABLED: u16 = 0x40;
pub const VBE_DISPI_NOCLEARMEM: u16 = 0x80;
/// The ENABLE bits the register keeps.
const ENABLE_BITS: u16 = VBE_DISPI_ENABLED
    | VBE_DISPI_GETCAPS
    | VBE_DISPI_8BIT_DAC
    | VBE_DISPI_LFB_ENABLED
    | VBE_DISPI_NOCLEARMEM;

/// The largest mode XRES/YRES accept (Bochs' limits).
pub const VBE_DISPI_MAX_XRES: u16 = 2560;
pub const VBE_DISPI_MAX_YRES: u16 = 1600;
pub const VBE_DISPI_MAX_BPP: u16 = 32;

/// The dispi registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Vbe {
    index: u16,
    id: u16,
    pub(super) xres: u16,
    pub(super) yres: u16,
    pub(super) bpp: u16,
    /// ENABLE as last accepted (only [`ENABLE_BITS`]).
    enable: u16,
    bank: u16,
    pub(super) virt_width: u16,
    pub(super) virt_height: u16,
    pub(super) x_offset: u16,
    pub(super) y_offset: u16,
}

impl Vbe {
    /// Bochs' reset state: 640x480x8, disabled, the newest ID.
    pub(super) fn new() -> Vbe {
        Vbe {
            index: 0,
            id: VBE_DISPI_ID5,
            xres: 640,
            yres: 480,
            bpp: 8,
            enable: 0,
            bank: 0,
            virt_width: 640,
            virt_height: 480,
            x_offset: 0,
            y_offset: 0,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enable & VBE_DISPI_ENABLED != 0
    }

    /// Where the 64 KiB bank the window shows starts in video memory
    /// (for 4 bpp: in each plane).
    pub(super) fn bank_offset(&self) -> usize {
        usize::from(self.bank) << 16
    }

    /// Bytes per pixel of a direct-colour or 8-bit mode (4 bpp: 0).
    pub(super) fn bytes_per_pixel(bpp: u16) -> u32 {
        match bpp {
            8 => 1,
            15 | 16 => 2,
            24 => 3,
            32 => 4,
            _ => 0,
        }
    }

    /// Bytes of video memory per line of `width` pixels (4 bpp: one bit
    /// per pixel in each of the four interleaved planes).
    pub(super) fn line_bytes(&self, width: u16) -> u32 {
        if self.bpp == 4 {
            u32::from(width / 8) * 4
        } else {
            u32::from(width) * Vbe::bytes_per_pixel(self.bpp)
        }
    }

    /// The current line pitch in bytes.
    pub(super) fn pitch(&self) -> u32 {
        self.line_bytes(self.virt_width)
    }
}

fn valid_bpp(v: u16) -> bool {
    matches!(v, 4 | 8 | 15 | 16 | 24 | 32)
}

/// Whether a screen of `size` starting at `offset` lies within `virt`.
fn fits(offset: u16, size: u16, virt: u16) -> bool {
    u32::from(offset) + u32::from(size) <= u32::from(virt)
}

impl Vga {
    pub(super) fn vbe_port_read(&mut self, port: u16) -> u16 {
        if port == VBE_INDEX_PORT {
            return self.vbe.index;
        }
        let v = &self.vbe;
        let caps = v.enable & VBE_DISPI_GETCAPS != 0;
        match v.index {
            VBE_DISPI_INDEX_ID => v.id,
            VBE_DISPI_INDEX_XRES if caps => VBE_DISPI_MAX_XRES,
            VBE_DISPI_INDEX_XRES => v.xres,
            VBE_DISPI_INDEX_YRES if caps => VBE_DISPI_MAX_YRES,
            VBE_DISPI_INDEX_YRES => v.yres,
            VBE_DISPI_INDEX_BPP if caps => VBE_DISPI_MAX_BPP,
            VBE_DISPI_INDEX_BPP => v.bpp,
            VBE_DISPI_INDEX_ENABLE => v.enable,
            VBE_DISPI_INDEX_BANK => v.bank,
            VBE_DISPI_INDEX_VIRT_WIDTH => v.virt_width,
            VBE_DISPI_INDEX_VIRT_HEIGHT => v.virt_height,
            VBE_DISPI_INDEX_X_OFFSET => v.x_offset,
            VBE_DISPI_INDEX_Y_OFFSET => v.y_offset,
            VBE_DISPI_INDEX_VIDEO_MEMORY_64K => (self.vram.len() >> 16) as u16,
            _ => 0,
        }
    }

    pub(super) fn vbe_port_write(&mut self, port: u16, value: u16) {
        self.changes = self.changes.wrapping_add(1);
        if port == VBE_INDEX_PORT {
            self.vbe.index = value;
            return;
        }
        let enabled = self.vbe.enabled();
        match self.vbe.index {
            VBE_DISPI_INDEX_ID if (VBE_DISPI_ID0..=VBE_DISPI_ID5).contains(&value) => {
                self.vbe.id = value;
            }
            VBE_DISPI_INDEX_XRES if !enabled && value <= VBE_DISPI_MAX_XRES => {
                self.vbe.xres = value;
            }
            VBE_DISPI_INDEX_YRES if !enabled && value <= VBE_DISPI_MAX_YRES => {
                self.vbe.yres = value;
            }
            // 0 means 8 to old BIOSes.
            VBE_DISPI_INDEX_BPP if !enabled && value == 0 => self.vbe.bpp = 8,
            VBE_DISPI_INDEX_BPP if !enabled && valid_bpp(value) => self.vbe.bpp = value,
            VBE_DISPI_INDEX_ENABLE => self.vbe_set_enable(value),
            VBE_DISPI_INDEX_BANK => {
                let banks = if self.vbe.bpp == 4 {
                    self.vram.len() >> 18
                } else {
                    self.vram.len() >> 16
                };
                if usize::from(value) < banks {
                    self.vbe.bank = value;
                }
            }
            VBE_DISPI_INDEX_VIRT_WIDTH => self.vbe_set_virt_width(value),
            // While a mode is shown, the offsets must keep the screen
            // inside the virtual screen.
            VBE_DISPI_INDEX_X_OFFSET
                if !enabled || fits(value, self.vbe.xres, self.vbe.virt_width) =>
            {
                self.vbe.x_offset = value;
            }
            VBE_DISPI_INDEX_Y_OFFSET
                if !enabled || fits(value, self.vbe.yres, self.vbe.virt_height) =>
            {
                self.vbe.y_offset = value;
            }
            // VIRT_HEIGHT follows from the width and the memory;
            // VIDEO_MEMORY_64K is read-only; other indices are not
            // implemented.
            _ => {}
        }
    }

    /// Whether a `width` x `yres` mode in the current depth fits video
    /// memory, and how many lines of that width it holds.
    fn vbe_lines_fitting(&self, width: u16) -> Option<u32> {
        let line = self.vbe.line_bytes(width);
        if line == 0 || width < self.vbe.xres {
            return None;
        }
        let lines = self.vram.len() as u32 / line;
        (lines >= u32::from(self.vbe.yres)).then_some(lines)
    }

    fn vbe_set_enable(&mut self, value: u16) {
        let mut value = value & ENABLE_BITS;
        if value & VBE_DISPI_ENABLED != 0 && !self.vbe.enabled() {
            let ok = self.vbe.xres > 0
                && self.vbe.yres > 0
                && (self.vbe.bpp != 4 || self.vbe.xres & 7 == 0);
            match self.vbe_lines_fitting(self.vbe.xres).filter(|_| ok) {
                Some(lines) => {
                    let v = &mut self.vbe;
                    v.virt_width = v.xres;
                    v.virt_height = lines.min(u32::from(u16::MAX)) as u16;
                    v.x_offset = 0;
                    v.y_offset = 0;
                    if value & VBE_DISPI_NOCLEARMEM == 0 {
                        let n = (v.pitch() * u32::from(v.yres)) as usize;
                        let n = n.min(self.vram.len());
                        self.vram[..n].fill(0);
                    }
                }
                // Refused: the mode does not fit; the card stays in VGA
                // mode.
                None => value &= !VBE_DISPI_ENABLED,
            }
        }
        self.dac.set_eight_bit(value & VBE_DISPI_8BIT_DAC != 0);
        self.vbe.enable = value;
    }

    fn vbe_set_virt_width(&mut self, value: u16) {
        let width = value.max(self.vbe.xres);
        let width = if self.vbe.bpp == 4 { width & !7 } else { width };
        if let Some(lines) = self.vbe_lines_fitting(width) {
            let v = &mut self.vbe;
            v.virt_width = width;
            v.virt_height = lines.min(u32::from(u16::MAX)) as u16;
            if u32::from(v.x_offset) + u32::from(v.xres) > u32::from(v.virt_width) {
                v.x_offset = 0;
            }
            if u32::from(v.y_offset) + u32::from(v.yres) > u32::from(v.virt_height) {
                v.y_offset = 0;
            }
        }
    }

    /// Back to VGA mode (a VGA BIOS mode set does this).
    pub(super) fn vbe_disable(&mut self) {
        self.vbe.enable &= !VBE_DISPI_ENABLED;
        self.vbe.enable &= !VBE_DISPI_8BIT_DAC;
        self.dac.set_eight_bit(false);
    }
}
