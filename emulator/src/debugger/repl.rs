//! The text debugger: executes [`Command`]s against the [`Engine`] and a
//! machine and prints what Bochs' debugger would (register dumps in its
//! layout, `Next at t=N` after every stop).

use std::io::{BufRead, Write};

use crate::cpu::hooks::{BreakAt, IoBreak, Stop, Watch};
use crate::cpu::protected::Source;
use crate::cpu::segment::{attr, system_type as st, Descriptor};
use crate::cpu::{flags, reg, seg, Fault};
use crate::machine::Machine;

use super::commands::{self, Command, Format, Info};
use super::engine::{current_linear, Addr, DisasmLine, Engine, Host, RunMode, StopReason};

/// After a command: go on reading, or the user quit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    More,
    Quit,
}

/// A debugging session: the engine, the command counter and the last
/// command (an empty line repeats it, as in Bochs).
pub struct Session {
    pub engine: Engine,
    count: u32,
    last: Option<Command>,
    /// The exit status the guest asked for through the exit port, if it
    /// has.
    pub guest_exit: Option<i32>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            engine: Engine::new(),
            count: 0,
            last: None,
            guest_exit: None,
        }
    }

    /// Where the machine is: the first lines of a session.
    pub fn greet(&mut self, m: &Machine, out: &mut dyn Write) {
        let _ = writeln!(out, "oxbox debugger: `help` lists the commands");
        self.show_next(m, out);
    }

    /// Read and execute commands from `input` until it ends or `q`.
    /// `echo` prints each command after its prompt (scripts, pipes).
    pub fn run_lines(
        &mut self,
        m: &mut Machine,
        input: &mut dyn BufRead,
        echo: bool,
        out: &mut dyn Write,
        host: &mut dyn Host,
    ) -> Flow {
        loop {
            self.count += 1;
            let _ = write!(out, "<oxbox:{}> ", self.count);
            let _ = out.flush();
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = writeln!(out);
                    return Flow::More;
                }
                Ok(_) => {}
            }
            if echo {
                let _ = writeln!(out, "{}", line.trim_end());
            }
            let cmd = match commands::parse(&line) {
                Ok(Some(c)) => c,
                Ok(None) if line.trim().is_empty() && !echo => match self.last.clone() {
                    Some(c) => c,
                    None => continue,
                },
                Ok(None) => continue,
                Err(e) => {
                    let _ = writeln!(out, "error: {e}");
                    continue;
                }
            };
            self.last = Some(cmd.clone());
            if self.execute(m, &cmd, out, host) == Flow::Quit {
                return Flow::Quit;
            }
        }
    }

    /// Execute one command.
    pub fn execute(
        &mut self,
        m: &mut Machine,
        cmd: &Command,
        out: &mut dyn Write,
        host: &mut dyn Host,
    ) -> Flow {
        let text = match self.text_of(m, cmd, host) {
            Ok(Some(t)) => t,
            Ok(None) => return Flow::Quit,
            Err(e) => format!("error: {e}"),
        };
        if !text.is_empty() {
            let _ = writeln!(out, "{}", text.trim_end());
        }
        let _ = out.flush();
        Flow::More
    }

    /// What a command prints; `None` to quit.
    fn text_of(
        &mut self,
        m: &mut Machine,
        cmd: &Command,
        host: &mut dyn Host,
    ) -> Result<Option<String>, String> {
        let mode = match *cmd {
            Command::Continue => Some(RunMode::Continue),
            Command::Step(n) => Some(RunMode::Step(n)),
            Command::UntilCycle(c) => Some(RunMode::UntilCycle(c)),
            _ => None,
        };
        if let Some(mode) = mode {
            let stop = self.engine.run(m, mode, host);
            if let StopReason::GuestExit(s) = stop {
                self.guest_exit = Some(s);
            }
            let s = describe_stop(m, &stop) + &self.next_text(m);
            return Ok(Some(s.trim_start().to_string()));
        }
        let text = match cmd {
            Command::Continue | Command::Step(_) | Command::UntilCycle(_) => String::new(),
            Command::Quit => return Ok(None),
            Command::Help => commands::HELP.to_string(),
            Command::Break(at) => {
                let i = Engine::add_breakpoint(m, *at);
                format!("Breakpoint {} at {}", i + 1, describe_break(at))
            }
            Command::Delete(i) => {
                if !Engine::delete_breakpoint(m, *i) {
                    return Err(format!("no breakpoint {}", i + 1));
                }
                String::new()
            }
            Command::Watch { write, phys, len } => {
                let w = Watch {
                    phys: *phys,
                    len: *len,
                    write: *write,
                };
                let i = Engine::add_watch(m, w);
                format!("Watchpoint {}: {}", i + 1, describe_watch(&w))
            }
            Command::Unwatch(i) => {
                if !Engine::delete_watch(m, *i) {
                    return Err("no such watchpoint".into());
                }
                String::new()
            }
            Command::IoBreak { port, len } => {
                let b = IoBreak {
                    port: *port,
                    len: *len,
                };
                let i = Engine::add_io_break(m, b);
                format!("I/O breakpoint {}: {}", i + 1, describe_io(&b))
            }
            Command::UnIoBreak(i) => {
                if !Engine::delete_io_break(m, *i) {
                    return Err("no such I/O breakpoint".into());
                }
                String::new()
            }
            Command::IntBreak(v) => {
                Engine::set_interrupt_break(m, Some(*v), true);
                format!("Break on interrupt {v:#04x} {}", vector_name(*v))
            }
            Command::UnIntBreak(v) => {
                Engine::set_interrupt_break(m, *v, false);
                String::new()
            }
            Command::Regs => regs(m),
            Command::Sregs => sregs(m),
            Command::Cregs => cregs(m),
            Command::Dregs => dregs(m),
            Command::Fpu => fpu(m),
            Command::Set(r, v) => {
                r.set(&mut m.cpu, *v)?;
                format!("{} = {:#010x}", r.name(), r.get(&m.cpu))
            }
            Command::Info(what) => info(m, what)?,
            Command::Page(lin) => page(m, *lin),
            Command::Examine {
                physical,
                count,
                unit,
                format,
                addr,
            } => examine(m, *physical, *count, *unit, *format, *addr),
            Command::Disasm { addr, count } => self
                .engine
                .disassemble(m, *addr, *count)
                .iter()
                .map(disasm_line)
                .collect::<Vec<_>>()
                .join("\n"),
            Command::Trace { on, file } => self.trace(m, *on, file.as_deref())?,
            Command::Save(path) => {
                super::save_state(m, path.as_ref())?;
                format!("saved to {path}")
            }
            Command::Load(path) => {
                super::load_state(m, path.as_ref())?;
                // Another timeline: the snapshots no longer lead here.
                self.engine.forget_history();
                format!("loaded {path}{}", self.next_text(m))
            }
            Command::ReverseStep(n) => {
                let stop = super::reverse(m, &mut self.engine, super::Reverse::Step(*n))?;
                let s = describe_stop(m, &stop) + &self.next_text(m);
                s.trim_start().to_string()
            }
            Command::ReverseContinue => {
                let stop = super::reverse(m, &mut self.engine, super::Reverse::Continue)?;
                let s = describe_stop(m, &stop) + &self.next_text(m);
                s.trim_start().to_string()
            }
        };
        Ok(Some(text))
    }

    fn trace(&mut self, m: &mut Machine, on: bool, file: Option<&str>) -> Result<String, String> {
        if !on {
            self.engine.set_trace(m, None);
            return Ok("trace off".into());
        }
        let (sink, wher): (Box<dyn Write>, String) = match file {
            Some(p) => (
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| format!("trace: {p}: {e}"))?,
                )),
                p.to_string(),
            ),
            None => (Box::new(std::io::stdout()), "stdout".into()),
        };
        self.engine.set_trace(m, Some(sink));
        Ok(format!("trace on ({wher})"))
    }

    fn show_next(&mut self, m: &Machine, out: &mut dyn Write) {
        let _ = writeln!(out, "{}", self.next_text(m).trim_start());
    }

    /// "Next at t=N" and the instruction at CS:EIP (Bochs prints the same
    /// after every stop).
    fn next_text(&mut self, m: &Machine) -> String {
        let line = self
            .engine
            .disassemble(m, None, 1)
            .first()
            .map(disasm_line)
            .unwrap_or_else(|| "(CS:EIP is not mapped)".into());
        format!(
            "\nNext at t={} cycle={}\n{line}",
            m.cpu.instructions, m.cpu.cycles
        )
    }
}

