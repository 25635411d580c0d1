//! The National Semiconductor 16550A UART, as the PC wires four of them:
//! COM1 at 0x3F8 and COM3 at 0x3E8 on IRQ 4, COM2 at 0x2F8 and COM4 at
//! 0x2E8 on IRQ 3, each clocked from a 1.8432 MHz crystal, with the chip's
//! OUT2 output enabling its interrupt onto the ISA bus.
//!
//! Reference: National Semiconductor, "PC16550D Universal Asynchronous
//! Receiver/Transmitter with FIFOs" (June 1995): §8.1 "Line control
//! register" (word length, stop bits, parity, DLAB), §8.2 "Typical clock
//! circuits" and table III (baud = clock / (16 × divisor)), §8.4 "Line
//! status register", §8.5 "FIFO control register" (trigger levels; the
//! other bits are written only together with FCR0), §8.6 "Interrupt
//! identification register" (table IV: priorities and reset conditions,
//! the character timeout of four character times), §8.8 "Modem control
//! register" (loopback: TX to RX, DTR/RTS/OUT1/OUT2 to DSR/CTS/RI/DCD, the
//! output pins forced inactive), §8.9 "Modem status register", §8.10
//! "Scratchpad register", and "FIFO interrupt mode operation".
//!
//! # Time
//!
//! The UART counts in clocks of its 1.8432 MHz crystal ([`UART_CLOCK`]),
//! derived from virtual time on absolute values, so it never drifts. A
//! character takes its frame length (start bit, 5-8 data bits, parity, 1,
//! 1½ or 2 stop bits; 10 bits for 8N1) times 16 × divisor clocks to shift
//! out or in. The transmitter moves a byte from the holding register (or
//! the transmit FIFO) into its shift register as soon as that is free, and
//! hands the byte to the back end when its last stop bit has gone out; the
//! receiver puts a byte into its holding register (or FIFO) one frame after
//! it started arriving. THRE interrupts, data-ready and the FIFO's
//! four-character receive timeout therefore happen at the virtual times
//! the chip would produce them, and [`Device::next_deadline`] announces
//! each.
//!
//! # Back ends and determinism
//!
//! What is on the other end of the cable is a [`SerialBackend`]. Bytes the
//! guest sends always reach it at deterministic virtual times. Bytes coming
//! from the host (a terminal, a socket) are *external input*: the UART
//! polls its back end whenever it is brought to a new time and its
//! receiver is idle with room for another character, so the virtual time
//! a byte arrives at depends on when the host delivered it. A replayable
//! run records those bytes with their times (the machine's business), or
//! uses [`MemoryBackend`]. Host input is flow-controlled: the receiver
//! takes a byte from the back end only when the byte will fit, so a guest
//! that reads slowly loses nothing a host pasted. (Overruns still happen
//! on the chip's own loopback path, as on the hardware.)
//!
//! The back end is not part of the saved state: a restored UART has a
//! [`NullBackend`] until the machine calls [`Uart16550::attach`].
//!
//! Not modelled: parity and framing errors and breaks (a back end carries
//! bytes, not line levels, so LSR bits 2-4 and 7 stay clear), the DMA mode
//! pins, and the external modem inputs, which read as a connected null
//! modem (CTS, DSR and DCD asserted, RI not).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::{ClockRate, VirtualTime};
use crate::device::{Device, IrqMask};

/// The UART's crystal on the PC: 1.8432 MHz, so divisor 1 gives 115 200
/// baud.
pub const UART_CLOCK: ClockRate = ClockRate::hz(1_843_200);

/// Register offsets from the base port.
const RBR_THR_DLL: u16 = 0;
const IER_DLM: u16 = 1;
const IIR_FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCR: u16 = 7;

// Interrupt enable register.
const IER_ERBFI: u8 = 0x01;
const IER_ETBEI: u8 = 0x02;
const IER_ELSI: u8 = 0x04;
const IER_EDSSI: u8 = 0x08;
// Interrupt identification register.
const IIR_NO_INT: u8 = 0x01;
const IIR_LINE_STATUS: u8 = 0x06;
const IIR_RX_DATA: u8 = 0x04;
const IIR_RX_TIMEOUT: u8 = 0x0C;
const IIR_THRE: u8 = 0x02;
const IIR_MODEM_STATUS: u8 = 0x00;
const IIR_FIFOS_ENABLED: u8 = 0xC0;
// FIFO control register.
const FCR_ENABLE: u8 = 0x01;
const FCR_CLEAR_RX: u8 = 0x02;
const FCR_CLEAR_TX: u8 = 0x04;
const FCR_TRIGGER: u8 = 0xC0;
// Line control register.
const LCR_STOP_BITS: u8 = 0x04;
const LCR_PARITY: u8 = 0x08;
const LCR_DLAB: u8 = 0x80;
// Modem control register.
const MCR_DTR: u8 = 0x01;
const MCR_RTS: u8 = 0x02;
const MCR_OUT1: u8 = 0x04;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;
const MCR_WRITABLE: u8 = 0x1F;
// Line status register.
const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;
// Modem status register.
const MSR_DCTS: u8 = 0x01;
const MSR_DDSR: u8 = 0x02;
const MSR_TERI: u8 = 0x04;
const MSR_DDCD: u8 = 0x08;
const MSR_CTS: u8 = 0x10;
const MSR_DSR: u8 = 0x20;
const MSR_RI: u8 = 0x40;
const MSR_DCD: u8 = 0x80;
/// The modem inputs of a connected null modem.
const MSR_EXTERNAL_LINES: u8 = MSR_CTS | MSR_DSR | MSR_DCD;

/// FIFO depth in FIFO mode; the holding registers hold one byte otherwise.
const FIFO_DEPTH: usize = 16;
/// Character times without FIFO activity before a receive timeout.
const TIMEOUT_CHARS: u64 = 4;

/// The PC's four serial ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComPort {
    Com1,
    Com2,
    Com3,
    Com4,
}

impl ComPort {
    pub const ALL: [ComPort; 4] = [ComPort::Com1, ComPort::Com2, ComPort::Com3, ComPort::Com4];

    /// The first of the eight ports the UART decodes.
    pub const fn base(self) -> u16 {
        match self {
            ComPort::Com1 => 0x3F8,
            ComPort::Com2 => 0x2F8,
            ComPort::Com3 => 0x3E8,
            ComPort::Com4 => 0x2E8,
        }
    }

    /// The ISA interrupt line.
    pub const fn irq(self) -> u8 {
        match self {
            ComPort::Com1 | ComPort::Com3 => 4,
            ComPort::Com2 | ComPort::Com4 => 3,
        }
    }
}

