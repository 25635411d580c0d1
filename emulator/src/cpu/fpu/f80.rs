//! The x87 80-bit extended-precision format in software.
//!
//! Rust has no `f80`, and no crate gives the x87's own arithmetic: crates
//! such as `rustc_apfloat` (LLVM's APFloat) round correctly but know nothing
//! of the x87 precision control (rounding to 24/53 bits with the 15-bit
//! exponent range), the denormal-operand exception, pseudo-denormals,
//! unnormals, the x87 NaN selection rules or the biased results of unmasked
//! overflow/underflow; `softfloat-wrapper` binds C code with global rounding
//! state. So the format is implemented here: a `u64` significand with an
//! explicit integer bit and a 15-bit biased exponent, and every operation
//! computes an exact (or sticky-jammed) 128-bit intermediate that one
//! rounding step ([`round`]) turns into the destination format.
//!
//! References: Intel SDM vol. 1 §4.2.2 (extended format), §4.8 (real
//! numbers and special values), §4.9 (exceptions, masked responses),
//! §8.1.5 (precision and rounding control), §8.2 (x87 FPU tag word and
//! unsupported encodings), §8.5 (x87 exception conditions), table 4-7
//! (NaN selection).

/// Exception flags, in status-word bit positions (SDM vol. 1 §8.1.3.1).
pub mod exc {
    /// Invalid operation.
    pub const IE: u8 = 1 << 0;
    /// Denormal operand.
    pub const DE: u8 = 1 << 1;
    /// Zero divide.
    pub const ZE: u8 = 1 << 2;
    /// Overflow.
    pub const OE: u8 = 1 << 3;
    /// Underflow.
    pub const UE: u8 = 1 << 4;
    /// Precision (inexact result).
    pub const PE: u8 = 1 << 5;
    /// Stack fault (with IE).
    pub const SF: u8 = 1 << 6;
}

/// Exponent bias of the extended format.
pub const BIAS: i32 = 16383;
/// Exponent adjust of an unmasked overflow/underflow result delivered to a
/// register (SDM vol. 1 §8.5.4 and §8.5.5: 24576 = 3 × 2^13).
pub const WRAP: i32 = 24576;

/// An 80-bit extended-precision value as stored: sign and 15-bit exponent in
/// `se`, 64-bit significand (explicit integer bit 63) in `sig`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct F80 {
    pub sig: u64,
    pub se: u16,
}

/// The class of an encoding (SDM vol. 1 §8.2.2, table 8-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    /// A denormal or a pseudo-denormal (exponent 0, integer bit 1).
    Denormal,
    Normal,
    Infinity,
    QNaN,
    SNaN,
    /// Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 387.
    Unsupported,
}

impl F80 {
    pub const ZERO: F80 = F80 { sig: 0, se: 0 };
    pub const ONE: F80 = F80 {
        sig: 1 << 63,
        se: 0x3FFF,
    };
    /// The real indefinite (SDM vol. 1 §4.8.3.7): a negative QNaN.
    pub const INDEFINITE: F80 = F80 {
        sig: 0xC000_0000_0000_0000,
        se: 0xFFFF,
    };
    pub const INFINITY: F80 = F80 {
        sig: 1 << 63,
        se: 0x7FFF,
    };

    #[inline]
    pub const fn new(sign: bool, exp: u16, sig: u64) -> F80 {
        F80 {
            sig,
            se: (sign as u16) << 15 | (exp & 0x7FFF),
        }
    }

    /// From the 10 bytes of memory (little-endian significand, then `se`).
    pub fn from_bytes(b: [u8; 10]) -> F80 {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        F80 {
            sig: u64::from_le_bytes(s),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    #[inline]
    pub const fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    #[inline]
    pub const fn exp(self) -> u16 {
        self.se & 0x7FFF
    }

    #[inline]
    pub const fn neg(self) -> F80 {
        F80 {
            sig: self.sig,
            se: self.se ^ 0x8000,
        }
    }

    #[inline]
    pub const fn abs(self) -> F80 {
        F80 {
            sig: self.sig,
            se: self.se & 0x7FFF,
        }
    }

    #[inline]
    pub const fn with_sign(self, sign: bool) -> F80 {
        F80 {
            sig: self.sig,
            se: (self.se & 0x7FFF) | (sign as u16) << 15,
        }
    }

    pub fn class(self) -> Class {
        let e = self.exp();
        let int = self.sig >> 63 != 0;
        match e {
            0 if self.sig == 0 => Class::Zero,
            0 => Class::Denormal,
            0x7FFF if !int => Class::Unsupported,
            0x7FFF if self.sig << 1 == 0 => Class::Infinity,
            0x7FFF if self.sig & (1 << 62) != 0 => Class::QNaN,
            0x7FFF => Class::SNaN,
            _ if !int => Class::Unsupported,
            _ => Class::Normal,
        }
    }

    #[inline]
    pub fn is_nan(self) -> bool {
        self.exp() == 0x7FFF && self.sig >> 63 != 0 && self.sig << 1 != 0
    }

    #[inline]
    pub fn is_snan(self) -> bool {
        self.is_nan() && self.sig & (1 << 62) == 0
    }

    #[inline]
    pub fn is_zero(self) -> bool {
        self.exp() == 0 && self.sig == 0
    }

    /// The same NaN made quiet.
    #[inline]
    pub const fn quiet(self) -> F80 {
        F80 {
            sig: self.sig | 1 << 62,
            se: self.se,
        }
    }

    /// Exponent field 0 with a non-zero significand (denormal or
    /// pseudo-denormal): an operand that raises DE.
    #[inline]
    pub fn is_denormal(self) -> bool {
        self.exp() == 0 && self.sig != 0
    }
}

/// Rounding control (CW bits 10-11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    Nearest,
    Down,
    Up,
    Zero,
}

impl Rounding {
    pub fn from_cw(cw: u16) -> Rounding {
        match (cw >> 10) & 3 {
            0 => Rounding::Nearest,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::Zero,
        }
    }
}

/// The rounding environment of one operation and the exceptions it raised.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub rc: Rounding,
    /// Significand bits of register results (precision control: 24, 53 or
    /// 64); only the instructions named in SDM vol. 1 §8.1.5.2 use it.
    pub pc: u32,
    /// Exception masks (CW bits 0-5): a set bit masks the exception.
    pub masks: u8,
    /// Exceptions raised so far.
    pub flags: u8,
    /// The result was rounded away from zero (C1 after an inexact result).
    pub up: bool,
}

impl Ctx {
    /// The environment a control word selects.
    pub fn new(cw: u16) -> Ctx {
        Ctx {
            rc: Rounding::from_cw(cw),
            pc: match (cw >> 8) & 3 {
                0 => 24,
                2 => 53,
                // 01 is reserved; the P6 family and its successors treat it
                // as 64 bits (checked against the host x87 in the tests).
                _ => 64,
            },
            masks: (cw & 0x3F) as u8,
            flags: 0,
            up: false,
        }
    }

    #[inline]
    pub fn raise(&mut self, f: u8) {
        self.flags |= f;
    }

