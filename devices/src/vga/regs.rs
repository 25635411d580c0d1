//! The VGA's register files and CRT timing (FreeVGA, "Sequencer
//! Registers", "CRT Controller Registers", "Graphics Registers",
//! "Attribute Controller Registers", "Color Registers", "External
//! Registers").

use serde::{Deserialize, Serialize};

use super::Vga;
use crate::clock::{ClockRate, VirtualTime};

// --- External registers --------------------------------------------------

/// Misc output bit 0: I/O address select (1 = CRTC at 0x3D4, status at
/// 0x3DA).
pub(super) const MISC_COLOUR: u8 = 0x01;
/// Misc output bit 1: RAM enable (CPU access to video memory).
pub(super) const MISC_RAM_ENABLE: u8 = 0x02;
/// Colour addressing and RAM enabled, as Bochs powers up.
pub(super) const MISC_POWER_ON: u8 = MISC_COLOUR | MISC_RAM_ENABLE;
/// Input status 0: no retrace interrupt pending, switch sense low.
pub(super) const INPUT_STATUS_0: u8 = 0x00;
/// Input status 1 bit 0: display disabled (horizontal or vertical
/// blanking interval).
pub const ST01_DISPLAY_DISABLED: u8 = 0x01;
/// Input status 1 bit 3: vertical retrace.
pub const ST01_VRETRACE: u8 = 0x08;

// --- Sequencer -----------------------------------------------------------

pub(super) const SEQ_COUNT: usize = 5;
pub(super) const SEQ_INDEX_MASK: u8 = 0x07;
pub(super) const SR_CLOCKING: usize = 1;
pub(super) const SR_MAP_MASK: usize = 2;
pub(super) const SR_CHAR_MAP: usize = 3;
pub(super) const SR_MEMORY_MODE: usize = 4;
/// The bits each sequencer register implements.
const SEQ_MASKS: [u8; SEQ_COUNT] = [0x03, 0x3D, 0x0F, 0x3F, 0x0E];

/// SR01: 8-dot character clocks (else 9).
pub(super) const SR01_DOTS8: u8 = 0x01;
/// SR01: dot clock divided by two (320/360-pixel modes).
pub(super) const SR01_HALF_DOTCLOCK: u8 = 0x08;
/// SR01: screen off.
pub(super) const SR01_SCREEN_OFF: u8 = 0x20;
/// SR04: odd/even host write addressing disabled.
pub(super) const SR04_ODD_EVEN_OFF: u8 = 0x04;
/// SR04: chain 4.
pub(super) const SR04_CHAIN4: u8 = 0x08;

// --- CRT controller ------------------------------------------------------

pub(super) const CRTC_COUNT: usize = 0x19;
pub(super) const CR_HTOTAL: usize = 0x00;
pub(super) const CR_HDISP_END: usize = 0x01;
pub(super) const CR_VTOTAL: usize = 0x06;
pub(super) const CR_OVERFLOW: usize = 0x07;
pub(super) const CR_PRESET_ROW: usize = 0x08;
pub(super) const CR_MAX_SCAN: usize = 0x09;
pub(super) const CR_CURSOR_START: usize = 0x0A;
pub(super) const CR_CURSOR_END: usize = 0x0B;
pub(super) const CR_START_HI: usize = 0x0C;
pub(super) const CR_START_LO: usize = 0x0D;
pub(super) const CR_CURSOR_HI: usize = 0x0E;
pub(super) const CR_CURSOR_LO: usize = 0x0F;
pub(super) const CR_VRETRACE_START: usize = 0x10;
pub(super) const CR_VRETRACE_END: usize = 0x11;
pub(super) const CR_VDISP_END: usize = 0x12;
pub(super) const CR_OFFSET: usize = 0x13;
pub(super) const CR_UNDERLINE: usize = 0x14;
pub(super) const CR_MODE: usize = 0x17;
pub(super) const CR_LINE_COMPARE: usize = 0x18;

