//! A PC: the CPU, its memory, the firmware image and the devices on the bus.
//!
//! The AT core logic (8259 pair, 8254, MC146818: [`Platform`]) on the bus,
//! the ISA DMA controllers and the floppy controller behind them, RAM, a firmware ROM mapped below 1 MiB and at the top of the address
//! space, the debug console (0xE9, and SeaBIOS's 0x402), POST codes (0x80,
//! 0x190) and an exit port (0xF4, as QEMU's isa-debug-exit).
//!
//! Time is the CPU's cycle counter at the configured clock rate; the run
//! loop lets the CPU run up to the platform's next deadline, brings the
//! chips to the time reached, and skips idle time when the CPU halts
//! (DESIGN.md, "Time and determinism").

use std::io::Write;

use crate::cpu::{Cpu, CpuModel, RunExit};
use crate::linux_boot::{self, LinuxBootError, LinuxImages};
use crate::replay::{Input, InputLog};
use oxbox_devices::clock::earliest;
use oxbox_devices::dma8237::Dma8237;
use oxbox_devices::fdc::{Fdc, FloppyError, FDC_DMA_CHANNEL};
use oxbox_devices::i8042::I8042;
use oxbox_devices::ide::IdeController;
use oxbox_devices::pci::{pam_masks, PciHost};
use oxbox_devices::uart16550::{ComPort, SerialBackend, Uart16550};
use oxbox_devices::vga::{Vga, VgaConfig};
use oxbox_devices::{Bus, ClockRate, DateTime, Device, IoSize, IrqMask, Platform, VirtualTime};

/// The Bochs/QEMU debug console port.
pub const DEBUGCON_PORT: u16 = 0xE9;
/// The POST diagnostic port.
pub const POST_PORT: u16 = 0x80;
/// The second POST port CPU test ROMs use (the 8086/286 test suites of the
/// PC community write here as well).
pub const POST_PORT_ALT: u16 = 0x190;
/// SeaBIOS's debug output port (same behaviour as 0xE9).
pub const SEABIOS_DEBUG_PORT: u16 = 0x402;
/// The exit port: writing `v` ends the run with status `(v << 1) | 1`.
pub const EXIT_PORT: u16 = 0xF4;
/// System control port A: bit 1 the fast A20 gate, bit 0 a CPU reset.
pub const PORT_92: u16 = 0x92;
/// The PIIX3 reset control register: bit 2 resets, bit 1 makes it a hard
/// (system) reset (82371SB datasheet §4.1.5, "RC").
pub const RESET_CONTROL: u16 = 0xCF9;
/// The interrupt lines the machine's ISA devices (UARTs, 8042, FDC, IDE)
/// drive.
const DEVICE_IRQS: [u8; 7] = [1, 3, 4, 6, 12, 14, 15];
/// The PIIX3 IDE function (legacy mode: ports 0x1F0/0x170, IRQ 14/15).
pub const IDE_FUNCTION: u16 = oxbox_devices::pci::bdf(0, 1, 1);
/// The VGA (QEMU/Bochs "stdvga" identity 1234:1111, so SeaBIOS's and the
/// guests' Bochs VBE drivers recognise it).
pub const VGA_FUNCTION: u16 = oxbox_devices::pci::bdf(0, 2, 0);
/// Video memory, and where the linear framebuffer sits until the firmware
/// moves BAR0.
const VRAM_SIZE: u32 = 16 << 20;
const LFB_DEFAULT: u32 = 0xE000_0000;

/// The VGA function's configuration space: BAR0 the linear framebuffer,
/// and an expansion ROM BAR when an option ROM of `rom_len` bytes exists.
fn vga_config(rom_len: usize) -> oxbox_devices::pci::ConfigSpace {
    let mut c = oxbox_devices::pci::ConfigSpace::new(0x1234, 0x1111, 0x03_00_00, 0x02, 0x00);
    c.bar(0x10, VRAM_SIZE, false, true);
    c.set32(0x10, LFB_DEFAULT | 8);
    if rom_len > 0 {
        // Expansion ROM BAR (0x30): address bits above the ROM's size and
        // the enable bit (PCI 2.1 §6.2.5.2).
        let size = (rom_len as u32).next_power_of_two().max(2048);
        let mask = !(size - 1) | 1;
        for i in 0..4 {
            c.allow(0x30 + i, (mask >> (8 * i)) as u8);
        }
    }
    c
}

/// The routing of 0xA0000-0xFFFFF: the VGA hole (0xA0000-0xBFFFF, 32
/// pages) always goes to the bus; the rest follows the PAM registers.
fn legacy_window(pci: &PciHost) -> (u128, u128) {
    let (read, write) = pam_masks(&pci.pam());
    ((read as u128) << 32, (write as u128) << 32)
}

/// The PIIX3 IDE function's configuration space: legacy-mode ATA with a
/// bus-master BAR (82371SB datasheet §2.3).
fn ide_config() -> oxbox_devices::pci::ConfigSpace {
    use oxbox_devices::ide::{PIIX3_IDE_DEVICE_ID, PIIX3_IDE_VENDOR_ID};
    let mut c = oxbox_devices::pci::ConfigSpace::new(
        PIIX3_IDE_VENDOR_ID,
        PIIX3_IDE_DEVICE_ID,
        0x01_01_80,
        0,
        0x00,
    );
    c.bar(0x20, 16, true, false);
    // IDE timing registers (0x40-0x43) and slave timing (0x44).
    for r in 0x40..0x45 {
        c.allow(r, 0xFF);
    }
    c
}

/// The guest's wall clock at power-on unless configured otherwise: a fixed
/// date, so runs are deterministic.
pub const DEFAULT_RTC_START: DateTime = DateTime {
    year: 2026,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
};

