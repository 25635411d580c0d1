//! Paging: the page walk and the flat software TLB
//! (Intel SDM vol. 3, ch. 4 "Paging": §4.3 32-bit paging, §4.6 access
//! rights, §4.7 page-fault exceptions, §4.8 accessed and dirty flags,
//! §4.10 caching translation information).
//!
//! The TLB is direct-mapped by linear page number. An entry holds the
//! physical page and the accesses it allows without a walk: a write is only
//! allowed from the TLB once the page's dirty flag is set, so the first
//! write to a clean page walks again and sets it, as the hardware does.

use super::{Cpu, Fault, Result};
use oxbox_devices::Bus;
use serde::{Deserialize, Serialize};

/// Who accesses memory, for the page-level protection checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A data read by the running code (user-level checks at CPL 3).
    Read,
    /// A data write by the running code.
    Write,
    /// An instruction fetch.
    Execute,
    /// The CPU's own reads of descriptor tables, the TSS, the IDT: always
    /// supervisor-level (SDM vol. 3 §5.3 "implicit supervisor-mode access").
    SupervisorRead,
    SupervisorWrite,
}

impl Access {
    fn is_write(self) -> bool {
        matches!(self, Access::Write | Access::SupervisorWrite)
    }

    fn explicit(self) -> bool {
        matches!(self, Access::Read | Access::Write | Access::Execute)
    }
}

/// Page-table entry bits.
pub mod pte {
    pub const P: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const US: u32 = 1 << 2;
    pub const A: u32 = 1 << 5;
    pub const D: u32 = 1 << 6;
    pub const PS: u32 = 1 << 7;
    pub const G: u32 = 1 << 8;
}

/// #PF error-code bits (SDM vol. 3 §4.7).
pub mod pf {
    pub const PRESENT: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const USER: u32 = 1 << 2;
    pub const RESERVED: u32 = 1 << 3;
    pub const FETCH: u32 = 1 << 4;
}

pub const CR0_PG: u32 = 1 << 31;
pub const CR0_WP: u32 = 1 << 16;
pub const CR4_PSE: u32 = 1 << 4;
pub const CR4_PAE: u32 = 1 << 5;
pub const CR4_PGE: u32 = 1 << 7;
/// EFER.NXE: the execute-disable bit of PAE entries is honoured.
pub const EFER_NXE: u64 = 1 << 11;
/// PAE entries: the execute-disable bit.
const PAE_NX: u64 = 1 << 63;
/// PAE entries: physical address bits 12-51.
const PAE_ADDR: u64 = 0x000F_FFFF_FFFF_F000;

const TLB_BITS: u32 = 12;
const TLB_SIZE: usize = 1 << TLB_BITS;

/// Accesses an entry allows.
const USER_READ: u8 = 1;
const USER_WRITE: u8 = 2;
const SUPER_WRITE: u8 = 4;
/// The page is execute-disabled: fetches must walk (and fault).
const NO_EXEC: u8 = 8;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct TlbEntry {
    /// Linear page number | VALID.
    tag: u32,
    /// Physical page base.
    phys: u32,
    perm: u8,
    global: bool,
}

const VALID: u32 = 1 << 31;

/// The software TLB.
///
/// It is part of the saved machine state, not rebuilt on restore: like the
/// silicon's, it keeps a translation after the guest edits the page table
/// until INVLPG or a CR3 load, and a guest may (knowingly or not) run on
/// such a stale entry; flushing on restore would make the resumed run
/// differ from the original one. Saved sparsely: the valid entries with
/// their slots.
#[derive(Clone)]
pub struct Tlb {
    entries: Vec<TlbEntry>,
}

impl Serialize for Tlb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let valid: Vec<(u16, TlbEntry)> = (self.entries.iter().enumerate())
            .filter(|(_, e)| e.tag & VALID != 0)
            .map(|(i, e)| (i as u16, *e))
            .collect();
        valid.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tlb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Tlb, D::Error> {
        let mut tlb = Tlb::new();
        for (i, e) in Vec::<(u16, TlbEntry)>::deserialize(d)? {
            let slot = tlb
                .entries
                .get_mut(i as usize)
                .ok_or_else(|| serde::de::Error::custom(format!("TLB slot {i} out of range")))?;
            *slot = e;
        }
        Ok(tlb)
    }
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb::new()
    }
}

