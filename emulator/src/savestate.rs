//! Savestates: the whole machine in memory ([`Snapshot`]) and in a file.
//!
//! [`Machine::snapshot`] captures the CPU (registers, segment caches, EFLAGS
//! with its pending lazy flags, control and debug registers, MSRs, the x87,
//! the TLB, the cycle and instruction counters), RAM, every device (the
//! chips' registers, FIFOs and timer deadlines, VGA memory, PCI
//! configuration, the glue registers) and the sectors written to
//! copy-on-write (`--snapshot`) disks. [`Machine::restore`] puts them back
//! after checking that the machine is configured as the one the state was
//! taken on: CPU model, RAM size, CPU clock, firmware and option ROMs, a
//! directly booted kernel, and each drive's image by size and content hash.
//! Since the machine is deterministic (DESIGN.md, "Time and determinism"),
//! running on from a restored state gives exactly the run the original
//! would have had. A snapshot costs a copy of RAM and of the serialized
//! devices (VGA memory dominates), cheap enough to take every few hundred
//! milliseconds of guest time for reverse execution.
//!
//! Not in the state: the host side, which a restore keeps from the running
//! machine (debug console and its log, the POST log, serial back ends, the
//! window, the Ctrl-C flag, `--no-reboot`), and the configuration, which it
//! checks instead. A disk written through to its image file (no
//! `--snapshot`) cannot be part of a state: the state records the file's
//! content hash, and a restore refuses when the file has changed since.
//!
//! # File format, version 1
//!
//! ```text
//! magic             8 bytes  "OXBOXSAV"
//! format version    u32 LE   (a reader refuses versions newer than its own)
//! sections, each:
//!   tag             4 bytes  "HEAD", "MACH", "RAM ", "END "
//!   stored length   u64 LE
//!   payload length  u64 LE   (before compression)
//!   checksum        u64 LE   XXH3-64 of the payload
//!   stored bytes             the payload, zlib-compressed
//! ```
//!
//! - HEAD: [`Header`] (the configuration and where in the run the state
//!   was taken) in postcard's wire format;
//! - MACH: the [`Machine`]'s serde state in postcard's wire format;
//! - RAM: the page count (u32 LE), a bitmap of the pages stored (bit i of
//!   byte i/8: page i), then those 4 KiB pages in order; pages of zeros
//!   are not stored;
//! - END: empty, the last section. A reader skips tags it does not know.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

use flate2::{read::ZlibDecoder, write::ZlibEncoder, Compression};
use oxbox_devices::disk::{BlockDevice, DiskError};
use oxbox_devices::ide::{Channel, Unit};
use oxbox_devices::ClockRate;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::cpu::CpuModel;
use crate::machine::Machine;
use crate::memory::PAGE_SIZE;

/// The first bytes of a state file.
pub const MAGIC: &[u8; 8] = b"OXBOXSAV";
/// The file format this build writes, and the newest it reads. The MACH
/// section is the serde layout of the CPU, the bus and every device: a
/// field added, removed, reordered or retyped in any of them changes the
/// format, and `the_encoding_of_a_power_on_machine_is_pinned` (below)
/// fails until this is bumped and the pinned hash updated.
pub const FORMAT_VERSION: u32 = 1;

/// The IDE drive positions, with their names for messages.
pub const DRIVE_POSITIONS: [(Channel, Unit); 4] = [
    (Channel::Primary, Unit::Master),
    (Channel::Primary, Unit::Slave),
    (Channel::Secondary, Unit::Master),
    (Channel::Secondary, Unit::Slave),
];

/// The floppy drives a state records (A: and B:).
pub const FLOPPY_UNITS: [usize; 2] = [0, 1];

/// The name of a position in [`Config::disks`]: the IDE positions, then
/// the floppy drives.
fn position_name(i: usize) -> &'static str {
    [
        "primary master",
        "primary slave",
        "secondary master",
        "secondary slave",
        "floppy A:",
        "floppy B:",
    ][i]
}

/// An image as a state remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskId {
    pub sectors: u64,
    pub sector_size: u32,
    /// [`BlockDevice::content_hash`]: of the base image under an overlay.
    pub content: u128,
    /// A copy-on-write overlay (`--snapshot`), whose written sectors are
    /// in the state.
    pub overlay: bool,
}

