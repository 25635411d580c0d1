//! The x87 FPU (80486, Pentium and P6 models; the 8086-80386 run without a
//! coprocessor).
//!
//! - [`f80`]: the 80-bit format and its correctly rounded arithmetic;
//! - [`trans`]: the transcendental instructions;
//! - [`exec`]: the ESC opcode table (D8-DF × ModRM), one row per encoding,
//!   and the glue between the CPU and this state;
//! - this file: the register stack, tags, control/status words, the last
//!   instruction and operand pointers, exception reporting and the saved
//!   environment/state images.
//!
//! References: Intel SDM vol. 1 ch. 8 (x87 FPU) and §10.5.1 (FXSAVE), vol.
//! 2 (each instruction), vol. 3 §2.5 (CR0.MP/EM/TS/NE) and table 9-1 (the
//! state after reset).
//!
//! # Exception reporting
//!
//! An unmasked exception sets its flag and ES/B in the status word; the
//! instruction that raised it completes by the rules of SDM vol. 1 §8.5
//! (no result for IE/DE/ZE, a biased result for OE/UE). The *next* waiting
//! x87 instruction (or WAIT) then reports it: with CR0.NE = 1 as #MF; with
//! CR0.NE = 0 through the FERR# pin, which a PC routes to IRQ13 — see
//! [`Fpu::irq13_pending`].

pub mod exec;
pub mod f80;
pub mod trans;

use f80::Class;
pub use f80::{exc, Ctx, F80};

/// Status-word bits (SDM vol. 1 §8.1.3).
pub mod sw {
    pub const EXCEPTIONS: u16 = 0x3F;
    pub const SF: u16 = 1 << 6;
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP: u16 = 7 << 11;
    pub const C3: u16 = 1 << 14;
    pub const B: u16 = 1 << 15;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The x87 register stack and its control state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fpu {
    /// The physical registers R0-R7; ST(i) is R((TOP + i) mod 8).
    regs: [F80; 8],
    /// Bit j set: R j is empty. The full tag word (valid/zero/special) is
    /// derived from the contents when it is stored, as the P6 does.
    empty: u8,
    top: u8,
    /// Control word. Bit 6 reads as 1 and bits 13-15 as 0 (checked against
    /// the host x87); the infinity-control bit 12 is kept but has no effect.
    cw: u16,
    /// Status word without TOP, ES and B (derived on read).
    sw: u16,
    /// Last instruction pointer (offset and CS selector), its opcode (the low
    /// 11 bits of the two opcode bytes) and last data pointer.
    pub fip: u32,
    pub fcs: u16,
    pub fop: u16,
    pub fdp: u32,
    pub fds: u16,
}

impl Default for Fpu {
    fn default() -> Fpu {
        Fpu::new()
    }
}

/// The layouts of FSTENV/FLDENV (SDM vol. 1 figures 8-9 to 8-12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvFormat {
    Real16,
    Prot16,
    Real32,
    Prot32,
}

impl EnvFormat {
    pub fn new(op32: bool, protected: bool) -> EnvFormat {
        match (op32, protected) {
            (false, false) => EnvFormat::Real16,
            (false, true) => EnvFormat::Prot16,
            (true, false) => EnvFormat::Real32,
            (true, true) => EnvFormat::Prot32,
        }
    }

    /// Bytes of the environment (FSAVE adds 80 for the registers).
    pub fn len(self) -> usize {
        match self {
            EnvFormat::Real16 | EnvFormat::Prot16 => 14,
            _ => 28,
        }
    }

    pub fn is_empty(self) -> bool {
        false
    }
}

/// Control word after FNINIT.
pub const CW_INIT: u16 = 0x037F;

impl Fpu {
    /// The state after RESET (SDM vol. 3 table 9-1): CW 0040h, SW 0, tag
    /// word 5555h (every register valid and +0.0).
    pub fn new() -> Fpu {
        Fpu {
            regs: [F80::ZERO; 8],
            empty: 0,
            top: 0,
            cw: 0x0040,
            sw: 0,
            fip: 0,
            fcs: 0,
            fop: 0,
            fdp: 0,
            fds: 0,
        }
    }

    /// FNINIT: CW 037Fh, SW 0, every register empty, pointers cleared (the
    /// register contents are kept).
    pub fn init(&mut self) {
        self.cw = CW_INIT;
        self.sw = 0;
        self.top = 0;
        self.empty = 0xFF;
        self.fip = 0;
        self.fcs = 0;
        self.fop = 0;
        self.fdp = 0;
        self.fds = 0;
    }

