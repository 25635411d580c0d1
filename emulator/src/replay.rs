//! Record and replay: the inputs that reach the machine from outside
//! (keys, mouse motion, COM1 bytes, the front end's reset), each logged
//! with the instruction and cycle count it was applied at.
//!
//! Everything else is deterministic (guest time is the cycle counter), so
//! applying the same inputs at the same points reproduces a run exactly.
//! Inputs are applied only at the top of the run loop's batches
//! ([`crate::machine::Machine::run_to_cycle`]), which a replay makes stop
//! exactly at each logged point. COM1's host side is read through a
//! [`SerialFeed`]: host bytes are staged (and logged) at those same
//! points, and the UART pulls from the stage, never from the host.
//!
//! The log file is text: a header line, a `start` line with the machine's
//! position and state hash (a replay into a differently configured machine
//! is refused), one line per input, and an `end` line where the session
//! ended.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use oxbox_devices::ps2::Key;
use oxbox_devices::uart16550::SerialBackend;

/// The first line of a log file; the number is the format's version.
const MAGIC: &str = "oxbox-input-log 1";

/// One input from outside the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Key {
        key: Key,
        pressed: bool,
    },
    Mouse {
        dx: i32,
        dy: i32,
        dz: i32,
        buttons: u8,
    },
    /// A byte arriving on COM1 from the host.
    Serial(u8),
    /// The front end's reset (Ctrl+Alt+R): CPU and chipset.
    Reset,
}

/// An input and where in the run it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub instructions: u64,
    pub cycles: u64,
    pub input: Input,
}

impl Event {
    fn at(&self) -> (u64, u64) {
        (self.instructions, self.cycles)
    }
}

/// COM1's host side while recording or replaying, shared between the
/// UART's back end ([`FeedBackend`]) and the machine's input log.
pub struct SerialFeed {
    host: Box<dyn SerialBackend>,
    staged: VecDeque<u8>,
}

pub type SharedFeed = Arc<Mutex<SerialFeed>>;

fn lock(feed: &SharedFeed) -> MutexGuard<'_, SerialFeed> {
    feed.lock().unwrap_or_else(|e| e.into_inner())
}

/// The UART's back end: output to the host, input from the stage only.
pub struct FeedBackend(pub SharedFeed);

impl SerialBackend for FeedBackend {
    fn poll_input(&mut self) -> Option<u8> {
        lock(&self.0).staged.pop_front()
    }

    fn write(&mut self, byte: u8) {
        lock(&self.0).host.write(byte);
    }

    fn flush(&mut self) {
        lock(&self.0).host.flush();
    }
}

/// Wrap `host` for COM1: returns the UART's back end and the handle the
/// input log stages bytes through.
pub fn serial_feed(host: Box<dyn SerialBackend>) -> (Box<dyn SerialBackend>, SharedFeed) {
    let feed = Arc::new(Mutex::new(SerialFeed {
        host,
        staged: VecDeque::new(),
    }));
    (Box::new(FeedBackend(feed.clone())), feed)
}

/// The machine's inputs: those applied so far and, when replaying, those
/// still to come.
#[derive(Default)]
pub struct InputLog {
    events: Vec<Event>,
    /// Events before this one have been applied.
    cursor: usize,
    /// Replaying a file: live input is ignored even after its last event.
    replay_only: bool,
    /// Where the recorded session started and ended, and the start hash.
    start: Option<(u64, u64, u64)>,
    end: Option<(u64, u64)>,
    /// COM1's host side, when it goes through the log.
    serial: Option<SharedFeed>,
}

