//! Behaviour the hardware-recorded SingleStepTests vectors do not cover:
//! ENTER/LEAVE (absent from the 80286 real-mode set), MOVSW on the 8086
//! (the recorded set has no REP or wrap cases worth the name), the model
//! differences an emulator most often gets wrong (PUSH SP, shift counts,
//! 0x0F, segment overrun, running past the end of CS, instruction length),
//! single-step traps, and the real-mode IDTR of the 286 and 386.
//! Expectations are worked out by hand from the Intel SDM vols. 2 and 3,
//! the 80286 Programmer's Reference Manual ("286 PRM"), the 80386
//! Programmer's Reference Manual ("386 PRM") and the iAPX 86/88, 186/188
//! User's Manual ("86 manual"), with the reasoning beside each one.
//!
//! Every test starts from `common::setup`: CS:IP = 0000:0100, DS = 0x1000,
//! ES = 0x2000, SS = 0x3000 (all bases different), SP = 0x1000.

mod common;

use common::*;
use oxbox::cpu::flags::{CF, DF, IF, OF, PF, SF, TF, ZF};
use oxbox::cpu::{reg, seg, vector, Cpu, CpuModel, Regs16};

/// The models that have ENTER and LEAVE among those real-mode tests cover.
const ENTER_MODELS: [CpuModel; 3] = [CpuModel::I80186, CpuModel::I80286, CpuModel::I80386];

fn stack_word(cpu: &Cpu, off: u16) -> u16 {
    read16(cpu, phys(SS, off))
}

// ----- ENTER / LEAVE -----------------------------------------------------------

#[test]
fn enter_with_nesting_level_0_pushes_bp_and_reserves_the_frame() {
    // C8 08 00 00   enter 8, 0. SDM vol. 2, ENTER (16-bit stack):
    //   push BP             -> SS:0FFE = 0x1234, SP = 0x0FFE
    //   FrameTemp = SP      =  0x0FFE
    //   (level 0: no display)
    //   BP = FrameTemp      =  0x0FFE
    //   SP = SP - 8         =  0x0FF6
    for model in ENTER_MODELS {
        let mut cpu = setup(model, &[0xC8, 0x08, 0x00, 0x00]);
        cpu.regs[reg::BP] = 0x1234;
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x1234, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FF6, "{model}");
        assert_eq!(cpu.eip, 0x104, "{model}");
    }
}

#[test]
fn enter_with_nesting_level_1_also_pushes_the_new_frame_pointer() {
    // C8 04 00 01   enter 4, 1:
    //   push BP (0x1234)    -> SS:0FFE, SP = 0x0FFE; FrameTemp = 0x0FFE
    //   level 1: the loop "for i = 1 to level - 1" runs zero times
    //   push FrameTemp      -> SS:0FFC = 0x0FFE, SP = 0x0FFC
    //   BP = 0x0FFE; SP = 0x0FFC - 4 = 0x0FF8
    for model in ENTER_MODELS {
        let mut cpu = setup(model, &[0xC8, 0x04, 0x00, 0x01]);
        cpu.regs[reg::BP] = 0x1234;
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x1234, "{model}");
        assert_eq!(stack_word(&cpu, 0x0FFC), 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FF8, "{model}");
    }
}

#[test]
fn enter_with_nesting_level_3_copies_two_outer_frame_pointers() {
    // C8 02 00 03   enter 2, 3 with BP = 0x0800 (the caller's frame, whose
    // display holds SS:07FE = 0xAAAA and SS:07FC = 0xBBBB):
    //   push BP (0x0800)    -> SS:0FFE, SP = 0x0FFE; FrameTemp = 0x0FFE
    //   i = 1: BP' = 0x07FE, push SS:[07FE] = 0xAAAA -> SS:0FFC
    //   i = 2: BP' = 0x07FC, push SS:[07FC] = 0xBBBB -> SS:0FFA
    //   push FrameTemp      -> SS:0FF8 = 0x0FFE, SP = 0x0FF8
    //   BP = 0x0FFE; SP = 0x0FF8 - 2 = 0x0FF6
    for model in ENTER_MODELS {
        let mut cpu = setup(model, &[0xC8, 0x02, 0x00, 0x03]);
        cpu.regs[reg::BP] = 0x0800;
        write16(&mut cpu, phys(SS, 0x07FE), 0xAAAA);
        write16(&mut cpu, phys(SS, 0x07FC), 0xBBBB);
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x0800, "{model}");
        assert_eq!(stack_word(&cpu, 0x0FFC), 0xAAAA, "{model}");
        assert_eq!(stack_word(&cpu, 0x0FFA), 0xBBBB, "{model}");
        assert_eq!(stack_word(&cpu, 0x0FF8), 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FF6, "{model}");
    }
}

