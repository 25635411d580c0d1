//! A GDB remote stub (`--gdb tcp:HOST:PORT`) on the debugger engine.
//!
//! The remote serial protocol itself is the `gdbstub` crate's (packet
//! framing, acks, `qSupported`, the register layout of `gdbstub_arch`'s
//! i386 target with segment, x87 and SSE registers); this file maps it
//! onto [`Engine`]: memory by linear address, `Z0`/`Z1` breakpoints as
//! linear-address breakpoints, `Z2`-`Z4` watchpoints as physical
//! watchpoints (translated when set), `monitor` lines run through the
//! REPL's command code ([`Session::execute`]).
//!
//! Continuing runs the engine in slices; between slices the socket is
//! peeked, so gdb's interrupt (the 0x03 byte) stops the guest. gdb's
//! reverse-stepi and reverse-continue (`bs`/`bc`) go to the engine's
//! reverse execution (snapshots plus deterministic re-execution); going
//! back past the oldest snapshot reports the start of the replay log.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::reverse_exec::{
    ReplayLogPosition, ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86CoreRegs;
use gdbstub_arch::x86::X86_SSE;

use crate::cpu::fpu::F80;
use crate::cpu::hooks::{BreakAt, Stop, Watch};
use crate::cpu::seg;
use crate::machine::Machine;

use super::commands;
use super::engine::current_linear;
use super::repl::Session;
use super::{Engine, Host, Register, Reverse, RunMode, StopReason};

/// How a gdb session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GdbEnd {
    /// gdb detached or the connection dropped: the guest runs on.
    Detached,
    /// gdb sent `kill`, or the guest or window ended the run.
    Ended,
}

/// Parse `--gdb`: `tcp:HOST:PORT`, `tcp::PORT` or `tcp:PORT` (host
/// 127.0.0.1: the stub gives whoever connects the whole machine, so it is
/// not on other interfaces unless asked).
pub fn parse_address(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("tcp:")
        .ok_or_else(|| format!("--gdb {s}: expected tcp:HOST:PORT"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h, p),
        Some((_, p)) => ("127.0.0.1", p),
        None => ("127.0.0.1", rest),
    };
    port.parse::<u16>()
        .map_err(|_| format!("--gdb {s}: bad port {port:?}"))?;
    Ok(format!("{host}:{port}"))
}

/// Listen on `addr` and say where on stderr (port 0 picks a free port,
/// and the message names it).
pub fn listen(addr: &str) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("--gdb {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("oxbox: gdb stub listening on {local}");
    Ok(listener)
}

/// Wait for gdb with the guest stopped (`-S`).
pub fn accept(listener: &TcpListener) -> Result<TcpStream, String> {
    let (stream, peer) = listener.accept().map_err(|e| format!("gdb stub: {e}"))?;
    connected(stream, peer)
}

fn connected(stream: TcpStream, peer: std::net::SocketAddr) -> Result<TcpStream, String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    // Packets are small and each waits for its answer.
    let _ = stream.set_nodelay(true);
    eprintln!("oxbox: gdb connected from {peer}");
    Ok(stream)
}

/// Without `-S`: run the guest until gdb connects (then it is stopped
/// wherever it is, as QEMU's attach does) or until it stops by itself
/// (`Err` with why).
pub fn run_until_attach(
    m: &mut Machine,
    listener: &TcpListener,
    host: &mut dyn Host,
) -> Result<TcpStream, StopReason> {
    listener
        .set_nonblocking(true)
        .map_err(|_| StopReason::HostQuit)?;
    let mut waiting = AttachHost {
        inner: host,
        listener,
        stream: None,
    };
    let stop = Engine::new().run(m, RunMode::Continue, &mut waiting);
    match waiting.stream {
        Some(s) => Ok(s),
        None => Err(stop),
    }
}

/// Between slices while no gdb is attached: the window's host, then a
/// look for a connection.
struct AttachHost<'a> {
    inner: &'a mut dyn Host,
    listener: &'a TcpListener,
    stream: Option<TcpStream>,
}

impl Host for AttachHost<'_> {
    fn slice_done(&mut self, machine: &mut Machine) -> bool {
        if !self.inner.slice_done(machine) {
            return false;
        }
        if let Ok((s, peer)) = self.listener.accept() {
            self.stream = connected(s, peer).ok();
        }
        self.stream.is_none()
    }
}

