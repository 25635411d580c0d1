//! The 80386's additions as seen from real mode: operand- and address-size
//! prefixes, 32-bit addressing with SIB, FS/GS, and the new 0x0F-map
//! instructions. The SingleStepTests vectors stop at the 80286, so these
//! expectations are worked out by hand from the Intel SDM vol. 2 (and the
//! 80386 Programmer's Reference Manual, "PRM"), with the reasoning beside
//! each one.
//!
//! Every test starts from `common::setup`: CS:IP = 0000:0100, DS = 0x1000,
//! ES = 0x2000, SS = 0x3000 (all bases different), SP = 0x1000, all other
//! registers zero.

mod common;

use common::*;
use oxbox::cpu::flags::{CF, OF, PF, SF, ZF};
use oxbox::cpu::{reg, seg, vector, Cpu, CpuModel};

const M: CpuModel = CpuModel::I80386;

fn cpu386(code: &[u8]) -> Cpu {
    setup(M, code)
}

// ----- operand size (0x66) ---------------------------------------------------

#[test]
fn operand_size_prefix_makes_add_32_bit() {
    // 66 B8 FF FF FF 7F   mov eax, 0x7FFFFFFF
    // 66 05 01 00 00 00   add eax, 1
    // 0x7FFFFFFF + 1 = 0x80000000: two positives give a negative, so OF=1;
    // SF=1; no carry out of bit 31, CF=0; the low nibbles F+1 carry, AF=1;
    // the low byte 0x00 has even parity, PF=1; ZF=0.
    let mut cpu = cpu386(&[0x66, 0xB8, 0xFF, 0xFF, 0xFF, 0x7F, 0x66, 0x05, 1, 0, 0, 0]);
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0x8000_0000);
    assert_eq!(status(&cpu), "O S A P");
    assert_eq!(cpu.eip, 0x100 + 12);
}

#[test]
fn without_the_prefix_a_16_bit_add_keeps_the_upper_half() {
    // 66 B8 FF FF 34 12   mov eax, 0x1234FFFF
    // 05 01 00            add ax, 1
    // AX = 0xFFFF + 1 = 0x0000 with CF=1 (carry out of bit 15), ZF=1; the
    // upper half 0x1234 is untouched (SDM vol. 1 §3.4.1.1: 16-bit
    // operations use only the low word).
    let mut cpu = cpu386(&[0x66, 0xB8, 0xFF, 0xFF, 0x34, 0x12, 0x05, 0x01, 0x00]);
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0x1234_0000);
    assert!(flag(&cpu, CF) && flag(&cpu, ZF));
}

#[test]
fn mov_r32_imm32_and_narrower_writes_merge() {
    // 66 BB 78 56 34 12   mov ebx, 0x12345678
    // BB CD AB            mov bx, 0xABCD  -> EBX = 0x1234ABCD
    // B7 FF               mov bh, 0xFF    -> EBX = 0x1234FFCD
    let mut cpu = cpu386(&[
        0x66, 0xBB, 0x78, 0x56, 0x34, 0x12, 0xBB, 0xCD, 0xAB, 0xB7, 0xFF,
    ]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::BX], 0x1234_5678);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::BX], 0x1234_ABCD);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::BX], 0x1234_FFCD);
}

#[test]
fn sub_32_bit_borrows_from_bit_31() {
    // EAX = 0; 66 2D 01 00 00 00  sub eax, 1
    // 0 - 1 = 0xFFFFFFFF: a borrow, CF=1; SF=1; no signed overflow
    // (0 - 1 = -1), OF=0; AF=1 (borrow from bit 4); low byte 0xFF has
    // eight ones, PF=1.
    let mut cpu = cpu386(&[0x66, 0x2D, 1, 0, 0, 0]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xFFFF_FFFF);
    assert_eq!(status(&cpu), "S A P C");
}

#[test]
fn adc_32_bit_adds_the_carry_across_all_32_bits() {
    // F9                  stc
    // 66 11 D8            adc eax, ebx   (11 /r: r/m32 = EAX, reg = EBX)
    // EAX = 0xFFFFFFFF, EBX = 0: 0xFFFFFFFF + 0 + 1 = 0x1_00000000, so
    // EAX = 0, CF=1, ZF=1, OF=0 (-1 + 0 + 1 = 0 fits).
    let mut cpu = cpu386(&[0xF9, 0x66, 0x11, 0xD8]);
    cpu.regs[reg::AX] = 0xFFFF_FFFF;
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0);
    assert!(flag(&cpu, CF) && flag(&cpu, ZF) && !flag(&cpu, OF));
}

#[test]
fn inc_32_bit_sets_overflow_at_0x7fffffff_and_keeps_carry() {
    // F9 stc; 66 40 inc eax. INC leaves CF alone (SDM vol. 2, INC);
    // 0x7FFFFFFF + 1 = 0x80000000 overflows the signed range: OF=1, SF=1.
    let mut cpu = cpu386(&[0xF9, 0x66, 0x40]);
    cpu.regs[reg::AX] = 0x7FFF_FFFF;
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0x8000_0000);
    assert!(flag(&cpu, OF) && flag(&cpu, SF) && flag(&cpu, CF));
}

#[test]
fn shl_32_bit_by_immediate_uses_all_32_bits() {
    // 66 C1 E0 04   shl eax, 4   (C1 /4 ib; ModRM E0 = 11 100 000)
    // 0x1234_5678 << 4 = 0x2345_6780; CF = the last bit shifted out =
    // bit 28 of the source = 1.
    let mut cpu = cpu386(&[0x66, 0xC1, 0xE0, 0x04]);
    cpu.regs[reg::AX] = 0x1234_5678;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x2345_6780);
    assert!(flag(&cpu, CF));
}

#[test]
fn push_and_pop_with_operand_size_prefix_move_four_bytes() {
    // 66 68 EF BE AD DE   push dword 0xDEADBEEF  -> SP = 0x1000 - 4
    // 66 5A               pop edx                -> SP back to 0x1000
    let mut cpu = cpu386(&[0x66, 0x68, 0xEF, 0xBE, 0xAD, 0xDE, 0x66, 0x5A]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x0FFC);
    // Little-endian at SS:0FFC.
    assert_eq!(read32(&cpu, phys(SS, 0x0FFC)), 0xDEAD_BEEF);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::DX], 0xDEAD_BEEF);
    assert_eq!(cpu.regs[reg::SP], 0x1000);
}

#[test]
fn push_r32_then_pop_two_words_splits_low_word_first() {
    // 66 50   push eax      (EAX = 0x11223344)
    // 5B      pop bx        -> the low word 0x3344 (lower address)
    // 59      pop cx        -> the high word 0x1122
    let mut cpu = cpu386(&[0x66, 0x50, 0x5B, 0x59]);
    cpu.regs[reg::AX] = 0x1122_3344;
    run(&mut cpu, 3);
    assert_eq!(cpu.regs[reg::BX], 0x3344);
    assert_eq!(cpu.regs[reg::CX], 0x1122);
    assert_eq!(cpu.regs[reg::SP], 0x1000);
}

#[test]
fn mov_32_bit_memory_store_writes_four_bytes() {
    // 66 89 07   mov [bx], eax   (ModRM 07 = 00 000 111: [BX])
    // 66 C7 47 04 78 56 34 12   mov dword [bx+4], 0x12345678
    let mut cpu = cpu386(&[
        0x66, 0x89, 0x07, 0x66, 0xC7, 0x47, 0x04, 0x78, 0x56, 0x34, 0x12,
    ]);
    cpu.regs[reg::AX] = 0xCAFE_F00D;
    cpu.regs[reg::BX] = 0x0200;
    run(&mut cpu, 2);
    assert_eq!(read32(&cpu, phys(DS, 0x200)), 0xCAFE_F00D);
    assert_eq!(read32(&cpu, phys(DS, 0x204)), 0x1234_5678);
}

#[test]
fn dword_access_crossing_offset_ffff_raises_gp_in_real_mode() {
    // 66 8B 07   mov eax, [bx] with BX = 0xFFFE: the dword spans offsets
    // FFFE..10001, past the real-mode limit 0xFFFF, so #GP (13) (SDM
    // vol. 2, MOV, real-address mode exceptions). The fault leaves EAX
    // unchanged and pushes the address of the faulting instruction.
    let mut cpu = cpu386(&[0x66, 0x8B, 0x07]);
    cpu.regs[reg::BX] = 0xFFFE;
    cpu.regs[reg::AX] = 0x5555_5555;
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(cpu.regs[reg::AX], 0x5555_5555);
    let (ip, cs, _) = interrupt_frame(&cpu);
    assert_eq!((cs, ip), (CODE_CS, CODE_IP));
}

// ----- address size (0x67) and SIB ------------------------------------------

#[test]
fn sib_base_plus_scaled_index_with_operand_and_address_size_prefixes() {
    // 66 67 8B 04 8B   mov eax, [ebx + ecx*4]
    // ModRM 04 = 00 000 100 (SIB follows); SIB 8B = 10 001 011: scale 4,
    // index ECX, base EBX. EA = 0x100 + 3*4 = 0x10C in DS.
    let mut cpu = cpu386(&[0x66, 0x67, 0x8B, 0x04, 0x8B]);
    cpu.regs[reg::BX] = 0x100;
    cpu.regs[reg::CX] = 3;
    write32(&mut cpu, phys(DS, 0x10C), 0x0BAD_F00D);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x0BAD_F00D);
}

