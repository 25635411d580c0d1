//! The `oxbox` command line.
//!
//! Options follow QEMU's conventions where QEMU has one. This first slice
//! runs a firmware image from the reset vector with the debug console on
//! stdout; the BIOS, disks, display and serial ports arrive with their
//! issues.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use oxbox::cpu::CpuModel;
use oxbox::linux_boot::LinuxImages;
use oxbox::machine::{BootDevice, Machine};
use oxbox::replay::InputLog;
use oxbox::savestate::Snapshot;
use oxbox_devices::uart16550::{FileBackend, SerialBackend, StdioBackend, TcpBackend};

mod frontend;
use frontend::{ConsoleTap, Display, SerialTap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The built-in firmware: oxbox's own BIOS (source in bios/oxbios.asm).
const DEFAULT_ROM: &[u8] = include_bytes!("../../roms/oxbios.bin");

/// The built-in demo disk (source in bios/demo.asm): booted when the command
/// line names no firmware and no boot media.
const DEMO_DISK: &[u8] = include_bytes!("../../roms/demo.bin");

#[derive(Parser, Debug)]
#[command(
    name = "oxbox",
    version,
    about = "oxbox: a full-system x86 PC emulator"
)]
struct Args {
    /// CPU model: 8086, 80186, 80286, 80386, 80486, pentium, p6.
    #[arg(long, default_value = "p6", value_parser = parse_model)]
    cpu: CpuModel,

    /// Guest RAM in MiB. QEMU's default; a current Linux kernel needs more
    /// than 32 (Debian 12's 686 kernel decompresses itself above 32 MiB).
    #[arg(short = 'm', long = "memory", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=3072))]
    memory: u32,

    /// Firmware image run from the reset vector (default: the built-in
    /// oxbox BIOS, bios/oxbios.asm).
    #[arg(long)]
    bios: Option<PathBuf>,

    /// Boot order, QEMU's letters: c hard disk, d CD-ROM, a floppy (e.g.
    /// "dc", or "order=dc"); up to three. Default: c, d, a.
    #[arg(long, value_name = "ORDER", value_parser = parse_boot)]
    boot: Option<BootOrder>,

    /// oxbox's BIOS also writes its text output (POST screen, INT 10h
    /// teletype) to COM1, as a serial console.
    #[arg(long)]
    bios_serial_console: bool,

    /// The VGA's option ROM (e.g. /usr/share/seabios/vgabios-stdvga.bin),
    /// offered to the firmware through the VGA's PCI expansion ROM BAR.
    #[arg(long, value_name = "FILE")]
    vga_bios: Option<PathBuf>,

    /// Diskette image for drive A: (raw; its size gives the format,
    /// 160K to 2.88M).
    #[arg(long, value_name = "FILE")]
    fda: Option<PathBuf>,

    /// Diskette image for drive B:.
    #[arg(long, value_name = "FILE")]
    fdb: Option<PathBuf>,

    /// Primary master hard disk image (raw).
    #[arg(long, value_name = "FILE")]
    hda: Option<PathBuf>,

    /// Primary slave hard disk image (raw).
    #[arg(long, value_name = "FILE")]
    hdb: Option<PathBuf>,

    /// CD-ROM image (ISO) on the secondary master.
    #[arg(long, value_name = "FILE")]
    cdrom: Option<PathBuf>,

    /// Boot this Linux kernel (bzImage) directly, through its own real-mode
    /// setup code on the BIOS (QEMU's -kernel).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,

    /// Initial RAM disk for --kernel.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,

    /// Kernel command line for --kernel.
    #[arg(long, value_name = "CMDLINE", requires = "kernel", default_value = "")]
    append: String,

    /// Write disk changes to a temporary overlay, leaving the images
    /// untouched (as QEMU's -snapshot).
    #[arg(long)]
    snapshot: bool,

    /// Stop after this many instructions (counted from the loaded state
    /// with --loadvm).
    #[arg(long, value_name = "N")]
    max_instructions: Option<u64>,

    /// Start from the machine state in FILE (written by --savevm) instead
    /// of a power-on. The options that configure the machine (--cpu,
    /// --memory, --bios, --vga-bios, --kernel/--initrd/--append, the disk
    /// images and --snapshot) must be those it was saved with.
    #[arg(long, value_name = "FILE")]
    loadvm: Option<PathBuf>,

    /// Write the machine state to FILE when the run ends (the instruction
    /// budget, the guest halting or exiting, Ctrl-C, closing the window).
    #[arg(long, value_name = "FILE")]
    savevm: Option<PathBuf>,

