//! PCI configuration mechanism #1 and the i440FX-era chipset's own
//! functions: the 82441FX host bridge with its PAM registers and the 82371SB
//! (PIIX3) ISA bridge with its PIRQ routing (PCI Local Bus Specification
//! 2.1 §3.2.2.3.2; Intel 440FX PCIset datasheet 290549 §3; 82371FB/SB
//! datasheet 290550).
//!
//! Function config spaces are plain 256-byte images with a write mask per
//! byte, so a function is defined by its values and which bits software may
//! change; BARs answer the sizing protocol through their masks.

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;

/// The configuration address port (dword only) and data window.
pub const CONFIG_ADDRESS: u16 = 0xCF8;
pub const CONFIG_DATA: u16 = 0xCFC;

/// Bus/device/function packed as in CONFIG_ADDRESS bits 8-23.
pub const fn bdf(bus: u8, dev: u8, func: u8) -> u16 {
    ((bus as u16) << 8) | ((dev as u16 & 0x1F) << 3) | (func as u16 & 7)
}

/// A function's 256-byte configuration space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigSpace {
    #[serde(with = "serde_bytes256")]
    bytes: [u8; 256],
    /// Bits software may change, per byte.
    #[serde(with = "serde_bytes256")]
    writable: [u8; 256],
}

mod serde_bytes256 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 256], s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 256], D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        let mut out = [0u8; 256];
        let n = v.len().min(256);
        out[..n].copy_from_slice(&v[..n]);
        Ok(out)
    }
}

impl ConfigSpace {
    /// A type-0 header with the given IDs, class code (class, subclass,
    /// prog-if in bits 23-0) and header type.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, header_type: u8) -> ConfigSpace {
        let mut c = ConfigSpace {
            bytes: [0; 256],
            writable: [0; 256],
        };
        c.set16(0x00, vendor);
        c.set16(0x02, device);
        c.bytes[0x08] = revision;
        c.bytes[0x09] = class as u8;
        c.bytes[0x0A] = (class >> 8) as u8;
        c.bytes[0x0B] = (class >> 16) as u8;
        c.bytes[0x0E] = header_type;
        // Command: I/O, memory, bus master, and the parity/SERR bits.
        c.writable[0x04] = 0x47;
        c.writable[0x05] = 0x01;
        // Latency timer and interrupt line.
        c.writable[0x0D] = 0xFF;
        c.writable[0x3C] = 0xFF;
        c
    }

    pub fn set16(&mut self, off: usize, v: u16) {
        self.bytes[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    pub fn set32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn get8(&self, off: usize) -> u8 {
        self.bytes[off]
    }

    pub fn get32(&self, off: usize) -> u32 {
        u32::from_le_bytes([
            self.bytes[off],
            self.bytes[off + 1],
            self.bytes[off + 2],
            self.bytes[off + 3],
        ])
    }

    /// Make bits writable.
    pub fn allow(&mut self, off: usize, mask: u8) {
        self.writable[off] |= mask;
    }

    /// A BAR at `off` (0x10-0x24) of `size` bytes (a power of two): I/O
    /// (`io`) or 32-bit memory; the low bits encode the kind and the
    /// address bits below the size read as zero.
    pub fn bar(&mut self, off: usize, size: u32, io: bool, prefetchable: bool) {
        let size = size.max(if io { 4 } else { 16 }).next_power_of_two();
        let kind = if io {
            1
        } else if prefetchable {
            8
        } else {
            0
        };
        self.set32(off, kind);
        let mask = !(size - 1);
        for i in 0..4 {
            self.writable[off + i] = (mask >> (8 * i)) as u8;
        }
        // The kind bits never change.
        self.writable[off] &= if io { !3 } else { !0xF };
    }

    fn read(&self, off: u8, size: IoSize) -> u32 {
        let mut v = 0;
        for i in 0..size.bytes() {
            let o = off as usize + i as usize;
            let b = if o < 256 { self.bytes[o] } else { 0xFF };
            v |= (b as u32) << (8 * i);
        }
        v
    }

    fn write(&mut self, off: u8, size: IoSize, value: u32) {
        for i in 0..size.bytes() {
            let o = off as usize + i as usize;
            if o < 256 {
                let w = self.writable[o];
                let b = (value >> (8 * i)) as u8;
                self.bytes[o] = (self.bytes[o] & !w) | (b & w);
            }
        }
    }
}

/// The PAM registers of the 82441FX (0x59-0x5F): which pages of the
/// 0xC0000-0xFFFFF shadow window read from / write to DRAM.
pub const PAM0: usize = 0x59;

/// Decode PAM0-PAM6 into per-4 KiB-page masks (bit n = the page at
/// 0xC0000 + n × 4 KiB) of reads and writes that reach DRAM. Each nibble
/// controls 16 KiB (PAM0's high nibble the whole 64 KiB at 0xF0000):
/// bit 0 read enable, bit 1 write enable (440FX datasheet §3.2.18).
pub fn pam_masks(pam: &[u8; 7]) -> (u64, u64) {
    let mut read = 0u64;
    let mut write = 0u64;
    let mut apply = |first_page: u32, pages: u32, nibble: u8| {
        let bits = ((1u64 << pages) - 1) << first_page;
        if nibble & 1 != 0 {
            read |= bits;
        }
        if nibble & 2 != 0 {
            write |= bits;
        }
    };
    // 0xF0000-0xFFFFF: pages 48-63.
    apply(48, 16, pam[0] >> 4);
    for (i, &reg) in pam[1..].iter().enumerate() {
        let base = (i as u32) * 8; // each register: 2 × 16 KiB = 8 pages
        apply(base, 4, reg & 0xF);
        apply(base + 4, 4, reg >> 4);
    }
    (read, write)
}

/// The chipset's host bridge and ISA bridge on bus 0, plus any functions
/// the machine adds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PciHost {
    address: u32,
    /// (bus/device/function, config space), in slot order.
    functions: Vec<(u16, ConfigSpace)>,
}