#[test]
fn sib_scale_8_with_ebp_base_and_disp8_defaults_to_ss() {
    // 67 8A 44 F5 10   mov al, [ebp + esi*8 + 0x10]
    // ModRM 44 = 01 000 100 (SIB + disp8); SIB F5 = 11 110 101: scale 8,
    // index ESI, base EBP (a real base since mod = 01). EA = 0x20 + 2*8 +
    // 0x10 = 0x40. EBP as base selects SS (SDM vol. 1 §3.7.5).
    let mut cpu = cpu386(&[0x67, 0x8A, 0x44, 0xF5, 0x10]);
    cpu.regs[reg::BP] = 0x20;
    cpu.regs[reg::SI] = 2;
    cpu.mem_mut().load(phys(SS, 0x40), &[0x5A]);
    cpu.mem_mut().load(phys(DS, 0x40), &[0xD5]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX] & 0xFF, 0x5A);
}

#[test]
fn esp_base_defaults_to_ss() {
    // 67 8B 04 24   mov ax, [esp]   (SIB 24 = 00 100 100: no index, base ESP)
    let mut cpu = cpu386(&[0x67, 0x8B, 0x04, 0x24]);
    write16(&mut cpu, phys(SS, SP), 0x5353);
    write16(&mut cpu, phys(DS, SP), 0xD5D5);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x5353);
}

#[test]
fn ebp_plus_disp8_defaults_to_ss_and_an_override_wins() {
    // 67 8B 45 08        mov ax, [ebp+8]      (ModRM 45 = 01 000 101) -> SS
    // 3E 67 8B 4D 08     mov cx, ds:[ebp+8]   -> DS by the override
    let mut cpu = cpu386(&[0x67, 0x8B, 0x45, 0x08, 0x3E, 0x67, 0x8B, 0x4D, 0x08]);
    cpu.regs[reg::BP] = 0x300;
    write16(&mut cpu, phys(SS, 0x308), 0x5151);
    write16(&mut cpu, phys(DS, 0x308), 0xD1D1);
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0x5151);
    assert_eq!(cpu.regs[reg::CX], 0xD1D1);
}

#[test]
fn index_ebp_without_base_stays_in_ds() {
    // 67 8B 04 2D 00 01 00 00   mov ax, [ebp*1 + 0x100]
    // SIB 2D = 00 101 101: index EBP, base field 101 with mod 00 means "no
    // base, disp32". Only a *base* of ESP/EBP selects SS, so this is DS.
    let mut cpu = cpu386(&[0x67, 0x8B, 0x04, 0x2D, 0x00, 0x01, 0x00, 0x00]);
    cpu.regs[reg::BP] = 0x10;
    write16(&mut cpu, phys(DS, 0x110), 0xD0D0);
    write16(&mut cpu, phys(SS, 0x110), 0x5050);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xD0D0);
}

#[test]
fn sib_without_base_uses_disp32_and_scaled_index() {
    // 67 8B 04 8D 00 02 00 00   mov ax, [ecx*4 + 0x200]
    // SIB 8D = 10 001 101: scale 4, index ECX, no base (mod 00) -> disp32.
    // EA = 3*4 + 0x200 = 0x20C in DS.
    let mut cpu = cpu386(&[0x67, 0x8B, 0x04, 0x8D, 0x00, 0x02, 0x00, 0x00]);
    cpu.regs[reg::CX] = 3;
    write16(&mut cpu, phys(DS, 0x20C), 0x4321);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x4321);
    assert_eq!(cpu.eip, 0x108);
}

#[test]
fn sib_index_100_means_no_index_and_scale_is_ignored() {
    // 67 8B 04 E3   mov ax, [ebx]   SIB E3 = 11 100 011: index 100 = none
    // (SDM vol. 2 table 2-3), so the scale does not apply. ESP would be the
    // "index" if it were decoded; give it a value that would move the EA.
    let mut cpu = cpu386(&[0x67, 0x8B, 0x04, 0xE3]);
    cpu.regs[reg::BX] = 0x400;
    write16(&mut cpu, phys(DS, 0x400), 0x7777);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x7777);
}

#[test]
fn modrm_disp32_only_and_base_plus_disp32() {
    // 67 8B 05 34 12 00 00      mov ax, [0x1234]       (mod 00 rm 101)
    // 67 8B 8B 00 01 00 00      mov cx, [ebx + 0x100]  (mod 10 rm 011)
    // 67 8B 53 FE               mov dx, [ebx - 2]      (disp8 sign-extended)
    let mut cpu = cpu386(&[
        0x67, 0x8B, 0x05, 0x34, 0x12, 0x00, 0x00, 0x67, 0x8B, 0x8B, 0x00, 0x01, 0x00, 0x00, 0x67,
        0x8B, 0x53, 0xFE,
    ]);
    cpu.regs[reg::BX] = 0x50;
    write16(&mut cpu, phys(DS, 0x1234), 0x1111);
    write16(&mut cpu, phys(DS, 0x150), 0x2222);
    write16(&mut cpu, phys(DS, 0x4E), 0x3333);
    run(&mut cpu, 3);
    assert_eq!(cpu.regs[reg::AX], 0x1111);
    assert_eq!(cpu.regs[reg::CX], 0x2222);
    assert_eq!(cpu.regs[reg::DX], 0x3333);
}

#[test]
fn address_size_32_effective_address_above_ffff_faults() {
    // 67 8B 03   mov ax, [ebx] with EBX = 0x10000: the 32-bit EA is not
    // truncated, it exceeds the real-mode limit 0xFFFF -> #GP (13).
    // Without 0x67 the same ModRM byte means [BP+DI]; use 8B 07 ([BX]),
    // which takes only BX = 0 and reads DS:0 fine.
    let mut cpu = cpu386(&[0x67, 0x8B, 0x03]);
    cpu.regs[reg::BX] = 0x1_0000;
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));

    let mut cpu = cpu386(&[0x8B, 0x07]);
    cpu.regs[reg::BX] = 0x1_0000;
    write16(&mut cpu, phys(DS, 0), 0xABCD);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xABCD);
}

#[test]
fn stack_segment_ea_above_limit_raises_ss_fault() {
    // 67 8B 45 00   mov ax, [ebp+0] with EBP = 0x10000. The 386 raises #SS
    // (12) for an SS reference beyond the limit and #GP for the others
    // (SDM vol. 2, real-address mode exceptions: "#SS If a memory operand
    // effective address is outside the SS segment limit").
    let mut cpu = cpu386(&[0x67, 0x8B, 0x45, 0x00]);
    cpu.regs[reg::BP] = 0x1_0000;
    assert_eq!(step_fault(&mut cpu), Some(vector::SS));
}

#[test]
fn lea_with_32_bit_address_and_both_operand_sizes() {
    // 66 67 8D 04 8B   lea eax, [ebx + ecx*4]  -> 0x12345678 + 0x40
    // 67 8D 14 8B      lea dx, [ebx + ecx*4]   -> the low 16 bits, 0x56B8
    // 66 8D 37         lea esi, [bx]           -> 16-bit EA zero-extended
    // (SDM vol. 2, LEA table: operand 32 / address 16 zero-extends). LEA
    // does not access memory, so no limit check applies.
    let mut cpu = cpu386(&[
        0x66, 0x67, 0x8D, 0x04, 0x8B, 0x67, 0x8D, 0x14, 0x8B, 0x66, 0x8D, 0x37,
    ]);
    cpu.regs[reg::BX] = 0x1234_5678;
    cpu.regs[reg::CX] = 0x10;
    cpu.regs[reg::DX] = 0xFFFF_0000;
    cpu.regs[reg::SI] = 0xFFFF_FFFF;
    run(&mut cpu, 3);
    assert_eq!(cpu.regs[reg::AX], 0x1234_56B8);
    assert_eq!(cpu.regs[reg::DX], 0xFFFF_56B8);
    assert_eq!(cpu.regs[reg::SI], 0x0000_5678);
}

#[test]
fn string_instruction_with_address_size_prefix_uses_esi_edi() {
    // ESI = 0x0001_0010. Without 0x67, MOVSB uses SI = 0x0010 and succeeds;
    // with 0x67 it uses all of ESI, which is beyond the limit: #GP.
    let mut cpu = cpu386(&[0xA4]);
    cpu.regs[reg::SI] = 0x0001_0010;
    cpu.regs[reg::DI] = 0x20;
    cpu.mem_mut().load(phys(DS, 0x10), &[0x99]);
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(ES, 0x20)), 0x99);
    // The 16-bit SI advanced; the upper half stayed.
    assert_eq!(cpu.regs[reg::SI], 0x0001_0011);

    let mut cpu = cpu386(&[0x67, 0xA4]);
    cpu.regs[reg::SI] = 0x0001_0010;
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
}

#[test]
fn movsd_with_operand_size_prefix_moves_four_bytes() {
    // 66 A5   movsd: DS:SI -> ES:DI, 4 bytes; SI and DI advance by 4.
    let mut cpu = cpu386(&[0x66, 0xA5]);
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x30;
    write32(&mut cpu, phys(DS, 0x10), 0x8765_4321);
    run(&mut cpu, 1);
    assert_eq!(read32(&cpu, phys(ES, 0x30)), 0x8765_4321);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x14, 0x34));
}

