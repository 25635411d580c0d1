//! System instructions: descriptor-table and task registers, control
//! registers, segment inspection (LAR, LSL, VERR, VERW, ARPL), TLB and cache
//! control, CPUID, the time-stamp counter, MSRs, SYSENTER/SYSEXIT.
//!
//! Privileged instructions raise #GP(0) outside CPL 0 in protected mode
//! (SDM vol. 3 §5.9).

use crate::cpu::decode::Instr;
use crate::cpu::flags::ZF;
use crate::cpu::msr;
use crate::cpu::paging::{CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE};
use crate::cpu::segment::{attr, rights, system_type as st, Segment};
use crate::cpu::{reg, seg, Cpu, CpuModel, Fault, Result, Width, W16, W32};
use oxbox_devices::Bus;

/// #GP(0) unless at CPL 0 (always allowed in real mode).
#[inline]
pub fn require_cpl0(cpu: &Cpu) -> Result<()> {
    if cpu.protected_mode() && cpu.cpl != 0 {
        return Err(Fault::gp(0));
    }
    Ok(())
}

/// #UD in real (and v8086) mode: the instructions that only exist in
/// protected mode (SLDT, STR, LLDT, LTR, LAR, LSL, VERR, VERW, ARPL).
#[inline]
fn require_protected(cpu: &Cpu) -> Result<()> {
    if !cpu.protected_mode() || cpu.v86() {
        return Err(Fault::ud());
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
    require_cpl0(cpu)?;
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

/// SMSW r/m: the low word of CR0 (all of CR0 into a 32-bit register).
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
    require_cpl0(cpu)?;
    let v = cpu.read_rm::<W16>(bus, i)?;
    let pe = (cpu.cr0 | v) & 1;
    cpu.set_cr0((cpu.cr0 & !0xF) | (v & 0xE) | pe)
}

/// CLTS: clear CR0.TS.
pub fn clts(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    require_cpl0(cpu)?;
    cpu.cr0 &= !0b1000;
    Ok(())
}

/// CR4 bits oxbox implements: VME, PVI, TSD, DE, PSE, PAE, PGE, PCE, OSFXSR.
const CR4_SUPPORTED: u32 = 0b1111 | CR4_PSE | CR4_PAE | CR4_PGE | (1 << 8) | (1 << 9);
const CR4_TSD: u32 = 1 << 2;
const CR4_PCE: u32 = 1 << 8;

impl Cpu {
    /// Write CR0 (MOV CR0, LMSW): PG needs PE; the TLB is flushed when
    /// paging or write protection changes (SDM vol. 3 §4.10.4.1).
    pub fn set_cr0(&mut self, v: u32) -> Result<()> {
        if v & CR0_PG != 0 && v & 1 == 0 {
            return Err(Fault::gp(0));
        }
        // ET is hard-wired to 1 on the 486 and later.
        let et = if self.model >= CpuModel::I80486 {
            0x10
        } else {
            0
        };
        let v = v | et;
        let changed = self.cr0 ^ v;
        self.cr0 = v;
        if changed & (CR0_PG | CR0_WP | 1) != 0 {
            self.flush_tlb(false);
        }
        if changed & 1 != 0 && v & 1 == 0 {
            // Back to real mode: CPL 0. Real mode checks limits but no
            // segment types, so writes through CS (or a register still
            // caching a read-only or null descriptor) are allowed until
            // the register is reloaded (real-address mode has no protection
            // beyond the limit, SDM vol. 3 §20.1); syslinux and
            // SeaBIOS write through CS right after leaving protected mode.
            self.cpl = 0;
            for s in self.segs.iter_mut() {
                s.rights = rights::READ | rights::WRITE;
            }
        }
        Ok(())
    }
}

/// MOV r32, CRn (386). The ModRM mod field is ignored: always a register.
pub fn mov_r_cr(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_cpl0(cpu)?;
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
    require_cpl0(cpu)?;
    let v = cpu.regs[i.rm()];
    match i.reg() {
        0 => cpu.set_cr0(v)?,
        2 => cpu.cr2 = v,
        3 => {
            cpu.cr3 = v;
            cpu.flush_tlb(true);
        }
        4 if cpu.model >= CpuModel::Pentium => {
            if v & !CR4_SUPPORTED != 0 {
                return Err(Fault::gp(0));
            }
            cpu.cr4 = v;
            cpu.flush_tlb(false);
        }
        _ => return Err(Fault::ud()),
    }
    Ok(())
}

/// Store a selector-sized value: 16 bits to memory, zero-extended to the
/// operand size in a register.
fn store_selector<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr, v: u16) -> Result<()> {
    if i.is_mem() {
        cpu.write_rm::<W16>(bus, i, v as u32)
    } else {
        cpu.set_reg::<W>(i.rm(), v as u32);
        Ok(())
    }
}

