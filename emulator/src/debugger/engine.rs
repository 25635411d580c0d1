//! The debugger engine: running to a stop, breakpoints of every kind,
//! and side-effect-free access to registers and memory. No text here: the
//! REPL ([`super::repl`]) and, later, a GDB remote stub sit on top.
//!
//! The breakpoints themselves live in the CPU ([`crate::cpu::hooks`]), the
//! one place that checks them; the engine edits those lists, re-arms the
//! CPU's flags and turns the CPU's and machine's exits into a
//! [`StopReason`].

use std::io::Write;
use std::sync::atomic::Ordering;

use crate::cpu::hooks::{BreakAt, IoBreak, Stop, Watch};
use crate::cpu::paging::PageWalk;
use crate::cpu::segment::Descriptor;
use crate::cpu::{reg, seg, Cpu, RunExit};
use crate::machine::Machine;
use crate::savestate::Snapshot;

use super::disasm::Disassembler;
use super::trace::trace_line;

/// Instructions run between two calls of [`Host::slice_done`] while
/// continuing: the front end stays responsive and Ctrl-C is seen soon.
const SLICE: u64 = 200_000;

/// How far to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Until something stops it (`c`).
    Continue,
    /// Until this many more instructions have retired (`s n`).
    Step(u64),
    /// Until the cycle counter reaches this value (`until cycle N`).
    UntilCycle(u64),
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A breakpoint, watchpoint, I/O or interrupt break.
    Hook(Stop),
    /// `s n` completed.
    Stepped,
    /// `until cycle N` reached its cycle.
    CycleReached,
    /// Ctrl-C (terminal or window).
    UserBreak,
    /// The CPU halted with nothing that can wake it.
    Halted,
    /// Triple fault with resets disabled (--no-reboot).
    Shutdown,
    /// The guest wrote the exit port; the run status it asked for.
    GuestExit(i32),
    /// The front end asked to quit (the window closed).
    HostQuit,
}

/// The front end around a run: called between slices of a long run.
pub trait Host {
    /// Show the screen, deliver input. False: the user asked to quit.
    fn slice_done(&mut self, machine: &mut Machine) -> bool {
        let _ = machine;
        true
    }
}

/// A front end with nothing to do between slices (headless, tests).
pub struct NoHost;

impl Host for NoHost {}

/// A register the debugger reads and writes by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// A general register, by [`reg`] number.
    Gpr(usize),
    Eip,
    Eflags,
    /// A segment register's selector, by [`seg`] number.
    Seg(usize),
    /// CR0, CR2, CR3 or CR4.
    Cr(u8),
}

impl Register {
    /// By name, as the registers are shown (`eax`, `eflags`, `cs`, `cr3`).
    pub fn parse(name: &str) -> Option<Register> {
        let name = name.trim_start_matches('$').to_ascii_lowercase();
        if let Some(i) = reg::NAMES.iter().position(|&n| n == name) {
            return Some(Register::Gpr(i));
        }
        if let Some(i) = seg::NAMES.iter().position(|&n| n == name) {
            return Some(Register::Seg(i));
        }
        match name.as_str() {
            "eip" => Some(Register::Eip),
            "eflags" => Some(Register::Eflags),
            "cr0" => Some(Register::Cr(0)),
            "cr2" => Some(Register::Cr(2)),
            "cr3" => Some(Register::Cr(3)),
            "cr4" => Some(Register::Cr(4)),
            _ => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Register::Gpr(i) => reg::NAMES[i].to_string(),
            Register::Eip => "eip".into(),
            Register::Eflags => "eflags".into(),
            Register::Seg(i) => seg::NAMES[i].to_string(),
            Register::Cr(n) => format!("cr{n}"),
        }
    }

    pub fn get(self, cpu: &Cpu) -> u32 {
        match self {
            Register::Gpr(i) => cpu.regs[i],
            Register::Eip => cpu.eip,
            Register::Eflags => cpu.flags_word(),
            Register::Seg(i) => cpu.segs[i].selector as u32,
            Register::Cr(0) => cpu.cr0,
            Register::Cr(2) => cpu.cr2,
            Register::Cr(3) => cpu.cr3,
            Register::Cr(_) => cpu.cr4,
        }
    }