#[test]
fn moffs_form_takes_a_32_bit_offset_under_address_size_prefix() {
    // 67 A1 34 12 00 00   mov ax, [0x00001234]: with 0x67 the moffs is
    // four bytes (SDM vol. 2, MOV A0-A3), so the instruction is 6 bytes.
    let mut cpu = cpu386(&[0x67, 0xA1, 0x34, 0x12, 0x00, 0x00]);
    write16(&mut cpu, phys(DS, 0x1234), 0x6789);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x6789);
    assert_eq!(cpu.eip, 0x106);
}

#[test]
fn pop_to_esp_based_memory_computes_the_address_after_the_increment() {
    // 67 8F 04 24   pop word [esp]. SDM vol. 2, POP: "If the ESP register
    // is used as a base register for addressing a destination operand in
    // memory, the POP instruction computes the effective address of the
    // operand after it increments the ESP register." SP = 0x0FFE holding
    // 0xABCD: SP becomes 0x1000 and the word lands at SS:1000.
    let mut r = regs();
    r.sp = 0x0FFE;
    let mut cpu = setup_with(M, &r, &[0x67, 0x8F, 0x04, 0x24]);
    write16(&mut cpu, phys(SS, 0x0FFE), 0xABCD);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x1000);
    assert_eq!(read16(&cpu, phys(SS, 0x1000)), 0xABCD);
}

#[test]
fn a_repeated_operand_size_prefix_does_not_toggle_back() {
    // 66 66 B8 78 56 34 12   mov eax, 0x12345678: a prefix selects the
    // non-default size; repeating it changes nothing.
    let mut cpu = cpu386(&[0x66, 0x66, 0xB8, 0x78, 0x56, 0x34, 0x12]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x1234_5678);
    assert_eq!(cpu.eip, 0x107);
}

#[test]
fn instructions_longer_than_15_bytes_raise_gp() {
    // SDM vol. 2 §2.3.11: an instruction of more than 15 bytes raises #GP.
    // 14 prefixes + NOP = 15 bytes executes; 15 prefixes + NOP = 16 faults.
    let mut code = vec![0x66; 14];
    code.push(0x90);
    let mut cpu = cpu386(&code);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x100 + 15);

    let mut code = vec![0x66; 15];
    code.push(0x90);
    let mut cpu = cpu386(&code);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu).0, CODE_IP);
}

#[test]
fn rep_movsb_counts_cx_or_ecx_by_address_size() {
    // F3 A4 with ECX = 0x00010002: the 16-bit address size counts CX = 2
    // down to 0 and leaves the upper half (SDM vol. 2, REP: "CX or ECX by
    // address size").
    let mut cpu = cpu386(&[0xF3, 0xA4]);
    cpu.regs[reg::CX] = 0x0001_0002;
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    cpu.mem_mut().load(phys(DS, 0x10), &[1, 2, 3]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::CX], 0x0001_0000);
    assert_eq!(read16(&cpu, phys(ES, 0x20)), 0x0201);
    assert_eq!(read8(&cpu, phys(ES, 0x22)), 0);

    // 67 F3 A4 with ECX = 3 uses ECX, ESI and EDI: three bytes.
    let mut cpu = cpu386(&[0x67, 0xF3, 0xA4]);
    cpu.regs[reg::CX] = 3;
    cpu.regs[reg::SI] = 0x10;
    cpu.regs[reg::DI] = 0x20;
    cpu.mem_mut().load(phys(DS, 0x10), &[1, 2, 3]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::CX], 0);
    assert_eq!((cpu.regs[reg::SI], cpu.regs[reg::DI]), (0x13, 0x23));
    assert_eq!(read8(&cpu, phys(ES, 0x22)), 3);
}

#[test]
fn xlat_with_address_size_prefix_uses_ebx() {
    // D7 xlat: AL = DS:[BX + AL]; with 0x67 the table base is EBX, and
    // EBX = 0x10000 puts the byte beyond the limit: #GP. Without the prefix
    // BX = 0 and AL = 5 reads DS:0005.
    let mut cpu = cpu386(&[0xD7]);
    cpu.regs[reg::BX] = 0x1_0000;
    cpu.regs[reg::AX] = 5;
    cpu.mem_mut().load(phys(DS, 5), &[0x77]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x77);

    let mut cpu = cpu386(&[0x67, 0xD7]);
    cpu.regs[reg::BX] = 0x1_0000;
    cpu.regs[reg::AX] = 5;
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
}

#[test]
fn pushad_and_popad_save_all_eight_registers() {
    // 66 60 pushad: EAX, ECX, EDX, EBX, the original ESP, EBP, ESI, EDI,
    // 32 bytes, EDI lowest (SDM vol. 2, PUSHA/PUSHAD). 66 61 popad restores
    // them in reverse and discards the stored ESP.
    let mut cpu = cpu386(&[0x66, 0x60, 0x66, 0x61]);
    let values = [
        0x1111_1111,
        0x2222_2222,
        0x3333_3333,
        0x4444_4444,
        SP as u32,
        0x6666_6666,
        0x7777_7777,
        0x8888_8888,
    ];
    cpu.regs = values;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], SP as u32 - 32);
    for (k, &v) in values.iter().enumerate() {
        // EAX at SS:0FFC, ECX at 0FF8, ... EDI at 0FE0.
        let at = SP - 4 * (k as u16 + 1);
        assert_eq!(read32(&cpu, phys(SS, at)), v, "register {k}");
    }
    cpu.regs = [0, 0, 0, 0, cpu.regs[reg::SP], 0, 0, 0];
    run(&mut cpu, 1);
    assert_eq!(cpu.regs, values);
}

#[test]
fn push_imm8_with_operand_size_prefix_sign_extends_to_32_bits() {
    // 66 6A FE   push dword -2 -> 0xFFFFFFFE, SP -= 4.
    let mut cpu = cpu386(&[0x66, 0x6A, 0xFE]);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x0FFC);
    assert_eq!(read32(&cpu, phys(SS, 0x0FFC)), 0xFFFF_FFFE);
}

#[test]
fn lss_lfs_lgs_load_a_far_pointer() {
    // 0F B2 26 00 02     lss sp, [0x200]   (ModRM 26 = 00 100 110)
    // 0F B4 1E 04 02     lfs bx, [0x204]   (ModRM 1E = 00 011 110)
    // 66 0F B5 0E 08 02  lgs ecx, [0x208]  (m16:32: offset dword, selector)
    let code = [
        0x0F, 0xB2, 0x26, 0x00, 0x02, 0x0F, 0xB4, 0x1E, 0x04, 0x02, 0x66, 0x0F, 0xB5, 0x0E, 0x08,
        0x02,
    ];
    let mut cpu = cpu386(&code);
    write16(&mut cpu, phys(DS, 0x200), 0x0800);
    write16(&mut cpu, phys(DS, 0x202), 0x4000);
    write16(&mut cpu, phys(DS, 0x204), 0x1234);
    write16(&mut cpu, phys(DS, 0x206), 0x5000);
    write32(&mut cpu, phys(DS, 0x208), 0x89AB_CDEF);
    write16(&mut cpu, phys(DS, 0x20C), 0x6000);
    run(&mut cpu, 3);
    assert_eq!(
        (cpu.segs[seg::SS].selector, cpu.regs[reg::SP]),
        (0x4000, 0x0800)
    );
    assert_eq!(cpu.segs[seg::SS].base, 0x40000);
    assert_eq!(
        (cpu.segs[seg::FS].selector, cpu.regs[reg::BX]),
        (0x5000, 0x1234)
    );
    assert_eq!(
        (cpu.segs[seg::GS].selector, cpu.regs[reg::CX]),
        (0x6000, 0x89AB_CDEF)
    );
}

// ----- FS and GS ------------------------------------------------------------

#[test]
fn mov_to_and_from_fs_gs_and_their_override_prefixes() {
    // 8E E0         mov fs, ax   (8E /4; ModRM E0 = 11 100 000)
    // 8E EB         mov gs, bx   (8E /5; ModRM EB = 11 101 011)
    // 8C E1         mov cx, fs   (8C /4; ModRM E1)
    // 64 8B 17      mov dx, fs:[bx]
    // 65 8A 36 34 12  mov dh, gs:[0x1234]
    let code = [
        0x8E, 0xE0, 0x8E, 0xEB, 0x8C, 0xE1, 0x64, 0x8B, 0x17, 0x65, 0x8A, 0x36, 0x34, 0x12,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::AX] = 0x4000;
    cpu.regs[reg::BX] = 0x5000;
    // FS:[BX] = 4000:5000 = 0x45000; GS:1234 = 0x51234.
    write16(&mut cpu, 0x45000, 0xF5F5);
    cpu.mem_mut().load(0x51234, &[0x65]);
    run(&mut cpu, 2);
    assert_eq!(cpu.segs[seg::FS].selector, 0x4000);
    assert_eq!(cpu.segs[seg::FS].base, 0x40000);
    assert_eq!(cpu.segs[seg::GS].selector, 0x5000);
    assert_eq!(cpu.segs[seg::GS].base, 0x50000);
    run(&mut cpu, 3);
    assert_eq!(cpu.regs[reg::CX], 0x4000);
    assert_eq!(cpu.regs[reg::DX], 0x65F5);
}