pub fn sldt<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let v = cpu.ldtr.selector;
    store_selector::<W>(cpu, bus, i, v)
}

pub fn str_<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let v = cpu.tr.selector;
    store_selector::<W>(cpu, bus, i, v)
}

pub fn lldt(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    require_cpl0(cpu)?;
    let sel = cpu.read_rm::<W16>(bus, i)? as u16;
    cpu.load_ldtr(bus, sel)
}

pub fn ltr(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    require_cpl0(cpu)?;
    let sel = cpu.read_rm::<W16>(bus, i)? as u16;
    cpu.load_tr(bus, sel)
}

/// The descriptor LAR/LSL/VERR/VERW inspect, if the selector is usable at
/// all (non-null and within its table) and visible at this privilege
/// (conforming code segments are always visible).
fn inspect(cpu: &mut Cpu, bus: &mut dyn Bus, sel: u16) -> Result<Option<crate::cpu::Descriptor>> {
    if sel & 0xFFFC == 0 {
        return Ok(None);
    }
    let d = match cpu.read_descriptor(bus, sel) {
        Ok(d) => d,
        Err(f) if f.vector == crate::cpu::vector::GP => return Ok(None),
        Err(f) => return Err(f),
    };
    let rpl = (sel & 3) as u8;
    if !d.conforming() && (d.dpl() < cpu.cpl || d.dpl() < rpl) {
        return Ok(None);
    }
    Ok(Some(d))
}

fn set_zf(cpu: &mut Cpu, ok: bool) {
    cpu.set_flags(ZF, if ok { ZF } else { 0 });
}

/// LAR reg, r/m16: access rights of a segment, LDT, TSS or gate.
pub fn lar<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let sel = cpu.read_rm::<W16>(bus, i)? as u16;
    let d = inspect(cpu, bus, sel)?.filter(|d| {
        d.is_segment()
            || matches!(
                d.system_type(),
                st::TSS16_AVAILABLE
                    | st::LDT
                    | st::TSS16_BUSY
                    | st::CALL_GATE16
                    | st::TASK_GATE
                    | st::TSS32_AVAILABLE
                    | st::TSS32_BUSY
                    | st::CALL_GATE32
            )
    });
    if let Some(d) = d {
        let rights = ((d.raw >> 32) as u32) & 0x00F0_FF00;
        cpu.set_reg::<W>(i.reg(), rights & W::MASK);
    }
    set_zf(cpu, d.is_some());
    Ok(())
}

/// LSL reg, r/m16: the byte limit of a segment, LDT or TSS.
pub fn lsl<W: Width>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let sel = cpu.read_rm::<W16>(bus, i)? as u16;
    let d = inspect(cpu, bus, sel)?.filter(|d| {
        d.is_segment()
            || matches!(
                d.system_type(),
                st::TSS16_AVAILABLE
                    | st::LDT
                    | st::TSS16_BUSY
                    | st::TSS32_AVAILABLE
                    | st::TSS32_BUSY
            )
    });
    if let Some(d) = d {
        cpu.set_reg::<W>(i.reg(), d.limit & W::MASK);
    }
    set_zf(cpu, d.is_some());
    Ok(())
}

/// VERR / VERW r/m16 (ModRM.reg 4 / 5): readable / writable at this level.
pub fn verr_verw(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let sel = cpu.read_rm::<W16>(bus, i)? as u16;
    let write = i.reg() == 5;
    let ok = inspect(cpu, bus, sel)?.is_some_and(|d| {
        if write {
            d.writable_data()
        } else {
            d.is_segment() && d.readable()
        }
    });
    set_zf(cpu, ok);
    Ok(())
}

/// ARPL r/m16, r16: raise the destination selector's RPL to the source's.
pub fn arpl(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    require_protected(cpu)?;
    let src = cpu.reg::<W16>(i.reg());
    let mut adjusted = false;
    cpu.modify_rm::<W16>(bus, i, |_, d| {
        if d & 3 < src & 3 {
            adjusted = true;
            Some((d & !3) | (src & 3))
        } else {
            None
        }
    })?;
    set_zf(cpu, adjusted);
    Ok(())
}

/// INVLPG m (486): drop the TLB entry for the operand's linear address.
pub fn invlpg(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !i.is_mem() {
        return Err(Fault::ud());
    }
    require_cpl0(cpu)?;
    let lin = cpu.segs[i.seg()].base.wrapping_add(cpu.ea(i));
    cpu.invalidate_page(lin);
    Ok(())
}

/// INVD / WBINVD (486): oxbox has no caches to flush.
pub fn invd(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    require_cpl0(cpu)
}

