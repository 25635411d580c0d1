//! What every device looks like to the machine, and the port decoder that
//! routes the CPU's port accesses to devices the way the ISA bus does.
//!
//! # Time
//!
//! Every call that can depend on time carries `now`, the guest time of the
//! access (see [`crate::clock`]). Times passed to one device never go
//! backwards; a device brings itself up to `now` before it acts, so port
//! accesses and [`Device::advance`] may come in any interleaving.
//!
//! # Interrupt lines
//!
//! A device reports the *level* of the ISA interrupt lines it drives, as a
//! mask of IRQ numbers 0-15 ([`Device::irq_levels`]), and
//! [`Device::advance`] also reports which lines *rose* on the way to the
//! new time. The platform ORs the masks and hands them to the 8259 pair:
//! a line that rose and is still high is an edge even if it was high
//! before the step too (it pulsed low in between: the 8254 in mode 2), and a
//! line that rose and fell again left nothing behind, as on the real
//! 8259A, which wants an edge-triggered request held until INTA. So one
//! call covers any stretch of time, and no pulse is lost however long the
//! CPU's batches are.
//!
//! [`Device::next_deadline`] is the next time a line will *rise* on its
//! own: the only kind of change that can raise the CPU's INTR. (A falling
//! line matters only at the next INTR sample, which comes after the
//! platform was brought to the current time.)

use crate::bus::IoSize;
use crate::clock::VirtualTime;

/// A mask of ISA interrupt lines: bit `n` is IRQ `n`.
pub type IrqMask = u16;

/// A chip on the bus.
///
/// Port accesses reach a device only at the ports it was mapped at and only
/// in the widths it was mapped for (see [`PortMap`]); anything wider arrives
/// already split. An access brings the device to its time, but reports no
/// interrupt edges: call [`Device::advance`] to the access's time first (the
/// platform does). No input a guest can produce may make a device panic.
///
/// Every implementation also derives `Serialize` and `Deserialize` for its
/// saved state (not part of the trait, which stays object-safe).
pub trait Device {
    /// Read `size` bytes at `port`; only the low `size` bytes of the result
    /// are used.
    fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32;

    /// Write the low `size` bytes of `value` at `port`.
    fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32);

    /// Read from a memory-mapped register window the device owns.
    fn mmio_read(&mut self, now: VirtualTime, addr: u32, size: IoSize) -> u32 {
        let _ = (now, addr);
        size.open_bus()
    }

    /// Write to a memory-mapped register window the device owns.
    fn mmio_write(&mut self, now: VirtualTime, addr: u32, size: IoSize, value: u32) {
        let _ = (now, addr, size, value);
    }

    /// Bring the device's state up to `now`: run its counters, set its
    /// flags, move its interrupt lines. Returns the lines that rose at any
    /// point after the time the device was at and up to `now`, including
    /// ones that fell again.
    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        let _ = now;
        0
    }

    /// The next time at which one of the device's interrupt lines will
    /// rise on its own, if nothing is written to it in between. Always
    /// later than the last time the device was brought to. `None`: nothing
    /// will happen until the guest acts.
    fn next_deadline(&self) -> Option<VirtualTime> {
        None
    }

    /// The levels of the interrupt lines the device drives, as of the last
    /// time it was brought to.
    fn irq_levels(&self) -> IrqMask {
        0
    }
}

/// Which access widths a device decodes natively at a port.
///
/// Every device takes byte accesses. An access wider than the device
/// decodes is split by the bus into accesses of half the width at
/// consecutive ports (a word into two bytes at `port` and `port + 1`, a
/// dword into two words or four bytes), each routed on its own: this is
/// what the AT bus controller does for 8-bit cards (no IOCS16#), and what
/// the CPU does when a 16-bit card sees a 32-bit access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccessWidths {
    word: bool,
    dword: bool,
}

