//! oxbox's conformance runners.
//!
//! * [`moo`] reads SingleStepTests MOO files;
//! * [`nasm`] builds the test programs in `testsuite/roms/`;
//! * [`rom`] runs a test ROM from the reset vector;
//! * [`singlestep`] runs them against [`oxbox::cpu::Cpu`] and reports per
//!   file, with a ratchet ([`singlestep::Baseline`]) for known failures.
//!
//! ```no_run
//! use oxbox::cpu::CpuModel;
//! use testsuite::singlestep::{Config, Suite};
//!
//! let suite = Suite::open(&Config::new(CpuModel::I8086)).expect("data present");
//! let report = suite.run(|file| file.lines(1).iter().for_each(|l| println!("{l}")));
//! for line in report.summary_lines() {
//!     println!("{line}");
//! }
//! ```

pub mod moo;
pub mod nasm;
pub mod rom;
pub mod singlestep;
