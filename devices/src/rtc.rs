//! The Motorola MC146818A real-time clock and its CMOS RAM, as the AT wires
//! it: index port 0x70 (whose bit 7 masks NMI), data port 0x71, IRQ 8.
//!
//! Reference: Motorola, "MC146818A Real-Time Clock Plus RAM (RTC)",
//! document MC146818A/D: "Address map" (figure 3), "Time, calendar and
//! alarm locations" (table 3, the binary and BCD formats and the alarm's
//! don't-care codes 0xC0-0xFF), "Registers A-D", "Update cycle" (table 6:
//! UIP rises 244 µs before an update), "Interrupts" (periodic rates,
//! table 5). The CMOS RAM layout (0x0E-0x3F) is the IBM PC/AT technical
//! reference's "CMOS RAM address map"; 0x34-0x35 is the Bochs/QEMU/SeaBIOS
//! convention for memory above 16 MiB. The AT's part has 128 bytes (like
//! the Dallas DS12887 that replaced it): 14 clock bytes and 114 of RAM.
//!
//! # Time
//!
//! The chip keeps its own calendar in its registers and increments it once a
//! second of *virtual* time, in whatever format (BCD or binary, 12 or 24
//! hours) register B selects, exactly as the hardware does: a guest that
//! sets the clock or changes the format gets the chip's behaviour, and the
//! host's clock never enters. The calendar starts at a configured date, so
//! a run is the same every time.
//!
//! The divider chain runs at 32.768 kHz from the moment it last left reset
//! (power-on counts as such). Periodic interrupts come from its taps; an
//! update happens every 32768 of its ticks. UIP is set for the 8 ticks
//! (244.1 µs) before each update, and the update itself is instantaneous:
//! the registers are never seen mid-update, which correct software cannot
//! tell from the real chip (it reads only while UIP is clear or right
//! after the update-ended interrupt). Not modelled: the square-wave output
//! pin (not connected on the PC) and divider settings other than 010
//! (32.768 kHz) and 11x (reset): 000 and 001 name crystals the PC does not
//! have, and the clock then stops.

use serde::{Deserialize, Serialize};

use crate::bcd::{from_bcd8, to_bcd8};
use crate::bus::IoSize;
use crate::clock::{VirtualTime, RTC_CLOCK};
use crate::device::{Device, IrqMask};

/// Index port: bits 0-6 select a register, bit 7 set disables NMI.
pub const RTC_INDEX: u16 = 0x70;
pub const RTC_DATA: u16 = 0x71;
/// The interrupt line the RTC drives.
pub const RTC_IRQ: u8 = 8;

/// Register indexes.
pub const REG_SECONDS: u8 = 0x00;
pub const REG_SECONDS_ALARM: u8 = 0x01;
pub const REG_MINUTES: u8 = 0x02;
pub const REG_MINUTES_ALARM: u8 = 0x03;
pub const REG_HOURS: u8 = 0x04;
pub const REG_HOURS_ALARM: u8 = 0x05;
pub const REG_DAY_OF_WEEK: u8 = 0x06;
pub const REG_DAY_OF_MONTH: u8 = 0x07;
pub const REG_MONTH: u8 = 0x08;
pub const REG_YEAR: u8 = 0x09;
pub const REG_A: u8 = 0x0A;
pub const REG_B: u8 = 0x0B;
pub const REG_C: u8 = 0x0C;
pub const REG_D: u8 = 0x0D;

/// CMOS RAM locations the machine fills in (IBM AT layout).
pub const CMOS_SHUTDOWN_STATUS: u8 = 0x0F;
pub const CMOS_FLOPPY_TYPES: u8 = 0x10;
pub const CMOS_DISK_TYPES: u8 = 0x12;
pub const CMOS_EQUIPMENT: u8 = 0x14;
pub const CMOS_BASE_MEMORY: u8 = 0x15;
pub const CMOS_EXTENDED_MEMORY: u8 = 0x17;
pub const CMOS_DISK0_EXTENDED_TYPE: u8 = 0x19;
pub const CMOS_DISK1_EXTENDED_TYPE: u8 = 0x1A;
pub const CMOS_CHECKSUM: u8 = 0x2E;
pub const CMOS_EXTENDED_MEMORY_POST: u8 = 0x30;
pub const CMOS_CENTURY: u8 = 0x32;
pub const CMOS_MEMORY_ABOVE_16M: u8 = 0x34;
/// Boot order, third device in bits 7-4 (bit 0: skip the floppy boot
/// signature check), as Bochs' rombios and SeaBIOS read it.
pub const CMOS_BOOT_ORDER_3: u8 = 0x38;
/// Boot order, first device in bits 3-0 and second in bits 7-4.
pub const CMOS_BOOT_ORDER_1_2: u8 = 0x3D;
/// oxbox's own flags for oxbios: bit 0 mirrors the BIOS's text output
/// (POST screen, INT 10h teletype) to COM1.
pub const CMOS_OXBOX_FLAGS: u8 = 0x4F;
/// [`CMOS_OXBOX_FLAGS`] bit: the serial console.
pub const OXBOX_FLAG_SERIAL_CONSOLE: u8 = 0x01;
/// The range the standard checksum covers.
pub const CMOS_CHECKSUM_RANGE: std::ops::RangeInclusive<u8> = 0x10..=0x2D;

// Register A.
const A_UIP: u8 = 0x80;
const A_DV_MASK: u8 = 0x70;
const A_DV_32K: u8 = 0x20;
const A_DV_RESET: u8 = 0x60;
const A_RS_MASK: u8 = 0x0F;
// Register B.
const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_DM_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
const B_DSE: u8 = 0x01;
// Register C.
const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;
// Register D.
const D_VRT: u8 = 0x80;
/// Hours register: PM in 12-hour mode.
const HOUR_PM: u8 = 0x80;

/// Divider ticks per second.
const TICKS_PER_SEC: u64 = 32_768;
/// Ticks of UIP before an update (244.14 µs).
const UIP_TICKS: u64 = 8;
const SECS_PER_DAY: u64 = 86_400;

