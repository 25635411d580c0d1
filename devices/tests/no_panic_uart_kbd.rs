//! Nothing a guest or the host can do to the UARTs or the keyboard
//! controller panics: random port reads and writes of random sizes at
//! random (sometimes earlier) times, mixed with host input (serial bytes,
//! keys, mouse motion) and long halts. Along the way the scheduler's
//! promises are checked (a deadline is always in the future, reported
//! rising lines are the device's own), every state reached survives a
//! serde round trip, and the same script run twice ends in the same state.

use oxbox_devices::i8042::I8042;
use oxbox_devices::ps2::Key;
use oxbox_devices::uart16550::{ComPort, MemoryBackend, Uart16550};
use oxbox_devices::{Device, IoSize, IrqMask, VirtualTime};

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_size(rng: &mut Rng) -> IoSize {
    match rng.below(4) {
        0 => IoSize::Word,
        1 => IoSize::Dword,
        _ => IoSize::Byte,
    }
}

/// A value biased towards the interesting ones.
fn random_value(rng: &mut Rng) -> u32 {
    match rng.below(6) {
        0 => rng.below(4) as u32,
        1 => 0xFF,
        2 => 0xF0 | rng.below(16) as u32,
        3 => 0x80 | rng.below(4) as u32,
        _ => rng.next() as u32,
    }
}

/// Mostly small steps, sometimes seconds or days, now and then a step
/// back (which the devices must take as "now").
fn next_time(rng: &mut Rng, t: VirtualTime) -> VirtualTime {
    match rng.below(1000) {
        0 => t.add_nanos(rng.below(3 * 86_400) * 1_000_000_000),
        1..=20 => t.add_nanos(rng.below(2_000_000_000)),
        21..=40 => VirtualTime::from_nanos(t.as_nanos().saturating_sub(rng.below(1_000_000))),
        _ => t.add_nanos(rng.below(200_000)),
    }
}

/// Hammer one device through the `Device` interface; `extra` is the host
/// side. Returns the time reached.
fn fuzz_device<D: Device>(
    dev: &mut D,
    seed: u64,
    ops: usize,
    ports: &[u16],
    lines: IrqMask,
    mut extra: impl FnMut(&mut D, VirtualTime, &mut Rng),
) -> VirtualTime {
    let mut rng = Rng(seed);
    let mut t = VirtualTime::ZERO;
    let mut latest = VirtualTime::ZERO;
    for _ in 0..ops {
        t = next_time(&mut rng, t);
        latest = latest.max(t);
        let port = if rng.below(10) == 0 {
            rng.next() as u16
        } else {
            ports[rng.below(ports.len() as u64) as usize]
        };
        let size = random_size(&mut rng);
        match rng.below(10) {
            0..=3 => {
                let v = dev.io_read(t, port, size);
                assert!(v <= size.open_bus(), "{port:#x} {size:?} read {v:#x}");
            }
            4..=7 => dev.io_write(t, port, size, random_value(&mut rng)),
            8 => {
                let rose = dev.advance(t);
                assert_eq!(rose & !lines, 0);
            }
            _ => {
                let rose = dev.advance(t);
                assert_eq!(rose & !lines, 0);
                extra(dev, latest, &mut rng);
            }
        }
        if let Some(d) = dev.next_deadline() {
            assert!(d > latest, "deadline {d} not after {latest}");
        }
        assert_eq!(dev.irq_levels() & !lines, 0);
    }
    latest
}

fn round_trip<T>(v: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = serde_json::to_string(v).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    back
}

/// The eight UART registers and their neighbours.
fn uart_ports(base: u16) -> Vec<u16> {
    (base.wrapping_sub(1)..=base + 8).collect()
}

fn run_uart(port: ComPort, seed: u64) -> (String, Vec<u8>) {
    let mem = MemoryBackend::new();
    let mut u = Uart16550::with_backend(port, Box::new(mem.clone()));
    let feed = mem.clone();
    let end = fuzz_device(
        &mut u,
        seed,
        20_000,
        &uart_ports(port.base()),
        1 << port.irq(),
        |u, _, rng| {
            if rng.below(3) == 0 {
                let n = rng.below(40) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                feed.push_input(&bytes);
            }
            let _ = (u.irq_line(), u.interrupt_pending(), u.baud_rate());
        },
    );
    // Walk the deadlines for a while.
    let mut t = end;
    for _ in 0..100 {
        match u.next_deadline() {
            Some(d) => {
                assert!(d > t);
                u.advance(d);
                t = d;
            }
            None => break,
        }
    }
    u.advance(VirtualTime::MAX);
    let _ = u.next_deadline();
    let _ = u.io_read(VirtualTime::MAX, port.base() + 5, IoSize::Byte);
    let back = round_trip(&u);
    assert_eq!(back.next_deadline(), u.next_deadline());
    assert_eq!(back.irq_levels(), u.irq_levels());
    (serde_json::to_string(&u).unwrap(), mem.take_output())
}