    #[inline]
    pub fn unmasked(&self, f: u8) -> bool {
        self.masks & f == 0
    }

    /// Record an inexact result and whether it was rounded up.
    #[inline]
    fn inexact(&mut self, up: bool) {
        self.flags |= exc::PE;
        self.up = up;
    }
}

/// A finite non-zero value: `sig × 2^(e-63)`, with bit 63 of `sig` set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fin {
    pub sign: bool,
    pub e: i32,
    pub sig: u64,
}

/// An operand taken apart for arithmetic.
#[derive(Clone, Copy, Debug)]
pub enum Val {
    Zero(bool),
    Fin(Fin),
    Inf(bool),
    /// Any NaN, SNaN or QNaN (the original encoding).
    NaN(F80),
    Unsupported,
}

/// Take `x` apart; denormals come back normalized (the caller raises DE by
/// [`F80::is_denormal`]).
pub fn unpack(x: F80) -> Val {
    let sign = x.sign();
    match x.class() {
        Class::Zero => Val::Zero(sign),
        Class::Normal => Val::Fin(Fin {
            sign,
            e: x.exp() as i32 - BIAS,
            sig: x.sig,
        }),
        Class::Denormal => {
            // A pseudo-denormal has the weight of exponent 1.
            let lz = x.sig.leading_zeros();
            Val::Fin(Fin {
                sign,
                e: 1 - BIAS - lz as i32,
                sig: x.sig << lz,
            })
        }
        Class::Infinity => Val::Inf(sign),
        Class::QNaN | Class::SNaN => Val::NaN(x),
        Class::Unsupported => Val::Unsupported,
    }
}

/// A destination format for [`round`]: significand bits and the range of
/// the unbiased exponent of the leading bit.
#[derive(Clone, Copy, Debug)]
pub struct Fmt {
    pub p: u32,
    pub emin: i32,
    pub emax: i32,
    /// Exponent adjust of unmasked overflow/underflow results (only
    /// register results are delivered that way).
    pub wrap: i32,
}

impl Fmt {
    pub const fn ext(p: u32) -> Fmt {
        Fmt {
            p,
            emin: 1 - BIAS,
            emax: BIAS,
            wrap: WRAP,
        }
    }
    pub const DOUBLE: Fmt = Fmt {
        p: 53,
        emin: -1022,
        emax: 1023,
        wrap: 1536,
    };
    pub const SINGLE: Fmt = Fmt {
        p: 24,
        emin: -126,
        emax: 127,
        wrap: 192,
    };
}

/// The result of [`round`]: `sig` is left-aligned (bit 63 is the leading
/// bit of a normal value; a subnormal has bit 63 clear and `e == emin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounded {
    Fin { sign: bool, e: i32, sig: u64 },
    Inf(bool),
}

/// Shift right, OR-ing every bit shifted out into bit 0 ("jamming").
#[inline]
pub fn shr_jam(m: u128, n: u32) -> u128 {
    if n == 0 {
        m
    } else if n >= 128 {
        (m != 0) as u128
    } else {
        (m >> n) | ((m << (128 - n)) != 0) as u128
    }
}

/// Keep the top `128 - drop` bits of `m` by the rounding mode: returns the
/// kept integer (possibly carried one bit longer), whether bits were lost and
/// whether the magnitude was increased.
#[inline]
fn round_bits(m: u128, drop: u32, sign: bool, rc: Rounding) -> (u128, bool, bool) {
    let kept = m >> drop;
    let rem = m & ((1u128 << drop) - 1);
    if rem == 0 {
        return (kept, false, false);
    }
    let half = 1u128 << (drop - 1);
    let up = match rc {
        Rounding::Nearest => rem > half || (rem == half && kept & 1 != 0),
        Rounding::Zero => false,
        Rounding::Down => sign,
        Rounding::Up => !sign,
    };
    (kept + up as u128, true, up)
}

/// Round `m × 2^(e-127)` (`m` with bit 127 set, lower bits possibly
/// jammed) into `fmt`, raising PE/UE/OE by the x87 rules:
/// - tininess is detected after rounding (the result rounded with an
///   unbounded exponent is below the smallest normal; SDM vol. 1 §4.9.1.5);
/// - masked underflow delivers the denormal rounded at the format's
///   precision and raises UE only if it is also inexact; unmasked underflow
///   raises UE for any tiny result and delivers the normalized rounding
///   with the exponent raised by `fmt.wrap` (§8.5.5);
/// - masked overflow delivers ∞ or the largest finite value by the rounding
///   mode; unmasked delivers the rounding with the exponent lowered by
///   `fmt.wrap` (§8.5.4).
pub fn round(ctx: &mut Ctx, sign: bool, e: i32, m: u128, fmt: Fmt) -> Rounded {
    debug_assert!(m >> 127 == 1);
    let p = fmt.p;
    let drop = 128 - p;
    let align = |k: u128| (k << (64 - p)) as u64;
    // Normalized rounding (unbounded exponent).
    let (mut k, inexact, up) = round_bits(m, drop, sign, ctx.rc);
    let mut en = e;
    if k >> p != 0 {
        k >>= 1;
        en += 1;
    }
    if en < fmt.emin {
        // Tiny after rounding.
        if ctx.unmasked(exc::UE) {
            ctx.raise(exc::UE);
            if en + fmt.wrap < fmt.emin {
                // Too small even biased (FSCALE): a zero, as the host x87.
                ctx.inexact(false);
                return Rounded::Fin {
                    sign,
                    e: fmt.emin,
                    sig: 0,
                };
            }
            if inexact {
                ctx.inexact(up);
            }
            return Rounded::Fin {
                sign,
                e: en + fmt.wrap,
                sig: align(k),
            };
        }
        let md = shr_jam(m, (fmt.emin - e) as u32);
        let (k, inexact, up) = round_bits(md, drop, sign, ctx.rc);
        if inexact {
            ctx.raise(exc::UE);
            ctx.inexact(up);
        }
        return Rounded::Fin {
            sign,
            e: fmt.emin,
            sig: align(k),
        };
    }
    if en > fmt.emax {
        ctx.raise(exc::OE);
        if ctx.unmasked(exc::OE) {
            if en - fmt.wrap > fmt.emax {
                // Too large even biased (FSCALE): infinity, as the host x87.
                ctx.inexact(true);
                return Rounded::Inf(sign);
            }
            if inexact {
                ctx.inexact(up);
            }
            return Rounded::Fin {
                sign,
                e: en - fmt.wrap,
                sig: align(k),
            };
        }
        let to_inf = match ctx.rc {
            Rounding::Nearest => true,
            Rounding::Zero => false,
            Rounding::Down => sign,
            Rounding::Up => !sign,
        };
        ctx.inexact(to_inf);
        return if to_inf {
            Rounded::Inf(sign)
        } else {
            Rounded::Fin {
                sign,
                e: fmt.emax,
                sig: !0u64 << (64 - p),
            }
        };
    }
    if inexact {
        ctx.inexact(up);
    }
    Rounded::Fin {
        sign,
        e: en,
        sig: align(k),
    }
}