/// The CPU clock each model runs at by default: guest time is the cycle
/// counter (each instruction's clocks from the model's timing table,
/// cpu/timing.rs) at this rate.
pub fn default_cpu_hz(model: CpuModel) -> u64 {
    match model {
        CpuModel::I8086 => 4_772_727,
        CpuModel::I80186 => 8_000_000,
        CpuModel::I80286 => 12_000_000,
        CpuModel::I80386 => 33_000_000,
        CpuModel::I80486 => 66_000_000,
        CpuModel::Pentium => 100_000_000,
        CpuModel::PentiumPro => 200_000_000,
    }
}

/// A device the firmware can boot from, with the code CMOS 0x3D/0x38 hold
/// for it (the Bochs/QEMU convention oxbios and SeaBIOS read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDevice {
    Floppy = 1,
    HardDisk = 2,
    Cdrom = 3,
}

impl BootDevice {
    /// The order used when none is given: hard disk, CD-ROM, floppy.
    pub const DEFAULT_ORDER: [BootDevice; 3] =
        [BootDevice::HardDisk, BootDevice::Cdrom, BootDevice::Floppy];

    /// QEMU's `-boot` letters: a floppy, c hard disk, d CD-ROM.
    pub fn from_letter(c: char) -> Option<BootDevice> {
        match c {
            'a' => Some(BootDevice::Floppy),
            'c' => Some(BootDevice::HardDisk),
            'd' => Some(BootDevice::Cdrom),
            _ => None,
        }
    }
}

/// The AT hard disk type oxbox reports for an IDE disk: 47, "user
/// defined" (the BIOS reads the geometry from the drive's IDENTIFY data).
pub const CMOS_DISK_TYPE_USER: u8 = 47;

/// Largest firmware image oxbox maps below 1 MiB (0xC0000-0xFFFFF).
pub const MAX_ROM_SIZE: usize = 256 * 1024;

/// Why a firmware image was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RomError {
    Empty,
    TooLarge(usize),
}

impl std::fmt::Display for RomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RomError::Empty => write!(f, "the firmware image is empty"),
            RomError::TooLarge(n) => write!(
                f,
                "the firmware image is {n} bytes; at most {MAX_ROM_SIZE} bytes fit below 1 MiB"
            ),
        }
    }
}

impl std::error::Error for RomError {}

/// An ISA option ROM: its base address and image.
pub type OptionRom = (u32, Vec<u8>);

/// Everything the CPU reaches through port I/O and MMIO.
///
/// Serialized for savestates: the chips and the glue registers. Skipped are
/// the configuration a restore checks instead of taking (clock, ROM
/// images: [`crate::savestate`]) and what belongs to the host: the debug
/// console, the logs of what the guest printed, the serial back ends (in
/// the UARTs) and the disk images (in the IDE drives).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PcBus {
    /// The AT core logic: PIC pair, PIT, RTC/CMOS.
    pub platform: Platform,
    /// The CPU clock: cycles ↔ guest time.
    #[serde(skip, default = "placeholder_clock")]
    pub cpu_clock: ClockRate,
    /// Guest time of the current access (set by [`Bus::sync_cycles`]).
    now: VirtualTime,
    /// Set when the guest wrote the exit port.
    pub exit_status: Option<i32>,
    /// COM1-COM4.
    pub serial: Vec<Uart16550>,
    /// The keyboard controller with its PS/2 keyboard and mouse.
    pub kbc: I8042,
    /// PCI configuration space: the i440FX host bridge and PIIX3.
    pub pci: PciHost,
    /// The PIIX3 IDE controller: two channels, master and slave each.
    pub ide: IdeController,
    /// The floppy controller (82077AA) and its drives.
    pub fdc: Fdc,
    /// The two 8237A DMA controllers with their page registers.
    pub dma: Dma8237,
    /// The VGA with the Bochs VBE extensions.
    pub vga: Vga,
    /// The VGA's option ROM (its PCI expansion ROM), if one was given.
    #[serde(skip)]
    vga_rom: Vec<u8>,
    /// ISA option ROMs at fixed addresses in C8000h-DFFFFh (base, image),
    /// found by the BIOS's option-ROM scan.
    #[serde(skip)]
    option_roms: Vec<OptionRom>,
    /// System control port A (0x92).
    port92: u8,
    /// The guest asked for a CPU reset (8042 pulse, port 0x92, 0xCF9).
    pub reset_requested: bool,
    /// The requested reset also resets the chipset (0xCF9 with SYS_RST).
    pub hard_reset: bool,
    /// The reset control register (0xCF9).
    reset_control: u8,
    #[serde(skip)]
    rom: Vec<u8>,
    /// Physical address where the high alias of the ROM starts (the ROM's
    /// last byte is the last byte of the address space).
    #[serde(skip)]
    rom_high_base: u32,
    #[serde(skip, default = "placeholder_debugcon")]
    debugcon: Box<dyn Write + Send>,
    /// Everything written to the debug console, for tests and headless runs.
    #[serde(skip)]
    pub debugcon_log: Vec<u8>,
    pub post_code: u8,
    /// Every byte written to a POST port, in order.
    #[serde(skip)]
    pub post_log: Vec<u8>,
    /// Also print each POST byte on the debug console as a line `POST xx`.
    #[serde(skip)]
    pub print_post: bool,
}

/// What a deserialized bus has until the restore hands it the running
/// machine's clock and debug console.
fn placeholder_clock() -> ClockRate {
    ClockRate::hz(1)
}

fn placeholder_debugcon() -> Box<dyn Write + Send> {
    Box::new(std::io::sink())
}