/// Serve gdb on `stream` until it detaches or kills the guest.
pub fn serve(m: &mut Machine, stream: TcpStream, host: &mut dyn Host) -> GdbEnd {
    let mut target = GdbTarget {
        m,
        session: Session::new(),
        host,
        pending: RunMode::Step(1),
        reverse: None,
        hw_breaks: Vec::new(),
    };
    match GdbStub::new(stream).run_blocking::<EventLoop<'_>>(&mut target) {
        Ok(DisconnectReason::Disconnect) => GdbEnd::Detached,
        Ok(_) => GdbEnd::Ended,
        Err(e) => {
            eprintln!("oxbox: gdb stub: {e:?}");
            GdbEnd::Detached
        }
    }
}

struct GdbTarget<'a> {
    m: &'a mut Machine,
    /// The REPL's session, for `monitor` (and its engine for runs).
    session: Session,
    host: &'a mut dyn Host,
    /// What the next run does (`c` or `s`).
    pending: RunMode,
    /// Or, instead, a reverse step or continue (`bs`, `bc`).
    reverse: Option<Reverse>,
    /// Linear addresses set with `hbreak`, to report the stop as such.
    hw_breaks: Vec<u32>,
}

/// Between slices of a run: the window's host, then the socket.
struct PollHost<'a> {
    inner: &'a mut dyn Host,
    conn: &'a mut TcpStream,
    incoming: bool,
}

impl Host for PollHost<'_> {
    fn slice_done(&mut self, machine: &mut Machine) -> bool {
        if !self.inner.slice_done(machine) {
            return false;
        }
        // A closed socket also counts: the read then reports it.
        self.incoming = self.conn.peek().map(|b| b.is_some()).unwrap_or(true);
        !self.incoming
    }
}

struct EventLoop<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> run_blocking::BlockingEventLoop for EventLoop<'a> {
    type Target = GdbTarget<'a>;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u32>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut TcpStream,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<(), std::io::Error>,
    > {
        if let Some(what) = target.reverse.take() {
            let stop = super::reverse(target.m, &mut target.session.engine, what);
            return Ok(run_blocking::Event::TargetStopped(match (what, stop) {
                (Reverse::Step(_), Ok(_)) => SingleThreadStopReason::DoneStep,
                (Reverse::Continue, Ok(stop)) => target.stop_reason(stop),
                // Nothing older to go back to: the start of the history.
                (_, Err(_)) => SingleThreadStopReason::ReplayLog {
                    tid: None,
                    pos: ReplayLogPosition::Begin,
                },
            }));
        }
        let mut host = PollHost {
            inner: &mut *target.host,
            conn,
            incoming: false,
        };
        let stop = target
            .session
            .engine
            .run(target.m, target.pending, &mut host);
        if stop == StopReason::HostQuit && host.incoming {
            let byte = conn
                .read()
                .map_err(run_blocking::WaitForStopReasonError::Connection)?;
            return Ok(run_blocking::Event::IncomingData(byte));
        }
        Ok(run_blocking::Event::TargetStopped(target.stop_reason(stop)))
    }

    fn on_interrupt(_target: &mut Self::Target) -> Result<Option<Self::StopReason>, ()> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

impl GdbTarget<'_> {
    fn stop_reason(&self, stop: StopReason) -> SingleThreadStopReason<u32> {
        use SingleThreadStopReason as R;
        match stop {
            StopReason::Hook(Stop::Breakpoint { index }) => {
                let hw = match self.m.cpu.hooks.breakpoints.get(index) {
                    Some(BreakAt::Linear(l)) => self.hw_breaks.contains(l),
                    _ => false,
                };
                if hw {
                    R::HwBreak(())
                } else {
                    R::SwBreak(())
                }
            }
            StopReason::Hook(Stop::Watch { lin, write, .. }) => R::Watch {
                tid: (),
                kind: if write {
                    WatchKind::Write
                } else {
                    WatchKind::Read
                },
                addr: lin,
            },
            // I/O and interrupt breaks set with `monitor iob`/`int`.
            StopReason::Hook(_) | StopReason::Stepped | StopReason::CycleReached => {
                if self.pending == RunMode::Step(1) {
                    R::DoneStep
                } else {
                    R::Signal(Signal::SIGTRAP)
                }
            }
            StopReason::UserBreak => R::Signal(Signal::SIGINT),
            // The machine is still there to look at.
            StopReason::Halted => R::Signal(Signal::SIGSTOP),
            StopReason::Shutdown => R::Signal(Signal::SIGSEGV),
            StopReason::GuestExit(status) => R::Exited(status as u8),
            StopReason::HostQuit => R::Terminated(Signal::SIGKILL),
        }
    }
}

