//! The PS/2 keyboard and mouse on the other end of the 8042's two cables
//! (see [`crate::i8042`]).
//!
//! Reference: IBM, "Personal System/2 Hardware Interface Technical
//! Reference" (1988), "Keyboard and Auxiliary Device Controller" and
//! "Keyboards (101- and 102-key)": the keyboard commands (0xED-0xFF), the
//! typematic rate and delay encoding, scan code sets 1 and 2 (the key
//! number tables), the 16-byte buffer and its overrun code; "Pointing
//! Device": the mouse commands (0xE6-0xFF), the status bytes and the
//! three-byte data report. The IntelliMouse extensions (device ID 3 after
//! the sample rates 200, 100, 80, with a fourth byte for the wheel; ID 4
//! after 200, 200, 80, adding buttons 4 and 5) are Microsoft's published
//! "Wheel Mouse" protocol.
//!
//! # Host input
//!
//! Keys are named by [`Key`], a position on a 105-key PC keyboard (plus
//! the Japanese and ACPI keys), named as in the W3C "UI Events
//! KeyboardEvent code" list (`KeyA`, `Digit1`, `ShiftLeft`...): the
//! physical key, not the character the host's layout puts on it, which is
//! what a PC keyboard reports and what host toolkits (SDL scancodes,
//! browsers' `code`, evdev) provide. [`Key::from_set1`] and
//! [`Key::from_set2`] accept scan codes for front ends that already have
//! them. Front ends report key transitions; a press of a key already held
//! (the host's own auto-repeat) is ignored, since the keyboard repeats in
//! virtual time itself.
//!
//! Mouse motion is given in counts with `dy` positive *downwards* (as
//! window systems give it); the mouse reports PS/2's upward-positive Y.
//! The wheel's `dz` is positive when turned towards the user (scrolling
//! down), as the IntelliMouse reports it. Resolution settings do not scale
//! host motion.
//!
//! Not modelled: scan code set 3 (selecting it is refused with 0xFE and
//! the keyboard stays in its set, which drivers handle by falling back to
//! set 2), the "fake shift" codes real keyboards wrap around navigation
//! keys depending on Num Lock and Shift, the alternate codes of Print
//! Screen with Alt (SysRq) and Pause with Ctrl (Break), and the time a
//! keyboard spends in its self-test after a reset.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::clock::{Nanos, VirtualTime};

/// Device replies.
pub const ACK: u8 = 0xFA;
pub const RESEND: u8 = 0xFE;
pub const SELF_TEST_PASSED: u8 = 0xAA;
pub const ECHO: u8 = 0xEE;

/// How many bytes of scan codes the keyboard buffers.
const KEYBOARD_BUFFER: usize = 16;
/// How many bytes of reports the mouse buffers.
const MOUSE_BUFFER: usize = 16;
/// Power-on typematic setting: 500 ms delay, 10.9 characters/second.
const DEFAULT_TYPEMATIC: u8 = 0x2B;

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident = $set1:literal, $set2:literal;)*) => {
        /// A key on the PC keyboard, by position. The one table of scan
        /// codes: each key's make code in sets 1 and 2, with 0xE0 in the
        /// high byte for the extended keys (0xE1 for Pause, whose codes are
        /// special, as are Print Screen's).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Key {
            $($(#[$doc])* $name,)*
        }

        impl Key {
            /// Every key, in table order.
            pub const ALL: &'static [Key] = &[$(Key::$name,)*];

            /// The make codes in sets 1 and 2.
            const fn codes(self) -> (u16, u16) {
                match self {
                    $(Key::$name => ($set1, $set2),)*
                }
            }
        }
    };
}

