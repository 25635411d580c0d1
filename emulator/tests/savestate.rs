//! Savestates: a state taken mid-boot, written to a file, read back and
//! restored into a fresh machine runs on exactly as the uninterrupted run
//! (same final machine state, same serial output); the file's errors
//! (wrong magic, newer version, truncation, corruption) and a machine
//! configured differently (RAM, CPU model, firmware, disk images) are
//! refused with a clear message; `--savevm`/`--loadvm` do the same through
//! the command line.

#[path = "common/demo.rs"]
mod demo;

use std::path::{Path, PathBuf};
use std::process::Command;

use demo::{demo_disk, oxbios_with_disk, rom};
use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox::savestate::{Snapshot, StateError, FORMAT_VERSION, MAGIC};
use oxbox_devices::disk::{BlockDevice, MemDisk, Overlay};
use oxbox_devices::ide::{Channel, Unit};
use oxbox_devices::uart16550::CaptureBackend;

/// A machine with `bios` at the reset vector and the debug console
/// captured in its log only.
fn machine(model: CpuModel, ram: usize, bios: &[u8]) -> Machine {
    Machine::new(model, ram, bios, Box::new(std::io::sink())).unwrap()
}

/// oxbox's BIOS booting the built-in demo disk (bios/demo.asm: paging,
/// ring-3 tasks switched by the PIT, VGA mode 13h, COM1), with COM1
/// captured. The demo disk is `disk`'s content.
fn demo_machine_with(ram: usize, disk: Box<dyn BlockDevice>) -> (Machine, CaptureBackend) {
    let mut m = oxbios_with_disk(ram, disk);
    let com1 = CaptureBackend::default();
    m.bus.attach_serial(Box::new(com1.clone()));
    (m, com1)
}

fn demo_machine() -> (Machine, CaptureBackend) {
    demo_machine_with(32 << 20, demo_disk())
}

/// Run exactly `n` instructions.
fn run(m: &mut Machine, n: u64) {
    assert_eq!(m.run(n), RunExit::Budget);
}

/// Through the file format: write, read back.
fn through_file(s: &Snapshot) -> Snapshot {
    let mut file = Vec::new();
    s.write_to(&mut file).unwrap();
    Snapshot::read_from(&file[..]).unwrap()
}

/// The BIOS's POST, the boot, the switch to protected mode with paging and
/// well into the tasks' time slices: the demo's banner is out after about
/// 25 million instructions.
const DEMO_RUN: u64 = 60_000_000;

#[test]
fn a_state_saved_mid_boot_and_restored_into_a_fresh_machine_runs_on_as_the_uninterrupted_run() {
    let (mut whole, whole_com1) = demo_machine();
    run(&mut whole, DEMO_RUN);
    let text = whole_com1.text();
    assert!(text.contains("paging on, 2 ring-3 tasks"), "{text}");

    for split in [DEMO_RUN / 7, DEMO_RUN / 2 + 12_345] {
        let (mut first, first_com1) = demo_machine();
        run(&mut first, split);
        let state = through_file(&first.snapshot().unwrap());
        assert_eq!(state.instructions(), split);

        let (mut second, second_com1) = demo_machine();
        second.restore(&state).unwrap();
        assert_eq!(second.state_hash(), first.state_hash(), "restored as saved");
        run(&mut second, DEMO_RUN - split);
        assert_eq!(
            second.state_hash(),
            whole.state_hash(),
            "resumed at {split}: a different end state"
        );
        assert_eq!(
            first_com1.text() + &second_com1.text(),
            text,
            "the COM1 output of the two halves is the uninterrupted run's"
        );
        assert_eq!(second.cpu.cycles, whole.cpu.cycles);
        assert_eq!(second.now(), whole.now());
    }
}

