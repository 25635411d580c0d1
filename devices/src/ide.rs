//! The PC's IDE interface as the Intel PIIX3 provides it: two ATA channels
//! on their legacy ports, each with a master and a slave drive (hard disks
//! speaking ATA, CD-ROM drives speaking ATAPI), plus the bus-master DMA
//! engine of PCI function 1.
//!
//! References: T13/1410D "AT Attachment with Packet Interface - 6"
//! (ATA/ATAPI-6), revision 3b: the clauses "Interface register
//! definitions and descriptions" (Status, Error, Device, Device Control
//! with nIEN, SRST and HOB, the HOB read-back of the 48-bit registers),
//! "Command descriptions" (each command below by name; IDENTIFY DEVICE's
//! word table), and "Protocol" (PIO data-in, PIO data-out, non-data, DMA
//! and PACKET command protocols, the software reset protocol and the
//! signatures it leaves). Intel 82371FB (PIIX) and 82371SB (PIIX3)
//! datasheet, order no. 290550-002, "Bus master IDE registers" (BMICOM,
//! BMISTA, BMIDTP at BAR4) and "Bus master IDE operation" (the physical
//! region descriptor table); SFF-8038i rev 1.0 for the same programming
//! interface.
//!
//! # Wiring
//!
//! | channel   | command block | control | IRQ |
//! |-----------|---------------|---------|-----|
//! | primary   | 0x1F0-0x1F7   | 0x3F6   | 14  |
//! | secondary | 0x170-0x177   | 0x376   | 15  |
//!
//! Port 0x3F7 belongs to the floppy controller and is not decoded here.
//! The bus-master block is 16 ports at the I/O base the PCI BAR4 holds
//! (primary at +0, secondary at +8); the PCI configuration space is built
//! elsewhere from [`PIIX3_IDE_VENDOR_ID`] and friends, and tells this
//! device its base with [`IdeController::set_bus_master_base`] (or routes
//! accesses to [`IdeController::bus_master_read`]/`_write` by offset).
//! Every port takes accesses of any width: the data port moves a 16-bit
//! word per word access and two per dword access; the other registers are
//! bytes, and a wider access is split into bytes at consecutive ports, as
//! the PIIX's byte enables do. [`IdeController::port_ranges`] lists what
//! to map.
//!
//! # Attaching media
//!
//! The machine builds the controller with [`IdeController::new`], then
//! [`IdeController::attach_disk`] (a [`BlockDevice`] of 512-byte sectors)
//! and [`IdeController::attach_cdrom`] (a drive, with or without a medium
//! of 2048-byte sectors) per position, before the guest runs.
//! [`IdeController::flush_all`] makes every write durable (at exit; each
//! write is already in the host file, see [`crate::disk`]).
//!
//! # DMA
//!
//! The device cannot see guest memory; the machine implements
//! [`DmaMemory`] over physical memory and calls
//! [`IdeController::run_dma`] after each write to the controller's ports
//! (a cheap no-op unless [`IdeController::dma_pending`]). A DMA transfer
//! starts once both the drive has its READ/WRITE DMA (or DMA PACKET)
//! command and the guest has set the bus master's Start bit, in either
//! order, and runs to completion inside that call: the PRD table is walked,
//! the data moved, INTRQ and the bus master's Interrupt bit set.
//!
//! # Timing and interrupts
//!
//! Commands complete at the access that issues them (BSY is never seen,
//! except while SRST is held): SeaBIOS, Linux's ata_piix and DOS drivers
//! all poll or wait for the interrupt and accept that. The line of a
//! channel is its selected drive's INTRQ, gated by nIEN; INTRQ rises when a
//! command completes and for each PIO data block (not the first block of a
//! write, nor the packet's command phase, per the protocols) and falls when
//! the Status register is read, a command is written or a reset begins.
//! The line is a level ([`Device::irq_levels`]); when a line falls and rises
//! again inside one access (a command written while the previous
//! completion was never acknowledged), [`Device::advance`] reports the
//! pulse and [`Device::next_deadline`] asks for that call, so the
//! edge-triggered 8259 input sees a new edge.
//!
//! # Saved state
//!
//! Everything serializes except the back ends (files cannot be saved):
//! a restored controller remembers each medium's size, and for an
//! [`Overlay`](crate::disk::Overlay) (`--snapshot`) the sectors written to
//! it, which [`IdeController::reattach`] puts back when the machine hands
//! the image over again.

use serde::{Deserialize, Serialize};

use crate::atapi::{self, Atapi, Medium, Outcome};
pub use crate::bus::DmaMemory;
use crate::bus::IoSize;
use crate::clock::VirtualTime;
use crate::device::{AccessWidths, Device, IrqMask};
use crate::disk::{
    BlockDevice, DiskError, Media, CD_SECTOR_SIZE, MAX_ATA_SECTORS, MAX_CD_SECTORS, SECTOR_SIZE,
};

pub const PRIMARY_COMMAND_BASE: u16 = 0x1F0;
pub const PRIMARY_CONTROL: u16 = 0x3F6;
pub const SECONDARY_COMMAND_BASE: u16 = 0x170;
pub const SECONDARY_CONTROL: u16 = 0x376;
pub const PRIMARY_IRQ: u8 = 14;
pub const SECONDARY_IRQ: u8 = 15;

/// PCI identity of the PIIX3's IDE function (bus 0, the PIIX3's device,
/// function 1).
pub const PIIX3_IDE_VENDOR_ID: u16 = 0x8086;
pub const PIIX3_IDE_DEVICE_ID: u16 = 0x7010;
/// Mass storage controller.
pub const PIIX3_IDE_CLASS: u8 = 0x01;
/// IDE controller.
pub const PIIX3_IDE_SUBCLASS: u8 = 0x01;
/// Bus-master capable; both channels fixed in legacy (compatibility) mode.
pub const PIIX3_IDE_PROG_IF: u8 = 0x80;
/// The BAR holding the bus-master I/O block.
pub const BUS_MASTER_BAR: usize = 4;
/// The size of the bus-master I/O block.
pub const BUS_MASTER_PORTS: u16 = 16;

// Status register.
pub const STATUS_BSY: u8 = 0x80;
pub const STATUS_DRDY: u8 = 0x40;
pub const STATUS_DF: u8 = 0x20;
/// Device seek complete (obsolete in ATA-6; drives still set it).
pub const STATUS_DSC: u8 = 0x10;
pub const STATUS_DRQ: u8 = 0x08;
pub const STATUS_ERR: u8 = 0x01;

// Error register.
pub const ERROR_UNC: u8 = 0x40;
pub const ERROR_IDNF: u8 = 0x10;
pub const ERROR_ABRT: u8 = 0x04;

// Device Control register.
pub const CONTROL_HOB: u8 = 0x80;
pub const CONTROL_SRST: u8 = 0x04;
pub const CONTROL_NIEN: u8 = 0x02;

// Device register.
pub const DEVICE_LBA: u8 = 0x40;
pub const DEVICE_DEV: u8 = 0x10;

// Bus master command and status registers.
pub const BM_COMMAND_START: u8 = 0x01;
/// Set: the bus master writes memory (a device-to-host transfer).
pub const BM_COMMAND_TO_MEMORY: u8 = 0x08;
pub const BM_STATUS_ACTIVE: u8 = 0x01;
pub const BM_STATUS_ERROR: u8 = 0x02;
pub const BM_STATUS_INTERRUPT: u8 = 0x04;
pub const BM_STATUS_DRIVE0_DMA: u8 = 0x20;
pub const BM_STATUS_DRIVE1_DMA: u8 = 0x40;

/// The largest READ/WRITE MULTIPLE block (IDENTIFY word 47).
pub const MAX_MULTIPLE: u16 = 16;
/// Sectors moved per back-end access during DMA.
const DMA_CHUNK_SECTORS: u64 = 128;
/// Bytes of ATAPI data moved per back-end access during DMA.
const ATAPI_DMA_CHUNK: u64 = 65536;

// Interrupt reason (ATAPI's sector count register).
const REASON_COD: u8 = 0x01;
const REASON_IO: u8 = 0x02;

/// One of the two ATA channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    Primary,
    Secondary,
}

impl Channel {
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn irq(self) -> u8 {
        match self {
            Channel::Primary => PRIMARY_IRQ,
            Channel::Secondary => SECONDARY_IRQ,
        }
    }

