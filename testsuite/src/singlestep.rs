//! Runner for the SingleStepTests per-instruction suites.
//!
//! Each test sets the registers and RAM bytes of its initial state, executes
//! the instruction and compares every register and every RAM byte the test
//! mentions against the expected final state (a register or byte the final
//! state leaves out must keep its initial value). FLAGS are compared under a
//! mask of the bits the instruction defines:
//!
//! * 8086 set: one `step()` per test; the mask comes from the suite's
//!   `metadata.json` (`flags-mask`, per opcode or per opcode and ModRM.reg);
//! * 80286 set: the instruction is followed by a HLT (or the exception handler
//!   starts with one), so the CPU steps until it halts; the mask is
//!   `!undefined_flags(model, bytes)` from oxbox's own opcode table.
//!
//! When an exception pushed FLAGS, the two pushed bytes are compared under
//! the same mask.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Once};

use oxbox::cpu::{undefined_flags, Cpu, CpuModel, Regs16};
use oxbox_devices::NullBus;

use crate::moo::{self, MooFile, MooTest, FLAGS, REG_COUNT, REG_NAMES};

/// Environment variable naming the conformance data root (the directory that
/// holds `singlestep/`).
pub const ENV_VAR: &str = "OXBOX_CONFORMANCE_DIR";

/// Steps allowed before a halt-terminated (286) test counts as runaway.
pub const MAX_STEPS: usize = 16;

/// Prefix bytes skipped to find the opcode that keys `metadata.json`.
const PREFIXES: [u8; 8] = [0x26, 0x2E, 0x36, 0x3E, 0xF0, 0xF1, 0xF2, 0xF3];

/// The conformance data root: `$OXBOX_CONFORMANCE_DIR`, or `shared/conformance`
/// beside the repository.
pub fn conformance_root() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let repo_parent = crate_dir
                .parent()
                .and_then(Path::parent)
                .unwrap_or(crate_dir);
            repo_parent.join("shared").join("conformance")
        }
    }
}

/// The default SingleStepTests directory for a model.
pub fn default_dir(model: CpuModel) -> PathBuf {
    let sub = match model {
        CpuModel::I8086 | CpuModel::I80186 => "v1_binary",
        _ => "v1_real_mode",
    };
    conformance_root()
        .join("singlestep")
        .join(model.name())
        .join(sub)
}

/// Explains where the data comes from when `dir` is missing.
pub fn missing_data_message(dir: &Path) -> String {
    let root = conformance_root();
    format!(
        "SingleStepTests data not found at {dir}\n\
         Get it from GitHub: github.com/SingleStepTests/8086 (directory v1_binary, with \
         metadata.json) and github.com/SingleStepTests/80286 (directory v1_real_mode, plus \
         revocation_list.txt), and lay it out as\n  \
         {root}/singlestep/8086/v1_binary/*.MOO.gz\n  \
         {root}/singlestep/80286/v1_real_mode/*.MOO.gz\n\
         or set {ENV_VAR} to a directory laid out that way (default: shared/conformance \
         beside the repository), or pass the test directory explicitly.",
        dir = dir.display(),
        root = root.display(),
    )
}

/// How a test ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Execute exactly one instruction (8086/80186 sets).
    SingleStep,
    /// Step until the CPU halts, at most [`MAX_STEPS`] times (80286 and later).
    UntilHalt,
}

