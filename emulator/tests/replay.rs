//! Record and replay, and reverse execution: a demo-disk session with
//! keys and COM1 input, recorded and replayed three times into fresh
//! machines (run in other slices), ends in the recorded machine state; a
//! log with one key moved does not. `--record` with COM1 input from a
//! pipe and `--replay` with stdin closed write the same COM1 output and
//! the same `--savevm` file. In the debugger engine, a reverse step of
//! three instructions returns to the registers of three steps earlier, and
//! a reverse continue to the last breakpoint hit.

#[path = "common/demo.rs"]
mod demo;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use demo::{demo_disk, oxbios_with_disk};
use oxbox::cpu::hooks::{BreakAt, Stop};
use oxbox::cpu::RunExit;
use oxbox::debugger::engine::current_linear;
use oxbox::debugger::{Engine, NoHost, RunMode, StopReason};
use oxbox::machine::Machine;
use oxbox::replay::{Input, InputLog};
use oxbox_devices::ps2::Key;
use oxbox_devices::uart16550::MemoryBackend;

/// oxbox's BIOS booting the demo disk, COM1 on a memory back end routed
/// through the input log.
fn demo_machine() -> (Machine, MemoryBackend) {
    let mut m = oxbios_with_disk(32 << 20, demo_disk());
    let com1 = MemoryBackend::new();
    m.bus.attach_serial(Box::new(com1.clone()));
    m.log_serial_input();
    (m, com1)
}

/// The whole session: the demo is up after about 25 million instructions.
const SESSION: u64 = 60_000_000;

/// A session typed into the running demo: keys through the machine's
/// input, bytes arriving on COM1; returns the log and the final hash.
fn record() -> (String, u64, Vec<u8>) {
    let (mut m, com1) = demo_machine();
    m.inputs.begin(0, 0, m.state_hash());
    assert_eq!(m.run(30_000_000), RunExit::Budget);
    for (i, key) in [Key::KeyH, Key::KeyI, Key::Digit4].into_iter().enumerate() {
        com1.push_input(&[b'a' + i as u8, b'\n']);
        m.input(Input::Key { key, pressed: true });
        assert_eq!(m.run(1_234_567), RunExit::Budget);
        m.input(Input::Key {
            key,
            pressed: false,
        });
        assert_eq!(m.run(2_000_003), RunExit::Budget);
    }
    let left = SESSION - m.cpu.instructions;
    assert_eq!(m.run(left), RunExit::Budget);
    let path = temp("record.log");
    m.inputs
        .save(&path, (m.cpu.instructions, m.cpu.cycles))
        .unwrap();
    let log = std::fs::read_to_string(&path).unwrap();
    (log, m.state_hash(), com1.take_output())
}