keys! {
    Escape = 0x01, 0x76;
    Digit1 = 0x02, 0x16;
    Digit2 = 0x03, 0x1E;
    Digit3 = 0x04, 0x26;
    Digit4 = 0x05, 0x25;
    Digit5 = 0x06, 0x2E;
    Digit6 = 0x07, 0x36;
    Digit7 = 0x08, 0x3D;
    Digit8 = 0x09, 0x3E;
    Digit9 = 0x0A, 0x46;
    Digit0 = 0x0B, 0x45;
    Minus = 0x0C, 0x4E;
    Equal = 0x0D, 0x55;
    Backspace = 0x0E, 0x66;
    Tab = 0x0F, 0x0D;
    KeyQ = 0x10, 0x15;
    KeyW = 0x11, 0x1D;
    KeyE = 0x12, 0x24;
    KeyR = 0x13, 0x2D;
    KeyT = 0x14, 0x2C;
    KeyY = 0x15, 0x35;
    KeyU = 0x16, 0x3C;
    KeyI = 0x17, 0x43;
    KeyO = 0x18, 0x44;
    KeyP = 0x19, 0x4D;
    BracketLeft = 0x1A, 0x54;
    BracketRight = 0x1B, 0x5B;
    Enter = 0x1C, 0x5A;
    ControlLeft = 0x1D, 0x14;
    KeyA = 0x1E, 0x1C;
    KeyS = 0x1F, 0x1B;
    KeyD = 0x20, 0x23;
    KeyF = 0x21, 0x2B;
    KeyG = 0x22, 0x34;
    KeyH = 0x23, 0x33;
    KeyJ = 0x24, 0x3B;
    KeyK = 0x25, 0x42;
    KeyL = 0x26, 0x4B;
    Semicolon = 0x27, 0x4C;
    Quote = 0x28, 0x52;
    Backquote = 0x29, 0x0E;
    ShiftLeft = 0x2A, 0x12;
    Backslash = 0x2B, 0x5D;
    KeyZ = 0x2C, 0x1A;
    KeyX = 0x2D, 0x22;
    KeyC = 0x2E, 0x21;
    KeyV = 0x2F, 0x2A;
    KeyB = 0x30, 0x32;
    KeyN = 0x31, 0x31;
    KeyM = 0x32, 0x3A;
    Comma = 0x33, 0x41;
    Period = 0x34, 0x49;
    Slash = 0x35, 0x4A;
    ShiftRight = 0x36, 0x59;
    NumpadMultiply = 0x37, 0x7C;
    AltLeft = 0x38, 0x11;
    Space = 0x39, 0x29;
    CapsLock = 0x3A, 0x58;
    F1 = 0x3B, 0x05;
    F2 = 0x3C, 0x06;
    F3 = 0x3D, 0x04;
    F4 = 0x3E, 0x0C;
    F5 = 0x3F, 0x03;
    F6 = 0x40, 0x0B;
    F7 = 0x41, 0x83;
    F8 = 0x42, 0x0A;
    F9 = 0x43, 0x01;
    F10 = 0x44, 0x09;
    NumLock = 0x45, 0x77;
    ScrollLock = 0x46, 0x7E;
    Numpad7 = 0x47, 0x6C;
    Numpad8 = 0x48, 0x75;
    Numpad9 = 0x49, 0x7D;
    NumpadSubtract = 0x4A, 0x7B;
    Numpad4 = 0x4B, 0x6B;
    Numpad5 = 0x4C, 0x73;
    Numpad6 = 0x4D, 0x74;
    NumpadAdd = 0x4E, 0x79;
    Numpad1 = 0x4F, 0x69;
    Numpad2 = 0x50, 0x72;
    Numpad3 = 0x51, 0x7A;
    Numpad0 = 0x52, 0x70;
    NumpadDecimal = 0x53, 0x71;
    /// The 102nd key, between left Shift and Z on ISO keyboards.
    IntlBackslash = 0x56, 0x61;
    F11 = 0x57, 0x78;
    F12 = 0x58, 0x07;
    /// Japanese: Katakana/Hiragana.
    KanaMode = 0x70, 0x13;
    /// Japanese: the key left of right Shift (ろ).
    IntlRo = 0x73, 0x51;
    /// Japanese: Henkan.
    Convert = 0x79, 0x64;
    /// Japanese: Muhenkan.
    NonConvert = 0x7B, 0x67;
    /// Japanese: the key left of Backspace (¥).
    IntlYen = 0x7D, 0x6A;
    NumpadEnter = 0xE01C, 0xE05A;
    ControlRight = 0xE01D, 0xE014;
    NumpadDivide = 0xE035, 0xE04A;
    /// Print Screen: set 1 E0 2A E0 37, set 2 E0 12 E0 7C.
    PrintScreen = 0xE037, 0xE07C;
    AltRight = 0xE038, 0xE011;
    Home = 0xE047, 0xE06C;
    ArrowUp = 0xE048, 0xE075;
    PageUp = 0xE049, 0xE07D;
    ArrowLeft = 0xE04B, 0xE06B;
    ArrowRight = 0xE04D, 0xE074;
    End = 0xE04F, 0xE069;
    ArrowDown = 0xE050, 0xE072;
    PageDown = 0xE051, 0xE07A;
    Insert = 0xE052, 0xE070;
    Delete = 0xE053, 0xE071;
    MetaLeft = 0xE05B, 0xE01F;
    MetaRight = 0xE05C, 0xE027;
    ContextMenu = 0xE05D, 0xE02F;
    /// ACPI Power.
    Power = 0xE05E, 0xE037;
    /// ACPI Sleep.
    Sleep = 0xE05F, 0xE03F;
    /// ACPI Wake.
    WakeUp = 0xE063, 0xE05E;
    /// Pause: a make code only (set 1 E1 1D 45 E1 9D C5, set 2 E1 14 77 E1
    /// F0 14 F0 77), never repeated.
    Pause = 0xE11D, 0xE114;
}

