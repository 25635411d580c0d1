//! Disk images in host files: what a guest writes is in the file after a
//! clean exit and after SIGINT; `--snapshot` overlays leave the base
//! byte-identical; new images are sparse; bad files give clear errors.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use oxbox_devices::disk::{Access, BlockDevice, DiskError, Overlay, RawImage};
use oxbox_devices::ide::{Channel, IdeController, Unit, PRIMARY_COMMAND_BASE as P};
use oxbox_devices::{Device, IoSize, VirtualTime};

const T: VirtualTime = VirtualTime::ZERO;

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("oxbox-disk-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn join(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn pattern(sectors: usize) -> Vec<u8> {
    (0..sectors * 512).map(|i| (i % 253) as u8).collect()
}

fn guest_data(lba: u64) -> Vec<u8> {
    (0..512)
        .map(|i| (i as u64 ^ lba.wrapping_mul(0x5D)) as u8 | 1)
        .collect()
}

fn outb(ide: &mut IdeController, port: u16, v: u8) {
    ide.io_write(T, port, IoSize::Byte, v as u32);
}

fn inb(ide: &mut IdeController, port: u16) -> u8 {
    ide.io_read(T, port, IoSize::Byte) as u8
}

/// The guest writes `count` sectors at `lba` with WRITE SECTORS (PIO).
fn guest_write(ide: &mut IdeController, lba: u32, count: u8) {
    outb(ide, P + 6, 0xE0 | (lba >> 24) as u8);
    outb(ide, P + 2, count);
    outb(ide, P + 3, lba as u8);
    outb(ide, P + 4, (lba >> 8) as u8);
    outb(ide, P + 5, (lba >> 16) as u8);
    outb(ide, P + 7, 0x30);
    for s in 0..count as u64 {
        for w in guest_data(lba as u64 + s).chunks(2) {
            ide.io_write(T, P, IoSize::Word, u16::from_le_bytes([w[0], w[1]]) as u32);
        }
    }
    assert_eq!(inb(ide, P + 7), 0x50);
}

/// The guest reads a sector with READ SECTORS.
fn guest_read(ide: &mut IdeController, lba: u32) -> Vec<u8> {
    outb(ide, P + 6, 0xE0 | (lba >> 24) as u8);
    outb(ide, P + 2, 1);
    outb(ide, P + 3, lba as u8);
    outb(ide, P + 4, (lba >> 8) as u8);
    outb(ide, P + 5, (lba >> 16) as u8);
    outb(ide, P + 7, 0x20);
    assert_eq!(inb(ide, P + 7), 0x58);
    (0..256)
        .flat_map(|_| (ide.io_read(T, P, IoSize::Word) as u16).to_le_bytes())
        .collect()
}

fn with_image(disk: Box<dyn BlockDevice>) -> IdeController {
    let mut ide = IdeController::new();
    ide.attach_disk(Channel::Primary, Unit::Master, disk)
        .unwrap();
    ide
}

fn sector_of(file: &[u8], lba: u64) -> &[u8] {
    &file[lba as usize * 512..][..512]
}

#[test]
fn guest_writes_are_in_the_file_after_flush_cache_and_after_exit() {
    let dir = TempDir::new("exit");
    let path = dir.join("disk.img");
    fs::write(&path, pattern(64)).unwrap();
    let mut ide = with_image(Box::new(RawImage::open(&path, Access::ReadWrite).unwrap()));
    guest_write(&mut ide, 3, 2);
    // FLUSH CACHE: in the file while the emulator still runs.
    outb(&mut ide, P + 7, 0xE7);
    assert_eq!(inb(&mut ide, P + 7), 0x50);
    let file = fs::read(&path).unwrap();
    assert_eq!(sector_of(&file, 3), &guest_data(3)[..]);
    assert_eq!(sector_of(&file, 4), &guest_data(4)[..]);
    assert_eq!(sector_of(&file, 2), &pattern(64)[2 * 512..3 * 512]);

    // More writes, no flush, then a clean exit (the controller dropped).
    guest_write(&mut ide, 60, 4);
    assert_eq!(guest_read(&mut ide, 61), guest_data(61));
    drop(ide);
    let file = fs::read(&path).unwrap();
    assert_eq!(file.len(), 64 * 512);
    for lba in 60..64 {
        assert_eq!(sector_of(&file, lba), &guest_data(lba)[..]);
    }
}