    /// Record the inputs from outside (keys, mouse, COM1 input, the
    /// window's reset) with the instruction count each arrived at, and
    /// write them to FILE when the run ends, for --replay.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    record: Option<PathBuf>,

    /// Replay the inputs recorded in FILE (by --record, with the same
    /// machine options) instead of taking live ones; the run ends where
    /// the recorded one did unless --max-instructions says otherwise.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// Display: window, or none (headless: COM1 on stdio, the VGA text
    /// screen mirrored to the terminal). Default: a window when an X11
    /// display is available.
    #[arg(long, value_parser = parse_display)]
    display: Option<Display>,

    /// Write a PNG of the guest screen to PATH at exit.
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,

    /// Throttle the guest's virtual clock to the wall clock.
    #[arg(long)]
    realtime: bool,

    /// COM1's back end: stdio, none, file:PATH, or tcp:127.0.0.1:PORT.
    /// Default: stdio, or none with --debug (the terminal is the
    /// debugger's).
    #[arg(long, value_parser = parse_serial)]
    serial: Option<Serial>,

    /// Exit instead of resetting when the guest triple-faults.
    #[arg(long)]
    no_reboot: bool,

    /// End the run when the guest halts with interrupts disabled (as
    /// Linux's `poweroff -f` does without ACPI), with the window too; by
    /// default the window then keeps the guest's last screen until closed.
    /// Headless runs always end there.
    #[arg(long)]
    exit_on_halt: bool,

    /// Where the debug console (port 0xE9) goes: stdio, none, or file:PATH.
    /// Off unless asked for, as in QEMU: the firmware's debug output would
    /// otherwise cover the headless text mirror of the screen.
    #[arg(long, default_value = "none", value_parser = parse_debugcon)]
    debugcon: Debugcon,

    /// Start in the built-in debugger: a command prompt on the terminal
    /// before the first instruction (`help` lists the commands). Ctrl-C
    /// breaks into it.
    #[arg(long)]
    debug: bool,

    /// Run the debugger commands in FILE first; the session ends with the
    /// file unless --debug is also given (then the prompt follows).
    #[arg(long, value_name = "FILE")]
    debug_script: Option<PathBuf>,

    /// Serve the GDB remote protocol: tcp:HOST:PORT, or tcp::PORT for
    /// 127.0.0.1 (port 0 picks a free one). The guest runs until gdb
    /// attaches (then stops where it is) unless -S is given.
    #[arg(long, value_name = "tcp:HOST:PORT", value_parser = oxbox::debugger::gdb::parse_address)]
    gdb: Option<String>,

    /// With --gdb: wait for gdb before the first instruction (QEMU's -S).
    #[arg(short = 'S', requires = "gdb")]
    start_stopped: bool,
}

#[derive(Clone, Debug)]
enum Serial {
    Stdio,
    None,
    File(PathBuf),
    Tcp(u16),
}

fn parse_serial(s: &str) -> Result<Serial, String> {
    match s {
        "stdio" => Ok(Serial::Stdio),
        "none" => Ok(Serial::None),
        _ => {
            if let Some(p) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
                return Ok(Serial::File(PathBuf::from(p)));
            }
            if let Some(rest) = s.strip_prefix("tcp:") {
                let port = rest
                    .strip_prefix("127.0.0.1:")
                    .or_else(|| rest.strip_prefix("localhost:"))
                    .or_else(|| rest.strip_prefix(':'))
                    .ok_or_else(|| format!("oxbox only listens on 127.0.0.1: expected tcp:127.0.0.1:PORT, got '{s}'"))?;
                return port
                    .parse::<u16>()
                    .map(Serial::Tcp)
                    .map_err(|_| format!("bad TCP port in '{s}'"));
            }
            Err(format!(
                "expected stdio, none, file:PATH or tcp:127.0.0.1:PORT, got '{s}'"
            ))
        }
    }
}

#[derive(Clone, Debug)]
enum Debugcon {
    Stdio,
    None,
    File(PathBuf),
}

fn parse_display(s: &str) -> Result<Display, String> {
    match s {
        "none" => Ok(Display::None),
        "window" => Ok(Display::Window),
        _ => Err(format!("expected window or none, got '{s}'")),
    }
}

/// The `--boot` devices, in order.
#[derive(Clone, Debug)]
struct BootOrder(Vec<BootDevice>);

