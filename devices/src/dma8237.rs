//! The AT's ISA DMA: two Intel 8237A controllers and the 74LS612 page
//! registers.
//!
//! References: Intel 8237A "High Performance Programmable DMA Controller"
//! datasheet (order no. 231466), "Register Description" (Current/Base
//! Address and Word Count, Command, Mode, Request, Mask, Status and
//! Temporary registers; the byte pointer flip-flop; the software commands
//! Clear Byte Pointer Flip-Flop, Master Clear, Clear Mask Register) and
//! "Autoinitialize"; IBM PC/AT Technical Reference, "DMA Controller"
//! (the cascade of DMA 1 on channel 4 of DMA 2, word transfers on
//! channels 5-7, the page register ports).
//!
//! # Wiring
//!
//! | chip  | channels         | ports                       | unit  |
//! |-------|------------------|-----------------------------|-------|
//! | DMA 1 | 0-3              | 0x00-0x0F                   | byte  |
//! | DMA 2 | 4-7 (4: cascade) | 0xC0-0xDF (A0 ignored)      | word  |
//!
//! Page registers at 0x81-0x8F give address bits 23-16: 0x87 channel 0,
//! 0x83 channel 1, 0x81 channel 2, 0x82 channel 3, 0x8F channel 4, 0x8B
//! channel 5, 0x89 channel 6, 0x8A channel 7; the rest are spare latches
//! that read back what was written. Port 0x80, also a spare latch on the
//! AT, is where POST codes go: the machine keeps it (reading it back gives
//! the same answer).
//!
//! # Transfers
//!
//! The controller cannot see memory: the machine implements
//! [`DmaMemory`] and calls [`Dma8237::transfer`] when a device raises its
//! DREQ and the channel can serve it ([`Dma8237::ready`]). The transfer
//! moves as many bytes as the device offers or takes, in runs inside the
//! 64 KiB (byte channels) or 128 KiB (word channels) page, as the
//! hardware does: the address counter wraps inside the page, the page
//! register does not count. Terminal count sets the status bit, reaches the
//! device with the last byte (EOP#), and either reloads the base registers (autoinitialize)
//! or masks the channel. Single, block and demand modes move the same
//! bytes; they differ only in bus timing, which is not modelled.

use serde::{Deserialize, Serialize};

use crate::bus::{DmaMemory, IoSize};
use crate::clock::VirtualTime;
use crate::device::Device;

/// The device end of a DMA channel: its DREQ line and its data.
///
/// `tc` says that the last byte of the run offered is the channel's
/// terminal count: a device that moves the whole run sees EOP# with its
/// last byte, as on the bus, before it decides what comes next.
pub trait DmaDevice {
    /// Whether DREQ is asserted.
    fn dreq(&self) -> bool;
    /// A transfer to memory (the 8237's "write transfer"): fill the front
    /// of `buf` with the device's next bytes; returns how many it had.
    fn dma_read(&mut self, buf: &mut [u8], tc: bool) -> usize;
    /// A transfer from memory: take the front of `data`; returns how many
    /// bytes the device took.
    fn dma_write(&mut self, data: &[u8], tc: bool) -> usize;
}

// Mode register fields.
const MODE_TYPE: u8 = 0x0C;
const TYPE_VERIFY: u8 = 0x00;
const TYPE_WRITE: u8 = 0x04;
const TYPE_READ: u8 = 0x08;
const MODE_AUTOINIT: u8 = 0x10;
const MODE_DECREMENT: u8 = 0x20;
const MODE_CASCADE: u8 = 0xC0;
/// Command register: controller disable.
const COMMAND_DISABLE: u8 = 0x04;

/// Page register port offsets (from 0x80) of channels 0-7.
const PAGE_PORT: [usize; 8] = [7, 3, 1, 2, 0xF, 0xB, 9, 0xA];

/// The longest run moved per device call: one floppy sector is 512 bytes,
/// and the buffer lives on the stack.
const RUN: usize = 4096;

/// One 8237A.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Chip {
    base_address: [u16; 4],
    base_count: [u16; 4],
    address: [u16; 4],
    count: [u16; 4],
    mode: [u8; 4],
    command: u8,
    /// Bits 0-3 terminal count reached (cleared on read); 4-7 requests.
    status: u8,
    /// Software requests (request register), bits 0-3.
    request: u8,
    /// Mask bits 0-3: a set bit blocks the channel.
    mask: u8,
    temporary: u8,
    /// The byte pointer flip-flop: false = low byte next.
    high_byte: bool,
}

