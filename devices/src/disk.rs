//! Disk images: the storage behind the IDE drives.
//!
//! A drive reads and writes whole sectors of a [`BlockDevice`]: 512 bytes
//! for a hard disk, 2048 for a CD-ROM (ISO 9660 images, ECMA-119 §6.1.2's
//! logical sector). Three back ends:
//!
//! - [`RawImage`]: a host file holding the sectors back to back (a "raw" or
//!   "flat" image, what `dd`, `qemu-img create -f raw` and ISO authoring
//!   tools produce), opened read-write or read-only. [`RawImage::create`]
//!   makes a new one sparse (its length set, no data written), and only the
//!   sectors the guest writes ever take up space.
//! - [`Overlay`]: copy-on-write over any base (QEMU's `-snapshot`). Reads
//!   fall through to the base unless the sector was written; writes go to
//!   an in-memory map. The base is never written, so it stays
//!   byte-identical; the written sectors are discarded when the overlay is
//!   dropped, and are part of a savestate ([`OverlayDelta`]).
//! - [`MemDisk`]: sectors in a `Vec`, for tests and generated media.
//!
//! # When written data reaches the file
//!
//! [`RawImage`] hands every guest write to the host kernel at once (one
//! `write` per command's run of sectors); the host's page cache is the
//! write-back cache, and [`BlockDevice::flush`] (the guest's FLUSH CACHE,
//! the machine's explicit flush, and `Drop`) makes it durable with
//! `fsync`. So written data is in the file as soon as the write command
//! completes: a clean exit, Ctrl-C, a panic or even SIGKILL of the emulator
//! lose nothing; only a host crash can lose what was not flushed, as with a
//! real drive's write cache and as with QEMU's default `cache=writeback`.
//! A cache of dirty sectors inside the process would save some system
//! calls but would lose data whenever the process dies without running
//! its destructors; it is not worth that.
//!
//! # Image sizes
//!
//! An image must be a whole number of sectors: a hard disk image whose
//! length is not a multiple of 512 is refused ([`DiskError::PartialSector`])
//! rather than rounded, since the tail could be neither read nor written
//! consistently and a truncated download is the usual cause. ISO images are
//! the exception: a final partial 2048-byte sector reads as if padded with
//! zeros (the medium is read-only, so nothing is lost; some tools write
//! such images). Empty images, directories, and images larger than the
//! interface can address (2^48 sectors for ATA, 2^32 for ATAPI's 32-bit
//! LBAs) are refused with a message naming the file.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hard disk's sector.
pub const SECTOR_SIZE: usize = 512;
/// A CD-ROM's (mode 1 user data) sector.
pub const CD_SECTOR_SIZE: usize = 2048;
/// The most sectors ATA's 48-bit addressing reaches.
pub const MAX_ATA_SECTORS: u64 = 1 << 48;
/// The most sectors ATAPI's 32-bit LBAs (READ CAPACITY) reach.
pub const MAX_CD_SECTORS: u64 = 1 << 32;