#[test]
fn enter_takes_the_nesting_level_modulo_32() {
    // 286 PRM and SDM vol. 2, ENTER: "NestingLevel <- NestingLevel MOD 32".
    // C8 00 00 21   enter 0, 33 behaves as enter 0, 1.
    for model in [CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = setup(model, &[0xC8, 0x00, 0x00, 0x21]);
        cpu.regs[reg::BP] = 0x1234;
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x1234, "{model}");
        assert_eq!(stack_word(&cpu, 0x0FFC), 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FFC, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x0FFE, "{model}");
    }
}

#[test]
fn leave_sets_sp_from_bp_then_pops_bp() {
    // C9 leave: SP = BP = 0x0FFE, then pop BP = SS:[0FFE] = 0x1234,
    // SP = 0x1000 (SDM vol. 2, LEAVE).
    for model in ENTER_MODELS {
        let mut r = regs();
        r.sp = 0x0F00;
        r.bp = 0x0FFE;
        let mut cpu = setup_with(model, &r, &[0xC9]);
        write16(&mut cpu, phys(SS, 0x0FFE), 0x1234);
        run(&mut cpu, 1);
        assert_eq!(cpu.regs[reg::SP], 0x1000, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x1234, "{model}");
    }
}

#[test]
fn leave_undoes_enter_at_any_nesting_level() {
    // enter 6, 3; leave: LEAVE discards the locals and the display (SP =
    // BP = FrameTemp) and pops the saved BP, so SP and BP return to their
    // values before ENTER.
    for model in ENTER_MODELS {
        let mut cpu = setup(model, &[0xC8, 0x06, 0x00, 0x03, 0xC9]);
        cpu.regs[reg::BP] = 0x0800;
        run(&mut cpu, 2);
        assert_eq!(cpu.regs[reg::SP], SP as u32, "{model}");
        assert_eq!(cpu.regs[reg::BP], 0x0800, "{model}");
    }
}

// ----- MOVSW on the 8086 ---------------------------------------------------------

const M86: CpuModel = CpuModel::I8086;

#[test]
fn movsw_copies_a_word_and_advances_si_di_by_two_when_df_is_clear() {
    // A5 movsw: ES:DI <- DS:SI; DF=0 -> SI += 2, DI += 2 (86 manual, MOVS).
    let mut cpu = setup(M86, &[0xA5]);
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    write16(&mut cpu, phys(DS, 0x10), 0xBEEF);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0xBEEF);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x12, 0x22));
    assert_eq!(cpu.eip, 0x101);
}

#[test]
fn movsw_moves_si_di_down_by_two_when_df_is_set() {
    let mut r = regs();
    r.flags = DF as u16;
    r.si = 0x10;
    r.di = 0x20;
    let mut cpu = setup_with(M86, &r, &[0xA5]);
    write16(&mut cpu, phys(DS, 0x10), 0xCAFE);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0xCAFE);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x0E, 0x1E));
}

#[test]
fn rep_movsw_copies_cx_words_and_leaves_cx_zero() {
    // F3 A5 rep movsw, CX = 3, DF = 0: words at DS:10, 12, 14 -> ES:20,
    // 22, 24; SI = 0x16, DI = 0x26, CX = 0; IP past the instruction.
    let mut cpu = setup(M86, &[0xF3, 0xA5]);
    cpu.regs[reg::CX] = 3;
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    cpu.mem_mut().load(
        phys(DS, 0x10),
        &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
    );
    run(&mut cpu, 1);
    let mut out = [0u8; 8];
    for (k, b) in out.iter_mut().enumerate() {
        *b = read8(&cpu, phys(ES, 0x20 + k as u16));
    }
    assert_eq!(out, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0]);
    assert_eq!(
        (cpu.regs[reg::SI], cpu.regs[reg::DI], cpu.regs[reg::CX]),
        (0x16, 0x26, 0)
    );
    assert_eq!(cpu.eip, 0x102);
}

