//! A PC: the CPU, its memory, the firmware image and the devices on the bus.
//!
//! This is the seed of the full machine (issue 4 brings the PIC, PIT, RTC,
//! UART, keyboard controller, IDE and VGA): RAM, a firmware ROM mapped below
//! 1 MiB and at the top of the address space, and the two debug ports every
//! CPU test ROM and BIOS uses: the debug console at 0xE9 and POST codes at
//! 0x80.

use std::io::Write;

use crate::cpu::{Cpu, CpuModel, RunExit};
use oxbox_devices::{Bus, IoSize};

/// The Bochs/QEMU debug console port.
pub const DEBUGCON_PORT: u16 = 0xE9;
/// The POST diagnostic port.
pub const POST_PORT: u16 = 0x80;
/// The second POST port CPU test ROMs use (the 8086/286 test suites of the
/// PC community write here as well).
pub const POST_PORT_ALT: u16 = 0x190;

/// Largest firmware image oxbox maps below 1 MiB (0xC0000-0xFFFFF).
pub const MAX_ROM_SIZE: usize = 256 * 1024;

/// Why a firmware image was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RomError {
    Empty,
    TooLarge(usize),
}

impl std::fmt::Display for RomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RomError::Empty => write!(f, "the firmware image is empty"),
            RomError::TooLarge(n) => write!(
                f,
                "the firmware image is {n} bytes; at most {MAX_ROM_SIZE} bytes fit below 1 MiB"
            ),
        }
    }
}

impl std::error::Error for RomError {}

/// Everything the CPU reaches through port I/O and MMIO.
pub struct PcBus {
    rom: Vec<u8>,
    /// Physical address where the high alias of the ROM starts (the ROM's
    /// last byte is the last byte of the address space).
    rom_high_base: u32,
    debugcon: Box<dyn Write + Send>,
    /// Everything written to the debug console, for tests and headless runs.
    pub debugcon_log: Vec<u8>,
    pub post_code: u8,
    /// Every byte written to a POST port, in order.
    pub post_log: Vec<u8>,
    /// Also print each POST byte on the debug console as a line `POST xx`.
    pub print_post: bool,
}

impl PcBus {
    fn rom_byte(&self, addr: u32) -> Option<u8> {
        if addr >= self.rom_high_base {
            self.rom.get((addr - self.rom_high_base) as usize).copied()
        } else {
            None
        }
    }
}

impl Bus for PcBus {
    fn io_read(&mut self, port: u16, size: IoSize) -> u32 {
        match port {
            // Reading the debug console port returns 0xE9 (Bochs' "port E9
            // hack" detection).
            DEBUGCON_PORT => DEBUGCON_PORT as u32,
            POST_PORT => self.post_code as u32,
            _ => size.open_bus(),
        }
    }

    fn io_write(&mut self, port: u16, _size: IoSize, value: u32) {
        match port {
            DEBUGCON_PORT => {
                let b = value as u8;
                self.debugcon_log.push(b);
                // A closed stdout must not stop the guest.
                let _ = self.debugcon.write_all(&[b]);
                if b == b'\n' {
                    let _ = self.debugcon.flush();
                }
            }
            POST_PORT | POST_PORT_ALT => {
                let code = value as u8;
                self.post_code = code;
                self.post_log.push(code);
                if self.print_post {
                    let line = if self.debugcon_log.last().is_some_and(|&b| b != b'\n') {
                        format!("\nPOST {code:02x}\n")
                    } else {
                        format!("POST {code:02x}\n")
                    };
                    self.debugcon_log.extend_from_slice(line.as_bytes());
                    let _ = self.debugcon.write_all(line.as_bytes());
                    let _ = self.debugcon.flush();
                }
            }
            _ => {}
        }
    }

    fn mmio_read(&mut self, addr: u32, size: IoSize) -> u32 {
        let mut v = 0;
        for i in 0..size.bytes() {
            let b = self.rom_byte(addr.wrapping_add(i)).unwrap_or(0xFF);
            v |= (b as u32) << (8 * i);
        }
        v
    }
}

/// A PC and its run loop.
pub struct Machine {
    pub cpu: Cpu,
    pub bus: PcBus,
    /// A triple fault resets the machine, as on a PC (the keyboard
    /// controller pulls RESET on the CPU's shutdown cycle); when false the
    /// run ends instead (QEMU's -no-reboot).
    pub reset_on_triple_fault: bool,
    /// Triple faults seen so far.
    pub triple_faults: u64,
}

impl Machine {
    /// A machine with `ram_bytes` of RAM running `rom` from the reset vector.
    /// The debug console goes to `debugcon`.
    pub fn new(
        model: CpuModel,
        ram_bytes: usize,
        rom: &[u8],
        debugcon: Box<dyn Write + Send>,
    ) -> Result<Machine, RomError> {
        if rom.is_empty() {
            return Err(RomError::Empty);
        }
        if rom.len() > MAX_ROM_SIZE {
            return Err(RomError::TooLarge(rom.len()));
        }
        let addr_mask = model.quirks().address_bits;
        let top = if addr_mask >= 32 {
            u32::MAX
        } else {
            (1u32 << addr_mask) - 1
        };
        let rom_high_base = top - (rom.len() as u32 - 1);
        // RAM covers at least the first MiB (where the ROM is shadowed) and
        // stops below the ROM's alias at the top of the address space (a
        // 16 MiB 286 loses its top 64-128 KiB to the ROM, as on the AT).
        let mut ram = ram_bytes.max(1 << 20);
        if rom_high_base >= 0x10_0000 {
            ram = ram.min(rom_high_base as usize & !0xFFFF);
        }
        let mut cpu = Cpu::new(model, ram);
        let low_base = 0x10_0000 - rom.len() as u32;
        cpu.mem_mut().load(low_base, rom);
        Ok(Machine {
            reset_on_triple_fault: true,
            triple_faults: 0,
            cpu,
            bus: PcBus {
                rom: rom.to_vec(),
                rom_high_base,
                debugcon,
                debugcon_log: Vec::new(),
                post_code: 0,
                post_log: Vec::new(),
                print_post: false,
            },
        })
    }

    /// Run until the CPU halts for good, shuts down, or `max_instructions`
    /// retire. A HLT with interrupts enabled waits for an interrupt; with no
    /// interrupt sources yet, any HLT ends the run.
    pub fn run(&mut self, max_instructions: u64) -> RunExit {
        let end = self.cpu.instructions.saturating_add(max_instructions);
        let exit = loop {
            let budget = end.saturating_sub(self.cpu.instructions);
            match self.cpu.run(&mut self.bus, budget) {
                RunExit::Shutdown => {
                    self.triple_faults += 1;
                    if !self.reset_on_triple_fault {
                        break RunExit::Shutdown;
                    }
                    tracing::debug!("triple fault: resetting the machine");
                    self.cpu.reset();
                }
                other => break other,
            }
        };
        let _ = self.bus.debugcon.flush();
        exit
    }
}
