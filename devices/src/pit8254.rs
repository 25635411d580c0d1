//! The Intel 8254 programmable interval timer, and the AT's system control
//! port B (0x61) that gates its counter 2 and reads its output.
//!
//! Reference: Intel, "82C54 CHMOS Programmable Interval Timer", order no.
//! 231244-006 (October 1994): §"Functional description" (counter
//! structure, null count, the read-back command), §"Mode definitions"
//! (modes 0-5, figures 16-21) and §"Operation common to all modes" (gate
//! sampling, count loading). Port 0x61: IBM PC/AT technical reference,
//! "System board I/O", and the PIIX4 datasheet (order no. 290562-001)
//! §4.7.1 "NMI status and control register".
//!
//! On the PC the counters are clocked at 1.193182 MHz
//! ([`crate::clock::PIT_CLOCK`]). Counter 0's OUT drives IRQ 0; counter 1
//! requests DRAM refresh; counter 2's GATE is bit 0 of port 0x61 and its
//! OUT feeds the speaker (through bit 1) and reads back as bit 5.
//!
//! # How time is kept
//!
//! A counter is not ticked. It records the CLK pulse on which its count
//! was loaded and computes its count and OUT at any later pulse from the
//! mode's waveform, so reads are exact at any time, the next rise of OUT0
//! (the device's deadline) is computed, not searched for, and whether OUT0
//! pulsed during a long step is known without walking it. Pulse `k` is the
//! `k`-th rising CLK edge since power-on, at
//! `PIT_CLOCK.tick_time(k)`; a write at a time when `k` pulses have
//! happened takes effect on pulse `k + 1`, as the datasheet's "the count is
//! loaded on the next CLK pulse".
//!
//! Simplifications (none visible to PC software that we know of): GATE is
//! sampled at the time of the port 0x61 write rather than on the next CLK
//! edge; in mode 0 the first byte of a two-byte count always stops the
//! counter (the 8254 behaviour; the 82C54 keeps counting if the counter has
//! already rolled over); the refresh toggle of port 0x61 bit 4 follows a
//! fixed 18-clock (15.085 µs) period, the rate every AT BIOS programs counter
//! 1 to, not counter 1 itself.

use serde::{Deserialize, Serialize};

use crate::bcd::{from_bcd16, to_bcd16};
use crate::bus::IoSize;
use crate::clock::{VirtualTime, PIT_CLOCK};
use crate::device::{Device, IrqMask};

/// Counter 0's data port; counters 1 and 2 follow.
pub const PIT_COUNTER0: u16 = 0x40;
/// The control word register (write-only).
pub const PIT_CONTROL: u16 = 0x43;
/// System control port B.
pub const SYSTEM_CONTROL_B: u16 = 0x61;

/// The interrupt line counter 0 drives.
pub const PIT_IRQ: u8 = 0;

/// Port 0x61 bits.
const P61_GATE2: u8 = 0x01;
const P61_SPEAKER: u8 = 0x02;
/// The bits of port 0x61 that are read/write (gate, speaker, and the
/// parity/channel-check enables).
const P61_WRITABLE: u8 = 0x0F;
const P61_REFRESH: u8 = 0x10;
const P61_OUT2: u8 = 0x20;

/// PIT clocks per refresh toggle (counter 1 in mode 2 with count 18).
const REFRESH_PERIOD: u64 = 18;

/// How the counter's count is read and written (control word RW1, RW0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Access {
    Lsb,
    Msb,
    LsbMsb,
}

/// A stretch of counting: `n` was loaded into the counting element on CLK
/// pulse `start`, and the counter has counted without interruption since.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Segment {
    start: u64,
    /// The value loaded: 1 ..= 65536 (binary) or 10000 (BCD), or a held
    /// count being resumed (0 possible, then `armed` is false).
    n: u32,
    /// Mode 3 only: pulses into the square wave at which `start` falls
    /// (0 = start of the high half).
    offset: u32,
    /// The terminal count has not been reached in this count (modes 0, 1,
    /// 4 and 5 signal it once).
    armed: bool,
    /// OUT between the write (or trigger) and the loading pulse: low in
    /// mode 0, else whatever it was (a retriggered mode 1 one-shot stays
    /// low).
    lead: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Run {
    /// Nothing to count: after a control word; in modes 1 and 5 until a
    /// trigger; in mode 0 between the two bytes of a count; in modes 2 and
    /// 3 while GATE is low. `ce` is what a read returns.
    Idle {
        ce: u32,
    },
    /// Modes 0 and 4 with GATE low: a count is loaded but suspended.
    Held {
        ce: u32,
        armed: bool,
    },
    Counting(Segment),
}

/// The null count flag of the status byte: set from the writing of a count
/// (or control word) until the count is loaded into the counting element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum NullCount {
    Clear,
    /// Clears on CLK pulse `n`.
    Until(u64),
    /// Stays set until a trigger or a GATE edge loads a count.
    Set,
}

/// One of the three counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    /// The low six bits of the last control word (RW, mode, BCD), as the
    /// status byte returns them.
    control: u8,
    mode: u8,
    access: Access,
    bcd: bool,
    /// The count register as written (BCD digits in BCD mode).
    cr: u16,
    /// A complete count has been written since the control word.
    cr_valid: bool,
    write_msb_next: bool,
    read_msb_next: bool,
    /// The output latch, holding a latched count until it is read.
    latch: Option<u16>,
    /// A latched status byte, returned before anything else.
    status: Option<u8>,
    null_count: NullCount,
    gate: bool,
    run: Run,
    /// Modes 2 and 3: a count written while counting, loaded at the end of
    /// the current period (mode 2) or half-period (mode 3).
    pending: Option<Segment>,
}

