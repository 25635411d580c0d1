//! The floppy disk controller: an Intel 82077AA in PC-AT mode, with up to
//! two drives, on ports 0x3F0-0x3F5 and 0x3F7, IRQ 6 and ISA DMA channel 2.
//!
//! References: Intel 82077AA CHMOS Single-Chip Floppy Disk Controller
//! datasheet (order no. 290166), cited below by its section titles:
//! "Register Description" (DOR, MSR, DSR, FIFO, DIR, CCR; SRA/SRB exist
//! in PS/2 mode only), "Reset" (DOR and DSR resets, what they keep),
//! "Polling" (the four reset interrupts), "Command Set/Descriptions",
//! "Status Register 0-3", "Drive Polling"; IBM PC/AT Technical Reference
//! for the wiring (DOR bit 3 gates IRQ 6 and DRQ 2).
//!
//! # Media and drives
//!
//! A drive holds a [`Media`] of 512-byte sectors whose size names its
//! format ([`FloppyFormat::for_size`]: 160K to 2.88M); the drive is the
//! type the format is native to (a 1.44M image sits in a 3.5" HD drive).
//! A sector is found only if the data rate (DSR/CCR) is the medium's and
//! the command's C/H/R/N equal the ID the medium has under the head: the
//! physical track the head was stepped to, the head, 1..=sectors, N = 2.
//!
//! # Timing
//!
//! Time is the guest's virtual time. The spindle turns at 300 rpm (360 for
//! 1.2M media), sectors are evenly spread from the index, and the angle
//! under the head is `now` modulo a revolution, so a transfer waits for
//! its sector like the real drive and reading a whole track takes one
//! revolution. A seek takes one step time (SPECIFY's SRT) per track. The
//! spindle is always at speed (the motor bits of the DOR only show in
//! the registers): guests that read without the motor on still work.
//!
//! # Data transfer
//!
//! In DMA mode (SPECIFY ND = 0) a sector's bytes are offered on DREQ 2
//! when the sector has passed the head (reads) or asked for when it is
//! about to (writes); the machine runs the 8237 ([`crate::dma8237`]),
//! which calls this device's [`DmaDevice`] methods. TC ends the command
//! after the current sector. In non-DMA mode the bytes go through the
//! FIFO port with MSR.NDM set and INT asserted while a byte is wanted.

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::VirtualTime;
use crate::device::{Device, IrqMask};
use crate::disk::{BlockDevice, DiskError, Media, SECTOR_SIZE};
use crate::dma8237::DmaDevice;

pub const FDC_BASE: u16 = 0x3F0;
pub const FDC_IRQ: u8 = 6;
pub const FDC_DMA_CHANNEL: usize = 2;
/// Drives the controller has cables for here (A: and B:).
pub const MAX_DRIVES: usize = 2;

// Register offsets from 0x3F0.
const SRA: u16 = 0;
const SRB: u16 = 1;
const DOR: u16 = 2;
const TDR: u16 = 3;
const MSR_DSR: u16 = 4;
const FIFO: u16 = 5;
const DIR_CCR: u16 = 7;

// DOR bits.
const DOR_NRESET: u8 = 0x04;
const DOR_DMAGATE: u8 = 0x08;

// MSR bits.
const MSR_RQM: u8 = 0x80;
const MSR_DIO: u8 = 0x40;
const MSR_NDM: u8 = 0x20;
const MSR_CB: u8 = 0x10;

// DSR bits.
const DSR_SWRESET: u8 = 0x80;

// Status register 0.
const ST0_ABNORMAL: u8 = 0x40;
const ST0_INVALID: u8 = 0x80;
const ST0_POLL: u8 = 0xC0;
const ST0_SEEK_END: u8 = 0x20;
const ST0_EQUIPMENT: u8 = 0x10;
// Status register 1.
const ST1_EN: u8 = 0x80;
const ST1_ND: u8 = 0x04;
const ST1_NW: u8 = 0x02;
const ST1_MA: u8 = 0x01;
// Status register 2.
const ST2_WC: u8 = 0x10;
const ST2_BC: u8 = 0x02;

/// VERSION's answer: an enhanced controller (82077AA, "Command Set").
pub const VERSION_82077AA: u8 = 0x90;

/// The data rates the DSR/CCR select (bits 1-0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataRate {
    K500 = 0,
    K300 = 1,
    K250 = 2,
    M1 = 3,
}

/// The drive types of CMOS register 0x10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriveType {
    None = 0,
    D360K = 1,
    D1200K = 2,
    D720K = 3,
    D1440K = 4,
    D2880K = 5,
}

/// A standard diskette format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloppyFormat {
    pub name: &'static str,
    pub cylinders: u8,
    pub heads: u8,
    pub sectors: u8,
    pub drive: DriveType,
    pub rate: DataRate,
    /// Revolutions per minute of the drive it is native to.
    pub rpm: u32,
}

impl FloppyFormat {
    pub const fn bytes(&self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64 * SECTOR_SIZE as u64
    }

    /// The format of an image of `bytes`.
    pub fn for_size(bytes: u64) -> Option<&'static FloppyFormat> {
        FORMATS.iter().find(|f| f.bytes() == bytes)
    }

    /// The number of the sector (1-based `r`) at cylinder `c`, head `h`.
    fn lba(&self, c: u8, h: u8, r: u8) -> u64 {
        (c as u64 * self.heads as u64 + h as u64) * self.sectors as u64 + (r.max(1) as u64 - 1)
    }

    /// One revolution, in nanoseconds.
    fn revolution(&self) -> u64 {
        60_000_000_000 / self.rpm as u64
    }

    /// The gap from the index pulse to the first sector (GAP 4a, the
    /// index mark, GAP 1; with the pre-index gap, a twentieth of a
    /// track): a host that issues the next head's read as the last
    /// sector ends still finds sector 1 ahead.
    fn index_gap(&self) -> u64 {
        self.revolution() / 20
    }

    /// The time one sector (ID, data and gap) takes to pass the head.
    fn sector_time(&self) -> u64 {
        (self.revolution() - self.index_gap()) / self.sectors as u64
    }

    /// Where sector `r` (1-based) starts, in nanoseconds after the index.
    fn sector_offset(&self, r: u8) -> u64 {
        self.index_gap() + (r.max(1) as u64 - 1) * self.sector_time()
    }
}

