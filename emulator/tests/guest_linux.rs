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
            // The kernel's poweroff -f is the end of the run (headless
            // runs would end there anyway; this says so).
            "--exit-on-halt",
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

/// A boot's budget: a boot is about 4 billion instructions; the budget
/// only stops a guest that hangs.
const BOOT_BUDGET: u64 = 30_000_000_000;

/// A whole boot on `console`, checked: the marker, every workload line as
/// the host computed it, and the power-off.
fn check_workload(console: &str, why: &str) {
    let expected = std::fs::read_to_string(guests().join("expected.txt")).expect("expected.txt");
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
}

/// A whole boot on the serial console, checked, ending with a clean exit.
/// Returns the console.
fn boot_and_check(what: &str, args: &[&str]) -> String {
    let (console, out) = run_guest(what, args, BOOT_BUDGET);
    let why = context(what, &console, &out);
    check_workload(&console, &why);
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
fn debian_linux_with_console_tty0_runs_its_console_on_the_vga_text_screen() {
    // The kernel's VGA text console (vgacon) instead of the serial one:
    // headless, oxbox mirrors the text screen (what the window shows) to
    // stdout, as the guest never touches COM1.
    let (serial, out) = run_guest(
        "tty0",
        &[
            "--kernel",
            "@/vmlinuz-686",
            "--initrd",
            "@/initrd-test.cpio.gz",
            "--append",
            "console=tty0 panic=-1",
        ],
        BOOT_BUDGET,
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    let why = context("tty0", &screen, &out);
    assert!(serial.is_empty(), "COM1 was not the console: {serial}");
    check_workload(&screen, &why);
    assert!(out.status.success(), "{why}");
}

#[test]
fn debian_linux_gives_an_interactive_shell_on_the_serial_console() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let dir = guests().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["-m", "256", "--kernel", &format!("{dir}/vmlinuz-686")])
        .args(["--initrd", &format!("{dir}/initrd-shell.cpio.gz")])
        .args(["--append", "console=ttyS0,115200", "--display", "none"])
        .args(["--serial", "stdio", "--exit-on-halt"])
        .args(["--max-instructions", &BOOT_BUDGET.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run oxbox");
    // The terminal as the user sees it, filled by a reader thread.
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let screen = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = |screen: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&screen.lock().unwrap()).into_owned()
    };
    // Wait until the terminal shows `prompts` shell prompts after the
    // ready line. Typing ahead is not an option: ash answers each prompt's
    // cursor-position query (ESC [6n) by reading the terminal, and would
    // eat the typed-ahead text.
    let ready = "GUEST-SHELL-READY";
    let start = std::time::Instant::now();
    let wait_prompts = |child: &mut std::process::Child, prompts: usize| loop {
        let t = text(&screen);
        if t.find(ready)
            .is_some_and(|at| t[at..].matches("/ # ").count() >= prompts)
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("oxbox ended ({status}) waiting for prompt {prompts}:\n{t}");
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1800),
            "no prompt {prompts} after 30 minutes:\n{t}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut stdin = child.stdin.take().unwrap();
    let commands = [
        "ls /proc",
        "grep -c '^processor' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo",
        "dmesg | grep -m1 'Linux version'",
    ];
    for (i, command) in commands.iter().enumerate() {
        wait_prompts(&mut child, i + 1);
        writeln!(stdin, "{command}").unwrap();
    }
    wait_prompts(&mut child, commands.len() + 1);
    writeln!(stdin, "exit").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let t = text(&screen);
    let session = &t[t.find(ready).unwrap()..];
    for proc_entry in ["cpuinfo", "meminfo", "interrupts", "uptime"] {
        assert!(
            session
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == proc_entry)),
            "ls /proc lists {proc_entry}:\n{session}"
        );
    }
    // One CPU, with the features the 686 kernel insists on.
    assert!(session.lines().any(|l| l.trim() == "1"), "{session}");
    let flags = session
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_else(|| panic!("no flags line:\n{session}"));
    for feature in ["fpu", "tsc", "cx8", "cmov"] {
        assert!(
            flags.split_whitespace().any(|w| w == feature),
            "{feature} in {flags}"
        );
    }
    assert!(
        session.lines().any(|l| l.contains("Linux version 6.1")),
        "dmesg:\n{session}"
    );
    assert!(session.contains("reboot: System halted"), "{session}");
    assert!(status.success(), "{status}\n{session}");
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