impl Counter {
    /// The power-on state. The datasheet leaves it undefined; this one is
    /// "mode 3, LSB then MSB, binary, no count yet", so OUT is high and no
    /// edge reaches the PIC until the firmware programs the counter.
    fn new(gate: bool) -> Counter {
        Counter {
            control: 0x36,
            mode: 3,
            access: Access::LsbMsb,
            bcd: false,
            cr: 0,
            cr_valid: false,
            write_msb_next: false,
            read_msb_next: false,
            latch: None,
            status: None,
            null_count: NullCount::Set,
            gate,
            run: Run::Idle { ce: 0 },
            pending: None,
        }
    }

    /// The counter's modulus: it counts 16 binary bits or four decades.
    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    /// The count register as a number; 0 stands for the modulus.
    fn initial(&self) -> u32 {
        let n = if self.bcd {
            from_bcd16(self.cr)
        } else {
            self.cr as u32
        };
        if n == 0 {
            self.modulus() as u32
        } else {
            n
        }
    }

    /// Load a count written (or triggered) at pulse `k` on the next pulse.
    fn fresh(&self, k: u64) -> Segment {
        Segment {
            start: k + 1,
            n: self.initial(),
            offset: 0,
            armed: true,
            lead: self.mode != 0 && self.out(k),
        }
    }

    /// Let a pending reload take over once its pulse has come.
    fn promote(&mut self, k: u64) {
        if let Some(p) = self.pending {
            if k >= p.start {
                self.run = Run::Counting(p);
                self.pending = None;
            }
        }
    }

    /// The segment in force at pulse `k`.
    fn segment_at(&self, k: u64) -> Option<Segment> {
        match (self.run, self.pending) {
            (Run::Counting(_), Some(p)) if k >= p.start => Some(p),
            (Run::Counting(s), _) => Some(s),
            _ => None,
        }
    }

    /// The counting element (as a number, before BCD encoding) and OUT at
    /// pulse `k`.
    fn state_at(&self, k: u64) -> (u32, bool) {
        let m = self.modulus();
        let (ce, out) = match self.run {
            Run::Idle { ce } => (ce as u64, self.mode != 0),
            Run::Held { ce, armed } => (ce as u64, self.mode != 0 || !armed),
            Run::Counting(_) => {
                // segment_at is Some whenever run is Counting.
                let seg = self.segment_at(k).unwrap_or(Segment {
                    start: k,
                    n: 0,
                    offset: 0,
                    armed: false,
                    lead: true,
                });
                let (ce, out) = eval(self.mode, &seg, k, m);
                (ce, out)
            }
        };
        ((ce % m) as u32, out)
    }

    fn out(&self, k: u64) -> bool {
        self.state_at(k).1
    }

    /// The count as the guest reads it.
    fn encoded_count(&self, k: u64) -> u16 {
        let ce = self.state_at(k).0;
        if self.bcd {
            to_bcd16(ce)
        } else {
            ce as u16
        }
    }

    fn null_count_at(&self, k: u64) -> bool {
        match self.null_count {
            NullCount::Clear => false,
            NullCount::Until(p) => k < p,
            NullCount::Set => true,
        }
    }

    /// The first pulse after `k` at which OUT changes, if nothing is
    /// written to the counter in between.
    fn next_out_change(&self, k: u64) -> Option<u64> {
        let Run::Counting(seg) = self.run else {
            return None;
        };
        let m = self.modulus();
        match self.pending {
            Some(p) if k >= p.start => next_change(self.mode, &p, k, m),
            Some(p) => {
                let first = next_change(self.mode, &seg, k, m);
                if first.is_some_and(|f| f < p.start) {
                    return first;
                }
                // OUT is steady under the old count until the reload.
                if eval(self.mode, &p, p.start, m).1 != self.out(k) {
                    Some(p.start)
                } else {
                    next_change(self.mode, &p, p.start, m)
                }
            }
            None => next_change(self.mode, &seg, k, m),
        }
    }

    /// The first pulse after `k` at which OUT rises.
    fn next_rise(&self, k: u64) -> Option<u64> {
        let c = self.next_out_change(k)?;
        if self.out(c) {
            Some(c)
        } else {
            // Changes alternate: the one after a fall is a rise.
            self.next_out_change(c)
        }
    }

    /// Whether OUT rises at some pulse in `k0 + 1 ..= k1` (with the
    /// counter as it stands, before any pending reload is promoted).
    fn rose_between(&self, k0: u64, k1: u64) -> bool {
        k1 > k0 && self.next_rise(k0).is_some_and(|r| r <= k1)
    }

