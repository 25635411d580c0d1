//! Differential tests against the host CPU: integer instructions run once on
//! the host (an x86-64 machine, through inline assembly) and once in oxbox,
//! over random operands, and must agree on every result register and on
//! every flag the SDM defines for that instruction and operand.
//!
//! Groups: ADD ADC SUB SBB AND OR XOR CMP NEG INC DEC (8/16/32 bits), SHL
//! SHR SAR ROL ROR RCL RCR by CL (8/16/32; also by 1), MUL, IMUL (one-,
//! two- and three-operand forms), DIV, IDIV (8/16/32), BSF BSR (16/32), BT
//! BTS BTR BTC (register forms, 16/32), SHLD SHRD by CL (16/32), BSWAP
//! (32), MOVSX/MOVZX, XADD, CMPXCHG (8/16/32). Also pairs in which an
//! instruction reads, or keeps, flags an arithmetic one left pending (oxbox
//! derives them lazily; see `then`).
//!
//! Not covered: DAA, DAS, AAA, AAS, AAM and AAD do not exist in 64-bit mode
//! (they are #UD there), so the host cannot run them; the SingleStepTests
//! vectors (8086, 80286) cover them instead.
//!
//! How a case runs. oxbox is a PentiumPro in real mode with the instruction
//! at 0000:0100 (a 32-bit operation carries the 0x66 prefix); the host runs
//! the same mnemonic on the same registers in 64-bit mode, where 8/16/32-bit
//! operations behave identically (a 32-bit write zero-extends into the
//! 64-bit register, which the test never looks at). Both start from the
//! same EAX..EDI and the same status flags (random, so that instructions
//! which read CF and flags an instruction leaves alone are exercised); the
//! host's flags are set with POPFQ and read back with PUSHFQ. Then:
//!
//! - every register oxbox holds must equal the host's, except a destination
//!   the SDM leaves undefined (BSF/BSR of zero, SHLD/SHRD past the width);
//! - EFLAGS must agree under the mask of flags the SDM defines after the
//!   instruction, which includes the flags it leaves unaffected;
//! - IP must have advanced by the instruction length, with no exception,
//!   except for DIV/IDIV inputs that must raise #DE: those are predicted
//!   (never run on the host, where they would be SIGFPE) and oxbox must
//!   deliver vector 0 with the registers untouched and the faulting IP
//!   pushed.
//!
//! The PRNG is a fixed-seed xorshift (a seed per variant, from its text), so
//! a failure reproduces exactly. Operands are biased towards edge values (0,
//! 1, all ones, the sign boundaries, single bits), shift counts towards
//! small values and values at or beyond the operand width.
//!
//! `OXBOX_DIFF_CASES` sets the number of cases per variant (default
//! 1,000,000; every group has at least one variant per operand width, so a
//! group gets at least that many). A build for another architecture runs
//! one test that says loudly that it skipped.

#[cfg(not(target_arch = "x86_64"))]
#[test]
fn host_differential_tests_skipped_on_a_non_x86_64_host() {
    eprintln!(
        "*** SKIPPED: the host-differential integer tests need an x86-64 host \
         (this one is {}); nothing was compared ***",
        std::env::consts::ARCH
    );
}

#[cfg(target_arch = "x86_64")]
mod on_x86_64 {
    use oxbox::cpu::flags::{AF, CF, OF, OSZAPC, PF, SF, ZF};
    use oxbox::cpu::{reg, Cpu, CpuModel, Regs16};
    use oxbox_devices::NullBus;
    use std::arch::asm;

    const DEFAULT_CASES: u64 = 1_000_000;
    const CODE_IP: u32 = 0x100;
    const STACK_TOP: u32 = 0x8000;
    /// Mismatches printed in full per variant.
    const SHOWN: u64 = 5;

    fn cases() -> u64 {
        match std::env::var("OXBOX_DIFF_CASES") {
            Ok(s) => s
                .trim()
                .replace('_', "")
                .parse()
                .expect("OXBOX_DIFF_CASES must be a number"),
            Err(_) => DEFAULT_CASES,
        }
    }

    fn mask(width: u32) -> u32 {
        if width == 32 {
            u32::MAX
        } else {
            (1 << width) - 1
        }
    }

    fn sext(v: u64, width: u32) -> i64 {
        ((v << (64 - width)) as i64) >> (64 - width)
    }

    // ----- the PRNG ---------------------------------------------------------

    /// xorshift64* (Vigna): fixed seed, no dependency.
    struct Rng(u64);

    impl Rng {
        fn new(text: &str) -> Rng {
            // FNV-1a of the variant's text: one stream per variant, stable
            // when variants are added or reordered.
            let mut h: u64 = 0xCBF2_9CE4_8422_2325;
            for b in text.bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100_0000_01B3);
            }
            Rng(h | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn u32(&mut self) -> u32 {
            (self.next() >> 32) as u32
        }

        /// A number below `n` (multiply-shift: no division, negligible bias).
        fn below(&mut self, n: u64) -> u64 {
            ((self.next() as u128 * n as u128) >> 64) as u64
        }

        /// A `width`-bit value, mostly from the edges of the range. One
        /// draw and a table instead of a `match`: random branches would
        /// cost more than everything else the test does.
        fn edge(&mut self, width: u32) -> u32 {
            let m = mask(width);
            let sign = 1u32 << (width - 1);
            let r = self.next();
            // `width` is 8, 16 or 32: a power of two.
            let bit = 1u32 << ((r >> 8) as u32 & (width - 1));
            let small = (r >> 16) as u32 & 0x3F & m;
            let any = (r >> 32) as u32 & m;
            let table = [
                0,
                1,
                2,
                m,
                m - 1,
                sign,
                sign - 1,
                sign + 1,
                small,
                bit,
                m ^ bit,
                any,
            ];
            table[(((r & 0xFF) * table.len() as u64) >> 8) as usize]
        }

        /// A register value whose `width`-bit parts are often (3 in 4)
        /// edge values; for bytes both the AL and the AH positions.
        fn register(&mut self, width: u32) -> u32 {
            let x = self.u32();
            let pick = self.next();
            let lanes: &[u32] = if width == 8 { &[0, 8] } else { &[0] };
            lanes.iter().enumerate().fold(x, |x, (k, &shift)| {
                let m = mask(width) << shift;
                let e = self.edge(width) << shift;
                if (pick >> (2 * k)) & 3 != 0 {
                    (x & !m) | e
                } else {
                    x
                }
            })
        }

        /// A shift count byte: 0..63 uniformly half the time, otherwise the
        /// interesting counts for `width` or any byte (the CPU masks it).
        fn count(&mut self, width: u32) -> u32 {
            match self.below(4) {
                0 | 1 => self.below(64) as u32,
                2 => {
                    const AROUND: [u32; 4] = [0, 1, 2, 31];
                    let near = [width - 1, width, width + 1, 2 * width - 1];
                    match self.below(3) {
                        0 => AROUND[self.below(4) as usize],
                        1 => near[self.below(4) as usize] & 0xFF,
                        _ => [9, 16, 17, 18, 32, 33, 34][self.below(7) as usize],
                    }
                }
                _ => self.u32() & 0xFF,
            }
        }
    }

