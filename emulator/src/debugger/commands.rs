//! The debugger's command language, modelled on Bochs' (bochs/docs
//! "internal debugger"): numbers are decimal unless written `0x...`,
//! `seg:off` addresses go through a segment, `x /nuf addr` dumps memory.

use crate::cpu::hooks::BreakAt;

use super::engine::{Addr, Register};

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `c`: continue.
    Continue,
    /// `s [n]`: step n instructions.
    Step(u64),
    /// `until cycle N`.
    UntilCycle(u64),
    /// `vb seg:off`, `lb lin`, `pb phys`, `b phys` (Bochs: `b` is `pb`;
    /// `b seg:off` is `vb`).
    Break(BreakAt),
    /// `d N`: delete breakpoint N (numbered from 1, as Bochs lists them).
    Delete(usize),
    /// `watch r|w ADDR [len]` (physical, as in Bochs).
    Watch {
        write: bool,
        phys: u32,
        len: u32,
    },
    /// `unwatch [N]`: one watchpoint, or all.
    Unwatch(Option<usize>),
    /// `iob PORT [len]`.
    IoBreak {
        port: u16,
        len: u16,
    },
    /// `uniob [N]`.
    UnIoBreak(Option<usize>),
    /// `int N`: break when vector N is delivered.
    IntBreak(u8),
    /// `unint [N]`.
    UnIntBreak(Option<u8>),
    /// `r`, `sreg`, `creg`, `dreg`, `fpu`.
    Regs,
    Sregs,
    Cregs,
    Dregs,
    Fpu,
    /// `set REG VALUE` (also `set $reg = value`).
    Set(Register, u32),
    Info(Info),
    /// `page LIN`: the translation walk.
    Page(u32),
    /// `x /nuf addr` (linear) and `xp /nuf addr` (physical).
    Examine {
        physical: bool,
        count: u32,
        unit: u32,
        format: Format,
        addr: Addr,
    },
    /// `u [/n] [addr] [n]`.
    Disasm {
        addr: Option<Addr>,
        count: usize,
    },
    /// `trace on [FILE]`, `trace off`.
    Trace {
        on: bool,
        file: Option<String>,
    },
    Save(String),
    Load(String),
    /// `rs [n]` and `rc`: reverse execution (snapshots and re-execution).
    ReverseStep(u64),
    ReverseContinue,
    Help,
    Quit,
}

/// What `info` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Info {
    /// `info break`: every breakpoint, watchpoint, I/O and interrupt break.
    Break,
    /// `info gdt [first [last]]`, `info idt ...`, `info ldt ...`.
    Gdt(Option<(u32, u32)>),
    Idt(Option<(u32, u32)>),
    Ldt(Option<(u32, u32)>),
    Tss,
    /// `info tab`: the page tables' mappings.
    Tab,
    /// `info device NAME`.
    Device(String),
}

/// The `f` of `x /nuf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Hex,
    Decimal,
    Unsigned,
    Char,
}

pub const HELP: &str = "\
c                      continue
s [n]                  step n instructions (default 1)
until cycle N          run until the cycle counter reaches N
b|pb ADDR, lb ADDR     breakpoint at a physical / linear address
b|vb SEG:OFF           breakpoint at CS:EIP
d N                    delete breakpoint N
watch r|w ADDR [len]   watchpoint on physical memory; `watch` lists them
unwatch [N]            delete watchpoint N (all without N)
iob PORT [len]         I/O breakpoint; uniob [N] deletes
int N                  break when interrupt/exception N is delivered; unint [N]
info break             list breakpoints of every kind
r | sreg | creg | dreg | fpu       registers
set REG VALUE          write a register (eax..edi, eip, eflags; segments in real mode)
info gdt|idt|ldt [first [last]], info tss, info tab, info device NAME
page LIN               the page walk for a linear address
x /nuf ADDR, xp /nuf ADDR          dump linear / physical memory
                       (n count, u unit b|h|w|g, f format x|d|u|c)
