//! Maskable interrupts and the instruction boundaries where they are taken:
//! between REP iterations, after the STI / MOV SS shadow, out of HLT
//! (SDM vol. 3 §6.8.3; 8086 family user's manual on REP and interrupts).

use oxbox::cpu::{reg, seg, Cpu, CpuModel, Regs16};
use oxbox_devices::{Bus, IoSize};

/// A bus whose INTR line rises while a REP instruction runs: it counts the
/// CPU's polls through an atomic (the trait polls through `&self`).
struct RisesAfterPolls {
    polls: std::sync::atomic::AtomicU32,
    after: u32,
    acknowledged: bool,
}

impl Bus for RisesAfterPolls {
    fn io_read(&mut self, _port: u16, size: IoSize) -> u32 {
        size.open_bus()
    }
    fn io_write(&mut self, _port: u16, _size: IoSize, _value: u32) {}
    fn interrupt_pending(&self) -> bool {
        let n = self
            .polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        !self.acknowledged && n >= self.after
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.acknowledged = true;
        0x20
    }
}

fn rising(after: u32) -> RisesAfterPolls {
    RisesAfterPolls {
        polls: 0.into(),
        after,
        acknowledged: false,
    }
}

const IF: u16 = 0x0200;
const HANDLER: u32 = 0x0500;

/// A CPU with code at 0000:0100, a stack at 0000:8000, and vector 0x20
/// pointing at an IRET at 0000:0500.
fn cpu_with(model: CpuModel, code: &[u8], flags: u16) -> Cpu {
    let mut cpu = Cpu::new(model, 1 << 20);
    cpu.mem_mut().load(0x100, code);
    cpu.mem_mut()
        .load(0x20 * 4, &[HANDLER as u8, (HANDLER >> 8) as u8, 0, 0]);
    cpu.mem_mut().load(HANDLER, &[0xCF]); // IRET
    cpu.set_real_mode_regs(&Regs16 {
        ip: 0x100,
        sp: 0x8000,
        flags,
        ..Regs16::default()
    });
    cpu
}

#[test]
fn rep_movsb_is_suspended_between_iterations_and_resumes_after_iret() {
    let mut cpu = cpu_with(CpuModel::I80286, &[0xF3, 0xA4], IF); // REP MOVSB
    cpu.regs[reg::CX] = 10;
    cpu.regs[reg::SI] = 0x1000;
    cpu.regs[reg::DI] = 0x2000;
    for i in 0..10u8 {
        cpu.mem_mut().write_u8(0x1000 + i as u32, 0xA0 + i);
    }
    // The line is already up: the interrupt is taken at the boundary before
    // the instruction starts.
    let mut bus = rising(0);
    cpu.step(&mut bus);
    assert_eq!(
        cpu.eip, HANDLER,
        "interrupt taken at the instruction boundary"
    );
    cpu.step(&mut bus); // IRET
    assert_eq!(cpu.eip, 0x100);
    cpu.step(&mut bus); // the whole copy, nothing pending now
    assert_eq!(cpu.regs[reg::CX] & 0xFFFF, 0);
    assert_eq!(cpu.eip, 0x102);
    for i in 0..10u8 {
        assert_eq!(cpu.mem().read_u8(0x2000 + i as u32), 0xA0 + i);
    }
}

#[test]
fn an_interrupt_during_rep_movsb_keeps_the_completed_iterations() {
    let mut cpu = cpu_with(CpuModel::I80286, &[0xF3, 0xA4], IF);
    cpu.regs[reg::CX] = 10;
    cpu.regs[reg::SI] = 0x1000;
    cpu.regs[reg::DI] = 0x2000;
    // Poll 0 is the step's own check before the instruction; polls 1.. are
    // the checks after iterations 1..; the line rises at poll 3.
    let mut bus = rising(3);
    cpu.step(&mut bus);
    assert_eq!(cpu.regs[reg::CX] & 0xFFFF, 7, "three iterations done");
    assert_eq!(cpu.regs[reg::SI] & 0xFFFF, 0x1003);
    assert_eq!(cpu.eip, 0x100, "IP stays on the REP prefix");
    cpu.step(&mut bus); // delivers the interrupt
    assert_eq!(cpu.eip, HANDLER);
    // The return address pushed is the start of the instruction.
    let sp = cpu.regs[reg::SP] & 0xFFFF;
    assert_eq!(
        cpu.mem().read_u8(sp) as u32 | (cpu.mem().read_u8(sp + 1) as u32) << 8,
        0x100
    );
    cpu.step(&mut bus); // IRET
    cpu.step(&mut bus); // the remaining 7 iterations
    assert_eq!(cpu.regs[reg::CX] & 0xFFFF, 0);
    assert_eq!(cpu.regs[reg::DI] & 0xFFFF, 0x200A);
    assert_eq!(cpu.eip, 0x102);
}

