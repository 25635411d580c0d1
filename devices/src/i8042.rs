//! The Intel 8042 keyboard controller as the PS/2-compatible AT uses it:
//! data port 0x60, status/command port 0x64, a PS/2 keyboard on its first
//! port (IRQ 1) and a PS/2 mouse on its auxiliary port (IRQ 12), the
//! output port carrying the A20 gate and the CPU reset line.
//!
//! Reference: IBM, "Personal System/2 Hardware Interface Technical
//! Reference" (1988), "Keyboard and Auxiliary Device Controller": the
//! status register, the controller command byte, the commands 0x20-0xFF,
//! the input and output ports, and the scan code translation table (set 2
//! to set 1); IBM PC AT Technical Reference (1984), "Keyboard controller"
//! for the AT's use of output port bits 0 (reset) and 1 (A20); Intel,
//! "UPI-41A/41AH/42/42AH Universal Peripheral Interface 8-bit Slave
//! Microcontroller" for the IBF/OBF handshake and the A2 (command/data)
//! flag. The keyboard and mouse are in [`crate::ps2`].
//!
//! # Time
//!
//! A byte from the keyboard or mouse takes [`PS2_BYTE_TIME`] (11 bits at
//! the devices' ~12 kHz clock) to reach the output buffer; the controller
//! starts clocking one in only while the buffer is empty and that port is
//! enabled, keyboard first. Its own replies (self-test, command byte,
//! output port) appear at once, except that after a read of port 0x60 the
//! buffer stays empty for [`REFILL_GAP`], so that an interrupt line that
//! a read dropped is seen low before the next byte raises it again (the
//! 8259 wants an edge). Typematic repeats and mouse reports at the
//! programmed sample rate happen in virtual time; each of these is a
//! deadline. (The gap does not hold back a reply to a command written
//! after the read: that write is an access of its own, after which the
//! low line has been seen.)
//!
//! The input buffer is consumed at once, so IBF always reads clear.
//!
//! # The machine's side
//!
//! Host keys and mouse motion come in through [`I8042::key_event`],
//! [`I8042::mouse_motion`] and [`I8042::mouse_wheel`] (advance the
//! controller to the same time first, as for a port access). After port
//! writes the machine looks at [`I8042::a20`] and
//! [`I8042::take_reset_request`] (commands 0xD1 and 0xF0-0xFF pulse the
//! CPU's RESET, which resets the CPU only, not this chip).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::{earliest, Nanos, VirtualTime};
use crate::device::{Device, IrqMask};
use crate::ps2::{Key, Ps2Keyboard, Ps2Mouse};

/// The data port: the output buffer (read), the input buffer (write).
pub const I8042_DATA: u16 = 0x60;
/// The status register (read), the command port (write).
pub const I8042_COMMAND: u16 = 0x64;
/// The keyboard's interrupt line.
pub const KEYBOARD_IRQ: u8 = 1;
/// The mouse's interrupt line.
pub const MOUSE_IRQ: u8 = 12;

/// One byte over a PS/2 cable: 11 bits at 12 kHz.
pub const PS2_BYTE_TIME: Nanos = 916_667;
/// How long the output buffer stays empty after it was read before the
/// controller puts its next reply there.
pub const REFILL_GAP: Nanos = 2_000;

// Status register.
const STATUS_OBF: u8 = 0x01;
const STATUS_SYS: u8 = 0x04;
const STATUS_A2: u8 = 0x08;
/// The keylock switch reads "not inhibited".
const STATUS_UNLOCKED: u8 = 0x10;
const STATUS_AUX: u8 = 0x20;
// Controller command byte (RAM byte 0).
const CB_KBD_INT: u8 = 0x01;
const CB_AUX_INT: u8 = 0x02;
const CB_SYS: u8 = 0x04;
const CB_KBD_DISABLE: u8 = 0x10;
const CB_AUX_DISABLE: u8 = 0x20;
const CB_TRANSLATE: u8 = 0x40;
/// At power-on: keyboard interrupts on, mouse port off, translation on,
/// the system flag clear (a cold boot).
const CB_POWER_ON: u8 = CB_KBD_INT | CB_AUX_DISABLE | CB_TRANSLATE;
// Output port.
const OUT_RESET: u8 = 0x01;
const OUT_A20: u8 = 0x02;
const OUT_KBD_OBF: u8 = 0x10;
const OUT_AUX_OBF: u8 = 0x20;
/// Reset inactive, A20 on, keyboard clock and data high.
const OUT_POWER_ON: u8 = 0xCF;
/// Input port: keyboard not inhibited, colour display.
const INPUT_PORT: u8 = 0x80;
/// More controller replies than this waiting are dropped.
const REPLY_LIMIT: usize = 16;