impl Chip {
    fn powered_on() -> Chip {
        Chip {
            mask: 0x0F,
            ..Chip::default()
        }
    }

    /// Master Clear: as the RESET pin (all masks set).
    fn master_clear(&mut self) {
        self.command = 0;
        self.status = 0;
        self.request = 0;
        self.temporary = 0;
        self.high_byte = false;
        self.mask = 0x0F;
    }

    fn flip(&mut self) -> bool {
        let hi = self.high_byte;
        self.high_byte = !hi;
        hi
    }

    fn read(&mut self, reg: u8) -> u8 {
        let ch = (reg >> 1) as usize & 3;
        match reg {
            0..=7 => {
                let v = if reg & 1 == 0 {
                    self.address[ch]
                } else {
                    self.count[ch]
                };
                if self.flip() {
                    (v >> 8) as u8
                } else {
                    v as u8
                }
            }
            8 => {
                let v = self.status;
                self.status &= 0xF0;
                v
            }
            0xD => self.temporary,
            // The mask register reads back on the AT chipsets that
            // integrate the 8237 (PIIX3); the original reads float.
            0xF => self.mask | 0xF0,
            _ => 0xFF,
        }
    }

    fn write(&mut self, reg: u8, v: u8) {
        let ch = (reg >> 1) as usize & 3;
        match reg {
            0..=7 => {
                let hi = self.flip();
                let set = |r: &mut u16| {
                    *r = if hi {
                        (*r & 0x00FF) | (v as u16) << 8
                    } else {
                        (*r & 0xFF00) | v as u16
                    }
                };
                // Writes load the base and the current register together.
                if reg & 1 == 0 {
                    set(&mut self.base_address[ch]);
                    set(&mut self.address[ch]);
                } else {
                    set(&mut self.base_count[ch]);
                    set(&mut self.count[ch]);
                }
            }
            8 => self.command = v,
            9 => {
                let bit = 1 << (v & 3);
                if v & 4 != 0 {
                    self.request |= bit;
                } else {
                    self.request &= !bit;
                }
            }
            0xA => {
                let bit = 1 << (v & 3);
                if v & 4 != 0 {
                    self.mask |= bit;
                } else {
                    self.mask &= !bit;
                }
            }
            0xB => self.mode[v as usize & 3] = v & 0xFC,
            0xC => self.high_byte = false,
            0xD => self.master_clear(),
            0xE => self.mask = 0,
            0xF => self.mask = v & 0x0F,
            _ => {}
        }
    }
}

/// Both 8237As with their page registers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dma8237 {
    chips: [Chip; 2],
    /// The 16 page latches at 0x80-0x8F (index 0, port 0x80, is unused
    /// here: the machine's POST port).
    pages: [u8; 16],
}

impl Default for Dma8237 {
    fn default() -> Self {
        Dma8237::new()
    }
}

impl Dma8237 {
    /// The FDC's channel.
    pub const FLOPPY_CHANNEL: usize = 2;

    /// Both chips as after RESET: every channel masked.
    pub fn new() -> Dma8237 {
        Dma8237 {
            chips: [Chip::powered_on(), Chip::powered_on()],
            pages: [0; 16],
        }
    }

    /// Whether the controller decodes `port` (0x80, the POST port, is
    /// left to the machine).
    pub fn decodes(port: u16) -> bool {
        matches!(port, 0x00..=0x0F | 0x81..=0x8F | 0xC0..=0xDF)
    }

    /// The ports to map: (first, count).
    pub const PORTS: [(u16, u16); 3] = [(0x00, 16), (0x81, 15), (0xC0, 32)];

    pub fn read_byte(&mut self, port: u16) -> u8 {
        match port {
            0x00..=0x0F => self.chips[0].read(port as u8),
            0x81..=0x8F => self.pages[port as usize - 0x80],
            0xC0..=0xDF => self.chips[1].read(((port - 0xC0) >> 1) as u8),
            _ => 0xFF,
        }
    }

    pub fn write_byte(&mut self, port: u16, v: u8) {
        match port {
            0x00..=0x0F => self.chips[0].write(port as u8, v),
            0x81..=0x8F => self.pages[port as usize - 0x80] = v,
            0xC0..=0xDF => self.chips[1].write(((port - 0xC0) >> 1) as u8, v),
            _ => {}
        }
    }

    fn chip(&self, channel: usize) -> (&Chip, usize) {
        (&self.chips[(channel >> 2) & 1], channel & 3)
    }