#[test]
fn rep_movsw_with_df_set_copies_downwards() {
    // F3 A5 with DF = 1, CX = 2, SI = 0x12, DI = 0x22: copies DS:12 ->
    // ES:22, then DS:10 -> ES:20; SI = 0x0E, DI = 0x1E.
    let mut r = regs();
    r.flags = DF as u16;
    r.cx = 2;
    r.si = 0x12;
    r.di = 0x22;
    let mut cpu = setup_with(M86, &r, &[0xF3, 0xA5]);
    cpu.mem_mut()
        .load(phys(DS, 0x10), &[0xA1, 0xA2, 0xA3, 0xA4]);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0xA2A1);
    assert_eq!(read16(&cpu, phys(ES, 0x22)), 0xA4A3);
    assert_eq!(
        (cpu.regs[reg::SI], cpu.regs[reg::DI], cpu.regs[reg::CX]),
        (0x0E, 0x1E, 0)
    );
}

#[test]
fn rep_movsw_with_cx_zero_does_nothing() {
    let mut cpu = setup(M86, &[0xF3, 0xA5]);
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    write16(&mut cpu, phys(DS, 0x10), 0x1234);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x10, 0x20));
    assert_eq!(cpu.eip, 0x102);
}

#[test]
fn movsw_segment_override_changes_the_source_only() {
    // 2E A5 movsw with a CS override: the source is CS:SI; the destination
    // is always ES:DI (86 manual: "the destination ... cannot be
    // overridden"). CS = 0, so CS:10 is physical 0x10.
    let mut cpu = setup(M86, &[0x2E, 0xA5]);
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    write16(&mut cpu, phys(CODE_CS, 0x10), 0xC5C5);
    write16(&mut cpu, phys(DS, 0x10), 0xD5D5);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0xC5C5);
    assert_eq!(read16(&cpu, phys(CODE_CS, 0x20)), 0);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x12, 0x22));

    // 36 F3 A5: override with REP, source SS:SI.
    let mut cpu = setup(M86, &[0x36, 0xF3, 0xA5]);
    cpu.regs[reg::CX] = 1;
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    write16(&mut cpu, phys(SS, 0x10), 0x5555);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0x5555);
    assert_eq!(cpu.regs[reg::CX], 0);
}

#[test]
fn movsw_word_at_offset_ffff_wraps_within_the_segment_on_the_8086() {
    // The 8086 forms each byte's address as segment*16 + (offset mod 64K),
    // so a word at offset 0xFFFF takes its high byte from offset 0 of the
    // same segment (86 manual, "Memory segmentation"; no fault exists).
    // DS:FFFF = 0x11 (phys 0x1FFFF), DS:0000 = 0x22 (phys 0x10000); the
    // next linear byte, phys 0x20000, holds 0x33 and must not be read.
    // SI = 0xFFFF advances to 0x0001.
    let mut cpu = setup(M86, &[0xA5]);
    cpu.regs[reg::SI] = 0xFFFF;
    cpu.regs[reg::DI] = 0x40;
    cpu.mem_mut().load(phys(DS, 0xFFFF), &[0x11]);
    cpu.mem_mut().load(phys(DS, 0), &[0x22]);
    cpu.mem_mut().load(0x20000, &[0x33]);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(ES, 0x40)), 0x2211);
    assert_eq!(cpu.regs[reg::SI], 0x0001);
    assert_eq!(cpu.regs[reg::DI], 0x0042);
}

#[test]
fn movsw_word_store_at_offset_ffff_wraps_within_the_segment_on_the_8086() {
    // DI = 0xFFFF: the low byte goes to ES:FFFF (0x2FFFF), the high byte to
    // ES:0000 (0x20000), not to the linear next byte 0x30000.
    let mut cpu = setup(M86, &[0xA5]);
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0xFFFF;
    write16(&mut cpu, phys(DS, 0x10), 0xA1B2);
    cpu.mem_mut().load(0x30000, &[0x77]);
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(ES, 0xFFFF)), 0xB2);
    assert_eq!(read8(&cpu, phys(ES, 0)), 0xA1);
    assert_eq!(read8(&cpu, 0x30000), 0x77);
    assert_eq!(cpu.regs[reg::DI], 0x0001);
}