/// The 8042's translation of scan code set 2 into set 1, applied to every
/// byte from the keyboard while command byte bit 6 is set; 0xF0 (break)
/// sets bit 7 of the next byte's translation instead of passing through.
const TRANSLATE: [u8; 256] = {
    const LOW: [u8; 128] = [
        0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29,
        0x59, 0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11,
        0x03, 0x5b, 0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14,
        0x13, 0x06, 0x5d, 0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24,
        0x16, 0x08, 0x09, 0x5f, 0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35,
        0x26, 0x27, 0x19, 0x0c, 0x61, 0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36,
        0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76, 0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c,
        0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f, 0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
        0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
    ];
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 128 { LOW[i] } else { i as u8 };
        i += 1;
    }
    // F7 and Alt+Print Screen have set-2 codes above 0x7F.
    t[0x83] = 0x41;
    t[0x84] = 0x54;
    t
};

/// Translate a run of set-2 bytes as the controller does (for tests and
/// front ends that want to know what a translated guest sees).
pub fn translate_set2(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut brk = false;
    for &b in bytes {
        if b == 0xF0 {
            brk = true;
        } else {
            out.push(TRANSLATE[b as usize] | if brk { 0x80 } else { 0 });
            brk = false;
        }
    }
    out
}

/// A byte in the output buffer, and which device it is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OutByte {
    value: u8,
    aux: bool,
}

/// A byte being clocked in from a device; it leaves the device's buffer
/// when it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Transfer {
    aux: bool,
    done: VirtualTime,
}

/// The controller with its keyboard and mouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct I8042 {
    /// The controller's RAM as commands 0x20-0x3F/0x60-0x7F see it; byte
    /// 0 is the command byte.
    ram: [u8; 32],
    output: Option<OutByte>,
    /// What a read of port 0x60 returns with the buffer empty.
    last_output: u8,
    /// Controller replies waiting for the output buffer.
    replies: VecDeque<OutByte>,
    transfer: Option<Transfer>,
    /// The output buffer is not refilled from `replies` before this.
    refill_at: VirtualTime,
    /// A command waiting for its data byte at port 0x60.
    pending: Option<u8>,
    /// The last write went to port 0x64 (status bit 3).
    last_write_command: bool,
    output_port: u8,
    reset_request: bool,
    /// Translation saw a 0xF0 break prefix.
    break_prefix: bool,
    now: VirtualTime,
    keyboard: Ps2Keyboard,
    mouse: Ps2Mouse,
}

impl Default for I8042 {
    fn default() -> Self {
        I8042::new()
    }
}

impl I8042 {
    /// The controller, keyboard and mouse at power-on.
    pub fn new() -> I8042 {
        let mut ram = [0; 32];
        ram[0] = CB_POWER_ON;
        I8042 {
            ram,
            output: None,
            last_output: 0,
            replies: VecDeque::new(),
            transfer: None,
            refill_at: VirtualTime::ZERO,
            pending: None,
            last_write_command: false,
            output_port: OUT_POWER_ON,
            reset_request: false,
            break_prefix: false,
            now: VirtualTime::ZERO,
            keyboard: Ps2Keyboard::new(),
            mouse: Ps2Mouse::new(),
        }
    }

    pub fn keyboard(&self) -> &Ps2Keyboard {
        &self.keyboard
    }

    pub fn mouse(&self) -> &Ps2Mouse {
        &self.mouse
    }

    /// The controller command byte.
    pub fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    /// The A20 gate (output port bit 1).
    pub fn a20(&self) -> bool {
        self.output_port & OUT_A20 != 0
    }

    /// Whether the guest pulsed the CPU's reset line since the last call.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// The time the controller has been brought to.
    pub fn now(&self) -> VirtualTime {
        self.now
    }

    // ---- Host input ------------------------------------------------------

    /// A key went down (`pressed`) or up on the host at `now`.
    pub fn key_event(&mut self, now: VirtualTime, key: Key, pressed: bool) {
        self.run_until(now);
        self.keyboard.key_event(self.now, key, pressed);
        self.pump(self.now);
    }

    /// The host mouse moved by (`dx`, `dy`) counts (`dy` positive down)
    /// with `buttons` (see [`crate::ps2::buttons`]) held, at `now`.
    pub fn mouse_motion(&mut self, now: VirtualTime, dx: i32, dy: i32, buttons: u8) {
        self.run_until(now);
        self.mouse.input(self.now, dx, dy, 0, buttons);
        self.pump(self.now);
    }

