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
        .args(["--snapshot", "--display", "none", "--serial", "none", "--debugcon", "stdio"])
        .args(["--max-instructions", "200000000"])
        .output()
        .expect("run oxbox");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Booting from Hard Disk"), "{stdout}");
    assert!(stdout.contains("hello from sector 2"), "{stdout}");
    // isa-debug-exit: (0x21 << 1) | 1.
    assert_eq!(out.status.code(), Some(0x43), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&disk).unwrap(), before, "--snapshot must leave the image untouched");
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