u [/n] [ADDR] [n]      disassemble (default: n=10 at CS:EIP)
trace on [FILE] | trace off        one line per instruction
save FILE | load FILE  machine snapshots
rs [n] | rc            reverse step / continue
q                      quit";

/// Parse one command line; `Ok(None)` for an empty line or a comment.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = words.collect();
    let arg = |i: usize| -> Result<&str, String> {
        args.get(i)
            .copied()
            .ok_or_else(|| format!("{cmd}: missing argument (try `help`)"))
    };
    let at_most = |n: usize| -> Result<(), String> {
        if args.len() > n {
            Err(format!("{cmd}: too many arguments"))
        } else {
            Ok(())
        }
    };
    let c = match cmd {
        "c" | "cont" | "continue" => {
            at_most(0)?;
            Command::Continue
        }
        "s" | "step" | "stepi" => {
            at_most(1)?;
            Command::Step(args.first().map(|a| number(a)).transpose()?.unwrap_or(1))
        }
        "until" => {
            at_most(2)?;
            if arg(0)? != "cycle" {
                return Err("until: expected `until cycle N`".into());
            }
            Command::UntilCycle(number(arg(1)?)?)
        }
        "b" | "break" => {
            at_most(1)?;
            match addr(arg(0)?)? {
                Addr::SegOff(cs, eip) => Command::Break(BreakAt::Virtual { cs, eip }),
                Addr::Linear(a) => Command::Break(BreakAt::Physical(a)),
            }
        }
        "vb" | "vbreak" => {
            at_most(1)?;
            match addr(arg(0)?)? {
                Addr::SegOff(cs, eip) => Command::Break(BreakAt::Virtual { cs, eip }),
                Addr::Linear(_) => return Err("vb: expected SEG:OFF".into()),
            }
        }
        "lb" | "lbreak" => {
            at_most(1)?;
            Command::Break(BreakAt::Linear(number32(arg(0)?)?))
        }
        "pb" | "pbreak" => {
            at_most(1)?;
            Command::Break(BreakAt::Physical(number32(arg(0)?)?))
        }
        "d" | "del" | "delete" => {
            at_most(1)?;
            Command::Delete(ordinal(arg(0)?)?)
        }
        "blist" => Command::Info(Info::Break),
        "watch" => {
            at_most(3)?;
            if args.is_empty() {
                return Ok(Some(Command::Info(Info::Break)));
            }
            let write = match arg(0)? {
                "r" | "read" => false,
                "w" | "write" => true,
                other => return Err(format!("watch: expected r or w, got `{other}`")),
            };
            let phys = number32(arg(1)?)?;
            let len = args.get(2).map(|a| number32(a)).transpose()?.unwrap_or(1);
            if len == 0 {
                return Err("watch: the length must be at least 1".into());
            }
            Command::Watch { write, phys, len }
        }
        "unwatch" => {
            at_most(1)?;
            Command::Unwatch(args.first().map(|a| ordinal(a)).transpose()?)
        }
        "iob" => {
            at_most(2)?;
            if args.is_empty() {
                return Ok(Some(Command::Info(Info::Break)));
            }
            let port = u16::try_from(number(arg(0)?)?).map_err(|_| "iob: port above 0xffff")?;
            let len = match args.get(1) {
                Some(a) => u16::try_from(number(a)?).map_err(|_| "iob: length too large")?,
                None => 1,
            };
            Command::IoBreak {
                port,
                len: len.max(1),
            }
        }
        "uniob" => {
            at_most(1)?;
            Command::UnIoBreak(args.first().map(|a| ordinal(a)).transpose()?)
        }
        "int" => {
            at_most(1)?;
            Command::IntBreak(vector(arg(0)?)?)
        }
        "unint" => {
            at_most(1)?;
            Command::UnIntBreak(args.first().map(|a| vector(a)).transpose()?)
        }
        "r" | "reg" | "regs" | "registers" => {
            at_most(0)?;
            Command::Regs
        }
        "sreg" => Command::Sregs,
        "creg" => Command::Cregs,
        "dreg" => Command::Dregs,
        "fpu" => Command::Fpu,
        "set" => {
            // `set eax 5`, `set $eax = 5`, `set eax=5`.
            let rest = args.join(" ").replace('=', " ");
            let parts: Vec<&str> = rest.split_whitespace().collect();
            if parts.len() != 2 {
                return Err("set: expected `set REG VALUE`".into());
            }
            let r = Register::parse(parts[0])
                .ok_or_else(|| format!("set: unknown register `{}`", parts[0]))?;
            Command::Set(r, number32(parts[1])?)
        }
        "info" => Command::Info(info(&args)?),
        "page" => {
            at_most(1)?;
            Command::Page(number32(arg(0)?)?)
        }
        "x" | "xp" => {
            let (count, unit, format, rest) = nuf(&args)?;
            if rest.len() != 1 {
                return Err(format!("{cmd}: expected `{cmd} /nuf ADDR`"));
            }
            let a = addr(rest[0])?;
            if cmd == "xp" && matches!(a, Addr::SegOff(..)) {
                return Err("xp: takes a physical address".into());
            }
            Command::Examine {
                physical: cmd == "xp",
                count,
                unit,
                format,
                addr: a,
            }
        }
        "u" | "disasm" => {
            let (mut count, rest) = match args.first() {
                Some(a) if a.starts_with('/') => (Some(number(&a[1..])? as usize), &args[1..]),
                _ => (None, &args[..]),
            };
            if rest.len() > 2 {
                return Err("u: expected `u [/n] [ADDR] [n]`".into());
            }
            let at = rest.first().map(|a| addr(a)).transpose()?;
            if let Some(n) = rest.get(1) {
                count = Some(number(n)? as usize);
            }
            Command::Disasm {
                addr: at,
                count: count.unwrap_or(10),
            }
        }
        "trace" => {
            at_most(2)?;
            match arg(0)? {
                "on" => Command::Trace {
                    on: true,
                    file: args.get(1).map(|s| s.to_string()),
                },
                "off" => Command::Trace {
                    on: false,
                    file: None,
                },
                other => return Err(format!("trace: expected on or off, got `{other}`")),
            }
        }
        "save" => {
            at_most(1)?;
            Command::Save(arg(0)?.to_string())
        }
        "load" => {
            at_most(1)?;
            Command::Load(arg(0)?.to_string())
        }
        "rs" => {
            at_most(1)?;
            Command::ReverseStep(args.first().map(|a| number(a)).transpose()?.unwrap_or(1))
        }
        "rc" => Command::ReverseContinue,
        "h" | "help" => Command::Help,
        "q" | "quit" | "exit" => Command::Quit,
        other => return Err(format!("unknown command `{other}` (try `help`)")),
    };
    Ok(Some(c))
}