impl fmt::Display for DiskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an image of {} {}-byte sectors with content hash {:032x}{}",
            self.sectors,
            self.sector_size,
            self.content,
            if self.overlay {
                " under --snapshot"
            } else {
                ""
            }
        )
    }
}

/// What a state can only be restored into: the machine's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub model: CpuModel,
    pub ram_bytes: u64,
    pub cpu_clock: ClockRate,
    /// Content hashes of the firmware, the VGA option ROM (of nothing when
    /// there is none) and the ISA option ROMs.
    pub rom: u128,
    pub vga_rom: u128,
    pub option_roms: u128,
    /// The kernel, initrd and command line of a direct Linux boot.
    pub linux: Option<u128>,
    /// The medium at each of [`DRIVE_POSITIONS`], then in each of the
    /// [`FLOPPY_UNITS`].
    pub disks: [Option<DiskId>; 6],
}

/// The HEAD section: the configuration, and where in the run the state was
/// taken (copies of the CPU's counters, for tools that pick a state
/// without restoring it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub config: Config,
    pub instructions: u64,
    pub cycles: u64,
}

/// The whole machine at one instant, in memory.
#[derive(Clone)]
pub struct Snapshot {
    header: Header,
    /// The machine's serde state (postcard).
    machine: Vec<u8>,
    ram: Vec<u8>,
}

/// Why a state could not be taken, read or restored.
#[derive(Debug)]
pub enum StateError {
    Io(io::Error),
    /// The file does not start with [`MAGIC`].
    NotAState,
    /// Written by a newer oxbox.
    NewerVersion {
        found: u32,
        supported: u32,
    },
    /// The file ends early.
    Truncated,
    /// A section fails its checksum or does not decode.
    Corrupt(String),
    /// The machine is not configured as the one the state was taken on.
    Mismatch {
        what: String,
        saved: String,
        current: String,
    },
    /// A disk image could not be read (for its hash) or take its sectors.
    Disk(DiskError),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(e) => write!(f, "{e}"),
            StateError::NotAState => write!(f, "not an oxbox state file (wrong magic)"),
            StateError::NewerVersion { found, supported } => write!(
                f,
                "the state file has format version {found}; this oxbox reads versions up to \
                 {supported} (a newer oxbox wrote it)"
            ),
            StateError::Truncated => write!(f, "the state file is truncated"),
            StateError::Corrupt(why) => write!(f, "the state file is corrupt: {why}"),
            StateError::Mismatch {
                what,
                saved,
                current,
            } => write!(
                f,
                "{what}: the state was saved with {saved}, but this machine has {current} \
                 (give the options the state was saved with)"
            ),
            StateError::Disk(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StateError {}

impl From<DiskError> for StateError {
    fn from(e: DiskError) -> StateError {
        StateError::Disk(e)
    }
}

impl From<io::Error> for StateError {
    fn from(e: io::Error) -> StateError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            StateError::Truncated
        } else {
            StateError::Io(e)
        }
    }
}

/// XXH3-128 of byte strings, each delimited by its length.
fn hash_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u128 {
    let mut h = Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.digest128()
}

fn disk_id(d: &mut dyn BlockDevice) -> Result<DiskId, DiskError> {
    Ok(DiskId {
        sectors: d.sectors(),
        sector_size: d.sector_size() as u32,
        content: d.content_hash()?,
        overlay: d.overlay_delta().is_some(),
    })
}