#[test]
fn word_read_at_offset_ffff_wraps_on_the_8086() {
    // 8B 07 mov ax, [bx] with BX = 0xFFFF: low byte DS:FFFF, high DS:0000.
    let mut cpu = setup(M86, &[0x8B, 0x07]);
    cpu.regs[reg::BX] = 0xFFFF;
    cpu.mem_mut().load(phys(DS, 0xFFFF), &[0x34]);
    cpu.mem_mut().load(phys(DS, 0), &[0x12]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x1234);
}

// ----- 286: segment overrun ------------------------------------------------------

#[test]
fn word_read_at_offset_ffff_raises_gp_on_the_286_without_an_error_code() {
    // 286 PRM, real-address mode exceptions: interrupt 13 "segment overrun"
    // for a word operand at offset 0FFFFH. Real mode pushes no error code:
    // the handler sees FLAGS, CS, IP (6 bytes) with IP = the faulting MOV.
    // IVT entry 13 (at 0x34) points to 0070:0020.
    let mut cpu = setup(CpuModel::I80286, &[0x8B, 0x07]);
    cpu.mem_mut().load(13 * 4, &[0x20, 0x00, 0x70, 0x00]);
    cpu.regs[reg::BX] = 0xFFFF;
    cpu.regs[reg::AX] = 0x1111;
    let r = step(&mut cpu);
    // The FLAGS image is the first word pushed: SS:0FFE.
    assert_eq!(r.exception, Some((vector::GP, phys(SS, 0x0FFE))));
    assert_eq!(cpu.regs[reg::AX], 0x1111);
    assert_eq!(cpu.regs[reg::SP], 0x0FFA);
    let (ip, cs, fl) = interrupt_frame(&cpu);
    assert_eq!((cs, ip), (CODE_CS, CODE_IP));
    // Real-mode 286 FLAGS: only bit 1 is fixed (bits 12-15 read as 0).
    assert_eq!(fl, 0x0002);
    assert_eq!((cpu.segs[seg::CS].selector, cpu.eip), (0x0070, 0x0020));
}

#[test]
fn word_write_at_offset_ffff_raises_gp_on_the_286_and_writes_nothing() {
    // 89 07 mov [bx], ax with BX = 0xFFFF: #GP before either byte is stored.
    let mut cpu = setup(CpuModel::I80286, &[0x89, 0x07]);
    cpu.regs[reg::BX] = 0xFFFF;
    cpu.regs[reg::AX] = 0xABCD;
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(read8(&cpu, phys(DS, 0xFFFF)), 0);
    assert_eq!(read8(&cpu, phys(DS, 0)), 0);
}

#[test]
fn byte_access_at_offset_ffff_is_fine_on_the_286() {
    // 8A 07 mov al, [bx] with BX = 0xFFFF is within the limit.
    let mut cpu = setup(CpuModel::I80286, &[0x8A, 0x07]);
    cpu.regs[reg::BX] = 0xFFFF;
    cpu.mem_mut().load(phys(DS, 0xFFFF), &[0x5A]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x5A);
}

#[test]
fn executing_past_the_end_of_the_code_segment_raises_gp_on_the_286() {
    // 286 PRM, interrupt 13 in real mode: "attempt to execute past the end
    // of a segment". A two-byte instruction at IP = FFFF (B0 xx would be
    // mov al, imm8 with its immediate at offset 0x10000) faults with the
    // saved IP on the instruction. The 8086 instead fetches the immediate
    // from offset 0 of CS.
    let mut r = regs();
    r.cs = 0x1000;
    r.ip = 0xFFFF;
    let mut cpu = setup_with(CpuModel::I80286, &r, &[0xB0]);
    cpu.mem_mut().load(phys(0x1000, 0), &[0x42]);
    cpu.mem_mut().load(0x20000, &[0x43]);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu), (0xFFFF, 0x1000, 0x0002));

    let mut cpu = setup_with(M86, &r, &[0xB0]);
    cpu.mem_mut().load(phys(0x1000, 0), &[0x42]);
    cpu.mem_mut().load(0x20000, &[0x43]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x42);
    assert_eq!(cpu.eip, 0x0001);
}

// ----- PUSH SP -------------------------------------------------------------------

#[test]
fn push_sp_pushes_the_decremented_value_on_the_8086_and_186() {
    // SDM vol. 2, PUSH: "For the Intel 8086 processor, the PUSH SP
    // instruction pushes the new value of the SP register (that is the
    // value after it has been decremented by 2)." The 80186 does the same.
    // 54 push sp with SP = 0x1000 -> SS:0FFE = 0x0FFE.
    for model in [CpuModel::I8086, CpuModel::I80186] {
        let mut cpu = setup(model, &[0x54]);
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x0FFE, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FFE, "{model}");
    }
}

