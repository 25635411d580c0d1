//! The transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN,
//! F2XM1, FYL2X, FYL2XP1, evaluated in a 128-bit software format and
//! rounded once into the extended format by the rounding control
//! (precision control does not apply: SDM vol. 1 §8.1.5.2).
//!
//! The x87 reduces the argument of FSIN/FCOS/FSINCOS/FPTAN modulo π/2 with
//! an approximation of π of 66 significant bits (SDM vol. 1 §8.3.10,
//! "x87 FPU ... uses a 66-bit approximation of π"; the host x87 agrees:
//! FSIN of the extended value nearest π is exactly -2^-64). oxbox does the
//! same reduction exactly, then evaluates the function of the reduced
//! argument with about 120 correct bits and rounds correctly. The silicon's
//! final evaluation is not quite correctly rounded (its error is a few
//! hundredths of an ulp, up to about 0.6 ulp for FPTAN), so results near a
//! rounding boundary can differ from it by one ulp: `tests/x87_host_diff.rs`
//! measures 0.8% (FSIN/FCOS) to 15% (FPTAN) of its random cases, never more
//! than one ulp.
//!
//! Outside their defined ranges the x87's F2XM1 (|x| > 1) and FYL2XP1
//! (|x| ≥ 1 - √2/2) are undefined. oxbox follows the host x87 for F2XM1
//! (ST(0) unchanged, PE) and computes the mathematical value for FYL2XP1.

use super::f80::{self, exc, Class, Ctx, Fin, Val, F80};
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::OnceLock;

/// A wide intermediate: `m × 2^(e-127)` with `m` normalized (bit 127 set)
/// or zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct W {
    pub neg: bool,
    pub e: i32,
    pub m: u128,
}

const LO: u128 = u64::MAX as u128;

/// The full 256-bit product (high, low).
#[inline]
fn mul_256(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & LO);
    let (b1, b0) = (b >> 64, b & LO);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & LO) + (p10 & LO);
    let lo = (p00 & LO) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

impl W {
    pub const ZERO: W = W {
        neg: false,
        e: 0,
        m: 0,
    };

    fn norm(neg: bool, e: i32, m: u128) -> W {
        if m == 0 {
            return W::ZERO;
        }
        let lz = m.leading_zeros();
        W {
            neg,
            e: e - lz as i32,
            m: m << lz,
        }
    }

    pub fn from_fin(f: Fin) -> W {
        W {
            neg: f.sign,
            e: f.e,
            m: (f.sig as u128) << 64,
        }
    }

    pub fn from_u64(v: u64) -> W {
        W::norm(false, 127, v as u128)
    }

    pub fn from_i64(v: i64) -> W {
        W {
            neg: v < 0,
            ..W::from_u64(v.unsigned_abs())
        }
    }

    /// A constant given as a 128-bit significand and the exponent of its
    /// leading bit.
    const fn k(m: u128, e: i32) -> W {
        W { neg: false, e, m }
    }

    pub fn is_zero(self) -> bool {
        self.m == 0
    }

    pub fn abs(self) -> W {
        W { neg: false, ..self }
    }

    pub fn scale(self, n: i32) -> W {
        W {
            e: self.e + n,
            ..self
        }
    }

    /// Divide by a small integer, to 128 bits.
    pub fn div_u64(self, n: u64) -> W {
        let n = n as u128;
        let (hi, lo) = (self.m >> 64, self.m & LO);
        let q_hi = hi / n;
        let r = hi % n;
        let mid = (r << 64) | lo;
        let q_mid = mid / n;
        let r2 = mid % n;
        let q_lo = ((r2 << 64) / n) | (!(r2 << 64).is_multiple_of(n)) as u128;
        // Q = m × 2^64 / n as q_hi·2^128 + q_mid·2^64 + q_lo.
        let lz = if q_hi != 0 {
            q_hi.leading_zeros() - 64
        } else {
            64 + q_mid.leading_zeros() - 64
        };
        // The top 128 bits of the 192-bit quotient, normalized; the value
        // is Q × 2^(e-191) = q128 × 2^(e-127-lz).
        let q128 = if lz == 0 {
            q_hi << 64 | q_mid
        } else if lz < 64 {
            (q_hi << 64 | q_mid) << lz | q_lo >> (64 - lz)
        } else {
            (q_mid << 64 | q_lo) << (lz - 64)
        };
        W {
            neg: self.neg,
            e: self.e - lz as i32,
            m: q128,
        }
    }