/// Encode a rounded extended result.
pub fn pack_ext(r: Rounded) -> F80 {
    match r {
        Rounded::Inf(s) => F80::INFINITY.with_sign(s),
        Rounded::Fin { sign, e, sig } => {
            if sig >> 63 == 0 {
                F80::new(sign, 0, sig)
            } else {
                // A wrapped result that still does not fit is clamped
                // (FSCALE by huge counts with unmasked OE/UE).
                let biased = (e + BIAS).clamp(0, 0x7FFF);
                F80::new(sign, biased as u16, sig)
            }
        }
    }
}

/// Round a 128-bit intermediate to an extended register result at
/// precision `p`.
#[inline]
pub fn round_ext(ctx: &mut Ctx, sign: bool, e: i32, m: u128, p: u32) -> F80 {
    pack_ext(round(ctx, sign, e, m, Fmt::ext(p)))
}

/// Normalize `m` (non-zero) whose bit 127 has weight 2^e.
#[inline]
fn normalize(e: i32, m: u128) -> (i32, u128) {
    let lz = m.leading_zeros();
    (e - lz as i32, m << lz)
}

/// Round a finite value `fin` (exact) to an extended register at `p` bits.
pub fn round_fin(ctx: &mut Ctx, f: Fin, p: u32) -> F80 {
    round_ext(ctx, f.sign, f.e, (f.sig as u128) << 64, p)
}

// ----- NaNs and invalid operations -------------------------------------------

/// The NaN an operation on `a` and `b` (at least one a NaN, neither
/// unsupported) delivers, raising IE for an SNaN (SDM vol. 1 table 4-7:
/// an SNaN and a QNaN give the QNaN; two of a kind give the one with the
/// larger significand, made quiet).
pub fn propagate(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    let (an, bn) = (a.is_nan(), b.is_nan());
    let (asn, bsn) = (a.is_snan(), b.is_snan());
    if asn || bsn {
        ctx.raise(exc::IE);
    }
    if an && bn {
        if asn != bsn {
            return if asn { b.quiet() } else { a.quiet() };
        }
        let (qa, qb) = (a.quiet(), b.quiet());
        return match qa.sig.cmp(&qb.sig) {
            std::cmp::Ordering::Greater => qa,
            std::cmp::Ordering::Less => qb,
            // Equal significands: the positive one.
            std::cmp::Ordering::Equal => {
                if qa.se <= qb.se {
                    qa
                } else {
                    qb
                }
            }
        };
    }
    if an {
        a.quiet()
    } else {
        b.quiet()
    }
}

/// A NaN operand of a one-operand instruction.
pub fn propagate1(ctx: &mut Ctx, a: F80) -> F80 {
    if a.is_snan() {
        ctx.raise(exc::IE);
    }
    a.quiet()
}

/// Invalid operation with the masked response: the real indefinite.
#[inline]
pub fn invalid(ctx: &mut Ctx) -> F80 {
    ctx.raise(exc::IE);
    F80::INDEFINITE
}

/// The common prologue of a two-operand operation: unsupported operands and
/// NaNs give their result here; otherwise DE is raised for denormal operands
/// (`extra_de`: a memory operand that was denormal in its own format).
fn special2(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) -> Option<F80> {
    let r = nan2(ctx, a, b);
    if r.is_none() {
        denormal2(ctx, a, b, extra_de);
    }
    r
}

/// The NaN/unsupported part of [`special2`], for operations whose own
/// invalid or zero-divide cases come before the denormal-operand check
/// (SDM vol. 1 §8.7: those rank above DE, and the host x87 then does not
/// report DE at all).
fn nan2(ctx: &mut Ctx, a: F80, b: F80) -> Option<F80> {
    if a.class() == Class::Unsupported || b.class() == Class::Unsupported {
        return Some(invalid(ctx));
    }
    if a.is_nan() || b.is_nan() {
        return Some(propagate(ctx, a, b));
    }
    None
}

/// Raise DE if either operand is a denormal (or pseudo-denormal), or
/// `extra_de` (a memory operand denormal in its own format).
fn denormal2(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) {
    if a.is_denormal() || b.is_denormal() || extra_de {
        ctx.raise(exc::DE);
    }
}

// ----- arithmetic -----------------------------------------------------------

/// The signed zero of an exact zero sum (SDM vol. 1 §4.8.3.2: +0 except in
/// round-down).
#[inline]
fn zero_sum(ctx: &Ctx) -> F80 {
    F80::ZERO.with_sign(ctx.rc == Rounding::Down)
}

/// a + b (FADD). `extra_de`: see [`special2`].
pub fn add(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) -> F80 {
    if let Some(r) = special2(ctx, a, b, extra_de) {
        return r;
    }
    add_vals(ctx, unpack(a), unpack(b))
}

/// a - b (FSUB).
pub fn sub(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) -> F80 {
    if let Some(r) = special2(ctx, a, b, extra_de) {
        return r;
    }
    let vb = match unpack(b) {
        Val::Zero(s) => Val::Zero(!s),
        Val::Inf(s) => Val::Inf(!s),
        Val::Fin(f) => Val::Fin(Fin { sign: !f.sign, ..f }),
        v => v,
    };
    add_vals(ctx, unpack(a), vb)
}

fn add_vals(ctx: &mut Ctx, a: Val, b: Val) -> F80 {
    match (a, b) {
        (Val::Inf(sa), Val::Inf(sb)) => {
            if sa == sb {
                F80::INFINITY.with_sign(sa)
            } else {
                invalid(ctx)
            }
        }
        (Val::Inf(s), _) | (_, Val::Inf(s)) => F80::INFINITY.with_sign(s),
        (Val::Zero(sa), Val::Zero(sb)) => {
            if sa == sb {
                F80::ZERO.with_sign(sa)
            } else {
                zero_sum(ctx)
            }
        }
        (Val::Zero(_), Val::Fin(f)) | (Val::Fin(f), Val::Zero(_)) => round_fin(ctx, f, ctx.pc),
        (Val::Fin(x), Val::Fin(y)) => {
            let (x, y) = if (x.e, x.sig) >= (y.e, y.sig) {
                (x, y)
            } else {
                (y, x)
            };
            // Bit 126 of the intermediate has weight 2^x.e; bit 127 catches
            // the carry of an addition.
            let mx = (x.sig as u128) << 63;
            let my = shr_jam((y.sig as u128) << 63, (x.e - y.e).min(200) as u32);
            let (sign, m) = if x.sign == y.sign {
                (x.sign, mx + my)
            } else {
                (x.sign, mx - my)
            };
            if m == 0 {
                return zero_sum(ctx);
            }
            let (e, m) = normalize(x.e + 1, m);
            round_ext(ctx, sign, e, m, ctx.pc)
        }
        _ => unreachable!("NaNs and unsupported operands are handled first"),
    }
}