    /// A control word for this counter (not a latch command).
    fn write_control(&mut self, value: u8, k: u64) {
        tracing::debug!(target: "oxbox::pit", "control word {value:#04x}");
        self.promote(k);
        let ce = self.state_at(k).0;
        self.control = value & 0x3F;
        self.access = match (value >> 4) & 3 {
            1 => Access::Lsb,
            2 => Access::Msb,
            _ => Access::LsbMsb,
        };
        // M2 is "don't care" for modes 2 and 3: 6 and 7 are 2 and 3.
        let mode = (value >> 1) & 7;
        self.mode = if mode >= 6 { mode - 4 } else { mode };
        self.bcd = value & 1 != 0;
        self.cr_valid = false;
        self.write_msb_next = false;
        self.read_msb_next = false;
        self.latch = None;
        self.status = None;
        self.null_count = NullCount::Set;
        self.pending = None;
        // "When a control word is written to a counter, all control logic
        // is immediately reset and OUT goes to a known initial state": low
        // in mode 0, high in the others (Idle says which).
        self.run = Run::Idle { ce };
    }

    fn write_count(&mut self, value: u8, k: u64) {
        self.promote(k);
        match self.access {
            Access::Lsb => self.cr = value as u16,
            Access::Msb => self.cr = (value as u16) << 8,
            Access::LsbMsb if !self.write_msb_next => {
                self.cr = (self.cr & 0xFF00) | value as u16;
                self.write_msb_next = true;
                if self.mode == 0 {
                    // Mode 0: the first byte stops the count and sets OUT
                    // low at once.
                    let ce = self.state_at(k).0;
                    self.run = Run::Idle { ce };
                }
                return;
            }
            Access::LsbMsb => {
                self.cr = (self.cr & 0x00FF) | (value as u16) << 8;
                self.write_msb_next = false;
            }
        }
        self.count_written(k);
    }

    /// A complete count has been written at pulse `k`.
    fn count_written(&mut self, k: u64) {
        self.cr_valid = true;
        let seg = self.fresh(k);
        match self.mode {
            0 | 4 => {
                // Loaded on the next pulse whatever GATE is; GATE low only
                // stops the counting.
                self.null_count = NullCount::Until(seg.start);
                self.run = if self.gate {
                    Run::Counting(seg)
                } else {
                    Run::Held {
                        ce: seg.n,
                        armed: true,
                    }
                };
            }
            // Modes 1 and 5 wait for a trigger; a count in progress
            // is not disturbed.
            1 | 5 => self.null_count = NullCount::Set,
            _ => match self.run {
                Run::Counting(cur) if self.gate && k >= cur.start => {
                    // Modes 2 and 3: the new count takes over at the end of
                    // the current (half-)period.
                    let m = self.modulus();
                    let (reload, offset) = if self.mode == 2 {
                        let n = cur.n.max(1) as u64;
                        (cur.start + ((k - cur.start) / n + 1) * n, 0)
                    } else {
                        match next_change(3, &cur, k, m) {
                            // OUT toggles at `r`; the new count starts in
                            // the half OUT toggles into.
                            Some(r) if eval(3, &cur, k, m).1 => (r, seg.n.div_ceil(2)),
                            Some(r) => (r, 0),
                            // A count of 1 never toggles: load it next.
                            None => (k + 1, 0),
                        }
                    };
                    self.pending = Some(Segment {
                        start: reload,
                        offset,
                        ..seg
                    });
                    self.null_count = NullCount::Until(reload);
                }
                _ if self.gate => {
                    // First count, or one written before the previous one
                    // was even loaded.
                    self.pending = None;
                    self.run = Run::Counting(seg);
                    self.null_count = NullCount::Until(seg.start);
                }
                // GATE low: the count loads on GATE's rising edge.
                _ => self.null_count = NullCount::Set,
            },
        }
    }

    fn set_gate(&mut self, level: bool, k: u64) {
        self.promote(k);
        if level == self.gate {
            return;
        }
        self.gate = level;
        match self.mode {
            0 | 4 => match (level, self.run) {
                (false, Run::Counting(seg)) => {
                    // Before the terminal count the remaining count is kept
                    // unreduced (a full 65536 must not become 0); after it,
                    // the wrapped-around value.
                    let (ce, armed) = if k < seg.start {
                        (seg.n, seg.armed)
                    } else if seg.armed && k - seg.start < seg.n as u64 {
                        (seg.n - (k - seg.start) as u32, true)
                    } else {
                        (self.state_at(k).0, false)
                    };
                    self.run = Run::Held { ce, armed };
                }
                (true, Run::Held { ce, armed }) => {
                    self.run = Run::Counting(Segment {
                        start: k,
                        n: ce,
                        offset: 0,
                        armed,
                        lead: true,
                    });
                }
                _ => {}
            },
            // A trigger (rising edge) starts or restarts the count.
            1 | 5 => {
                if level && self.cr_valid {
                    let seg = self.fresh(k);
                    self.run = Run::Counting(seg);
                    self.null_count = NullCount::Until(seg.start);
                }
            }
            // Modes 2 and 3: GATE low stops the counter and forces OUT
            // high; the rising edge reloads the count.
            _ => {
                if !level {
                    let ce = self.state_at(k).0;
                    self.pending = None;
                    self.run = Run::Idle { ce };
                } else if self.cr_valid {
                    let seg = self.fresh(k);
                    self.run = Run::Counting(seg);
                    self.null_count = NullCount::Until(seg.start);
                }
            }
        }
    }

    fn latch_count(&mut self, k: u64) {
        self.promote(k);
        // A second latch before the first is read is ignored.
        if self.latch.is_none() {
            self.latch = Some(self.encoded_count(k));
        }
    }