    /// Round into the extended format at full precision. Lost bits were
    /// jammed along the way, so the intermediate knows on which side of a
    /// representable value it lies; an inexact result that happens to look
    /// exact (`exact == false` and nothing below bit 64) is marked inexact.
    pub fn round(self, ctx: &mut Ctx, exact: bool) -> F80 {
        if self.m == 0 {
            return F80::ZERO.with_sign(self.neg);
        }
        let m = if exact || self.m & LO != 0 {
            self.m
        } else {
            self.m | 1
        };
        f80::round_ext(ctx, self.neg, self.e, m, 64)
    }

    /// The same magnitude plus a sticky bit: "just above".
    fn above(self) -> W {
        W {
            m: self.m | 1,
            ..self
        }
    }
}

impl Neg for W {
    type Output = W;

    fn neg(self) -> W {
        W {
            neg: !self.neg,
            ..self
        }
    }
}

impl Mul for W {
    type Output = W;

    fn mul(self, o: W) -> W {
        if self.m == 0 || o.m == 0 {
            return W::ZERO;
        }
        let (hi, lo) = mul_256(self.m, o.m);
        let neg = self.neg != o.neg;
        if hi >> 127 != 0 {
            W {
                neg,
                e: self.e + o.e + 1,
                m: hi | (lo != 0) as u128,
            }
        } else {
            W {
                neg,
                e: self.e + o.e,
                m: hi << 1 | lo >> 127 | (lo << 1 != 0) as u128,
            }
        }
    }
}

impl Add for W {
    type Output = W;

    fn add(self, o: W) -> W {
        if self.m == 0 {
            return o;
        }
        if o.m == 0 {
            return self;
        }
        let (big, small) = if (self.e, self.m) >= (o.e, o.m) {
            (self, o)
        } else {
            (o, self)
        };
        // The smaller operand's lost bits are jammed into bit 0, so a tiny
        // addend still moves the sum to the right side of a rounding
        // boundary (sin x just below x, cos x just below 1).
        let d = (big.e - small.e) as u32;
        let sm = f80::shr_jam(small.m, d);
        if big.neg == small.neg {
            let (s, carry) = big.m.overflowing_add(sm);
            if carry {
                W {
                    neg: big.neg,
                    e: big.e + 1,
                    m: s >> 1 | 1 << 127 | (s & 1),
                }
            } else {
                W { m: s, ..big }
            }
        } else {
            W::norm(big.neg, big.e, big.m - sm)
        }
    }
}

impl Sub for W {
    type Output = W;

    fn sub(self, o: W) -> W {
        self.add(o.neg())
    }
}

impl Div for W {
    type Output = W;

    /// Quotient, to 127 bits plus a sticky bit.
    fn div(self, o: W) -> W {
        if self.m == 0 {
            return W::ZERO;
        }
        let d = o.m >> 1;
        let mut r = self.m >> 1;
        let mut q: u128 = 0;
        for _ in 0..128 {
            q <<= 1;
            if r >= d {
                r -= d;
                q |= 1;
            }
            r <<= 1;
        }
        W::norm(self.neg != o.neg, self.e - o.e, q | (r != 0) as u128)
    }
}

// Constants, 128-bit significands rounded to nearest (checked in the tests
// against the identities they satisfy).
const PI: W = W::k(0xC90F_DAA2_2168_C234_C4C6_628B_80DC_1CD1, 1);
const LN2: W = W::k(0xB172_17F7_D1CF_79AB_C9E3_B398_03F2_F6AF, -1);
const LOG2E: W = W::k(0xB8AA_3B29_5C17_F0BB_BE87_FED0_691D_3E89, 0);
const LOG2_10: W = W::k(0xD49A_784B_CD1B_8AFE_492B_F6FF_4DAF_DB4D, 1);
const LOG10_2: W = W::k(0x9A20_9A84_FBCF_F798_8F89_59AC_0B7C_9178, -2);
/// π/2 as the x87 knows it for argument reduction: 0xC90FDAA22168C234C ×
/// 2^-67 (68 bits, 66 significant).
const PIO2_66: u128 = 0xC_90FD_AA22_168C_234C;
const PIO2_66_SHIFT: i32 = 67;