impl Mode {
    pub fn for_model(model: CpuModel) -> Mode {
        match model {
            CpuModel::I8086 | CpuModel::I80186 => Mode::SingleStep,
            _ => Mode::UntilHalt,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub model: CpuModel,
    pub dir: PathBuf,
    /// Only files whose name contains this substring.
    pub filter: Option<String>,
    /// At most this many tests per file.
    pub limit: Option<usize>,
    /// Failing tests kept (with their diff) per file; at least 1 is kept.
    pub keep_failures: usize,
    /// Worker threads for [`Suite::run`].
    pub threads: usize,
    /// Compare undefined flags too (shows how closely oxbox models what the
    /// silicon leaves in them).
    pub strict_flags: bool,
}

impl Config {
    /// The model's default directory, all files, 2 threads.
    pub fn new(model: CpuModel) -> Config {
        Config {
            model,
            dir: default_dir(model),
            filter: None,
            limit: None,
            keep_failures: 1,
            threads: 2,
            strict_flags: false,
        }
    }
}

/// Why a suite could not be opened.
#[derive(Debug)]
pub enum SuiteError {
    /// The data directory does not exist (the message says where to get it).
    MissingData(String),
    /// Anything else (unreadable metadata, no test files, ...).
    Other(String),
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuiteError::MissingData(msg) | SuiteError::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for SuiteError {}

/// Per-opcode facts from the 8086 suite's `metadata.json`.
#[derive(Clone, Debug, Default)]
struct OpInfo {
    status: Option<String>,
    flags_mask: u16,
}

#[derive(Clone, Debug)]
enum OpEntry {
    Plain(OpInfo),
    ByReg(Box<[OpInfo; 8]>),
}

/// The opcode table of a SingleStepTests `metadata.json`.
#[derive(Clone, Debug)]
pub struct Metadata {
    opcodes: Vec<Option<OpEntry>>,
}

impl Metadata {
    pub fn load(path: &Path) -> Result<Metadata, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Metadata::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Metadata, String> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let table = json
            .get("opcodes")
            .and_then(|v| v.as_object())
            .ok_or("no \"opcodes\" object")?;
        let mut opcodes = vec![None; 256];
        for (key, value) in table {
            let Ok(op) = u8::from_str_radix(key, 16) else {
                continue; // two-byte opcode keys do not occur in the 8086 set
            };
            let entry = match value.get("reg").and_then(|r| r.as_object()) {
                Some(regs) => {
                    let mut infos: [OpInfo; 8] = Default::default();
                    for (reg, info) in infos.iter_mut().enumerate() {
                        *info = regs
                            .get(&reg.to_string())
                            .map(op_info)
                            .unwrap_or_else(|| OpInfo {
                                status: None,
                                flags_mask: 0xFFFF,
                            });
                    }
                    OpEntry::ByReg(Box::new(infos))
                }
                None => OpEntry::Plain(op_info(value)),
            };
            opcodes[usize::from(op)] = Some(entry);
        }
        Ok(Metadata { opcodes })
    }

    fn info(&self, opcode: u8, reg: Option<u8>) -> Option<&OpInfo> {
        match (self.opcodes[usize::from(opcode)].as_ref()?, reg) {
            (OpEntry::Plain(info), _) => Some(info),
            (OpEntry::ByReg(infos), Some(reg)) => Some(&infos[usize::from(reg & 7)]),
            (OpEntry::ByReg(_), None) => None,
        }
    }

    /// Status and FLAGS compare mask of an instruction.
    pub fn lookup(&self, bytes: &[u8]) -> (Option<&str>, u16) {
        let Some(pos) = bytes.iter().position(|b| !PREFIXES.contains(b)) else {
            return (None, 0xFFFF);
        };
        let opcode = bytes[pos];
        let reg = match self.opcodes[usize::from(opcode)] {
            Some(OpEntry::ByReg(_)) => Some(bytes.get(pos + 1).map_or(0, |m| (m >> 3) & 7)),
            _ => None,
        };
        match self.info(opcode, reg) {
            Some(info) => (info.status.as_deref(), info.flags_mask),
            None => (None, 0xFFFF),
        }
    }

    /// Status of a test file named like `80.MOO.gz` or `80.3.MOO.gz`.
    pub fn file_status(&self, file_name: &str) -> Option<&str> {
        let stem = file_name.split(".MOO").next()?;
        let mut parts = stem.split('.');
        let opcode = u8::from_str_radix(parts.next()?, 16).ok()?;
        let reg = match parts.next() {
            Some(r) => Some(r.parse::<u8>().ok().filter(|&r| r < 8)?),
            None => None,
        };
        self.info(opcode, reg)?.status.as_deref()
    }
}

fn op_info(value: &serde_json::Value) -> OpInfo {
    OpInfo {
        status: value
            .get("status")
            .and_then(|s| s.as_str())
            .map(str::to_string),
        flags_mask: value
            .get("flags-mask")
            .and_then(|m| m.as_u64())
            .map_or(0xFFFF, |m| (m & 0xFFFF) as u16),
    }
}

/// One failing test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Position of the test in its file.
    pub index: usize,
    pub name: String,
    pub bytes: Vec<u8>,
    /// Short description of what differed.
    pub diff: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} [{}] {}",
            self.index,
            self.name,
            hex(&self.bytes),
            self.diff
        )
    }
}