    /// The host mouse wheel turned by `dz` notches (positive towards the
    /// user), with `buttons` held.
    pub fn mouse_wheel(&mut self, now: VirtualTime, dz: i32, buttons: u8) {
        self.run_until(now);
        self.mouse.input(self.now, 0, 0, dz, buttons);
        self.pump(self.now);
    }

    // ---- The output buffer ----------------------------------------------

    fn translating(&self) -> bool {
        self.ram[0] & CB_TRANSLATE != 0
    }

    /// A reply from the controller itself.
    fn reply(&mut self, value: u8, aux: bool) {
        if self.replies.len() < REPLY_LIMIT {
            self.replies.push_back(OutByte { value, aux });
        }
    }

    /// Fill the output buffer if it is empty: a controller reply, else
    /// start clocking in a byte from an enabled device with one to send.
    fn pump(&mut self, t: VirtualTime) {
        if self.output.is_some() {
            return;
        }
        if !self.replies.is_empty() {
            if t >= self.refill_at {
                self.output = self.replies.pop_front();
            }
            return;
        }
        if self.transfer.is_some() {
            return;
        }
        let cb = self.ram[0];
        let aux = if cb & CB_KBD_DISABLE == 0 && self.keyboard.has_output() {
            false
        } else if cb & CB_AUX_DISABLE == 0 && self.mouse.has_output() {
            true
        } else {
            return;
        };
        self.transfer = Some(Transfer {
            aux,
            done: t.add_nanos(PS2_BYTE_TIME),
        });
    }

    /// A byte from a device has arrived at `t`.
    fn finish_transfer(&mut self, t: VirtualTime) {
        let Some(x) = self.transfer.take() else {
            return;
        };
        if self.output.is_some() {
            // A controller reply got there first: the device sends again.
            return;
        }
        if x.aux {
            if let Some(value) = self.mouse.take() {
                self.output = Some(OutByte { value, aux: true });
            }
            self.mouse.try_report(t);
        } else if let Some(b) = self.keyboard.take(t) {
            if !self.translating() {
                self.output = Some(OutByte {
                    value: b,
                    aux: false,
                });
            } else if b == 0xF0 {
                self.break_prefix = true;
            } else {
                let brk = if std::mem::take(&mut self.break_prefix) {
                    0x80
                } else {
                    0
                };
                self.output = Some(OutByte {
                    value: TRANSLATE[b as usize] | brk,
                    aux: false,
                });
            }
        }
        self.pump(t);
    }

    /// Abort a byte being clocked in from the keyboard (`aux` false) or
    /// mouse: the host is talking to it or disabled its port.
    fn cancel_transfer(&mut self, aux: bool) {
        if self.transfer.is_some_and(|x| x.aux == aux) {
            self.transfer = None;
        }
    }

    // ---- Time ------------------------------------------------------------

    fn refill_event(&self) -> Option<VirtualTime> {
        (self.output.is_none() && !self.replies.is_empty() && self.refill_at > self.now)
            .then_some(self.refill_at)
    }

    fn next_event(&self) -> Option<VirtualTime> {
        earliest([
            self.transfer.map(|x| x.done),
            self.refill_event(),
            self.keyboard.next_event(),
            self.mouse.next_event(),
        ])
    }

    /// Run every event up to `now` in order; returns the lines that rose.
    fn run_until(&mut self, now: VirtualTime) -> IrqMask {
        let mut levels = self.irq_lines();
        let mut rose = 0;
        while let Some(t) = self.next_event() {
            if t > now {
                break;
            }
            // Events are never behind the controller's time; the max only
            // guards progress.
            let t = t.max(self.now);
            self.now = t;
            if self.transfer.is_some_and(|x| x.done <= t) {
                self.finish_transfer(t);
            }
            self.keyboard.run_until(t);
            self.mouse.try_report(t);
            self.pump(t);
            let after = self.irq_lines();
            rose |= after & !levels;
            levels = after;
        }
        self.now = self.now.max(now);
        self.pump(self.now);
        rose | (self.irq_lines() & !levels)
    }

    fn irq_lines(&self) -> IrqMask {
        let cb = self.ram[0];
        match self.output {
            Some(OutByte { aux: false, .. }) if cb & CB_KBD_INT != 0 => 1 << KEYBOARD_IRQ,
            Some(OutByte { aux: true, .. }) if cb & CB_AUX_INT != 0 => 1 << MOUSE_IRQ,
            _ => 0,
        }
    }

    // ---- Registers -------------------------------------------------------

    fn status(&self) -> u8 {
        let mut s = STATUS_UNLOCKED;
        if let Some(o) = self.output {
            s |= STATUS_OBF;
            if o.aux {
                s |= STATUS_AUX;
            }
        }
        if self.ram[0] & CB_SYS != 0 {
            s |= STATUS_SYS;
        }
        if self.last_write_command {
            s |= STATUS_A2;
        }
        s
    }

