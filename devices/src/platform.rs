//! The AT's core logic as one unit: the 8259 pair, the 8254 with port
//! 0x61, and the MC146818, on their ISA ports and interrupt lines, with the
//! scheduler that moves them through virtual time.
//!
//! The machine's run loop is (with `cpu_clock` the CPU's [`ClockRate`]):
//!
//! ```text
//! loop {
//!     let limit = platform.next_deadline().map(|d| cpu_clock.ticks_to_reach(d));
//!     cpu.run_until(limit, ...);      // HLT jumps the cycle count to `limit`
//!     platform.advance_to(cpu_clock.tick_time(cpu.cycles()));
//!     if cpu.interruptible() && platform.intr() {
//!         let vector = platform.acknowledge_interrupt();
//!         ...
//!     }
//! }
//! ```
//!
//! and the CPU's port accesses go to [`Platform::io_read`] and
//! [`Platform::io_write`] with the time of the access.
//!
//! [`ClockRate`]: crate::clock::ClockRate
//!
//! [`Platform::advance_to`] brings the chips to a time in one step however
//! far it is, and a line that pulsed on the way still reaches the PIC as an
//! edge (a mode 2 PIT pulse is one CLK long; a batch of CPU instructions
//! usually spans many). Port accesses bring the chips to the access's time
//! first, so a guest reading the PIT in a tight loop sees it count.

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::{earliest, VirtualTime};
use crate::device::{AccessWidths, Device, IrqMask, PortMap};
use crate::pic8259::DualPic;
use crate::pit8254::Pit8254;
use crate::rtc::{DateTime, Rtc};

/// Which chip decodes a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chip {
    Pic,
    Pit,
    Rtc,
}

/// The AT's interrupt controllers, timer and clock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Platform {
    pic: DualPic,
    pit: Pit8254,
    rtc: Rtc,
    /// Interrupt lines driven from outside (devices the machine owns).
    external_irqs: IrqMask,
    /// The line levels last handed to the PIC.
    lines: IrqMask,
    /// The time every chip has been brought to.
    now: VirtualTime,
    /// Configuration, not state: rebuilt on restore.
    #[serde(skip, default = "Platform::port_map")]
    ports: PortMap<Chip>,
}

impl Platform {
    /// The chips at power-on, the RTC showing `rtc_start`.
    pub fn new(rtc_start: DateTime) -> Platform {
        Platform::with_rtc(Rtc::new(rtc_start))
    }

    /// The chips at power-on around an RTC the machine set up (CMOS
    /// contents, start time).
    pub fn with_rtc(rtc: Rtc) -> Platform {
        let mut p = Platform {
            pic: DualPic::new(),
            pit: Pit8254::new(),
            rtc,
            external_irqs: 0,
            lines: 0,
            now: VirtualTime::ZERO,
            ports: Platform::port_map(),
        };
        p.sync_irqs();
        p
    }

    fn port_map() -> PortMap<Chip> {
        let mut m = PortMap::new();
        let byte = AccessWidths::BYTE;
        for (first, count, chip) in [
            (0x20, 2, Chip::Pic),
            (0xA0, 2, Chip::Pic),
            (0x4D0, 2, Chip::Pic),
            (0x40, 4, Chip::Pit),
            (0x61, 1, Chip::Pit),
            (0x70, 2, Chip::Rtc),
        ] {
            // The ranges are fixed and disjoint.
            let _ = m.map(first, count, chip, byte);
        }
        m
    }

    pub fn pic(&self) -> &DualPic {
        &self.pic
    }

    pub fn pit(&self) -> &Pit8254 {
        &self.pit
    }

    pub fn rtc(&self) -> &Rtc {
        &self.rtc
    }

    /// The RTC, for the machine to fill in CMOS (memory size, disks)
    /// before the guest runs.
    pub fn rtc_mut(&mut self) -> &mut Rtc {
        &mut self.rtc
    }