#[test]
fn push_and_pop_fs_gs_use_the_two_byte_opcodes() {
    // 0F A0 push fs; 0F A9 pop gs   -> GS = FS
    // 0F A8 push gs; 0F A1 pop fs   -> FS = GS (both the old FS)
    let mut cpu = cpu386(&[0x0F, 0xA0, 0x0F, 0xA9]);
    cpu.segs[seg::FS] = oxbox::cpu::Segment::real(0x1234);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x0FFE);
    assert_eq!(read16(&cpu, phys(SS, 0x0FFE)), 0x1234);
    run(&mut cpu, 1);
    assert_eq!(cpu.segs[seg::GS].selector, 0x1234);
    assert_eq!(cpu.segs[seg::GS].base, 0x12340);
    assert_eq!(cpu.regs[reg::SP], 0x1000);

    let mut cpu = cpu386(&[0x0F, 0xA8, 0x0F, 0xA1]);
    cpu.segs[seg::GS] = oxbox::cpu::Segment::real(0x0BEE);
    run(&mut cpu, 2);
    assert_eq!(cpu.segs[seg::FS].selector, 0x0BEE);
    assert_eq!(cpu.regs[reg::SP], 0x1000);
}

#[test]
fn push_fs_with_32_bit_operand_size_moves_sp_by_four() {
    // 66 0F A0 push fs (32-bit): SP -= 4. SDM vol. 2, PUSH: the selector is
    // either zero-extended or written with a 16-bit move, so only the low
    // word is defined. 66 0F A1 pop fs pops four bytes and loads the low
    // word.
    let mut cpu = cpu386(&[0x66, 0x0F, 0xA0, 0x66, 0x0F, 0xA1]);
    cpu.segs[seg::FS] = oxbox::cpu::Segment::real(0x2468);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x0FFC);
    assert_eq!(read16(&cpu, phys(SS, 0x0FFC)), 0x2468);
    write16(&mut cpu, phys(SS, 0x0FFC), 0x1357);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::SP], 0x1000);
    assert_eq!(cpu.segs[seg::FS].selector, 0x1357);
}

// ----- MOVZX / MOVSX ---------------------------------------------------------

#[test]
fn movzx_and_movsx_from_a_byte_into_16_and_32_bits() {
    // BL = 0x80.
    // 0F B6 C3      movzx ax, bl   -> AX = 0x0080 (upper EAX kept)
    // 66 0F BE CB   movsx ecx, bl  -> ECX = 0xFFFFFF80
    // 0F BE D3      movsx dx, bl   -> DX = 0xFF80 (upper EDX kept)
    // 66 0F B6 F3   movzx esi, bl  -> ESI = 0x00000080
    let code = [
        0x0F, 0xB6, 0xC3, 0x66, 0x0F, 0xBE, 0xCB, 0x0F, 0xBE, 0xD3, 0x66, 0x0F, 0xB6, 0xF3,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::AX] = 0xAAAA_AAAA;
    cpu.regs[reg::BX] = 0x0000_0080;
    cpu.regs[reg::DX] = 0x1111_1111;
    cpu.regs[reg::SI] = 0xFFFF_FFFF;
    run(&mut cpu, 4);
    assert_eq!(cpu.regs[reg::AX], 0xAAAA_0080);
    assert_eq!(cpu.regs[reg::CX], 0xFFFF_FF80);
    assert_eq!(cpu.regs[reg::DX], 0x1111_FF80);
    assert_eq!(cpu.regs[reg::SI], 0x0000_0080);
}

#[test]
fn movzx_and_movsx_from_a_word() {
    // BX = 0x8001.
    // 66 0F B7 C3   movzx eax, bx -> 0x00008001
    // 66 0F BF CB   movsx ecx, bx -> 0xFFFF8001
    // 0F BF D3      movsx dx, bx  -> 0x8001 (16 from 16: a plain copy)
    let code = [
        0x66, 0x0F, 0xB7, 0xC3, 0x66, 0x0F, 0xBF, 0xCB, 0x0F, 0xBF, 0xD3,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::BX] = 0x7777_8001;
    cpu.regs[reg::DX] = 0x2222_0000;
    run(&mut cpu, 3);
    assert_eq!(cpu.regs[reg::AX], 0x0000_8001);
    assert_eq!(cpu.regs[reg::CX], 0xFFFF_8001);
    assert_eq!(cpu.regs[reg::DX], 0x2222_8001);
}

#[test]
fn movzx_from_ah_and_movsx_from_memory() {
    // 66 0F B6 CC   movzx ecx, ah   (ModRM CC = 11 001 100: rm 100 is AH
    //                                for a byte operand)
    // 66 0F BE 17   movsx edx, byte [bx]
    let mut cpu = cpu386(&[0x66, 0x0F, 0xB6, 0xCC, 0x66, 0x0F, 0xBE, 0x17]);
    cpu.regs[reg::AX] = 0xFE00;
    cpu.regs[reg::BX] = 0x40;
    cpu.mem_mut().load(phys(DS, 0x40), &[0x90]);
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::CX], 0xFE);
    assert_eq!(cpu.regs[reg::DX], 0xFFFF_FF90);
}

// ----- SETcc -----------------------------------------------------------------

#[test]
fn setcc_after_compare_of_minus_one_with_one() {
    // AX = 0xFFFF, BX = 1; 39 D8  cmp ax, bx  (39 /r: r/m = AX, reg = BX)
    // 0xFFFF - 1 = 0xFFFE: no borrow (CF=0), SF=1, OF=0 (-1 - 1 = -2 fits),
    // ZF=0. Unsigned 65535 > 1; signed -1 < 1.
    // 0F 92 C1   setb cl   CF=1?            -> 0
    // 0F 97 C5   seta ch   CF=0 and ZF=0    -> 1
    // 0F 9C C2   setl dl   SF != OF         -> 1
    // 0F 9F C6   setg dh   ZF=0 and SF=OF   -> 0
    // 0F 9E 06 00 02  setle byte [0x200]     -> 1
    // 0F 9D 06 01 02  setge byte [0x201]     -> 0
    // 0F 94 C4   sete ah                    -> 0
    let code = [
        0x39, 0xD8, 0x0F, 0x92, 0xC1, 0x0F, 0x97, 0xC5, 0x0F, 0x9C, 0xC2, 0x0F, 0x9F, 0xC6, 0x0F,
        0x9E, 0x06, 0x00, 0x02, 0x0F, 0x9D, 0x06, 0x01, 0x02, 0x0F, 0x94, 0xC4,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::AX] = 0xFFFF;
    cpu.regs[reg::BX] = 1;
    cpu.regs[reg::CX] = 0xAAAA;
    cpu.regs[reg::DX] = 0xAAAA;
    cpu.mem_mut().load(phys(DS, 0x200), &[0xAA, 0xAA]);
    run(&mut cpu, 8);
    assert_eq!(cpu.regs[reg::CX] & 0xFF, 0, "setb");
    assert_eq!(cpu.regs[reg::CX] >> 8, 1, "seta");
    assert_eq!(cpu.regs[reg::DX] & 0xFF, 1, "setl");
    assert_eq!(cpu.regs[reg::DX] >> 8, 0, "setg");
    assert_eq!(read8(&cpu, phys(DS, 0x200)), 1, "setle");
    assert_eq!(read8(&cpu, phys(DS, 0x201)), 0, "setge");
    assert_eq!(cpu.regs[reg::AX], 0x00FF, "sete");
}

#[test]
fn setl_and_seto_after_signed_overflow() {
    // AX = 0x8000; 3D 01 00  cmp ax, 1: 0x8000 - 1 = 0x7FFF. -32768 - 1
    // overflows: OF=1, SF=0, so SF != OF and "less" holds (-32768 < 1).
    // 0F 9C C1 setl cl -> 1; 0F 90 C5 seto ch -> 1; 0F 98 C2 sets dl -> 0;
    // 0F 92 C6 setb dh -> 0 (0x8000 >= 1 unsigned).
    let code = [
        0x3D, 0x01, 0x00, 0x0F, 0x9C, 0xC1, 0x0F, 0x90, 0xC5, 0x0F, 0x98, 0xC2, 0x0F, 0x92, 0xC6,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::AX] = 0x8000;
    run(&mut cpu, 5);
    assert_eq!(cpu.regs[reg::CX], 0x0101);
    assert_eq!(cpu.regs[reg::DX], 0x0000);
}

// ----- BT / BTS / BTR / BTC ---------------------------------------------------

#[test]
fn bt_family_with_register_operands_takes_offset_modulo_16() {
    // 0F A3 D8  bt ax, bx   (ModRM D8 = 11 011 000: rm AX, reg BX)
    // AX = 0x0010 (bit 4 set). BX = 20: a register bit base takes the
    // offset modulo the operand size (SDM vol. 2, BT): 20 mod 16 = 4 -> CF=1.
    let mut cpu = cpu386(&[0x0F, 0xA3, 0xD8]);
    cpu.regs[reg::AX] = 0x0010;
    cpu.regs[reg::BX] = 20;
    run(&mut cpu, 1);
    assert!(flag(&cpu, CF));
    assert_eq!(cpu.regs[reg::AX], 0x0010);

    // 0F AB D8 bts ax, bx (BX=1): CF = old bit 1 = 0, AX = 0x12.
    // 0F B3 D8 btr ax, bx (BX=4): CF = 1, AX = 0x02.
    // 0F BB D8 btc ax, bx (BX=15): CF = 0, AX = 0x8002.
    let mut cpu = cpu386(&[0x0F, 0xAB, 0xD8, 0x0F, 0xB3, 0xD8, 0x0F, 0xBB, 0xD8]);
    cpu.regs[reg::AX] = 0x0010;
    cpu.regs[reg::BX] = 1;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x12, false));
    cpu.regs[reg::BX] = 4;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x02, true));
    cpu.regs[reg::BX] = 15;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x8002, false));
}