    pub const fn command_base(self) -> u16 {
        match self {
            Channel::Primary => PRIMARY_COMMAND_BASE,
            Channel::Secondary => SECONDARY_COMMAND_BASE,
        }
    }

    pub const fn control_port(self) -> u16 {
        match self {
            Channel::Primary => PRIMARY_CONTROL,
            Channel::Secondary => SECONDARY_CONTROL,
        }
    }
}

/// A position on a channel (the Device register's DEV bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    Master,
    Slave,
}

impl Unit {
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What sits at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriveKind {
    Absent,
    /// An ATA hard disk.
    Disk,
    /// An ATAPI CD-ROM drive.
    Cdrom,
}

/// A cylinder/head/sector geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chs {
    pub cylinders: u32,
    pub heads: u32,
    pub sectors: u32,
}

impl Chs {
    /// The default geometry ATA-6 prescribes for a capacity: 16 heads of
    /// 63 sectors, at most 16383 cylinders (a disk of 8 GB or more
    /// reports 16383/16/63); smaller for disks under 1008 sectors.
    pub fn for_capacity(total: u64) -> Chs {
        if total >= 16 * 63 {
            Chs {
                cylinders: (total / (16 * 63)).min(16383) as u32,
                heads: 16,
                sectors: 63,
            }
        } else {
            let sectors = total.clamp(1, 63);
            let heads = (total / sectors).clamp(1, 16);
            Chs {
                cylinders: (total / (heads * sectors)).max(1) as u32,
                heads: heads as u32,
                sectors: sectors as u32,
            }
        }
    }

    pub fn capacity(self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64
    }
}

/// How a command addressed its sectors (and how the registers report
/// positions back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Addr {
    Chs,
    Lba28,
    Lba48,
}

/// The command block registers as one device holds them. The 48-bit
/// registers keep the value written before the current one, which a read
/// with HOB set returns (ATA-6 "48-bit Address feature set").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TaskFile {
    /// `[current, previous]`.
    feature: [u8; 2],
    count: [u8; 2],
    lba_low: [u8; 2],
    lba_mid: [u8; 2],
    lba_high: [u8; 2],
    device: u8,
}

fn push(reg: &mut [u8; 2], v: u8) {
    reg[1] = reg[0];
    reg[0] = v;
}

/// Data still to come from the medium for an ATAPI data-in command, or
/// the reply of a command that returns data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Source {
    /// Bytes loaded and not yet sent: `data[at..]`.
    data: Vec<u8>,
    at: usize,
    /// The next sector of the medium to load, and how many are left.
    next_lba: u64,
    left: u64,
}

impl Source {
    fn remaining(&self) -> u64 {
        (self.data.len() - self.at) as u64 + self.left * CD_SECTOR_SIZE as u64
    }
}

/// The data transfer in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Xfer {
    #[default]
    Idle,
    /// One block of data-in prepared in the buffer (IDENTIFY): done when
    /// read.
    PioInOnce,
    /// READ SECTORS/MULTIPLE: the buffer holds a block; `next` is the
    /// first sector not yet loaded, `left` how many are not.
    AtaRead {
        next: u64,
        left: u64,
        block: u64,
        addr: Addr,
    },
    /// WRITE SECTORS/MULTIPLE: the buffer takes the block for `lba`;
    /// `left` sectors remain, that block included.
    AtaWrite {
        lba: u64,
        left: u64,
        block: u64,
        addr: Addr,
    },
    /// READ/WRITE DMA waiting for or under the bus master. Reads: as
    /// `AtaRead`; writes: as `AtaWrite`.
    AtaDma {
        write: bool,
        next: u64,
        left: u64,
        addr: Addr,
    },
    /// PACKET: the buffer takes the 12-byte command packet.
    Packet { dma: bool, limit: u16 },
    /// An ATAPI command sending data: by PIO, the buffer holds one DRQ
    /// block of at most `limit` bytes.
    AtapiIn { dma: bool, limit: u16, src: Source },
}

/// Fill `out` with up to `n` more bytes of `src`, loading sectors from
/// the medium as needed.
fn take(src: &mut Source, media: &mut Media, n: usize) -> Result<Vec<u8>, DiskError> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if src.at == src.data.len() {
            if src.left == 0 {
                break;
            }
            let k = src.left.min(32);
            src.data.clear();
            src.data.resize(k as usize * CD_SECTOR_SIZE, 0);
            src.at = 0;
            media.read(src.next_lba, &mut src.data)?;
            src.next_lba += k;
            src.left -= k;
        }
        let m = (n - out.len()).min(src.data.len() - src.at);
        out.extend_from_slice(&src.data[src.at..src.at + m]);
        src.at += m;
    }
    Ok(out)
}

/// Store `s` in IDENTIFY words the ATA way: two characters per word, the
/// first in the high byte, padded with spaces.
pub(crate) fn put_string(words: &mut [u16], s: &str) {
    let mut bytes = s.bytes().chain(std::iter::repeat(b' '));
    for w in words {
        let hi = bytes.next().unwrap_or(b' ');
        let lo = bytes.next().unwrap_or(b' ');
        *w = (hi as u16) << 8 | lo as u16;
    }
}

/// Word 255: signature A5h and a checksum making all 512 bytes sum to 0.
pub(crate) fn put_checksum(w: &mut [u16; 256]) {
    w[255] = 0x00A5;
    let sum = w.iter().fold(0u8, |s, &x| {
        s.wrapping_add(x as u8).wrapping_add((x >> 8) as u8)
    });
    w[255] |= (sum.wrapping_neg() as u16) << 8;
}