const fn format(
    name: &'static str,
    cylinders: u8,
    heads: u8,
    sectors: u8,
    drive: DriveType,
    rate: DataRate,
    rpm: u32,
) -> FloppyFormat {
    FloppyFormat {
        name,
        cylinders,
        heads,
        sectors,
        drive,
        rate,
        rpm,
    }
}

/// The formats oxbox recognises by image size (IBM's and the 3.5" ones).
pub const FORMATS: [FloppyFormat; 8] = [
    format("160K", 40, 1, 8, DriveType::D360K, DataRate::K250, 300),
    format("180K", 40, 1, 9, DriveType::D360K, DataRate::K250, 300),
    format("320K", 40, 2, 8, DriveType::D360K, DataRate::K250, 300),
    format("360K", 40, 2, 9, DriveType::D360K, DataRate::K250, 300),
    format("720K", 80, 2, 9, DriveType::D720K, DataRate::K250, 300),
    format("1.2M", 80, 2, 15, DriveType::D1200K, DataRate::K500, 360),
    format("1.44M", 80, 2, 18, DriveType::D1440K, DataRate::K500, 300),
    format("2.88M", 80, 2, 36, DriveType::D2880K, DataRate::M1, 300),
];

/// Why an image cannot go into a floppy drive.
#[derive(Debug)]
pub enum FloppyError {
    /// Not the size of any known format.
    UnknownSize { bytes: u64 },
    /// Not 512-byte sectors.
    SectorSize(usize),
    /// No such drive.
    NoDrive(usize),
}

impl std::fmt::Display for FloppyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FloppyError::UnknownSize { bytes } => {
                write!(f, "{bytes} bytes is not a diskette size oxbox knows (")?;
                for (i, fm) in FORMATS.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{} = {}", fm.name, fm.bytes())?;
                }
                write!(f, ")")
            }
            FloppyError::SectorSize(n) => write!(f, "{n}-byte sectors are not a diskette's"),
            FloppyError::NoDrive(n) => write!(f, "there is no floppy drive {n}"),
        }
    }
}

impl std::error::Error for FloppyError {}

/// A drive and its diskette.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Drive {
    /// The medium's format; `None`: no drive.
    format: Option<FloppyFormatId>,
    media: Media,
    /// Where the head physically is.
    track: u8,
    /// The disk change line (DIR bit 7): set at power-on and when the
    /// diskette is removed, cleared by a step pulse with a diskette in.
    changed: bool,
}

/// A format by its index in [`FORMATS`], for the saved state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FloppyFormatId(u8);

impl FloppyFormatId {
    fn get(self) -> &'static FloppyFormat {
        &FORMATS[self.0 as usize % FORMATS.len()]
    }
}

impl Drive {
    fn format(&self) -> Option<&'static FloppyFormat> {
        self.format.map(FloppyFormatId::get)
    }

    fn has_medium(&self) -> bool {
        self.format.is_some() && self.media.sectors() > 0
    }

    fn step_to(&mut self, track: u8) {
        if track != self.track && self.has_medium() {
            self.changed = false;
        }
        self.track = track;
    }
}

/// What the controller's FIFO is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Taking command bytes.
    Command,
    /// Carrying out a command (MSR.CB set, no RQM unless non-DMA data).
    Execution,
    /// Result bytes to read.
    Result,
}

/// A data command under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Op {
    Read,
    Write,
    Format,
}

/// What the next event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Event {
    /// The end of a reset: the polling interrupt.
    ResetDone,
    /// A seek or recalibrate of a drive finished.
    SeekDone { drive: u8, st0: u8 },
    /// The current sector passed the head (reads: data ready; writes
    /// and formats: written).
    SectorEnd,
    /// The current sector reaches the head: writes want its data.
    SectorStart,
    /// A command ends with the results already prepared.
    Finish,
}

/// The state of a READ DATA, WRITE DATA or FORMAT TRACK.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Transfer {
    op: Op,
    drive: u8,
    head: u8,
    /// The sector ID being transferred.
    c: u8,
    h: u8,
    r: u8,
    n: u8,
    eot: u8,
    multi_track: bool,
    /// FORMAT: sectors still to format, and the fill byte.
    format_left: u8,
    fill: u8,
    /// The sector's bytes, and how many have moved.
    buf: Vec<u8>,
    pos: usize,
    /// Whether `buf` is waiting for the host (data ready / data wanted).
    waiting: bool,
    /// TC arrived (DMA EOP#): end after this sector.
    tc: bool,
    /// When the last sector passed the head.
    last_end: VirtualTime,
}

/// The 82077AA and its drives.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fdc {
    dor: u8,
    /// Data rate select (DSR/CCR bits 1-0) and precompensation (DSR).
    dsr: u8,
    phase: Phase,
    command: Vec<u8>,
    result: Vec<u8>,
    result_pos: usize,
    /// The INT output (before the DOR's gate).
    int: bool,
    /// Interrupt status the next SENSE INTERRUPT STATUS returns, per
    /// drive: ST0 of a finished seek.
    seek_status: [Option<u8>; 4],
    /// After a reset: how many of the four polling statuses are left.
    reset_sense: u8,
    /// The controller's present cylinder number per drive.
    pcn: [u8; 4],
    /// Drives seeking (MSR bits 0-3).
    seeking: u8,
    // SPECIFY.
    step_rate: u8,
    head_unload: u8,
    head_load: u8,
    non_dma: bool,
    // CONFIGURE, PERPENDICULAR MODE, LOCK.
    implied_seek: bool,
    fifo_disabled: bool,
    poll_disabled: bool,
    fifo_threshold: u8,
    precomp_track: u8,
    perpendicular: u8,
    lock: bool,
    /// The EOT of the last data command (DUMPREG).
    last_eot: u8,
    drives: [Drive; MAX_DRIVES],
    transfer: Option<Transfer>,
    event: Option<(VirtualTime, Event)>,
    /// The INT line rose since the last `advance` report.
    rose: bool,
    now: VirtualTime,
}

