//! Data movement: MOV, XCHG, PUSH/POP (registers, segments, memory, all),
//! LEA, far-pointer loads, sign and zero extension, flags transfer, XLAT,
//! ENTER/LEAVE, BOUND, SETcc, BSWAP.

use crate::cpu::decode::Instr;
use crate::cpu::flags::{self, AF, CF, PF, SF, ZF};
use crate::cpu::{reg, seg, Cpu, CpuModel, Fault, Result, Width, W16, W32, W8};
use oxbox_devices::Bus;

pub fn mov_rm_r<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.reg::<W>(i.reg());
    cpu.write_rm::<W>(bus, i, v)
}

pub fn mov_r_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read_rm::<W>(bus, i)?;
    cpu.set_reg::<W>(i.reg(), v);
    Ok(())
}

pub fn mov_rm_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.write_rm::<W>(bus, i, i.imm & W::MASK)
}

/// MOV reg, imm (0xB0-0xBF): the register is in the opcode.
pub fn mov_r_imm<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.set_reg::<W>((i.opcode & 7) as usize, i.imm);
    Ok(())
}

/// MOV AL/AX/EAX, [moffs]
pub fn mov_acc_moffs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read::<W>(bus, i.seg(), i.disp)?;
    cpu.set_reg::<W>(reg::AX, v);
    Ok(())
}

/// MOV [moffs], AL/AX/EAX
pub fn mov_moffs_acc<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.reg::<W>(reg::AX);
    cpu.write::<W>(bus, i.seg(), i.disp, v)
}

/// The segment register named by ModRM.reg of 8C/8E, by model: the 8086
/// decodes only two bits; the 286 has four segment registers; the 386 six.
fn sreg_index(cpu: &Cpu, i: &Instr) -> Result<usize> {
    let r = i.reg();
    if cpu.quirks.sreg_two_bit_decode {
        return Ok(r & 3);
    }
    let count = if cpu.model >= CpuModel::I80386 { 6 } else { 4 };
    if r < count {
        Ok(r)
    } else {
        Err(Fault::ud())
    }
}

/// MOV r/m, sreg (0x8C). A memory destination is always 16 bits; a register
/// destination with 32-bit operand size is zero-extended.
pub fn mov_rm_sreg<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let s = sreg_index(cpu, i)?;
    let v = cpu.segs[s].selector as u32;
    if i.is_mem() {
        cpu.write_rm::<W16>(bus, i, v)
    } else {
        cpu.set_reg::<W>(i.rm(), v);
        Ok(())
    }
}

/// MOV sreg, r/m (0x8E). Loading CS this way works only on the 8086.
pub fn mov_sreg_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let s = sreg_index(cpu, i)?;
    if s == seg::CS && cpu.model >= CpuModel::I80186 {
        return Err(Fault::ud());
    }
    let v = cpu.read_rm::<W16>(bus, i)?;
    cpu.load_seg(bus, s, v as u16)
}

pub fn lea<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !cpu.memory_operand_present(i)? {
        return Ok(());
    }
    let ea = cpu.ea(i);
    cpu.set_reg::<W>(i.reg(), ea);
    Ok(())
}

/// XCHG r/m, reg
pub fn xchg_rm_r<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = cpu.reg::<W>(i.reg());
    let mut old = 0;
    cpu.modify_rm::<W>(bus, i, |_, v| {
        old = v;
        Some(r)
    })?;
    cpu.set_reg::<W>(i.reg(), old);
    Ok(())
}

/// XCHG AX, reg (0x90-0x97; 0x90 is NOP)
pub fn xchg_acc_r<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = (i.opcode & 7) as usize;
    if r != 0 {
        let a = cpu.reg::<W>(reg::AX);
        let b = cpu.reg::<W>(r);
        cpu.set_reg::<W>(reg::AX, b);
        cpu.set_reg::<W>(r, a);
    }
    Ok(())
}

/// PUSH reg (0x50-0x57). PUSH SP pushes the decremented SP on the 8086/186.
pub fn push_r<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = (i.opcode & 7) as usize;
    let mut v = cpu.reg::<W>(r);
    if r == reg::SP && cpu.quirks.push_sp_pushes_new_value {
        v = v.wrapping_sub(W::BYTES) & W::MASK;
    }
    cpu.push::<W>(bus, v)
}