/// A calendar date and time of day (UTC, proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateTime {
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Days from 1970-01-01 to year/month/day (Gregorian; month and day
/// 1-based; any values accepted).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let m = month.clamp(1, 12) as i64;
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl DateTime {
    /// The latest instant representable (9999-12-31 23:59:59).
    const MAX_UNIX: u64 = 253_402_300_799;

    /// The date and time `secs` seconds after 1970-01-01 00:00:00 UTC
    /// (clamped to the year 9999).
    pub fn from_unix(secs: u64) -> DateTime {
        let secs = secs.min(Self::MAX_UNIX) as i64;
        let days = secs.div_euclid(SECS_PER_DAY as i64);
        let tod = secs.rem_euclid(SECS_PER_DAY as i64);
        // Civil-from-days over 400-year eras, March-based years.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        DateTime {
            year: year as u16,
            month,
            day,
            hour: (tod / 3600) as u8,
            minute: (tod / 60 % 60) as u8,
            second: (tod % 60) as u8,
        }
    }

    /// Seconds since 1970-01-01 00:00:00 UTC (0 for earlier dates).
    pub fn to_unix(&self) -> u64 {
        let days = days_from_civil(self.year as i64, self.month, self.day);
        let secs = days * SECS_PER_DAY as i64
            + self.hour as i64 * 3600
            + self.minute as i64 * 60
            + self.second as i64;
        secs.max(0) as u64
    }

    /// Day of the week, 0 = Sunday.
    pub fn weekday(&self) -> u8 {
        let days = days_from_civil(self.year as i64, self.month, self.day);
        // 1970-01-01 was a Thursday.
        (days + 4).rem_euclid(7) as u8
    }
}

/// The MC146818A with its CMOS RAM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rtc {
    /// Every register and RAM byte, by index. Register A's UIP bit and
    /// register C's IRQF bit are computed, not stored.
    #[serde(with = "crate::serde_util::byte_array")]
    ram: [u8; 128],
    /// Port 0x70 bits 0-6.
    index: u8,
    /// Port 0x70 bit 7.
    nmi_disabled: bool,
    /// The time the chip has been brought to.
    now: VirtualTime,
    /// When the divider chain last left reset: its tick 0.
    chain_origin: VirtualTime,
    /// The chain tick of the first update after `chain_origin`.
    first_update: u64,
    /// The autumn daylight-saving fall-back has happened today.
    dse_fall_back_done: bool,
}

impl Rtc {
    /// A clock showing `start` at power-on, in BCD and 24-hour mode with
    /// the divider running and interrupts off (what a battery-backed clock
    /// holds after a BIOS set it up). The first update comes one second
    /// after power-on. The CMOS RAM is zero apart from the century byte
    /// and a valid checksum.
    pub fn new(start: DateTime) -> Rtc {
        let mut rtc = Rtc {
            ram: [0; 128],
            index: 0,
            nmi_disabled: false,
            now: VirtualTime::ZERO,
            chain_origin: VirtualTime::ZERO,
            first_update: TICKS_PER_SEC,
            dse_fall_back_done: false,
        };
        rtc.ram[REG_A as usize] = A_DV_32K | 0x06;
        rtc.ram[REG_B as usize] = B_24H;
        rtc.ram[REG_D as usize] = D_VRT;
        rtc.set_datetime(start);
        rtc.update_checksum();
        rtc
    }