/// CR11 bit 7: CR00-CR07 are write-protected (except CR07 bit 4).
const CR11_PROTECT: u8 = 0x80;
/// CR14 bit 6: doubleword addressing.
pub(super) const CR14_DWORD: u8 = 0x40;
/// CR14 bit 5: count by 4.
pub(super) const CR14_COUNT4: u8 = 0x20;
/// CR17 bit 0: MA13 is the address (else row scan bit 0: CGA banks).
pub(super) const CR17_MAP13: u8 = 0x01;
/// CR17 bit 1: MA14 is the address (else row scan bit 1: Hercules banks).
pub(super) const CR17_MAP14: u8 = 0x02;
/// CR17 bit 3: count by 2.
pub(super) const CR17_COUNT2: u8 = 0x08;
/// CR17 bit 5: in word mode MA15 (else MA13) goes to address bit 0.
pub(super) const CR17_WRAP15: u8 = 0x20;
/// CR17 bit 6: byte addressing (else word).
pub(super) const CR17_BYTE: u8 = 0x40;

// --- Graphics controller -------------------------------------------------

pub(super) const GC_COUNT: usize = 9;
pub(super) const GC_INDEX_MASK: u8 = 0x0F;
pub(super) const GC_SET_RESET: usize = 0;
pub(super) const GC_ENABLE_SET_RESET: usize = 1;
pub(super) const GC_COLOUR_COMPARE: usize = 2;
pub(super) const GC_ROTATE: usize = 3;
pub(super) const GC_READ_MAP: usize = 4;
pub(super) const GC_MODE: usize = 5;
pub(super) const GC_MISC: usize = 6;
pub(super) const GC_DONT_CARE: usize = 7;
pub(super) const GC_BIT_MASK: usize = 8;
const GC_MASKS: [u8; GC_COUNT] = [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF];

/// GC05 bit 3: read mode 1 (colour compare).
pub(super) const GC05_READ_COMPARE: u8 = 0x08;
/// GC05 bit 4: host odd/even read addressing.
pub(super) const GC05_ODD_EVEN: u8 = 0x10;
/// GC05 bit 5: shift register interleave (CGA 4-colour).
pub(super) const GC05_INTERLEAVE: u8 = 0x20;
/// GC05 bit 6: 256-colour shift mode.
pub(super) const GC05_SHIFT256: u8 = 0x40;
/// GC06 bit 0: graphics (else alphanumeric) addressing.
pub(super) const GC06_GRAPHICS: u8 = 0x01;

// --- Attribute controller ------------------------------------------------

pub(super) const AC_COUNT: usize = 0x15;
pub(super) const AC_MODE: usize = 0x10;
pub(super) const AC_OVERSCAN: usize = 0x11;
pub(super) const AC_PLANE_ENABLE: usize = 0x12;
pub(super) const AC_PANNING: usize = 0x13;
pub(super) const AC_COLOUR_SELECT: usize = 0x14;
/// The address register's palette address source bit: set for normal
/// display; clear lets the CPU load the palette and blanks the screen.
pub(super) const AC_PAS: u8 = 0x20;
const AC_MASKS: [u8; AC_COUNT] = [
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0xEF, 0xFF, 0x3F, 0x0F, 0x0F,
];
/// AC10 bit 1: monochrome emulation (underline attribute).
pub(super) const AC10_MONO: u8 = 0x02;
/// AC10 bit 2: line graphics (the 9th dot of 0xC0-0xDF repeats the 8th).
pub(super) const AC10_LINE_GRAPHICS: u8 = 0x04;
/// AC10 bit 3: attribute bit 7 blinks (else it is background intensity).
pub(super) const AC10_BLINK: u8 = 0x08;
/// AC10 bit 5: panning is reset to 0 below the line-compare split.
pub(super) const AC10_PAN_SPLIT: u8 = 0x20;
/// AC10 bit 7: palette bits 5-4 come from AC14 bits 1-0.
pub(super) const AC10_P54S: u8 = 0x80;

// --- DAC -----------------------------------------------------------------

