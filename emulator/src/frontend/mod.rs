//! The front ends: how a configured [`Machine`] is run and shown.
//!
//! - [`window`]: the guest screen in a host window (minifb), keyboard and
//!   mouse into the 8042; the machine runs on a worker thread.
//! - [`headless`]: COM1 on stdio, and the VGA text screen mirrored to the
//!   terminal while the guest does not use its serial port.
//!
//! Both run the guest in slices of one display frame of virtual time
//! ([`Session`]), optionally paced to the wall clock ([`throttle`]), and end
//! through [`finish`]: disks flushed, the screenshot written, the exit
//! status chosen.

pub mod headless;
pub mod keymap;
pub mod screenshot;
pub mod text_mirror;
pub mod throttle;
pub mod window;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use oxbox::cpu::RunExit;
use oxbox::machine::Machine;
use oxbox_devices::uart16550::SerialBackend;
use oxbox_devices::VirtualTime;

use throttle::Throttle;

/// A display frame of virtual time: the guest runs in slices this long
/// between screen refreshes, mirror samples and input deliveries (60 Hz).
pub const FRAME_NANOS: u64 = 1_000_000_000 / 60;

/// Where the guest screen goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    Window,
    None,
}

/// How to run the machine.
#[derive(Debug, Default)]
pub struct Options {
    /// `None`: a window when a display is available, else headless.
    pub display: Option<Display>,
    /// Write a PNG of the guest screen here at exit.
    pub screenshot: Option<PathBuf>,
    /// Pace the guest's virtual clock to the wall clock.
    pub realtime: bool,
    /// Stop after this many instructions.
    pub max_instructions: Option<u64>,
    /// End the run when the guest halts for good
    /// ([`Machine::halted_for_good`]) whatever the display; without it
    /// the window keeps the guest's last screen up until it is closed.
    /// Headless runs always end there: there is nothing left to show.
    pub exit_on_halt: bool,
    /// Write the machine state here when the run ends (`--savevm`).
    pub savevm: Option<PathBuf>,
    /// Write the input log here when the run ends (`--record`).
    pub record: Option<PathBuf>,
    /// Set once the guest writes to a console of its own: COM1
    /// ([`SerialTap`]) or the debug console on stdout ([`ConsoleTap`]).
    pub console_used: Arc<AtomicBool>,
    /// Run under the built-in debugger.
    pub debug: Option<DebugOptions>,
}

/// `--debug` and `--debug-script`.
#[derive(Clone, Debug, Default)]
pub struct DebugOptions {
    /// The script's commands, run first.
    pub script: Option<String>,
    /// Then read commands from the terminal.
    pub interactive: bool,
    /// `--gdb`: serve gdb on this address instead of the terminal.
    pub gdb: Option<String>,
    /// `-S`: wait for gdb before the first instruction.
    pub gdb_start_stopped: bool,
}

/// Run the debugger's session on `machine` (the guest runs only when a
/// command says so); the run ends with the session.
pub fn debug_session(
    machine: &mut Machine,
    options: &DebugOptions,
    host: &mut dyn oxbox::debugger::Host,
) -> Ending {
    if let Some(addr) = &options.gdb {
        return gdb_session(machine, addr, options.gdb_start_stopped, host);
    }
    let mut script = options.script.as_deref().map(str::as_bytes);
    let mut out = std::io::stdout();
    oxbox::debugger::repl::run_session(
        machine,
        script.as_mut().map(|s| s as &mut dyn std::io::BufRead),
        options.interactive,
        &mut out,
        host,
    );
    stopped_ending(machine, Ending::Closed)
}

/// `--gdb`: run (or with `-S` wait) until gdb attaches, serve it; when
/// it detaches the guest runs on.
fn gdb_session(
    machine: &mut Machine,
    addr: &str,
    start_stopped: bool,
    host: &mut dyn oxbox::debugger::Host,
) -> Ending {
    use oxbox::debugger::{gdb, Engine, RunMode, StopReason};
    let attached = gdb::listen(addr).and_then(|l| {
        if start_stopped {
            gdb::accept(&l).map(Ok)
        } else {
            Ok(gdb::run_until_attach(machine, &l, host))
        }
    });
    let stream = match attached {
        Ok(Ok(s)) => s,
        // The guest ended (or Ctrl-C ended it) before gdb came.
        Ok(Err(StopReason::UserBreak)) => return Ending::Interrupted,
        Ok(Err(_)) => return stopped_ending(machine, Ending::Closed),
        Err(e) => {
            eprintln!("oxbox: {e}");
            return Ending::Closed;
        }
    };
    let ending = match gdb::serve(machine, stream, host) {
        gdb::GdbEnd::Detached => match Engine::new().run(machine, RunMode::Continue, host) {
            StopReason::UserBreak => Ending::Interrupted,
            _ => Ending::Closed,
        },
        gdb::GdbEnd::Ended => Ending::Closed,
    };
    stopped_ending(machine, ending)
}

