//! The VGA through its public interface only, as the machine and the
//! front ends use it: a guest programming it through ports and memory, the
//! window rendering it, the terminal mirror reading its text, savestates
//! restoring it, and random guest input never making it panic.

use oxbox_devices::vga::{
    Frame, Vga, VgaConfig, DEFAULT_LFB_BASE, LEGACY_BASE, LEGACY_SIZE, MIN_VRAM_SIZE, PORT_RANGES,
    VBE_DATA_PORT, VBE_DISPI_ENABLED, VBE_DISPI_INDEX_BPP, VBE_DISPI_INDEX_ENABLE,
    VBE_DISPI_INDEX_XRES, VBE_DISPI_INDEX_YRES, VBE_DISPI_LFB_ENABLED, VBE_INDEX_PORT,
};
use oxbox_devices::{Device, IoSize, PortMap, VirtualTime};

const T0: VirtualTime = VirtualTime::ZERO;

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

fn out8(v: &mut Vga, port: u16, val: u8) {
    v.io_write(T0, port, IoSize::Byte, u32::from(val));
}

/// An 8x16 font whose glyph for `c` has the code's bits on every row.
fn font() -> Vec<u8> {
    (0..256 * 16).map(|i| (i / 16) as u8).collect()
}

#[test]
fn port_ranges_map_into_a_port_map_without_conflict() {
    let mut map: PortMap<u8> = PortMap::new();
    for (first, count, widths) in PORT_RANGES {
        map.map(first, count, 0, widths).unwrap();
    }
    // A word OUT to the sequencer reaches the card as two bytes.
    let mut vga = Vga::default();
    map.write(0x3C4, IoSize::Word, 0x0F02, &mut |_, p, s, val| {
        vga.io_write(T0, p, s, val)
    });
    out8(&mut vga, 0x3C4, 0x02);
    assert_eq!(vga.io_read(T0, 0x3C5, IoSize::Byte), 0x0F);
}

#[test]
fn text_mode_helper_gives_a_terminal_mirror() {
    let mut v = Vga::new(VgaConfig {
        vram_size: MIN_VRAM_SIZE,
        lfb_base: DEFAULT_LFB_BASE,
    });
    v.set_text_mode_80x25(&font());
    for (i, b) in b"C:\\>dir".iter().enumerate() {
        v.mmio_write(
            T0,
            0xB8000 + 80 * 2 * 24 + 2 * i as u32,
            IoSize::Byte,
            u32::from(*b),
        );
    }
    let text = v.text_snapshot().expect("text mode");
    assert_eq!(text.len(), 25);
    assert_eq!(text[24].trim_end(), "C:\\>dir");
    assert_eq!(v.cursor_position(), Some((0, 0)));
    let f: Frame = v.render();
    assert_eq!((f.width, f.height), (720, 400));
    // 'C' (0x43 = 0100_0011) in light grey on row 24, dot 1.
    assert_eq!(f.pixel(1, 24 * 16), Some(0xAAAAAA));
    assert_eq!(f.pixel(0, 24 * 16), Some(0));
}

#[test]
fn vbe_through_ports_and_the_linear_framebuffer() {
    let mut v = Vga::default();
    assert_eq!(v.mmio_ranges()[0], (LEGACY_BASE, LEGACY_SIZE));
    let (lfb, len) = v.mmio_ranges()[1];
    assert_eq!((lfb, len), (DEFAULT_LFB_BASE, 16 << 20));
    let dispi = |v: &mut Vga, i: u16, val: u16| {
        v.io_write(T0, VBE_INDEX_PORT, IoSize::Word, u32::from(i));
        v.io_write(T0, VBE_DATA_PORT, IoSize::Word, u32::from(val));
    };
    dispi(&mut v, VBE_DISPI_INDEX_XRES, 800);
    dispi(&mut v, VBE_DISPI_INDEX_YRES, 600);
    dispi(&mut v, VBE_DISPI_INDEX_BPP, 32);
    dispi(
        &mut v,
        VBE_DISPI_INDEX_ENABLE,
        VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED,
    );
    v.io_read(T0, 0x3DA, IoSize::Byte);
    out8(&mut v, 0x3C0, 0x20);
    let g = v.generation();
    v.mmio_write(T0, lfb + (599 * 800 + 799) * 4, IoSize::Dword, 0x00FF_8000);
    assert_ne!(v.generation(), g);
    let f = v.render();
    assert_eq!((f.width, f.height), (800, 600));
    assert_eq!(f.pixel(799, 599), Some(0xFF8000));
    assert_eq!(v.text_snapshot(), None);
}

/// Every port the card decodes, and neighbours.
const PORTS: &[u16] = &[
    0x3AF, 0x3B4, 0x3B5, 0x3BA, 0x3C0, 0x3C1, 0x3C2, 0x3C3, 0x3C4, 0x3C5, 0x3C6, 0x3C7, 0x3C8,
    0x3C9, 0x3CA, 0x3CC, 0x3CE, 0x3CF, 0x3D4, 0x3D5, 0x3DA, 0x3DF, 0x3E0, 0x1CE, 0x1CF, 0x1D0,
];

fn random_size(rng: &mut Rng) -> IoSize {
    match rng.below(4) {
        0 => IoSize::Word,
        1 => IoSize::Dword,
        _ => IoSize::Byte,
    }
}