impl AccessWidths {
    /// An 8-bit device: every wider access is split into bytes.
    pub const BYTE: AccessWidths = AccessWidths {
        word: false,
        dword: false,
    };
    /// A 16-bit device: dwords are split into words.
    pub const WORD: AccessWidths = AccessWidths {
        word: true,
        dword: false,
    };
    /// A device that decodes bytes, words and dwords.
    pub const DWORD: AccessWidths = AccessWidths {
        word: true,
        dword: true,
    };

    pub const fn accepts(self, size: IoSize) -> bool {
        match size {
            IoSize::Byte => true,
            IoSize::Word => self.word,
            IoSize::Dword => self.dword,
        }
    }
}

/// Why a port range could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConflict {
    /// The first port of the range that another device already decodes.
    pub port: u16,
}

impl std::fmt::Display for PortConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {:#06x} is already mapped", self.port)
    }
}

impl std::error::Error for PortConflict {}

/// The I/O address decoder: which device answers at each of the 65536
/// ports, and in which widths.
///
/// `Id` names a device to the map's owner (typically a small `enum`); the
/// map hands it back with each access and the owner dispatches. Unmapped
/// ports read 0xFF per byte and ignore writes: nothing drives the ISA data
/// bus, and its pull-ups read as ones.
#[derive(Clone, Debug)]
pub struct PortMap<Id: Copy> {
    /// For each port: 0 = unmapped, else 1 + index into `entries`.
    slots: Vec<u16>,
    entries: Vec<(Id, AccessWidths)>,
}

impl<Id: Copy> Default for PortMap<Id> {
    fn default() -> Self {
        PortMap::new()
    }
}

impl<Id: Copy> PortMap<Id> {
    pub fn new() -> PortMap<Id> {
        PortMap {
            slots: vec![0; 0x1_0000],
            entries: Vec::new(),
        }
    }

    /// Map `count` ports from `first` to the device `id`. Fails, changing
    /// nothing, if any of them is already mapped or the range runs past
    /// port 0xFFFF.
    pub fn map(
        &mut self,
        first: u16,
        count: u16,
        id: Id,
        widths: AccessWidths,
    ) -> Result<(), PortConflict> {
        let start = first as usize;
        let end = start + count as usize;
        if end > self.slots.len() {
            return Err(PortConflict { port: 0xFFFF });
        }
        if let Some(i) = (start..end).find(|&p| self.slots[p] != 0) {
            return Err(PortConflict { port: i as u16 });
        }
        if count == 0 {
            return Ok(());
        }
        if self.entries.len() >= u16::MAX as usize {
            // 65535 separate mappings of one port each; the last port
            // cannot get a slot number of its own.
            return Err(PortConflict { port: first });
        }
        self.entries.push((id, widths));
        let slot = self.entries.len() as u16;
        self.slots[start..end].fill(slot);
        Ok(())
    }

    /// The device at `port` and the widths it decodes there.
    pub fn lookup(&self, port: u16) -> Option<(Id, AccessWidths)> {
        match self.slots[port as usize] {
            0 => None,
            s => Some(self.entries[s as usize - 1]),
        }
    }

    /// Perform a read of `size` at `port`, splitting it as the bus does.
    /// `access` performs one device access the device decodes natively.
    pub fn read(
        &self,
        port: u16,
        size: IoSize,
        access: &mut impl FnMut(Id, u16, IoSize) -> u32,
    ) -> u32 {
        match self.lookup(port) {
            Some((id, widths)) if widths.accepts(size) => access(id, port, size) & size.open_bus(),
            _ => match half(size) {
                None => IoSize::Byte.open_bus(),
                Some(h) => {
                    let lo = self.read(port, h, access);
                    let hi = self.read(port.wrapping_add(h.bytes() as u16), h, access);
                    lo | hi << (8 * h.bytes())
                }
            },
        }
    }