fn info(args: &[&str]) -> Result<Info, String> {
    let what = args.first().copied().unwrap_or("");
    let range = || -> Result<Option<(u32, u32)>, String> {
        match args.len() {
            1 => Ok(None),
            2 => {
                let a = number32(args[1])?;
                Ok(Some((a, a)))
            }
            3 => Ok(Some((number32(args[1])?, number32(args[2])?))),
            _ => Err(format!("info {what}: too many arguments")),
        }
    };
    Ok(match what {
        "break" | "b" | "breakpoints" => Info::Break,
        "gdt" => Info::Gdt(range()?),
        "idt" => Info::Idt(range()?),
        "ldt" => Info::Ldt(range()?),
        "tss" => Info::Tss,
        "tab" => Info::Tab,
        "device" => {
            let name = args
                .get(1)
                .ok_or("info device: name one of pic, pit, rtc, uart, ide, vga, kbc")?;
            Info::Device(name.to_ascii_lowercase())
        }
        _ => return Err("info: expected break, gdt, idt, ldt, tss, tab or device".into()),
    })
}

/// `/nuf` of `x`: count, unit bytes, format, and the remaining arguments.
fn nuf<'a>(args: &'a [&'a str]) -> Result<(u32, u32, Format, &'a [&'a str]), String> {
    let (mut count, mut unit, mut format) = (1, 4, Format::Hex);
    let Some(spec) = args.first().and_then(|a| a.strip_prefix('/')) else {
        return Ok((count, unit, format, args));
    };
    let digits: String = spec.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        count = digits.parse().map_err(|_| "x: bad count")?;
    }
    for c in spec[digits.len()..].chars() {
        match c {
            'b' => unit = 1,
            'h' => unit = 2,
            'w' => unit = 4,
            'g' => unit = 8,
            'x' => format = Format::Hex,
            'd' => format = Format::Decimal,
            'u' => format = Format::Unsigned,
            'c' => format = Format::Char,
            _ => return Err(format!("x: unknown unit or format `{c}`")),
        }
    }
    Ok((count, unit, format, &args[1..]))
}