/// POP reg (0x58-0x5F). POP SP loads the popped value (the increment is lost).
pub fn pop_r<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.pop::<W>(bus)?;
    cpu.set_reg::<W>((i.opcode & 7) as usize, v);
    Ok(())
}

/// The segment register a PUSH/POP sreg opcode names.
fn sreg_of_opcode(op: u8) -> usize {
    match op {
        0xA0 | 0xA1 => seg::FS,
        0xA8 | 0xA9 => seg::GS,
        _ => ((op >> 3) & 3) as usize,
    }
}

pub fn push_sreg<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.segs[sreg_of_opcode(i.opcode)].selector as u32;
    cpu.push::<W>(bus, v)
}

/// POP sreg; on the 8086 0x0F is POP CS.
pub fn pop_sreg<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let s = if i.opcode == 0x0F {
        seg::CS
    } else {
        sreg_of_opcode(i.opcode)
    };
    let sp = cpu.regs[reg::SP];
    let v = cpu.pop::<W>(bus)?;
    if let Err(f) = cpu.load_seg(bus, s, v as u16) {
        cpu.regs[reg::SP] = sp;
        return Err(f);
    }
    Ok(())
}

pub fn push_imm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.push::<W>(bus, i.imm & W::MASK)
}

pub fn push_imm8<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    cpu.push::<W>(bus, i.imm as u8 as i8 as i32 as u32 & W::MASK)
}

/// PUSH r/m (FF /6).
pub fn push_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let mut v = cpu.read_rm::<W>(bus, i)?;
    if !i.is_mem() && i.rm() == reg::SP && cpu.quirks.push_sp_pushes_new_value {
        v = v.wrapping_sub(W::BYTES) & W::MASK;
    }
    cpu.push::<W>(bus, v)
}

/// POP r/m (8F /0). The address of a memory destination is computed after
/// SP is incremented (SDM vol. 2, POP).
pub fn pop_rm<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let sp = cpu.regs[reg::SP];
    let v = cpu.pop::<W>(bus)?;
    if let Err(f) = cpu.write_rm::<W>(bus, i, v) {
        if !cpu.quirks.commits_index_before_fault {
            cpu.regs[reg::SP] = sp;
        }
        return Err(f);
    }
    Ok(())
}

/// PUSHA (186+): AX, CX, DX, BX, original SP, BP, SI, DI.
pub fn pusha<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let sp = cpu.regs[reg::SP];
    for r in 0..8 {
        let v = if r == reg::SP {
            sp & W::MASK
        } else {
            cpu.reg::<W>(r)
        };
        if let Err(f) = cpu.push::<W>(bus, v) {
            cpu.regs[reg::SP] = sp;
            return Err(f);
        }
    }
    Ok(())
}

/// POPA (186+): the reverse of PUSHA; the stored SP is discarded.
pub fn popa<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let sp = cpu.regs[reg::SP];
    let mut vals = [0u32; 8];
    for r in (0..8).rev() {
        match cpu.pop::<W>(bus) {
            Ok(v) => vals[r] = v,
            Err(f) => {
                cpu.regs[reg::SP] = sp;
                return Err(f);
            }
        }
    }
    for (r, &v) in vals.iter().enumerate() {
        if r != reg::SP {
            cpu.set_reg::<W>(r, v);
        }
    }
    Ok(())
}

/// BOUND reg, m (186+): #BR if the signed index lies outside [lower, upper].
pub fn bound<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !cpu.memory_operand_present(i)? {
        return Ok(());
    }
    let ea = cpu.ea(i);
    let lower = W::sext(cpu.read::<W>(bus, i.seg(), ea)?) as i32;
    let upper_off = cpu.ea_plus(i, ea, W::BYTES);
    let upper = W::sext(cpu.read::<W>(bus, i.seg(), upper_off)?) as i32;
    let idx = W::sext(cpu.reg::<W>(i.reg())) as i32;
    if idx < lower || idx > upper {
        return Err(Fault::new(crate::cpu::vector::BR));
    }
    Ok(())
}

