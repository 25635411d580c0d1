//! A real guest: Debian 12's i386 "686" kernel with a busybox initramfs,
//! booted from an IDE disk by syslinux under an unmodified SeaBIOS (both
//! from Debian), and directly (--kernel/--initrd/--append) under Bochs'
//! BIOS. The initramfs prints GUEST-BOOT-OK, runs a workload
//! (integer, x87 through awk's doubles, md5sum, sha256sum, shell
//! arithmetic) and powers off; every result line must equal the one the
//! guest builder computed on the host (`expected.txt`).
//!
//! The guests come from `testsuite/guests/build.sh`, which this test runs
//! (it downloads the Debian packages once into the git-ignored cache/;
//! `OXBOX_GUESTS` points elsewhere).

use std::path::{Path, PathBuf};
use std::process::Command;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const BOCHS_BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build (or refresh) the guest images once per test run and return their
/// directory (the tests of this file share them).
fn guests() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_guests).clone()
}

fn build_guests() -> PathBuf {
    let dir = std::env::var_os("OXBOX_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("cache/guests"));
    let out = Command::new("bash")
        .arg(repo().join("testsuite/guests/build.sh"))
        .arg(&dir)
        .output()
        .expect("run testsuite/guests/build.sh");
    assert!(
        out.status.success(),
        "testsuite/guests/build.sh failed (it needs Debian's archive through apt-get):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The console of one boot, checked: the marker, every workload line as
/// the host computed it, the power-off, and a clean exit.
fn boot_and_check(what: &str, firmware: &str, guest_args: &[&str]) {
    assert!(
        Path::new(firmware).exists(),
        "{firmware} is missing: install Debian's seabios and bochsbios packages; .ci/run does"
    );
    let dir = guests();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    let serial =
        std::env::temp_dir().join(format!("oxbox-linux-{what}-{}.txt", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--bios", firmware])
        .args(
            guest_args
                .iter()
                .map(|a| a.replace("@", &dir.display().to_string())),
        )
        .args([
            "-m",
            "256",
            "--display",
            "none",
            "--debugcon",
            "none",
            "--serial",
        ])
        .arg(format!("file:{}", serial.display()))
        // A boot is about 4 billion instructions; the budget only stops a
        // guest that hangs.
        .args(["--max-instructions", "30000000000"])
        .output()
        .expect("run oxbox");
    let console = std::fs::read_to_string(&serial).unwrap_or_default();
    let _ = std::fs::remove_file(&serial);
    let lines: Vec<&str> = console.lines().collect();
    let why = format!(
        "{what}: serial console (last 40 lines):\n{}\noxbox stderr:\n{}",
        lines[lines.len().saturating_sub(40)..].join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(console.contains("GUEST-BOOT-OK"), "no boot marker; {why}");
    for line in expected.lines().filter(|l| !l.is_empty()) {
        assert!(
            lines.iter().any(|l| l.trim_end() == line),
            "expected workload line {line:?} missing or different; {why}"
        );
    }
    assert!(console.contains("GUEST-WORKLOAD-DONE"), "{why}");
    // poweroff -f without ACPI halts the CPU with interrupts disabled,
    // which ends the run.
    assert!(console.contains("reboot: System halted"), "{why}");
    assert!(out.status.success(), "{why}");
}

#[test]
fn debian_linux_boots_from_disk_through_syslinux_and_computes_the_workload() {
    // The disk's syslinux.cfg adds earlyprintk, so the kernel's real-mode
    // setup code reports on COM1 too.
    boot_and_check(
        "syslinux",
        SEABIOS,
        &["--hda", "@/hd-syslinux.img", "--snapshot"],
    );
}

#[test]
fn debian_linux_boots_directly_with_kernel_initrd_and_append() {
    // Bochs' BIOS runs the direct-boot option ROM from its scan of the ISA
    // option-ROM area (SeaBIOS's QEMU build does not scan it).
    boot_and_check(
        "direct",
        BOCHS_BIOS,
        &[
            "--kernel",
            "@/vmlinuz-686",
            "--initrd",
            "@/initrd-test.cpio.gz",
            "--append",
            "console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 panic=-1",
        ],
    );
}
