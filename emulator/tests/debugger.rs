//! The built-in debugger on a small test guest (tests/roms/debugger_guest.asm,
//! whose labels sit at fixed offsets): the engine API directly, and a
//! scripted session through the oxbox binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use oxbox::cpu::hooks::{BreakAt, IoBreak, Stop, Watch};
use oxbox::cpu::paging::{pte, Access};
use oxbox::cpu::protected::Source;
use oxbox::cpu::{reg, seg, Cpu, CpuModel};
use oxbox::debugger::repl::disasm_line;
use oxbox::debugger::{Addr, Engine, NoHost, RunMode, StopReason};
use oxbox::machine::Machine;
use oxbox_devices::NullBus;

/// Where the guest's labels are (see the ROM's header).
const CS: u16 = 0xF000;
const BP_HERE: u32 = 0x40;
const AFTER_STORE: u32 = 0x45;
const OUT_HERE: u32 = 0x60;
const UD_HERE: u32 = 0x70;
const UD_HANDLER: u32 = 0xA0;

fn assemble(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roms/debugger_guest.asm");
    let out = dir.join("debugger_guest.bin");
    let status = Command::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success(), "nasm failed on debugger_guest.asm");
    out
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-debugger-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn guest_rom(name: &str) -> Vec<u8> {
    std::fs::read(assemble(&temp_dir(name))).unwrap()
}

fn machine(rom: &[u8]) -> Machine {
    Machine::new(
        CpuModel::PentiumPro,
        1 << 20,
        rom,
        Box::new(std::io::sink()),
    )
    .unwrap()
}

fn ip(m: &Machine) -> (u16, u32) {
    (m.cpu.segs[seg::CS].selector, m.cpu.eip)
}

fn phys(m: &Machine, addr: u32, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    Engine::read_physical(m, addr, &mut b);
    b
}

#[test]
fn breakpoint_step_watchpoint_io_and_interrupt_breaks_stop_where_they_should() {
    let mut m = machine(&guest_rom("engine"));
    let mut e = Engine::new();
    Engine::add_breakpoint(
        &mut m,
        BreakAt::Virtual {
            cs: CS,
            eip: BP_HERE,
        },
    );
    let stop = e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(stop, StopReason::Hook(Stop::Breakpoint { index: 0 }));
    // Stopped before the instruction: ADD AX, BX has not run.
    assert_eq!(ip(&m), (CS, BP_HERE));
    assert_eq!(m.cpu.regs[reg::AX], 0x1234);
    assert_eq!(m.cpu.regs[reg::BX], 0x5678);

    assert_eq!(
        e.run(&mut m, RunMode::Step(1), &mut NoHost),
        StopReason::Stepped
    );
    assert_eq!(m.cpu.regs[reg::AX], 0x68AC);
    assert_eq!(ip(&m), (CS, BP_HERE + 2));
    assert_eq!(phys(&m, 0x500, 2), [0, 0], "the store has not happened yet");

    Engine::add_watch(
        &mut m,
        Watch {
            phys: 0x500,
            len: 2,
            write: true,
        },
    );
    let stop = e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(
        stop,
        StopReason::Hook(Stop::Watch {
            index: 0,
            lin: 0x500,
            phys: 0x500,
            len: 2,
            write: true,
            value: Some(0x68AC),
        })
    );
    // A watchpoint stops after the instruction that wrote.
    assert_eq!(ip(&m), (CS, AFTER_STORE));
    assert_eq!(phys(&m, 0x500, 2), [0xAC, 0x68]);

    Engine::add_io_break(&mut m, IoBreak { port: 0x80, len: 1 });
    let stop = e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(
        stop,
        StopReason::Hook(Stop::Io {
            index: 0,
            port: 0x80,
            len: 1,
            write: true,
            value: 0x42,
        })
    );
    assert_eq!(ip(&m), (CS, OUT_HERE + 2));
    // The loop between the store and the OUT ran its three rounds.
    assert_eq!(phys(&m, 0x502, 2), [3, 0]);

    Engine::set_interrupt_break(&mut m, Some(6), true);
    let stop = e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(
        stop,
        StopReason::Hook(Stop::Interrupt {
            vector: 6,
            source: Source::Exception,
            from: (CS, UD_HERE),
        })
    );
    assert_eq!(
        ip(&m),
        (CS, UD_HANDLER),
        "at the #UD handler's first instruction"
    );

    let stop = e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(stop, StopReason::GuestExit(1));
    assert_eq!(phys(&m, 0x504, 2), [0xEF, 0xBE], "the guest ran to its end");
}