/// The outcome of one test file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// File name (no directory).
    pub file: String,
    /// `metadata.json` status of the file's opcode (8086 set only).
    pub status: Option<String>,
    pub passed: usize,
    pub failed: usize,
    /// Tests skipped because their hash is in the revocation list.
    pub revoked: usize,
    /// The first failures, at most [`Config::keep_failures`].
    pub failures: Vec<Failure>,
    /// Set when the file could not be read; no test ran.
    pub error: Option<String>,
}

impl FileReport {
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }

    /// Output lines for this file: nothing when it passed, otherwise a
    /// `FAIL` (or `ERROR`) line and up to `verbose` failing tests.
    pub fn lines(&self, verbose: usize) -> Vec<String> {
        if let Some(err) = &self.error {
            return vec![format!("ERROR {} {err}", self.file)];
        }
        let Some(first) = self.failures.first() else {
            return Vec::new();
        };
        let status = self
            .status
            .as_ref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let mut lines = vec![format!(
            "FAIL {} {}/{}{status} first: {first}",
            self.file,
            self.failed,
            self.total()
        )];
        lines.extend(
            self.failures
                .iter()
                .skip(1)
                .take(verbose.saturating_sub(1))
                .map(|f| format!("  {f}")),
        );
        lines
    }
}

/// Pass/fail counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }

    /// Fraction of tests that passed (1.0 for an empty set).
    pub fn pass_rate(&self) -> f64 {
        if self.total() == 0 {
            1.0
        } else {
            self.passed as f64 / self.total() as f64
        }
    }
}

/// The outcome of a whole suite run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub model: CpuModel,
    /// Whether a revocation list was in use.
    pub has_revocation_list: bool,
    /// Whether `metadata.json` statuses were available.
    pub has_metadata: bool,
    /// In file-name order.
    pub files: Vec<FileReport>,
}

impl Report {
    pub fn counts(&self) -> Counts {
        self.counts_where(|_| true)
    }

    /// Counts over the files whose metadata status is `status`.
    pub fn counts_for_status(&self, status: &str) -> Counts {
        self.counts_where(|f| f.status.as_deref() == Some(status))
    }

    fn counts_where(&self, pred: impl Fn(&FileReport) -> bool) -> Counts {
        self.files
            .iter()
            .filter(|f| pred(f))
            .fold(Counts::default(), |c, f| Counts {
                passed: c.passed + f.passed,
                failed: c.failed + f.failed,
            })
    }

    pub fn revoked(&self) -> usize {
        self.files.iter().map(|f| f.revoked).sum()
    }