/// `f000:00000040 (0x000f0040): add ax, bx ; 01d8` (Bochs' `u` layout).
pub fn disasm_line(l: &DisasmLine) -> String {
    let hex: String = l.bytes.iter().map(|b| format!("{b:02x}")).collect();
    let at = match l.cs_ip {
        Some((s, o)) => format!("{s:04x}:{o:08x} ({:#010x})", l.lin),
        None => format!("{:#010x}", l.lin),
    };
    format!("{at}: {:<32} ; {hex}", l.text)
}

/// The line that says why a run stopped (empty for a completed step).
pub fn describe_stop(m: &Machine, stop: &StopReason) -> String {
    match *stop {
        StopReason::Hook(Stop::Breakpoint { index }) => {
            let at = m.cpu.hooks.breakpoints.get(index);
            format!(
                "Breakpoint {} reached ({})",
                index + 1,
                at.map_or(String::new(), describe_break)
            )
        }
        StopReason::Hook(Stop::Watch {
            index,
            lin,
            phys,
            len,
            write,
            value,
        }) => {
            let what = if write { "write" } else { "read" };
            let value = value.map_or(String::new(), |v| format!(", value {v:#x}"));
            format!(
                "Watchpoint {}: {what} of {len} byte(s) at physical {phys:#010x} (linear {lin:#010x}){value}",
                index + 1
            )
        }
        StopReason::Hook(Stop::Io {
            index,
            port,
            len,
            write,
            value,
        }) => {
            let what = if write { "out to" } else { "in from" };
            format!(
                "I/O breakpoint {}: {what} port {port:#06x} ({len} byte(s)), value {value:#x}",
                index + 1
            )
        }
        StopReason::Hook(Stop::Interrupt {
            vector,
            source,
            from,
        }) => {
            let kind = match source {
                Source::Exception => "exception",
                Source::Software => "software interrupt",
                Source::External => "external interrupt",
            };
            format!(
                "Interrupt {vector:#04x} {} ({kind}) from {:04x}:{:08x}",
                vector_name(vector),
                from.0,
                from.1
            )
        }
        StopReason::Stepped => String::new(),
        StopReason::CycleReached => format!("Cycle {} reached", m.cpu.cycles),
        StopReason::UserBreak => "Interrupted (Ctrl-C)".into(),
        StopReason::Halted => "The CPU halted with nothing to wake it".into(),
        StopReason::Shutdown => "The CPU shut down (triple fault)".into(),
        StopReason::GuestExit(s) => format!("The guest ended the run (exit port, status {s})"),
        StopReason::HostQuit => "The window was closed".into(),
    }
}