    /// A clock starting at `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: u64) -> Rtc {
        Rtc::new(DateTime::from_unix(secs))
    }

    /// Load the time registers (in the current format) and the century
    /// byte from `dt`, as a BIOS setting the clock would.
    pub fn set_datetime(&mut self, dt: DateTime) {
        self.put(REG_SECONDS, dt.second % 60);
        self.put(REG_MINUTES, dt.minute % 60);
        self.put_hour(dt.hour % 24);
        self.put(REG_DAY_OF_WEEK, dt.weekday() + 1);
        self.put(REG_DAY_OF_MONTH, dt.day);
        self.put(REG_MONTH, dt.month);
        self.put(REG_YEAR, (dt.year % 100) as u8);
        self.ram[CMOS_CENTURY as usize] = to_bcd8((dt.year / 100 % 100) as u8);
    }

    /// The date and time the registers show, decoded from the current
    /// format; the century comes from CMOS byte 0x32 (BCD).
    pub fn datetime(&self) -> DateTime {
        let raw_hour = self.ram[REG_HOURS as usize];
        let mut hour = self.decode(raw_hour & !HOUR_PM);
        if !self.mode_24h() {
            hour %= 12;
            if raw_hour & HOUR_PM != 0 {
                hour += 12;
            }
        }
        DateTime {
            year: from_bcd8(self.ram[CMOS_CENTURY as usize]) as u16 * 100
                + self.get(REG_YEAR) as u16,
            month: self.get(REG_MONTH),
            day: self.get(REG_DAY_OF_MONTH),
            hour,
            minute: self.get(REG_MINUTES),
            second: self.get(REG_SECONDS),
        }
    }

    /// NMI is masked (port 0x70 bit 7 was last written as 1).
    pub fn nmi_disabled(&self) -> bool {
        self.nmi_disabled
    }

    /// A CMOS byte, raw (for the machine and the debugger).
    pub fn cmos(&self, index: u8) -> u8 {
        self.ram[(index & 0x7F) as usize]
    }

    /// Set a CMOS RAM byte (0x0E-0x7F; the clock registers below are left
    /// alone). The checksum is not updated: see [`Rtc::update_checksum`].
    pub fn set_cmos(&mut self, index: u8, value: u8) {
        if (0x0E..0x80).contains(&index) {
            self.ram[index as usize] = value;
        }
    }

    /// The standard checksum: the 16-bit sum of bytes 0x10-0x2D, stored
    /// big-endian at 0x2E-0x2F.
    pub fn update_checksum(&mut self) {
        let sum = self.compute_checksum();
        self.ram[CMOS_CHECKSUM as usize] = (sum >> 8) as u8;
        self.ram[CMOS_CHECKSUM as usize + 1] = sum as u8;
    }

    pub fn checksum_ok(&self) -> bool {
        let stored = u16::from_be_bytes([
            self.ram[CMOS_CHECKSUM as usize],
            self.ram[CMOS_CHECKSUM as usize + 1],
        ]);
        stored == self.compute_checksum()
    }

    fn compute_checksum(&self) -> u16 {
        CMOS_CHECKSUM_RANGE
            .map(|i| self.ram[i as usize] as u16)
            .fold(0u16, u16::wrapping_add)
    }

    /// Record the amount of RAM below 4 GiB: base memory in KiB (0x15-0x16,
    /// at most 640), extended memory above 1 MiB in KiB (0x17-0x18 and the
    /// POST copy 0x30-0x31, at most 0xFFFF), and memory above 16 MiB in 64
    /// KiB blocks (0x34-0x35, at most 0xFFFF). Updates the checksum.
    pub fn set_memory_size(&mut self, ram_bytes: u64) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let base = (ram_bytes.min(640 * KIB) / KIB) as u16;
        let ext = (ram_bytes.saturating_sub(MIB) / KIB).min(0xFFFF) as u16;
        let high = (ram_bytes.saturating_sub(16 * MIB) / (64 * KIB)).min(0xFFFF) as u16;
        self.put_u16(CMOS_BASE_MEMORY, base);
        self.put_u16(CMOS_EXTENDED_MEMORY, ext);
        self.put_u16(CMOS_EXTENDED_MEMORY_POST, ext);
        self.put_u16(CMOS_MEMORY_ABOVE_16M, high);
        self.update_checksum();
    }

    fn put_u16(&mut self, index: u8, v: u16) {
        let [lo, hi] = v.to_le_bytes();
        self.ram[index as usize] = lo;
        self.ram[index as usize + 1] = hi;
    }

    /// The equipment byte (0x14): bit 0 floppy drives present, bit 1 math
    /// coprocessor, bits 4-5 primary display (00 = EGA/VGA), bits 6-7
    /// number of floppy drives minus one. Updates the checksum.
    pub fn set_equipment(&mut self, value: u8) {
        self.ram[CMOS_EQUIPMENT as usize] = value;
        self.update_checksum();
    }

    /// Floppy drive types (0x10: drive A in the high nibble, B in the low;
    /// 0 none, 1 360K, 2 1.2M, 3 720K, 4 1.44M, 5 2.88M). Updates the
    /// checksum.
    pub fn set_floppy_types(&mut self, a: u8, b: u8) {
        self.ram[CMOS_FLOPPY_TYPES as usize] = (a & 0xF) << 4 | (b & 0xF);
        self.update_checksum();
    }

    /// The AT hard disk type of drive 0 or 1 (0 = none). Types 1-14 go in
    /// the drive's nibble of 0x12; higher types set the nibble to 15 and go
    /// in 0x19 (drive 0) or 0x1A (drive 1). Updates the checksum.
    pub fn set_hard_disk_type(&mut self, drive: u8, disk_type: u8) {
        let nibble = disk_type.min(15);
        let (shift, ext) = if drive == 0 {
            (4, CMOS_DISK0_EXTENDED_TYPE)
        } else {
            (0, CMOS_DISK1_EXTENDED_TYPE)
        };
        let byte = &mut self.ram[CMOS_DISK_TYPES as usize];
        *byte = (*byte & !(0xF << shift)) | nibble << shift;
        self.ram[ext as usize] = if disk_type >= 15 { disk_type } else { 0 };
        self.update_checksum();
    }

    /// The boot order: up to three device codes (1 floppy, 2 hard disk, 3
    /// CD-ROM; 0 none) in [`CMOS_BOOT_ORDER_1_2`] and the high nibble of
    /// [`CMOS_BOOT_ORDER_3`] (outside the checksummed range).
    pub fn set_boot_order(&mut self, devices: &[u8]) {
        let code = |i: usize| devices.get(i).copied().unwrap_or(0) & 0xF;
        self.ram[CMOS_BOOT_ORDER_1_2 as usize] = code(1) << 4 | code(0);
        let third = &mut self.ram[CMOS_BOOT_ORDER_3 as usize];
        *third = (*third & 0x0F) | code(2) << 4;
    }

    // --- Register formats -------------------------------------------------

    fn binary_mode(&self) -> bool {
        self.ram[REG_B as usize] & B_DM_BINARY != 0
    }

    fn mode_24h(&self) -> bool {
        self.ram[REG_B as usize] & B_24H != 0
    }

    fn decode(&self, raw: u8) -> u8 {
        if self.binary_mode() {
            raw
        } else {
            from_bcd8(raw)
        }
    }

    fn encode(&self, v: u8) -> u8 {
        if self.binary_mode() {
            v
        } else {
            to_bcd8(v)
        }
    }

    fn get(&self, reg: u8) -> u8 {
        self.decode(self.ram[reg as usize])
    }

    fn put(&mut self, reg: u8, v: u8) {
        self.ram[reg as usize] = self.encode(v);
    }

    /// Store a 0-23 hour in the current 12/24-hour format.
    fn put_hour(&mut self, hour: u8) {
        if self.mode_24h() {
            self.put(REG_HOURS, hour);
        } else {
            let pm = if hour >= 12 { HOUR_PM } else { 0 };
            let h12 = match hour % 12 {
                0 => 12,
                h => h,
            };
            self.ram[REG_HOURS as usize] = self.encode(h12) | pm;
        }
    }

    // --- The divider chain --------------------------------------------------

    fn running(&self) -> bool {
        self.ram[REG_A as usize] & A_DV_MASK == A_DV_32K
    }

    fn updates_enabled(&self) -> bool {
        self.ram[REG_B as usize] & B_SET == 0
    }

    /// Divider ticks since the chain left reset, at time `t`.
    fn chain_ticks(&self, t: VirtualTime) -> u64 {
        RTC_CLOCK.ticks_at(VirtualTime::from_nanos(t.nanos_since(self.chain_origin)))
    }

    fn chain_time(&self, ticks: u64) -> VirtualTime {
        self.chain_origin
            .add_nanos(RTC_CLOCK.tick_time(ticks).as_nanos())
    }

    /// How many updates fall on chain ticks up to and including `j`.
    fn updates_by(&self, j: u64) -> u64 {
        if j < self.first_update {
            0
        } else {
            (j - self.first_update) / TICKS_PER_SEC + 1
        }
    }

    /// The chain tick of the first update after tick `j`.
    fn next_update_after(&self, j: u64) -> u64 {
        if j < self.first_update {
            self.first_update
        } else {
            self.first_update + ((j - self.first_update) / TICKS_PER_SEC + 1) * TICKS_PER_SEC
        }
    }

    /// The periodic interrupt's period in divider ticks (table 5, 32.768
    /// kHz column), or `None` for RS = 0.
    fn periodic_ticks(&self) -> Option<u64> {
        match self.ram[REG_A as usize] & A_RS_MASK {
            0 => None,
            1 => Some(128),
            2 => Some(256),
            rs => Some(1 << (rs - 1)),
        }
    }

    fn uip(&self) -> bool {
        if !self.running() || !self.updates_enabled() {
            return false;
        }
        let j = self.chain_ticks(self.now);
        self.next_update_after(j) - j <= UIP_TICKS
    }

    fn irqf(&self) -> bool {
        let b = self.ram[REG_B as usize];
        let c = self.ram[REG_C as usize];
        (c & C_PF != 0 && b & B_PIE != 0)
            || (c & C_AF != 0 && b & B_AIE != 0)
            || (c & C_UF != 0 && b & B_UIE != 0)
    }

    /// Bring the clock to `now`: set PF for each periodic tap edge and run
    /// each update cycle that came due.
    fn catch_up(&mut self, now: VirtualTime) {
        if now <= self.now {
            return;
        }
        if self.running() {
            let j0 = self.chain_ticks(self.now);
            let j1 = self.chain_ticks(now);
            if let Some(p) = self.periodic_ticks() {
                if j1 / p > j0 / p {
                    self.ram[REG_C as usize] |= C_PF;
                }
            }
            if self.updates_enabled() {
                let n = self.updates_by(j1) - self.updates_by(j0);
                self.run_updates(n);
            }
        }
        self.now = now;
    }

    /// Run `n` update cycles. A long stretch (a guest halted for days)
    /// runs one full day second by second, so that every alarm setting
    /// that can match does, then moves the date a day at a time.
    fn run_updates(&mut self, mut n: u64) {
        if n > 2 * SECS_PER_DAY {
            for _ in 0..SECS_PER_DAY {
                self.update_cycle();
            }
            n -= SECS_PER_DAY;
            let days = n / SECS_PER_DAY - 1;
            for _ in 0..days {
                self.next_day();
            }
            n -= days * SECS_PER_DAY;
        }
        for _ in 0..n {
            self.update_cycle();
        }
    }

    /// One update cycle: advance the time by a second, compare the alarm,
    /// set the update-ended flag.
    fn update_cycle(&mut self) {
        self.tick_second();
        let matches = |alarm: u8, now: u8| alarm & 0xC0 == 0xC0 || alarm == now;
        let r = &self.ram;
        if matches(r[REG_SECONDS_ALARM as usize], r[REG_SECONDS as usize])
            && matches(r[REG_MINUTES_ALARM as usize], r[REG_MINUTES as usize])
            && matches(r[REG_HOURS_ALARM as usize], r[REG_HOURS as usize])
        {
            self.ram[REG_C as usize] |= C_AF;
        }
        self.ram[REG_C as usize] |= C_UF;
    }

    /// Advance the calendar by one second in the current format. Values a
    /// guest stored out of range roll over at the next carry.
    fn tick_second(&mut self) {
        let sec = self.get(REG_SECONDS);
        let min = self.get(REG_MINUTES);
        let raw_hour = self.ram[REG_HOURS as usize];
        let pm = raw_hour & HOUR_PM != 0;
        let hour = self.decode(raw_hour & !HOUR_PM);
        let is_1_59_59_am = sec == 59 && min == 59 && hour == 1 && (self.mode_24h() || !pm);
        if is_1_59_59_am && self.ram[REG_B as usize] & B_DSE != 0 && self.get(REG_DAY_OF_WEEK) == 1
        {
            // Daylight saving (register B DSE): on the last Sunday in April
            // 1:59:59 AM is followed by 3:00:00 AM; on the last Sunday in
            // October, the first time, by 1:00:00 AM.
            let month = self.get(REG_MONTH);
            let day = self.get(REG_DAY_OF_MONTH);
            if month == 4 && day >= 24 {
                self.put(REG_SECONDS, 0);
                self.put(REG_MINUTES, 0);
                self.ram[REG_HOURS as usize] = self.encode(3);
                return;
            }
            if month == 10 && day >= 25 && !self.dse_fall_back_done {
                self.dse_fall_back_done = true;
                self.put(REG_SECONDS, 0);
                self.put(REG_MINUTES, 0);
                return;
            }
        }
        if sec < 59 {
            self.put(REG_SECONDS, sec + 1);
            return;
        }
        self.put(REG_SECONDS, 0);
        if min < 59 {
            self.put(REG_MINUTES, min + 1);
            return;
        }
        self.put(REG_MINUTES, 0);
        if self.mode_24h() {
            if hour < 23 {
                self.put(REG_HOURS, hour + 1);
                return;
            }
            self.put(REG_HOURS, 0);
        } else {
            // 12-hour mode: 11 AM -> 12 PM, 12 -> 1, 11 PM -> 12 AM (next
            // day).
            let (next, next_pm, carry) = match hour {
                11 => (12, !pm, pm),
                h if h >= 12 => (1, pm, false),
                h => (h + 1, pm, false),
            };
            self.ram[REG_HOURS as usize] = self.encode(next) | if next_pm { HOUR_PM } else { 0 };
            if !carry {
                return;
            }
        }
        self.next_day();
    }

    /// Advance the date by one day (day of week, date, month, year).
    fn next_day(&mut self) {
        self.dse_fall_back_done = false;
        let dow = self.get(REG_DAY_OF_WEEK);
        self.put(
            REG_DAY_OF_WEEK,
            if (1..7).contains(&dow) { dow + 1 } else { 1 },
        );
        let day = self.get(REG_DAY_OF_MONTH);
        let month = self.get(REG_MONTH);
        let year = self.get(REG_YEAR);
        // The chip's leap-year rule: every year divisible by 4.
        let days_in_month = match month {
            4 | 6 | 9 | 11 => 30,
            2 if year.is_multiple_of(4) => 29,
            2 => 28,
            _ => 31,
        };
        if day < days_in_month {
            self.put(REG_DAY_OF_MONTH, day + 1);
            return;
        }
        self.put(REG_DAY_OF_MONTH, 1);
        if month < 12 {
            self.put(REG_MONTH, month + 1);
            return;
        }
        self.put(REG_MONTH, 1);
        self.put(REG_YEAR, if year < 99 { year + 1 } else { 0 });
    }

    // --- Register access -------------------------------------------------

    fn read_register(&mut self, index: u8) -> u8 {
        match index {
            REG_A => (self.ram[REG_A as usize] & !A_UIP) | if self.uip() { A_UIP } else { 0 },
            REG_C => {
                // Reading register C clears every flag (and so the IRQ).
                let v = self.ram[REG_C as usize] & (C_PF | C_AF | C_UF);
                let v = v | if self.irqf() { C_IRQF } else { 0 };
                self.ram[REG_C as usize] = 0;
                v
            }
            REG_D => D_VRT,
            i => self.ram[i as usize],
        }
    }

    fn write_register(&mut self, index: u8, value: u8) {
        match index {
            REG_A => {
                let was_running = self.running();
                let was_reset = self.ram[REG_A as usize] & A_DV_RESET == A_DV_RESET;
                self.ram[REG_A as usize] = value & !A_UIP;
                if self.running() && !was_running {
                    // The chain restarts; out of reset, the first update
                    // comes half a second later (register A, "DV2-DV0").
                    self.chain_origin = self.now;
                    self.first_update = if was_reset {
                        TICKS_PER_SEC / 2
                    } else {
                        TICKS_PER_SEC
                    };
                }
            }
            REG_B => {
                // SET going high clears UIE (register B, "UIE").
                let value = if value & B_SET != 0 {
                    value & !B_UIE
                } else {
                    value
                };
                self.ram[REG_B as usize] = value;
            }
            // C and D are read-only.
            REG_C | REG_D => {}
            i => self.ram[i as usize] = value,
        }
    }

    /// Read one byte at 0x70 (write-only on the AT: floats) or 0x71.
    pub fn read_port(&mut self, now: VirtualTime, port: u16) -> u8 {
        self.catch_up(now);
        match port {
            RTC_DATA => self.read_register(self.index),
            _ => 0xFF,
        }
    }

    /// Write one byte at 0x70 or 0x71.
    pub fn write_port(&mut self, now: VirtualTime, port: u16, value: u8) {
        self.catch_up(now);
        match port {
            RTC_INDEX => {
                self.index = value & 0x7F;
                self.nmi_disabled = value & 0x80 != 0;
            }
            RTC_DATA => self.write_register(self.index, value),
            _ => {}
        }
    }
}