#[test]
fn the_state_hash_sees_one_instruction_and_one_byte() {
    let (mut m, _) = demo_machine();
    run(&mut m, DEMO_RUN / 4);
    let state = m.snapshot().unwrap();
    let h = m.state_hash();
    run(&mut m, 1);
    assert_ne!(m.state_hash(), h, "one more instruction");
    m.restore(&state).unwrap();
    assert_eq!(m.state_hash(), h, "restored in place");
    // One byte of RAM, of video memory, of a device register.
    let a = 0x7_0000;
    let old = m.cpu.mem().read_u8(a);
    m.cpu.mem_mut().write_u8(a, old ^ 1);
    assert_ne!(m.state_hash(), h, "a RAM byte");
    m.restore(&state).unwrap();
    m.bus.platform.rtc_mut().set_cmos(0x40, 0x5A);
    assert_ne!(m.state_hash(), h, "a CMOS byte");
    m.restore(&state).unwrap();
    m.cpu.fpu.fip ^= 1;
    assert_ne!(m.state_hash(), h, "the x87 instruction pointer");
    m.restore(&state).unwrap();
    assert_eq!(m.state_hash(), h);
}

#[test]
fn going_back_to_an_in_memory_snapshot_replays_the_same_run() {
    let (mut m, com1) = demo_machine();
    run(&mut m, DEMO_RUN / 3);
    let state = m.snapshot().unwrap();
    let at = com1.text().len();
    run(&mut m, DEMO_RUN / 3);
    let (end, out) = (m.state_hash(), com1.text()[at..].to_string());
    for _ in 0..2 {
        m.restore(&state).unwrap();
        let at = com1.text().len();
        run(&mut m, DEMO_RUN / 3);
        assert_eq!(m.state_hash(), end);
        assert_eq!(com1.text()[at..], out);
    }
}

#[test]
fn seabios_post_resumed_from_a_state_ends_as_the_uninterrupted_run() {
    const SEABIOS: &str = "/usr/share/seabios/bios.bin";
    assert!(
        Path::new(SEABIOS).exists(),
        "{SEABIOS} is missing: install Debian's seabios package"
    );
    let bios = std::fs::read(SEABIOS).unwrap();
    let seabios = || {
        let mut m = machine(CpuModel::PentiumPro, 32 << 20, &bios);
        m.bus
            .set_vga_rom(std::fs::read("/usr/share/seabios/vgabios-stdvga.bin").unwrap());
        m
    };
    const N: u64 = 20_000_000;
    let mut whole = seabios();
    run(&mut whole, N);
    let mut first = seabios();
    run(&mut first, N / 3);
    let state = through_file(&first.snapshot().unwrap());
    let mut second = seabios();
    second.restore(&state).unwrap();
    run(&mut second, N - N / 3);
    assert_eq!(second.state_hash(), whole.state_hash());
    assert_eq!(
        String::from_utf8_lossy(&first.bus.debugcon_log).to_string()
            + &String::from_utf8_lossy(&second.bus.debugcon_log),
        String::from_utf8_lossy(&whole.bus.debugcon_log)
    );
}

/// A 1.44M diskette booting testsuite/roms/bootsector.asm: it reads
/// sector 2 through INT 13h (the floppy controller and DMA at work) and
/// prints it on the debug console.
fn boot_floppy() -> Box<dyn BlockDevice> {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testsuite/roms");
    let out = std::env::temp_dir().join(format!("oxbox-state-fd-{}.bin", std::process::id()));
    let status = Command::new("nasm")
        .current_dir(&roms)
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg("bootsector.asm")
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success());
    let mut img = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    img.extend_from_slice(b"read from the diskette\n\0\x21");
    img.resize(1_474_560, 0);
    Box::new(MemDisk::from_bytes(img, 512))
}