/// What went wrong with an image.
#[derive(Debug)]
pub enum DiskError {
    /// The file could not be opened (missing, no permission, ...).
    Open { path: PathBuf, source: io::Error },
    /// The path names a directory or something else without sectors.
    NotAFile { path: PathBuf },
    /// The file is empty.
    Empty { path: PathBuf },
    /// The file's length is not a whole number of sectors.
    PartialSector {
        path: PathBuf,
        size: u64,
        sector_size: usize,
    },
    /// The file has more sectors than the interface can address.
    TooLarge {
        path: PathBuf,
        sectors: u64,
        max_sectors: u64,
    },
    /// A host read, write or sync failed.
    Io {
        path: PathBuf,
        op: &'static str,
        offset: u64,
        source: io::Error,
    },
    /// A write to a read-only image.
    ReadOnly,
    /// An access past the last sector.
    OutOfRange { lba: u64, count: u64, sectors: u64 },
    /// A buffer that is not a whole number of sectors.
    BadLength { len: usize, sector_size: usize },
    /// A restored drive was given an image of another size than the one
    /// it was saved with.
    SizeMismatch { saved: u64, attached: u64 },
    /// Overlay sectors were restored onto a back end that is not an
    /// [`Overlay`].
    NotAnOverlay,
    /// No drive (or no drive of that kind) at that position.
    NoDrive,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Open { path, source } => {
                write!(f, "cannot open disk image {}: {source}", path.display())
            }
            DiskError::NotAFile { path } => {
                write!(f, "disk image {} is not a regular file", path.display())
            }
            DiskError::Empty { path } => write!(f, "disk image {} is empty", path.display()),
            DiskError::PartialSector {
                path,
                size,
                sector_size,
            } => write!(
                f,
                "disk image {} is {size} bytes, not a whole number of {sector_size}-byte \
                 sectors (truncated? `truncate -s {}` pads it)",
                path.display(),
                size.div_ceil(*sector_size as u64) * *sector_size as u64
            ),
            DiskError::TooLarge {
                path,
                sectors,
                max_sectors,
            } => write!(
                f,
                "disk image {} has {sectors} sectors, more than the {max_sectors} the \
                 interface can address",
                path.display()
            ),
            DiskError::Io {
                path,
                op,
                offset,
                source,
            } => write!(
                f,
                "disk image {}: {op} at byte {offset} failed: {source}",
                path.display()
            ),
            DiskError::ReadOnly => write!(f, "the disk image is read-only"),
            DiskError::OutOfRange {
                lba,
                count,
                sectors,
            } => write!(
                f,
                "sectors {lba}..{} are beyond the end of the disk ({sectors} sectors)",
                lba.saturating_add(*count)
            ),
            DiskError::BadLength { len, sector_size } => write!(
                f,
                "a {len}-byte transfer is not a whole number of {sector_size}-byte sectors"
            ),
            DiskError::SizeMismatch { saved, attached } => write!(
                f,
                "the drive was saved with a {saved}-sector medium, the image attached has \
                 {attached} sectors"
            ),
            DiskError::NotAnOverlay => write!(
                f,
                "the saved state has copy-on-write sectors, but the image attached is not \
                 a snapshot overlay"
            ),
            DiskError::NoDrive => write!(f, "no such drive"),
        }
    }
}

impl std::error::Error for DiskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DiskError::Open { source, .. } | DiskError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Storage addressed in whole sectors.
///
/// Buffers are whole numbers of [`sector_size`](Self::sector_size) bytes;
/// an access that runs past the last sector fails with
/// [`DiskError::OutOfRange`] and transfers nothing.
pub trait BlockDevice: Send {
    /// Bytes per sector: 512, or 2048 for CD media.
    fn sector_size(&self) -> usize {
        SECTOR_SIZE
    }

    /// The number of sectors.
    fn sectors(&self) -> u64;

    /// Writes fail with [`DiskError::ReadOnly`].
    fn is_read_only(&self) -> bool {
        false
    }

    /// Read `buf.len() / sector_size()` sectors from `lba`.
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError>;

    /// Write `data.len() / sector_size()` sectors at `lba`.
    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError>;

    /// Make every completed write durable (FLUSH CACHE).
    fn flush(&mut self) -> Result<(), DiskError>;

    /// The sectors an [`Overlay`] holds, for a savestate.
    fn overlay_delta(&self) -> Option<&OverlayDelta> {
        None
    }

    /// Put back the sectors of a saved [`Overlay`].
    fn restore_overlay_delta(&mut self, delta: OverlayDelta) -> Result<(), DiskError> {
        let _ = delta;
        Err(DiskError::NotAnOverlay)
    }

    /// A hash of every sector (for an [`Overlay`], of its base): what a
    /// savestate records to recognise the image it was taken with. Back
    /// ends whose content only changes through `write_sectors` cache it.
    fn content_hash(&mut self) -> Result<u128, DiskError> {
        hash_sectors(self)
    }

    /// What the back end is, for logs and `Debug` ("raw image foo.img").
    fn describe(&self) -> String;
}

/// [`BlockDevice::content_hash`] computed by reading every sector: XXH3-128
/// of the bytes, in 1 MiB reads.
pub fn hash_sectors<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<u128, DiskError> {
    let ss = dev.sector_size().max(1);
    let per_read = ((1 << 20) / ss).max(1) as u64;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = Vec::new();
    let mut lba = 0;
    while lba < dev.sectors() {
        let n = per_read.min(dev.sectors() - lba);
        buf.resize(n as usize * ss, 0);
        dev.read_sectors(lba, &mut buf)?;
        hasher.update(&buf);
        lba += n;
    }
    Ok(hasher.digest128())
}

