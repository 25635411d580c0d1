//! Robustness: random instruction bytes must never make the CPU panic.
//!
//! "Faults are values" (DESIGN.md): whatever the guest executes, `step()`
//! returns, delivering an exception if it must. This feeds every model
//! thousands of random byte sequences (biased towards prefixes and the 0x0F
//! map so the rarer paths are reached), at random CS:IP, with random
//! registers, flags and memory around every pointer register, and checks
//! only that each step returns and leaves a state real mode allows:
//!
//! - IP stays within 16 bits (no 32-bit code segments exist in real mode);
//! - models before the 386 never set the upper half of a register;
//! - every segment base is selector * 16 (real-mode segment loads);
//! - FLAGS bit 1 reads as 1.
//!
//! RAM is 640 KiB, so part of the real-mode address space (0xA0000 up to
//! 0x10FFEF) lies beyond it and goes to the (null) bus, as on a PC.
//! The PRNG is a fixed-seed xorshift, so a failure reproduces exactly; the
//! failing sequence is printed.
//!
//! The same generator also checks that the decode cache is invisible: a CPU
//! that keeps its cache across sequences and one that starts each sequence
//! with an empty cache must end every step in the same state.

use oxbox::cpu::{seg, Cpu, CpuModel, Regs16, Segment};
use oxbox_devices::NullBus;

/// Sequences per model (about 0.1 s per model in a release build). Set
/// `OXBOX_FUZZ_SEQUENCES` for a longer run and `OXBOX_FUZZ_SEED` (a number
/// mixed into every model's seed) to explore other sequences.
const SEQUENCES: usize = 100_000;
/// Instructions executed from each sequence.
const STEPS: usize = 4;
/// 640 KiB of RAM: everything from 0xA0000 up is open bus.
const RAM: usize = 640 << 10;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// xorshift64* (Vigna): small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn u8(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    fn u16(&mut self) -> u16 {
        (self.next() >> 48) as u16
    }

    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.below(one_in) == 0
    }
}

/// Bytes worth over-representing at the start of a sequence: every prefix
/// and the two-byte escape.
const INTERESTING: [u8; 13] = [
    0x0F, 0x66, 0x67, 0xF3, 0xF2, 0xF0, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0xF1,
];

fn random_code(rng: &mut Rng) -> Vec<u8> {
    let len = 1 + rng.below(16) as usize;
    let mut code: Vec<u8> = (0..len).map(|_| rng.u8()).collect();
    // Half the sequences start with an "interesting" byte, and an escape
    // often follows it. Whatever lies in memory after the sequence (left
    // by earlier sequences) is fetched too if the instruction is longer.
    if rng.chance(2) {
        code[0] = INTERESTING[rng.below(INTERESTING.len() as u32) as usize];
        if len > 1 && rng.chance(2) {
            code[1] = 0x0F;
        }
    }
    code
}

/// One random starting state: registers, memory writes, and the code.
struct Scenario {
    regs: Regs16,
    /// 32-bit models: the full EAX..EDI (upper halves random half the time).
    regs32: Option<[u32; 8]>,
    fs: u16,
    gs: u16,
    /// (physical address, byte), applied in order; the code comes last.
    writes: Vec<(u32, u8)>,
    code: Vec<u8>,
}

fn phys(selector: u16, off: u16) -> u32 {
    ((selector as u32) << 4) + off as u32
}

impl Scenario {
    fn random(rng: &mut Rng, model: CpuModel) -> Scenario {
        let code = random_code(rng);
        let mut r = Regs16 {
            ax: rng.u16(),
            bx: rng.u16(),
            cx: rng.u16(),
            dx: rng.u16(),
            cs: rng.u16(),
            ss: rng.u16(),
            ds: rng.u16(),
            es: rng.u16(),
            sp: rng.u16(),
            bp: rng.u16(),
            si: rng.u16(),
            di: rng.u16(),
            ip: rng.u16(),
            flags: rng.u16(),
        };
        // Mostly keep the code in RAM so it is what executes (beyond RAM the
        // bus floats every byte to 0xFF).
        if !rng.chance(8) {
            r.cs = rng.below(0x9000) as u16;
        }
        // Small counts now and then, so REP loops sometimes finish.
        if rng.chance(2) {
            r.cx &= 0x1F;
        }
        let regs32 = model.is_32bit().then(|| {
            let low = [r.ax, r.cx, r.dx, r.bx, r.sp, r.bp, r.si, r.di];
            low.map(|v| {
                let high = if rng.chance(2) {
                    rng.u32() & 0xFFFF_0000
                } else {
                    0
                };
                high | v as u32
            })
        });
        let (fs, gs) = (rng.u16(), rng.u16());
        // Random memory around every pointer (wrapping within the segment,
        // as a real-mode access does), the stack, and sometimes the IVT.
        let mut writes = Vec::with_capacity(6 * 64 + 0x80 + 16);
        let pointers = [
            (r.ds, r.bx),
            (r.ds, r.si),
            (r.es, r.di),
            (r.ss, r.bp),
            (r.ss, r.sp),
            (r.ds, r.bx.wrapping_add(r.si)),
        ];
        for (selector, off) in pointers {
            for k in 0..64u16 {
                writes.push((
                    phys(selector, off.wrapping_sub(32).wrapping_add(k)),
                    rng.u8(),
                ));
            }
        }
        if rng.chance(4) {
            for a in 0..0x80 {
                writes.push((a, rng.u8()));
            }
        }
        // The code last, so no scribble overwrites it.
        for (k, &b) in code.iter().enumerate() {
            writes.push((phys(r.cs, r.ip.wrapping_add(k as u16)), b));
        }
        Scenario {
            regs: r,
            regs32,
            fs,
            gs,
            writes,
            code,
        }
    }