#[test]
fn a_floppy_boot_saved_at_any_point_resumes_to_the_same_end() {
    let floppy_machine = || {
        let mut m = machine(CpuModel::PentiumPro, 32 << 20, &rom("oxbios.bin"));
        m.attach_floppy(0, boot_floppy()).unwrap();
        m.set_boot_order(&[oxbox::machine::BootDevice::Floppy]);
        m
    };
    let mut whole = floppy_machine();
    assert_eq!(whole.run(500_000_000), RunExit::Stopped);
    let log = |m: &Machine| String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    assert!(
        log(&whole).contains("read from the diskette"),
        "{}",
        log(&whole)
    );
    let total = whole.cpu.instructions;
    // Splits in POST, while the boot sector is read, and in its INT 13h.
    for split in [total / 4, total / 2, total * 3 / 4, total - 2_000] {
        let mut first = floppy_machine();
        run(&mut first, split);
        let state = through_file(&first.snapshot().unwrap());
        let mut second = floppy_machine();
        second.restore(&state).unwrap();
        assert_eq!(second.run(500_000_000), RunExit::Stopped, "split {split}");
        assert_eq!(second.state_hash(), whole.state_hash(), "split {split}");
        assert_eq!(log(&first) + &log(&second), log(&whole), "split {split}");
    }
    // Another diskette is another configuration.
    let state = floppy_machine().snapshot().unwrap();
    let mut other = machine(CpuModel::PentiumPro, 32 << 20, &rom("oxbios.bin"));
    other
        .attach_floppy(0, Box::new(MemDisk::from_bytes(vec![0; 1_474_560], 512)))
        .unwrap();
    let why = refusal(&mut other, &state);
    assert!(why.contains("floppy A:"), "{why}");
}