fn describe_break(at: &BreakAt) -> String {
    match *at {
        BreakAt::Virtual { cs, eip } => format!("vb {cs:#06x}:{eip:#010x}"),
        BreakAt::Linear(l) => format!("lb {l:#010x}"),
        BreakAt::Physical(p) => format!("pb {p:#010x}"),
    }
}

fn describe_watch(w: &Watch) -> String {
    let rw = if w.write { "write" } else { "read" };
    format!("{rw} {:#010x} len {}", w.phys, w.len)
}

fn describe_io(b: &IoBreak) -> String {
    format!("port {:#06x} len {}", b.port, b.len)
}

/// "#UD" and the like for the exception vectors; nothing for the others.
fn vector_name(v: u8) -> String {
    let s = Fault::new(v).to_string();
    match s.split_once(' ') {
        Some((name, _)) if name != "exception" => name.to_string(),
        _ => String::new(),
    }
}

// ----- registers -----------------------------------------------------------

/// EFLAGS bits by name, most significant first (Bochs shows set flags in
/// capitals).
const EFLAGS_NAMES: [(u32, &str); 17] = [
    (flags::ID, "id"),
    (flags::VIP, "vip"),
    (flags::VIF, "vif"),
    (flags::AC, "ac"),
    (flags::VM, "vm"),
    (flags::RF, "rf"),
    (flags::NT, "nt"),
    (0, "IOPL"),
    (flags::OF, "of"),
    (flags::DF, "df"),
    (flags::IF, "if"),
    (flags::TF, "tf"),
    (flags::SF, "sf"),
    (flags::ZF, "zf"),
    (flags::AF, "af"),
    (flags::PF, "pf"),
    (flags::CF, "cf"),
];