/// CBW / CWDE
pub fn cbw<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if W::BITS == 16 {
        let v = cpu.reg::<W8>(reg::AX) as u8 as i8 as i16 as u16 as u32;
        cpu.set_reg::<W16>(reg::AX, v);
    } else {
        let v = cpu.reg::<W16>(reg::AX) as u16 as i16 as i32 as u32;
        cpu.set_reg::<W32>(reg::AX, v);
    }
    Ok(())
}

/// CWD / CDQ
pub fn cwd<W: Width>(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let a = cpu.reg::<W>(reg::AX);
    let v = if a & W::SIGN != 0 { W::MASK } else { 0 };
    cpu.set_reg::<W>(reg::DX, v);
    Ok(())
}

/// PUSHF/POPF are IOPL-sensitive in v8086 mode: #GP(0) unless IOPL = 3
/// (SDM vol. 3 §20.2.7; no VME).
fn v86_iopl_check(cpu: &Cpu) -> Result<()> {
    if cpu.v86() && (cpu.flags_word() & flags::IOPL) >> 12 < 3 {
        return Err(Fault::gp(0));
    }
    Ok(())
}

pub fn pushf<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if cpu.vme_active() && W::BITS == 16 {
        let v = cpu.vme_flags_image();
        return cpu.push::<W>(bus, v);
    }
    v86_iopl_check(cpu)?;
    // PUSHFD stores EFLAGS with VM and RF cleared (SDM vol. 2, PUSHF).
    let v = cpu.flags_word() & !(flags::VM | flags::RF);
    cpu.push::<W>(bus, v & W::MASK)
}

/// POPF: which bits change depends on the mode and privilege (SDM vol. 2,
/// POPF): IOPL only at CPL 0 (and never in v8086 mode), IF only when CPL ≤
/// IOPL; VM, VIF, VIP never; RF is cleared.
pub fn popf<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if cpu.vme_active() && W::BITS == 16 {
        let sp = cpu.regs[reg::SP];
        let v = cpu.pop::<W>(bus)?;
        if let Err(f) = cpu.vme_load_flags(v) {
            cpu.regs[reg::SP] = sp;
            return Err(f);
        }
        return Ok(());
    }
    v86_iopl_check(cpu)?;
    let v = cpu.pop::<W>(bus)?;
    let mut mask = W::MASK & !(flags::VM | flags::RF | flags::VIF | flags::VIP);
    if cpu.protected_mode() {
        let iopl = (cpu.flags_word() & flags::IOPL) >> 12;
        if cpu.cpl > 0 {
            mask &= !flags::IOPL;
        }
        if cpu.cpl as u32 > iopl {
            mask &= !flags::IF;
        }
    }
    cpu.write_flags(v & !flags::RF, mask | flags::RF);
    Ok(())
}

/// SAHF: SF, ZF, AF, PF, CF from AH.
pub fn sahf(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let ah = cpu.reg::<W8>(4);
    cpu.set_flags(SF | ZF | AF | PF | CF, ah);
    Ok(())
}

/// LAHF: AH = the low byte of FLAGS.
pub fn lahf(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let f = cpu.flags_word() & 0xFF;
    cpu.set_reg::<W8>(4, f);
    Ok(())
}

/// XLAT: AL = [seg:(E)BX + AL].
pub fn xlat(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let off = cpu.regs[reg::BX].wrapping_add(cpu.reg::<W8>(reg::AX));
    let off = if i.addr32() { off } else { off & 0xFFFF };
    let v = cpu.read::<W8>(bus, i.seg(), off)?;
    cpu.set_reg::<W8>(reg::AX, v);
    Ok(())
}

/// LES/LDS/LSS/LFS/LGS: load a far pointer (offset, then selector).
fn load_far<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, s: usize) -> Result<()> {
    if let Some((sel, off)) = cpu.read_far_pointer::<W>(bus, i)? {
        cpu.load_seg(bus, s, sel)?;
        cpu.set_reg::<W>(i.reg(), off);
    }
    Ok(())
}

