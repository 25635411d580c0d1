//! `--display window`: the guest screen in a host window (minifb, X11).
//!
//! The window lives on the main thread (where the windowing system wants
//! it); the machine runs on a worker thread a display frame of virtual time
//! at a time. Between frames the worker delivers the input the window sent
//! ([`Command`]) and, at most once per display refresh, publishes the
//! VGA's picture when it changed ([`Screen`]).
//!
//! Host combinations (with Ctrl+Alt held): G releases the mouse, R resets
//! the machine, Q quits. A guest that halts for good (HLT with interrupts
//! disabled) leaves its last screen up, the title saying so, until the
//! window is closed or the machine reset; `--exit-on-halt` ends the run
//! there instead. Under the debugger (`--debug`) the worker runs the
//! debugger's session, publishing the picture between slices of a run,
//! and Ctrl+C in the window breaks into the debugger (it is not sent to
//! the guest). A click in the window grabs the mouse: the
//! pointer is hidden and its motion goes to the PS/2 mouse. (minifb cannot
//! confine the pointer, so motion stops at the window's edge.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use minifb::{Key as HostKey, MouseButton, MouseMode, ScaleMode, Window, WindowOptions};
use oxbox::cpu::RunExit;
use oxbox::machine::Machine;
use oxbox::replay::Input;
use oxbox_devices::ps2::{buttons, Key};
use oxbox_devices::vga::Frame;

use super::keymap::pc_key;
use super::{guest_ending, DebugOptions, Ending, Options, Session};

/// The host's display refresh the window is drawn at.
const REFRESH: Duration = Duration::from_nanos(1_000_000_000 / 60);
/// How often the title's MIPS figure is updated.
const TITLE_PERIOD: Duration = Duration::from_secs(1);
/// The worker looks for input at least this often (in instructions): a
/// few milliseconds of host time, even when a frame of guest time takes
/// much longer.
const INPUT_SLICE: u64 = 500_000;
/// A halted guest's worker wakes this often to look for input.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// The window starts at the guest's resolution times the largest whole
/// factor that fits this size.
const START_MAX: (usize, usize) = (1280, 960);

/// Input from the window to the machine.
#[derive(Debug)]
enum Command {
    Key(Key, bool),
    /// Motion in counts (`dy` positive down), wheel notches (positive
    /// towards the user), and the buttons held (see [`buttons`]).
    Mouse {
        dx: i32,
        dy: i32,
        dz: i32,
        buttons: u8,
    },
    Reset,
    Quit,
}

/// What the worker shows the window.
#[derive(Default)]
struct Screen {
    /// The latest picture and the VGA generation it was rendered at.
    frame: Option<(Frame, u64)>,
    /// Instructions retired so far (for the title's MIPS).
    instructions: u64,
    /// The guest has halted for good ([`Machine::halted_for_good`]).
    halted: bool,
    /// The machine has stopped; the window closes.
    done: bool,
}