impl Target for GdbTarget<'_> {
    type Arch = X86_SSE;
    type Error = ();

    fn base_ops(&mut self) -> BaseOps<'_, X86_SSE, ()> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    // The breakpoints are the engine's, not INT3 patched into memory.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }
}

fn f80_bytes(v: F80) -> [u8; 10] {
    let mut b = [0; 10];
    b[..8].copy_from_slice(&v.sig.to_le_bytes());
    b[8..].copy_from_slice(&v.se.to_le_bytes());
    b
}

fn f80_of(b: &[u8; 10]) -> F80 {
    let mut sig = [0; 8];
    sig.copy_from_slice(&b[..8]);
    F80 {
        sig: u64::from_le_bytes(sig),
        se: u16::from_le_bytes([b[8], b[9]]),
    }
}

/// gdb's order of the general registers (eax ecx edx ebx esp ebp esi edi)
/// is the encoding order, as is [`crate::cpu::reg`]'s.
const SEG_ORDER: [usize; 6] = [seg::CS, seg::SS, seg::DS, seg::ES, seg::FS, seg::GS];

impl SingleThreadBase for GdbTarget<'_> {
    fn read_registers(&mut self, regs: &mut X86CoreRegs) -> TargetResult<(), Self> {
        let cpu = &self.m.cpu;
        let g = cpu.regs;
        (regs.eax, regs.ecx, regs.edx, regs.ebx) = (g[0], g[1], g[2], g[3]);
        (regs.esp, regs.ebp, regs.esi, regs.edi) = (g[4], g[5], g[6], g[7]);
        // gdb matches breakpoints, `x/i $pc` and backtraces against the
        // PC as an address in its one flat space, which here is linear:
        // its $eip is CS.base + EIP (equal to EIP in flat protected mode).
        regs.eip = current_linear(cpu);
        regs.eflags = cpu.flags_word();
        let s = |i: usize| cpu.segs[SEG_ORDER[i]].selector as u32;
        let sr = &mut regs.segments;
        (sr.cs, sr.ss, sr.ds, sr.es, sr.fs, sr.gs) = (s(0), s(1), s(2), s(3), s(4), s(5));
        let f = &cpu.fpu;
        for (i, st) in regs.st.iter_mut().enumerate() {
            *st = f80_bytes(f.st(i));
        }
        regs.fpu.fctrl = f.control_word() as u32;
        regs.fpu.fstat = f.status_word() as u32;
        regs.fpu.ftag = f.tag_word() as u32;
        regs.fpu.fiseg = f.fcs as u32;
        regs.fpu.fioff = f.fip;
        regs.fpu.foseg = f.fds as u32;
        regs.fpu.fooff = f.fdp;
        regs.fpu.fop = f.fop as u32;
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86CoreRegs) -> TargetResult<(), Self> {
        let gprs = [
            regs.eax, regs.ecx, regs.edx, regs.ebx, regs.esp, regs.ebp, regs.esi, regs.edi,
        ];
        let mut writes: Vec<(Register, u32)> = gprs
            .iter()
            .enumerate()
            .map(|(i, &v)| (Register::Gpr(i), v))
            .collect();
        writes.push((Register::Eflags, regs.eflags));
        let sr = &regs.segments;
        for (i, v) in [sr.cs, sr.ss, sr.ds, sr.es, sr.fs, sr.gs]
            .into_iter()
            .enumerate()
        {
            writes.push((Register::Seg(SEG_ORDER[i]), v & 0xFFFF));
        }
        let cpu = &mut self.m.cpu;
        // gdb writes the whole set back after changing one register: only
        // changed ones are written (a segment register cannot be written
        // in protected mode, see [`Register::set`]).
        for (r, v) in writes {
            if r.get(cpu) != v {
                r.set(cpu, v).map_err(|_| TargetError::NonFatal)?;
            }
        }
        // $eip is linear (see read_registers), through the CS just written.
        let eip = regs.eip.wrapping_sub(cpu.segs[seg::CS].base);
        if cpu.eip != eip {
            Register::Eip
                .set(cpu, eip)
                .map_err(|_| TargetError::NonFatal)?;
        }
        let f = &mut cpu.fpu;
        if f.control_word() as u32 != regs.fpu.fctrl {
            f.set_control_word(regs.fpu.fctrl as u16);
        }
        if f.status_word() as u32 != regs.fpu.fstat {
            f.set_status_word(regs.fpu.fstat as u16);
        }
        for (i, st) in regs.st.iter().enumerate() {
            if f80_bytes(f.st(i)) != *st {
                f.set_st(i, f80_of(st));
            }
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        match Engine::read_linear(self.m, start, data) {
            0 if !data.is_empty() => Err(TargetError::NonFatal),
            n => Ok(n),
        }
    }

    fn write_addrs(&mut self, start: u32, data: &[u8]) -> TargetResult<(), Self> {
        if Engine::write_linear(self.m, start, data) == data.len() {
            Ok(())
        } else {
            Err(TargetError::NonFatal)
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for GdbTarget<'_> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), ()> {
        self.pending = RunMode::Continue;
        self.reverse = None;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, (), Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, (), Self>> {
        Some(self)
    }
}

impl ReverseStep<()> for GdbTarget<'_> {
    fn reverse_step(&mut self, _tid: ()) -> Result<(), ()> {
        self.pending = RunMode::Step(1);
        self.reverse = Some(Reverse::Step(1));
        Ok(())
    }
}

impl ReverseCont<()> for GdbTarget<'_> {
    fn reverse_cont(&mut self) -> Result<(), ()> {
        self.pending = RunMode::Continue;
        self.reverse = Some(Reverse::Continue);
        Ok(())
    }
}