/// The colour look-up table (the "RAMDAC"): 256 entries of three 6-bit
/// values (8-bit once the VBE switches it), loaded and read three
/// components at a time through auto-incrementing indices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Dac {
    /// Pixel mask (0x3C6), ANDed with every pixel's index.
    pub(super) mask: u8,
    pub(super) read_index: u8,
    pub(super) write_index: u8,
    /// Which of red, green, blue the next data access is (0-2).
    component: u8,
    /// The last index written was the read index (DAC state 3).
    reading: bool,
    /// A write's first components wait here until blue completes it.
    pending: [u8; 3],
    #[serde(with = "crate::serde_util::byte_array")]
    pub(super) palette: [u8; 768],
    /// 8 bits per component (the VBE's 8BIT_DAC), else 6.
    pub(super) eight_bit: bool,
}

impl Dac {
    pub(super) fn new() -> Dac {
        Dac {
            mask: 0xFF,
            read_index: 0,
            write_index: 0,
            component: 0,
            reading: false,
            pending: [0; 3],
            palette: [0; 768],
            eight_bit: false,
        }
    }

    /// DAC state register (0x3C7 read): 3 after the read index was set,
    /// 0 after the write index was.
    pub(super) fn state(&self) -> u8 {
        if self.reading {
            3
        } else {
            0
        }
    }

    pub(super) fn set_read_index(&mut self, v: u8) {
        self.read_index = v;
        self.component = 0;
        self.reading = true;
    }

    pub(super) fn set_write_index(&mut self, v: u8) {
        self.write_index = v;
        self.component = 0;
        self.reading = false;
    }

    fn component_mask(&self) -> u8 {
        if self.eight_bit {
            0xFF
        } else {
            0x3F
        }
    }

    /// 0x3C9 write: red, green, blue; the entry is stored when blue
    /// arrives and the write index moves on.
    pub(super) fn write_data(&mut self, v: u8) {
        let c = usize::from(self.component % 3);
        self.pending[c] = v & self.component_mask();
        if c == 2 {
            let at = usize::from(self.write_index) * 3;
            self.palette[at..at + 3].copy_from_slice(&self.pending);
            self.write_index = self.write_index.wrapping_add(1);
            self.component = 0;
        } else {
            self.component = c as u8 + 1;
        }
    }

    /// 0x3C9 read: red, green, blue of the read index, which then moves
    /// on.
    pub(super) fn read_data(&mut self) -> u8 {
        let c = usize::from(self.component % 3);
        let v = self.palette[usize::from(self.read_index) * 3 + c];
        if c == 2 {
            self.read_index = self.read_index.wrapping_add(1);
            self.component = 0;
        } else {
            self.component = c as u8 + 1;
        }
        v
    }

    /// Switch between 6- and 8-bit components, keeping the colours.
    pub(super) fn set_eight_bit(&mut self, on: bool) {
        if on == self.eight_bit {
            return;
        }
        for v in self.palette.iter_mut() {
            *v = if on { *v << 2 } else { *v >> 2 };
        }
        self.eight_bit = on;
    }

    /// The colour of entry `i` (after the pixel mask) as 0x00RRGGBB.
    pub(super) fn rgb(&self, i: u8) -> u32 {
        let at = usize::from(i & self.mask) * 3;
        let scale = |v: u8| -> u32 {
            if self.eight_bit {
                u32::from(v)
            } else {
                let v = u32::from(v & 0x3F);
                (v << 2) | (v >> 4)
            }
        };
        scale(self.palette[at]) << 16
            | scale(self.palette[at + 1]) << 8
            | scale(self.palette[at + 2])
    }
}

// --- Register access -------------------------------------------------------

impl Vga {
    pub(super) fn seq_read(&self) -> u8 {
        self.seq
            .get(usize::from(self.seq_index))
            .copied()
            .unwrap_or(0xFF)
    }

    pub(super) fn seq_write(&mut self, v: u8) {
        let i = usize::from(self.seq_index);
        if let Some(r) = self.seq.get_mut(i) {
            *r = v & SEQ_MASKS[i];
        }
    }

    pub(super) fn crtc_read(&self) -> u8 {
        self.crtc
            .get(usize::from(self.crtc_index))
            .copied()
            .unwrap_or(0xFF)
    }