#[test]
fn bt_family_with_immediate_offsets() {
    // AX = 0x0010.
    // 0F BA E0 24  bt ax, 36   (/4): 36 mod 16 = 4 -> CF=1
    // 0F BA E8 03  bts ax, 3   (/5): CF=0, AX=0x18
    // 0F BA F0 04  btr ax, 4   (/6): CF=1, AX=0x08
    // 0F BA F8 03  btc ax, 3   (/7): CF=1, AX=0x00
    // 66 0F BA E8 1F  bts eax, 31: CF=0, EAX=0x80000000
    let code = [
        0x0F, 0xBA, 0xE0, 0x24, 0x0F, 0xBA, 0xE8, 0x03, 0x0F, 0xBA, 0xF0, 0x04, 0x0F, 0xBA, 0xF8,
        0x03, 0x66, 0x0F, 0xBA, 0xE8, 0x1F,
    ];
    let mut cpu = cpu386(&code);
    cpu.regs[reg::AX] = 0x0010;
    run(&mut cpu, 1);
    assert!(flag(&cpu, CF));
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x18, false));
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x08, true));
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x00, true));
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], flag(&cpu, CF)), (0x8000_0000, false));
}

#[test]
fn bt_immediate_on_memory_stays_within_the_operand() {
    // 0F BA 2F 13  bts word [bx], 19  (ModRM 2F = 00 101 111)
    // An immediate bit offset is taken modulo the operand size even for a
    // memory operand (SDM vol. 2, BT: only a register offset reaches
    // outside): 19 mod 16 = 3 -> bit 3 of the word at [BX]; the next word
    // (where bit 19 of a bit string would be) is untouched.
    let mut cpu = cpu386(&[0x0F, 0xBA, 0x2F, 0x13]);
    cpu.regs[reg::BX] = 0x300;
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(DS, 0x300)), 0x0008);
    assert_eq!(read16(&cpu, phys(DS, 0x302)), 0x0000);
    assert!(!flag(&cpu, CF));
}

#[test]
fn bt_register_offset_reaches_beyond_a_memory_operand() {
    // The memory form with a register offset addresses a bit string
    // (SDM vol. 2, BT, "bit base" = the operand's first byte): bit n is bit
    // (n mod 8) of byte EA + floor(n / 8); the CPU accesses the word at
    // EA + 2*floor(n / 16).
    // 0F AB 05   bts word [di], ax   (ModRM 05 = 00 000 101: [DI], reg AX)
    // DI = 0x300, AX = 35: byte 0x304, bit 3.
    let mut cpu = cpu386(&[0x0F, 0xAB, 0x05]);
    cpu.regs[reg::DI] = 0x300;
    cpu.regs[reg::AX] = 35;
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(DS, 0x304)), 0x08);
    assert_eq!(read16(&cpu, phys(DS, 0x300)), 0);
    assert!(!flag(&cpu, CF));

    // AX = 0x7FFF (+32767): word 2047 -> byte 0x300 + 0xFFF = 0x12FF, bit 7.
    let mut cpu = cpu386(&[0x0F, 0xAB, 0x05]);
    cpu.regs[reg::DI] = 0x300;
    cpu.regs[reg::AX] = 0x7FFF;
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(DS, 0x12FF)), 0x80);
}

#[test]
fn bt_negative_register_offset_reaches_below_a_memory_operand() {
    // The register offset is signed: AX = 0xFFFF = -1 names bit 7 of the
    // byte before the operand (byte EA - 1), i.e. bit 15 of the word at
    // EA - 2.
    // 0F A3 05 bt [di], ax   -> CF = bit 7 of DS:02FF = 1
    // 0F B3 05 btr [di], ax  -> clears it, CF=1
    // 0F A3 05 bt [di], ax   -> CF=0
    let mut cpu = cpu386(&[0x0F, 0xA3, 0x05, 0x0F, 0xB3, 0x05, 0x0F, 0xA3, 0x05]);
    cpu.regs[reg::DI] = 0x300;
    cpu.regs[reg::AX] = 0xFFFF;
    cpu.mem_mut().load(phys(DS, 0x2FE), &[0x11, 0x81]);
    run(&mut cpu, 1);
    assert!(flag(&cpu, CF));
    run(&mut cpu, 1);
    assert!(flag(&cpu, CF));
    assert_eq!(read8(&cpu, phys(DS, 0x2FF)), 0x01);
    assert_eq!(read8(&cpu, phys(DS, 0x2FE)), 0x11);
    run(&mut cpu, 1);
    assert!(!flag(&cpu, CF));
}

#[test]
fn bt_32_bit_register_offsets_address_dwords_both_ways() {
    // 66 0F AB 05  bts dword [di], eax
    // EAX = 65: dword floor(65/32) = 2 -> DI + 8, bit 1 -> byte 0x308 bit 1.
    // EAX = -33: floor(-33/32) = -2 -> DI - 8, bit -33 + 64 = 31 -> byte
    // DI - 5 = 0x2FB, bit 7 (as a bit string: byte floor(-33/8) = -5,
    // bit -33 + 40 = 7; both views agree).
    // 66 0F BB 05  btc dword [di], eax with EAX = -33 toggles it back.
    let mut cpu = cpu386(&[
        0x66, 0x0F, 0xAB, 0x05, 0x66, 0x0F, 0xAB, 0x05, 0x66, 0x0F, 0xBB, 0x05,
    ]);
    cpu.regs[reg::DI] = 0x300;
    cpu.regs[reg::AX] = 65;
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(DS, 0x308)), 0x02);
    cpu.regs[reg::AX] = (-33i32) as u32;
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(DS, 0x2FB)), 0x80);
    assert!(!flag(&cpu, CF));
    run(&mut cpu, 1);
    assert_eq!(read8(&cpu, phys(DS, 0x2FB)), 0x00);
    assert!(flag(&cpu, CF));
}

// ----- BSF / BSR -------------------------------------------------------------

#[test]
fn bsf_and_bsr_find_the_lowest_and_highest_set_bits() {
    // BX = 0x0120 (bits 5 and 8).
    // 0F BC C3 bsf ax, bx -> 5, ZF=0; 0F BD CB bsr cx, bx -> 8, ZF=0.
    let mut cpu = cpu386(&[0x0F, 0xBC, 0xC3, 0x0F, 0xBD, 0xCB]);
    cpu.regs[reg::BX] = 0x0120;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 5);
    assert!(!flag(&cpu, ZF));
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::CX], 8);
    assert!(!flag(&cpu, ZF));
}

#[test]
fn bsf_and_bsr_32_bit() {
    // EBX = 0x80000001: 66 0F BC C3 bsf eax, ebx -> 0; 66 0F BD CB bsr ecx,
    // ebx -> 31.
    let mut cpu = cpu386(&[0x66, 0x0F, 0xBC, 0xC3, 0x66, 0x0F, 0xBD, 0xCB]);
    cpu.regs[reg::AX] = 0xFFFF_FFFF;
    cpu.regs[reg::BX] = 0x8000_0001;
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0);
    assert_eq!(cpu.regs[reg::CX], 31);
}

#[test]
fn bsf_and_bsr_of_zero_set_zf_and_leave_the_destination() {
    // Source 0: ZF=1 and the destination is undefined per Intel; the 386
    // and later leave it unchanged (AMD documents this; every Intel part
    // does it), which is what software such as Linux relies on.
    let mut cpu = cpu386(&[0x0F, 0xBC, 0xC3, 0x66, 0x0F, 0xBD, 0xCB]);
    cpu.regs[reg::AX] = 0x1234_5678;
    cpu.regs[reg::CX] = 0x9ABC_DEF0;
    run(&mut cpu, 1);
    assert!(flag(&cpu, ZF));
    assert_eq!(cpu.regs[reg::AX], 0x1234_5678);
    run(&mut cpu, 1);
    assert!(flag(&cpu, ZF));
    assert_eq!(cpu.regs[reg::CX], 0x9ABC_DEF0);
}

#[test]
fn bsf_from_memory() {
    // 0F BC 07 bsf ax, [bx]: word 0x8000 -> 15.
    let mut cpu = cpu386(&[0x0F, 0xBC, 0x07]);
    cpu.regs[reg::BX] = 0x80;
    write16(&mut cpu, phys(DS, 0x80), 0x8000);
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 15);
}

// ----- SHLD / SHRD -----------------------------------------------------------

#[test]
fn shld_and_shrd_by_immediate() {
    // 0F A4 D8 04  shld ax, bx, 4   (ModRM D8: rm AX, reg BX)
    // AX = 0x1234, BX = 0xABCD: AX = 0x234 << 4 | 0xA = 0x234A. CF = the
    // last bit shifted out of AX = bit 16-4 = 12 of 0x1234 = 1. SF=0,
    // ZF=0, low byte 0x4A has three ones: PF=0.
    let mut cpu = cpu386(&[0x0F, 0xA4, 0xD8, 0x04]);
    cpu.regs[reg::AX] = 0x1234;
    cpu.regs[reg::BX] = 0xABCD;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x234A);
    assert_eq!(cpu.regs[reg::BX], 0xABCD);
    assert!(flag(&cpu, CF) && !flag(&cpu, SF) && !flag(&cpu, ZF) && !flag(&cpu, PF));

    // 0F AC D8 04  shrd ax, bx, 4: AX = 0x1234 >> 4 | (BX & 0xF) << 12 =
    // 0x0123 | 0xD000 = 0xD123. CF = bit 3 of 0x1234 = 0. SF=1.
    let mut cpu = cpu386(&[0x0F, 0xAC, 0xD8, 0x04]);
    cpu.regs[reg::AX] = 0x1234;
    cpu.regs[reg::BX] = 0xABCD;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xD123);
    assert!(!flag(&cpu, CF) && flag(&cpu, SF));
}