impl Key {
    /// The key whose set-1 make code is `code` (0xE0xx for the extended
    /// keys, 0xE11D for Pause). Break codes (bit 7 set) are not make codes.
    pub fn from_set1(code: u16) -> Option<Key> {
        Key::ALL.iter().copied().find(|k| k.codes().0 == code)
    }

    /// The key whose set-2 make code is `code` (0xE0xx for the extended
    /// keys, 0xE114 for Pause).
    pub fn from_set2(code: u16) -> Option<Key> {
        Key::ALL.iter().copied().find(|k| k.codes().1 == code)
    }

    /// The set-1 make code (see [`from_set1`](Self::from_set1)).
    pub fn set1(self) -> u16 {
        self.codes().0
    }

    /// The set-2 make code (see [`from_set2`](Self::from_set2)).
    pub fn set2(self) -> u16 {
        self.codes().1
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether holding the key makes it repeat.
    fn repeats(self) -> bool {
        self != Key::Pause
    }

    /// The bytes a key transition sends in scan code `set` (1 or 2).
    pub fn scancodes(self, pressed: bool, set: u8) -> Vec<u8> {
        let (s1, s2) = self.codes();
        match (self, set, pressed) {
            (Key::Pause, 1, true) => vec![0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5],
            (Key::Pause, _, true) => vec![0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77],
            (Key::Pause, _, false) => Vec::new(),
            (Key::PrintScreen, 1, true) => vec![0xE0, 0x2A, 0xE0, 0x37],
            (Key::PrintScreen, 1, false) => vec![0xE0, 0xB7, 0xE0, 0xAA],
            (Key::PrintScreen, _, true) => vec![0xE0, 0x12, 0xE0, 0x7C],
            (Key::PrintScreen, _, false) => vec![0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12],
            (_, 1, _) => {
                let mut v = extended_prefix(s1);
                v.push(s1 as u8 | if pressed { 0 } else { 0x80 });
                v
            }
            _ => {
                let mut v = extended_prefix(s2);
                if !pressed {
                    v.push(0xF0);
                }
                v.push(s2 as u8);
                v
            }
        }
    }
}

fn extended_prefix(code: u16) -> Vec<u8> {
    match code >> 8 {
        0 => Vec::new(),
        p => vec![p as u8],
    }
}

/// A PS/2 keyboard (an IBM Enhanced 101/102-key keyboard, ID 0xAB 0x83).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ps2Keyboard {
    /// Replies to commands: sent before any scan codes.
    replies: VecDeque<u8>,
    /// Scan codes waiting to be sent.
    codes: VecDeque<u8>,
    /// The buffer overflowed; nothing more is queued until it drains.
    overrun: bool,
    /// A command waiting for its argument byte.
    pending: Option<u8>,
    /// Scan code set, 1 or 2.
    set: u8,
    scanning: bool,
    leds: u8,
    typematic: u8,
    /// The last byte sent, for the Resend command.
    last_sent: u8,
    /// Which keys are down, by [`Key`] index.
    held: [u64; 2],
    /// The key that repeats while held: the last one pressed.
    repeat_key: Option<Key>,
    /// When it next repeats; `None` while the buffer is not empty (the
    /// repeat resumes when it drains).
    next_repeat: Option<VirtualTime>,
}

impl Default for Ps2Keyboard {
    fn default() -> Self {
        Ps2Keyboard::new()
    }
}

impl Ps2Keyboard {
    /// A keyboard after power-on: scanning in set 2, LEDs off.
    pub fn new() -> Ps2Keyboard {
        Ps2Keyboard {
            replies: VecDeque::new(),
            codes: VecDeque::new(),
            overrun: false,
            pending: None,
            set: 2,
            scanning: true,
            leds: 0,
            typematic: DEFAULT_TYPEMATIC,
            last_sent: 0,
            held: [0; 2],
            repeat_key: None,
            next_repeat: None,
        }
    }

    /// The LEDs the host set: bit 0 Scroll Lock, bit 1 Num Lock, bit 2
    /// Caps Lock.
    pub fn leds(&self) -> u8 {
        self.leds
    }

    /// The scan code set in use (1 or 2).
    pub fn scancode_set(&self) -> u8 {
        self.set
    }

    /// Whether the keyboard reports keys (0xF4 enables, 0xF5 disables).
    pub fn scanning(&self) -> bool {
        self.scanning
    }

    /// The typematic delay before the first repeat.
    pub fn typematic_delay(&self) -> Nanos {
        (1 + ((self.typematic >> 5) & 3) as u64) * 250_000_000
    }