    pub(super) fn crtc_write(&mut self, v: u8) {
        let i = usize::from(self.crtc_index);
        if i >= CRTC_COUNT {
            return;
        }
        if self.crtc[CR_VRETRACE_END] & CR11_PROTECT != 0 && i <= CR_OVERFLOW {
            // Protected: only the line compare bit 8 in the overflow
            // register can still be written.
            if i == CR_OVERFLOW {
                self.crtc[i] = (self.crtc[i] & !0x10) | (v & 0x10);
            }
            return;
        }
        self.crtc[i] = v;
    }

    pub(super) fn gc_read(&self) -> u8 {
        self.gc
            .get(usize::from(self.gc_index))
            .copied()
            .unwrap_or(0xFF)
    }

    pub(super) fn gc_write(&mut self, v: u8) {
        let i = usize::from(self.gc_index);
        if let Some(r) = self.gc.get_mut(i) {
            *r = v & GC_MASKS[i];
        }
    }

    pub(super) fn ac_read(&self) -> u8 {
        self.ac
            .get(usize::from(self.ac_index & 0x1F))
            .copied()
            .unwrap_or(0xFF)
    }

    /// 0x3C0 write: index and data alternate through the flip-flop.
    pub(super) fn ac_write(&mut self, v: u8) {
        if !self.ac_data_next {
            self.ac_index = v & 0x3F;
        } else {
            let i = usize::from(self.ac_index & 0x1F);
            // The palette registers are being read by the display while
            // PAS is set, and take no writes then.
            let palette_locked = i < 0x10 && self.ac_index & AC_PAS != 0;
            if i < AC_COUNT && !palette_locked {
                self.ac[i] = v & AC_MASKS[i];
            }
        }
        self.ac_data_next = !self.ac_data_next;
    }

    pub(super) fn cr(&self, i: usize) -> u32 {
        u32::from(self.crtc[i])
    }

    /// Vertical display end + 1: scan lines displayed.
    pub(super) fn vdisplay_lines(&self) -> u32 {
        let ov = self.cr(CR_OVERFLOW);
        (self.cr(CR_VDISP_END) | (ov & 0x02) << 7 | (ov & 0x40) << 3) + 1
    }

    /// The line-compare (split screen) scan line.
    pub(super) fn line_compare(&self) -> u32 {
        self.cr(CR_LINE_COMPARE)
            | (self.cr(CR_OVERFLOW) & 0x10) << 4
            | (self.cr(CR_MAX_SCAN) & 0x40) << 3
    }

    /// The CRTC start address (in character clocks of the counter).
    pub(super) fn start_address(&self) -> u32 {
        self.cr(CR_START_HI) << 8 | self.cr(CR_START_LO)
    }

    pub(super) fn cursor_address(&self) -> u32 {
        self.cr(CR_CURSOR_HI) << 8 | self.cr(CR_CURSOR_LO)
    }

    /// Dots per character clock in text modes.
    pub(super) fn char_width(&self) -> u32 {
        if self.seq[SR_CLOCKING] & SR01_DOTS8 != 0 {
            8
        } else {
            9
        }
    }

    /// The CRT timing the registers describe, or the standard 70 Hz
    /// timing if they describe nothing a monitor would sync to. VBE modes
    /// run at the 60 Hz 640x480 timing (the dispi interface has none).
    pub(super) fn timing(&self) -> Timing {
        if self.vbe.enabled() {
            return Timing::VGA_60HZ;
        }
        let cw = self.char_width();
        let mut dot_hz = match (self.misc >> 2) & 3 {
            1 => 28_322_000,
            _ => 25_175_000,
        };
        if self.seq[SR_CLOCKING] & SR01_HALF_DOTCLOCK != 0 {
            dot_hz /= 2;
        }
        let ov = self.cr(CR_OVERFLOW);
        let vrs = self.cr(CR_VRETRACE_START) | (ov & 0x04) << 6 | (ov & 0x80) << 2;
        let vr_len = match (self.cr(CR_VRETRACE_END).wrapping_sub(vrs)) & 0xF {
            0 => 16,
            n => n,
        };
        let t = Timing {
            dot_hz,
            htotal: (self.cr(CR_HTOTAL) + 5) * cw,
            hdisplay: (self.cr(CR_HDISP_END) + 1) * cw,
            vtotal: (self.cr(CR_VTOTAL) | (ov & 0x01) << 8 | (ov & 0x20) << 4) + 2,
            vdisplay: self.vdisplay_lines(),
            vretrace: vrs,
            vretrace_len: vr_len,
        };
        if t.plausible() {
            t
        } else {
            Timing::VGA_70HZ
        }
    }