#[test]
fn shld_and_shrd_by_one_set_of_on_a_sign_change() {
    // SDM vol. 2, SHLD/SHRD: "For a 1-bit shift, the OF flag is set if a
    // sign change occurred".
    // shld ax, bx, 1 with AX = 0x4000, BX = 0x8000: AX = 0x8001, CF = old
    // bit 15 = 0, sign 0 -> 1: OF=1.
    let mut cpu = cpu386(&[0x0F, 0xA4, 0xD8, 0x01]);
    cpu.regs[reg::AX] = 0x4000;
    cpu.regs[reg::BX] = 0x8000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8001);
    assert!(!flag(&cpu, CF) && flag(&cpu, OF));

    // shrd ax, bx, 1 with AX = 0x0001, BX = 0x0001: AX = 0x8000, CF = old
    // bit 0 = 1, sign 0 -> 1: OF=1.
    let mut cpu = cpu386(&[0x0F, 0xAC, 0xD8, 0x01]);
    cpu.regs[reg::AX] = 0x0001;
    cpu.regs[reg::BX] = 0x0001;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));

    // shld ax, bx, 1 with AX = 0xC000, BX = 0: AX = 0x8000, CF = 1, sign
    // stays 1: OF=0.
    let mut cpu = cpu386(&[0x0F, 0xA4, 0xD8, 0x01]);
    cpu.regs[reg::AX] = 0xC000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000);
    assert!(flag(&cpu, CF) && !flag(&cpu, OF));
}

#[test]
fn shld_and_shrd_by_cl_mask_the_count_to_5_bits() {
    // 66 0F A5 D8  shld eax, ebx, cl with CL = 36: 36 mod 32 = 4.
    // EAX = 0x12345678, EBX = 0x9ABCDEF0 -> EAX = 0x23456789, CF = bit
    // 32-4 = 28 of EAX = 1.
    let mut cpu = cpu386(&[0x66, 0x0F, 0xA5, 0xD8]);
    cpu.regs[reg::AX] = 0x1234_5678;
    cpu.regs[reg::BX] = 0x9ABC_DEF0;
    cpu.regs[reg::CX] = 36;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x2345_6789);
    assert!(flag(&cpu, CF));

    // 66 0F AD D8  shrd eax, ebx, cl with CL = 40 -> 8:
    // EAX = 0x12345678 >> 8 | 0xF0 << 24 = 0xF0123456, CF = bit 7 of EAX = 0.
    let mut cpu = cpu386(&[0x66, 0x0F, 0xAD, 0xD8]);
    cpu.regs[reg::AX] = 0x1234_5678;
    cpu.regs[reg::BX] = 0x9ABC_DEF0;
    cpu.regs[reg::CX] = 40;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xF012_3456);
    assert!(!flag(&cpu, CF));
}

#[test]
fn shld_by_a_count_of_32_changes_nothing() {
    // F9 stc; 66 0F A5 D8 shld eax, ebx, cl with CL = 32: masked to 0, so
    // neither the operand nor any flag changes (SDM: "If the count operand
    // is 0, the flags are not affected").
    let mut cpu = cpu386(&[0xF9, 0x66, 0x0F, 0xA5, 0xD8]);
    cpu.regs[reg::AX] = 0x1234_5678;
    cpu.regs[reg::BX] = 0x9ABC_DEF0;
    cpu.regs[reg::CX] = 32;
    run(&mut cpu, 1);
    let before = cpu.flags_word();
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x1234_5678);
    assert_eq!(cpu.flags_word(), before);
}

#[test]
fn shld_on_a_memory_destination() {
    // 0F A4 07 08  shld [bx], ax, 8: word 0x1234 with AX = 0xABCD ->
    // 0x34AB; CF = bit 8 of 0x1234 = 0.
    let mut cpu = cpu386(&[0x0F, 0xA4, 0x07, 0x08]);
    cpu.regs[reg::AX] = 0xABCD;
    cpu.regs[reg::BX] = 0x60;
    write16(&mut cpu, phys(DS, 0x60), 0x1234);
    run(&mut cpu, 1);
    assert_eq!(read16(&cpu, phys(DS, 0x60)), 0x34AB);
    assert!(!flag(&cpu, CF));
}

// ----- Jcc rel16 -------------------------------------------------------------

#[test]
fn jcc_rel16_forward_taken_and_not_taken() {
    // 0F 84 00 10  je +0x1000: the next IP is 0x104; taken -> 0x1104.
    let mut cpu = cpu386(&[0x0F, 0x84, 0x00, 0x10]);
    cpu.write_flags(ZF, ZF);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x1104);

    let mut cpu = cpu386(&[0x0F, 0x84, 0x00, 0x10]);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x104);
}

#[test]
fn jcc_rel16_backward() {
    // 0F 85 FC FE  jne -0x104 (ZF=0): 0x104 - 0x104 = 0x0000.
    let mut cpu = cpu386(&[0x0F, 0x85, 0xFC, 0xFE]);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x0000);
}

#[test]
fn jcc_rel16_wraps_ip_at_64k_both_ways() {
    // SDM vol. 2, Jcc: "IF OperandSize = 16 THEN tempEIP <- tempEIP AND
    // 0000FFFFH" before the limit check, so 16-bit targets wrap.
    // Forward: code at 1000:FFF0, 0F 8C 20 00 jl +0x20 with SF != OF: the
    // next IP is 0xFFF4, 0xFFF4 + 0x20 = 0x10014 -> IP = 0x0014.
    let mut r = regs();
    r.cs = 0x1000;
    r.ip = 0xFFF0;
    r.flags = SF as u16;
    let mut cpu = setup_with(M, &r, &[0x0F, 0x8C, 0x20, 0x00]);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x0014);

    // Backward: code at 1000:0010, 0F 8F E0 FF jg -0x20 (ZF=0, SF=OF):
    // 0x14 - 0x20 = -0xC -> IP = 0xFFF4.
    let mut r = regs();
    r.cs = 0x1000;
    r.ip = 0x0010;
    let mut cpu = setup_with(M, &r, &[0x0F, 0x8F, 0xE0, 0xFF]);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0xFFF4);
    assert_eq!(cpu.segs[seg::CS].selector, 0x1000);
}

#[test]
fn a_32_bit_relative_jump_in_real_mode_does_not_wrap_and_faults_below_zero() {
    // With operand size 32 the target is not truncated to 16 bits (SDM
    // vol. 2, JMP and Jcc: the AND 0000FFFFH applies to OperandSize = 16
    // only), so a target outside 0..FFFF is beyond the CS limit: #GP(0).
    // 66 EB 80 at 1000:0010: 0x13 - 0x80 < 0 -> #GP, IP stays 0x0010.
    let mut r = regs();
    r.cs = 0x1000;
    r.ip = 0x0010;
    let mut cpu = setup_with(M, &r, &[0x66, 0xEB, 0x80]);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu).0, 0x0010);

    // EB 80 (16-bit) from 1000:0010 wraps: 0x12 - 0x80 -> 0xFF92.
    let mut cpu = setup_with(M, &r, &[0xEB, 0x80]);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0xFF92);

    // 66 0F 84 F0 FF 00 00 je +0xFFF0 (ZF=1) at 0000:0100: 0x107 + 0xFFF0 =
    // 0x100F7 -> #GP rather than a wrap to 0x00F7.
    let mut cpu = cpu386(&[0x66, 0x0F, 0x84, 0xF0, 0xFF, 0x00, 0x00]);
    cpu.write_flags(ZF, ZF);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu).0, CODE_IP);
}

#[test]
fn jcc_rel32_with_operand_size_prefix() {
    // 66 0F 84 10 00 00 00  je +0x10 (32-bit displacement): next IP 0x107,
    // target 0x117.
    let mut cpu = cpu386(&[0x66, 0x0F, 0x84, 0x10, 0x00, 0x00, 0x00]);
    cpu.write_flags(ZF, ZF);
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x117);
}

// ----- IMUL / MUL / DIV -------------------------------------------------------

#[test]
fn imul_three_operand_with_byte_and_word_immediates() {
    // 6B C3 FD  imul ax, bx, -3 (BX = 7): -21 = 0xFFEB, fits -> CF=OF=0.
    let mut cpu = cpu386(&[0x6B, 0xC3, 0xFD]);
    cpu.regs[reg::BX] = 7;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0xFFEB);
    assert!(!flag(&cpu, CF) && !flag(&cpu, OF));

    // 69 C3 00 01  imul ax, bx, 0x100 (BX = 0x100): 0x10000 does not fit in
    // 16 signed bits -> AX = 0 (truncated), CF=OF=1 (SDM vol. 2, IMUL).
    let mut cpu = cpu386(&[0x69, 0xC3, 0x00, 0x01]);
    cpu.regs[reg::BX] = 0x100;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));
}