/// What is on the other end of a serial cable.
///
/// Neither call may block: the emulator calls them from its run loop.
pub trait SerialBackend: Send {
    /// The next byte the host sends to the guest, if one is waiting.
    fn poll_input(&mut self) -> Option<u8>;

    /// A byte the guest sent.
    fn write(&mut self, byte: u8);

    /// Called after a burst of [`write`](Self::write)s (once per time the
    /// UART is brought forward), for back ends that buffer.
    fn flush(&mut self) {}
}

/// A cable to nowhere: output is dropped, no input ever arrives.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullBackend;

impl SerialBackend for NullBackend {
    fn poll_input(&mut self) -> Option<u8> {
        None
    }

    fn write(&mut self, _byte: u8) {}
}

/// Output kept in memory, shared with whoever holds a clone (tests and
/// tools read what the guest sent); no input.
#[derive(Clone, Debug, Default)]
pub struct CaptureBackend(pub Arc<Mutex<Vec<u8>>>);

impl CaptureBackend {
    /// Everything sent so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl SerialBackend for CaptureBackend {
    fn poll_input(&mut self) -> Option<u8> {
        None
    }

    fn write(&mut self, byte: u8) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(byte);
    }
}

/// Output to a file (a serial log); no input.
///
/// Write errors are counted, not reported: a full disk must not stop the
/// guest.
#[derive(Debug)]
pub struct FileBackend {
    out: BufWriter<File>,
    errors: u64,
}

impl FileBackend {
    /// Create (or truncate) the file at `path`.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<FileBackend> {
        Ok(FileBackend::new(File::create(path)?))
    }

    pub fn new(file: File) -> FileBackend {
        FileBackend {
            out: BufWriter::new(file),
            errors: 0,
        }
    }

    /// How many writes or flushes have failed.
    pub fn errors(&self) -> u64 {
        self.errors
    }
}

impl SerialBackend for FileBackend {
    fn poll_input(&mut self) -> Option<u8> {
        None
    }

    fn write(&mut self, byte: u8) {
        if self.out.write_all(&[byte]).is_err() {
            self.errors += 1;
        }
    }

    fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.errors += 1;
        }
    }
}

impl Drop for FileBackend {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// The host's standard input and output.
///
/// A reader thread blocks on stdin and feeds a bounded channel, so polling
/// never blocks the emulator. The terminal's mode (raw or cooked, echo) is
/// the front end's business. Only one should exist: every instance's
/// thread reads the same stdin.
#[derive(Debug)]
pub struct StdioBackend {
    input: Receiver<u8>,
}

impl StdioBackend {
    /// Start the reader thread.
    pub fn new() -> StdioBackend {
        let (tx, rx) = mpsc::sync_channel(4096);
        std::thread::Builder::new()
            .name("oxbox-serial-stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin();
                let mut buf = [0u8; 256];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            for &b in &buf[..n] {
                                if tx.send(b).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
            })
            // Without the thread there is simply no input.
            .ok();
        StdioBackend { input: rx }
    }
}

impl Default for StdioBackend {
    fn default() -> Self {
        StdioBackend::new()
    }
}

impl SerialBackend for StdioBackend {
    fn poll_input(&mut self) -> Option<u8> {
        // Empty, or the reader thread has ended (end of input).
        self.input.try_recv().ok()
    }

    fn write(&mut self, byte: u8) {
        let _ = std::io::stdout().lock().write_all(&[byte]);
    }

    fn flush(&mut self) {
        let _ = std::io::stdout().lock().flush();
    }
}

/// A TCP server on 127.0.0.1 that serves one client at a time (connect
/// with `telnet`/`nc`; bytes pass through unchanged). While no client is
/// connected, output is dropped, as on an unplugged cable; when a client
/// leaves, the next one may connect.
///
/// The socket is non-blocking throughout. To keep a guest that polls LSR
/// in a tight loop from costing a system call per read, the socket is
/// looked at no more than once per millisecond of host time while there
/// is nothing buffered; this only affects when external input is seen.
#[derive(Debug)]
pub struct TcpBackend {
    listener: TcpListener,
    client: Option<TcpStream>,
    input: VecDeque<u8>,
    output: VecDeque<u8>,
    last_check: Option<Instant>,
}

impl TcpBackend {
    /// Output waiting for a slow client beyond this is dropped.
    const OUTPUT_LIMIT: usize = 1 << 20;
    const CHECK_INTERVAL: Duration = Duration::from_millis(1);

    /// Listen on 127.0.0.1:`port` (0: any free port; see
    /// [`local_port`](Self::local_port)).
    pub fn bind(port: u16) -> std::io::Result<TcpBackend> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        listener.set_nonblocking(true)?;
        Ok(TcpBackend {
            listener,
            client: None,
            input: VecDeque::new(),
            output: VecDeque::new(),
            last_check: None,
        })
    }

    /// The port the server listens on.
    pub fn local_port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Whether a client is connected.
    pub fn connected(&self) -> bool {
        self.client.is_some()
    }

    fn accept(&mut self) {
        if self.client.is_some() {
            return;
        }
        if let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                let _ = stream.set_nodelay(true);
                self.client = Some(stream);
            }
        }
    }

    fn receive(&mut self) {
        let Some(stream) = &mut self.client else {
            return;
        };
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(0) => self.disconnect(),
            Ok(n) => self.input.extend(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.disconnect(),
        }
    }

    fn send(&mut self) {
        let Some(stream) = &mut self.client else {
            self.output.clear();
            return;
        };
        while !self.output.is_empty() {
            let (front, _) = self.output.as_slices();
            match stream.write(front) {
                Ok(0) => return self.disconnect(),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.disconnect(),
            }
        }
    }

    fn disconnect(&mut self) {
        self.client = None;
        self.output.clear();
    }
}

impl SerialBackend for TcpBackend {
    fn poll_input(&mut self) -> Option<u8> {
        if self.input.is_empty() {
            let due = match self.last_check {
                None => true,
                Some(t) => t.elapsed() >= Self::CHECK_INTERVAL,
            };
            if !due {
                return None;
            }
            self.last_check = Some(Instant::now());
            self.accept();
            self.receive();
            self.send();
        }
        self.input.pop_front()
    }

    fn write(&mut self, byte: u8) {
        if self.client.is_some() && self.output.len() < Self::OUTPUT_LIMIT {
            self.output.push_back(byte);
        }
    }

    fn flush(&mut self) {
        self.accept();
        self.send();
    }
}

/// An in-memory cable for tests and scripted input. Clones share the same
/// buffers: keep one to feed input and collect output while the UART owns
/// another.
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    input: VecDeque<u8>,
    output: Vec<u8>,
}

impl MemoryBackend {
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue bytes for the guest to receive.
    pub fn push_input(&self, bytes: &[u8]) {
        self.lock().input.extend(bytes);
    }

