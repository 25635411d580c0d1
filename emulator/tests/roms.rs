//! The committed firmware images: they run, and they are exactly what their
//! source in bios/ assembles to.

use std::path::{Path, PathBuf};
use std::process::Command;

use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rom(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("roms").join(name)).expect("committed ROM image")
}

#[test]
fn self_test_rom_passes_on_every_cpu_model() {
    let image = rom("selftest.bin");
    for model in CpuModel::ALL {
        let mut m = Machine::new(model, 1 << 20, &image, Box::new(std::io::sink())).unwrap();
        let exit = m.run(1_000_000);
        let out = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
        assert_eq!(exit, RunExit::Halted, "{model}: {out}");
        assert!(out.contains("self-test passed"), "{model}:\n{out}");
        assert!(!out.contains("FAIL"), "{model}:\n{out}");
        // 15 checks, one line each, between the banner and the verdict.
        assert_eq!(out.matches("  ok  ").count(), 15, "{model}:\n{out}");
    }
}

#[test]
fn bench_rom_halts_after_its_loop() {
    let mut m = Machine::new(
        CpuModel::I80386,
        1 << 20,
        &rom("bench.bin"),
        Box::new(std::io::sink()),
    )
    .unwrap();
    assert_eq!(m.run(10_000_000), RunExit::Halted);
    assert_eq!(m.bus.debugcon_log, b"B");
    // 5000 iterations of the outer loop, each well over 40 instructions.
    assert!(m.cpu.instructions > 5000 * 40, "{}", m.cpu.instructions);
}

#[test]
fn committed_rom_images_match_their_source() {
    let nasm = Command::new("nasm").arg("-v").output();
    assert!(
        nasm.is_ok(),
        "nasm is needed to rebuild bios/*.asm and check roms/*.bin (Debian: apt-get install nasm)"
    );
    let out_dir = std::env::temp_dir().join(format!("oxbox-rom-check-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for name in ["selftest", "bench", "oxbios"] {
        let out = out_dir.join(format!("{name}.bin"));
        let status = Command::new("nasm")
            .current_dir(repo().join("bios"))
            .args(["-f", "bin", "-o"])
            .arg(&out)
            .arg(format!("{name}.asm"))
            .status()
            .expect("run nasm");
        assert!(status.success(), "nasm failed on bios/{name}.asm");
        let built = std::fs::read(&out).unwrap();
        assert!(
            built == rom(&format!("{name}.bin")),
            "roms/{name}.bin differs from what bios/{name}.asm assembles to: run `make -C bios` and commit"
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn an_oversized_or_empty_firmware_image_is_refused() {
    assert!(Machine::new(CpuModel::I8086, 1 << 20, &[], Box::new(std::io::sink())).is_err());
    let big = vec![0u8; 512 * 1024];
    assert!(Machine::new(CpuModel::I8086, 1 << 20, &big, Box::new(std::io::sink())).is_err());
}

#[test]
fn a_triple_fault_resets_the_machine_unless_told_not_to() {
    // A ROM whose reset code loads an empty IDT and raises #UD: the
    // exception, then #GP, then #DF cannot be delivered -> shutdown.
    let mut image = vec![0xFFu8; 4096];
    let code = [
        0x0F, 0x01, 0x1E, 0x00, 0x0F, // lidt [0x0F00] (an IDTR with limit 0)
        0x0F, 0x0B, // ud2
    ];
    image[..code.len()].copy_from_slice(&code);
    image[0xF00..0xF06].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    // Reset vector: jmp far FF00:0000.
    image[0xFF0..0xFF5].copy_from_slice(&[0xEA, 0x00, 0x00, 0x00, 0xFF]);
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        1 << 20,
        &image,
        Box::new(std::io::sink()),
    )
    .unwrap();
    // DS = 0 at reset, so lidt reads 0:0F00 (RAM, zero) -> limit 0.
    m.reset_on_triple_fault = false;
    assert_eq!(m.run(100), RunExit::Shutdown);
    assert_eq!(m.triple_faults, 1);

    let mut m = Machine::new(
        CpuModel::PentiumPro,
        1 << 20,
        &image,
        Box::new(std::io::sink()),
    )
    .unwrap();
    assert_eq!(
        m.run(100),
        RunExit::Budget,
        "the machine resets and keeps running"
    );
    assert!(m.triple_faults > 1);
}