/// a × b (FMUL).
pub fn mul(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) -> F80 {
    if let Some(r) = special2(ctx, a, b, extra_de) {
        return r;
    }
    let sign = a.sign() != b.sign();
    match (unpack(a), unpack(b)) {
        (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) => invalid(ctx),
        (Val::Inf(_), _) | (_, Val::Inf(_)) => F80::INFINITY.with_sign(sign),
        (Val::Zero(_), _) | (_, Val::Zero(_)) => F80::ZERO.with_sign(sign),
        (Val::Fin(x), Val::Fin(y)) => {
            let m = x.sig as u128 * y.sig as u128;
            let (e, m) = normalize(x.e + y.e + 1, m);
            round_ext(ctx, sign, e, m, ctx.pc)
        }
        _ => unreachable!(),
    }
}

/// a ÷ b (FDIV).
pub fn div(ctx: &mut Ctx, a: F80, b: F80, extra_de: bool) -> F80 {
    if let Some(r) = nan2(ctx, a, b) {
        return r;
    }
    let sign = a.sign() != b.sign();
    let (va, vb) = (unpack(a), unpack(b));
    // Invalid and zero divide come first and suppress DE.
    match (va, vb) {
        (Val::Inf(_), Val::Inf(_)) | (Val::Zero(_), Val::Zero(_)) => return invalid(ctx),
        (Val::Inf(_), Val::Zero(_)) => return F80::INFINITY.with_sign(sign),
        (_, Val::Zero(_)) => {
            ctx.raise(exc::ZE);
            return F80::INFINITY.with_sign(sign);
        }
        _ => denormal2(ctx, a, b, extra_de),
    }
    match (va, vb) {
        (Val::Inf(_), _) => F80::INFINITY.with_sign(sign),
        (_, Val::Inf(_)) => F80::ZERO.with_sign(sign),
        (Val::Zero(_), _) => F80::ZERO.with_sign(sign),
        (Val::Fin(x), Val::Fin(y)) => {
            let (e, m) = div_sig(x.sig, y.sig);
            round_ext(ctx, sign, x.e - y.e + e, m, ctx.pc)
        }
        _ => unreachable!(),
    }
}

/// The quotient of two normalized significands as a normalized 128-bit
/// intermediate with a sticky bit, and the exponent of its leading bit.
fn div_sig(a: u64, b: u64) -> (i32, u128) {
    // a / b is in (1/2, 2). Two steps of long division give the quotient
    // Q = a·2^128 / b (128 or 129 bits) and the final remainder as sticky.
    let b = b as u128;
    let n = (a as u128) << 64;
    let (q1, r1) = (n / b, n % b);
    let n2 = r1 << 64;
    let (q2, r2) = (n2 / b, n2 % b);
    if q1 >> 64 != 0 {
        // a ≥ b: Q has 129 bits; bit 127 of Q/2 has weight 2^0.
        let sticky = (q2 & 1 != 0 || r2 != 0) as u128;
        (0, q1 << 63 | q2 >> 1 | sticky)
    } else {
        // a < b: Q has 128 bits; bit 127 has weight 2^-1.
        (-1, q1 << 64 | q2 | (r2 != 0) as u128)
    }
}

/// √a (FSQRT).
pub fn sqrt(ctx: &mut Ctx, a: F80) -> F80 {
    match a.class() {
        Class::Unsupported => return invalid(ctx),
        Class::QNaN | Class::SNaN => return propagate1(ctx, a),
        _ => {}
    }
    match unpack(a) {
        Val::Zero(_) => a,
        Val::Inf(false) => a,
        Val::Inf(true) => invalid(ctx),
        Val::Fin(f) => {
            if f.sign {
                // Invalid ranks above DE (no DE for a negative denormal).
                return invalid(ctx);
            }
            if a.is_denormal() {
                ctx.raise(exc::DE);
            }
            // value = sig × 2^(e-63) = N × 2^(e-63-k) with N = sig << k and
            // (e-63-k) even; N in [2^126, 2^128) so √N has 64 bits.
            let k = if f.e & 1 == 0 { 63 } else { 64 };
            let n = (f.sig as u128) << k;
            let r = isqrt(n);
            let rem = n - r * r;
            // Round and sticky bits of √N beyond the integer r: √N > r + ½
            // exactly when N - r² > r.
            let mut m = r << 64;
            if rem > r {
                m |= 3 << 62;
            } else if rem != 0 {
                m |= 1;
            }
            let e = (f.e - 63 - k) / 2 + 63;
            round_ext(ctx, false, e, m, ctx.pc)
        }
        _ => unreachable!(),
    }
}

/// ⌊√n⌋ for n in [2^126, 2^128).
fn isqrt(n: u128) -> u128 {
    // An f64 estimate within a few parts in 2^52, then Newton steps, then
    // an exact fix-up.
    let mut r = ((n as f64).sqrt() as u128).max(1);
    for _ in 0..3 {
        r = (r + n / r) >> 1;
    }
    while r * r > n {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|s| s <= n) {
        r += 1;
    }
    r
}

// ----- comparison -----------------------------------------------------------

/// The outcome of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Less,
    Equal,
    Greater,
    Unordered,
}

impl Cmp {
    /// Condition codes (C3, C2, C0) as status-word bits 14, 10, 8 (SDM vol.
    /// 2, FCOM: > 000, < 001, = 100, unordered 111).
    pub fn cc(self) -> u16 {
        match self {
            Cmp::Greater => 0,
            Cmp::Less => 1 << 8,
            Cmp::Equal => 1 << 14,
            Cmp::Unordered => (1 << 14) | (1 << 10) | (1 << 8),
        }
    }
}

/// Compare a with b. `quiet`: FUCOM (only SNaNs and unsupported operands
/// are invalid); otherwise FCOM (every NaN is invalid).
pub fn compare(ctx: &mut Ctx, a: F80, b: F80, quiet: bool, extra_de: bool) -> Cmp {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        ctx.raise(exc::IE);
        return Cmp::Unordered;
    }
    if a.is_nan() || b.is_nan() {
        if !quiet || a.is_snan() || b.is_snan() {
            ctx.raise(exc::IE);
        }
        return Cmp::Unordered;
    }
    if ca == Class::Denormal || cb == Class::Denormal || extra_de {
        ctx.raise(exc::DE);
    }
    let key = |v: Val| -> (i32, i32, u64) {
        // Sign-magnitude to a totally ordered key.
        match v {
            Val::Zero(_) => (0, 0, 0),
            Val::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
            Val::Fin(f) => {
                if f.sign {
                    (-1, -f.e, !f.sig)
                } else {
                    (1, f.e, f.sig)
                }
            }
            _ => unreachable!(),
        }
    };
    match key(unpack(a)).cmp(&key(unpack(b))) {
        std::cmp::Ordering::Less => Cmp::Less,
        std::cmp::Ordering::Equal => Cmp::Equal,
        std::cmp::Ordering::Greater => Cmp::Greater,
    }
}

// ----- integer rounding -------------------------------------------------------

