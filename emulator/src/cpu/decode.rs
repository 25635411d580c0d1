//! The decoder: instruction bytes → [`Instr`] records, and the decode cache.
//!
//! Decoding reads the opcode table ([`super::table`]) for the operand form
//! and the executing function, so the decoder itself knows only the
//! encoding rules common to every instruction: prefixes, ModRM, SIB,
//! displacements and immediates.

use super::model::Quirks;
use super::table::{self, Imm, OpDef};
use super::timing;
use super::{reg, seg, Cpu, Fault, Result};
use crate::memory::Memory;
use oxbox_devices::Bus;

/// The function that executes a decoded instruction.
pub type Exec = fn(&mut Cpu, &mut dyn Bus, &Instr) -> Result<()>;

/// No register (in `base` / `index`).
pub const NO_REG: u8 = 0xFF;

/// Prefix and mode bits of a decoded instruction.
pub mod pfx {
    /// 32-bit operand size (after 0x66 and the code segment's D bit).
    pub const OP32: u8 = 1 << 0;
    /// 32-bit address size.
    pub const ADDR32: u8 = 1 << 1;
    /// F3 (REP / REPE).
    pub const REP: u8 = 1 << 2;
    /// F2 (REPNE).
    pub const REPNE: u8 = 1 << 3;
    pub const LOCK: u8 = 1 << 4;
    /// A segment override prefix was present.
    pub const SEG_OVERRIDE: u8 = 1 << 5;
    /// The ModRM byte selects a memory operand.
    pub const MEM: u8 = 1 << 6;
}

/// A decoded instruction: everything execution needs, with no further byte
/// parsing.
#[derive(Clone, Copy)]
pub struct Instr {
    pub exec: Exec,
    /// Memory displacement, `moffs` address, or far-pointer offset.
    pub disp: u32,
    /// Immediate operand (zero-extended), or the relative branch offset.
    pub imm: u32,
    /// Second immediate: far-pointer selector, or ENTER's nesting level.
    pub imm2: u16,
    /// Total length including prefixes.
    pub len: u8,
    pub modrm: u8,
    /// Effective-address base and index registers (`NO_REG` if absent).
    pub base: u8,
    pub index: u8,
    /// SIB scale as a shift count (0-3).
    pub scale: u8,
    /// Segment of the memory operand (default or override).
    pub seg: u8,
    /// [`pfx`] bits.
    pub pfx: u8,
    /// The opcode byte (second byte for 0x0F xx); handlers that serve
    /// several opcodes read their variant from it.
    pub opcode: u8,
    /// Index of the opcode-table row, for the debugger and the flag masks.
    pub row: u16,
    /// Number of prefix bytes before the opcode.
    pub prefixes: u8,
    /// Clocks charged when the instruction starts, from the model's timing
    /// table for this form ([`super::timing::clocks`]).
    pub clocks: u16,
    /// Clocks added per taken branch, REP iteration or shift bit.
    pub clocks_x: u8,
}

impl Instr {
    #[inline(always)]
    pub fn reg(&self) -> usize {
        ((self.modrm >> 3) & 7) as usize
    }

    #[inline(always)]
    pub fn rm(&self) -> usize {
        (self.modrm & 7) as usize
    }

    #[inline(always)]
    pub fn is_mem(&self) -> bool {
        self.pfx & pfx::MEM != 0
    }

    #[inline(always)]
    pub fn op32(&self) -> bool {
        self.pfx & pfx::OP32 != 0
    }

    #[inline(always)]
    pub fn addr32(&self) -> bool {
        self.pfx & pfx::ADDR32 != 0
    }

    #[inline(always)]
    pub fn has(&self, bit: u8) -> bool {
        self.pfx & bit != 0
    }

    #[inline(always)]
    pub fn seg(&self) -> usize {
        self.seg as usize
    }

    /// The opcode-table row this instruction was decoded from.
    pub fn def(&self) -> &'static OpDef {
        table::row(self.row)
    }
}

impl std::fmt::Debug for Instr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instr")
            .field("mnemonic", &self.def().mnemonic)
            .field("len", &self.len)
            .field("modrm", &self.modrm)
            .field("disp", &self.disp)
            .field("imm", &self.imm)
            .field("pfx", &self.pfx)
            .finish()
    }
}

/// What a prefix byte does, on a given model (`None`: not a prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    Segment(u8),
    OperandSize,
    AddressSize,
    Lock,
    Rep,
    Repne,
}

/// Classify a byte as a prefix for the given model.
#[inline]
pub fn prefix(q: &Quirks, b: u8) -> Option<Prefix> {
    Some(match b {
        0x26 | 0x2E | 0x36 | 0x3E => Prefix::Segment((b >> 3) & 3),
        0x64 | 0x65 if q.has_386_instructions => Prefix::Segment(b - 0x60),
        0x66 if q.has_386_instructions => Prefix::OperandSize,
        0x67 if q.has_386_instructions => Prefix::AddressSize,
        0xF0 => Prefix::Lock,
        0xF1 if q.f1_is_lock => Prefix::Lock,
        0xF2 => Prefix::Repne,
        0xF3 => Prefix::Rep,
        _ => return None,
    })
}

