//! oxbox's built-in debugger (`--debug`, `--debug-script`), with commands
//! modelled on Bochs' internal debugger.
//!
//! - [`engine`]: stops, breakpoints of every kind, stepping, register and
//!   memory access, page walks, disassembly: the API a front end (the
//!   REPL here, a GDB remote stub later) drives;
//! - [`commands`]: the command language, parsed;
//! - [`repl`]: the text front end;
//! - [`trace`]: trace lines; [`disasm`]: iced-x86 behind one function;
//! - [`devices`]: `info device`.
//!
//! The breakpoints themselves are checked by the CPU
//! ([`crate::cpu::hooks`]), invisibly to the guest.

pub mod commands;
pub mod devices;
pub mod disasm;
pub mod engine;
pub mod repl;
pub mod trace;

use std::path::Path;

pub use engine::{Addr, Engine, Host, NoHost, Register, RunMode, StopReason};

use crate::machine::Machine;

// ----- the places later work plugs in ---------------------------------------

/// `save FILE`: write a snapshot of the machine. Machine snapshots are
/// being built on another branch; this is the one function to wire to
/// them.
pub fn save_state(m: &Machine, path: &Path) -> Result<(), String> {
    let _ = (m, path);
    Err("save: machine snapshots are not available yet".into())
}

/// `load FILE`: restore a snapshot written by [`save_state`].
pub fn load_state(m: &mut Machine, path: &Path) -> Result<(), String> {
    let _ = (m, path);
    Err("load: machine snapshots are not available yet".into())
}

/// A reverse-execution request (`rs n`, `rc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reverse {
    Step(u64),
    Continue,
}

/// `rs`/`rc`: run backwards. Needs snapshots and record/replay (restore
/// the nearest earlier snapshot, replay forward to the target instruction
/// count, or to the last breakpoint hit before the present for `rc`).
pub fn reverse(m: &mut Machine, engine: &mut Engine, what: Reverse) -> Result<StopReason, String> {
    let _ = (m, engine, what);
    Err("reverse execution needs record/replay, which is not available yet".into())
}