const CHILD_ENV: &str = "OXBOX_DISK_TEST_SIGINT_CHILD";
const READY: &str = "OXBOX-CHILD-READY";

/// Kills the child if the test fails before it exits.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn guest_writes_survive_sigint() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        // The child: an emulator whose guest wrote and which is then
        // interrupted with the default SIGINT action (no handler, no
        // destructors, no flush).
        let mut ide = with_image(Box::new(
            RawImage::open(Path::new(&path), Access::ReadWrite).unwrap(),
        ));
        guest_write(&mut ide, 10, 3);
        println!("{READY}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("sigint");
    let path = dir.join("disk.img");
    fs::write(&path, pattern(32)).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "guest_writes_survive_sigint",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let out = child.0.stdout.take().unwrap();
    let ready = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(READY));
    assert!(ready, "the child died before writing");
    let kill = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // The default action of SIGINT ends the process at once.
    let mut status = None;
    for _ in 0..500 {
        status = child.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = status.expect("SIGINT did not end the child");
    assert_eq!(status.signal(), Some(2), "{status:?}");
    let file = fs::read(&path).unwrap();
    for lba in 10..13 {
        assert_eq!(sector_of(&file, lba), &guest_data(lba)[..]);
    }
    assert_eq!(sector_of(&file, 9), &pattern(32)[9 * 512..10 * 512]);
}

#[test]
fn snapshot_overlay_leaves_the_base_byte_identical() {
    let dir = TempDir::new("overlay");
    let path = dir.join("base.img");
    let original = pattern(128);
    fs::write(&path, &original).unwrap();
    // The base can even be read-only on the host.
    let mut perms = fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    fs::set_permissions(&path, perms).unwrap();
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();

    let mut ide = with_image(Box::new(Overlay::open(&path).unwrap()));
    guest_write(&mut ide, 0, 8);
    guest_write(&mut ide, 100, 28);
    // The guest sees its writes, and the base where it did not write.
    assert_eq!(guest_read(&mut ide, 5), guest_data(5));
    assert_eq!(guest_read(&mut ide, 127), guest_data(127));
    assert_eq!(guest_read(&mut ide, 50), &original[50 * 512..51 * 512]);
    outb(&mut ide, P + 7, 0xE7);
    assert_eq!(inb(&mut ide, P + 7), 0x50);
    ide.flush_all().unwrap();
    let m = ide.medium(Channel::Primary, Unit::Master).unwrap();
    assert!(m.describe().contains("snapshot overlay"));
    assert_eq!(m.overlay_delta().unwrap().sectors.len(), 36);
    drop(ide);

    assert_eq!(fs::read(&path).unwrap(), original);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
}

