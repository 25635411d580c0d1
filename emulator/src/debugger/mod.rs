//! oxbox's built-in debugger (`--debug`, `--debug-script`), with commands
//! modelled on Bochs' internal debugger.
//!
//! - [`engine`]: stops, breakpoints of every kind, stepping, register and
//!   memory access, page walks, disassembly: the API a front end (the
//!   REPL here, the GDB remote stub) drives;
//! - [`gdb`]: the GDB remote stub (`--gdb`);
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
pub mod gdb;
pub mod repl;
pub mod trace;

use std::path::Path;

pub use engine::{Addr, Engine, Host, NoHost, Register, RunMode, StopReason};

use crate::machine::Machine;

// ----- the places later work plugs in ---------------------------------------

/// `save FILE`: write the machine's state file ([`crate::savestate`]).
pub fn save_state(m: &mut Machine, path: &Path) -> Result<(), String> {
    m.snapshot()
        .and_then(|s| s.save(path))
        .map_err(|e| format!("save {}: {e}", path.display()))
}

/// `load FILE`: restore a state file written by [`save_state`] (or
/// `--savevm`); the machine must be configured as the saved one.
pub fn load_state(m: &mut Machine, path: &Path) -> Result<(), String> {
    crate::savestate::Snapshot::load(path)
        .and_then(|s| m.restore(&s))
        .map_err(|e| format!("load {}: {e}", path.display()))
}

/// A reverse-execution request (`rs n`, `rc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reverse {
    Step(u64),
    Continue,
}

/// `rs`/`rc`: run backwards: restore the newest of the engine's
/// snapshots before the target and re-execute forward (replaying the
/// logged inputs) to the target instruction count, or for `rc` to the
/// last breakpoint hit before the present.
pub fn reverse(m: &mut Machine, engine: &mut Engine, what: Reverse) -> Result<StopReason, String> {
    match what {
        Reverse::Step(n) => engine.reverse_step(m, n),
        Reverse::Continue => engine.reverse_continue(m),
    }
}
