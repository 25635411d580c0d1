//! The x86 CPU: an interpreter with a decode-once cache.
//!
//! Layout of this module:
//! - [`model`]: CPU models and their documented differences ([`Quirks`]);
//! - [`table`]: the opcode table, the one source of truth for every encoding;
//! - [`decode`]: bytes → [`Instr`] records, cached by physical address;
//! - [`flags`]: EFLAGS bits and lazy arithmetic flags;
//! - [`exec`]: the instruction semantics, by group;
//! - this file: the register file, segmentation, memory access and the
//!   step loop that delivers faults.

mod access;
pub mod debug;
pub mod decode;
pub mod exec;
pub mod fault;
pub mod flags;
pub mod fpu;
pub mod hooks;
pub mod model;
pub mod msr;
pub mod paging;
pub mod protected;
pub mod segment;
pub mod table;
pub mod task;
pub mod timing;
pub mod vme;

use crate::memory::Memory;
use decode::{DecodeCache, Instr};
pub use fault::{vector, Fault, Result};
use flags::{Lazy, LazyOp};
pub use model::{CpuModel, Quirks, SegmentWrap};
use oxbox_devices::{Bus, IoSize};
use paging::Tlb;
pub use segment::{Descriptor, Segment};
pub use table::undefined_flags;

/// CR4.DE: debugging extensions (I/O breakpoints; DR4/DR5 no longer alias).
pub const CR4_DE: u32 = 1 << 3;

/// General register numbers, in the x86 encoding order.
pub mod reg {
    pub const AX: usize = 0;
    pub const CX: usize = 1;
    pub const DX: usize = 2;
    pub const BX: usize = 3;
    pub const SP: usize = 4;
    pub const BP: usize = 5;
    pub const SI: usize = 6;
    pub const DI: usize = 7;
    /// Their 32-bit names, in this order (the debugger's and trace's).
    pub const NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
}

/// Segment register numbers, in the x86 encoding order.
pub mod seg {
    pub const ES: usize = 0;
    pub const CS: usize = 1;
    pub const SS: usize = 2;
    pub const DS: usize = 3;
    pub const FS: usize = 4;
    pub const GS: usize = 5;
    /// Their names, in this order.
    pub const NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];
}

/// Operand widths, as types, so one generic function serves 8, 16 and 32
/// bits and the width checks fold away at compile time.
pub trait Width: Copy + 'static {
    const BITS: u32;
    const BYTES: u32 = Self::BITS / 8;
    const MASK: u32 = if Self::BITS == 32 {
        u32::MAX
    } else {
        (1u32 << Self::BITS) - 1
    };
    const SIGN: u32 = 1u32 << (Self::BITS - 1);
    const SIZE: IoSize;

    /// Sign-extend a value of this width to 32 bits.
    #[inline]
    fn sext(v: u32) -> u32 {
        match Self::BITS {
            8 => v as u8 as i8 as i32 as u32,
            16 => v as u16 as i16 as i32 as u32,
            _ => v,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct W8;
#[derive(Clone, Copy, Debug)]
pub struct W16;
#[derive(Clone, Copy, Debug)]
pub struct W32;

impl Width for W8 {
    const BITS: u32 = 8;
    const SIZE: IoSize = IoSize::Byte;
}
impl Width for W16 {
    const BITS: u32 = 16;
    const SIZE: IoSize = IoSize::Word;
}
impl Width for W32 {
    const BITS: u32 = 32;
    const SIZE: IoSize = IoSize::Dword;
}

/// The 8086 register file as the SingleStepTests and the debugger see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs16 {
    pub ax: u16,
    pub bx: u16,
    pub cx: u16,
    pub dx: u16,
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub sp: u16,
    pub bp: u16,
    pub si: u16,
    pub di: u16,
    pub ip: u16,
    pub flags: u16,
}

/// What one call of [`Cpu::step`] did, beyond changing the state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepResult {
    /// An exception or interrupt delivered during this step: its vector and
    /// the physical address of the FLAGS image it pushed.
    pub exception: Option<(u8, u32)>,
    /// The CPU shut down (a fault while delivering a double fault); it stays
    /// halted until reset.
    pub shutdown: bool,
}

/// Why a run of instructions stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget ran out.
    Budget,
    /// The CPU executed HLT (or is halted) with no interrupt to wake it.
    Halted,
    /// Triple fault: the machine must be reset.
    Shutdown,
    /// The cycle counter reached the deadline the caller gave.
    Deadline,
    /// A device asked the machine to stop (an exit port).
    Stopped,
    /// A host debugger breakpoint, watchpoint, I/O or interrupt break
    /// ([`hooks::Hooks::stop`] says which).
    Debug,
}

/// No batch running: no cycle limit for REP string instructions.
fn no_cycle_deadline() -> u64 {
    u64::MAX
}