#[test]
fn the_guest_sees_nothing_of_the_debugger() {
    let rom = guest_rom("invisible");
    let mut plain = machine(&rom);
    plain.run(1_000_000);

    let mut m = machine(&rom);
    let mut e = Engine::new();
    Engine::add_breakpoint(&mut m, BreakAt::Linear(0xF0000 + BP_HERE));
    Engine::add_breakpoint(&mut m, BreakAt::Physical(0xF0000 + OUT_HERE));
    Engine::add_watch(
        &mut m,
        Watch {
            phys: 0x502,
            len: 2,
            write: false,
        },
    );
    Engine::add_io_break(&mut m, IoBreak { port: 0x80, len: 1 });
    Engine::set_interrupt_break(&mut m, Some(6), true);
    let mut stops = Vec::new();
    loop {
        match e.run(&mut m, RunMode::Continue, &mut NoHost) {
            StopReason::Hook(s) => stops.push(s),
            StopReason::GuestExit(1) => break,
            other => panic!("unexpected stop {other:?}"),
        }
    }
    // lb, three reads of the INC loop, pb, the OUT, the #UD.
    assert_eq!(stops.len(), 7, "{stops:?}");
    assert_eq!(m.cpu.instructions, plain.cpu.instructions);
    assert_eq!(m.cpu.cycles, plain.cpu.cycles);
    assert_eq!(m.cpu.regs, plain.cpu.regs);
    assert_eq!(m.cpu.flags_word(), plain.cpu.flags_word());
    assert_eq!(m.cpu.debug.dr6, plain.cpu.debug.dr6, "no #DB, no DR6 bits");
    assert_eq!(phys(&m, 0, 0x8000), phys(&plain, 0, 0x8000));
}

#[test]
fn until_cycle_stops_at_that_cycle() {
    let mut m = machine(&guest_rom("until"));
    let mut e = Engine::new();
    assert_eq!(
        e.run(&mut m, RunMode::UntilCycle(20), &mut NoHost),
        StopReason::CycleReached
    );
    assert_eq!(m.cpu.cycles, 20);
}

#[test]
fn disassembly_follows_cs_and_prints_bochs_layout() {
    let mut m = machine(&guest_rom("disasm"));
    let mut e = Engine::new();
    // The reset vector, through CS's cache (base FFFF0000 at reset).
    let at_reset = e.disassemble(&m, None, 1);
    assert_eq!(at_reset[0].lin, 0xFFFF_FFF0);
    assert_eq!(at_reset[0].text, "jmp far 0xf000:0x0000");
    // After the far jump CS's base is F0000.
    e.run(&mut m, RunMode::Step(1), &mut NoHost);
    let lines = e.disassemble(&m, Some(Addr::SegOff(CS, BP_HERE)), 2);
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["add ax, bx", "mov [0x500], ax"]);
    assert_eq!(lines[1].bytes, [0xA3, 0x00, 0x05]);
    assert_eq!(
        disasm_line(&lines[0]),
        format!("f000:00000040 (0x000f0040): {:<32} ; 01d8", "add ax, bx")
    );
    // The decoder reads the same bytes the CPU executes.
    Engine::add_breakpoint(&mut m, BreakAt::Linear(0xF0000 + UD_HERE));
    e.run(&mut m, RunMode::Continue, &mut NoHost);
    assert_eq!(e.disassemble(&m, None, 1)[0].text, "ud2");
}

/// A trace sink the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced_run(rom: &[u8]) -> String {
    let mut m = machine(rom);
    let mut e = Engine::new();
    let sink = Shared::default();
    e.set_trace(&mut m, Some(Box::new(sink.clone())));
    assert_eq!(
        e.run(&mut m, RunMode::Continue, &mut NoHost),
        StopReason::GuestExit(1)
    );
    let text = sink.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