fn words_to_bytes(w: &[u16; 256]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One drive (or the empty position) on a channel.
#[derive(Debug, Serialize, Deserialize)]
struct Drive {
    kind: DriveKind,
    tf: TaskFile,
    status: u8,
    error: u8,
    intrq: bool,
    /// INTRQ went from low to high during the current access.
    #[serde(skip)]
    raised: bool,
    buf: Vec<u8>,
    pos: usize,
    xfer: Xfer,
    /// READ/WRITE MULTIPLE block size; 0 = multiple mode disabled.
    multiple: u16,
    default_chs: Chs,
    /// The translation INITIALIZE DEVICE PARAMETERS set up.
    chs: Chs,
    write_cache: bool,
    read_look_ahead: bool,
    /// SET FEATURES 66h/CCh: whether a software reset reverts the
    /// features to their power-on defaults.
    revert_on_reset: bool,
    /// IDENTIFY word 63 bits 8-10: the selected multiword DMA mode.
    mwdma_selected: u16,
    /// IDENTIFY word 88 bits 8-13: the selected Ultra DMA mode.
    udma_selected: u16,
    serial: String,
    atapi: Atapi,
    media: Media,
}

impl Drive {
    fn new(kind: DriveKind, index: usize, media: Media) -> Drive {
        let sectors = media.sectors();
        let chs = Chs::for_capacity(sectors.max(1));
        let mut d = Drive {
            kind,
            tf: TaskFile::default(),
            status: 0,
            error: 0,
            intrq: false,
            raised: false,
            buf: Vec::new(),
            pos: 0,
            xfer: Xfer::Idle,
            multiple: 0,
            default_chs: chs,
            chs,
            write_cache: true,
            read_look_ahead: true,
            revert_on_reset: true,
            mwdma_selected: 0,
            udma_selected: 0,
            serial: format!("OXB{:017}", index + 1),
            atapi: Atapi::new(),
            media,
        };
        d.reset_done();
        d
    }

    fn present(&self) -> bool {
        self.kind != DriveKind::Absent
    }

    fn raise(&mut self) {
        if !self.intrq {
            self.intrq = true;
            self.raised = true;
        }
    }

    /// SRST asserted: the drive is busy until it is released.
    fn reset_begin(&mut self) {
        self.xfer = Xfer::Idle;
        self.buf.clear();
        self.pos = 0;
        self.intrq = false;
        if self.present() {
            self.status = STATUS_BSY;
        }
    }

    /// The end of a reset (or EXECUTE DEVICE DIAGNOSTIC): diagnostic
    /// code 01h (passed) and the signature of the device type in the
    /// registers.
    fn reset_done(&mut self) {
        self.xfer = Xfer::Idle;
        self.buf.clear();
        self.pos = 0;
        self.tf = TaskFile::default();
        self.set_signature();
        self.error = 0x01;
        self.status = match self.kind {
            DriveKind::Disk => STATUS_DRDY | STATUS_DSC,
            // Packet devices clear DRDY after a reset.
            _ => 0,
        };
        if self.revert_on_reset {
            self.write_cache = true;
            self.read_look_ahead = true;
        }
        self.atapi.reset();
    }

    fn set_signature(&mut self) {
        self.tf.count[0] = 1;
        self.tf.lba_low[0] = 1;
        let (mid, high) = match self.kind {
            DriveKind::Disk => (0x00, 0x00),
            DriveKind::Cdrom => (0x14, 0xEB),
            // Nothing answers: reads as no known signature.
            DriveKind::Absent => (0xFF, 0xFF),
        };
        self.tf.lba_mid[0] = mid;
        self.tf.lba_high[0] = high;
        self.tf.device = 0;
    }

    /// Successful completion with an interrupt.
    fn complete(&mut self) {
        self.xfer = Xfer::Idle;
        self.buf.clear();
        self.pos = 0;
        self.status = STATUS_DRDY | STATUS_DSC;
        self.raise();
    }

    /// Error completion with an interrupt.
    fn fail(&mut self, error: u8) {
        self.xfer = Xfer::Idle;
        self.buf.clear();
        self.pos = 0;
        self.error = error;
        self.status = STATUS_DRDY | STATUS_ERR;
        self.raise();
    }

    fn begin_pio_in(&mut self, data: Vec<u8>) {
        self.buf = data;
        self.pos = 0;
        self.xfer = Xfer::PioInOnce;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.raise();
    }

    // ----- ATA commands -------------------------------------------------

    fn command(&mut self, cmd: u8) {
        if !self.present() {
            return;
        }
        if self.status & (STATUS_BSY | STATUS_DRQ) != 0
            && !(cmd == 0x08 && self.kind == DriveKind::Cdrom)
        {
            // The host may not write a command while BSY or DRQ is set;
            // drives ignore it (DEVICE RESET excepted).
            return;
        }
        tracing::debug!(target: "oxbox::ide", kind = ?self.kind, "command {cmd:#04x}");
        self.intrq = false;
        self.error = 0;
        match self.kind {
            DriveKind::Disk => self.ata_command(cmd),
            DriveKind::Cdrom => self.packet_device_command(cmd),
            DriveKind::Absent => {}
        }
    }

    fn ata_command(&mut self, cmd: u8) {
        let multiple = self.multiple as u64;
        match cmd {
            0xEC => {
                let words = self.identify_words();
                self.begin_pio_in(words_to_bytes(&words));
            }
            // READ SECTORS (with and without retries), READ SECTORS EXT.
            0x20 | 0x21 => self.start_read(false, 1, false),
            0x24 => self.start_read(true, 1, false),
            // READ MULTIPLE (EXT): only once SET MULTIPLE MODE enabled it.
            0xC4 | 0x29 if multiple == 0 => self.fail(ERROR_ABRT),
            0xC4 => self.start_read(false, multiple, false),
            0x29 => self.start_read(true, multiple, false),
            0xC8 | 0xC9 => self.start_read(false, 0, true),
            0x25 => self.start_read(true, 0, true),
            0x30 | 0x31 => self.start_write(false, 1, false),
            0x34 => self.start_write(true, 1, false),
            0xC5 | 0x39 if multiple == 0 => self.fail(ERROR_ABRT),
            0xC5 => self.start_write(false, multiple, false),
            0x39 => self.start_write(true, multiple, false),
            0xCA | 0xCB => self.start_write(false, 0, true),
            0x35 => self.start_write(true, 0, true),
            // READ VERIFY SECTORS (EXT): check the range, transfer nothing.
            0x40..=0x42 => {
                if let Some((lba, count, addr)) = self.checked_range(cmd == 0x42) {
                    self.set_address(lba + count - 1, addr);
                    self.set_count(0, addr);
                    self.complete();
                }
            }
            // SEEK: the address must exist.
            0x70..=0x7F => {
                if self.start_address(false).is_some() {
                    self.complete();
                }
            }
            // RECALIBRATE.
            0x10..=0x1F => {
                self.tf.lba_mid[0] = 0;
                self.tf.lba_high[0] = 0;
                self.complete();
            }
            0x91 => self.initialize_device_parameters(),
            0xC6 => {
                let n = self.tf.count[0] as u16;
                if n <= MAX_MULTIPLE && (n == 0 || n.is_power_of_two()) {
                    self.multiple = n;
                    self.complete();
                } else {
                    self.fail(ERROR_ABRT);
                }
            }
            0xEF => self.set_features(),
            // FLUSH CACHE (EXT).
            0xE7 | 0xEA => match self.media.flush() {
                Ok(()) => self.complete(),
                Err(_) => self.fail(ERROR_ABRT),
            },
            // CHECK POWER MODE: always active or idle.
            0xE5 | 0x98 => {
                self.tf.count[0] = 0xFF;
                self.complete();
            }
            // STANDBY/IDLE (IMMEDIATE), SLEEP, and their old opcodes:
            // accepted; the disk is always ready.
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 => self.complete(),
            // READ NATIVE MAX ADDRESS (EXT).
            0xF8 => {
                let max = self.sectors().min(1 << 28) - 1;
                self.set_address(max, Addr::Lba28);
                self.complete();
            }
            0x27 => {
                let max = self.sectors() - 1;
                self.set_address(max, Addr::Lba48);
                self.complete();
            }
            // NOP, DEVICE RESET and PACKET (not a packet device), and
            // everything else.
            _ => self.fail(ERROR_ABRT),
        }
    }

    fn sectors(&self) -> u64 {
        self.media.sectors().max(1)
    }

    /// The command's first sector from the registers, or `None` after
    /// failing the command with IDNF for a CHS address outside the
    /// current translation.
    fn start_address(&mut self, ext: bool) -> Option<(u64, Addr)> {
        let tf = self.tf;
        if ext {
            let lba = u64::from_le_bytes([
                tf.lba_low[0],
                tf.lba_mid[0],
                tf.lba_high[0],
                tf.lba_low[1],
                tf.lba_mid[1],
                tf.lba_high[1],
                0,
                0,
            ]);
            return Some((lba, Addr::Lba48));
        }
        if tf.device & DEVICE_LBA != 0 {
            let lba = ((tf.device & 0x0F) as u64) << 24
                | (tf.lba_high[0] as u64) << 16
                | (tf.lba_mid[0] as u64) << 8
                | tf.lba_low[0] as u64;
            return Some((lba, Addr::Lba28));
        }
        let cyl = (tf.lba_high[0] as u32) << 8 | tf.lba_mid[0] as u32;
        let head = (tf.device & 0x0F) as u32;
        let sector = tf.lba_low[0] as u32;
        let g = self.chs;
        if sector == 0 || sector > g.sectors || head >= g.heads || cyl >= g.cylinders {
            self.fail(ERROR_IDNF);
            return None;
        }
        let lba =
            (cyl as u64 * g.heads as u64 + head as u64) * g.sectors as u64 + sector as u64 - 1;
        Some((lba, Addr::Chs))
    }

    /// The command's sectors, checked to be on the disk; `None` after
    /// failing the command with IDNF.
    fn checked_range(&mut self, ext: bool) -> Option<(u64, u64, Addr)> {
        let (lba, addr) = self.start_address(ext)?;
        let count = if ext {
            match u16::from_le_bytes([self.tf.count[0], self.tf.count[1]]) {
                0 => 65536,
                n => n as u64,
            }
        } else {
            match self.tf.count[0] {
                0 => 256,
                n => n as u64,
            }
        };
        let limit = match addr {
            Addr::Lba48 => self.sectors(),
            // A 28-bit command reaches sector 0FFFFFFEh at most.
            Addr::Lba28 | Addr::Chs => self.sectors().min(0x0FFF_FFFF),
        };
        if self.media.disk.is_none() || lba + count > limit {
            self.set_address(lba.max(limit), addr);
            self.fail(ERROR_IDNF);
            return None;
        }
        Some((lba, count, addr))
    }

    /// Put a sector address in the registers the way the command addressed
    /// it (the position after a transfer, or of an error).
    fn set_address(&mut self, lba: u64, addr: Addr) {
        let b = lba.to_le_bytes();
        match addr {
            Addr::Lba48 => {
                self.tf.lba_low = [b[0], b[3]];
                self.tf.lba_mid = [b[1], b[4]];
                self.tf.lba_high = [b[2], b[5]];
            }
            Addr::Lba28 => {
                self.tf.lba_low[0] = b[0];
                self.tf.lba_mid[0] = b[1];
                self.tf.lba_high[0] = b[2];
                self.tf.device = (self.tf.device & 0xF0) | (b[3] & 0x0F);
            }
            Addr::Chs => {
                let g = self.chs;
                let track = g.heads as u64 * g.sectors as u64;
                if track == 0 {
                    return;
                }
                let cyl = lba / track;
                let head = (lba / g.sectors as u64) % g.heads as u64;
                let sector = lba % g.sectors as u64 + 1;
                self.tf.lba_low[0] = sector as u8;
                self.tf.lba_mid[0] = cyl as u8;
                self.tf.lba_high[0] = (cyl >> 8) as u8;
                self.tf.device = (self.tf.device & 0xF0) | (head as u8 & 0x0F);
            }
        }
    }

    fn set_count(&mut self, left: u64, addr: Addr) {
        self.tf.count[0] = left as u8;
        if addr == Addr::Lba48 {
            self.tf.count[1] = (left >> 8) as u8;
        }
    }

    /// READ SECTORS/MULTIPLE/DMA; `block` sectors per DRQ block (PIO).
    fn start_read(&mut self, ext: bool, block: u64, dma: bool) {
        let Some((lba, count, addr)) = self.checked_range(ext) else {
            return;
        };
        self.buf.clear();
        self.pos = 0;
        if dma {
            self.xfer = Xfer::AtaDma {
                write: false,
                next: lba,
                left: count,
                addr,
            };
            self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        } else {
            self.xfer = Xfer::AtaRead {
                next: lba,
                left: count,
                block,
                addr,
            };
            self.load_read_block();
        }
    }

    /// Load the next block of a PIO read and interrupt; or end the command
    /// when there is none.
    fn load_read_block(&mut self) {
        let Xfer::AtaRead {
            next,
            left,
            block,
            addr,
        } = self.xfer
        else {
            return;
        };
        if left == 0 {
            self.xfer = Xfer::Idle;
            self.buf.clear();
            self.pos = 0;
            self.status = STATUS_DRDY | STATUS_DSC;
            return;
        }
        let n = block.min(left);
        if !self.load_sectors(next, n, addr) {
            return;
        }
        self.xfer = Xfer::AtaRead {
            next: next + n,
            left: left - n,
            block,
            addr,
        };
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.raise();
    }

    /// Read `n` sectors at `lba` into the buffer; false after failing the
    /// command with UNC.
    fn load_sectors(&mut self, lba: u64, n: u64, addr: Addr) -> bool {
        self.buf.clear();
        self.buf.resize(n as usize * SECTOR_SIZE, 0);
        self.pos = 0;
        let result = self.media.read(lba, &mut self.buf);
        if result.is_err() {
            self.set_address(lba, addr);
            self.fail(ERROR_UNC);
            return false;
        }
        self.set_address(lba + n - 1, addr);
        let left_after = match self.xfer {
            Xfer::AtaRead { left, .. } | Xfer::AtaDma { left, .. } => left - n,
            _ => 0,
        };
        self.set_count(left_after, addr);
        true
    }

    /// WRITE SECTORS/MULTIPLE/DMA.
    fn start_write(&mut self, ext: bool, block: u64, dma: bool) {
        let Some((lba, count, addr)) = self.checked_range(ext) else {
            return;
        };
        if !self.media.writable() {
            self.fail(ERROR_ABRT);
            return;
        }
        let first = if dma {
            self.xfer = Xfer::AtaDma {
                write: true,
                next: lba,
                left: count,
                addr,
            };
            DMA_CHUNK_SECTORS.min(count)
        } else {
            self.xfer = Xfer::AtaWrite {
                lba,
                left: count,
                block,
                addr,
            };
            block.min(count)
        };
        self.buf.clear();
        self.buf.resize(first as usize * SECTOR_SIZE, 0);
        self.pos = 0;
        // The first block needs no interrupt: the host waits for DRQ.
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
    }

    /// Write the buffered sectors at `lba`; false after failing the
    /// command.
    fn commit_sectors(&mut self, lba: u64, left: u64, addr: Addr) -> bool {
        let n = (self.buf.len() / SECTOR_SIZE) as u64;
        if self.media.write(lba, &self.buf).is_err() {
            self.set_address(lba, addr);
            self.fail(ERROR_ABRT);
            return false;
        }
        self.set_address(lba + n - 1, addr);
        self.set_count(left - n, addr);
        true
    }

    /// The last sector of a write is in: with the write cache disabled
    /// it must reach the medium before the command completes.
    fn finish_write(&mut self) {
        if !self.write_cache && self.media.flush().is_err() {
            self.fail(ERROR_ABRT);
        } else {
            self.complete();
        }
    }

    /// A PIO write block is complete.
    fn pio_write_block_done(&mut self) {
        let Xfer::AtaWrite {
            lba,
            left,
            block,
            addr,
        } = self.xfer
        else {
            return;
        };
        let n = (self.buf.len() / SECTOR_SIZE) as u64;
        if !self.commit_sectors(lba, left, addr) {
            return;
        }
        let left = left - n;
        if left == 0 {
            self.finish_write();
            return;
        }
        self.xfer = Xfer::AtaWrite {
            lba: lba + n,
            left,
            block,
            addr,
        };
        self.buf.clear();
        self.buf.resize(block.min(left) as usize * SECTOR_SIZE, 0);
        self.pos = 0;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.raise();
    }

    fn initialize_device_parameters(&mut self) {
        let sectors = self.tf.count[0] as u32;
        let heads = (self.tf.device & 0x0F) as u32 + 1;
        if sectors == 0 {
            self.fail(ERROR_ABRT);
            return;
        }
        let reach = self.sectors().min(16_514_064);
        let cylinders = (reach / (heads as u64 * sectors as u64)).min(65535) as u32;
        self.chs = Chs {
            cylinders,
            heads,
            sectors,
        };
        self.complete();
    }

    fn set_features(&mut self) {
        let ok = match self.tf.feature[0] {
            // Set transfer mode from the sector count register.
            0x03 => {
                let v = self.tf.count[0];
                let mode = (v & 7) as u16;
                match v >> 3 {
                    // PIO default (with or without IORDY), PIO flow
                    // control modes.
                    0 => mode <= 1,
                    1 => mode <= 4,
                    4 if mode <= 2 => {
                        self.mwdma_selected = 0x100 << mode;
                        self.udma_selected = 0;
                        true
                    }
                    8 if mode <= 5 => {
                        self.udma_selected = 0x100 << mode;
                        self.mwdma_selected = 0;
                        true
                    }
                    _ => false,
                }
            }
            0x02 | 0x82 if self.kind == DriveKind::Disk => {
                self.write_cache = self.tf.feature[0] == 0x02;
                true
            }
            0xAA | 0x55 if self.kind == DriveKind::Disk => {
                self.read_look_ahead = self.tf.feature[0] == 0xAA;
                true
            }
            0x66 | 0xCC => {
                self.revert_on_reset = self.tf.feature[0] == 0xCC;
                true
            }
            _ => false,
        };
        if ok {
            self.complete();
        } else {
            self.fail(ERROR_ABRT);
        }
    }

    /// IDENTIFY DEVICE data of a hard disk.
    fn identify_words(&self) -> [u16; 256] {
        let total = self.sectors();
        let lba28 = total.min(0x0FFF_FFFF) as u32;
        let g = self.default_chs;
        let cur = self.chs;
        let cur_capacity = cur.capacity().min(u32::MAX as u64) as u32;
        let mut w = [0u16; 256];
        w[0] = 0x0040; // fixed device
        w[1] = g.cylinders as u16;
        w[2] = 0xC837; // the response is complete, no spin-up needed
        w[3] = g.heads as u16;
        w[6] = g.sectors as u16;
        put_string(&mut w[10..20], &self.serial);
        put_string(&mut w[23..27], "1.0");
        put_string(&mut w[27..47], "OXBOX HARDDISK");
        w[47] = 0x8000 | MAX_MULTIPLE;
        w[49] = 0x0F00; // IORDY, IORDY may be disabled, LBA, DMA
        w[50] = 0x4000;
        w[51] = 0x0200; // PIO timing mode 2 (obsolete field)
        w[53] = 0x0007; // words 54-58, 64-70 and 88 are valid
        w[54] = cur.cylinders as u16;
        w[55] = cur.heads as u16;
        w[56] = cur.sectors as u16;
        w[57] = cur_capacity as u16;
        w[58] = (cur_capacity >> 16) as u16;
        w[59] = if self.multiple != 0 {
            0x0100 | self.multiple
        } else {
            0
        };
        w[60] = lba28 as u16;
        w[61] = (lba28 >> 16) as u16;
        w[63] = 0x0007 | self.mwdma_selected; // multiword DMA 0-2
        w[64] = 0x0003; // PIO modes 3 and 4
        w[65] = 120; // minimum multiword DMA cycle, ns
        w[66] = 120; // recommended
        w[67] = 120; // minimum PIO cycle without flow control
        w[68] = 120; // with IORDY
        w[80] = 0x007E; // ATA/ATAPI-1 to -6
                        // Supported: NOP, look-ahead, write cache, power management;
                        // 48-bit addressing, FLUSH CACHE (EXT).
        w[82] = 0x4068;
        w[83] = 0x7400;
        w[84] = 0x4000;
        w[85] = 0x4008
            | if self.write_cache { 0x20 } else { 0 }
            | if self.read_look_ahead { 0x40 } else { 0 };
        w[86] = 0x3400;
        w[87] = 0x4000;
        w[88] = 0x003F | self.udma_selected; // Ultra DMA 0-5
        w[93] = 0x6001; // reset result, 80-conductor cable
        for (i, word) in w[100..104].iter_mut().enumerate() {
            *word = (total >> (16 * i)) as u16;
        }
        put_checksum(&mut w);
        w
    }

    // ----- Packet devices -----------------------------------------------

    fn packet_device_command(&mut self, cmd: u8) {
        match cmd {
            0xA1 => {
                let w = atapi::identify_packet_words(
                    &self.serial,
                    self.mwdma_selected,
                    self.udma_selected,
                );
                self.begin_pio_in(words_to_bytes(&w));
            }
            0xA0 => {
                let dma = self.tf.feature[0] & 0x01 != 0;
                let limit = u16::from_le_bytes([self.tf.lba_mid[0], self.tf.lba_high[0]]);
                self.xfer = Xfer::Packet { dma, limit };
                self.buf.clear();
                self.buf.resize(12, 0);
                self.pos = 0;
                self.tf.count[0] = REASON_COD;
                // Accelerated DRQ: no interrupt for the command phase.
                self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
            }
            // DEVICE RESET: no interrupt.
            0x08 => {
                self.reset_done();
            }
            0xEF => self.set_features(),
            0xE5 | 0x98 => {
                self.tf.count[0] = 0xFF;
                self.complete();
            }
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 => self.complete(),
            // IDENTIFY DEVICE and the reads of an ATA disk are aborted
            // with the packet signature in the registers, which is how a
            // host tells the device type.
            0xEC | 0x20 | 0x21 => {
                self.set_signature();
                self.fail(ERROR_ABRT);
            }
            _ => self.fail(ERROR_ABRT),
        }
    }

    fn medium(&self) -> Option<Medium> {
        self.media.disk.as_ref().map(|d| Medium {
            sectors: d.sectors(),
        })
    }

    /// The 12-byte packet is in.
    fn packet_received(&mut self) {
        let Xfer::Packet { dma, limit } = self.xfer else {
            return;
        };
        let mut cdb = [0u8; 12];
        cdb.copy_from_slice(&self.buf[..12]);
        let medium = self.medium();
        let src = match self.atapi.execute(&cdb, medium) {
            Outcome::Good => return self.packet_done(),
            Outcome::Check => return self.packet_done(),
            Outcome::DataIn(data) => Source {
                data,
                ..Source::default()
            },
            Outcome::Read { count: 0, .. } => return self.packet_done(),
            Outcome::Read { lba, count } => Source {
                next_lba: lba,
                left: count,
                ..Source::default()
            },
        };
        self.buf.clear();
        self.pos = 0;
        self.xfer = Xfer::AtapiIn { dma, limit, src };
        if dma {
            self.tf.count[0] = REASON_IO;
            self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        } else {
            self.next_packet_block();
        }
    }

    /// The status phase: GOOD, or CHECK CONDITION with the sense key in
    /// the error register.
    fn packet_done(&mut self) {
        let sense = self.atapi.sense();
        self.tf.count[0] = REASON_IO | REASON_COD;
        if sense.key != atapi::NO_SENSE {
            self.fail(sense.key << 4);
        } else {
            self.complete();
        }
    }

    /// Load the next PIO block of packet data (at most the byte count
    /// limit, an even number unless it is the last), or go to the status
    /// phase.
    fn next_packet_block(&mut self) {
        let Xfer::AtapiIn { limit, src, .. } = &mut self.xfer else {
            return;
        };
        let remaining = src.remaining();
        if remaining == 0 {
            return self.packet_done();
        }
        let limit = match *limit {
            0 | 0xFFFF => 0xFFFE,
            l => l,
        } as u64;
        let n = if remaining > limit {
            limit & !1
        } else {
            remaining
        };
        let n = n.max(1) as usize;
        match take(src, &mut self.media, n) {
            Ok(data) => {
                self.buf = data;
                self.pos = 0;
                let len = self.buf.len() as u16;
                self.tf.lba_mid[0] = len as u8;
                self.tf.lba_high[0] = (len >> 8) as u8;
                self.tf.count[0] = REASON_IO;
                self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.raise();
            }
            Err(_) => {
                self.atapi.read_failed();
                self.packet_done();
            }
        }
    }

    // ----- PIO data port ------------------------------------------------

    fn pio_in(&self) -> bool {
        self.status & STATUS_DRQ != 0
            && matches!(
                self.xfer,
                Xfer::PioInOnce | Xfer::AtaRead { .. } | Xfer::AtapiIn { dma: false, .. }
            )
    }

    fn pio_out(&self) -> bool {
        self.status & STATUS_DRQ != 0
            && matches!(self.xfer, Xfer::AtaWrite { .. } | Xfer::Packet { .. })
    }

    fn read_data(&mut self) -> u16 {
        if !self.pio_in() {
            return 0;
        }
        let lo = self.buf.get(self.pos).copied().unwrap_or(0);
        let hi = self.buf.get(self.pos + 1).copied().unwrap_or(0);
        self.pos += 2;
        if self.pos >= self.buf.len() {
            match self.xfer {
                Xfer::AtaRead { .. } => self.load_read_block(),
                Xfer::AtapiIn { .. } => self.next_packet_block(),
                _ => {
                    self.xfer = Xfer::Idle;
                    self.buf.clear();
                    self.pos = 0;
                    self.status = STATUS_DRDY | STATUS_DSC;
                }
            }
        }
        u16::from_le_bytes([lo, hi])
    }

    fn write_data(&mut self, v: u16) {
        if !self.pio_out() {
            return;
        }
        let [lo, hi] = v.to_le_bytes();
        if let Some(b) = self.buf.get_mut(self.pos) {
            *b = lo;
        }
        if let Some(b) = self.buf.get_mut(self.pos + 1) {
            *b = hi;
        }
        self.pos += 2;
        if self.pos >= self.buf.len() {
            match self.xfer {
                Xfer::AtaWrite { .. } => self.pio_write_block_done(),
                Xfer::Packet { .. } => self.packet_received(),
                _ => {}
            }
        }
    }

    // ----- DMA ----------------------------------------------------------

    fn dma_waiting(&self) -> bool {
        matches!(
            self.xfer,
            Xfer::AtaDma { .. } | Xfer::AtapiIn { dma: true, .. }
        )
    }

    fn dma_to_memory(&self) -> bool {
        !matches!(self.xfer, Xfer::AtaDma { write: true, .. })
    }

    /// The next bytes for the host (the unread rest of the buffer,
    /// refilled when empty), or `None` once the transfer has ended (the
    /// command was then completed or failed).
    fn dma_source(&mut self) -> Option<&[u8]> {
        if self.pos >= self.buf.len() {
            match &mut self.xfer {
                Xfer::AtaDma {
                    write: false,
                    next,
                    left,
                    addr,
                } => {
                    let (lba, l, a) = (*next, *left, *addr);
                    if l == 0 {
                        self.complete();
                        return None;
                    }
                    let n = DMA_CHUNK_SECTORS.min(l);
                    if !self.load_sectors(lba, n, a) {
                        return None;
                    }
                    self.xfer = Xfer::AtaDma {
                        write: false,
                        next: lba + n,
                        left: l - n,
                        addr: a,
                    };
                }
                Xfer::AtapiIn { dma: true, src, .. } => {
                    let remaining = src.remaining();
                    if remaining == 0 {
                        self.packet_done();
                        return None;
                    }
                    let n = remaining.min(ATAPI_DMA_CHUNK) as usize;
                    match take(src, &mut self.media, n) {
                        Ok(data) => {
                            self.buf = data;
                            self.pos = 0;
                        }
                        Err(_) => {
                            self.atapi.read_failed();
                            self.packet_done();
                            return None;
                        }
                    }
                }
                _ => return None,
            }
        }
        Some(&self.buf[self.pos..])
    }

    /// Room for the host's next bytes, or `None` once the transfer has
    /// ended.
    fn dma_sink(&mut self) -> Option<&mut [u8]> {
        match self.xfer {
            Xfer::AtaDma { write: true, .. } if self.pos < self.buf.len() => {
                Some(&mut self.buf[self.pos..])
            }
            _ => None,
        }
    }

    /// `n` bytes of the buffer went to or came from memory.
    fn dma_advanced(&mut self, n: usize) {
        self.pos += n;
        if self.pos < self.buf.len() {
            return;
        }
        if let Xfer::AtaDma {
            write: true,
            next,
            left,
            addr,
        } = self.xfer
        {
            let n = (self.buf.len() / SECTOR_SIZE) as u64;
            if !self.commit_sectors(next, left, addr) {
                return;
            }
            let left = left - n;
            if left == 0 {
                self.finish_write();
                return;
            }
            self.xfer = Xfer::AtaDma {
                write: true,
                next: next + n,
                left,
                addr,
            };
            self.buf.clear();
            self.buf
                .resize(DMA_CHUNK_SECTORS.min(left) as usize * SECTOR_SIZE, 0);
            self.pos = 0;
        }
    }
}

/// One channel's bus-master registers and PRD walker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct BusMaster {
    command: u8,
    status: u8,
    /// The descriptor table pointer (BMIDTP), dword aligned.
    prd_table: u32,
    /// The next descriptor to fetch.
    next_prd: u32,
    /// The current region: where and how much is left.
    addr: u32,
    left: u32,
    /// The current region is the table's last (EOT).
    last: bool,
}

