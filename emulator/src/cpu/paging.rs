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
}

pub const CR0_PG: u32 = 1 << 31;
pub const CR0_WP: u32 = 1 << 16;
pub const CR4_PSE: u32 = 1 << 4;
pub const CR4_PGE: u32 = 1 << 7;

const TLB_BITS: u32 = 12;
const TLB_SIZE: usize = 1 << TLB_BITS;

/// Accesses an entry allows.
const USER_READ: u8 = 1;
const USER_WRITE: u8 = 2;
const SUPER_WRITE: u8 = 4;

#[derive(Clone, Copy, Debug, Default)]
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
#[derive(Clone)]
pub struct Tlb {
    entries: Vec<TlbEntry>,
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
            if e.perm & need == need {
                return Ok(e.phys | (lin & 0xFFF));
            }
        }
        self.walk(bus, lin, kind.is_write(), user)
    }

    /// The two-level walk of 32-bit paging (4 KiB pages, and 4 MiB pages
    /// with CR4.PSE), setting accessed and dirty flags and filling the TLB.
    #[cold]
    fn walk(&mut self, bus: &mut dyn Bus, lin: u32, write: bool, user: bool) -> Result<u32> {
        let fault = |cpu: &mut Cpu, present: bool| -> Fault {
            cpu.cr2 = lin;
            let mut code = 0;
            if present {
                code |= pf::PRESENT;
            }
            if write {
                code |= pf::WRITE;
            }
            if user {
                code |= pf::USER;
            }
            Fault::with_code(super::vector::PF, code)
        };
        let pde_addr = (self.cr3 & 0xFFFF_F000) | ((lin >> 22) << 2);
        let pde = self.read_phys(bus, pde_addr, 4);
        if pde & pte::P == 0 {
            return Err(fault(self, false));
        }
        let large = pde & pte::PS != 0 && self.cr4 & CR4_PSE != 0;
        let (entry_addr, entry, allowed_user, allowed_write) = if large {
            (pde_addr, pde, pde & pte::US != 0, pde & pte::RW != 0)
        } else {
            let pte_addr = (pde & 0xFFFF_F000) | (((lin >> 12) & 0x3FF) << 2);
            let e = self.read_phys(bus, pte_addr, 4);
            if e & pte::P == 0 {
                return Err(fault(self, false));
            }
            (pte_addr, e, pde & e & pte::US != 0, pde & e & pte::RW != 0)
        };
        let wp = self.cr0 & CR0_WP != 0;
        if (user && !allowed_user) || (write && !allowed_write && (user || wp)) {
            return Err(fault(self, true));
        }
        // Accessed flags on every entry used; dirty on the final one for a
        // write (SDM vol. 3 §4.8).
        if !large && pde & pte::A == 0 {
            self.write_phys(bus, pde_addr, 4, pde | pte::A);
        }
        let mut new_entry = entry | pte::A;
        if write {
            new_entry |= pte::D;
        }
        if new_entry != entry {
            self.write_phys(bus, entry_addr, 4, new_entry);
        }
        let phys_page = if large {
            (entry & 0xFFC0_0000) | (lin & 0x003F_F000)
        } else {
            entry & 0xFFFF_F000
        };
        let dirty = new_entry & pte::D != 0;
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
        self.tlb.entries[slot(lin)] = TlbEntry {
            tag: (lin >> 12) | VALID,
            phys: phys_page,
            perm,
            global: entry & pte::G != 0 && self.cr4 & CR4_PGE != 0,
        };
        Ok(phys_page | (lin & 0xFFF))
    }

    /// Flush the TLB as a CR3 load does (global pages survive with PGE).
    pub fn flush_tlb(&mut self, keep_global: bool) {
        self.tlb.flush(keep_global);
    }

    /// INVLPG.
    pub fn invalidate_page(&mut self, lin: u32) {
        self.tlb.invalidate(lin);
    }
}