fn flag_names(v: u32, names: &[(u32, &str)]) -> String {
    let mut parts = Vec::new();
    for &(bit, name) in names {
        if name == "IOPL" {
            parts.push(format!("IOPL={}", (v & flags::IOPL) >> 12));
        } else if v & bit != 0 {
            parts.push(name.to_ascii_uppercase());
        } else {
            parts.push(name.to_string());
        }
    }
    parts.join(" ")
}

fn regs(m: &Machine) -> String {
    let cpu = &m.cpu;
    let mut s = String::new();
    for (i, name) in reg::NAMES.iter().enumerate() {
        s += &format!("{name}: {:#010x} {}\n", cpu.regs[i], cpu.regs[i]);
    }
    s += &format!("eip: {:#010x}\n", cpu.eip);
    let f = cpu.flags_word();
    s += &format!("eflags {f:#010x}: {}", flag_names(f, &EFLAGS_NAMES));
    s
}

/// The access byte and flags of a segment or descriptor in words.
fn describe_attr(a: u16) -> String {
    if a & attr::P == 0 {
        return "not present".into();
    }
    let dpl = (a >> 5) & 3;
    let size = if a & attr::DB != 0 {
        "32-bit"
    } else {
        "16-bit"
    };
    let gran = if a & attr::G != 0 {
        ", 4K granular"
    } else {
        ""
    };
    let kind = if a & attr::S == 0 {
        system_name((a & 0xF) as u8).to_string()
    } else if a & attr::CODE != 0 {
        let r = if a & attr::READABLE != 0 { "rx" } else { "x" };
        let c = if a & attr::CONFORMING != 0 {
            " conforming"
        } else {
            ""
        };
        format!("code {r}{c}")
    } else {
        let w = if a & attr::WRITABLE != 0 { "rw" } else { "r" };
        let e = if a & attr::EXPAND_DOWN != 0 {
            " expand-down"
        } else {
            ""
        };
        format!("data {w}{e}")
    };
    format!("{kind}, dpl={dpl}, {size}{gran}")
}

fn system_name(t: u8) -> &'static str {
    match t {
        st::TSS16_AVAILABLE => "16-bit TSS (available)",
        st::LDT => "LDT",
        st::TSS16_BUSY => "16-bit TSS (busy)",
        st::CALL_GATE16 => "16-bit call gate",
        st::TASK_GATE => "task gate",
        st::INTERRUPT_GATE16 => "16-bit interrupt gate",
        st::TRAP_GATE16 => "16-bit trap gate",
        st::TSS32_AVAILABLE => "32-bit TSS (available)",
        st::TSS32_BUSY => "32-bit TSS (busy)",
        st::CALL_GATE32 => "32-bit call gate",
        st::INTERRUPT_GATE32 => "32-bit interrupt gate",
        st::TRAP_GATE32 => "32-bit trap gate",
        _ => "reserved system type",
    }
}

fn sregs(m: &Machine) -> String {
    let cpu = &m.cpu;
    let mut s = String::new();
    let seg_line = |name: &str, g: &crate::cpu::Segment| {
        format!(
            "{name}: {:#06x} base={:#010x} limit={:#010x} attr={:#06x} {}\n",
            g.selector,
            g.base,
            g.limit,
            g.attr,
            describe_attr(g.attr)
        )
    };
    for (i, name) in seg::NAMES.iter().enumerate() {
        s += &seg_line(name, &cpu.segs[i]);
    }
    s += &seg_line("ldtr", &cpu.ldtr);
    s += &seg_line("tr", &cpu.tr);
    s += &format!(
        "gdtr: base={:#010x} limit={:#x}\nidtr: base={:#010x} limit={:#x}",
        cpu.gdtr_base, cpu.gdtr_limit, cpu.idtr_base, cpu.idtr_limit
    );
    s
}