impl PcBus {
    /// Take over what a restore keeps from the running machine (`host`):
    /// configuration the state was checked against, the debug console and
    /// the output logs, the serial back ends and the disk images (whose
    /// saved copy-on-write sectors go back into them).
    pub(crate) fn adopt_host_side(
        &mut self,
        host: &mut PcBus,
    ) -> Result<(), oxbox_devices::disk::DiskError> {
        self.cpu_clock = host.cpu_clock;
        self.vga_rom = std::mem::take(&mut host.vga_rom);
        self.option_roms = std::mem::take(&mut host.option_roms);
        self.rom = std::mem::take(&mut host.rom);
        self.rom_high_base = host.rom_high_base;
        self.debugcon = std::mem::replace(&mut host.debugcon, placeholder_debugcon());
        self.debugcon_log = std::mem::take(&mut host.debugcon_log);
        self.post_log = std::mem::take(&mut host.post_log);
        self.print_post = host.print_post;
        for (mine, theirs) in self.serial.iter_mut().zip(&mut host.serial) {
            mine.attach(theirs.detach());
        }
        for (ch, unit) in crate::savestate::DRIVE_POSITIONS {
            if let Some(disk) = host.ide.take_medium(ch, unit) {
                self.ide.reattach(ch, unit, disk)?;
            }
        }
        for unit in crate::savestate::FLOPPY_UNITS {
            if let Some(disk) = host.fdc.take_medium(unit) {
                self.fdc.reattach(unit, disk)?;
            }
        }
        Ok(())
    }
}

/// The ISA devices outside the platform chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IsaDevice {
    Serial(usize),
    Keyboard,
    Floppy,
    Ide,
}

fn is_vga_port(port: u16) -> bool {
    (0x3B0..=0x3DF).contains(&port) || (0x1CE..=0x1CF).contains(&port)
}

fn isa_device(port: u16) -> Option<IsaDevice> {
    Some(match port {
        0x3F8..=0x3FF => IsaDevice::Serial(0),
        0x2F8..=0x2FF => IsaDevice::Serial(1),
        0x3E8..=0x3EF => IsaDevice::Serial(2),
        0x2E8..=0x2EF => IsaDevice::Serial(3),
        0x60 | 0x64 => IsaDevice::Keyboard,
        // 0x3F6 is the IDE's device control register; the FDC has the rest.
        0x3F0..=0x3F5 | 0x3F7 => IsaDevice::Floppy,
        0x1F0..=0x1F7 | 0x3F6 | 0x170..=0x177 | 0x376 => IsaDevice::Ide,
        _ => return None,
    })
}

impl PcBus {
    fn device(&mut self, d: IsaDevice) -> &mut dyn Device {
        match d {
            IsaDevice::Serial(n) => &mut self.serial[n],
            IsaDevice::Keyboard => &mut self.kbc,
            IsaDevice::Floppy => &mut self.fdc,
            IsaDevice::Ide => &mut self.ide,
        }
    }

    /// Byte-wide devices see a wider access as consecutive byte accesses
    /// (the ISA bus's split for 8-bit cards).
    fn isa_read(&mut self, d: IsaDevice, port: u16, size: IoSize) -> u32 {
        let now = self.now;
        if d == IsaDevice::Ide {
            // The ATA data port is 16 (and 32) bits wide: the controller
            // splits other registers itself.
            return self.ide.io_read(now, port, size);
        }
        let mut v = 0;
        for i in 0..size.bytes() {
            let p = port.wrapping_add(i as u16);
            let b = match isa_device(p) {
                Some(dd) if dd == d => self.device(d).io_read(now, p, IoSize::Byte) & 0xFF,
                _ => 0xFF,
            };
            v |= b << (8 * i);
        }
        v
    }

    fn isa_write(&mut self, d: IsaDevice, port: u16, size: IoSize, value: u32) {
        let now = self.now;
        if d == IsaDevice::Ide {
            self.ide.io_write(now, port, size, value);
            return;
        }
        for i in 0..size.bytes() {
            let p = port.wrapping_add(i as u16);
            if isa_device(p) == Some(d) {
                self.device(d)
                    .io_write(now, p, IoSize::Byte, (value >> (8 * i)) & 0xFF);
            }
        }
    }

    /// Hand the ISA devices' interrupt lines to the PIC.
    fn sync_device_irqs(&mut self) {
        let mut levels: IrqMask =
            self.kbc.irq_levels() | self.ide.irq_levels() | self.fdc.irq_levels();
        for u in &self.serial {
            levels |= u.irq_levels();
        }
        for irq in DEVICE_IRQS {
            self.platform.set_irq(irq, levels & (1 << irq) != 0);
        }
    }

    /// Bring every device to `now` and return the earliest next deadline.
    fn advance_devices(&mut self, now: VirtualTime) -> Option<VirtualTime> {
        self.platform.advance_to(now);
        self.kbc.advance(now);
        self.ide.advance(now);
        self.fdc.advance(now);
        self.dma.set_dreq(FDC_DMA_CHANNEL, self.fdc.dreq());
        for u in &mut self.serial {
            u.advance(now);
        }
        self.sync_device_irqs();
        if self.kbc.take_reset_request() {
            self.reset_requested = true;
        }
        earliest(
            [
                self.platform.next_deadline(),
                self.kbc.next_deadline(),
                self.ide.next_deadline(),
                self.fdc.next_deadline(),
            ]
            .into_iter()
            .chain(self.serial.iter().map(|u| u.next_deadline())),
        )
    }

    /// VGA ports: 0x3B0-0x3DF are byte registers (a word access is index
    /// then data), the VBE index/data pair is 16 bits wide.
    fn vga_io_read(&mut self, port: u16, size: IoSize) -> u32 {
        let now = self.now;
        if (0x1CE..=0x1CF).contains(&port) {
            return self.vga.io_read(now, port, size);
        }
        let mut v = 0;
        for i in 0..size.bytes() {
            let p = port.wrapping_add(i as u16);
            let b = if is_vga_port(p) {
                self.vga.io_read(now, p, IoSize::Byte) & 0xFF
            } else {
                0xFF
            };
            v |= b << (8 * i);
        }
        v
    }

    fn vga_io_write(&mut self, port: u16, size: IoSize, value: u32) {
        let now = self.now;
        if (0x1CE..=0x1CF).contains(&port) {
            self.vga.io_write(now, port, size, value);
            return;
        }
        for i in 0..size.bytes() {
            let p = port.wrapping_add(i as u16);
            if is_vga_port(p) {
                self.vga
                    .io_write(now, p, IoSize::Byte, (value >> (8 * i)) & 0xFF);
            }
        }
    }