/// FLDPI, FLDL2T, FLDL2E, FLDLG2, FLDLN2: the constant rounded by RC
/// (the P6 rounds its internal constants by the rounding control; SDM vol.
/// 2, FLD1/FLDL2T/...).
pub fn constant(ctx: &mut Ctx, which: u8) -> F80 {
    let c = match which {
        1 => LOG2_10,
        2 => LOG2E,
        3 => PI,
        4 => LOG10_2,
        _ => LN2,
    };
    // The constants are rounded without raising PE (SDM vol. 2 FLD1 etc.:
    // "Floating-Point Exceptions: #IS"), so use a scratch context.
    let mut scratch = *ctx;
    let r = c.round(&mut scratch, false);
    ctx.up = false;
    r
}

struct Tables {
    /// (-1)^k / (2k+1)!, k = 0..=SIN_TERMS.
    sin: Vec<W>,
    /// (-1)^k / (2k)!.
    cos: Vec<W>,
    /// 1 / (2k+1), for the atan and atanh series.
    odd: Vec<W>,
    /// 1 / k!, for expm1.
    fact: Vec<W>,
    /// atan(k/16), k = 0..=16.
    atan: Vec<W>,
}

const SIN_TERMS: usize = 18;
const ODD_TERMS: usize = 30;
const EXP_TERMS: usize = 36;

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let one = W::from_u64(1);
        let mut sin = Vec::new();
        let mut cos = Vec::new();
        let mut f = one; // 1/n!
        let mut n = 0u64;
        for k in 0..=SIN_TERMS {
            // cos term: 1/(2k)!
            if k > 0 {
                n += 1;
                f = f.div_u64(n);
            }
            cos.push(if k % 2 == 1 { f.neg() } else { f });
            n += 1;
            f = f.div_u64(n);
            sin.push(if k % 2 == 1 { f.neg() } else { f });
        }
        let odd = (0..=ODD_TERMS as u64)
            .map(|k| one.div_u64(2 * k + 1))
            .collect();
        let mut fact = vec![one];
        for k in 1..=EXP_TERMS as u64 {
            let prev = fact[fact.len() - 1];
            fact.push(prev.div_u64(k));
        }
        // atan(x) by Euler's series: x/(1+x²) · Σ a_n y^n with
        // y = x²/(1+x²), a_0 = 1, a_n = a_{n-1} · 2n/(2n+1).
        let atan = (0..=16u64)
            .map(|k| {
                if k == 0 {
                    return W::ZERO;
                }
                let x = W::from_u64(k).scale(-4);
                let x2 = x.mul(x);
                let d = one.add(x2);
                let y = x2.div(d);
                let mut a = one;
                let mut sum = one;
                let mut yn = one;
                for n in 1..400u64 {
                    a = a.mul(W::from_u64(2 * n)).div_u64(2 * n + 1);
                    yn = yn.mul(y);
                    let t = a.mul(yn);
                    if t.e < -135 {
                        break;
                    }
                    sum = sum.add(t);
                }
                x.div(d).mul(sum)
            })
            .collect();
        Tables {
            sin,
            cos,
            odd,
            fact,
            atan,
        }
    })
}

/// Σ c_k z^k by Horner's rule.
fn horner(c: &[W], z: W) -> W {
    let mut p = c[c.len() - 1];
    for &ck in c[..c.len() - 1].iter().rev() {
        p = ck.add(p.mul(z));
    }
    p
}

/// sin r and cos r for |r| ≤ π/4 (a little more is fine).
fn sin_cos(r: W) -> (W, W) {
    let t = tables();
    let r2 = r.mul(r);
    (r.mul(horner(&t.sin, r2)), horner(&t.cos, r2))
}

/// Reduce `x` (finite, |x| < 2^63) modulo the x87's π/2: returns r with
/// |r| ≤ π/4 and the quadrant k mod 4 with x = r + k·π₆₆/2.
fn reduce(x: Fin) -> (W, u32) {
    let shift = x.e + 4; // x·2^67 = sig << (e + 4)
    if shift < 0 {
        return (W::from_fin(x), 0);
    }
    // Remainder and quotient (mod 4) of (sig << shift) by PIO2_66, in
    // chunks small enough for u128.
    let mut r = x.sig as u128 % PIO2_66;
    let mut q: u32 = (x.sig as u128 / PIO2_66) as u32 & 3;
    let mut left = shift as u32;
    while left > 0 {
        let c = left.min(56);
        let t = r << c;
        let shifted = if c >= 2 { 0 } else { q << c };
        q = shifted.wrapping_add((t / PIO2_66) as u32) & 3;
        r = t % PIO2_66;
        left -= c;
    }
    // Nearest multiple: remainders above half go negative.
    let (neg, mag) = if r > PIO2_66 / 2 {
        q = (q + 1) & 3;
        (true, PIO2_66 - r)
    } else {
        (false, r)
    };
    let mut w = W::norm(neg, 127 - PIO2_66_SHIFT, mag);
    let mut k = q;
    if x.sign {
        w = w.neg();
        k = (4 - k) & 3;
    }
    (w, k)
}

