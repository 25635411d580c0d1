//! Turning video memory into a picture (FreeVGA, "VGA Text Mode
//! Operation", "CRT Controller Registers" for the address counter,
//! "Attribute Controller Registers" for the palette path).
//!
//! The renderer walks the displayed scan lines as the CRTC does: a row
//! start address from the start address register, advanced by twice the
//! offset register after each character row (max scan line + 1 scan
//! lines, each shown twice when scan doubling is on), reset to 0 after the
//! line-compare line; within a line the memory address counter advances
//! once per character clock (every second or fourth with count-by-2/4). A
//! counter value becomes a plane offset through byte, word or doubleword
//! addressing, with row-scan bits replacing address bits 13/14 when CR17
//! asks for the CGA/Hercules bank layout.
//!
//! Text: plane 0 holds the character, plane 1 the attribute, plane 2 the
//! font (32 bytes per glyph, up to eight fonts of 8 KiB chosen by the
//! character map select register and attribute bit 3). Graphics: 16
//! colours from the four planes, 4 colours from the CGA-compatible
//! interleaved shift mode, or 256 colours from one byte per pixel. Pixel
//! values go through the attribute controller's palette (with the colour
//! plane enable mask and the colour select bits) to the DAC.
//!
//! The frame is the guest's pixel grid: one frame pixel per dot in text
//! modes (720x400 for mode 3), per pixel in graphics modes (320x200 for
//! mode 13h and 0Dh, 640x480 for mode 12h), and scan lines repeated only
//! to double or stretch rows are shown once. VBE modes are XRES x YRES
//! from video memory at the display offsets.

use super::regs::*;
use super::vbe::Vbe;
use super::Vga;

/// An RGB picture: `pixels[y * width + x]` is 0x00RRGGBB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

impl Frame {
    fn new(width: u32, height: u32) -> Frame {
        let (width, height) = (width.max(1), height.max(1));
        Frame {
            width,
            height,
            pixels: vec![0; width as usize * height as usize],
        }
    }

    /// The pixel at (`x`, `y`), if inside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u32> {
        if x < self.width && y < self.height {
            self.pixels
                .get(y as usize * self.width as usize + x as usize)
                .copied()
        } else {
            None
        }
    }
}

/// No frame is larger than this in either direction (the CRTC's counters
/// cannot describe more: 256 character clocks of 9 dots, 1024 lines).
const MAX_DIM: u32 = 4096;

/// One displayed scan line as the CRTC addresses it.
#[derive(Clone, Copy, Debug)]
struct LineAddr {
    /// The memory address counter at the start of the line.
    start: u32,
    /// The row scan counter (the scan line within a character row).
    scan: u32,
    /// Below the line-compare split.
    split: bool,
}

/// CP437, the PC's character set, as Unicode (0x00 and 0xFF as spaces).
const CP437: &str = concat!(
    " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼",
    " !\"#$%&'()*+,-./0123456789:;<=>?",
    "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_",
    "`abcdefghijklmnopqrstuvwxyz{|}~⌂",
    "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒ",
    "áíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐",
    "└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀",
    "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ",
);

/// The CP437 table as characters.
fn cp437_table() -> Vec<char> {
    CP437.chars().collect()
}

impl Vga {
    /// The current picture.
    pub fn render(&self) -> Frame {
        let mut frame = if self.vbe.enabled() {
            self.render_vbe()
        } else if self.is_text() {
            self.render_text()
        } else {
            self.render_graphics()
        };
        if self.seq[SR_CLOCKING] & SR01_SCREEN_OFF != 0 {
            frame.pixels.fill(0);
        } else if self.ac_index & AC_PAS == 0 {
            // The attribute controller is being loaded: the display shows
            // the overscan colour.
            let c = self.dac.rgb(self.ac[AC_OVERSCAN]);
            frame.pixels.fill(c);
        }
        frame
    }

    /// Alphanumeric addressing, VBE off.
    fn is_text(&self) -> bool {
        !self.vbe.enabled() && self.gc[GC_MISC] & GC06_GRAPHICS == 0
    }