    /// Follow the VGA function's BARs: the framebuffer, and the expansion
    /// ROM's address and enable bit.
    fn sync_vga_bars(&mut self) {
        if let Some(c) = self.pci.function(VGA_FUNCTION) {
            let lfb = c.get32(0x10) & 0xFFFF_FFF0;
            if lfb != 0 {
                self.vga.set_lfb_base(lfb);
            }
        }
    }

    /// The VGA option ROM's byte at `addr`, when the expansion ROM BAR is
    /// enabled and covers it.
    fn vga_rom_byte(&self, addr: u32) -> Option<u8> {
        if self.vga_rom.is_empty() {
            return None;
        }
        let bar = self.pci.function(VGA_FUNCTION)?.get32(0x30);
        if bar & 1 == 0 {
            return None;
        }
        let base = bar & !0x7FF;
        let off = addr.wrapping_sub(base);
        let size = (self.vga_rom.len() as u32).next_power_of_two().max(2048);
        (off < size).then(|| self.vga_rom.get(off as usize).copied().unwrap_or(0))
    }

    /// Give the VGA an option ROM (SeaBIOS's vgabios-stdvga.bin, say): the
    /// firmware finds it through the PCI expansion ROM BAR.
    pub fn set_vga_rom(&mut self, rom: Vec<u8>) {
        self.vga_rom = rom;
        self.pci
            .add_function(VGA_FUNCTION, vga_config(self.vga_rom.len()));
    }

    /// Map an ISA option ROM at `base` (replacing one already there).
    pub fn set_option_rom(&mut self, base: u32, image: Vec<u8>) {
        self.option_roms.retain(|(b, _)| *b != base);
        self.option_roms.push((base, image));
    }

    fn option_rom_byte(&self, addr: u32) -> Option<u8> {
        self.option_roms.iter().find_map(|(base, image)| {
            let off = addr.wrapping_sub(*base) as usize;
            image.get(off).copied()
        })
    }

    fn is_vga_memory(&self, addr: u32) -> bool {
        self.vga
            .mmio_ranges()
            .iter()
            .any(|&(base, len)| addr >= base && addr - base < len)
    }

    /// Whether `port` is in the IDE bus-master block the BIOS assigned.
    fn in_bus_master_block(&self, port: u16) -> bool {
        self.ide
            .bus_master_base()
            .is_some_and(|b| port >= b && port < b.wrapping_add(16))
    }

    /// Follow the IDE function's BAR4 (the bus-master block) and its I/O
    /// enable bit after a configuration write.
    fn sync_ide_bars(&mut self) {
        let base = self.pci.function(IDE_FUNCTION).and_then(|c| {
            let io_enabled = c.get8(0x04) & 1 != 0;
            let bar = c.get32(0x20) & 0xFFF0;
            (io_enabled && bar != 0).then_some(bar as u16)
        });
        self.ide.set_bus_master_base(base);
    }

    /// The firmware, the VGA option ROM and the ISA option ROMs.
    pub fn rom_images(&self) -> (&[u8], &[u8], &[OptionRom]) {
        (&self.rom, &self.vga_rom, &self.option_roms)
    }

    /// Whether the floppy controller's DREQ waits on a DMA channel that
    /// can serve it: the machine must move the bytes (it owns the RAM).
    pub fn isa_dma_pending(&self) -> bool {
        self.fdc.dreq() && self.dma.ready(FDC_DMA_CHANNEL)
    }

    /// Let the 8237 serve the floppy controller's request.
    fn run_isa_dma(&mut self, mem: &mut dyn oxbox_devices::bus::DmaMemory) {
        self.dma.transfer(FDC_DMA_CHANNEL, &mut self.fdc, mem);
        self.dma.set_dreq(FDC_DMA_CHANNEL, self.fdc.dreq());
        self.sync_device_irqs();
    }

    /// Attach a back end to COM1.
    pub fn attach_serial(&mut self, backend: Box<dyn SerialBackend>) {
        self.serial[0].attach(backend);
    }

    /// The firmware image at the top of the address space, and below 1 MiB
    /// where the chipset routes shadow-window reads to the ROM.
    fn rom_byte(&self, addr: u32) -> Option<u8> {
        let low_base = 0x10_0000 - self.rom.len() as u32;
        if addr >= self.rom_high_base {
            self.rom.get((addr - self.rom_high_base) as usize).copied()
        } else if (low_base..0x10_0000).contains(&addr) {
            self.rom.get((addr - low_base) as usize).copied()
        } else {
            None
        }
    }
}

impl PcBus {
    fn debug_byte(&mut self, b: u8) {
        self.debugcon_log.push(b);
        // A closed stdout must not stop the guest.
        let _ = self.debugcon.write_all(&[b]);
        if b == b'\n' {
            let _ = self.debugcon.flush();
        }
    }
}

impl Bus for PcBus {
    fn sync_cycles(&mut self, cycles: u64) {
        self.now = self.cpu_clock.tick_time(cycles);
    }

    fn stop_requested(&self) -> bool {
        // A bus-master transfer needs guest memory, which the CPU owns: the
        // CPU stops and the machine moves the data (Machine::run).
        self.exit_status.is_some()
            || self.reset_requested
            || self.ide.dma_pending()
            || self.isa_dma_pending()
    }

    fn shadow_map(&self) -> Option<(u128, u128)> {
        Some(legacy_window(&self.pci))
    }

    fn a20_enabled(&self) -> bool {
        // Either gate opens A20 (the PS/2's port 0x92 ORs with the 8042).
        self.kbc.a20() || self.port92 & 2 != 0
    }