    // ----- registers --------------------------------------------------------

    /// A general register operand in ModRM numbering (AL CL DL BL AH CH DH
    /// BH / AX CX DX BX SP BP SI DI), with its width.
    #[derive(Clone, Copy, Debug)]
    struct Reg {
        num: u8,
        width: u32,
    }

    impl Reg {
        /// The operand named `name` ("al", "ah", "dx", "edi", ...).
        fn named(name: &str) -> Reg {
            const B: [&str; 8] = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
            const W: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
            const D: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
            for (width, names) in [(8, B), (16, W), (32, D)] {
                if let Some(num) = names.iter().position(|n| *n == name) {
                    return Reg {
                        num: num as u8,
                        width,
                    };
                }
            }
            panic!("not a register: {name}")
        }

        /// The index into the 32-bit register file and the bit position.
        fn place(self) -> (usize, u32) {
            if self.width == 8 && self.num >= 4 {
                (self.num as usize - 4, 8)
            } else {
                (self.num as usize, 0)
            }
        }

        fn get(self, regs: &[u32; 8]) -> u32 {
            let (i, shift) = self.place();
            (regs[i] >> shift) & mask(self.width)
        }

        fn set(self, regs: &mut [u32; 8], v: u32) {
            let (i, shift) = self.place();
            let m = mask(self.width) << shift;
            regs[i] = (regs[i] & !m) | ((v << shift) & m);
        }
    }

    // ----- variants ---------------------------------------------------------

    /// One random case: the register file and status flags before the
    /// instruction.
    #[derive(Clone, Copy, Debug)]
    struct Input {
        regs: [u32; 8],
        flags: u32,
    }

    /// What the SDM defines for one case.
    struct Check {
        /// Status flags whose value after the instruction is defined
        /// (written with a defined value, or left unaffected).
        flags: u32,
        /// Registers (bit per register file index) whose value is defined.
        regs: u8,
        /// The instruction must raise #DE.
        divide_error: bool,
    }

    const ALL_REGS: u8 = 0xFF;

    fn defined(flags: u32) -> Check {
        Check {
            flags,
            regs: ALL_REGS,
            divide_error: false,
        }
    }

    type HostFn = fn(&mut [u32; 8], &mut u32);

    /// One instruction form with fixed registers.
    struct Variant {
        group: &'static str,
        /// The instruction, for the report (and the PRNG seed).
        text: &'static str,
        /// oxbox's encoding for 16-bit real mode, without any immediate.
        code: Vec<u8>,
        /// Immediate bytes appended from the low bytes of EBP (IMUL imm).
        imm_len: usize,
        /// The destination (ModRM.rm, or ModRM.reg for reg ← r/m forms) and
        /// the source (the other operand).
        dst: Reg,
        src: Reg,
        /// An instruction run just before this one (on both sides), whose
        /// flags are still pending when this one runs: see [`then`].
        lead: Option<HostFn>,
        host: HostFn,
        gen: fn(&Variant, &mut Rng) -> Input,
        check: fn(&Variant, &Input) -> Check,
    }

    impl Variant {
        fn width(&self) -> u32 {
            self.dst.width
        }
    }

    /// The real-mode encoding: 0x66 for a 32-bit operand size, the opcode
    /// (its low bit set for 16/32-bit operands when `w_bit`), then a
    /// register-direct ModRM.
    fn encode(op_size: u32, opcode: &[u8], w_bit: bool, reg: u8, rm: u8) -> Vec<u8> {
        let mut code = Vec::new();
        if op_size == 32 {
            code.push(0x66);
        }
        code.extend_from_slice(opcode);
        if w_bit && op_size != 8 {
            *code.last_mut().unwrap() |= 1;
        }
        code.push(0xC0 | ((reg & 7) << 3) | (rm & 7));
        code
    }

    /// Run one instruction on the host with EAX, ECX, EDX, ESI and EDI
    /// taken from and written back to a register file, and the status flags
    /// from and to `*f`. EBX, ESP and EBP belong to the compiler, so the
    /// instructions under test never name them.
    macro_rules! host {
        ($text:expr) => {
            |r: &mut [u32; 8], f: &mut u32| {
                let mut fl = u64::from(*f);
                // SAFETY: the template is one integer instruction on the
                // five registers declared here (plus flags); POPFQ/PUSHFQ
                // balance the stack, which is why `nostack` is absent. The
                // flags loaded hold only status bits and bit 1, so DF stays
                // clear and TF/AC stay off as the asm! contract requires.
                // Instructions that would fault (DIV/IDIV #DE) are
                // predicted and never reach this block.
                unsafe {
                    asm!(
                        "push {fl}",
                        "popfq",
                        $text,
                        "pushfq",
                        "pop {fl}",
                        fl = inout(reg) fl,
                        inout("eax") r[0],
                        inout("ecx") r[1],
                        inout("edx") r[2],
                        inout("esi") r[6],
                        inout("edi") r[7],
                    );
                }
                *f = fl as u32;
            }
        };
    }