    /// The typematic repeat period: (8 + A) × 2^B / 240 s, from bits 0-2
    /// (A) and 3-4 (B) of the rate byte: 30 to 2 characters a second.
    pub fn typematic_period(&self) -> Nanos {
        let a = (self.typematic & 7) as u64;
        let b = (self.typematic >> 3) & 3;
        ((8 + a) << b) * 1_000_000_000 / 240
    }

    fn is_held(&self, key: Key) -> bool {
        let i = key.index();
        self.held[i / 64] & 1 << (i % 64) != 0
    }

    fn set_held(&mut self, key: Key, down: bool) {
        let i = key.index();
        if down {
            self.held[i / 64] |= 1 << (i % 64);
        } else {
            self.held[i / 64] &= !(1 << (i % 64));
        }
    }

    fn reply(&mut self, byte: u8) {
        self.replies.push_back(byte);
    }

    /// Queue scan codes, or the overrun code if they do not fit.
    fn queue_codes(&mut self, bytes: &[u8]) {
        if self.overrun {
            return;
        }
        if self.codes.len() + bytes.len() > KEYBOARD_BUFFER {
            self.overrun = true;
            self.codes
                .push_back(if self.set == 1 { 0xFF } else { 0x00 });
        } else {
            self.codes.extend(bytes);
        }
    }

    /// Empty the scan code buffer at `now`; a blocked repeat resumes.
    fn clear_codes(&mut self, now: VirtualTime) {
        self.codes.clear();
        self.overrun = false;
        self.resume_repeat(now);
    }

    /// The buffer is empty at `now`: a repeat that waited for it resumes
    /// a period later.
    fn resume_repeat(&mut self, now: VirtualTime) {
        if self.repeat_key.is_some() && self.next_repeat.is_none() {
            self.next_repeat = Some(now.add_nanos(self.typematic_period()));
        }
    }

    fn set_defaults(&mut self) {
        self.typematic = DEFAULT_TYPEMATIC;
        self.set = 2;
        self.pending = None;
    }

    fn forget_keys(&mut self) {
        self.held = [0; 2];
        self.repeat_key = None;
        self.next_repeat = None;
    }

    /// A key went down or up on the host, at time `now`.
    pub fn key_event(&mut self, now: VirtualTime, key: Key, pressed: bool) {
        if pressed == self.is_held(key) {
            // The host's auto-repeat, or a release of a key pressed while
            // the keyboard was not scanning.
            return;
        }
        if !self.scanning {
            return;
        }
        self.set_held(key, pressed);
        self.queue_codes(&key.scancodes(pressed, self.set));
        if pressed && key.repeats() {
            self.repeat_key = Some(key);
            self.next_repeat = Some(now.add_nanos(self.typematic_delay()));
        } else if !pressed && self.repeat_key == Some(key) {
            self.repeat_key = None;
            self.next_repeat = None;
        }
    }

    /// The next typematic repeat.
    pub fn next_event(&self) -> Option<VirtualTime> {
        self.next_repeat
    }

    /// Repeat the typematic key if it is due at `now`.
    pub fn run_until(&mut self, now: VirtualTime) {
        let (Some(key), Some(at)) = (self.repeat_key, self.next_repeat) else {
            return;
        };
        if at > now {
            return;
        }
        if self.codes.is_empty() && self.scanning {
            self.queue_codes(&key.scancodes(true, self.set));
            self.next_repeat = Some(at.add_nanos(self.typematic_period()));
        } else {
            // Resumes when the buffer drains.
            self.next_repeat = None;
        }
    }

    /// Whether the keyboard has a byte to send.
    pub fn has_output(&self) -> bool {
        !self.replies.is_empty() || !self.codes.is_empty()
    }

    /// The controller clocks in the next byte at `now`.
    pub fn take(&mut self, now: VirtualTime) -> Option<u8> {
        let byte = match self.replies.pop_front() {
            Some(b) => b,
            None => {
                let b = self.codes.pop_front()?;
                if self.codes.is_empty() {
                    self.overrun = false;
                    self.resume_repeat(now);
                }
                b
            }
        };
        self.last_sent = byte;
        Some(byte)
    }

