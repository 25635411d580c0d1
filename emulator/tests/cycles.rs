//! Cycle accounting: every instruction charges its clocks from the model's
//! timing table (cpu/timing.rs), and the machine's devices run on those
//! cycles. The expected totals below are worked out by hand from the
//! manuals' "Clocks" columns (8086 Family User's Manual tables 2-20/2-21,
//! the 80186 data sheet, the 80286/80386/i486 Programmer's Reference
//! Manuals; P6: oxbox's documented simple model), with the conventions
//! stated in cpu/timing.rs (ranges → lower bound, "+m" → 2).

mod common;

use common::*;
use oxbox::cpu::{reg, Cpu, CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox_devices::{Bus, NullBus};

/// Clocks of the next `n` instructions, stepped one at a time.
fn clocks_of(cpu: &mut Cpu, n: usize) -> u64 {
    let before = cpu.cycles;
    run(cpu, n);
    cpu.cycles - before
}

/// A mixed real-mode sequence, 11 instructions, with its hand-computed
/// total per model.
#[test]
fn a_mixed_sequence_costs_what_the_manuals_add_up_to() {
    let code = [
        0x89, 0xD8, // mov ax, bx
        0x03, 0x40, 0x04, // add ax, [bx+si+4]
        0x89, 0x07, // mov [bx], ax
        0x26, 0x8B, 0x0B, // mov cx, es:[bp+di]
        0xB1, 0x03, // mov cl, 3
        0xD3, 0xE0, // shl ax, cl
        0xF6, 0xE1, // mul cl
        0x42, // inc dx
        0x50, // push ax
        0x5B, // pop bx
        0x90, // nop
    ];
    let cases = [
        // 8086: mov r,r 2; add r,m 9+EA(base+index+disp 11) = 20;
        // mov m,r 9+EA(base 5) = 14; mov r,m 8+EA(BP+DI 7)+ES: 2 = 17;
        // mov r8,imm 4; shl r,CL 8+4/bit ×3 = 20; mul r8 70 (70-77);
        // inc r16 2; push r 11; pop r 8; nop 3.
        (
            CpuModel::I8086,
            2 + 20 + 14 + 17 + 4 + 20 + 70 + 2 + 11 + 8 + 3,
        ),
        // 80186 (EA included): 2 + 10 + 12 + (9 + 2 for ES:) + 3 + (5+3)
        // + 26 + 3 + 10 + 10 + 3.
        (
            CpuModel::I80186,
            2 + 10 + 12 + 11 + 3 + 8 + 26 + 3 + 10 + 10 + 3,
        ),
        // 80286: 2 + (7, +1 base+index+disp) + 3 + 5 + 2 + (5+3) + 13 + 2
        // + 3 + 5 + 3.
        (CpuModel::I80286, 2 + 8 + 3 + 5 + 2 + 8 + 13 + 2 + 3 + 5 + 3),
        // 80386: 2 + 6 + 2 + 4 + 2 + 3 + 9 (9-14) + 2 + 2 + 4 + 3.
        (CpuModel::I80386, 2 + 6 + 2 + 4 + 2 + 3 + 9 + 2 + 2 + 4 + 3),
        // i486: 1 + 2 + 1 + (1, +1 for the prefix) + 1 + 3 + 13 + 1 + 1 +
        // 1 + 1.
        (CpuModel::I80486, 1 + 2 + 1 + 2 + 1 + 3 + 13 + 1 + 1 + 1 + 1),
        // P6 model: 1 per simple instruction (loads included), MUL 4.
        (CpuModel::PentiumPro, 10 + 4),
    ];
    for (model, expected) in cases {
        let mut cpu = setup(model, &code);
        assert_eq!(clocks_of(&mut cpu, 11), expected, "{model}");
        assert_eq!(cpu.instructions, 11);
    }
}

#[test]
fn a_taken_branch_costs_more_than_one_not_taken() {
    // jz +2 (74 02): (not taken, taken) per model. 286/386: 7+m, m = 2.
    let cases = [
        (CpuModel::I8086, 4, 16),
        (CpuModel::I80186, 4, 13),
        (CpuModel::I80286, 3, 9),
        (CpuModel::I80386, 3, 9),
        (CpuModel::I80486, 1, 3),
        (CpuModel::PentiumPro, 1, 1),
    ];
    for (model, not_taken, taken) in cases {
        for zf in [false, true] {
            let mut r = regs();
            r.flags = if zf { 0x40 } else { 0 };
            let mut cpu = setup_with(model, &r, &[0x74, 0x02]);
            let expected = if zf { taken } else { not_taken };
            assert_eq!(clocks_of(&mut cpu, 1), expected, "{model} zf={zf}");
            assert_eq!(cpu.eip, CODE_IP as u32 + 2 + 2 * zf as u32);
        }
    }
    // LOOP on the 8086: 17 taken, 5 on the last pass. CX = 3: 17 + 17 + 5.
    let mut r = regs();
    r.cx = 3;
    let mut cpu = setup_with(CpuModel::I8086, &r, &[0xE2, 0xFE]);
    assert_eq!(clocks_of(&mut cpu, 3), 17 + 17 + 5);
}

const N: u16 = 100;

/// `rep movsw` with CX = N, DS:SI → ES:DI, forward.
fn rep_movsw(model: CpuModel) -> Cpu {
    let mut r = regs();
    r.cx = N;
    r.si = 0x0010;
    r.di = 0x0400;
    let mut cpu = setup_with(model, &r, &[0xF3, 0xA5, 0xF4]);
    for k in 0..N as u32 {
        write16(&mut cpu, phys(DS, 0x10) + 2 * k, 0x1000 + k as u16);
    }
    cpu
}

#[test]
fn rep_movsw_charges_start_up_plus_each_iteration_on_either_path() {
    // REP MOVS: 8086 9+17/rep; 186 8+8n; 286 5+4n; 386 7+4n; 486 12+3n;
    // P6 (Pentium figures) 13+n.
    let cases = [
        (CpuModel::I8086, 9 + 17 * N as u64),
        (CpuModel::I80186, 8 + 8 * N as u64),
        (CpuModel::I80286, 5 + 4 * N as u64),
        (CpuModel::I80386, 7 + 4 * N as u64),
        (CpuModel::I80486, 12 + 3 * N as u64),
        (CpuModel::PentiumPro, 13 + N as u64),
    ];
    for (model, expected) in cases {
        // Element by element: step() on a bus that may raise INTR at any
        // time never takes the block path.
        let mut slow = rep_movsw(model);
        slow.step(&mut NullBus);
        // Block copies: run_until on a settled bus.
        let mut fast = rep_movsw(model);
        assert_eq!(
            fast.run_until(&mut SettledBus, 1, u64::MAX),
            RunExit::Budget
        );
        for cpu in [&slow, &fast] {
            assert_eq!(cpu.cycles, expected, "{model}");
            assert_eq!(cpu.regs[reg::CX] & 0xFFFF, 0);
            assert_eq!(
                read16(cpu, phys(ES, 0x400) + 2 * (N as u32 - 1)),
                0x1000 + N - 1
            );
        }
    }
}

#[test]
fn rep_movsw_stops_at_the_batch_cycle_limit_and_resumes() {
    // 8086: start-up 9, then 17 per word. A limit 5 clocks into the 41st
    // word: both paths stop right after it (at most one iteration past
    // the limit), with EIP back on the instruction and 59 words to go.
    let limit = 9 + 17 * 40 + 5;
    let expected_stop = 9 + 17 * 41;
    for settled in [true, false] {
        let mut cpu = rep_movsw(CpuModel::I8086);
        let bus: &mut dyn Bus = if settled {
            &mut SettledBus
        } else {
            &mut NullBus
        };
        assert_eq!(cpu.run_until(bus, 10, limit), RunExit::Deadline);
        assert_eq!(cpu.cycles, expected_stop, "settled={settled}");
        assert_eq!(cpu.regs[reg::CX] & 0xFFFF, N as u32 - 41);
        assert_eq!(cpu.eip, CODE_IP as u32);
        // Unlike an interrupt, a batch boundary must not show: the paused
        // instruction is not counted yet...
        assert_eq!(cpu.instructions, 0);
        // ...and once resumed it counts once and pays its start-up once.
        assert_eq!(cpu.run_until(bus, 1, u64::MAX), RunExit::Budget);
        assert_eq!(cpu.instructions, 1);
        assert_eq!(cpu.cycles, 9 + 17 * N as u64);
        assert_eq!(cpu.regs[reg::CX] & 0xFFFF, 0);
        for k in 0..N as u32 {
            assert_eq!(read16(&cpu, phys(ES, 0x400) + 2 * k), 0x1000 + k as u16);
        }
    }
}

/// Write an 8-byte descriptor.
fn descriptor(cpu: &mut Cpu, at: u32, bytes: [u8; 8]) {
    cpu.mem_mut().load(at, &bytes);
}

/// A CPU in protected mode at CPL 0 (CS cache kept from real mode) with a
/// GDT: 08 = 16-bit code at base 0, 18 = call gate to 08:0200; then
/// `call far sel:0200` at 0000:0100 and HLT at 0200.
fn protected_call(model: CpuModel, selector: u16) -> Cpu {
    let sel = selector.to_le_bytes();
    let mut cpu = setup(model, &[0x9A, 0x00, 0x02, sel[0], sel[1]]);
    cpu.mem_mut().load(0x200, &[0xF4]);
    let gdt = 0x8000;
    descriptor(&mut cpu, gdt + 0x08, [0xFF, 0xFF, 0, 0, 0, 0x9A, 0, 0]);
    // Call gate: offset 0200, selector 08, no parameters, present, DPL 0;
    // type 4 (286 gate) on the 286, C (386 gate) later.
    let kind = if model == CpuModel::I80286 {
        0x84
    } else {
        0x8C
    };
    descriptor(
        &mut cpu,
        gdt + 0x18,
        [0x00, 0x02, 0x08, 0x00, 0, kind, 0, 0],
    );
    cpu.gdtr_base = gdt;
    cpu.gdtr_limit = 0x1F;
    cpu.cr0 |= 1;
    cpu
}

#[test]
fn a_far_call_through_a_call_gate_costs_the_protected_mode_figure() {
    // (model, CALL ptr to a code segment in PM, CALL through a call gate at
    // the same privilege): 286 26+m / 41+m; 386 34+m / 52+m; 486 20 / 35.
    let cases = [
        (CpuModel::I80286, 28, 43),
        (CpuModel::I80386, 36, 54),
        (CpuModel::I80486, 20, 35),
    ];
    for (model, direct, gate) in cases {
        for (selector, expected) in [(0x08, direct), (0x18, gate)] {
            let mut cpu = protected_call(model, selector);
            assert_eq!(
                clocks_of(&mut cpu, 1),
                expected,
                "{model} sel {selector:#x}"
            );
            assert_eq!((cpu.segs[1].selector, cpu.eip), (0x08, 0x200));
        }
    }
    // In real mode the same CALL ptr16:16 costs the real-mode figure.
    let mut cpu = setup(CpuModel::I80286, &[0x9A, 0x00, 0x02, 0x00, 0x00]);
    assert_eq!(clocks_of(&mut cpu, 1), 15);
}

/// A 4 KiB ROM at F000:F000 (reset vector: jmp far F000:F000).
fn rom(code: &[u8]) -> Vec<u8> {
    let mut rom = vec![0xF4; 4096];
    rom[..code.len()].copy_from_slice(code);
    rom[0xFF0..0xFF5].copy_from_slice(&[0xEA, 0x00, 0xF0, 0x00, 0xF0]);
    rom
}

#[test]
fn the_pit_counts_down_by_the_cycles_the_guest_spent() {
    // The 8086 runs at 4.77 MHz, four times the PIT's 1.19 MHz. Between the
    // two latch commands the guest spends: in 10, mov 2, in 10, mov 2,
    // mov cx 4, 99 taken LOOPs at 17 and the last at 5, mov al 4, out 10
    // = 1730 clocks = 432.5 PIT ticks.
    let code = [
        0xB0, 0x34, 0xE6, 0x43, // PIT ch0: lo/hi, mode 2
        0xB0, 0x00, 0xE6, 0x40, 0xE6, 0x40, // count 65536
        0x90, 0x90, // let it load
        0xB0, 0x00, 0xE6, 0x43, // latch ch0
        0xE4, 0x40, 0x88, 0xC3, 0xE4, 0x40, 0x88, 0xC7, // bx = count
        0xB9, 0x64, 0x00, // mov cx, 100
        0xE2, 0xFE, // loop $
        0xB0, 0x00, 0xE6, 0x43, // latch ch0
        0xE4, 0x40, 0x88, 0xC2, 0xE4, 0x40, 0x88, 0xC6, // dx = count
        0xFA, 0xF4, // cli; hlt
    ];
    let mut m = Machine::new(
        CpuModel::I8086,
        1 << 20,
        &rom(&code),
        Box::new(std::io::sink()),
    )
    .expect("machine");
    assert_eq!(m.run(1_000), RunExit::Halted);
    let first = m.cpu.regs[reg::BX] & 0xFFFF;
    let second = m.cpu.regs[reg::DX] & 0xFFFF;
    let ticks = first.wrapping_sub(second) & 0xFFFF;
    assert!((432..=433).contains(&ticks), "{ticks} PIT ticks");
    // Guest time is the cycle counter at the CPU clock.
    let hz = oxbox::machine::default_cpu_hz(CpuModel::I8086) as u128;
    let ns = (m.cpu.cycles as u128 * 1_000_000_000).div_ceil(hz);
    assert!(m.now().as_nanos() as u128 >= ns);
}

const BENCH_ROM: &[u8] = include_bytes!("../../roms/bench.bin");

/// (CS:IP, cycles) after each of the first `n` instructions of the bench
/// ROM, then the totals at its HLT.
fn bench_trace(model: CpuModel, n: usize) -> (Vec<(u16, u32, u64)>, u64, u64) {
    let mut m = Machine::new(model, 1 << 20, BENCH_ROM, Box::new(std::io::sink())).unwrap();
    let mut trace = Vec::with_capacity(n);
    for _ in 0..n {
        m.run(1);
        trace.push((m.cpu.segs[1].selector, m.cpu.eip, m.cpu.cycles));
    }
    assert_eq!(m.run(u64::MAX), RunExit::Halted);
    (trace, m.cpu.instructions, m.cpu.cycles)
}

#[test]
fn the_cycle_trace_of_a_fixed_guest_is_identical_between_runs() {
    for model in [CpuModel::I8086, CpuModel::I80386, CpuModel::PentiumPro] {
        let a = bench_trace(model, 20_000);
        let b = bench_trace(model, 20_000);
        assert!(a == b, "{model}: two runs differ");
        // Cycles are instruction costs, not an instruction count.
        assert!(
            a.2 > a.1,
            "{model}: {} cycles for {} instructions",
            a.2,
            a.1
        );
    }
}