    /// Bytes queued for the guest and not yet taken by the UART.
    pub fn pending_input(&self) -> usize {
        self.lock().input.len()
    }

    /// Everything the guest has sent since the last call.
    pub fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().output)
    }
}

impl SerialBackend for MemoryBackend {
    fn poll_input(&mut self) -> Option<u8> {
        self.lock().input.pop_front()
    }

    fn write(&mut self, byte: u8) {
        self.lock().output.push(byte);
    }
}

fn null_backend() -> Box<dyn SerialBackend> {
    Box::new(NullBackend)
}

/// A byte in a shift register, finished at UART clock `done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Shift {
    byte: u8,
    done: u64,
}

/// The next thing that happens inside the UART on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    TxDone,
    RxDone,
    RxTimeout,
}

/// One 16550A with its back end.
#[derive(Serialize, Deserialize)]
pub struct Uart16550 {
    base: u16,
    irq: u8,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    divisor: u16,
    fifo_enabled: bool,
    /// FCR bits 6-7.
    trigger: u8,
    /// LSR bits 1-4: latched until LSR is read.
    lsr_errors: u8,
    /// MSR bits 4-7: the levels of CTS, DSR, RI, DCD.
    msr_lines: u8,
    /// MSR bits 0-3: latched until MSR is read.
    msr_deltas: u8,
    /// The receive FIFO (one entry in 16450 mode: the RBR).
    rx: VecDeque<u8>,
    /// The transmit FIFO (one entry in 16450 mode: the THR).
    tx: VecDeque<u8>,
    /// What an RBR read returns with nothing received.
    last_rx: u8,
    /// The transmitter shift register, while it is sending.
    tsr: Option<Shift>,
    /// The receiver shift register, while a character arrives.
    rsr: Option<Shift>,
    /// The UART clock of the last character into or out of the receive
    /// FIFO: the timeout counts from here.
    rx_activity: u64,
    /// The character timeout indication (IIR 0x0C).
    rx_timeout: bool,
    /// The THRE interrupt: set when the THR becomes empty (or ETBEI is
    /// set while it is), cleared by writing THR or reading it from IIR.
    thre_pending: bool,
    /// The time the UART has been brought to.
    now: VirtualTime,
    #[serde(skip, default = "null_backend")]
    backend: Box<dyn SerialBackend>,
    /// The back end has been written to since its last flush.
    #[serde(skip)]
    unflushed: bool,
}