/// Round a finite value to an integer by the rounding mode: (magnitude as
/// u128 — at most 2^64 — , inexact, rounded up). Values of 2^64 and more come
/// back as `None`.
fn to_integer(f: Fin, rc: Rounding) -> (Option<u128>, bool, bool) {
    if f.e >= 64 {
        return (None, false, false);
    }
    if f.e >= 63 {
        return (Some(f.sig as u128), false, false);
    }
    // Integer part: the top e+1 bits; fraction below, in a 128-bit frame so
    // that values below 1/2 still round correctly.
    let m = (f.sig as u128) << 64;
    let drop = (63 - f.e) as u32 + 64;
    if drop >= 128 {
        // |value| < 2^-1: kept part is 0; round on the whole value.
        let up = match rc {
            Rounding::Nearest => f.e == -1 && (f.sig << 1 != 0),
            Rounding::Zero => false,
            Rounding::Down => f.sign,
            Rounding::Up => !f.sign,
        };
        return (Some(up as u128), true, up);
    }
    let (k, inexact, up) = round_bits(m, drop, f.sign, rc);
    (Some(k), inexact, up)
}

/// FRNDINT: round to an integral value by RC (precision control does not
/// apply).
pub fn round_to_int(ctx: &mut Ctx, a: F80) -> F80 {
    match a.class() {
        Class::Unsupported => return invalid(ctx),
        Class::QNaN | Class::SNaN => return propagate1(ctx, a),
        Class::Zero | Class::Infinity => return a,
        Class::Denormal => ctx.raise(exc::DE),
        Class::Normal => {}
    }
    let Val::Fin(f) = unpack(a) else {
        unreachable!()
    };
    if f.e >= 63 {
        return a;
    }
    let (k, inexact, up) = to_integer(f, ctx.rc);
    let k = k.unwrap_or(0);
    if inexact {
        ctx.inexact(up);
    }
    if k == 0 {
        return F80::ZERO.with_sign(f.sign);
    }
    let lz = k.leading_zeros();
    let m = k << lz;
    pack_ext(Rounded::Fin {
        sign: f.sign,
        e: 127 - lz as i32,
        sig: (m >> 64) as u64,
    })
}

/// FIST/FISTP: convert to a signed integer of `bits` bits by RC; `None` is
/// an invalid operation (the caller stores the integer indefinite when IE is
/// masked).
pub fn to_int(ctx: &mut Ctx, a: F80, bits: u32) -> Option<i64> {
    match a.class() {
        Class::Unsupported | Class::QNaN | Class::SNaN | Class::Infinity => {
            ctx.raise(exc::IE);
            return None;
        }
        // No DE for a denormal source (host x87).
        Class::Zero | Class::Denormal | Class::Normal => {}
    }
    if a.is_zero() {
        return Some(0);
    }
    let Val::Fin(f) = unpack(a) else {
        unreachable!()
    };
    let (k, inexact, up) = to_integer(f, ctx.rc);
    let limit = 1u128 << (bits - 1);
    match k {
        Some(k) if k < limit || (f.sign && k == limit) => {
            if inexact {
                ctx.inexact(up);
            }
            let v = k as i128;
            Some(if f.sign { -v } else { v } as i64)
        }
        _ => {
            ctx.raise(exc::IE);
            None
        }
    }
}

/// FILD: an integer, exactly.
pub fn from_int(v: i64) -> F80 {
    if v == 0 {
        return F80::ZERO;
    }
    let mag = v.unsigned_abs();
    let lz = mag.leading_zeros();
    F80::new(v < 0, (BIAS + 63 - lz as i32) as u16, mag << lz)
}

// ----- packed BCD -------------------------------------------------------------

/// FBLD: 18 packed decimal digits and a sign byte. Digits above 9 are
/// undefined on the x87; oxbox weights them by position like valid digits.
pub fn from_bcd(b: [u8; 10]) -> F80 {
    let mut v: u64 = 0;
    for i in (0..9).rev() {
        v = v * 10 + (b[i] >> 4) as u64;
        v = v * 10 + (b[i] & 0xF) as u64;
    }
    let sign = b[9] & 0x80 != 0;
    if v == 0 {
        return F80::ZERO.with_sign(sign);
    }
    let lz = v.leading_zeros();
    F80::new(sign, (BIAS + 63 - lz as i32) as u16, v << lz)
}

/// The packed-BCD indefinite (SDM vol. 1 table 4-4... FBSTP).
pub const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];

/// FBSTP: round by RC to an integer of at most 18 digits; `None` is an
/// invalid operation.
pub fn to_bcd(ctx: &mut Ctx, a: F80) -> Option<[u8; 10]> {
    let sign = a.sign();
    let mag = match a.class() {
        Class::Unsupported | Class::QNaN | Class::SNaN | Class::Infinity => {
            ctx.raise(exc::IE);
            return None;
        }
        Class::Zero => 0,
        _ => {
            // No DE for a denormal source (host x87).
            let Val::Fin(f) = unpack(a) else {
                unreachable!()
            };
            let (k, inexact, up) = to_integer(f, ctx.rc);
            match k {
                Some(k) if k <= 999_999_999_999_999_999 => {
                    if inexact {
                        ctx.inexact(up);
                    }
                    k as u64
                }
                _ => {
                    ctx.raise(exc::IE);
                    return None;
                }
            }
        }
    };
    let mut b = [0u8; 10];
    let mut v = mag;
    for byte in b.iter_mut().take(9) {
        let lo = (v % 10) as u8;
        v /= 10;
        let hi = (v % 10) as u8;
        v /= 10;
        *byte = hi << 4 | lo;
    }
    b[9] = if sign { 0x80 } else { 0 };
    Some(b)
}

// ----- single and double precision ------------------------------------------

/// A memory operand widened to extended precision: exact, keeping SNaNs
/// signaling (the arithmetic applies the NaN rules to the original operand)
/// and saying whether it was a denormal in its own format (DE).
pub fn from_f32(v: u32) -> (F80, bool) {
    let sign = v >> 31 != 0;
    let e = (v >> 23 & 0xFF) as i32;
    let frac = (v & 0x7F_FFFF) as u64;
    match e {
        0 if frac == 0 => (F80::ZERO.with_sign(sign), false),
        0 => {
            let lz = frac.leading_zeros(); // frac < 2^23
            let sig = frac << lz;
            // frac × 2^-149, leading bit at 63 - lz.
            let exp = -149 + (63 - lz as i32);
            (F80::new(sign, (exp + BIAS) as u16, sig), true)
        }
        0xFF => (F80::new(sign, 0x7FFF, 1 << 63 | frac << 40), false),
        _ => (
            F80::new(sign, (e - 127 + BIAS) as u16, 1 << 63 | frac << 40),
            false,
        ),
    }
}

pub fn from_f64(v: u64) -> (F80, bool) {
    let sign = v >> 63 != 0;
    let e = (v >> 52 & 0x7FF) as i32;
    let frac = v & ((1 << 52) - 1);
    match e {
        0 if frac == 0 => (F80::ZERO.with_sign(sign), false),
        0 => {
            let lz = frac.leading_zeros();
            let sig = frac << lz;
            let exp = -1074 + (63 - lz as i32);
            (F80::new(sign, (exp + BIAS) as u16, sig), true)
        }
        0x7FF => (F80::new(sign, 0x7FFF, 1 << 63 | frac << 11), false),
        _ => (
            F80::new(sign, (e - 1023 + BIAS) as u16, 1 << 63 | frac << 11),
            false,
        ),
    }
}