    fn latch_status(&mut self, k: u64) {
        self.promote(k);
        if self.status.is_none() {
            let out = (self.out(k) as u8) << 7;
            let null = (self.null_count_at(k) as u8) << 6;
            self.status = Some(out | null | self.control);
        }
    }

    fn read(&mut self, k: u64) -> u8 {
        self.promote(k);
        if let Some(s) = self.status.take() {
            return s;
        }
        let value = self.latch.unwrap_or_else(|| self.encoded_count(k));
        match self.access {
            Access::Lsb => {
                self.latch = None;
                value as u8
            }
            Access::Msb => {
                self.latch = None;
                (value >> 8) as u8
            }
            Access::LsbMsb if !self.read_msb_next => {
                self.read_msb_next = true;
                value as u8
            }
            Access::LsbMsb => {
                self.read_msb_next = false;
                self.latch = None;
                (value >> 8) as u8
            }
        }
    }
}

/// The counting element and OUT of a segment at pulse `k` (datasheet
/// figures 16-21). `m` is the counter's modulus; the count is returned
/// unreduced.
fn eval(mode: u8, seg: &Segment, k: u64, m: u64) -> (u64, bool) {
    let n = seg.n as u64;
    if k < seg.start {
        return (n, seg.lead);
    }
    let d = k - seg.start;
    let down = (n + m - d % m) % m;
    match mode {
        0 | 1 => (down, !(seg.armed && d < n)),
        4 | 5 => (down, !(seg.armed && d == n)),
        2 => {
            // A count of 1 is illegal in mode 2; OUT stays high.
            if n <= 1 {
                return (n, true);
            }
            let p = d % n;
            (n - p, p != n - 1)
        }
        _ => {
            // Mode 3. Even n: n, n-2, ... in each half. Odd n: OUT high
            // for (n+1)/2 pulses and low for (n-1)/2, counting from n-1 by
            // twos in each half. A count of 1 never goes low.
            if n <= 1 {
                return (n, true);
            }
            let p = (d + seg.offset as u64) % n;
            let hi = n.div_ceil(2);
            let (q, out) = if p < hi { (p, true) } else { (p - hi, false) };
            let ce = if n.is_multiple_of(2) {
                n - 2 * q
            } else {
                n - 1 - 2 * q
            };
            (ce, out)
        }
    }
}

/// The first pulse after `k` at which a segment's OUT changes.
fn next_change(mode: u8, seg: &Segment, k: u64, m: u64) -> Option<u64> {
    let n = seg.n as u64;
    if k < seg.start {
        let before = eval(mode, seg, k, m).1;
        return if eval(mode, seg, seg.start, m).1 != before {
            Some(seg.start)
        } else {
            next_change(mode, seg, seg.start, m)
        };
    }
    let d = k - seg.start;
    match mode {
        0 | 1 => (seg.armed && d < n).then_some(seg.start + n),
        4 | 5 => {
            if !seg.armed || d > n {
                None
            } else if d < n {
                Some(seg.start + n)
            } else {
                Some(seg.start + n + 1)
            }
        }
        2 => {
            if n <= 1 {
                return None;
            }
            let p = d % n;
            Some(if p < n - 1 { k + (n - 1 - p) } else { k + 1 })
        }
        _ => {
            if n <= 1 {
                return None;
            }
            let p = (d + seg.offset as u64) % n;
            let hi = n.div_ceil(2);
            Some(if p < hi { k + (hi - p) } else { k + (n - p) })
        }
    }
}

/// The 8254 with port 0x61.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pit8254 {
    counters: [Counter; 3],
    /// Port 0x61 bits 0-3 as last written.
    port61: u8,
    /// The time the chip has been brought to.
    now: VirtualTime,
}

impl Default for Pit8254 {
    fn default() -> Self {
        Pit8254::new()
    }
}

impl Pit8254 {
    /// The power-on state: no counter programmed, every OUT high, counter
    /// 2's gate (port 0x61 bit 0) low.
    pub fn new() -> Pit8254 {
        Pit8254 {
            // GATE of counters 0 and 1 is tied high on the PC.
            counters: [Counter::new(true), Counter::new(true), Counter::new(false)],
            port61: 0,
            now: VirtualTime::ZERO,
        }
    }

    /// CLK pulses since power-on as of the time the chip was brought to.
    fn pulses(&self) -> u64 {
        PIT_CLOCK.ticks_at(self.now)
    }

    /// Bring the chip to `now`; returns the current pulse count and
    /// whether OUT0 rose on the way.
    fn catch_up(&mut self, now: VirtualTime) -> (u64, bool) {
        let k0 = self.pulses();
        self.now = self.now.max(now);
        let k = self.pulses();
        let rose = self.counters[0].rose_between(k0, k);
        for c in &mut self.counters {
            c.promote(k);
        }
        (k, rose)
    }

    /// OUT of counter `index` (0-2) as of the last time the chip was
    /// brought to.
    pub fn out(&self, index: usize) -> bool {
        self.counters
            .get(index)
            .is_some_and(|c| c.out(self.pulses()))
    }

    /// Port 0x61 bit 1: the speaker follows OUT2 while this is set.
    pub fn speaker_enabled(&self) -> bool {
        self.port61 & P61_SPEAKER != 0
    }

    /// The level driven into the speaker: OUT2 gated by port 0x61 bit 1.
    pub fn speaker_level(&self) -> bool {
        self.speaker_enabled() && self.out(2)
    }