/// CPUID feature bits (EDX of leaf 1) oxbox implements.
pub mod feature {
    pub const FPU: u32 = 1 << 0;
    pub const VME: u32 = 1 << 1;
    pub const DE: u32 = 1 << 2;
    pub const PSE: u32 = 1 << 3;
    pub const PAE: u32 = 1 << 6;
    pub const TSC: u32 = 1 << 4;
    pub const MSR: u32 = 1 << 5;
    pub const CX8: u32 = 1 << 8;
    pub const SEP: u32 = 1 << 11;
    pub const MTRR: u32 = 1 << 12;
    pub const PGE: u32 = 1 << 13;
    pub const CMOV: u32 = 1 << 15;
    pub const FXSR: u32 = 1 << 24;
}

impl Cpu {
    /// Whether this model has an on-chip FPU (the 486 and later).
    pub fn has_fpu(&self) -> bool {
        crate::cpu::fpu::exec::has_fpu(self.model)
    }

    /// CPUID leaf 1 EDX: exactly the features implemented for this model.
    pub fn cpuid_features(&self) -> u32 {
        use feature::*;
        let mut f = 0;
        if self.has_fpu() {
            f |= FPU;
        }
        if self.model >= CpuModel::Pentium {
            f |= VME | DE | PSE | TSC | MSR | CX8;
        }
        if self.model >= CpuModel::PentiumPro {
            f |= PAE | SEP | MTRR | PGE | CMOV | FXSR;
        }
        f
    }
}

/// CPUID (486 and later): vendor "GenuineIntel" and a signature of the
/// model's family (486: 4/8, Pentium: 5/2, P6: the Pentium Pro, 6/1).
pub fn cpuid(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let leaf = cpu.regs[reg::AX];
    let signature = match cpu.model {
        CpuModel::I80486 => 0x0480,
        CpuModel::Pentium => 0x0525,
        _ => 0x0619,
    };
    let p6 = cpu.model >= CpuModel::PentiumPro;
    let (a, b, c, d) = match leaf {
        0 => (1, 0x756E_6547, 0x6C65_746E, 0x4965_6E69), // "Genu" "ntel" "ineI"
        1 => (signature, 0, 0, cpu.cpuid_features()),
        // Extended leaves (P6 identity only): the execute-disable bit.
        0x8000_0000 if p6 => (0x8000_0001, 0, 0, 0),
        0x8000_0001 if p6 => (0, 0, 0, 1 << 20),
        _ => (0, 0, 0, 0),
    };
    cpu.regs[reg::AX] = a;
    cpu.regs[reg::BX] = b;
    cpu.regs[reg::CX] = c;
    cpu.regs[reg::DX] = d;
    Ok(())
}

/// The time-stamp counter: the cycle counter plus the offset WRMSR set.
fn tsc(cpu: &Cpu) -> u64 {
    cpu.cycles.wrapping_add(cpu.msrs.tsc_offset)
}

/// RDTSC (Pentium): #GP(0) at CPL > 0 when CR4.TSD is set.
pub fn rdtsc(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if cpu.cr4 & CR4_TSD != 0 && cpu.protected_mode() && cpu.cpl != 0 {
        return Err(Fault::gp(0));
    }
    let t = tsc(cpu);
    cpu.regs[reg::AX] = t as u32;
    cpu.regs[reg::DX] = (t >> 32) as u32;
    Ok(())
}

/// RDPMC (P6): no performance counters are modelled; they read as zero.
pub fn rdpmc(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    if cpu.cr4 & CR4_PCE == 0 && cpu.protected_mode() && cpu.cpl != 0 {
        return Err(Fault::gp(0));
    }
    if cpu.regs[reg::CX] > 1 {
        return Err(Fault::gp(0));
    }
    cpu.regs[reg::AX] = 0;
    cpu.regs[reg::DX] = 0;
    Ok(())
}

pub fn rdmsr(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    require_cpl0(cpu)?;
    let index = cpu.regs[reg::CX];
    if !msr::exists(index) {
        return Err(Fault::gp(0));
    }
    let v = if index == msr::TSC {
        tsc(cpu)
    } else {
        cpu.msrs.read(index)
    };
    cpu.regs[reg::AX] = v as u32;
    cpu.regs[reg::DX] = (v >> 32) as u32;
    Ok(())
}

pub fn wrmsr(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    require_cpl0(cpu)?;
    let index = cpu.regs[reg::CX];
    if !msr::exists(index) {
        return Err(Fault::gp(0));
    }
    let v = ((cpu.regs[reg::DX] as u64) << 32) | cpu.regs[reg::AX] as u64;
    if index == msr::TSC {
        cpu.msrs.tsc_offset = v.wrapping_sub(cpu.cycles);
    } else {
        cpu.msrs.write(index, v);
    }
    Ok(())
}