/// Refuse a state taken on a differently configured machine.
fn check_config(saved: &Config, current: &Config) -> Result<(), StateError> {
    let mismatch = |what: &str, saved: String, current: String| {
        Err(StateError::Mismatch {
            what: what.into(),
            saved,
            current,
        })
    };
    let hash = |h: u128| format!("content hash {h:032x}");
    if saved.model != current.model {
        return mismatch(
            "CPU model",
            saved.model.to_string(),
            current.model.to_string(),
        );
    }
    if saved.ram_bytes != current.ram_bytes {
        let kib = |b: u64| format!("{} KiB", b >> 10);
        return mismatch("RAM", kib(saved.ram_bytes), kib(current.ram_bytes));
    }
    if saved.cpu_clock != current.cpu_clock {
        let hz = |c: ClockRate| format!("{} Hz", c.whole_hz());
        return mismatch("CPU clock", hz(saved.cpu_clock), hz(current.cpu_clock));
    }
    for (what, s, c) in [
        ("firmware image", saved.rom, current.rom),
        ("VGA option ROM", saved.vga_rom, current.vga_rom),
        ("ISA option ROMs", saved.option_roms, current.option_roms),
    ] {
        if s != c {
            return mismatch(what, hash(s), hash(c));
        }
    }
    if saved.linux != current.linux {
        let linux = |l: Option<u128>| l.map_or("none".into(), hash);
        return mismatch("--kernel", linux(saved.linux), linux(current.linux));
    }
    for (i, (s, c)) in saved.disks.iter().zip(&current.disks).enumerate() {
        if s == c {
            continue;
        }
        let describe = |d: &Option<DiskId>| d.map_or("no medium".into(), |d| d.to_string());
        let mut current = describe(c);
        if let (Some(s), Some(c)) = (s, c) {
            if !s.overlay && !c.overlay && s.sectors == c.sectors {
                current.push_str(
                    " (another image, or the same one written since: without --snapshot \
                     the guest's disk writes go to the file, which a state does not hold)",
                );
            }
        }
        return mismatch(&format!("{} drive", position_name(i)), describe(s), current);
    }
    Ok(())
}

/// A `Write` that feeds a hash.
struct HashWriter(Xxh3);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Machine {
    /// The configuration a state taken now would need: hashes every ROM,
    /// and every disk image whose hash is not cached (an image read whole
    /// once, a written-through one again after it was written).
    pub fn config(&mut self) -> Result<Config, StateError> {
        let mut disks = [None; 6];
        for (slot, (ch, unit)) in disks.iter_mut().zip(DRIVE_POSITIONS) {
            if let Some(d) = self.bus.ide.medium_mut(ch, unit) {
                *slot = Some(disk_id(d)?);
            }
        }
        for (slot, unit) in disks[DRIVE_POSITIONS.len()..].iter_mut().zip(FLOPPY_UNITS) {
            if let Some(d) = self.bus.fdc.medium_mut(unit) {
                *slot = Some(disk_id(d)?);
            }
        }
        let (rom, vga_rom, option_roms) = self.bus.rom_images();
        let bases: Vec<[u8; 4]> = option_roms.iter().map(|(b, _)| b.to_le_bytes()).collect();
        Ok(Config {
            model: self.cpu.model,
            ram_bytes: self.cpu.mem().size() as u64,
            cpu_clock: self.bus.cpu_clock,
            rom: hash_parts([rom]),
            vga_rom: hash_parts([vga_rom]),
            option_roms: hash_parts(
                bases
                    .iter()
                    .zip(option_roms)
                    .flat_map(|(base, (_, image))| [&base[..], image]),
            ),
            linux: self.linux.as_ref().map(|l| {
                let initrd = l.initrd.as_deref();
                hash_parts([
                    &l.kernel[..],
                    &[initrd.is_some() as u8][..],
                    initrd.unwrap_or_default(),
                    l.cmdline.as_bytes(),
                ])
            }),
            disks,
        })
    }

    /// The machine's state now.
    pub fn snapshot(&mut self) -> Result<Snapshot, StateError> {
        let config = self.config()?;
        let machine = postcard::to_stdvec(&*self)
            .map_err(|e| StateError::Corrupt(format!("the machine state does not encode: {e}")))?;
        Ok(Snapshot {
            header: Header {
                config,
                instructions: self.cpu.instructions,
                cycles: self.cpu.cycles,
            },
            machine,
            ram: self.cpu.mem().ram().to_vec(),
        })
    }