#[test]
fn imul_sets_cf_of_exactly_when_the_signed_result_is_truncated() {
    // 6B C3 02 with BX = 0x4000: 16384 * 2 = 32768 > 32767 -> truncated to
    // 0x8000, CF=OF=1.
    let mut cpu = cpu386(&[0x6B, 0xC3, 0x02]);
    cpu.regs[reg::BX] = 0x4000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));

    // BX = 0xC000 (-16384) * 2 = -32768 fits exactly -> CF=OF=0.
    let mut cpu = cpu386(&[0x6B, 0xC3, 0x02]);
    cpu.regs[reg::BX] = 0xC000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000);
    assert!(!flag(&cpu, CF) && !flag(&cpu, OF));
}

#[test]
fn imul_two_operand_0f_af() {
    // 0F AF C3 imul ax, bx: AX = -1, BX = -32768 -> +32768 does not fit:
    // AX = 0x8000, CF=OF=1.
    let mut cpu = cpu386(&[0x0F, 0xAF, 0xC3]);
    cpu.regs[reg::AX] = 0xFFFF;
    cpu.regs[reg::BX] = 0x8000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));

    // 66 0F AF C3 imul eax, ebx: 0x10000 * 0x8000 = 0x80000000 = +2^31,
    // which does not fit in 32 signed bits -> CF=OF=1.
    let mut cpu = cpu386(&[0x66, 0x0F, 0xAF, 0xC3]);
    cpu.regs[reg::AX] = 0x1_0000;
    cpu.regs[reg::BX] = 0x8000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000_0000);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));

    // 66 6B C3 FF imul eax, ebx, -1: EBX = 0x7FFFFFFF -> -0x7FFFFFFF =
    // 0x80000001 fits -> CF=OF=0.
    let mut cpu = cpu386(&[0x66, 0x6B, 0xC3, 0xFF]);
    cpu.regs[reg::BX] = 0x7FFF_FFFF;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0x8000_0001);
    assert!(!flag(&cpu, CF) && !flag(&cpu, OF));

    // 66 69 C3 00 00 01 00 imul eax, ebx, 0x10000 with EBX = 0x10000:
    // 2^32 -> EAX = 0, CF=OF=1.
    let mut cpu = cpu386(&[0x66, 0x69, 0xC3, 0x00, 0x00, 0x01, 0x00]);
    cpu.regs[reg::BX] = 0x1_0000;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], 0);
    assert!(flag(&cpu, CF) && flag(&cpu, OF));
    assert_eq!(cpu.eip, 0x107);
}

#[test]
fn mul_32_bit_produces_edx_eax() {
    // 66 F7 E3 mul ebx (F7 /4). 0xFFFFFFFF^2 = 0xFFFFFFFE_00000001:
    // EDX = 0xFFFFFFFE, EAX = 1; the upper half is non-zero: CF=OF=1.
    let mut cpu = cpu386(&[0x66, 0xF7, 0xE3]);
    cpu.regs[reg::AX] = 0xFFFF_FFFF;
    cpu.regs[reg::BX] = 0xFFFF_FFFF;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::DX], cpu.regs[reg::AX]), (0xFFFF_FFFE, 1));
    assert!(flag(&cpu, CF) && flag(&cpu, OF));

    // 0x10000 * 0x1000 = 0x10000000: EDX = 0 -> CF=OF=0.
    let mut cpu = cpu386(&[0x66, 0xF7, 0xE3]);
    cpu.regs[reg::AX] = 0x1_0000;
    cpu.regs[reg::BX] = 0x1000;
    cpu.regs[reg::DX] = 0x5555_5555;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::DX], cpu.regs[reg::AX]), (0, 0x1000_0000));
    assert!(!flag(&cpu, CF) && !flag(&cpu, OF));
}

#[test]
fn imul_one_operand_32_bit_sign_extends_into_edx() {
    // 66 F7 EB imul ebx (F7 /5): -2 * 3 = -6 -> EDX:EAX =
    // 0xFFFFFFFF:FFFFFFFA; EDX is just the sign extension of EAX, so
    // CF=OF=0.
    let mut cpu = cpu386(&[0x66, 0xF7, 0xEB]);
    cpu.regs[reg::AX] = (-2i32) as u32;
    cpu.regs[reg::BX] = 3;
    run(&mut cpu, 1);
    assert_eq!(
        (cpu.regs[reg::DX], cpu.regs[reg::AX]),
        (0xFFFF_FFFF, 0xFFFF_FFFA)
    );
    assert!(!flag(&cpu, CF) && !flag(&cpu, OF));
}

#[test]
fn div_and_idiv_32_bit() {
    // 66 F7 F3 div ebx (F7 /6): EDX:EAX = 2^32, EBX = 3 -> quotient
    // 0x55555555 (3 * 0x55555555 = 0xFFFFFFFF), remainder 1.
    let mut cpu = cpu386(&[0x66, 0xF7, 0xF3]);
    cpu.regs[reg::DX] = 1;
    cpu.regs[reg::AX] = 0;
    cpu.regs[reg::BX] = 3;
    run(&mut cpu, 1);
    assert_eq!((cpu.regs[reg::AX], cpu.regs[reg::DX]), (0x5555_5555, 1));

    // 66 F7 FB idiv ebx (F7 /7): EDX:EAX = -7, EBX = 2 -> quotient -3
    // (truncated toward zero), remainder -1 (the dividend's sign).
    let mut cpu = cpu386(&[0x66, 0xF7, 0xFB]);
    cpu.regs[reg::DX] = 0xFFFF_FFFF;
    cpu.regs[reg::AX] = (-7i32) as u32;
    cpu.regs[reg::BX] = 2;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::AX], (-3i32) as u32);
    assert_eq!(cpu.regs[reg::DX], (-1i32) as u32);
}

#[test]
fn div_32_bit_quotient_overflow_raises_de_at_the_faulting_instruction() {
    // EDX = EBX = 5: the quotient is at least 2^32 -> #DE (0). From the 286
    // on, the saved CS:IP points at the DIV itself (SDM vol. 3 §6.15,
    // interrupt 0 is a fault).
    let mut cpu = cpu386(&[0x66, 0xF7, 0xF3]);
    cpu.regs[reg::DX] = 5;
    cpu.regs[reg::BX] = 5;
    assert_eq!(step_fault(&mut cpu), Some(vector::DE));
    let (ip, cs, _) = interrupt_frame(&cpu);
    assert_eq!((cs, ip), (CODE_CS, CODE_IP));
    assert_eq!(cpu.regs[reg::DX], 5);
}

#[test]
fn cwde_and_cdq() {
    // 66 98 cwde: AX = 0x8000 (upper half garbage) -> EAX = 0xFFFF8000.
    // 66 99 cdq: EAX negative -> EDX = 0xFFFFFFFF.
    let mut cpu = cpu386(&[0x66, 0x98, 0x66, 0x99]);
    cpu.regs[reg::AX] = 0x1234_8000;
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::AX], 0xFFFF_8000);
    assert_eq!(cpu.regs[reg::DX], 0xFFFF_FFFF);

    // EAX = 0x7FFF00FF: cdq -> EDX = 0. 98 cbw (no prefix) with AL = 0xFF
    // sets only AX = 0xFFFF and keeps the upper half.
    let mut cpu = cpu386(&[0x66, 0x99, 0x98]);
    cpu.regs[reg::AX] = 0x7FFF_00FF;
    cpu.regs[reg::DX] = 0x1357_9BDF;
    run(&mut cpu, 2);
    assert_eq!(cpu.regs[reg::DX], 0);
    assert_eq!(cpu.regs[reg::AX], 0x7FFF_FFFF);
}

// ----- LOOP / JCXZ with 0x67 ---------------------------------------------------

#[test]
fn loop_with_address_size_prefix_counts_ecx() {
    // ECX = 0x00010001.
    // E2 FE loop $: counts CX: 1 - 1 = 0 -> falls through, ECX = 0x00010000
    // (the upper half is not part of the count).
    let mut cpu = cpu386(&[0xE2, 0xFE]);
    cpu.regs[reg::CX] = 0x0001_0001;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::CX], 0x0001_0000);
    assert_eq!(cpu.eip, 0x102);

    // 67 E2 FD loop $ (3 bytes): counts ECX (SDM vol. 2, LOOP: "the address
    // size attribute determines whether CX or ECX is used"): 0x10001 - 1 =
    // 0x10000 != 0 -> taken back to 0x100.
    let mut cpu = cpu386(&[0x67, 0xE2, 0xFD]);
    cpu.regs[reg::CX] = 0x0001_0001;
    run(&mut cpu, 1);
    assert_eq!(cpu.regs[reg::CX], 0x0001_0000);
    assert_eq!(cpu.eip, 0x100);
}

#[test]
fn jecxz_with_address_size_prefix_tests_ecx() {
    // ECX = 0x00010000: E3 10 jcxz tests CX = 0 -> taken (0x102 + 0x10);
    // 67 E3 10 jecxz tests ECX != 0 -> not taken.
    let mut cpu = cpu386(&[0xE3, 0x10]);
    cpu.regs[reg::CX] = 0x0001_0000;
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x112);

    let mut cpu = cpu386(&[0x67, 0xE3, 0x10]);
    cpu.regs[reg::CX] = 0x0001_0000;
    run(&mut cpu, 1);
    assert_eq!(cpu.eip, 0x103);
}