#[test]
fn push_sp_pushes_the_old_value_from_the_286_on() {
    // SDM vol. 2, PUSH: "For IA-32 processors from the Intel 286 on, the
    // PUSH ESP instruction pushes the value of the ESP register as it
    // existed before the instruction was executed." -> SS:0FFE = 0x1000.
    for model in [CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = setup(model, &[0x54]);
        run(&mut cpu, 1);
        assert_eq!(stack_word(&cpu, 0x0FFE), 0x1000, "{model}");
        assert_eq!(cpu.regs[reg::SP], 0x0FFE, "{model}");
    }
}

// ----- shift counts ----------------------------------------------------------------

/// Run `D3 /op` (shift/rotate AX by CL) on `model` and return (AX, CF).
fn shift_word_by_cl(model: CpuModel, op: u8, ax: u16, cl: u8, cf_in: bool) -> (u16, bool) {
    let mut r = regs();
    r.ax = ax;
    r.cx = cl as u16;
    r.flags = if cf_in { CF as u16 } else { 0 };
    let modrm = 0xC0 | (op << 3);
    let mut cpu = setup_with(model, &r, &[0xD3, modrm]);
    run(&mut cpu, 1);
    (cpu.regs[reg::AX] as u16, flag(&cpu, CF))
}

#[test]
fn the_8086_shifts_by_the_full_cl_count() {
    // The 8086 does not mask the count (SDM vol. 2, SAL/SAR/SHL/SHR, "IA-32
    // Architecture Compatibility": "The 8086 does not mask the shift
    // count"); it shifts one bit at a time, CL times.
    // SHL AX=0x8001 by 16: after 16 steps AX = 0 and the last bit out was
    // bit 0 of the original: CF = 1.
    assert_eq!(shift_word_by_cl(M86, 4, 0x8001, 16, false), (0x0000, true));
    // By 33: steps 17..33 shift zeros out of a zero register: CF = 0.
    assert_eq!(shift_word_by_cl(M86, 4, 0x8001, 33, false), (0x0000, false));
    // SHR by 17: step 16 shifts out the original bit 15 (CF = 1), step 17
    // a zero: AX = 0, CF = 0.
    assert_eq!(shift_word_by_cl(M86, 5, 0x8001, 17, false), (0x0000, false));
    // SAR by 20: the sign fills every bit and every bit out is the sign.
    assert_eq!(shift_word_by_cl(M86, 7, 0x8001, 20, false), (0xFFFF, true));
    // ROL by 33 = ROL by 1 (16 rotations restore the value): 0x8001 ->
    // 0x0003; CF = the bit rotated into bit 0 = 1.
    assert_eq!(shift_word_by_cl(M86, 0, 0x8001, 33, false), (0x0003, true));
    // RCL by 17 rotates the 17-bit quantity CF:AX once around: unchanged.
    assert_eq!(shift_word_by_cl(M86, 2, 0x8001, 17, false), (0x8001, false));
    // The largest count, 255, for each shift: SHL/SHR end with zero and a
    // zero carry; SAR with the sign everywhere.
    assert_eq!(
        shift_word_by_cl(M86, 4, 0xFFFF, 255, false),
        (0x0000, false)
    );
    assert_eq!(
        shift_word_by_cl(M86, 5, 0xFFFF, 255, false),
        (0x0000, false)
    );
    assert_eq!(shift_word_by_cl(M86, 7, 0x8000, 255, false), (0xFFFF, true));
}

#[test]
fn the_8086_shl_by_33_sets_the_result_flags_of_zero() {
    // SHL AX, CL with CL = 33 on the 8086: AX = 0 -> ZF = 1, SF = 0, PF = 1
    // (zero has even parity), CF = 0 (worked out above).
    let mut r = regs();
    r.ax = 0x8001;
    r.cx = 33;
    let mut cpu = setup_with(M86, &r, &[0xD3, 0xE0]);
    run(&mut cpu, 1);
    assert!(flag(&cpu, ZF) && flag(&cpu, PF) && !flag(&cpu, SF) && !flag(&cpu, CF));
}