/// The guest's exit status if it chose one through the exit port.
fn stopped_ending(machine: &Machine, otherwise: Ending) -> Ending {
    if machine.bus.exit_status.is_some() {
        Ending::Guest(RunExit::Stopped)
    } else {
        otherwise
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The machine stopped by itself (exit port, halt, budget, shutdown).
    /// A halt ends a window run only with [`Options::exit_on_halt`].
    Guest(RunExit),
    /// Ctrl-C on the terminal.
    Interrupted,
    /// The user closed the window or pressed the quit combination.
    Closed,
}

/// COM1's back end with a flag that records the guest's first byte out: the
/// guest is using its serial console, so the text mirror steps aside.
pub struct SerialTap {
    inner: Box<dyn SerialBackend>,
    used: Arc<AtomicBool>,
}

impl SerialTap {
    /// `used` is [`Options::console_used`].
    pub fn new(inner: Box<dyn SerialBackend>, used: Arc<AtomicBool>) -> SerialTap {
        SerialTap { inner, used }
    }
}

/// The debug console (port 0xE9) on stdout, with the same flag: once the
/// guest prints there, the text mirror steps aside rather than interleave
/// its lines with the guest's.
pub struct ConsoleTap<W> {
    inner: W,
    used: Arc<AtomicBool>,
}

impl<W: std::io::Write> ConsoleTap<W> {
    /// `used` is [`Options::console_used`].
    pub fn new(inner: W, used: Arc<AtomicBool>) -> ConsoleTap<W> {
        ConsoleTap { inner, used }
    }
}

impl<W: std::io::Write> std::io::Write for ConsoleTap<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !buf.is_empty() {
            self.used.store(true, Ordering::Relaxed);
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl SerialBackend for SerialTap {
    fn poll_input(&mut self) -> Option<u8> {
        self.inner.poll_input()
    }

    fn write(&mut self, byte: u8) {
        self.used.store(true, Ordering::Relaxed);
        self.inner.write(byte);
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

/// The machine with its instruction budget and pacing, run a frame at a
/// time.
pub struct Session {
    pub machine: Machine,
    /// The instruction count at which the budget runs out.
    end: u64,
    throttle: Option<Throttle>,
    /// [`Options::exit_on_halt`].
    pub exit_on_halt: bool,
}

impl Session {
    pub fn new(machine: Machine, options: &Options) -> Session {
        let end = machine
            .cpu
            .instructions
            .saturating_add(options.max_instructions.unwrap_or(u64::MAX));
        let throttle = options.realtime.then(|| Throttle::new(machine.now()));
        Session {
            machine,
            end,
            throttle,
            exit_on_halt: options.exit_on_halt,
        }
    }

    /// Run one display frame of guest time (or less, if the machine stops
    /// first) and wait for the wall clock with `--realtime`.
    /// [`RunExit::Deadline`] means the frame was completed.
    pub fn run_frame(&mut self) -> RunExit {
        self.run_slice(u64::MAX)
    }

    /// [`Session::run_frame`], but at most `max_instructions`: a front end
    /// that takes input between slices answers within that many
    /// instructions however slowly guest time goes. [`RunExit::Budget`]
    /// is the end of the whole run's budget only.
    pub fn run_slice(&mut self, max_instructions: u64) -> RunExit {
        let budget = self.end.saturating_sub(self.machine.cpu.instructions);
        if budget == 0 {
            return RunExit::Budget;
        }
        let until = self.machine.now().add_nanos(FRAME_NANOS);
        let exit = match self
            .machine
            .run_to(budget.min(max_instructions), Some(until))
        {
            RunExit::Budget if budget > max_instructions => RunExit::Deadline,
            other => other,
        };
        if let Some(t) = &mut self.throttle {
            t.pace(self.machine.now());
        }
        exit
    }

    /// The guest waited (halted for input) and did not run: do not make it
    /// catch up on the time spent waiting.
    pub fn resume_after_wait(&mut self) {
        let now: VirtualTime = self.machine.now();
        if let Some(t) = &mut self.throttle {
            t.rebase(now);
        }
    }

    /// Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.machine.interrupt.load(Ordering::Relaxed)
    }
}

/// Whether a window can be opened: an X11 display is named (Wayland
/// sessions provide one through XWayland).
fn display_available() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
}

/// Run `machine` on the chosen front end until it ends, then [`finish`].
pub fn run(machine: Machine, options: &Options) -> Result<ExitCode, String> {
    // Asked for by name, the window must open; by default oxbox falls
    // back to headless with a note (as QEMU does without a display).
    let asked = options.display;
    let display = asked.unwrap_or_else(|| {
        if display_available() {
            Display::Window
        } else {
            eprintln!(
                "oxbox: no X11 display (DISPLAY is unset); running headless (--display none)"
            );
            Display::None
        }
    });
    let (machine, ending) = match display {
        Display::None => headless::run(machine, options),
        Display::Window => match window::run(machine, options) {
            window::Outcome::Ran(machine, ending) => (machine, ending),
            window::Outcome::NoWindow(_, why) if asked == Some(Display::Window) => {
                return Err(format!("--display window: cannot open a window: {why}"));
            }
            window::Outcome::NoWindow(machine, why) => {
                eprintln!("oxbox: cannot open a window ({why}); running headless");
                headless::run(machine, options)
            }
        },
    };
    finish(machine, ending, options)
}

/// The end of every run: disk writes reach the image files, the screenshot
/// is written, and the exit status says how the run ended.
pub fn finish(mut machine: Machine, ending: Ending, options: &Options) -> Result<ExitCode, String> {
    // The disks are flushed even when the state cannot be written.
    let saved = options.savevm.as_ref().map(|path| {
        machine
            .snapshot()
            .and_then(|s| s.save(path))
            .map_err(|e| format!("--savevm {}: {e}", path.display()))
    });
    if let Err(e) = machine.bus.ide.flush_all() {
        eprintln!("oxbox: flushing disks: {e}");
    }
    if let Err(e) = machine.bus.fdc.flush_all() {
        eprintln!("oxbox: flushing diskettes: {e}");
    }
    saved.transpose()?;
    if let Some(path) = &options.record {
        let end = (machine.cpu.instructions, machine.cpu.cycles);
        machine
            .inputs
            .save(path, end)
            .map_err(|e| format!("--record {e}"))?;
    }
    if let Some(path) = &options.screenshot {
        screenshot::write_png(&machine.bus.vga.render(), path)?;
    }
    // A guest that wrote the exit port on the budget's last instruction
    // (as a replay ending where the recorded run exited does) exited.
    let ending = match ending {
        Ending::Guest(RunExit::Budget) if machine.bus.exit_status.is_some() => {
            Ending::Guest(RunExit::Stopped)
        }
        other => other,
    };
    Ok(match ending {
        Ending::Closed => ExitCode::SUCCESS,
        Ending::Interrupted if machine.bus.exit_status.is_none() => {
            eprintln!("oxbox: interrupted; disks flushed");
            ExitCode::from(130)
        }
        Ending::Interrupted | Ending::Guest(RunExit::Stopped) => {
            // The guest chose its exit status through the exit port.
            let status = machine.bus.exit_status.unwrap_or(1);
            ExitCode::from(status.clamp(0, 255) as u8)
        }
        Ending::Guest(RunExit::Budget) => {
            eprintln!(
                "oxbox: instruction budget reached at {}",
                where_the_cpu_is(&machine)
            );
            ExitCode::SUCCESS
        }
        // A debugger stop ends no run: the debugger's session decides.
        Ending::Guest(RunExit::Halted | RunExit::Deadline | RunExit::Debug) => ExitCode::SUCCESS,
        Ending::Guest(RunExit::Shutdown) => {
            eprintln!(
                "oxbox: the guest triple-faulted (CPU shutdown) at {}",
                where_the_cpu_is(&machine)
            );
            ExitCode::from(1)
        }
    })
}

/// "CS:EIP after N instructions", for the messages that end a run.
fn where_the_cpu_is(machine: &Machine) -> String {
    let cpu = &machine.cpu;
    format!(
        "{:04X}:{:08X} after {} instructions",
        cpu.segs[oxbox::cpu::seg::CS].selector,
        cpu.eip,
        cpu.instructions
    )
}

/// What a run that the machine ended by itself amounts to: Ctrl-C shows
/// up as a stop.
fn guest_ending(session: &Session, exit: RunExit) -> Ending {
    if exit == RunExit::Stopped && session.interrupted() {
        Ending::Interrupted
    } else {
        Ending::Guest(exit)
    }
}
