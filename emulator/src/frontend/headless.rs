//! `--display none`: the serial console is the guest's terminal (COM1's
//! back end, stdio by default); until the guest sends anything through
//! COM1, the VGA text screen is mirrored to stdout as it changes.

use std::io::Write;
use std::sync::atomic::Ordering;

use oxbox::cpu::RunExit;
use oxbox::machine::Machine;

use super::text_mirror::TextMirror;
use super::{guest_ending, Ending, Options, Session};

/// Run until the machine stops by itself or Ctrl-C; under the debugger,
/// until its session ends (the terminal is the debugger's: no text mirror).
/// A halt with nothing to wake the CPU ends the run, `--exit-on-halt` or
/// not: headless there is no screen to keep up.
pub fn run(mut machine: Machine, options: &Options) -> (Machine, Ending) {
    if let Some(debug) = &options.debug {
        let ending = super::debug_session(&mut machine, debug, &mut oxbox::debugger::NoHost);
        return (machine, ending);
    }
    let mut session = Session::new(machine, options);
    let mut mirror = Some(TextMirror::new());
    let console_used = || options.console_used.load(Ordering::Relaxed);
    let exit = loop {
        let exit = session.run_frame();
        let done = exit != RunExit::Deadline;
        if console_used() {
            mirror = None;
        }
        if let Some(m) = &mut mirror {
            mirror_sample(m, &session.machine, done);
        }
        if done {
            break exit;
        }
    };
    let ending = guest_ending(&session, exit);
    (session.machine, ending)
}

/// Print what changed on the text screen.
fn mirror_sample(mirror: &mut TextMirror, machine: &Machine, flush: bool) {
    let vga = &machine.bus.vga;
    let cursor = vga.cursor_position().map(|(row, _)| row as usize);
    let lines = mirror.sample(vga.text_snapshot(), cursor, flush);
    if lines.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // A closed stdout must not stop the guest.
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}