impl BusMaster {
    fn read(&self, offset: u16) -> u8 {
        match offset {
            0 => self.command,
            2 => self.status,
            4..=7 => (self.prd_table >> (8 * (offset - 4))) as u8,
            _ => 0,
        }
    }

    fn write(&mut self, offset: u16, v: u8) {
        match offset {
            0 => {
                let was = self.command & BM_COMMAND_START != 0;
                self.command = v & (BM_COMMAND_START | BM_COMMAND_TO_MEMORY);
                let now = v & BM_COMMAND_START != 0;
                if now && !was {
                    // Start: walk the table from its beginning.
                    self.status |= BM_STATUS_ACTIVE;
                    self.next_prd = self.prd_table;
                    self.left = 0;
                    self.last = false;
                } else if was && !now {
                    // Stop: any transfer in progress is abandoned.
                    self.status &= !BM_STATUS_ACTIVE;
                }
            }
            2 => {
                // Error and Interrupt are write-one-to-clear; the drive
                // DMA capable bits are plain read/write.
                self.status &= !(v & (BM_STATUS_ERROR | BM_STATUS_INTERRUPT));
                self.status = (self.status & !(BM_STATUS_DRIVE0_DMA | BM_STATUS_DRIVE1_DMA))
                    | (v & (BM_STATUS_DRIVE0_DMA | BM_STATUS_DRIVE1_DMA));
            }
            4..=7 => {
                let shift = 8 * (offset - 4);
                self.prd_table = (self.prd_table & !(0xFF << shift)) | (v as u32) << shift;
                self.prd_table &= !3;
            }
            _ => {}
        }
    }

