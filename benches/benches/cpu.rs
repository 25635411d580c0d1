//! Guest MIPS on a fixed real-mode workload.
//!
//! Runs roms/bench.bin (source: bios/bench.asm), a loop mixing ALU, memory,
//! string and branch instructions, from the reset vector to its final HLT.
//! Criterion's throughput line reads in guest instructions per second:
//! "Melem/s" is MIPS.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;

const BENCH_ROM: &[u8] = include_bytes!("../../roms/bench.bin");

fn machine(model: CpuModel) -> Machine {
    Machine::new(model, 1 << 20, BENCH_ROM, Box::new(std::io::sink())).expect("bench ROM fits")
}

/// Run the workload to its HLT; returns the instructions retired.
fn run_to_halt(mut m: Machine) -> u64 {
    let exit = m.run(u64::MAX);
    assert_eq!(exit, RunExit::Halted, "the bench ROM must end on HLT");
    assert_eq!(m.bus.debugcon_log, b"B", "the bench ROM reports completion");
    m.cpu.instructions
}

fn guest_mips(c: &mut Criterion) {
    let mut group = c.benchmark_group("guest_mips");
    for model in [CpuModel::I8086, CpuModel::I80286, CpuModel::PentiumPro] {
        let instructions = run_to_halt(machine(model));
        group.throughput(Throughput::Elements(instructions));
        // Building the machine (RAM, decode cache) is outside the timing.
        group.bench_function(format!("bench.rom/{}", model.name()), |b| {
            b.iter_batched(|| machine(model), run_to_halt, BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, guest_mips);
criterion_main!(benches);
