//! Nothing a guest can do to the chips panics the host: random port reads
//! and writes, of random sizes, at random (and sometimes earlier) times,
//! mixed with interrupt acknowledges, line changes and long halts. Along
//! the way the scheduler's promises are checked (a deadline is always in
//! the future), and every state reached survives a serde round trip.

use oxbox_devices::rtc::DateTime;
use oxbox_devices::{Device, DualPic, IoSize, Pit8254, Platform, Rtc, VirtualTime};

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

/// Every port the chips decode, and their neighbours.
const PORTS: &[u16] = &[
    0x1F, 0x20, 0x21, 0x22, 0x3F, 0x40, 0x41, 0x42, 0x43, 0x44, 0x60, 0x61, 0x62, 0x6F, 0x70, 0x71,
    0x72, 0x9F, 0xA0, 0xA1, 0xA2, 0x4CF, 0x4D0, 0x4D1, 0x4D2, 0xFFFF,
];

fn random_port(rng: &mut Rng) -> u16 {
    if rng.below(8) == 0 {
        rng.next() as u16
    } else {
        PORTS[rng.below(PORTS.len() as u64) as usize]
    }
}

fn random_size(rng: &mut Rng) -> IoSize {
    match rng.below(4) {
        0 => IoSize::Word,
        1 => IoSize::Dword,
        _ => IoSize::Byte,
    }
}

/// A value biased towards the interesting ones (control words, counts).
fn random_value(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 => rng.below(4) as u32,
        1 => 0xFF,
        _ => rng.next() as u32,
    }
}

/// The next time: mostly small steps, sometimes seconds or days, now and
/// then a step back (which the devices must take as "now").
fn next_time(rng: &mut Rng, t: VirtualTime) -> VirtualTime {
    match rng.below(1000) {
        0 => t.add_nanos(rng.below(3 * 86_400) * 1_000_000_000),
        1..=20 => t.add_nanos(rng.below(2_000_000_000)),
        21..=40 => VirtualTime::from_nanos(t.as_nanos().saturating_sub(rng.below(1_000_000))),
        _ => t.add_nanos(rng.below(100_000)),
    }
}