/// The message of a refused restore.
fn refusal(m: &mut Machine, s: &Snapshot) -> String {
    match m.restore(s) {
        Ok(()) => panic!("the restore was not refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_machine_configured_differently_refuses_the_state_and_stays_as_it_was() {
    let (mut m, _) = demo_machine();
    run(&mut m, 1_000_000);
    let state = through_file(&m.snapshot().unwrap());

    let (mut other, _) = demo_machine_with(16 << 20, demo_disk());
    run(&mut other, 1000);
    let h = other.state_hash();
    let e = refusal(&mut other, &state);
    assert!(e.contains("RAM") && e.contains("32768 KiB"), "{e}");
    assert_eq!(other.state_hash(), h, "unchanged by the refusal");
    run(&mut other, 1000);

    let mut i486 = machine(CpuModel::I80486, 32 << 20, &rom("oxbios.bin"));
    let e = refusal(&mut i486, &state);
    assert!(e.contains("CPU model") && e.contains("486"), "{e}");

    let mut bios = rom("oxbios.bin");
    bios[100] ^= 1;
    let mut other_bios = machine(CpuModel::PentiumPro, 32 << 20, &bios);
    let e = refusal(&mut other_bios, &state);
    assert!(e.contains("firmware image"), "{e}");

    let mut image = rom("demo.bin");
    image[600] ^= 1;
    let (mut other_disk, _) =
        demo_machine_with(32 << 20, Box::new(MemDisk::from_bytes(image, 512)));
    let e = refusal(&mut other_disk, &state);
    assert!(e.contains("primary master drive"), "{e}");
}

/// The primary master's image, written and read as the guest's commands
/// would.
fn hda(m: &mut Machine) -> &mut dyn BlockDevice {
    m.bus
        .ide
        .medium_mut(Channel::Primary, Unit::Master)
        .expect("a disk on the primary master")
}

#[test]
fn overlay_sectors_are_in_the_state_and_a_written_through_image_that_changed_is_refused() {
    let overlay = || Box::new(Overlay::new(demo_disk()));
    let (mut m, _) = demo_machine_with(32 << 20, overlay());
    run(&mut m, 1_000_000);
    hda(&mut m).write_sectors(5, &[0xAB; 512]).unwrap();
    let state = through_file(&m.snapshot().unwrap());
    // The written sector comes back with the state, over the same base.
    let (mut back, _) = demo_machine_with(32 << 20, overlay());
    back.restore(&state).unwrap();
    let mut sector = [0; 512];
    hda(&mut back).read_sectors(5, &mut sector).unwrap();
    assert_eq!(sector, [0xAB; 512]);
    assert_eq!(back.state_hash(), m.state_hash());
    // The same image without the overlay cannot take its sectors.
    let (mut plain, _) = demo_machine();
    let e = refusal(&mut plain, &state);
    assert!(e.contains("--snapshot"), "{e}");

    // A disk written through: the state holds only its content hash.
    let (mut m, _) = demo_machine();
    run(&mut m, 1_000_000);
    let state = m.snapshot().unwrap();
    hda(&mut m).write_sectors(5, &[0xAB; 512]).unwrap();
    let e = refusal(&mut m, &state);
    assert!(e.contains("written since"), "{e}");
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_clear_error() {
    let (mut m, _) = demo_machine();
    run(&mut m, 1_000_000);
    let mut file = Vec::new();
    m.snapshot().unwrap().write_to(&mut file).unwrap();
    assert_eq!(&file[..8], MAGIC);
    let read = |bytes: &[u8]| match Snapshot::read_from(bytes) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };

    let e = read(b"GIF89a and then some more bytes");
    assert!(matches!(e, StateError::NotAState), "{e}");
    assert!(e.to_string().contains("not an oxbox state file"));

    let mut newer = file.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = read(&newer);
    assert!(matches!(e, StateError::NewerVersion { .. }), "{e}");
    assert!(e.to_string().contains("newer oxbox"), "{e}");

    // Cut anywhere: in the magic, the version, a section header, a
    // section's bytes, before END.
    for cut in [
        0,
        3,
        10,
        14,
        30,
        file.len() / 2,
        file.len() - 21,
        file.len() - 1,
    ] {
        let e = read(&file[..cut]);
        assert!(matches!(e, StateError::Truncated), "cut at {cut}: {e}");
        assert!(e.to_string().contains("truncated"));
    }

    // A payload that does not match its checksum (here the checksum of
    // the MACH section is off) is refused.
    let mut flipped = file.clone();
    let mach = 12 + 28 + u64::from_le_bytes(file[16..24].try_into().unwrap()) as usize;
    assert_eq!(&file[mach..mach + 4], b"MACH");
    flipped[mach + 20] ^= 1;
    let e = read(&flipped);
    assert!(matches!(e, StateError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("MACH: checksum"), "{e}");
    // A byte flipped anywhere is refused, or (when the compressed stream
    // decodes to the same bytes) loads the very state that was saved.
    let h = m.state_hash();
    for k in 1..40 {
        let mut flipped = file.clone();
        flipped[k * file.len() / 40] ^= 0x10;
        if let Ok(s) = Snapshot::read_from(&flipped[..]) {
            m.restore(&s).unwrap();
            assert_eq!(m.state_hash(), h);
        }
    }

    // The intact file still loads.
    Snapshot::read_from(&file[..]).unwrap();
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-savestate-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `oxbox` headless on the demo disk with `args`; its COM1 output.
fn oxbox(dir: &Path, args: &[&str]) -> (std::process::Output, String) {
    let serial = dir.join(format!("com1-{}.txt", args.join("_").replace('/', "-")));
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .args(["--display", "none", "--serial"])
        .arg(format!("file:{}", serial.display()))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run oxbox");
    let com1 = std::fs::read_to_string(&serial).unwrap_or_default();
    (out, com1)
}

#[test]
fn savevm_then_loadvm_on_the_command_line_continues_the_run() {
    let dir = temp_dir();
    let n = DEMO_RUN.to_string();
    let half = (DEMO_RUN / 2).to_string();
    let (out, whole_com1) = oxbox(&dir, &["--max-instructions", &n, "--savevm", "whole.oxs"]);
    assert!(out.status.success(), "{out:?}");
    let (out, first_com1) = oxbox(&dir, &["--max-instructions", &half, "--savevm", "half.oxs"]);
    assert!(out.status.success(), "{out:?}");
    let (out, second_com1) = oxbox(
        &dir,
        &[
            "--loadvm",
            "half.oxs",
            "--max-instructions",
            &half,
            "--savevm",
            "end.oxs",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("after {n} instructions")),
        "{stderr}"
    );
    assert_eq!(first_com1 + &second_com1, whole_com1);
    let whole = std::fs::read(dir.join("whole.oxs")).unwrap();
    let end = std::fs::read(dir.join("end.oxs")).unwrap();
    assert!(whole == end, "the two state files differ");

    // Another configuration is refused with one line and status 2.
    let (out, _) = oxbox(&dir, &["--loadvm", "half.oxs", "-m", "64"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--loadvm half.oxs: RAM: the state was saved with 131072 KiB"),
        "{stderr}"
    );
    let (out, _) = oxbox(&dir, &["--loadvm", "missing.oxs"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