    /// Become the machine `snapshot` was taken of. Refused, with the
    /// machine unchanged, unless it is configured the same way; the host
    /// side (consoles, logs, serial back ends, disk images) stays.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), StateError> {
        check_config(&snapshot.header.config, &self.config()?)?;
        let corrupt = |e: postcard::Error| StateError::Corrupt(format!("machine state: {e}"));
        let mut saved: Machine = postcard::from_bytes(&snapshot.machine).map_err(corrupt)?;
        if saved.bus.serial.len() != self.bus.serial.len() {
            return Err(StateError::Corrupt("wrong number of serial ports".into()));
        }
        for (ch, unit) in DRIVE_POSITIONS {
            if let Some(d) = self.bus.ide.medium(ch, unit) {
                saved.bus.ide.check_reattach(ch, unit, d)?;
            }
        }
        for unit in FLOPPY_UNITS {
            if let Some(d) = self.bus.fdc.medium(unit) {
                saved.bus.fdc.check_reattach(unit, d)?;
            }
        }
        // Everything that can refuse has been checked.
        saved.bus.adopt_host_side(&mut self.bus)?;
        saved.cpu.adopt_ram(&mut self.cpu, &snapshot.ram);
        saved.cpu.keep_host_hooks(&mut self.cpu);
        saved.reset_on_triple_fault = self.reset_on_triple_fault;
        saved.interrupt = self.interrupt.clone();
        saved.linux = self.linux.take();
        saved.inputs = std::mem::take(&mut self.inputs);
        *self = saved;
        Ok(())
    }

    /// A hash of the machine state: exactly what a [`Snapshot`] holds of
    /// it (the serialized machine and RAM). Two machines with the same
    /// hash run on identically.
    pub fn state_hash(&self) -> u64 {
        let mut h = HashWriter(Xxh3::new());
        // Encoding into a hash cannot fail: every part of the state has a
        // known length.
        let _ = postcard::to_io(self, &mut h);
        h.0.update(self.cpu.mem().ram());
        h.0.digest()
    }
}

const TAG_HEAD: [u8; 4] = *b"HEAD";
const TAG_MACHINE: [u8; 4] = *b"MACH";
const TAG_RAM: [u8; 4] = *b"RAM ";
const TAG_END: [u8; 4] = *b"END ";

fn write_section(w: &mut impl Write, tag: [u8; 4], payload: &[u8]) -> io::Result<()> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(payload)?;
    let stored = z.finish()?;
    w.write_all(&tag)?;
    w.write_all(&(stored.len() as u64).to_le_bytes())?;
    w.write_all(&(payload.len() as u64).to_le_bytes())?;
    w.write_all(&xxh3_64(payload).to_le_bytes())?;
    w.write_all(&stored)
}

/// RAM without its zero pages (the RAM section's layout).
fn encode_ram(ram: &[u8]) -> Vec<u8> {
    let pages = ram.len() / PAGE_SIZE;
    let mut bitmap = vec![0u8; pages.div_ceil(8)];
    let mut data = Vec::new();
    for (i, page) in ram.chunks_exact(PAGE_SIZE).enumerate() {
        if page.iter().any(|&b| b != 0) {
            bitmap[i / 8] |= 1 << (i % 8);
            data.extend_from_slice(page);
        }
    }
    let mut out = Vec::with_capacity(4 + bitmap.len() + data.len());
    out.extend_from_slice(&(pages as u32).to_le_bytes());
    out.extend_from_slice(&bitmap);
    out.extend_from_slice(&data);
    out
}

fn decode_ram(payload: &[u8]) -> Result<Vec<u8>, StateError> {
    let corrupt = || StateError::Corrupt("RAM section".into());
    let count: [u8; 4] = payload
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .unwrap_or_default();
    let pages = u32::from_le_bytes(count) as usize;
    let bitmap = payload.get(4..4 + pages.div_ceil(8)).ok_or_else(corrupt)?;
    let mut data = &payload[4 + bitmap.len()..];
    let mut ram = vec![0u8; pages * PAGE_SIZE];
    for (i, page) in ram.chunks_exact_mut(PAGE_SIZE).enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            let src = data.get(..PAGE_SIZE).ok_or_else(corrupt)?;
            page.copy_from_slice(src);
            data = &data[PAGE_SIZE..];
        }
    }
    if !data.is_empty() {
        return Err(corrupt());
    }
    Ok(ram)
}

/// Read exactly `buf.len()` bytes; a short read is a truncated file.
fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), StateError> {
    r.read_exact(buf).map_err(StateError::from)
}

