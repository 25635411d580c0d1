//! Throughput of the SingleStepTests runner (tests per second) on a few
//! representative 8086 files. The files are parsed once, outside the timed
//! loop; a missing data directory panics with where to get it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbox::cpu::CpuModel;
use testsuite::moo;
use testsuite::singlestep::{Config, Suite};

/// ALU with ModRM, MOV r8/rm8, MOVSB (with REP), and MUL/DIV group.
const FILES: [&str; 4] = ["00.MOO.gz", "8A.MOO.gz", "A4.MOO.gz", "F6.6.MOO.gz"];

fn conformance(c: &mut Criterion) {
    let suite = Suite::open(&Config::new(CpuModel::I8086)).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("singlestep_8086");
    let mut cpu = suite.new_cpu();
    for name in FILES {
        let path = suite.config().dir.join(name);
        let file = moo::load(&path).unwrap_or_else(|e| panic!("{e}"));
        group.throughput(Throughput::Elements(file.tests.len() as u64));
        group.bench_function(name.trim_end_matches(".MOO.gz"), |b| {
            b.iter(|| suite.run_file(&mut cpu, name, &file))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = conformance
}
criterion_main!(benches);