    fn running(&self) -> bool {
        self.command & BM_COMMAND_START != 0 && self.status & BM_STATUS_ACTIVE != 0
    }

    /// Move to the next region; false if the table is exhausted.
    fn fetch(&mut self, mem: &mut dyn DmaMemory) -> bool {
        if self.last {
            return false;
        }
        let mut prd = [0u8; 8];
        mem.read(self.next_prd, &mut prd);
        self.next_prd = self.next_prd.wrapping_add(8);
        let addr = u32::from_le_bytes([prd[0], prd[1], prd[2], prd[3]]);
        let count = u16::from_le_bytes([prd[4], prd[5]]) & !1;
        self.addr = addr & !1;
        self.left = if count == 0 { 0x1_0000 } else { count as u32 };
        self.last = prd[7] & 0x80 != 0;
        true
    }
}

/// One ATA channel: two positions, the Device Control register, the
/// bus master.
#[derive(Debug, Serialize, Deserialize)]
struct IdeChannel {
    drives: [Drive; 2],
    /// The selected position (DEV).
    select: usize,
    control: u8,
    bm: BusMaster,
}

impl IdeChannel {
    fn new(index: usize) -> IdeChannel {
        IdeChannel {
            drives: [
                Drive::new(DriveKind::Absent, 2 * index, Media::default()),
                Drive::new(DriveKind::Absent, 2 * index + 1, Media::default()),
            ],
            select: 0,
            control: 0,
            bm: BusMaster::default(),
        }
    }

