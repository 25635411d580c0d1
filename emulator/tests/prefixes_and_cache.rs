//! Prefix rules that differ between models, and the decode cache staying
//! coherent with self-modifying code.

use oxbox::cpu::{reg, Cpu, CpuModel, Regs16};
use oxbox_devices::NullBus;

/// A CPU with `code` at 0000:0100, a stack at 0000:8000 and an IVT whose
/// every vector points at a distinct HLT at 0000:0400 + vector.
fn cpu_with(model: CpuModel, code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(model, 1 << 20);
    for v in 0..32u32 {
        let target = 0x400 + v;
        cpu.mem_mut()
            .load(v * 4, &[target as u8, (target >> 8) as u8, 0, 0]);
        cpu.mem_mut().write_u8(target, 0xF4);
    }
    cpu.mem_mut().load(0x100, code);
    cpu.set_real_mode_regs(&Regs16 {
        ip: 0x100,
        sp: 0x8000,
        ..Regs16::default()
    });
    cpu
}

/// Step once and return the vector of the exception delivered, if any.
fn step_vector(cpu: &mut Cpu) -> Option<u8> {
    cpu.step(&mut NullBus).exception.map(|(v, _)| v)
}

#[test]
fn lock_on_a_register_destination_is_invalid_from_the_386_on() {
    // LOCK ADD AX, BX (F0 01 D8)
    let code = [0xF0, 0x01, 0xD8];
    assert_eq!(step_vector(&mut cpu_with(CpuModel::I80386, &code)), Some(6));
    assert_eq!(
        step_vector(&mut cpu_with(CpuModel::PentiumPro, &code)),
        Some(6)
    );
    // The 286 asserts LOCK# and executes it.
    let mut cpu = cpu_with(CpuModel::I80286, &code);
    cpu.regs[reg::BX] = 5;
    assert_eq!(step_vector(&mut cpu), None);
    assert_eq!(cpu.regs[reg::AX], 5);
}

#[test]
fn lock_on_a_non_lockable_instruction_is_invalid_from_the_386_on() {
    // LOCK MOV [0x200], AX (F0 A3 00 02) and LOCK CMP [BX], AX (F0 39 07).
    assert_eq!(
        step_vector(&mut cpu_with(CpuModel::I80386, &[0xF0, 0xA3, 0x00, 0x02])),
        Some(6)
    );
    assert_eq!(
        step_vector(&mut cpu_with(CpuModel::I80386, &[0xF0, 0x39, 0x07])),
        Some(6)
    );
    // LOCK ADD [BX], AX is the documented use.
    let mut cpu = cpu_with(CpuModel::I80386, &[0xF0, 0x01, 0x07]);
    cpu.regs[reg::BX] = 0x200;
    cpu.regs[reg::AX] = 7;
    assert_eq!(step_vector(&mut cpu), None);
    assert_eq!(cpu.mem().read_u8(0x200), 7);
}

#[test]
fn the_286_limits_an_instruction_to_ten_bytes() {
    // Nine segment prefixes and NOP: 10 bytes, legal.
    let mut code = vec![0x26; 9];
    code.push(0x90);
    assert_eq!(step_vector(&mut cpu_with(CpuModel::I80286, &code)), None);
    // Ten prefixes and NOP: 11 bytes, #GP (13).
    let mut code = vec![0x26; 10];
    code.push(0x90);
    assert_eq!(
        step_vector(&mut cpu_with(CpuModel::I80286, &code)),
        Some(13)
    );
    // The 386 allows 15.
    assert_eq!(step_vector(&mut cpu_with(CpuModel::I80386, &code)), None);
    let mut code = vec![0x26; 15];
    code.push(0x90);
    assert_eq!(
        step_vector(&mut cpu_with(CpuModel::I80386, &code)),
        Some(13)
    );
}

#[test]
fn a_write_to_an_already_executed_instruction_is_seen_when_it_runs_again() {
    // 0100: MOV AX, 1111h      B8 11 11
    // 0103: MOV BYTE [0101], 22h   C6 06 01 01 22
    // 0108: JMP 0100           EB F6
    let code = [0xB8, 0x11, 0x11, 0xC6, 0x06, 0x01, 0x01, 0x22, 0xEB, 0xF6];
    for model in CpuModel::ALL {
        let mut cpu = cpu_with(model, &code);
        cpu.step(&mut NullBus);
        assert_eq!(cpu.regs[reg::AX] & 0xFFFF, 0x1111, "{model}");
        cpu.step(&mut NullBus); // patch the immediate
        cpu.step(&mut NullBus); // jump back
        cpu.step(&mut NullBus); // the cached MOV must not be reused
        assert_eq!(cpu.regs[reg::AX] & 0xFFFF, 0x1122, "{model}");
    }
}

#[test]
fn the_same_bytes_reached_through_two_segments_decode_the_same_and_stay_coherent() {
    // 0000:0100 and 0010:0000 are the same physical byte.
    let code = [0x40, 0xEA, 0x00, 0x00, 0x10, 0x00]; // INC AX; JMP 0010:0000
    let mut cpu = cpu_with(CpuModel::I80286, &code);
    cpu.step(&mut NullBus); // INC AX at 0000:0100 (cached)
    cpu.step(&mut NullBus); // far jump to 0010:0000
    cpu.mem_mut().write_u8(0x100, 0x48); // now DEC AX
    cpu.step(&mut NullBus);
    assert_eq!(cpu.regs[reg::AX] & 0xFFFF, 0, "INC then DEC");
}