impl fmt::Debug for Uart16550 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uart16550")
            .field("base", &self.base)
            .field("irq", &self.irq)
            .field("ier", &self.ier)
            .field("lcr", &self.lcr)
            .field("mcr", &self.mcr)
            .field("divisor", &self.divisor)
            .field("fifo_enabled", &self.fifo_enabled)
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Uart16550 {
    /// A UART at `base` driving ISA line `irq`, after a master reset, with
    /// no back end. The divisor latch, which the chip does not reset, holds
    /// 1 (115 200 baud) so that a guest that never programs it still gets
    /// a working port.
    pub fn new(base: u16, irq: u8) -> Uart16550 {
        Uart16550 {
            base,
            irq: irq & 15,
            ier: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            divisor: 1,
            fifo_enabled: false,
            trigger: 0,
            lsr_errors: 0,
            msr_lines: MSR_EXTERNAL_LINES,
            msr_deltas: 0,
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            last_rx: 0,
            tsr: None,
            rsr: None,
            rx_activity: 0,
            rx_timeout: false,
            thre_pending: false,
            now: VirtualTime::ZERO,
            backend: null_backend(),
            unflushed: false,
        }
    }

    /// One of the PC's serial ports at its standard address and IRQ.
    pub fn com(port: ComPort) -> Uart16550 {
        Uart16550::new(port.base(), port.irq())
    }

    /// The same, with a back end attached.
    pub fn with_backend(port: ComPort, backend: Box<dyn SerialBackend>) -> Uart16550 {
        let mut u = Uart16550::com(port);
        u.attach(backend);
        u
    }

    /// Connect a back end (after construction or a restore); returns the
    /// previous one.
    pub fn attach(&mut self, backend: Box<dyn SerialBackend>) -> Box<dyn SerialBackend> {
        self.flush_backend();
        std::mem::replace(&mut self.backend, backend)
    }

    /// Disconnect the back end, leaving a [`NullBackend`].
    pub fn detach(&mut self) -> Box<dyn SerialBackend> {
        self.attach(null_backend())
    }

    pub fn base(&self) -> u16 {
        self.base
    }

    /// The ISA interrupt line the UART drives.
    pub fn irq(&self) -> u8 {
        self.irq
    }

    /// The programmed line speed in bits per second (informational).
    pub fn baud_rate(&self) -> u32 {
        115_200 / self.divisor_value() as u32
    }

    /// The time the UART has been brought to.
    pub fn now(&self) -> VirtualTime {
        self.now
    }

    /// Divisor 0 counts as 65536, as the counter wraps.
    fn divisor_value(&self) -> u64 {
        match self.divisor {
            0 => 0x1_0000,
            d => d as u64,
        }
    }

    /// UART clocks per character on the line, from the LCR's framing.
    fn frame_clocks(&self) -> u64 {
        let data = 5 + (self.lcr & 3) as u64;
        let parity = ((self.lcr & LCR_PARITY) != 0) as u64;
        let stop_halves = match (self.lcr & LCR_STOP_BITS != 0, data) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + data + parity) + stop_halves;
        // 16 clocks per bit.
        8 * self.divisor_value() * half_bits
    }

    fn fifo_capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        if !self.fifo_enabled {
            return 1;
        }
        match self.trigger >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn clock(&self) -> u64 {
        UART_CLOCK.ticks_at(self.now)
    }

    // ---- The internal events -------------------------------------------

    fn timeout_at(&self) -> Option<u64> {
        (self.fifo_enabled && !self.rx.is_empty() && !self.rx_timeout).then(|| {
            self.rx_activity
                .saturating_add(TIMEOUT_CHARS * self.frame_clocks())
        })
    }

    fn next_event(&self) -> Option<(u64, Event)> {
        [
            self.tsr.map(|s| (s.done, Event::TxDone)),
            self.rsr.map(|s| (s.done, Event::RxDone)),
            self.timeout_at().map(|t| (t, Event::RxTimeout)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|&(t, _)| t)
    }

    /// Run every internal event up to the current clock, then let the
    /// receiver take host input. The state afterwards is the chip's state
    /// at `self.now`, and every pending event lies in the future. Returns
    /// whether the IRQ line rose on the way.
    fn settle(&mut self) -> bool {
        let now = self.clock();
        let mut line = self.irq_line();
        let mut rose = false;
        while let Some((at, event)) = self.next_event() {
            if at > now {
                break;
            }
            match event {
                Event::TxDone => self.finish_tx(at),
                Event::RxDone => self.finish_rx(at),
                Event::RxTimeout => self.rx_timeout = true,
            }
            let after = self.irq_line();
            rose |= after && !line;
            line = after;
        }
        self.start_rx(now);
        self.flush_backend();
        rose
    }

    fn flush_backend(&mut self) {
        if self.unflushed {
            self.unflushed = false;
            self.backend.flush();
        }
    }

    fn catch_up(&mut self, now: VirtualTime) -> bool {
        self.now = self.now.max(now);
        self.settle()
    }

    /// Move the next byte from the THR/FIFO into the idle shift register.
    fn start_tx(&mut self, at: u64) {
        if self.tsr.is_some() {
            return;
        }
        if let Some(byte) = self.tx.pop_front() {
            self.tsr = Some(Shift {
                byte,
                done: at.saturating_add(self.frame_clocks()),
            });
            if self.tx.is_empty() {
                self.thre_pending = true;
            }
        }
    }

    fn finish_tx(&mut self, at: u64) {
        let Some(shift) = self.tsr.take() else {
            return;
        };
        if self.loopback() {
            self.receive(shift.byte, at);
        } else {
            self.backend.write(shift.byte);
            self.unflushed = true;
        }
        self.start_tx(at);
    }

    fn finish_rx(&mut self, at: u64) {
        if let Some(shift) = self.rsr.take() {
            self.receive(shift.byte, at);
            self.start_rx(at);
        }
    }

    /// Take a byte from the back end if the receiver is free and the byte
    /// will have room when it has arrived.
    fn start_rx(&mut self, at: u64) {
        if self.loopback() || self.rsr.is_some() || self.rx.len() >= self.fifo_capacity() {
            return;
        }
        if let Some(byte) = self.backend.poll_input() {
            self.rsr = Some(Shift {
                byte,
                done: at.saturating_add(self.frame_clocks()),
            });
        }
    }

    /// A character has been assembled in the receiver shift register.
    fn receive(&mut self, byte: u8, at: u64) {
        if self.rx.len() >= self.fifo_capacity() {
            self.lsr_errors |= LSR_OE;
            if !self.fifo_enabled {
                // The 16450 RBR is overwritten; a full FIFO keeps its
                // contents and the new character is lost.
                self.rx.clear();
                self.rx.push_back(byte);
            }
        } else {
            self.rx.push_back(byte);
        }
        self.rx_activity = at;
    }

    // ---- Interrupts ------------------------------------------------------

    /// The highest-priority pending interrupt's IIR code (table IV).
    fn interrupt(&self) -> Option<u8> {
        let enabled = |bit: u8| self.ier & bit != 0;
        if enabled(IER_ELSI) && self.lsr_errors != 0 {
            Some(IIR_LINE_STATUS)
        } else if enabled(IER_ERBFI) && self.rx.len() >= self.trigger_level() {
            Some(IIR_RX_DATA)
        } else if enabled(IER_ERBFI) && self.fifo_enabled && self.rx_timeout {
            Some(IIR_RX_TIMEOUT)
        } else if enabled(IER_ETBEI) && self.thre_pending {
            Some(IIR_THRE)
        } else if enabled(IER_EDSSI) && self.msr_deltas != 0 {
            Some(IIR_MODEM_STATUS)
        } else {
            None
        }
    }

    /// The chip's INTRPT output (before the board's OUT2 gate).
    pub fn interrupt_pending(&self) -> bool {
        self.interrupt().is_some()
    }

    /// The level of the ISA line: INTRPT gated by the OUT2 pin, which
    /// loopback forces inactive.
    pub fn irq_line(&self) -> bool {
        self.interrupt_pending() && self.mcr & MCR_OUT2 != 0 && !self.loopback()
    }

    // ---- Modem lines -----------------------------------------------------

    fn update_modem_inputs(&mut self) {
        let lines = if self.loopback() {
            let m = self.mcr;
            let bit = |c: bool, v: u8| if c { v } else { 0 };
            bit(m & MCR_RTS != 0, MSR_CTS)
                | bit(m & MCR_DTR != 0, MSR_DSR)
                | bit(m & MCR_OUT1 != 0, MSR_RI)
                | bit(m & MCR_OUT2 != 0, MSR_DCD)
        } else {
            MSR_EXTERNAL_LINES
        };
        let old = self.msr_lines;
        let changed = old ^ lines;
        let mut deltas = 0;
        if changed & MSR_CTS != 0 {
            deltas |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            deltas |= MSR_DDSR;
        }
        if old & MSR_RI != 0 && lines & MSR_RI == 0 {
            deltas |= MSR_TERI;
        }
        if changed & MSR_DCD != 0 {
            deltas |= MSR_DDCD;
        }
        self.msr_deltas |= deltas;
        self.msr_lines = lines;
    }

    // ---- Registers -------------------------------------------------------

    fn read_lsr(&mut self) -> u8 {
        let mut v = self.lsr_errors;
        if !self.rx.is_empty() {
            v |= LSR_DR;
        }
        if self.tx.is_empty() {
            v |= LSR_THRE;
            if self.tsr.is_none() {
                v |= LSR_TEMT;
            }
        }
        v
    }

    fn read_register(&mut self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            RBR_THR_DLL if dlab => self.divisor as u8,
            RBR_THR_DLL => {
                if let Some(b) = self.rx.pop_front() {
                    self.last_rx = b;
                }
                self.rx_activity = self.clock();
                self.rx_timeout = false;
                self.last_rx
            }
            IER_DLM if dlab => (self.divisor >> 8) as u8,
            IER_DLM => self.ier,
            IIR_FCR => {
                let source = self.interrupt();
                if source == Some(IIR_THRE) {
                    self.thre_pending = false;
                }
                let fifo = if self.fifo_enabled {
                    IIR_FIFOS_ENABLED
                } else {
                    0
                };
                source.unwrap_or(IIR_NO_INT) | fifo
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let v = self.read_lsr();
                self.lsr_errors = 0;
                v
            }
            MSR => {
                let v = self.msr_lines | self.msr_deltas;
                self.msr_deltas = 0;
                v
            }
            _ => self.scr,
        }
    }

    fn write_register(&mut self, offset: u16, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            RBR_THR_DLL if dlab => self.divisor = self.divisor & 0xFF00 | value as u16,
            RBR_THR_DLL => {
                if self.tx.len() >= self.fifo_capacity() {
                    if !self.fifo_enabled {
                        // Overwriting a full THR loses the old byte.
                        self.tx.clear();
                        self.tx.push_back(value);
                    }
                } else {
                    self.tx.push_back(value);
                }
                self.thre_pending = false;
                let now = self.clock();
                self.start_tx(now);
            }
            IER_DLM if dlab => self.divisor = self.divisor & 0x00FF | (value as u16) << 8,
            IER_DLM => {
                let value = value & 0x0F;
                if value & !self.ier & IER_ETBEI != 0 && self.tx.is_empty() {
                    self.thre_pending = true;
                }
                self.ier = value;
            }
            IIR_FCR => self.write_fcr(value),
            LCR => self.lcr = value,
            MCR => {
                self.mcr = value & MCR_WRITABLE;
                self.update_modem_inputs();
            }
            // LSR writes are a factory test mode; MSR is read-only.
            LSR | MSR => {}
            _ => self.scr = value,
        }
    }

    fn write_fcr(&mut self, value: u8) {
        let enable = value & FCR_ENABLE != 0;
        if enable != self.fifo_enabled {
            // Switching modes empties both FIFOs.
            self.clear_rx();
            self.clear_tx();
            self.fifo_enabled = enable;
        }
        if !enable {
            // The other bits are written only together with FCR0.
            return;
        }
        if value & FCR_CLEAR_RX != 0 {
            self.clear_rx();
        }
        if value & FCR_CLEAR_TX != 0 {
            self.clear_tx();
        }
        self.trigger = value & FCR_TRIGGER;
    }

    fn clear_rx(&mut self) {
        self.rx.clear();
        self.rx_timeout = false;
        self.rx_activity = self.clock();
    }

    fn clear_tx(&mut self) {
        if !self.tx.is_empty() {
            self.tx.clear();
            self.thre_pending = true;
        }
    }

    /// Read the register at `port` at time `now`.
    pub fn read_port(&mut self, now: VirtualTime, port: u16) -> u8 {
        self.catch_up(now);
        let offset = port.wrapping_sub(self.base);
        if offset > SCR {
            return 0xFF;
        }
        let v = self.read_register(offset);
        self.settle();
        v
    }

    /// Write the register at `port` at time `now`.
    pub fn write_port(&mut self, now: VirtualTime, port: u16, value: u8) {
        self.catch_up(now);
        let offset = port.wrapping_sub(self.base);
        if offset > SCR {
            return;
        }
        self.write_register(offset, value);
        self.settle();
    }
}