    /// Input status 1 at `now`.
    pub(super) fn input_status_1(&self, now: VirtualTime) -> u8 {
        let t = self.timing();
        let dots = ClockRate::hz(t.dot_hz).ticks_at(now);
        let frame = u64::from(t.htotal) * u64::from(t.vtotal);
        let pos = dots % frame;
        let line = (pos / u64::from(t.htotal)) as u32;
        let col = (pos % u64::from(t.htotal)) as u32;
        let mut v = 0;
        if line >= t.vdisplay || col >= t.hdisplay {
            v |= ST01_DISPLAY_DISABLED;
        }
        let into_retrace = (line + t.vtotal - t.vretrace) % t.vtotal;
        if into_retrace < t.vretrace_len {
            v |= ST01_VRETRACE | ST01_DISPLAY_DISABLED;
        }
        v
    }

    /// How many frames have been displayed by `now`.
    pub(super) fn frame_count(&self, now: VirtualTime) -> u64 {
        let t = self.timing();
        ClockRate::hz(t.dot_hz).ticks_at(now) / (u64::from(t.htotal) * u64::from(t.vtotal))
    }
}

/// A CRT timing: dots per line, lines per frame, the displayed part and
/// the vertical retrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timing {
    pub(super) dot_hz: u64,
    pub(super) htotal: u32,
    pub(super) hdisplay: u32,
    pub(super) vtotal: u32,
    pub(super) vdisplay: u32,
    pub(super) vretrace: u32,
    pub(super) vretrace_len: u32,
}

impl Timing {
    /// 720x400 text at 70 Hz (modes 0-3, 7): 900 dots x 449 lines at
    /// 28.322 MHz.
    pub(super) const VGA_70HZ: Timing = Timing {
        dot_hz: 28_322_000,
        htotal: 900,
        hdisplay: 720,
        vtotal: 449,
        vdisplay: 400,
        vretrace: 412,
        vretrace_len: 2,
    };

    /// 640x480 at 60 Hz (mode 12h): 800 dots x 525 lines at 25.175 MHz.
    pub(super) const VGA_60HZ: Timing = Timing {
        dot_hz: 25_175_000,
        htotal: 800,
        hdisplay: 640,
        vtotal: 525,
        vdisplay: 480,
        vretrace: 490,
        vretrace_len: 2,
    };

    /// A frame of 20-200 Hz whose displayed part and retrace lie inside it.
    fn plausible(&self) -> bool {
        let frame = u64::from(self.htotal) * u64::from(self.vtotal);
        self.hdisplay < self.htotal
            && self.vdisplay < self.vtotal
            && self.vretrace < self.vtotal
            && frame * 20 <= self.dot_hz
            && self.dot_hz <= frame * 200
    }
}

// --- The standard text mode, loaded the way a VGA BIOS would -------------

/// Mode 3 (80x25 colour text, 720x400, 9-dot characters) from the IBM
/// VGA's parameter table.
pub(super) struct ModeTable {
    pub(super) misc: u8,
    pub(super) seq: [u8; 4],
    pub(super) crtc: [u8; CRTC_COUNT],
    pub(super) ac: [u8; AC_COUNT],
    pub(super) gc: [u8; GC_COUNT],
}

pub(super) const MODE_3: ModeTable = ModeTable {
    misc: 0x67,
    seq: [0x00, 0x03, 0x00, 0x02],
    crtc: [
        0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00,
        0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
    ],
    ac: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E,
        0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF],
};

