//! oxbox's device model.
//!
//! A device owns its registers and answers port and MMIO accesses; it never
//! sees the CPU. The CPU reaches every device through the [`Bus`] trait, which
//! the machine implements by routing each access to the chip that decodes it.
//!
//! - [`clock`]: virtual time ([`VirtualTime`], nanoseconds since power-on)
//!   and exact clock-rate conversions ([`ClockRate`], [`PIT_CLOCK`]).
//! - [`device`]: the [`Device`] trait every chip implements (port and MMIO
//!   access at a time, `advance`, the next deadline, interrupt-line levels)
//!   and the [`PortMap`] decoder with the ISA bus's splitting of wide
//!   accesses.
//! - The chips, one file each, named after the part: [`pic8259`] (the
//!   8259A pair with the ELCR), [`pit8254`] (the 8254 and port 0x61),
//!   [`rtc`] (the MC146818A and CMOS RAM), [`dma8237`] (the 8237A pair and
//!   its page registers), [`fdc`] (the 82077AA floppy controller).
//! - [`platform`]: those chips wired as on an AT, with the scheduler the
//!   machine's run loop drives.
//!
//! Every device's state derives `Serialize`/`Deserialize`, for savestates.

pub mod atapi;
mod bcd;
pub mod bus;
pub mod clock;
pub mod device;
pub mod disk;
pub mod dma8237;
pub mod fdc;
pub mod i8042;
pub mod ide;
pub mod pci;
pub mod pic8259;
pub mod pit8254;
pub mod platform;
pub mod ps2;
pub mod rtc;
mod serde_util;
pub mod uart16550;
pub mod vga;

pub use bus::{Bus, IoSize, NullBus};
pub use clock::{ClockRate, Nanos, VirtualTime, PIT_CLOCK, RTC_CLOCK};
pub use device::{AccessWidths, Device, IrqMask, PortConflict, PortMap};
pub use pic8259::{DualPic, Pic8259};
pub use pit8254::Pit8254;
pub use platform::Platform;
pub use rtc::{DateTime, Rtc};