/// FLD m32/m64 after widening: an SNaN becomes quiet with IE, a denormal
/// source raises DE.
pub fn load_converted(ctx: &mut Ctx, x: F80, was_denormal: bool) -> F80 {
    if was_denormal {
        ctx.raise(exc::DE);
    }
    if x.is_snan() {
        ctx.raise(exc::IE);
        return x.quiet();
    }
    x
}

/// Narrow for FST m32/m64: the common part. `None` when an unmasked
/// overflow/underflow means nothing is stored.
fn narrow(ctx: &mut Ctx, a: F80, fmt: Fmt) -> Option<NarrowOut> {
    Some(match a.class() {
        Class::Unsupported => {
            ctx.raise(exc::IE);
            NarrowOut::Indefinite
        }
        Class::QNaN | Class::SNaN => {
            if a.is_snan() {
                ctx.raise(exc::IE);
            }
            NarrowOut::NaN(a.sign(), a.sig | 1 << 62)
        }
        Class::Infinity => NarrowOut::Inf(a.sign()),
        Class::Zero => NarrowOut::Zero(a.sign()),
        _ => {
            // No DE for a denormal source (host x87).
            let Val::Fin(f) = unpack(a) else {
                unreachable!()
            };
            let r = round(ctx, f.sign, f.e, (f.sig as u128) << 64, fmt);
            if ctx.flags & (exc::OE | exc::UE) & !ctx.masks != 0 {
                // Nothing is stored; the host reports only OE/UE (no PE,
                // C1 clear).
                ctx.flags &= !exc::PE;
                ctx.up = false;
                return None;
            }
            match r {
                Rounded::Inf(s) => NarrowOut::Inf(s),
                Rounded::Fin { sign, e, sig } => NarrowOut::Fin(sign, e, sig),
            }
        }
    })
}

enum NarrowOut {
    Indefinite,
    NaN(bool, u64),
    Inf(bool),
    Zero(bool),
    Fin(bool, i32, u64),
}

/// FST m32: `None` if nothing is to be stored (unmasked OE/UE; unmasked IE
/// is the caller's business).
pub fn to_f32(ctx: &mut Ctx, a: F80) -> Option<u32> {
    Some(match narrow(ctx, a, Fmt::SINGLE)? {
        NarrowOut::Indefinite => 0xFFC0_0000,
        NarrowOut::NaN(s, sig) => (s as u32) << 31 | 0x7F80_0000 | ((sig >> 40) as u32 & 0x7F_FFFF),
        NarrowOut::Inf(s) => (s as u32) << 31 | 0x7F80_0000,
        NarrowOut::Zero(s) => (s as u32) << 31,
        NarrowOut::Fin(s, e, sig) => {
            let frac = (sig >> 40) as u32 & 0x7F_FFFF;
            let exp = if sig >> 63 == 0 { 0 } else { (e + 127) as u32 };
            (s as u32) << 31 | exp << 23 | frac
        }
    })
}

/// FST m64.
pub fn to_f64(ctx: &mut Ctx, a: F80) -> Option<u64> {
    Some(match narrow(ctx, a, Fmt::DOUBLE)? {
        NarrowOut::Indefinite => 0xFFF8_0000_0000_0000,
        NarrowOut::NaN(s, sig) => {
            (s as u64) << 63 | 0x7FF0_0000_0000_0000 | ((sig >> 11) & ((1 << 52) - 1))
        }
        NarrowOut::Inf(s) => (s as u64) << 63 | 0x7FF0_0000_0000_0000,
        NarrowOut::Zero(s) => (s as u64) << 63,
        NarrowOut::Fin(s, e, sig) => {
            let frac = (sig >> 11) & ((1 << 52) - 1);
            let exp = if sig >> 63 == 0 { 0 } else { (e + 1023) as u64 };
            (s as u64) << 63 | exp << 52 | frac
        }
    })
}

// ----- partial remainder, scale, extract ------------------------------------

/// The outcome of FPREM/FPREM1: the new ST(0), the low three quotient bits
/// and whether the reduction is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rem {
    pub value: F80,
    pub q: u8,
    pub complete: bool,
}

/// FPREM (`ieee == false`: quotient truncated) and FPREM1 (`ieee`: quotient
/// rounded to nearest even), SDM vol. 2 pseudocode: an exponent difference
/// of 64 or more is reduced only partially, by a quotient that is a
/// multiple of 2^(D-N) with N = 32 + D mod 32.
pub fn rem(ctx: &mut Ctx, a: F80, b: F80, ieee: bool) -> Rem {
    let done = |value| Rem {
        value,
        q: 0,
        complete: true,
    };
    if let Some(r) = nan2(ctx, a, b) {
        return done(r);
    }
    let va = unpack(a);
    let vb = unpack(b);
    if matches!((va, vb), (Val::Inf(_), _) | (_, Val::Zero(_))) {
        return done(invalid(ctx));
    }
    denormal2(ctx, a, b, false);
    let (x, y) = match (va, vb) {
        (Val::Zero(_), _) => return done(a),
        (Val::Fin(_), Val::Inf(_)) => return done(round_through(ctx, a)),
        (Val::Fin(x), Val::Fin(y)) => (x, y),
        _ => unreachable!(),
    };
    let d = x.e - y.e;
    if d >= 64 {
        let n = 32 + d % 32;
        let ye = x.e - n;
        let r = rem_fin(ctx, x, Fin { e: ye, ..y }, false);
        return Rem {
            value: r.value,
            q: 0,
            complete: false,
        };
    }
    rem_fin(ctx, x, y, ieee)
}

/// A register value passed through unchanged except for the rounding of
/// denormals (an exact copy; raises UE only when unmasked and tiny).
fn round_through(ctx: &mut Ctx, a: F80) -> F80 {
    match unpack(a) {
        Val::Fin(f) => round_fin(ctx, f, 64),
        _ => a,
    }
}

fn rem_fin(ctx: &mut Ctx, x: Fin, y: Fin, ieee: bool) -> Rem {
    let d = x.e - y.e;
    let yb = y.sig as u128;
    // |x| = X × 2^(y.e-63) with X = x.sig << d when d >= 0.
    let (q, r, r_e) = if d >= 0 {
        let n = (x.sig as u128) << d;
        (n / yb, n % yb, y.e)
    } else {
        // |x| < |y|: the quotient is 0 (FPREM1 may round it to 1 when
        // d == -1 and |x| > |y|/2).
        (0, x.sig as u128, x.e)
    };
    let mut q = q;
    let mut r = r;
    let mut sign = x.sign;
    if ieee {
        // Compare r with y/2 in the frame of r.
        let (r2, half) = if d >= 0 {
            (r << 1, yb)
        } else if d == -1 {
            (r, yb)
        } else {
            (0, 1)
        };
        if r2 > half || (r2 == half && q & 1 == 1) {
            q += 1;
            // |x - q·y| = y - r in the frame of y.
            r = if d >= 0 { yb - r } else { (yb << 1) - r };
            sign = !sign;
            if d < 0 {
                // The frame was x's (exponent y.e - 1).
                let value = fin_value(ctx, sign, y.e - 1, r);
                return Rem {
                    value,
                    q: (q & 7) as u8,
                    complete: true,
                };
            }
        }
    }
    let value = if r == 0 {
        F80::ZERO.with_sign(x.sign)
    } else {
        fin_value(ctx, sign, r_e, r)
    };
    Rem {
        value,
        q: (q & 7) as u8,
        complete: true,
    }
}