    /// Files that could not be read.
    pub fn errors(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.error.is_some())
    }

    /// Files with failures, most failures first.
    pub fn worst_files(&self) -> Vec<&FileReport> {
        let mut files: Vec<_> = self.files.iter().filter(|f| f.failed > 0).collect();
        files.sort_by(|a, b| b.failed.cmp(&a.failed).then_with(|| a.file.cmp(&b.file)));
        files
    }

    /// The closing lines: revoked-test count (when a revocation list exists),
    /// `NORMAL` counts (when metadata exists), then `SUMMARY`.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.has_revocation_list {
            lines.push(format!("SKIPPED revoked={}", self.revoked()));
        }
        if self.has_metadata {
            let n = self.counts_for_status("normal");
            lines.push(format!(
                "NORMAL passed={} failed={} total={}",
                n.passed,
                n.failed,
                n.total()
            ));
        }
        let c = self.counts();
        let errors = self.errors().count();
        let errors = if errors > 0 {
            format!(" errors={errors}")
        } else {
            String::new()
        };
        lines.push(format!(
            "SUMMARY passed={} failed={} total={}{errors}",
            c.passed,
            c.failed,
            c.total()
        ));
        lines
    }

    /// A baseline allowing exactly the current failures.
    pub fn baseline(&self) -> Baseline {
        Baseline {
            allowed: self
                .files
                .iter()
                .filter(|f| f.failed > 0)
                .map(|f| (f.file.clone(), f.failed))
                .collect(),
        }
    }

    /// Files that fail more than `baseline` allows (unlisted files allow 0),
    /// and files that could not be read. Empty when the ratchet holds.
    pub fn baseline_violations(&self, baseline: &Baseline) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            let allowed = baseline.allowed(&f.file);
            if let Some(err) = &f.error {
                out.push(format!("{} could not be read: {err}", f.file));
            } else if f.failed > allowed {
                out.push(format!(
                    "{} {} failures, baseline allows {allowed}",
                    f.file, f.failed
                ));
            }
        }
        out
    }

    /// Baseline entries that allow more failures than happened (the
    /// baseline can be tightened).
    pub fn baseline_slack(&self, baseline: &Baseline) -> Vec<String> {
        self.files
            .iter()
            .filter(|f| f.error.is_none() && f.failed < baseline.allowed(&f.file))
            .map(|f| {
                format!(
                    "{} {} failures, baseline allows {}",
                    f.file,
                    f.failed,
                    baseline.allowed(&f.file)
                )
            })
            .collect()
    }
}

/// The ratchet: per file, the number of failures still tolerated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    pub allowed: BTreeMap<String, usize>,
}

impl Baseline {
    /// Parse `<file> <max allowed failures>` lines; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let mut allowed = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(file), Some(count), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {}: expected `<file> <max failures>`", n + 1));
            };
            let count = count
                .parse()
                .map_err(|_| format!("line {}: bad count {count:?}", n + 1))?;
            allowed.insert(file.to_string(), count);
        }
        Ok(Baseline { allowed })
    }

    pub fn load(path: &Path) -> Result<Baseline, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Baseline::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn allowed(&self, file: &str) -> usize {
        self.allowed.get(file).copied().unwrap_or(0)
    }

    /// The file text, with a header explaining the format.
    pub fn to_text(&self, model: CpuModel) -> String {
        let mut out = format!(
            "# SingleStepTests ratchet for the {model}: `<file> <max allowed failures>`.\n\
             # A file not listed must pass every test. Regenerate with\n\
             #   cargo run --release -p testsuite -- singlestep --cpu {model} --write-baseline <this file>\n"
        );
        for (file, n) in &self.allowed {
            let _ = writeln!(out, "{file} {n}");
        }
        out
    }
}

/// An opened test directory, ready to run.
#[derive(Debug)]
pub struct Suite {
    config: Config,
    mode: Mode,
    files: Vec<PathBuf>,
    metadata: Option<Metadata>,
    revoked: Option<HashSet<[u8; 20]>>,
}