pub fn les<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    load_far::<W>(cpu, bus, i, seg::ES)
}

pub fn lds<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    load_far::<W>(cpu, bus, i, seg::DS)
}

pub fn lss<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    load_far::<W>(cpu, bus, i, seg::SS)
}

pub fn lfs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    load_far::<W>(cpu, bus, i, seg::FS)
}

pub fn lgs<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    load_far::<W>(cpu, bus, i, seg::GS)
}

/// MOVZX reg, r/m8 or r/m16 (`SRC` = source bits).
pub fn movzx<W: Width, const SRC: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = if SRC == 8 {
        cpu.read_rm::<W8>(bus, i)?
    } else {
        cpu.read_rm::<W16>(bus, i)?
    };
    cpu.set_reg::<W>(i.reg(), v);
    Ok(())
}

/// MOVSX reg, r/m8 or r/m16.
pub fn movsx<W: Width, const SRC: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = if SRC == 8 {
        W8::sext(cpu.read_rm::<W8>(bus, i)?)
    } else {
        W16::sext(cpu.read_rm::<W16>(bus, i)?)
    };
    cpu.set_reg::<W>(i.reg(), v & W::MASK);
    Ok(())
}

/// CMOVcc reg, r/m (P6): the source is read (and may fault) whether or
/// not the condition holds; a 32-bit destination is written (zero-extended
/// upper half) only when it does.
pub fn cmovcc<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.read_rm::<W>(bus, i)?;
    if cpu.condition(i.opcode & 0xF) {
        cpu.set_reg::<W>(i.reg(), v);
    }
    Ok(())
}

/// SETcc r/m8 (386).
pub fn setcc(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let v = cpu.condition(i.opcode & 0xF) as u32;
    cpu.write_rm::<W8>(bus, i, v)
}

/// BSWAP reg32 (486). With a 16-bit operand the result is undefined; oxbox
/// clears the low word as the silicon does.
pub fn bswap(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let r = (i.opcode & 7) as usize;
    if i.op32() {
        cpu.regs[r] = cpu.regs[r].swap_bytes();
    } else {
        cpu.set_reg::<W16>(r, 0);
    }
    Ok(())
}

/// ENTER size, level (186+): make a stack frame with `level` saved frame
/// pointers (SDM vol. 2, ENTER).
pub fn enter<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let size = i.imm & 0xFFFF;
    let level = (i.imm2 & 31) as u32;
    let saved_sp = cpu.regs[reg::SP];
    let saved_bp = cpu.regs[reg::BP];
    let result = (|| -> Result<()> {
        let bp = cpu.reg::<W>(reg::BP);
        cpu.push::<W>(bus, bp)?;
        let frame = cpu.regs[reg::SP] & cpu.sp_mask();
        if level > 0 {
            let mut bp = cpu.regs[reg::BP];
            for _ in 1..level {
                bp = bp.wrapping_sub(W::BYTES);
                let off = bp & cpu.sp_mask();
                let v = cpu.read::<W>(bus, seg::SS, off)?;
                cpu.push::<W>(bus, v)?;
            }
            cpu.push::<W>(bus, frame & W::MASK)?;
        }
        cpu.set_reg::<W>(reg::BP, frame);
        cpu.adjust_sp(0u32.wrapping_sub(size));
        Ok(())
    })();
    if result.is_err() {
        cpu.regs[reg::SP] = saved_sp;
        cpu.regs[reg::BP] = saved_bp;
    }
    result
}

/// LEAVE (186+): SP = BP, then pop BP.
pub fn leave<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let saved_sp = cpu.regs[reg::SP];
    let bp = cpu.regs[reg::BP];
    let m = cpu.sp_mask();
    cpu.regs[reg::SP] = (cpu.regs[reg::SP] & !m) | (bp & m);
    match cpu.pop::<W>(bus) {
        Ok(v) => {
            cpu.set_reg::<W>(reg::BP, v);
            Ok(())
        }
        Err(f) => {
            cpu.regs[reg::SP] = saved_sp;
            Err(f)
        }
    }
}