/// Which function of the reduced argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trig {
    Sin,
    Cos,
}

fn trig_of(x: Fin, which: Trig) -> W {
    let (r, k) = reduce(x);
    let (s, c) = sin_cos(r);
    let k = if which == Trig::Cos { (k + 1) & 3 } else { k };
    match k {
        0 => s,
        1 => c,
        2 => s.neg(),
        _ => c.neg(),
    }
}

/// Outcome of FSIN/FCOS/FPTAN/FSINCOS on ST(0).
pub enum TrigOut {
    /// |x| ≥ 2^63: C2 = 1, ST(0) unchanged.
    OutOfRange,
    /// The result(s): (first, second) — FSINCOS: (sin, cos); FPTAN:
    /// (tan, 1.0); FSIN/FCOS: (value, unused).
    Done(F80, F80),
}

/// The instruction selector for [`trig`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TrigOp {
    Sin,
    Cos,
    SinCos,
    Tan,
}

pub fn trig(ctx: &mut Ctx, x: F80, op: TrigOp) -> TrigOut {
    let one = F80::ONE;
    match x.class() {
        Class::Unsupported | Class::Infinity => {
            let i = f80::invalid(ctx);
            return TrigOut::Done(i, i);
        }
        Class::QNaN | Class::SNaN => {
            let q = f80::propagate1(ctx, x);
            return TrigOut::Done(q, q);
        }
        Class::Zero => {
            return TrigOut::Done(if op == TrigOp::Cos { one } else { x }, one);
        }
        Class::Denormal => ctx.raise(exc::DE),
        Class::Normal => {}
    }
    let Val::Fin(f) = f80::unpack(x) else {
        unreachable!()
    };
    if f.e >= 63 {
        return TrigOut::OutOfRange;
    }
    match op {
        TrigOp::Sin => TrigOut::Done(trig_of(f, Trig::Sin).round(ctx, false), x),
        TrigOp::Cos => TrigOut::Done(trig_of(f, Trig::Cos).round(ctx, false), x),
        TrigOp::SinCos => {
            // C1 reports the rounding of the sine (host x87).
            let c = trig_of(f, Trig::Cos).round(ctx, false);
            let s = trig_of(f, Trig::Sin).round(ctx, false);
            TrigOut::Done(s, c)
        }
        TrigOp::Tan => {
            let (r, k) = reduce(f);
            let t = if r.e < -70 && k == 0 {
                // tan x = x + x³/3 + ...: just above x, beyond the reach of
                // the wide format's 128 bits.
                r.above()
            } else {
                let (s, c) = sin_cos(r);
                if k & 1 == 0 {
                    s.div(c)
                } else {
                    c.div(s).neg()
                }
            };
            TrigOut::Done(t.round(ctx, false), one)
        }
    }
}

/// atan t for 0 ≤ t ≤ 1.
fn atan_unit(t: W) -> W {
    let tb = tables();
    // k = round(16 t); atan t = atan(k/16) + atan((t - c)/(1 + t c)).
    let k = if t.e < -5 {
        0
    } else {
        // 16t as a fixed-point number with 8 fraction bits.
        let sh = 127 - (t.e + 4) - 8;
        let fx = if sh >= 128 { 0 } else { (t.m >> sh) as u64 };
        ((fx + 128) >> 8).min(16)
    };
    let (base, u) = if k == 0 {
        (W::ZERO, t)
    } else {
        let c = W::from_u64(k).scale(-4);
        let u = t.sub(c).div(W::from_u64(1).add(t.mul(c)));
        (tb.atan[k as usize], u)
    };
    let u2 = u.mul(u);
    let mut p = W::ZERO;
    for (i, &o) in tb.odd[..16].iter().enumerate().rev() {
        let term = if i % 2 == 1 { o.neg() } else { o };
        p = term.add(p.mul(u2));
    }
    base.add(u.mul(p))
}