fn cregs(m: &Machine) -> String {
    let cpu = &m.cpu;
    const CR0: [(u32, &str); 11] = [
        (1 << 31, "pg"),
        (1 << 30, "cd"),
        (1 << 29, "nw"),
        (1 << 18, "am"),
        (1 << 16, "wp"),
        (1 << 5, "ne"),
        (1 << 4, "et"),
        (1 << 3, "ts"),
        (1 << 2, "em"),
        (1 << 1, "mp"),
        (1 << 0, "pe"),
    ];
    const CR4: [(u32, &str); 8] = [
        (1 << 9, "osfxsr"),
        (1 << 7, "pge"),
        (1 << 5, "pae"),
        (1 << 4, "pse"),
        (1 << 3, "de"),
        (1 << 2, "tsd"),
        (1 << 1, "pvi"),
        (1 << 0, "vme"),
    ];
    format!(
        "cr0={:#010x}: {}\ncr2={:#010x}\ncr3={:#010x}\ncr4={:#010x}: {}\nefer={:#x}",
        cpu.cr0,
        flag_names(cpu.cr0, &CR0),
        cpu.cr2,
        cpu.cr3,
        cpu.cr4,
        flag_names(cpu.cr4, &CR4),
        cpu.msrs.read(crate::cpu::msr::EFER)
    )
}

fn dregs(m: &Machine) -> String {
    let d = &m.cpu.debug;
    let mut s = String::new();
    for (i, a) in d.addr.iter().enumerate() {
        s += &format!("dr{i}={a:#010x}\n");
    }
    s += &format!("dr6={:#010x}\ndr7={:#010x}", d.dr6, d.dr7);
    s
}

fn fpu(m: &Machine) -> String {
    let f = &m.cpu.fpu;
    let mut s = format!(
        "cw={:#06x} sw={:#06x} tw={:#06x} top={}\n",
        f.control_word(),
        f.status_word(),
        f.tag_word(),
        f.top()
    );
    for i in 0..8 {
        if f.is_empty(i) {
            s += &format!("st{i}: empty\n");
            continue;
        }
        let v = f.st(i);
        s += &format!(
            "st{i}: {:#06x}:{:016x} ({})\n",
            v.se,
            v.sig,
            approx_f80(v.se, v.sig)
        );
    }
    s += &format!(
        "fip={:04x}:{:08x} fop={:#05x} fdp={:04x}:{:08x}",
        f.fcs, f.fip, f.fop, f.fds, f.fdp
    );
    s
}

/// An 80-bit value as a double, for reading (the raw bits are exact).
fn approx_f80(se: u16, sig: u64) -> String {
    let sign = if se & 0x8000 != 0 { "-" } else { "" };
    let exp = (se & 0x7FFF) as i32;
    if exp == 0x7FFF {
        return if sig << 1 == 0 {
            format!("{sign}inf")
        } else {
            "nan".into()
        };
    }
    let v = sig as f64 * 2f64.powi(exp - 16383 - 63);
    format!("{sign}{v}")
}

// ----- descriptor tables, paging ----------------------------------------------

fn info(m: &Machine, what: &Info) -> Result<String, String> {
    let cpu = &m.cpu;
    Ok(match what {
        Info::Break => breaks(m),
        Info::Gdt(range) => table(m, "GDT", cpu.gdtr_base, cpu.gdtr_limit, *range, 0),
        Info::Ldt(range) => {
            if cpu.ldtr.selector & !3 == 0 {
                return Err("no LDT is loaded".into());
            }
            table(m, "LDT", cpu.ldtr.base, cpu.ldtr.limit, *range, 4)
        }
        Info::Idt(range) => idt(m, *range),
        Info::Tss => tss(m)?,
        Info::Tab => tab(m),
        Info::Device(name) => super::devices::show(m, name)?,
    })
}

fn breaks(m: &Machine) -> String {
    let h = &m.cpu.hooks;
    let mut s = String::new();
    for (i, b) in h.breakpoints.iter().enumerate() {
        s += &format!("Breakpoint {}: {}\n", i + 1, describe_break(b));
    }
    for (i, w) in h.watches.iter().enumerate() {
        s += &format!("Watchpoint {}: {}\n", i + 1, describe_watch(w));
    }
    for (i, b) in h.io.iter().enumerate() {
        s += &format!("I/O breakpoint {}: {}\n", i + 1, describe_io(b));
    }
    for v in h.interrupt_breaks() {
        s += &format!("Interrupt break: {v:#04x} {}\n", vector_name(v));
    }
    if s.is_empty() {
        s = "No breakpoints.".into();
    }
    s
}