#[test]
fn the_trace_is_the_same_every_run_and_has_every_field() {
    let rom = guest_rom("trace");
    let first = traced_run(&rom);
    let second = traced_run(&rom);
    assert_eq!(first, second);
    let lines: Vec<&str> = first.lines().collect();
    // Every instruction the guest executes, to the OUT that ends it (the
    // faulting UD2 included).
    assert!(lines.len() > 90, "{} lines", lines.len());
    let reset: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        reset,
        [
            "0",
            "0",
            "f000:0000fff0",
            "ea000000f0",
            "jmp",
            "far",
            "0xf000:0x0000"
        ],
        "CS keeps its selector (F000), so only EIP changes"
    );
    let add = lines
        .iter()
        .find(|l| l.contains("f000:00000040"))
        .expect("the ADD is traced");
    let fields: Vec<&str> = add.split_whitespace().collect();
    // count, cycles, CS:EIP, bytes, disassembly, changed registers.
    assert_eq!(
        fields,
        [
            "46",
            "56",
            "f000:00000040",
            "01d8",
            "add",
            "ax,",
            "bx",
            "eax=000068ac",
            "eflags=00000006"
        ]
    );
    let ud = lines.iter().find(|l| l.contains("f000:00000070")).unwrap();
    assert!(ud.contains(" 0f0b ") && ud.contains(" ud2 "), "{ud}");
    assert!(
        ud.contains("esp=00006ffa"),
        "the #UD's delivery is the UD2's change: {ud}"
    );
}

#[test]
fn the_page_walk_for_the_debugger_has_no_side_effects() {
    let mut cpu = Cpu::new(CpuModel::PentiumPro, 4 << 20);
    // 32-bit paging: the PDE at 0x1000 maps 0x00400000-0x007FFFFF through
    // the table at 0x2000, whose entry 1 maps 0x00401000 to 0x00005000.
    // Neither has its accessed flag set.
    cpu.mem_mut()
        .load(0x1000 + 4, &(0x2000 | pte::P | pte::RW).to_le_bytes());
    cpu.mem_mut().load(
        0x2000 + 4,
        &(0x5000 | pte::P | pte::RW | pte::US).to_le_bytes(),
    );
    cpu.cr3 = 0x1000;
    cpu.cr0 |= 1 | (1 << 31);
    cpu.cr2 = 0x1234;

    let w = cpu.debug_walk(0x0040_1ABC);
    assert_eq!(
        w.entries,
        [
            (0x1004, (0x2000 | pte::P | pte::RW) as u64),
            (0x2004, (0x5000 | pte::P | pte::RW | pte::US) as u64)
        ]
    );
    assert_eq!(w.level_name(0), "PDE");
    let t = w.result.unwrap();
    assert_eq!((t.phys, t.user, t.writable), (0x5ABC, false, true));
    assert_eq!(cpu.peek_translate(0x0040_1ABC), Some(0x5ABC));
    // No accessed flags, no CR2, no TLB entry.
    assert_eq!(cpu.mem().read_le(0x1004, 4) & pte::A, 0);
    assert_eq!(cpu.mem().read_le(0x2004, 4) & pte::A, 0);
    // Unmapped: the walk stops at the missing PDE, and no #PF is raised.
    let miss = cpu.debug_walk(0x0080_0000);
    assert_eq!(miss.entries.len(), 1);
    assert_eq!(miss.result, Err(0));
    assert_eq!(cpu.peek_translate(0x0080_0000), None);
    assert_eq!(cpu.cr2, 0x1234);

    // The CPU's own walk agrees, and sets the accessed flags.
    let mut bus = NullBus;
    assert_eq!(
        cpu.translate(&mut bus, 0x0040_1ABC, Access::Read),
        Ok(0x5ABC)
    );
    assert_ne!(cpu.mem().read_le(0x2004, 4) & pte::A, 0);
}