    // ----- control and status words -----------------------------------------

    pub fn control_word(&self) -> u16 {
        self.cw
    }

    pub fn set_control_word(&mut self, v: u16) {
        self.cw = (v & 0x1F3F) | 0x0040;
    }

    /// The status word with TOP, and ES/B set while an unmasked exception
    /// flag is set.
    pub fn status_word(&self) -> u16 {
        let mut v = self.sw | (self.top as u16) << 11;
        if self.pending() {
            v |= sw::ES | sw::B;
        }
        v
    }

    pub fn set_status_word(&mut self, v: u16) {
        self.top = ((v >> 11) & 7) as u8;
        self.sw = v & !(sw::TOP | sw::ES | sw::B);
    }

    /// An unmasked exception is pending: the next waiting instruction
    /// reports it.
    #[inline]
    pub fn pending(&self) -> bool {
        self.sw & !self.cw & sw::EXCEPTIONS != 0
    }

    /// The FERR# output: an unmasked exception is pending. With CR0.NE = 0 a
    /// PC chipset turns it into IRQ13 (and holds it until software writes
    /// port F0h, which also asserts IGNNE#). The machine should raise IRQ13
    /// while `cr0.NE == 0 && fpu.irq13_pending()` and the line was not yet
    /// acknowledged; oxbox's x87 behaves as if IGNNE# were asserted, so a
    /// waiting instruction with NE = 0 does not freeze.
    pub fn irq13_pending(&self) -> bool {
        self.pending()
    }

    pub fn top(&self) -> u8 {
        self.top
    }

    // ----- the register stack ---------------------------------------------------

    #[inline]
    fn phys(&self, i: usize) -> usize {
        (self.top as usize + i) & 7
    }

    /// ST(i) (whatever is stored, even if the register is empty).
    #[inline]
    pub fn st(&self, i: usize) -> F80 {
        self.regs[self.phys(i)]
    }

    #[inline]
    pub fn is_empty(&self, i: usize) -> bool {
        self.empty & (1 << self.phys(i)) != 0
    }