fn parse_boot(s: &str) -> Result<BootOrder, String> {
    let letters = s.strip_prefix("order=").unwrap_or(s);
    let order = letters
        .chars()
        .map(|c| {
            BootDevice::from_letter(c)
                .ok_or_else(|| format!("unknown boot device '{c}': expected c, d or a"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if order.is_empty() || order.len() > 3 {
        return Err(format!("expected one to three of c, d, a, got '{s}'"));
    }
    Ok(BootOrder(order))
}

fn parse_model(s: &str) -> Result<CpuModel, String> {
    s.parse()
}

fn parse_debugcon(s: &str) -> Result<Debugcon, String> {
    match s {
        "stdio" => Ok(Debugcon::Stdio),
        "none" => Ok(Debugcon::None),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(Debugcon::File(PathBuf::from(p))),
            _ => Err(format!("expected stdio, none or file:PATH, got '{s}'")),
        },
    }
}

/// Open the disk images the command line names and put them on the IDE
/// channels: hda/hdb on the primary channel, the CD-ROM on the secondary.
fn attach_disks(machine: &mut Machine, args: &Args) -> Result<(), String> {
    use oxbox_devices::disk::{Access, BlockDevice, Overlay, RawImage};
    use oxbox_devices::ide::{Channel, Unit};
    let open = |path: &PathBuf| -> Result<Box<dyn BlockDevice>, String> {
        let what = |e: &dyn std::fmt::Display| format!("disk image {}: {e}", path.display());
        if args.snapshot {
            Ok(Box::new(Overlay::open(path).map_err(|e| what(&e))?))
        } else {
            Ok(Box::new(
                RawImage::open(path, Access::ReadWrite).map_err(|e| what(&e))?,
            ))
        }
    };
    for (path, unit) in [(&args.hda, Unit::Master), (&args.hdb, Unit::Slave)] {
        if let Some(p) = path {
            let disk = open(p)?;
            machine
                .bus
                .ide
                .attach_disk(Channel::Primary, unit, disk)
                .map_err(|e| format!("disk image {}: {e}", p.display()))?;
        }
    }
    for (unit, flag, path) in [(0, "--fda", &args.fda), (1, "--fdb", &args.fdb)] {
        if let Some(p) = path {
            let disk: Box<dyn BlockDevice> = if args.snapshot {
                Box::new(Overlay::open(p).map_err(|e| format!("{flag}: {e}"))?)
            } else {
                Box::new(RawImage::open(p, Access::ReadWrite).map_err(|e| format!("{flag}: {e}"))?)
            };
            machine
                .attach_floppy(unit, disk)
                .map_err(|e| format!("{flag}: diskette image {}: {e}", p.display()))?;
        }
    }
    if let Some(p) = &args.cdrom {
        let iso =
            RawImage::open_iso(p).map_err(|e| format!("CD-ROM image {}: {e}", p.display()))?;
        machine
            .bus
            .ide
            .attach_cdrom(Channel::Secondary, Unit::Master, Some(Box::new(iso)))
            .map_err(|e| format!("CD-ROM image {}: {e}", p.display()))?;
    }
    Ok(())
}

/// The demo disk as the primary master, in memory: the guest's writes are
/// lost at exit.
fn attach_demo_disk(machine: &mut Machine) -> Result<(), String> {
    use oxbox_devices::disk::MemDisk;
    use oxbox_devices::ide::{Channel, Unit};
    eprintln!("oxbox: no disk given; booting the built-in demo disk");
    machine
        .bus
        .ide
        .attach_disk(
            Channel::Primary,
            Unit::Master,
            Box::new(MemDisk::from_bytes(DEMO_DISK.to_vec(), 512)),
        )
        .map_err(|e| format!("built-in demo disk: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("oxbox: {msg}");
            ExitCode::from(2)
        }
    }
}

/// `RUST_LOG` (e.g. `oxbox::ide=debug`) turns on the devices' `tracing`
/// events, on stderr. Without it no subscriber is installed, and each
/// event costs one check of a disabled callsite; the CPU's hot path has
/// none.
fn init_logging() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .without_time()
        .try_init();
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let rom = match &args.bios {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read firmware image {}: {e}", path.display()))?,
        None => DEFAULT_ROM.to_vec(),
    };
    // The headless text mirror steps aside once the guest prints on a
    // console of its own (COM1, or the debug console on stdout).
    let console_used = Arc::new(AtomicBool::new(false));
    let debugcon: Box<dyn Write + Send> = match &args.debugcon {
        Debugcon::Stdio => Box::new(ConsoleTap::new(io::stdout(), console_used.clone())),
        Debugcon::None => Box::new(io::sink()),
        Debugcon::File(p) => Box::new(
            File::create(p)
                .map_err(|e| format!("cannot create debug console file {}: {e}", p.display()))?,
        ),
    };
    let ram = args.memory as usize * 1024 * 1024;
    let mut machine = Machine::new(args.cpu, ram, &rom, debugcon).map_err(|e| {
        let name = args
            .bios
            .as_ref()
            .map_or("built-in ROM".to_string(), |p| p.display().to_string());
        format!("{name}: {e}")
    })?;
    machine.reset_on_triple_fault = !args.no_reboot;
    attach_disks(&mut machine, args)?;
    if args.bios.is_none()
        && args.fda.is_none()
        && args.fdb.is_none()
        && args.hda.is_none()
        && args.hdb.is_none()
        && args.cdrom.is_none()
        && args.kernel.is_none()
    {
        attach_demo_disk(&mut machine)?;
    }
    if let Some(kernel) = &args.kernel {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).map_err(|e| format!("cannot read {what} {}: {e}", p.display()))
        };
        let images = LinuxImages {
            kernel: read(kernel, "kernel")?,
            initrd: args
                .initrd
                .as_ref()
                .map(|p| read(p, "initrd"))
                .transpose()?,
            cmdline: args.append.clone(),
        };
        machine
            .boot_linux(images)
            .map_err(|e| format!("{}: {e}", kernel.display()))?;
    }
    machine.record_disks_in_cmos();
    if let Some(order) = &args.boot {
        machine.set_boot_order(&order.0);
    }
    machine.set_bios_serial_console(args.bios_serial_console);
    if let Some(p) = &args.vga_bios {
        let rom =
            std::fs::read(p).map_err(|e| format!("cannot read VGA BIOS {}: {e}", p.display()))?;
        machine.bus.set_vga_rom(rom);
    }
    let debugging = args.debug || args.debug_script.is_some();
    let debug = if debugging || args.gdb.is_some() {
        let script = match &args.debug_script {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read debugger script {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Some(frontend::DebugOptions {
            script,
            interactive: args.debug,
            gdb: args.gdb.clone(),
            gdb_start_stopped: args.start_stopped,
        })
    } else {
        None
    };
    let serial_choice = match &args.serial {
        Some(s) => s.clone(),
        None if debugging => Serial::None,
        None => Serial::Stdio,
    };
    let serial: Option<Box<dyn SerialBackend>> = match &serial_choice {
        Serial::None => None,
        Serial::Stdio => Some(Box::new(StdioBackend::new())),
        Serial::File(p) => Some(Box::new(FileBackend::create(p).map_err(|e| {
            format!("cannot create serial output file {}: {e}", p.display())
        })?)),
        Serial::Tcp(port) => {
            let backend = TcpBackend::bind(*port)
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
            eprintln!(
                "oxbox: COM1 listening on 127.0.0.1:{}",
                backend.local_port()
            );
            Some(Box::new(backend))
        }
    };
    if let Some(backend) = serial {
        let tap = SerialTap::new(backend, console_used.clone());
        machine.bus.attach_serial(Box::new(tap));
    }
    if let Some(p) = &args.loadvm {
        Snapshot::load(p)
            .and_then(|s| machine.restore(&s))
            .map_err(|e| format!("--loadvm {}: {e}", p.display()))?;
    }
    let mut max_instructions = args.max_instructions;
    if args.record.is_some() || (debugging && args.replay.is_none()) {
        // The debugger's reverse execution replays COM1 input too.
        machine.log_serial_input();
    }
    if args.record.is_some() {
        let hash = machine.state_hash();
        let (i, c) = (machine.cpu.instructions, machine.cpu.cycles);
        machine.inputs.begin(i, c, hash);
    }
    if let Some(p) = &args.replay {
        let log = InputLog::load(p).map_err(|e| format!("--replay {e}"))?;
        if let Some((i, c, hash)) = log.start() {
            if (i, c, hash)
                != (
                    machine.cpu.instructions,
                    machine.cpu.cycles,
                    machine.state_hash(),
                )
            {
                return Err(format!(
                    "--replay {}: the log starts from another machine state (give the options and --loadvm it was recorded with)",
                    p.display()
                ));
            }
        }
        if let (None, Some((end, _))) = (max_instructions, log.end()) {
            max_instructions = Some(end.saturating_sub(machine.cpu.instructions));
        }
        machine.inputs = log;
        machine.log_serial_input();
    }
    // Ctrl-C ends the run cleanly: the front end flushes the disks. In
    // the debugger it breaks into the prompt instead.
    let flag = machine.interrupt.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let options = frontend::Options {
        display: args.display,
        screenshot: args.screenshot.clone(),
        realtime: args.realtime,
        max_instructions,
        exit_on_halt: args.exit_on_halt,
        savevm: args.savevm.clone(),
        record: args.record.clone(),
        console_used,
        debug,
    };
    frontend::run(machine, &options)
}