    fn any_present(&self) -> bool {
        self.drives.iter().any(Drive::present)
    }

    fn irq_line(&self) -> bool {
        let d = &self.drives[self.select];
        d.present() && d.intrq && self.control & CONTROL_NIEN == 0
    }

    /// After an operation: the selected drive's INTRQ rose (and sets the
    /// bus master's Interrupt bit if it reaches the bus).
    fn take_raised(&mut self) -> bool {
        let mut rose = false;
        for (i, d) in self.drives.iter_mut().enumerate() {
            if std::mem::take(&mut d.raised) && self.control & CONTROL_NIEN == 0 {
                self.bm.status |= BM_STATUS_INTERRUPT;
                rose |= i == self.select;
            }
        }
        rose
    }

    fn read_data(&mut self, size: IoSize) -> u32 {
        let d = &mut self.drives[self.select];
        match size {
            IoSize::Byte => 0xFF,
            IoSize::Word => d.read_data() as u32,
            IoSize::Dword => {
                let lo = d.read_data() as u32;
                lo | (d.read_data() as u32) << 16
            }
        }
    }

    fn write_data(&mut self, size: IoSize, v: u32) {
        let d = &mut self.drives[self.select];
        match size {
            IoSize::Byte => {}
            IoSize::Word => d.write_data(v as u16),
            IoSize::Dword => {
                d.write_data(v as u16);
                d.write_data((v >> 16) as u16);
            }
        }
    }

    /// A command block register (offsets 1-7) or the alternate status
    /// (offset 8).
    fn read_register(&mut self, offset: u16) -> u8 {
        if !self.any_present() {
            return 0xFF;
        }
        let hob = self.control & CONTROL_HOB != 0;
        let d = &mut self.drives[self.select];
        if !d.present() && (offset == 7 || offset == 8) {
            return 0;
        }
        if d.status & STATUS_BSY != 0 && offset != 8 {
            // While BSY, every command block register reads as Status.
            return d.status;
        }
        let h = hob as usize;
        match offset {
            1 => d.error,
            2 => d.tf.count[h],
            3 => d.tf.lba_low[h],
            4 => d.tf.lba_mid[h],
            5 => d.tf.lba_high[h],
            6 => d.tf.device,
            7 => {
                d.intrq = false;
                d.status
            }
            _ => d.status,
        }
    }