#[test]
fn the_8086_resumes_an_interrupted_rep_at_its_last_prefix_losing_a_segment_override() {
    // ES: REP MOVSB at 0100: the 8086 pushes 0101 (the REP byte), so after
    // IRET the copy continues from DS, not ES (Intel 8086 family user's
    // manual: "multiple prefixes ... only the last is remembered").
    let mut cpu = cpu_with(CpuModel::I8086, &[0x26, 0xF3, 0xA4], IF);
    cpu.regs[reg::CX] = 4;
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x3000;
    cpu.load_seg_real(seg::ES, 0x0100); // ES:0010 = 0x1010
    cpu.load_seg_real(seg::DS, 0x0200); // DS:0010 = 0x2010
    for i in 0..4u32 {
        cpu.mem_mut().write_u8(0x1010 + i, 0xE0 + i as u8); // via ES
        cpu.mem_mut().write_u8(0x2010 + i, 0xD0 + i as u8); // via DS
    }
    let mut bus = rising(2); // poll 0 before the instruction, 1 and 2 after iterations
    cpu.step(&mut bus);
    let done = 4 - (cpu.regs[reg::CX] & 0xFFFF);
    assert!((1..4).contains(&done), "suspended mid-way ({done} done)");
    assert_eq!(cpu.eip, 0x101, "the 8086 resumes at the last prefix");
    cpu.step(&mut bus); // interrupt
    cpu.step(&mut bus); // IRET
    cpu.step(&mut bus); // REP MOVSB without the ES override
                        // ES:DI is 0100:3000 = 0x4000.
    for i in 0..4u32 {
        let expect = if i < done {
            0xE0 + i as u8
        } else {
            0xD0 + i as u8
        };
        assert_eq!(cpu.mem().read_u8(0x4000 + i), expect, "byte {i}");
    }
}

#[test]
fn the_286_resumes_an_interrupted_rep_at_its_first_prefix() {
    let mut cpu = cpu_with(CpuModel::I80286, &[0x26, 0xF3, 0xA4], IF);
    cpu.regs[reg::CX] = 4;
    let mut bus = rising(2);
    cpu.step(&mut bus);
    assert_eq!(cpu.eip, 0x100);
}

#[test]
fn sti_holds_off_interrupts_until_after_the_next_instruction() {
    // STI; NOP; NOP with the line already up.
    let mut cpu = cpu_with(CpuModel::I80386, &[0xFB, 0x90, 0x90], 0);
    let mut bus = rising(0);
    cpu.step(&mut bus); // STI (IF was clear: nothing taken)
    assert_eq!(cpu.eip, 0x101);
    cpu.step(&mut bus); // NOP runs in the STI shadow
    assert_eq!(cpu.eip, 0x102);
    cpu.step(&mut bus); // now the interrupt
    assert_eq!(cpu.eip, HANDLER);
}

#[test]
fn mov_ss_holds_off_interrupts_for_one_instruction() {
    // MOV SS, AX; MOV SP, 0x9000 must run back to back.
    let mut cpu = cpu_with(CpuModel::I80286, &[0x8E, 0xD0, 0xBC, 0x00, 0x90, 0x90], IF);
    let mut bus = rising(1); // rises after the first instruction
    cpu.step(&mut bus);
    assert_eq!(cpu.eip, 0x102);
    cpu.step(&mut bus);
    assert_eq!(cpu.eip, 0x105, "MOV SP ran before the interrupt");
    assert_eq!(cpu.regs[reg::SP] & 0xFFFF, 0x9000);
    cpu.step(&mut bus);
    assert_eq!(cpu.eip, HANDLER);
}

#[test]
fn hlt_waits_for_an_interrupt_and_returns_after_itself() {
    let mut cpu = cpu_with(CpuModel::I8086, &[0xF4, 0x90], IF);
    let mut bus = rising(3);
    cpu.step(&mut bus); // HLT
    assert!(cpu.is_halted());
    cpu.step(&mut bus); // still halted: poll 1
    assert!(cpu.is_halted());
    cpu.step(&mut bus); // poll 2
    cpu.step(&mut bus); // poll 3: the interrupt wakes it
    assert!(!cpu.is_halted());
    assert_eq!(cpu.eip, HANDLER);
    cpu.step(&mut bus); // IRET
    assert_eq!(cpu.eip, 0x101, "execution continues after the HLT");
}