/// The whole CPU serializes for savestates, except what is derived
/// (`quirks` from the model, the decode cache from memory) or belongs to
/// one step; RAM is saved apart ([`Memory`]'s note).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Cpu {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    pub eip: u32,
    pub segs: [Segment; 6],
    /// EFLAGS except the status bits named in `lazy_mask`.
    flags: u32,
    /// Which of OF/SF/ZF/AF/PF/CF are to be derived from `lazy`.
    lazy_mask: u32,
    lazy: Lazy,
    pub model: CpuModel,
    /// `model.quirks()`; a deserialized CPU has the 8086's until
    /// [`Cpu::adopt_ram`] sets it.
    #[serde(skip, default = "model::default_quirks")]
    pub quirks: &'static Quirks,
    /// Physical address mask from the model's address lines (and, later, A20).
    pub addr_mask: u32,
    pub mem: Memory,
    /// Interrupt descriptor table register (real mode: the IVT at 0).
    pub idtr_base: u32,
    pub idtr_limit: u32,
    pub gdtr_base: u32,
    pub gdtr_limit: u32,
    /// The 286 machine status word / CR0.
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    /// Current privilege level (0 in real mode, 3 in v8086 mode).
    pub cpl: u8,
    /// The local descriptor table and task registers (selector + cache).
    pub ldtr: Segment,
    pub tr: Segment,
    tlb: Tlb,
    pub msrs: msr::Msrs,
    /// The x87 FPU (used by the models that have one: see fpu::exec::has_fpu).
    pub fpu: fpu::Fpu,
    pub debug: debug::DebugRegs,
    /// The host debugger's breakpoints (invisible to the guest, so not in
    /// a savestate: [`Cpu::keep_host_hooks`]).
    #[serde(skip)]
    pub hooks: hooks::Hooks,
    pub halted: bool,
    pub shutdown: bool,
    /// Interrupts are held off for one instruction after MOV SS / POP SS /
    /// STI (SDM vol. 3 §6.8.3).
    inhibit_interrupts: bool,
    /// The INTR line must be polled before the next instruction. Within a
    /// [`Cpu::run`] batch the line only changes through the CPU's own port
    /// or MMIO accesses, or becomes visible when IF is set or an interrupt
    /// shadow ends; everything that can do so sets this flag.
    poll_irq: bool,
    /// Instructions retired.
    pub instructions: u64,
    /// Virtual time in CPU clocks: each instruction adds its cost from the
    /// model's timing table ([`timing`]).
    pub cycles: u64,
    /// The cycle limit of the current [`Cpu::run_until`] batch (u64::MAX
    /// outside one): a REP string instruction stops there too. Not state:
    /// every batch sets it.
    #[serde(skip, default = "no_cycle_deadline")]
    pub(crate) cycle_deadline: u64,
    /// A REP string instruction stopped at a batch's cycle limit (a host
    /// artefact, unlike an interrupt) and will run on: its re-execution
    /// neither counts again nor pays its start-up clocks again, so where
    /// batches end stays invisible to the guest.
    pub(crate) rep_paused: bool,
    /// A cache of what decoding memory gives (a record is used only while
    /// its page's generation matches and CS reaches its bytes), so it is
    /// not state: a restore starts it empty.
    #[serde(skip)]
    cache: DecodeCache,
    /// Set while a step delivers an exception, for [`StepResult`].
    #[serde(skip)]
    last_exception: Option<(u8, u32)>,
}

impl Cpu {
    /// A CPU of the given model with `ram_bytes` of RAM, in its reset state.
    pub fn new(model: CpuModel, ram_bytes: usize) -> Cpu {
        let quirks = model.quirks();
        let mut cpu = Cpu {
            regs: [0; 8],
            eip: 0,
            segs: [Segment::real(0); 6],
            flags: quirks.flags_fixed_ones,
            lazy_mask: 0,
            lazy: Lazy::new(),
            model,
            quirks,
            addr_mask: if quirks.address_bits >= 32 {
                u32::MAX
            } else {
                (1u32 << quirks.address_bits) - 1
            },
            mem: Memory::new(ram_bytes),
            idtr_base: 0,
            idtr_limit: 0x3FF,
            gdtr_base: 0,
            gdtr_limit: 0xFFFF,
            cr0: 0,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cpl: 0,
            ldtr: Segment::null(0),
            tr: Segment::null(0),
            tlb: Tlb::new(),
            msrs: msr::Msrs::new(),
            fpu: fpu::Fpu::new(),
            debug: debug::DebugRegs::default(),
            hooks: hooks::Hooks::default(),
            halted: false,
            shutdown: false,
            inhibit_interrupts: false,
            poll_irq: true,
            instructions: 0,
            cycles: 0,
            cycle_deadline: u64::MAX,
            rep_paused: false,
            cache: DecodeCache::new(),
            last_exception: None,
        };
        cpu.reset();
        cpu
    }

    /// The processor reset state (SDM vol. 3 §9.1.1): CS:IP = F000:FFF0 with
    /// the CS base at the top of the address space on the 286 and later.
    pub fn reset(&mut self) {
        self.regs = [0; 8];
        self.segs = [Segment::real(0); 6];
        self.flags = self.quirks.flags_fixed_ones;
        self.lazy_mask = 0;
        self.idtr_base = 0;
        self.idtr_limit = 0x3FF;
        // GDTR: base 0, limit FFFFH (SDM vol. 3 §9.1.1, table 9-1), also
        // after the reset that follows a triple fault.
        self.gdtr_base = 0;
        self.gdtr_limit = 0xFFFF;
        // CR0 / MSW after reset: the 286 reads its unused MSW bits as ones;
        // the 386 clears CR0 (ET reflects a 387, which oxbox does not have
        // yet); the 486 and later set CD, NW and ET (SDM vol. 3 §9.1.1).
        self.cr0 = match self.model {
            CpuModel::I8086 | CpuModel::I80186 => 0,
            CpuModel::I80286 => 0xFFF0,
            CpuModel::I80386 => 0,
            _ => 0x6000_0010,
        };
        self.cr2 = 0;
        self.cr3 = 0;
        self.cr4 = 0;
        self.cpl = 0;
        self.ldtr = Segment::null(0);
        self.tr = Segment::null(0);
        self.tlb.flush(false);
        self.fpu = fpu::Fpu::new();
        self.debug = debug::DebugRegs::after_reset(self.debug.host);
        self.halted = false;
        self.shutdown = false;
        self.inhibit_interrupts = false;
        if self.model == CpuModel::I8086 || self.model == CpuModel::I80186 {
            self.segs[seg::CS] = Segment::real(0xFFFF);
            self.eip = 0;
        } else {
            self.segs[seg::CS] = Segment {
                base: 0xFFFF_0000 & self.addr_mask,
                ..Segment::real(0xF000)
            };
            self.eip = 0xFFF0;
            if self.model >= CpuModel::I80386 {
                // EDX holds the processor signature after reset.
                self.regs[reg::DX] = match self.model {
                    CpuModel::I80386 => 0x0308,
                    CpuModel::I80486 => 0x0402,
                    CpuModel::Pentium => 0x0543,
                    _ => 0x0633,
                };
            }
        }
    }