impl InputLog {
    /// Live inputs are dropped: the log decides what happens.
    pub fn replaying(&self) -> bool {
        self.replay_only || self.cursor < self.events.len()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many events have been applied (a snapshot keeps this to rewind
    /// the log with the machine).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Rewind (or advance) to `cursor` after restoring a snapshot taken
    /// there: the later events are replayed again.
    pub fn set_cursor(&mut self, cursor: usize) {
        self.cursor = cursor.min(self.events.len());
    }

    /// Route COM1's host input through the log.
    pub fn set_serial(&mut self, feed: SharedFeed) {
        self.serial = Some(feed);
    }

    /// The logged end of the session (instructions, cycles).
    pub fn end(&self) -> Option<(u64, u64)> {
        self.end
    }

    /// The start position and state hash a replay must begin from.
    pub fn start(&self) -> Option<(u64, u64, u64)> {
        self.start
    }

    /// Begin recording at `at` with the machine's state hash.
    pub fn begin(&mut self, instructions: u64, cycles: u64, hash: u64) {
        self.start = Some((instructions, cycles, hash));
    }

    /// Log a live input applied now.
    pub fn push(&mut self, instructions: u64, cycles: u64, input: Input) {
        // Replaying earlier history (after a reverse step): the new
        // input starts a new future, so the old one is dropped.
        self.events.truncate(self.cursor);
        self.events.push(Event {
            instructions,
            cycles,
            input,
        });
        self.cursor = self.events.len();
    }

    /// Recording: take the host's waiting COM1 bytes onto the stage,
    /// logging each. Replaying: nothing (the stage is fed from the log).
    pub fn poll_host(&mut self, instructions: u64, cycles: u64) {
        if self.replaying() {
            return;
        }
        let Some(feed) = self.serial.clone() else {
            return;
        };
        let mut f = lock(&feed);
        while let Some(b) = f.host.poll_input() {
            f.staged.push_back(b);
            drop(f);
            self.push(instructions, cycles, Input::Serial(b));
            f = lock(&feed);
        }
    }

    /// The next event to replay, if it is due at or before `at`;
    /// advances past it. Serial bytes go onto the stage here.
    pub fn take_due(&mut self, at: (u64, u64)) -> Option<Input> {
        let e = *self.events.get(self.cursor)?;
        if e.at() > at {
            return None;
        }
        self.cursor += 1;
        if let Input::Serial(b) = e.input {
            if let Some(feed) = &self.serial {
                lock(feed).staged.push_back(b);
            }
        }
        Some(e.input)
    }

    /// Where the run must stop next to apply an input.
    pub fn next_point(&self) -> Option<(u64, u64)> {
        self.events.get(self.cursor).map(Event::at)
    }

    /// Write the log: header, start, events, and `end` at the present.
    pub fn save(&self, path: &Path, end: (u64, u64)) -> Result<(), String> {
        let mut s = format!("{MAGIC}\n");
        let (i, c, h) = self.start.unwrap_or((0, 0, 0));
        s += &format!("start {i} {c} {h:016x}\n");
        // Only what was applied: after a reverse step the rest lies ahead
        // of where the session ended.
        for e in &self.events[..self.cursor] {
            s += &format!("{} {} {}\n", e.instructions, e.cycles, input_text(&e.input));
        }
        s += &format!("end {} {}\n", end.0, end.1);
        std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Read a log written by [`InputLog::save`], for replay.
    pub fn load(path: &Path) -> Result<InputLog, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        InputLog::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<InputLog, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, MAGIC)) => {}
            Some((_, l)) if l.starts_with("oxbox-input-log ") => {
                return Err(format!("an input log of another version ({l})"))
            }
            _ => return Err("not an oxbox input log".into()),
        }
        let mut log = InputLog {
            replay_only: true,
            ..InputLog::default()
        };
        for (n, line) in lines {
            let bad = || format!("line {}: cannot read '{line}'", n + 1);
            let w: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| w.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or_else(bad);
            match w.first().copied() {
                None => continue,
                Some("start") => {
                    let h = w.get(3).and_then(|s| u64::from_str_radix(s, 16).ok());
                    log.start = Some((num(1)?, num(2)?, h.ok_or_else(bad)?));
                }
                Some("end") => log.end = Some((num(1)?, num(2)?)),
                Some(_) => {
                    let input = parse_input(&w[2.min(w.len())..]).ok_or_else(bad)?;
                    let e = Event {
                        instructions: num(0)?,
                        cycles: num(1)?,
                        input,
                    };
                    if log.events.last().is_some_and(|p| p.at() > e.at()) {
                        return Err(format!("line {}: events out of order", n + 1));
                    }
                    log.events.push(e);
                }
            }
        }
        Ok(log)
    }
}

fn input_text(input: &Input) -> String {
    match input {
        Input::Key { key, pressed } => {
            let name = serde_json::to_string(key).unwrap_or_default();
            let state = if *pressed { "down" } else { "up" };
            format!("key {} {state}", name.trim_matches('"'))
        }
        Input::Mouse {
            dx,
            dy,
            dz,
            buttons,
        } => format!("mouse {dx} {dy} {dz} {buttons}"),
        Input::Serial(b) => format!("serial 0x{b:02x}"),
        Input::Reset => "reset".into(),
    }
}

fn parse_input(w: &[&str]) -> Option<Input> {
    let int = |s: &str| s.parse::<i32>().ok();
    Some(match *w {
        ["key", name, state] => Input::Key {
            key: serde_json::from_str(&format!("\"{name}\"")).ok()?,
            pressed: match state {
                "down" => true,
                "up" => false,
                _ => return None,
            },
        },
        ["mouse", dx, dy, dz, buttons] => Input::Mouse {
            dx: int(dx)?,
            dy: int(dy)?,
            dz: int(dz)?,
            buttons: buttons.parse().ok()?,
        },
        ["serial", b] => Input::Serial(u8::from_str_radix(b.strip_prefix("0x")?, 16).ok()?),
        ["reset"] => Input::Reset,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_as_written() {
        let mut log = InputLog::default();
        log.begin(5, 6, 0xABCD);
        log.push(
            10,
            11,
            Input::Key {
                key: Key::KeyH,
                pressed: true,
            },
        );
        log.push(12, 13, Input::Serial(0x41));
        log.push(
            14,
            20,
            Input::Mouse {
                dx: -3,
                dy: 4,
                dz: 0,
                buttons: 1,
            },
        );
        log.push(30, 30, Input::Reset);
        let path = std::env::temp_dir().join(format!("oxbox-log-{}.txt", std::process::id()));
        log.save(&path, (40, 41)).unwrap();
        let back = InputLog::load(&path).unwrap();
        assert_eq!(back.events(), log.events());
        assert_eq!(back.start(), Some((5, 6, 0xABCD)));
        assert_eq!(back.end(), Some((40, 41)));
        assert!(back.replaying());
        let _ = std::fs::remove_file(path);
        assert!(InputLog::parse("oxbox-input-log 2\n").is_err());
        assert!(InputLog::parse("oxbox-input-log 1\n5 6 key Nope down\n").is_err());
    }
}