    fn io_read(&mut self, port: u16, size: IoSize) -> u32 {
        if self.platform.decodes(port) {
            return self.platform.io_read(self.now, port, size);
        }
        if Dma8237::decodes(port) {
            return self.dma.io_read(self.now, port, size);
        }
        if PciHost::decodes(port) {
            return self.pci.io_read(port, size);
        }
        if self.in_bus_master_block(port) {
            return self.ide.io_read(self.now, port, size);
        }
        if is_vga_port(port) {
            return self.vga_io_read(port, size);
        }
        if let Some(d) = isa_device(port) {
            let v = self.isa_read(d, port, size);
            self.sync_device_irqs();
            return v;
        }
        match port {
            RESET_CONTROL if size == IoSize::Byte => self.reset_control as u32,
            PORT_92 => self.port92 as u32 | if size == IoSize::Byte { 0 } else { 0xFF00 },
            // Reading a debug console port returns 0xE9: Bochs' "port E9
            // hack" detection, and SeaBIOS's check before it uses 0x402.
            DEBUGCON_PORT | SEABIOS_DEBUG_PORT => DEBUGCON_PORT as u32,
            POST_PORT => self.post_code as u32,
            _ => size.open_bus(),
        }
    }

    fn io_write(&mut self, port: u16, size: IoSize, value: u32) {
        if self.platform.decodes(port) {
            self.platform.io_write(self.now, port, size, value);
            return;
        }
        if Dma8237::decodes(port) {
            self.dma.io_write(self.now, port, size, value);
            return;
        }
        if port == RESET_CONTROL && size == IoSize::Byte {
            let v = value as u8;
            // Bit 2 going from 0 to 1 starts the reset.
            if v & 4 != 0 && self.reset_control & 4 == 0 {
                self.reset_requested = true;
                self.hard_reset = v & 2 != 0;
            }
            self.reset_control = v & 0x02;
            return;
        }
        if PciHost::decodes(port) {
            self.pci.io_write(port, size, value);
            self.sync_ide_bars();
            self.sync_vga_bars();
            return;
        }
        if self.in_bus_master_block(port) {
            self.ide.io_write(self.now, port, size, value);
            self.sync_device_irqs();
            return;
        }
        if is_vga_port(port) {
            self.vga_io_write(port, size, value);
            return;
        }
        if let Some(d) = isa_device(port) {
            self.isa_write(d, port, size, value);
            self.sync_device_irqs();
            if self.kbc.take_reset_request() {
                self.reset_requested = true;
            }
            return;
        }
        match port {
            PORT_92 => {
                let v = value as u8;
                // Bit 0 rising resets the CPU (the "fast reset").
                if v & 1 != 0 && self.port92 & 1 == 0 {
                    self.reset_requested = true;
                }
                self.port92 = v & 0x03;
            }
            DEBUGCON_PORT | SEABIOS_DEBUG_PORT => self.debug_byte(value as u8),
            EXIT_PORT => self.exit_status = Some((((value & 0xFF) as i32) << 1) | 1),
            POST_PORT | POST_PORT_ALT => {
                let code = value as u8;
                self.post_code = code;
                self.post_log.push(code);
                if self.print_post {
                    let line = if self.debugcon_log.last().is_some_and(|&b| b != b'\n') {
                        format!("\nPOST {code:02x}\n")
                    } else {
                        format!("POST {code:02x}\n")
                    };
                    self.debugcon_log.extend_from_slice(line.as_bytes());
                    let _ = self.debugcon.write_all(line.as_bytes());
                    let _ = self.debugcon.flush();
                }
            }
            _ => {}
        }
    }

    /// Devices move only when the machine advances them between CPU
    /// batches, and RAM accesses reach no device.
    fn interrupts_settle_between_instructions(&self) -> bool {
        true
    }

    fn interrupt_pending(&self) -> bool {
        self.platform.intr()
    }

    fn acknowledge_interrupt(&mut self) -> u8 {
        self.platform.acknowledge_interrupt()
    }

    fn mmio_read(&mut self, addr: u32, size: IoSize) -> u32 {
        if self.is_vga_memory(addr) {
            return self.vga.mmio_read(self.now, addr, size);
        }
        let mut v = 0;
        for i in 0..size.bytes() {
            let a = addr.wrapping_add(i);
            let b = self
                .rom_byte(a)
                .or_else(|| self.option_rom_byte(a))
                .or_else(|| self.vga_rom_byte(a))
                .unwrap_or(0xFF);
            v |= (b as u32) << (8 * i);
        }
        v
    }

    /// The firmware and option ROMs; video memory is not shown (a read
    /// there moves the VGA's latches).
    fn peek(&self, addr: u32) -> Option<u8> {
        if self.is_vga_memory(addr) {
            return None;
        }
        self.rom_byte(addr)
            .or_else(|| self.option_rom_byte(addr))
            .or_else(|| self.vga_rom_byte(addr))
    }

    fn mmio_write(&mut self, addr: u32, size: IoSize, value: u32) {
        if self.is_vga_memory(addr) {
            self.vga.mmio_write(self.now, addr, size, value);
        }
    }
}

/// Guest RAM as the IDE bus master sees it: physical addresses, RAM only
/// (writes keep the decode cache coherent).
struct RamDma<'a>(&'a mut crate::memory::Memory);

impl oxbox_devices::ide::DmaMemory for RamDma<'_> {
    fn read(&mut self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.0.read_u8(addr.wrapping_add(i as u32));
        }
    }

    fn write(&mut self, addr: u32, data: &[u8]) {
        self.0.load(addr, data);
    }
}

/// A PC and its run loop.
/// The direct-boot option ROM (source bios/linuxboot.asm) and where it is
/// mapped: in the ISA option-ROM area the BIOS scans, clear of a VGA BIOS
/// at C0000h.
const LINUX_ROM: &[u8] = include_bytes!("../../roms/linuxboot.bin");
pub const LINUX_ROM_BASE: u32 = 0xD_8000;

/// How long the devices run on after the CPU stops for good: enough for
/// a 16550's 16-byte FIFO at 9600 baud.
const DRAIN_TIME: VirtualTime = VirtualTime::from_millis(20);