    /// `mnemonic dst, src` with dst in ModRM.rm and src in ModRM.reg.
    macro_rules! rm_reg {
        ($group:literal, $op:expr, $w:literal, $mn:literal $d:ident, $s:ident; $gen:expr, $check:expr) => {{
            let (dst, src) = (Reg::named(stringify!($d)), Reg::named(stringify!($s)));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d), ", ", stringify!($s)),
                code: encode(dst.width, &$op, $w, src.num, dst.num),
                imm_len: 0,
                lead: None,
                dst,
                src,
                host: host!(concat!($mn, " ", stringify!($d), ", ", stringify!($s))),
                gen: $gen,
                check: $check,
            }
        }};
    }

    /// `mnemonic dst, src` with dst in ModRM.reg and src in ModRM.rm.
    macro_rules! reg_rm {
        ($group:literal, $op:expr, $mn:literal $d:ident, $s:ident; $gen:expr, $check:expr) => {{
            let (dst, src) = (Reg::named(stringify!($d)), Reg::named(stringify!($s)));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d), ", ", stringify!($s)),
                code: encode(dst.width, &$op, false, dst.num, src.num),
                imm_len: 0,
                lead: None,
                dst,
                src,
                host: host!(concat!($mn, " ", stringify!($d), ", ", stringify!($s))),
                gen: $gen,
                check: $check,
            }
        }};
    }

    /// `mnemonic rm` from the F6/F7 or FE/FF group (ModRM.reg = `ext`).
    macro_rules! unary {
        ($group:literal, $op:literal / $ext:literal, $mn:literal $d:ident; $gen:expr, $check:expr) => {{
            let dst = Reg::named(stringify!($d));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d)),
                code: encode(dst.width, &[$op], true, $ext, dst.num),
                imm_len: 0,
                lead: None,
                dst,
                src: dst,
                host: host!(concat!($mn, " ", stringify!($d))),
                gen: $gen,
                check: $check,
            }
        }};
    }

    /// `mnemonic rm, cl` from the D2/D3 shift group.
    macro_rules! shift {
        ($group:literal, $ext:literal, $mn:literal $d:ident) => {{
            let dst = Reg::named(stringify!($d));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d), ", cl"),
                code: encode(dst.width, &[0xD2], true, $ext, dst.num),
                imm_len: 0,
                lead: None,
                dst,
                src: Reg::named("cl"),
                host: host!(concat!($mn, " ", stringify!($d), ", cl")),
                gen: gen_shift,
                check: |v, i| check_shift($ext, v.width(), i.regs[reg::CX] & 31),
            }
        }};
    }

    /// `mnemonic rm, 1` from the D0/D1 group (OF always defined).
    macro_rules! shift1 {
        ($group:literal, $ext:literal, $mn:literal $d:ident) => {{
            let dst = Reg::named(stringify!($d));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d), ", 1"),
                code: encode(dst.width, &[0xD0], true, $ext, dst.num),
                imm_len: 0,
                lead: None,
                dst,
                src: dst,
                host: host!(concat!($mn, " ", stringify!($d), ", 1")),
                gen: gen_plain,
                check: |v, _| check_shift($ext, v.width(), 1),
            }
        }};
    }

    /// `SHLD/SHRD rm, reg, cl`.
    macro_rules! double_shift {
        ($group:literal, $op:literal, $mn:literal $d:ident, $s:ident) => {{
            let (dst, src) = (Reg::named(stringify!($d)), Reg::named(stringify!($s)));
            Variant {
                group: $group,
                text: concat!($mn, " ", stringify!($d), ", ", stringify!($s), ", cl"),
                code: encode(dst.width, &[0x0F, $op], false, src.num, dst.num),
                imm_len: 0,
                lead: None,
                dst,
                src,
                host: host!(concat!(
                    $mn,
                    " ",
                    stringify!($d),
                    ", ",
                    stringify!($s),
                    ", cl"
                )),
                gen: gen_shift,
                check: check_double_shift,
            }
        }};
    }

    // ----- input generators ---------------------------------------------------

    /// Random registers; edge-biased where the instruction reads them (its
    /// operands and the implicit EAX/EDX of the accumulator forms).
    fn gen_plain(v: &Variant, rng: &mut Rng) -> Input {
        let mut regs = [0; 8];
        for pair in regs.chunks_mut(2) {
            let r = rng.next();
            pair[0] = r as u32;
            pair[1] = (r >> 32) as u32;
        }
        for i in [v.dst.place().0, v.src.place().0, reg::AX, reg::DX] {
            regs[i] = rng.register(v.width());
        }
        // The stack only matters when #DE pushes its frame; keep it clear
        // of the code and the vector table.
        regs[reg::SP] = STACK_TOP;
        Input {
            regs,
            flags: (rng.u32() & OSZAPC) | 2,
        }
    }

    fn gen_shift(v: &Variant, rng: &mut Rng) -> Input {
        let mut i = gen_plain(v, rng);
        let count = rng.count(v.width());
        Reg::named("cl").set(&mut i.regs, count);
        i
    }

    /// CMPXCHG: the accumulator equals the destination half the time.
    fn gen_cmpxchg(v: &Variant, rng: &mut Rng) -> Input {
        let mut i = gen_plain(v, rng);
        if rng.below(2) == 0 {
            let acc = Reg {
                num: 0,
                width: v.width(),
            };
            let d = v.dst.get(&i.regs);
            acc.set(&mut i.regs, d);
        }
        i
    }

    /// The dividend of DIV/IDIV: AX, DX:AX or EDX:EAX.
    fn dividend(width: u32, regs: &[u32; 8]) -> u64 {
        match width {
            8 => (regs[reg::AX] & 0xFFFF) as u64,
            16 => (((regs[reg::DX] & 0xFFFF) << 16) | (regs[reg::AX] & 0xFFFF)) as u64,
            _ => ((regs[reg::DX] as u64) << 32) | regs[reg::AX] as u64,
        }
    }

    fn set_dividend(width: u32, regs: &mut [u32; 8], n: u64) {
        match width {
            8 => Reg::named("ax").set(regs, n as u32),
            16 => {
                Reg::named("ax").set(regs, n as u32);
                Reg::named("dx").set(regs, (n >> 16) as u32);
            }
            _ => {
                regs[reg::AX] = n as u32;
                regs[reg::DX] = (n >> 32) as u32;
            }
        }
    }

    /// Whether DIV/IDIV of `n` (2×width bits) by `d` raises #DE: a zero
    /// divisor or a quotient that does not fit the width (SDM vol. 2, DIV
    /// and IDIV; the 286 and later accept the most negative quotient).
    fn divide_error(width: u32, signed: bool, n: u64, d: u32) -> bool {
        if d == 0 {
            return true;
        }
        if signed {
            let q = sext(n, 2 * width) as i128 / sext(d as u64, width) as i128;
            let limit = 1i128 << (width - 1);
            q < -limit || q >= limit
        } else {
            (n / d as u64) >> width != 0
        }
    }

    /// DIV/IDIV (divisor = `dst`): a third random dividends (mostly #DE for
    /// the wide forms), a third whose quotient fits, a third built around the
    /// largest and smallest quotients.
    fn gen_div(v: &Variant, rng: &mut Rng, signed: bool) -> Input {
        let w = v.width();
        let mut i = gen_plain(v, rng);
        let d = v.dst.get(&i.regs);
        if d == 0 {
            return i;
        }
        let low = rng.edge(w) as u64;
        let wide_mask = if w == 32 {
            u64::MAX
        } else {
            (1u64 << (2 * w)) - 1
        };
        match rng.below(3) {
            0 => {}
            1 => {
                let n = if signed {
                    sext(low, w) as u64
                } else {
                    (rng.below(d as u64) << w) | low
                };
                set_dividend(w, &mut i.regs, n & wide_mask);
            }
            _ => {
                let dd: i128 = if signed {
                    sext(d as u64, w) as i128
                } else {
                    d as i128
                };
                let (qmin, qmax): (i128, i128) = if signed {
                    (-(1 << (w - 1)), (1 << (w - 1)) - 1)
                } else {
                    (0, (1 << w) - 1)
                };
                let q = [qmax, qmax + 1, qmin, qmin - 1, qmax - 1][rng.below(5) as usize];
                let mut r = rng.below(dd.unsigned_abs() as u64) as i128;
                if signed && (q < 0) != (dd < 0) {
                    r = -r;
                }
                set_dividend(w, &mut i.regs, (q * dd + r) as u64 & wide_mask);
            }
        }
        i
    }

    /// IMUL reg, r/m, imm: the immediate lives in EBP (which the
    /// instruction does not use), edge-biased at its own width.
    fn gen_imul_imm(v: &Variant, rng: &mut Rng) -> Input {
        let mut i = gen_plain(v, rng);
        i.regs[reg::BP] = rng.register(8 * v.imm_len as u32);
        i
    }

    // ----- what the SDM defines -------------------------------------------------

    fn check_arith(_: &Variant, _: &Input) -> Check {
        defined(OSZAPC)
    }

    /// AND/OR/XOR: OF = CF = 0, SF/ZF/PF from the result, AF undefined.
    fn check_logic(_: &Variant, _: &Input) -> Check {
        defined(OSZAPC & !AF)
    }

    /// MUL/IMUL (every form): CF and OF; SF, ZF, AF, PF undefined.
    fn check_mul(_: &Variant, _: &Input) -> Check {
        defined(CF | OF)
    }

    /// Instructions that leave the flags alone: BSWAP, MOVSX, MOVZX.
    fn check_no_flags(_: &Variant, _: &Input) -> Check {
        defined(OSZAPC)
    }

    /// DIV/IDIV: every status flag undefined; #DE as predicted.
    fn check_div<const SIGNED: bool>(v: &Variant, i: &Input) -> Check {
        let w = v.width();
        Check {
            flags: 0,
            regs: ALL_REGS,
            divide_error: divide_error(w, SIGNED, dividend(w, &i.regs), v.dst.get(&i.regs)),
        }
    }

    /// BSF/BSR: ZF defined (CF, OF, SF, AF, PF undefined); the destination
    /// is undefined when the source is zero.
    fn check_bit_scan(v: &Variant, i: &Input) -> Check {
        let mut c = defined(ZF);
        if v.src.get(&i.regs) == 0 {
            c.regs &= !(1 << v.dst.place().0);
        }
        c
    }

    /// BT/BTS/BTR/BTC: CF is the selected bit, ZF unaffected; OF, SF, AF,
    /// PF undefined.
    fn check_bit_test(_: &Variant, _: &Input) -> Check {
        defined(CF | ZF)
    }

    /// The shift group by a masked count `count` (SDM vol. 2,
    /// "SAL/SAR/SHL/SHR" and "RCL/RCR/ROL/ROR", Flags Affected):
    ///
    /// - count 0: no flag changes;
    /// - rotates: CF defined, OF only for a count of 1, SF/ZF/AF/PF
    ///   unaffected (RCL/RCR by 9 or 17 rotate by 0 and keep CF);
    /// - shifts: SF/ZF/PF from the result, CF the last bit out (undefined
    ///   for SHL/SHR counts at or beyond the width), OF only for a count of
    ///   1, AF undefined.
    fn check_shift(op: u8, width: u32, count: u32) -> Check {
        if count == 0 {
            return defined(OSZAPC);
        }
        let of = if count == 1 { OF } else { 0 };
        let flags = match op {
            0..=3 => (OSZAPC & !OF) | of,
            4 | 5 if count >= width => SF | ZF | PF | of,
            _ => SF | ZF | PF | CF | of,
        };
        defined(flags)
    }

    /// SHLD/SHRD by CL (SDM vol. 2, SHLD/SHRD): the count is masked to 5
    /// bits; 0 changes nothing; a count above the width leaves the result
    /// and the flags undefined; otherwise CF is the last bit out, SF/ZF/PF
    /// follow the result, OF is defined for a count of 1 and AF never.
    fn check_double_shift(v: &Variant, i: &Input) -> Check {
        let count = i.regs[reg::CX] & 31;
        let w = v.width();
        if count == 0 {
            return defined(OSZAPC);
        }
        if count > w {
            let mut c = defined(0);
            c.regs &= !(1 << v.dst.place().0);
            return c;
        }
        defined(SF | ZF | PF | CF | if count == 1 { OF } else { 0 })
    }

    // ----- the variants -------------------------------------------------------

    fn alu_variants() -> Vec<Variant> {
        let p: fn(&Variant, &mut Rng) -> Input = gen_plain;
        vec![
            rm_reg!("ADD", [0x00], true, "add" al, dh; p, check_arith),
            rm_reg!("ADD", [0x00], true, "add" dx, si; p, check_arith),
            rm_reg!("ADD", [0x00], true, "add" eax, ecx; p, check_arith),
            rm_reg!("ADC", [0x10], true, "adc" ch, al; p, check_arith),
            rm_reg!("ADC", [0x10], true, "adc" di, ax; p, check_arith),
            rm_reg!("ADC", [0x10], true, "adc" edx, esi; p, check_arith),
            rm_reg!("SUB", [0x28], true, "sub" dl, ah; p, check_arith),
            rm_reg!("SUB", [0x28], true, "sub" ax, cx; p, check_arith),
            rm_reg!("SUB", [0x28], true, "sub" esi, edi; p, check_arith),
            rm_reg!("SBB", [0x18], true, "sbb" ah, cl; p, check_arith),
            rm_reg!("SBB", [0x18], true, "sbb" cx, dx; p, check_arith),
            rm_reg!("SBB", [0x18], true, "sbb" edi, eax; p, check_arith),
            rm_reg!("AND", [0x20], true, "and" cl, dl; p, check_logic),
            rm_reg!("AND", [0x20], true, "and" si, di; p, check_logic),
            rm_reg!("AND", [0x20], true, "and" eax, edx; p, check_logic),
            rm_reg!("OR", [0x08], true, "or" dh, ch; p, check_logic),
            rm_reg!("OR", [0x08], true, "or" ax, si; p, check_logic),
            rm_reg!("OR", [0x08], true, "or" ecx, edi; p, check_logic),
            rm_reg!("XOR", [0x30], true, "xor" al, ah; p, check_logic),
            rm_reg!("XOR", [0x30], true, "xor" dx, cx; p, check_logic),
            rm_reg!("XOR", [0x30], true, "xor" esi, ecx; p, check_logic),
            rm_reg!("CMP", [0x38], true, "cmp" ch, dl; p, check_arith),
            rm_reg!("CMP", [0x38], true, "cmp" di, si; p, check_arith),
            rm_reg!("CMP", [0x38], true, "cmp" edx, eax; p, check_arith),
            unary!("NEG", 0xF6 / 3, "neg" ah; p, check_arith),
            unary!("NEG", 0xF6 / 3, "neg" cx; p, check_arith),
            unary!("NEG", 0xF6 / 3, "neg" edi; p, check_arith),
            // INC/DEC write OF SF ZF AF PF and leave CF alone.
            unary!("INC", 0xFE / 0, "inc" dl; p, check_arith),
            unary!("INC", 0xFE / 0, "inc" si; p, check_arith),
            unary!("INC", 0xFE / 0, "inc" eax; p, check_arith),
            unary!("DEC", 0xFE / 1, "dec" ch; p, check_arith),
            unary!("DEC", 0xFE / 1, "dec" ax; p, check_arith),
            unary!("DEC", 0xFE / 1, "dec" edx; p, check_arith),
            // The one-byte forms (40+r, 48+r) are REX prefixes in 64-bit
            // mode; the host runs the FF /0, FF /1 encoding of the same
            // instruction.
            Variant {
                text: "inc si (one-byte 46)",
                code: vec![0x40 + reg::SI as u8],
                ..unary!("INC", 0xFE / 0, "inc" si; p, check_arith)
            },
            Variant {
                text: "dec edi (one-byte 66 4F)",
                code: vec![0x66, 0x48 + reg::DI as u8],
                ..unary!("DEC", 0xFE / 1, "dec" edi; p, check_arith)
            },
        ]
    }

    fn shift_variants() -> Vec<Variant> {
        vec![
            shift!("ROL", 0, "rol" al),
            shift!("ROL", 0, "rol" dx),
            shift!("ROL", 0, "rol" esi),
            shift!("ROR", 1, "ror" dh),
            shift!("ROR", 1, "ror" ax),
            shift!("ROR", 1, "ror" edi),
            shift!("RCL", 2, "rcl" ah),
            shift!("RCL", 2, "rcl" si),
            shift!("RCL", 2, "rcl" eax),
            shift!("RCR", 3, "rcr" dl),
            shift!("RCR", 3, "rcr" di),
            shift!("RCR", 3, "rcr" edx),
            shift!("SHL", 4, "shl" al),
            shift!("SHL", 4, "shl" dx),
            shift!("SHL", 4, "shl" edi),
            shift!("SHR", 5, "shr" ah),
            shift!("SHR", 5, "shr" ax),
            shift!("SHR", 5, "shr" esi),
            shift!("SAR", 7, "sar" dh),
            shift!("SAR", 7, "sar" si),
            shift!("SAR", 7, "sar" eax),
            shift1!("ROL", 0, "rol" cx),
            shift1!("ROR", 1, "ror" ch),
            shift1!("RCL", 2, "rcl" edx),
            shift1!("RCR", 3, "rcr" al),
            shift1!("SHL", 4, "shl" esi),
            shift1!("SHR", 5, "shr" dh),
            shift1!("SAR", 7, "sar" di),
        ]
    }

    /// IMUL reg, r/m, imm on the host: the two-operand form with the
    /// sign-extended immediate in a register, which the SDM defines to
    /// compute the same product and flags (an asm! immediate must be a
    /// compile-time constant, and the immediates here are random).
    fn host_imul_imm<const WIDTH: u32, const IMM_BITS: u32>(r: &mut [u32; 8], f: &mut u32) {
        let imm = sext(r[reg::BP] as u64 & mask(IMM_BITS) as u64, IMM_BITS) as u32;
        let src = r[reg::DX];
        let mut dst = r[reg::AX];
        let mut fl = u64::from(*f);
        if WIDTH == 16 {
            // SAFETY: IMUL on registers declared here, flags via a balanced
            // POPFQ/PUSHFQ (no `nostack`); status bits only, DF clear.
            unsafe {
                asm!(
                    "push {fl}",
                    "popfq",
                    "mov {d:x}, {s:x}",
                    "imul {d:x}, {i:x}",
                    "pushfq",
                    "pop {fl}",
                    fl = inout(reg) fl,
                    d = inout(reg) dst,
                    s = in(reg) src,
                    i = in(reg) imm,
                );
            }
        } else {
            // SAFETY: as above.
            unsafe {
                asm!(
                    "push {fl}",
                    "popfq",
                    "mov {d:e}, {s:e}",
                    "imul {d:e}, {i:e}",
                    "pushfq",
                    "pop {fl}",
                    fl = inout(reg) fl,
                    d = inout(reg) dst,
                    s = in(reg) src,
                    i = in(reg) imm,
                );
            }
        }
        Reg {
            num: 0,
            width: WIDTH,
        }
        .set(r, dst);
        *f = fl as u32;
    }

    /// `IMUL ax/eax, dx/edx, imm` (6B ib / 69 iw/id).
    fn imul_imm(text: &'static str, width: u32, imm_len: usize, host: HostFn) -> Variant {
        let opcode = if imm_len == 1 { 0x6B } else { 0x69 };
        Variant {
            group: "IMUL r, r/m, imm",
            text,
            code: encode(width, &[opcode], false, 0, reg::DX as u8),
            imm_len,
            lead: None,
            dst: Reg { num: 0, width },
            src: Reg {
                num: reg::DX as u8,
                width,
            },
            host,
            gen: gen_imul_imm,
            check: check_mul,
        }
    }

    fn muldiv_variants() -> Vec<Variant> {
        let p: fn(&Variant, &mut Rng) -> Input = gen_plain;
        vec![
            unary!("MUL", 0xF6 / 4, "mul" ch; p, check_mul),
            unary!("MUL", 0xF6 / 4, "mul" si; p, check_mul),
            unary!("MUL", 0xF6 / 4, "mul" edi; p, check_mul),
            unary!("IMUL r/m", 0xF6 / 5, "imul" dh; p, check_mul),
            unary!("IMUL r/m", 0xF6 / 5, "imul" cx; p, check_mul),
            unary!("IMUL r/m", 0xF6 / 5, "imul" esi; p, check_mul),
            reg_rm!("IMUL r, r/m", [0x0F, 0xAF], "imul" si, cx; p, check_mul),
            reg_rm!("IMUL r, r/m", [0x0F, 0xAF], "imul" edx, edi; p, check_mul),
            imul_imm("imul ax, dx, imm8", 16, 1, host_imul_imm::<16, 8>),
            imul_imm("imul ax, dx, imm16", 16, 2, host_imul_imm::<16, 16>),
            imul_imm("imul eax, edx, imm8", 32, 1, host_imul_imm::<32, 8>),
            imul_imm("imul eax, edx, imm32", 32, 4, host_imul_imm::<32, 32>),
            unary!("DIV", 0xF6 / 6, "div" ch; |v, r| gen_div(v, r, false), check_div::<false>),
            unary!("DIV", 0xF6 / 6, "div" si; |v, r| gen_div(v, r, false), check_div::<false>),
            unary!("DIV", 0xF6 / 6, "div" ecx; |v, r| gen_div(v, r, false), check_div::<false>),
            unary!("IDIV", 0xF6 / 7, "idiv" dl; |v, r| gen_div(v, r, true), check_div::<true>),
            unary!("IDIV", 0xF6 / 7, "idiv" di; |v, r| gen_div(v, r, true), check_div::<true>),
            unary!("IDIV", 0xF6 / 7, "idiv" esi; |v, r| gen_div(v, r, true), check_div::<true>),
        ]
    }

    fn bit_variants() -> Vec<Variant> {
        let p: fn(&Variant, &mut Rng) -> Input = gen_plain;
        let bswap = Reg::named("esi");
        vec![
            reg_rm!("BSF", [0x0F, 0xBC], "bsf" ax, dx; p, check_bit_scan),
            reg_rm!("BSF", [0x0F, 0xBC], "bsf" edi, ecx; p, check_bit_scan),
            reg_rm!("BSR", [0x0F, 0xBD], "bsr" si, ax; p, check_bit_scan),
            reg_rm!("BSR", [0x0F, 0xBD], "bsr" edx, esi; p, check_bit_scan),
            rm_reg!("BT", [0x0F, 0xA3], false, "bt" cx, di; p, check_bit_test),
            rm_reg!("BT", [0x0F, 0xA3], false, "bt" eax, edx; p, check_bit_test),
            rm_reg!("BTS", [0x0F, 0xAB], false, "bts" dx, ax; p, check_bit_test),
            rm_reg!("BTS", [0x0F, 0xAB], false, "bts" esi, ecx; p, check_bit_test),
            rm_reg!("BTR", [0x0F, 0xB3], false, "btr" di, si; p, check_bit_test),
            rm_reg!("BTR", [0x0F, 0xB3], false, "btr" ecx, edi; p, check_bit_test),
            rm_reg!("BTC", [0x0F, 0xBB], false, "btc" ax, cx; p, check_bit_test),
            rm_reg!("BTC", [0x0F, 0xBB], false, "btc" edx, eax; p, check_bit_test),
            double_shift!("SHLD", 0xA5, "shld" ax, dx),
            double_shift!("SHLD", 0xA5, "shld" esi, edi),
            double_shift!("SHRD", 0xAD, "shrd" di, si),
            double_shift!("SHRD", 0xAD, "shrd" edx, eax),
            Variant {
                group: "BSWAP",
                text: "bswap esi",
                code: vec![0x66, 0x0F, 0xC8 + bswap.num],
                imm_len: 0,
                lead: None,
                dst: bswap,
                src: bswap,
                host: host!("bswap esi"),
                gen: gen_plain,
                check: check_no_flags,
            },
        ]
    }

    /// `first` then `second`, compared after both. oxbox computes the
    /// flags of arithmetic lazily, so an instruction that writes only some
    /// flags (INC/DEC, rotates, BT) or reads CF (ADC/SBB/RCL/RCR) after an
    /// arithmetic one goes through paths a single instruction never takes.
    /// `first` must define every status flag and write no register
    /// `second`'s check reads (CL, the BSF/BT source); then the flags
    /// `second` defines, with those it leaves alone, are exactly the ones
    /// defined after the pair. On the host the two run as two asm blocks,
    /// the flags carried between them through PUSHFQ/POPFQ exactly.
    fn then(first: Variant, second: Variant) -> Variant {
        assert!(first.lead.is_none() && first.imm_len == 0);
        Variant {
            group: "lazy flags",
            text: Box::leak(format!("{}; {}", first.text, second.text).into_boxed_str()),
            code: [first.code, second.code].concat(),
            lead: Some(first.host),
            ..second
        }
    }

    fn lazy_flag_variants() -> Vec<Variant> {
        let p: fn(&Variant, &mut Rng) -> Input = gen_plain;
        vec![
            then(
                rm_reg!("SUB", [0x28], true, "sub" eax, edx; p, check_arith),
                unary!("INC", 0xFE / 0, "inc" esi; p, check_arith),
            ),
            then(
                rm_reg!("ADD", [0x00], true, "add" al, dh; p, check_arith),
                unary!("DEC", 0xFE / 1, "dec" cx; p, check_arith),
            ),
            then(
                rm_reg!("CMP", [0x38], true, "cmp" ax, dx; p, check_arith),
                rm_reg!("ADC", [0x10], true, "adc" si, di; p, check_arith),
            ),
            then(
                unary!("NEG", 0xF6 / 3, "neg" eax; p, check_arith),
                rm_reg!("SBB", [0x18], true, "sbb" ecx, edi; p, check_arith),
            ),
            then(
                unary!("INC", 0xFE / 0, "inc" ax; p, check_arith),
                rm_reg!("ADC", [0x10], true, "adc" si, di; p, check_arith),
            ),
            then(
                unary!("DEC", 0xFE / 1, "dec" al; p, check_arith),
                rm_reg!("SBB", [0x18], true, "sbb" dh, ch; p, check_arith),
            ),
            then(
                rm_reg!("CMP", [0x38], true, "cmp" al, dl; p, check_arith),
                shift!("ROL", 0, "rol" si),
            ),
            then(
                rm_reg!("ADD", [0x00], true, "add" eax, edx; p, check_arith),
                shift!("RCR", 3, "rcr" edi),
            ),
            then(
                rm_reg!("SBB", [0x18], true, "sbb" dl, ah; p, check_arith),
                shift!("RCL", 2, "rcl" ch),
            ),
            then(
                rm_reg!("CMP", [0x38], true, "cmp" eax, edx; p, check_arith),
                shift!("SHL", 4, "shl" esi),
            ),
            then(
                rm_reg!("SUB", [0x28], true, "sub" ax, dx; p, check_arith),
                rm_reg!("BT", [0x0F, 0xA3], false, "bt" esi, edi; p, check_bit_test),
            ),
            then(
                rm_reg!("XADD", [0x0F, 0xC0], true, "xadd" eax, edx; p, check_arith),
                reg_rm!("IMUL r, r/m", [0x0F, 0xAF], "imul" si, cx; p, check_mul),
            ),
        ]
    }

    fn move_exchange_variants() -> Vec<Variant> {
        let p: fn(&Variant, &mut Rng) -> Input = gen_plain;
        let x: fn(&Variant, &mut Rng) -> Input = gen_cmpxchg;
        vec![
            reg_rm!("MOVSX", [0x0F, 0xBE], "movsx" ax, dh; p, check_no_flags),
            reg_rm!("MOVSX", [0x0F, 0xBE], "movsx" edi, cl; p, check_no_flags),
            reg_rm!("MOVSX", [0x0F, 0xBF], "movsx" ecx, si; p, check_no_flags),
            reg_rm!("MOVZX", [0x0F, 0xB6], "movzx" si, ah; p, check_no_flags),
            reg_rm!("MOVZX", [0x0F, 0xB6], "movzx" edx, al; p, check_no_flags),
            reg_rm!("MOVZX", [0x0F, 0xB7], "movzx" eax, di; p, check_no_flags),
            rm_reg!("XADD", [0x0F, 0xC0], true, "xadd" cl, dh; p, check_arith),
            rm_reg!("XADD", [0x0F, 0xC0], true, "xadd" si, ax; p, check_arith),
            rm_reg!("XADD", [0x0F, 0xC0], true, "xadd" edi, edx; p, check_arith),
            // CMPXCHG compares with AL/AX/EAX: flags as CMP acc, dst.
            rm_reg!("CMPXCHG", [0x0F, 0xB0], true, "cmpxchg" dl, ch; x, check_arith),
            rm_reg!("CMPXCHG", [0x0F, 0xB0], true, "cmpxchg" si, cx; x, check_arith),
            rm_reg!("CMPXCHG", [0x0F, 0xB0], true, "cmpxchg" ecx, edi; x, check_arith),
        ]
    }

    // ----- the runner -----------------------------------------------------------

    fn flag_names(f: u32) -> String {
        [
            (OF, "O"),
            (SF, "S"),
            (ZF, "Z"),
            (AF, "A"),
            (PF, "P"),
            (CF, "C"),
        ]
        .iter()
        .map(|&(bit, name)| if f & bit != 0 { name } else { "-" })
        .collect()
    }

    /// Run every variant `cases` times; print one line per variant and the
    /// first mismatches in full; return the number of mismatches.
    fn run(variants: &[Variant], cases: u64) -> u64 {
        let mut cpu = Cpu::new(CpuModel::PentiumPro, 1 << 20);
        cpu.set_real_mode_regs(&Regs16 {
            ip: CODE_IP as u16,
            sp: STACK_TOP as u16,
            flags: 2,
            ..Regs16::default()
        });
        let mut total = 0;
        for v in variants {
            cpu.mem_mut().load(CODE_IP, &v.code);
            cpu.flush_decode_cache();
            let imm_at = CODE_IP + v.code.len() as u32;
            let len = (v.code.len() + v.imm_len) as u32;
            let mut rng = Rng::new(v.text);
            let (mut bad, mut faults) = (0u64, 0u64);
            for _ in 0..cases {
                let input = (v.gen)(v, &mut rng);
                let check = (v.check)(v, &input);
                if v.imm_len > 0 {
                    let imm = input.regs[reg::BP].to_le_bytes();
                    cpu.mem_mut().load(imm_at, &imm[..v.imm_len]);
                }

                let (mut want, mut want_flags) = (input.regs, input.flags);
                if let Some(lead) = v.lead {
                    lead(&mut want, &mut want_flags);
                }
                if !check.divide_error {
                    (v.host)(&mut want, &mut want_flags);
                }

                cpu.regs = input.regs;
                cpu.eip = CODE_IP;
                cpu.write_flags(input.flags, OSZAPC);
                let mut step = cpu.step(&mut NullBus);
                if v.lead.is_some() && step.exception.is_none() {
                    step = cpu.step(&mut NullBus);
                }
                let got_flags = cpu.flags_word();

                let ok = if check.divide_error {
                    faults += 1;
                    // #DE is a fault: nothing written, the IP of the DIV
                    // pushed, the handler (IVT entry 0 = 0000:0000) entered.
                    want[reg::SP] = STACK_TOP - 6;
                    let pushed_ip = cpu.mem().read_le(STACK_TOP - 6, 2);
                    matches!(step.exception, Some((0, _)))
                        && cpu.regs == want
                        && cpu.eip == 0
                        && pushed_ip == CODE_IP
                } else {
                    let regs_ok = (0..8)
                        .filter(|&r| check.regs & (1 << r) != 0)
                        .all(|r| cpu.regs[r] == want[r]);
                    step.exception.is_none()
                        && cpu.eip == CODE_IP + len
                        && regs_ok
                        && (got_flags ^ want_flags) & check.flags == 0
                };
                if !ok {
                    if bad < SHOWN {
                        eprintln!(
                            "MISMATCH {} ({}): in {:08X?} flags {}\n  \
                             host  {:08X?} flags {} (defined {}){}\n  \
                             oxbox {:08X?} flags {} eip {:04X} exception {:?}",
                            v.text,
                            v.group,
                            input.regs,
                            flag_names(input.flags),
                            want,
                            flag_names(want_flags),
                            flag_names(check.flags),
                            if check.divide_error { " #DE" } else { "" },
                            cpu.regs,
                            flag_names(got_flags),
                            cpu.eip,
                            step.exception,
                        );
                    }
                    bad += 1;
                    // A fault may have left state behind; start clean.
                    cpu.set_real_mode_regs(&Regs16 {
                        ip: CODE_IP as u16,
                        sp: STACK_TOP as u16,
                        flags: 2,
                        ..Regs16::default()
                    });
                }
            }
            println!(
                "{:<18} {:<24} {cases} cases ({faults} #DE), {bad} mismatches",
                v.group, v.text
            );
            total += bad;
        }
        total
    }

    fn assert_agrees(variants: Vec<Variant>) {
        let bad = run(&variants, cases());
        assert_eq!(bad, 0, "oxbox disagrees with the host CPU (see above)");
    }

    #[test]
    fn alu_add_adc_sub_sbb_and_or_xor_cmp_neg_inc_dec_match_the_host() {
        assert_agrees(alu_variants());
    }

    #[test]
    fn shifts_and_rotates_by_cl_and_by_1_match_the_host() {
        assert_agrees(shift_variants());
    }

    #[test]
    fn mul_imul_div_idiv_match_the_host_and_div_faults_as_predicted() {
        assert_agrees(muldiv_variants());
    }

    #[test]
    fn bit_scan_bit_test_double_shift_and_bswap_match_the_host() {
        assert_agrees(bit_variants());
    }

    #[test]
    fn flags_pending_from_arithmetic_reach_the_next_instruction_as_on_the_host() {
        assert_agrees(lazy_flag_variants());
    }

    #[test]
    fn movsx_movzx_xadd_cmpxchg_match_the_host() {
        assert_agrees(move_exchange_variants());
    }

    /// The #DE predictor agrees with the SDM's boundaries.
    #[test]
    fn divide_error_prediction_follows_the_sdm() {
        assert!(divide_error(8, false, 0x1234, 0));
        assert!(!divide_error(8, false, 0xFEFF, 0xFF));
        assert!(divide_error(8, false, 0xFF00, 0xFF));
        assert!(!divide_error(8, true, 0xFF80, 0x01)); // -128 fits
        assert!(divide_error(8, true, 0x0080, 0x01)); // +128 does not
        assert!(divide_error(8, true, 0x8000, 0xFF)); // -32768 / -1
        assert!(!divide_error(32, true, 0xFFFF_FFFF_8000_0000, 1));
        assert!(divide_error(32, true, 0x8000_0000_0000_0000, 0xFFFF_FFFF));
    }
}
