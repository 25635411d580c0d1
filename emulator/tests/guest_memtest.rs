//! memtest86+ 6 (Debian 12's, from the floppy image
//! `testsuite/guests/build.sh` builds) boots from drive A: on oxbox's BIOS
//! and reaches its first test screen, checked on a screenshot.
//!
//! The boot goes through the whole diskette path: INT 19h reads the boot
//! sector, memtest's loader reads the rest track by track through INT 13h
//! (the 82077AA, DMA channel 2, IRQ 6), then the program switches to
//! protected mode and draws its screen in VGA text mode. The screenshot
//! (`--screenshot`, rendered from the VGA) is read back into text by
//! matching every 9x16 character cell against the glyphs of oxbios's font
//! (bios/oxbios/font8x16.inc, which the BIOS loads into the VGA), so the
//! check is on pixels, and fails if the font, the attributes or the text
//! are wrong.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

mod guest_cache;
use guest_cache::guests;

/// Instructions from power-on to a screen where the first tests are
/// running: the floppy load takes about 2 s of guest time (mostly the CPU
/// halted in INT 13h, waiting for the drive), then memtest waits for a
/// key for a while before it starts testing on its own.
const BUDGET: u64 = 800_000_000;

/// The 256 glyphs of oxbios's 8x16 font, 16 rows of 8 dots each.
fn oxbios_font() -> Vec<[u8; 16]> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bios/oxbios/font8x16.inc");
    let text = std::fs::read_to_string(&path).expect("bios/oxbios/font8x16.inc");
    let glyphs: Vec<[u8; 16]> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("db "))
        .map(|l| {
            let bytes: Vec<u8> = l
                .split(';')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|b| u8::from_str_radix(b.trim().trim_start_matches("0x"), 16).unwrap())
                .collect();
            bytes.try_into().expect("16 bytes per glyph")
        })
        .collect();
    assert_eq!(glyphs.len(), 256, "font8x16.inc has 256 glyphs");
    glyphs
}

/// An RGB screenshot.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Image {
        let file = std::fs::File::open(path).expect("the screenshot was written");
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        rgb.truncate(info.buffer_size());
        Image {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// Read an 80x25 text screen of 9x16 cells back into text: a cell of one
/// colour is a space; a cell of two is the printable ASCII character whose
/// glyph its dots form in one colour or the other (the ninth column is
/// the gap between cells and is not compared); anything else is '?'.
fn read_text(image: &Image, font: &[[u8; 16]]) -> Vec<String> {
    let mut by_glyph: HashMap<[u8; 16], char> = HashMap::new();
    for c in (0x21u8..0x7F).rev() {
        by_glyph.insert(font[c as usize], c as char);
    }
    let (cols, rows) = (image.width / 9, image.height / 16);
    (0..rows)
        .map(|row| {
            (0..cols)
                .map(|col| {
                    let at = |x: usize, y: usize| image.pixel(col * 9 + x, row * 16 + y);
                    let mut colours: Vec<[u8; 3]> = Vec::new();
                    for y in 0..16 {
                        for x in 0..8 {
                            if !colours.contains(&at(x, y)) {
                                colours.push(at(x, y));
                            }
                        }
                    }
                    match colours.len() {
                        1 => ' ',
                        2 => colours
                            .iter()
                            .find_map(|&fg| {
                                let mut glyph = [0u8; 16];
                                for (y, g) in glyph.iter_mut().enumerate() {
                                    for x in 0..8 {
                                        if at(x, y) == fg {
                                            *g |= 0x80 >> x;
                                        }
                                    }
                                }
                                by_glyph.get(&glyph).copied()
                            })
                            .unwrap_or('?'),
                        _ => '?',
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_text_reader_reads_what_oxbios_font_draws() {
    // A cell drawn as the VGA does: "A" in one colour on another, then
    // the same inverted, then a blank cell.
    let font = oxbios_font();
    let (fg, bg) = ([0xAA, 0xAA, 0xAA], [0, 0, 0xAA]);
    let cells = [
        (font[b'A' as usize], false),
        (font[b'z' as usize], true),
        (font[b' ' as usize], false),
    ];
    let mut rgb = Vec::new();
    for y in 0..16 {
        for (glyph, inverted) in cells {
            for x in 0..9 {
                let on = x < 8 && glyph[y] & (0x80 >> x) != 0;
                rgb.extend_from_slice(if on != inverted { &fg } else { &bg });
            }
        }
    }
    let image = Image {
        width: 27,
        height: 16,
        rgb,
    };
    assert_eq!(read_text(&image, &font), ["Az "]);
}

#[test]
fn memtest86plus_boots_from_a_floppy_to_its_first_test_screen() {
    let image = guests().join("fd-memtest86+.img");
    let shot = std::env::temp_dir().join(format!("oxbox-memtest-{}.png", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .arg("--fda")
        .arg(&image)
        .args(["--boot", "a", "--snapshot", "--display", "none", "-m", "32"])
        .args(["--serial", "none", "--debugcon", "none", "--screenshot"])
        .arg(&shot)
        .args(["--max-instructions", &BUDGET.to_string()])
        .output()
        .expect("run oxbox");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let screen = Image::read(&shot);
    let _ = std::fs::remove_file(&shot);
    assert_eq!((screen.width, screen.height), (720, 400), "80x25 text");
    let text = read_text(&screen, &oxbios_font());
    let why = format!(
        "the screen read back:\n{}\noxbox: {stderr}",
        text.join("\n")
    );
    // The budget ran out (memtest never ends on its own).
    assert!(stderr.contains("instruction budget reached"), "{why}");
    // The title bar, the test line with its number and name, the status.
    assert!(text[0].contains("Memtest86+ v6."), "{why}");
    let test_line = text
        .iter()
        .find_map(|l| l.split_once("Test #").map(|(_, rest)| rest.trim_start()))
        .unwrap_or_else(|| panic!("no \"Test #\" line; {why}"));
    let number: String = test_line.chars().take_while(char::is_ascii_digit).collect();
    assert!(!number.is_empty(), "{why}");
    assert!(
        test_line[number.len()..].trim_start().starts_with('['),
        "{why}"
    );
    assert!(text.iter().any(|l| l.contains("Status: Testing")), "{why}");
    assert!(text.iter().any(|l| l.contains("Errors: 0")), "{why}");
    // The RAM it found (oxbox's default 32 MiB, from the E820 map).
    let words = |l: &String| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.iter().any(|l| words(l).starts_with("Memory : 32MB")),
        "{why}"
    );
}