/// 2·atanh(s) = ln((1+s)/(1-s)), |s| ≤ 0.18.
fn two_atanh(s: W) -> W {
    let tb = tables();
    let s2 = s.mul(s);
    s.mul(horner(&tb.odd[..28], s2)).scale(1)
}

/// log2 of a positive wide value.
fn log2_w(w: W) -> W {
    // w = m · 2^e with m in [1/√2, √2).
    let mut e = w.e;
    let mut m = W {
        neg: false,
        e: 0,
        ..w
    };
    // √2 ≈ 0xB504F333F9DE6484597D89B3754ABE9F × 2^-127.
    if w.m > 0xB504_F333_F9DE_6484_597D_89B3_754A_BE9F {
        m = m.scale(-1);
        e += 1;
    }
    let one = W::from_u64(1);
    let s = m.sub(one).div(m.add(one));
    W::from_i64(e as i64).add(two_atanh(s).mul(LOG2E))
}

fn log2_fin(x: Fin) -> W {
    log2_w(W::from_fin(x))
}

/// FPATAN: atan2(y, x) with ST(1) = y and ST(0) = x (SDM vol. 2 FPATAN,
/// table 3-29 for the special operands).
pub fn atan2(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    let (cy, cx) = (y.class(), x.class());
    if cy == Class::Unsupported || cx == Class::Unsupported {
        return f80::invalid(ctx);
    }
    if y.is_nan() || x.is_nan() {
        return f80::propagate(ctx, y, x);
    }
    if cy == Class::Denormal || cx == Class::Denormal {
        ctx.raise(exc::DE);
    }
    let sign = y.sign();
    let pi = PI;
    let half = PI.scale(-1);
    let quarter = PI.scale(-2);
    let fixed = |ctx: &mut Ctx, w: W| -> F80 {
        let w = if sign { w.neg() } else { w };
        w.round(ctx, false)
    };
    match (f80::unpack(y), f80::unpack(x)) {
        (Val::Zero(_), Val::Zero(sx)) | (Val::Zero(_), Val::Fin(Fin { sign: sx, .. })) => {
            if sx {
                fixed(ctx, pi)
            } else {
                F80::ZERO.with_sign(sign)
            }
        }
        (Val::Zero(_), Val::Inf(sx)) => {
            if sx {
                fixed(ctx, pi)
            } else {
                F80::ZERO.with_sign(sign)
            }
        }
        (Val::Inf(_), Val::Inf(sx)) => fixed(ctx, if sx { pi.sub(quarter) } else { quarter }),
        (Val::Inf(_), _) | (Val::Fin(_), Val::Zero(_)) => fixed(ctx, half),
        (Val::Fin(_), Val::Inf(sx)) => {
            if sx {
                fixed(ctx, pi)
            } else {
                F80::ZERO.with_sign(sign)
            }
        }
        (Val::Fin(fy), Val::Fin(fx)) => {
            let (wy, wx) = (W::from_fin(fy).abs(), W::from_fin(fx).abs());
            let swap = (fy.e, fy.sig) > (fx.e, fx.sig);
            let t = if swap { wx.div(wy) } else { wy.div(wx) };
            let mut a = atan_unit(t);
            if swap {
                a = half.sub(a);
            }
            if fx.sign {
                a = pi.sub(a);
            }
            fixed(ctx, a)
        }
        _ => unreachable!(),
    }
}

/// F2XM1: 2^x - 1 (defined for -1 ≤ x ≤ 1; beyond that the x87's result is
/// undefined and oxbox computes the mathematical value).
pub fn f2xm1(ctx: &mut Ctx, x: F80) -> F80 {
    match x.class() {
        Class::Unsupported => return f80::invalid(ctx),
        Class::QNaN | Class::SNaN => return f80::propagate1(ctx, x),
        Class::Zero => return x,
        Class::Infinity => return if x.sign() { F80::ONE.neg() } else { x },
        Class::Denormal => ctx.raise(exc::DE),
        Class::Normal => {}
    }
    let Val::Fin(f) = f80::unpack(x) else {
        unreachable!()
    };
    if f.e >= 0 && (f.e > 0 || f.sig != 1 << 63) {
        // |x| > 1: outside the defined range the host x87 leaves ST(0) as
        // it is and reports an inexact result.
        ctx.raise(exc::PE);
        ctx.up = false;
        return x;
    }
    if f.sig == 1 << 63 && f.e == 0 && f.sign {
        // 2^-1 - 1 = -1/2 exactly, yet reported inexact (host x87).
        ctx.raise(exc::PE);
        ctx.up = false;
        return F80::new(true, 0x3FFE, 1 << 63);
    }
    // 2^x - 1 = expm1(x ln 2), |x ln 2| < 0.7: Σ_{k≥1} t^k / k!.
    let t = W::from_fin(f).mul(LN2);
    let tb = tables();
    let mut p = W::ZERO;
    for &c in tb.fact[1..].iter().rev() {
        p = c.add(p.mul(t));
    }
    t.mul(p).round(ctx, false)
}