/// The entries of a descriptor table (GDT or LDT); `ti` is the selector's
/// table-indicator bit.
fn table(
    m: &Machine,
    name: &str,
    base: u32,
    limit: u32,
    range: Option<(u32, u32)>,
    ti: u16,
) -> String {
    let entries = (limit as u64 + 1) / 8;
    let (first, last) = range.unwrap_or((0, entries.saturating_sub(1).min(8191) as u32));
    let mut s = format!("{name} (base={base:#010x}, limit={limit:#x}):\n");
    for i in first..=last.min(entries.saturating_sub(1) as u32) {
        let mut b = [0u8; 8];
        if Engine::read_linear(m, base.wrapping_add(i * 8), &mut b) < 8 {
            s += &format!("{name}[{i:#06x}] not mapped\n");
            break;
        }
        let d = Descriptor::parse(u64::from_le_bytes(b));
        if d.raw == 0 {
            continue;
        }
        let sel = (i as u16) << 3 | ti;
        s += &format!("{name}[{i:#06x}] sel={sel:#06x} {}\n", descriptor_text(&d));
    }
    s
}

fn descriptor_text(d: &Descriptor) -> String {
    let gate = !d.is_segment()
        && matches!(
            d.system_type(),
            st::CALL_GATE16
                | st::CALL_GATE32
                | st::INTERRUPT_GATE16
                | st::INTERRUPT_GATE32
                | st::TRAP_GATE16
                | st::TRAP_GATE32
                | st::TASK_GATE
        );
    if gate {
        let dpl = d.dpl();
        let p = if d.present() { "" } else { ", not present" };
        return format!(
            "raw={:#018x} {} -> {:#06x}:{:#010x}, dpl={dpl}{p}",
            d.raw,
            system_name(d.system_type()),
            d.gate_selector(),
            d.gate_offset()
        );
    }
    format!(
        "raw={:#018x} base={:#010x} limit={:#010x} {}",
        d.raw,
        d.base,
        d.limit,
        describe_attr(d.attr)
    )
}

fn idt(m: &Machine, range: Option<(u32, u32)>) -> String {
    let cpu = &m.cpu;
    let pm = cpu.protected_mode();
    let size = if pm { 8 } else { 4 };
    let entries = (cpu.idtr_limit as u64 + 1) / size as u64;
    let (first, last) = range.unwrap_or((0, entries.saturating_sub(1).min(255) as u32));
    let mut s = format!(
        "IDT (base={:#010x}, limit={:#x}):\n",
        cpu.idtr_base, cpu.idtr_limit
    );
    for v in first..=last.min(entries.saturating_sub(1) as u32) {
        let mut b = [0u8; 8];
        let at = cpu.idtr_base.wrapping_add(v * size);
        if Engine::read_linear(m, at, &mut b[..size as usize]) < size as usize {
            s += &format!("IDT[{v:#04x}] not mapped\n");
            break;
        }
        if pm {
            let d = Descriptor::parse(u64::from_le_bytes(b));
            s += &format!("IDT[{v:#04x}] {}\n", descriptor_text(&d));
        } else {
            let off = u16::from_le_bytes([b[0], b[1]]);
            let sel = u16::from_le_bytes([b[2], b[3]]);
            s += &format!("IDT[{v:#04x}] {sel:04x}:{off:04x}\n");
        }
    }
    s
}

