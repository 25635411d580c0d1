//! The machine the demo-disk tests boot: oxbox's BIOS (roms/oxbios.bin)
//! with a disk as the primary master, recorded in CMOS.
#![allow(dead_code)]

use std::path::Path;

use oxbox::cpu::CpuModel;
use oxbox::machine::Machine;
use oxbox_devices::disk::{BlockDevice, MemDisk};
use oxbox_devices::ide::{Channel, Unit};

/// A built image from roms/.
pub fn rom(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../roms")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The built-in demo disk (roms/demo.bin).
pub fn demo_disk() -> Box<dyn BlockDevice> {
    Box::new(MemDisk::from_bytes(rom("demo.bin"), 512))
}

/// A P6 with `ram` bytes running oxbios, `disk` the primary master.
pub fn oxbios_with_disk(ram: usize, disk: Box<dyn BlockDevice>) -> Machine {
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        ram,
        &rom("oxbios.bin"),
        Box::new(std::io::sink()),
    )
    .unwrap();
    m.bus
        .ide
        .attach_disk(Channel::Primary, Unit::Master, disk)
        .unwrap();
    m.record_disks_in_cmos();
    m
}