/// The exact value `r × 2^(e-63)` (r < 2^65) as an extended register.
fn fin_value(ctx: &mut Ctx, sign: bool, e: i32, r: u128) -> F80 {
    if r == 0 {
        return F80::ZERO.with_sign(sign);
    }
    let (e, m) = normalize(e + 64, r);
    round_ext(ctx, sign, e, m, 64)
}

/// FSCALE: ST(0) × 2^trunc(ST(1)).
pub fn scale(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = special2(ctx, a, b, false) {
        return r;
    }
    match (unpack(a), unpack(b)) {
        (Val::Zero(_), Val::Inf(false)) | (Val::Inf(_), Val::Inf(true)) => invalid(ctx),
        (Val::Zero(_), _) | (Val::Inf(_), _) => a,
        (Val::Fin(x), Val::Inf(s)) => {
            if s {
                F80::ZERO.with_sign(x.sign)
            } else {
                F80::INFINITY.with_sign(x.sign)
            }
        }
        (Val::Fin(x), Val::Zero(_)) => round_fin(ctx, x, 64),
        (Val::Fin(x), Val::Fin(y)) => {
            // trunc(ST(1)), clamped far beyond any exponent that matters.
            let n: i32 = if y.e < 0 {
                0
            } else if y.e >= 30 {
                1 << 30
            } else {
                (y.sig >> (63 - y.e)) as i32
            };
            let n = if y.sign { -n } else { n };
            round_fin(
                ctx,
                Fin {
                    e: x.e.saturating_add(n),
                    ..x
                },
                64,
            )
        }
        _ => unreachable!(),
    }
}

