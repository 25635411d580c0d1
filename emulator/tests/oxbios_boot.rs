//! oxbox's own BIOS (bios/oxbios.asm, the default firmware) boots disks
//! and answers the BIOS services with the values the command line implies:
//! the boot sector tests of testsuite/roms run on it through the `oxbox`
//! binary and report on the debug console (port 0xE9).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIB: u64 = 1 << 20;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-oxbios-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assemble(source: &str, out: &Path) -> Vec<u8> {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testsuite/roms");
    let status = Command::new("nasm")
        .current_dir(&roms)
        .args(["-f", "bin", "-o"])
        .arg(out)
        .arg(source)
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success(), "nasm failed on {source}");
    std::fs::read(out).unwrap()
}

fn oxbox(args: &[&str], disks: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxbox"));
    for (flag, path) in disks {
        cmd.arg(flag).arg(path);
    }
    cmd.args(["--display", "none", "--debugcon", "stdio"])
        .args(args)
        .output()
        .expect("run oxbox")
}

#[test]
fn the_bootsector_test_disk_boots_from_hda_with_the_default_firmware() {
    let dir = temp_dir("bootsector");
    let mut img = assemble("bootsector.asm", &dir.join("boot.bin"));
    let mut sector2 = b"hello from sector 2\n".to_vec();
    sector2.extend_from_slice(&[0, 0x21]);
    sector2.resize(512, 0);
    img.extend_from_slice(&sector2);
    img.resize(64 * 512, 0);
    let disk = dir.join("disk.img");
    std::fs::write(&disk, &img).unwrap();
    let out = oxbox(
        &["--serial", "none", "--max-instructions", "100000000"],
        &[("--hda", &disk)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("oxbox BIOS"), "{stdout}");
    assert!(stdout.contains("Booting from Hard Disk"), "{stdout}");
    assert!(stdout.contains("hello from sector 2"), "{stdout}");
    // isa-debug-exit: (0x21 << 1) | 1.
    assert_eq!(out.status.code(), Some(0x43), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn headless_by_default_mirrors_the_bios_screen_and_a_boot_sectors_teletype_once() {
    // No --debugcon: the BIOS's own debug output stays off, so what the
    // terminal shows is the screen, each line once.
    let dir = temp_dir("tty");
    let mut img = assemble("bootsector_tty.asm", &dir.join("boot.bin"));
    img.resize(64 * 512, 0);
    let disk = dir.join("disk.img");
    std::fs::write(&disk, &img).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .arg("--hda")
        .arg(&disk)
        .args(["--display", "none", "--max-instructions", "100000000"])
        .output()
        .expect("run oxbox");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = |what: &str| stdout.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("oxbox BIOS"), 1, "{stdout}");
    assert_eq!(count("Booting from Hard Disk..."), 1, "{stdout}");
    assert_eq!(count("HELLO FROM THE BOOT SECTOR"), 1, "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rust_log_shows_the_chosen_devices_events_on_stderr() {
    let dir = temp_dir("rustlog");
    let mut img = assemble("bootsector_tty.asm", &dir.join("boot.bin"));
    img.resize(64 * 512, 0);
    let disk = dir.join("disk.img");
    std::fs::write(&disk, &img).unwrap();
    let run = |filter: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxbox"));
        cmd.arg("--hda")
            .arg(&disk)
            .args(["--display", "none", "--max-instructions", "100000000"])
            .env_remove("RUST_LOG");
        if let Some(f) = filter {
            cmd.env("RUST_LOG", f);
        }
        let out = cmd.output().expect("run oxbox");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The BIOS identifies the disk (ECh) and reads the boot sector (20h).
    let ide = run(Some("oxbox::ide=debug"));
    assert!(ide.contains("oxbox::ide: command 0xec"), "{ide}");
    assert!(ide.contains("oxbox::ide: command 0x20"), "{ide}");
    assert!(!ide.contains("oxbox::pit"), "{ide}");
    let pit = run(Some("oxbox::pit=debug"));
    assert!(pit.contains("oxbox::pit: control word"), "{pit}");
    assert!(!pit.contains("oxbox::ide"), "{pit}");
    let quiet = run(None);
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// oxbios named explicitly: with no disk and no --bios, oxbox boots its
/// built-in demo disk instead.
const OXBIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../roms/oxbios.bin");

#[test]
fn with_no_bootable_device_the_bios_says_so_and_stops() {
    let out = oxbox(
        &[
            "--bios",
            OXBIOS,
            "--serial",
            "none",
            "--boot",
            "dac",
            "--max-instructions",
            "100000000",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The order given: CD-ROM, floppy, then the (absent) hard disk.
    let cd = stdout.find("no CD-ROM drive").expect(&stdout);
    let fd = stdout.find("no floppy drive").expect(&stdout);
    let hd = stdout.find("no hard disk").expect(&stdout);
    assert!(cd < fd && fd < hd, "{stdout}");
    assert!(stdout.contains("No bootable device."), "{stdout}");
    // INT 18h halts with interrupts off: the run ends on its own.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}

#[test]
fn a_bad_boot_order_is_one_line_of_error() {
    let out = oxbox(&["--boot", "cz"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'z'"), "{err}");
}

#[test]
fn the_serial_console_mirrors_bios_text_to_com1_only_when_asked() {
    let dir = temp_dir("sercon");
    for (flag, expect) in [(true, true), (false, false)] {
        let com1 = dir.join(format!("com1-{flag}.txt"));
        let serial = format!("file:{}", com1.display());
        let mut args = vec![
            "--bios",
            OXBIOS,
            "--serial",
            &serial,
            "--max-instructions",
            "100000000",
        ];
        if flag {
            args.push("--bios-serial-console");
        }
        let out = oxbox(&args, &[]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&std::fs::read(&com1).unwrap()).into_owned();
        assert_eq!(text.contains("oxbox BIOS"), expect, "{flag}: {text:?}");
        assert_eq!(
            text.contains("No bootable device."),
            expect,
            "{flag}: {text:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lines of testsuite/roms/bios_services.asm: name -> hex values.
fn report(stdout: &str) -> HashMap<String, Vec<Vec<u64>>> {
    let mut m: HashMap<String, Vec<Vec<u64>>> = HashMap::new();
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let values: Option<Vec<u64>> = words.map(|w| u64::from_str_radix(w, 16).ok()).collect();
        if let Some(v) = values {
            m.entry(name.to_string()).or_default().push(v);
        }
    }
    m
}

/// The LBA-assisted translation (Phoenix EDD 3.0): 63 sectors, heads by
/// capacity, at most 1024 cylinders.
fn lba_assisted(sectors: u64) -> (u64, u64, u64) {
    let heads = [16, 32, 64, 128]
        .into_iter()
        .find(|&h| sectors <= 1024 * h * 63)
        .unwrap_or(255);
    ((sectors / (heads * 63)).min(1024), heads, 63)
}

/// INT 13h AH=08h's CX/DX for a geometry and a drive count.
fn int13_08(geometry: (u64, u64, u64), drives: u64) -> (u64, u64) {
    let (c, h, s) = geometry;
    let last = c - 1;
    let cx = (last & 0xFF) << 8 | (last >> 8) << 6 | s;
    let dx = (h - 1) << 8 | drives;
    (cx, dx)
}

fn bcd(v: u64) -> u64 {
    ((v / 10) << 4) | (v % 10)
}

#[test]
fn bios_services_answer_what_the_command_line_implies() {
    let dir = temp_dir("services");
    let ram_mib: u64 = 64;
    let hda_size: u64 = 1 << 30; // 1 GiB: beyond 504 MiB, translated
    let hdb_size: u64 = 130 << 30; // beyond 2^28 sectors: LBA48
    let program = assemble("bios_services.asm", &dir.join("svc.bin"));
    let hda = dir.join("hda.img");
    std::fs::write(&hda, &program).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&hda)
        .and_then(|f| f.set_len(hda_size))
        .unwrap();
    let hdb = dir.join("hdb.img");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&hdb).unwrap();
        f.set_len(hdb_size).unwrap();
        f.seek(SeekFrom::Start(hdb_size - 512)).unwrap();
        f.write_all(b"LAST").unwrap();
    }
    let out = oxbox(
        &[
            "-m",
            &ram_mib.to_string(),
            "--serial",
            "none",
            "--max-instructions",
            "300000000",
        ],
        &[("--hda", &hda), ("--hdb", &hdb)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0x23), "{stdout}");
    let r = report(&stdout);
    let one = |name: &str| -> Vec<u64> {
        let v = r
            .get(name)
            .unwrap_or_else(|| panic!("no {name} line:\n{stdout}"));
        assert_eq!(v.len(), 1, "{name}: {stdout}");
        v[0].clone()
    };
    assert_eq!(one("boot"), [0x80]);

    // Memory: INT 12h, 88h, E801h and the E820 map agree with -m.
    let base_kib = one("int12")[0];
    assert!((512..=640).contains(&base_kib), "{stdout}");
    let ext_kib = (ram_mib - 1) * 1024;
    assert_eq!(one("int15_88"), [ext_kib.min(0xFFFF), 0]);
    assert_eq!(one("e801"), [ext_kib.min(15 * 1024), (ram_mib - 16) * 16]);
    let e820: Vec<(u64, u64, u64)> = r["e820"]
        .iter()
        .map(|e| (e[0] << 32 | e[1], e[2] << 32 | e[3], e[4]))
        .collect();
    let usable: u64 = e820.iter().filter(|e| e.2 == 1).map(|e| e.1).sum();
    assert_eq!(usable, base_kib * 1024 + ext_kib * 1024, "{e820:x?}");
    assert_eq!(e820[0], (0, base_kib * 1024, 1), "{e820:x?}");
    for w in e820.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "sorted, disjoint: {e820:x?}");
    }
    for &(base, len, kind) in &e820 {
        assert!(len > 0);
        if kind == 1 {
            // No usable RAM in the VGA/ROM hole, nor past the RAM.
            assert!(base + len <= 0xA0000 || base >= 0x100000, "{e820:x?}");
            assert!(base + len <= ram_mib * MIB, "{e820:x?}");
        }
    }
    // The BIOS ROM (F0000-FFFFF) is reserved.
    assert!(
        e820.iter()
            .any(|&(b, l, t)| t == 2 && b <= 0xF0000 && b + l >= 0x100000),
        "{e820:x?}"
    );

    // Disks: AH=08h geometry, 41h, 48h sizes, 42h beyond 2^28 sectors.
    let params = &r["params"];
    let (cx, dx) = int13_08(lba_assisted(hda_size / 512), 2);
    assert_eq!(params[0], [0x80, cx, dx, 0], "{stdout}");
    let (cx, dx) = int13_08(lba_assisted(hdb_size / 512), 2);
    assert_eq!(params[1], [0x81, cx, dx, 0], "{stdout}");
    // INT 41h/46h: the same geometry in the fixed disk parameter tables.
    for (i, size) in [hda_size, hdb_size].into_iter().enumerate() {
        let (c, h, s) = lba_assisted(size / 512);
        assert_eq!(r["fdpt"][i], [c, h, s], "{stdout}");
    }
    let ext = one("ext");
    assert_eq!(ext[0], 0xAA55);
    assert!(ext[1] >= 0x21, "EDD version: {stdout}");
    assert!(ext[2] & 1 != 0, "extended disk access: {stdout}");
    assert_eq!(ext[3], 0);
    let edd = &r["edd"];
    for (i, size) in [hda_size, hdb_size].into_iter().enumerate() {
        let sectors = size / 512;
        assert_eq!(
            edd[i],
            [
                0x80 + i as u64,
                0x1E,
                sectors >> 32,
                sectors & 0xFFFF_FFFF,
                512,
                0
            ],
            "{stdout}"
        );
    }
    assert_eq!(
        one("last"),
        [u32::from_le_bytes(*b"LAST") as u64, 0],
        "{stdout}"
    );

    // Unsupported services fail cleanly instead of hanging: AH=86h (the
    // disk services' own "invalid function" status is 01h), CF set.
    assert_eq!(one("unsupported15"), [0x86, 1]);
    assert_eq!(one("unsupported1a"), [0x86, 1]);
    assert_eq!(one("unsupported16"), [0x86, 1]);
    assert_eq!(one("unsupported13"), [0x01, 1]);

    // Ten HLTs with only the timer running: ten ticks.
    let ticks = one("ticks");
    assert_eq!(ticks[1] - ticks[0], 10, "{stdout}");

    // The RTC date the machine starts with.
    let d = oxbox::machine::DEFAULT_RTC_START;
    let year = d.year as u64;
    assert_eq!(
        one("date"),
        [
            bcd(year / 100) << 8 | bcd(year % 100),
            bcd(d.month as u64) << 8 | bcd(d.day as u64)
        ]
    );

    // PCI BIOS: present, version 2.10, and the PIIX3 IDE function found
    // where the machine puts it (bus 0: BX = device/function).
    let bdf = oxbox::machine::IDE_FUNCTION as u64;
    assert_eq!(
        one("pci"),
        [u32::from_le_bytes(*b"PCI ") as u64, 0x0210, bdf]
    );
    // A20 on, then off; the block move copies through 2 MiB and back.
    assert_eq!(one("a20"), [1, 0, 0, 0]);
    assert_eq!(one("move"), [0, 0, 1]);
    // The EBDA sits right above base memory.
    assert_eq!(one("ebda"), [base_kib * 64]);
    // 220 ms is four ticks of 54.9 ms.
    let wait = one("wait");
    assert!(
        (3..=5).contains(&(wait[1] - wait[0])),
        "AH=86h waited {} ticks: {stdout}",
        wait[1] - wait[0]
    );
    assert_eq!(wait[2], 0);
    assert!(r.contains_key("done"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CD image with an El Torito no-emulation boot entry: the boot record
/// (block 17) points at the catalog (block 18), whose initial entry loads
/// `sectors` 512-byte sectors from block `image_lba` at segment 07C0h.
fn el_torito_iso(boot_image: &[u8], blocks: usize, image_lba: u32, sectors: u16) -> Vec<u8> {
    const B: usize = 2048;
    let mut iso = vec![0u8; blocks * B];
    // Primary volume descriptor (block 16) and the boot record (17).
    iso[16 * B..16 * B + 7].copy_from_slice(b"\x01CD001\x01");
    let br = 17 * B;
    iso[br..br + 7].copy_from_slice(b"\x00CD001\x01");
    iso[br + 7..br + 30].copy_from_slice(b"EL TORITO SPECIFICATION");
    iso[br + 0x47..br + 0x4B].copy_from_slice(&18u32.to_le_bytes());
    // Catalog: the validation entry (words summing to 0, key 55h AAh) ...
    let cat = 18 * B;
    let mut validation = [0u8; 32];
    validation[0] = 1;
    validation[0x1E] = 0x55;
    validation[0x1F] = 0xAA;
    let sum = validation.chunks(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    validation[0x1C..0x1E].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    iso[cat..cat + 32].copy_from_slice(&validation);
    // ... and the initial entry: bootable, no emulation, default segment.
    let e = cat + 32;
    iso[e] = 0x88;
    iso[e + 6..e + 8].copy_from_slice(&sectors.to_le_bytes());
    iso[e + 8..e + 12].copy_from_slice(&image_lba.to_le_bytes());
    let at = image_lba as usize * B;
    iso[at..at + boot_image.len()].copy_from_slice(boot_image);
    iso
}

#[test]
fn an_el_torito_cd_boots_and_reads_through_int_13h_as_drive_e0h() {
    let dir = temp_dir("cdboot");
    let boot = assemble("bios_cdboot.asm", &dir.join("cdboot.bin"));
    let (blocks, image_lba, sectors) = (40usize, 20u32, 4u16);
    let iso = dir.join("cd.iso");
    std::fs::write(&iso, el_torito_iso(&boot, blocks, image_lba, sectors)).unwrap();
    let out = oxbox(
        &[
            "--boot",
            "d",
            "--serial",
            "none",
            "--max-instructions",
            "100000000",
        ],
        &[("--cdrom", &iso)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0x27), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with(' ')).expect(&stdout);
    let words: Vec<&str> = line.split_whitespace().collect();
    let (text, numbers) = words.split_last().unwrap();
    let v: Vec<u64> = numbers
        .iter()
        .map(|w| u64::from_str_radix(w, 16).unwrap())
        .collect();
    assert_eq!(
        v,
        [
            0xE0, // DL
            0xAA55,
            0, // AH=41h
            0, // AX=4B01h: CF, then the specification packet
            0x13,
            0, // no emulation
            0xE0,
            image_lba as u64,
            0x07C0,
            sectors as u64,
            0, // AH=48h: CF, bytes per block, blocks
            2048,
            blocks as u64,
            0, // AH=42h
        ],
        "{stdout}"
    );
    assert_eq!(*text, "CD001", "block 16 read through AH=42h");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn isolinux_boots_from_a_cd_to_its_prompt() {
    // Debian's isolinux and syslinux-common, laid out by xorriso as their
    // documentation says; the configuration sends ISOLINUX's console to
    // COM1. ISOLINUX runs its 32-bit core (ldlinux.c32) and reads its
    // files through INT 13h on drive E0h.
    let isolinux = Path::new("/usr/lib/ISOLINUX/isolinux.bin");
    let ldlinux = Path::new("/usr/lib/syslinux/modules/bios/ldlinux.c32");
    assert!(
        isolinux.exists() && ldlinux.exists(),
        "install Debian's isolinux, syslinux-common and xorriso (.ci/run does)"
    );
    let dir = temp_dir("isolinux");
    let tree = dir.join("tree/isolinux");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::copy(isolinux, tree.join("isolinux.bin")).unwrap();
    std::fs::copy(ldlinux, tree.join("ldlinux.c32")).unwrap();
    std::fs::write(tree.join("isolinux.cfg"), SYSLINUX_CFG).unwrap();
    let iso = dir.join("isolinux.iso");
    let status = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args([
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
        ])
        .arg(dir.join("tree"))
        .status()
        .expect("xorriso is needed (Debian: apt-get install xorriso)");
    assert!(status.success());
    let out = boot_to_syslinux_prompt(&dir, "d", ("--cdrom", &iso));
    assert!(out.contains("Booting from CD-ROM"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SYSLINUX-family configuration: the console on COM1, a prompt, and a
/// default label that does not exist (so it prompts again).
const SYSLINUX_CFG: &str = "SERIAL 0 115200\nPROMPT 1\nTIMEOUT 10\nDEFAULT nothing\n";

/// Boot `disk` with boot order `boot`; the SYSLINUX-family loader on it
/// must print its banner and its prompt on COM1. Returns oxbox's stdout.
fn boot_to_syslinux_prompt(dir: &Path, boot: &str, disk: (&str, &Path)) -> String {
    let com1 = dir.join("com1.txt");
    let serial = format!("file:{}", com1.display());
    let out = oxbox(
        &[
            "--boot",
            boot,
            "--serial",
            &serial,
            "--max-instructions",
            "100000000",
        ],
        &[disk],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = String::from_utf8_lossy(&std::fs::read(&com1).unwrap()).into_owned();
    assert!(text.contains("LINUX 6."), "{stdout}\nCOM1: {text}");
    // The prompt comes from ldlinux.c32, which the loader read through
    // INT 13h.
    assert!(text.contains("boot:"), "{text}");
    stdout
}

#[test]
fn syslinux_boots_from_a_fat_hard_disk_to_its_prompt() {
    // Debian's syslinux installs itself into a FAT file system image
    // (through mtools): its boot sector, ldlinux.sys and ldlinux.c32.
    let dir = temp_dir("syslinux");
    let disk = dir.join("fat.img");
    let run = |cmd: &mut Command| {
        let status = cmd
            .status()
            .expect("install Debian's syslinux, mtools and dosfstools (.ci/run does)");
        assert!(status.success(), "{cmd:?}");
    };
    run(Command::new("/usr/sbin/mkfs.fat")
        .arg("-C")
        .arg(&disk)
        .arg("32768"));
    run(Command::new("syslinux").arg("--install").arg(&disk));
    let cfg = dir.join("syslinux.cfg");
    std::fs::write(&cfg, SYSLINUX_CFG).unwrap();
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&disk)
        .arg(&cfg)
        .arg("::syslinux.cfg"));
    let out = boot_to_syslinux_prompt(&dir, "c", ("--hda", &disk));
    assert!(out.contains("Booting from Hard Disk"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A 1.44M diskette image: `program` in its first sectors, every other
/// sector starting with its own LBA as a little-endian dword.
fn marked_diskette(program: &[u8]) -> Vec<u8> {
    let mut img = vec![0u8; 1_474_560];
    for (lba, sector) in img.chunks_mut(512).enumerate() {
        sector[..4].copy_from_slice(&(lba as u32).to_le_bytes());
    }
    img[..program.len()].copy_from_slice(program);
    img
}

#[test]
fn the_bootsector_test_disk_boots_from_fda() {
    let dir = temp_dir("fd-bootsector");
    let mut img = assemble("bootsector.asm", &dir.join("boot.bin"));
    let mut sector2 = b"hello from floppy sector 2\n".to_vec();
    sector2.extend_from_slice(&[0, 0x21]);
    sector2.resize(512, 0);
    img.extend_from_slice(&sector2);
    let disk = dir.join("fd.img");
    std::fs::write(&disk, marked_diskette(&img)).unwrap();
    let out = oxbox(
        &[
            "--serial",
            "none",
            "--boot",
            "a",
            "--max-instructions",
            "100000000",
        ],
        &[("--fda", &disk)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Floppy drive A: 1.44M diskette drive"),
        "{stdout}"
    );
    assert!(stdout.contains("Booting from Floppy"), "{stdout}");
    assert!(stdout.contains("hello from floppy sector 2"), "{stdout}");
    assert_eq!(out.status.code(), Some(0x43), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diskette_services_read_write_and_fail_as_the_bios_interface_says() {
    let dir = temp_dir("fd-services");
    let program = assemble("bios_floppy.asm", &dir.join("fd.bin"));
    let disk = dir.join("fd.img");
    std::fs::write(&disk, marked_diskette(&program)).unwrap();
    // The default boot order (c, d, a) reaches the floppy: no disk, no CD.
    let out = oxbox(
        &["--serial", "none", "--max-instructions", "300000000"],
        &[("--fda", &disk)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0x2B), "{stdout}");
    let r = report(&stdout);
    let one = |name: &str| -> Vec<u64> {
        let v = r
            .get(name)
            .unwrap_or_else(|| panic!("no {name} line:\n{stdout}"));
        v[0].clone()
    };
    // (AX, CF) lines: AH is the status.
    let ah_cf = |name: &str| {
        let v = one(name);
        (v[0] >> 8, v[1])
    };
    assert_eq!(one("boot"), [0]);
    // Drive A present (bit 0), one drive (bits 7-6 = 0), 80x25 colour.
    assert_eq!(one("equip")[0] & 0xC1, 0x01);
    // AH=08h: AX 0, BL 04h (1.44M), CH 79, CL 18, DH 1, DL 1 drive; ES:DI
    // is INT 1Eh's table, which says 18 sectors per track.
    assert_eq!(one("params"), [0, 0x0004, 0x4F12, 0x0101, 1, 18, 0]);
    assert_eq!(ah_cf("type"), (0x02, 0));
    assert_eq!(ah_cf("type_b"), (0x00, 0));
    assert_eq!(ah_cf("read_b"), (0x01, 1));
    assert_eq!(one("multi"), [0x0014, 0]);
    assert_eq!(one("multi_lbas"), [16, 35]);
    assert_eq!(ah_cf("last"), (0, 0));
    assert_eq!(one("last_lba"), [2879]);
    assert_eq!(ah_cf("change_before"), (0x06, 1));
    assert_eq!(ah_cf("change_after"), (0x00, 0));
    assert_eq!(ah_cf("write"), (0, 0));
    assert_eq!(ah_cf("readback"), (0, 0));
    assert_eq!(
        one("readback_data"),
        [u32::from_le_bytes(*b"FDWR") as u64, 0xA5]
    );
    assert_eq!(ah_cf("verify"), (0, 0));
    assert_eq!(ah_cf("notfound"), (0x04, 1));
    assert_eq!(ah_cf("status"), (0x04, 1));
    // 40:3E: drive 0 recalibrated, no interrupt pending; 40:41: 04h.
    assert_eq!(one("bda"), [0x01, 0x04]);
    assert_eq!(ah_cf("boundary"), (0x09, 1));
    assert_eq!(ah_cf("reset"), (0, 0));
    assert_eq!(ah_cf("after_reset"), (0, 0));
    assert_eq!(one("after_reset_lba"), [2 * 36]);
    assert_eq!(ah_cf("media_144"), (0, 0));
    assert_eq!(ah_cf("media_360"), (0x0C, 1));
    assert_eq!(ah_cf("settype"), (0, 0));
    // The write reached the image: C5/H1/S3 is LBA (5 * 2 + 1) * 18 + 2.
    let img = std::fs::read(&disk).unwrap();
    let lba = 200 * 512;
    assert_eq!(&img[lba..lba + 4], b"FDWR");
    assert!(img[lba + 4..lba + 512].iter().all(|&b| b == 0xA5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_diskette_image_of_no_known_size_is_one_line_of_error() {
    let dir = temp_dir("fd-badsize");
    let disk = dir.join("odd.img");
    std::fs::write(&disk, vec![0u8; 1_000_448]).unwrap();
    let out = oxbox(&["--boot", "a"], &[("--fda", &disk)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("1000448 bytes") && err.contains("1.44M"),
        "{err}"
    );
    let missing = dir.join("missing.img");
    let out = oxbox(&["--boot", "a"], &[("--fda", &missing)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing.img"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
