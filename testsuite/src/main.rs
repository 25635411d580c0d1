//! `testsuite`: oxbox's conformance runner.
//!
//! ```text
//! cargo run --release -p testsuite -- singlestep --cpu 8086 [DIR]
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};
use oxbox::cpu::CpuModel;
use testsuite::singlestep::{self, Config, Suite};

#[derive(Parser)]
#[command(name = "testsuite", about = "oxbox conformance runners")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SingleStepTests MOO files (one instruction per test).
    Singlestep(SingleStepArgs),
    /// Run a CPU test ROM from the reset vector: debug console (port 0xE9)
    /// on stdout, POST codes (0x80, 0x190) as `POST xx` lines, final
    /// registers at the end.
    Rom(RomArgs),
}

#[derive(Args)]
struct RomArgs {
    /// The ROM image (64, 128 or 256 KiB; smaller images end at the reset
    /// vector too).
    file: PathBuf,

    /// CPU model.
    #[arg(long, default_value = "p6")]
    cpu: CpuModel,

    /// RAM in MiB.
    #[arg(short = 'm', long = "memory", default_value_t = 16)]
    memory: usize,

    /// Stop after this many instructions.
    #[arg(long, default_value_t = 100_000_000)]
    max_instructions: u64,
}

#[derive(Args)]
struct SingleStepArgs {
    /// CPU model (8086, 80186, 80286, ...).
    #[arg(long, default_value = "8086")]
    cpu: CpuModel,

    /// Directory of *.MOO.gz files [default: $OXBOX_CONFORMANCE_DIR/singlestep/8086/v1_binary
    /// or .../80286/v1_real_mode, by --cpu; OXBOX_CONFORMANCE_DIR defaults to
    /// shared/conformance beside the repository].
    dir: Option<PathBuf>,

    /// Only run files whose name contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,

    /// Print up to 10 failing tests per file.
    #[arg(short = 'v', action = ArgAction::SetTrue)]
    v: bool,

    /// Print up to N failing tests per file.
    #[arg(long, value_name = "N")]
    verbose: Option<usize>,

    /// Run at most N tests per file.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Worker threads.
    #[arg(long, default_value_t = 2, value_name = "N")]
    threads: usize,

    /// Compare the flags the instruction leaves undefined too (no mask):
    /// shows how closely oxbox models what the silicon leaves there.
    #[arg(long)]
    strict_flags: bool,

    /// Write a ratchet baseline (`<file> <max allowed failures>` per failing
    /// file) to PATH.
    #[arg(long, value_name = "PATH")]
    write_baseline: Option<PathBuf>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Singlestep(args) => run_singlestep(args),
        Command::Rom(args) => run_rom(args),
    }
}

fn run_rom(args: RomArgs) -> ExitCode {
    let run = match testsuite::rom::run_rom_file(
        &args.file,
        args.cpu,
        args.memory.max(1) << 20,
        args.max_instructions,
        Box::new(std::io::stdout()),
    ) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // A closed stdout (a pager, `head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    if run.output.last().is_some_and(|&b| b != b'\n') {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "EXIT {:?}", run.exit);
    for line in run.register_lines() {
        let _ = writeln!(out, "{line}");
    }
    ExitCode::SUCCESS
}

fn run_singlestep(args: SingleStepArgs) -> ExitCode {
    let verbose = args.verbose.unwrap_or(if args.v { 10 } else { 1 });
    if args.write_baseline.is_some()
        && (args.filter.is_some() || args.limit.is_some() || args.strict_flags)
    {
        eprintln!("error: --write-baseline needs a full, masked run (no --filter, --limit or --strict-flags)");
        return ExitCode::from(2);
    }
    let config = Config {
        dir: args
            .dir
            .unwrap_or_else(|| singlestep::default_dir(args.cpu)),
        filter: args.filter,
        limit: args.limit,
        keep_failures: verbose.max(1),
        threads: args.threads.max(1),
        strict_flags: args.strict_flags,
        ..Config::new(args.cpu)
    };
    let suite = match Suite::open(&config) {
        Ok(suite) => suite,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    singlestep::quiet_cpu_panics();
    let report = suite.run(|file| {
        for line in file.lines(verbose) {
            println!("{line}");
        }
    });
    for line in report.summary_lines() {
        println!("{line}");
    }

    if let Some(path) = &args.write_baseline {
        let text = report.baseline().to_text(config.model);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote {}", path.display());
        return if report.errors().next().is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    if report.counts().failed > 0 || report.errors().next().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