    pub fn mem(&self) -> &Memory {
        &self.mem
    }

    pub fn mem_mut(&mut self) -> &mut Memory {
        &mut self.mem
    }

    pub fn is_halted(&self) -> bool {
        self.halted
    }

    // ----- registers -------------------------------------------------------

    /// Read general register `r` at width `W` (for bytes, 4-7 are AH..BH).
    #[inline(always)]
    pub fn reg<W: Width>(&self, r: usize) -> u32 {
        match W::BITS {
            8 => {
                if r < 4 {
                    self.regs[r] & 0xFF
                } else {
                    (self.regs[r & 3] >> 8) & 0xFF
                }
            }
            16 => self.regs[r & 7] & 0xFFFF,
            _ => self.regs[r & 7],
        }
    }

    #[inline(always)]
    pub fn set_reg<W: Width>(&mut self, r: usize, v: u32) {
        match W::BITS {
            8 => {
                if r < 4 {
                    self.regs[r] = (self.regs[r] & !0xFF) | (v & 0xFF);
                } else {
                    let r = r & 3;
                    self.regs[r] = (self.regs[r] & !0xFF00) | ((v & 0xFF) << 8);
                }
            }
            16 => {
                let r = r & 7;
                self.regs[r] = (self.regs[r] & !0xFFFF) | (v & 0xFFFF);
            }
            _ => self.regs[r & 7] = v,
        }
    }

    /// Load a segment register in real mode (or v8086 mode): base = sel << 4.
    #[inline]
    pub fn load_seg_real(&mut self, s: usize, selector: u16) {
        let seg = &mut self.segs[s];
        seg.selector = selector;
        seg.base = (selector as u32) << 4;
        // Real mode keeps the limit of the cache (unreal mode); after reset
        // it is 0xFFFF. It checks no segment types (SDM vol. 3 §20.1), so
        // a register that held a code segment or a null selector is
        // readable and writable again.
        seg.rights = segment::rights::READ | segment::rights::WRITE;
    }

    /// Load a segment register by the rules of the current mode.
    pub fn load_seg(&mut self, bus: &mut dyn Bus, s: usize, selector: u16) -> Result<()> {
        if self.protected_mode() && !self.v86() {
            self.load_seg_protected(bus, s, selector)?;
        } else {
            self.load_seg_real(s, selector);
        }
        if s == seg::SS {
            self.hold_interrupts();
        }
        Ok(())
    }

    /// EFLAGS.VM: virtual-8086 mode.
    #[inline(always)]
    pub fn v86(&self) -> bool {
        self.flags & flags::VM != 0
    }

    /// The register state as the 8086 sees it.
    pub fn real_mode_regs(&self) -> Regs16 {
        Regs16 {
            ax: self.regs[reg::AX] as u16,
            bx: self.regs[reg::BX] as u16,
            cx: self.regs[reg::CX] as u16,
            dx: self.regs[reg::DX] as u16,
            cs: self.segs[seg::CS].selector,
            ss: self.segs[seg::SS].selector,
            ds: self.segs[seg::DS].selector,
            es: self.segs[seg::ES].selector,
            sp: self.regs[reg::SP] as u16,
            bp: self.regs[reg::BP] as u16,
            si: self.regs[reg::SI] as u16,
            di: self.regs[reg::DI] as u16,
            ip: self.eip as u16,
            flags: self.flags_word() as u16,
        }
    }

    /// Set the 16-bit register file and enter real mode at CS:IP, as a
    /// LOADALL or a reset vector would. FLAGS go through the model's rules.
    pub fn set_real_mode_regs(&mut self, r: &Regs16) {
        self.regs[reg::AX] = r.ax as u32;
        self.regs[reg::BX] = r.bx as u32;
        self.regs[reg::CX] = r.cx as u32;
        self.regs[reg::DX] = r.dx as u32;
        self.regs[reg::SP] = r.sp as u32;
        self.regs[reg::BP] = r.bp as u32;
        self.regs[reg::SI] = r.si as u32;
        self.regs[reg::DI] = r.di as u32;
        self.segs[seg::CS] = Segment::real(r.cs);
        self.segs[seg::SS] = Segment::real(r.ss);
        self.segs[seg::DS] = Segment::real(r.ds);
        self.segs[seg::ES] = Segment::real(r.es);
        self.segs[seg::FS] = Segment::real(0);
        self.segs[seg::GS] = Segment::real(0);
        self.eip = r.ip as u32;
        self.cr0 &= !1;
        self.flags = self.quirks.flags_fixed_ones;
        self.lazy_mask = 0;
        self.write_flags(r.flags as u32, 0xFFFF);
        self.halted = false;
        self.shutdown = false;
        self.inhibit_interrupts = false;
    }

    /// True in 32-bit code segments (CS.D set; only a protected-mode
    /// descriptor load sets it, and real mode keeps the cache).
    #[inline(always)]
    pub fn code32(&self) -> bool {
        self.segs[seg::CS].big()
    }

    /// CR0.PE.
    #[inline(always)]
    pub fn protected_mode(&self) -> bool {
        self.cr0 & 1 != 0
    }

    // ----- flags -----------------------------------------------------------

    /// The whole EFLAGS register.
    #[inline]
    pub fn flags_word(&self) -> u32 {
        if self.lazy_mask == 0 {
            self.flags
        } else {
            (self.flags & !self.lazy_mask) | (self.lazy.materialize() & self.lazy_mask)
        }
    }

    /// Write the bits of `value` selected by `mask` into EFLAGS, keeping the
    /// bits the model fixes and the bits real mode protects.
    pub fn write_flags(&mut self, value: u32, mask: u32) {
        let writable = mask & self.writable_flags();
        let current = self.flags_word();
        self.flags = (current & !writable) | (value & writable) | self.quirks.flags_fixed_ones;
        self.lazy_mask = 0;
        self.poll_irq = true;
    }

