//! The interface between the CPU and the rest of the machine.

/// Width of a port or MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoSize {
    Byte = 1,
    Word = 2,
    Dword = 4,
}

impl IoSize {
    /// All-ones value of this width: what an undriven ISA bus reads as.
    pub const fn open_bus(self) -> u32 {
        match self {
            IoSize::Byte => 0xFF,
            IoSize::Word => 0xFFFF,
            IoSize::Dword => 0xFFFF_FFFF,
        }
    }

    pub const fn bytes(self) -> u32 {
        self as u32
    }
}

/// Port I/O and memory-mapped I/O as the CPU sees them.
///
/// Values are zero-extended to `u32`; implementations return only the low
/// `size` bytes and ignore the upper bytes of written values.
pub trait Bus {
    fn io_read(&mut self, port: u16, size: IoSize) -> u32;
    fn io_write(&mut self, port: u16, size: IoSize, value: u32);

    /// Read from an MMIO window. `addr` is a physical address that the memory
    /// map has routed to the bus (it is not RAM or ROM).
    fn mmio_read(&mut self, addr: u32, size: IoSize) -> u32 {
        let _ = addr;
        size.open_bus()
    }

    fn mmio_write(&mut self, addr: u32, size: IoSize, value: u32) {
        let _ = (addr, size, value);
    }

    /// A byte of bus memory as a debugger reads it: ROM contents, without
    /// the side effects a CPU read can have (the VGA's latches). `None`
    /// where nothing can be read that way.
    fn peek(&self, addr: u32) -> Option<u8> {
        let _ = addr;
        None
    }

    /// The CPU's cycle counter at the access that follows: the CPU calls
    /// this before every port or MMIO access so devices see the guest time
    /// of the access, not of the start of the batch.
    fn sync_cycles(&mut self, cycles: u64) {
        let _ = cycles;
    }

    /// A device asked the machine to stop (QEMU's isa-debug-exit, a reset
    /// request): the CPU ends its run at the next instruction boundary.
    fn stop_requested(&self) -> bool {
        false
    }

    /// The A20 gate (the 8042's output port or port 0x92): when false, the
    /// CPU forces physical address bit 20 to zero.
    fn a20_enabled(&self) -> bool {
        true
    }

    /// The chipset's routing of the legacy window 0xA0000-0xFFFFF (the VGA
    /// hole, PAM shadow RAM): per 4 KiB page (bit n = 0xA0000 + n × 4 KiB),
    /// whether reads and writes reach RAM. `None`: no chipset, all RAM.
    fn shadow_map(&self) -> Option<(u128, u128)> {
        None
    }

    /// Whether a maskable interrupt request is asserted on the CPU's INTR
    /// line (the 8259's output).
    fn interrupt_pending(&self) -> bool {
        false
    }

    /// Whether [`Bus::interrupt_pending`] can change only between
    /// instructions (the machine advances its devices there) and never
    /// while RAM-only accesses of one instruction run. A REP string
    /// instruction may then move whole blocks between its interrupt
    /// checks; otherwise it checks after every iteration.
    fn interrupts_settle_between_instructions(&self) -> bool {
        false
    }

    /// The interrupt-acknowledge cycle: returns the vector the controller
    /// supplies.
    fn acknowledge_interrupt(&mut self) -> u8 {
        0xFF
    }
}

/// Guest physical memory as a DMA engine sees it (the IDE bus master, the
/// 8237): the machine implements it over RAM, tests over a `Vec`.
pub trait DmaMemory {
    /// Read `buf.len()` bytes at `addr` (addresses wrap at 4 GiB).
    fn read(&mut self, addr: u32, buf: &mut [u8]);
    /// Write `data` at `addr`.
    fn write(&mut self, addr: u32, data: &[u8]);
}

/// A flat memory from address 0, for tests and simple machines: reads
/// beyond its end float high, writes beyond it are dropped.
impl DmaMemory for Vec<u8> {
    fn read(&mut self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self
                .get(addr.wrapping_add(i as u32) as usize)
                .copied()
                .unwrap_or(0xFF);
        }
    }

    fn write(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            if let Some(m) = self.get_mut(addr.wrapping_add(i as u32) as usize) {
                *m = b;
            }
        }
    }
}

/// A bus with nothing on it: every read floats high, every write is dropped.
/// Used by the conformance runners (SingleStepTests expect 0xFF from `IN`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullBus;

impl Bus for NullBus {
    fn io_read(&mut self, _port: u16, size: IoSize) -> u32 {
        size.open_bus()
    }

    fn io_write(&mut self, _port: u16, _size: IoSize, _value: u32) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_bus_reads_open_bus_of_each_width() {
        let mut bus = NullBus;
        assert_eq!(bus.io_read(0x60, IoSize::Byte), 0xFF);
        assert_eq!(bus.io_read(0x60, IoSize::Word), 0xFFFF);
        assert_eq!(bus.io_read(0x60, IoSize::Dword), 0xFFFF_FFFF);
        assert_eq!(bus.mmio_read(0xA0000, IoSize::Word), 0xFFFF);
    }
}