fn read_u64(r: &mut impl Read) -> Result<u64, StateError> {
    let mut b = [0; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

impl Snapshot {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Instructions retired when the state was taken.
    pub fn instructions(&self) -> u64 {
        self.header.instructions
    }

    /// The cycle counter when the state was taken.
    pub fn cycles(&self) -> u64 {
        self.header.cycles
    }

    /// Bytes of host memory the snapshot holds (RAM and devices).
    pub fn memory_bytes(&self) -> usize {
        self.machine.len() + self.ram.len()
    }

    /// Write the state file ([module documentation](self)).
    pub fn write_to(&self, mut w: impl Write) -> Result<(), StateError> {
        let head = postcard::to_stdvec(&self.header)
            .map_err(|e| StateError::Corrupt(format!("header does not encode: {e}")))?;
        w.write_all(MAGIC)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        write_section(&mut w, TAG_HEAD, &head)?;
        write_section(&mut w, TAG_MACHINE, &self.machine)?;
        write_section(&mut w, TAG_RAM, &encode_ram(&self.ram))?;
        write_section(&mut w, TAG_END, &[])?;
        w.flush()?;
        Ok(())
    }

    /// Read a state file.
    pub fn read_from(mut r: impl Read) -> Result<Snapshot, StateError> {
        let mut magic = Vec::new();
        (&mut r).take(MAGIC.len() as u64).read_to_end(&mut magic)?;
        if magic[..] != MAGIC[..magic.len()] {
            return Err(StateError::NotAState);
        }
        if magic.len() < MAGIC.len() {
            return Err(StateError::Truncated);
        }
        let mut version = [0; 4];
        read_exact(&mut r, &mut version)?;
        let version = u32::from_le_bytes(version);
        if version > FORMAT_VERSION {
            return Err(StateError::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(StateError::Corrupt("format version 0".into()));
        }
        let (mut head, mut machine, mut ram) = (None, None, None);
        loop {
            let mut tag = [0; 4];
            read_exact(&mut r, &mut tag)?;
            let stored_len = read_u64(&mut r)?;
            let payload_len = read_u64(&mut r)?;
            let checksum = read_u64(&mut r)?;
            let mut stored = Vec::new();
            (&mut r).take(stored_len).read_to_end(&mut stored)?;
            if (stored.len() as u64) < stored_len {
                return Err(StateError::Truncated);
            }
            let name = String::from_utf8_lossy(&tag).trim_end().to_string();
            let bad = |why: &str| StateError::Corrupt(format!("section {name}: {why}"));
            // At most one byte past the declared length is read: enough to
            // see that the stream is longer, not enough to be a zip bomb.
            let mut payload = Vec::new();
            ZlibDecoder::new(&stored[..])
                .take(payload_len.saturating_add(1))
                .read_to_end(&mut payload)
                .map_err(|e| bad(&e.to_string()))?;
            if payload.len() as u64 != payload_len {
                return Err(bad("wrong length"));
            }
            if xxh3_64(&payload) != checksum {
                return Err(bad("checksum mismatch"));
            }
            match tag {
                TAG_HEAD => {
                    let h: Header =
                        postcard::from_bytes(&payload).map_err(|e| bad(&e.to_string()))?;
                    head = Some(h);
                }
                TAG_MACHINE => machine = Some(payload),
                TAG_RAM => ram = Some(decode_ram(&payload)?),
                TAG_END => break,
                _ => {}
            }
        }
        let missing = |what: &str| StateError::Corrupt(format!("no {what} section"));
        let header = head.ok_or_else(|| missing("HEAD"))?;
        let ram = ram.ok_or_else(|| missing("RAM"))?;
        if ram.len() as u64 != header.config.ram_bytes {
            return Err(StateError::Corrupt(format!(
                "{} bytes of RAM saved for a machine of {}",
                ram.len(),
                header.config.ram_bytes
            )));
        }
        Ok(Snapshot {
            header,
            machine: machine.ok_or_else(|| missing("MACH"))?,
            ram,
        })
    }

    /// Write the state to a file at `path`.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let file = std::fs::File::create(path)?;
        self.write_to(io::BufWriter::new(file))
    }

    /// Read the state file at `path`.
    pub fn load(path: &Path) -> Result<Snapshot, StateError> {
        let file = std::fs::File::open(path)?;
        Snapshot::read_from(io::BufReader::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MACH encoding of a machine at power-on, pinned: when this
    /// fails, the serialized layout (or a power-on value) has changed.
    /// Bump [`FORMAT_VERSION`] if the layout did, so that older files are
    /// refused rather than misread, then update the hash.
    #[test]
    fn the_encoding_of_a_power_on_machine_is_pinned() {
        let rom = [0xF4u8; 64 * 1024];
        let m = Machine::new(CpuModel::PentiumPro, 1 << 20, &rom, Box::new(io::sink())).unwrap();
        let state = postcard::to_stdvec(&m).unwrap();
        assert_eq!(
            (FORMAT_VERSION, xxh3_64(&state)),
            (1, 8361693433195408788),
            "the saved machine layout changed: see FORMAT_VERSION"
        );
    }
}