    /// Replace EFLAGS wholesale (task switches, the return to v8086 mode),
    /// keeping only the always-one bits fixed.
    pub(crate) fn load_flags_raw(&mut self, v: u32) {
        self.flags = v | self.quirks.flags_fixed_ones;
        self.lazy_mask = 0;
        self.poll_irq = true;
    }

    /// The EFLAGS bits software can change in the current mode.
    fn writable_flags(&self) -> u32 {
        let mut w = self.quirks.flags_writable_real;
        if self.protected_mode() {
            w |= flags::IOPL | flags::NT;
        }
        if self.model >= CpuModel::I80386 {
            w |= flags::RF;
        }
        if self.model >= CpuModel::I80486 {
            w |= flags::AC;
        }
        if self.model >= CpuModel::Pentium {
            w |= flags::ID;
        }
        w
    }

    /// Record the operands of a flag-setting arithmetic instruction; `which`
    /// names the status flags it writes (the rest keep their values).
    #[inline(always)]
    pub fn set_lazy(&mut self, op: LazyOp, bits: u32, a: u32, b: u32, res: u32, which: u32) {
        let surviving = self.lazy_mask & !which;
        if surviving != 0 {
            // Pending flags this instruction does not write (CF across
            // INC/DEC): compute just those before the operands are replaced.
            let mut keep = 0;
            for bit in [
                flags::CF,
                flags::PF,
                flags::AF,
                flags::ZF,
                flags::SF,
                flags::OF,
            ] {
                if surviving & bit != 0 && self.flag(bit) {
                    keep |= bit;
                }
            }
            self.flags = (self.flags & !surviving) | keep;
        }
        self.lazy = Lazy {
            op,
            bits: bits as u8,
            a,
            b,
            res,
        };
        self.lazy_mask = which;
    }

    /// Set the flags in `mask` to the bits of `value` (eagerly computed).
    #[inline(always)]
    pub fn set_flags(&mut self, mask: u32, value: u32) {
        if self.lazy_mask != 0 {
            self.flags = self.flags_word();
            self.lazy_mask = 0;
        }
        self.flags = (self.flags & !mask) | (value & mask);
    }

    #[inline(always)]
    pub fn flag(&self, bit: u32) -> bool {
        if self.lazy_mask & bit != 0 {
            match bit {
                flags::CF => self.lazy.cf(),
                flags::ZF => self.lazy.zf(),
                flags::SF => self.lazy.sf(),
                flags::OF => self.lazy.of(),
                flags::PF => self.lazy.pf(),
                flags::AF => self.lazy.af(),
                _ => false,
            }
        } else {
            self.flags & bit != 0
        }
    }

    /// EFLAGS.IF (never lazy, so this is one load).
    #[inline(always)]
    pub fn interrupts_enabled(&self) -> bool {
        self.flags & flags::IF != 0
    }

    #[inline(always)]
    pub fn cf(&self) -> bool {
        self.flag(flags::CF)
    }