    fn apply(&self, cpu: &mut Cpu) {
        cpu.reset();
        cpu.set_real_mode_regs(&self.regs);
        if let Some(full) = self.regs32 {
            cpu.regs = full;
            cpu.segs[seg::FS] = Segment::real(self.fs);
            cpu.segs[seg::GS] = Segment::real(self.gs);
        }
        for &(at, b) in &self.writes {
            cpu.mem_mut().load(at, &[b]);
        }
    }

    fn describe(&self, n: usize) -> String {
        format!(
            "sequence {n}: {:02X?} at {:04X}:{:04X}, {:04X?}, 32-bit registers {:08X?}",
            self.code, self.regs.cs, self.regs.ip, self.regs, self.regs32
        )
    }
}

/// Check the invariants real mode guarantees after any instruction.
fn check_sane(cpu: &Cpu, model: CpuModel, ctx: &dyn Fn() -> String) {
    if !cpu.code32() {
        assert!(
            cpu.eip <= 0xFFFF,
            "{model}: EIP {:#x} beyond 16 bits; {}",
            cpu.eip,
            ctx()
        );
    }
    if !model.is_32bit() {
        for (r, &v) in cpu.regs.iter().enumerate() {
            assert!(
                v <= 0xFFFF,
                "{model}: register {r} = {v:#x} has upper bits; {}",
                ctx()
            );
        }
    }
    for (s, segment) in cpu.segs.iter().enumerate() {
        assert_eq!(
            segment.base,
            (segment.selector as u32) << 4,
            "{model}: segment {s} base does not match its selector; {}",
            ctx()
        );
    }
    assert!(
        cpu.flags_word() & 0x2 != 0,
        "{model}: FLAGS bit 1 clear; {}",
        ctx()
    );
}

/// The number of sequences and the generator for a model's run.
fn plan(seed: u64) -> (usize, Rng) {
    let sequences = env_number("OXBOX_FUZZ_SEQUENCES").map_or(SEQUENCES, |n| n as usize);
    let mix = env_number("OXBOX_FUZZ_SEED").unwrap_or(0);
    let seed = seed ^ mix.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (sequences, Rng(seed | 1))
}

fn fuzz(model: CpuModel, seed: u64) {
    let (sequences, mut rng) = plan(seed);
    let mut cpu = Cpu::new(model, RAM);
    let mut bus = NullBus;
    let mut exceptions = 0usize;
    for n in 0..sequences {
        let scenario = Scenario::random(&mut rng, model);
        scenario.apply(&mut cpu);
        let ctx = || scenario.describe(n);
        for _ in 0..STEPS {
            let res = cpu.step(&mut bus);
            exceptions += res.exception.is_some() as usize;
            check_sane(&cpu, model, &ctx);
            if res.shutdown || cpu.is_halted() {
                break;
            }
        }
    }
    // Random bytes fault often; if nothing ever faulted the generator or the
    // exception path is broken.
    assert!(
        exceptions > sequences / 100,
        "{model}: only {exceptions} exceptions"
    );
}

/// The decode cache must be invisible: one CPU keeps its cache across
/// sequences (and so runs stale-looking physical addresses through the
/// page-generation check), another starts every sequence with an empty
/// cache; both must end every step in the same state.
fn decode_cache_is_invisible(model: CpuModel, seed: u64) {
    let (sequences, mut rng) = plan(seed);
    let sequences = sequences / 4;
    let mut warm = Cpu::new(model, RAM);
    let mut cold = Cpu::new(model, RAM);
    let mut bus = NullBus;
    for n in 0..sequences {
        let scenario = Scenario::random(&mut rng, model);
        scenario.apply(&mut warm);
        scenario.apply(&mut cold);
        cold.flush_decode_cache();
        for k in 0..STEPS {
            let a = warm.step(&mut bus);
            let b = cold.step(&mut bus);
            let same = a == b
                && warm.regs == cold.regs
                && warm.eip == cold.eip
                && warm.segs == cold.segs
                && warm.flags_word() == cold.flags_word()
                && warm.is_halted() == cold.is_halted();
            assert!(
                same,
                "{model}: cached and uncached runs differ after step {k}: \
                 {:08X?} {:08X} vs {:08X?} {:08X}; {}",
                warm.regs,
                warm.eip,
                cold.regs,
                cold.eip,
                scenario.describe(n)
            );
            if a.shutdown || warm.is_halted() {
                break;
            }
        }
    }
}

#[test]
fn the_decode_cache_is_invisible_to_random_code_on_the_8086() {
    decode_cache_is_invisible(CpuModel::I8086, 0xCAC4_E086);
}

#[test]
fn the_decode_cache_is_invisible_to_random_code_on_the_80386() {
    decode_cache_is_invisible(CpuModel::I80386, 0xCAC4_E386);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_8086() {
    fuzz(CpuModel::I8086, 0x8086_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_80186() {
    fuzz(CpuModel::I80186, 0x0186_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_80286() {
    fuzz(CpuModel::I80286, 0x0286_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_80386() {
    fuzz(CpuModel::I80386, 0x0386_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_80486() {
    fuzz(CpuModel::I80486, 0x0486_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_pentium() {
    fuzz(CpuModel::Pentium, 0x0586_0000_1234_5678);
}

#[test]
fn random_instruction_bytes_never_panic_on_the_pentium_pro() {
    fuzz(CpuModel::PentiumPro, 0x0686_0000_1234_5678);
}

#[test]
fn every_model_is_covered() {
    // A new model must get its own fuzz test above.
    assert_eq!(CpuModel::ALL.len(), 7);
}
