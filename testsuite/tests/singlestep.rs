//! SingleStepTests conformance bars and ratchet.
//!
//! The data lives outside the repository (see `missing_data_message`); a
//! missing data directory fails the test rather than skipping it.
//!
//! Bars: 8086 ≥ 99.9% overall and 100% on every file whose metadata status
//! is `normal`; 80286 ≥ 99.5%. Ratchet: `baseline/<model>.txt` lists
//! `<file> <max allowed failures>`; any other file must pass every test.

use std::path::Path;

use oxbox::cpu::CpuModel;
use testsuite::singlestep::{self, Baseline, Config, Report, Suite};

fn run(model: CpuModel) -> (Report, Vec<String>) {
    let config = Config {
        keep_failures: 3,
        ..Config::new(model)
    };
    let suite = Suite::open(&config).unwrap_or_else(|e| panic!("{e}"));
    singlestep::quiet_cpu_panics();
    let mut lines = Vec::new();
    let report = suite.run(|file| lines.extend(file.lines(3)));
    lines.extend(report.summary_lines());
    (report, lines)
}

fn baseline(model: CpuModel) -> Baseline {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("baseline")
        .join(format!("{}.txt", model.name()));
    Baseline::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks shared by both sets; returns the problems found.
fn check(model: CpuModel, report: &Report, min_rate: f64) -> Vec<String> {
    let mut problems: Vec<String> = report
        .errors()
        .map(|f| format!("{}: {}", f.file, f.error.as_deref().unwrap_or("")))
        .collect();
    let counts = report.counts();
    if counts.total() == 0 {
        problems.push("no tests ran".to_string());
    }
    if counts.pass_rate() < min_rate {
        problems.push(format!(
            "pass rate {:.3}% is below {:.1}%",
            100.0 * counts.pass_rate(),
            100.0 * min_rate
        ));
    }
    let baseline = baseline(model);
    problems.extend(
        report
            .baseline_violations(&baseline)
            .into_iter()
            .map(|v| format!("ratchet: {v}")),
    );
    for slack in report.baseline_slack(&baseline) {
        println!("note: baseline can be tightened: {slack}");
    }
    problems
}

fn finish(lines: &[String], problems: &[String]) {
    const SHOWN: usize = 40;
    for line in lines {
        println!("{line}");
    }
    let more = match problems.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!("\n  ... and {n} more (see the FAIL lines above)"),
    };
    assert!(
        problems.is_empty(),
        "{} conformance problems:\n  {}{more}",
        problems.len(),
        problems[..problems.len().min(SHOWN)].join("\n  ")
    );
}

#[test]
fn singlestep_8086() {
    let model = CpuModel::I8086;
    let (report, lines) = run(model);
    let mut problems = check(model, &report, 0.999);
    for file in &report.files {
        if file.status.as_deref() == Some("normal") && file.failed > 0 {
            problems.push(format!(
                "{} (status normal) failed {}/{}",
                file.file,
                file.failed,
                file.total()
            ));
        }
    }
    finish(&lines, &problems);
}

#[test]
fn singlestep_80286() {
    let model = CpuModel::I80286;
    let (report, lines) = run(model);
    let problems = check(model, &report, 0.995);
    finish(&lines, &problems);
}