    /// Bit 0: the cursor is in its visible phase; bit 1: blinking
    /// characters are. Zero outside text modes.
    pub(super) fn blink_phase_bits(&self) -> u64 {
        if !self.is_text() {
            return 0;
        }
        let frames = self.frame_count(self.now);
        // The cursor blinks every 16 frames, characters every 32.
        let cursor = frames & 8 == 0;
        let chars = frames & 16 == 0;
        u64::from(cursor) | u64::from(chars) << 1
    }

    /// A memory address counter value as a plane offset.
    fn crtc_address(&self, ma: u32, scan: u32) -> u32 {
        let cr14 = self.crtc[CR_UNDERLINE];
        let cr17 = self.crtc[CR_MODE];
        let ma = ma & 0xFFFF;
        let mut a = if cr14 & CR14_DWORD != 0 {
            // Doubleword: the counter rotated left by two.
            (ma << 2) | (ma >> 14)
        } else if cr17 & CR17_BYTE == 0 {
            // Word: shifted left, MA13 or MA15 into bit 0.
            let wrap = if cr17 & CR17_WRAP15 != 0 { 15 } else { 13 };
            (ma << 1) | ((ma >> wrap) & 1)
        } else {
            ma
        };
        if cr17 & CR17_MAP13 == 0 {
            a = (a & !0x2000) | (scan & 1) << 13;
        }
        if cr17 & CR17_MAP14 == 0 {
            a = (a & !0x4000) | (scan & 2) << 13;
        }
        a & 0xFFFF
    }

    /// The displayed scan lines, top to bottom.
    fn scanlines(&self) -> Vec<LineAddr> {
        let lines = self.vdisplay_lines().min(MAX_DIM);
        let max_scan = self.cr(CR_MAX_SCAN) & 0x1F;
        let double = self.crtc[CR_MAX_SCAN] & 0x80 != 0;
        let offset = self.cr(CR_OFFSET) * 2;
        let compare = self.line_compare();
        let byte_pan = (self.cr(CR_PRESET_ROW) >> 5) & 3;
        let mut start = (self.start_address() + byte_pan) & 0xFFFF;
        let mut scan = self.cr(CR_PRESET_ROW) & 0x1F;
        let mut second = false;
        let mut split = false;
        let mut out = Vec::with_capacity(lines as usize);
        for line in 0..lines {
            out.push(LineAddr { start, scan, split });
            if line == compare {
                start = 0;
                scan = 0;
                second = false;
                split = true;
                continue;
            }
            if double && !second {
                second = true;
                continue;
            }
            second = false;
            if scan >= max_scan {
                scan = 0;
                start = (start + offset) & 0xFFFF;
            } else {
                scan += 1;
            }
        }
        out
    }

    /// The 16 attribute colours after the colour plane enable mask, the
    /// palette registers and the colour select register, as RGB.
    fn palette16(&self) -> [u32; 16] {
        let enable = self.ac[AC_PLANE_ENABLE] & 0x0F;
        let select = self.ac[AC_COLOUR_SELECT];
        let p54s = self.ac[AC_MODE] & AC10_P54S != 0;
        let mut out = [0u32; 16];
        for (v, o) in out.iter_mut().enumerate() {
            let p = self.ac[usize::from(v as u8 & enable)];
            let low = if p54s {
                (p & 0x0F) | (select & 0x03) << 4
            } else {
                p & 0x3F
            };
            *o = self.dac.rgb(low | (select & 0x0C) << 4);
        }
        out
    }

    fn dac_table(&self) -> Vec<u32> {
        (0..=255u8).map(|i| self.dac.rgb(i)).collect()
    }

    /// Plane-2 offset of font `n` (0-7): 0, 16, 32, 48 KiB for 0-3, and
    /// 8 KiB further for 4-7.
    fn font_base(n: u8) -> u32 {
        u32::from(n & 3) * 0x4000 + u32::from(n >> 2 & 1) * 0x2000
    }