type Shared = Arc<Mutex<Screen>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Screen> {
    // A panicking worker cannot leave the screen half-written in a way
    // that matters: use it anyway.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What became of the machine given to [`run`].
pub enum Outcome {
    /// It ran until it stopped or the window closed.
    Ran(Machine, Ending),
    /// No window could be opened (the reason); the machine has not run.
    NoWindow(Machine, String),
}

/// Open the window and run the machine until it stops or the window
/// closes.
pub fn run(machine: Machine, options: &Options) -> Outcome {
    let (w, h) = start_size();
    let mut window = match Window::new(
        "oxbox",
        w,
        h,
        WindowOptions {
            resize: true,
            scale_mode: ScaleMode::AspectRatioStretch,
            ..WindowOptions::default()
        },
    ) {
        Ok(win) => win,
        // minifb's Display hides the cause; its Debug form carries it.
        Err(e) => return Outcome::NoWindow(machine, format!("{e:?}")),
    };
    window.set_target_fps(60);

    let shared: Shared = Arc::default();
    let (tx, rx) = mpsc::channel();
    // Under the debugger Ctrl+C in the window breaks into it, as on the
    // terminal.
    let break_flag = options.debug.is_some().then(|| machine.interrupt.clone());
    let session = Session::new(machine, options);
    let worker_shared = shared.clone();
    let debug = options.debug.clone();
    let worker = std::thread::Builder::new()
        .name("oxbox-machine".into())
        .spawn(move || match debug {
            Some(d) => debug_machine(session, &d, rx, worker_shared),
            None => run_machine(session, rx, worker_shared),
        });
    let Ok(worker) = worker else {
        // The process cannot create threads; the machine never ran.
        eprintln!("oxbox: cannot start the machine thread");
        std::process::exit(1)
    };

    let mut ui = Ui::new(tx, break_flag);
    ui.run(&mut window, &shared);
    drop(window);
    // Dropping the sender tells the worker to stop if it has not.
    drop(ui);
    match worker.join() {
        Ok((session, ending)) => Outcome::Ran(session.machine, ending),
        Err(_) => {
            eprintln!("oxbox: the machine thread failed");
            std::process::exit(1)
        }
    }
}

/// The window's first size: mode 3's 720x400 (the picture every PC BIOS
/// starts in; the VGA's power-on registers describe no real mode) at the
/// largest whole multiple that fits [`START_MAX`].
fn start_size() -> (usize, usize) {
    let (w, h) = (720, 400);
    let k = (START_MAX.0 / w).min(START_MAX.1 / h).max(1);
    (w * k, h * k)
}

/// The machine's side: deliver input, run a frame, publish the picture.
fn run_machine(
    mut session: Session,
    commands: Receiver<Command>,
    shared: Shared,
) -> (Session, Ending) {
    let mut last_publish: Option<Instant> = None;
    let mut shown_generation = None;
    let ending = 'run: loop {
        loop {
            match commands.try_recv() {
                Ok(c) => {
                    if !apply(&mut session, c) {
                        break 'run Ending::Closed;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break 'run Ending::Closed,
            }
        }
        let exit = session.run_slice(INPUT_SLICE);
        let due = last_publish.is_none_or(|t| t.elapsed() >= REFRESH);
        if due || exit != RunExit::Deadline {
            publish(&session.machine, &shared, &mut shown_generation);
            last_publish = Some(Instant::now());
        }
        match exit {
            RunExit::Deadline => {}
            RunExit::Halted if session.exit_on_halt && session.machine.halted_for_good() => {
                break guest_ending(&session, RunExit::Halted);
            }
            // Nothing can wake the CPU but input from the window (or a
            // reset, the only way out of a halt with interrupts
            // disabled): wait for some.
            RunExit::Halted => {
                match commands.recv_timeout(IDLE_POLL) {
                    Ok(c) => {
                        if !apply(&mut session, c) {
                            break Ending::Closed;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break Ending::Closed,
                }
                if session.interrupted() {
                    break Ending::Interrupted;
                }
                session.resume_after_wait();
            }
            other => break guest_ending(&session, other),
        }
    };
    lock(&shared).done = true;
    (session, ending)
}

/// The window's side of a debugger run: between slices, input in and the
/// picture out.
struct WindowHost {
    commands: Receiver<Command>,
    shared: Shared,
    shown_generation: Option<u64>,
    last_publish: Option<Instant>,
}

impl oxbox::debugger::Host for WindowHost {
    fn slice_done(&mut self, machine: &mut Machine) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Quit) | Err(TryRecvError::Disconnected) => return false,
                Ok(c) => {
                    apply_to(machine, c);
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if self.last_publish.is_none_or(|t| t.elapsed() >= REFRESH) {
            publish(machine, &self.shared, &mut self.shown_generation);
            self.last_publish = Some(Instant::now());
        }
        true
    }
}

/// The machine's side under the debugger: the session reads the terminal;
/// the window shows the picture at each stop and during runs.
fn debug_machine(
    mut session: Session,
    debug: &DebugOptions,
    commands: Receiver<Command>,
    shared: Shared,
) -> (Session, Ending) {
    let mut host = WindowHost {
        commands,
        shared: shared.clone(),
        shown_generation: None,
        last_publish: None,
    };
    publish(&session.machine, &shared, &mut host.shown_generation);
    let ending = super::debug_session(&mut session.machine, debug, &mut host);
    lock(&shared).done = true;
    (session, ending)
}

/// Hand one command to the machine; false for Quit.
fn apply(session: &mut Session, command: Command) -> bool {
    apply_to(&mut session.machine, command)
}

fn apply_to(machine: &mut Machine, command: Command) -> bool {
    // Through the input log, so --record sees it and a replay ignores it.
    machine.input(match command {
        Command::Key(key, pressed) => Input::Key { key, pressed },
        Command::Mouse {
            dx,
            dy,
            dz,
            buttons,
        } => Input::Mouse {
            dx,
            dy,
            dz,
            buttons,
        },
        Command::Reset => Input::Reset,
        Command::Quit => return false,
    });
    true
}

/// Render the picture for the window if it changed since the last one.
fn publish(machine: &Machine, shared: &Shared, shown: &mut Option<u64>) {
    let generation = machine.bus.vga.generation();
    let frame = (*shown != Some(generation)).then(|| machine.bus.vga.render());
    *shown = Some(generation);
    let mut screen = lock(shared);
    screen.instructions = machine.cpu.instructions;
    screen.halted = machine.halted_for_good();
    if let Some(f) = frame {
        screen.frame = Some((f, generation));
    }
}

/// The window's side: keyboard, mouse, drawing, the title.
struct Ui {
    commands: Sender<Command>,
    /// Under the debugger: Ctrl+C sets this (the machine's interrupt flag).
    break_flag: Option<Arc<AtomicBool>>,
    /// Host keys down at the last look.
    held: HashSet<HostKey>,
    grabbed: bool,
    last_pointer: Option<(f32, f32)>,
    last_buttons: u8,
    pixels: Vec<u32>,
    size: (usize, usize),
    drawn_generation: Option<u64>,
    title_at: Instant,
    title_instructions: u64,
    mips: f64,
    /// Whether the title shows the grabbed-mouse hint.
    titled_grab: bool,
    /// Whether the title says the guest has halted.
    titled_halted: bool,
}

impl Ui {
    fn new(commands: Sender<Command>, break_flag: Option<Arc<AtomicBool>>) -> Ui {
        Ui {
            commands,
            break_flag,
            held: HashSet::new(),
            grabbed: false,
            last_pointer: None,
            last_buttons: 0,
            pixels: vec![0; 720 * 400],
            size: (720, 400),
            drawn_generation: None,
            title_at: Instant::now(),
            title_instructions: 0,
            mips: 0.0,
            titled_grab: false,
            titled_halted: false,
        }
    }

    fn send(&self, c: Command) {
        // The worker has stopped: the loop sees `done` next.
        let _ = self.commands.send(c);
    }

    fn run(&mut self, window: &mut Window, shared: &Shared) {
        loop {
            if !window.is_open() {
                self.send(Command::Quit);
                return;
            }
            let (frame, instructions, halted, done) = {
                let mut s = lock(shared);
                let fresh = s
                    .frame
                    .as_ref()
                    .is_some_and(|(_, g)| Some(*g) != self.drawn_generation);
                (
                    fresh.then(|| s.frame.take()).flatten(),
                    s.instructions,
                    s.halted,
                    s.done,
                )
            };
            if done {
                return;
            }
            if window.is_active() {
                if !self.keyboard(window) {
                    self.send(Command::Quit);
                    return;
                }
                self.mouse(window);
            } else {
                self.focus_lost(window);
            }
            if let Some((f, g)) = frame {
                self.drawn_generation = Some(g);
                self.size = (f.width as usize, f.height as usize);
                self.pixels = f.pixels;
            }
            let (w, h) = self.size;
            if window.update_with_buffer(&self.pixels, w, h).is_err() {
                window.update();
            }
            self.title(window, instructions, halted);
        }
    }

    /// Forward key changes; false when the quit combination was pressed.
    fn keyboard(&mut self, window: &Window) -> bool {
        let now: HashSet<HostKey> = window.get_keys().into_iter().collect();
        for &k in self.held.difference(&now) {
            if let Some(key) = pc_key(k) {
                self.send(Command::Key(key, false));
            }
        }
        let host_combo = [HostKey::LeftCtrl, HostKey::RightCtrl]
            .iter()
            .any(|k| now.contains(k))
            && [HostKey::LeftAlt, HostKey::RightAlt]
                .iter()
                .any(|k| now.contains(k));
        let ctrl_only = [HostKey::LeftCtrl, HostKey::RightCtrl]
            .iter()
            .any(|k| now.contains(k))
            && !host_combo;
        let pressed: Vec<HostKey> = now.difference(&self.held).copied().collect();
        self.held = now;
        for k in pressed {
            match k {
                HostKey::C if ctrl_only && self.break_flag.is_some() => {
                    if let Some(f) = &self.break_flag {
                        f.store(true, Ordering::Relaxed);
                    }
                }
                HostKey::G if host_combo => self.release_mouse(),
                HostKey::R if host_combo => self.send(Command::Reset),
                HostKey::Q if host_combo => return false,
                _ => {
                    if let Some(key) = pc_key(k) {
                        self.send(Command::Key(key, true));
                    }
                }
            }
        }
        true
    }

    /// Another window has the keyboard: the keys held here are released
    /// for the guest (their releases will not come to us) and the mouse
    /// is let go.
    fn focus_lost(&mut self, window: &mut Window) {
        for k in std::mem::take(&mut self.held) {
            if let Some(key) = pc_key(k) {
                self.send(Command::Key(key, false));
            }
        }
        if self.grabbed {
            self.release_mouse();
            window.set_cursor_visibility(true);
        }
    }

    fn release_mouse(&mut self) {
        self.grabbed = false;
        self.last_pointer = None;
    }

    fn mouse(&mut self, window: &mut Window) {
        let pointer = window.get_unscaled_mouse_pos(MouseMode::Discard);
        let mut held = 0;
        for (b, bit) in [
            (MouseButton::Left, buttons::LEFT),
            (MouseButton::Right, buttons::RIGHT),
            (MouseButton::Middle, buttons::MIDDLE),
        ] {
            if window.get_mouse_down(b) {
                held |= bit;
            }
        }
        window.set_cursor_visibility(!self.grabbed);
        if !self.grabbed {
            // A click inside the window grabs; the click itself is the
            // host's.
            if pointer.is_some() && held & buttons::LEFT != 0 && self.last_buttons == 0 {
                self.grabbed = true;
                self.last_pointer = pointer;
            }
            self.last_buttons = held;
            return;
        }
        let (dx, dy) = match (pointer, self.last_pointer) {
            (Some(p), Some(q)) => ((p.0 - q.0) as i32, (p.1 - q.1) as i32),
            _ => (0, 0),
        };
        if pointer.is_some() {
            self.last_pointer = pointer;
        }
        // minifb: positive y is the wheel turned away from the user.
        let dz = window
            .get_scroll_wheel()
            .map_or(0, |(_, y)| -(y.signum() as i32));
        if dx != 0 || dy != 0 || dz != 0 || held != self.last_buttons {
            self.send(Command::Mouse {
                dx,
                dy,
                dz,
                buttons: held,
            });
        }
        self.last_buttons = held;
    }

    fn title(&mut self, window: &mut Window, instructions: u64, halted: bool) {
        let elapsed = self.title_at.elapsed();
        if elapsed >= TITLE_PERIOD {
            let n = instructions.saturating_sub(self.title_instructions);
            self.mips = n as f64 / elapsed.as_secs_f64() / 1e6;
            self.title_at = Instant::now();
            self.title_instructions = instructions;
        } else if self.titled_grab == self.grabbed && self.titled_halted == halted {
            return;
        }
        self.titled_grab = self.grabbed;
        self.titled_halted = halted;
        let hint = if self.grabbed {
            " (Ctrl+Alt+G releases the mouse)"
        } else {
            ""
        };
        if halted {
            // Its speed means nothing now: say why the picture is still.
            window.set_title(&format!(
                "oxbox - guest halted (Ctrl+Alt+R resets, Ctrl+Alt+Q quits){hint}"
            ));
        } else {
            window.set_title(&format!("oxbox - {:.1} MIPS{hint}", self.mips));
        }
    }
}
