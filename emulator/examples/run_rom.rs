//! Run a firmware image N times on one model and print guest MIPS; used for
//! profiling (`perf record`, `valgrind --tool=callgrind`).
//!
//! cargo run --release -p oxbox --example run_rom -- roms/bench.bin 8086 20

use std::time::Instant;

use oxbox::cpu::CpuModel;
use oxbox::machine::Machine;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "roms/bench.bin".into());
    let model: CpuModel = args
        .next()
        .unwrap_or_else(|| "p6".into())
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let repeats: u32 = args.next().map_or(10, |s| s.parse().expect("repeat count"));
    let rom = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut total = 0u64;
    let start = Instant::now();
    for _ in 0..repeats {
        let mut m = Machine::new(model, 1 << 20, &rom, Box::new(std::io::sink())).expect("ROM");
        m.run(u64::MAX);
        total += m.cpu.instructions;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} instructions in {secs:.3} s: {:.1} MIPS",
        total as f64 / secs / 1e6
    );
}