/// FXTRACT: (exponent, significand) of ST(0); for a zero the exponent is
/// -∞ and ZE is raised.
pub fn extract(ctx: &mut Ctx, a: F80) -> (F80, F80) {
    match a.class() {
        Class::Unsupported => {
            let i = invalid(ctx);
            (i, i)
        }
        Class::QNaN | Class::SNaN => {
            let q = propagate1(ctx, a);
            (q, q)
        }
        Class::Zero => {
            ctx.raise(exc::ZE);
            (F80::INFINITY.neg(), a)
        }
        Class::Infinity => (F80::INFINITY, a),
        c => {
            if c == Class::Denormal {
                ctx.raise(exc::DE);
            }
            let Val::Fin(f) = unpack(a) else {
                unreachable!()
            };
            let exp = from_int(f.e as i64);
            (exp, F80::new(f.sign, BIAS as u16, f.sig))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cw: u16) -> Ctx {
        Ctx::new(cw)
    }
    const RN64: u16 = 0x037F;
    const RN24: u16 = 0x007F;
    const RN53: u16 = 0x027F;

    fn f(se: u16, sig: u64) -> F80 {
        F80 { sig, se }
    }

    #[test]
    fn one_plus_one_is_two() {
        let mut c = ctx(RN64);
        assert_eq!(add(&mut c, F80::ONE, F80::ONE, false), f(0x4000, 1 << 63));
        assert_eq!(c.flags, 0);
    }

    #[test]
    fn x_minus_x_is_plus_zero_except_rounding_down() {
        let x = f(0x4005, 0xDEAD_BEEF_0000_0001);
        let mut c = ctx(RN64);
        assert_eq!(sub(&mut c, x, x, false), F80::ZERO);
        let mut c = ctx(RN64 | 0x0400);
        assert_eq!(sub(&mut c, x, x, false), F80::ZERO.neg());
    }

    #[test]
    fn precision_control_rounds_the_significand_only() {
        // 1 + 2^-30 at 24 bits is 1 (inexact, not rounded up); at 53 and 64
        // bits it is exact.
        let tiny = f(0x3FFF - 30, 1 << 63);
        let mut c = ctx(RN24);
        assert_eq!(add(&mut c, F80::ONE, tiny, false), F80::ONE);
        assert_eq!(c.flags, exc::PE);
        assert!(!c.up);
        let mut c = ctx(RN53);
        assert_eq!(
            add(&mut c, F80::ONE, tiny, false),
            f(0x3FFF, 1 << 63 | 1 << 33)
        );
        assert_eq!(c.flags, 0);
        // Round up to 24 bits: the carry propagates and C1 reports it.
        let mut c = ctx(RN24 | 0x0800);
        assert_eq!(
            add(&mut c, F80::ONE, tiny, false),
            f(0x3FFF, 1 << 63 | 1 << 40)
        );
        assert!(c.up);
        // The exponent range stays that of the extended format at 24 bits.
        let big = f(0x7000, 1 << 63);
        let mut c = ctx(RN24);
        assert_eq!(mul(&mut c, big, big, false), F80::INFINITY);
        assert_eq!(c.flags, exc::OE | exc::PE);
    }

    #[test]
    fn nan_selection_follows_the_x87_rules() {
        let q1 = f(0x7FFF, 0xC000_0000_0000_0001);
        let q2 = f(0xFFFF, 0xC000_0000_0000_0002);
        let s3 = f(0x7FFF, 0x8000_0000_0000_0003);
        let s4 = f(0x7FFF, 0x8000_0000_0000_0004);
        let mut c = ctx(RN64);
        // Two QNaNs: the larger significand, no exception.
        assert_eq!(add(&mut c, q1, q2, false), q2);
        assert_eq!(c.flags, 0);
        // SNaN and QNaN: the QNaN, IE.
        assert_eq!(add(&mut c, s4, q1, false), q1);
        assert_eq!(c.flags, exc::IE);
        // Two SNaNs: the larger significand made quiet.
        let mut c = ctx(RN64);
        assert_eq!(mul(&mut c, s3, s4, false), s4.quiet());
        // NaN with a number: the NaN, quiet; no DE for a denormal partner.
        let mut c = ctx(RN64);
        assert_eq!(div(&mut c, f(0, 1), s3, false), s3.quiet());
        assert_eq!(c.flags, exc::IE);
        // Equal significands: the positive one.
        let mut c = ctx(RN64);
        assert_eq!(add(&mut c, q1.neg(), q1, false), q1);
    }

    #[test]
    fn unnormals_pseudo_nans_and_pseudo_infinities_are_invalid() {
        for bad in [
            f(0x3FFF, 0x4000_0000_0000_0000),
            f(0x7FFF, 0x4000_0000_0000_0000),
            f(0x7FFF, 0),
        ] {
            assert_eq!(bad.class(), Class::Unsupported);
            let mut c = ctx(RN64);
            assert_eq!(add(&mut c, bad, F80::ONE, false), F80::INDEFINITE);
            assert_eq!(c.flags, exc::IE);
        }
    }

    #[test]
    fn denormals_and_pseudo_denormals_raise_de_and_are_exact() {
        let den = f(0, 1); // 2^-16445
        let mut c = ctx(RN64);
        assert_eq!(add(&mut c, den, den, false), f(0, 2));
        assert_eq!(c.flags, exc::DE);
        // A pseudo-denormal has the value of exponent 1; the sum is normal.
        let pseudo = f(0, 1 << 63);
        let mut c = ctx(RN64);
        assert_eq!(add(&mut c, pseudo, F80::ZERO, false), f(1, 1 << 63));
        assert_eq!(c.flags, exc::DE);
    }

    #[test]
    fn underflow_is_reported_only_when_tiny_and_inexact_if_masked() {
        // 2^-16382 × 0.75 is a denormal, exact: no UE.
        let min = f(1, 1 << 63);
        let three_quarters = f(0x3FFE, 0xC000_0000_0000_0000);
        let mut c = ctx(RN64);
        assert_eq!(
            mul(&mut c, min, three_quarters, false),
            f(0, 0x6000_0000_0000_0000)
        );
        assert_eq!(c.flags, 0);
        // Unmasked UE: raised even when exact; result normalized and biased.
        let mut c = ctx(RN64 & !0x10);
        let r = mul(&mut c, min, three_quarters, false);
        assert_eq!(c.flags, exc::UE);
        // 2^-16382 × 0.75 = 1.5 × 2^-16383: biased exponent 0, plus 24576.
        assert_eq!(r, f(WRAP as u16, 0xC000_0000_0000_0000));
        // Tininess after rounding: (2^-16382)(1 - 2^-65) rounds to the
        // smallest normal and is not tiny.
        let almost = f(0x3FFE, !0);
        let mut c = ctx(RN64);
        let r = mul(&mut c, f(1, 1 << 63 | 1), almost, false);
        assert_eq!(r, f(1, 1 << 63));
        assert_eq!(c.flags, exc::PE);
    }

    #[test]
    fn masked_overflow_result_depends_on_the_rounding_mode() {
        let max = f(0x7FFE, !0);
        let cases = [
            (0x037F, F80::INFINITY, true),
            (0x0F7F, max, false),
            (0x077F, max, false),
            (0x0B7F, F80::INFINITY, true),
        ];
        for (cw, want, up) in cases {
            let mut c = ctx(cw);
            assert_eq!(add(&mut c, max, max, false), want, "cw {cw:#x}");
            assert_eq!(c.flags, exc::OE | exc::PE);
            assert_eq!(c.up, up);
        }
        let mut c = ctx(0x037F & !0x08);
        // Unmasked: 2·max = (2^64 - 1) × 2^(16384-63), exponent lowered by
        // 24576, exact.
        let r = add(&mut c, max, max, false);
        assert_eq!(r, f((16384 - WRAP + BIAS) as u16, !0));
        assert_eq!(c.flags, exc::OE);
    }

    #[test]
    fn division_and_square_root_round_correctly() {
        let three = from_int(3);
        let mut c = ctx(RN64);
        let third = div(&mut c, F80::ONE, three, false);
        assert_eq!(third, f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB));
        assert!(c.up);
        let mut c = ctx(RN64);
        assert_eq!(
            div(&mut c, F80::ONE, F80::ZERO.neg(), false),
            F80::INFINITY.neg()
        );
        assert_eq!(c.flags, exc::ZE);
        let mut c = ctx(RN64);
        let two = from_int(2);
        assert_eq!(sqrt(&mut c, two), f(0x3FFF, 0xB504_F333_F9DE_6484));
        let mut c = ctx(RN64);
        assert_eq!(sqrt(&mut c, from_int(16)), from_int(4));
        assert_eq!(c.flags, 0);
        let mut c = ctx(RN64);
        assert_eq!(sqrt(&mut c, F80::ONE.neg()), F80::INDEFINITE);
        assert_eq!(sqrt(&mut c, F80::ZERO.neg()), F80::ZERO.neg());
    }

    #[test]
    fn integer_conversions_round_by_rc_and_saturate_to_invalid() {
        let x = f(0x4000, 0xA000_0000_0000_0000); // 2.5
                                                  // (RC, 2.5 ->, -2.5 ->): nearest-even, down, up, toward zero.
        for (cw, pos, neg) in [
            (0x037F, 2, -2),
            (0x077F, 2, -3),
            (0x0B7F, 3, -2),
            (0x0F7F, 2, -2),
        ] {
            let mut c = ctx(cw);
            assert_eq!(to_int(&mut c, x, 16), Some(pos));
            assert_eq!(to_int(&mut c, x.neg(), 16), Some(neg));
            assert_eq!(c.flags, exc::PE);
        }
        let mut c = ctx(RN64);
        assert_eq!(to_int(&mut c, from_int(32768), 16), None);
        assert_eq!(c.flags, exc::IE);
        let mut c = ctx(RN64);
        assert_eq!(to_int(&mut c, from_int(-32768), 16), Some(-32768));
        assert_eq!(to_int(&mut c, from_int(i64::MIN), 64), Some(i64::MIN));
        assert_eq!(c.flags, 0);
    }

    #[test]
    fn bcd_round_trips_and_rejects_19_digits() {
        let mut b = [0u8; 10];
        b[0] = 0x21;
        b[8] = 0x99;
        b[9] = 0x80;
        let v = from_bcd(b);
        let mut c = ctx(RN64);
        assert_eq!(to_bcd(&mut c, v), Some(b));
        let mut c = ctx(RN64);
        assert_eq!(to_bcd(&mut c, from_int(1_000_000_000_000_000_000)), None);
        assert_eq!(c.flags, exc::IE);
    }

    #[test]
    fn narrowing_stores_round_into_the_smaller_range() {
        let mut c = ctx(RN64);
        // 2^-149 is the smallest f32 denormal; 2^-150 ties to even (0).
        assert_eq!(to_f32(&mut c, f(0x3FFF - 149, 1 << 63)), Some(1));
        assert_eq!(c.flags, 0);
        let mut c = ctx(RN64);
        assert_eq!(to_f32(&mut c, f(0x3FFF - 150, 1 << 63)), Some(0));
        assert_eq!(c.flags, exc::UE | exc::PE);
        let mut c = ctx(RN64);
        assert_eq!(to_f64(&mut c, F80::ONE), Some(0x3FF0_0000_0000_0000));
        let mut c = ctx(RN64);
        assert_eq!(
            to_f64(&mut c, from_int(1).with_sign(true)),
            Some(0xBFF0_0000_0000_0000)
        );
        let (x, den) = from_f32(1);
        assert!(den);
        assert_eq!(x, f(0x3FFF - 149, 1 << 63));
    }

    #[test]
    fn partial_remainder_reports_the_quotient_bits() {
        let mut c = ctx(RN64);
        let r = rem(&mut c, from_int(7), from_int(2), false);
        assert_eq!(r.value, F80::ONE);
        assert_eq!(r.q, 3);
        assert!(r.complete);
        let r = rem(&mut c, from_int(7), from_int(2), true);
        assert_eq!(r.value, F80::ONE.neg());
        assert_eq!(r.q, 4);
        let r = rem(&mut c, f(0x3FFF + 100, 1 << 63), F80::ONE, false);
        assert!(!r.complete);
    }
}
