//! oxbox's BIOS drives the VGA itself: the POST screen in mode 03h drawn
//! with the font the BIOS loads into plane 2, modes 13h and VBE through
//! INT 10h (testsuite/roms/bios_video.asm), checked on the VGA's rendered
//! frame and text.

#[path = "common/fonts.rs"]
mod fonts;

use std::path::Path;
use std::process::Command;

use fonts::bios_font;
use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox_devices::disk::MemDisk;
use oxbox_devices::ide::{Channel, Unit};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn oxbios() -> Vec<u8> {
    std::fs::read(repo().join("roms/oxbios.bin")).expect("roms/oxbios.bin")
}

fn font() -> Vec<[u8; 16]> {
    bios_font::<16>()
}

fn machine(ram_mib: usize) -> Machine {
    Machine::new(
        CpuModel::PentiumPro,
        ram_mib << 20,
        &oxbios(),
        Box::new(std::io::sink()),
    )
    .unwrap()
}

/// testsuite/roms/`source`, assembled.
fn assemble(source: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!("oxbox-{}-{source}.bin", std::process::id()));
    let status = Command::new("nasm")
        .current_dir(repo().join("testsuite/roms"))
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(source)
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success(), "nasm failed on {source}");
    let img = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    img
}

/// A machine whose first hard disk holds `img` (padded to 32 KiB).
fn machine_with_disk(mut img: Vec<u8>) -> Machine {
    img.resize(64 * 512, 0);
    let mut m = machine(32);
    m.bus
        .ide
        .attach_disk(
            Channel::Primary,
            Unit::Master,
            Box::new(MemDisk::from_bytes(img, 512)),
        )
        .unwrap();
    m.record_disks_in_cmos();
    m
}

/// Boot bios_video.asm with its selector byte set to `what`; run to its
/// final HLT.
fn run_video_program(what: u8) -> Machine {
    let mut img = assemble("bios_video.asm");
    img[0x1F0] = what;
    let mut m = machine_with_disk(img);
    assert_eq!(m.run(200_000_000), RunExit::Halted);
    m
}

/// What the boot sector printed on the debug console (after the BIOS's
/// own messages).
fn program_output(m: &Machine) -> String {
    let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    let marker = "Booting from Hard Disk...\n";
    let at = log.find(marker).expect(&log);
    log[at + marker.len()..].to_string()
}

#[test]
fn the_post_screen_is_drawn_in_mode_03h_with_the_bios_font() {
    let mut m = machine(32);
    assert_eq!(m.run(100_000_000), RunExit::Halted);
    let text = m.bus.vga.text_snapshot().expect("a text mode");
    assert_eq!(text.len(), 25);
    assert_eq!(text[0].chars().count(), 80);
    assert!(text[0].starts_with("oxbox BIOS"), "{text:#?}");
    let ext = format!("{} KiB extended", 31 * 1024);
    assert!(text[1].contains(&ext), "{text:#?}");
    assert!(
        text.iter().any(|r| r.starts_with("No bootable device.")),
        "{text:#?}"
    );
    // 720x400: each of the first ten characters of row 0 has the pixels
    // of its glyph, foreground where the font has a bit set.
    let frame = m.bus.vga.render();
    assert_eq!((frame.width, frame.height), (720, 400));
    let glyphs = font();
    let bg = frame.pixel(8, 15).unwrap(); // below the 'o'
    let fg = frame.pixel(3, 6).unwrap(); // in the 'o'
    assert_ne!(fg, bg);
    for (col, ch) in "oxbox BIOS".bytes().enumerate() {
        let glyph = glyphs[ch as usize];
        for (y, bits) in glyph.iter().enumerate() {
            for x in 0..8 {
                let set = bits & (0x80 >> x) != 0;
                let p = frame.pixel(col as u32 * 9 + x, y as u32).unwrap();
                assert_eq!(
                    p,
                    if set { fg } else { bg },
                    "'{}' at ({x}, {y})",
                    ch as char
                );
            }
        }
    }
}

#[test]
fn mode_13h_shows_video_memory_through_the_default_palette() {
    let m = run_video_program(0);
    assert!(m.bus.vga.text_snapshot().is_none(), "a graphics mode");
    let frame = m.bus.vga.render();
    assert_eq!((frame.width, frame.height), (320, 200));
    // The first 16 colours are the CGA/EGA ones: black, then blue ... white.
    assert_eq!(frame.pixel(0, 0), Some(0x000000));
    let blue = frame.pixel(1, 0).unwrap();
    assert!(blue & 0xFF > 0x80 && blue >> 8 == 0, "{blue:06x}");
    let red = frame.pixel(4, 0).unwrap();
    assert!(red >> 16 > 0x80 && red & 0xFFFF == 0, "{red:06x}");
    let white = frame.pixel(0, 1).unwrap();
    assert!(white & 0xFF > 0xF0 && white >> 16 > 0xF0, "{white:06x}");
    // Distinct colours for the 16 distinct bytes.
    let mut row: Vec<u32> = (0..16).map(|x| frame.pixel(x, 0).unwrap()).collect();
    row.sort_unstable();
    row.dedup();
    assert_eq!(row.len(), 16);
}

