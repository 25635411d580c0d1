//! The side-by-side boot timing script (benches/guest-boot.py) is too slow
//! for `cargo test` (minutes per boot); this checks what can be checked
//! cheaply: it parses, and it gives every emulator the same kernel,
//! initramfs and command line.

use std::path::Path;
use std::process::Command;

fn script(args: &[&str]) -> std::process::Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest-boot.py");
    Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .expect("python3 is needed for benches/guest-boot.py")
}

#[test]
fn the_guest_boot_script_has_help() {
    let out = script(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for option in ["--runs", "--timeout", "--only", "--dry-run"] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
}

#[test]
fn the_guest_boot_script_boots_the_same_guest_in_every_emulator() {
    let out = script(&["--dry-run", "--guests", "/guests", "--oxbox", "/bin/oxbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let command = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_string()
    };
    let cmdline = "'console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 panic=-1'";
    for name in ["direct-oxbox", "direct-qemu"] {
        let c = command(name);
        for part in [
            "/guests/vmlinuz-686",
            "/guests/initrd-test.cpio.gz",
            cmdline,
        ] {
            assert!(c.contains(part), "{name} lacks {part}: {c}");
        }
    }
    for name in ["disk-oxbox", "disk-qemu"] {
        let c = command(name);
        assert!(c.contains("/guests/hd-syslinux.img"), "{name}: {c}");
    }
    // Bochs boots a copy of the same disk, through its configuration file.
    assert!(command("disk-bochs").contains("bochs -q"), "{text}");
    for name in ["direct-oxbox", "disk-oxbox"] {
        let c = command(name);
        assert!(c.starts_with("/bin/oxbox "), "{c}");
        assert!(c.contains("--exit-on-halt"), "{name}: {c}");
    }
}