    fn write_register(&mut self, offset: u16, v: u8) {
        if !self.any_present() {
            return;
        }
        if (1..=6).contains(&offset) {
            // Both devices latch the command block registers; a write
            // clears HOB.
            self.control &= !CONTROL_HOB;
            for d in &mut self.drives {
                if d.status & STATUS_BSY != 0 {
                    continue;
                }
                match offset {
                    1 => push(&mut d.tf.feature, v),
                    2 => push(&mut d.tf.count, v),
                    3 => push(&mut d.tf.lba_low, v),
                    4 => push(&mut d.tf.lba_mid, v),
                    5 => push(&mut d.tf.lba_high, v),
                    _ => d.tf.device = v,
                }
            }
            if offset == 6 && self.drives[self.select].status & STATUS_BSY == 0 {
                self.select = (v & DEVICE_DEV != 0) as usize;
            }
            return;
        }
        // The command register.
        if self.control & CONTROL_SRST != 0 {
            return;
        }
        if v == 0x90 {
            self.execute_device_diagnostic();
        } else {
            self.drives[self.select].command(v);
        }
    }

    /// EXECUTE DEVICE DIAGNOSTIC: both devices run it whichever is
    /// selected; device 0 reports, with an interrupt.
    fn execute_device_diagnostic(&mut self) {
        if self
            .drives
            .iter()
            .any(|d| d.present() && d.status & STATUS_BSY != 0)
        {
            return;
        }
        for d in &mut self.drives {
            d.intrq = false;
            d.reset_done();
        }
        self.select = 0;
        let reporter = if self.drives[0].present() { 0 } else { 1 };
        self.drives[reporter].raise();
    }

    fn write_control(&mut self, v: u8) {
        if !self.any_present() {
            return;
        }
        let was_reset = self.control & CONTROL_SRST != 0;
        self.control = v;
        let reset = v & CONTROL_SRST != 0;
        if reset && !was_reset {
            for d in &mut self.drives {
                d.reset_begin();
            }
        } else if was_reset && !reset {
            for d in &mut self.drives {
                d.reset_done();
            }
            self.select = 0;
        }
    }

    /// Run the bus master as far as it and the selected drive go.
    fn run_dma(&mut self, mem: &mut dyn DmaMemory) {
        let d = &mut self.drives[self.select];
        if !self.bm.running() || !d.dma_waiting() {
            return;
        }
        let to_memory = d.dma_to_memory();
        let bm = &mut self.bm;
        loop {
            if to_memory {
                let Some(avail) = d.dma_source().map(<[u8]>::len) else {
                    break;
                };
                if bm.left == 0 && !bm.fetch(mem) {
                    // The table ran out before the drive: it stays in its
                    // data phase, the bus master stops without an
                    // interrupt.
                    bm.status &= !BM_STATUS_ACTIVE;
                    return;
                }
                let n = avail.min(bm.left as usize);
                mem.write(bm.addr, &d.buf[d.pos..d.pos + n]);
                bm.addr = bm.addr.wrapping_add(n as u32);
                bm.left -= n as u32;
                d.dma_advanced(n);
            } else {
                let Some(room) = d.dma_sink().map(|s| s.len()) else {
                    break;
                };
                if bm.left == 0 && !bm.fetch(mem) {
                    bm.status &= !BM_STATUS_ACTIVE;
                    return;
                }
                let n = room.min(bm.left as usize);
                mem.read(bm.addr, &mut d.buf[d.pos..d.pos + n]);
                bm.addr = bm.addr.wrapping_add(n as u32);
                bm.left -= n as u32;
                d.dma_advanced(n);
            }
        }
        // The drive is done. The bus master stays active if the table has
        // room left (the host sees Interrupt with Active: the PRD table
        // was larger than the transfer).
        if bm.left == 0 && bm.last {
            bm.status &= !BM_STATUS_ACTIVE;
        }
    }
}

/// The PIIX3's IDE function: two channels with their drives and the
/// bus-master DMA engine.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdeController {
    channels: [IdeChannel; 2],
    /// The I/O base of the bus-master block (BAR4), if decoded.
    bus_master_base: Option<u16>,
    /// Lines that fell and rose again inside one access, for `advance`.
    pulses: IrqMask,
    now: VirtualTime,
}

impl Default for IdeController {
    fn default() -> Self {
        IdeController::new()
    }
}

/// Which register an I/O port reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    /// Command block offset 0-7.
    Command(u16),
    Control,
    BusMaster(u16),
}

impl IdeController {
    /// Both channels empty, the bus-master block not decoded.
    pub fn new() -> IdeController {
        IdeController {
            channels: [IdeChannel::new(0), IdeChannel::new(1)],
            bus_master_base: None,
            pulses: 0,
            now: VirtualTime::ZERO,
        }
    }

    fn install(&mut self, ch: Channel, unit: Unit, kind: DriveKind, media: Media) {
        let c = &mut self.channels[ch.index()];
        c.drives[unit.index()] = Drive::new(kind, 2 * ch.index() + unit.index(), media);
    }

    /// Put a hard disk at a position (replacing whatever was there), in
    /// its power-on state. The image must have 512-byte sectors.
    pub fn attach_disk(
        &mut self,
        ch: Channel,
        unit: Unit,
        disk: Box<dyn BlockDevice>,
    ) -> Result<(), DiskError> {
        check_medium(&*disk, SECTOR_SIZE, MAX_ATA_SECTORS)?;
        self.install(
            ch,
            unit,
            DriveKind::Disk,
            Media {
                disk: Some(disk),
                saved: None,
            },
        );
        Ok(())
    }

    /// Put a CD-ROM drive at a position, with a medium of 2048-byte
    /// sectors in it or empty.
    pub fn attach_cdrom(
        &mut self,
        ch: Channel,
        unit: Unit,
        medium: Option<Box<dyn BlockDevice>>,
    ) -> Result<(), DiskError> {
        if let Some(m) = &medium {
            check_medium(&**m, CD_SECTOR_SIZE, MAX_CD_SECTORS)?;
        }
        self.install(
            ch,
            unit,
            DriveKind::Cdrom,
            Media {
                disk: medium,
                saved: None,
            },
        );
        Ok(())
    }

    fn drive_mut(&mut self, ch: Channel, unit: Unit) -> &mut Drive {
        &mut self.channels[ch.index()].drives[unit.index()]
    }

    fn drive(&self, ch: Channel, unit: Unit) -> &Drive {
        &self.channels[ch.index()].drives[unit.index()]
    }

    /// What is at a position.
    pub fn kind(&self, ch: Channel, unit: Unit) -> DriveKind {
        self.drive(ch, unit).kind
    }

    /// Change the disc in a CD-ROM drive while the guest runs: the guest
    /// sees UNIT ATTENTION and a new-media event.
    pub fn insert_medium(
        &mut self,
        ch: Channel,
        unit: Unit,
        medium: Box<dyn BlockDevice>,
    ) -> Result<Option<Box<dyn BlockDevice>>, DiskError> {
        check_medium(&*medium, CD_SECTOR_SIZE, MAX_CD_SECTORS)?;
        let d = self.drive_mut(ch, unit);
        if d.kind != DriveKind::Cdrom {
            return Err(DiskError::NoDrive);
        }
        let old = d.media.disk.replace(medium);
        d.media.saved = None;
        d.atapi.medium_changed();
        Ok(old)
    }

    /// Take the medium out of a drive (a CD the user ejects from the
    /// front end, or a disk for inspection at the end of a test). A hard
    /// disk left without its medium fails every access.
    pub fn take_medium(&mut self, ch: Channel, unit: Unit) -> Option<Box<dyn BlockDevice>> {
        let d = self.drive_mut(ch, unit);
        d.media.saved = None;
        d.media.disk.take()
    }

    /// The medium at a position.
    pub fn medium(&self, ch: Channel, unit: Unit) -> Option<&dyn BlockDevice> {
        self.drive(ch, unit).media.disk.as_deref()
    }

    pub fn medium_mut(
        &mut self,
        ch: Channel,
        unit: Unit,
    ) -> Option<&mut (dyn BlockDevice + 'static)> {
        self.drive_mut(ch, unit).media.disk.as_deref_mut()
    }

    /// After restoring a saved state: hand a drive its image again. The
    /// image must have the size the drive was saved with; the sectors a
    /// saved [`Overlay`](crate::disk::Overlay) held are put back into
    /// `disk`, which must then be an overlay over the same base. A CD
    /// drive that was saved empty takes the disc as newly inserted.
    pub fn reattach(
        &mut self,
        ch: Channel,
        unit: Unit,
        disk: Box<dyn BlockDevice>,
    ) -> Result<(), DiskError> {
        self.check_reattach(ch, unit, &*disk)?;
        let d = self.drive_mut(ch, unit);
        let Some(saved) = d.media.saved.take() else {
            // A CD drive saved empty (the checks refuse anything else).
            return self.insert_medium(ch, unit, disk).map(|_| ());
        };
        d.media.restore(saved, disk)
    }

