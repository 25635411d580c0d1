//! The IBM VGA with the Bochs VBE ("dispi") extension, as QEMU's `-vga std`
//! and Bochs' `vga: extension=vbe` present it: a PCI display adapter whose
//! BAR 0 is a linear framebuffer over all of its video memory.
//!
//! References: FreeVGA, "Hardware Level VGA and SVGA Video Programming
//! Information Page" (Joshua Neal, osdever.net/FreeVGA): "Sequencer
//! Registers", "CRT Controller Registers", "Graphics Registers",
//! "Attribute Controller Registers", "Color Registers" (the DAC), "External
//! Registers" (misc output, input status 0/1, feature control), "VGA
//! Memory Organization" and "VGA Text Mode Operation"; the IBM "VGA
//! Programming Model" (PS/2 technical reference, appendix A) for the
//! standard mode tables; and for the dispi interface the constants and
//! behaviour of Bochs' `iodev/display/vga.cc` (facts only: index/data
//! ports 0x1CE/0x1CF, registers ID..VIDEO_MEMORY_64K, the ENABLE bits).
//!
//! # Layout
//!
//! - `mod.rs`: the device, its configuration, the ports, [`Device`].
//! - `regs`: the register files (sequencer, CRTC, graphics controller,
//!   attribute controller, DAC, external registers) and CRT timing.
//! - `memory`: the planar memory pipeline (latches, write modes 0-3, read
//!   modes 0-1, chain-4 and odd/even addressing), the legacy window and
//!   the linear framebuffer.
//! - `render`: the display: text through the guest's font in plane 2,
//!   the 16- and 256-colour and CGA-compatible graphics modes, VBE modes,
//!   and the text snapshot.
//! - `vbe`: the dispi registers.
//!
//! # Video memory
//!
//! One array of `vram_size` bytes (16 MiB by default) holds everything.
//! The four VGA planes are interleaved in its first 256 KiB: byte `o` of
//! plane `p` is `vram[4 * o + p]` (QEMU's arrangement), so each plane is 64
//! KiB as on the VGA, and in the VBE 4-bpp mode the planes grow to a
//! quarter of the memory each. Direct-colour VBE modes and the linear
//! framebuffer address the array linearly.
//!
//! # What the machine must route here
//!
//! - Ports 0x3B0-0x3DF (byte-wide: word `OUT`s to an index port arrive as
//!   index then data, as the VGA expects) and 0x1CE-0x1CF (word-wide):
//!   [`PORT_RANGES`].
//! - MMIO 0xA0000-0xBFFFF (the legacy window, [`LEGACY_BASE`],
//!   [`LEGACY_SIZE`]) and `lfb_base .. lfb_base + vram_size` (the PCI BAR;
//!   [`Vga::mmio_ranges`], [`Vga::set_lfb_base`] when the BAR moves).
//!
//! # Time
//!
//! The VGA raises no interrupts. Input status 1's vertical-retrace and
//! display-enable bits are computed from `now` and the CRTC's timing
//! registers and dot clock (25.175 or 28.322 MHz), so a guest that polls
//! for retrace sees 60-70 Hz frames in virtual time; a timing that is not a
//! plausible monitor mode (power-on zeros, half-programmed registers) falls
//! back to the 70 Hz 720x400 timing. Cursor and character blink follow the
//! same frame count.
//!
//! Not modelled: the vertical retrace interrupt (CR11 bits 4-5; IRQ 2 on
//! the IBM VGA, absent from most clones and from QEMU), the DAC sense bit
//! of input status 0 (reads 0), the VGA's 9-dot panning quirks beyond the
//! panning table, and split-screen/pixel-panning interactions with VBE
//! modes (VBE modes ignore the CRTC). In the 256-colour shift mode the
//! byte goes to the DAC without the attribute palette, as in QEMU and
//! Bochs (a BIOS loads an identity palette for mode 13h anyway).

mod memory;
mod regs;
mod render;
mod vbe;

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::VirtualTime;
use crate::device::{AccessWidths, Device};

