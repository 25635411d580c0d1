//! The guest physical address space.
//!
//! For now this is RAM plus the bookkeeping that keeps the CPU's decode cache
//! coherent: every page that holds decoded instructions is flagged, and a
//! write to a flagged page bumps that page's generation so the stale decoded
//! records are never used again (self-modifying code stays correct).
//! Addresses outside RAM read as open bus (0xFF) and ignore writes; the CPU
//! routes them to the device bus for MMIO.
//!
//! The legacy window 0xA0000-0xFFFFF is routed page by page: the VGA hole
//! (0xA0000-0xBFFFF) goes to the bus, and the BIOS area 0xC0000-0xFFFFF is
//! shadow RAM whose reads and writes the chipset's PAM registers route to
//! the RAM or to the bus (the ROMs): [`Memory::set_pam`].

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// The serialized form is the routing only: a savestate keeps the RAM in
/// a section of its own (zero pages skipped), and the code-page bookkeeping
/// belongs to the decode cache, which a restore empties.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    #[serde(skip)]
    ram: Vec<u8>,
    /// Per 4 KiB page: true while the decode cache may hold records decoded
    /// from it.
    #[serde(skip)]
    has_code: Vec<bool>,
    /// Per page: bumped whenever a page holding code is written.
    #[serde(skip)]
    generation: Vec<u32>,
    /// One bit per 4 KiB page of 0xA0000-0xFFFFF, set when reads (writes)
    /// of that page reach RAM. Without a chipset: all RAM.
    pam_read: u128,
    pam_write: u128,
}

/// The legacy window routed page by page (the VGA hole and the PAM area).
pub const PAM_BASE: u32 = 0xA0000;
pub const PAM_END: u32 = 0x10_0000;
/// Pages of the window (96).
const WINDOW_PAGES: u32 = (PAM_END - PAM_BASE) >> PAGE_SHIFT;

impl Memory {
    /// RAM of `size` bytes, zero-filled. The size is rounded up to a page.
    pub fn new(size: usize) -> Memory {
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        Memory {
            ram: vec![0; pages * PAGE_SIZE],
            has_code: vec![false; pages],
            generation: vec![0; pages],
            pam_read: u128::MAX,
            pam_write: u128::MAX,
        }
    }

    /// The PAM bits for the pages `[addr, addr + len)` touches in the
    /// shadow window, or `None` when the range lies outside it.
    #[inline(always)]
    fn pam_bits(addr: u32, len: u32) -> Option<u128> {
        if addr >= PAM_END || addr.wrapping_add(len) <= PAM_BASE {
            return None;
        }
        let first = (addr.max(PAM_BASE) - PAM_BASE) >> PAGE_SHIFT;
        let last = ((addr + len - 1).min(PAM_END - 1) - PAM_BASE) >> PAGE_SHIFT;
        Some(((2u128 << (last - first)) - 1) << first)
    }

    /// Whether a read of `[addr, addr + len)` is served from RAM.
    #[inline(always)]
    pub fn readable(&self, addr: u32, len: u32) -> bool {
        self.in_ram(addr, len) && Memory::pam_bits(addr, len).is_none_or(|b| self.pam_read & b == b)
    }

    /// Whether a write of `[addr, addr + len)` goes to RAM.
    #[inline(always)]
    pub fn writable(&self, addr: u32, len: u32) -> bool {
        self.in_ram(addr, len)
            && Memory::pam_bits(addr, len).is_none_or(|b| self.pam_write & b == b)
    }

    /// Whether `addr` is in the shadow window with reads routed to the ROM:
    /// code fetched there may be cached (the ROM does not change; a PAM
    /// change invalidates it).
    #[inline]
    pub fn rom_mapped(&self, addr: u32) -> bool {
        Memory::pam_bits(addr, 1).is_some_and(|b| self.pam_read & b == 0)
    }

    /// The current window routing (read mask, write mask).
    pub fn pam(&self) -> (u128, u128) {
        (self.pam_read, self.pam_write)
    }

    /// Route the legacy window: bit n of `read`/`write` is the 4 KiB page at
    /// 0xA0000 + n × 4 KiB. Pages whose read routing changes lose their
    /// decoded instructions.
    pub fn set_pam(&mut self, read: u128, write: u128) {
        let changed = self.pam_read ^ read;
        self.pam_read = read;
        self.pam_write = write;
        for n in 0..WINDOW_PAGES {
            if changed & (1 << n) != 0 {
                let page = ((PAM_BASE >> PAGE_SHIFT) + n) as usize;
                if let Some(g) = self.generation.get_mut(page) {
                    *g = g.wrapping_add(1);
                }
            }
        }
    }