    /// Write ST(i) and mark it valid.
    #[inline]
    pub fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.empty &= !(1 << p);
    }

    /// Mark ST(i) empty.
    #[inline]
    pub fn free(&mut self, i: usize) {
        self.empty |= 1 << self.phys(i);
    }

    /// Physical register `r` and whether it is empty (for the debugger and
    /// the save images).
    pub fn physical(&self, r: usize) -> (F80, bool) {
        (self.regs[r & 7], self.empty & (1 << (r & 7)) != 0)
    }

    /// Decrement TOP and write the new ST(0).
    #[inline]
    pub fn push(&mut self, v: F80) {
        self.top = (self.top + 7) & 7;
        self.set_st(0, v);
    }

    /// Mark ST(0) empty and increment TOP.
    #[inline]
    pub fn pop(&mut self) {
        self.free(0);
        self.top = (self.top + 1) & 7;
    }

    pub fn inc_top(&mut self) {
        self.top = (self.top + 1) & 7;
    }

    pub fn dec_top(&mut self) {
        self.top = (self.top + 7) & 7;
    }

    /// The tag of a physical register: 00 valid, 01 zero, 10 special, 11
    /// empty (SDM vol. 1 §8.1.7).
    fn tag(&self, r: usize) -> u16 {
        if self.empty & (1 << r) != 0 {
            return 3;
        }
        match self.regs[r].class() {
            Class::Normal => 0,
            Class::Zero => 1,
            _ => 2,
        }
    }

    pub fn tag_word(&self) -> u16 {
        (0..8).map(|r| self.tag(r) << (2 * r)).fold(0, |a, b| a | b)
    }

    /// Load a tag word: 11 empties a register, any other value marks it
    /// valid (its class follows from the contents).
    pub fn set_tag_word(&mut self, v: u16) {
        self.empty = 0;
        for r in 0..8 {
            if (v >> (2 * r)) & 3 == 3 {
                self.empty |= 1 << r;
            }
        }
    }

    /// The FXSAVE abridged tag: bit j set when R j is not empty.
    pub fn abridged_tag(&self) -> u8 {
        !self.empty
    }

    // ----- exceptions -----------------------------------------------------------

    /// The rounding environment of the control word.
    #[inline]
    pub fn ctx(&self) -> Ctx {
        Ctx::new(self.cw)
    }

    #[inline]
    fn masked(&self, f: u8) -> bool {
        self.cw as u8 & f != 0
    }

    /// Set condition-code bits: those in `mask` take the values in `bits`.
    #[inline]
    pub fn set_cc(&mut self, mask: u16, bits: u16) {
        self.sw = (self.sw & !mask) | (bits & mask);
    }

    /// Report the exceptions an operation raised and decide whether its
    /// result is delivered (SDM vol. 1 §8.7, exception priority): an
    /// unmasked invalid operation, denormal operand or zero divide leaves
    /// the destination unchanged (only that exception is reported, with any
    /// masked one of higher priority); otherwise every flag is recorded and
    /// the result (biased for unmasked OE/UE) is written. C1 becomes the
    /// rounded-up bit of an inexact result, 0 otherwise.
    pub fn commit(&mut self, ctx: &Ctx) -> bool {
        let f = ctx.flags;
        let report = |mask: u8| f & mask;
        let (flags, deliver) = if f & exc::IE != 0 && !self.masked(exc::IE) {
            (report(exc::IE | exc::SF), false)
        } else if f & exc::DE != 0 && !self.masked(exc::DE) {
            (report(exc::IE | exc::DE), false)
        } else if f & exc::ZE != 0 && !self.masked(exc::ZE) {
            (report(exc::IE | exc::DE | exc::ZE), false)
        } else {
            (f, true)
        };
        self.sw |= flags as u16;
        let c1 = deliver && f & exc::PE != 0 && ctx.up;
        self.set_cc(sw::C1, if c1 { sw::C1 } else { 0 });
        deliver
    }

    /// A stack fault (SDM vol. 1 §8.5.1.1): IE and SF, C1 = 1 for overflow
    /// and 0 for underflow. Returns whether IE is masked (the instruction
    /// then continues with the real indefinite).
    pub fn stack_fault(&mut self, overflow: bool) -> bool {
        self.sw |= (exc::IE | exc::SF) as u16;
        self.set_cc(sw::C1, if overflow { sw::C1 } else { 0 });
        self.masked(exc::IE)
    }

    /// Push `v` checking for stack overflow (ST(7) not empty): the masked
    /// response pushes the real indefinite. Returns false if nothing was
    /// pushed (unmasked).
    pub fn push_checked(&mut self, v: F80) -> bool {
        if !self.is_empty(7) {
            if !self.stack_fault(true) {
                return false;
            }
            self.push(F80::INDEFINITE);
            return true;
        }
        self.push(v);
        true
    }

    // ----- environment and state images -----------------------------------------

    /// FSTENV/FNSTENV image (the caller then masks every exception).
    pub fn store_env(&self, fmt: EnvFormat) -> [u8; 28] {
        let mut b = [0u8; 28];
        let cw = self.cw;
        let sw = self.status_word();
        let tw = self.tag_word();
        let fip_lin = ((self.fcs as u32) << 4).wrapping_add(self.fip);
        let fdp_lin = ((self.fds as u32) << 4).wrapping_add(self.fdp);
        let fop = (self.fop & 0x7FF) as u32;
        match fmt {
            EnvFormat::Real16 | EnvFormat::Prot16 => {
                let words: [u16; 7] = if fmt == EnvFormat::Prot16 {
                    [
                        cw,
                        sw,
                        tw,
                        self.fip as u16,
                        self.fcs,
                        self.fdp as u16,
                        self.fds,
                    ]
                } else {
                    [
                        cw,
                        sw,
                        tw,
                        fip_lin as u16,
                        ((fip_lin >> 16 & 0xF) << 12) as u16 | fop as u16,
                        fdp_lin as u16,
                        ((fdp_lin >> 16 & 0xF) << 12) as u16,
                    ]
                };
                for (k, w) in words.iter().enumerate() {
                    b[2 * k..2 * k + 2].copy_from_slice(&w.to_le_bytes());
                }
            }
            EnvFormat::Real32 | EnvFormat::Prot32 => {
                // The reserved upper halves read as ones (host x87).
                let dwords: [u32; 7] = if fmt == EnvFormat::Prot32 {
                    [
                        0xFFFF_0000 | cw as u32,
                        0xFFFF_0000 | sw as u32,
                        0xFFFF_0000 | tw as u32,
                        self.fip,
                        self.fcs as u32 | fop << 16,
                        self.fdp,
                        0xFFFF_0000 | self.fds as u32,
                    ]
                } else {
                    [
                        0xFFFF_0000 | cw as u32,
                        0xFFFF_0000 | sw as u32,
                        0xFFFF_0000 | tw as u32,
                        0xFFFF_0000 | (fip_lin & 0xFFFF),
                        (fip_lin >> 16) << 12 | fop,
                        0xFFFF_0000 | (fdp_lin & 0xFFFF),
                        (fdp_lin >> 16) << 12,
                    ]
                };
                for (k, d) in dwords.iter().enumerate() {
                    b[4 * k..4 * k + 4].copy_from_slice(&d.to_le_bytes());
                }
            }
        }
        b
    }

    /// FLDENV from an image of `fmt.len()` bytes.
    pub fn load_env(&mut self, b: &[u8], fmt: EnvFormat) {
        let w = |k: usize| u16::from_le_bytes([b[2 * k], b[2 * k + 1]]);
        let d = |k: usize| u32::from_le_bytes([b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]]);
        match fmt {
            EnvFormat::Real16 | EnvFormat::Prot16 => {
                self.set_control_word(w(0));
                self.set_status_word(w(1));
                self.set_tag_word(w(2));
                if fmt == EnvFormat::Prot16 {
                    self.fip = w(3) as u32;
                    self.fcs = w(4);
                    self.fdp = w(5) as u32;
                    self.fds = w(6);
                } else {
                    self.fip = w(3) as u32 | ((w(4) as u32 >> 12) << 16);
                    self.fop = w(4) & 0x7FF;
                    self.fcs = 0;
                    self.fdp = w(5) as u32 | ((w(6) as u32 >> 12) << 16);
                    self.fds = 0;
                }
            }
            EnvFormat::Real32 | EnvFormat::Prot32 => {
                self.set_control_word(d(0) as u16);
                self.set_status_word(d(1) as u16);
                self.set_tag_word(d(2) as u16);
                if fmt == EnvFormat::Prot32 {
                    self.fip = d(3);
                    self.fcs = d(4) as u16;
                    self.fop = (d(4) >> 16) as u16 & 0x7FF;
                    self.fdp = d(5);
                    self.fds = d(6) as u16;
                } else {
                    self.fip = (d(3) & 0xFFFF) | (d(4) >> 12) << 16;
                    self.fop = d(4) as u16 & 0x7FF;
                    self.fcs = 0;
                    self.fdp = (d(5) & 0xFFFF) | (d(6) >> 12) << 16;
                    self.fds = 0;
                }
            }
        }
    }

    /// FSAVE/FNSAVE image: the environment then ST(0)..ST(7), 10 bytes
    /// each; `fmt.len() + 80` bytes are meaningful. The caller then
    /// reinitializes the FPU ([`Fpu::init`]).
    pub fn store_state(&self, fmt: EnvFormat) -> [u8; 108] {
        let mut b = [0u8; 108];
        let n = fmt.len();
        b[..n].copy_from_slice(&self.store_env(fmt)[..n]);
        for i in 0..8 {
            b[n + 10 * i..n + 10 * i + 10].copy_from_slice(&self.st(i).to_bytes());
        }
        b
    }

    /// FRSTOR from an image of `fmt.len() + 80` bytes.
    pub fn load_state(&mut self, b: &[u8], fmt: EnvFormat) {
        let n = fmt.len();
        self.load_env(&b[..n], fmt);
        for i in 0..8 {
            let mut r = [0u8; 10];
            r.copy_from_slice(&b[n + 10 * i..n + 10 * i + 10]);
            let p = self.phys(i);
            self.regs[p] = F80::from_bytes(r);
        }
    }

    /// The x87 part of an FXSAVE image (SDM vol. 1 §10.5.1, table 10-2):
    /// bytes 0-23 and the registers at 32-159. MXCSR (24-31) and the XMM
    /// area belong to SSE, which the modelled CPUs do not have; those bytes
    /// are left as they are.
    pub fn fxsave_image(&self) -> [u8; 160] {
        let mut b = [0u8; 160];
        b[0..2].copy_from_slice(&self.cw.to_le_bytes());
        b[2..4].copy_from_slice(&self.status_word().to_le_bytes());
        b[4] = self.abridged_tag();
        b[6..8].copy_from_slice(&(self.fop & 0x7FF).to_le_bytes());
        b[8..12].copy_from_slice(&self.fip.to_le_bytes());
        b[12..14].copy_from_slice(&self.fcs.to_le_bytes());
        b[16..20].copy_from_slice(&self.fdp.to_le_bytes());
        b[20..22].copy_from_slice(&self.fds.to_le_bytes());
        for i in 0..8 {
            b[32 + 16 * i..42 + 16 * i].copy_from_slice(&self.st(i).to_bytes());
        }
        b
    }

    /// FXRSTOR from the first 160 bytes of an FXSAVE image.
    pub fn fxrstor_image(&mut self, b: &[u8]) {
        self.set_control_word(u16::from_le_bytes([b[0], b[1]]));
        self.set_status_word(u16::from_le_bytes([b[2], b[3]]));
        self.empty = !b[4];
        self.fop = u16::from_le_bytes([b[6], b[7]]) & 0x7FF;
        self.fip = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        self.fcs = u16::from_le_bytes([b[12], b[13]]);
        self.fdp = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
        self.fds = u16::from_le_bytes([b[20], b[21]]);
        for i in 0..8 {
            let mut r = [0u8; 10];
            r.copy_from_slice(&b[32 + 16 * i..42 + 16 * i]);
            let p = self.phys(i);
            self.regs[p] = F80::from_bytes(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_and_init_states_follow_the_sdm() {
        let f = Fpu::new();
        assert_eq!(f.control_word(), 0x0040);
        assert_eq!(f.tag_word(), 0x5555);
        let mut f = Fpu::new();
        f.init();
        assert_eq!(f.control_word(), 0x037F);
        assert_eq!(f.status_word(), 0);
        assert_eq!(f.tag_word(), 0xFFFF);
    }

    #[test]
    fn push_and_pop_move_top_and_tags() {
        let mut f = Fpu::new();
        f.init();
        f.push(F80::ONE);
        assert_eq!(f.top(), 7);
        assert_eq!(f.status_word() & sw::TOP, 7 << 11);
        // R7 holds 1.0: valid (00); the rest empty.
        assert_eq!(f.tag_word(), 0x3FFF);
        f.push(F80::ZERO);
        assert_eq!(f.tag_word(), 0x1FFF);
        f.pop();
        f.pop();
        assert_eq!(f.tag_word(), 0xFFFF);
        assert_eq!(f.top(), 0);
    }

    #[test]
    fn unmasking_a_raised_flag_makes_it_pending() {
        let mut f = Fpu::new();
        f.init();
        f.sw |= exc::PE as u16;
        assert!(!f.pending());
        f.set_control_word(CW_INIT & !(exc::PE as u16));
        assert!(f.pending());
        assert_eq!(f.status_word() & (sw::ES | sw::B), sw::ES | sw::B);
        assert!(f.irq13_pending());
    }

    #[test]
    fn environment_images_round_trip_in_every_format() {
        let mut f = Fpu::new();
        f.init();
        f.push(F80::ONE);
        f.set_control_word(0x0A7F);
        f.fip = 0x1234;
        f.fcs = 0x0100;
        f.fop = 0x1C1;
        f.fdp = 0x5678;
        f.fds = 0x0200;
        for fmt in [
            EnvFormat::Prot16,
            EnvFormat::Prot32,
            EnvFormat::Real16,
            EnvFormat::Real32,
        ] {
            let img = f.store_state(fmt);
            let mut g = Fpu::new();
            g.load_state(&img[..fmt.len() + 80], fmt);
            assert_eq!(g.control_word(), f.control_word(), "{fmt:?}");
            assert_eq!(g.status_word(), f.status_word(), "{fmt:?}");
            assert_eq!(g.tag_word(), f.tag_word(), "{fmt:?}");
            assert_eq!(g.st(0), F80::ONE, "{fmt:?}");
            if matches!(fmt, EnvFormat::Real16 | EnvFormat::Real32) {
                // Real-mode images hold the 20-bit linear pointers.
                assert_eq!(g.fip, 0x1000 + 0x1234, "{fmt:?}");
                assert_eq!(g.fdp, 0x2000 + 0x5678, "{fmt:?}");
                assert_eq!(g.fop, 0x1C1, "{fmt:?}");
            } else {
                assert_eq!((g.fip, g.fcs, g.fdp, g.fds), (0x1234, 0x100, 0x5678, 0x200));
            }
        }
        let img = f.fxsave_image();
        let mut g = Fpu::new();
        g.fxrstor_image(&img);
        assert_eq!(g, f);
    }
}