#[test]
fn the_186_and_later_mask_the_shift_count_to_5_bits() {
    // 80186 on: the count is CL AND 1FH (SDM vol. 2, SAL/SAR/SHL/SHR).
    // CL = 33 -> 1: SHL 0x8001 by 1 = 0x0002, CF = old bit 15 = 1, and for
    // a 1-bit shift OF = MSB(result) XOR CF = 0 XOR 1 = 1.
    for model in [CpuModel::I80186, CpuModel::I80286, CpuModel::I80386] {
        let mut r = regs();
        r.ax = 0x8001;
        r.cx = 33;
        let mut cpu = setup_with(model, &r, &[0xD3, 0xE0]);
        run(&mut cpu, 1);
        assert_eq!(cpu.regs[reg::AX], 0x0002, "{model}");
        assert!(flag(&cpu, CF) && flag(&cpu, OF), "{model}");
    }
}

#[test]
fn a_masked_count_of_zero_changes_neither_operand_nor_flags() {
    // CL = 32 on the 186 masks to 0: "If the count is 0, the flags are not
    // affected" (SDM vol. 2, SAL/SAR/SHL/SHR). With CF = 1 going in, CF
    // stays 1 and AX is unchanged. On the 8086 the same instruction shifts
    // 32 times: AX = 0, CF = 0.
    assert_eq!(
        shift_word_by_cl(CpuModel::I80186, 4, 0x8001, 32, true),
        (0x8001, true)
    );
    assert_eq!(shift_word_by_cl(M86, 4, 0x8001, 32, true), (0x0000, false));
}

// ----- 0x0F on the 8086 and the 186 --------------------------------------------------

#[test]
fn opcode_0f_is_pop_cs_on_the_8086() {
    // On the 8086, 0F is POP CS (the encoding of "pop sreg" with sreg = CS;
    // removed from the 80186 on). SS:1000 = 0x2000 -> CS = 0x2000, SP =
    // 0x1002, and execution continues at 2000:0101 (IP already past the
    // one-byte instruction).
    let mut cpu = setup(M86, &[0x0F]);
    write16(&mut cpu, phys(SS, SP), 0x2000);
    // 40 inc ax at 2000:0101.
    cpu.mem_mut().load(phys(0x2000, 0x0101), &[0x40]);
    run(&mut cpu, 1);
    assert_eq!(cpu.segs[seg::CS].selector, 0x2000);
    assert_eq!(cpu.segs[seg::CS].base, 0x20000);
    assert_eq!(cpu.eip, 0x0101);
    assert_eq!(cpu.regs[reg::SP], 0x1002);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 1);
    assert_eq!(cpu.eip, 0x0102);
}

#[test]
fn opcode_0f_ff_raises_invalid_opcode_on_the_186() {
    // The 80186 traps unused opcodes with interrupt 6 (86 manual, 80186
    // "unused opcode" exception); 0F is unused there. The saved CS:IP
    // points at the opcode; IF and TF are cleared; IVT[6] = 0050:0010.
    let mut r: Regs16 = regs();
    r.flags = (IF | CF) as u16;
    let mut cpu = setup_with(CpuModel::I80186, &r, &[0x0F, 0xFF]);
    cpu.mem_mut().load(6 * 4, &[0x10, 0x00, 0x50, 0x00]);
    let res = step(&mut cpu);
    assert_eq!(res.exception, Some((vector::UD, phys(SS, 0x0FFE))));
    let (ip, cs, fl) = interrupt_frame(&cpu);
    assert_eq!((cs, ip), (CODE_CS, CODE_IP));
    // The 186 reads FLAGS bits 12-15 as ones.
    assert_eq!(fl, 0xF000 | 0x0002 | (IF | CF) as u16);
    assert_eq!((cpu.segs[seg::CS].selector, cpu.eip), (0x0050, 0x0010));
    assert_eq!(cpu.flags_word() & (IF | TF), 0);
    assert_eq!(cpu.regs[reg::SP], 0x0FFA);
}

#[test]
fn every_8086_opcode_and_modrm_form_does_something() {
    // The 8086 has no invalid-opcode exception (interrupt 6 arrived with
    // the 80186): every byte decodes to some operation, documented or not.
    // Check every opcode with every ModRM byte in the table.
    for op in 0..=255u8 {
        for modrm in 0..=255u8 {
            let bytes = [op, modrm, 0, 0, 0, 0, 0, 0];
            let m = oxbox::cpu::table::mnemonic(M86, &bytes);
            assert_ne!(m, "(bad)", "{op:02X} {modrm:02X}");
        }
    }
}