impl Device for Rtc {
    fn io_read(&mut self, now: VirtualTime, port: u16, _size: IoSize) -> u32 {
        self.read_port(now, port) as u32
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, _size: IoSize, value: u32) {
        self.write_port(now, port, value as u8);
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        let before = self.irq_levels();
        self.catch_up(now);
        // IRQ 8 falls only when register C is read, so a rise in between
        // is still visible.
        self.irq_levels() & !before
    }

    /// The next time IRQ 8 can rise: the next periodic tap edge (PIE) or
    /// update (UIE, or AIE: the alarm is compared at each update). None
    /// while the line is already high: it stays so until register C is
    /// read.
    fn next_deadline(&self) -> Option<VirtualTime> {
        if self.irqf() || !self.running() {
            return None;
        }
        let b = self.ram[REG_B as usize];
        let j = self.chain_ticks(self.now);
        let periodic = self
            .periodic_ticks()
            .filter(|_| b & B_PIE != 0)
            .map(|p| (j / p + 1) * p);
        let update =
            (b & (B_UIE | B_AIE) != 0 && self.updates_enabled()).then(|| self.next_update_after(j));
        [periodic, update]
            .into_iter()
            .flatten()
            .min()
            .map(|t| self.chain_time(t))
    }

    fn irq_levels(&self) -> IrqMask {
        (self.irqf() as IrqMask) << RTC_IRQ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-28 23:59:58, a Wednesday.
    const START: DateTime = DateTime {
        year: 2024,
        month: 2,
        day: 28,
        hour: 23,
        minute: 59,
        second: 58,
    };

    fn ms(v: u64) -> VirtualTime {
        VirtualTime::from_millis(v)
    }

    fn read(rtc: &mut Rtc, t: VirtualTime, reg: u8) -> u8 {
        rtc.write_port(t, RTC_INDEX, reg);
        rtc.read_port(t, RTC_DATA)
    }

    fn write(rtc: &mut Rtc, t: VirtualTime, reg: u8, v: u8) {
        rtc.write_port(t, RTC_INDEX, reg);
        rtc.write_port(t, RTC_DATA, v);
    }

    /// Read at the time the clock was last brought to.
    fn read_now(rtc: &mut Rtc, reg: u8) -> u8 {
        let now = rtc.now;
        read(rtc, now, reg)
    }

    fn write_now(rtc: &mut Rtc, reg: u8, v: u8) {
        let now = rtc.now;
        write(rtc, now, reg, v)
    }

    fn clock_regs(rtc: &mut Rtc, t: VirtualTime) -> [u8; 10] {
        let mut r = [0; 10];
        for (i, v) in r.iter_mut().enumerate() {
            *v = read(rtc, t, i as u8);
        }
        r
    }

    #[test]
    fn unix_time_conversions() {
        assert_eq!(START.to_unix(), 1_709_164_798);
        assert_eq!(DateTime::from_unix(1_709_164_798), START);
        assert_eq!(START.weekday(), 3);
        assert_eq!(DateTime::from_unix(0).weekday(), 4);
        let y2k = DateTime::from_unix(951_782_400); // 2000-02-29
        assert_eq!((y2k.year, y2k.month, y2k.day), (2000, 2, 29));
        for secs in [0u64, 59, 86_399, 86_400, 1_000_000_000, 4_102_444_800] {
            assert_eq!(DateTime::from_unix(secs).to_unix(), secs);
        }
        assert_eq!(DateTime::from_unix(u64::MAX).year, 9999);
    }

    #[test]
    fn starts_at_the_configured_time_in_bcd_24h() {
        let mut rtc = Rtc::new(START);
        assert_eq!(
            clock_regs(&mut rtc, ms(0)),
            [0x58, 0, 0x59, 0, 0x23, 0, 0x04, 0x28, 0x02, 0x24]
        );
        assert_eq!(rtc.cmos(CMOS_CENTURY), 0x20);
        assert_eq!(read(&mut rtc, ms(0), REG_A), 0x26);
        assert_eq!(read(&mut rtc, ms(0), REG_B), 0x02);
        assert_eq!(read(&mut rtc, ms(0), REG_D), 0x80);
        assert!(rtc.checksum_ok());
    }

    #[test]
    fn the_calendar_advances_each_virtual_second_through_leap_day() {
        let mut rtc = Rtc::new(START);
        assert_eq!(read(&mut rtc, ms(999), REG_SECONDS), 0x58);
        assert_eq!(read(&mut rtc, ms(1000), REG_SECONDS), 0x59);
        // 2024 is a leap year: Feb 28 -> Feb 29 -> Mar 1.
        assert_eq!(
            clock_regs(&mut rtc, ms(2000)),
            [0x00, 0, 0x00, 0, 0x00, 0, 0x05, 0x29, 0x02, 0x24]
        );
        let dt = rtc.datetime();
        assert_eq!((dt.month, dt.day, dt.hour), (2, 29, 0));
        rtc.advance(VirtualTime::from_secs(2 + 86_400));
        assert_eq!(
            rtc.datetime(),
            DateTime {
                month: 3,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                ..START
            }
        );
        assert_eq!(rtc.cmos(REG_DAY_OF_WEEK), 0x06);
    }

    #[test]
    fn binary_mode_and_year_rollover() {
        let mut rtc = Rtc::new(START);
        // The guest sets the clock in binary: SET, write, clear SET.
        write(&mut rtc, ms(0), REG_B, B_SET | B_DM_BINARY | B_24H);
        for (reg, v) in [(0, 59), (2, 59), (4, 23), (6, 7), (7, 31), (8, 12), (9, 99)] {
            write(&mut rtc, ms(0), reg, v);
        }
        // No update happens while SET is 1.
        assert_eq!(read(&mut rtc, ms(3000), REG_SECONDS), 59);
        write(&mut rtc, ms(3000), REG_B, B_DM_BINARY | B_24H);
        assert_eq!(
            clock_regs(&mut rtc, ms(4000)),
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
        );
    }

    #[test]
    fn twelve_hour_mode_with_the_pm_bit() {
        let mut rtc = Rtc::new(START);
        write(&mut rtc, ms(0), REG_B, B_SET);
        // 11:59:59 AM, BCD, 12-hour.
        for (reg, v) in [(0, 0x59), (2, 0x59), (4, 0x11)] {
            write(&mut rtc, ms(0), reg, v);
        }
        write(&mut rtc, ms(0), REG_B, 0);
        assert_eq!(read(&mut rtc, ms(1000), REG_HOURS), 0x80 | 0x12, "12 PM");
        write(&mut rtc, ms(1000), REG_B, B_SET);
        write(&mut rtc, ms(1000), REG_HOURS, 0x80 | 0x12);
        write(&mut rtc, ms(1000), REG_MINUTES, 0x59);
        write(&mut rtc, ms(1000), REG_SECONDS, 0x59);
        write(&mut rtc, ms(1000), REG_B, 0);
        assert_eq!(read(&mut rtc, ms(2000), REG_HOURS), 0x80 | 0x01, "1 PM");
        // 11:59:59 PM rolls to 12 AM of the next day.
        write(&mut rtc, ms(2000), REG_B, B_SET);
        write(&mut rtc, ms(2000), REG_HOURS, 0x80 | 0x11);
        write(&mut rtc, ms(2000), REG_MINUTES, 0x59);
        write(&mut rtc, ms(2000), REG_SECONDS, 0x59);
        let day = read(&mut rtc, ms(2000), REG_DAY_OF_MONTH);
        write(&mut rtc, ms(2000), REG_B, 0);
        assert_eq!(read(&mut rtc, ms(3000), REG_HOURS), 0x12);
        assert_eq!(read(&mut rtc, ms(3000), REG_DAY_OF_MONTH), day + 1);
        assert_eq!(rtc.datetime().hour, 0);
    }

    #[test]
    fn uip_is_set_for_244us_before_each_update() {
        let mut rtc = Rtc::new(START);
        let update = VirtualTime::from_secs(1);
        let before = |us: u64| VirtualTime::from_nanos(update.as_nanos() - us * 1000);
        assert_eq!(read(&mut rtc, before(246), REG_A) & A_UIP, 0);
        assert_eq!(read(&mut rtc, before(244), REG_A) & A_UIP, A_UIP);
        assert_eq!(read(&mut rtc, before(1), REG_A) & A_UIP, A_UIP);
        // While UIP is set the old time is still there; after it, the new.
        assert_eq!(read(&mut rtc, before(1), REG_SECONDS), 0x58);
        assert_eq!(read(&mut rtc, update, REG_A) & A_UIP, 0);
        assert_eq!(read(&mut rtc, update, REG_SECONDS), 0x59);
        // SET inhibits updates and clears UIP.
        let t = VirtualTime::from_nanos(2_000_000_000 - 100_000);
        assert_eq!(read(&mut rtc, t, REG_A) & A_UIP, A_UIP);
        write(&mut rtc, t, REG_B, B_SET | B_24H);
        assert_eq!(read(&mut rtc, t, REG_A) & A_UIP, 0);
    }

    #[test]
    fn update_ended_interrupt_and_register_c_clear_on_read() {
        let mut rtc = Rtc::new(START);
        // No periodic rate, so PF stays out of the way.
        write(&mut rtc, ms(0), REG_A, 0x20);
        write(&mut rtc, ms(0), REG_B, B_UIE | B_24H);
        assert_eq!(rtc.irq_levels(), 0);
        let d = rtc.next_deadline().unwrap();
        assert_eq!(d, VirtualTime::from_secs(1));
        rtc.advance(d);
        assert_eq!(rtc.irq_levels(), 1 << 8);
        assert_eq!(
            rtc.next_deadline(),
            None,
            "IRQ 8 stays high until C is read"
        );
        assert_eq!(read(&mut rtc, d, REG_C), C_IRQF | C_UF);
        assert_eq!(rtc.irq_levels(), 0);
        assert_eq!(read(&mut rtc, d, REG_C), 0);
        assert_eq!(rtc.next_deadline(), Some(VirtualTime::from_secs(2)));
        // The flag is set even with the interrupt disabled, without IRQF;
        // so is the alarm's: its registers are 00:00:00 and the update at 2 s
        // reached midnight.
        write(&mut rtc, d, REG_B, B_24H);
        assert_eq!(read(&mut rtc, ms(2500), REG_C), C_UF | C_AF);
        // SET clears UIE.
        write(&mut rtc, ms(2500), REG_B, B_SET | B_UIE | B_24H);
        assert_eq!(read(&mut rtc, ms(2500), REG_B), B_SET | B_24H);
    }

    #[test]
    fn alarm_with_exact_and_dont_care_values() {
        let mut rtc = Rtc::new(START);
        write(&mut rtc, ms(0), REG_A, 0x20);
        // Alarm at 00:00:01 (BCD).
        write(&mut rtc, ms(0), REG_SECONDS_ALARM, 0x01);
        write(&mut rtc, ms(0), REG_MINUTES_ALARM, 0x00);
        write(&mut rtc, ms(0), REG_HOURS_ALARM, 0x00);
        write(&mut rtc, ms(0), REG_B, B_AIE | B_24H);
        let mut t = ms(0);
        let mut fired = Vec::new();
        for _ in 0..5 {
            t = rtc.next_deadline().unwrap();
            rtc.advance(t);
            if rtc.irq_levels() != 0 {
                fired.push(read(&mut rtc, t, REG_SECONDS));
                assert_eq!(read(&mut rtc, t, REG_C), C_IRQF | C_AF | C_UF);
            }
        }
        assert_eq!(fired, [0x01]);
        // Don't-care hours and minutes (0xC0-0xFF): every minute at :30.
        write(&mut rtc, t, REG_SECONDS_ALARM, 0x30);
        write(&mut rtc, t, REG_MINUTES_ALARM, 0xC0);
        write(&mut rtc, t, REG_HOURS_ALARM, 0xFF);
        read(&mut rtc, t, REG_C);
        rtc.advance(t.add_nanos(130 * 1_000_000_000));
        assert_eq!(read_now(&mut rtc, REG_C) & C_AF, C_AF);
        // All three don't-care: every second.
        write_now(&mut rtc, REG_SECONDS_ALARM, 0xC5);
        let now = rtc.now;
        rtc.advance(now.add_nanos(1_000_000_000));
        assert_eq!(read_now(&mut rtc, REG_C) & C_AF, C_AF);
    }

    #[test]
    fn periodic_interrupt_rates() {
        // Register A RS and the period of table 5 (32.768 kHz time base).
        for (rs, period_us) in [
            (3u8, 122.0703125),
            (6, 976.5625),
            (1, 3906.25),
            (2, 7812.5),
            (8, 3906.25),
            (15, 500_000.0),
        ] {
            let mut rtc = Rtc::new(START);
            write(&mut rtc, ms(0), REG_A, 0x20 | rs);
            write(&mut rtc, ms(0), REG_B, B_PIE | B_24H);
            for i in 1..=4u64 {
                let t = rtc.next_deadline().unwrap();
                let expect = i as f64 * period_us * 1000.0;
                assert!(
                    (t.as_nanos() as f64 - expect).abs() < 1.0,
                    "rs {rs}: edge {i} at {t}, expected {expect} ns"
                );
                rtc.advance(t);
                assert_eq!(rtc.irq_levels(), 1 << 8);
                // (At whole seconds the update and alarm flags join in.)
                assert_eq!(read(&mut rtc, t, REG_C) & (C_IRQF | C_PF), C_IRQF | C_PF);
            }
        }
        // RS = 0: none.
        let mut rtc = Rtc::new(START);
        write(&mut rtc, ms(0), REG_A, 0x20);
        write(&mut rtc, ms(0), REG_B, B_PIE | B_24H);
        assert_eq!(rtc.next_deadline(), None);
    }

    #[test]
    fn enabling_an_interrupt_with_its_flag_set_raises_irq8() {
        let mut rtc = Rtc::new(START);
        rtc.advance(ms(10));
        assert_eq!(rtc.irq_levels(), 0);
        write(&mut rtc, ms(10), REG_B, B_PIE | B_24H);
        assert_eq!(
            rtc.irq_levels(),
            1 << 8,
            "PF was set by the running divider"
        );
    }

    #[test]
    fn divider_reset_holds_the_clock_and_restarts_half_a_second_later() {
        let mut rtc = Rtc::new(START);
        write(&mut rtc, ms(500), REG_A, 0x70 | 0x06);
        assert_eq!(read(&mut rtc, ms(5000), REG_SECONDS), 0x58);
        write(&mut rtc, ms(5000), REG_A, 0x26);
        assert_eq!(read(&mut rtc, ms(5499), REG_SECONDS), 0x58);
        assert_eq!(read(&mut rtc, ms(5500), REG_SECONDS), 0x59);
        assert_eq!(read(&mut rtc, ms(6500), REG_SECONDS), 0x00);
    }

    #[test]
    fn daylight_saving_spring_forward_and_fall_back_once() {
        // 2024-04-28 was the last Sunday in April.
        let spring = DateTime {
            year: 2024,
            month: 4,
            day: 28,
            hour: 1,
            minute: 59,
            second: 59,
        };
        let mut rtc = Rtc::new(spring);
        write(&mut rtc, ms(0), REG_B, B_DSE | B_24H);
        assert_eq!(
            clock_regs(&mut rtc, ms(1000))[..5],
            [0x00, 0, 0x00, 0, 0x03]
        );
        let fall = DateTime {
            month: 10,
            day: 27,
            ..spring
        };
        let mut rtc = Rtc::new(fall);
        write(&mut rtc, ms(0), REG_B, B_DSE | B_24H);
        assert_eq!(read(&mut rtc, ms(1000), REG_HOURS), 0x01);
        assert_eq!(read(&mut rtc, ms(1000), REG_MINUTES), 0x00);
        rtc.advance(VirtualTime::from_secs(3601));
        assert_eq!(read_now(&mut rtc, REG_HOURS), 0x02, "only once");
    }

    #[test]
    fn nmi_mask_index_and_cmos_ram() {
        let mut rtc = Rtc::new(START);
        rtc.write_port(ms(0), RTC_INDEX, 0x80 | 0x40);
        assert!(rtc.nmi_disabled());
        rtc.write_port(ms(0), RTC_DATA, 0xA5);
        assert_eq!(rtc.read_port(ms(0), RTC_DATA), 0xA5);
        assert_eq!(rtc.cmos(0x40), 0xA5);
        rtc.write_port(ms(0), RTC_INDEX, 0x7F);
        assert!(!rtc.nmi_disabled());
        rtc.write_port(ms(0), RTC_DATA, 0x11);
        assert_eq!(rtc.cmos(0x7F), 0x11);
        // Port 0x70 is write-only.
        assert_eq!(rtc.read_port(ms(0), RTC_INDEX), 0xFF);
        // C and D ignore writes.
        write(&mut rtc, ms(0), REG_D, 0);
        assert_eq!(read(&mut rtc, ms(0), REG_D), 0x80);
        write(&mut rtc, ms(0), REG_C, 0xFF);
        assert_eq!(read(&mut rtc, ms(0), REG_C), 0);
        // UIP is read-only.
        write(&mut rtc, ms(0), REG_A, 0xA6);
        assert_eq!(read(&mut rtc, ms(0), REG_A), 0x26);
    }

    #[test]
    fn machine_fills_memory_disks_and_checksum() {
        let mut rtc = Rtc::new(START);
        rtc.set_memory_size(64 * 1024 * 1024);
        assert_eq!((rtc.cmos(0x15), rtc.cmos(0x16)), (0x80, 0x02));
        assert_eq!((rtc.cmos(0x17), rtc.cmos(0x18)), (0x00, 0xFC));
        assert_eq!((rtc.cmos(0x30), rtc.cmos(0x31)), (0x00, 0xFC));
        assert_eq!((rtc.cmos(0x34), rtc.cmos(0x35)), (0x00, 0x03));
        // 512 KiB machine.
        rtc.set_memory_size(512 * 1024);
        assert_eq!((rtc.cmos(0x15), rtc.cmos(0x16)), (0x00, 0x02));
        assert_eq!(rtc.cmos(0x17), 0);
        // 4 GiB: extended memory caps at 0xFFFF KiB.
        rtc.set_memory_size(4 << 30);
        assert_eq!((rtc.cmos(0x17), rtc.cmos(0x18)), (0xFF, 0xFF));
        assert_eq!((rtc.cmos(0x34), rtc.cmos(0x35)), (0x00, 0xFF));
        rtc.set_equipment(0x41);
        rtc.set_floppy_types(4, 0);
        assert_eq!(rtc.cmos(0x10), 0x40);
        rtc.set_hard_disk_type(0, 47);
        rtc.set_hard_disk_type(1, 2);
        assert_eq!(rtc.cmos(0x12), 0xF2);
        assert_eq!((rtc.cmos(0x19), rtc.cmos(0x1A)), (47, 0));
        assert!(rtc.checksum_ok());
        let sum: u16 = (0x10..=0x2D).map(|i| rtc.cmos(i) as u16).sum();
        assert_eq!(rtc.cmos(0x2E) as u16 * 256 + rtc.cmos(0x2F) as u16, sum);
        // Raw writes leave the checksum to the caller.
        rtc.set_cmos(0x11, 0x01);
        assert!(!rtc.checksum_ok());
        rtc.update_checksum();
        assert!(rtc.checksum_ok());
        rtc.set_cmos(0x00, 0x33);
        assert_eq!(rtc.cmos(0x00), 0x58, "clock registers are not CMOS RAM");
    }

    #[test]
    fn garbage_in_the_clock_registers_does_not_panic() {
        let mut rtc = Rtc::new(START);
        for binary in [false, true] {
            let b = if binary { B_DM_BINARY } else { 0 };
            for v in [0x00u8, 0x7F, 0x99, 0xFF] {
                write_now(&mut rtc, REG_B, B_SET | b);
                for reg in 0..10 {
                    write_now(&mut rtc, reg, v);
                }
                write_now(&mut rtc, REG_B, b | B_UIE | B_AIE);
                let now = rtc.now;
                rtc.advance(now.add_nanos(100 * 86_400 * 1_000_000_000));
                let regs = {
                    let now = rtc.now;
                    clock_regs(&mut rtc, now)
                };
                // The calendar has normalized itself.
                let dt = rtc.datetime();
                assert!(
                    dt.second < 60 && dt.minute < 60 && dt.hour < 24,
                    "{regs:x?}"
                );
                assert!((1..=12).contains(&dt.month) && (1..=31).contains(&dt.day));
            }
        }
    }

    #[test]
    fn a_long_halt_is_fast_and_exact() {
        let mut rtc = Rtc::new(START);
        // Ten years minus two seconds, in one step.
        let secs = DateTime {
            year: 2034,
            month: 2,
            day: 28,
            hour: 23,
            minute: 59,
            second: 58,
        }
        .to_unix()
            - START.to_unix();
        rtc.advance(VirtualTime::from_secs(secs));
        let dt = rtc.datetime();
        assert_eq!((dt.year, dt.month, dt.day), (2034, 2, 28));
        assert_eq!((dt.hour, dt.minute, dt.second), (23, 59, 58));
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut rtc = Rtc::new(START);
        rtc.set_memory_size(16 << 20);
        write(&mut rtc, ms(0), REG_A, 0x2A);
        write(&mut rtc, ms(0), REG_B, B_PIE | B_UIE | B_24H);
        rtc.write_port(ms(10), RTC_INDEX, 0x8C);
        rtc.advance(ms(1234));
        let json = serde_json::to_string(&rtc).unwrap();
        let mut back: Rtc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rtc);
        for t in [1300u64, 2000, 2001, 5000] {
            assert_eq!(back.next_deadline(), rtc.next_deadline());
            assert_eq!(
                back.read_port(ms(t), RTC_DATA),
                rtc.read_port(ms(t), RTC_DATA)
            );
            assert_eq!(back.irq_levels(), rtc.irq_levels());
        }
        // A saved CMOS of the wrong size is refused.
        let bad = json.replacen("[", "[1,", 1);
        assert!(serde_json::from_str::<Rtc>(&bad).is_err());
    }
}