    /// Evaluate condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc).
    #[inline]
    pub fn condition(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.flag(flags::OF),
            1 => self.flag(flags::CF),
            2 => self.flag(flags::ZF),
            3 => self.flag(flags::CF) || self.flag(flags::ZF),
            4 => self.flag(flags::SF),
            5 => self.flag(flags::PF),
            6 => self.flag(flags::SF) != self.flag(flags::OF),
            _ => self.flag(flags::ZF) || (self.flag(flags::SF) != self.flag(flags::OF)),
        };
        r != (cc & 1 != 0)
    }

    // ----- stack -----------------------------------------------------------

    /// Stack width: 32 bits when SS's B flag is set.
    #[inline(always)]
    pub fn stack32(&self) -> bool {
        self.segs[seg::SS].big()
    }

    #[inline(always)]
    pub fn sp_mask(&self) -> u32 {
        if self.stack32() {
            u32::MAX
        } else {
            0xFFFF
        }
    }

    #[inline(always)]
    fn set_sp(&mut self, v: u32) {
        let m = self.sp_mask();
        self.regs[reg::SP] = (self.regs[reg::SP] & !m) | (v & m);
    }

    /// Push a value of width `W`.
    #[inline]
    pub fn push<W: Width>(&mut self, bus: &mut dyn Bus, v: u32) -> Result<()> {
        let sp = self.regs[reg::SP].wrapping_sub(W::BYTES) & self.sp_mask();
        self.write::<W>(bus, seg::SS, sp, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Pop a value of width `W`.
    #[inline]
    pub fn pop<W: Width>(&mut self, bus: &mut dyn Bus) -> Result<u32> {
        let sp = self.regs[reg::SP] & self.sp_mask();
        let v = self.read::<W>(bus, seg::SS, sp)?;
        self.set_sp(sp.wrapping_add(W::BYTES));
        Ok(v)
    }

    /// Read the value `depth` bytes above the top of the stack without
    /// popping it.
    #[inline]
    pub fn peek<W: Width>(&mut self, bus: &mut dyn Bus, depth: u32) -> Result<u32> {
        let sp = self.regs[reg::SP].wrapping_add(depth) & self.sp_mask();
        self.read::<W>(bus, seg::SS, sp)
    }

    /// Add to SP (by the stack width).
    #[inline]
    pub fn adjust_sp(&mut self, delta: u32) {
        let sp = self.regs[reg::SP].wrapping_add(delta);
        self.set_sp(sp);
    }

    // ----- control transfer ------------------------------------------------

    /// Jump within the code segment, checking the target against CS.limit
    /// (286+: a jump beyond the limit faults with #GP(0)).
    #[inline]
    pub fn jump_near(&mut self, target: u32, op32: bool) -> Result<()> {
        let target = if op32 { target } else { target & 0xFFFF };
        if target > self.segs[seg::CS].limit && self.model >= CpuModel::I80286 {
            return Err(Fault::gp(0));
        }
        self.eip = target;
        Ok(())
    }

    /// Check a far transfer's target offset against the CS limit: in real
    /// mode a 32-bit offset above 0xFFFF raises #GP(0) (SDM vol. 2, JMP,
    /// CALL, RET and IRET: "#GP If the ... instruction pointer is not within
    /// the code segment limit"; CALL checks before pushing).
    #[inline]
    pub fn check_far_target(&self, offset: u32) -> Result<()> {
        if offset > self.segs[seg::CS].limit && self.model >= CpuModel::I80286 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// Far jump: real mode loads CS directly; protected mode goes through
    /// the descriptor checks (and call gates).
    pub fn jump_far(&mut self, bus: &mut dyn Bus, selector: u16, offset: u32) -> Result<()> {
        if self.protected_mode() && !self.v86() {
            return self.jump_far_protected(bus, selector, offset);
        }
        self.check_far_target(offset)?;
        self.load_seg_real(seg::CS, selector);
        self.eip = offset;
        Ok(())
    }

    /// Far call: push CS and (E)IP (operand size) and jump.
    pub fn call_far(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
        op32: bool,
    ) -> Result<()> {
        if self.protected_mode() && !self.v86() {
            return self.call_far_protected(bus, selector, offset, op32);
        }
        self.check_far_target(offset)?;
        let sp = self.regs[reg::SP];
        let cs = self.segs[seg::CS].selector as u32;
        let ret = self.eip;
        let pushed = if op32 {
            self.push::<W32>(bus, cs)
                .and_then(|_| self.push::<W32>(bus, ret))
        } else {
            self.push::<W16>(bus, cs)
                .and_then(|_| self.push::<W16>(bus, ret))
        };
        if let Err(f) = pushed {
            self.regs[reg::SP] = sp;
            return Err(f);
        }
        self.load_seg_real(seg::CS, selector);
        self.eip = offset;
        Ok(())
    }

    /// Far return, releasing `extra` bytes of parameters.
    pub fn ret_far(&mut self, bus: &mut dyn Bus, op32: bool, extra: u32) -> Result<()> {
        if self.protected_mode() && !self.v86() {
            return self.ret_far_protected(bus, op32, extra);
        }
        let (off, sel, width) = if op32 {
            (self.peek::<W32>(bus, 0)?, self.peek::<W32>(bus, 4)?, 4)
        } else {
            (self.peek::<W16>(bus, 0)?, self.peek::<W16>(bus, 2)?, 2)
        };
        self.check_far_target(off)?;
        self.load_seg_real(seg::CS, sel as u16);
        self.eip = off;
        self.adjust_sp(2 * width + extra);
        Ok(())
    }

    /// IRET: real mode pops IP, CS, FLAGS; protected mode checks the return.
    pub fn iret(&mut self, bus: &mut dyn Bus, op32: bool) -> Result<()> {
        if self.protected_mode() && !self.v86() {
            return self.iret_protected(bus, op32);
        }
        if self.vme_active() && !op32 {
            // VME: a 16-bit IRET in v8086 mode returns on the virtual flag.
            let (ip, cs, fl) = (
                self.peek::<W16>(bus, 0)?,
                self.peek::<W16>(bus, 2)?,
                self.peek::<W16>(bus, 4)?,
            );
            self.vme_load_flags(fl)?;
            self.load_seg_real(seg::CS, cs as u16);
            self.eip = ip;
            self.adjust_sp(6);
            return Ok(());
        }
        let v86_keep = if self.v86() {
            // IRET in v8086 mode is IOPL-sensitive and cannot change IOPL.
            if (self.flags_word() & flags::IOPL) >> 12 < 3 {
                return Err(Fault::gp(0));
            }
            flags::IOPL
        } else {
            0
        };
        let (ip, cs, fl, width, mask) = if op32 {
            let keep = flags::VM | flags::VIF | flags::VIP | v86_keep;
            (
                self.peek::<W32>(bus, 0)?,
                self.peek::<W32>(bus, 4)?,
                self.peek::<W32>(bus, 8)?,
                4,
                !keep,
            )
        } else {
            (
                self.peek::<W16>(bus, 0)?,
                self.peek::<W16>(bus, 2)?,
                self.peek::<W16>(bus, 4)?,
                2,
                0xFFFF & !v86_keep,
            )
        };
        self.check_far_target(ip)?;
        self.load_seg_real(seg::CS, cs as u16);
        self.eip = ip;
        self.adjust_sp(3 * width);
        self.write_flags(fl, mask);
        Ok(())
    }

    /// Deliver an interrupt or exception by the rules of the current mode.
    pub fn interrupt(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        source: protected::Source,
        error_code: Option<u32>,
        return_ip: u32,
    ) -> Result<()> {
        let from = (self.segs[seg::CS].selector, return_ip);
        if source != protected::Source::Software {
            // INT n, INT3 and INTO charge their own clocks.
            self.charge(|s| s.deliver);
        }
        if self.protected_mode() {
            self.interrupt_protected(bus, vector, source, error_code, return_ip)?;
        } else {
            self.interrupt_real(bus, vector, return_ip)?;
        }
        if self.hooks.breaks_on_interrupt(vector) {
            self.hooks.note(hooks::Stop::Interrupt {
                vector,
                source,
                from,
            });
            self.poll_irq = true;
        }
        Ok(())
    }

    /// Note the delivered vector and where its FLAGS image went.
    pub(crate) fn record_exception(&mut self, vector: u8, flags_addr: u32) {
        self.last_exception = Some((vector, flags_addr));
    }

    /// Deliver interrupt `vector` in real mode: push FLAGS, CS and IP
    /// (`return_ip`), clear IF and TF, and load CS:IP from the IVT
    /// (SDM vol. 3 §20.1.4).
    pub fn interrupt_real(&mut self, bus: &mut dyn Bus, vector: u8, return_ip: u32) -> Result<()> {
        let entry = vector as u32 * 4;
        if self.model >= CpuModel::I80286 && entry + 3 > self.idtr_limit {
            // An entry beyond the IDTR limit: the 286 and 386 raise
            // interrupt 8 (286 PRM, "interrupt table limit too small";
            // 80386 PRM §14.3), later models #GP (SDM vol. 2, INT n,
            // real-address mode). No error code is pushed in real mode.
            if self.model <= CpuModel::I80386 {
                return Err(Fault::new(vector::DF));
            }
            return Err(Fault::gp(vector as u32 * 8 + 2));
        }
        let flags_image = self.flags_word();
        self.push::<W16>(bus, flags_image)?;
        let flags_addr = (self.segs[seg::SS]
            .base
            .wrapping_add(self.regs[reg::SP] & self.sp_mask()))
            & self.addr_mask;
        let cs = self.segs[seg::CS].selector as u32;
        self.push::<W16>(bus, cs)?;
        self.push::<W16>(bus, return_ip & 0xFFFF)?;
        let lin = self.idtr_base.wrapping_add(entry);
        let ip = self.read_lin(bus, lin, 2, paging::Access::SupervisorRead)?;
        let cs = self.read_lin(bus, lin.wrapping_add(2), 2, paging::Access::SupervisorRead)?;
        self.set_flags(flags::IF | flags::TF | flags::AC | flags::RF, 0);
        self.load_seg_real(seg::CS, cs as u16);
        self.eip = ip;
        self.record_exception(vector, flags_addr);
        Ok(())
    }

    // ----- execution -------------------------------------------------------

    /// Execute one instruction (a REP string instruction runs to completion
    /// unless an interrupt is pending), delivering any exception it raises.
    pub fn step(&mut self, bus: &mut dyn Bus) -> StepResult {
        self.last_exception = None;
        if self.shutdown {
            return StepResult {
                exception: None,
                shutdown: true,
            };
        }
        if self.debug.task_trap {
            // The trap of a task switch into a TSS with T set comes before
            // external interrupts (SDM vol. 3 §6.9, table 6-2: traps on the
            // previous instruction).
            self.debug.task_trap = false;
            self.debug.dr6 |= debug::dr6::BT;
            let ip = self.eip;
            if let Err(f) = self.interrupt(bus, vector::DB, protected::Source::Exception, None, ip)
            {
                self.deliver_fault(bus, f, ip);
            }
            return self.step_result();
        }
        if !self.inhibit_interrupts && self.interrupts_enabled() && bus.interrupt_pending() {
            let vector = bus.acknowledge_interrupt();
            self.halted = false;
            let ip = self.eip;
            if let Err(f) = self.interrupt(bus, vector, protected::Source::External, None, ip) {
                self.deliver_fault(bus, f, ip);
            }
            return self.step_result();
        }
        if self.halted {
            return self.step_result();
        }
        self.inhibit_interrupts = false;
        let start = self.eip;
        let trap = self.flags & flags::TF != 0;
        let resume = self.flags & flags::RF != 0;
        // Instruction breakpoints fault before the instruction, unless RF
        // says the handler already saw this one (SDM vol. 3 §17.3.1.1).
        if self.debug.exec_armed && !resume {
            let lin = self.segs[seg::CS].base.wrapping_add(self.eip);
            let hits = self.debug.exec_hits(lin);
            if hits != 0 {
                self.debug.dr6 = (self.debug.dr6 & !0xF) | hits;
                self.deliver_fault(bus, Fault::new(vector::DB), start);
                return self.step_result();
            }
        }
        self.debug.pending = 0;
        let traced = self.hooks.tracing.then(|| self.trace_before(bus));
        match self.execute_one(bus) {
            Ok(()) => {
                self.instructions += 1;
                if resume {
                    self.flags &= !flags::RF;
                }
                // Traps after the instruction: data breakpoints and single
                // step, reported together in DR6.
                let mut dr6_bits = self.debug.pending;
                if trap && !self.halted {
                    dr6_bits |= debug::dr6::BS;
                }
                if dr6_bits != 0 {
                    self.debug.dr6 = (self.debug.dr6 & !0xF) | dr6_bits;
                    let ip = self.eip;
                    if let Err(f) =
                        self.interrupt(bus, vector::DB, protected::Source::Exception, None, ip)
                    {
                        self.deliver_fault(bus, f, ip);
                    }
                }
            }
            Err(fault) => self.deliver_fault(bus, fault, start),
        }
        if let Some(mut record) = traced {
            record.after = self.snapshot();
            self.hooks.trace.push(record);
        }
        self.step_result()
    }

    /// The registers a trace line compares.
    pub fn snapshot(&self) -> hooks::RegSnapshot {
        hooks::RegSnapshot {
            gpr: self.regs,
            eip: self.eip,
            eflags: self.flags_word(),
            segs: self.segs.map(|s| s.selector),
            cr: [self.cr0, self.cr2, self.cr3, self.cr4],
        }
    }

    /// The state before an instruction the debugger traces, with its
    /// bytes read without side effects.
    #[cold]
    fn trace_before(&self, bus: &dyn Bus) -> hooks::TraceRecord {
        let lin = self.segs[seg::CS].base.wrapping_add(self.eip);
        let mut bytes = [0; 15];
        let n = self.peek_linear(bus, lin, &mut bytes);
        let before = self.snapshot();
        hooks::TraceRecord {
            instructions: self.instructions,
            cycles: self.cycles,
            lin,
            code32: self.code32(),
            bytes,
            len: n as u8,
            before,
            after: before,
        }
    }

    fn step_result(&self) -> StepResult {
        StepResult {
            exception: self.last_exception,
            shutdown: self.shutdown,
        }
    }

    /// Run up to `max_instructions` instructions or until HLT.
    pub fn run(&mut self, bus: &mut dyn Bus, max_instructions: u64) -> RunExit {
        self.run_until(bus, max_instructions, u64::MAX)
    }

    /// Run until `max_instructions` more have retired, the cycle counter
    /// reaches `cycle_limit` (the next device deadline), the CPU halts or
    /// shuts down, or a device asks to stop.
    ///
    /// The common case (no interrupt to poll for, no trap, no shadow) runs a
    /// tight fetch-execute loop; everything else goes through [`Cpu::step`].
    pub fn run_until(
        &mut self,
        bus: &mut dyn Bus,
        max_instructions: u64,
        cycle_limit: u64,
    ) -> RunExit {
        self.cycle_deadline = cycle_limit;
        let exit = self.run_batch(bus, max_instructions, cycle_limit);
        self.cycle_deadline = u64::MAX;
        exit
    }

    fn run_batch(&mut self, bus: &mut dyn Bus, max_instructions: u64, cycle_limit: u64) -> RunExit {
        let end = self.instructions.saturating_add(max_instructions);
        self.poll_irq = true;
        while self.instructions < end {
            if self.cycles >= cycle_limit {
                return RunExit::Deadline;
            }
            if self.poll_irq
                || self.halted
                || self.inhibit_interrupts
                || self.shutdown
                || self.flags & (flags::TF | flags::RF) != 0
                || self.debug_armed()
            {
                if self.shutdown {
                    return RunExit::Shutdown;
                }
                if self.hooks.stop.is_some() {
                    return RunExit::Debug;
                }
                if bus.stop_requested() {
                    return RunExit::Stopped;
                }
                if self.halted && !(self.interrupts_enabled() && bus.interrupt_pending()) {
                    return RunExit::Halted;
                }
                if self.debug.host.exec && self.host_breakpoint(bus) {
                    return RunExit::Debug;
                }
                self.sync_memory_map(bus);
                let shadow = self.inhibit_interrupts;
                self.poll_irq = false;
                let r = self.step(bus);
                if r.shutdown {
                    return RunExit::Shutdown;
                }
                // The instruction after a shadow must poll again.
                self.poll_irq |= shadow;
                self.hooks.resume_at = None;
                continue;
            }
            let start = self.eip;
            match self.execute_one(bus) {
                Ok(()) => self.instructions += 1,
                Err(fault) => self.deliver_fault(bus, fault, start),
            }
        }
        RunExit::Budget
    }

    /// Fetch, decode (through the cache) and execute one instruction.
    #[inline]
    fn execute_one(&mut self, bus: &mut dyn Bus) -> Result<()> {
        // The code size is read once per instruction.
        let code32 = self.code32();
        let ip_mask = if code32 { u32::MAX } else { 0xFFFF };
        let instr: Instr = self.fetch_decoded(bus, code32, ip_mask)?;
        self.eip = self.eip.wrapping_add(instr.len as u32) & ip_mask;
        self.cycles += instr.clocks as u64;
        (instr.exec)(self, bus, &instr)
    }

    /// IP wraps at 64 KiB in 16-bit code.
    #[inline(always)]
    pub fn ip_mask(&self) -> u32 {
        if self.code32() {
            u32::MAX
        } else {
            0xFFFF
        }
    }

    /// Roll back to the faulting instruction and deliver `fault`; a fault
    /// while delivering becomes a double fault, and a fault while delivering
    /// that shuts the CPU down (SDM vol. 3 §6.15, interrupt 8).
    fn deliver_fault(&mut self, bus: &mut dyn Bus, fault: Fault, fault_ip: u32) {
        let return_ip = if fault.vector == vector::DE && self.quirks.divide_error_pushes_next_ip {
            self.eip
        } else {
            fault_ip
        };
        self.eip = fault_ip;
        let mut current = fault;
        let mut ip = return_ip;
        // At most: the fault, a second one (serial or #DF), then #DF.
        for _ in 0..3 {
            let code = if self.protected_mode() {
                current.error_code
            } else {
                None
            };
            match self.interrupt(bus, current.vector, protected::Source::Exception, code, ip) {
                Ok(()) => return,
                Err(second) => {
                    if current.vector == vector::DF || self.model < CpuModel::I80286 {
                        break;
                    }
                    current = if fault::is_double_fault(current.vector, second.vector) {
                        Fault::with_code(vector::DF, 0)
                    } else {
                        second
                    };
                    ip = fault_ip;
                }
            }
        }
        // A fault while delivering a double fault: shutdown (triple fault).
        self.shutdown = true;
        self.halted = true;
    }

    /// Deliver a software interrupt or trap whose return address is the next
    /// instruction (INT n, INT3, INTO, the 8086's divide error).
    pub fn software_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<()> {
        let ip = self.eip;
        self.interrupt(bus, vector, protected::Source::Software, None, ip)
    }

    /// The decoded instruction at CS:EIP: a decode-cache hit is a few
    /// compares; translation under paging and decoding are out of line.
    #[inline(always)]
    fn fetch_decoded(&mut self, bus: &mut dyn Bus, code32: bool, ip_mask: u32) -> Result<Instr> {
        let lin = self.segs[seg::CS].base.wrapping_add(self.eip);
        let phys = if self.paging() {
            self.translate_fetch(bus, lin)?
        } else {
            lin
        } & self.addr_mask;
        let mode = code32 as u8;
        if let Some(i) = self.cache.lookup(phys, mode, &self.mem) {
            // The record was decoded through some CS; this CS must also
            // reach its last byte without wrapping or passing the limit.
            if self.eip.wrapping_add(i.len as u32 - 1) <= (self.segs[seg::CS].limit & ip_mask) {
                return Ok(i);
            }
        }
        self.decode_and_cache(bus, phys, mode)
    }

    #[inline(never)]
    fn translate_fetch(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.translate(bus, lin, paging::Access::Execute)
    }

    #[cold]
    #[inline(never)]
    fn decode_and_cache(&mut self, bus: &mut dyn Bus, phys: u32, mode: u8) -> Result<Instr> {
        let (instr, cacheable) = decode::decode(self, bus)?;
        if cacheable {
            let generation = self.mem.mark_code(phys);
            self.cache.insert(phys, mode, generation, instr);
        }
        Ok(instr)
    }

    /// Port input through the bus.
    #[inline]
    pub fn port_in<W: Width>(&mut self, bus: &mut dyn Bus, port: u16) -> u32 {
        self.poll_irq = true;
        bus.sync_cycles(self.cycles);
        let v = bus.io_read(port, W::SIZE) & W::MASK;
        if self.debug.io_check {
            self.note_io(port, W::BYTES, false, v);
        }
        v
    }

    #[inline]
    pub fn port_out<W: Width>(&mut self, bus: &mut dyn Bus, port: u16, v: u32) {
        self.poll_irq = true;
        if self.debug.io_check {
            self.note_io(port, W::BYTES, true, v & W::MASK);
        }
        bus.sync_cycles(self.cycles);
        bus.io_write(port, W::SIZE, v & W::MASK);
    }

    /// A port access while guest or host I/O breakpoints are armed. The
    /// guest's need CR4.DE and report through DR6 after the instruction;
    /// the host's stop the run at the next instruction boundary.
    #[cold]
    #[inline(never)]
    fn note_io(&mut self, port: u16, len: u32, write: bool, value: u32) {
        if self.debug.io_armed && self.cr4 & CR4_DE != 0 {
            self.debug.note_io(port, len);
        }
        if self.debug.host.io {
            if let Some(index) = self.hooks.io_hit(port, len) {
                self.hooks.note(hooks::Stop::Io {
                    index,
                    port,
                    len,
                    write,
                    value,
                });
            }
        }
    }

    /// A data access while guest data breakpoints or host watchpoints are
    /// armed (`value` is the value a write stores).
    #[cold]
    #[inline(never)]
    pub(crate) fn note_data(&mut self, lin: u32, len: u32, write: bool, value: Option<u32>) {
        if self.debug.data_armed {
            self.debug.note_access(lin, len, write);
        }
        if self.debug.host.data {
            let Some(phys) = self.peek_translate(lin) else {
                return;
            };
            if let Some(index) = self.hooks.watch_hit(phys, len, write) {
                self.hooks.note(hooks::Stop::Watch {
                    index,
                    lin,
                    phys,
                    len,
                    write,
                    value,
                });
                self.poll_irq = true;
            }
        }
    }

    /// Whether a host breakpoint stops the instruction at CS:EIP (checked
    /// at an instruction boundary in the run loop's careful path, after
    /// any interrupt due there has been delivered, as Bochs does).
    fn host_breakpoint(&mut self, bus: &dyn Bus) -> bool {
        let irq_due = self.debug.task_trap
            || (!self.inhibit_interrupts && self.interrupts_enabled() && bus.interrupt_pending());
        if irq_due {
            return false;
        }
        let cs = &self.segs[seg::CS];
        let lin = cs.base.wrapping_add(self.eip);
        if self.hooks.resume_at.take() == Some(lin) {
            return false;
        }
        let (sel, eip) = (cs.selector, self.eip);
        let mut phys = None;
        for i in 0..self.hooks.breakpoints.len() {
            let hit = match self.hooks.breakpoints[i] {
                hooks::BreakAt::Virtual { cs, eip: e } => cs == sel && e == eip,
                hooks::BreakAt::Linear(l) => l == lin,
                hooks::BreakAt::Physical(p) => {
                    if phys.is_none() {
                        phys = Some(self.peek_translate(lin));
                    }
                    phys.flatten() == Some(p)
                }
            };
            if hit {
                self.hooks.note(hooks::Stop::Breakpoint { index: i });
                return true;
            }
        }
        false
    }

    /// Apply the chipset's memory routing (A20 gate, shadow RAM) as the bus
    /// reports it; called before any instruction that follows a port access.
    pub fn sync_memory_map(&mut self, bus: &dyn Bus) {
        self.set_a20(bus.a20_enabled());
        if let Some((read, write)) = bus.shadow_map() {
            if self.mem.pam() != (read, write) {
                self.mem.set_pam(read, write);
            }
        }
    }

    /// Open or close the A20 gate: with it closed, physical address bit 20
    /// reads as zero (the 8086's 1 MiB wrap-around), on the 286 and later.
    pub fn set_a20(&mut self, enabled: bool) {
        if self.model < CpuModel::I80286 {
            return;
        }
        let full = if self.quirks.address_bits >= 32 {
            u32::MAX
        } else {
            (1u32 << self.quirks.address_bits) - 1
        };
        self.addr_mask = if enabled { full } else { full & !(1 << 20) };
    }

    /// Poll the INTR line before the next instruction (after an access that
    /// may have changed a device's interrupt output).
    #[inline]
    pub fn request_irq_poll(&mut self) {
        self.poll_irq = true;
    }

    /// Hold off maskable interrupts until after the next instruction (STI,
    /// MOV SS, POP SS).
    #[inline]
    pub fn hold_interrupts(&mut self) {
        self.inhibit_interrupts = true;
        self.poll_irq = true;
    }

    /// Drop every cached decoded instruction.
    pub fn flush_decode_cache(&mut self) {
        self.cache.clear();
    }

    /// Complete a deserialized CPU (a savestate restore): take over
    /// `host`'s RAM (of the saved size), which receives `ram`, and look up
    /// the model's quirks.
    /// Take over the host debugger's breakpoints, watchpoints and trace
    /// from `host` (the running CPU a savestate replaces): they belong to
    /// the debugging session, not to the guest's state.
    pub fn keep_host_hooks(&mut self, host: &mut Cpu) {
        self.hooks = std::mem::take(&mut host.hooks);
        self.debug.set_host(host.debug.host);
    }

    pub fn adopt_ram(&mut self, host: &mut Cpu, ram: &[u8]) {
        let pam = self.mem.pam();
        self.mem = std::mem::take(&mut host.mem);
        self.mem.restore(ram, pam);
        self.quirks = self.model.quirks();
    }
}