    fn read_output_port(&self) -> u8 {
        let mut v = self.output_port & !(OUT_KBD_OBF | OUT_AUX_OBF);
        match self.output {
            Some(OutByte { aux: false, .. }) => v |= OUT_KBD_OBF,
            Some(OutByte { aux: true, .. }) => v |= OUT_AUX_OBF,
            None => {}
        }
        v
    }

    fn write_output_port(&mut self, v: u8) {
        if v & OUT_RESET == 0 {
            self.reset_request = true;
        }
        // The reset line is pulsed, not held: the CPU comes out of reset.
        self.output_port = v | OUT_RESET;
    }

    fn write_command_byte(&mut self, v: u8) {
        let old = self.ram[0];
        self.ram[0] = v;
        if v & CB_KBD_DISABLE != 0 {
            self.cancel_transfer(false);
        }
        if v & CB_AUX_DISABLE != 0 {
            self.cancel_transfer(true);
        }
        if (old ^ v) & CB_TRANSLATE != 0 {
            self.break_prefix = false;
        }
    }

    fn command(&mut self, c: u8) {
        tracing::debug!(target: "oxbox::kbc", "controller command {c:#04x}");
        self.pending = None;
        match c {
            0x20..=0x3F => self.reply(self.ram[(c & 0x1F) as usize], false),
            0x60..=0x7F | 0xD1..=0xD4 => self.pending = Some(c),
            // Password installed? No.
            0xA4 => self.reply(0xF1, false),
            0xA7 => self.write_command_byte(self.ram[0] | CB_AUX_DISABLE),
            0xA8 => self.write_command_byte(self.ram[0] & !CB_AUX_DISABLE),
            // Interface tests: no fault.
            0xA9 | 0xAB => self.reply(0x00, false),
            0xAA => {
                self.write_command_byte(self.ram[0] | CB_SYS);
                self.reply(0x55, false);
            }
            0xAD => self.write_command_byte(self.ram[0] | CB_KBD_DISABLE),
            0xAE => self.write_command_byte(self.ram[0] & !CB_KBD_DISABLE),
            0xC0 => self.reply(INPUT_PORT, false),
            0xD0 => self.reply(self.read_output_port(), false),
            // The A20 commands of some controllers (HP Vectra).
            0xDD => self.output_port &= !OUT_A20,
            0xDF => self.output_port |= OUT_A20,
            // Test inputs: keyboard clock and data low.
            0xE0 => self.reply(0x00, false),
            // 0xF0-0xFF pulse output port bits 0-3 low where the
            // command's are 0; only bit 0, the CPU's reset, matters.
            0xF0..=0xFF if c & OUT_RESET == 0 => self.reset_request = true,
            // Anything else (0xC1/0xC2 input port polling, 0xA5 password,
            // vendor commands) is ignored.
            _ => {}
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.pending.take() {
            Some(c @ 0x60..=0x7F) => {
                let i = (c & 0x1F) as usize;
                if i == 0 {
                    self.write_command_byte(v);
                } else {
                    self.ram[i] = v;
                }
            }
            Some(0xD1) => self.write_output_port(v),
            Some(0xD2) => self.reply(v, false),
            Some(0xD3) => self.reply(v, true),
            Some(0xD4) => {
                self.cancel_transfer(true);
                self.mouse.write(v);
                // A command may have made room for a report that waited.
                self.mouse.try_report(self.now);
            }
            _ => {
                // To the keyboard; sending to it enables its port.
                self.cancel_transfer(false);
                self.ram[0] &= !CB_KBD_DISABLE;
                self.keyboard.write(self.now, v);
            }
        }
    }

    /// Read port 0x60 or 0x64 at `now`.
    pub fn read_port(&mut self, now: VirtualTime, port: u16) -> u8 {
        self.run_until(now);
        match port {
            I8042_DATA => {
                let v = match self.output.take() {
                    Some(o) => {
                        self.last_output = o.value;
                        self.refill_at = self.now.add_nanos(REFILL_GAP);
                        o.value
                    }
                    None => self.last_output,
                };
                self.pump(self.now);
                v
            }
            I8042_COMMAND => self.status(),
            _ => 0xFF,
        }
    }

    /// Write port 0x60 or 0x64 at `now`.
    pub fn write_port(&mut self, now: VirtualTime, port: u16, value: u8) {
        self.run_until(now);
        // A separate access since the last read: the interrupt line has
        // been seen low, so a reply may fill the buffer at once.
        self.refill_at = self.refill_at.min(self.now);
        match port {
            I8042_DATA => {
                self.last_write_command = false;
                self.write_data(value);
            }
            I8042_COMMAND => {
                self.last_write_command = true;
                self.command(value);
            }
            _ => return,
        }
        self.pump(self.now);
    }
}

impl Device for I8042 {
    fn io_read(&mut self, now: VirtualTime, port: u16, _size: IoSize) -> u32 {
        self.read_port(now, port) as u32
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, _size: IoSize, value: u32) {
        self.write_port(now, port, value as u8);
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        self.run_until(now)
    }