#[cfg(unix)]
#[test]
fn new_images_are_sparse_and_stay_so() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("sparse");
    let path = dir.join("big.img");
    let img = RawImage::create(&path, 1 << 30).unwrap();
    assert_eq!(img.sectors(), 1 << 21);
    assert!(RawImage::create(&path, 1 << 30).is_err(), "exists already");
    let mut ide = with_image(Box::new(img));
    guest_write(&mut ide, 1_000_000, 2);
    guest_write(&mut ide, 7, 1);
    drop(ide);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    // A few blocks for the written sectors, not a gigabyte.
    assert!(meta.blocks() * 512 < 1 << 20, "{} blocks", meta.blocks());
    let mut img = RawImage::open(&path, Access::ReadOnly).unwrap();
    let mut b = vec![0; 1024];
    img.read_sectors(1_000_000, &mut b).unwrap();
    assert_eq!(&b[..512], &guest_data(1_000_000)[..]);
    img.read_sectors(500, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn read_only_images_refuse_writes_and_keep_their_bytes() {
    let dir = TempDir::new("ro");
    let path = dir.join("ro.img");
    fs::write(&path, pattern(16)).unwrap();
    let mut img = RawImage::open(&path, Access::ReadOnly).unwrap();
    assert!(img.is_read_only());
    assert!(matches!(
        img.write_sectors(0, &[0; 512]),
        Err(DiskError::ReadOnly)
    ));
    let mut ide = with_image(Box::new(img));
    outb(&mut ide, P + 6, 0xE0);
    outb(&mut ide, P + 2, 1);
    outb(&mut ide, P + 7, 0x30);
    assert_eq!(inb(&mut ide, P + 7), 0x41);
    assert_eq!(inb(&mut ide, P + 1), 0x04);
    drop(ide);
    assert_eq!(fs::read(&path).unwrap(), pattern(16));
}

#[test]
fn bad_image_files_get_clear_errors() {
    let dir = TempDir::new("bad");
    let missing = dir.join("missing.img");
    let e = RawImage::open(&missing, Access::ReadWrite).unwrap_err();
    assert!(matches!(e, DiskError::Open { .. }));
    assert!(e.to_string().contains("missing.img"), "{e}");
    assert!(std::error::Error::source(&e).is_some());

    let empty = dir.join("empty.img");
    fs::write(&empty, b"").unwrap();
    let e = RawImage::open(&empty, Access::ReadOnly).unwrap_err();
    assert!(matches!(e, DiskError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("empty.img"));

    let truncated = dir.join("truncated.img");
    fs::write(&truncated, vec![0; 1000]).unwrap();
    let e = RawImage::open(&truncated, Access::ReadWrite).unwrap_err();
    assert!(
        matches!(e, DiskError::PartialSector { size: 1000, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("1024"), "{e}");
    assert!(Overlay::open(&truncated).is_err());

    let e = RawImage::open(&dir.0, Access::ReadOnly).unwrap_err();
    assert!(e.to_string().contains(&*dir.0.to_string_lossy()), "{e}");
    assert!(RawImage::open(&dir.0, Access::ReadWrite).is_err());

    assert!(matches!(
        RawImage::create(dir.join("odd.img"), 1000),
        Err(DiskError::PartialSector { .. })
    ));
    assert!(matches!(
        RawImage::create(dir.join("zero.img"), 0),
        Err(DiskError::Empty { .. })
    ));

    // An ISO one byte over 2^32 sectors: too large for ATAPI's LBAs (if
    // the host file system can make such a sparse file at all).
    let huge = dir.join("huge.iso");
    let f = fs::File::create(&huge).unwrap();
    if f.set_len((1u64 << 32) * 2048 + 1).is_ok() {
        let e = RawImage::open_iso(&huge).unwrap_err();
        assert!(matches!(e, DiskError::TooLarge { .. }), "{e}");
    }
}

#[test]
fn iso_images_have_2048_byte_sectors_and_a_padded_tail() {
    let dir = TempDir::new("iso");
    let path = dir.join("disc.iso");
    let mut bytes = vec![0xAA; 3 * 2048];
    bytes.extend_from_slice(&[0xBB; 100]);
    fs::write(&path, &bytes).unwrap();
    let mut iso = RawImage::open_iso(&path).unwrap();
    assert_eq!((iso.sector_size(), iso.sectors()), (2048, 4));
    assert!(iso.is_read_only());
    let mut b = vec![0; 2048];
    iso.read_sectors(3, &mut b).unwrap();
    assert!(b[..100].iter().all(|&x| x == 0xBB));
    assert!(b[100..].iter().all(|&x| x == 0));
    assert!(iso.read_sectors(4, &mut b).is_err());
    // A hard disk image refuses the same file (not whole sectors).
    assert!(RawImage::open(&path, Access::ReadOnly).is_err());
    // And a CD-ROM drive takes it.
    let mut ide = IdeController::new();
    ide.attach_cdrom(Channel::Secondary, Unit::Master, Some(Box::new(iso)))
        .unwrap();
}