/// Serialized for savestates ([`crate::savestate`]) except the host's
/// settings and the direct-boot images (configuration, checked on restore).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub cpu: Cpu,
    pub bus: PcBus,
    /// A triple fault resets the machine, as on a PC (the keyboard
    /// controller pulls RESET on the CPU's shutdown cycle); when false the
    /// run ends instead (QEMU's -no-reboot).
    #[serde(skip)]
    pub reset_on_triple_fault: bool,
    /// Triple faults seen so far.
    pub triple_faults: u64,
    /// Set from outside (a Ctrl-C handler) to end the run at the next
    /// batch boundary, so the caller can flush the disks.
    #[serde(skip)]
    pub interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// A kernel to boot directly (--kernel), loaded again at every reset
    /// as the firmware and the kernel itself overwrite its memory.
    #[serde(skip)]
    pub(crate) linux: Option<LinuxImages>,
    /// The inputs from outside, logged for replay and reverse execution
    /// (host side: kept across a restore).
    #[serde(skip)]
    pub inputs: InputLog,
}

impl Machine {
    /// A machine with `ram_bytes` of RAM running `rom` from the reset vector,
    /// at the model's default clock and the default RTC start. The debug
    /// console goes to `debugcon`.
    pub fn new(
        model: CpuModel,
        ram_bytes: usize,
        rom: &[u8],
        debugcon: Box<dyn Write + Send>,
    ) -> Result<Machine, RomError> {
        Machine::with_clock(
            model,
            ram_bytes,
            rom,
            debugcon,
            default_cpu_hz(model),
            DEFAULT_RTC_START,
        )
    }

    /// A machine with an explicit CPU clock and RTC start.
    pub fn with_clock(
        model: CpuModel,
        ram_bytes: usize,
        rom: &[u8],
        debugcon: Box<dyn Write + Send>,
        cpu_hz: u64,
        rtc_start: DateTime,
    ) -> Result<Machine, RomError> {
        if rom.is_empty() {
            return Err(RomError::Empty);
        }
        if rom.len() > MAX_ROM_SIZE {
            return Err(RomError::TooLarge(rom.len()));
        }
        let address_bits = model.quirks().address_bits;
        let top = if address_bits >= 32 {
            u32::MAX
        } else {
            (1u32 << address_bits) - 1
        };
        let rom_high_base = top - (rom.len() as u32 - 1);
        // RAM covers at least the first MiB (where the ROM is shadowed) and
        // stops below the ROM's alias at the top of the address space (a
        // 16 MiB 286 loses its top 64-256 KiB to the ROM, as on the AT).
        let mut ram = ram_bytes.max(1 << 20);
        if rom_high_base >= 0x10_0000 {
            ram = ram.min(rom_high_base as usize & !0xFFFF);
        }
        let mut cpu = Cpu::new(model, ram);
        // Power-on PAM: the whole shadow window reads the ROM, writes go
        // nowhere, until the firmware enables its shadow RAM.
        let mut pci = PciHost::new();
        pci.add_function(IDE_FUNCTION, ide_config());
        pci.add_function(VGA_FUNCTION, vga_config(0));
        let (read, write) = legacy_window(&pci);
        cpu.mem_mut().set_pam(read, write);
        let mut platform = Platform::new(rtc_start);
        let rtc = platform.rtc_mut();
        rtc.set_memory_size(ram as u64);
        // Equipment byte: a VGA (bits 5-4 = 00), the math coprocessor (bit
        // 1) on the models with an FPU, no floppy drives.
        rtc.set_equipment(if cpu.has_fpu() { 0x02 } else { 0x00 });
        rtc.set_boot_order(&BootDevice::DEFAULT_ORDER.map(|d| d as u8));
        Ok(Machine {
            reset_on_triple_fault: true,
            triple_faults: 0,
            interrupt: Default::default(),
            linux: None,
            inputs: InputLog::default(),
            cpu,
            bus: PcBus {
                platform,
                cpu_clock: ClockRate::hz(cpu_hz),
                now: VirtualTime::ZERO,
                exit_status: None,
                serial: vec![
                    Uart16550::com(ComPort::Com1),
                    Uart16550::com(ComPort::Com2),
                    Uart16550::com(ComPort::Com3),
                    Uart16550::com(ComPort::Com4),
                ],
                kbc: I8042::new(),
                pci,
                ide: IdeController::new(),
                fdc: Fdc::new(),
                dma: Dma8237::new(),
                vga: Vga::new(VgaConfig {
                    vram_size: VRAM_SIZE,
                    lfb_base: LFB_DEFAULT,
                }),
                vga_rom: Vec::new(),
                option_roms: Vec::new(),
                port92: 0,
                reset_requested: false,
                hard_reset: false,
                reset_control: 0,
                rom: rom.to_vec(),
                rom_high_base,
                debugcon,
                debugcon_log: Vec::new(),
                post_code: 0,
                post_log: Vec::new(),
                print_post: false,
            },
        })
    }

    /// Boot `images` directly: the kernel, initrd and command line go into
    /// RAM now (and again at every reset), and the direct-boot option ROM
    /// (bios/linuxboot.asm) at [`LINUX_ROM_BASE`] makes the BIOS's INT 19h
    /// enter the kernel's setup code.
    pub fn boot_linux(&mut self, images: LinuxImages) -> Result<(), LinuxBootError> {
        let placement = images.load(self.cpu.mem_mut())?;
        self.bus.set_option_rom(
            LINUX_ROM_BASE,
            linux_boot::option_rom(LINUX_ROM, &placement),
        );
        self.linux = Some(images);
        Ok(())
    }

    /// The CPU reset of a reboot or a triple fault: a kernel booted
    /// directly is loaded again (the firmware's POST and the running
    /// kernel have overwritten it), as QEMU does.
    fn reset_cpu(&mut self) {
        self.cpu.reset();
        if let Some(images) = &self.linux {
            // It fitted before; the RAM has not shrunk.
            let _ = images.load(self.cpu.mem_mut());
        }
    }

