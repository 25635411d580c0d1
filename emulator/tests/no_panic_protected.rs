//! Random code in protected mode must never panic the host: random
//! descriptor tables, IDT, TSS, page tables and control-register bits,
//! then random instruction bytes, on the 386 and the P6 (with paging, PAE,
//! VME, debug registers and v8086 mode switched on at random).

use oxbox::cpu::segment::Descriptor;
use oxbox::cpu::{seg, Cpu, CpuModel, Segment};
use oxbox_devices::NullBus;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cases() -> u64 {
    std::env::var("OXBOX_FUZZ_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn random_code_in_protected_mode_never_panics() {
    let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
    for model in [CpuModel::I80386, CpuModel::PentiumPro] {
        let mut cpu = Cpu::new(model, 2 << 20);
        for _ in 0..cases() {
            // Random memory below 64 KiB holds the tables and the code; the
            // rest stays as earlier rounds left it.
            for a in (0..0x1_0000u32).step_by(8) {
                let v = rng.next();
                cpu.mem_mut().load(a, &v.to_le_bytes());
            }
            cpu.reset();
            cpu.gdtr_base = 0x1000;
            cpu.gdtr_limit = rng.below(0x800) as u32;
            cpu.idtr_base = 0x2000;
            cpu.idtr_limit = rng.below(0x800) as u32;
            let mut cr0 = 1;
            if rng.below(2) == 0 {
                cr0 |= 1 << 31;
                cpu.cr3 = (rng.below(16) as u32) << 12;
            }
            if model >= CpuModel::Pentium {
                cpu.cr4 = (rng.next() as u32) & 0x2BF;
            }
            cpu.cr0 = cr0 | (rng.next() as u32 & 0x0005_002E);
            cpu.cpl = rng.below(4) as u8;
            for s in 0..6 {
                let raw = rng.next();
                let sel = rng.next() as u16;
                cpu.segs[s] = Segment::from_descriptor(sel, &Descriptor::parse(raw));
            }
            // Code somewhere in the random block, through a flat-ish CS.
            let eip = rng.below(0xF000) as u32;
            cpu.segs[seg::CS].base = 0;
            cpu.segs[seg::CS].limit = 0xFFFF;
            cpu.segs[seg::CS].hi = 0xFFFF;
            cpu.eip = eip;
            cpu.tr = Segment::from_descriptor(0x28, &Descriptor::parse(rng.next()));
            let fl = rng.next() as u32 & 0x0027_7FD5;
            cpu.write_flags(fl, u32::MAX);
            for r in 0..8 {
                cpu.regs[r] = rng.next() as u32;
            }
            for _ in 0..8 {
                let r = cpu.step(&mut NullBus);
                if r.shutdown {
                    break;
                }
            }
        }
    }
}