impl Suite {
    /// Find the test files (sorted by name, filtered), `metadata.json` (single-
    /// step sets) and `revocation_list.txt` (in the directory or its parent).
    pub fn open(config: &Config) -> Result<Suite, SuiteError> {
        let dir = &config.dir;
        if !dir.is_dir() {
            return Err(SuiteError::MissingData(missing_data_message(dir)));
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| SuiteError::Other(format!("{}: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = file_name(p);
                let wanted = match &config.filter {
                    Some(pattern) => name.contains(pattern.as_str()),
                    None => true,
                };
                wanted && (name.ends_with(".MOO") || name.ends_with(".MOO.gz"))
            })
            .collect();
        files.sort_by_key(|p| file_name(p));
        if files.is_empty() {
            let what = match &config.filter {
                Some(f) => format!(" matching {f:?}"),
                None => String::new(),
            };
            return Err(SuiteError::Other(format!(
                "no *.MOO / *.MOO.gz files{what} in {}",
                dir.display()
            )));
        }

        let mode = Mode::for_model(config.model);
        let metadata_path = dir.join("metadata.json");
        let metadata = if mode == Mode::SingleStep && metadata_path.is_file() {
            Some(Metadata::load(&metadata_path).map_err(SuiteError::Other)?)
        } else {
            None
        };

        let revocation_path = [Some(dir.as_path()), dir.parent()]
            .into_iter()
            .flatten()
            .map(|d| d.join("revocation_list.txt"))
            .find(|p| p.is_file());
        let revoked = match revocation_path {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| SuiteError::Other(format!("{}: {e}", path.display())))?;
                let mut set = HashSet::new();
                for (n, line) in text.lines().enumerate() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.is_empty() {
                        continue;
                    }
                    let hash = moo::parse_hash(line).ok_or_else(|| {
                        SuiteError::Other(format!(
                            "{}:{}: not a SHA-1 hex string",
                            path.display(),
                            n + 1
                        ))
                    })?;
                    set.insert(hash);
                }
                Some(set)
            }
            None => None,
        };

        Ok(Suite {
            config: config.clone(),
            mode,
            files,
            metadata,
            revoked,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The test files, in run order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// A CPU of the suite's model with the RAM its tests assume.
    pub fn new_cpu(&self) -> Cpu {
        let ram = match self.config.model {
            CpuModel::I8086 | CpuModel::I80186 => 1 << 20,
            _ => 16 << 20,
        };
        Cpu::new(self.config.model, ram)
    }

    /// Load and run one file.
    pub fn run_path(&self, cpu: &mut Cpu, path: &Path) -> FileReport {
        let name = file_name(path);
        match moo::load(path) {
            Ok(file) => self.run_file(cpu, &name, &file),
            Err(e) => FileReport {
                file: name,
                error: Some(e.to_string()),
                ..FileReport::default()
            },
        }
    }

    /// Run the tests of an already loaded file on `cpu`.
    pub fn run_file(&self, cpu: &mut Cpu, name: &str, file: &MooFile) -> FileReport {
        let mut report = FileReport {
            file: name.to_string(),
            status: self.metadata.as_ref().and_then(|m| {
                m.file_status(name)
                    .or_else(|| file.tests.first().and_then(|t| m.lookup(&t.bytes).0))
                    .map(str::to_string)
            }),
            ..FileReport::default()
        };
        let limit = self.config.limit.unwrap_or(usize::MAX);
        for test in file.tests.iter().take(limit) {
            if let (Some(revoked), Some(hash)) = (&self.revoked, &test.hash) {
                if revoked.contains(hash) {
                    report.revoked += 1;
                    continue;
                }
            }
            match self.run_test(cpu, test) {
                Ok(()) => report.passed += 1,
                Err(diff) => {
                    report.failed += 1;
                    if report.failures.len() < self.config.keep_failures.max(1) {
                        report.failures.push(Failure {
                            index: test.position,
                            name: test.name.clone(),
                            bytes: test.bytes.clone(),
                            diff,
                        });
                    }
                }
            }
        }
        report
    }

    /// Run every file on [`Config::threads`] threads. `on_file` sees each
    /// report as soon as it and all earlier files are done, in file order.
    pub fn run(&self, mut on_file: impl FnMut(&FileReport)) -> Report {
        let n = self.files.len();
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<FileReport>> = vec![None; n];
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..self.config.threads.clamp(1, n.max(1)) {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || {
                    let mut cpu = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = self.files.get(i) else { break };
                        let cpu = cpu.get_or_insert_with(|| self.new_cpu());
                        if tx.send((i, self.run_path(cpu, path))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut emitted = 0;
            for (i, report) in rx {
                slots[i] = Some(report);
                while let Some(Some(report)) = slots.get(emitted) {
                    on_file(report);
                    emitted += 1;
                }
            }
        });
        Report {
            model: self.config.model,
            has_revocation_list: self.revoked.is_some(),
            has_metadata: self.metadata.is_some(),
            files: slots.into_iter().flatten().collect(),
        }
    }

    /// FLAGS bits compared for an instruction.
    pub fn flags_mask(&self, bytes: &[u8]) -> u16 {
        if self.config.strict_flags {
            return 0xFFFF;
        }
        match &self.metadata {
            Some(m) => m.lookup(bytes).1,
            None => !undefined_flags(self.config.model, bytes),
        }
    }

    /// Run one test; `Err` carries the differences. A panic in the CPU is a
    /// failure (the CPU is replaced, since its state is unknown).
    pub fn run_test(&self, cpu: &mut Cpu, test: &MooTest) -> Result<(), String> {
        IN_TEST.set(true);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.execute(cpu, test)));
        IN_TEST.set(false);
        let result = match outcome {
            Ok(result) => result,
            Err(payload) => {
                *cpu = self.new_cpu();
                let location = LAST_PANIC
                    .take()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                return Err(format!(
                    "CPU panicked{location}: {}",
                    panic_message(&payload)
                ));
            }
        };
        // Leave RAM as we found it so that tests cannot see each other's
        // bytes (cheaper than clearing 16 MiB per test).
        let mem = cpu.mem_mut();
        for &(addr, _) in test.initial.ram.iter().chain(&test.final_state.ram) {
            mem.write_u8(addr, 0);
        }
        if let Some(addr) = result.flags_at {
            mem.write_u8(addr, 0);
            mem.write_u8(addr.wrapping_add(1), 0);
        }
        result.verdict
    }

    fn execute(&self, cpu: &mut Cpu, test: &MooTest) -> Execution {
        let init = &test.initial;
        for &(addr, value) in &init.ram {
            cpu.mem_mut().write_u8(addr, value);
        }
        cpu.set_real_mode_regs(&to_regs16(&init.regs.values));

        let mut bus = NullBus;
        let mut notes = Vec::new();
        let mut raised = None;
        match self.mode {
            Mode::SingleStep => raised = cpu.step(&mut bus).exception,
            Mode::UntilHalt => {
                let mut halted = false;
                for _ in 0..MAX_STEPS {
                    let r = cpu.step(&mut bus);
                    raised = raised.or(r.exception);
                    if r.shutdown {
                        notes.push("CPU shut down".to_string());
                        break;
                    }
                    if cpu.is_halted() {
                        halted = true;
                        break;
                    }
                }
                if !halted && notes.is_empty() {
                    notes.push(format!("no HLT within {MAX_STEPS} steps"));
                }
            }
        }
        // Where FLAGS were pushed: the test says so (286), else ask the CPU.
        let flags_at = match self.mode {
            Mode::UntilHalt => test
                .exception
                .map(|(_, addr)| pushed_flags_address(test, addr)),
            Mode::SingleStep => raised.map(|(_, addr)| addr),
        };

        let mask = self.flags_mask(&test.bytes);
        let mut diffs = notes;
        compare_regs(
            self.config.model,
            test,
            &cpu.real_mode_regs(),
            mask,
            &mut diffs,
        );
        compare_ram(test, cpu, mask, flags_at, &mut diffs);

        if !diffs.is_empty() && self.mode == Mode::UntilHalt {
            let expected = test.exception.map(|(n, _)| n);
            let got = raised.map(|(n, _)| n);
            if expected != got {
                diffs.push(format!(
                    "exception exp {} got {}",
                    vector(expected),
                    vector(got)
                ));
            }
        }
        Execution {
            verdict: if diffs.is_empty() {
                Ok(())
            } else {
                Err(summarize(diffs))
            },
            flags_at,
        }
    }
}