    /// Whether `channel` (0-7) would serve a DREQ now: its chip enabled,
    /// the channel unmasked and not in cascade mode, and for DMA 1 its
    /// cascade input (channel 4 of DMA 2) unmasked on an enabled chip.
    pub fn ready(&self, channel: usize) -> bool {
        let (chip, ch) = self.chip(channel);
        let own = chip.command & COMMAND_DISABLE == 0
            && chip.mask & (1 << ch) == 0
            && chip.mode[ch] & MODE_CASCADE != MODE_CASCADE;
        let path = channel >= 4
            || (self.chips[1].mask & 1 == 0 && self.chips[1].command & COMMAND_DISABLE == 0);
        own && path
    }

    /// Show a device's DREQ in the status register (bits 4-7).
    pub fn set_dreq(&mut self, channel: usize, level: bool) {
        let chip = &mut self.chips[(channel >> 2) & 1];
        let bit = 0x10 << (channel & 3);
        if level {
            chip.status |= bit;
        } else {
            chip.status &= !bit;
        }
    }

    /// The physical address of `channel`'s current address register.
    fn physical(&self, channel: usize) -> u32 {
        let (chip, ch) = self.chip(channel);
        let page = self.pages[PAGE_PORT[channel & 7]] as u32;
        if channel >= 4 {
            // Word channels: A16 comes from the address counter, the
            // page register supplies A23-A17.
            (page & 0xFE) << 16 | (chip.address[ch] as u32) << 1
        } else {
            page << 16 | chip.address[ch] as u32
        }
    }

    /// Serve `dev`'s request on `channel` (0-7): move bytes between it
    /// and `mem` while it asserts DREQ and the channel is ready.
    pub fn transfer(&mut self, channel: usize, dev: &mut dyn DmaDevice, mem: &mut dyn DmaMemory) {
        let channel = channel & 7;
        let unit = if channel >= 4 { 2 } else { 1 };
        let mut buf = [0u8; RUN];
        while dev.dreq() && self.ready(channel) {
            let (chip, ch) = self.chip(channel);
            let mode = chip.mode[ch];
            let units_left = chip.count[ch] as usize + 1;
            let decrement = mode & MODE_DECREMENT != 0;
            // A run stays inside the page: the address counter wraps at
            // 16 bits, the page register does not count.
            let to_wrap = if decrement {
                1
            } else {
                0x1_0000 - chip.address[ch] as usize
            };
            let units = units_left.min(to_wrap).min(RUN / unit);
            let bytes = units * unit;
            let tc = units == units_left;
            let addr = self.physical(channel);
            let moved = match mode & MODE_TYPE {
                TYPE_WRITE => {
                    let n = dev.dma_read(&mut buf[..bytes], tc);
                    mem.write(addr, &buf[..n]);
                    n
                }
                TYPE_READ => {
                    mem.read(addr, &mut buf[..bytes]);
                    dev.dma_write(&buf[..bytes], tc)
                }
                TYPE_VERIFY => dev.dma_read(&mut buf[..bytes], tc),
                // Type 11 is illegal: nothing moves.
                _ => 0,
            };
            let units_moved = moved / unit;
            if units_moved == 0 {
                break;
            }
            let chip = &mut self.chips[(channel >> 2) & 1];
            chip.address[ch] = if decrement {
                chip.address[ch].wrapping_sub(units_moved as u16)
            } else {
                chip.address[ch].wrapping_add(units_moved as u16)
            };
            if units_moved < units_left {
                chip.count[ch] -= units_moved as u16;
                continue;
            }
            // Terminal count: the count rolled over from 0 to FFFFh.
            chip.count[ch] = 0xFFFF;
            chip.status |= 1 << ch;
            chip.request &= !(1 << ch);
            if mode & MODE_AUTOINIT != 0 {
                chip.address[ch] = chip.base_address[ch];
                chip.count[ch] = chip.base_count[ch];
            } else {
                chip.mask |= 1 << ch;
            }
        }
    }
}

impl Device for Dma8237 {
    fn io_read(&mut self, _now: VirtualTime, port: u16, size: IoSize) -> u32 {
        (0..size.bytes() as u16).fold(0, |v, i| {
            v | (self.read_byte(port.wrapping_add(i)) as u32) << (8 * i)
        })
    }

    fn io_write(&mut self, _now: VirtualTime, port: u16, size: IoSize, value: u32) {
        for i in 0..size.bytes() as u16 {
            self.write_byte(port.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }
}
