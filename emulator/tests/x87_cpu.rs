//! The x87 through the CPU: real machine code decoded and executed by
//! `Cpu::step`, checking what software sees (memory images, AX, EFLAGS,
//! exceptions) rather than the FPU's internals. Expectations follow the SDM
//! (vol. 1 ch. 8, vol. 2 for each instruction, vol. 3 §2.5 for CR0.MP/EM/TS/
//! NE); the reasoning is beside each test.
//!
//! Every test starts from `common::setup`: CS:IP = 0000:0100, DS = 0x1000,
//! ES = 0x2000, SS = 0x3000, SP = 0x1000, in real mode.

mod common;

use common::*;
use oxbox::cpu::flags::{CF, PF, ZF};
use oxbox::cpu::fpu::exec::{fxrstor, fxsave};
use oxbox::cpu::fpu::F80;
use oxbox::cpu::{reg, seg, vector, CpuModel};
use oxbox_devices::NullBus;

const CR0_MP: u32 = 1 << 1;
const CR0_EM: u32 = 1 << 2;
const CR0_TS: u32 = 1 << 3;
const CR0_NE: u32 = 1 << 5;

fn read_bytes(cpu: &oxbox::cpu::Cpu, addr: u32, n: usize) -> Vec<u8> {
    (0..n as u32).map(|k| read8(cpu, addr + k)).collect()
}

#[test]
fn finit_fld1_fldpi_faddp_fstp_m64_stores_one_plus_pi_as_a_double() {
    // DB E3 fninit; D9 E8 fld1; D9 EB fldpi; DE C1 faddp; DD 1E 10 00 fstp
    // qword [0010].
    // FLDPI rounds π to nearest: C90FDAA22168C235 × 2^-62. Adding 1
    // (4000000000000000 × 2^-62) gives the 65-bit 1090FDAA22168C235 ×
    // 2^-62; the bit shifted out is exactly half an ulp, so ties-to-even
    // keeps 8487ED5110B4611A × 2^-61. Rounding that to 53 bits drops 0.138
    // of an ulp: the double 0x401090FDAA22168C, which is also Rust's
    // 1.0 + PI.
    let code = [
        0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEB, 0xDE, 0xC1, 0xDD, 0x1E, 0x10, 0x00,
    ];
    for model in [CpuModel::I80486, CpuModel::Pentium, CpuModel::PentiumPro] {
        let mut cpu = setup(model, &code);
        run(&mut cpu, 5);
        let got = read_bytes(&cpu, phys(DS, 0x10), 8);
        assert_eq!(
            got,
            (1.0f64 + std::f64::consts::PI).to_le_bytes(),
            "{model}"
        );
        assert_eq!(
            u64::from_le_bytes(got.try_into().unwrap()),
            0x4010_90FD_AA22_168C
        );
        // The stack is empty again and no exception flag other than PE
        // (π + 1 is inexact in 64 and in 53 bits) is set.
        assert_eq!(cpu.fpu.tag_word(), 0xFFFF, "{model}");
        assert_eq!(cpu.fpu.status_word() & 0x3F, 0x20, "{model}");
    }
}

#[test]
fn fnstsw_ax_copies_the_status_word_into_ax() {
    // fninit; fld1; fldz; fcompp (1 > 0: C3 C2 C0 = 000 ... compare ST(0)=0
    // with ST(1)=1: 0 < 1 so C0 = 1); fnstsw ax. TOP is back to 0.
    let code = [0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xD9, 0xDF, 0xE0];
    let mut cpu = setup(CpuModel::PentiumPro, &code);
    cpu.regs[reg::AX] = 0xDEAD_BEEF;
    run(&mut cpu, 5);
    assert_eq!(cpu.regs[reg::AX], 0xDEAD_0100);
}

#[test]
fn fcomi_sets_zf_pf_cf_on_the_p6_and_is_invalid_before_it() {
    // fninit; fld1; fld1; fcomi st, st(1): equal -> ZF=1, PF=0, CF=0.
    let code = [0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xE8, 0xDB, 0xF1];
    let mut cpu = setup(CpuModel::PentiumPro, &code);
    cpu.set_flags(CF | PF, CF | PF);
    run(&mut cpu, 4);
    assert!(flag(&cpu, ZF));
    assert!(!flag(&cpu, PF) && !flag(&cpu, CF));
    // FCOMI arrived with the P6 family: #UD on the Pentium.
    let mut cpu = setup(CpuModel::Pentium, &code);
    run(&mut cpu, 3);
    assert_eq!(step_fault(&mut cpu), Some(vector::UD));
}