    /// A byte from the host (a command or a command's argument) at `now`.
    pub fn write(&mut self, now: VirtualTime, byte: u8) {
        if let Some(cmd) = self.pending.take() {
            match cmd {
                0xED => {
                    self.leds = byte & 7;
                    self.reply(ACK);
                }
                0xF0 => match byte {
                    0 => {
                        self.reply(ACK);
                        self.reply(self.set);
                    }
                    1 | 2 => {
                        self.set = byte;
                        self.clear_codes(now);
                        self.reply(ACK);
                    }
                    // Set 3 and nonsense.
                    _ => self.reply(RESEND),
                },
                _ => {
                    self.typematic = byte & 0x7F;
                    self.reply(ACK);
                }
            }
            return;
        }
        match byte {
            0xED | 0xF0 | 0xF3 => {
                self.pending = Some(byte);
                self.reply(ACK);
            }
            0xEE => self.reply(ECHO),
            0xF2 => {
                self.reply(ACK);
                self.reply(0xAB);
                self.reply(0x83);
            }
            0xF4 => {
                self.scanning = true;
                self.clear_codes(now);
                self.reply(ACK);
            }
            0xF5 | 0xF6 => {
                self.set_defaults();
                self.scanning = byte == 0xF6;
                self.clear_codes(now);
                if byte == 0xF5 {
                    self.forget_keys();
                }
                self.reply(ACK);
            }
            // Set-3 key type commands: accepted and ignored.
            0xF7..=0xFD => self.reply(ACK),
            0xFE => self.reply(self.last_sent),
            0xFF => {
                self.set_defaults();
                self.scanning = true;
                self.leds = 0;
                self.clear_codes(now);
                self.replies.clear();
                self.forget_keys();
                self.reply(ACK);
                self.reply(SELF_TEST_PASSED);
            }
            _ => self.reply(RESEND),
        }
    }
}

/// Mouse buttons, as a bit mask for [`Ps2Mouse::input`].
pub mod buttons {
    pub const LEFT: u8 = 0x01;
    pub const RIGHT: u8 = 0x02;
    pub const MIDDLE: u8 = 0x04;
    /// Reported only by an IntelliMouse Explorer (ID 4).
    pub const BACK: u8 = 0x08;
    pub const FORWARD: u8 = 0x10;
}

/// A PS/2 mouse, growing into an IntelliMouse (wheel, ID 3) or
/// IntelliMouse Explorer (wheel and five buttons, ID 4) when the driver
/// knocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ps2Mouse {
    /// Replies to commands: sent before any reports.
    replies: VecDeque<u8>,
    /// Stream reports waiting to be sent.
    reports: VecDeque<u8>,
    pending: Option<u8>,
    reporting: bool,
    remote: bool,
    wrap: bool,
    scaling_2_to_1: bool,
    /// 0-3: 1, 2, 4, 8 counts/mm.
    resolution: u8,
    /// Reports per second.
    sample_rate: u8,
    id: u8,
    /// The last three sample rates set (the IntelliMouse knock).
    rates: [u8; 3],
    buttons: u8,
    /// Motion not yet reported, in PS/2's axes (Y up).
    dx: i32,
    dy: i32,
    dz: i32,
    /// Something to report in stream mode.
    dirty: bool,
    /// The earliest time of the next stream report.
    next_sample: VirtualTime,
    last_sent: u8,
}

impl Default for Ps2Mouse {
    fn default() -> Self {
        Ps2Mouse::new()
    }
}

/// The 2:1 scaling curve of stream reports.
fn scale_2_to_1(v: i32) -> i32 {
    let m = match v.abs() {
        0 => 0,
        1 | 2 => 1,
        3 => 3,
        4 => 6,
        5 => 9,
        a => 2 * a,
    };
    m * v.signum()
}

impl Ps2Mouse {
    /// A mouse after power-on: stream mode, not reporting, 100 samples/s,
    /// 4 counts/mm, ID 0.
    pub fn new() -> Ps2Mouse {
        Ps2Mouse {
            replies: VecDeque::new(),
            reports: VecDeque::new(),
            pending: None,
            reporting: false,
            remote: false,
            wrap: false,
            scaling_2_to_1: false,
            resolution: 2,
            sample_rate: 100,
            id: 0,
            rates: [0; 3],
            buttons: 0,
            dx: 0,
            dy: 0,
            dz: 0,
            dirty: false,
            next_sample: VirtualTime::ZERO,
            last_sent: 0,
        }
    }

    /// The device ID the mouse reports: 0, 3 (wheel) or 4 (wheel and five
    /// buttons).
    pub fn id(&self) -> u8 {
        self.id
    }

    /// Whether the mouse sends reports on its own (stream mode, enabled).
    pub fn streaming(&self) -> bool {
        self.reporting && !self.remote
    }

    pub fn sample_rate(&self) -> u8 {
        self.sample_rate
    }

    fn packet_len(&self) -> usize {
        if self.id == 0 {
            3
        } else {
            4
        }
    }