    /// Write the register as the debugger may: general registers, EIP and
    /// EFLAGS directly; segment registers only in real and v8086 mode
    /// (a protected-mode selector needs its descriptor loaded, which the
    /// guest must do). Control registers are not writable here.
    pub fn set(self, cpu: &mut Cpu, value: u32) -> Result<(), String> {
        match self {
            Register::Gpr(i) => cpu.regs[i] = value,
            Register::Eip => cpu.eip = value,
            Register::Eflags => cpu.load_flags_raw(value),
            Register::Seg(i) if !cpu.protected_mode() || cpu.v86() => {
                cpu.load_seg_real(i, value as u16)
            }
            Register::Seg(_) => {
                return Err("segment registers can only be set in real or v8086 mode".into())
            }
            Register::Cr(_) => return Err("control registers cannot be set here".into()),
        }
        // IF or TF may have changed: the run loop looks again before the
        // next instruction.
        cpu.request_irq_poll();
        Ok(())
    }
}

/// An address as the user writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    Linear(u32),
    /// selector:offset, through the segment's base.
    SegOff(u16, u32),
}

/// One disassembled instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisasmLine {
    /// CS selector and offset, when disassembling through CS.
    pub cs_ip: Option<(u16, u32)>,
    pub lin: u32,
    pub bytes: Vec<u8>,
    pub text: String,
}

/// Instructions between the periodic snapshots a long run keeps for
/// reverse execution, and the least distance between two taken at stops.
const SNAPSHOT_INTERVAL: u64 = 100_000_000;
const SNAPSHOT_GAP: u64 = 1_000_000;
/// Snapshots kept at most: each copies all of RAM and VRAM.
const MAX_SNAPSHOTS: usize = 4;

/// A snapshot for reverse execution, with the input log's position.
struct Mark {
    state: Snapshot,
    instructions: u64,
    inputs: usize,
}