    fn render_text(&self) -> Frame {
        let cols = self.cr(CR_HDISP_END) + 1;
        let cw = self.char_width();
        let width = (cols * cw).min(MAX_DIM);
        let double = self.crtc[CR_MAX_SCAN] & 0x80 != 0;
        let lines = self.scanlines();
        let shown: Vec<LineAddr> = lines
            .iter()
            .step_by(if double { 2 } else { 1 })
            .copied()
            .collect();
        let mut frame = Frame::new(width, shown.len() as u32);
        let pal = self.palette16();
        let mode = self.ac[AC_MODE];
        let blink = self.blink_phase_bits();
        let (cursor_phase, char_phase) = (blink & 1 != 0, blink & 2 != 0);
        let sr3 = self.seq[SR_CHAR_MAP];
        // Attribute bit 3 set: font A (bits 5, 3-2); clear: font B (4, 1-0).
        let font_a = Vga::font_base((sr3 >> 2 & 3) | (sr3 >> 3 & 4));
        let font_b = Vga::font_base((sr3 & 3) | (sr3 >> 2 & 4));
        let cursor_start = self.cr(CR_CURSOR_START) & 0x1F;
        let cursor_end = self.cr(CR_CURSOR_END) & 0x1F;
        let cursor_on = self.crtc[CR_CURSOR_START] & 0x20 == 0 && cursor_phase;
        let cursor_at = (self.cursor_address() + (self.cr(CR_CURSOR_END) >> 5 & 3)) & 0xFFFF;
        let underline = self.cr(CR_UNDERLINE) & 0x1F;
        let pan_reg = u32::from(self.ac[AC_PANNING] & 0x0F);
        let pan = if cw == 9 {
            if pan_reg < 8 {
                pan_reg + 1
            } else {
                0
            }
        } else {
            pan_reg & 7
        };
        let mut buf = vec![0u32; ((cols + 1) * cw) as usize];
        for (y, la) in shown.iter().enumerate() {
            for c in 0..=cols {
                let ma = (la.start + c) & 0xFFFF;
                let off = self.crtc_address(ma, la.scan);
                let ch = self.plane_byte(0, off);
                let attr = self.plane_byte(1, off);
                let mut fg = attr & 0x0F;
                let mut bg = attr >> 4;
                if mode & AC10_BLINK != 0 {
                    bg &= 7;
                    if attr & 0x80 != 0 && !char_phase {
                        fg = bg;
                    }
                }
                let font = if attr & 0x08 != 0 { font_a } else { font_b };
                let bits = self.plane_byte(2, font + u32::from(ch) * 32 + (la.scan & 31));
                let full = (cursor_on
                    && ma == cursor_at
                    && cursor_start <= cursor_end
                    && (cursor_start..=cursor_end).contains(&la.scan))
                    || (mode & AC10_MONO != 0 && attr & 0x77 == 0x01 && la.scan == underline);
                let ninth = mode & AC10_LINE_GRAPHICS != 0 && ch & 0xE0 == 0xC0 && bits & 1 != 0;
                let (fgc, bgc) = (pal[usize::from(fg)], pal[usize::from(bg)]);
                let cell = &mut buf[(c * cw) as usize..((c + 1) * cw) as usize];
                for (dx, px) in cell.iter_mut().enumerate() {
                    let on = full
                        || if dx < 8 {
                            bits >> (7 - dx) & 1 != 0
                        } else {
                            ninth
                        };
                    *px = if on { fgc } else { bgc };
                }
            }
            let shift = if la.split && mode & AC10_PAN_SPLIT != 0 {
                0
            } else {
                pan
            } as usize;
            let row = &mut frame.pixels[y * width as usize..(y + 1) * width as usize];
            row.copy_from_slice(&buf[shift..shift + width as usize]);
        }
        frame
    }