/// 82441FX host bridge (00:00.0).
pub const HOST_BRIDGE: u16 = bdf(0, 0, 0);
/// 82371SB PIIX3 ISA bridge (00:01.0).
pub const ISA_BRIDGE: u16 = bdf(0, 1, 0);

impl Default for PciHost {
    fn default() -> Self {
        PciHost::new()
    }
}

impl PciHost {
    /// The i440FX/PIIX3 pair at power-on.
    pub fn new() -> PciHost {
        let mut host = ConfigSpace::new(0x8086, 0x1237, 0x06_00_00, 0x02, 0x00);
        for r in PAM0..PAM0 + 7 {
            host.allow(r, 0x33);
        }
        // SMRAM control (0x72): writable, power-on value 0x02.
        host.bytes[0x72] = 0x02;
        host.allow(0x72, 0x78);
        let mut isa = ConfigSpace::new(0x8086, 0x7000, 0x06_01_00, 0x00, 0x80);
        // PIRQA-D route control: disabled (bit 7) at power-on.
        for r in 0x60..0x64 {
            isa.bytes[r] = 0x80;
            isa.allow(r, 0x8F);
        }
        PciHost {
            address: 0,
            functions: vec![(HOST_BRIDGE, host), (ISA_BRIDGE, isa)],
        }
    }

    /// Add a function (e.g. the PIIX3 IDE function, the VGA).
    pub fn add_function(&mut self, bdf: u16, config: ConfigSpace) {
        self.functions.retain(|(b, _)| *b != bdf);
        self.functions.push((bdf, config));
    }

    pub fn function(&self, bdf: u16) -> Option<&ConfigSpace> {
        self.functions
            .iter()
            .find(|(b, _)| *b == bdf)
            .map(|(_, c)| c)
    }

    pub fn function_mut(&mut self, bdf: u16) -> Option<&mut ConfigSpace> {
        self.functions
            .iter_mut()
            .find(|(b, _)| *b == bdf)
            .map(|(_, c)| c)
    }

    /// The host bridge's PAM registers.
    pub fn pam(&self) -> [u8; 7] {
        let mut p = [0u8; 7];
        if let Some(h) = self.function(HOST_BRIDGE) {
            for (i, v) in p.iter_mut().enumerate() {
                *v = h.get8(PAM0 + i);
            }
        }
        p
    }

    /// The IRQ a PIRQ line (0-3) is routed to, if enabled.
    pub fn pirq_route(&self, pirq: usize) -> Option<u8> {
        let v = self.function(ISA_BRIDGE)?.get8(0x60 + pirq.min(3));
        (v & 0x80 == 0).then_some(v & 0x0F)
    }

    pub fn decodes(port: u16) -> bool {
        (CONFIG_ADDRESS..CONFIG_ADDRESS + 8).contains(&port)
    }

    /// The function and register CONFIG_ADDRESS selects, if enabled.
    fn selected(&self) -> Option<(u16, u8)> {
        if self.address & 0x8000_0000 == 0 {
            return None;
        }
        Some((
            ((self.address >> 8) & 0xFFFF) as u16,
            (self.address & 0xFC) as u8,
        ))
    }

    pub fn io_read(&mut self, port: u16, size: IoSize) -> u32 {
        if port == CONFIG_ADDRESS && size == IoSize::Dword {
            return self.address;
        }
        if port >= CONFIG_DATA {
            let lane = (port - CONFIG_DATA) as u8;
            if let Some((bdf, reg)) = self.selected() {
                // An absent function reads all ones (master abort).
                return self
                    .function(bdf)
                    .map_or(size.open_bus(), |c| c.read(reg + lane, size));
            }
        }
        size.open_bus()
    }