#[test]
fn vbe_reports_and_sets_a_linear_framebuffer_mode() {
    let m = run_video_program(1);
    let out = program_output(&m);
    let v: Vec<u32> = out
        .split_whitespace()
        .map(|w| u32::from_str_radix(w, 16).unwrap())
        .collect();
    let lfb = m.bus.vga.lfb_base();
    assert_eq!(
        v,
        [
            0x004F,
            u32::from_le_bytes(*b"VESA"),
            0x0200,
            0x004F,
            640,
            480,
            24,
            lfb,
            0x004F,
            0x4112
        ],
        "{out}"
    );
    let frame = m.bus.vga.render();
    assert_eq!((frame.width, frame.height), (640, 480));
}

#[test]
fn text_services_write_read_scroll_and_move_the_cursor() {
    let m = run_video_program(2);
    let out = program_output(&m);
    let v: Vec<u32> = out
        .split_whitespace()
        .map(|w| u32::from_str_radix(w, 16).unwrap())
        .collect();
    // Cursor after the teletype B: row 2, column 5; AH=08h: 'A' in 1Eh;
    // AH=0Fh: 80 columns, mode 03h.
    assert_eq!(v, [0x0205, 0x1E41, 0x5003], "{out}");
    let text = m.bus.vga.text_snapshot().unwrap();
    // The scroll moved rows 2-5 up by one into 1-4 and blanked row 5.
    assert_eq!(text[1].trim_end(), "   AB", "{text:#?}");
    assert_eq!(text[2].trim_end(), "", "{text:#?}");
    assert_eq!(text[4].trim_end(), "string", "{text:#?}");
    assert_eq!(text[5].trim_end(), "", "{text:#?}");
}

/// Boot bios_video_graphics.asm in `mode` (12h or 13h), run to its HLT;
/// the frame and the reported words.
fn run_graphics_program(mode: u8) -> (oxbox_devices::vga::Frame, Vec<u32>) {
    let mut img = assemble("bios_video_graphics.asm");
    img[0x1F0] = mode;
    let mut m = machine_with_disk(img);
    assert_eq!(m.run(200_000_000), RunExit::Halted);
    let out = program_output(&m);
    let words = out
        .split_whitespace()
        .map(|w| u32::from_str_radix(w, 16).unwrap())
        .collect();
    (m.bus.vga.render(), words)
}

/// Text cell (`row`, `col`) of a graphics screen with `height`-line
/// characters shows `glyph` in colour `fg` on `bg`.
fn assert_cell(
    frame: &oxbox_devices::vga::Frame,
    (row, col): (u32, u32),
    glyph: &[u8],
    fg: u32,
    bg: u32,
) {
    let height = glyph.len() as u32;
    for (y, bits) in glyph.iter().enumerate() {
        for x in 0..8 {
            let want = if bits & (0x80 >> x) != 0 { fg } else { bg };
            let (px, py) = (col * 8 + x, row * height + y as u32);
            assert_eq!(
                frame.pixel(px, py),
                Some(want),
                "cell ({row}, {col}) pixel ({x}, {y})"
            );
        }
    }
}