impl Tlb {
    pub fn new() -> Tlb {
        Tlb {
            entries: vec![TlbEntry::default(); TLB_SIZE],
        }
    }

    /// Drop every entry, or every non-global one (a CR3 load with CR4.PGE).
    pub fn flush(&mut self, keep_global: bool) {
        for e in &mut self.entries {
            if !(keep_global && e.global) {
                e.tag = 0;
            }
        }
    }

    /// INVLPG: drop the entry for one linear page.
    pub fn invalidate(&mut self, lin: u32) {
        let e = &mut self.entries[slot(lin)];
        if e.tag == (lin >> 12) | VALID {
            e.tag = 0;
        }
    }
}

/// What a page walk found.
struct Walked {
    /// The final entry (PTE, or the PDE of a large page) and its address.
    entry_addr: u32,
    entry: u64,
    /// The physical page the linear page maps to.
    page: u32,
    user: bool,
    writable: bool,
    no_exec: bool,
    large: bool,
    pde_addr: u32,
    pde: u64,
}

#[inline(always)]
fn slot(lin: u32) -> usize {
    ((lin >> 12) as usize) & (TLB_SIZE - 1)
}

impl Cpu {
    /// CR0.PG (with PE).
    #[inline(always)]
    pub fn paging(&self) -> bool {
        self.cr0 & CR0_PG != 0
    }

    /// Linear → physical for an access of the given kind, through the TLB.
    #[inline(always)]
    pub fn translate(&mut self, bus: &mut dyn Bus, lin: u32, kind: Access) -> Result<u32> {
        let user = kind.explicit() && self.cpl == 3;
        let e = &self.tlb.entries[slot(lin)];
        if e.tag == (lin >> 12) | VALID {
            let need = match (kind.is_write(), user) {
                (true, true) => USER_WRITE,
                (true, false) => SUPER_WRITE,
                (false, true) => USER_READ,
                (false, false) => 0,
            };
            let fetch_blocked = kind == Access::Execute && e.perm & NO_EXEC != 0;
            if e.perm & need == need && !fetch_blocked {
                return Ok(e.phys | (lin & 0xFFF));
            }
        }
        self.walk(bus, lin, kind, user)
    }

    /// The page walk: 32-bit paging (4 KiB pages, 4 MiB pages with
    /// CR4.PSE) or PAE (4 KiB and 2 MiB pages, execute-disable with
    /// EFER.NXE); checks the access, sets accessed and dirty flags and
    /// fills the TLB.
    #[cold]
    fn walk(&mut self, bus: &mut dyn Bus, lin: u32, kind: Access, user: bool) -> Result<u32> {
        let write = kind.is_write();
        let fetch = kind == Access::Execute;
        let nxe = self.nx_enabled();
        let fault = |cpu: &mut Cpu, bits: u32| -> Fault {
            cpu.cr2 = lin;
            let mut code = bits;
            if write {
                code |= pf::WRITE;
            }
            if user {
                code |= pf::USER;
            }
            if fetch && nxe {
                code |= pf::FETCH;
            }
            Fault::with_code(super::vector::PF, code)
        };
        let (cr3, cr4) = (self.cr3, self.cr4);
        let walked = walk_entries(cr3, cr4, nxe, lin, &mut |a, wide| {
            let lo = self.read_phys(bus, a, 4) as u64;
            if wide {
                lo | (self.read_phys(bus, a.wrapping_add(4), 4) as u64) << 32
            } else {
                lo
            }
        });
        let w = match walked {
            Ok(w) => w,
            Err(bits) => return Err(fault(self, bits)),
        };
        let Walked {
            entry_addr,
            entry,
            page,
            user: allowed_user,
            writable: allowed_write,
            no_exec,
            large,
            pde_addr,
            pde,
        } = w;
        let wp = self.cr0 & CR0_WP != 0;
        if (user && !allowed_user)
            || (write && !allowed_write && (user || wp))
            || (fetch && no_exec)
        {
            return Err(fault(self, pf::PRESENT));
        }
        // Accessed flags on every entry used; dirty on the final one for a
        // write (SDM vol. 3 §4.8). Both live in the low dword.
        let low = entry as u32;
        if !large && pde as u32 & pte::A == 0 {
            self.write_phys(bus, pde_addr, 4, pde as u32 | pte::A);
        }
        let mut new_low = low | pte::A;
        if write {
            new_low |= pte::D;
        }
        if new_low != low {
            self.write_phys(bus, entry_addr, 4, new_low);
        }
        let dirty = new_low & pte::D != 0;
        let mut perm = 0;
        if allowed_user {
            perm |= USER_READ;
            if allowed_write && dirty {
                perm |= USER_WRITE;
            }
        }
        if (allowed_write || !wp) && dirty {
            perm |= SUPER_WRITE;
        }
        if no_exec {
            perm |= NO_EXEC;
        }
        self.tlb.entries[slot(lin)] = TlbEntry {
            tag: (lin >> 12) | VALID,
            phys: page,
            perm,
            global: low & pte::G != 0 && self.cr4 & CR4_PGE != 0,
        };
        Ok(page | (lin & 0xFFF))
    }

