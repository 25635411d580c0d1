//! System and miscellaneous instructions: port I/O, HLT, flag operations,
//! ESC/WAIT (no FPU yet), descriptor-table registers, MSW/CR0, and the
//! invalid-opcode executor.

use crate::cpu::decode::Instr;
use crate::cpu::flags::{CF, DF, IF};
use crate::cpu::{reg, Cpu, CpuModel, Fault, Result, Width, W16};
use oxbox_devices::Bus;

/// Opcodes that do not exist on this model: #UD (186 and later).
pub fn ud(_cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    Err(Fault::ud())
}

pub fn in_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.io_permitted(bus, i.imm as u16 & 0xFF, W::BYTES)?;
    cpu.charge_odd::<W>(i.imm & 0xFF);
    let v = cpu.port_in::<W>(bus, i.imm as u16 & 0xFF);
    cpu.set_reg::<W>(reg::AX, v);
    Ok(())
}

pub fn out_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.io_permitted(bus, i.imm as u16 & 0xFF, W::BYTES)?;
    let v = cpu.reg::<W>(reg::AX);
    cpu.charge_odd::<W>(i.imm & 0xFF);
    cpu.port_out::<W>(bus, i.imm as u16 & 0xFF, v);
    Ok(())
}

pub fn in_dx<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let port = cpu.reg::<W16>(reg::DX) as u16;
    cpu.io_permitted(bus, port, W::BYTES)?;
    cpu.charge_odd::<W>(port as u32);
    let v = cpu.port_in::<W>(bus, port);
    cpu.set_reg::<W>(reg::AX, v);
    Ok(())
}

pub fn out_dx<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let port = cpu.reg::<W16>(reg::DX) as u16;
    cpu.io_permitted(bus, port, W::BYTES)?;
    let v = cpu.reg::<W>(reg::AX);
    cpu.charge_odd::<W>(port as u32);
    cpu.port_out::<W>(bus, port, v);
    Ok(())
}

/// HLT: stop until an interrupt (the step loop wakes the CPU).
pub fn hlt(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    super::privileged::require_cpl0(cpu)?;
    cpu.halted = true;
    Ok(())
}

pub fn cmc(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let c = cpu.cf();
    cpu.set_flags(CF, if c { 0 } else { CF });
    Ok(())
}

/// CLC, STC, CLI, STI, CLD, STD (0xF8-0xFD).
pub fn flag_op(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let (bit, set) = match i.opcode {
        0xF8 => (CF, false),
        0xF9 => (CF, true),
        0xFA => (IF, false),
        0xFB => (IF, true),
        0xFC => (DF, false),
        _ => (DF, true),
    };
    if bit == IF && (cpu.vme_active() || cpu.pvi_active()) {
        return cpu.virtual_cli_sti(set);
    }
    if bit == IF && cpu.protected_mode() {
        // CLI/STI are IOPL-sensitive (SDM vol. 2, CLI: #GP(0) if CPL > IOPL).
        let iopl = (cpu.flags_word() & crate::cpu::flags::IOPL) >> 12;
        if cpu.cpl as u32 > iopl {
            return Err(Fault::gp(0));
        }
    }
    if bit == IF && set && !cpu.flag(IF) {
        // STI enables interrupts after the next instruction.
        cpu.hold_interrupts();
    }
    // set_flags does not look at IF; STI's shadow above makes the run loop
    // poll the INTR line after the next instruction.
    cpu.set_flags(bit, if set { bit } else { 0 });
    Ok(())
}

/// ESC (0xD8-0xDF): the x87 on the models that have one ([`crate::cpu::fpu`]).
/// With no FPU: with CR0.EM set, #NM; otherwise the CPU
/// computes the address and reads the memory operand for the coprocessor,
/// which nobody answers (8086 family user's manual, "ESC").
pub fn esc(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if crate::cpu::fpu::exec::has_fpu(cpu.model) {
        return crate::cpu::fpu::exec::execute(cpu, bus, i);
    }
    if cpu.model >= CpuModel::I80286 && cpu.cr0 & 0b0100 != 0 {
        return Err(Fault::new(crate::cpu::vector::NM));
    }
    if i.is_mem() {
        cpu.read_rm::<W16>(bus, i)?;
    }
    Ok(())
}

/// WAIT: the x87's check for pending exceptions on the models that have one.
/// With no coprocessor BUSY is never asserted; CR0.MP with CR0.TS
/// raises #NM on the 286 and later.
pub fn wait(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if crate::cpu::fpu::exec::has_fpu(cpu.model) {
        return crate::cpu::fpu::exec::wait(cpu);
    }
    if cpu.model >= CpuModel::I80286 && cpu.cr0 & 0b1010 == 0b1010 {
        return Err(Fault::new(crate::cpu::vector::NM));
    }
    Ok(())
}
