//! Control transfer: jumps, calls, returns, loops, software interrupts and
//! IRET (real-mode forms; protected-mode gates arrive with issue 3).

use crate::cpu::decode::Instr;
use crate::cpu::flags::OF;
use crate::cpu::{reg, vector, Cpu, Result, Width, W16};
use oxbox_devices::Bus;

/// The branch target `eip + rel`. Truncation to 16 bits follows the
/// operand size, not the code size, and is left to `jump_near`: with a 0x66
/// prefix in 16-bit code the 32-bit target is checked against the CS limit
/// untruncated (SDM vol. 2, JMP and Jcc: "IF OperandSize = 16 THEN tempEIP
/// <- tempEIP AND 0000FFFFH").
#[inline(always)]
fn rel_target(cpu: &Cpu, rel: u32) -> u32 {
    cpu.eip.wrapping_add(rel)
}

/// Jcc rel8 (0x70-0x7F; 0x60-0x6F on the 8086).
pub fn jcc_short(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if cpu.condition(i.opcode & 0xF) {
        cpu.cycles += i.clocks_x as u64; // taken
        let t = rel_target(cpu, i.imm as u8 as i8 as i32 as u32);
        cpu.jump_near(t, i.op32())?;
    }
    Ok(())
}

/// Jcc rel16/32 (0x0F 0x80-0x8F).
pub fn jcc_near<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if cpu.condition(i.opcode & 0xF) {
        cpu.cycles += i.clocks_x as u64; // taken
        let t = rel_target(cpu, W::sext(i.imm));
        cpu.jump_near(t, W::BITS == 32)?;
    }
    Ok(())
}

pub fn jmp_short(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let t = rel_target(cpu, i.imm as u8 as i8 as i32 as u32);
    cpu.jump_near(t, i.op32())
}

pub fn jmp_near<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let t = rel_target(cpu, W::sext(i.imm));
    cpu.jump_near(t, W::BITS == 32)
}

/// JMP ptr16:16/32 (0xEA).
pub fn jmp_far<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.jump_far(bus, i.imm2, i.disp & W::MASK)
}

/// JMP r/m (FF /4).
pub fn jmp_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let t = cpu.read_rm::<W>(bus, i)?;
    cpu.jump_near(t, W::BITS == 32)
}

/// JMP m16:16/32 (FF /5).
pub fn jmp_far_m<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    match cpu.read_far_pointer::<W>(bus, i)? {
        Some((sel, off)) => cpu.jump_far(bus, sel, off),
        None => Ok(()),
    }
}

/// Push the return address and jump near; SP is restored if the target
/// faults.
fn call_near_to<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, target: u32) -> Result<()> {
    let sp = cpu.regs[reg::SP];
    let ret = cpu.eip;
    cpu.push::<W>(bus, ret)?;
    if let Err(f) = cpu.jump_near(target, W::BITS == 32) {
        cpu.regs[reg::SP] = sp;
        return Err(f);
    }
    Ok(())
}

/// CALL rel16/32 (0xE8).
pub fn call_near<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let t = rel_target(cpu, W::sext(i.imm));
    call_near_to::<W>(cpu, bus, t)
}

/// CALL r/m (FF /2).
pub fn call_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let t = cpu.read_rm::<W>(bus, i)?;
    call_near_to::<W>(cpu, bus, t)
}

/// CALL ptr16:16/32 (0x9A).
pub fn call_far<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.call_far(bus, i.imm2, i.disp & W::MASK, W::BITS == 32)
}

/// CALL m16:16/32 (FF /3).
pub fn call_far_m<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    match cpu.read_far_pointer::<W>(bus, i)? {
        Some((sel, off)) => cpu.call_far(bus, sel, off, W::BITS == 32),
        None => Ok(()),
    }
}

/// RET (0xC3) and RET imm16 (0xC2).
fn ret_near_by<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, extra: u32) -> Result<()> {
    let t = cpu.peek::<W>(bus, 0)?;
    cpu.jump_near(t, W::BITS == 32)?;
    cpu.adjust_sp(W::BYTES + extra);
    Ok(())
}

pub fn ret_near<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    ret_near_by::<W>(cpu, bus, 0)
}

pub fn ret_near_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    ret_near_by::<W>(cpu, bus, i.imm & 0xFFFF)
}

/// RETF (0xCB).
pub fn ret_far<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    cpu.ret_far(bus, W::BITS == 32, 0)
}

/// RETF imm16 (0xCA).
pub fn ret_far_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.ret_far(bus, W::BITS == 32, i.imm & 0xFFFF)
}

/// The count register of LOOP/JCXZ: CX or ECX by address size.
#[inline]
fn count_reg(cpu: &Cpu, i: &Instr) -> u32 {
    if i.addr32() {
        cpu.regs[reg::CX]
    } else {
        cpu.regs[reg::CX] & 0xFFFF
    }
}

/// LOOPNE (0xE0), LOOPE (0xE1), LOOP (0xE2).
pub fn loop_cc(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let count = count_reg(cpu, i).wrapping_sub(1);
    let count = if i.addr32() { count } else { count & 0xFFFF };
    let take = count != 0
        && match i.opcode {
            0xE0 => !cpu.flag(crate::cpu::flags::ZF),
            0xE1 => cpu.flag(crate::cpu::flags::ZF),
            _ => true,
        };
    if take {
        cpu.cycles += i.clocks_x as u64;
        let t = rel_target(cpu, i.imm as u8 as i8 as i32 as u32);
        cpu.jump_near(t, i.op32())?;
    }
    if i.addr32() {
        cpu.regs[reg::CX] = count;
    } else {
        cpu.set_reg::<W16>(reg::CX, count);
    }
    Ok(())
}

/// JCXZ / JECXZ (0xE3).
pub fn jcxz(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if count_reg(cpu, i) == 0 {
        cpu.cycles += i.clocks_x as u64; // taken
        let t = rel_target(cpu, i.imm as u8 as i8 as i32 as u32);
        cpu.jump_near(t, i.op32())?;
    }
    Ok(())
}

pub fn int3(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    cpu.software_interrupt(bus, vector::BP)
}

pub fn int1(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    cpu.software_interrupt(bus, vector::DB)
}

pub fn int_imm(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.software_interrupt(bus, i.imm as u8)
}

pub fn into(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if cpu.flag(OF) {
        cpu.cycles += i.clocks_x as u64; // the trap is taken
        cpu.software_interrupt(bus, vector::OF)
    } else {
        Ok(())
    }
}

/// IRET / IRETD.
pub fn iret<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    cpu.iret(bus, W::BITS == 32)
}