    /// Flush the TLB as a CR3 load does (global pages survive with PGE).
    pub fn flush_tlb(&mut self, keep_global: bool) {
        self.tlb.flush(keep_global);
    }

    /// INVLPG.
    pub fn invalidate_page(&mut self, lin: u32) {
        self.tlb.invalidate(lin);
    }

    /// PAE with EFER.NXE: the execute-disable bit is honoured.
    fn nx_enabled(&self) -> bool {
        self.cr4 & CR4_PAE != 0 && self.msrs.read(super::msr::EFER) & EFER_NXE != 0
    }

    /// Linear → physical for the debugger, without side effects: no
    /// accessed/dirty flags written, no TLB fill, no #PF, no CR2. A TLB
    /// hit answers as the CPU would; otherwise the page tables in RAM are
    /// walked. `None` when the page is not mapped.
    pub fn peek_translate(&self, lin: u32) -> Option<u32> {
        if !self.paging() {
            return Some(lin & self.addr_mask);
        }
        let e = &self.tlb.entries[slot(lin)];
        if e.tag == (lin >> 12) | VALID {
            return Some((e.phys | (lin & 0xFFF)) & self.addr_mask);
        }
        self.debug_walk(lin)
            .result
            .ok()
            .map(|t| t.phys & self.addr_mask)
    }

    /// The page walk for `lin` as the debugger shows it (`page`): every
    /// entry read and the outcome, without side effects (see
    /// [`Cpu::peek_translate`]). Page tables are read from RAM.
    pub fn debug_walk(&self, lin: u32) -> PageWalk {
        let mut entries = Vec::new();
        let pae = self.cr4 & CR4_PAE != 0;
        if !self.paging() {
            return PageWalk {
                entries,
                pae,
                result: Ok(PageInfo {
                    phys: lin & self.addr_mask,
                    user: true,
                    writable: true,
                    no_exec: false,
                    large: false,
                }),
            };
        }
        let mem = &self.mem;
        let read32 = |a: u32| -> u64 {
            if mem.in_ram(a, 4) {
                mem.read_le(a, 4) as u64
            } else {
                0
            }
        };
        let walked = walk_entries(
            self.cr3,
            self.cr4,
            self.nx_enabled(),
            lin,
            &mut |a, wide| {
                let v = if wide {
                    read32(a) | read32(a.wrapping_add(4)) << 32
                } else {
                    read32(a)
                };
                entries.push((a, v));
                v
            },
        );
        PageWalk {
            entries,
            pae,
            result: walked.map(|w| PageInfo {
                phys: w.page | (lin & 0xFFF),
                user: w.user,
                writable: w.writable,
                no_exec: w.no_exec,
                large: w.large,
            }),
        }
    }
}

/// A side-effect-free page walk ([`Cpu::debug_walk`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageWalk {
    /// Each entry read, in walk order (physical address, value): PDE, PTE
    /// for 32-bit paging; PDPTE, PDE, PTE for PAE. Empty without paging.
    pub entries: Vec<(u32, u64)>,
    pub pae: bool,
    /// The translation, or the #PF error-code bits of a walk that fails
    /// (0: not present; RESERVED: a reserved bit set).
    pub result: std::result::Result<PageInfo, u32>,
}

impl PageWalk {
    /// The name of entry `i` of [`PageWalk::entries`].
    pub fn level_name(&self, i: usize) -> &'static str {
        let names: &[&str] = if self.pae {
            &["PDPTE", "PDE", "PTE"]
        } else {
            &["PDE", "PTE"]
        };
        names.get(i).copied().unwrap_or("?")
    }
}