/// Hammer one device through the `Device` interface.
fn fuzz_device<D: Device>(
    dev: &mut D,
    seed: u64,
    ops: usize,
    mut extra: impl FnMut(&mut D, &mut Rng),
) {
    let mut rng = Rng(seed);
    let mut t = VirtualTime::ZERO;
    let mut latest = VirtualTime::ZERO;
    for _ in 0..ops {
        t = next_time(&mut rng, t);
        latest = latest.max(t);
        let port = random_port(&mut rng);
        let size = random_size(&mut rng);
        match rng.below(10) {
            0..=3 => {
                let v = dev.io_read(t, port, size);
                assert!(v <= size.open_bus(), "{port:#x} {size:?} read {v:#x}");
            }
            4..=7 => dev.io_write(t, port, size, random_value(&mut rng)),
            8 => {
                dev.advance(t);
            }
            _ => {
                dev.advance(t);
                extra(dev, &mut rng);
            }
        }
        if let Some(d) = dev.next_deadline() {
            assert!(d > latest, "deadline {d} not after {latest}");
        }
        let _ = dev.irq_levels();
    }
    // The end of time.
    dev.advance(VirtualTime::MAX);
    let _ = dev.next_deadline();
    let _ = dev.io_read(VirtualTime::MAX, 0x40, IoSize::Dword);
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

const START: DateTime = DateTime {
    year: 1999,
    month: 12,
    day: 31,
    hour: 23,
    minute: 59,
    second: 50,
};

#[test]
fn pic_survives_random_guests() {
    for seed in 0..8 {
        let mut pic = DualPic::new();
        fuzz_device(&mut pic, seed, 20_000, |pic, rng| {
            let irq = rng.below(20) as u8;
            pic.set_irq(irq, rng.below(2) == 0);
            if pic.intr() || rng.below(4) == 0 {
                let _ = pic.acknowledge();
            }
        });
        assert_eq!(round_trip(&pic), pic);
    }
}

#[test]
fn pit_survives_random_guests() {
    for seed in 100..108 {
        let mut pit = Pit8254::new();
        fuzz_device(&mut pit, seed, 20_000, |pit, _| {
            let _ = (
                pit.out(0),
                pit.out(1),
                pit.out(2),
                pit.out(7),
                pit.speaker_level(),
            );
        });
        assert_eq!(round_trip(&pit), pit);
    }
}

#[test]
fn pit_programmed_at_random_keeps_its_deadline_promise() {
    // Only the PIT ports, so that counters really run in every mode.
    let mut rng = Rng(7);
    let mut pit = Pit8254::new();
    let mut t = VirtualTime::ZERO;
    for _ in 0..20_000 {
        t = t.add_nanos(rng.below(20_000));
        let port = [0x40, 0x41, 0x42, 0x43, 0x61][rng.below(5) as usize];
        let value = match port {
            0x43 => (rng.below(4) << 6 | rng.below(64)) as u32,
            0x61 => rng.below(4) as u32,
            _ => rng.below(16) as u32,
        };
        if rng.below(3) == 0 {
            pit.io_read(t, port, IoSize::Byte);
        } else {
            pit.io_write(t, port, IoSize::Byte, value);
        }
        // Walk the deadlines: each is in the future, and OUT0 rises at it
        // and not before (a deadline without a rise would be wasted work
        // for the run loop; a rise before it would be late).
        for _ in 0..3 {
            let Some(d) = pit.next_deadline() else { break };
            assert!(d > t);
            let just_before = VirtualTime::from_nanos(d.as_nanos() - 1);
            assert_eq!(pit.advance(just_before), 0, "rise before the deadline {d}");
            assert_eq!(pit.advance(d), 1, "no rise at the deadline {d}");
            assert_eq!(pit.irq_levels(), 1);
            t = d;
        }
    }
}

#[test]
fn rtc_survives_random_guests() {
    for seed in 200..206 {
        let mut rtc = Rtc::new(START);
        fuzz_device(&mut rtc, seed, 20_000, |rtc, _| {
            let _ = (rtc.datetime(), rtc.nmi_disabled(), rtc.checksum_ok());
        });
        assert_eq!(round_trip(&rtc), rtc);
    }
}

#[test]
fn platform_survives_random_guests() {
    for seed in 300..306 {
        let mut p = Platform::new(START);
        fuzz_device(&mut p, seed, 20_000, |p, rng| {
            p.set_irq(rng.below(20) as u8, rng.below(2) == 0);
            if p.intr() {
                let _ = p.acknowledge_interrupt();
            }
        });
        let back = round_trip(&p);
        assert_eq!(back.next_deadline(), p.next_deadline());
        assert_eq!(back.intr(), p.intr());
    }
}

#[test]
fn pit_coalesced_rises_match_a_clock_by_clock_run() {
    use oxbox_devices::PIT_CLOCK;
    let mut rng = Rng(11);
    let mut pit = Pit8254::new();
    let mut k = 0u64;
    for _ in 0..3_000 {
        // Program counter 0 (or gate nothing: counter 0's gate is tied high)
        // with small counts so the waveforms are busy.
        let port = [0x40, 0x43][rng.below(2) as usize];
        let value = match port {
            0x43 => (rng.below(64)) as u32,
            _ => rng.below(12) as u32,
        };
        pit.io_write(PIT_CLOCK.tick_time(k), port, IoSize::Byte, value);
        // Step one clock at a time on a copy, noting whether OUT0 rose.
        let step = 1 + rng.below(40);
        let mut copy = pit.clone();
        let mut rose = false;
        let mut level = copy.out(0);
        for j in 1..=step {
            copy.advance(PIT_CLOCK.tick_time(k + j));
            let now = copy.out(0);
            rose |= now && !level;
            level = now;
        }
        // The same stretch in one step.
        k += step;
        let reported = pit.advance(PIT_CLOCK.tick_time(k));
        assert_eq!(reported == 1, rose, "at pulse {k}");
        assert_eq!(pit.out(0), level);
    }
}
