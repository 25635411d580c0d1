//! EFLAGS bits and lazy evaluation of the arithmetic flags.
//!
//! Arithmetic instructions do not compute OF/SF/ZF/AF/PF/CF when they run:
//! they record their operands, result and kind in [`Lazy`], and the flags
//! are derived only when something reads them (a Jcc reads one or two, PUSHF
//! all of them). Instructions whose flag rules are unusual (shifts, BCD,
//! multiply) set the flags eagerly instead.

pub const CF: u32 = 1 << 0;
pub const PF: u32 = 1 << 2;
pub const AF: u32 = 1 << 4;
pub const ZF: u32 = 1 << 6;
pub const SF: u32 = 1 << 7;
pub const TF: u32 = 1 << 8;
pub const IF: u32 = 1 << 9;
pub const DF: u32 = 1 << 10;
pub const OF: u32 = 1 << 11;
pub const IOPL: u32 = 3 << 12;
pub const NT: u32 = 1 << 14;
pub const RF: u32 = 1 << 16;
pub const VM: u32 = 1 << 17;
pub const AC: u32 = 1 << 18;
pub const VIF: u32 = 1 << 19;
pub const VIP: u32 = 1 << 20;
pub const ID: u32 = 1 << 21;

/// The six arithmetic status flags.
pub const OSZAPC: u32 = OF | SF | ZF | AF | PF | CF;
/// The status flags INC and DEC write (they leave CF alone).
pub const OSZAP: u32 = OF | SF | ZF | AF | PF;
pub const SZP: u32 = SF | ZF | PF;
pub const SZAP: u32 = SF | ZF | AF | PF;
pub const NONE: u32 = 0;

/// Whether the low byte of `v` has an even number of set bits (PF's rule).
#[inline]
pub fn parity(v: u32) -> bool {
    (v as u8).count_ones() & 1 == 0
}

/// The kind of operation whose flags are pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LazyOp {
    /// `res = a + b (+ carry)`: ADD, ADC, INC.
    Add,
    /// `res = a - b (- borrow)`: SUB, SBB, CMP, DEC, NEG, SCAS, CMPS.
    Sub,
    /// AND, OR, XOR, TEST: OF = CF = 0, AF = 0.
    Logic,
}

/// Operands and result of the last flag-setting arithmetic instruction.
///
/// The carry-out and overflow formulas below hold with or without a carry-in,
/// so ADC and SBB share them with ADD and SUB.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Lazy {
    pub op: LazyOp,
    /// Operand width in bits: 8, 16 or 32.
    pub bits: u8,
    pub a: u32,
    pub b: u32,
    pub res: u32,
}

impl Lazy {
    pub const fn new() -> Lazy {
        Lazy {
            op: LazyOp::Logic,
            bits: 32,
            a: 0,
            b: 0,
            res: 0,
        }
    }

    #[inline]
    fn sign_bit(&self) -> u32 {
        1u32 << (self.bits - 1)
    }

    #[inline]
    fn mask(&self) -> u32 {
        if self.bits == 32 {
            u32::MAX
        } else {
            (1u32 << self.bits) - 1
        }
    }

    #[inline]
    pub fn cf(&self) -> bool {
        let (a, b, r) = (self.a, self.b, self.res);
        let carries = match self.op {
            LazyOp::Add => (a & b) | ((a ^ b) & !r),
            LazyOp::Sub => (!a & b) | (!(a ^ b) & r),
            LazyOp::Logic => 0,
        };
        carries & self.sign_bit() != 0
    }

    #[inline]
    pub fn of(&self) -> bool {
        let (a, b, r) = (self.a, self.b, self.res);
        let v = match self.op {
            LazyOp::Add => (a ^ r) & (b ^ r),
            LazyOp::Sub => (a ^ b) & (a ^ r),
            LazyOp::Logic => 0,
        };
        v & self.sign_bit() != 0
    }

    #[inline]
    pub fn af(&self) -> bool {
        match self.op {
            LazyOp::Logic => false,
            _ => (self.a ^ self.b ^ self.res) & 0x10 != 0,
        }
    }

    #[inline]
    pub fn zf(&self) -> bool {
        self.res & self.mask() == 0
    }

    #[inline]
    pub fn sf(&self) -> bool {
        self.res & self.sign_bit() != 0
    }

    #[inline]
    pub fn pf(&self) -> bool {
        parity(self.res)
    }

    /// All six status flags as EFLAGS bits.
    pub fn materialize(&self) -> u32 {
        let mut f = 0;
        if self.cf() {
            f |= CF;
        }
        if self.pf() {
            f |= PF;
        }
        if self.af() {
            f |= AF;
        }
        if self.zf() {
            f |= ZF;
        }
        if self.sf() {
            f |= SF;
        }
        if self.of() {
            f |= OF;
        }
        f
    }
}

impl Default for Lazy {
    fn default() -> Self {
        Lazy::new()
    }
}

/// SF, ZF and PF of a result of the given width, as EFLAGS bits.
#[inline]
pub fn szp(res: u32, bits: u32) -> u32 {
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let mut f = 0;
    if res & mask == 0 {
        f |= ZF;
    }
    if res & (1 << (bits - 1)) != 0 {
        f |= SF;
    }
    if parity(res) {
        f |= PF;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(bits: u8, a: u32, b: u32, c: u32) -> Lazy {
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1 << bits) - 1
        };
        Lazy {
            op: LazyOp::Add,
            bits,
            a,
            b,
            res: a.wrapping_add(b).wrapping_add(c) & mask,
        }
    }

    fn sub(bits: u8, a: u32, b: u32, c: u32) -> Lazy {
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1 << bits) - 1
        };
        Lazy {
            op: LazyOp::Sub,
            bits,
            a,
            b,
            res: a.wrapping_sub(b).wrapping_sub(c) & mask,
        }
    }

    #[test]
    fn add_carry_and_overflow_match_wide_arithmetic_for_all_bytes() {
        for a in 0..256u32 {
            for b in 0..256u32 {
                for c in 0..2u32 {
                    let l = add(8, a, b, c);
                    assert_eq!(l.cf(), a + b + c > 0xFF, "{a}+{b}+{c}");
                    let s = (a as u8 as i8 as i32) + (b as u8 as i8 as i32) + c as i32;
                    assert_eq!(l.of(), !(-128..=127).contains(&s), "{a}+{b}+{c}");
                    assert_eq!(l.af(), (a & 0xF) + (b & 0xF) + c > 0xF);
                }
            }
        }
    }

    #[test]
    fn sub_borrow_and_overflow_match_wide_arithmetic_for_all_bytes() {
        for a in 0..256u32 {
            for b in 0..256u32 {
                for c in 0..2u32 {
                    let l = sub(8, a, b, c);
                    assert_eq!(l.cf(), a < b + c, "{a}-{b}-{c}");
                    let s = (a as u8 as i8 as i32) - (b as u8 as i8 as i32) - c as i32;
                    assert_eq!(l.of(), !(-128..=127).contains(&s), "{a}-{b}-{c}");
                    assert_eq!(l.af(), (a & 0xF) < (b & 0xF) + c);
                }
            }
        }
    }

    #[test]
    fn parity_is_even_parity_of_low_byte() {
        assert!(parity(0));
        assert!(!parity(1));
        assert!(parity(0x103));
        assert!(parity(0xFF));
    }
}