    /// The CPU has stopped for good (HLT with interrupts off): the devices
    /// run on for a while, as they would on the real machine, so that a
    /// UART still shifting out its FIFO (the last lines of a guest that
    /// powers off) delivers them before the run ends.
    fn let_devices_finish(&mut self) {
        let until = self.now().add_nanos(DRAIN_TIME.as_nanos());
        loop {
            let Some(next) = self.advance_devices(self.now()) else {
                return;
            };
            if next > until {
                let _ = self.advance_devices(until);
                return;
            }
            self.cpu.cycles = self
                .bus
                .cpu_clock
                .ticks_to_reach(next)
                .max(self.cpu.cycles + 1);
        }
    }

    /// Bring the devices to `now`, letting the DMA controller serve a
    /// request that came due on the way; returns the next deadline.
    fn advance_devices(&mut self, now: VirtualTime) -> Option<VirtualTime> {
        let next = self.bus.advance_devices(now);
        if !self.bus.isa_dma_pending() {
            return next;
        }
        let mut ram = RamDma(self.cpu.mem_mut());
        self.bus.run_isa_dma(&mut ram);
        self.bus.advance_devices(now)
    }

    /// Put a diskette drive at `unit` (0 = A:) holding `disk`, and record
    /// it in CMOS: its type in 0x10, and in the equipment byte 0x14 bit 0
    /// (diskette drives present) with bits 7-6 the count less one.
    pub fn attach_floppy(
        &mut self,
        unit: usize,
        disk: Box<dyn oxbox_devices::disk::BlockDevice>,
    ) -> Result<(), FloppyError> {
        self.bus.fdc.attach(unit, disk)?;
        let fdc = &self.bus.fdc;
        let (a, b) = (fdc.drive_type(0) as u8, fdc.drive_type(1) as u8);
        let count = fdc.drive_count() as u8;
        let rtc = self.bus.platform.rtc_mut();
        rtc.set_floppy_types(a, b);
        let equipment = rtc.cmos(oxbox_devices::rtc::CMOS_EQUIPMENT) & 0x3E;
        rtc.set_equipment(equipment | 1 | (count - 1) << 6);
        Ok(())
    }

    /// The boot order the firmware reads from CMOS (at most three devices).
    pub fn set_boot_order(&mut self, order: &[BootDevice]) {
        let codes: Vec<u8> = order.iter().take(3).map(|&d| d as u8).collect();
        self.bus.platform.rtc_mut().set_boot_order(&codes);
    }

    /// Whether oxbios mirrors its text output (POST screen, INT 10h
    /// teletype) to COM1.
    pub fn set_bios_serial_console(&mut self, on: bool) {
        use oxbox_devices::rtc::{CMOS_OXBOX_FLAGS, OXBOX_FLAG_SERIAL_CONSOLE};
        let rtc = self.bus.platform.rtc_mut();
        let flags = rtc.cmos(CMOS_OXBOX_FLAGS) & !OXBOX_FLAG_SERIAL_CONSOLE;
        let on = if on { OXBOX_FLAG_SERIAL_CONSOLE } else { 0 };
        rtc.set_cmos(CMOS_OXBOX_FLAGS, flags | on);
    }

    /// Record the primary channel's hard disks in CMOS (0x12, 0x19/0x1A),
    /// where the AT BIOS convention says drives 0 and 1 are. Call after
    /// attaching the disks.
    pub fn record_disks_in_cmos(&mut self) {
        use oxbox_devices::ide::{Channel, DriveKind, Unit};
        for (drive, unit) in [(0, Unit::Master), (1, Unit::Slave)] {
            let disk = self.bus.ide.kind(Channel::Primary, unit) == DriveKind::Disk;
            let disk_type = if disk { CMOS_DISK_TYPE_USER } else { 0 };
            self.bus
                .platform
                .rtc_mut()
                .set_hard_disk_type(drive, disk_type);
        }
    }

    /// An input from outside (the window, a test): applied now and
    /// logged with the present instruction and cycle count. While a log
    /// is being replayed, live input is dropped.
    pub fn input(&mut self, input: Input) {
        if self.inputs.replaying() {
            return;
        }
        self.inputs
            .push(self.cpu.instructions, self.cpu.cycles, input);
        self.apply_input(input);
    }