/// Check that `len` bytes at `lba` are whole sectors inside the device;
/// returns the sector count.
pub fn check_access(
    lba: u64,
    len: usize,
    sector_size: usize,
    sectors: u64,
) -> Result<u64, DiskError> {
    if sector_size == 0 || !len.is_multiple_of(sector_size) {
        return Err(DiskError::BadLength { len, sector_size });
    }
    let count = (len / sector_size) as u64;
    match lba.checked_add(count) {
        Some(end) if end <= sectors => Ok(count),
        _ => Err(DiskError::OutOfRange {
            lba,
            count,
            sectors,
        }),
    }
}

/// Whether an image is opened for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// A raw image in a host file.
pub struct RawImage {
    file: File,
    path: PathBuf,
    sector_size: usize,
    sectors: u64,
    read_only: bool,
    /// Writes since the last sync.
    unsynced: bool,
    /// [`BlockDevice::content_hash`], until the next write: savestates
    /// taken often must not reread the whole image each time.
    content: Option<u128>,
}

impl fmt::Debug for RawImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawImage")
            .field("path", &self.path)
            .field("sector_size", &self.sector_size)
            .field("sectors", &self.sectors)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl RawImage {
    /// Open a hard disk image (512-byte sectors, at most 2^48 of them).
    pub fn open(path: impl AsRef<Path>, access: Access) -> Result<RawImage, DiskError> {
        RawImage::open_with(path.as_ref(), access, SECTOR_SIZE, MAX_ATA_SECTORS, false)
    }

    /// Open an ISO image for a CD-ROM drive: read-only, 2048-byte sectors,
    /// a final partial sector padded with zeros.
    pub fn open_iso(path: impl AsRef<Path>) -> Result<RawImage, DiskError> {
        RawImage::open_with(
            path.as_ref(),
            Access::ReadOnly,
            CD_SECTOR_SIZE,
            MAX_CD_SECTORS,
            true,
        )
    }

    /// Create a new hard disk image of `bytes` (a whole number of sectors)
    /// without writing its sectors: on file systems with holes it takes no
    /// space until the guest writes. Fails if the file exists.
    pub fn create(path: impl AsRef<Path>, bytes: u64) -> Result<RawImage, DiskError> {
        let path = path.as_ref();
        let size_error = || {
            if bytes == 0 {
                DiskError::Empty { path: path.into() }
            } else if !bytes.is_multiple_of(SECTOR_SIZE as u64) {
                DiskError::PartialSector {
                    path: path.into(),
                    size: bytes,
                    sector_size: SECTOR_SIZE,
                }
            } else {
                DiskError::TooLarge {
                    path: path.into(),
                    sectors: bytes / SECTOR_SIZE as u64,
                    max_sectors: MAX_ATA_SECTORS,
                }
            }
        };
        if bytes == 0
            || !bytes.is_multiple_of(SECTOR_SIZE as u64)
            || bytes / SECTOR_SIZE as u64 > MAX_ATA_SECTORS
        {
            return Err(size_error());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| DiskError::Open {
                path: path.into(),
                source,
            })?;
        file.set_len(bytes).map_err(|source| DiskError::Io {
            path: path.into(),
            op: "setting the length",
            offset: bytes,
            source,
        })?;
        drop(file);
        RawImage::open(path, Access::ReadWrite)
    }

    fn open_with(
        path: &Path,
        access: Access,
        sector_size: usize,
        max_sectors: u64,
        pad_last: bool,
    ) -> Result<RawImage, DiskError> {
        let read_only = access == Access::ReadOnly;
        let mut file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(|source| DiskError::Open {
                path: path.into(),
                source,
            })?;
        let meta = file.metadata().map_err(|source| DiskError::Open {
            path: path.into(),
            source,
        })?;
        if meta.is_dir() {
            return Err(DiskError::NotAFile { path: path.into() });
        }
        // Seeking to the end also sizes block devices, whose metadata
        // length is 0.
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|source| DiskError::Io {
                path: path.into(),
                op: "sizing",
                offset: 0,
                source,
            })?;
        if len == 0 {
            return Err(DiskError::Empty { path: path.into() });
        }
        let ss = sector_size as u64;
        if !len.is_multiple_of(ss) && !pad_last {
            return Err(DiskError::PartialSector {
                path: path.into(),
                size: len,
                sector_size,
            });
        }
        let sectors = len.div_ceil(ss);
        if sectors > max_sectors {
            return Err(DiskError::TooLarge {
                path: path.into(),
                sectors,
                max_sectors,
            });
        }
        Ok(RawImage {
            file,
            path: path.into(),
            sector_size,
            sectors,
            read_only,
            unsynced: false,
            content: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, op: &'static str, offset: u64, source: io::Error) -> DiskError {
        DiskError::Io {
            path: self.path.clone(),
            op,
            offset,
            source,
        }
    }
}

impl BlockDevice for RawImage {
    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        check_access(lba, buf.len(), self.sector_size, self.sectors)?;
        let offset = lba * self.sector_size as u64;
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_error("seek", offset, e))?;
        // Read to the end of the file; anything beyond it (a padded last
        // sector, or a file another program shortened) reads as zeros.
        let mut done = 0;
        while done < buf.len() {
            match self.file.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error("read", offset + done as u64, e)),
            }
        }
        buf[done..].fill(0);
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.read_only {
            return Err(DiskError::ReadOnly);
        }
        check_access(lba, data.len(), self.sector_size, self.sectors)?;
        let offset = lba * self.sector_size as u64;
        self.unsynced = true;
        self.content = None;
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_error("seek", offset, e))?;
        self.file
            .write_all(data)
            .map_err(|e| self.io_error("write", offset, e))?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| self.io_error("fsync", 0, e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn content_hash(&mut self) -> Result<u128, DiskError> {
        if let Some(h) = self.content {
            return Ok(h);
        }
        let h = hash_sectors(self)?;
        self.content = Some(h);
        Ok(h)
    }

    fn describe(&self) -> String {
        format!(
            "raw image {}{}",
            self.path.display(),
            if self.read_only { " (read-only)" } else { "" }
        )
    }
}