/// Values biased towards the ones that matter: small indices, all ones,
/// dispi enables and resolutions.
fn random_value(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => rng.below(0x20) as u32,
        1 => 0xFF,
        2 => 0xFFFF,
        3 => [0x41, 0x61, 0xC1, 0x01, 0x02, 0x20][rng.below(6) as usize],
        4 => [4, 8, 15, 16, 24, 32, 640, 800, 1024, 2560, 1600][rng.below(11) as usize],
        _ => rng.next() as u32,
    }
}

fn random_addr(rng: &mut Rng, v: &Vga) -> u32 {
    let (lfb, len) = v.mmio_ranges()[1];
    match rng.below(10) {
        0..=5 => LEGACY_BASE + rng.below(u64::from(LEGACY_SIZE)) as u32,
        6..=8 => lfb.wrapping_add(rng.below(u64::from(len) + 16) as u32),
        _ => rng.next() as u32,
    }
}

/// Hammer the card through the `Device` interface, rendering now and
/// then; with `round_trip`, every state reached also survives serde.
fn fuzz(mut v: Vga, seed: u64, ops: usize, round_trip: bool) {
    let mut rng = Rng(seed);
    let mut t = T0;
    for op in 0..ops {
        t = t.add_nanos(rng.below(50_000));
        match rng.below(10) {
            0..=4 => {
                let port = if rng.below(16) == 0 {
                    rng.next() as u16
                } else {
                    PORTS[rng.below(PORTS.len() as u64) as usize]
                };
                let size = random_size(&mut rng);
                let val = random_value(&mut rng);
                v.io_write(t, port, size, val);
            }
            5..=6 => {
                let port = PORTS[rng.below(PORTS.len() as u64) as usize];
                let size = random_size(&mut rng);
                let got = v.io_read(t, port, size);
                assert!(u64::from(got) < (1u64 << (8 * size.bytes())));
            }
            7 => {
                let a = random_addr(&mut rng, &v);
                let size = random_size(&mut rng);
                let val = random_value(&mut rng);
                v.mmio_write(t, a, size, val);
            }
            8 => {
                let a = random_addr(&mut rng, &v);
                let size = random_size(&mut rng);
                v.mmio_read(t, a, size);
            }
            _ => {
                assert_eq!(v.advance(t), 0);
                assert_eq!(v.next_deadline(), None);
            }
        }
        if op % 499 == 0 {
            let f = v.render();
            assert_eq!(f.pixels.len(), f.width as usize * f.height as usize);
            assert!(f.width >= 1 && f.height >= 1);
            if let Some(rows) = v.text_snapshot() {
                if let Some((r, c)) = v.cursor_position() {
                    assert!((r as usize) < rows.len());
                    assert!((c as usize) < rows[r as usize].chars().count());
                }
            }
            v.generation();
        }
        if round_trip && op % 1999 == 0 {
            let json = serde_json::to_string(&v).unwrap();
            let w: Vga = serde_json::from_str(&json).unwrap();
            assert_eq!(w, v);
        }
    }
}

#[test]
fn random_guest_input_never_panics_a_small_card() {
    for seed in 0..6 {
        let v = Vga::new(VgaConfig {
            vram_size: MIN_VRAM_SIZE,
            lfb_base: 0xFFFF_0000 + 0x1000 * seed as u32,
        });
        fuzz(v, seed, 8_000, true);
    }
}

#[test]
fn random_guest_input_never_panics_from_a_text_mode() {
    for seed in 10..14 {
        let mut v = Vga::new(VgaConfig {
            vram_size: MIN_VRAM_SIZE,
            lfb_base: DEFAULT_LFB_BASE,
        });
        v.set_text_mode_80x25(&font());
        fuzz(v, seed, 8_000, true);
    }
}

#[test]
fn random_guest_input_never_panics_a_16mib_card() {
    for seed in 20..22 {
        fuzz(Vga::default(), seed, 6_000, false);
    }
}

#[test]
fn a_restored_card_carries_on_identically() {
    let mut a = Vga::default();
    fuzz_prefix(&mut a, 99, 3_000);
    let json = serde_json::to_vec(&a).unwrap();
    let mut b: Vga = serde_json::from_slice(&json).unwrap();
    assert_eq!(a, b);
    let mut rng_a = Rng(5);
    let mut rng_b = Rng(5);
    for _ in 0..2_000 {
        step(&mut a, &mut rng_a);
        step(&mut b, &mut rng_b);
    }
    assert_eq!(a, b);
    assert_eq!(a.render(), b.render());
    assert_eq!(a.generation(), b.generation());
}

fn step(v: &mut Vga, rng: &mut Rng) {
    let port = PORTS[rng.below(PORTS.len() as u64) as usize];
    if rng.below(2) == 0 {
        v.io_write(T0, port, IoSize::Byte, random_value(rng));
    } else {
        let a = random_addr(rng, v);
        v.mmio_write(T0, a, IoSize::Byte, random_value(rng));
        v.mmio_read(T0, a ^ 1, IoSize::Byte);
    }
}

fn fuzz_prefix(v: &mut Vga, seed: u64, n: usize) {
    let mut rng = Rng(seed);
    for _ in 0..n {
        step(v, &mut rng);
    }
}
