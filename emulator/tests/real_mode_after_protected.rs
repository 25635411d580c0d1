//! Real mode after protected mode: the descriptor caches keep their limits
//! (unreal mode) but real-address mode checks no segment types (SDM vol. 3
//! §20.1), so a program that has just cleared CR0.PE may write through CS,
//! which still caches a code descriptor. syslinux does exactly that after
//! calling SeaBIOS's 32-bit services; it looped forever while oxbox raised
//! #GP for the write.

mod common;

use common::*;
use oxbox::cpu::segment::rights;
use oxbox::cpu::{seg, CpuModel};

#[test]
fn clearing_pe_makes_every_cached_segment_writable_again() {
    let code = [
        0x0F, 0x20, 0xC0, // mov eax, cr0
        0x24, 0xFE, // and al, 0xFE
        0x0F, 0x22, 0xC0, // mov cr0, eax
        0x2E, 0xC6, 0x06, 0x00, 0x02, 0x55, // mov byte [cs:0x200], 0x55
        0xC6, 0x06, 0x10, 0x00, 0x66, // mov byte [0x10], 0x66 (DS)
    ];
    let mut cpu = setup(CpuModel::PentiumPro, &code);
    cpu.set_cr0(cpu.cr0 | 1).unwrap();
    // As if CS held an execute/read code segment and DS a null selector
    // when the program left protected mode.
    cpu.segs[seg::CS].rights = rights::READ;
    cpu.segs[seg::DS].rights = 0;
    run(&mut cpu, 5);
    assert_eq!(cpu.cr0 & 1, 0);
    assert_eq!(read8(&cpu, phys(CODE_CS, 0x200)), 0x55);
    assert_eq!(read8(&cpu, phys(DS, 0x10)), 0x66);
}

#[test]
fn a_real_mode_segment_load_restores_read_and_write_access() {
    let code = [
        0x8C, 0xD8, // mov ax, ds
        0x8E, 0xC0, // mov es, ax
        0x26, 0xC6, 0x06, 0x20, 0x00, 0x77, // mov byte [es:0x20], 0x77
    ];
    let mut cpu = setup(CpuModel::PentiumPro, &code);
    // ES still caches a null selector from protected mode.
    cpu.segs[seg::ES].rights = 0;
    run(&mut cpu, 3);
    assert_eq!(read8(&cpu, phys(DS, 0x20)), 0x77);
}