// ----- instruction length limits ---------------------------------------------------

#[test]
fn the_8086_has_no_instruction_length_limit() {
    // The 8086 simply consumes prefixes: 20 DS prefixes + NOP is 21 bytes.
    let mut code = vec![0x3E; 20];
    code.push(0x90);
    let mut cpu = setup(M86, &code);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x100 + 21);
}

// ----- the trap flag ----------------------------------------------------------------

/// A CPU whose #DB handler (IVT[1]) is an IRET at 0050:0000.
fn with_db_handler(model: CpuModel, r: &Regs16, code: &[u8]) -> Cpu {
    let mut cpu = setup_with(model, r, code);
    cpu.mem_mut().load(4, &[0x00, 0x00, 0x50, 0x00]);
    cpu.mem_mut().load(phys(0x0050, 0), &[0xCF]);
    cpu
}

#[test]
fn the_trap_flag_raises_a_single_step_trap_after_each_instruction() {
    // SDM vol. 3 §17.3.1.4: with TF = 1 the processor raises #DB (vector 1)
    // after each instruction; the handler runs with TF cleared and the
    // pushed FLAGS keep TF set, so IRET resumes single-stepping.
    // 40 inc ax; 43 inc bx
    for model in [CpuModel::I8086, CpuModel::I80286, CpuModel::I80386] {
        let mut r = regs();
        r.flags = TF as u16;
        let mut cpu = with_db_handler(model, &r, &[0x40, 0x43]);
        let res = step(&mut cpu);
        assert_eq!(res.exception.map(|e| e.0), Some(vector::DB), "{model}");
        assert_eq!(cpu.regs[reg::AX], 1, "{model}");
        let (ip, _, fl) = interrupt_frame(&cpu);
        assert_eq!(ip, 0x101, "{model}");
        assert_ne!(fl & TF as u16, 0, "{model}");
        assert_eq!(cpu.flags_word() & TF, 0, "{model}");
        // The handler's IRET is not trapped (TF = 0 in the handler); the
        // next instruction is.
        assert_eq!(step(&mut cpu).exception, None, "{model}");
        assert_eq!(cpu.eip, 0x101, "{model}");
        let res = step(&mut cpu);
        assert_eq!(res.exception.map(|e| e.0), Some(vector::DB), "{model}");
        assert_eq!(cpu.regs[reg::BX], 1, "{model}");
    }
}

#[test]
fn popf_setting_tf_traps_only_after_the_next_instruction() {
    // The trap condition is sampled at the start of an instruction: POPF
    // that sets TF is not itself trapped; the instruction after it is.
    // 9D popf (stack holds TF); 40 inc ax
    for model in [CpuModel::I8086, CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = with_db_handler(model, &regs(), &[0x9D, 0x40]);
        write16(&mut cpu, phys(SS, SP), TF as u16);
        assert_eq!(step(&mut cpu).exception, None, "{model}");
        let res = step(&mut cpu);
        assert_eq!(res.exception.map(|e| e.0), Some(vector::DB), "{model}");
        assert_eq!(interrupt_frame(&cpu).0, 0x102, "{model}");
    }
}

// ----- the IDTR in real mode (286 and later) -------------------------------------------

/// LIDT [0x200] (0F 01 1E 00 02) with the given limit and base, then
/// INT 21h (CD 21) at 0x105.
fn lidt_then_int21(model: CpuModel, limit: u16, base: u32) -> Cpu {
    let mut cpu = setup(model, &[0x0F, 0x01, 0x1E, 0x00, 0x02, 0xCD, 0x21]);
    write16(&mut cpu, phys(DS, 0x200), limit);
    write32(&mut cpu, phys(DS, 0x202), base);
    run(&mut cpu, 1);
    cpu
}

#[test]
fn real_mode_interrupts_read_their_vector_from_the_idtr_base() {
    // 80386 PRM §14.3: "the location and size of the interrupt table
    // depend on the contents of the IDTR", which LIDT can change in real
    // mode (the 286 likewise). Base 0x5000: INT 21h reads 0x5000 + 0x84.
    for model in [CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = lidt_then_int21(model, 0x03FF, 0x5000);
        cpu.mem_mut().load(0x5084, &[0x34, 0x12, 0x00, 0x07]);
        let r = step(&mut cpu);
        assert_eq!(r.exception.map(|e| e.0), Some(0x21), "{model}");
        assert_eq!(
            (cpu.segs[seg::CS].selector, cpu.eip),
            (0x0700, 0x1234),
            "{model}"
        );
        // INT is a trap: the saved IP is the next instruction.
        assert_eq!(interrupt_frame(&cpu).0, 0x107, "{model}");
    }
}