/// A flat segment for SYSENTER/SYSEXIT: base 0, 4 GiB, 32-bit.
fn flat(selector: u16, code: bool, dpl: u8) -> Segment {
    let kind = if code {
        attr::CODE | attr::READABLE
    } else {
        attr::WRITABLE
    };
    Segment {
        selector,
        base: 0,
        limit: u32::MAX,
        attr: attr::P | attr::S | kind | attr::ACCESSED | ((dpl as u16) << 5) | attr::DB | attr::G,
        lo: 0,
        hi: u32::MAX,
        rights: if code { 1 } else { 3 },
    }
}

/// SYSENTER (P6): to CPL 0 at SYSENTER_CS:SYSENTER_EIP with flat segments
/// (SDM vol. 2, SYSENTER).
pub fn sysenter(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let cs = cpu.msrs.read(msr::SYSENTER_CS) as u16;
    if !cpu.protected_mode() || cs & 0xFFFC == 0 {
        return Err(Fault::gp(0));
    }
    cpu.set_flags(
        crate::cpu::flags::VM | crate::cpu::flags::IF | crate::cpu::flags::RF,
        0,
    );
    cpu.segs[seg::CS] = flat(cs & 0xFFFC, true, 0);
    cpu.segs[seg::SS] = flat((cs & 0xFFFC) + 8, false, 0);
    cpu.cpl = 0;
    cpu.regs[reg::SP] = cpu.msrs.read(msr::SYSENTER_ESP) as u32;
    cpu.eip = cpu.msrs.read(msr::SYSENTER_EIP) as u32;
    Ok(())
}

/// SYSEXIT (P6): to CPL 3 at SYSENTER_CS+16:EDX with stack SYSENTER_CS+24:ECX.
pub fn sysexit(cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    let cs = cpu.msrs.read(msr::SYSENTER_CS) as u16;
    if !cpu.protected_mode() || cpu.cpl != 0 || cs & 0xFFFC == 0 {
        return Err(Fault::gp(0));
    }
    cpu.segs[seg::CS] = flat(((cs & 0xFFFC) + 16) | 3, true, 3);
    cpu.segs[seg::SS] = flat(((cs & 0xFFFC) + 24) | 3, false, 3);
    cpu.cpl = 3;
    cpu.regs[reg::SP] = cpu.regs[reg::CX];
    cpu.eip = cpu.regs[reg::DX];
    Ok(())
}

/// UD2: the defined invalid opcode.
pub fn ud2(_cpu: &mut Cpu, _bus: &mut dyn Bus, _i: &Instr) -> Result<()> {
    Err(Fault::ud())
}

/// The debug register a MOV DRn names: DR4/DR5 alias DR6/DR7 unless
/// CR4.DE is set (then #UD); #DB with DR6.BD when DR7.GD is set (SDM vol.
/// 3 §17.2.2, §17.2.4).
fn debug_register_access(cpu: &mut Cpu, i: &Instr) -> Result<usize> {
    require_cpl0(cpu)?;
    if cpu.debug.dr7 & crate::cpu::debug::dr7::GD != 0 {
        cpu.debug.dr7 &= !crate::cpu::debug::dr7::GD;
        cpu.debug.dr6 |= crate::cpu::debug::dr6::BD;
        return Err(Fault::new(crate::cpu::vector::DB));
    }
    Ok(match i.reg() {
        4 | 5 if cpu.cr4 & crate::cpu::CR4_DE != 0 => return Err(Fault::ud()),
        4 => 6,
        5 => 7,
        n => n,
    })
}

/// MOV r32, DRn (386).
pub fn mov_r_dr(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let n = debug_register_access(cpu, i)?;
    cpu.regs[i.rm()] = match n {
        0..=3 => cpu.debug.addr[n],
        6 => cpu.debug.dr6,
        _ => cpu.debug.dr7,
    };
    Ok(())
}

/// MOV DRn, r32 (386).
pub fn mov_dr_r(cpu: &mut Cpu, _bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    let n = debug_register_access(cpu, i)?;
    let v = cpu.regs[i.rm()];
    match n {
        0..=3 => cpu.debug.addr[n] = v,
        6 => cpu.debug.dr6 = v | crate::cpu::debug::dr6::FIXED,
        _ => cpu.debug.set_dr7(v),
    }
    Ok(())
}

/// FXSAVE m512 (0F AE /0, P6 with FXSR).
pub fn fxsave(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !i.is_mem() {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(i);
    crate::cpu::fpu::exec::fxsave(cpu, bus, i.seg(), ea)
}

/// FXRSTOR m512 (0F AE /1).
pub fn fxrstor(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    if !i.is_mem() {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(i);
    crate::cpu::fpu::exec::fxrstor(cpu, bus, i.seg(), ea)
}