fn tss(m: &Machine) -> Result<String, String> {
    let tr = &m.cpu.tr;
    if tr.selector & !3 == 0 {
        return Err("no task register is loaded".into());
    }
    let wide = matches!((tr.attr & 0xF) as u8, st::TSS32_AVAILABLE | st::TSS32_BUSY);
    let mut s = format!(
        "tr={:#06x} base={:#010x} limit={:#x} {}\n",
        tr.selector,
        tr.base,
        tr.limit,
        describe_attr(tr.attr)
    );
    let mut b = [0u8; 104];
    let n = if wide { 104 } else { 44 };
    if Engine::read_linear(m, tr.base, &mut b[..n]) < n {
        return Ok(s + "(the TSS is not mapped)");
    }
    let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u32;
    let d = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    if wide {
        s += &format!(
            "link={:#06x} esp0={:#010x} ss0={:#06x} esp1={:#010x} ss1={:#06x} esp2={:#010x} ss2={:#06x}\n",
            w(0), d(4), w(8), d(12), w(16), d(20), w(24)
        );
        s += &format!(
            "cr3={:#010x} eip={:#010x} eflags={:#010x}\n",
            d(28),
            d(32),
            d(36)
        );
        for (i, name) in ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
            .iter()
            .enumerate()
        {
            s += &format!("{name}={:#010x} ", d(40 + 4 * i));
        }
        s += "\n";
        for (i, name) in seg::NAMES.iter().enumerate() {
            s += &format!("{name}={:#06x} ", w(72 + 4 * i));
        }
        s += &format!("ldt={:#06x} T={} iomap={:#06x}", w(96), w(100) & 1, w(102));
    } else {
        s += &format!(
            "link={:#06x} sp0={:#06x} ss0={:#06x} sp1={:#06x} ss1={:#06x} sp2={:#06x} ss2={:#06x}\n",
            w(0), w(2), w(4), w(6), w(8), w(10), w(12)
        );
        s += &format!("ip={:#06x} flags={:#06x}\n", w(14), w(16));
        for (i, name) in ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
            .iter()
            .enumerate()
        {
            s += &format!("{name}={:#06x} ", w(18 + 2 * i));
        }
        s += "\n";
        for (i, name) in ["es", "cs", "ss", "ds"].iter().enumerate() {
            s += &format!("{name}={:#06x} ", w(34 + 2 * i));
        }
        s += &format!("ldt={:#06x}", w(42));
    }
    Ok(s)
}

/// The page tables' mappings as contiguous linear → physical ranges
/// (Bochs' `info tab`).
fn tab(m: &Machine) -> String {
    let cpu = &m.cpu;
    if !cpu.paging() {
        return "paging is off".into();
    }
    let mut s = String::new();
    let mut run: Option<(u32, u32, u32)> = None; // (linear start, physical start, pages)
    let mut lin: u64 = 0;
    let flush = |s: &mut String, r: (u32, u32, u32)| {
        let bytes = r.2 as u64 * 4096;
        *s += &format!(
            "{:#010x}-{:#010x} -> {:#010x}-{:#010x}\n",
            r.0,
            r.0 as u64 + bytes - 1,
            r.1,
            r.1 as u64 + bytes - 1
        );
    };
    while lin < 1 << 32 {
        let w = Engine::page_walk(m, lin as u32);
        match w.result {
            Ok(p) => {
                let phys = p.phys & !0xFFF;
                match &mut run {
                    Some((l, ph, n))
                        if *l as u64 + *n as u64 * 4096 == lin
                            && *ph as u64 + *n as u64 * 4096 == phys as u64 =>
                    {
                        *n += 1
                    }
                    _ => {
                        if let Some(r) = run.take() {
                            flush(&mut s, r);
                        }
                        run = Some((lin as u32, phys, 1));
                    }
                }
                lin += 4096;
            }
            Err(_) => {
                if let Some(r) = run.take() {
                    flush(&mut s, r);
                }
                // A missing directory entry leaves its whole region
                // unmapped: skip it.
                let region: u64 = match (w.pae, w.entries.len()) {
                    (true, 1) => 1 << 30,
                    (true, 2) => 2 << 20,
                    (false, 1) => 4 << 20,
                    _ => 4096,
                };
                lin = (lin & !(region - 1)) + region;
            }
        }
    }
    if let Some(r) = run {
        flush(&mut s, r);
    }
    if s.is_empty() {
        s = "nothing is mapped".into();
    }
    s
}

fn page(m: &Machine, lin: u32) -> String {
    let w = Engine::page_walk(m, lin);
    if !m.cpu.paging() {
        return format!("paging is off: linear {lin:#010x} = physical {lin:#010x}");
    }
    let mut s = format!("linear {lin:#010x}:\n");
    for (i, (a, e)) in w.entries.iter().enumerate() {
        s += &format!("  {:<5} at {a:#010x} = {e:#018x}\n", w.level_name(i));
    }
    match w.result {
        Ok(p) => {
            let rights = format!(
                "{}, {}{}{}",
                if p.user { "user" } else { "supervisor" },
                if p.writable {
                    "read/write"
                } else {
                    "read-only"
                },
                if p.no_exec { ", no-execute" } else { "" },
                if p.large { ", large page" } else { "" }
            );
            s += &format!("  -> physical {:#010x} ({rights})", p.phys);
        }
        Err(bits) => {
            let level = w.level_name(w.entries.len().saturating_sub(1));
            s += &format!("  -> not mapped: {level} is not present or reserved (#PF error code bits {bits:#x})");
        }
    }
    s
}

