//! oxbox: a full-system x86 PC emulator.
//!
//! The crate holds the CPU ([`cpu`]), the guest physical address space
//! ([`memory`]) and, as they arrive, the machine, firmware loaders, debugger
//! and front ends.

pub mod cpu;
pub mod debugger;
pub mod linux_boot;
pub mod machine;
pub mod memory;
pub mod replay;
pub mod savestate;