    fn apply_input(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Key { key, pressed } => self.bus.kbc.key_event(now, key, pressed),
            Input::Mouse {
                dx,
                dy,
                dz,
                buttons,
            } => {
                self.bus.kbc.mouse_motion(now, dx, dy, buttons);
                if dz != 0 {
                    self.bus.kbc.mouse_wheel(now, dz, buttons);
                }
            }
            // Already on COM1's stage (`InputLog::take_due`).
            Input::Serial(_) => {}
            Input::Reset => {
                // As the PIIX3's reset control register with SYS_RST: the
                // CPU and the chipset.
                self.bus.reset_requested = true;
                self.bus.hard_reset = true;
            }
        }
    }

    /// Route COM1's host side through the input log, so its bytes are
    /// recorded (or, replaying, come from the log instead of the host).
    pub fn log_serial_input(&mut self) {
        let host = self.bus.serial[0].detach();
        let (backend, feed) = crate::replay::serial_feed(host);
        self.bus.serial[0].attach(backend);
        self.inputs.set_serial(feed);
    }

    /// Guest time now: the CPU's cycle counter at the CPU clock.
    pub fn now(&self) -> VirtualTime {
        self.bus.cpu_clock.tick_time(self.cpu.cycles)
    }

    /// The CPU is halted with interrupts disabled: only a reset wakes it
    /// (the platform has no NMI source), as after Linux's `poweroff -f`
    /// without ACPI. A halt with interrupts enabled may still be woken by
    /// input.
    pub fn halted_for_good(&self) -> bool {
        self.cpu.halted && !self.cpu.interrupts_enabled()
    }

    /// Run until the CPU halts for good (HLT with nothing that can wake
    /// it), a device asks to stop, or `max_instructions` retire. The CPU
    /// runs in batches up to the platform's next deadline; a HLT with
    /// interrupts enabled skips ahead to it (DESIGN.md, "Batches, not
    /// polling").
    pub fn run(&mut self, max_instructions: u64) -> RunExit {
        self.run_to(max_instructions, None)
    }

    /// [`Machine::run`], stopping also when guest time reaches `until`
    /// (returning [`RunExit::Deadline`]): front ends run the guest in
    /// slices of virtual time to refresh a display or pace it to the wall
    /// clock. Idle time skipped by HLT stops there too.
    pub fn run_to(&mut self, max_instructions: u64, until: Option<VirtualTime>) -> RunExit {
        let until_cycles = until.map(|t| self.bus.cpu_clock.ticks_to_reach(t));
        self.run_to_cycle(max_instructions, until_cycles)
    }

    /// [`Machine::run_to`] with the stop given as a cycle count (the
    /// debugger's `until cycle N`). A host debugger stop ends the run with
    /// [`RunExit::Debug`] at an instruction boundary.
    pub fn run_to_cycle(&mut self, max_instructions: u64, until_cycles: Option<u64>) -> RunExit {
        let end = self.cpu.instructions.saturating_add(max_instructions);
        let exit = loop {
            // Inputs from outside enter only here, at the points a replay
            // stops at (`next_input` below).
            let at = (self.cpu.instructions, self.cpu.cycles);
            while let Some(input) = self.inputs.take_due(at) {
                self.apply_input(input);
            }
            self.inputs.poll_host(at.0, at.1);
            let next_input = self.inputs.next_point();
            let now = self.now();
            let deadline = self.advance_devices(now);
            // With CR0.NE clear the x87 reports unmasked exceptions on
            // IRQ 13 (FERR#), as the PC/AT wires it.
            let ferr = self.cpu.cr0 & (1 << 5) == 0 && self.cpu.fpu.irq13_pending();
            self.bus.platform.set_irq(13, ferr);
            let cycle_limit = deadline
                .map_or(u64::MAX, |t| self.bus.cpu_clock.ticks_to_reach(t))
                .max(self.cpu.cycles + 1);
            if self.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                break RunExit::Stopped;
            }
            // Batches are at most a millisecond of guest time long, so an
            // outside stop request is seen promptly.
            let batch_end = self.cpu.cycles + (self.bus.cpu_clock.whole_hz() / 1000).max(1);
            let cycle_limit = cycle_limit.min(batch_end);
            if until_cycles.is_some_and(|u| self.cpu.cycles >= u) {
                break RunExit::Deadline;
            }
            let cycle_limit = cycle_limit.min(until_cycles.unwrap_or(u64::MAX));
            let mut budget = end.saturating_sub(self.cpu.instructions);
            let mut cycle_limit = cycle_limit;
            if let Some((i, c)) = next_input {
                // At the input's instruction count with cycles still to
                // go the CPU is halted: one more "instruction" lets it
                // idle up to the input's cycle.
                budget = budget.min(i.saturating_sub(self.cpu.instructions).max(1));
                cycle_limit = cycle_limit.min(c.max(self.cpu.cycles + 1));
            }
            let input_cycle = next_input.map_or(u64::MAX, |(_, c)| c);
            match self.cpu.run_until(&mut self.bus, budget, cycle_limit) {
                RunExit::Deadline => {}
                RunExit::Stopped
                    if (self.bus.ide.dma_pending() || self.bus.isa_dma_pending())
                        && self.bus.exit_status.is_none() =>
                {
                    let mut ram = RamDma(self.cpu.mem_mut());
                    self.bus.ide.run_dma(&mut ram);
                    self.bus.run_isa_dma(&mut ram);
                    self.bus.sync_device_irqs();
                }
                RunExit::Stopped if self.bus.reset_requested => {
                    self.bus.reset_requested = false;
                    tracing::debug!(hard = self.bus.hard_reset, "reset requested by the guest");
                    if self.bus.hard_reset {
                        // A system reset also returns the chipset (PAM) to
                        // its power-on state.
                        self.bus.hard_reset = false;
                        self.bus.pci = PciHost::new();
                        self.bus.pci.add_function(IDE_FUNCTION, ide_config());
                        let rom_len = self.bus.vga_rom.len();
                        self.bus.pci.add_function(VGA_FUNCTION, vga_config(rom_len));
                        let (read, write) = legacy_window(&self.bus.pci);
                        self.cpu.mem_mut().set_pam(read, write);
                        // PCIRST# resets the VGA, and the ISA reset line
                        // (RSTDRV) the keyboard controller with whatever
                        // scan codes it still held (82371SB datasheet,
                        // "Reset Control Register": SYS_RST asserts both).
                        self.bus.vga.reset();
                        self.bus.kbc = I8042::new();
                        self.bus.fdc.reset_pin();
                        self.bus.dma = Dma8237::new();
                    }
                    self.reset_cpu();
                }
                RunExit::Halted => {
                    // Idle until the next device event, if one can wake us
                    // (the guest may have programmed a timer in this batch).
                    let now = self.now();
                    let next = self.advance_devices(now);
                    if self.bus.platform.intr() && self.cpu.interrupts_enabled() {
                        continue;
                    }
                    match next {
                        Some(t) if self.cpu.interrupts_enabled() => {
                            let wake = self.bus.cpu_clock.ticks_to_reach(t);
                            let wake = wake.min(until_cycles.unwrap_or(u64::MAX));
                            let wake = wake.min(input_cycle);
                            self.cpu.cycles = wake.max(self.cpu.cycles);
                        }
                        _ => {
                            self.let_devices_finish();
                            break RunExit::Halted;
                        }
                    }
                }
                // The budget stopped short of `end` for a replayed input.
                RunExit::Budget if self.cpu.instructions < end => {}
                RunExit::Shutdown => {
                    self.triple_faults += 1;
                    if !self.reset_on_triple_fault {
                        break RunExit::Shutdown;
                    }
                    tracing::debug!("triple fault: resetting the machine");
                    self.reset_cpu();
                }
                other => break other,
            }
            if self.cpu.instructions >= end {
                break RunExit::Budget;
            }
        };
        // The devices reach the present too, so the state a run leaves
        // (and its hash) does not depend on how the run was sliced.
        let _ = self.advance_devices(self.now());
        let _ = self.bus.debugcon.flush();
        exit
    }
}