#[test]
fn a_vector_beyond_the_idt_limit_raises_interrupt_8_on_the_286_and_386() {
    // 286 PRM, real-address mode "interrupt table limit too small"
    // (interrupt 8): raised when an interrupt's vector lies beyond the
    // IDTR limit; the saved CS:IP points at the instruction. 80386 PRM
    // §14.3: "If an interrupt occurs and the corresponding entry of the
    // interrupt table is beyond the limit stored in the IDTR, the
    // processor raises exception 8."
    // Limit 0x3F covers vectors 0-15, so INT 21h is beyond it and vector 8
    // (entry at base + 0x20) is within. Base 0x5000.
    for model in [CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = lidt_then_int21(model, 0x003F, 0x5000);
        cpu.mem_mut().load(0x5020, &[0x08, 0x00, 0x60, 0x00]);
        let r = step(&mut cpu);
        assert_eq!(r.exception.map(|e| e.0), Some(vector::DF), "{model}");
        assert_eq!(
            (cpu.segs[seg::CS].selector, cpu.eip),
            (0x0060, 0x0008),
            "{model}"
        );
        assert_eq!(interrupt_frame(&cpu).0, 0x105, "{model}");
        // No error code in real mode: just FLAGS, CS, IP.
        assert_eq!(cpu.regs[reg::SP], (SP - 6) as u32, "{model}");
    }
}

#[test]
fn a_vector_beyond_the_idt_limit_with_interrupt_8_also_beyond_shuts_down() {
    // Limit 0x0F (vectors 0-3): neither INT 21h nor interrupt 8 fits, so
    // the processor cannot deliver the double fault and shuts down (SDM
    // vol. 3 §6.15, interrupt 8: a fault while delivering a double fault).
    for model in [CpuModel::I80286, CpuModel::I80386] {
        let mut cpu = lidt_then_int21(model, 0x000F, 0x5000);
        let r = step(&mut cpu);
        assert!(r.shutdown, "{model}");
    }
}

#[test]
fn sidt_stores_ones_in_the_unused_base_byte_on_the_286_only() {
    // SDM vol. 2, SIDT, "IA-32 Architecture Compatibility": with a 16-bit
    // operand "the Intel 286 processor fills these bits with 1s; processor
    // generations later than the Intel 286 processor fill these bits with
    // 0s". 0F 01 0E 00 03  sidt [0x300]: limit 0x03FF, base 0.
    for (model, top) in [(CpuModel::I80286, 0xFF), (CpuModel::I80386, 0x00)] {
        let mut cpu = setup(model, &[0x0F, 0x01, 0x0E, 0x00, 0x03]);
        run(&mut cpu, 1);
        assert_eq!(read16(&cpu, phys(DS, 0x300)), 0x03FF, "{model}");
        assert_eq!(read32(&cpu, phys(DS, 0x302)), (top as u32) << 24, "{model}");
    }
}

#[test]
fn smsw_reads_fff0_after_reset_on_the_286() {
    // 80286 data sheet, reset state: MSW = FFF0H (the reserved bits read as
    // ones, PE/MP/EM/TS clear). 0F 01 E0  smsw ax.
    let mut cpu = setup(CpuModel::I80286, &[0x0F, 0x01, 0xE0]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xFFF0);
}

#[test]
fn a_reset_returns_the_gdtr_to_base_0_limit_ffff() {
    // SDM vol. 3 §9.1.1, table 9-1: GDTR base 00000000H, limit FFFFH after
    // power-up or reset (the PC resets the CPU after a triple fault, with
    // whatever GDT the crashed program had loaded).
    for model in [CpuModel::I80286, CpuModel::I80386, CpuModel::PentiumPro] {
        let mut cpu = Cpu::new(model, 1 << 20);
        cpu.gdtr_base = 0x1000;
        cpu.gdtr_limit = 0xFF;
        cpu.reset();
        assert_eq!((cpu.gdtr_base, cpu.gdtr_limit), (0, 0xFFFF), "{model}");
    }
}