impl Default for Fdc {
    fn default() -> Self {
        Fdc::new()
    }
}

/// The commands the controller knows ("Command Set"): the first byte's
/// fixed bits name the command, the others (MT, MFM, SK, LOCK, relative
/// seek's direction) are options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    ReadData,
    WriteData,
    ReadId,
    FormatTrack,
    Specify,
    SenseDriveStatus,
    Recalibrate,
    SenseInterrupt,
    Seek,
    Version,
    Dumpreg,
    Perpendicular,
    Configure,
    Lock,
    Invalid,
}

impl Command {
    fn decode(op: u8) -> Command {
        match op {
            _ if op & 0x1F == 0x06 => Command::ReadData,
            _ if op & 0x3F == 0x05 => Command::WriteData,
            _ if op & 0xBF == 0x0A => Command::ReadId,
            _ if op & 0xBF == 0x0D => Command::FormatTrack,
            0x03 => Command::Specify,
            0x04 => Command::SenseDriveStatus,
            0x07 => Command::Recalibrate,
            0x08 => Command::SenseInterrupt,
            // SEEK, and RELATIVE SEEK (bit 7 set, bit 6 the direction).
            _ if op & 0x3F == 0x0F && (op & 0x80 != 0 || op & 0x40 == 0) => Command::Seek,
            0x10 => Command::Version,
            0x0E => Command::Dumpreg,
            0x12 => Command::Perpendicular,
            0x13 => Command::Configure,
            0x14 | 0x94 => Command::Lock,
            _ => Command::Invalid,
        }
    }

    /// Bytes in the command phase, the opcode included.
    fn length(self) -> usize {
        match self {
            Command::ReadData | Command::WriteData => 9,
            Command::FormatTrack => 6,
            Command::Configure => 4,
            Command::Specify | Command::Seek => 3,
            Command::ReadId
            | Command::SenseDriveStatus
            | Command::Recalibrate
            | Command::Perpendicular => 2,
            _ => 1,
        }
    }
}

impl Fdc {
    /// The controller after power-on: in reset until the guest sets
    /// DOR bit 2 (the BIOS does), no drives.
    pub fn new() -> Fdc {
        Fdc {
            dor: 0,
            dsr: DataRate::K250 as u8,
            phase: Phase::Command,
            command: Vec::new(),
            result: Vec::new(),
            result_pos: 0,
            int: false,
            seek_status: [None; 4],
            reset_sense: 0,
            pcn: [0; 4],
            seeking: 0,
            step_rate: 0,
            head_unload: 0,
            head_load: 0,
            non_dma: false,
            implied_seek: false,
            fifo_disabled: true,
            poll_disabled: false,
            fifo_threshold: 0,
            precomp_track: 0,
            perpendicular: 0,
            lock: false,
            last_eot: 0,
            drives: Default::default(),
            transfer: None,
            event: None,
            rose: false,
            now: VirtualTime::ZERO,
        }
    }

    /// The RESET pin (the ISA bus's RSTDRV on a hard reset): the power-on
    /// state, LOCK and SPECIFY's values included; the drives keep their
    /// diskettes and heads.
    pub fn reset_pin(&mut self) {
        let drives = std::mem::take(&mut self.drives);
        *self = Fdc {
            drives,
            now: self.now,
            ..Fdc::new()
        };
    }

    /// Put a diskette drive at `unit` (0 = A:, 1 = B:) holding `disk`, a
    /// medium whose size is a known format. The drive type follows the
    /// format.
    pub fn attach(&mut self, unit: usize, disk: Box<dyn BlockDevice>) -> Result<(), FloppyError> {
        if unit >= MAX_DRIVES {
            return Err(FloppyError::NoDrive(unit));
        }
        if disk.sector_size() != SECTOR_SIZE {
            return Err(FloppyError::SectorSize(disk.sector_size()));
        }
        let bytes = disk.sectors() * SECTOR_SIZE as u64;
        let index = FORMATS
            .iter()
            .position(|f| f.bytes() == bytes)
            .ok_or(FloppyError::UnknownSize { bytes })?;
        self.drives[unit] = Drive {
            format: Some(FloppyFormatId(index as u8)),
            media: Media::new(disk),
            track: 0,
            changed: true,
        };
        Ok(())
    }

    /// After restoring a saved state: give drive `unit` its image again
    /// (same size; a `--snapshot` overlay gets its written sectors back).
    pub fn reattach(&mut self, unit: usize, disk: Box<dyn BlockDevice>) -> Result<(), DiskError> {
        let d = self.drives.get_mut(unit).ok_or(DiskError::NoDrive)?;
        match d.media.saved.take() {
            Some(saved) => d.media.restore(saved, disk),
            None => Err(DiskError::NoDrive),
        }
    }

    /// Whether [`Fdc::reattach`] would take `disk` for drive `unit`,
    /// checked without taking it (a machine restore refuses a state
    /// before it has changed anything).
    pub fn check_reattach(&self, unit: usize, disk: &dyn BlockDevice) -> Result<(), DiskError> {
        match self.drives.get(unit).and_then(|d| d.media.saved.as_ref()) {
            Some(saved) => saved.check(disk),
            None => Err(DiskError::NoDrive),
        }
    }

    /// Take drive `unit`'s image out (a machine restore hands it to the
    /// restored controller).
    pub fn take_medium(&mut self, unit: usize) -> Option<Box<dyn BlockDevice>> {
        let d = self.drives.get_mut(unit)?;
        d.media.saved = None;
        d.media.disk.take()
    }

    /// The CMOS drive type of `unit`.
    pub fn drive_type(&self, unit: usize) -> DriveType {
        self.drives
            .get(unit)
            .and_then(Drive::format)
            .map_or(DriveType::None, |f| f.drive)
    }