#[test]
fn fcmov_moves_only_when_the_eflags_condition_holds() {
    // fninit; fld1; fldz; fcmovb st, st(1) (DA C1): CF=1 -> ST(0) = 1.
    let code = [0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xDA, 0xC1];
    for (cf, want) in [(true, F80::ONE), (false, F80::ZERO)] {
        let mut cpu = setup(CpuModel::PentiumPro, &code);
        cpu.set_flags(CF, if cf { CF } else { 0 });
        run(&mut cpu, 4);
        assert_eq!(cpu.fpu.st(0), want, "CF={cf}");
    }
}

#[test]
fn esc_with_cr0_ts_or_em_raises_nm_and_wait_needs_mp_too() {
    // SDM vol. 3 table 2-2: ESC faults (#NM) if EM or TS; WAIT only if TS
    // and MP are both set.
    let esc = [0xD9, 0xE8]; // fld1
    for cr0 in [CR0_TS, CR0_EM, CR0_TS | CR0_MP] {
        let mut cpu = setup(CpuModel::I80486, &esc);
        cpu.cr0 |= cr0;
        assert_eq!(step_fault(&mut cpu), Some(vector::NM), "cr0 {cr0:#x}");
        // The instruction did nothing: still at the ESC, stack untouched.
        assert_eq!(cpu.fpu.top(), 0);
    }
    let wait = [0x9B];
    let mut cpu = setup(CpuModel::I80486, &wait);
    cpu.cr0 |= CR0_TS;
    run(&mut cpu, 1);
    let mut cpu = setup(CpuModel::I80486, &wait);
    cpu.cr0 |= CR0_TS | CR0_MP;
    assert_eq!(step_fault(&mut cpu), Some(vector::NM));
}

#[test]
fn an_unmasked_exception_is_reported_as_mf_by_the_next_waiting_instruction() {
    // fninit; fldcw [0000] (037B: ZE unmasked); fldz; fld1; fdiv st, st(1)
    // (1/0: ZE, pending); fnstsw ax (no-wait: fine); fld1 (waiting: #MF
    // with CR0.NE = 1, and the FLD does not happen).
    let code = [
        0xDB, 0xE3, 0xD9, 0x2E, 0x00, 0x00, 0xD9, 0xEE, 0xD9, 0xE8, 0xD8, 0xF1, 0xDF, 0xE0, 0xD9,
        0xE8,
    ];
    let mut cpu = setup(CpuModel::I80486, &code);
    write16(&mut cpu, phys(DS, 0), 0x037B);
    cpu.cr0 |= CR0_NE;
    run(&mut cpu, 6);
    // ZE, ES and B; TOP = 6; ST(0) is unchanged (1.0): an unmasked ZE
    // leaves the destination alone.
    assert_eq!(cpu.regs[reg::AX] & 0xFFFF, 0x8000 | 6 << 11 | 0x80 | 0x04);
    assert_eq!(cpu.fpu.st(0), F80::ONE);
    assert!(cpu.fpu.irq13_pending());
    assert_eq!(step_fault(&mut cpu), Some(vector::MF));
    assert_eq!(cpu.fpu.top(), 6);
    // With CR0.NE = 0 the exception goes out on FERR# (IRQ13) instead and
    // the instruction runs.
    let mut cpu = setup(CpuModel::I80486, &code);
    write16(&mut cpu, phys(DS, 0), 0x037B);
    run(&mut cpu, 7);
    assert_eq!(cpu.fpu.top(), 5);
}