    /// The arrival of the next device byte, a controller reply after the
    /// refill gap, a typematic repeat or a mouse report.
    fn next_deadline(&self) -> Option<VirtualTime> {
        self.next_event()
    }

    fn irq_levels(&self) -> IrqMask {
        self.irq_lines()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ps2::buttons;

    fn out(k: &mut I8042, port: u16, v: u8) {
        let now = k.now();
        k.write_port(now, port, v);
    }

    fn status(k: &mut I8042) -> u8 {
        let now = k.now();
        k.read_port(now, I8042_COMMAND)
    }

    /// Wait (in virtual time) for the output buffer, like a driver with a
    /// timeout, and read it.
    fn read(k: &mut I8042) -> Option<u8> {
        for _ in 0..10_000 {
            if status(k) & STATUS_OBF != 0 {
                let now = k.now();
                return Some(k.read_port(now, I8042_DATA));
            }
            let t = k.now().add_nanos(10_000);
            k.advance(t);
        }
        None
    }

    fn read_all(k: &mut I8042) -> Vec<u8> {
        std::iter::from_fn(|| read(k)).collect()
    }

    fn command(k: &mut I8042, c: u8) {
        out(k, I8042_COMMAND, c);
    }

    fn command_data(k: &mut I8042, c: u8, v: u8) {
        out(k, I8042_COMMAND, c);
        out(k, I8042_DATA, v);
    }

    /// As a BIOS leaves it: both ports and interrupts on, translation on.
    fn booted() -> I8042 {
        let mut k = I8042::new();
        command_data(&mut k, 0x60, 0x47);
        k
    }

    #[test]
    fn power_on_state() {
        let mut k = I8042::new();
        assert_eq!(status(&mut k), STATUS_UNLOCKED);
        assert!(k.a20());
        assert_eq!(k.command_byte(), 0x61);
        assert_eq!(k.next_deadline(), None);
        assert_eq!(k.irq_levels(), 0);
    }

    #[test]
    fn self_test_interface_tests_and_system_flag() {
        let mut k = I8042::new();
        command(&mut k, 0xAA);
        assert_eq!(status(&mut k) & (STATUS_OBF | STATUS_SYS | STATUS_A2), 0x0D);
        assert_eq!(read(&mut k), Some(0x55));
        command(&mut k, 0xAB);
        assert_eq!(read(&mut k), Some(0x00));
        command(&mut k, 0xA9);
        assert_eq!(read(&mut k), Some(0x00));
        command(&mut k, 0xA4);
        assert_eq!(read(&mut k), Some(0xF1));
        command(&mut k, 0xC0);
        assert_eq!(read(&mut k), Some(0x80));
        assert_eq!(read(&mut k), None);
    }

    #[test]
    fn command_byte_and_ram_read_back() {
        let mut k = I8042::new();
        command_data(&mut k, 0x60, 0x47);
        command(&mut k, 0x20);
        assert_eq!(read(&mut k), Some(0x47));
        assert_eq!(status(&mut k) & STATUS_SYS, STATUS_SYS);
        command_data(&mut k, 0x75, 0x99);
        command(&mut k, 0x35);
        assert_eq!(read(&mut k), Some(0x99));
        command(&mut k, 0xAD);
        command(&mut k, 0xA7);
        command(&mut k, 0x20);
        assert_eq!(read(&mut k), Some(0x77));
        command(&mut k, 0xAE);
        command(&mut k, 0xA8);
        command(&mut k, 0x20);
        assert_eq!(read(&mut k), Some(0x47));
    }

    #[test]
    fn output_port_a20_and_reset() {
        let mut k = I8042::new();
        command(&mut k, 0xD0);
        assert_eq!(read(&mut k), Some(0xCF));
        command_data(&mut k, 0xD1, 0xDD);
        assert!(!k.a20());
        assert!(!k.take_reset_request());
        command_data(&mut k, 0xD1, 0xDF);
        assert!(k.a20());
        // Bit 0 low resets the CPU.
        command_data(&mut k, 0xD1, 0xDE);
        assert!(k.take_reset_request());
        assert!(!k.take_reset_request());
        command(&mut k, 0xD0);
        assert_eq!(read(&mut k), Some(0xCF));
        // 0xFE pulses reset; 0xFF pulses nothing; 0xF0 pulses all.
        command(&mut k, 0xFF);
        assert!(!k.take_reset_request());
        command(&mut k, 0xFE);
        assert!(k.take_reset_request());
        command(&mut k, 0xF0);
        assert!(k.take_reset_request());
        assert!(k.a20());
        command(&mut k, 0xDD);
        assert!(!k.a20());
        command(&mut k, 0xDF);
        assert!(k.a20());
    }

    #[test]
    fn write_output_buffer_commands_set_the_source() {
        let mut k = booted();
        command_data(&mut k, 0xD2, 0x12);
        assert_eq!(status(&mut k) & (STATUS_OBF | STATUS_AUX), STATUS_OBF);
        assert_eq!(k.irq_levels(), 1 << 1);
        assert_eq!(read(&mut k), Some(0x12));
        command_data(&mut k, 0xD3, 0x34);
        assert_eq!(
            status(&mut k) & (STATUS_OBF | STATUS_AUX),
            STATUS_OBF | STATUS_AUX
        );
        assert_eq!(k.irq_levels(), 1 << 12);
        command(&mut k, 0xD0);
        assert_eq!(read(&mut k), Some(0x34));
        // The D0 reply saw the mouse byte in the buffer.
        assert_eq!(read(&mut k).map(|v| v & 0x30), Some(0x20));
        // The interrupt enables gate the lines.
        command_data(&mut k, 0x60, 0x44);
        command_data(&mut k, 0xD3, 0x56);
        assert_eq!(k.irq_levels(), 0);
        assert_eq!(status(&mut k) & STATUS_OBF, STATUS_OBF);
    }

    #[test]
    fn keyboard_reset_through_the_controller() {
        let mut k = booted();
        out(&mut k, I8042_DATA, 0xFF);
        // The ACK takes a byte time to arrive.
        assert_eq!(status(&mut k) & STATUS_OBF, 0);
        assert_eq!(k.next_deadline(), Some(k.now().add_nanos(PS2_BYTE_TIME)));
        assert_eq!(read(&mut k), Some(0xFA));
        assert_eq!(read(&mut k), Some(0xAA));
        // Identify, translated: AB 83 becomes AB 41.
        out(&mut k, I8042_DATA, 0xF2);
        assert_eq!(read_all(&mut k), [0xFA, 0xAB, 0x41]);
        command_data(&mut k, 0x60, 0x07);
        out(&mut k, I8042_DATA, 0xF2);
        assert_eq!(read_all(&mut k), [0xFA, 0xAB, 0x83]);
    }

    #[test]
    fn unknown_keyboard_commands_are_answered_with_resend() {
        let mut k = booted();
        out(&mut k, I8042_DATA, 0x42);
        assert_eq!(read_all(&mut k), [0xFE]);
        out(&mut k, I8042_DATA, 0xEE);
        assert_eq!(read_all(&mut k), [0xEE]);
        // LEDs.
        out(&mut k, I8042_DATA, 0xED);
        out(&mut k, I8042_DATA, 0x07);
        assert_eq!(read_all(&mut k), [0xFA, 0xFA]);
        assert_eq!(k.keyboard().leds(), 7);
    }

    #[test]
    fn keys_are_translated_to_set_1_with_irq_1() {
        let mut k = booted();
        let t = k.now();
        k.key_event(t, Key::KeyA, true);
        let rose = k.advance(t.add_nanos(PS2_BYTE_TIME));
        assert_eq!(rose, 1 << 1);
        assert_eq!(k.irq_levels(), 1 << 1);
        assert_eq!(read(&mut k), Some(0x1E));
        assert_eq!(k.irq_levels(), 0);
        let t = k.now();
        k.key_event(t, Key::KeyA, false);
        k.key_event(t, Key::ArrowLeft, true);
        k.key_event(t, Key::ArrowLeft, false);
        assert_eq!(read_all(&mut k), [0x9E, 0xE0, 0x4B, 0xE0, 0xCB]);
        let t = k.now();
        k.key_event(t, Key::Pause, true);
        assert_eq!(read_all(&mut k), [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]);
    }

    #[test]
    fn untranslated_set_2_and_set_1_selected_on_the_keyboard() {
        let mut k = booted();
        command_data(&mut k, 0x60, 0x07);
        let t = k.now();
        k.key_event(t, Key::KeyA, true);
        k.key_event(t, Key::KeyA, false);
        assert_eq!(read_all(&mut k), [0x1C, 0xF0, 0x1C]);
        out(&mut k, I8042_DATA, 0xF0);
        out(&mut k, I8042_DATA, 0x01);
        assert_eq!(read_all(&mut k), [0xFA, 0xFA]);
        let t = k.now();
        k.key_event(t, Key::KeyA, true);
        k.key_event(t, Key::KeyA, false);
        assert_eq!(read_all(&mut k), [0x1E, 0x9E]);
        // Get the set: 1 untranslated; translated, set 2 reads as 0x41.
        out(&mut k, I8042_DATA, 0xF0);
        out(&mut k, I8042_DATA, 0x00);
        assert_eq!(read_all(&mut k), [0xFA, 0xFA, 0x01]);
        command_data(&mut k, 0x60, 0x47);
        out(&mut k, I8042_DATA, 0xF0);
        out(&mut k, I8042_DATA, 0x02);
        out(&mut k, I8042_DATA, 0xF0);
        out(&mut k, I8042_DATA, 0x00);
        assert_eq!(read_all(&mut k), [0xFA, 0xFA, 0xFA, 0xFA, 0x41]);
    }

    #[test]
    fn translation_table_agrees_with_the_key_table() {
        for &key in Key::ALL {
            for pressed in [true, false] {
                assert_eq!(
                    translate_set2(&key.scancodes(pressed, 2)),
                    key.scancodes(pressed, 1),
                    "{key:?} pressed={pressed}"
                );
            }
        }
    }

    #[test]
    fn typematic_repeat_in_virtual_time() {
        let mut k = booted();
        // 250 ms delay, 30/s.
        out(&mut k, I8042_DATA, 0xF3);
        out(&mut k, I8042_DATA, 0x00);
        assert_eq!(read_all(&mut k), [0xFA, 0xFA]);
        let t0 = k.now();
        k.key_event(t0, Key::KeyX, true);
        assert_eq!(read(&mut k), Some(0x2D));
        assert_eq!(k.keyboard().next_event(), Some(t0.add_nanos(250_000_000)));
        // Hold for 340 ms, reading as interrupts come.
        let until = t0.add_nanos(340_000_000);
        let mut times = Vec::new();
        while let Some(d) = k.next_deadline().filter(|&d| d <= until) {
            k.advance(d);
            if k.irq_levels() != 0 {
                times.push(d.nanos_since(t0) / 1_000_000);
                assert_eq!(k.read_port(d, I8042_DATA), 0x2D);
            }
        }
        // Repeats at 250, 283.3 and 316.7 ms, each arriving a byte time
        // later.
        assert_eq!(times, [250, 284, 317]);
        let t = k.now();
        k.key_event(t, Key::KeyX, false);
        assert_eq!(read_all(&mut k), [0xAD]);
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn host_auto_repeat_is_ignored() {
        let mut k = booted();
        let t = k.now();
        k.key_event(t, Key::KeyQ, true);
        k.key_event(t, Key::KeyQ, true);
        k.key_event(t, Key::KeyQ, false);
        k.key_event(t, Key::KeyQ, false);
        assert_eq!(read_all(&mut k), [0x10, 0x90]);
    }

    #[test]
    fn disabled_keyboard_port_holds_keys_until_enabled() {
        let mut k = booted();
        command(&mut k, 0xAD);
        let t = k.now();
        k.key_event(t, Key::Digit1, true);
        assert!(read_all(&mut k).is_empty());
        command(&mut k, 0xAE);
        assert_eq!(read_all(&mut k), [0x02]);
    }

    #[test]
    fn mouse_through_the_aux_port() {
        let mut k = booted();
        command_data(&mut k, 0xD4, 0xFF);
        assert_eq!(read_all(&mut k), [0xFA, 0xAA, 0x00]);
        assert_eq!(status(&mut k) & STATUS_AUX, 0);
        command_data(&mut k, 0xD4, 0xF4);
        assert_eq!(read(&mut k), Some(0xFA));
        let t = k.now();
        k.mouse_motion(t, 1, -2, buttons::MIDDLE);
        let rose = k.advance(t.add_nanos(PS2_BYTE_TIME));
        assert_eq!(rose, 1 << 12);
        assert_eq!(
            status(&mut k) & (STATUS_OBF | STATUS_AUX),
            STATUS_OBF | STATUS_AUX
        );
        assert_eq!(read_all(&mut k), [0x0C, 0x01, 0x02]);
        // Status request and ID.
        command_data(&mut k, 0xD4, 0xE9);
        assert_eq!(read_all(&mut k), [0xFA, 0x22, 0x02, 100]);
        command_data(&mut k, 0xD4, 0xF2);
        assert_eq!(read_all(&mut k), [0xFA, 0x00]);
        // Disabling the aux port holds the mouse's bytes back.
        command(&mut k, 0xA7);
        let t = k.now();
        k.mouse_motion(t, 3, 0, 0);
        assert!(read_all(&mut k).is_empty());
        command(&mut k, 0xA8);
        assert_eq!(read_all(&mut k), [0x08, 0x03, 0x00]);
    }

    #[test]
    fn intellimouse_wheel_reports() {
        let mut k = booted();
        for b in [0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF2] {
            command_data(&mut k, 0xD4, b);
        }
        assert_eq!(read_all(&mut k)[6..], [0xFA, 0x03]);
        command_data(&mut k, 0xD4, 0xF4);
        read_all(&mut k);
        let t = k.now();
        k.mouse_wheel(t, -1, 0);
        assert_eq!(read_all(&mut k), [0x08, 0x00, 0x00, 0xFF]);
    }

    #[test]
    fn mouse_reports_follow_the_sample_rate() {
        let mut k = booted();
        command_data(&mut k, 0xD4, 0xF4);
        read_all(&mut k);
        let t0 = k.now();
        // Motion every 1 ms for 50 ms at 100 samples/s: 5 or 6 reports.
        let mut reports = 0;
        let mut bytes = Vec::new();
        for i in 0..50 {
            let t = t0.add_nanos(i * 1_000_000);
            k.advance(t);
            while status(&mut k) & STATUS_OBF != 0 {
                bytes.push(k.read_port(t, I8042_DATA));
            }
            k.mouse_motion(t, 1, 0, 0);
        }
        bytes.extend(read_all(&mut k));
        for p in bytes.chunks(3) {
            assert_eq!(p[0], 0x08);
            reports += 1;
        }
        assert_eq!(bytes.len() % 3, 0);
        let moved: u32 = bytes.chunks(3).map(|p| p[1] as u32).sum();
        assert_eq!(moved, 50, "no motion lost");
        assert!((5..=6).contains(&reports), "{reports} reports");
    }

    #[test]
    fn irq_line_drops_on_read_and_rises_again_for_the_next_byte() {
        let mut k = booted();
        command(&mut k, 0x20);
        command(&mut k, 0xD0);
        assert_eq!(k.irq_levels(), 1 << 1);
        let t = k.now();
        k.read_port(t, I8042_DATA);
        assert_eq!(k.irq_levels(), 0, "low after the read");
        let d = k.next_deadline().unwrap();
        assert_eq!(d, t.add_nanos(REFILL_GAP));
        assert_eq!(k.advance(d), 1 << 1);
    }

    #[test]
    fn reads_of_an_empty_buffer_and_unknown_commands_are_harmless() {
        let mut k = booted();
        command(&mut k, 0x20);
        let v = read(&mut k).unwrap();
        // Reading again returns the stale byte.
        let now = k.now();
        assert_eq!(k.read_port(now, I8042_DATA), v);
        for c in [0x00, 0x10, 0x90, 0xA0, 0xA5, 0xAC, 0xB0, 0xC1, 0xC8, 0xE5] {
            command(&mut k, c);
        }
        assert!(read_all(&mut k).is_empty());
        assert!(!k.take_reset_request());
        // A new command cancels one waiting for data: 0x33 goes to the
        // keyboard, which does not know it.
        command(&mut k, 0xD1);
        command(&mut k, 0xAE);
        out(&mut k, I8042_DATA, 0x33);
        assert_eq!(read_all(&mut k), [0xFE]);
        assert!(k.a20());
        // Other ports float.
        assert_eq!(k.read_port(now, 0x61), 0xFF);
        k.write_port(now, 0x62, 0);
    }

    #[test]
    fn a_flood_of_controller_replies_is_bounded() {
        let mut k = booted();
        for _ in 0..1000 {
            command(&mut k, 0x20);
        }
        // One in the buffer and the queue's worth.
        assert_eq!(read_all(&mut k).len(), REPLY_LIMIT + 1);
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut k = booted();
        out(&mut k, I8042_DATA, 0xF2);
        let t = k.now();
        k.key_event(t, Key::ShiftLeft, true);
        command_data(&mut k, 0xD4, 0xF4);
        k.mouse_motion(t, 10, 10, buttons::LEFT);
        k.advance(t.add_nanos(PS2_BYTE_TIME + 5));
        let json = serde_json::to_string(&k).unwrap();
        let mut back: I8042 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, k);
        assert_eq!(back.next_deadline(), k.next_deadline());
        assert_eq!(read_all(&mut back), read_all(&mut k));
    }
}