impl Drop for RawImage {
    fn drop(&mut self) {
        // Every write already reached the kernel; make it durable. An
        // error here has nobody left to report to (call `flush` first to
        // see it).
        let _ = self.flush();
    }
}

/// The sectors written to an [`Overlay`]: what a savestate keeps of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayDelta {
    /// The sector size of the base the sectors belong to.
    pub sector_size: usize,
    /// Written sectors by LBA, each `sector_size` bytes.
    pub sectors: BTreeMap<u64, Vec<u8>>,
}

impl OverlayDelta {
    /// Whether these sectors fit a base of `sectors` sectors of
    /// `sector_size` bytes.
    pub fn check(&self, sector_size: usize, sectors: u64) -> Result<(), DiskError> {
        if self.sector_size != sector_size {
            return Err(DiskError::BadLength {
                len: self.sector_size,
                sector_size,
            });
        }
        for (&lba, data) in &self.sectors {
            check_access(lba, data.len(), sector_size, sectors)?;
            if data.len() != sector_size {
                return Err(DiskError::BadLength {
                    len: data.len(),
                    sector_size,
                });
            }
        }
        Ok(())
    }
}

/// Copy-on-write over a base that is never written.
pub struct Overlay {
    base: Box<dyn BlockDevice>,
    delta: OverlayDelta,
}

impl fmt::Debug for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overlay")
            .field("base", &self.base.describe())
            .field("written_sectors", &self.delta.sectors.len())
            .finish()
    }
}

impl Overlay {
    /// An overlay over `base`. The base is only read; open it read-only
    /// (as [`Overlay::open`] does) to have the host enforce that too.
    pub fn new(base: Box<dyn BlockDevice>) -> Overlay {
        let sector_size = base.sector_size();
        Overlay {
            base,
            delta: OverlayDelta {
                sector_size,
                sectors: BTreeMap::new(),
            },
        }
    }

    /// `--snapshot`: a hard disk image opened read-only under an overlay.
    pub fn open(path: impl AsRef<Path>) -> Result<Overlay, DiskError> {
        Ok(Overlay::new(Box::new(RawImage::open(
            path,
            Access::ReadOnly,
        )?)))
    }

    /// How many sectors have been written.
    pub fn written_sectors(&self) -> usize {
        self.delta.sectors.len()
    }

    /// Give the base back, dropping the written sectors.
    pub fn into_base(self) -> Box<dyn BlockDevice> {
        self.base
    }
}

impl BlockDevice for Overlay {
    fn sector_size(&self) -> usize {
        self.base.sector_size()
    }