    /// Whether [`IdeController::reattach`] would take `disk` at this
    /// position, checked without taking it: a machine restore refuses a
    /// state before it has changed anything.
    pub fn check_reattach(
        &self,
        ch: Channel,
        unit: Unit,
        disk: &dyn BlockDevice,
    ) -> Result<(), DiskError> {
        let d = self.drive(ch, unit);
        let saved = match (d.kind, &d.media.saved) {
            (DriveKind::Absent, _) => return Err(DiskError::NoDrive),
            (DriveKind::Cdrom, None) => return check_medium(disk, CD_SECTOR_SIZE, MAX_CD_SECTORS),
            (DriveKind::Disk, None) => {
                return Err(DiskError::SizeMismatch {
                    saved: 0,
                    attached: disk.sectors(),
                })
            }
            (_, Some(s)) => s,
        };
        saved.check(disk)
    }

    /// Make every write durable (the machine calls this at exit and on
    /// Ctrl-C; the guest's FLUSH CACHE does it for one drive).
    pub fn flush_all(&mut self) -> Result<(), DiskError> {
        let mut result = Ok(());
        for c in &mut self.channels {
            for d in &mut c.drives {
                if let Err(e) = d.media.flush() {
                    result = Err(e);
                }
            }
        }
        result
    }

    /// Where the PCI BAR4 put the bus-master block (`None`: not decoded,
    /// e.g. I/O space disabled in the PCI command register).
    pub fn set_bus_master_base(&mut self, base: Option<u16>) {
        self.bus_master_base = base.map(|b| b & !0xF);
    }

    pub fn bus_master_base(&self) -> Option<u16> {
        self.bus_master_base
    }

    /// The ports to map for this device: each command block, control port
    /// and the bus-master block, all decoding any width.
    pub fn port_ranges(&self) -> Vec<(u16, u16, AccessWidths)> {
        let mut v = vec![
            (PRIMARY_COMMAND_BASE, 8, AccessWidths::DWORD),
            (PRIMARY_CONTROL, 1, AccessWidths::DWORD),
            (SECONDARY_COMMAND_BASE, 8, AccessWidths::DWORD),
            (SECONDARY_CONTROL, 1, AccessWidths::DWORD),
        ];
        if let Some(b) = self.bus_master_base {
            v.push((b, BUS_MASTER_PORTS, AccessWidths::DWORD));
        }
        v
    }

    fn decode(&self, port: u16) -> Option<(usize, Reg)> {
        match port {
            0x1F0..=0x1F7 => Some((0, Reg::Command(port - 0x1F0))),
            0x170..=0x177 => Some((1, Reg::Command(port - 0x170))),
            PRIMARY_CONTROL => Some((0, Reg::Control)),
            SECONDARY_CONTROL => Some((1, Reg::Control)),
            _ => {
                let base = self.bus_master_base?;
                let off = port.wrapping_sub(base);
                (off < BUS_MASTER_PORTS).then_some(((off / 8) as usize, Reg::BusMaster(off % 8)))
            }
        }
    }

    /// A read of the bus-master block at `offset` (0-15).
    pub fn bus_master_read(&mut self, offset: u16, size: IoSize) -> u32 {
        (0..size.bytes() as u16).fold(0, |v, i| {
            let off = offset.wrapping_add(i);
            let b = if off < BUS_MASTER_PORTS {
                self.channels[(off / 8) as usize].bm.read(off % 8)
            } else {
                0xFF
            };
            v | (b as u32) << (8 * i)
        })
    }

    /// A write to the bus-master block at `offset` (0-15). Call
    /// [`IdeController::run_dma`] afterwards.
    pub fn bus_master_write(&mut self, offset: u16, size: IoSize, value: u32) {
        for i in 0..size.bytes() as u16 {
            let off = offset.wrapping_add(i);
            if off < BUS_MASTER_PORTS {
                self.channels[(off / 8) as usize]
                    .bm
                    .write(off % 8, (value >> (8 * i)) as u8);
            }
        }
    }

    /// Whether a DMA transfer can move: a drive waits for the bus master
    /// and its channel's bus master is started.
    pub fn dma_pending(&self) -> bool {
        self.channels
            .iter()
            .any(|c| c.bm.running() && c.drives[c.select].dma_waiting())
    }

    /// Run every DMA transfer that can move, to completion or until its
    /// PRD table runs out. The machine calls this after each write to the
    /// controller's ports (both a command and a Start bit can begin a
    /// transfer), then reads [`Device::irq_levels`].
    pub fn run_dma(&mut self, mem: &mut dyn DmaMemory) {
        self.with_irq_tracking(|s| {
            for c in &mut s.channels {
                c.run_dma(mem);
            }
        });
    }

    /// The interrupt line of a channel.
    pub fn irq_line(&self, ch: Channel) -> bool {
        self.channels[ch.index()].irq_line()
    }

    /// Run `f`, noting lines that fell and rose again inside it.
    fn with_irq_tracking<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.irq_levels();
        let r = f(self);
        let after = self.irq_levels();
        let mut rose = 0;
        for (i, c) in self.channels.iter_mut().enumerate() {
            if c.take_raised() {
                rose |= 1 << (PRIMARY_IRQ as usize + i);
            }
        }
        self.pulses |= rose & before & after;
        r
    }

    fn read_byte(&mut self, port: u16) -> u8 {
        match self.decode(port) {
            None => 0xFF,
            Some((c, Reg::Command(0))) => self.channels[c].read_data(IoSize::Byte) as u8,
            Some((c, Reg::Command(off))) => self.channels[c].read_register(off),
            Some((c, Reg::Control)) => self.channels[c].read_register(8),
            Some((c, Reg::BusMaster(off))) => self.channels[c].bm.read(off),
        }
    }

    fn write_byte(&mut self, port: u16, v: u8) {
        match self.decode(port) {
            None => {}
            Some((_, Reg::Command(0))) => {}
            Some((c, Reg::Command(off))) => self.channels[c].write_register(off, v),
            Some((c, Reg::Control)) => self.channels[c].write_control(v),
            Some((c, Reg::BusMaster(off))) => self.channels[c].bm.write(off, v),
        }
    }
}

fn check_medium(m: &dyn BlockDevice, sector_size: usize, max: u64) -> Result<(), DiskError> {
    if m.sector_size() != sector_size {
        return Err(DiskError::BadLength {
            len: m.sector_size(),
            sector_size,
        });
    }
    if m.sectors() == 0 || m.sectors() > max {
        return Err(DiskError::OutOfRange {
            lba: 0,
            count: m.sectors(),
            sectors: max,
        });
    }
    Ok(())
}

impl Device for IdeController {
    fn io_read(&mut self, now: VirtualTime, port: u16, size: IoSize) -> u32 {
        self.now = self.now.max(now);
        self.with_irq_tracking(|s| match s.decode(port) {
            Some((c, Reg::Command(0))) if size != IoSize::Byte => {
                if s.channels[c].any_present() {
                    s.channels[c].read_data(size)
                } else {
                    size.open_bus()
                }
            }
            _ => (0..size.bytes() as u16).fold(0, |v, i| {
                v | (s.read_byte(port.wrapping_add(i)) as u32) << (8 * i)
            }),
        })
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, size: IoSize, value: u32) {
        self.now = self.now.max(now);
        self.with_irq_tracking(|s| match s.decode(port) {
            Some((c, Reg::Command(0))) if size != IoSize::Byte => {
                s.channels[c].write_data(size, value)
            }
            _ => {
                for i in 0..size.bytes() as u16 {
                    s.write_byte(port.wrapping_add(i), (value >> (8 * i)) as u8);
                }
            }
        })
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        self.now = self.now.max(now);
        std::mem::take(&mut self.pulses)
    }

    fn next_deadline(&self) -> Option<VirtualTime> {
        // A pulse waits for the next `advance`.
        (self.pulses != 0).then(|| self.now.add_nanos(1))
    }

    fn irq_levels(&self) -> IrqMask {
        (self.channels[0].irq_line() as IrqMask) << PRIMARY_IRQ
            | (self.channels[1].irq_line() as IrqMask) << SECONDARY_IRQ
    }
}