// ----- far transfers with a 32-bit offset ---------------------------------------

#[test]
fn far_jump_with_32_bit_offset_within_the_limit_loads_cs_and_eip() {
    // 66 EA 34 12 00 00 00 20   jmp far 2000:00001234 (ptr16:32).
    let mut cpu = cpu386(&[0x66, 0xEA, 0x34, 0x12, 0x00, 0x00, 0x00, 0x20]);
    run(&mut cpu, 1);
    assert_eq!(cpu.segs[seg::CS].selector, 0x2000);
    assert_eq!(cpu.segs[seg::CS].base, 0x20000);
    assert_eq!(cpu.eip, 0x1234);
}

#[test]
fn far_jump_beyond_the_real_mode_limit_raises_gp() {
    // 66 EA 00 00 01 00 00 20   jmp far 2000:00010000. SDM vol. 2, JMP
    // (real-address mode): "IF tempEIP is beyond code segment limit THEN
    // #GP(0)"; the limit is 0xFFFF, so CS:IP stay on the JMP.
    let mut cpu = cpu386(&[0x66, 0xEA, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20]);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu).0, CODE_IP);
    assert_eq!(interrupt_frame(&cpu).1, CODE_CS);
}

#[test]
fn far_call_beyond_the_limit_faults_before_pushing() {
    // 66 9A 00 00 01 00 00 20   call far 2000:00010000. SDM vol. 2, CALL
    // (real-address mode, 32-bit operand): "IF DEST[31:16] is not zero THEN
    // #GP(0)" comes before the pushes. The only words on the stack are the
    // exception's FLAGS, CS, IP (SP = 0x1000 - 6); the CALL's 8 bytes would
    // have reached down to SS:0FF8.
    let mut cpu = cpu386(&[0x66, 0x9A, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20]);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(cpu.regs[reg::SP], 0x0FFA);
    assert_eq!(read16(&cpu, phys(SS, 0x0FF8)), 0);
    assert_eq!(interrupt_frame(&cpu).0, CODE_IP);
}

#[test]
fn far_return_and_iret_to_an_offset_beyond_the_limit_raise_gp() {
    // 66 CB retf (32-bit): pops EIP = 0x00010000 and CS = 0x2000; SDM vol.
    // 2, RET (real-address mode): "IF tempEIP not within code segment
    // limits THEN #GP(0)". 66 CF iretd likewise ("#GP If the return
    // instruction pointer is not within the return code segment limit").
    for code in [[0x66, 0xCB], [0x66, 0xCF]] {
        let mut r = regs();
        r.sp = 0x0F00;
        let mut cpu = setup_with(M, &r, &code);
        write32(&mut cpu, phys(SS, 0x0F00), 0x0001_0000);
        write32(&mut cpu, phys(SS, 0x0F04), 0x2000);
        write32(&mut cpu, phys(SS, 0x0F08), 0x0002);
        assert_eq!(step_fault(&mut cpu), Some(vector::GP), "{code:02X?}");
        // Nothing was popped: the frame sits just below 0x0F00.
        assert_eq!(cpu.regs[reg::SP], 0x0F00 - 6, "{code:02X?}");
        assert_eq!(interrupt_frame(&cpu).1, CODE_CS, "{code:02X?}");
    }
}

#[test]
fn an_instruction_running_past_offset_ffff_raises_gp() {
    // 80386 PRM §14.7 item 8 ("Sequential execution across offset 65,535"):
    // the 8086 wraps to offset 0, the 386 raises exception 13. B8 xx xx at
    // 1000:FFFE needs its last immediate byte from offset 0x10000.
    let mut r = regs();
    r.cs = 0x1000;
    r.ip = 0xFFFE;
    let mut cpu = setup_with(M, &r, &[0xB8, 0x34]);
    assert_eq!(step_fault(&mut cpu), Some(vector::GP));
    assert_eq!(interrupt_frame(&cpu).0, 0xFFFE);
    assert_eq!(cpu.regs[reg::AX], 0);
}

// ----- not on the 286 -------------------------------------------------------------

#[test]
fn the_286_has_no_operand_size_prefix_0x66_is_invalid() {
    // The 80286 opcode map has no 0x66: it raises #UD (6) and the saved
    // CS:IP points at the 0x66 byte (80286 PRM, interrupt 6 is a fault).
    // 66 B8 01 00 00 00 would be "mov eax, 1" on a 386.
    let mut cpu = setup(CpuModel::I80286, &[0x66, 0xB8, 0x01, 0x00, 0x00, 0x00]);
    assert_eq!(step_fault(&mut cpu), Some(vector::UD));
    let (ip, cs, _) = interrupt_frame(&cpu);
    assert_eq!((cs, ip), (CODE_CS, CODE_IP));
    assert_eq!(cpu.regs[reg::AX], 0);
    assert_eq!(cpu.regs[reg::SP], (SP - 6) as u32);
}

#[test]
fn the_286_rejects_the_other_386_prefixes_and_opcodes() {
    // 67 (address size), 64/65 (FS/GS), 0F A0 (push fs), 0F B6 (movzx),
    // 0F 84 (jcc rel16), 0F 94 (setcc): all #UD on the 286.
    for code in [
        &[0x67, 0x8B, 0x03][..],
        &[0x64, 0x8B, 0x07],
        &[0x65, 0x8B, 0x07],
        &[0x0F, 0xA0],
        &[0x0F, 0xB6, 0xC3],
        &[0x0F, 0x84, 0x00, 0x00],
        &[0x0F, 0x94, 0xC0],
    ] {
        let mut cpu = setup(CpuModel::I80286, code);
        assert_eq!(step_fault(&mut cpu), Some(vector::UD), "{code:02X?}");
        assert_eq!(interrupt_frame(&cpu).0, CODE_IP, "{code:02X?}");
    }
}

#[test]
fn the_microcode_signature_msr_reads_zero_after_the_documented_sequence() {
    // Linux's early_init_intel: WRMSR 8Bh with 0, CPUID(1), RDMSR 8Bh; the
    // high half is the loaded microcode revision (none: 0). SDM vol. 4
    // table 2-3, IA32_BIOS_SIGN_ID. An MSR the CPU lacks would raise #GP.
    let code = [
        0x66, 0xB9, 0x8B, 0x00, 0x00, 0x00, // mov ecx, 0x8B
        0x66, 0x31, 0xC0, // xor eax, eax
        0x66, 0x31, 0xD2, // xor edx, edx
        0x0F, 0x30, // wrmsr
        0x66, 0xB8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
        0x0F, 0xA2, // cpuid
        0x66, 0xB9, 0x8B, 0x00, 0x00, 0x00, // mov ecx, 0x8B
        0x66, 0xBA, 0xFF, 0xFF, 0xFF, 0xFF, // mov edx, -1
        0x0F, 0x32, // rdmsr
    ];
    let mut cpu = common::setup(CpuModel::PentiumPro, &code);
    run(&mut cpu, 9);
    assert_eq!(cpu.regs[reg::DX], 0);
}

// ----- segment types do not apply in real mode --------------------------------

#[test]
fn real_mode_writes_through_cs_after_a_return_from_protected_mode() {
    // A bootloader back from protected mode through a 16-bit code segment
    // (execute/read: its cache grants no writes) far-jumps to a real-mode
    // CS and then stores through a CS: override, as ISOLINUX does. Real
    // mode checks no segment types (SDM vol. 3 §20.1.1), so the store
    // happens.
    //   EA 05 01 00 00        jmp far 0000:0105
    //   2E C6 06 00 02 AB     mov byte [cs:0x0200], 0xAB
    let mut cpu = cpu386(&[
        0xEA, 0x05, 0x01, 0x00, 0x00, 0x2E, 0xC6, 0x06, 0x00, 0x02, 0xAB,
    ]);
    cpu.segs[seg::CS].rights = oxbox::cpu::segment::rights::READ;
    run(&mut cpu, 1);
    assert_eq!(step_fault(&mut cpu), None);
    assert_eq!(read8(&cpu, 0x200), 0xAB);
}

// Clearing CR0.PE, or any real-mode load, makes a segment readable and
// writable again: syslinux writes through CS right after SeaBIOS's 32-bit
// services return to real mode.
#[test]
fn clearing_pe_makes_every_cached_segment_writable_again() {
    let code = [
        0x0F, 0x20, 0xC0, // mov eax, cr0
        0x24, 0xFE, // and al, 0xFE
        0x0F, 0x22, 0xC0, // mov cr0, eax
        0x2E, 0xC6, 0x06, 0x00, 0x02, 0x55, // mov byte [cs:0x200], 0x55
        0xC6, 0x06, 0x10, 0x00, 0x66, // mov byte [0x10], 0x66 (DS)
    ];
    let mut cpu = common::setup(CpuModel::PentiumPro, &code);
    cpu.set_cr0(cpu.cr0 | 1).unwrap();
    // As if CS held an execute/read code segment and DS a null selector
    // when the program left protected mode.
    cpu.segs[seg::CS].rights = oxbox::cpu::segment::rights::READ;
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
    let mut cpu = common::setup(CpuModel::PentiumPro, &code);
    // ES still caches a null selector from protected mode.
    cpu.segs[seg::ES].rights = 0;
    run(&mut cpu, 3);
    assert_eq!(read8(&cpu, phys(DS, 0x20)), 0x77);
}