pub use render::Frame;
pub use vbe::{
    VBE_DATA_PORT, VBE_DISPI_8BIT_DAC, VBE_DISPI_ENABLED, VBE_DISPI_GETCAPS, VBE_DISPI_ID0,
    VBE_DISPI_ID5, VBE_DISPI_INDEX_BANK, VBE_DISPI_INDEX_BPP, VBE_DISPI_INDEX_ENABLE,
    VBE_DISPI_INDEX_ID, VBE_DISPI_INDEX_VIDEO_MEMORY_64K, VBE_DISPI_INDEX_VIRT_HEIGHT,
    VBE_DISPI_INDEX_VIRT_WIDTH, VBE_DISPI_INDEX_XRES, VBE_DISPI_INDEX_X_OFFSET,
    VBE_DISPI_INDEX_YRES, VBE_DISPI_INDEX_Y_OFFSET, VBE_DISPI_LFB_ENABLED, VBE_DISPI_MAX_XRES,
    VBE_DISPI_MAX_YRES, VBE_DISPI_NOCLEARMEM, VBE_INDEX_PORT,
};

use regs::{Dac, AC_COUNT, CRTC_COUNT, GC_COUNT, SEQ_COUNT};
use vbe::Vbe;

/// The legacy video memory window: 0xA0000-0xBFFFF.
pub const LEGACY_BASE: u32 = 0xA_0000;
pub const LEGACY_SIZE: u32 = 0x2_0000;

/// The video memory of QEMU's and Bochs' standard VGA.
pub const DEFAULT_VRAM_SIZE: u32 = 16 << 20;
/// Where QEMU's firmware typically puts the framebuffer BAR.
pub const DEFAULT_LFB_BASE: u32 = 0xE000_0000;
/// The VGA's own 256 KiB; less is raised to this.
pub const MIN_VRAM_SIZE: u32 = 256 << 10;
/// More is lowered to this (VIDEO_MEMORY_64K is a 16-bit count).
pub const MAX_VRAM_SIZE: u32 = 256 << 20;

/// The ports the card decodes and in which widths: the VGA's registers
/// (0x3B0-0x3DF, bytes) and the dispi index/data pair (words).
pub const PORT_RANGES: [(u16, u16, AccessWidths); 2] = [
    (0x3B0, 0x30, AccessWidths::BYTE),
    (VBE_INDEX_PORT, 2, AccessWidths::WORD),
];

/// How the card is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgaConfig {
    /// Bytes of video memory: rounded down to a multiple of 64 KiB and
    /// kept within [`MIN_VRAM_SIZE`]..=[`MAX_VRAM_SIZE`].
    pub vram_size: u32,
    /// Physical address of the linear framebuffer (the PCI BAR).
    pub lfb_base: u32,
}

impl Default for VgaConfig {
    fn default() -> VgaConfig {
        VgaConfig {
            vram_size: DEFAULT_VRAM_SIZE,
            lfb_base: DEFAULT_LFB_BASE,
        }
    }
}

/// The VGA with the Bochs VBE extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vga {
    lfb_base: u32,
    /// All of video memory (see the module documentation for the layout).
    #[serde(with = "vram_serde")]
    vram: Vec<u8>,
    /// The four plane latches, loaded by every CPU read of planar memory.
    latch: [u8; 4],
    /// Miscellaneous output register (0x3C2 write, 0x3CC read).
    misc: u8,
    /// Feature control (0x3xA write, 0x3CA read).
    feature: u8,
    /// The video subsystem enable register (0x3C3).
    subsys_enable: u8,
    seq_index: u8,
    seq: [u8; SEQ_COUNT],
    crtc_index: u8,
    crtc: [u8; CRTC_COUNT],
    gc_index: u8,
    gc: [u8; GC_COUNT],
    /// Attribute address register: index in bits 0-4, palette address
    /// source (PAS, the display enable) in bit 5.
    ac_index: u8,
    /// The attribute flip-flop: the next write to 0x3C0 is data.
    ac_data_next: bool,
    ac: [u8; AC_COUNT],
    dac: Dac,
    vbe: Vbe,
    /// The latest time the card was brought to (for blinking in `render`).
    now: VirtualTime,
    /// Counts writes that may change the picture.
    changes: u64,
}

impl Default for Vga {
    fn default() -> Vga {
        Vga::new(VgaConfig::default())
    }
}