/// The debugger's own state; everything else is in the machine.
pub struct Engine {
    trace: Option<Box<dyn Write>>,
    disasm: Disassembler,
    /// Oldest first, all on the present timeline.
    history: Vec<Mark>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            trace: None,
            disasm: Disassembler::new(),
            history: Vec::new(),
        }
    }

    // ----- breakpoints ----------------------------------------------------

    /// Add an instruction breakpoint; returns its index.
    pub fn add_breakpoint(m: &mut Machine, at: BreakAt) -> usize {
        m.cpu.hooks.breakpoints.push(at);
        m.cpu.rearm_hooks();
        m.cpu.hooks.breakpoints.len() - 1
    }

    /// Remove breakpoint `index` (the later ones move down by one).
    pub fn delete_breakpoint(m: &mut Machine, index: usize) -> bool {
        let ok = index < m.cpu.hooks.breakpoints.len();
        if ok {
            m.cpu.hooks.breakpoints.remove(index);
            m.cpu.rearm_hooks();
        }
        ok
    }

    pub fn add_watch(m: &mut Machine, w: Watch) -> usize {
        m.cpu.hooks.watches.push(w);
        m.cpu.rearm_hooks();
        m.cpu.hooks.watches.len() - 1
    }

    /// Remove watchpoint `index`, or all of them.
    pub fn delete_watch(m: &mut Machine, index: Option<usize>) -> bool {
        let ok = remove(&mut m.cpu.hooks.watches, index);
        m.cpu.rearm_hooks();
        ok
    }

    pub fn add_io_break(m: &mut Machine, b: IoBreak) -> usize {
        m.cpu.hooks.io.push(b);
        m.cpu.rearm_hooks();
        m.cpu.hooks.io.len() - 1
    }

    /// Remove I/O breakpoint `index`, or all of them.
    pub fn delete_io_break(m: &mut Machine, index: Option<usize>) -> bool {
        let ok = remove(&mut m.cpu.hooks.io, index);
        m.cpu.rearm_hooks();
        ok
    }

    /// Break (or stop breaking) when `vector` is delivered; `None`: every
    /// vector off.
    pub fn set_interrupt_break(m: &mut Machine, vector: Option<u8>, on: bool) {
        match vector {
            Some(v) => m.cpu.hooks.set_interrupt_break(v, on),
            None => {
                for v in 0..=255 {
                    m.cpu.hooks.set_interrupt_break(v, false);
                }
            }
        }
    }

    // ----- running --------------------------------------------------------

    /// Run until `mode` is satisfied or something stops the machine. A
    /// breakpoint at the starting instruction does not stop it again.
    pub fn run(&mut self, m: &mut Machine, mode: RunMode, host: &mut dyn Host) -> StopReason {
        self.checkpoint(m, SNAPSHOT_GAP);
        self.run_from(m, mode, host, false, true)
    }

    /// [`Engine::run`]; `stop_at_start`: a breakpoint at the first
    /// instruction stops it too (a re-execution from a snapshot taken at a
    /// breakpoint sees that hit); `keep`: take periodic snapshots.
    fn run_from(
        &mut self,
        m: &mut Machine,
        mode: RunMode,
        host: &mut dyn Host,
        stop_at_start: bool,
        keep: bool,
    ) -> StopReason {
        m.cpu.hooks.stop = None;
        m.cpu.hooks.resume_at = (!stop_at_start).then(|| current_linear(&m.cpu));
        m.interrupt.store(false, Ordering::Relaxed);
        let target = match mode {
            RunMode::Step(n) => m.cpu.instructions.saturating_add(n),
            _ => u64::MAX,
        };
        let until = match mode {
            RunMode::UntilCycle(c) => Some(c),
            _ => None,
        };
        loop {
            let slice = target.saturating_sub(m.cpu.instructions).min(SLICE);
            let exit = m.run_to_cycle(slice, until);
            self.write_trace(m);
            if let Some(stop) = m.cpu.hooks.stop.take() {
                return StopReason::Hook(stop);
            }
            match exit {
                RunExit::Stopped | RunExit::Debug => {
                    if m.interrupt.swap(false, Ordering::Relaxed) {
                        return StopReason::UserBreak;
                    }
                    if let Some(status) = m.bus.exit_status {
                        return StopReason::GuestExit(status);
                    }
                }
                RunExit::Deadline => return StopReason::CycleReached,
                RunExit::Halted => return StopReason::Halted,
                RunExit::Shutdown => return StopReason::Shutdown,
                RunExit::Budget => {
                    if m.cpu.instructions >= target {
                        return StopReason::Stepped;
                    }
                }
            }
            if !host.slice_done(m) {
                return StopReason::HostQuit;
            }
            if keep {
                self.checkpoint(m, SNAPSHOT_INTERVAL);
            }
        }
    }

    // ----- reverse execution ----------------------------------------------

    /// Keep a snapshot of the present if the latest is `gap` or more
    /// instructions back; beyond [`MAX_SNAPSHOTS`] the second oldest goes
    /// (the oldest stays: the furthest a reverse can reach).
    fn checkpoint(&mut self, m: &mut Machine, gap: u64) {
        let now = m.cpu.instructions;
        if self
            .history
            .iter()
            .any(|h| h.instructions + gap > now && h.instructions <= now)
        {
            return;
        }
        // A machine that cannot be saved (a written-through disk image)
        // just has no history to go back to.
        let Ok(state) = m.snapshot() else {
            return;
        };
        // Snapshots after the present belong to a future that a changed
        // input may no longer reach.
        self.history.retain(|h| h.instructions < now);
        self.history.push(Mark {
            state,
            instructions: now,
            inputs: m.inputs.cursor(),
        });
        if self.history.len() > MAX_SNAPSHOTS {
            self.history.remove(1);
        }
    }

    /// Forget the snapshots (the machine was loaded from elsewhere).
    pub fn forget_history(&mut self) {
        self.history.clear();
    }

    /// The instruction count of the oldest state reverse execution reaches.
    pub fn history_start(&self) -> Option<u64> {
        self.history.first().map(|h| h.instructions)
    }

    fn rewind(&self, m: &mut Machine, index: usize) -> Result<(), String> {
        let h = &self.history[index];
        m.restore(&h.state)
            .map_err(|e| format!("restoring a snapshot: {e}"))?;
        m.inputs.set_cursor(h.inputs);
        Ok(())
    }

    /// Re-execute up to instruction count `target`, silently (no trace),
    /// through breakpoints; returns each stop on the way with its
    /// instruction count. With `stop_at` the run ends at that many stops.
    fn forward(
        &mut self,
        m: &mut Machine,
        target: u64,
        stop_at: Option<usize>,
    ) -> Vec<(u64, Stop)> {
        let trace = self.trace.take();
        let tracing = std::mem::replace(&mut m.cpu.hooks.tracing, false);
        m.cpu.rearm_hooks();
        let mut stops = Vec::new();
        let mut first = true;
        while m.cpu.instructions < target {
            let left = target - m.cpu.instructions;
            match self.run_from(m, RunMode::Step(left), &mut NoHost, first, false) {
                StopReason::Hook(stop) => {
                    stops.push((m.cpu.instructions, stop));
                    if Some(stops.len()) == stop_at {
                        break;
                    }
                }
                _ => break,
            }
            first = false;
        }
        self.trace = trace;
        m.cpu.hooks.tracing = tracing;
        m.cpu.hooks.trace.clear();
        m.cpu.rearm_hooks();
        stops
    }

    /// `rs n`: back to the state `n` instructions ago (the newest snapshot
    /// at or before it, then forward to exactly that count).
    pub fn reverse_step(&mut self, m: &mut Machine, n: u64) -> Result<StopReason, String> {
        let target = m.cpu.instructions.saturating_sub(n);
        let index = self
            .history
            .iter()
            .rposition(|h| h.instructions <= target)
            .ok_or_else(|| self.no_history())?;
        self.rewind(m, index)?;
        self.forward(m, target, None);
        Ok(StopReason::Stepped)
    }

    /// `rc`: back to the latest breakpoint, watchpoint, I/O or interrupt
    /// stop before the present: re-execute from each snapshot, newest
    /// first, until one has a stop before now, then run to that stop.
    pub fn reverse_continue(&mut self, m: &mut Machine) -> Result<StopReason, String> {
        let now = m.cpu.instructions;
        for index in (0..self.history.len()).rev() {
            if self.history[index].instructions >= now {
                continue;
            }
            self.rewind(m, index)?;
            let stops = self.forward(m, now, None);
            let before = stops.iter().take_while(|(t, _)| *t < now).count();
            if before > 0 {
                self.rewind(m, index)?;
                let stops = self.forward(m, now, Some(before));
                if let Some(&(_, stop)) = stops.last() {
                    return Ok(StopReason::Hook(stop));
                }
            }
        }
        // Nothing to go back to: stay in the present.
        if let Some(index) = self.history.iter().rposition(|h| h.instructions <= now) {
            self.rewind(m, index)?;
            self.forward(m, now, None);
        }
        Err(match self.history_start() {
            Some(t) => format!("no stop between t={t} (the oldest snapshot) and now"),
            None => self.no_history(),
        })
    }

    fn no_history(&self) -> String {
        match self.history_start() {
            Some(t) => format!("the oldest snapshot is at t={t}: cannot go back further"),
            None => "no snapshot to go back to (run the guest first)".into(),
        }
    }

    // ----- trace ----------------------------------------------------------

    /// Trace every instruction to `out` (one line each, see
    /// [`super::trace`]), or stop tracing with `None`.
    pub fn set_trace(&mut self, m: &mut Machine, out: Option<Box<dyn Write>>) {
        if let Some(mut old) = self.trace.take() {
            let _ = old.flush();
        }
        self.trace = out;
        m.cpu.hooks.tracing = self.trace.is_some();
        m.cpu.hooks.trace.clear();
        m.cpu.rearm_hooks();
    }

    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    fn write_trace(&mut self, m: &mut Machine) {
        let Some(out) = &mut self.trace else {
            return;
        };
        for r in m.cpu.hooks.trace.drain(..) {
            // A closed trace file must not stop the guest.
            let _ = writeln!(out, "{}", trace_line(&mut self.disasm, &r));
        }
        let _ = out.flush();
    }

    // ----- memory ---------------------------------------------------------

    /// The linear address of selector:offset: the base in the cache of a
    /// segment register holding that selector (CS first), as the CPU
    /// would use it (after reset CS's base is FFFF0000); otherwise the
    /// selector shifted in real and v8086 mode, or the descriptor in the
    /// GDT or LDT in protected mode.
    pub fn linear(m: &Machine, addr: Addr) -> Option<u32> {
        let cpu = &m.cpu;
        let (sel, off) = match addr {
            Addr::Linear(l) => return Some(l),
            Addr::SegOff(sel, off) => (sel, off),
        };
        let order = [seg::CS, seg::DS, seg::SS, seg::ES, seg::FS, seg::GS];
        if let Some(&s) = order.iter().find(|&&s| cpu.segs[s].selector == sel) {
            return Some(cpu.segs[s].base.wrapping_add(off));
        }
        if !cpu.protected_mode() || cpu.v86() {
            return Some(((sel as u32) << 4).wrapping_add(off));
        }
        let d = Engine::descriptor(m, sel)?;
        Some(d.base.wrapping_add(off))
    }

    /// The descriptor `selector` names in the GDT or LDT, read without
    /// side effects.
    pub fn descriptor(m: &Machine, selector: u16) -> Option<Descriptor> {
        let cpu = &m.cpu;
        let (base, limit) = if selector & 4 != 0 {
            (cpu.ldtr.base, cpu.ldtr.limit)
        } else {
            (cpu.gdtr_base, cpu.gdtr_limit)
        };
        let index = (selector & !7) as u32;
        if index + 7 > limit {
            return None;
        }
        let mut b = [0u8; 8];
        (Engine::read_linear(m, base.wrapping_add(index), &mut b) == 8)
            .then(|| Descriptor::parse(u64::from_le_bytes(b)))
    }

    /// Read at a linear address; returns how many bytes were mapped.
    pub fn read_linear(m: &Machine, lin: u32, buf: &mut [u8]) -> usize {
        m.cpu.peek_linear(&m.bus, lin, buf)
    }

    /// Read at a physical address (RAM, or ROM; 0xFF where nothing reads
    /// without side effects).
    pub fn read_physical(m: &Machine, phys: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = m.cpu.peek_phys(&m.bus, phys.wrapping_add(i as u32));
        }
    }

    /// Write guest RAM at a physical address (the decode cache sees the
    /// change); bytes outside RAM are dropped. For a GDB stub's `M`.
    pub fn write_physical(m: &mut Machine, phys: u32, data: &[u8]) {
        m.cpu.mem_mut().load(phys, data);
    }

    /// Write at a linear address; returns how many bytes were mapped.
    pub fn write_linear(m: &mut Machine, lin: u32, data: &[u8]) -> usize {
        for (i, &b) in data.iter().enumerate() {
            let Some(p) = m.cpu.peek_translate(lin.wrapping_add(i as u32)) else {
                return i;
            };
            m.cpu.mem_mut().load(p, &[b]);
        }
        data.len()
    }

    /// The page walk for `lin`, without side effects.
    pub fn page_walk(m: &Machine, lin: u32) -> PageWalk {
        m.cpu.debug_walk(lin)
    }

    // ----- disassembly ----------------------------------------------------

    /// `n` instructions from `at` (default CS:EIP), decoded as the current
    /// code segment's size (16-bit in real and v8086 mode).
    pub fn disassemble(&mut self, m: &Machine, at: Option<Addr>, n: usize) -> Vec<DisasmLine> {
        let cpu = &m.cpu;
        let at = at.unwrap_or(Addr::SegOff(cpu.segs[seg::CS].selector, cpu.eip));
        let code32 = cpu.code32() && !cpu.v86();
        let (mut cs_ip, mut lin) = match at {
            Addr::SegOff(sel, off) => (Some((sel, off)), Engine::linear(m, at).unwrap_or(off)),
            Addr::Linear(l) => (None, l),
        };
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut buf = [0u8; 15];
            let got = Engine::read_linear(m, lin, &mut buf);
            if got == 0 {
                break;
            }
            let ip = cs_ip.map_or(lin, |(_, off)| off);
            let (text, len) = self.disasm.decode(&buf[..got], code32, ip);
            out.push(DisasmLine {
                cs_ip,
                lin,
                bytes: buf[..len.max(1)].to_vec(),
                text,
            });
            let step = len.max(1) as u32;
            lin = lin.wrapping_add(step);
            cs_ip = cs_ip.map(|(s, o)| (s, o.wrapping_add(step)));
        }
        out
    }
}

/// The linear address of CS:EIP.
pub fn current_linear(cpu: &Cpu) -> u32 {
    cpu.segs[seg::CS].base.wrapping_add(cpu.eip)
}

/// Remove entry `index`, or every entry for `None`.
fn remove<T>(list: &mut Vec<T>, index: Option<usize>) -> bool {
    match index {
        None => {
            list.clear();
            true
        }
        Some(i) if i < list.len() => {
            list.remove(i);
            true
        }
        Some(_) => false,
    }
}
