//! REP MOVS / REP STOS run as block copies when they can (exec/string.rs);
//! these random cases check that the blocks leave exactly the memory and
//! registers that the element-by-element loop leaves. The reference run
//! arms a data breakpoint far away from every access, which keeps the CPU
//! on the element loop.

mod common;

use common::*;
use oxbox::cpu::{reg, seg, CpuModel};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// Offsets that like page ends, segment ends and small distances.
fn offset(rng: &mut Rng) -> u16 {
    match rng.below(4) {
        0 => rng.below(0x1_0000) as u16,
        1 => (0x1000 * rng.below(16)) as u16 - rng.below(64) as u16,
        2 => 0xFFFF - rng.below(300) as u16,
        _ => 0x0100 + rng.below(0x400) as u16,
    }
}

#[test]
fn block_copies_and_fills_match_the_element_loop() {
    let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
    let forms: [&[u8]; 7] = [
        &[0xF3, 0xA4],       // rep movsb
        &[0xF3, 0xA5],       // rep movsw
        &[0x66, 0xF3, 0xA5], // rep movsd
        &[0xF3, 0x26, 0xA5], // rep movsw es:
        &[0xF3, 0xAA],       // rep stosb
        &[0xF3, 0xAB],       // rep stosw
        &[0x66, 0xF3, 0xAB], // rep stosd
    ];
    for case in 0..600 {
        let form = forms[rng.below(forms.len() as u32) as usize];
        let mut code = vec![if rng.below(4) == 0 { 0xFD } else { 0xFC }]; // std / cld
        code.extend_from_slice(form);
        code.push(0xF4);
        let mut r = regs();
        r.cx = match rng.below(3) {
            0 => rng.below(8) as u16,
            1 => rng.below(5000) as u16,
            _ => rng.next() as u16,
        };
        r.si = offset(&mut rng);
        r.di = offset(&mut rng);
        r.ax = rng.next() as u16;
        // Segments close together make overlapping source and destination.
        r.ds = 0x2000 + rng.below(0x40) as u16;
        r.es = if rng.below(2) == 0 {
            r.ds.wrapping_add(rng.below(0x20) as u16)
        } else {
            0x6000 + rng.below(0x1000) as u16
        };
        let mut noise = Vec::with_capacity(0x20000);
        for _ in 0..0x8000 {
            noise.extend_from_slice(&rng.next().to_le_bytes());
        }
        let eax = rng.next();
        let build = || {
            let mut cpu = setup_with(CpuModel::PentiumPro, &r, &code);
            cpu.mem_mut().load(0x20000, &noise);
            cpu.mem_mut().load(0x60000, &noise);
            cpu.regs[reg::AX] = eax;
            cpu
        };
        let mut fast = build();
        let mut slow = build();
        slow.debug.addr[0] = 0xFFFF_F000;
        slow.debug.set_dr7(0x0001 | (1 << 16)); // L0, break on writes
        let what = format!("case {case}: code {code:02X?}, regs {r:?}");
        // Both runs must end alike, including with the #GP of an offset
        // that runs past the segment's end.
        for _ in 0..2 {
            let (a, b) = (fast.step(&mut SettledBus), slow.step(&mut SettledBus));
            assert_eq!(a.exception, b.exception, "{what}");
        }
        assert_eq!(fast.regs, slow.regs, "{what}");
        assert_eq!(fast.eip, slow.eip, "{what}");
        for s in [seg::DS, seg::ES] {
            assert_eq!(fast.segs[s].selector, slow.segs[s].selector, "{what}");
        }
        assert!(
            fast.mem().ram() == slow.mem().ram(),
            "{what}: memory differs"
        );
    }
}