    fn render_graphics(&self) -> Frame {
        let gc5 = self.gc[GC_MODE];
        let cols = self.cr(CR_HDISP_END) + 1;
        let per_clock = if gc5 & GC05_SHIFT256 != 0 { 4 } else { 8 };
        let width = (cols * per_clock).min(MAX_DIM);
        let max_scan = self.cr(CR_MAX_SCAN) & 0x1F;
        let double = self.crtc[CR_MAX_SCAN] & 0x80 != 0;
        // Scan lines of a character row show the same memory unless CR17
        // substitutes row-scan bits into the address.
        let same_rows = self.crtc[CR_MODE] & (CR17_MAP13 | CR17_MAP14) == CR17_MAP13 | CR17_MAP14;
        let repeat = if same_rows { max_scan + 1 } else { 1 } * if double { 2 } else { 1 };
        let lines = self.scanlines();
        let shown: Vec<LineAddr> = lines.iter().step_by(repeat as usize).copied().collect();
        let mut frame = Frame::new(width, shown.len() as u32);
        let pal = self.palette16();
        let dac = self.dac_table();
        let count_shift = if self.crtc[CR_UNDERLINE] & CR14_COUNT4 != 0 {
            2
        } else if self.crtc[CR_MODE] & CR17_COUNT2 != 0 {
            1
        } else {
            0
        };
        let pan_reg = u32::from(self.ac[AC_PANNING] & 7);
        let pan = if per_clock == 4 {
            pan_reg >> 1
        } else {
            pan_reg
        };
        let pan_split = self.ac[AC_MODE] & AC10_PAN_SPLIT != 0;
        let mut buf = vec![0u32; ((cols + 1) * per_clock) as usize];
        for (y, la) in shown.iter().enumerate() {
            let mut px = buf.iter_mut();
            for c in 0..=cols {
                let ma = (la.start + (c >> count_shift)) & 0xFFFF;
                let off = self.crtc_address(ma, la.scan);
                let p = [
                    self.plane_byte(0, off),
                    self.plane_byte(1, off),
                    self.plane_byte(2, off),
                    self.plane_byte(3, off),
                ];
                if gc5 & GC05_SHIFT256 != 0 {
                    for b in p {
                        if let Some(o) = px.next() {
                            *o = dac[usize::from(b)];
                        }
                    }
                } else if gc5 & GC05_INTERLEAVE != 0 {
                    // Two bits per pixel: planes 0 then 1 (with 2 and 3
                    // as the upper bits), four pixels from each.
                    for (lo, hi) in [(p[0], p[2]), (p[1], p[3])] {
                        for i in 0..4 {
                            let s = 6 - 2 * i;
                            let v = (lo >> s & 3) | (hi >> s & 3) << 2;
                            if let Some(o) = px.next() {
                                *o = pal[usize::from(v)];
                            }
                        }
                    }
                } else {
                    for bit in (0..8).rev() {
                        let v = (p[0] >> bit & 1)
                            | (p[1] >> bit & 1) << 1
                            | (p[2] >> bit & 1) << 2
                            | (p[3] >> bit & 1) << 3;
                        if let Some(o) = px.next() {
                            *o = pal[usize::from(v)];
                        }
                    }
                }
            }
            let shift = if la.split && pan_split { 0 } else { pan } as usize;
            let row = &mut frame.pixels[y * width as usize..(y + 1) * width as usize];
            row.copy_from_slice(&buf[shift..shift + width as usize]);
        }
        frame
    }