/// Byte source for the decoder: CS-relative fetches, tracking whether the
/// bytes are physically contiguous RAM within one page (only then may the
/// decoded record be cached by physical address).
struct Fetcher<'a> {
    cpu: &'a mut Cpu,
    bus: &'a mut dyn Bus,
    start: u32,
    len: u32,
    first_phys: u32,
    cacheable: bool,
    max_len: usize,
}

impl Fetcher<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8> {
        if self.len as usize >= self.max_len {
            return Err(Fault::gp(0));
        }
        let (b, phys) = self
            .cpu
            .fetch_code_byte(self.bus, self.start.wrapping_add(self.len))?;
        if self.len == 0 {
            self.first_phys = phys;
            self.cacheable = self.cpu.mem.readable(phys, 1) || self.cpu.mem.rom_mapped(phys);
        } else if phys != self.first_phys.wrapping_add(self.len)
            || (phys >> 12) != (self.first_phys >> 12)
            || !(self.cpu.mem.readable(phys, 1) || self.cpu.mem.rom_mapped(phys))
        {
            self.cacheable = false;
        }
        self.len += 1;
        Ok(b)
    }

    fn word(&mut self) -> Result<u32> {
        let lo = self.byte()? as u32;
        let hi = self.byte()? as u32;
        Ok(lo | hi << 8)
    }

    fn dword(&mut self) -> Result<u32> {
        let lo = self.word()?;
        let hi = self.word()?;
        Ok(lo | hi << 16)
    }
}

/// Decode the instruction at CS:EIP. Returns the record and whether it may be
/// cached.
pub fn decode(cpu: &mut Cpu, bus: &mut dyn Bus) -> Result<(Instr, bool)> {
    let quirks = cpu.quirks;
    let model = cpu.model;
    let tables = table::for_model(cpu.model);
    let default32 = cpu.code32();
    let start = cpu.eip;
    let mut f = Fetcher {
        cpu,
        bus,
        start,
        len: 0,
        first_phys: 0,
        cacheable: true,
        max_len: quirks.max_instruction_len.min(255),
    };

    let mut op32 = default32;
    let mut addr32 = default32;
    let mut flags = 0u8;
    let mut seg_override: Option<u8> = None;
    let mut b = f.byte()?;
    let mut prefixes = 0u8;
    while let Some(p) = prefix(quirks, b) {
        prefixes = prefixes.saturating_add(1);
        match p {
            Prefix::Segment(s) => seg_override = Some(s),
            Prefix::OperandSize => op32 = !default32,
            Prefix::AddressSize => addr32 = !default32,
            Prefix::Lock => flags |= pfx::LOCK,
            // The last of F2/F3 decides.
            Prefix::Rep => flags = (flags & !pfx::REPNE) | pfx::REP,
            Prefix::Repne => flags = (flags & !pfx::REP) | pfx::REPNE,
        }
        b = f.byte()?;
    }

    let mut row = tables.one[b as usize];
    let mut opcode = b;
    if table::row(row).escape_0f {
        opcode = f.byte()?;
        row = tables.two[opcode as usize];
    }
    let mut def = table::row(row);

    let mut ins = Instr {
        exec: def.exec[0],
        disp: 0,
        imm: 0,
        imm2: 0,
        len: 0,
        modrm: 0,
        base: NO_REG,
        index: NO_REG,
        scale: 0,
        seg: seg::DS as u8,
        pfx: 0,
        opcode,
        row,
        prefixes,
        clocks: 0,
        clocks_x: 0,
    };

    if def.modrm {
        let modrm = f.byte()?;
        ins.modrm = modrm;
        if let Some(group) = def.group {
            row = group[((modrm >> 3) & 7) as usize];
            def = table::row(row);
            ins.row = row;
        }
        if modrm < 0xC0 {
            flags |= pfx::MEM;
            if addr32 {
                decode_ea32(&mut f, &mut ins, modrm)?;
            } else {
                decode_ea16(&mut f, &mut ins, modrm)?;
            }
        }
    }

    match def.imm {
        Imm::None => {}
        Imm::B => ins.imm = f.byte()? as u32,
        Imm::W => ins.imm = f.word()?,
        Imm::V => ins.imm = if op32 { f.dword()? } else { f.word()? },
        Imm::Ap => {
            ins.disp = if op32 { f.dword()? } else { f.word()? };
            ins.imm2 = f.word()? as u16;
        }
        Imm::Moffs => ins.disp = if addr32 { f.dword()? } else { f.word()? },
        Imm::WB => {
            ins.imm = f.word()?;
            ins.imm2 = f.byte()? as u16;
        }
    }

    if let Some(s) = seg_override {
        ins.seg = s;
        flags |= pfx::SEG_OVERRIDE;
    }
    if op32 {
        flags |= pfx::OP32;
    }
    if addr32 {
        flags |= pfx::ADDR32;
    }
    ins.pfx = flags;
    ins.exec = def.exec[op32 as usize];
    if flags & pfx::LOCK != 0
        && quirks.lock_requires_lockable
        && (!def.lockable || flags & pfx::MEM == 0)
    {
        ins.exec = table::row(0).exec[0];
    }
    ins.len = f.len as u8;
    (ins.clocks, ins.clocks_x) = timing::clocks(def.timing, model, &ins);
    Ok((ins, f.cacheable))
}

