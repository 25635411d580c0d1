//! An unmodified third-party BIOS on oxbox's platform: Debian's SeaBIOS
//! (package `seabios`, installed by .ci/run) runs its power-on self test on
//! the i440FX/PIIX3 chipset, finds the platform's devices, looks for a boot
//! device and, finding none, reboots through the PIIX3 reset register.

use std::path::Path;

use oxbox::cpu::CpuModel;
use oxbox::machine::Machine;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

#[test]
fn seabios_completes_post_and_reports_no_boot_device() {
    let path = Path::new(SEABIOS);
    assert!(
        path.exists(),
        "{SEABIOS} is missing: install Debian's seabios package (apt-get install seabios); .ci/run does"
    );
    let rom = std::fs::read(path).unwrap();
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        32 << 20,
        &rom,
        Box::new(std::io::sink()),
    )
    .unwrap();
    m.reset_on_triple_fault = false;
    m.run(60_000_000);
    let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    for expected in [
        "RamSize: 0x02000000 [cmos]",
        "PCI: init bdf=00:00.0 id=8086:1237",
        "PCI: init bdf=00:01.0 id=8086:7000",
        "Found 4 serial ports",
        "PS2 keyboard initialized",
        "No bootable device.",
    ] {
        assert!(
            log.contains(expected),
            "SeaBIOS log lacks {expected:?}:\n{log}"
        );
    }
    assert_eq!(m.triple_faults, 0, "SeaBIOS must not triple-fault:\n{log}");
}

#[test]
fn seabios_vga_bios_puts_its_text_on_the_vga_screen() {
    let vgabios = Path::new("/usr/share/seabios/vgabios-stdvga.bin");
    assert!(
        Path::new(SEABIOS).exists() && vgabios.exists(),
        "SeaBIOS and its VGA BIOS are missing: apt-get install seabios; .ci/run does"
    );
    let rom = std::fs::read(SEABIOS).unwrap();
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        32 << 20,
        &rom,
        Box::new(std::io::sink()),
    )
    .unwrap();
    m.bus.set_vga_rom(std::fs::read(vgabios).unwrap());
    m.reset_on_triple_fault = false;
    m.run(40_000_000);
    let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    assert!(log.contains("Running option rom at c000:0003"), "{log}");
    assert!(log.contains("set VGA mode 3"), "{log}");
    let screen = m
        .bus
        .vga
        .text_snapshot()
        .expect("the VGA is in a text mode")
        .join("\n");
    assert!(
        screen.contains("SeaBIOS (version"),
        "the banner is on the VGA text screen:\n{screen}"
    );
    assert!(screen.contains("Press ESC for boot menu."), "{screen}");
}