    fn sectors(&self) -> u64 {
        self.base.sectors()
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let ss = self.sector_size();
        let count = check_access(lba, buf.len(), ss, self.sectors())?;
        // Runs of unwritten sectors come from the base in one read.
        let mut i = 0;
        while i < count {
            if let Some(s) = self.delta.sectors.get(&(lba + i)) {
                let at = i as usize * ss;
                buf[at..at + ss].copy_from_slice(s);
                i += 1;
            } else {
                let mut j = i + 1;
                while j < count && !self.delta.sectors.contains_key(&(lba + j)) {
                    j += 1;
                }
                let (a, b) = (i as usize * ss, j as usize * ss);
                self.base.read_sectors(lba + i, &mut buf[a..b])?;
                i = j;
            }
        }
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        let ss = self.sector_size();
        check_access(lba, data.len(), ss, self.sectors())?;
        for (i, chunk) in data.chunks_exact(ss).enumerate() {
            self.delta.sectors.insert(lba + i as u64, chunk.to_vec());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        // The written sectors live until the overlay is dropped.
        Ok(())
    }

    fn overlay_delta(&self) -> Option<&OverlayDelta> {
        Some(&self.delta)
    }

    fn restore_overlay_delta(&mut self, delta: OverlayDelta) -> Result<(), DiskError> {
        delta.check(self.sector_size(), self.sectors())?;
        self.delta = delta;
        Ok(())
    }

    /// The base's: the written sectors are machine state, saved apart.
    fn content_hash(&mut self) -> Result<u128, DiskError> {
        self.base.content_hash()
    }

    fn describe(&self) -> String {
        format!("snapshot overlay over {}", self.base.describe())
    }
}

/// Sectors in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemDisk {
    data: Vec<u8>,
    sector_size: usize,
    read_only: bool,
}

impl MemDisk {
    /// `sectors` zeroed 512-byte sectors.
    pub fn new(sectors: u64) -> MemDisk {
        MemDisk::from_bytes(vec![0; sectors as usize * SECTOR_SIZE], SECTOR_SIZE)
    }

    /// A disk holding `data`, padded with zeros to a whole number of
    /// `sector_size` sectors (a zero size is taken as 512).
    pub fn from_bytes(mut data: Vec<u8>, sector_size: usize) -> MemDisk {
        let sector_size = if sector_size == 0 {
            SECTOR_SIZE
        } else {
            sector_size
        };
        data.resize(data.len().div_ceil(sector_size) * sector_size, 0);
        MemDisk {
            data,
            sector_size,
            read_only: false,
        }
    }

    /// A read-only CD medium holding `data`.
    pub fn cd(data: Vec<u8>) -> MemDisk {
        MemDisk::from_bytes(data, CD_SECTOR_SIZE).read_only()
    }

    #[must_use]
    pub fn read_only(mut self) -> MemDisk {
        self.read_only = true;
        self
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl BlockDevice for MemDisk {
    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sectors(&self) -> u64 {
        (self.data.len() / self.sector_size) as u64
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        check_access(lba, buf.len(), self.sector_size, self.sectors())?;
        let at = lba as usize * self.sector_size;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.read_only {
            return Err(DiskError::ReadOnly);
        }
        check_access(lba, data.len(), self.sector_size, self.sectors())?;
        let at = lba as usize * self.sector_size;
        self.data[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "memory disk of {} {}-byte sectors",
            self.sectors(),
            self.sector_size
        )
    }
}

/// A drive's medium as a device holds it: the back end (not saved), or
/// what a restored drive remembers of it until the machine reattaches it.
/// The IDE drives and the floppy drives share it, so a savestate keeps
/// the same facts (size, snapshot sectors) for both.
#[derive(Default)]
pub struct Media {
    pub(crate) disk: Option<Box<dyn BlockDevice>>,
    pub(crate) saved: Option<SavedMedium>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct SavedMedium {
    sectors: u64,
    sector_size: usize,
    overlay: Option<OverlayDelta>,
}

impl SavedMedium {
    /// Whether `disk` can take the saved medium's place: the saved size,
    /// and an overlay that can hold the saved sectors where there was one.
    pub(crate) fn check(&self, disk: &dyn BlockDevice) -> Result<(), DiskError> {
        if self.sectors != disk.sectors() || self.sector_size != disk.sector_size() {
            return Err(DiskError::SizeMismatch {
                saved: self.sectors,
                attached: disk.sectors(),
            });
        }
        match (&self.overlay, disk.overlay_delta()) {
            (Some(delta), Some(_)) => delta.check(disk.sector_size(), disk.sectors()),
            (Some(_), None) => Err(DiskError::NotAnOverlay),
            (None, _) => Ok(()),
        }
    }
}

#[derive(Serialize)]
struct SavedMediumRef<'a> {
    sectors: u64,
    sector_size: usize,
    overlay: Option<&'a OverlayDelta>,
}

impl Serialize for Media {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let saved = match (&self.disk, &self.saved) {
            (Some(d), _) => Some(SavedMediumRef {
                sectors: d.sectors(),
                sector_size: d.sector_size(),
                overlay: d.overlay_delta(),
            }),
            (None, Some(m)) => Some(SavedMediumRef {
                sectors: m.sectors,
                sector_size: m.sector_size,
                overlay: m.overlay.as_ref(),
            }),
            (None, None) => None,
        };
        saved.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Media {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Media, D::Error> {
        Ok(Media {
            disk: None,
            saved: Option::<SavedMedium>::deserialize(d)?,
        })
    }
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.disk, &self.saved) {
            (Some(d), _) => write!(f, "{}", d.describe()),
            (None, Some(m)) => write!(f, "detached ({} sectors)", m.sectors),
            (None, None) => write!(f, "none"),
        }
    }
}

impl Media {
    pub fn sectors(&self) -> u64 {
        match (&self.disk, &self.saved) {
            (Some(d), _) => d.sectors(),
            (None, Some(m)) => m.sectors,
            (None, None) => 0,
        }
    }