#[test]
fn a_scripted_session_through_the_binary() {
    let dir = temp_dir("script");
    let rom = assemble(&dir);
    let trace = dir.join("trace.txt");
    let script = dir.join("script.txt");
    std::fs::write(
        &script,
        format!(
            "vb 0xf000:0x40\n\
             c\n\
             r\n\
             s\n\
             x /2hx 0:0x500\n\
             watch w 0x500 2\n\
             c\n\
             xp /2bx 0x500\n\
             u 0xf000:0x40 2\n\
             iob 0x80\n\
             c\n\
             int 6\n\
             c\n\
             info break\n\
             rs 3\n\
             rc\n\
             c\n\
             trace on {}\n\
             save {state}\n\
             s\n\
             load {state}\n\
             s\n\
             c\n",
            trace.display(),
            state = dir.join("snap.bin").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .arg("--bios")
        .arg(&rom)
        .args(["--display", "none", "--debug-script"])
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let has = |s: &str| assert!(stdout.contains(s), "missing `{s}` in:\n{stdout}");
    has("<oxbox:1> vb 0xf000:0x40\nBreakpoint 1 at vb 0xf000:0x00000040");
    has("Breakpoint 1 reached (vb 0xf000:0x00000040)\nNext at t=46 cycle=56\nf000:00000040 (0x000f0040): add ax, bx");
    has("eax: 0x00001234 4660\n");
    has("ebx: 0x00005678 22136\n");
    has("eflags 0x00000046: id vip vif ac vm rf nt IOPL=0 of df if tf sf ZF af PF cf");
    has("<oxbox:4> s\nNext at t=47 cycle=57\nf000:00000042 (0x000f0042): mov [0x500], ax");
    has("<oxbox:5> x /2hx 0:0x500\n0x00000500: 0x0000 0x0000\n");
    has("Watchpoint 1: write of 2 byte(s) at physical 0x00000500 (linear 0x00000500), value 0x68ac\nNext at t=48 cycle=58\nf000:00000045");
    has("<oxbox:8> xp /2bx 0x500\n0x00000500: 0xac 0x68\n");
    has("f000:00000040 (0x000f0040): add ax, bx                       ; 01d8\nf000:00000042 (0x000f0042): mov [0x500], ax                  ; a30005\n");
    has("I/O breakpoint 1: out to port 0x0080 (1 byte(s)), value 0x42\nNext at t=73 cycle=112\nf000:00000062");
    has("Interrupt 0x06 #UD (exception) from f000:00000070\nNext at t=87 cycle=142\nf000:000000a0 (0x000f00a0): push bp");
    has("Breakpoint 1: vb 0xf000:0x00000040\nWatchpoint 1: write 0x00000500 len 2\nI/O breakpoint 1: port 0x0080 len 1\nInterrupt break: 0x06 #UD\n");
    // Three instructions back, then back to the I/O breakpoint's stop
    // (the last stop before t=84), and on to the #UD again.
    has("<oxbox:15> rs 3\nNext at t=84 cycle=123\nf000:0000006d (0x000f006d): nop");
    has("<oxbox:16> rc\nI/O breakpoint 1: out to port 0x0080 (1 byte(s)), value 0x42\nNext at t=73 cycle=112\nf000:00000062");
    has("<oxbox:17> c\nInterrupt 0x06 #UD (exception) from f000:00000070\nNext at t=87 cycle=142\nf000:000000a0");
    // A state saved at the #UD handler and loaded after a step: the step
    // that follows the load is the same step again.
    let after_save = stdout.split("save ").nth(1).unwrap_or_default();
    assert!(!after_save.starts_with("error"), "{stdout}");
    let step = "Next at t=88 cycle=143\nf000:000000a1";
    assert_eq!(stdout.matches(step).count(), 2, "{stdout}");
    has("The guest ended the run (exit port, status 1)");
    // The guest's exit status is the run's.
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::fs::read_to_string(&trace).unwrap();
    let first = t.lines().next().unwrap_or("");
    assert!(
        first.starts_with("        87          142 f000:000000a0 55 ")
            && first.ends_with("esp=00006ff8"),
        "{first}"
    );
}
