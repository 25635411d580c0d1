//! System and miscellaneous instructions: port I/O, HLT, flag operations,
//! ESC/WAIT (no FPU yet), descriptor-table registers, MSW/CR0, and the
//! invalid-opcode executor.

use crate::cpu::decode::Instr;
use crate::cpu::flags::{CF, DF, IF};
use crate::cpu::{reg, Cpu, CpuModel, Fault, Result, Width, W16, W32};
use oxbox_devices::Bus;

/// Opcodes that do not exist on this model: #UD (186 and later).
pub fn ud(_cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    Err(Fault::ud())
}

/// Instructions valid only in protected mode (SLDT, STR, LLDT, LTR, VERR,
/// VERW, LAR, LSL): #UD in real mode (SDM vol. 2, "Real-Address Mode
/// Exceptions" of each).
pub fn pm_only(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if !cpu.protected_mode() {
        return Err(Fault::ud());
    }
    // Protected mode arrives with issue 3.
    Err(Fault::ud())
}

pub fn in_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.port_in::<W>(bus, i.imm as u16 & 0xFF);
    cpu.set_reg::<W>(reg::AX, v);
    Ok(())
}

pub fn out_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.reg::<W>(reg::AX);
    cpu.port_out::<W>(bus, i.imm as u16 & 0xFF, v);
    Ok(())
}

pub fn in_dx<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let port = cpu.reg::<W16>(reg::DX) as u16;
    let v = cpu.port_in::<W>(bus, port);
    cpu.set_reg::<W>(reg::AX, v);
    Ok(())
}

pub fn out_dx<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let port = cpu.reg::<W16>(reg::DX) as u16;
    let v = cpu.reg::<W>(reg::AX);
    cpu.port_out::<W>(bus, port, v);
    Ok(())
}

/// HLT: stop until an interrupt (the step loop wakes the CPU).
pub fn hlt(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
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
    if bit == IF && set && !cpu.flag(IF) {
        // STI enables interrupts after the next instruction.
        cpu.hold_interrupts();
    }
    // set_flags does not look at IF; STI's shadow above makes the run loop
    // poll the INTR line after the next instruction.
    cpu.set_flags(bit, if set { bit } else { 0 });
    Ok(())
}

/// ESC (0xD8-0xDF) with no FPU: with CR0.EM set, #NM; otherwise the CPU
/// computes the address and reads the memory operand for the coprocessor,
/// which nobody answers (8086 family user's manual, "ESC").
pub fn esc(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if cpu.model >= CpuModel::I80286 && cpu.cr0 & 0b0100 != 0 {
        return Err(Fault::new(crate::cpu::vector::NM));
    }
    if i.is_mem() {
        cpu.read_rm::<W16>(bus, i)?;
    }
    Ok(())
}

/// WAIT: with no coprocessor BUSY is never asserted; CR0.MP with CR0.TS
/// raises #NM on the 286 and later.
pub fn wait(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if cpu.model >= CpuModel::I80286 && cpu.cr0 & 0b1010 == 0b1010 {
        return Err(Fault::new(crate::cpu::vector::NM));
    }
    Ok(())
}

/// Store a descriptor-table register (SGDT/SIDT): limit then base. With a
/// 16-bit operand the 286 stores 0xFF in the top base byte and the 386 and
/// later store zero there (SDM vol. 2, SGDT).
fn store_table<W: Width>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
    base: u32,
    limit: u32,
) -> Result<()> {
    if !i.is_mem() {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(i);
    cpu.check_access(i.seg(), ea, 6, true)?;
    cpu.write::<W16>(bus, i.seg(), ea, limit)?;
    let base = if W::BITS == 32 {
        base
    } else if cpu.model == CpuModel::I80286 {
        (base & 0x00FF_FFFF) | 0xFF00_0000
    } else {
        base & 0x00FF_FFFF
    };
    let at = cpu.ea_plus(i, ea, 2);
    cpu.write::<W32>(bus, i.seg(), at, base)
}

/// Load a descriptor-table register (LGDT/LIDT): a 16-bit operand loads a
/// 24-bit base.
fn load_table<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<(u32, u32)> {
    if !i.is_mem() {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(i);
    cpu.check_access(i.seg(), ea, 6, false)?;
    let limit = cpu.read::<W16>(bus, i.seg(), ea)?;
    let at = cpu.ea_plus(i, ea, 2);
    let base = cpu.read::<W32>(bus, i.seg(), at)?;
    let base = if W::BITS == 32 {
        base
    } else {
        base & 0x00FF_FFFF
    };
    Ok((base, limit))
}

pub fn sgdt<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let (b, l) = (cpu.gdtr_base, cpu.gdtr_limit);
    store_table::<W>(cpu, bus, i, b, l)
}

pub fn sidt<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let (b, l) = (cpu.idtr_base, cpu.idtr_limit);
    store_table::<W>(cpu, bus, i, b, l)
}

pub fn lgdt<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let (b, l) = load_table::<W>(cpu, bus, i)?;
    cpu.gdtr_base = b;
    cpu.gdtr_limit = l;
    Ok(())
}

pub fn lidt<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let (b, l) = load_table::<W>(cpu, bus, i)?;
    cpu.idtr_base = b;
    cpu.idtr_limit = l;
    Ok(())
}

/// SMSW r/m: the low word of CR0 (all of CR0 into a 32-bit register). The
/// 286 reads its unused MSW bits as ones.
pub fn smsw<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.cr0;
    if i.is_mem() {
        cpu.write_rm::<W16>(bus, i, v & 0xFFFF)
    } else {
        cpu.set_reg::<W>(i.rm(), v & W::MASK);
        Ok(())
    }
}

/// LMSW r/m16: loads PE, MP, EM, TS; PE can be set but not cleared.
pub fn lmsw(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read_rm::<W16>(bus, i)?;
    let pe = (cpu.cr0 | v) & 1;
    cpu.cr0 = (cpu.cr0 & !0xF) | (v & 0xE) | pe;
    Ok(())
}

/// CLTS: clear CR0.TS.
pub fn clts(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    cpu.cr0 &= !0b1000;
    Ok(())
}

/// MOV r32, CRn (386). The ModRM mod field is ignored: always a register.
pub fn mov_r_cr(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = match i.reg() {
        0 => cpu.cr0,
        2 => cpu.cr2,
        3 => cpu.cr3,
        4 if cpu.model >= CpuModel::Pentium => cpu.cr4,
        _ => return Err(Fault::ud()),
    };
    cpu.regs[i.rm()] = v;
    Ok(())
}

/// MOV CRn, r32 (386).
pub fn mov_cr_r(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.regs[i.rm()];
    match i.reg() {
        0 => {
            // ET is hard-wired to 1 on the 486 and later.
            let et = if cpu.model >= CpuModel::I80486 {
                0x10
            } else {
                0
            };
            cpu.cr0 = v | et;
            cpu.flush_decode_cache();
        }
        2 => cpu.cr2 = v,
        3 => cpu.cr3 = v,
        4 if cpu.model >= CpuModel::Pentium => cpu.cr4 = v,
        _ => return Err(Fault::ud()),
    }
    Ok(())
}