/// The physical address of the FLAGS word an exception pushed.
///
/// The 286 set's `flag_address` is the address of the bus cycle that wrote
/// FLAGS, which is even: when the word sits at an odd address it really
/// starts one byte higher. The exception frame (IP, CS, FLAGS) is on top of
/// the final stack (the handler only halts), so FLAGS are at SS:SP+4; that
/// address is used when it agrees with the recorded one up to bit 0.
fn pushed_flags_address(test: &MooTest, recorded: u32) -> u32 {
    const SS: usize = 5;
    const SP: usize = 8;
    let reg = |i: usize| {
        test.final_state
            .regs
            .get(i)
            .unwrap_or(test.initial.regs.values[i])
    };
    let frame = (u32::from(reg(SS)) << 4) + u32::from(reg(SP).wrapping_add(4));
    if frame & !1 == recorded & !1 {
        frame
    } else {
        recorded
    }
}

struct Execution {
    verdict: Result<(), String>,
    flags_at: Option<u32>,
}

fn vector(v: Option<u8>) -> String {
    v.map_or_else(|| "none".to_string(), |n| format!("#{n}"))
}

/// Join the differences, keeping the line short.
fn summarize(diffs: Vec<String>) -> String {
    const SHOWN: usize = 8;
    let extra = diffs.len().saturating_sub(SHOWN);
    let mut out = diffs.into_iter().take(SHOWN).collect::<Vec<_>>().join("; ");
    if extra > 0 {
        let _ = write!(out, "; (+{extra} more)");
    }
    out
}