/// FYL2X: y · log2(x) (SDM vol. 2 FYL2X, table 3-47).
pub fn fyl2x(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    let (cy, cx) = (y.class(), x.class());
    if cy == Class::Unsupported || cx == Class::Unsupported {
        return f80::invalid(ctx);
    }
    if y.is_nan() || x.is_nan() {
        return f80::propagate(ctx, y, x);
    }
    if x.sign() && cx != Class::Zero {
        return f80::invalid(ctx);
    }
    // A zero divide (y finite non-zero, x zero) ranks above DE.
    if !(cx == Class::Zero && matches!(cy, Class::Normal | Class::Denormal))
        && (cy == Class::Denormal || cx == Class::Denormal)
    {
        ctx.raise(exc::DE);
    }
    let inf = |s: bool| F80::INFINITY.with_sign(s);
    match (f80::unpack(y), f80::unpack(x)) {
        // log2(±0) = -∞.
        (Val::Zero(_), Val::Zero(_)) => f80::invalid(ctx),
        (Val::Inf(s), Val::Zero(_)) => inf(!s),
        (Val::Fin(fy), Val::Zero(_)) => {
            ctx.raise(exc::ZE);
            inf(!fy.sign)
        }
        // log2(+∞) = +∞.
        (Val::Zero(_), Val::Inf(_)) => f80::invalid(ctx),
        (Val::Inf(s), Val::Inf(_)) | (Val::Fin(Fin { sign: s, .. }), Val::Inf(_)) => inf(s),
        (vy, Val::Fin(fx)) => {
            let l = log2_fin(fx);
            // log2(1) = 0: y·0 (∞·0 is invalid).
            if l.is_zero() {
                return match vy {
                    Val::Inf(_) => f80::invalid(ctx),
                    _ => F80::ZERO.with_sign(y.sign()),
                };
            }
            match vy {
                Val::Zero(s) => F80::ZERO.with_sign(s != l.neg),
                Val::Inf(s) => inf(s != l.neg),
                Val::Fin(fy) => {
                    let exact = fx.sig == 1 << 63;
                    if exact {
                        // x a power of two: y·e, rounded like a product,
                        // but always reported inexact (host x87).
                        let mut c2 = *ctx;
                        c2.pc = 64;
                        c2.flags = 0;
                        c2.up = false;
                        let r = f80::mul(&mut c2, y, f80::from_int(fx.e as i64), false);
                        ctx.flags |= c2.flags & !exc::DE | exc::PE;
                        if r.is_denormal() {
                            // Tiny and (reportedly) inexact.
                            ctx.flags |= exc::UE;
                        }
                        ctx.up = c2.up;
                        return r;
                    }
                    W::from_fin(fy).mul(l).round(ctx, false)
                }
                _ => unreachable!(),
            }
        }
        _ => unreachable!(),
    }
}