fn graphics_text_and_pixels(mode: u8) {
    let (frame, v) = run_graphics_program(mode);
    let (font8, font16) = (bios_font::<8>(), font());
    let (height, rows): (u32, u32) = if mode == 0x13 { (8, 25) } else { (16, 30) };
    let glyph = |c: u8| -> Vec<u8> {
        if height == 8 {
            font8[c as usize].to_vec()
        } else {
            font16[c as usize].to_vec()
        }
    };
    // The colours, as AH=0Ch drew them.
    let yellow = frame.pixel(200, 100).unwrap();
    let red = frame.pixel(201, 100).unwrap();
    let blue = frame.pixel(202, 100).unwrap();
    let black = frame.pixel(frame.width - 1, frame.height - 1).unwrap();
    let distinct = [yellow, red, blue, black];
    for (i, a) in distinct.iter().enumerate() {
        assert!(!distinct[i + 1..].contains(a), "{distinct:06x?}");
    }
    assert_cell(&frame, (0, 0), &glyph(b'H'), yellow, black);
    assert_cell(&frame, (0, 1), &glyph(b'i'), yellow, black);
    // AH=07h moved the Zs down a row and filled their old row with blue.
    assert_cell(&frame, (3, 3), &glyph(b'Z'), red, black);
    assert_cell(&frame, (3, 4), &glyph(b'Z'), red, black);
    let full = vec![0xFF; height as usize];
    assert_cell(&frame, (2, 3), &full, blue, black);
    assert_cell(&frame, (2, 4), &full, blue, black);
    assert_cell(&frame, (2, 5), &vec![0; height as usize], blue, black);
    // Reports: AH=0Dh at (100, 150) and on the H's top line; AX=1130h's
    // character height and rows - 1; the 8x8 'A'; the cursor after "Hi".
    let h_top = if glyph(b'H')[0] & 0x40 != 0 { 0x0E } else { 0 };
    let a8 = u32::from_le_bytes(font8[b'A' as usize][..4].try_into().unwrap());
    assert_eq!(v, [0x0A, h_top, height, rows - 1, a8, 0x0002], "{v:x?}");
}

#[test]
fn mode_13h_text_scroll_and_pixels_use_the_8x8_font() {
    graphics_text_and_pixels(0x13);
}

#[test]
fn mode_12h_text_scroll_and_pixels_use_the_8x16_font_through_the_planes() {
    graphics_text_and_pixels(0x12);
}

#[test]
fn a_pci_vga_option_rom_takes_over_int_10h() {
    const VGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";
    assert!(
        Path::new(VGABIOS).exists(),
        "{VGABIOS} is missing: install Debian's seabios package"
    );
    let mut m = machine(32);
    m.bus.set_vga_rom(std::fs::read(VGABIOS).unwrap());
    assert_eq!(m.run(200_000_000), RunExit::Halted);
    let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    // The ROM ran (it announces itself on the debug port) before the POST
    // screen, which then went through its INT 10h.
    let rom = log.find("SeaVGABIOS").expect(&log);
    let post = log.find("oxbox BIOS").expect(&log);
    assert!(rom < post, "{log}");
    let mem = m.cpu.mem_mut();
    let vector = u16::from_le_bytes([mem.read_u8(0x42), mem.read_u8(0x43)]);
    assert_eq!(vector, 0xC000, "INT 10h points into the shadowed ROM");
    // The shadow copy is the ROM's image (its header; the ROM patches its
    // own data during initialisation).
    let rom_image = std::fs::read(VGABIOS).unwrap();
    for (i, &b) in rom_image.iter().take(3).enumerate() {
        assert_eq!(mem.read_u8(0xC0000 + i as u32), b, "byte {i:#x}");
    }
    let text = m.bus.vga.text_snapshot().expect("text mode");
    assert!(text[0].starts_with("oxbox BIOS"), "{text:#?}");
}

#[test]
fn keystrokes_reach_int_16h_as_scan_code_and_ascii() {
    use oxbox_devices::ps2::Key;
    let mut m = machine_with_disk(assemble("bios_keyboard.asm"));
    let booted = |m: &Machine| String::from_utf8_lossy(&m.bus.debugcon_log).contains("ready");
    while !booted(&m) {
        assert_eq!(
            m.run(1_000_000),
            RunExit::Budget,
            "the boot sector never ran"
        );
    }
    // (keys held down together, in order; released in reverse) and what
    // INT 16h returns for them (IBM PC AT scan code/ASCII table).
    let strokes: [(&[Key], u16); 11] = [
        (&[Key::KeyA], 0x1E61),
        (&[Key::ShiftLeft, Key::KeyA], 0x1E41),
        (&[Key::ControlLeft, Key::KeyC], 0x2E03),
        (&[Key::AltLeft, Key::KeyX], 0x2D00),
        (&[Key::F1], 0x3B00),
        (&[Key::ShiftRight, Key::F1], 0x5400),
        (&[Key::ArrowUp], 0x48E0),
        (&[Key::NumpadEnter], 0xE00D),
        (&[Key::Enter], 0x1C0D),
        (&[Key::CapsLock], 0), // no character; the next key is shifted
        (&[Key::ArrowUp], 0x4800),
    ];
    // Each stroke's presses and releases go in together: no key stays
    // down while the guest runs (a halted guest skips ahead in time, and
    // a held key would repeat).
    let type_keys = |m: &mut Machine, keys: &[Key]| {
        let now = m.now();
        for &k in keys {
            m.bus.kbc.key_event(now, k, true);
        }
        for &k in keys.iter().rev() {
            m.bus.kbc.key_event(now, k, false);
        }
        m.run(200_000);
    };
    let mut expected = Vec::new();
    for (keys, code) in strokes {
        type_keys(&mut m, keys);
        if code == 0 {
            // Caps Lock: then 'b' comes out as 'B'.
            type_keys(&mut m, &[Key::KeyB]);
            expected.push(0x3042);
        } else {
            expected.push(code);
        }
    }
    // Shift flags: Caps Lock on (bit 6), nothing held.
    expected.push(0x0040);
    assert_eq!(m.run(10_000_000), RunExit::Stopped);
    let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
    let after = &log[log.find("ready\n").unwrap() + 6..];
    let got: Vec<u16> = after
        .split_whitespace()
        .map(|w| u16::from_str_radix(w, 16).unwrap())
        .collect();
    assert_eq!(got, expected, "{log}");
}