    /// The time the chips have been brought to.
    pub fn now(&self) -> VirtualTime {
        self.now
    }

    /// Whether one of the chips answers at `port` (the machine handles the
    /// others, or lets them float).
    pub fn decodes(&self, port: u16) -> bool {
        self.ports.lookup(port).is_some()
    }

    /// A port read at time `now`, of any width (split for the byte-wide
    /// chips as the ISA bus does; unassigned bytes read 0xFF).
    pub fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32 {
        self.advance_to(now);
        let t = self.now;
        let (pic, pit, rtc) = (&mut self.pic, &mut self.pit, &mut self.rtc);
        let v = self.ports.read(port, size, &mut |chip, p, s| match chip {
            Chip::Pic => pic.io_read(t, p, s),
            Chip::Pit => pit.io_read(t, p, s),
            Chip::Rtc => rtc.io_read(t, p, s),
        });
        // Reads have effects: RTC register C drops IRQ 8, a poll
        // acknowledges.
        self.sync_irqs();
        v
    }

    /// A port write at time `now`, of any width.
    pub fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32) {
        self.advance_to(now);
        let t = self.now;
        let (pic, pit, rtc) = (&mut self.pic, &mut self.pit, &mut self.rtc);
        self.ports
            .write(port, size, value, &mut |chip, p, s, v| match chip {
                Chip::Pic => pic.io_write(t, p, s, v),
                Chip::Pit => pit.io_write(t, p, s, v),
                Chip::Rtc => rtc.io_write(t, p, s, v),
            });
        self.sync_irqs();
    }

    /// The earliest time at which a chip's interrupt line rises on its
    /// own; `None` if none will until the guest acts. The CPU may run
    /// until then without missing an interrupt (HLT may skip to it).
    pub fn next_deadline(&self) -> Option<VirtualTime> {
        earliest([self.pit.next_deadline(), self.rtc.next_deadline()])
    }

    /// Bring every chip to `now` in one step, however far: a line that
    /// pulsed on the way is handed to the PIC as an edge. Earlier times are
    /// ignored (time never runs backwards). Call this before sampling
    /// [`Platform::intr`].
    pub fn advance_to(&mut self, now: VirtualTime) {
        self.step(now);
    }

    /// [`Platform::advance_to`], returning the lines that rose.
    fn step(&mut self, now: VirtualTime) -> IrqMask {
        if now <= self.now {
            return 0;
        }
        self.now = now;
        let before = self.lines;
        let rose = self.pit.advance(now) | self.rtc.advance(now);
        self.sync_irqs_with(rose);
        rose | (self.lines & !before)
    }

    fn sync_irqs(&mut self) {
        self.sync_irqs_with(0);
    }

    /// Hand the line levels to the PIC; `rose` are lines that rose at some
    /// point since the last hand-over.
    fn sync_irqs_with(&mut self, rose: IrqMask) {
        let levels = self.pit.irq_levels() | self.rtc.irq_levels() | self.external_irqs;
        // High before and after, with a rise in between: it pulsed low.
        let pulsed = rose & levels & self.lines;
        if pulsed != 0 {
            self.pic.set_irq_levels(self.lines & !pulsed);
        }
        if levels != self.lines || pulsed != 0 {
            self.lines = levels;
            self.pic.set_irq_levels(levels);
        }
    }

    /// Drive ISA interrupt line `irq` (0-15) from a device outside the
    /// platform. The level is ORed with the chips' own lines. IRQ 2 is the
    /// cascade and reaches nothing (an ISA card's IRQ2 pin is IRQ 9 on the
    /// AT); numbers above 15 are ignored.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        if irq < 16 {
            let bit = 1 << irq;
            if level {
                self.external_irqs |= bit;
            } else {
                self.external_irqs &= !bit;
            }
            self.sync_irqs();
        }
    }

    /// The CPU's INTR line (the master 8259's INT output).
    pub fn intr(&self) -> bool {
        self.pic.intr()
    }

    /// The interrupt-acknowledge cycle: the vector to dispatch. With no
    /// request left (it went away since INTR was sampled) this is the
    /// master's IR7 vector, the "spurious interrupt".
    pub fn acknowledge_interrupt(&mut self) -> u8 {
        self.pic.acknowledge()
    }

    /// NMI is masked by port 0x70 bit 7.
    pub fn nmi_disabled(&self) -> bool {
        self.rtc.nmi_disabled()
    }
}