/// FYL2XP1: y · log2(x + 1) (defined for |x| < 1 - √2/2).
pub fn fyl2xp1(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    let (cy, cx) = (y.class(), x.class());
    if cy == Class::Unsupported || cx == Class::Unsupported {
        return f80::invalid(ctx);
    }
    if y.is_nan() || x.is_nan() {
        return f80::propagate(ctx, y, x);
    }
    let invalid = match (f80::unpack(y), f80::unpack(x)) {
        (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(false)) | (_, Val::Inf(true)) => true,
        (_, Val::Fin(fx)) => fx.sign && fx.e >= 0 && (fx.e > 0 || fx.sig != 1 << 63),
        _ => false,
    };
    if invalid {
        // Invalid ranks above DE.
        return f80::invalid(ctx);
    }
    if cy == Class::Denormal || cx == Class::Denormal {
        ctx.raise(exc::DE);
    }
    match (f80::unpack(y), f80::unpack(x)) {
        (Val::Inf(_), Val::Zero(_)) => f80::invalid(ctx),
        (_, Val::Zero(sx)) => F80::ZERO.with_sign(y.sign() != sx),
        // log2(+∞) = +∞; y·∞ (0·∞ is invalid).
        (Val::Zero(_), Val::Inf(false)) => f80::invalid(ctx),
        (_, Val::Inf(false)) => F80::INFINITY.with_sign(y.sign()),
        (_, Val::Inf(true)) => f80::invalid(ctx),
        (vy, Val::Fin(fx)) => {
            let wx = W::from_fin(fx);
            let one = W::from_u64(1);
            let l = if fx.e < -2 {
                // |x| < 1/4: ln(1+x) = 2 atanh(x / (2 + x)) keeps the
                // relative precision of a small x.
                let s = wx.div(W::from_u64(2).add(wx));
                two_atanh(s).mul(LOG2E)
            } else {
                // Outside the defined range (|x| < 1 - √2/2) the x87's
                // result is undefined; oxbox computes log2(1 + x).
                let sum = one.add(wx);
                if sum.neg || sum.is_zero() {
                    return if sum.is_zero() && !matches!(vy, Val::Zero(_)) {
                        ctx.raise(exc::ZE);
                        F80::INFINITY.with_sign(!y.sign())
                    } else {
                        f80::invalid(ctx)
                    };
                }
                log2_w(sum)
            };
            match vy {
                Val::Zero(s) => F80::ZERO.with_sign(s != fx.sign),
                Val::Inf(s) => F80::INFINITY.with_sign(s != l.neg),
                Val::Fin(fy) => W::from_fin(fy).mul(l).round(ctx, false),
                _ => unreachable!(),
            }
        }
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w_to_f64(w: W) -> f64 {
        let v = (w.m >> 64) as f64 * 2f64.powi(w.e - 63);
        if w.neg {
            -v
        } else {
            v
        }
    }

    #[test]
    fn constants_satisfy_their_identities() {
        // ln2 · log2(e) = 1 and log2(10) · log10(2) = 1 to ~126 bits.
        for (a, b) in [(LN2, LOG2E), (LOG2_10, LOG10_2)] {
            let p = a.mul(b);
            let one = W::from_u64(1);
            let d = p.sub(one);
            assert!(d.is_zero() || d.e < -120, "{:?}", d);
        }
        // atan(1) = π/4.
        let d = tables().atan[16].sub(PI.scale(-2));
        assert!(d.is_zero() || d.e < -120, "{d:?}");
    }

    #[test]
    fn wide_arithmetic_matches_f64_roughly() {
        let a = W::from_u64(355);
        let b = W::from_u64(113);
        assert!((w_to_f64(a.div(b)) - 355.0 / 113.0).abs() < 1e-15);
        assert!((w_to_f64(a.div_u64(113)) - 355.0 / 113.0).abs() < 1e-15);
        let (s, c) = sin_cos(W::from_u64(1).scale(-1));
        assert!((w_to_f64(s) - 0.5f64.sin()).abs() < 1e-16);
        assert!((w_to_f64(c) - 0.5f64.cos()).abs() < 1e-16);
    }

    #[test]
    fn fsin_of_the_extended_pi_shows_the_66_bit_reduction() {
        let pi = F80 {
            sig: 0xC90F_DAA2_2168_C235,
            se: 0x4000,
        };
        let mut c = Ctx::new(0x037F);
        match trig(&mut c, pi, TrigOp::Sin) {
            TrigOut::Done(r, _) => assert_eq!(
                r,
                F80 {
                    sig: 1 << 63,
                    se: 0xBFBF
                }
            ),
            TrigOut::OutOfRange => panic!(),
        }
    }

    #[test]
    fn fldpi_rounds_by_the_rounding_control() {
        let mut c = Ctx::new(0x037F);
        assert_eq!(constant(&mut c, 3).sig, 0xC90F_DAA2_2168_C235);
        let mut c = Ctx::new(0x077F);
        assert_eq!(constant(&mut c, 3).sig, 0xC90F_DAA2_2168_C234);
        assert_eq!(c.flags, 0);
    }
}