/// Replay `log` into a fresh machine, run in slices of `slice`.
fn replay(log: &str, slice: u64) -> (u64, Vec<u8>) {
    let (mut m, com1) = demo_machine();
    m.inputs = InputLog::parse(log).unwrap();
    m.log_serial_input();
    // Live input while replaying is ignored.
    m.input(Input::Key {
        key: Key::KeyQ,
        pressed: true,
    });
    while m.cpu.instructions < SESSION {
        let n = slice.min(SESSION - m.cpu.instructions);
        assert_eq!(m.run(n), RunExit::Budget);
    }
    (m.state_hash(), com1.take_output())
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-replay-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn a_recorded_session_replays_to_the_same_machine_state_three_times() {
    let (log, hash, out) = record();
    assert_eq!(
        log.lines().filter(|l| l.contains(" key ")).count(),
        6,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains(" serial ")).count(),
        6,
        "{log}"
    );
    for slice in [SESSION, 7_777_777, 1_000_003] {
        let (h, o) = replay(&log, slice);
        assert_eq!(h, hash, "replay in slices of {slice}");
        assert_eq!(o, out);
    }
    // The echo of the keys reached COM1 (the demo echoes keystrokes there).
    assert!(String::from_utf8_lossy(&out).contains("hi4"), "{out:?}");

    // The last key and the COM1 bytes typed with it, 5000 instructions
    // earlier: another end.
    let point = log
        .lines()
        .find(|l| l.ends_with(" key Digit4 down"))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap();
    let moved: String = log
        .lines()
        .map(|l| match l.strip_prefix(&format!("{point} ")) {
            Some(rest) => {
                let w: Vec<u64> = point.split(' ').map(|n| n.parse().unwrap()).collect();
                format!("{} {} {rest}\n", w[0] - 5000, w[1] - 5000)
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(moved, log);
    assert_ne!(replay(&moved, SESSION).0, hash);
}

#[test]
fn record_with_piped_serial_input_then_replay_with_stdin_closed_gives_the_same_state() {
    let dir = temp("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |extra: &[&str], input: Option<&[u8]>| {
        let com1 = dir.join(format!("com1-{}.txt", extra[0].trim_start_matches('-')));
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxbox"))
            .args(["--display", "none", "--serial", "stdio"])
            .args(extra)
            .current_dir(&dir)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(bytes).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        std::fs::write(&com1, &out.stdout).unwrap();
        out
    };
    let n = "40000000";
    let rec = run(
        &[
            "--record",
            "s.log",
            "--max-instructions",
            n,
            "--savevm",
            "rec.oxs",
        ],
        Some(b"hello from the host\n"),
    );
    assert!(rec.status.success(), "{rec:?}");
    let log = std::fs::read_to_string(dir.join("s.log")).unwrap();
    assert!(log.starts_with("oxbox-input-log 1\n"), "{log}");
    assert!(log.contains(" serial 0x68\n"), "{log}");
    // No --max-instructions: the replay ends where the recording did.
    let rep = run(&["--replay", "s.log", "--savevm", "rep.oxs"], None);
    assert!(rep.status.success(), "{rep:?}");
    assert_eq!(rep.stdout, rec.stdout);
    let a = std::fs::read(dir.join("rec.oxs")).unwrap();
    let b = std::fs::read(dir.join("rep.oxs")).unwrap();
    assert!(a == b, "the replayed state differs from the recorded one");

    // Another machine refuses the log.
    let other = run(&["--replay", "s.log", "-m", "64"], None);
    assert_eq!(other.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("another machine state"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a step leaves behind: instruction count, cycles, registers.
fn regs(m: &Machine) -> (u64, u64, [u32; 8], u32, u32, u16) {
    let c = &m.cpu;
    (
        c.instructions,
        c.cycles,
        c.regs,
        c.eip,
        c.flags_word(),
        c.segs[oxbox::cpu::seg::CS].selector,
    )
}

#[test]
fn reverse_step_returns_to_the_registers_three_steps_back_and_reverse_continue_to_the_last_hit() {
    let (mut m, _) = demo_machine();
    let mut engine = Engine::new();
    // Into the BIOS's POST a little, where the code loops.
    assert_eq!(
        engine.run(&mut m, RunMode::Step(100_000), &mut NoHost),
        StopReason::Stepped
    );
    let mut seen = vec![(regs(&m), current_linear(&m.cpu))];
    for _ in 0..10 {
        assert_eq!(
            engine.run(&mut m, RunMode::Step(1), &mut NoHost),
            StopReason::Stepped
        );
        seen.push((regs(&m), current_linear(&m.cpu)));
    }
    let stop =
        oxbox::debugger::reverse(&mut m, &mut engine, oxbox::debugger::Reverse::Step(3)).unwrap();
    assert_eq!(stop, StopReason::Stepped);
    assert_eq!(regs(&m), seen[7].0);
    // And forward again: the same steps.
    assert_eq!(
        engine.run(&mut m, RunMode::Step(1), &mut NoHost),
        StopReason::Stepped
    );
    assert_eq!(regs(&m), seen[8].0);
    engine.run(&mut m, RunMode::Step(2), &mut NoHost);
    assert_eq!(regs(&m), seen[10].0);

    // A breakpoint on the instruction of step 2, then on: `rc` goes back
    // to its last hit before the present (in the stepped range, or later
    // if the loop comes round again).
    let at = seen[2].1;
    Engine::add_breakpoint(&mut m, BreakAt::Linear(at));
    let first = engine.run(&mut m, RunMode::Step(5_000_000), &mut NoHost);
    assert_eq!(first, StopReason::Hook(Stop::Breakpoint { index: 0 }));
    let hit = regs(&m);
    assert!(hit.0 > seen[10].0 .0);
    engine.run(&mut m, RunMode::Step(50), &mut NoHost);
    let back =
        oxbox::debugger::reverse(&mut m, &mut engine, oxbox::debugger::Reverse::Continue).unwrap();
    assert_eq!(back, StopReason::Hook(Stop::Breakpoint { index: 0 }));
    // The last hit is the one `c` stopped at, unless the 50 steps passed
    // the breakpoint again.
    assert_eq!(current_linear(&m.cpu), at);
    assert!(m.cpu.instructions >= hit.0);
    if m.cpu.instructions == hit.0 {
        assert_eq!(regs(&m), hit);
    }
    // Once more: the hit before that one.
    let later = m.cpu.instructions;
    let back =
        oxbox::debugger::reverse(&mut m, &mut engine, oxbox::debugger::Reverse::Continue).unwrap();
    assert_eq!(back, StopReason::Hook(Stop::Breakpoint { index: 0 }));
    assert!(m.cpu.instructions < later);
    assert_eq!(current_linear(&m.cpu), at);
}