impl Vga {
    /// A card in its power-on state: registers cleared except the misc
    /// output register, which comes up selecting colour addressing (CRTC
    /// at 0x3D4) with video RAM enabled as Bochs' does, and a DAC pixel
    /// mask of 0xFF. The display is blanked (the attribute controller's
    /// PAS bit is clear) until a BIOS programs a mode. Video memory is
    /// zero.
    pub fn new(config: VgaConfig) -> Vga {
        let size = config.vram_size.clamp(MIN_VRAM_SIZE, MAX_VRAM_SIZE) & !0xFFFF;
        let mut vga = Vga {
            lfb_base: config.lfb_base,
            vram: vec![0; size as usize],
            latch: [0; 4],
            misc: 0,
            feature: 0,
            subsys_enable: 0,
            seq_index: 0,
            seq: [0; SEQ_COUNT],
            crtc_index: 0,
            crtc: [0; CRTC_COUNT],
            gc_index: 0,
            gc: [0; GC_COUNT],
            ac_index: 0,
            ac_data_next: false,
            ac: [0; AC_COUNT],
            dac: Dac::new(),
            vbe: Vbe::new(),
            now: VirtualTime::ZERO,
            changes: 0,
        };
        vga.reset();
        vga
    }

    /// A hardware reset: every register to its power-on value, VBE off.
    /// Video memory keeps its contents, as the chips do.
    pub fn reset(&mut self) {
        self.latch = [0; 4];
        self.misc = regs::MISC_POWER_ON;
        self.feature = 0;
        self.subsys_enable = 1;
        self.seq_index = 0;
        self.seq = [0; SEQ_COUNT];
        self.crtc_index = 0;
        self.crtc = [0; CRTC_COUNT];
        self.gc_index = 0;
        self.gc = [0; GC_COUNT];
        self.ac_index = 0;
        self.ac_data_next = false;
        self.ac = [0; AC_COUNT];
        self.dac = Dac::new();
        self.vbe = Vbe::new();
        self.changes = self.changes.wrapping_add(1);
    }

    /// Bytes of video memory.
    pub fn vram_size(&self) -> u32 {
        self.vram.len() as u32
    }

    /// All of video memory, for debuggers and screenshots of odd modes.
    pub fn vram(&self) -> &[u8] {
        &self.vram
    }

    /// The physical address of the linear framebuffer.
    pub fn lfb_base(&self) -> u32 {
        self.lfb_base
    }

    /// Move the linear framebuffer (the firmware assigned the PCI BAR).
    pub fn set_lfb_base(&mut self, base: u32) {
        self.lfb_base = base;
    }

    /// The physical ranges `(base, length)` whose MMIO the machine must
    /// route to [`Device::mmio_read`]/[`Device::mmio_write`]: the legacy
    /// window and the linear framebuffer.
    pub fn mmio_ranges(&self) -> [(u32, u32); 2] {
        [
            (LEGACY_BASE, LEGACY_SIZE),
            (self.lfb_base, self.vram_size()),
        ]
    }

    /// A number that changes whenever the picture [`Vga::render`] would
    /// return may have changed (a register or memory write, a blink phase
    /// in text modes): a window can skip frames while it stays the same.
    pub fn generation(&self) -> u64 {
        (self.changes << 2) | self.blink_phase_bits()
    }

    /// The CRTC's port base in the current addressing: 0x3D0 (colour) or
    /// 0x3B0 (monochrome), per misc output bit 0.
    fn crtc_base(&self) -> u16 {
        if self.misc & regs::MISC_COLOUR != 0 {
            0x3D0
        } else {
            0x3B0
        }
    }

    fn touch(&mut self, now: VirtualTime) {
        if now > self.now {
            self.now = now;
        }
    }

    /// One byte-wide port read.
    fn read_port8(&mut self, now: VirtualTime, port: u16) -> u8 {
        // The other addressing's 0x3Bx/0x3Dx ports are not decoded.
        if (0x3B0..=0x3BF).contains(&port) || (0x3D0..=0x3DF).contains(&port) {
            if port & 0xFFF0 != self.crtc_base() {
                return 0xFF;
            }
            return match port & 0xF {
                0x4 => self.crtc_index,
                0x5 => self.crtc_read(),
                0xA => {
                    // Reading input status 1 resets the attribute
                    // flip-flop to "index".
                    self.ac_data_next = false;
                    self.input_status_1(now)
                }
                _ => 0xFF,
            };
        }
        match port {
            0x3C0 => self.ac_index,
            0x3C1 => self.ac_read(),
            0x3C2 => regs::INPUT_STATUS_0,
            0x3C3 => self.subsys_enable,
            0x3C4 => self.seq_index,
            0x3C5 => self.seq_read(),
            0x3C6 => self.dac.mask,
            0x3C7 => self.dac.state(),
            0x3C8 => self.dac.write_index,
            0x3C9 => self.dac.read_data(),
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gc_index,
            0x3CF => self.gc_read(),
            _ => 0xFF,
        }
    }