/// What a translation allows (the user and write rights combine every
/// level's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageInfo {
    pub phys: u32,
    pub user: bool,
    pub writable: bool,
    pub no_exec: bool,
    pub large: bool,
}

/// The entries a page walk reads for `lin`, through `read(addr, wide)`
/// (wide: a 64-bit PAE entry), and what they map it to; `Err` carries
/// the #PF error-code bits. Shared by the CPU's walk, which then checks
/// the access and sets A/D flags, and the debugger's, which does neither.
///
/// PAE (SDM vol. 3 §4.4): the PDPTE is read from memory at each walk (the
/// silicon caches the four PDPTEs at the CR3 load, which only differs when
/// a guest edits its PDPT without reloading CR3), then the PDE and, for
/// 4 KiB pages, the PTE.
fn walk_entries(
    cr3: u32,
    cr4: u32,
    nxe: bool,
    lin: u32,
    read: &mut dyn FnMut(u32, bool) -> u64,
) -> std::result::Result<Walked, u32> {
    if cr4 & CR4_PAE == 0 {
        let pde_addr = (cr3 & 0xFFFF_F000) | ((lin >> 22) << 2);
        let pde = read(pde_addr, false) as u32;
        if pde & pte::P == 0 {
            return Err(0);
        }
        if pde & pte::PS != 0 && cr4 & CR4_PSE != 0 {
            return Ok(Walked {
                entry_addr: pde_addr,
                entry: pde as u64,
                page: (pde & 0xFFC0_0000) | (lin & 0x003F_F000),
                user: pde & pte::US != 0,
                writable: pde & pte::RW != 0,
                no_exec: false,
                large: true,
                pde_addr,
                pde: pde as u64,
            });
        }
        let pte_addr = (pde & 0xFFFF_F000) | (((lin >> 12) & 0x3FF) << 2);
        let e = read(pte_addr, false) as u32;
        if e & pte::P == 0 {
            return Err(0);
        }
        return Ok(Walked {
            entry_addr: pte_addr,
            entry: e as u64,
            page: e & 0xFFFF_F000,
            user: pde & e & pte::US != 0,
            writable: pde & e & pte::RW != 0,
            no_exec: false,
            large: false,
            pde_addr,
            pde: pde as u64,
        });
    }
    let reserved = |e: u64| -> bool { e & 0x7FF0_0000_0000_0000 != 0 || (!nxe && e & PAE_NX != 0) };
    let pdpte = read((cr3 & 0xFFFF_FFE0) + ((lin >> 30) << 3), true);
    if pdpte & pte::P as u64 == 0 {
        return Err(0);
    }
    let pde_addr = (pdpte & PAE_ADDR) as u32 + (((lin >> 21) & 0x1FF) << 3);
    let pde = read(pde_addr, true);
    if pde & pte::P as u64 == 0 {
        return Err(0);
    }
    if reserved(pde) {
        return Err(pf::PRESENT | pf::RESERVED);
    }
    if pde & pte::PS as u64 != 0 {
        let base = (pde & 0x000F_FFFF_FFE0_0000) as u32 + (lin & 0x001F_F000);
        return Ok(Walked {
            entry_addr: pde_addr,
            entry: pde,
            page: base,
            user: pde & pte::US as u64 != 0,
            writable: pde & pte::RW as u64 != 0,
            no_exec: nxe && pde & PAE_NX != 0,
            large: true,
            pde_addr,
            pde,
        });
    }
    let pte_addr = (pde & PAE_ADDR) as u32 + (((lin >> 12) & 0x1FF) << 3);
    let e = read(pte_addr, true);
    if e & pte::P as u64 == 0 {
        return Err(0);
    }
    if reserved(e) {
        return Err(pf::PRESENT | pf::RESERVED);
    }
    Ok(Walked {
        entry_addr: pte_addr,
        entry: e,
        page: (e & PAE_ADDR) as u32,
        user: pde & e & pte::US as u64 != 0,
        writable: pde & e & pte::RW as u64 != 0,
        no_exec: nxe && (pde | e) & PAE_NX != 0,
        large: false,
        pde_addr,
        pde,
    })
}