impl Device for Uart16550 {
    fn io_read(&mut self, now: VirtualTime, port: u16, _size: IoSize) -> u32 {
        self.read_port(now, port) as u32
    }

    fn io_write(&mut self, now: VirtualTime, port: u16, _size: IoSize, value: u32) {
        self.write_port(now, port, value as u8);
    }

    fn advance(&mut self, now: VirtualTime) -> IrqMask {
        (self.catch_up(now) as IrqMask) << self.irq
    }

    /// The end of the character being sent or received, or the receive
    /// timeout: every time the IRQ line can rise. (The end of a character
    /// sent is always announced, even with its interrupt disabled, so that
    /// output reaches the back end on time.)
    fn next_deadline(&self) -> Option<VirtualTime> {
        self.next_event().map(|(t, _)| UART_CLOCK.tick_time(t))
    }

    fn irq_levels(&self) -> IrqMask {
        (self.irq_line() as IrqMask) << self.irq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COM1: u16 = 0x3F8;

    fn out(u: &mut Uart16550, reg: u16, v: u8) {
        let now = u.now();
        u.write_port(now, COM1 + reg, v);
    }

    fn inp(u: &mut Uart16550, reg: u16) -> u8 {
        let now = u.now();
        u.read_port(now, COM1 + reg)
    }

    /// Run to each deadline in turn until `t`.
    fn run_to(u: &mut Uart16550, t: VirtualTime) {
        while let Some(d) = u.next_deadline() {
            if d > t {
                break;
            }
            assert!(d > u.now());
            u.advance(d);
        }
        u.advance(t);
    }

    /// Host input is seen when the UART is next brought to a time.
    fn push(u: &mut Uart16550, mem: &MemoryBackend, bytes: &[u8]) {
        mem.push_input(bytes);
        let now = u.now();
        u.advance(now);
    }

    /// COM1 as a driver sets it up: `divisor`, 8N1, OUT2 and the given
    /// FCR and IER.
    fn setup(divisor: u16, fcr: u8, ier: u8) -> (Uart16550, MemoryBackend) {
        let mem = MemoryBackend::new();
        let mut u = Uart16550::with_backend(ComPort::Com1, Box::new(mem.clone()));
        out(&mut u, LCR, 0x80);
        out(&mut u, 0, divisor as u8);
        out(&mut u, 1, (divisor >> 8) as u8);
        out(&mut u, LCR, 0x03);
        out(&mut u, IIR_FCR, fcr);
        out(&mut u, MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
        out(&mut u, IER_DLM, ier);
        (u, mem)
    }

    /// 10 bits at 115200 baud / divisor, in nanoseconds (rounded up).
    fn char_time(divisor: u64) -> VirtualTime {
        UART_CLOCK.tick_time(160 * divisor)
    }

    #[test]
    fn com_ports_have_the_pc_addresses_and_irqs() {
        let ports: Vec<_> = ComPort::ALL.iter().map(|p| (p.base(), p.irq())).collect();
        assert_eq!(ports, [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)]);
        let u = Uart16550::com(ComPort::Com4);
        assert_eq!((u.base(), u.irq()), (0x2E8, 3));
    }

    #[test]
    fn reset_state_matches_the_datasheet() {
        let mut u = Uart16550::com(ComPort::Com1);
        assert_eq!(inp(&mut u, IER_DLM), 0);
        assert_eq!(inp(&mut u, IIR_FCR), 0x01);
        assert_eq!(inp(&mut u, LCR), 0);
        assert_eq!(inp(&mut u, MCR), 0);
        assert_eq!(inp(&mut u, LSR), 0x60);
        assert_eq!(inp(&mut u, MSR) & 0x0F, 0);
        assert_eq!(u.irq_levels(), 0);
        assert_eq!(u.next_deadline(), None);
    }

    #[test]
    fn divisor_latch_shares_ports_0_and_1_under_dlab() {
        let (mut u, _) = setup(0x0C, 0, 0x05);
        assert_eq!(u.baud_rate(), 9600);
        out(&mut u, LCR, 0x83);
        assert_eq!(inp(&mut u, 0), 0x0C);
        assert_eq!(inp(&mut u, 1), 0x00);
        out(&mut u, 1, 0x01);
        assert_eq!(u.baud_rate(), 115_200 / 0x10C);
        out(&mut u, LCR, 0x03);
        // IER kept its own value behind the latch.
        assert_eq!(inp(&mut u, IER_DLM), 0x05);
        // Only IER bits 0-3 exist.
        out(&mut u, IER_DLM, 0xFF);
        assert_eq!(inp(&mut u, IER_DLM), 0x0F);
    }

    #[test]
    fn scratch_register_holds_a_byte_and_mcr_keeps_five_bits() {
        let mut u = Uart16550::com(ComPort::Com1);
        out(&mut u, SCR, 0xA5);
        assert_eq!(inp(&mut u, SCR), 0xA5);
        out(&mut u, MCR, 0xFF);
        assert_eq!(inp(&mut u, MCR), 0x1F);
    }

    #[test]
    fn transmission_takes_one_frame_per_character() {
        let (mut u, mem) = setup(1, 0, 0);
        out(&mut u, 0, b'A');
        // The byte went straight into the shift register: THR is empty,
        // the transmitter is not.
        assert_eq!(inp(&mut u, LSR), 0x20);
        out(&mut u, 0, b'B');
        assert_eq!(inp(&mut u, LSR), 0x00);
        let start = u.now();
        let frame = char_time(1).as_nanos(); // 86.8 µs
        assert_eq!(u.next_deadline(), Some(start.add_nanos(frame)));
        u.advance(start.add_nanos(frame - 1));
        assert!(mem.take_output().is_empty());
        u.advance(start.add_nanos(frame));
        assert_eq!(mem.take_output(), b"A");
        assert_eq!(inp(&mut u, LSR), 0x20);
        run_to(&mut u, VirtualTime::from_millis(1));
        assert_eq!(mem.take_output(), b"B");
        assert_eq!(inp(&mut u, LSR), 0x60);
        assert_eq!(u.next_deadline(), None);
    }

    #[test]
    fn frame_length_follows_the_line_control_register() {
        let mut u = Uart16550::com(ComPort::Com1);
        for (lcr, bits2) in [
            (0x03, 20), // 8N1
            (0x00, 14), // 5N1
            (0x04, 15), // 5N1.5
            (0x07, 22), // 8N2
            (0x0F, 24), // 8E2
            (0x1A, 20), // 7E1
        ] {
            u.lcr = lcr;
            assert_eq!(u.frame_clocks(), 8 * bits2, "LCR {lcr:#x}");
        }
        // Divisor 0 is 65536.
        u.lcr = 3;
        u.divisor = 0;
        assert_eq!(u.frame_clocks(), 160 * 65536);
    }

    #[test]
    fn thre_interrupt_fires_on_empty_and_is_cleared_by_iir_read_or_thr_write() {
        let (mut u, _) = setup(1, 0, 0);
        // Enabling ETBEI with THR empty interrupts at once.
        out(&mut u, IER_DLM, IER_ETBEI);
        assert_eq!(u.irq_levels(), 1 << 4);
        assert_eq!(inp(&mut u, IIR_FCR), 0x02);
        assert_eq!(u.irq_levels(), 0);
        assert_eq!(inp(&mut u, IIR_FCR), 0x01);
        // Two bytes: the first goes to the shift register and THR empties
        // again at once; the second waits for it.
        out(&mut u, 0, 1);
        assert_eq!(inp(&mut u, IIR_FCR), 0x02);
        out(&mut u, 0, 2);
        assert_eq!(u.irq_levels(), 0);
        let t = u.next_deadline().unwrap();
        u.advance(t);
        assert_eq!(inp(&mut u, IIR_FCR), 0x02);
        // Writing THR also acknowledges it.
        u.advance(u.next_deadline().unwrap());
        out(&mut u, 0, 3);
        out(&mut u, 0, 4);
        assert_eq!(inp(&mut u, IIR_FCR), 0x01);
    }

    #[test]
    fn out2_gates_the_irq_line() {
        let (mut u, _) = setup(1, 0, IER_ETBEI);
        assert!(u.interrupt_pending());
        assert_eq!(u.irq_levels(), 1 << 4);
        out(&mut u, MCR, MCR_DTR | MCR_RTS);
        assert!(u.interrupt_pending());
        assert_eq!(u.irq_levels(), 0);
        let mut com2 = Uart16550::com(ComPort::Com2);
        com2.write_port(VirtualTime::ZERO, 0x2F9, IER_ETBEI);
        com2.write_port(VirtualTime::ZERO, 0x2FC, MCR_OUT2);
        assert_eq!(com2.irq_levels(), 1 << 3);
    }

    #[test]
    fn received_bytes_arrive_one_frame_after_they_start() {
        let (mut u, mem) = setup(12, 0, IER_ERBFI);
        push(&mut u, &mem, b"hi");
        u.advance(VirtualTime::from_micros(1));
        assert_eq!(inp(&mut u, LSR) & LSR_DR, 0);
        let start = u.now();
        let frame = char_time(12);
        let t = VirtualTime::from_nanos(start.as_nanos() + frame.as_nanos());
        run_to(&mut u, t.add_nanos(1000));
        assert_eq!(inp(&mut u, LSR) & LSR_DR, LSR_DR);
        assert_eq!(inp(&mut u, IIR_FCR), 0x04);
        assert_eq!(u.irq_levels(), 1 << 4);
        assert_eq!(inp(&mut u, 0), b'h');
        assert_eq!(u.irq_levels(), 0);
        // The second byte starts only now that there is room for it.
        let t = u.now().add_nanos(frame.as_nanos() + 1000);
        run_to(&mut u, t);
        assert_eq!(inp(&mut u, 0), b'i');
        assert_eq!(inp(&mut u, LSR), 0x60);
        // Reading an empty RBR repeats the last byte.
        assert_eq!(inp(&mut u, 0), b'i');
    }

    #[test]
    fn host_input_waits_for_room_in_the_fifo() {
        let (mut u, mem) = setup(1, 0x01, 0);
        push(&mut u, &mem, &[0x55; 40]);
        run_to(&mut u, VirtualTime::from_millis(10));
        assert_eq!(mem.pending_input(), 40 - 16);
        assert_eq!(inp(&mut u, LSR) & (LSR_DR | LSR_OE), LSR_DR);
        for _ in 0..16 {
            assert_eq!(inp(&mut u, 0), 0x55);
        }
        assert_eq!(inp(&mut u, LSR) & LSR_DR, 0);
    }

    #[test]
    fn fifo_trigger_levels() {
        for (fcr, level) in [(0x01, 1), (0x41, 4), (0x81, 8), (0xC1, 14)] {
            let (mut u, mem) = setup(1, fcr, IER_ERBFI);
            assert_eq!(inp(&mut u, IIR_FCR) & 0xC0, 0xC0);
            push(&mut u, &mem, &[7; 16]);
            let frame = char_time(1).as_nanos();
            // Just after `level - 1` characters: no interrupt yet.
            let start = u.now();
            run_to(&mut u, start.add_nanos(frame * (level - 1) + 10));
            assert_eq!(u.irq_levels(), 0, "level {level}");
            run_to(&mut u, start.add_nanos(frame * level + 10));
            assert_eq!(inp(&mut u, IIR_FCR), 0xC4, "level {level}");
            // Falling back below the trigger clears it.
            inp(&mut u, 0);
            assert_ne!(inp(&mut u, IIR_FCR) & 0x0F, 0x04);
        }
    }

    #[test]
    fn receive_timeout_after_four_character_times() {
        let (mut u, mem) = setup(1, 0xC1, IER_ERBFI);
        push(&mut u, &mem, b"ab");
        let start = u.now();
        let frame = char_time(1).as_nanos();
        // Both characters are in by 2 frames; below the trigger of 14.
        run_to(&mut u, start.add_nanos(2 * frame + 10));
        assert_eq!(inp(&mut u, IIR_FCR), 0xC1);
        let last_in = UART_CLOCK.tick_time(UART_CLOCK.ticks_at(start) + 2 * 160);
        let timeout = UART_CLOCK.tick_time(UART_CLOCK.ticks_at(start) + 6 * 160);
        assert!(last_in < u.now());
        assert_eq!(u.next_deadline(), Some(timeout));
        u.advance(VirtualTime::from_nanos(timeout.as_nanos() - 1));
        assert_eq!(u.irq_levels(), 0);
        u.advance(timeout);
        assert_eq!(inp(&mut u, IIR_FCR), 0xCC);
        assert_eq!(u.irq_levels(), 1 << 4);
        // Reading a character clears the timeout and restarts the timer.
        assert_eq!(inp(&mut u, 0), b'a');
        assert_eq!(inp(&mut u, IIR_FCR), 0xC1);
        let again = u.next_deadline().unwrap();
        assert!(again > u.now());
        u.advance(again);
        assert_eq!(inp(&mut u, IIR_FCR), 0xCC);
        assert_eq!(inp(&mut u, 0), b'b');
        // Empty FIFO: no timeout.
        assert_eq!(u.next_deadline(), None);
        assert_eq!(inp(&mut u, IIR_FCR), 0xC1);
    }

    #[test]
    fn no_timeout_in_16450_mode() {
        let (mut u, mem) = setup(1, 0, IER_ERBFI);
        push(&mut u, &mem, b"x");
        run_to(&mut u, VirtualTime::from_millis(5));
        assert_eq!(inp(&mut u, IIR_FCR), 0x04);
        assert_eq!(u.next_deadline(), None);
    }

    #[test]
    fn fcr_clears_fifos_and_needs_bit_0() {
        let (mut u, _) = setup(1, 0x01, 0);
        out(&mut u, MCR, MCR_LOOP);
        for b in 0..5 {
            out(&mut u, 0, b);
        }
        run_to(&mut u, VirtualTime::from_millis(5));
        assert_eq!(inp(&mut u, LSR) & LSR_DR, LSR_DR);
        out(&mut u, IIR_FCR, 0x03);
        assert_eq!(inp(&mut u, LSR) & LSR_DR, 0);
        // Trigger bits without FCR0 are not written, and clearing FCR0
        // leaves FIFO mode.
        out(&mut u, IIR_FCR, 0xC0);
        assert_eq!(inp(&mut u, IIR_FCR) & 0xC0, 0x00);
        assert_eq!(u.trigger, 0);
        // Clearing the transmit FIFO drops what has not started.
        out(&mut u, IIR_FCR, 0x01);
        for b in 0..5 {
            out(&mut u, 0, b);
        }
        out(&mut u, IIR_FCR, 0x05);
        assert_eq!(inp(&mut u, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE);
        run_to(&mut u, VirtualTime::from_millis(10));
        let mut got = Vec::new();
        while inp(&mut u, LSR) & LSR_DR != 0 {
            got.push(inp(&mut u, 0));
        }
        assert_eq!(got.len(), 1, "only the byte in the shift register");
    }

    #[test]
    fn loopback_routes_tx_to_rx_and_not_to_the_backend() {
        let (mut u, mem) = setup(1, 0x01, 0);
        push(&mut u, &mem, b"zz");
        out(&mut u, MCR, MCR_LOOP | MCR_OUT2);
        // Whatever started arriving before loopback still lands.
        run_to(&mut u, VirtualTime::from_millis(1));
        while inp(&mut u, LSR) & LSR_DR != 0 {
            inp(&mut u, 0);
        }
        let pending = mem.pending_input();
        for &b in b"loop" {
            out(&mut u, 0, b);
        }
        run_to(&mut u, VirtualTime::from_millis(2));
        let mut got = Vec::new();
        while inp(&mut u, LSR) & LSR_DR != 0 {
            got.push(inp(&mut u, 0));
        }
        assert_eq!(got, b"loop");
        assert!(mem.take_output().is_empty());
        // The serial input is disconnected in loopback.
        assert_eq!(mem.pending_input(), pending);
    }

    #[test]
    fn loopback_connects_modem_outputs_to_inputs() {
        let mut u = Uart16550::com(ComPort::Com1);
        // Outside loopback: a null modem's CTS, DSR, DCD.
        assert_eq!(inp(&mut u, MSR), 0xB0);
        // What Linux's autoconfig checks: RTS|OUT2 → CTS|DCD.
        out(&mut u, MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
        let msr = inp(&mut u, MSR);
        assert_eq!(msr & 0xF0, 0x90);
        // DSR and (no) RI fell: deltas DDSR, (DCTS, DDCD unchanged).
        assert_eq!(msr & 0x0F, MSR_DDSR);
        assert_eq!(inp(&mut u, MSR) & 0x0F, 0, "deltas clear on read");
        out(&mut u, MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        assert_eq!(inp(&mut u, MSR), 0x60 | MSR_DCTS | MSR_DDSR | MSR_DDCD);
        // RI falling is a trailing edge.
        out(&mut u, MCR, MCR_LOOP | MCR_DTR);
        assert_eq!(inp(&mut u, MSR), 0x20 | MSR_TERI);
    }

    #[test]
    fn modem_status_interrupt_has_the_lowest_priority() {
        let (mut u, _) = setup(1, 0, IER_EDSSI | IER_ETBEI);
        out(&mut u, MCR, MCR_LOOP | MCR_OUT2);
        assert_eq!(inp(&mut u, IIR_FCR), 0x02);
        assert_eq!(inp(&mut u, IIR_FCR), 0x00);
        // Loopback forces OUT2 off the bus.
        assert!(u.interrupt_pending());
        assert_eq!(u.irq_levels(), 0);
        inp(&mut u, MSR);
        assert_eq!(inp(&mut u, IIR_FCR), 0x01);
    }

    #[test]
    fn fifo_overflow_sets_overrun_and_line_status_interrupt() {
        let (mut u, _) = setup(1, 0xC1, IER_ELSI | IER_ERBFI);
        out(&mut u, MCR, MCR_LOOP | MCR_OUT2);
        for b in 0..20u8 {
            out(&mut u, 0, b);
        }
        run_to(&mut u, VirtualTime::from_millis(5));
        assert_eq!(inp(&mut u, IIR_FCR), 0xC6);
        let lsr = inp(&mut u, LSR);
        assert_eq!(lsr & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        assert_eq!(inp(&mut u, LSR) & LSR_OE, 0, "OE clears on read");
        assert_eq!(inp(&mut u, IIR_FCR), 0xC4);
        // The FIFO kept the first 16 bytes; the rest were lost.
        let got: Vec<u8> = (0..16).map(|_| inp(&mut u, 0)).collect();
        assert_eq!(got, (0..16).collect::<Vec<u8>>());
        assert_eq!(inp(&mut u, LSR) & LSR_DR, 0);
    }

    #[test]
    fn rbr_overrun_in_16450_mode_keeps_the_newest_byte() {
        let (mut u, _) = setup(1, 0, 0);
        out(&mut u, MCR, MCR_LOOP);
        out(&mut u, 0, 1);
        out(&mut u, 0, 2);
        run_to(&mut u, VirtualTime::from_millis(1));
        assert_eq!(inp(&mut u, LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        assert_eq!(inp(&mut u, 0), 2);
    }

    #[test]
    fn thr_writes_past_a_full_fifo_are_lost() {
        let (mut u, mem) = setup(1, 0x01, 0);
        for b in 0..40u8 {
            out(&mut u, 0, b);
        }
        run_to(&mut u, VirtualTime::from_millis(10));
        // One in the shift register, sixteen in the FIFO.
        assert_eq!(mem.take_output(), (0..17).collect::<Vec<u8>>());
    }

    #[test]
    fn write_only_and_read_only_registers() {
        let (mut u, _) = setup(1, 0x01, 0);
        // FCR is write-only: its port reads IIR.
        assert_eq!(inp(&mut u, IIR_FCR), 0xC1);
        // LSR and MSR ignore writes.
        out(&mut u, LSR, 0xFF);
        out(&mut u, MSR, 0xFF);
        assert_eq!(inp(&mut u, LSR), 0x60);
        assert_eq!(inp(&mut u, MSR), 0xB0);
        // Ports outside the eight float.
        assert_eq!(u.read_port(VirtualTime::ZERO, COM1 + 8), 0xFF);
        assert_eq!(u.read_port(VirtualTime::ZERO, COM1 - 1), 0xFF);
        u.write_port(VirtualTime::ZERO, 0, 0x12);
    }

    #[test]
    fn time_never_runs_backwards() {
        let (mut u, mem) = setup(1, 0, 0);
        u.advance(VirtualTime::from_millis(5));
        out(&mut u, 0, b'x');
        let d = u.next_deadline().unwrap();
        u.write_port(VirtualTime::ZERO, COM1, b'y');
        assert!(u.now() >= VirtualTime::from_millis(5));
        assert!(u.next_deadline().unwrap() >= d);
        run_to(&mut u, VirtualTime::from_millis(6));
        assert_eq!(mem.take_output(), b"xy");
    }

    #[test]
    fn slower_line_changes_take_effect_per_character() {
        let (mut u, mem) = setup(1, 0, 0);
        out(&mut u, 0, b'a');
        // Reprogram to 300 baud mid-character: 'a' keeps its speed.
        out(&mut u, LCR, 0x83);
        out(&mut u, 0, 0x80);
        out(&mut u, 1, 0x01);
        out(&mut u, LCR, 0x03);
        assert_eq!(u.baud_rate(), 300);
        run_to(&mut u, VirtualTime::from_micros(100));
        assert_eq!(mem.take_output(), b"a");
        out(&mut u, 0, b'b');
        let start = u.now();
        let d = u.next_deadline().unwrap();
        assert_eq!(d.nanos_since(start) / 1000, 33_333); // 10 bits at 300 baud
    }

    #[test]
    fn state_round_trips_through_serde_without_the_backend() {
        let (mut u, mem) = setup(3, 0x81, IER_ERBFI | IER_ETBEI);
        push(&mut u, &mem, b"state");
        out(&mut u, 0, b'o');
        out(&mut u, SCR, 0x42);
        u.advance(VirtualTime::from_micros(300));
        assert_eq!(mem.take_output(), b"o");
        let json = serde_json::to_string(&u).unwrap();
        let mut v: Uart16550 = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), json);
        assert_eq!(v.next_deadline(), u.next_deadline());
        assert_eq!(v.irq_levels(), u.irq_levels());
        // Reattach a back end and carry on identically.
        let mem2 = MemoryBackend::new();
        v.attach(Box::new(mem2.clone()));
        let pending = mem.drain_input();
        mem.push_input(&pending);
        mem2.push_input(&pending);
        let until = VirtualTime::from_millis(20);
        run_to(&mut u, until);
        run_to(&mut v, until);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
        assert_eq!(mem.take_output(), mem2.take_output());
        assert_eq!(inp(&mut v, SCR), 0x42);
    }

    impl MemoryBackend {
        /// Move the untaken input out (for handing to another back end).
        fn drain_input(&self) -> Vec<u8> {
            self.lock().input.drain(..).collect()
        }
    }

    #[test]
    fn file_backend_writes_the_guest_output() {
        let path = std::env::temp_dir().join(format!("oxbox-uart-{}.log", std::process::id()));
        {
            let mut u = Uart16550::with_backend(
                ComPort::Com1,
                Box::new(FileBackend::create(&path).unwrap()),
            );
            for &b in b"log\n" {
                u.write_port(u.now(), COM1, b);
                let t = u.now().add_nanos(100_000);
                run_to(&mut u, t);
            }
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"log\n");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn tcp_backend_serves_one_client_on_localhost() {
        use std::io::{Read, Write};
        let backend = TcpBackend::bind(0).unwrap();
        let port = backend.local_port();
        assert_ne!(port, 0);
        let mut u = Uart16550::with_backend(ComPort::Com1, Box::new(backend));
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.write_all(b"in").unwrap();
        let mut t = VirtualTime::ZERO;
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 2 && Instant::now() < deadline {
            t = t.add_nanos(200_000);
            run_to(&mut u, t);
            while u.read_port(t, COM1 + LSR) & LSR_DR != 0 {
                got.push(u.read_port(t, COM1));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(got, b"in");
        for &b in b"out" {
            u.write_port(t, COM1, b);
            t = t.add_nanos(200_000);
            run_to(&mut u, t);
        }
        let mut buf = [0u8; 3];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"out");
    }
}