    /// One byte-wide port write.
    fn write_port8(&mut self, port: u16, value: u8) {
        self.changes = self.changes.wrapping_add(1);
        if (0x3B0..=0x3BF).contains(&port) || (0x3D0..=0x3DF).contains(&port) {
            if port & 0xFFF0 != self.crtc_base() {
                return;
            }
            match port & 0xF {
                0x4 => self.crtc_index = value,
                0x5 => self.crtc_write(value),
                0xA => self.feature = value & 0x0B,
                _ => {}
            }
            return;
        }
        match port {
            0x3C0 => self.ac_write(value),
            0x3C2 => self.misc = value,
            0x3C3 => self.subsys_enable = value & 1,
            0x3C4 => self.seq_index = value & regs::SEQ_INDEX_MASK,
            0x3C5 => self.seq_write(value),
            0x3C6 => self.dac.mask = value,
            0x3C7 => self.dac.set_read_index(value),
            0x3C8 => self.dac.set_write_index(value),
            0x3C9 => self.dac.write_data(value),
            0x3CE => self.gc_index = value & regs::GC_INDEX_MASK,
            0x3CF => self.gc_write(value),
            _ => {}
        }
    }

    /// Write a byte to a port as a BIOS would (at the card's current time).
    fn out8(&mut self, port: u16, value: u8) {
        self.write_port8(port, value);
    }
}

fn is_dispi(port: u16) -> bool {
    port == VBE_INDEX_PORT || port == VBE_DATA_PORT
}

impl Device for Vga {
    fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32 {
        self.touch(now);
        if is_dispi(port) {
            let v = u32::from(self.vbe_port_read(port));
            return match size {
                IoSize::Byte => v & 0xFF,
                IoSize::Word => v,
                // The upper word would be at 0x1D0, which nothing decodes.
                IoSize::Dword => v | 0xFFFF_0000,
            };
        }
        let mut v = 0;
        for i in 0..size.bytes() {
            let b = self.read_port8(now, port.wrapping_add(i as u16));
            v |= u32::from(b) << (8 * i);
        }
        v
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32) {
        self.touch(now);
        if is_dispi(port) {
            let v = match size {
                IoSize::Byte => value & 0xFF,
                _ => value & 0xFFFF,
            };
            self.vbe_port_write(port, v as u16);
            return;
        }
        for i in 0..size.bytes() {
            self.write_port8(port.wrapping_add(i as u16), (value >> (8 * i)) as u8);
        }
    }

    fn mmio_read(&mut self, now: VirtualTime, addr: u32, size: IoSize) -> u32 {
        self.touch(now);
        let mut v = 0;
        for i in 0..size.bytes() {
            let b = self.mem_read8(addr.wrapping_add(i));
            v |= u32::from(b) << (8 * i);
        }
        v
    }

    fn mmio_write(&mut self, now: VirtualTime, addr: u32, size: IoSize, value: u32) {
        self.touch(now);
        self.changes = self.changes.wrapping_add(1);
        for i in 0..size.bytes() {
            self.mem_write8(addr.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }

    fn advance(&mut self, now: VirtualTime) -> u16 {
        self.touch(now);
        0
    }
}

/// Video memory saved as one byte string, checked on the way back in.
mod vram_serde {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    use super::{MAX_VRAM_SIZE, MIN_VRAM_SIZE};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("video memory bytes")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut v =
                Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_VRAM_SIZE as usize));
            while let Some(b) = seq.next_element::<u8>()? {
                if v.len() >= MAX_VRAM_SIZE as usize {
                    return Err(A::Error::custom("video memory larger than the maximum"));
                }
                v.push(b);
            }
            Ok(v)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v = d.deserialize_bytes(Bytes)?;
        let len = v.len();
        if len < MIN_VRAM_SIZE as usize || len > MAX_VRAM_SIZE as usize || len % 0x1_0000 != 0 {
            return Err(D::Error::invalid_length(
                len,
                &"a video memory size the card can have",
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests;
