//! Shifts and rotates: the C0/C1/D0-D3 group, SHLD and SHRD
//! (SDM vol. 2, "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR").

use crate::cpu::decode::Instr;
use crate::cpu::flags::{szp, AF, CF, OF, OSZAPC, SZP};
use crate::cpu::{reg, Cpu, Result, Width, W8};
use oxbox_devices::Bus;

/// Count sources for the shift group (the `SRC` parameter; 2 = imm8).
const BY_ONE: u8 = 0;
const BY_CL: u8 = 1;

/// CF and OF as EFLAGS bits from 0/1 values.
#[inline(always)]
fn cf_of(c: u32, o: u32) -> u32 {
    (c * CF) | (o * OF)
}

/// The result and the status flags of one shift/rotate. `None` when the
/// count is zero (nothing changes, not even the flags).
///
/// AF is undefined after SHL/SHR/SAR. The silicon computes SHL as repeated
/// doubling, so AF is the carry out of bit 3 of the last step; after
/// SHR/SAR it depends on the model (`Quirks::shift_right_sets_af`).
fn shift_op<W: Width>(cpu: &Cpu, op: usize, v: u32, count: u32) -> Option<(u32, u32, u32)> {
    if count == 0 {
        return None;
    }
    let n = W::BITS;
    let msb = |x: u32| (x >> (n - 1)) & 1;
    let cf_in = cpu.cf() as u32;
    let right_af = if cpu.quirks.shift_right_sets_af {
        AF
    } else {
        0
    };
    // (result, flags, which flags are written)
    let (res, f, which) = match op {
        0 => {
            // ROL
            let k = count % n;
            let r = if k == 0 {
                v
            } else {
                ((v << k) | (v >> (n - k))) & W::MASK
            };
            let c = r & 1;
            let o = msb(r) ^ c;
            (r, cf_of(c, o), CF | OF)
        }
        1 => {
            // ROR
            let k = count % n;
            let r = if k == 0 {
                v
            } else {
                ((v >> k) | (v << (n - k))) & W::MASK
            };
            let c = msb(r);
            let o = msb(r) ^ ((r >> (n - 2)) & 1);
            (r, cf_of(c, o), CF | OF)
        }
        2 => {
            // RCL: rotate through carry, n + 1 bits.
            let k = count % (n + 1);
            let (mut r, mut c) = (v, cf_in);
            for _ in 0..k {
                let out = msb(r);
                r = ((r << 1) | c) & W::MASK;
                c = out;
            }
            let o = msb(r) ^ c;
            (r, cf_of(c, o), CF | OF)
        }
        3 => {
            // RCR
            let k = count % (n + 1);
            let (mut r, mut c) = (v, cf_in);
            for _ in 0..k {
                let out = r & 1;
                r = (r >> 1) | (c << (n - 1));
                c = out;
            }
            let o = msb(r) ^ ((r >> (n - 2)) & 1);
            (r, cf_of(c, o), CF | OF)
        }
        4 | 6 => {
            // SHL / SAL
            let (r, c) = if count <= n {
                (
                    ((v as u64) << count) as u32 & W::MASK,
                    (v >> (n - count)) & 1,
                )
            } else {
                (0, 0)
            };
            let o = msb(r) ^ c;
            // Bit 3 before the last doubling is bit 3 of v << (count - 1),
            // i.e. bit 4 - count of v; zero once count > 4 (and the 8086's
            // counts reach 255, too far to shift a u64 by).
            let a = count <= 4 && (v >> (4 - count)) & 1 != 0;
            (r, cf_of(c, o) | szp(r, n) | if a { AF } else { 0 }, OSZAPC)
        }
        5 => {
            // SHR
            let (r, c) = if count <= n {
                (((v as u64) >> count) as u32, (v >> (count - 1)) & 1)
            } else {
                (0, 0)
            };
            // OF: the original sign for a 1-bit shift; in general the sign
            // change of the last step.
            let o = if count == 1 {
                msb(v)
            } else {
                msb(r) ^ ((r >> (n - 2)) & 1)
            };
            (r, cf_of(c, o) | szp(r, n) | right_af, OSZAPC)
        }
        _ => {
            // SAR
            let s = W::sext(v) as i32;
            let (r, c) = if count < n {
                (
                    (s >> count) as u32 & W::MASK,
                    ((s >> (count - 1)) & 1) as u32,
                )
            } else {
                ((s >> 31) as u32 & W::MASK, (s >> 31) as u32 & 1)
            };
            (r, cf_of(c, 0) | szp(r, n) | right_af, OSZAPC)
        }
    };
    Some((res, f, which))
}

/// The C0/C1/D0-D3 group. `SETMO` selects the 8086's /6 behaviour (SETMO,
/// SETMOC: the operand becomes all ones); `SRC` is the count source.
pub fn group<W: Width, const SETMO: u8, const SRC: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
) -> Result<()> {
    let raw = match SRC {
        BY_ONE => 1,
        BY_CL => cpu.reg::<W8>(reg::CX),
        _ => i.imm & 0xFF,
    };
    let count = raw & cpu.quirks.shift_count_mask as u32;
    // 8086/186/286: a few clocks per bit shifted (0 elsewhere).
    cpu.cycles += count as u64 * i.clocks_x as u64;
    let op = i.reg();
    if SETMO != 0 {
        if count == 0 {
            return Ok(());
        }
        return cpu.modify_rm::<W>(bus, i, |cpu, _| {
            cpu.set_flags(OSZAPC, szp(W::MASK, W::BITS));
            Some(W::MASK)
        });
    }
    cpu.modify_rm::<W>(bus, i, |cpu, v| {
        let (r, f, which) = shift_op::<W>(cpu, op, v, count)?;
        cpu.set_flags(which, f);
        Some(r)
    })
}

/// SHLD/SHRD: shift the destination, filling from the register operand
/// (SDM vol. 2, SHLD/SHRD). Counts are masked to 5 bits; a count above the
/// operand width leaves an undefined result (oxbox shifts the 2×width
/// concatenation).
fn double_shift<W: Width>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    i: &Instr,
    by_cl: bool,
    left: bool,
) -> Result<()> {
    let count = if by_cl { cpu.reg::<W8>(reg::CX) } else { i.imm } & 31;
    let src = cpu.reg::<W>(i.reg());
    cpu.modify_rm::<W>(bus, i, |cpu, d| {
        if count == 0 {
            return None;
        }
        let n = W::BITS;
        let (r, c) = if left {
            let wide = ((d as u64) << n) | src as u64;
            let r = ((wide << count) >> n) as u32 & W::MASK;
            (r, ((wide << (count - 1)) >> (2 * n - 1)) as u32 & 1)
        } else {
            let wide = ((src as u64) << n) | d as u64;
            (
                (wide >> count) as u32 & W::MASK,
                (wide >> (count - 1)) as u32 & 1,
            )
        };
        let o = ((r >> (n - 1)) & 1) ^ ((d >> (n - 1)) & 1);
        cpu.set_flags(OSZAPC, cf_of(c, o) | (szp(r, n) & SZP));
        Some(r)
    })
}

/// SHLD r/m, reg, imm8/CL (386).
pub fn shld<W: Width, const CL: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    double_shift::<W>(cpu, bus, i, CL != 0, true)
}

/// SHRD r/m, reg, imm8/CL (386).
pub fn shrd<W: Width, const CL: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, i: &Instr) -> Result<()> {
    double_shift::<W>(cpu, bus, i, CL != 0, false)
}