impl Device for Platform {
    fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32 {
        Platform::io_read(self, now, port, size)
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32) {
        Platform::io_write(self, now, port, size, value)
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        self.step(now)
    }

    fn next_deadline(&self) -> Option<VirtualTime> {
        Platform::next_deadline(self)
    }

    fn irq_levels(&self) -> IrqMask {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::PIT_CLOCK;

    const START: DateTime = DateTime {
        year: 2024,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };

    fn outb(p: &mut Platform, port: u16, v: u8) {
        let now = p.now();
        p.io_write(now, port, IoSize::Byte, v as u32);
    }

    fn inb(p: &mut Platform, port: u16) -> u8 {
        let now = p.now();
        p.io_read(now, port, IoSize::Byte) as u8
    }

    /// What a BIOS does: PICs at 0x08/0x70, PIT counter 0 in `mode` with
    /// `count`.
    fn booted(mode: u8, count: u16) -> Platform {
        let mut p = Platform::new(START);
        for (port, v) in [
            (0x20, 0x11),
            (0x21, 0x08),
            (0x21, 0x04),
            (0x21, 0x01),
            (0xA0, 0x11),
            (0xA1, 0x70),
            (0xA1, 0x02),
            (0xA1, 0x01),
            (0x43, 0x30 | mode << 1),
            (0x40, count as u8),
            (0x40, (count >> 8) as u8),
        ] {
            outb(&mut p, port, v);
        }
        p
    }

    /// Run like a CPU that is always interruptible and whose handlers EOI
    /// at once; returns the vectors taken by `until`.
    fn run(p: &mut Platform, until: VirtualTime) -> Vec<u8> {
        let mut vectors = Vec::new();
        loop {
            let t = match p.next_deadline() {
                Some(d) if d <= until => d,
                _ => until,
            };
            p.advance_to(t);
            while p.intr() {
                let v = p.acknowledge_interrupt();
                if v >= 0x70 {
                    // An RTC handler reads register C, then EOIs both.
                    outb(p, 0x70, 0x0C);
                    inb(p, 0x71);
                    outb(p, 0xA0, 0x20);
                }
                outb(p, 0x20, 0x20);
                vectors.push(v);
            }
            if t == until {
                return vectors;
            }
        }
    }

    #[test]
    fn pit_irq0_reaches_the_cpu_at_the_programmed_rate() {
        // Mode 2, 1193 clocks: 1000.15 Hz.
        let mut p = booted(2, 1193);
        let v = run(&mut p, VirtualTime::from_secs(1));
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|&v| v == 0x08));
        // Mode 3 at 18.2 Hz.
        let mut p = booted(3, 0);
        assert_eq!(run(&mut p, VirtualTime::from_secs(10)).len(), 182);
    }

    #[test]
    fn a_one_clock_pulse_is_latched_however_long_the_batch() {
        let mut p = booted(2, 1193);
        // One big step over many periods: the edges were seen and one
        // interrupt waits (edge requests do not queue up).
        p.advance_to(VirtualTime::from_millis(10));
        assert!(p.intr());
        assert_eq!(p.acknowledge_interrupt(), 0x08);
        assert!(!p.intr());
    }

    #[test]
    fn rtc_interrupts_come_through_the_slave() {
        let mut p = booted(0, 0);
        // Update-ended interrupts only.
        outb(&mut p, 0x70, 0x0A);
        outb(&mut p, 0x71, 0x20);
        outb(&mut p, 0x70, 0x0B);
        outb(&mut p, 0x71, 0x12);
        // Mode 0 with count 0 gives one IRQ 0 at 54.9 ms.
        let v = run(&mut p, VirtualTime::from_millis(3500));
        assert_eq!(v, [0x08, 0x70, 0x70, 0x70]);
        assert_eq!(p.rtc().datetime().second, 3);
    }

    #[test]
    fn wide_accesses_split_into_bytes_and_unassigned_ports_float() {
        let mut p = Platform::new(START);
        // OUT 0x70, AX: index from AL, data from AH.
        p.io_write(VirtualTime::ZERO, 0x70, IoSize::Word, 0x5A0F);
        assert_eq!(p.rtc().cmos(0x0F), 0x5A);
        // IN EAX, 0x70: 0x70 floats, 0x71 is register 0x0F, 0x72-0x73 float.
        assert_eq!(
            p.io_read(VirtualTime::ZERO, 0x70, IoSize::Dword),
            0xFFFF_5AFF
        );
        assert_eq!(p.io_read(VirtualTime::ZERO, 0x3F8, IoSize::Byte), 0xFF);
        assert_eq!(p.io_read(VirtualTime::ZERO, 0x3F8, IoSize::Dword), !0);
        p.io_write(VirtualTime::ZERO, 0x3F8, IoSize::Dword, 0);
        assert!(p.decodes(0x61) && p.decodes(0x4D1) && !p.decodes(0x62));
    }

    #[test]
    fn pit_reads_count_down_between_deadlines() {
        let mut p = booted(2, 1000);
        let t = |k: u64| PIT_CLOCK.tick_time(k);
        let read = |p: &mut Platform, k| {
            p.io_write(t(k), 0x43, IoSize::Byte, 0x00);
            let lo = p.io_read(t(k), 0x40, IoSize::Byte);
            let hi = p.io_read(t(k), 0x40, IoSize::Byte);
            hi << 8 | lo
        };
        assert_eq!(read(&mut p, 100), 901);
        assert_eq!(read(&mut p, 101), 900);
    }

    #[test]
    fn external_lines_and_nmi_mask() {
        let mut p = booted(0, 0xFFFF);
        p.set_irq(4, true);
        assert!(p.intr());
        assert_eq!(p.acknowledge_interrupt(), 0x0C);
        p.set_irq(4, false);
        p.set_irq(99, true);
        outb(&mut p, 0x70, 0x80);
        assert!(p.nmi_disabled());
    }

    #[test]
    fn same_inputs_same_run() {
        let script = |p: &mut Platform| {
            let mut trace = Vec::new();
            for i in 0..200u64 {
                let t = VirtualTime::from_micros(i * 997);
                p.io_write(t, 0x43, IoSize::Byte, 0xC2);
                trace.push(p.io_read(t, 0x40, IoSize::Word));
                trace.extend(run(p, t).iter().map(|&v| v as u32));
            }
            trace
        };
        let mut a = booted(3, 5000);
        let mut b = booted(3, 5000);
        assert_eq!(script(&mut a), script(&mut b));
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut p = booted(2, 3000);
        outb(&mut p, 0x70, 0x0B);
        outb(&mut p, 0x71, 0x42); // periodic interrupts at 1024 Hz
        p.set_irq(5, true);
        run(&mut p, VirtualTime::from_millis(5));
        p.advance_to(VirtualTime::from_nanos(5_123_456));
        let json = serde_json::to_string(&p).unwrap();
        let mut q: Platform = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), json);
        let until = VirtualTime::from_millis(50);
        assert_eq!(run(&mut p, until), run(&mut q, until));
        assert_eq!(
            q.io_read(until, 0x20, IoSize::Byte),
            p.io_read(until, 0x20, IoSize::Byte)
        );
        assert!(q.decodes(0x40));
    }
}