    /// RAM size in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.ram.len()
    }

    /// Whether `[addr, addr + len)` lies entirely in RAM.
    #[inline]
    pub fn in_ram(&self, addr: u32, len: u32) -> bool {
        (addr as usize)
            .checked_add(len as usize)
            .is_some_and(|end| end <= self.ram.len())
    }

    #[inline]
    pub fn read_u8(&self, addr: u32) -> u8 {
        self.ram.get(addr as usize).copied().unwrap_or(0xFF)
    }

    #[inline]
    pub fn write_u8(&mut self, addr: u32, value: u8) {
        if let Some(b) = self.ram.get_mut(addr as usize) {
            *b = value;
            self.note_write(addr, 1);
        }
    }

    /// Little-endian read of `len` (1, 2 or 4) bytes lying entirely in RAM.
    /// Callers check [`Memory::readable`] first.
    #[inline]
    pub fn read_le(&self, addr: u32, len: u32) -> u32 {
        let a = addr as usize;
        match len {
            1 => self.ram[a] as u32,
            2 => u16::from_le_bytes([self.ram[a], self.ram[a + 1]]) as u32,
            _ => u32::from_le_bytes([
                self.ram[a],
                self.ram[a + 1],
                self.ram[a + 2],
                self.ram[a + 3],
            ]),
        }
    }

    /// Little-endian write of `len` (1, 2 or 4) bytes lying entirely in RAM.
    #[inline]
    pub fn write_le(&mut self, addr: u32, len: u32, value: u32) {
        let a = addr as usize;
        let bytes = value.to_le_bytes();
        self.ram[a..a + len as usize].copy_from_slice(&bytes[..len as usize]);
        self.note_write(addr, len);
    }

    /// Copy bytes into RAM (loading images); bytes past the end are dropped.
    pub fn load(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.write_u8(addr.wrapping_add(i as u32), b);
        }
    }

    /// Copy `len` bytes from `src` to `dst` as a forward element-by-element
    /// copy would when `dst` is not inside `(src, src + len)`; both ranges
    /// lie in RAM (callers check [`Memory::readable`]/[`Memory::writable`]).
    pub fn copy_within(&mut self, src: u32, dst: u32, len: u32) {
        let (s, d, n) = (src as usize, dst as usize, len as usize);
        self.ram.copy_within(s..s + n, d);
        self.note_write(dst, len);
    }

    /// Fill `count` elements of `width` (1, 2 or 4) bytes at `dst` with the
    /// low bytes of `value`; the range lies in RAM.
    pub fn fill(&mut self, dst: u32, width: u32, count: u32, value: u32) {
        let bytes = value.to_le_bytes();
        let element = &bytes[..width as usize];
        let start = dst as usize;
        let end = start + (width * count) as usize;
        for chunk in self.ram[start..end].chunks_exact_mut(width as usize) {
            chunk.copy_from_slice(element);
        }
        self.note_write(dst, width * count);
    }

    /// Fill all of RAM with zeros (a cold reset).
    pub fn clear(&mut self) {
        self.ram.fill(0);
        for (code, generation) in self.has_code.iter_mut().zip(self.generation.iter_mut()) {
            if *code {
                *code = false;
                *generation = generation.wrapping_add(1);
            }
        }
    }

    /// The raw RAM, for whole-memory hashing and savestates.
    pub fn ram(&self) -> &[u8] {
        &self.ram
    }

    /// Put back saved RAM contents and routing (a savestate restore).
    /// Every page's decoded instructions become stale, as after a DMA
    /// write over all of memory. `ram` must be [`Memory::size`] bytes.
    pub fn restore(&mut self, ram: &[u8], pam: (u128, u128)) {
        self.ram.copy_from_slice(ram);
        (self.pam_read, self.pam_write) = pam;
        self.has_code.fill(false);
        for g in &mut self.generation {
            *g = g.wrapping_add(1);
        }
    }

    #[inline]
    fn note_write(&mut self, addr: u32, len: u32) {
        let first = (addr >> PAGE_SHIFT) as usize;
        let last = ((addr + (len - 1)) >> PAGE_SHIFT) as usize;
        for page in first..=last {
            if let Some(code) = self.has_code.get_mut(page) {
                if *code {
                    *code = false;
                    self.generation[page] = self.generation[page].wrapping_add(1);
                }
            }
        }
    }

    /// Record that instructions were decoded from the page holding `addr`;
    /// returns the page's current generation for the decoded record to carry.
    #[inline]
    pub fn mark_code(&mut self, addr: u32) -> u32 {
        let page = (addr >> PAGE_SHIFT) as usize;
        self.has_code[page] = true;
        self.generation[page]
    }

    /// The current generation of the page holding `addr` (0 outside RAM).
    #[inline]
    pub fn generation(&self, addr: u32) -> u32 {
        self.generation
            .get((addr >> PAGE_SHIFT) as usize)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_a_code_page_bumps_its_generation() {
        let mut m = Memory::new(64 * 1024);
        let g = m.mark_code(0x1234);
        m.write_u8(0x2000, 1); // another page: no change
        assert_eq!(m.generation(0x1234), g);
        m.write_u8(0x1FFF, 1);
        assert_ne!(m.generation(0x1234), g);
    }

    #[test]
    fn word_write_across_a_page_boundary_invalidates_both_pages() {
        let mut m = Memory::new(64 * 1024);
        let g1 = m.mark_code(0x1000);
        let g2 = m.mark_code(0x2000);
        m.write_le(0x1FFF, 2, 0xBEEF);
        assert_ne!(m.generation(0x1000), g1);
        assert_ne!(m.generation(0x2000), g2);
        assert_eq!(m.read_le(0x1FFF, 2), 0xBEEF);
    }

    #[test]
    fn pam_routes_the_shadow_window_per_page() {
        let mut m = Memory::new(1 << 20);
        assert!(m.readable(0xF0000, 4) && m.writable(0xF0000, 4));
        // Reads of 0xF0000-0xF0FFF from ROM, writes to RAM.
        m.set_pam(!(1u128 << 80), u128::MAX);
        assert!(!m.readable(0xF0000, 1) && m.writable(0xF0000, 1));
        assert!(m.rom_mapped(0xF0FFF) && !m.rom_mapped(0xF1000));
        assert!(
            !m.readable(0xEFFFE, 4),
            "a read straddling into the ROM page"
        );
        assert!(m.readable(0x9FFFC, 4) && m.readable(0x100000 - 0x1000 + 0x1000 - 4, 4));
    }

    #[test]
    fn outside_ram_reads_open_bus_and_drops_writes() {
        let mut m = Memory::new(4096);
        m.write_u8(0x10_0000, 5);
        assert_eq!(m.read_u8(0x10_0000), 0xFF);
        assert!(!m.in_ram(4095, 2));
        assert!(m.in_ram(4094, 2));
    }
}