#[test]
fn post_assigns_pci_resources_and_routes_the_pirqs() {
    let ram: u32 = 32 << 20;
    let mut m = machine(32);
    assert_eq!(m.run(100_000_000), RunExit::Halted);
    // I/O BARs from 0xC000: the IDE bus-master block (16 ports), enabled.
    let bm = m
        .bus
        .ide
        .bus_master_base()
        .expect("BAR 4 assigned and I/O on");
    assert!(bm >= 0xC000 && bm.is_multiple_of(16), "{bm:#x}");
    // Memory BARs in the hole between RAM and 4 GiB, aligned to their
    // size: the VGA framebuffer (16 MiB) moved there and the VGA follows.
    let vga = m.bus.pci.function(oxbox::machine::VGA_FUNCTION).unwrap();
    let lfb = vga.get32(0x10) & !0xF;
    assert!(lfb >= ram && lfb.is_multiple_of(16 << 20), "{lfb:#x}");
    assert_eq!(m.bus.vga.lfb_base(), lfb);
    assert!(vga.get8(0x04) & 0x03 == 0x03, "I/O and memory decoding on");
    // Both IDE channels decoded: IDETIM bit 15 (PIIX3 datasheet §2.4.9),
    // without which Linux's ata_piix ignores the channel.
    let ide = m.bus.pci.function(oxbox::machine::IDE_FUNCTION).unwrap();
    for idetim in [0x40, 0x42] {
        let v = ide.get32(idetim & !3) >> (8 * (idetim & 3));
        assert!(v & 0x8000 != 0, "IDETIM {idetim:#x} = {:#x}", v & 0xFFFF);
    }
    // PIRQA-D routed to ISA interrupts.
    for pirq in 0..4 {
        let irq = m.bus.pci.pirq_route(pirq).expect("routed");
        assert!([10, 11].contains(&irq), "PIRQ{pirq} -> {irq}");
    }
}

#[test]
fn on_a_cpu_older_than_the_386_the_bios_says_so_and_stops() {
    for model in [CpuModel::I8086, CpuModel::I80186, CpuModel::I80286] {
        let mut m = Machine::new(model, 1 << 20, &oxbios(), Box::new(std::io::sink())).unwrap();
        assert_eq!(m.run(1_000_000), RunExit::Halted, "{model}");
        let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
        assert!(log.contains("needs a 386"), "{model}: {log}");
    }
    for model in [
        CpuModel::I80386,
        CpuModel::I80486,
        CpuModel::Pentium,
        CpuModel::PentiumPro,
    ] {
        let mut m = Machine::new(model, 32 << 20, &oxbios(), Box::new(std::io::sink())).unwrap();
        assert_eq!(m.run(100_000_000), RunExit::Halted, "{model}");
        let log = String::from_utf8_lossy(&m.bus.debugcon_log).into_owned();
        assert!(!log.contains("needs a 386"), "{model}: {log}");
        assert!(log.contains("No bootable device."), "{model}: {log}");
    }
}

#[test]
fn a_boot_sector_starts_with_nt_clear() {
    // The BIOS's 386 probe sets FLAGS.NT; left set, a boot loader's first
    // IRET in protected mode would try a task return through its TSS
    // (SDM vol. 3 §7.3). The boot sector only halts: CLI; HLT.
    let mut img = vec![0xFA, 0xF4];
    img.resize(510, 0);
    img.extend_from_slice(&[0x55, 0xAA]);
    let mut m = machine_with_disk(img);
    assert_eq!(m.run(100_000_000), RunExit::Halted);
    assert_eq!(m.cpu.segs[oxbox::cpu::seg::CS].base + m.cpu.eip, 0x7C02);
    assert_eq!(
        m.cpu.flags_word() & 0x4000,
        0,
        "NT clear at the boot sector"
    );
}
