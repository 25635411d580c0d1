//! oxbox's device model.
//!
//! A device owns its registers and answers port and MMIO accesses; it never
//! sees the CPU. The CPU reaches every device through the [`Bus`] trait, which
//! the machine implements by routing each access to the chip that decodes it.

pub mod bus;

pub use bus::{Bus, IoSize, NullBus};
