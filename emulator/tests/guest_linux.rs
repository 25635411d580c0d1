//! A real guest: Debian 12's i386 "686" kernel (and its PAE flavour,
//! "686-pae") with a busybox initramfs,
//! booted directly (--kernel/--initrd/--append) on oxbox's BIOS and from
//! an IDE disk by syslinux under an unmodified SeaBIOS (Debian's). The
//! initramfs prints GUEST-BOOT-OK, runs a workload
//! (integer, x87 through awk's doubles, md5sum, sha256sum, shell
//! arithmetic) and powers off; every result line must equal the one the
//! guest builder computed on the host (`expected.txt`). Shorter runs check
//! that oxbox's BIOS takes syslinux and GRUB 2 from the disk to the
//! kernel.
//!
//! The guests come from `testsuite/guests/build.sh`, which this test runs
//! (it downloads the Debian packages once into the git-ignored cache/;
//! `OXBOX_GUESTS` points elsewhere).

use std::path::Path;
use std::process::Command;

mod guest_cache;
use guest_cache::guests;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

/// Run oxbox on a guest from the cache (`@` in an argument stands for the
/// cache directory) with COM1 in a file; returns the serial console, and
/// the exit status with stderr for messages.
fn run_guest(what: &str, args: &[&str], budget: u64) -> (String, std::process::Output) {
    let dir = guests();
    let serial =
        std::env::temp_dir().join(format!("oxbox-linux-{what}-{}.txt", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(
            args.iter()
                .map(|a| a.replace('@', &dir.display().to_string())),
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
        .args(["--max-instructions", &budget.to_string()])
        .output()
        .expect("run oxbox");
    let console = std::fs::read_to_string(&serial).unwrap_or_default();
    let _ = std::fs::remove_file(&serial);
    (console, out)
}

/// The last lines of a console and oxbox's stderr, for failure messages.
fn context(what: &str, console: &str, out: &std::process::Output) -> String {
    let lines: Vec<&str> = console.lines().collect();
    format!(
        "{what}: serial console (last 40 lines):\n{}\noxbox stderr:\n{}",
        lines[lines.len().saturating_sub(40)..].join("\n"),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A whole boot, checked: the marker, every workload line as the host
/// computed it, the power-off, and a clean exit. Returns the console.
fn boot_and_check(what: &str, args: &[&str]) -> String {
    let expected = std::fs::read_to_string(guests().join("expected.txt")).expect("expected.txt");
    // A boot is about 4 billion instructions; the budget only stops a
    // guest that hangs.
    let (console, out) = run_guest(what, args, 30_000_000_000);
    let why = context(what, &console, &out);
    assert!(console.contains("GUEST-BOOT-OK"), "no boot marker; {why}");
    for line in expected.lines().filter(|l| !l.is_empty()) {
        assert!(
            console.lines().any(|l| l.trim_end() == line),
            "expected workload line {line:?} missing or different; {why}"
        );
    }
    assert!(console.contains("GUEST-WORKLOAD-DONE"), "{why}");
    // poweroff -f without ACPI halts the CPU with interrupts disabled,
    // which ends the run.
    assert!(console.contains("reboot: System halted"), "{why}");
    assert!(out.status.success(), "{why}");
    console
}

fn require_seabios() {
    assert!(
        Path::new(SEABIOS).exists(),
        "{SEABIOS} is missing: install Debian's seabios package (apt-get install seabios); .ci/run does"
    );
}

#[test]
fn debian_linux_boots_directly_on_oxbios_with_kernel_initrd_and_append() {
    // oxbios's option-ROM scan runs the direct-boot ROM, whose INT 19h
    // enters the kernel's setup code.
    boot_and_check(
        "direct",
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

#[test]
fn debian_linux_pae_boots_directly_with_pae_paging_and_nx() {
    // The 686-pae flavour runs on 3-level PAE paging and turns on NX
    // through EFER.NXE when CPUID reports it.
    let console = boot_and_check(
        "pae",
        &[
            "--kernel",
            "@/vmlinuz-686-pae",
            "--initrd",
            "@/initrd-test.cpio.gz",
            "--append",
            "console=ttyS0,115200 panic=-1",
        ],
    );
    assert!(
        console.contains("NX (Execute Disable) protection: active"),
        "the PAE kernel did not enable NX:\n{console}"
    );
}

#[test]
fn debian_linux_boots_from_disk_on_oxbios_with_its_root_on_the_ide_disk() {
    // syslinux loads the kernel and an initramfs that loads the kernel's own
    // IDE driver (ata_piix, probing the PIIX3 through PCI), mounts the ext2
    // root partition /dev/sda2 and switches to it; the workload runs from
    // the disk.
    let console = boot_and_check(
        "diskroot",
        &["--hda", "@/hd-syslinux-diskroot.img", "--snapshot"],
    );
    assert!(
        console.contains("GUEST-DISKROOT-MOUNTED /dev/sda2"),
        "the root file system did not come from the IDE disk:\n{console}"
    );
}

#[test]
fn debian_linux_boots_from_disk_through_syslinux_on_seabios() {
    require_seabios();
    boot_and_check(
        "syslinux-seabios",
        &[
            "--bios",
            SEABIOS,
            "--hda",
            "@/hd-syslinux.img",
            "--snapshot",
        ],
    );
}

#[test]
fn oxbios_boots_syslinux_from_disk_into_the_kernels_setup_code() {
    // The disk's syslinux.cfg passes earlyprintk, so the kernel's
    // real-mode setup code reports on COM1 ("console=ttyS0" alone would
    // not).
    let (console, out) = run_guest(
        "syslinux-oxbios",
        &["--hda", "@/hd-syslinux.img", "--snapshot"],
        150_000_000,
    );
    let why = context("syslinux on oxbios", &console, &out);
    assert!(console.contains("SYSLINUX 6.04"), "{why}");
    assert!(console.contains("Loading /vmlinuz... ok"), "{why}");
    assert!(
        console.contains("Probing EDD (edd=off to disable)... ok"),
        "{why}"
    );
}

#[test]
fn oxbios_boots_grub_from_disk_to_its_linux_entry() {
    let (console, out) = run_guest(
        "grub-oxbios",
        &["--hda", "@/hd-grub.img", "--snapshot"],
        150_000_000,
    );
    let why = context("GRUB on oxbios", &console, &out);
    assert!(
        console.contains("Booting `debian-686 busybox test'"),
        "{why}"
    );
}