/// 16-bit ModRM addressing (SDM vol. 2 table 2-1).
fn decode_ea16(f: &mut Fetcher, ins: &mut Instr, modrm: u8) -> Result<()> {
    const BASE: [u8; 8] = [
        reg::BX as u8,
        reg::BX as u8,
        reg::BP as u8,
        reg::BP as u8,
        reg::SI as u8,
        reg::DI as u8,
        reg::BP as u8,
        reg::BX as u8,
    ];
    const INDEX: [u8; 8] = [
        reg::SI as u8,
        reg::DI as u8,
        reg::SI as u8,
        reg::DI as u8,
        NO_REG,
        NO_REG,
        NO_REG,
        NO_REG,
    ];
    let md = modrm >> 6;
    let rm = (modrm & 7) as usize;
    if md == 0 && rm == 6 {
        ins.disp = f.word()?;
        return Ok(());
    }
    ins.base = BASE[rm];
    ins.index = INDEX[rm];
    if ins.base == reg::BP as u8 {
        ins.seg = seg::SS as u8;
    }
    ins.disp = match md {
        1 => f.byte()? as i8 as i32 as u32,
        2 => f.word()?,
        _ => 0,
    };
    Ok(())
}

/// 32-bit ModRM/SIB addressing (SDM vol. 2 tables 2-2 and 2-3).
fn decode_ea32(f: &mut Fetcher, ins: &mut Instr, modrm: u8) -> Result<()> {
    let md = modrm >> 6;
    let rm = modrm & 7;
    let mut base = rm;
    if rm == 4 {
        let sib = f.byte()?;
        ins.scale = sib >> 6;
        let index = (sib >> 3) & 7;
        ins.index = if index == 4 { NO_REG } else { index };
        base = sib & 7;
        if base == 5 && md == 0 {
            ins.base = NO_REG;
            ins.disp = f.dword()?;
            return Ok(());
        }
    } else if rm == 5 && md == 0 {
        ins.disp = f.dword()?;
        return Ok(());
    }
    ins.base = base;
    if base == reg::SP as u8 || base == reg::BP as u8 {
        ins.seg = seg::SS as u8;
    }
    ins.disp = match md {
        1 => f.byte()? as i8 as i32 as u32,
        2 => f.dword()?,
        _ => 0,
    };
    Ok(())
}

/// The decode cache: a direct-mapped array of decoded instructions keyed by
/// physical address. A record is valid while its page's generation (bumped by
/// any write to a page holding code) still matches.
pub struct DecodeCache {
    entries: Vec<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Physical address + 1 (0 = empty).
    tag: u32,
    generation: u32,
    mode: u8,
    instr: Instr,
}

const CACHE_BITS: u32 = 14;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

fn empty_exec(_: &mut Cpu, _: &mut dyn Bus, _: &Instr) -> Result<()> {
    Err(Fault::ud())
}

impl DecodeCache {
    pub fn new() -> DecodeCache {
        let empty = Entry {
            tag: 0,
            generation: 0,
            mode: 0,
            instr: Instr {
                exec: empty_exec,
                disp: 0,
                imm: 0,
                imm2: 0,
                len: 1,
                modrm: 0,
                base: NO_REG,
                index: NO_REG,
                scale: 0,
                seg: 0,
                pfx: 0,
                opcode: 0,
                row: 0,
                prefixes: 0,
                clocks: 0,
                clocks_x: 0,
            },
        };
        DecodeCache {
            entries: vec![empty; CACHE_SIZE],
        }
    }

    #[inline(always)]
    fn slot(phys: u32) -> usize {
        (phys as usize) & (CACHE_SIZE - 1)
    }

    #[inline(always)]
    pub fn lookup(&self, phys: u32, mode: u8, mem: &Memory) -> Option<Instr> {
        let e = &self.entries[Self::slot(phys)];
        if e.tag == phys.wrapping_add(1) && e.mode == mode && e.generation == mem.generation(phys) {
            Some(e.instr)
        } else {
            None
        }
    }

    #[inline]
    pub fn insert(&mut self, phys: u32, mode: u8, generation: u32, instr: Instr) {
        self.entries[Self::slot(phys)] = Entry {
            tag: phys.wrapping_add(1),
            generation,
            mode,
            instr,
        };
    }

    pub fn clear(&mut self) {
        for e in &mut self.entries {
            e.tag = 0;
        }
    }
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache::new()
    }
}