/// Entry `i` of the EGA's 64-colour palette in 6-bit DAC values: bits
/// 0-2 are full blue, green and red (2/3 intensity), bits 3-5 the
/// secondary (1/3 intensity) blue, green and red.
pub(super) fn ega_colour(i: u8) -> [u8; 3] {
    let c =
        |primary: u8, secondary: u8| ((i >> primary) & 1) * 0x2A + ((i >> secondary) & 1) * 0x15;
    [c(2, 5), c(1, 4), c(0, 3)]
}

impl Vga {
    /// Load a register table through the ports, in the order a VGA BIOS
    /// does: misc output, the sequencer (held in synchronous reset), the
    /// CRTC (unprotected first), the graphics controller, the attribute
    /// controller with the display re-enabled last.
    pub(super) fn load_mode(&mut self, m: &ModeTable) {
        self.vbe_disable();
        self.out8(0x3C2, m.misc);
        self.out8(0x3C4, 0);
        self.out8(0x3C5, 0x01);
        for (i, &v) in m.seq.iter().enumerate() {
            self.out8(0x3C4, i as u8 + 1);
            self.out8(0x3C5, v);
        }
        self.out8(0x3C4, 0);
        self.out8(0x3C5, 0x03);
        let crtc = self.crtc_base() + 4;
        self.out8(crtc, CR_VRETRACE_END as u8);
        self.out8(crtc + 1, m.crtc[CR_VRETRACE_END] & !CR11_PROTECT);
        for (i, &v) in m.crtc.iter().enumerate() {
            self.out8(crtc, i as u8);
            self.out8(crtc + 1, v);
        }
        for (i, &v) in m.gc.iter().enumerate() {
            self.out8(0x3CE, i as u8);
            self.out8(0x3CF, v);
        }
        let status = self.crtc_base() + 0xA;
        let now = self.now;
        self.read_port8(now, status);
        for (i, &v) in m.ac.iter().enumerate() {
            self.out8(0x3C0, i as u8);
            self.out8(0x3C0, v);
        }
        self.out8(0x3C0, AC_PAS);
    }

    /// Put the card in 80x25 colour text (mode 3) the way a VGA BIOS
    /// would: the mode 3 registers, the EGA palette in DAC entries 0-63,
    /// `font` loaded into plane 2 as font 0, and the screen cleared to
    /// light-grey spaces. The cursor is at the top left.
    ///
    /// `font` holds 256 glyphs of `font.len() / 256` bytes each (one byte
    /// per scan line, bit 7 the leftmost dot), at most 32. A 16-line font
    /// gives 80x25; other heights keep the 400-line screen and get
    /// `400 / height` rows, with the character height and cursor shape
    /// adjusted as the BIOS's font-loading call does. A font shorter than
    /// 256 bytes is not loaded (plane 2 keeps what it had).
    pub fn set_text_mode_80x25(&mut self, font: &[u8]) {
        self.load_mode(&MODE_3);
        let height = (font.len() / 256).min(32);
        if height > 0 {
            let crtc = self.crtc_base() + 4;
            let h = height as u8;
            self.out8(crtc, CR_MAX_SCAN as u8);
            self.out8(crtc + 1, (MODE_3.crtc[CR_MAX_SCAN] & !0x1F) | (h - 1));
            self.out8(crtc, CR_CURSOR_START as u8);
            self.out8(crtc + 1, h.saturating_sub(3));
            self.out8(crtc, CR_CURSOR_END as u8);
            self.out8(crtc + 1, h.saturating_sub(2));
            for (c, glyph) in font.chunks_exact(height).take(256).enumerate() {
                for (row, &bits) in glyph.iter().enumerate() {
                    self.set_plane_byte(2, (c * 32 + row) as u32, bits);
                }
            }
        }
        self.out8(0x3C8, 0);
        for i in 0..=255u8 {
            let rgb = if i < 64 { ega_colour(i) } else { [0; 3] };
            for v in rgb {
                self.out8(0x3C9, v);
            }
        }
        for off in 0..0x8000 {
            self.set_plane_byte(0, off, b' ');
            self.set_plane_byte(1, off, 0x07);
        }
        self.changes = self.changes.wrapping_add(1);
    }
}