#[test]
fn fnsave_stores_the_16_bit_real_mode_image_and_frstor_reloads_it() {
    // fninit; fld1; fldpi; fnsave [0020]; frstor [0020].
    // Real-mode 16-bit layout (SDM vol. 1 figure 8-10): FCW, FSW, FTW,
    // FIP[15:0], FIP[19:16]<<12 | FOP, FDP[15:0], FDP[19:16]<<12, then
    // ST(0)..ST(7).
    let code = [
        0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEB, 0xDD, 0x36, 0x20, 0x00, 0xDD, 0x26, 0x20, 0x00,
    ];
    let mut cpu = setup(CpuModel::PentiumPro, &code);
    run(&mut cpu, 4);
    let img = phys(DS, 0x20);
    assert_eq!(read16(&cpu, img), 0x037F);
    assert_eq!(read16(&cpu, img + 2), 6 << 11);
    // R6 = π (valid, 00), R7 = 1 (valid, 00), the rest empty.
    assert_eq!(read16(&cpu, img + 4), 0x0FFF);
    // The last non-control instruction was FLDPI at 0000:0104: linear
    // 0x00104, opcode D9 EB -> FOP = 1EB.
    assert_eq!(read16(&cpu, img + 6), 0x0104);
    assert_eq!(read16(&cpu, img + 8), 0x01EB);
    let st0 = F80::from_bytes(read_bytes(&cpu, img + 14, 10).try_into().unwrap());
    assert_eq!(st0.sig, 0xC90F_DAA2_2168_C235);
    // FNSAVE reinitializes the FPU.
    assert_eq!(cpu.fpu.tag_word(), 0xFFFF);
    run(&mut cpu, 1);
    assert_eq!(cpu.fpu.top(), 6);
    assert_eq!(cpu.fpu.st(1), F80::ONE);
    assert_eq!(cpu.fpu.st(0), st0);
}

#[test]
fn fnstenv_masks_every_exception_after_storing() {
    // fninit; fldcw [0000] (0340: all unmasked); fnstenv [0010].
    let code = [0xDB, 0xE3, 0xD9, 0x2E, 0x00, 0x00, 0xD9, 0x36, 0x10, 0x00];
    let mut cpu = setup(CpuModel::I80486, &code);
    write16(&mut cpu, phys(DS, 0), 0x0340);
    run(&mut cpu, 3);
    assert_eq!(read16(&cpu, phys(DS, 0x10)), 0x0340);
    assert_eq!(cpu.fpu.control_word(), 0x037F);
}

#[test]
fn models_without_an_fpu_ignore_esc() {
    // The 8086-80386 have no coprocessor in oxbox: FLD1 changes nothing.
    for model in [CpuModel::I8086, CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = setup(model, &[0xD9, 0xE8]);
        run(&mut cpu, 1);
        assert_eq!(cpu.fpu.top(), 0, "{model}");
        assert_eq!(cpu.eip, 0x102, "{model}");
    }
}

#[test]
fn fist_and_fbstp_store_integers_and_bcd() {
    // fninit; fild word [0000] (-1234); fist dword [0004]; fbstp [0010].
    let code = [
        0xDB, 0xE3, 0xDF, 0x06, 0x00, 0x00, 0xDB, 0x16, 0x04, 0x00, 0xDF, 0x36, 0x10, 0x00,
    ];
    let mut cpu = setup(CpuModel::I80486, &code);
    write16(&mut cpu, phys(DS, 0), (-1234i16) as u16);
    run(&mut cpu, 4);
    assert_eq!(read32(&cpu, phys(DS, 4)) as i32, -1234);
    let bcd = read_bytes(&cpu, phys(DS, 0x10), 10);
    assert_eq!(bcd, [0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0x80]);
}

#[test]
fn fxsave_and_fxrstor_use_the_512_byte_image_and_need_alignment() {
    let mut cpu = setup(CpuModel::PentiumPro, &[0xDB, 0xE3, 0xD9, 0xE8]);
    run(&mut cpu, 2);
    // DS base 0x10000: offset 0x108 is not 16-byte aligned.
    assert_eq!(
        fxsave(&mut cpu, &mut NullBus, seg::DS, 0x108)
            .unwrap_err()
            .vector,
        vector::GP
    );
    fxsave(&mut cpu, &mut NullBus, seg::DS, 0x100).unwrap();
    let img = phys(DS, 0x100);
    assert_eq!(read16(&cpu, img), 0x037F);
    assert_eq!(read16(&cpu, img + 2), 7 << 11);
    // Abridged tag: R7 in use.
    assert_eq!(read8(&cpu, img + 4), 0x80);
    assert_eq!(
        F80::from_bytes(read_bytes(&cpu, img + 32, 10).try_into().unwrap()),
        F80::ONE
    );
    cpu.fpu.init();
    fxrstor(&mut cpu, &mut NullBus, seg::DS, 0x100).unwrap();
    assert_eq!(cpu.fpu.st(0), F80::ONE);
    assert_eq!(cpu.fpu.top(), 7);
}