    /// The medium's format in drive `unit`.
    pub fn format(&self, unit: usize) -> Option<&'static FloppyFormat> {
        self.drives.get(unit).and_then(Drive::format)
    }

    /// How many drives are installed.
    pub fn drive_count(&self) -> usize {
        self.drives.iter().filter(|d| d.format.is_some()).count()
    }

    /// Make the written sectors durable.
    pub fn flush_all(&mut self) -> Result<(), DiskError> {
        let mut result = Ok(());
        for d in &mut self.drives {
            if let Err(e) = d.media.flush() {
                result = Err(e);
            }
        }
        result
    }

    /// The medium of drive `unit`.
    pub fn medium(&self, unit: usize) -> Option<&dyn BlockDevice> {
        self.drives.get(unit).and_then(|d| d.media.disk.as_deref())
    }

    /// The medium of drive `unit`, to read or write behind the guest.
    pub fn medium_mut(&mut self, unit: usize) -> Option<&mut (dyn BlockDevice + 'static)> {
        self.drives
            .get_mut(unit)
            .and_then(|d| d.media.disk.as_deref_mut())
    }

    /// DREQ 2: a sector's bytes wait in DMA mode and the DOR lets the
    /// request through.
    pub fn dreq(&self) -> bool {
        !self.non_dma
            && self.dor & DOR_DMAGATE != 0
            && self.transfer.as_ref().is_some_and(|t| t.waiting)
    }

    fn in_reset(&self) -> bool {
        self.dor & DOR_NRESET == 0
    }

    fn set_int(&mut self, level: bool) {
        if level && !self.int {
            self.rose = true;
        }
        self.int = level;
    }

    /// A DOR or DSR reset ("Reset"): the FIFO and the command in progress
    /// go, as do the interrupt and the drives' seek statuses; SPECIFY's
    /// values stay, and CONFIGURE's and PRETRK stay when LOCK is set.
    fn reset(&mut self) {
        self.phase = Phase::Command;
        self.command.clear();
        self.result.clear();
        self.result_pos = 0;
        self.set_int(false);
        self.seek_status = [None; 4];
        self.reset_sense = 0;
        self.pcn = [0; 4];
        self.seeking = 0;
        self.transfer = None;
        self.event = None;
        // PERPENDICULAR MODE: a reset clears GAP and WGATE, not the
        // drive bits ("Perpendicular Mode Command").
        self.perpendicular &= 0x3C;
        if !self.lock {
            self.implied_seek = false;
            self.fifo_disabled = true;
            self.poll_disabled = false;
            self.fifo_threshold = 0;
            self.precomp_track = 0;
        }
    }

    /// Leaving reset: the controller polls the drives and, finding their
    /// ready lines changed, interrupts once; SENSE INTERRUPT STATUS then
    /// answers for drives 0-3 in turn ("Polling").
    fn end_reset(&mut self) {
        self.event = Some((self.now.add_nanos(RESET_DELAY_NS), Event::ResetDone));
    }

    fn selected(&self) -> usize {
        (self.dor & 3) as usize
    }

    fn msr(&self) -> u8 {
        if self.in_reset() {
            return 0;
        }
        let busy = self.seeking & 0x0F;
        match self.phase {
            Phase::Command => {
                let cb = if self.command.is_empty() { 0 } else { MSR_CB };
                MSR_RQM | cb | busy
            }
            Phase::Result => MSR_RQM | MSR_DIO | MSR_CB | busy,
            Phase::Execution => {
                let mut v = MSR_CB | busy;
                if let Some(t) = &self.transfer {
                    if self.non_dma {
                        v |= MSR_NDM;
                        if t.waiting {
                            v |= MSR_RQM;
                            if t.op == Op::Read {
                                v |= MSR_DIO;
                            }
                        }
                    }
                }
                v
            }
        }
    }

    fn read_register(&mut self, reg: u16) -> u8 {
        match reg {
            // PS/2-mode status registers: in AT mode the pins they would
            // drive float on the 82077AA; PC BIOSes never read them.
            SRA | SRB => 0xFF,
            DOR => self.dor,
            TDR => 0,
            MSR_DSR => self.msr(),
            FIFO => self.read_fifo(),
            DIR_CCR => {
                // DIR: bit 7 the selected drive's disk change line; the
                // others belong to the IDE controller's 3F7h in AT mode.
                match self.drives.get(self.selected()) {
                    Some(d) if d.format.is_some() && d.changed => 0x80,
                    _ => 0x00,
                }
            }
            _ => 0xFF,
        }
    }

    fn write_register(&mut self, reg: u16, v: u8) {
        match reg {
            DOR => {
                let was_reset = self.in_reset();
                self.dor = v;
                if !was_reset && self.in_reset() {
                    self.reset();
                } else if was_reset && !self.in_reset() {
                    self.end_reset();
                }
            }
            MSR_DSR => {
                self.dsr = v & 0x7F;
                if v & DSR_SWRESET != 0 && !self.in_reset() {
                    // Self-clearing: a reset and its end at once.
                    self.reset();
                    self.end_reset();
                }
            }
            FIFO => self.write_fifo(v),
            // CCR: the data rate only.
            DIR_CCR => self.dsr = (self.dsr & !3) | (v & 3),
            _ => {}
        }
    }

    fn rate(&self) -> u8 {
        self.dsr & 3
    }

    fn read_fifo(&mut self) -> u8 {
        if self.in_reset() {
            return 0;
        }
        match self.phase {
            Phase::Result => {
                let v = self.result.get(self.result_pos).copied().unwrap_or(0);
                // Reading the first result byte clears INT.
                if self.result_pos == 0 {
                    self.set_int(false);
                }
                self.result_pos += 1;
                if self.result_pos >= self.result.len() {
                    self.phase = Phase::Command;
                    self.result.clear();
                    self.result_pos = 0;
                }
                v
            }
            Phase::Execution if self.non_dma => {
                let mut b = [0u8];
                if self.dma_read(&mut b, false) == 1 {
                    b[0]
                } else {
                    0
                }
            }
            _ => 0,
        }
    }

    fn write_fifo(&mut self, v: u8) {
        if self.in_reset() {
            return;
        }
        match self.phase {
            Phase::Command => {
                self.command.push(v);
                if self.command.len() >= Command::decode(self.command[0]).length() {
                    self.execute();
                }
            }
            Phase::Execution if self.non_dma => {
                self.dma_write(&[v], false);
            }
            // A byte the controller does not want is lost.
            _ => {}
        }
    }

    fn finish_with(&mut self, result: Vec<u8>, int: bool) {
        self.transfer = None;
        self.result = result;
        self.result_pos = 0;
        self.phase = if self.result.is_empty() {
            Phase::Command
        } else {
            Phase::Result
        };
        if int {
            self.set_int(true);
        }
    }

    /// A command's last byte arrived: carry it out.
    fn execute(&mut self) {
        let cmd = std::mem::take(&mut self.command);
        tracing::debug!(target: "oxbox::fdc", "command {cmd:02x?}");
        let op = cmd[0];
        let drive = cmd.get(1).map_or(0, |b| b & 3);
        let head = cmd.get(1).map_or(0, |b| (b >> 2) & 1);
        self.phase = Phase::Execution;
        match Command::decode(op) {
            Command::Specify => {
                self.step_rate = cmd[1] >> 4;
                self.head_unload = cmd[1] & 0xF;
                self.head_load = cmd[2] >> 1;
                self.non_dma = cmd[2] & 1 != 0;
                self.finish_with(Vec::new(), false);
            }
            Command::SenseDriveStatus => {
                let st3 = self.st3(drive, head);
                self.finish_with(vec![st3], false);
            }
            Command::Recalibrate => self.seek(drive, head, None),
            Command::SenseInterrupt => {
                let r = self.sense_interrupt();
                self.finish_with(r, false);
            }
            Command::Seek => {
                let target = if op & 0x80 != 0 {
                    // RELATIVE SEEK: bit 6 steps inwards (higher tracks).
                    let p = self.pcn[drive as usize];
                    if op & 0x40 != 0 {
                        p.saturating_add(cmd[2])
                    } else {
                        p.saturating_sub(cmd[2])
                    }
                } else {
                    cmd[2]
                };
                self.seek(drive, head, Some(target));
            }
            Command::Version => self.finish_with(vec![VERSION_82077AA], false),
            Command::Dumpreg => {
                let r = self.dumpreg();
                self.finish_with(r, false);
            }
            Command::Perpendicular => {
                // OW (bit 7) makes bits 5-2 take effect.
                let v = cmd[1];
                let drives = if v & 0x80 != 0 {
                    v & 0x3C
                } else {
                    self.perpendicular & 0x3C
                };
                self.perpendicular = drives | (v & 3);
                self.finish_with(Vec::new(), false);
            }
            Command::Configure => {
                self.implied_seek = cmd[2] & 0x40 != 0;
                self.fifo_disabled = cmd[2] & 0x20 != 0;
                self.poll_disabled = cmd[2] & 0x10 != 0;
                self.fifo_threshold = cmd[2] & 0x0F;
                self.precomp_track = cmd[3];
                self.finish_with(Vec::new(), false);
            }
            Command::Lock => {
                self.lock = op & 0x80 != 0;
                self.finish_with(vec![(self.lock as u8) << 4], false);
            }
            Command::ReadData => self.start_transfer(Op::Read, &cmd),
            Command::WriteData => self.start_transfer(Op::Write, &cmd),
            Command::ReadId => self.read_id(drive, head, op & 0x40 != 0),
            Command::FormatTrack => self.start_format(&cmd),
            Command::Invalid => self.finish_with(vec![ST0_INVALID], false),
        }
    }

    /// ST3 ("Status Register 3"): WP, RDY and two-side always set on the
    /// 82077AA, track 0, head, drive.
    fn st3(&self, drive: u8, head: u8) -> u8 {
        let d = self.drives.get(drive as usize);
        let wp = d.is_some_and(|d| d.media.disk.is_some() && !d.media.writable());
        let t0 = d.is_some_and(|d| d.format.is_some() && d.track == 0);
        (wp as u8) << 6 | 0x28 | (t0 as u8) << 4 | head << 2 | drive
    }

    fn sense_interrupt(&mut self) -> Vec<u8> {
        if self.reset_sense > 0 {
            let d = 4 - self.reset_sense;
            self.reset_sense -= 1;
            if self.reset_sense == 0 {
                self.set_int(false);
            }
            return vec![ST0_POLL | d, self.pcn[d as usize]];
        }
        for d in 0..4 {
            if let Some(st0) = self.seek_status[d].take() {
                self.seeking &= !(1 << d);
                if self.seek_status.iter().all(Option::is_none) {
                    self.set_int(false);
                }
                return vec![st0, self.pcn[d]];
            }
        }
        vec![ST0_INVALID]
    }

    fn dumpreg(&self) -> Vec<u8> {
        vec![
            self.pcn[0],
            self.pcn[1],
            self.pcn[2],
            self.pcn[3],
            self.step_rate << 4 | self.head_unload,
            self.head_load << 1 | self.non_dma as u8,
            self.last_eot,
            (self.lock as u8) << 7 | (self.perpendicular & 0x3F),
            (self.implied_seek as u8) << 6
                | (self.fifo_disabled as u8) << 5
                | (self.poll_disabled as u8) << 4
                | self.fifo_threshold,
            self.precomp_track,
        ]
    }

    /// One step pulse's time: SPECIFY's SRT, scaled by the data rate
    /// ("SPECIFY": 16 - SRT ms at 500 kbps, 8 - SRT/2 at 1 Mbps).
    fn step_ns(&self) -> u64 {
        let units = 16 - self.step_rate as u64;
        let per_unit_us = match self.rate() {
            0 => 1000,
            1 => 1667,
            2 => 2000,
            _ => 500,
        };
        units * per_unit_us * 1000
    }

    /// SEEK (to `target`) or RECALIBRATE (`None`): the command phase ends
    /// at once (the drive's MSR busy bit is set) and the interrupt comes
    /// when the head is there.
    fn seek(&mut self, drive: u8, head: u8, target: Option<u8>) {
        let d = drive as usize;
        self.seeking |= 1 << d;
        self.seek_status[d] = None;
        let (steps, st0) = match (target, self.drives.get_mut(d)) {
            (Some(t), Some(dr)) if dr.format.is_some() => {
                let steps = t.abs_diff(self.pcn[d]);
                let phys = if t >= self.pcn[d] {
                    dr.track.saturating_add(steps)
                } else {
                    dr.track.saturating_sub(steps)
                };
                dr.step_to(phys.min(MAX_TRACK));
                self.pcn[d] = t;
                (steps as u64, ST0_SEEK_END | drive)
            }
            (None, Some(dr)) if dr.format.is_some() => {
                // RECALIBRATE steps out until TRK0, at most 79 times
                // (an 80-track drive's head is never further).
                let steps = dr.track.min(79);
                dr.step_to(dr.track - steps);
                self.pcn[d] = 0;
                (steps as u64, ST0_SEEK_END | drive)
            }
            // No drive: SEEK steps blind; RECALIBRATE never sees TRK0
            // and gives up with an equipment check after 79 steps.
            (Some(t), _) => {
                let steps = t.abs_diff(self.pcn[d]);
                self.pcn[d] = t;
                (steps as u64, ST0_SEEK_END | drive)
            }
            (None, _) => {
                self.pcn[d] = 0;
                (79, ST0_SEEK_END | ST0_ABNORMAL | ST0_EQUIPMENT | drive)
            }
        };
        let st0 = st0 | head << 2;
        let at = self
            .now
            .add_nanos(steps * self.step_ns() + SEEK_OVERHEAD_NS);
        self.finish_with(Vec::new(), false);
        self.event = Some((at, Event::SeekDone { drive, st0 }));
    }

    /// The angle under the head, as nanoseconds since the index pulse.
    fn angle(&self, f: &FloppyFormat) -> u64 {
        self.now.as_nanos() % f.revolution()
    }

    /// When sector `r` (1-based) next starts under the head.
    fn sector_start(&self, f: &FloppyFormat, r: u8) -> VirtualTime {
        self.sector_start_from(f, r, self.now)
    }

    /// When sector `r` next starts under the head after `from`.
    fn sector_start_from(&self, f: &FloppyFormat, r: u8, from: VirtualTime) -> VirtualTime {
        let start = f.sector_offset(r);
        let angle = from.as_nanos() % f.revolution();
        let wait = if start >= angle {
            start - angle
        } else {
            f.revolution() - angle + start
        };
        from.add_nanos(wait)
    }

    /// Two index pulses: how long the controller looks for an ID before
    /// it gives up ("Command Descriptions", READ DATA).
    fn give_up_time(&self, f: Option<&FloppyFormat>) -> VirtualTime {
        let rev = f.map_or(200_000_000, FloppyFormat::revolution);
        self.now.add_nanos(2 * rev)
    }

    /// End a command that moved no data with `st0`/`st1`/`st2` and the
    /// ID C/H/R/N at `at` (an error, or READ ID's answer).
    fn finish_at(&mut self, at: VirtualTime, st: [u8; 3], id: [u8; 4]) {
        self.transfer = None;
        self.result = vec![st[0], st[1], st[2], id[0], id[1], id[2], id[3]];
        self.result_pos = 0;
        self.event = Some((at, Event::Finish));
    }

    fn writable(&self, d: usize) -> bool {
        self.drives.get(d).is_some_and(|dr| dr.media.writable())
    }

    /// Whether sector C/H/R/N is on drive `d`'s medium under its head,
    /// with the data rate right. `Err((st1, st2))` if not.
    fn locate(&self, d: usize, head: u8, id: [u8; 4], mfm: bool) -> Result<(), (u8, u8)> {
        let Some(dr) = self.drives.get(d) else {
            return Err((ST1_MA, 0));
        };
        let Some(f) = dr.format() else {
            return Err((ST1_MA, 0));
        };
        if !dr.has_medium()
            || self.rate() != f.rate as u8
            || !mfm
            || dr.track >= f.cylinders
            || head >= f.heads
        {
            // No ID field can be read at all: Missing Address Mark.
            return Err((ST1_MA, 0));
        }
        let [c, h, r, n] = id;
        if c != dr.track {
            let st2 = if c == 0xFF { ST2_BC } else { ST2_WC };
            return Err((ST1_ND, st2));
        }
        if h != head || r == 0 || r > f.sectors || n != 2 {
            return Err((ST1_ND, 0));
        }
        Ok(())
    }

    fn start_transfer(&mut self, op: Op, cmd: &[u8]) {
        let drive = cmd[1] & 3;
        let head = (cmd[1] >> 2) & 1;
        let d = drive as usize;
        let mfm = cmd[0] & 0x40 != 0;
        let id = [cmd[2], cmd[3], cmd[4], cmd[5]];
        self.last_eot = cmd[6];
        if self.implied_seek && self.pcn[d] != id[0] {
            // Implied seek (CONFIGURE EIS): the head goes to C first;
            // the time it takes is folded into the wait for the sector.
            if let Some(dr) = self.drives.get_mut(d) {
                let steps = id[0].abs_diff(self.pcn[d]);
                let phys = if id[0] >= self.pcn[d] {
                    dr.track.saturating_add(steps)
                } else {
                    dr.track.saturating_sub(steps)
                };
                dr.step_to(phys.min(MAX_TRACK));
            }
            self.pcn[d] = id[0];
        }
        let st0 = head << 2 | drive;
        let format = self.drives.get(d).and_then(Drive::format);
        if let Err((st1, st2)) = self.locate(d, head, id, mfm) {
            let at = self.give_up_time(format);
            self.finish_at(at, [st0 | ST0_ABNORMAL, st1, st2], id);
            return;
        }
        if op == Op::Write && !self.writable(d) {
            let at = self.now.add_nanos(SEEK_OVERHEAD_NS);
            self.finish_at(at, [st0 | ST0_ABNORMAL, ST1_NW, 0], id);
            return;
        }
        let Some(f) = format else { return };
        self.transfer = Some(Transfer {
            op,
            drive,
            head,
            c: id[0],
            h: id[1],
            r: id[2],
            n: id[3],
            eot: cmd[6],
            multi_track: cmd[0] & 0x80 != 0,
            format_left: 0,
            fill: 0,
            buf: Vec::new(),
            pos: 0,
            waiting: false,
            tc: false,
            last_end: VirtualTime::ZERO,
        });
        let start = self.sector_start(f, id[2]);
        self.event = Some(match op {
            Op::Read => (start.add_nanos(f.sector_time()), Event::SectorEnd),
            _ => (start, Event::SectorStart),
        });
    }

    fn start_format(&mut self, cmd: &[u8]) {
        let drive = cmd[1] & 3;
        let head = (cmd[1] >> 2) & 1;
        let d = drive as usize;
        let mfm = cmd[0] & 0x40 != 0;
        let st0 = head << 2 | drive;
        let format = self.drives.get(d).and_then(Drive::format);
        let track = self.drives.get(d).map_or(0, |dr| dr.track);
        // Any sector ID of this track will do for the checks.
        let probe = [track, head, 1, 2];
        if let Err((st1, _)) = self.locate(d, head, probe, mfm) {
            let at = self.give_up_time(format);
            self.finish_at(at, [st0 | ST0_ABNORMAL, st1, 0], probe);
            return;
        }
        if !self.writable(d) {
            let at = self.now.add_nanos(SEEK_OVERHEAD_NS);
            self.finish_at(at, [st0 | ST0_ABNORMAL, ST1_NW, 0], probe);
            return;
        }
        let Some(f) = format else { return };
        self.transfer = Some(Transfer {
            op: Op::Format,
            drive,
            head,
            c: track,
            h: head,
            r: 1,
            n: cmd[2],
            eot: cmd[3],
            multi_track: false,
            format_left: cmd[3],
            fill: cmd[5],
            buf: Vec::new(),
            pos: 0,
            waiting: false,
            tc: false,
            last_end: VirtualTime::ZERO,
        });
        // Formatting starts at the index pulse.
        let at = self.sector_start(f, 1);
        self.event = Some((at, Event::SectorStart));
    }

    /// READ ID: the first ID field to pass the head.
    fn read_id(&mut self, drive: u8, head: u8, mfm: bool) {
        let d = drive as usize;
        let st0 = head << 2 | drive;
        let format = self.drives.get(d).and_then(Drive::format);
        let track = self.drives.get(d).map_or(0, |dr| dr.track);
        let probe = [track, head, 1, 2];
        let (at, st, id) = match (self.locate(d, head, probe, mfm), format) {
            (Ok(()), Some(f)) => {
                // The next sector whose start is still ahead.
                let st = f.sector_time();
                let past = self.angle(f).saturating_sub(f.index_gap()) / st;
                let r = ((past + 1) % f.sectors as u64) as u8 + 1;
                let at = self.sector_start(f, r).add_nanos(st.min(ID_FIELD_NS));
                (at, [st0, 0, 0], [track, head, r, 2])
            }
            (result, _) => {
                let (st1, st2) = result.err().unwrap_or((ST1_MA, 0));
                (
                    self.give_up_time(format),
                    [st0 | ST0_ABNORMAL, st1, st2],
                    probe,
                )
            }
        };
        self.finish_at(at, st, id);
    }

    /// The result of a data command that ran: ST0-2 and the ID of the
    /// sector after the last one transferred ("Command Descriptions",
    /// the table of C/H/R/N after a multi-sector transfer).
    fn transfer_result(&self, t: &Transfer, st: [u8; 3]) -> Vec<u8> {
        let (mut c, mut h, mut r) = (t.c, t.h, t.r);
        if r >= t.eot {
            r = 1;
            if t.multi_track && h & 1 == 0 {
                h |= 1;
            } else {
                c = c.wrapping_add(1);
                if t.multi_track {
                    h &= !1;
                }
            }
        } else {
            r += 1;
        }
        vec![st[0], st[1], st[2], c, h, r, t.n]
    }

    /// The command ends now with interrupt.
    fn end_transfer(&mut self, st: [u8; 3]) {
        let Some(t) = self.transfer.take() else {
            return;
        };
        let st0 = st[0] | t.head << 2 | t.drive;
        let r = self.transfer_result(&t, [st0, st[1], st[2]]);
        self.event = None;
        self.finish_with(r, true);
    }

    /// The sector of the current transfer is done (moved to or from the
    /// host and, for writes, on the medium): end, or go on to the next.
    fn sector_done(&mut self) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.waiting = false;
        let next_slot = match t.op {
            Op::Format => {
                t.format_left = t.format_left.saturating_sub(1);
                if t.format_left == 0 || t.tc {
                    // The result's ID is the last one formatted.
                    let st0 = t.head << 2 | t.drive;
                    let r = vec![st0, 0, 0, t.c, t.h, t.r, t.n];
                    self.finish_with(r, true);
                    return;
                }
                t.eot - t.format_left + 1
            }
            _ if t.tc => {
                self.end_transfer([0, 0, 0]);
                return;
            }
            _ if t.r >= t.eot => {
                if !(t.multi_track && t.head == 0) {
                    // Past EOT without TC: "End of Cylinder" (what a DMA
                    // count larger than the track gives).
                    self.end_transfer([ST0_ABNORMAL, ST1_EN, 0]);
                    return;
                }
                t.head = 1;
                t.h = 1;
                t.r = 1;
                1
            }
            _ => {
                t.r += 1;
                t.r
            }
        };
        let (op, d, head, id) = (t.op, t.drive as usize, t.head, [t.c, t.h, t.r, t.n]);
        let last_end = t.last_end;
        if op != Op::Format {
            // The next sector must be on the medium as well.
            if let Err((st1, st2)) = self.locate(d, head, id, true) {
                let format = self.drives.get(d).and_then(Drive::format);
                let at = self.give_up_time(format);
                let st0 = ST0_ABNORMAL | head << 2 | d as u8;
                self.finish_at(at, [st0, st1, st2], id);
                return;
            }
        }
        let Some(f) = self.drives.get(d).and_then(Drive::format) else {
            return;
        };
        // A host that took the data in the gap after the last sector
        // (as DMA does) gets the next one at once; a slower one waits
        // for it to come round again.
        let from = if self.now.nanos_since(last_end) <= f.sector_time() / 2 {
            last_end
        } else {
            self.now
        };
        let start = self.sector_start_from(f, next_slot, from);
        self.event = Some(match op {
            Op::Read => (start.add_nanos(f.sector_time()), Event::SectorEnd),
            _ => (start, Event::SectorStart),
        });
    }

    /// Run the event due at or before `self.now`.
    fn run_event(&mut self, ev: Event) {
        match ev {
            Event::ResetDone => {
                self.reset_sense = 4;
                self.set_int(true);
            }
            Event::SeekDone { drive, st0 } => {
                self.seek_status[drive as usize] = Some(st0);
                self.set_int(true);
            }
            Event::Finish => {
                self.phase = Phase::Result;
                self.set_int(true);
            }
            Event::SectorStart => self.sector_start_event(),
            Event::SectorEnd => self.sector_end_event(),
        }
    }

    fn sector_start_event(&mut self) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        // Writes: the sector's data is wanted now. FORMAT: its 4-byte ID.
        let len = if t.op == Op::Format { 4 } else { SECTOR_SIZE };
        t.buf = vec![0; len];
        t.pos = 0;
        t.waiting = true;
        if self.non_dma {
            self.set_int(true);
        }
    }

    fn sector_end_event(&mut self) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.last_end = self.now;
        let Some(dr) = self.drives.get_mut(t.drive as usize) else {
            return;
        };
        let (Some(f), track) = (dr.format(), dr.track) else {
            return;
        };
        match t.op {
            Op::Read => {
                let mut buf = vec![0; SECTOR_SIZE];
                if dr.media.read(f.lba(track, t.head, t.r), &mut buf).is_err() {
                    // A host read error shows as a CRC error in the data.
                    self.end_transfer([ST0_ABNORMAL, 0x20, 0x20]);
                    return;
                }
                t.buf = buf;
                t.pos = 0;
                t.waiting = true;
                if self.non_dma {
                    self.set_int(true);
                }
            }
            Op::Write | Op::Format => {
                let (lba, data) = if t.op == Op::Write {
                    (Some(f.lba(track, t.head, t.r)), std::mem::take(&mut t.buf))
                } else {
                    // The ID the host gave: C, H, R, N. Sectors that fit
                    // the medium's layout are filled.
                    let mut id = [0u8; 4];
                    for (i, b) in t.buf.iter().take(4).enumerate() {
                        id[i] = *b;
                    }
                    [t.c, t.h, t.r, t.n] = id;
                    let fits = (1..=f.sectors).contains(&t.r) && t.n == 2;
                    let lba = fits.then(|| f.lba(track, t.head, t.r));
                    (lba, vec![t.fill; SECTOR_SIZE])
                };
                if let Some(lba) = lba {
                    if dr.media.write(lba, &data).is_err() {
                        self.end_transfer([ST0_ABNORMAL, ST1_NW, 0]);
                        return;
                    }
                }
                self.sector_done();
            }
        }
    }

    fn irq_line(&self) -> bool {
        self.int && self.dor & DOR_DMAGATE != 0
    }

    /// Bring the controller to `now`, running due events.
    fn run_until(&mut self, now: VirtualTime) {
        while let Some((at, ev)) = self.event {
            if at > now {
                break;
            }
            self.event = None;
            self.now = self.now.max(at);
            self.run_event(ev);
        }
        self.now = self.now.max(now);
    }
}