    /// Perform a write of `size` at `port`, splitting it as the bus does.
    pub fn write(
        &self,
        port: u16,
        size: IoSize,
        value: u32,
        access: &mut impl FnMut(Id, u16, IoSize, u32),
    ) {
        let value = value & size.open_bus();
        match self.lookup(port) {
            Some((id, widths)) if widths.accepts(size) => access(id, port, size, value),
            _ => {
                if let Some(h) = half(size) {
                    let bits = 8 * h.bytes();
                    self.write(port, h, value & h.open_bus(), access);
                    self.write(
                        port.wrapping_add(h.bytes() as u16),
                        h,
                        value >> bits,
                        access,
                    );
                }
                // An unmapped byte: nobody latches it.
            }
        }
    }
}

/// The width a bus cycle of `size` splits into, if it can be split.
fn half(size: IoSize) -> Option<IoSize> {
    match size {
        IoSize::Byte => None,
        IoSize::Word => Some(IoSize::Byte),
        IoSize::Dword => Some(IoSize::Word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Dev {
        A,
        B,
    }

    fn map() -> PortMap<Dev> {
        let mut m = PortMap::new();
        m.map(0x60, 2, Dev::A, AccessWidths::BYTE).unwrap();
        m.map(0x1F0, 1, Dev::B, AccessWidths::WORD).unwrap();
        m.map(0xFFFF, 1, Dev::A, AccessWidths::BYTE).unwrap();
        m
    }

    #[test]
    fn byte_device_sees_words_and_dwords_as_bytes() {
        let m = map();
        let mut log = Vec::new();
        let v = m.read(0x60, IoSize::Dword, &mut |id, p, s| {
            log.push((id, p, s));
            0x10 + (p as u32 & 0xF)
        });
        // 0x60 and 0x61 from the device, 0x62 and 0x63 float.
        assert_eq!(v, 0xFFFF_1110);
        assert_eq!(
            log,
            vec![(Dev::A, 0x60, IoSize::Byte), (Dev::A, 0x61, IoSize::Byte)]
        );
    }

    #[test]
    fn word_device_takes_words_and_splits_dwords() {
        let m = map();
        let mut log = Vec::new();
        let v = m.read(0x1F0, IoSize::Dword, &mut |id, p, s| {
            log.push((id, p, s));
            0xABCD
        });
        // The upper word is at 0x1F2, which nothing decodes.
        assert_eq!(v, 0xFFFF_ABCD);
        assert_eq!(log, vec![(Dev::B, 0x1F0, IoSize::Word)]);
    }

    #[test]
    fn writes_split_into_the_right_bytes() {
        let m = map();
        let mut log = Vec::new();
        m.write(0x5F, IoSize::Dword, 0x4433_2211, &mut |id, p, s, v| {
            log.push((id, p, s, v))
        });
        assert_eq!(
            log,
            vec![
                (Dev::A, 0x60, IoSize::Byte, 0x22),
                (Dev::A, 0x61, IoSize::Byte, 0x33)
            ]
        );
    }

    #[test]
    fn unmapped_ports_float_high_and_accesses_wrap_at_64k() {
        let m = map();
        let mut calls = 0;
        assert_eq!(
            m.read(0x300, IoSize::Word, &mut |_, _, _| {
                calls += 1;
                0
            }),
            0xFFFF
        );
        assert_eq!(calls, 0);
        // A word at 0xFFFF: the device at 0xFFFF then port 0 (unmapped).
        let v = m.read(0xFFFF, IoSize::Word, &mut |_, _, _| 0x12);
        assert_eq!(v, 0xFF12);
    }

    #[test]
    fn device_results_are_truncated_to_the_access_size() {
        let m = map();
        assert_eq!(m.read(0x60, IoSize::Byte, &mut |_, _, _| 0x1234_5678), 0x78);
    }

    #[test]
    fn overlapping_maps_are_refused() {
        let mut m = map();
        assert_eq!(
            m.map(0x5F, 2, Dev::B, AccessWidths::BYTE),
            Err(PortConflict { port: 0x60 })
        );
        assert_eq!(m.lookup(0x5F), None);
        assert!(m.map(0xFFFF, 2, Dev::B, AccessWidths::BYTE).is_err());
        assert!(m.map(0x100, 0, Dev::B, AccessWidths::BYTE).is_ok());
    }
}