    fn set_defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2_to_1 = false;
        self.resolution = 2;
        self.sample_rate = 100;
        self.pending = None;
    }

    fn reset_counters(&mut self) {
        self.dx = 0;
        self.dy = 0;
        self.dz = 0;
        self.dirty = false;
    }

    /// The host moved the mouse or changed its buttons at `now`. `dy` is
    /// positive downwards, `dz` towards the user.
    pub fn input(&mut self, now: VirtualTime, dx: i32, dy: i32, dz: i32, buttons: u8) {
        let buttons = buttons & 0x1F;
        let changed = buttons != self.buttons;
        self.buttons = buttons;
        if !self.reporting && !self.remote {
            return;
        }
        self.dx = self.dx.saturating_add(dx);
        self.dy = self.dy.saturating_sub(dy);
        self.dz = self.dz.saturating_add(dz);
        if self.remote {
            return;
        }
        if changed || dx != 0 || dy != 0 || (dz != 0 && self.id != 0) {
            self.dirty = true;
        }
        self.try_report(now);
    }

    /// Build a report from the counters, taking out what it carries.
    fn packet(&mut self, scaled: bool) -> Vec<u8> {
        let x = self.dx.clamp(-255, 255);
        let y = self.dy.clamp(-255, 255);
        let (zmin, zmax) = if self.id == 4 { (-8, 7) } else { (-128, 127) };
        let z = if self.id == 0 {
            0
        } else {
            self.dz.clamp(zmin, zmax)
        };
        self.dx -= x;
        self.dy -= y;
        self.dz = if self.id == 0 { 0 } else { self.dz - z };
        let (rx, ry) = if scaled && self.scaling_2_to_1 {
            (scale_2_to_1(x), scale_2_to_1(y))
        } else {
            (x, y)
        };
        let overflow = |v: i32| !(-256..=255).contains(&v);
        let mut b0 = 0x08 | (self.buttons & 0x07);
        if rx < 0 {
            b0 |= 0x10;
        }
        if ry < 0 {
            b0 |= 0x20;
        }
        if overflow(rx) {
            b0 |= 0x40;
        }
        if overflow(ry) {
            b0 |= 0x80;
        }
        let mut p = vec![b0, rx.clamp(-256, 255) as u8, ry.clamp(-256, 255) as u8];
        match self.id {
            3 => p.push(z as i8 as u8),
            4 => p.push((z as u8 & 0x0F) | (self.buttons & 0x18) << 1),
            _ => {}
        }
        p
    }

    /// Send a stream report if one is due at `now` and fits.
    pub fn try_report(&mut self, now: VirtualTime) {
        if !self.dirty || !self.streaming() || now < self.next_sample {
            return;
        }
        if self.reports.len() + self.packet_len() > MOUSE_BUFFER {
            return;
        }
        let p = self.packet(true);
        self.reports.extend(p);
        self.dirty = self.dx != 0 || self.dy != 0 || self.dz != 0;
        self.next_sample = now.add_nanos(1_000_000_000 / self.sample_rate.max(1) as u64);
    }

    /// The next time a stream report is due.
    pub fn next_event(&self) -> Option<VirtualTime> {
        let fits = self.reports.len() + self.packet_len() <= MOUSE_BUFFER;
        (self.dirty && self.streaming() && fits).then_some(self.next_sample)
    }

    pub fn has_output(&self) -> bool {
        !self.replies.is_empty() || !self.reports.is_empty()
    }

    /// The controller clocks in the next byte.
    pub fn take(&mut self) -> Option<u8> {
        let b = match self.replies.pop_front() {
            Some(b) => b,
            None => self.reports.pop_front()?,
        };
        self.last_sent = b;
        Some(b)
    }

    fn reply(&mut self, byte: u8) {
        self.replies.push_back(byte);
    }

    /// A byte from the host (through the controller's 0xD4 command).
    pub fn write(&mut self, byte: u8) {
        if self.wrap && self.pending.is_none() && byte != 0xEC && byte != 0xFF {
            self.reply(byte);
            return;
        }
        if let Some(cmd) = self.pending.take() {
            match (cmd, byte) {
                (0xF3, 0) | (0xE8, 4..) => self.reply(RESEND),
                (0xF3, rate) => {
                    self.sample_rate = rate;
                    self.rates = [self.rates[1], self.rates[2], rate];
                    match (self.rates, self.id) {
                        ([200, 100, 80], 0) => self.id = 3,
                        ([200, 200, 80], 3) => self.id = 4,
                        _ => {}
                    }
                    self.reply(ACK);
                }
                (_, res) => {
                    self.resolution = res;
                    self.reply(ACK);
                }
            }
            return;
        }
        if byte != 0xFE {
            // A command stops the stream: reports not yet sent are dropped.
            self.reports.clear();
        }
        if !matches!(byte, 0xE9 | 0xEB | 0xFE) {
            self.reset_counters();
        }
        match byte {
            0xE6 => {
                self.scaling_2_to_1 = false;
                self.reply(ACK);
            }
            0xE7 => {
                self.scaling_2_to_1 = true;
                self.reply(ACK);
            }
            0xE8 | 0xF3 => {
                self.pending = Some(byte);
                self.reply(ACK);
            }
            0xE9 => {
                let b = self.buttons;
                let status = (self.remote as u8) << 6
                    | (self.reporting as u8) << 5
                    | (self.scaling_2_to_1 as u8) << 4
                    | (b & buttons::LEFT) << 2
                    | (b & buttons::MIDDLE) >> 1
                    | (b & buttons::RIGHT) >> 1;
                self.reply(ACK);
                self.reply(status);
                self.reply(self.resolution);
                self.reply(self.sample_rate);
            }
            0xEA => {
                self.remote = false;
                self.reply(ACK);
            }
            0xEB => {
                self.reply(ACK);
                let p = self.packet(false);
                self.replies.extend(p);
                self.reset_counters();
            }
            0xEC => {
                self.wrap = false;
                self.reply(ACK);
            }
            0xEE => {
                self.wrap = true;
                self.reply(ACK);
            }
            0xF0 => {
                self.remote = true;
                self.reply(ACK);
            }
            0xF2 => {
                self.reply(ACK);
                self.reply(self.id);
            }
            0xF4 => {
                self.reporting = true;
                self.reply(ACK);
            }
            0xF5 => {
                self.reporting = false;
                self.reply(ACK);
            }
            0xF6 => {
                self.set_defaults();
                self.reply(ACK);
            }
            0xFE => self.reply(self.last_sent),
            0xFF => {
                self.set_defaults();
                self.replies.clear();
                self.wrap = false;
                self.id = 0;
                self.rates = [0; 3];
                self.reply(ACK);
                self.reply(SELF_TEST_PASSED);
                self.reply(0x00);
            }
            _ => self.reply(RESEND),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_kbd(k: &mut Ps2Keyboard) -> Vec<u8> {
        std::iter::from_fn(|| k.take(VirtualTime::ZERO)).collect()
    }

    fn drain_mouse(m: &mut Ps2Mouse) -> Vec<u8> {
        std::iter::from_fn(|| m.take()).collect()
    }

    #[test]
    fn key_table_is_consistent() {
        for (i, &k) in Key::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(Key::from_set1(k.set1()), Some(k));
            assert_eq!(Key::from_set2(k.set2()), Some(k));
        }
        assert!(Key::ALL.len() <= 128, "held keys fit two words");
        assert_eq!(Key::from_set1(0x9E), None);
    }

    #[test]
    fn set_2_and_set_1_sequences() {
        assert_eq!(Key::KeyA.scancodes(true, 2), [0x1C]);
        assert_eq!(Key::KeyA.scancodes(false, 2), [0xF0, 0x1C]);
        assert_eq!(Key::KeyA.scancodes(true, 1), [0x1E]);
        assert_eq!(Key::KeyA.scancodes(false, 1), [0x9E]);
        assert_eq!(Key::ArrowUp.scancodes(false, 2), [0xE0, 0xF0, 0x75]);
        assert_eq!(Key::ArrowUp.scancodes(false, 1), [0xE0, 0xC8]);
        assert!(Key::Pause.scancodes(false, 2).is_empty());
    }

    #[test]
    fn keyboard_identifies_as_an_mf2_keyboard() {
        let mut k = Ps2Keyboard::new();
        k.write(VirtualTime::ZERO, 0xF2);
        assert_eq!(drain_kbd(&mut k), [0xFA, 0xAB, 0x83]);
        k.write(VirtualTime::ZERO, 0xEE);
        assert_eq!(drain_kbd(&mut k), [0xEE]);
        k.write(VirtualTime::ZERO, 0xFE);
        assert_eq!(drain_kbd(&mut k), [0xEE], "resend repeats the last byte");
    }

    #[test]
    fn leds_typematic_and_scan_code_set_commands() {
        let mut k = Ps2Keyboard::new();
        k.write(VirtualTime::ZERO, 0xED);
        k.write(VirtualTime::ZERO, 0x05);
        assert_eq!(drain_kbd(&mut k), [0xFA, 0xFA]);
        assert_eq!(k.leds(), 5);
        k.write(VirtualTime::ZERO, 0xF3);
        k.write(VirtualTime::ZERO, 0x00);
        assert_eq!(k.typematic_delay(), 250_000_000);
        assert_eq!(k.typematic_period(), 33_333_333);
        k.write(VirtualTime::ZERO, 0xF3);
        k.write(VirtualTime::ZERO, 0x7F);
        assert_eq!(k.typematic_delay(), 1_000_000_000);
        assert_eq!(k.typematic_period(), 500_000_000);
        drain_kbd(&mut k);
        k.write(VirtualTime::ZERO, 0xF0);
        k.write(VirtualTime::ZERO, 0x00);
        assert_eq!(drain_kbd(&mut k), [0xFA, 0xFA, 0x02]);
        k.write(VirtualTime::ZERO, 0xF0);
        k.write(VirtualTime::ZERO, 0x01);
        assert_eq!(k.scancode_set(), 1);
        k.write(VirtualTime::ZERO, 0xF0);
        k.write(VirtualTime::ZERO, 0x03);
        assert_eq!(drain_kbd(&mut k), [0xFA, 0xFA, 0xFA, 0xFE]);
        assert_eq!(k.scancode_set(), 1);
    }

    #[test]
    fn reset_and_unknown_commands() {
        let mut k = Ps2Keyboard::new();
        k.write(VirtualTime::ZERO, 0xF5);
        assert!(!k.scanning());
        k.write(VirtualTime::ZERO, 0xFF);
        // Reset empties the buffer, the F5's ACK with it.
        assert_eq!(drain_kbd(&mut k), [0xFA, 0xAA]);
        assert!(k.scanning());
        for b in [0x00, 0x12, 0xEC, 0xEF, 0xF1] {
            k.write(VirtualTime::ZERO, b);
            assert_eq!(drain_kbd(&mut k), [0xFE], "command {b:#x}");
        }
    }

    #[test]
    fn buffer_overrun_sends_the_overrun_code_once() {
        let mut k = Ps2Keyboard::new();
        let t = VirtualTime::ZERO;
        for &key in &Key::ALL[..20] {
            k.key_event(t, key, true);
        }
        let bytes = drain_kbd(&mut k);
        assert_eq!(bytes.len(), 17);
        assert_eq!(bytes[16], 0x00);
        // Drained: keys are reported again.
        k.key_event(t, Key::Escape, false);
        assert_eq!(drain_kbd(&mut k), [0xF0, 0x76]);
    }

    #[test]
    fn mouse_reset_id_and_status() {
        let mut m = Ps2Mouse::new();
        m.write(0xFF);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0xAA, 0x00]);
        m.write(0xF2);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0x00]);
        m.write(0xE7);
        m.write(0xF4);
        m.write(0xE9);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0xFA, 0xFA, 0x30, 0x02, 100]);
        m.write(0xE8);
        m.write(0x07);
        m.write(0x12);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0xFE, 0xFE]);
    }

    #[test]
    fn intellimouse_knocks() {
        let mut m = Ps2Mouse::new();
        for rate in [200, 100, 80] {
            m.write(0xF3);
            m.write(rate);
        }
        m.write(0xF2);
        assert_eq!(drain_mouse(&mut m)[6..], [0xFA, 0x03]);
        for rate in [200, 200, 80] {
            m.write(0xF3);
            m.write(rate);
        }
        m.write(0xF2);
        assert_eq!(drain_mouse(&mut m)[6..], [0xFA, 0x04]);
        assert_eq!(m.sample_rate(), 80);
    }

    #[test]
    fn stream_reports_carry_motion_and_buttons() {
        let mut m = Ps2Mouse::new();
        m.write(0xF4);
        drain_mouse(&mut m);
        // Right 5, down 3 (Y reported upward), left button.
        m.input(VirtualTime::ZERO, 5, 3, 0, buttons::LEFT);
        assert_eq!(drain_mouse(&mut m), [0x29, 5, 0xFD]);
        // Large motion is split over several reports at the sample rate.
        let t = VirtualTime::from_millis(20);
        m.input(t, -300, 0, 0, 0);
        assert_eq!(drain_mouse(&mut m), [0x18, 0x01, 0x00]);
        assert_eq!(m.next_event(), Some(t.add_nanos(10_000_000)));
        m.try_report(t.add_nanos(10_000_000));
        assert_eq!(drain_mouse(&mut m), [0x18, 0xD3, 0x00]);
        assert_eq!(m.next_event(), None);
    }

    #[test]
    fn scaling_2_to_1_and_wrap_mode() {
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 6, -7].map(scale_2_to_1),
            [0, 1, 1, 3, 6, 9, 12, -14]
        );
        let mut m = Ps2Mouse::new();
        m.write(0xEE);
        m.write(0x42);
        m.write(0xEC);
        m.write(0x42);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0x42, 0xFA, 0xFE]);
    }

    #[test]
    fn remote_mode_reports_on_request() {
        let mut m = Ps2Mouse::new();
        m.write(0xF0);
        m.input(VirtualTime::ZERO, 2, -1, 0, buttons::RIGHT);
        assert_eq!(drain_mouse(&mut m), [0xFA]);
        m.write(0xEB);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0x0A, 2, 1]);
        m.write(0xEB);
        assert_eq!(drain_mouse(&mut m), [0xFA, 0x0A, 0, 0]);
    }
}