impl SingleThreadSingleStep for GdbTarget<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), ()> {
        self.pending = RunMode::Step(1);
        self.reverse = None;
        Ok(())
    }
}

impl Breakpoints for GdbTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl GdbTarget<'_> {
    fn remove_linear_break(&mut self, addr: u32) -> bool {
        let at = BreakAt::Linear(addr);
        match self.m.cpu.hooks.breakpoints.iter().position(|b| *b == at) {
            Some(i) => Engine::delete_breakpoint(self.m, i),
            None => false,
        }
    }

    /// The watchpoints for a gdb watch: one per direction, on the
    /// physical address the linear one maps to now (none if unmapped).
    fn watches(&self, addr: u32, len: u32, kind: WatchKind) -> Vec<Watch> {
        let Some(phys) = self.m.cpu.peek_translate(addr) else {
            return Vec::new();
        };
        let dirs: &[bool] = match kind {
            WatchKind::Write => &[true],
            WatchKind::Read => &[false],
            WatchKind::ReadWrite => &[false, true],
        };
        dirs.iter()
            .map(|&write| Watch { phys, len, write })
            .collect()
    }
}

impl SwBreakpoint for GdbTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Engine::add_breakpoint(self.m, BreakAt::Linear(addr));
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_linear_break(addr))
    }
}

impl HwBreakpoint for GdbTarget<'_> {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Engine::add_breakpoint(self.m, BreakAt::Linear(addr));
        self.hw_breaks.push(addr);
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        if let Some(i) = self.hw_breaks.iter().position(|&a| a == addr) {
            self.hw_breaks.remove(i);
        }
        Ok(self.remove_linear_break(addr))
    }
}

impl HwWatchpoint for GdbTarget<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let watches = self.watches(addr, len, kind);
        for &w in &watches {
            Engine::add_watch(self.m, w);
        }
        Ok(!watches.is_empty())
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let watches = self.watches(addr, len, kind);
        let found = |m: &Machine, w: &Watch| m.cpu.hooks.watches.iter().position(|x| x == w);
        Ok(watches
            .iter()
            .all(|w| found(self.m, w).is_some_and(|i| Engine::delete_watch(self.m, Some(i))))
            && !watches.is_empty())
    }
}

impl MonitorCmd for GdbTarget<'_> {
    /// `monitor LINE`: the built-in debugger's command, its output as
    /// gdb console output (so `monitor x /4b 0xF000:0x40`, `monitor xp`,
    /// `monitor sreg` reach segment:offset and physical addresses).
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), ()> {
        let line = String::from_utf8_lossy(cmd);
        let text = match commands::parse(&line) {
            Ok(Some(c)) => {
                let mut buf = Vec::new();
                self.session.execute(self.m, &c, &mut buf, &mut *self.host);
                buf
            }
            Ok(None) => Vec::new(),
            Err(e) => format!("error: {e}\n").into_bytes(),
        };
        out.write_raw(&text);
        let _ = std::io::stdout().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn gdb_addresses_default_to_the_loopback_interface() {
        assert_eq!(parse_address("tcp::1234").unwrap(), "127.0.0.1:1234");
        assert_eq!(parse_address("tcp:1234").unwrap(), "127.0.0.1:1234");
        assert_eq!(parse_address("tcp:0.0.0.0:1234").unwrap(), "0.0.0.0:1234");
        assert!(parse_address("1234").is_err());
        assert!(parse_address("tcp:host:x").is_err());
    }
}
