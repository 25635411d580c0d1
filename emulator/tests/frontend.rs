//! The front ends end to end, through the oxbox binary: screenshots of mode
//! 13h and a Bochs VBE mode compared with images built here from what the
//! test ROMs wrote (emulator/tests/roms/*.asm); the headless text mirror;
//! and the window under a virtual X server, with keys typed by xdotool and
//! the rendered text checked against the ROM's own font.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-frontend-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Assemble emulator/tests/roms/`name`.asm with `defines` into `dir`.
fn assemble(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roms");
    let out = dir.join(format!("{name}.bin"));
    let status = Command::new("nasm")
        .current_dir(&roms)
        .args(defines.iter().map(|d| format!("-D{d}")))
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(format!("{name}.asm"))
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success(), "nasm failed on {name}.asm");
    out
}

fn oxbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oxbox"))
}

/// An RGB image: width, height, pixels as [r, g, b].
struct Image {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

fn read_png(path: &Path) -> Image {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    Image {
        width: info.width,
        height: info.height,
        pixels: buf[..info.buffer_size()]
            .chunks(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect(),
    }
}

/// A DAC level (6 bits, 63 = full scale) as an 8-bit intensity. The DAC is
/// analogue, so the 8-bit value is only defined to the rounding: callers
/// allow one step of difference.
fn dac_level(v: u8) -> u8 {
    ((u32::from(v) * 255 + 31) / 63) as u8
}

fn dac_rgb(rgb: [u8; 3]) -> [u8; 3] {
    rgb.map(dac_level)
}

/// Compare `image` with `expected(x, y)`, each channel within `tolerance`.
fn assert_image(
    image: &Image,
    size: (u32, u32),
    tolerance: u8,
    expected: impl Fn(u32, u32) -> [u8; 3],
) {
    assert_eq!((image.width, image.height), size, "screenshot size");
    let mut bad = Vec::new();
    for y in 0..image.height {
        for x in 0..image.width {
            let got = image.pixels[(y * image.width + x) as usize];
            let want = expected(x, y);
            if got.iter().zip(want).any(|(g, w)| g.abs_diff(w) > tolerance) {
                bad.push((x, y, got, want));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} pixels differ; first: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

/// Run a ROM headless with a screenshot; returns the exit status and image.
fn screenshot_of(rom: &Path, shot: &Path) -> (Option<i32>, Image) {
    let out = oxbox()
        .arg("--bios")
        .arg(rom)
        .args(["--display", "none", "--serial", "none"])
        .args(["--max-instructions", "50000000", "--screenshot"])
        .arg(shot)
        .output()
        .expect("run oxbox");
    assert!(
        out.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), read_png(shot))
}

#[test]
fn mode_13h_screenshot_shows_the_framebuffer_through_the_dac_palette() {
    let dir = temp_dir("13h");
    let rom = assemble(&dir, "frontend_mode13", &[]);
    let (status, image) = screenshot_of(&rom, &dir.join("13h.png"));
    assert_eq!(status, Some((0x11 << 1) | 1), "the ROM ran to its exit");
    // What frontend_mode13.asm writes and the palette it loads.
    let palette = |i: u32| [(i >> 2) as u8, ((5 * i) % 64) as u8, 63 - (i >> 2) as u8];
    let pixel = |x: u32, y: u32| ((x + 3 * y) ^ (y >> 1)) & 0xFF;
    assert_image(&image, (320, 200), 1, |x, y| dac_rgb(palette(pixel(x, y))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vbe_screenshot_shows_the_linear_framebuffer() {
    let dir = temp_dir("vbe");
    let rom = assemble(&dir, "frontend_vbe", &[]);
    let (status, image) = screenshot_of(&rom, &dir.join("vbe.png"));
    assert_eq!(status, Some((0x12 << 1) | 1), "the ROM ran to its exit");
    // 32 bpp: the dword 00RRGGBB the ROM stored, no palette.
    assert_image(&image, (640, 480), 0, |x, y| {
        [((x ^ y) & 0xFF) as u8, (y & 0xFF) as u8, (x & 0xFF) as u8]
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_text_rom(defines: &[&str], tag: &str) -> String {
    let dir = temp_dir(tag);
    let rom = assemble(&dir, "frontend_text", defines);
    let out = oxbox()
        .arg("--bios")
        .arg(&rom)
        .args(["--display", "none", "--serial", "stdio"])
        .args(["--max-instructions", "200000000"])
        .stdin(Stdio::null())
        .output()
        .expect("run oxbox");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn headless_mirrors_the_text_screen_once_per_change() {
    let stdout = run_text_rom(&[], "mirror");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["HELLO FROM THE VGA", "LAST LINE"], "{stdout}");
}

#[test]
fn headless_mirror_stops_once_the_guest_uses_the_serial_port() {
    let stdout = run_text_rom(&["SERIAL"], "serial");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["HELLO FROM THE VGA", "SERIAL"], "{stdout}");
}

#[test]
fn a_bad_display_value_is_one_line_of_error() {
    let out = oxbox()
        .args(["--display", "sdl"])
        .output()
        .expect("run oxbox");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("window or none"), "{err}");
}

// ---- The window under Xvfb ------------------------------------------------

/// A virtual X server on a free display number, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        for n in 0..20 {
            let number = 90 + (std::process::id() % 400) + n * 7;
            if Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
                || Path::new(&format!("/tmp/.X{number}-lock")).exists()
            {
                continue;
            }
            let display = format!(":{number}");
            let child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb is needed for the window test (Debian: apt-get install xvfb)");
            let mut x = Xvfb { child, display };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if Path::new(&format!("/tmp/.X11-unix/X{number}")).exists() {
                    return x;
                }
                if let Ok(Some(_)) = x.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = x.child.kill();
            let _ = x.child.wait();
        }
        panic!("could not start Xvfb");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn xdotool(display: &str, args: &[&str]) -> std::process::Output {
    Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .expect("xdotool is needed for the window test (Debian: apt-get install xdotool)")
}

/// The pixels of mode 3 showing `cells` (row, column, character,
/// attribute) on a screen of spaces with attribute 0x07, with the font and
/// colours frontend_keys.asm loads: 9-dot cells of 16 lines, glyph row r
/// of character c is c ^ (r * 0x11), the ninth dot is background (no line
/// graphics characters here), and colour i is DAC entry i (the ROM's
/// attribute palette is the identity).
fn text_screen(cells: &[(u32, u32, u8, u8)]) -> impl Fn(u32, u32) -> [u8; 3] + '_ {
    let dac = |i: u32| dac_rgb([(4 * i + 3) as u8, (63 - 4 * i) as u8, ((7 * i) % 64) as u8]);
    move |x, y| {
        let (row, col) = (y / 16, x / 9);
        let (ch, attr) = cells
            .iter()
            .find(|c| c.0 == row && c.1 == col)
            .map_or((b' ', 0x07), |c| (c.2, c.3));
        let glyph = ch ^ ((y % 16) as u8).wrapping_mul(0x11);
        let dot = x % 9;
        let on = dot < 8 && glyph & (0x80 >> dot) != 0;
        dac(u32::from(if on { attr & 0x0F } else { attr >> 4 }))
    }
}

#[test]
fn window_echoes_typed_keys_and_the_screenshot_shows_them_in_the_guest_font() {
    let x = Xvfb::start();
    let dir = temp_dir("window");
    let rom = assemble(&dir, "frontend_keys", &[]);
    let shot = dir.join("window.png");
    let mut oxbox = oxbox()
        .env("DISPLAY", &x.display)
        .arg("--bios")
        .arg(&rom)
        .args(["--display", "window", "--serial", "none"])
        .args(["--max-instructions", "20000000000", "--screenshot"])
        .arg(&shot)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oxbox");
    // The window appears with the title "oxbox".
    let deadline = Instant::now() + Duration::from_secs(30);
    let window = loop {
        let out = xdotool(&x.display, &["search", "--name", "^oxbox"]);
        let id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string);
        if let Some(id) = id {
            break id;
        }
        if let Ok(Some(status)) = oxbox.try_wait() {
            let out = oxbox.wait_with_output().unwrap();
            panic!(
                "oxbox exited ({status}) before its window appeared: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no oxbox window on {}",
            x.display
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let focus = xdotool(&x.display, &["windowfocus", "--sync", &window]);
    assert!(
        focus.status.success(),
        "{}",
        String::from_utf8_lossy(&focus.stderr)
    );
    // Each key held for a tenth of a second: the window polls its keys
    // at the display rate, and this is well short of the typematic delay.
    let keys = [
        "h", "e", "l", "l", "o", "space", "4", "2", "Right", "Left", "KP_6", "Return",
    ];
    let mut script = Vec::new();
    for k in keys {
        script.extend(["keydown", k, "sleep", "0.1", "keyup", k, "sleep", "0.1"]);
    }
    let typed = xdotool(&x.display, &script);
    assert!(
        typed.status.success(),
        "{}",
        String::from_utf8_lossy(&typed.stderr)
    );
    // Enter makes the guest exit; oxbox closes its window and writes the
    // screenshot.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = oxbox.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = oxbox.kill();
            let out = oxbox.wait_with_output().unwrap();
            panic!(
                "oxbox did not exit after Enter: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = oxbox.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some((0x10 << 1) | 1),
        "the guest saw Enter: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cells: Vec<(u32, u32, u8, u8)> = b"TYPE:"
        .iter()
        .enumerate()
        .map(|(i, &c)| (0, i as u32, c, 0x1E))
        .collect();
    // Right and Left arrows arrive with their E0 prefix ('>' and '<');
    // keypad 6 without it ('6').
    cells.extend(
        b"hello 42><6"
            .iter()
            .enumerate()
            .map(|(i, &c)| (2, i as u32, c, 0x0F)),
    );
    let image = read_png(&shot);
    let _ = std::fs::remove_dir_all(&dir);
    assert_image(&image, (720, 400), 1, text_screen(&cells));
}