    pub fn io_write(&mut self, port: u16, size: IoSize, value: u32) {
        if port == CONFIG_ADDRESS && size == IoSize::Dword {
            self.address = value & 0x80FF_FFFC;
            return;
        }
        if port >= CONFIG_DATA {
            let lane = (port - CONFIG_DATA) as u8;
            if let Some((bdf, reg)) = self.selected() {
                if let Some(c) = self.function_mut(bdf) {
                    c.write(reg + lane, size, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pci: &mut PciHost, bdf: u16, reg: u8, size: IoSize) -> u32 {
        pci.io_write(
            CONFIG_ADDRESS,
            IoSize::Dword,
            0x8000_0000 | ((bdf as u32) << 8) | (reg as u32 & 0xFC),
        );
        pci.io_read(CONFIG_DATA + (reg & 3) as u16, size)
    }

    fn write(pci: &mut PciHost, bdf: u16, reg: u8, size: IoSize, v: u32) {
        pci.io_write(
            CONFIG_ADDRESS,
            IoSize::Dword,
            0x8000_0000 | ((bdf as u32) << 8) | (reg as u32 & 0xFC),
        );
        pci.io_write(CONFIG_DATA + (reg & 3) as u16, size, v);
    }

    #[test]
    fn mechanism_1_reads_the_host_bridge_ids() {
        let mut pci = PciHost::new();
        assert_eq!(read(&mut pci, HOST_BRIDGE, 0, IoSize::Dword), 0x1237_8086);
        assert_eq!(read(&mut pci, ISA_BRIDGE, 0, IoSize::Dword), 0x7000_8086);
        assert_eq!(
            read(&mut pci, ISA_BRIDGE, 0x0E, IoSize::Byte),
            0x80,
            "multi-function"
        );
        // No device at 00:05.0: all ones.
        assert_eq!(read(&mut pci, bdf(0, 5, 0), 0, IoSize::Dword), 0xFFFF_FFFF);
        // The address register reads back (reserved bits clear).
        pci.io_write(CONFIG_ADDRESS, IoSize::Dword, 0x8000_0103);
        assert_eq!(pci.io_read(CONFIG_ADDRESS, IoSize::Dword), 0x8000_0100);
    }

    #[test]
    fn read_only_fields_ignore_writes() {
        let mut pci = PciHost::new();
        write(&mut pci, HOST_BRIDGE, 0, IoSize::Dword, 0);
        assert_eq!(read(&mut pci, HOST_BRIDGE, 0, IoSize::Dword), 0x1237_8086);
    }

    #[test]
    fn pam_registers_route_the_shadow_window() {
        let mut pci = PciHost::new();
        assert_eq!(
            pam_masks(&pci.pam()),
            (0, 0),
            "power-on: all to the ROM/bus"
        );
        write(&mut pci, HOST_BRIDGE, 0x59, IoSize::Byte, 0x30); // F0000: RW DRAM
        write(&mut pci, HOST_BRIDGE, 0x5A, IoSize::Byte, 0x01); // C0000-C3FFF: read only
        let (r, w) = pam_masks(&pci.pam());
        assert_eq!(r, (0xFFFFu64 << 48) | 0xF);
        assert_eq!(w, 0xFFFFu64 << 48);
        // Reserved PAM bits stay clear.
        write(&mut pci, HOST_BRIDGE, 0x5B, IoSize::Byte, 0xFF);
        assert_eq!(read(&mut pci, HOST_BRIDGE, 0x5B, IoSize::Byte), 0x33);
    }

    #[test]
    fn bars_answer_the_sizing_protocol() {
        let mut c = ConfigSpace::new(0x1234, 0x1111, 0x03_00_00, 0, 0);
        c.bar(0x10, 16 << 20, false, true);
        let mut pci = PciHost::new();
        let vga = bdf(0, 2, 0);
        pci.add_function(vga, c);
        write(&mut pci, vga, 0x10, IoSize::Dword, 0xFFFF_FFFF);
        assert_eq!(read(&mut pci, vga, 0x10, IoSize::Dword), 0xFF00_0008);
        write(&mut pci, vga, 0x10, IoSize::Dword, 0xE000_0000);
        assert_eq!(read(&mut pci, vga, 0x10, IoSize::Dword), 0xE000_0008);
    }

    #[test]
    fn pirq_routes_start_disabled() {
        let mut pci = PciHost::new();
        assert_eq!(pci.pirq_route(0), None);
        write(&mut pci, ISA_BRIDGE, 0x60, IoSize::Byte, 0x0B);
        assert_eq!(pci.pirq_route(0), Some(11));
    }

    #[test]
    fn state_round_trips() {
        let mut pci = PciHost::new();
        write(&mut pci, HOST_BRIDGE, 0x59, IoSize::Byte, 0x30);
        let json = serde_json::to_string(&pci).unwrap();
        let back: PciHost = serde_json::from_str(&json).unwrap();
        assert_eq!(back.pam(), pci.pam());
    }
}