/// From leaving reset to the polling interrupt (a few µs on the chip).
const RESET_DELAY_NS: u64 = 10_000;
/// Command overhead before a seek's first step or a write-protect error.
const SEEK_OVERHEAD_NS: u64 = 20_000;
/// An ID field's length, roughly (READ ID ends after it).
const ID_FIELD_NS: u64 = 200_000;
/// The furthest track a drive's head goes.
const MAX_TRACK: u8 = 83;

impl DmaDevice for Fdc {
    fn dreq(&self) -> bool {
        Fdc::dreq(self)
    }

    fn dma_read(&mut self, buf: &mut [u8], tc: bool) -> usize {
        let Some(t) = self.transfer.as_mut() else {
            return 0;
        };
        if !t.waiting || t.op != Op::Read {
            return 0;
        }
        let n = buf.len().min(t.buf.len() - t.pos);
        buf[..n].copy_from_slice(&t.buf[t.pos..t.pos + n]);
        t.pos += n;
        t.tc |= tc && n == buf.len();
        if t.pos == t.buf.len() {
            if self.non_dma {
                self.set_int(false);
            }
            self.sector_done();
        }
        n
    }

    fn dma_write(&mut self, data: &[u8], tc: bool) -> usize {
        let Some(t) = self.transfer.as_mut() else {
            return 0;
        };
        if !t.waiting || t.op == Op::Read {
            return 0;
        }
        let n = data.len().min(t.buf.len() - t.pos);
        t.buf[t.pos..t.pos + n].copy_from_slice(&data[..n]);
        t.pos += n;
        t.tc |= tc && n == data.len();
        if t.pos == t.buf.len() {
            t.waiting = false;
            let drive = t.drive as usize;
            if self.non_dma {
                self.set_int(false);
            }
            // The data is in; it reaches the medium as the sector passes.
            let sector = self
                .drives
                .get(drive)
                .and_then(Drive::format)
                .map_or(0, FloppyFormat::sector_time);
            self.event = Some((self.now.add_nanos(sector), Event::SectorEnd));
        }
        n
    }
}

impl Device for Fdc {
    fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32 {
        self.run_until(now);
        (0..size.bytes() as u16).fold(0, |v, i| {
            let reg = port.wrapping_add(i).wrapping_sub(FDC_BASE);
            v | (self.read_register(reg) as u32) << (8 * i)
        })
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32) {
        self.run_until(now);
        for i in 0..size.bytes() as u16 {
            let reg = port.wrapping_add(i).wrapping_sub(FDC_BASE);
            self.write_register(reg, (value >> (8 * i)) as u8);
        }
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        self.run_until(now);
        let rose = std::mem::take(&mut self.rose) && self.dor & DOR_DMAGATE != 0;
        (rose as IrqMask) << FDC_IRQ
    }

    fn next_deadline(&self) -> Option<VirtualTime> {
        // Every event may raise INT or DREQ 2.
        self.event.map(|(t, _)| t)
    }

    fn irq_levels(&self) -> IrqMask {
        (self.irq_line() as IrqMask) << FDC_IRQ
    }
}
