//! Shared scaffolding for the CPU integration tests: a real-mode CPU with
//! code placed at a known CS:IP, distinct segment bases (so a wrong default
//! segment reads the wrong bytes), and small helpers for stepping and for
//! reading memory and flags.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use oxbox::cpu::{flags, Cpu, CpuModel, Regs16, StepResult};
use oxbox_devices::{Bus, IoSize, NullBus};

/// A bus like the machine's: the interrupt line never moves during an
/// instruction, which is what lets REP MOVS/STOS move whole blocks.
pub struct SettledBus;

impl Bus for SettledBus {
    fn io_read(&mut self, _port: u16, size: IoSize) -> u32 {
        size.open_bus()
    }
    fn io_write(&mut self, _port: u16, _size: IoSize, _value: u32) {}
    fn interrupts_settle_between_instructions(&self) -> bool {
        true
    }
}

/// Where [`setup`] places the code: CS:IP = 0000:0100.
pub const CODE_CS: u16 = 0x0000;
pub const CODE_IP: u16 = 0x0100;
/// The data segments [`setup`] loads; every base is different.
pub const DS: u16 = 0x1000;
pub const ES: u16 = 0x2000;
pub const SS: u16 = 0x3000;
/// The initial stack pointer.
pub const SP: u16 = 0x1000;

/// RAM for the tests: 2 MiB covers the whole real-mode address space
/// (1 MiB + 64 KiB of high memory).
pub const RAM: usize = 2 << 20;

/// The register file [`setup`] starts from: everything zero except the
/// segments, SP and IP above, and FLAGS with only the model's fixed bits.
pub fn regs() -> Regs16 {
    Regs16 {
        cs: CODE_CS,
        ip: CODE_IP,
        ds: DS,
        es: ES,
        ss: SS,
        sp: SP,
        flags: 0,
        ..Regs16::default()
    }
}

/// A `model` CPU in real mode at 0000:0100 with `code` there.
pub fn setup(model: CpuModel, code: &[u8]) -> Cpu {
    setup_with(model, &regs(), code)
}

/// A `model` CPU in real mode with registers `r` and `code` at r.cs:r.ip.
pub fn setup_with(model: CpuModel, r: &Regs16, code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(model, RAM);
    cpu.set_real_mode_regs(r);
    let at = phys(r.cs, r.ip);
    cpu.mem_mut().load(at, code);
    cpu
}

/// The physical address of seg:off in real mode (no A20 wrap needed here).
pub fn phys(seg: u16, off: u16) -> u32 {
    ((seg as u32) << 4) + off as u32
}

/// Execute one instruction.
pub fn step(cpu: &mut Cpu) -> StepResult {
    cpu.step(&mut NullBus)
}

/// Execute `n` instructions, asserting that none raises an exception.
pub fn run(cpu: &mut Cpu, n: usize) {
    for k in 0..n {
        let r = step(cpu);
        assert_eq!(r.exception, None, "instruction {k} raised an exception");
        assert!(!r.shutdown, "instruction {k} shut the CPU down");
    }
}

/// Execute one instruction and return the exception vector it raised.
pub fn step_fault(cpu: &mut Cpu) -> Option<u8> {
    step(cpu).exception.map(|(v, _)| v)
}

pub fn read8(cpu: &Cpu, addr: u32) -> u8 {
    cpu.mem().read_u8(addr)
}

pub fn read16(cpu: &Cpu, addr: u32) -> u16 {
    read8(cpu, addr) as u16 | (read8(cpu, addr + 1) as u16) << 8
}

pub fn read32(cpu: &Cpu, addr: u32) -> u32 {
    read16(cpu, addr) as u32 | (read16(cpu, addr + 2) as u32) << 16
}

pub fn write16(cpu: &mut Cpu, addr: u32, v: u16) {
    cpu.mem_mut().load(addr, &v.to_le_bytes());
}

pub fn write32(cpu: &mut Cpu, addr: u32, v: u32) {
    cpu.mem_mut().load(addr, &v.to_le_bytes());
}

/// The status flags as a readable string of the set ones, e.g. "O S C",
/// so an assertion failure shows which flag differs.
pub fn status(cpu: &Cpu) -> String {
    let f = cpu.flags_word();
    let names = [
        (flags::OF, "O"),
        (flags::SF, "S"),
        (flags::ZF, "Z"),
        (flags::AF, "A"),
        (flags::PF, "P"),
        (flags::CF, "C"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|&(_, n)| n)
        .collect();
    set.join(" ")
}

/// Whether status flag `bit` is set.
pub fn flag(cpu: &Cpu, bit: u32) -> bool {
    cpu.flags_word() & bit != 0
}

/// The real-mode interrupt frame on the stack after an exception with no
/// error code: (IP, CS, FLAGS) at SS:SP.
pub fn interrupt_frame(cpu: &Cpu) -> (u16, u16, u16) {
    let ss = cpu.segs[oxbox::cpu::seg::SS].selector;
    let sp = cpu.regs[oxbox::cpu::reg::SP] as u16;
    let at = |d: u16| read16(cpu, phys(ss, sp.wrapping_add(d)));
    (at(0), at(2), at(4))
}