fn compare_regs(model: CpuModel, test: &MooTest, got: &Regs16, mask: u16, diffs: &mut Vec<String>) {
    let init = &test.initial.regs;
    let fin = &test.final_state.regs;
    let got = from_regs16(got);
    for i in 0..REG_COUNT {
        let expected = match fin.get(i) {
            Some(v) => v,
            None if i == FLAGS => init.values[i] & initial_flags_visible(model),
            None => init.values[i],
        };
        if i == FLAGS {
            if (expected ^ got[i]) & mask != 0 {
                diffs.push(format!(
                    "flags exp {expected:04x} got {:04x} (mask {mask:04x})",
                    got[i]
                ));
            }
        } else if expected != got[i] {
            diffs.push(format!(
                "{} exp {expected:04x} got {:04x}",
                REG_NAMES[i], got[i]
            ));
        }
    }
}

/// FLAGS bits of a test's initial state that the CPU can really hold: the
/// 286 set's initial FLAGS are LOADALL images whose bits 12-15 real mode
/// cannot set.
fn initial_flags_visible(model: CpuModel) -> u16 {
    match model {
        CpuModel::I80286 => 0x0FFF,
        _ => 0xFFFF,
    }
}

fn compare_ram(
    test: &MooTest,
    cpu: &Cpu,
    mask: u16,
    flags_at: Option<u32>,
    diffs: &mut Vec<String>,
) {
    // Expected bytes: initial ones overridden by final ones.
    let mut expected: Vec<(u32, u8)> = test
        .initial
        .ram
        .iter()
        .chain(&test.final_state.ram)
        .copied()
        .collect();
    // Stable sort keeps file order within an address: the last one wins.
    expected.sort_by_key(|&(addr, _)| addr);
    let mem = cpu.mem();
    for (i, &(addr, value)) in expected.iter().enumerate() {
        if expected.get(i + 1).is_some_and(|&(next, _)| next == addr) {
            continue;
        }
        let byte_mask = match flags_at {
            Some(at) if addr == at => mask as u8,
            Some(at) if addr == at.wrapping_add(1) => (mask >> 8) as u8,
            _ => 0xFF,
        };
        let got = mem.read_u8(addr);
        if (got ^ value) & byte_mask != 0 {
            let masked = if byte_mask != 0xFF {
                format!(" (mask {byte_mask:02x})")
            } else {
                String::new()
            };
            diffs.push(format!(
                "ram[{addr:#x}] exp {value:02x} got {got:02x}{masked}"
            ));
        }
    }
}

fn to_regs16(v: &[u16; REG_COUNT]) -> Regs16 {
    Regs16 {
        ax: v[0],
        bx: v[1],
        cx: v[2],
        dx: v[3],
        cs: v[4],
        ss: v[5],
        ds: v[6],
        es: v[7],
        sp: v[8],
        bp: v[9],
        si: v[10],
        di: v[11],
        ip: v[12],
        flags: v[13],
    }
}