    /// Read one byte at 0x40-0x43 or 0x61.
    pub fn read_port(&mut self, now: VirtualTime, port: u16) -> u8 {
        let (k, _) = self.catch_up(now);
        match port {
            0x40..=0x42 => self.counters[(port - PIT_COUNTER0) as usize].read(k),
            SYSTEM_CONTROL_B => {
                let refresh = if (k / REFRESH_PERIOD) % 2 == 1 {
                    P61_REFRESH
                } else {
                    0
                };
                let out2 = if self.counters[2].out(k) { P61_OUT2 } else { 0 };
                // Bits 6 and 7 (channel check, parity error) read 0: no
                // memory or bus errors are modelled.
                (self.port61 & P61_WRITABLE) | refresh | out2
            }
            // The control word register cannot be read (datasheet figure
            // 14: "no-operation, 3-state").
            _ => 0xFF,
        }
    }

    /// Write one byte at 0x40-0x43 or 0x61.
    pub fn write_port(&mut self, now: VirtualTime, port: u16, value: u8) {
        let (k, _) = self.catch_up(now);
        match port {
            0x40..=0x42 => self.counters[(port - PIT_COUNTER0) as usize].write_count(value, k),
            PIT_CONTROL => self.write_control(value, k),
            SYSTEM_CONTROL_B => {
                self.port61 = value & P61_WRITABLE;
                self.counters[2].set_gate(value & P61_GATE2 != 0, k);
            }
            _ => {}
        }
    }

    fn write_control(&mut self, value: u8, k: u64) {
        let select = (value >> 6) as usize;
        if select == 3 {
            // Read-back command: bit 5 clear latches the count, bit 4 clear
            // latches the status, of each counter selected by bits 1-3.
            for (i, c) in self.counters.iter_mut().enumerate() {
                if value & (2 << i) != 0 {
                    if value & 0x20 == 0 {
                        c.latch_count(k);
                    }
                    if value & 0x10 == 0 {
                        c.latch_status(k);
                    }
                }
            }
        } else if (value >> 4) & 3 == 0 {
            self.counters[select].latch_count(k);
        } else {
            self.counters[select].write_control(value, k);
        }
    }
}

impl Device for Pit8254 {
    fn io_read(&mut self, now: VirtualTime, port: u16, _size: IoSize) -> u32 {
        self.read_port(now, port) as u32
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, _size: IoSize, value: u32) {
        self.write_port(now, port, value as u8);
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        let (_, rose) = self.catch_up(now);
        (rose as IrqMask) << PIT_IRQ
    }

    /// The next rising edge of OUT0 (IRQ 0). Counters 1 and 2 drive no
    /// interrupt; their outputs are computed when read.
    fn next_deadline(&self) -> Option<VirtualTime> {
        self.counters[0]
            .next_rise(self.pulses())
            .map(|k| PIT_CLOCK.tick_time(k))
    }