/// A number: `0x` hex, else decimal (Bochs' convention); `h` suffix hex.
pub fn number(s: &str) -> Result<u64, String> {
    let t = s.to_ascii_lowercase();
    let r = if let Some(h) = t.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else if let Some(h) = t.strip_suffix('h') {
        u64::from_str_radix(h, 16)
    } else {
        t.parse()
    };
    r.map_err(|_| format!("`{s}` is not a number (hex needs 0x)"))
}

fn number32(s: &str) -> Result<u32, String> {
    u32::try_from(number(s)?).map_err(|_| format!("`{s}` does not fit 32 bits"))
}

fn vector(s: &str) -> Result<u8, String> {
    u8::try_from(number(s)?).map_err(|_| format!("`{s}` is not a vector (0-255)"))
}

/// A 1-based list number as Bochs shows them, as a 0-based index.
fn ordinal(s: &str) -> Result<usize, String> {
    match number(s)? {
        0 => Err("numbers start at 1".into()),
        n => Ok(n as usize - 1),
    }
}

/// `seg:off` or a plain (linear or physical) address.
pub fn addr(s: &str) -> Result<Addr, String> {
    match s.split_once(':') {
        Some((sel, off)) => {
            let sel = u16::try_from(number(sel)?).map_err(|_| format!("`{sel}`: selector"))?;
            Ok(Addr::SegOff(sel, number32(off)?))
        }
        None => Ok(Addr::Linear(number32(s)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Command {
        parse(s).unwrap().unwrap()
    }

    #[test]
    fn numbers_are_decimal_unless_marked_hex() {
        assert_eq!(number("10"), Ok(10));
        assert_eq!(number("0x10"), Ok(16));
        assert_eq!(number("10h"), Ok(16));
        assert!(number("ff").is_err());
    }

    #[test]
    fn breakpoints_by_kind() {
        assert_eq!(
            p("vb 0xf000:0x40"),
            Command::Break(BreakAt::Virtual {
                cs: 0xF000,
                eip: 0x40
            })
        );
        assert_eq!(p("lb 0x1000"), Command::Break(BreakAt::Linear(0x1000)));
        assert_eq!(p("pb 4096"), Command::Break(BreakAt::Physical(0x1000)));
        // Bochs' `b` is a physical breakpoint; with seg:off it is `vb`.
        assert_eq!(p("b 0x1000"), Command::Break(BreakAt::Physical(0x1000)));
        assert!(matches!(
            p("b 0x8:0x10"),
            Command::Break(BreakAt::Virtual { cs: 8, eip: 0x10 })
        ));
        assert!(parse("vb 0x1000").is_err());
        assert_eq!(p("d 1"), Command::Delete(0));
        assert!(parse("d 0").is_err());
    }

    #[test]
    fn stepping_and_running() {
        assert_eq!(p("s"), Command::Step(1));
        assert_eq!(p("s 3"), Command::Step(3));
        assert_eq!(p("c"), Command::Continue);
        assert_eq!(p("until cycle 0x100"), Command::UntilCycle(256));
        assert!(parse("until 5").is_err());
        assert_eq!(p("rs 3"), Command::ReverseStep(3));
        assert_eq!(parse("  # a comment"), Ok(None));
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn watchpoints_io_and_interrupt_breaks() {
        assert_eq!(
            p("watch w 0x500 2"),
            Command::Watch {
                write: true,
                phys: 0x500,
                len: 2
            }
        );
        assert_eq!(
            p("watch r 0x500"),
            Command::Watch {
                write: false,
                phys: 0x500,
                len: 1
            }
        );
        assert!(parse("watch x 0x500").is_err());
        assert_eq!(p("iob 0x80"), Command::IoBreak { port: 0x80, len: 1 });
        assert!(parse("iob 0x10000").is_err());
        assert_eq!(p("int 6"), Command::IntBreak(6));
        assert!(parse("int 256").is_err());
        assert_eq!(p("unint"), Command::UnIntBreak(None));
        assert_eq!(p("unwatch 2"), Command::Unwatch(Some(1)));
    }

    #[test]
    fn examine_takes_bochs_nuf() {
        assert_eq!(
            p("x /4bx 0x500"),
            Command::Examine {
                physical: false,
                count: 4,
                unit: 1,
                format: Format::Hex,
                addr: Addr::Linear(0x500)
            }
        );
        assert_eq!(
            p("xp 0x500"),
            Command::Examine {
                physical: true,
                count: 1,
                unit: 4,
                format: Format::Hex,
                addr: Addr::Linear(0x500)
            }
        );
        assert!(matches!(
            p("x /2hd 0x10:0x20"),
            Command::Examine {
                count: 2,
                unit: 2,
                format: Format::Decimal,
                addr: Addr::SegOff(0x10, 0x20),
                ..
            }
        ));
        assert!(parse("xp 0x10:0x20").is_err());
        assert!(parse("x /4q 0").is_err());
    }

    #[test]
    fn disassembly_count_and_address_in_either_order() {
        assert_eq!(
            p("u"),
            Command::Disasm {
                addr: None,
                count: 10
            }
        );
        let want = Command::Disasm {
            addr: Some(Addr::SegOff(0xF000, 0x40)),
            count: 2,
        };
        assert_eq!(p("u 0xf000:0x40 2"), want);
        assert_eq!(p("u /2 0xf000:0x40"), want);
    }

    #[test]
    fn info_set_and_trace() {
        assert_eq!(p("info gdt"), Command::Info(Info::Gdt(None)));
        assert_eq!(
            p("info idt 0 0x20"),
            Command::Info(Info::Idt(Some((0, 32))))
        );
        assert_eq!(
            p("info device PIC"),
            Command::Info(Info::Device("pic".into()))
        );
        assert!(parse("info nonsense").is_err());
        assert_eq!(p("set $eax = 0x10"), Command::Set(Register::Gpr(0), 16));
        assert_eq!(p("set cs 0xf000"), Command::Set(Register::Seg(1), 0xF000));
        assert!(
            parse("set ax 1").is_err(),
            "16-bit names are not registers here"
        );
        assert_eq!(
            p("trace on t.txt"),
            Command::Trace {
                on: true,
                file: Some("t.txt".into())
            }
        );
        assert_eq!(p("page 0x1000"), Command::Page(0x1000));
        assert_eq!(p("save s.bin"), Command::Save("s.bin".into()));
        assert!(parse("frobnicate").is_err());
    }
}