// ----- memory -----------------------------------------------------------------

fn examine(
    m: &Machine,
    physical: bool,
    count: u32,
    unit: u32,
    format: Format,
    addr: Addr,
) -> String {
    let start = if physical {
        match addr {
            Addr::Linear(a) => a,
            Addr::SegOff(..) => return "xp takes a physical address".into(),
        }
    } else {
        match Engine::linear(m, addr) {
            Some(l) => l,
            None => return "that selector names no descriptor".into(),
        }
    };
    let total = (count as usize * unit as usize).min(1 << 20);
    let mut bytes = vec![0u8; total];
    let got = if physical {
        Engine::read_physical(m, start, &mut bytes);
        total
    } else {
        Engine::read_linear(m, start, &mut bytes)
    };
    let per_line = (16 / unit).max(1) as usize;
    let mut s = String::new();
    for (n, chunk) in bytes[..got - got % unit as usize]
        .chunks(unit as usize)
        .enumerate()
    {
        if n % per_line == 0 {
            if n > 0 {
                s.push('\n');
            }
            s += &format!("{:#010x}:", start.wrapping_add((n * unit as usize) as u32));
        }
        let mut v = [0u8; 8];
        v[..chunk.len()].copy_from_slice(chunk);
        let v = u64::from_le_bytes(v);
        let width = unit as usize * 2;
        s += &match format {
            Format::Hex => format!(" 0x{v:0width$x}"),
            Format::Unsigned => format!(" {v}"),
            Format::Decimal => {
                let shift = 64 - unit * 8;
                format!(" {}", ((v << shift) as i64) >> shift)
            }
            Format::Char => {
                let c = v as u8;
                if c.is_ascii_graphic() || c == b' ' {
                    format!(" '{}'", c as char)
                } else {
                    format!(" \\x{c:02x}")
                }
            }
        };
    }
    if got < total {
        s += &format!("\n{:#010x}: <not mapped>", start.wrapping_add(got as u32));
    }
    s
}

/// Where CS:EIP is, for messages.
pub fn here(m: &Machine) -> String {
    format!(
        "{:04x}:{:08x} (linear {:#010x})",
        m.cpu.segs[seg::CS].selector,
        m.cpu.eip,
        current_linear(&m.cpu)
    )
}

/// Run a debugging session: the script's commands first, then (when
/// `interactive`) the terminal's until `q` or end of input.
pub fn run_session(
    m: &mut Machine,
    script: Option<&mut dyn BufRead>,
    interactive: bool,
    out: &mut dyn Write,
    host: &mut dyn Host,
) -> Session {
    let mut session = Session::new();
    session.greet(m, out);
    if let Some(script) = script {
        if session.run_lines(m, script, true, out, host) == Flow::Quit {
            return session;
        }
    }
    if interactive {
        use std::io::IsTerminal;
        let stdin = std::io::stdin();
        let echo = !stdin.is_terminal();
        let mut lock = stdin.lock();
        session.run_lines(m, &mut lock, echo, out, host);
    }
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eflags_show_set_flags_in_capitals() {
        let s = flag_names(0x0000_3246, &EFLAGS_NAMES);
        assert!(s.ends_with("IOPL=3 of df IF tf sf ZF af PF cf"), "{s}");
    }

    #[test]
    fn an_f80_reads_as_a_double() {
        assert_eq!(approx_f80(0x3FFF, 1 << 63), "1");
        assert_eq!(approx_f80(0xC000, 3 << 62), "-3");
        assert_eq!(approx_f80(0x7FFF, 1 << 63), "inf");
    }

    #[test]
    fn attributes_in_words() {
        assert_eq!(describe_attr(0x0093), "data rw, dpl=0, 16-bit");
        assert_eq!(describe_attr(0xC09B), "code rx, dpl=0, 32-bit, 4K granular");
        assert_eq!(
            describe_attr(0x0089),
            "32-bit TSS (available), dpl=0, 16-bit"
        );
    }
}