#[test]
fn uarts_survive_random_guests() {
    for (i, port) in ComPort::ALL.into_iter().enumerate() {
        for seed in 0..3 {
            let seed = 1000 * i as u64 + seed;
            let a = run_uart(port, seed);
            let b = run_uart(port, seed);
            assert_eq!(a, b, "the same script gives the same run");
        }
    }
}

#[test]
fn uart_programmed_at_random_keeps_its_deadline_promise() {
    // Only the UART's own registers, with sane LCR values, so that the
    // FIFOs, loopback and timers really run.
    let mut rng = Rng(77);
    let mem = MemoryBackend::new();
    let mut u = Uart16550::with_backend(ComPort::Com1, Box::new(mem.clone()));
    let mut t = VirtualTime::ZERO;
    for _ in 0..20_000 {
        t = t.add_nanos(rng.below(50_000));
        let reg = rng.below(8) as u16;
        let value = match reg {
            1 if rng.below(2) == 0 => 0x0F,
            2 => [0x01, 0x07, 0xC1, 0x41, 0x00, 0x81][rng.below(6) as usize],
            3 => [0x03, 0x83, 0x1F, 0x00][rng.below(4) as usize],
            4 => [0x0B, 0x1B, 0x10, 0x08][rng.below(4) as usize],
            _ => rng.next() as u8 & 0x0F,
        };
        if rng.below(50) == 0 {
            mem.push_input(b"input");
        }
        if rng.below(3) == 0 {
            u.read_port(t, 0x3F8 + reg);
        } else {
            u.write_port(t, 0x3F8 + reg, value);
        }
        for _ in 0..3 {
            let Some(d) = u.next_deadline() else { break };
            assert!(d > t);
            let rose = u.advance(d);
            assert_eq!(rose & !(1 << 4), 0);
            t = d;
        }
    }
    let _ = mem.take_output();
}

const KEYS: &[Key] = &[
    Key::KeyA,
    Key::ShiftLeft,
    Key::Enter,
    Key::ArrowUp,
    Key::PrintScreen,
    Key::Pause,
    Key::F7,
    Key::NumpadDivide,
];

fn run_i8042(seed: u64) -> String {
    let mut k = I8042::new();
    let ports = [0x5F, 0x60, 0x61, 0x63, 0x64, 0x65, 0x60, 0x64, 0x60, 0x64];
    fuzz_device(
        &mut k,
        seed,
        30_000,
        &ports,
        1 << 1 | 1 << 12,
        |k, now, rng| {
            match rng.below(4) {
                0 | 1 => {
                    let key = KEYS[rng.below(KEYS.len() as u64) as usize];
                    k.key_event(now, key, rng.below(2) == 0);
                }
                2 => {
                    let d = |rng: &mut Rng| rng.below(2000) as i32 - 1000;
                    let (dx, dy) = (d(rng), d(rng));
                    k.mouse_motion(now, dx, dy, rng.below(32) as u8);
                }
                _ => k.mouse_wheel(now, rng.below(20) as i32 - 10, 0),
            }
            let _ = (k.a20(), k.take_reset_request(), k.command_byte());
            let _ = (k.keyboard().leds(), k.mouse().id());
        },
    );
    k.advance(VirtualTime::MAX);
    let _ = k.next_deadline();
    let _ = k.io_read(VirtualTime::MAX, 0x60, IoSize::Dword);
    let back = round_trip(&k);
    assert_eq!(back, k);
    serde_json::to_string(&k).unwrap()
}

#[test]
fn i8042_survives_random_guests_and_hosts() {
    for seed in 500..508 {
        assert_eq!(run_i8042(seed), run_i8042(seed));
    }
}

#[test]
fn i8042_command_sequences_with_data_bytes() {
    // Commands followed by data, as drivers send them, in random order:
    // reaches the mouse (D4) and keyboard command paths deeply.
    let mut rng = Rng(9);
    let mut k = I8042::new();
    let mut t = VirtualTime::ZERO;
    let commands = [
        0x20, 0x60, 0xA7, 0xA8, 0xAA, 0xAD, 0xAE, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4,
    ];
    let device_bytes = [
        0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xF0, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6,
        0xFE, 0xFF, 0x00, 0x01, 0x02, 0x03, 0x50, 200, 100, 80,
    ];
    for _ in 0..30_000 {
        t = t.add_nanos(rng.below(400_000));
        match rng.below(5) {
            0 => {
                let c = commands[rng.below(commands.len() as u64) as usize];
                k.write_port(t, 0x64, c);
            }
            1 | 2 => {
                let b = device_bytes[rng.below(device_bytes.len() as u64) as usize];
                k.write_port(t, 0x60, b);
            }
            3 => {
                let _ = k.read_port(t, 0x60);
            }
            _ => {
                if rng.below(2) == 0 {
                    k.key_event(t, KEYS[rng.below(KEYS.len() as u64) as usize], true);
                } else {
                    k.mouse_motion(t, 5, -5, 1);
                }
            }
        }
        if let Some(d) = k.next_deadline() {
            assert!(d > t);
        }
        let _ = k.take_reset_request();
    }
    round_trip(&k);
}