fn from_regs16(r: &Regs16) -> [u16; REG_COUNT] {
    [
        r.ax, r.bx, r.cx, r.dx, r.cs, r.ss, r.ds, r.es, r.sp, r.bp, r.si, r.di, r.ip, r.flags,
    ]
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

thread_local! {
    /// Set while a test runs the CPU, so the panic hook can stay quiet.
    static IN_TEST: Cell<bool> = const { Cell::new(false) };
    /// Location of the last CPU panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Install a panic hook that keeps CPU panics inside tests quiet (they are
/// reported as test failures, with their location) and leaves every other
/// panic to the previous hook. Installs the hook once per process.
pub fn quiet_cpu_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_TEST.get() {
                LAST_PANIC.set(info.location().map(|l| l.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{
        "opcodes": {
            "00": {"status": "normal"},
            "08": {"status": "normal", "flags-mask": 65519},
            "26": {"status": "prefix"},
            "D8": {"status": "fpu"},
            "F6": {"reg": {
                "0": {"status": "normal", "flags-mask": 65519},
                "6": {"status": "normal", "flags-mask": 63274}
            }}
        }
    }"#;

    #[test]
    fn metadata_lookup() {
        let m = Metadata::from_json(METADATA).unwrap();
        assert_eq!(m.lookup(&[0x00, 0xC0]), (Some("normal"), 0xFFFF));
        assert_eq!(m.lookup(&[0x26, 0xF3, 0x08, 0x07]), (Some("normal"), 65519));
        assert_eq!(m.lookup(&[0xF6, 0xF1]), (Some("normal"), 63274));
        assert_eq!(
            m.lookup(&[0x2E, 0xF6, 0x06, 0, 0, 1]),
            (Some("normal"), 65519)
        );
        assert_eq!(m.lookup(&[0xF6, 0x08]), (None, 0xFFFF));
        assert_eq!(m.lookup(&[0x26]), (None, 0xFFFF));
        assert_eq!(m.lookup(&[0x99]), (None, 0xFFFF));
        assert_eq!(m.file_status("D8.MOO.gz"), Some("fpu"));
        assert_eq!(m.file_status("F6.6.MOO.gz"), Some("normal"));
        assert_eq!(m.file_status("F6.MOO.gz"), None);
        assert_eq!(m.file_status("F6.9.MOO.gz"), None);
        assert_eq!(m.file_status("junk"), None);
        assert!(Metadata::from_json("{}").is_err());
    }

    #[test]
    fn baseline_round_trip_and_violations() {
        let report = Report {
            model: CpuModel::I8086,
            has_revocation_list: false,
            has_metadata: true,
            files: vec![
                FileReport {
                    file: "00.MOO.gz".into(),
                    status: Some("normal".into()),
                    passed: 10,
                    ..FileReport::default()
                },
                FileReport {
                    file: "D8.MOO.gz".into(),
                    status: Some("fpu".into()),
                    passed: 7,
                    failed: 3,
                    ..FileReport::default()
                },
            ],
        };
        let baseline = report.baseline();
        let text = baseline.to_text(CpuModel::I8086);
        assert!(text.starts_with('#'));
        assert_eq!(Baseline::parse(&text).unwrap(), baseline);
        assert!(report.baseline_violations(&baseline).is_empty());
        assert!(!report.baseline_violations(&Baseline::default()).is_empty());
        let loose = Baseline::parse("D8.MOO.gz 5 # comment\n\n").unwrap();
        assert!(report.baseline_violations(&loose).is_empty());
        assert_eq!(report.baseline_slack(&loose).len(), 1);
        assert!(Baseline::parse("D8.MOO.gz x").is_err());
        assert!(Baseline::parse("D8.MOO.gz 1 2").is_err());

        assert_eq!(
            report.summary_lines(),
            [
                "NORMAL passed=10 failed=0 total=10",
                "SUMMARY passed=17 failed=3 total=20"
            ]
        );
    }

    #[test]
    fn fail_line_format() {
        let f = FileReport {
            file: "01.MOO.gz".into(),
            status: Some("normal".into()),
            passed: 998,
            failed: 2,
            failures: vec![
                Failure {
                    index: 5,
                    name: "add ax,bx".into(),
                    bytes: vec![0x01, 0xD8],
                    diff: "ax exp 1234 got 1235".into(),
                },
                Failure {
                    index: 9,
                    name: "add cx,bx".into(),
                    bytes: vec![0x01, 0xD9],
                    diff: "cx exp 0001 got 0002".into(),
                },
            ],
            ..FileReport::default()
        };
        assert_eq!(
            f.lines(1),
            ["FAIL 01.MOO.gz 2/1000 [normal] first: #5 add ax,bx [01 d8] ax exp 1234 got 1235"]
        );
        assert_eq!(f.lines(5).len(), 2);
        assert!(FileReport::default().lines(5).is_empty());
    }
}
