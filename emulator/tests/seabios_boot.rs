//! The command line the platform issue names, end to end: an unmodified
//! SeaBIOS (Debian's seabios package) boots a disk image from the IDE
//! disk; its boot sector reads sector 2 through INT 13h, prints it on the
//! debug console and exits through port 0xF4, so oxbox's exit status is the
//! one the guest chose. With --snapshot the image stays byte-identical.

use std::path::{Path, PathBuf};
use std::process::Command;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-seabios-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A 32 KiB disk: the boot sector, then the message and the exit code.
fn disk_image(dir: &Path, message: &[u8], code: u8) -> PathBuf {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testsuite/roms");
    let boot = dir.join("boot.bin");
    let status = Command::new("nasm")
        .current_dir(&roms)
        .args(["-f", "bin", "-o"])
        .arg(&boot)
        .arg("bootsector.asm")
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success());
    let mut img = std::fs::read(&boot).unwrap();
    assert_eq!(img.len(), 512);
    let mut sector2 = message.to_vec();
    sector2.push(0);
    sector2.push(code);
    sector2.resize(512, 0);
    img.extend_from_slice(&sector2);
    img.resize(64 * 512, 0);
    let path = dir.join("disk.img");
    std::fs::write(&path, &img).unwrap();
    path
}

#[test]
fn seabios_boots_the_ide_disk_and_the_guest_chooses_the_exit_status() {
    assert!(
        Path::new(SEABIOS).exists(),
        "{SEABIOS} is missing: install Debian's seabios package (apt-get install seabios); .ci/run does"
    );
    let dir = temp_dir();
    let disk = disk_image(&dir, b"hello from sector 2\n", 0x21);
    let before = std::fs::read(&disk).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--bios", SEABIOS, "--hda"])
        .arg(&disk)
        .args([
            "--snapshot",
            "--display",
            "none",
            "--serial",
            "none",
            "--debugcon",
            "stdio",
        ])
        .args(["--max-instructions", "200000000"])
        .output()
        .expect("run oxbox");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Booting from Hard Disk"), "{stdout}");
    assert!(stdout.contains("hello from sector 2"), "{stdout}");
    // isa-debug-exit: (0x21 << 1) | 1.
    assert_eq!(
        out.status.code(),
        Some(0x43),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&disk).unwrap(),
        before,
        "--snapshot must leave the image untouched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_disk_image_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--hda", "/nonexistent/disk.img", "--serial", "none"])
        .output()
        .expect("run oxbox");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/disk.img"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line of error: {err}");
}

/// A disk whose boot sector copies sector 2 to sector 3 (see
/// testsuite/roms/bootsector_write.asm); `mode` is b'E' (then exit) or b'L'
/// (then idle).
fn write_test_image(dir: &Path, mode: u8) -> PathBuf {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testsuite/roms");
    let boot = dir.join("bw.bin");
    let status = Command::new("nasm")
        .current_dir(&roms)
        .args(["-f", "bin", "-o"])
        .arg(&boot)
        .arg("bootsector_write.asm")
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success());
    let mut img = std::fs::read(&boot).unwrap();
    let mut sector2 = vec![mode];
    sector2.extend_from_slice(b" written by the guest");
    sector2.resize(512, 0);
    img.extend_from_slice(&sector2);
    img.resize(64 * 512, 0);
    let path = dir.join(format!("disk-{}.img", mode as char));
    std::fs::write(&path, &img).unwrap();
    path
}

fn sector(path: &Path, n: usize) -> Vec<u8> {
    std::fs::read(path).unwrap()[n * 512..(n + 1) * 512].to_vec()
}

#[test]
fn guest_writes_are_in_the_image_after_a_clean_exit() {
    assert!(
        Path::new(SEABIOS).exists(),
        "{SEABIOS} is missing: apt-get install seabios"
    );
    let dir = temp_dir().join("clean");
    std::fs::create_dir_all(&dir).unwrap();
    let disk = write_test_image(&dir, b'E');
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--bios", SEABIOS, "--hda"])
        .arg(&disk)
        .args([
            "--display",
            "none",
            "--serial",
            "none",
            "--debugcon",
            "stdio",
            "--max-instructions",
            "200000000",
        ])
        .output()
        .expect("run oxbox");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("written"), "{stdout}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit port value 0 -> status 1: {stdout}"
    );
    assert!(
        sector(&disk, 2).starts_with(b"E written by the guest"),
        "sector 3 of the file holds the guest's data"
    );
}

#[test]
fn guest_writes_are_in_the_image_after_ctrl_c() {
    use std::io::Read;
    assert!(
        Path::new(SEABIOS).exists(),
        "{SEABIOS} is missing: apt-get install seabios"
    );
    let dir = temp_dir().join("sigint");
    std::fs::create_dir_all(&dir).unwrap();
    let disk = write_test_image(&dir, b'L');
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--bios", SEABIOS, "--hda"])
        .arg(&disk)
        .args([
            "--display",
            "none",
            "--serial",
            "none",
            "--debugcon",
            "stdio",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run oxbox");
    // Wait until the guest says it wrote (it then idles forever).
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("written") {
        assert!(
            std::time::Instant::now() < deadline,
            "the guest never wrote: {}",
            String::from_utf8_lossy(&seen)
        );
        let n = stdout.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "oxbox ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(130),
        "Ctrl-C ends the run with status 130"
    );
    assert!(
        sector(&disk, 2).starts_with(b"L written by the guest"),
        "the write survived Ctrl-C"
    );
}