    pub fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        match &mut self.disk {
            Some(d) => d.read_sectors(lba, buf),
            None => Err(DiskError::NoDrive),
        }
    }

    pub fn write(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        match &mut self.disk {
            Some(d) => d.write_sectors(lba, data),
            None => Err(DiskError::NoDrive),
        }
    }

    pub fn flush(&mut self) -> Result<(), DiskError> {
        match &mut self.disk {
            Some(d) => d.flush(),
            None => Ok(()),
        }
    }

    pub fn writable(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| !d.is_read_only())
    }

    /// A medium holding `disk`.
    pub fn new(disk: Box<dyn BlockDevice>) -> Media {
        Media {
            disk: Some(disk),
            saved: None,
        }
    }

    /// After a restore: hand back the image the medium was saved with.
    /// It must have the saved size; the sectors a saved [`Overlay`] held
    /// go back into `disk`, which must then be an overlay. On failure
    /// the medium stays detached.
    pub(crate) fn restore(
        &mut self,
        saved: SavedMedium,
        mut disk: Box<dyn BlockDevice>,
    ) -> Result<(), DiskError> {
        if let Err(e) = saved.check(&*disk) {
            self.saved = Some(saved);
            return Err(e);
        }
        if let Some(delta) = saved.overlay.clone() {
            if let Err(e) = disk.restore_overlay_delta(delta) {
                self.saved = Some(saved);
                return Err(e);
            }
        }
        self.disk = Some(disk);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memdisk_reads_back_and_refuses_out_of_range() {
        let mut d = MemDisk::new(4);
        d.write_sectors(1, &[0xAB; 1024]).unwrap();
        let mut b = [0; 512];
        d.read_sectors(2, &mut b).unwrap();
        assert_eq!(b, [0xAB; 512]);
        assert!(matches!(
            d.read_sectors(3, &mut [0; 1024]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.read_sectors(u64::MAX, &mut b),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.read_sectors(0, &mut [0; 100]),
            Err(DiskError::BadLength { .. })
        ));
    }

    #[test]
    fn overlay_mixes_written_and_base_sectors() {
        let base: Vec<u8> = (0..4 * 512).map(|i| (i / 512) as u8).collect();
        let mut o = Overlay::new(Box::new(MemDisk::from_bytes(base, 512).read_only()));
        o.write_sectors(1, &[9; 512]).unwrap();
        let mut b = vec![0; 4 * 512];
        o.read_sectors(0, &mut b).unwrap();
        let firsts: Vec<u8> = b.chunks(512).map(|c| c[0]).collect();
        assert_eq!(firsts, [0, 9, 2, 3]);
        assert_eq!(o.written_sectors(), 1);
        let delta = o.overlay_delta().unwrap().clone();
        let mut bad = delta.clone();
        bad.sectors.insert(7, vec![0; 512]);
        assert!(o.restore_overlay_delta(bad).is_err());
        o.restore_overlay_delta(delta).unwrap();
    }

    #[test]
    fn error_messages_name_the_file() {
        let e = DiskError::PartialSector {
            path: "disk.img".into(),
            size: 1000,
            sector_size: 512,
        };
        let s = e.to_string();
        assert!(s.contains("disk.img") && s.contains("1000") && s.contains("1024"));
    }
}