    fn render_vbe(&self) -> Frame {
        let v = &self.vbe;
        let (w, h) = (
            u32::from(v.xres).min(MAX_DIM),
            u32::from(v.yres).min(MAX_DIM),
        );
        let mut frame = Frame::new(w, h);
        if v.bpp == 4 {
            let pal = self.palette16();
            let stride = u32::from(v.virt_width) / 8;
            let base = u32::from(v.y_offset) * stride + u32::from(v.x_offset) / 8;
            for y in 0..h {
                for x in 0..w {
                    let off = base + y * stride + x / 8;
                    let bit = 7 - (x & 7);
                    let mut c = 0;
                    for p in 0..4 {
                        c |= (self.plane_byte(p, off) >> bit & 1) << p;
                    }
                    frame.pixels[(y * w + x) as usize] = pal[usize::from(c)];
                }
            }
            return frame;
        }
        let bpp = Vbe::bytes_per_pixel(v.bpp) as usize;
        if bpp == 0 {
            // Only a doctored saved state gets here: the BPP register
            // takes no other depths.
            return frame;
        }
        let pitch = v.pitch() as usize;
        let start = usize::from(v.y_offset) * pitch + usize::from(v.x_offset) * bpp;
        let dac = self.dac_table();
        let row_len = w as usize * bpp;
        let mut scratch = vec![0u8; row_len];
        for y in 0..h as usize {
            let at = start + y * pitch;
            // A row past the end of video memory reads as zeros.
            scratch.fill(0);
            if at < self.vram.len() {
                let end = (at + row_len).min(self.vram.len());
                scratch[..end - at].copy_from_slice(&self.vram[at..end]);
            }
            let out = &mut frame.pixels[y * w as usize..(y + 1) * w as usize];
            for (o, px) in out.iter_mut().zip(scratch.chunks_exact(bpp)) {
                *o = match (v.bpp, px) {
                    (_, &[i]) => dac[usize::from(i)],
                    (15, &[lo, hi]) => {
                        let c = u32::from(u16::from_le_bytes([lo, hi]));
                        let (r, g, b) = (c >> 10 & 31, c >> 5 & 31, c & 31);
                        (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2)
                    }
                    (_, &[lo, hi]) => {
                        let c = u32::from(u16::from_le_bytes([lo, hi]));
                        let (r, g, b) = (c >> 11 & 31, c >> 5 & 63, c & 31);
                        (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2)
                    }
                    // 24 and 32: blue, green, red (, unused) in memory.
                    (_, &[b, g, r, ..]) => u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b),
                    _ => 0,
                };
            }
        }
        frame
    }

    /// Columns, rows and the row stride (in counter units) of the text
    /// screen, if the card is in a text mode.
    fn text_layout(&self) -> Option<(u32, u32, u32)> {
        if !self.is_text() {
            return None;
        }
        let cols = self.cr(CR_HDISP_END) + 1;
        let mut lines = self.vdisplay_lines();
        if self.crtc[CR_MAX_SCAN] & 0x80 != 0 {
            lines /= 2;
        }
        let rows = lines / ((self.cr(CR_MAX_SCAN) & 0x1F) + 1);
        Some((cols, rows, self.cr(CR_OFFSET) * 2))
    }

    /// The characters on a text-mode screen, one string per row (CP437
    /// as Unicode, every row as wide as the screen), for a terminal
    /// mirror. `None` in graphics and VBE modes.
    pub fn text_snapshot(&self) -> Option<Vec<String>> {
        let (cols, rows, stride) = self.text_layout()?;
        let table = cp437_table();
        let start = self.start_address();
        let rows = (0..rows)
            .map(|r| {
                let row_start = start + r * stride;
                (0..cols)
                    .map(|c| {
                        let off = self.crtc_address((row_start + c) & 0xFFFF, 0);
                        table
                            .get(usize::from(self.plane_byte(0, off)))
                            .copied()
                            .unwrap_or(' ')
                    })
                    .collect()
            })
            .collect();
        Some(rows)
    }

    /// Where the text cursor is, as (row, column), if the card is in a
    /// text mode with the cursor enabled and on the screen.
    pub fn cursor_position(&self) -> Option<(u32, u32)> {
        let (cols, rows, stride) = self.text_layout()?;
        if self.crtc[CR_CURSOR_START] & 0x20 != 0 || stride == 0 {
            return None;
        }
        let pos = self.cursor_address().wrapping_sub(self.start_address()) & 0xFFFF;
        let (row, col) = (pos / stride, pos % stride);
        (row < rows && col < cols).then_some((row, col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_has_256_characters_in_the_right_places() {
        let t = cp437_table();
        assert_eq!(t.len(), 256);
        assert_eq!(t[0x01], '☺');
        assert_eq!(t[0x41], 'A');
        assert_eq!(t[0x7F], '⌂');
        assert_eq!(t[0x80], 'Ç');
        assert_eq!(t[0xB0], '░');
        assert_eq!(t[0xC4], '─');
        assert_eq!(t[0xDB], '█');
        assert_eq!(t[0xE1], 'ß');
        assert_eq!(t[0xFE], '■');
        assert_eq!(t[0xFF], ' ');
    }

    #[test]
    fn font_bases_follow_the_character_map_select_layout() {
        let bases: Vec<u32> = (0..8).map(Vga::font_base).collect();
        assert_eq!(
            bases,
            [0x0000, 0x4000, 0x8000, 0xC000, 0x2000, 0x6000, 0xA000, 0xE000]
        );
    }
}