    fn irq_levels(&self) -> IrqMask {
        (self.out(0) as IrqMask) << PIT_IRQ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time of CLK pulse `k`.
    fn at(k: u64) -> VirtualTime {
        PIT_CLOCK.tick_time(k)
    }

    /// OUT of `counter` at pulses `from..from+len`, as a string of 0/1.
    fn wave(pit: &mut Pit8254, counter: usize, from: u64, len: u64) -> String {
        (from..from + len)
            .map(|k| {
                pit.advance(at(k));
                if pit.out(counter) {
                    '1'
                } else {
                    '0'
                }
            })
            .collect()
    }

    /// Counts of `counter` (live, LSB then MSB) at pulses `from..from+len`.
    fn counts(pit: &mut Pit8254, counter: u16, from: u64, len: u64) -> Vec<u16> {
        (from..from + len)
            .map(|k| {
                let lo = pit.read_port(at(k), 0x40 + counter) as u16;
                let hi = pit.read_port(at(k), 0x40 + counter) as u16;
                hi << 8 | lo
            })
            .collect()
    }

    /// Program `counter` with `control` (RW = LSB/MSB) and `count` at
    /// pulse `k`.
    fn program(pit: &mut Pit8254, k: u64, counter: u16, control: u8, count: u16) {
        pit.write_port(at(k), PIT_CONTROL, (counter as u8) << 6 | control);
        pit.write_port(at(k), 0x40 + counter, count as u8);
        pit.write_port(at(k), 0x40 + counter, (count >> 8) as u8);
    }

    #[test]
    fn mode0_interrupt_on_terminal_count() {
        let mut pit = Pit8254::new();
        // Figure 16: control word, count 3 written; OUT goes high N + 1
        // pulses after the count is written and stays high.
        program(&mut pit, 10, 0, 0x30, 3);
        assert_eq!(wave(&mut pit, 0, 10, 8), "00001111");
        let mut pit = Pit8254::new();
        program(&mut pit, 10, 0, 0x30, 3);
        // Loaded on pulse 11, then 2, 1, 0, and it keeps counting down.
        assert_eq!(counts(&mut pit, 0, 11, 5), [3, 2, 1, 0, 0xFFFF]);
    }

    #[test]
    fn mode0_rewrite_restarts_and_first_byte_stops_the_count() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x30, 100);
        pit.advance(at(50));
        // First byte: OUT low at once, counting stops.
        pit.write_port(at(50), 0x40, 5);
        assert!(!pit.out(0));
        assert_eq!(counts(&mut pit, 0, 60, 1), [51]);
        pit.write_port(at(60), 0x40, 0);
        assert_eq!(wave(&mut pit, 0, 60, 8), "00000011");
        // After the terminal count, a mode 0 control word drives OUT low.
        pit.write_port(at(70), PIT_CONTROL, 0x30);
        assert!(!pit.out(0));
    }

    #[test]
    fn mode0_gate_suspends_counting() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), SYSTEM_CONTROL_B, 0x01);
        program(&mut pit, 0, 2, 0x30, 5);
        assert_eq!(counts(&mut pit, 2, 1, 3), [5, 4, 3]);
        pit.write_port(at(3), SYSTEM_CONTROL_B, 0x00);
        assert_eq!(counts(&mut pit, 2, 4, 3), [3, 3, 3]);
        pit.write_port(at(10), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(wave(&mut pit, 2, 10, 4), "0001");
        assert_eq!(counts(&mut pit, 2, 14, 2), [0xFFFF, 0xFFFE]);
    }

    #[test]
    fn mode1_hardware_retriggerable_one_shot() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 2, 0x32, 3);
        // No trigger yet: OUT stays high.
        assert_eq!(wave(&mut pit, 2, 0, 5), "11111");
        pit.write_port(at(5), SYSTEM_CONTROL_B, 0x01);
        // Figure 17: OUT low from the pulse after the trigger, for N pulses.
        assert_eq!(wave(&mut pit, 2, 5, 6), "100011");
        // A retrigger in the middle of a one-shot restarts it; OUT stays low.
        pit.write_port(at(20), SYSTEM_CONTROL_B, 0x00);
        pit.write_port(at(20), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(wave(&mut pit, 2, 20, 3), "100");
        pit.write_port(at(22), SYSTEM_CONTROL_B, 0x00);
        pit.write_port(at(22), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(wave(&mut pit, 2, 22, 6), "000011");
        // A new count does not disturb the one-shot in progress.
        pit.write_port(at(30), SYSTEM_CONTROL_B, 0x00);
        pit.write_port(at(30), SYSTEM_CONTROL_B, 0x01);
        pit.write_port(at(31), 0x42, 10);
        pit.write_port(at(31), 0x42, 0);
        assert_eq!(wave(&mut pit, 2, 31, 5), "00011");
    }

    #[test]
    fn mode2_rate_generator() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x34, 3);
        // Figure 18: OUT low for one pulse when the count reaches 1.
        assert_eq!(wave(&mut pit, 0, 0, 10), "1110110110");
        assert_eq!(counts(&mut pit, 0, 10, 6), [3, 2, 1, 3, 2, 1]);
    }

    #[test]
    fn mode2_new_count_takes_effect_at_the_end_of_the_period() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x34, 4);
        // Periods start on pulses 1, 5, 9, ... with OUT low on 4, 8, ...;
        // 2 written during the second period is loaded on pulse 9.
        pit.advance(at(6));
        pit.write_port(at(6), 0x40, 2);
        pit.write_port(at(6), 0x40, 0);
        assert_eq!(wave(&mut pit, 0, 6, 8), "11010101");
    }

    #[test]
    fn mode2_gate_low_forces_out_high_and_rising_edge_reloads() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), SYSTEM_CONTROL_B, 0x01);
        program(&mut pit, 0, 2, 0xB4 & 0x3F, 4);
        assert_eq!(wave(&mut pit, 2, 0, 5), "11110");
        pit.write_port(at(4), SYSTEM_CONTROL_B, 0x00);
        assert!(pit.out(2));
        assert_eq!(wave(&mut pit, 2, 4, 4), "1111");
        pit.write_port(at(10), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(counts(&mut pit, 2, 11, 4), [4, 3, 2, 1]);
    }

    #[test]
    fn mode3_square_wave_even_and_odd() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 4);
        assert_eq!(wave(&mut pit, 0, 1, 12), "110011001100");
        assert_eq!(counts(&mut pit, 0, 13, 4), [4, 2, 4, 2]);
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 5);
        // Odd counts: high (N+1)/2, low (N-1)/2.
        assert_eq!(wave(&mut pit, 0, 1, 10), "1110011100");
        assert_eq!(counts(&mut pit, 0, 11, 5), [4, 2, 0, 4, 2]);
    }

    #[test]
    fn mode3_new_count_takes_effect_at_the_next_half_period() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 8);
        pit.advance(at(2));
        pit.write_port(at(2), 0x40, 4);
        pit.write_port(at(2), 0x40, 0);
        // High half of 8 runs to pulse 4; then low 2, high 2, ...
        assert_eq!(wave(&mut pit, 0, 1, 12), "111100110011");
    }

    #[test]
    fn mode4_software_triggered_strobe() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x38, 3);
        // Figure 20: a one-pulse low strobe N + 1 pulses after the write.
        assert_eq!(wave(&mut pit, 0, 0, 8), "11110111");
        // Only once; the count wraps on.
        assert_eq!(wave(&mut pit, 0, 65540, 4), "1111");
    }

    #[test]
    fn mode5_hardware_triggered_strobe() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 2, 0x3A, 3);
        assert_eq!(wave(&mut pit, 2, 0, 6), "111111");
        pit.write_port(at(6), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(wave(&mut pit, 2, 6, 6), "111101");
    }

    #[test]
    fn modes_6_and_7_are_2_and_3() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x3C, 3);
        assert_eq!(wave(&mut pit, 0, 0, 7), "1110110");
        pit.write_port(at(7), PIT_CONTROL, 0xC2);
        // The status byte returns the mode bits exactly as written.
        assert_eq!(pit.read_port(at(7), 0x40) & 0x0E, 0x0C);
    }

    #[test]
    fn lsb_only_and_msb_only_access() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), PIT_CONTROL, 0x10 | 0x04); // LSB only, mode 2
        pit.write_port(at(0), 0x40, 0x80);
        assert_eq!(pit.read_port(at(1), 0x40), 0x80);
        assert_eq!(pit.read_port(at(2), 0x40), 0x7F);
        pit.write_port(at(10), PIT_CONTROL, 0x20 | 0x04); // MSB only
        pit.write_port(at(10), 0x40, 0x01);
        assert_eq!(pit.read_port(at(11), 0x40), 0x01);
        assert_eq!(pit.read_port(at(12), 0x40), 0x00, "0x00FF");
    }

    #[test]
    fn counter_latch_freezes_the_value_until_both_bytes_are_read() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x34, 0x1234);
        pit.write_port(at(5), PIT_CONTROL, 0x00);
        // A second latch is ignored while the first is unread.
        pit.write_port(at(8), PIT_CONTROL, 0x00);
        assert_eq!(pit.read_port(at(20), 0x40), 0x30);
        assert_eq!(pit.read_port(at(30), 0x40), 0x12);
        // Released: live value again.
        assert_eq!(counts(&mut pit, 0, 40, 1), [0x1234 - 39]);
    }

    #[test]
    fn reads_and_writes_interleave_with_separate_byte_pointers() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x30, 0x0300);
        let lo = pit.read_port(at(1), 0x40);
        pit.write_port(at(1), 0x40, 0x00);
        let hi = pit.read_port(at(1), 0x40);
        pit.write_port(at(1), 0x40, 0x05);
        assert_eq!((hi, lo), (0x03, 0x00));
        assert_eq!(counts(&mut pit, 0, 2, 1), [0x0500]);
    }

    #[test]
    fn read_back_latches_status_then_count() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), PIT_CONTROL, 0x34);
        // Status right after the control word: OUT high, null count.
        pit.write_port(at(0), PIT_CONTROL, 0xE2);
        assert_eq!(pit.read_port(at(0), 0x40), 0x80 | 0x40 | 0x34);
        pit.write_port(at(0), 0x40, 0x00);
        pit.write_port(at(0), 0x40, 0x10);
        // Written but not yet loaded: null count still set.
        pit.write_port(at(0), PIT_CONTROL, 0xE2);
        assert_eq!(pit.read_port(at(0), 0x40), 0xC0 | 0x34);
        // Count and status of counters 0 and 2 at once.
        pit.write_port(at(3), PIT_CONTROL, 0xC2 | 0x08);
        assert_eq!(
            pit.read_port(at(9), 0x40),
            0x80 | 0x34,
            "loaded: null count clear"
        );
        assert_eq!(pit.read_port(at(9), 0x40), 0xFE);
        assert_eq!(pit.read_port(at(9), 0x40), 0x0F);
        assert_eq!(
            pit.read_port(at(9), 0x42) & 0x3F,
            0x36,
            "counter 2's status"
        );
        // A count-only read-back, then a status-only one: the status is
        // still read first.
        pit.write_port(at(10), PIT_CONTROL, 0xD2);
        pit.write_port(at(10), PIT_CONTROL, 0xE2);
        assert_eq!(pit.read_port(at(11), 0x40), 0x80 | 0x34);
        assert_eq!(pit.read_port(at(11), 0x40), 0xF7);
    }

    #[test]
    fn bcd_counting() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x31, 0x0100);
        assert_eq!(counts(&mut pit, 0, 1, 3), [0x0100, 0x0099, 0x0098]);
        // Zero is 10000 in BCD, and the count wraps to 9999.
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x31, 0x0000);
        assert_eq!(counts(&mut pit, 0, 1, 2), [0x0000, 0x9999]);
        assert_eq!(wave(&mut pit, 0, 10_000, 3), "011");
        // Invalid digits must not panic.
        program(&mut pit, 20_000, 0, 0x31, 0xFFFF);
        counts(&mut pit, 0, 20_001, 3);
    }

    #[test]
    fn counter0_deadlines_are_the_rising_edges_of_out0() {
        let mut pit = Pit8254::new();
        assert_eq!(pit.next_deadline(), None);
        program(&mut pit, 0, 0, 0x34, 3);
        let mut rises = Vec::new();
        let mut t = VirtualTime::ZERO;
        for _ in 0..3 {
            let d = pit.next_deadline().unwrap();
            assert!(d > t);
            t = d;
            // Mode 2 with N = 3: OUT is low on pulses 3, 6, 9 and rises on
            // 4, 7, 10; each step reports the rise.
            assert_eq!(pit.advance(t), 1);
            rises.push(PIT_CLOCK.ticks_at(t));
        }
        assert_eq!(rises, [4, 7, 10]);
        // Mode 0 has a single rise.
        program(&mut pit, 100, 0, 0x30, 10);
        assert_eq!(pit.advance(at(100)), 0);
        assert_eq!(pit.irq_levels(), 0);
        assert_eq!(pit.next_deadline(), Some(at(111)));
        assert_eq!(pit.advance(at(111)), 1);
        assert_eq!(pit.irq_levels(), 1);
        assert_eq!(pit.next_deadline(), None);
    }

    #[test]
    fn a_pulse_inside_one_long_step_is_reported() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x34, 3);
        pit.advance(at(4));
        // Pulses 6 (low) and 7 (rise) both fall inside one step to 8: the
        // level is high before and after, but the rise is reported.
        assert_eq!(pit.irq_levels(), 1);
        assert_eq!(pit.advance(at(8)), 1);
        assert_eq!(pit.irq_levels(), 1);
        // A step that ends on the low pulse reports nothing new: the line
        // is low and the PIC dropped the request with it.
        assert_eq!(pit.advance(at(9)), 0);
        assert_eq!(pit.irq_levels(), 0);
    }

    #[test]
    fn gate_pause_keeps_a_full_count() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), SYSTEM_CONTROL_B, 0x01);
        program(&mut pit, 0, 2, 0x30, 0); // mode 0, 65536
        pit.write_port(at(1), SYSTEM_CONTROL_B, 0x00);
        pit.write_port(at(5), SYSTEM_CONTROL_B, 0x01);
        assert_eq!(wave(&mut pit, 2, 5, 3), "000");
        assert_eq!(counts(&mut pit, 2, 8, 1), [0xFFFD]);
    }

    #[test]
    fn deadline_follows_a_pending_mode3_reload() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 8);
        pit.advance(at(2));
        pit.write_port(at(2), 0x40, 4);
        pit.write_port(at(2), 0x40, 0);
        let mut rises = Vec::new();
        for _ in 0..3 {
            let d = pit.next_deadline().unwrap();
            pit.advance(d);
            rises.push(PIT_CLOCK.ticks_at(d));
        }
        // High half of 8 until pulse 5, then a square wave of 4: low on 5
        // and 6, high from 7, low from 9, high from 11.
        assert_eq!(rises, [7, 11, 15]);
    }

    #[test]
    fn bios_timer_is_18_2_hz() {
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 0);
        let mut rises = 0;
        while let Some(d) = pit.next_deadline() {
            if d > VirtualTime::from_secs(10) {
                break;
            }
            rises += pit.advance(d);
        }
        assert_eq!(rises, 182);
        // The same in one step: one rise reported (they coalesce).
        let mut pit = Pit8254::new();
        program(&mut pit, 0, 0, 0x36, 0);
        assert_eq!(pit.advance(VirtualTime::from_secs(10)), 1);
    }

    #[test]
    fn port_61_gate_speaker_out2_and_refresh() {
        let mut pit = Pit8254::new();
        assert_eq!(pit.read_port(at(0), 0x61) & 0x23, 0x20);
        pit.write_port(at(0), 0x61, 0xF3);
        assert!(pit.speaker_enabled());
        // The upper bits are not writable.
        assert_eq!(pit.read_port(at(0), 0x61) & 0xCF, 0x03);
        // Counter 2 in mode 3 (the beep): OUT2 shows in bit 5.
        program(&mut pit, 0, 2, 0x36, 4);
        let bits: Vec<u8> = (1..9).map(|k| pit.read_port(at(k), 0x61) & 0x20).collect();
        assert_eq!(bits, [0x20, 0x20, 0, 0, 0x20, 0x20, 0, 0]);
        assert!(!pit.speaker_level());
        pit.advance(at(9));
        assert!(pit.speaker_level());
        // The refresh bit toggles every 18 pulses (15.085 µs).
        let r = |pit: &mut Pit8254, k| pit.read_port(at(k), 0x61) & 0x10;
        assert_eq!(r(&mut pit, 17), 0);
        assert_eq!(r(&mut pit, 18), 0x10);
        assert_eq!(r(&mut pit, 35), 0x10);
        assert_eq!(r(&mut pit, 36), 0);
    }

    #[test]
    fn control_register_reads_float_and_time_never_runs_backwards() {
        let mut pit = Pit8254::new();
        assert_eq!(pit.read_port(at(0), 0x43), 0xFF);
        program(&mut pit, 10, 0, 0x30, 5);
        pit.advance(at(20));
        // An earlier time is taken as "now".
        assert!(pit.out(0));
        assert_eq!(counts(&mut pit, 0, 0, 1), counts(&mut pit, 0, 20, 1));
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut pit = Pit8254::new();
        pit.write_port(at(0), 0x61, 0x03);
        program(&mut pit, 0, 0, 0x34, 1000);
        program(&mut pit, 0, 2, 0x36, 77);
        pit.advance(at(500));
        pit.write_port(at(500), 0x40, 50);
        pit.write_port(at(500), 0x40, 0); // pending reload
        pit.write_port(at(501), PIT_CONTROL, 0xC4); // latch counter 1 count+status
        pit.read_port(at(501), 0x40); // half-read LSB
        let json = serde_json::to_string(&pit).unwrap();
        let mut back: Pit8254 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pit);
        for k in [502u64, 999, 1000, 1001, 1050, 5000] {
            for port in [0x40, 0x41, 0x42, 0x61] {
                assert_eq!(back.read_port(at(k), port), pit.read_port(at(k), port));
            }
            assert_eq!(back.next_deadline(), pit.next_deadline());
            assert_eq!(back.irq_levels(), pit.irq_levels());
        }
    }
}
