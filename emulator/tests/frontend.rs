//! The front ends end to end, through the oxbox binary: screenshots of mode
//! 13h and a Bochs VBE mode compared with images built here from what the
//! test ROMs wrote (emulator/tests/roms/*.asm); the headless text mirror;
//! and the window under a virtual X server, with keys typed by xdotool and
//! the rendered text checked against the ROM's own font; and how a guest
//! that halts for good ends each (or, in the window, does not).

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

/// oxbox running `rom` on `display` (window or none) with COM1 off, at
/// most `budget` instructions, and a screenshot at exit to `shot`.
fn oxbox_rom(rom: &Path, display: &str, budget: &str, shot: &Path) -> Command {
    let mut c = oxbox();
    c.arg("--bios")
        .arg(rom)
        .args(["--display", display, "--serial", "none"])
        .args(["--max-instructions", budget, "--screenshot"])
        .arg(shot);
    c
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
fn headless_mirrors_seabios_and_its_vga_bios_as_whole_lines() {
    let seabios = Path::new("/usr/share/seabios");
    assert!(
        seabios.join("bios.bin").exists(),
        "SeaBIOS is missing: apt-get install seabios"
    );
    // No disks: SeaBIOS prints its banner through the VGA BIOS (INT 10h
    // teletype, never COM1 in Debian's build), fails to boot and retries.
    let out = oxbox()
        .arg("--bios")
        .arg(seabios.join("bios.bin"))
        .arg("--vga-bios")
        .arg(seabios.join("vgabios-stdvga.bin"))
        .args([
            "--display",
            "none",
            "--serial",
            "stdio",
            "--debugcon",
            "none",
        ])
        .args(["--max-instructions", "150000000"])
        .stdin(Stdio::null())
        .output()
        .expect("run oxbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("SeaBIOS (version")),
        "{stdout}"
    );
    assert!(lines.contains(&"Booting from Hard Disk..."), "{stdout}");
    // Only whole lines: no sample caught a line half-written.
    let whole = [
        "Press ESC for boot menu.",
        "Booting from Floppy...",
        "Booting from Hard Disk...",
        "Boot failed: could not read the boot disk",
        "No bootable device.  Retrying in 60 seconds.",
    ];
    let (last, before) = lines.split_last().expect("some output");
    for l in before {
        assert!(
            l.starts_with("SeaBIOS (version ") && l.ends_with(')') || whole.contains(l),
            "{l:?} in\n{stdout}"
        );
    }
    // The budget may end while a line is being written; the final flush
    // shows what is there, which must be the start of a whole line.
    assert!(
        "SeaBIOS (version ".starts_with(last)
            || last.starts_with("SeaBIOS (version ")
            || whole.iter().any(|w| w.starts_with(last)),
        "{last:?} in\n{stdout}"
    );
}

#[test]
fn without_a_display_the_default_is_headless_with_a_one_line_note() {
    let dir = temp_dir("default");
    let rom = assemble(&dir, "frontend_text", &[]);
    let out = oxbox()
        .env_remove("DISPLAY")
        .arg("--bios")
        .arg(&rom)
        .args(["--serial", "none", "--max-instructions", "200000000"])
        .output()
        .expect("run oxbox");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("headless"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("HELLO FROM THE VGA"),
        "the text mirror ran: {stdout}"
    );
}

#[test]
fn asking_for_a_window_without_a_display_is_an_error() {
    let out = oxbox()
        .env("DISPLAY", ":4999")
        .args(["--display", "window", "--max-instructions", "10"])
        .output()
        .expect("run oxbox");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // One line of error (after, with no disk given, the note that the
    // built-in demo disk boots).
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("built-in demo disk"))
        .collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(errors[0].contains("window"), "{err}");
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

#[test]
fn realtime_paces_an_idle_guest_to_the_wall_clock() {
    let dir = temp_dir("realtime");
    let rom = assemble(&dir, "frontend_idle", &[]);
    let run = |extra: &[&str]| {
        let start = Instant::now();
        let out = oxbox()
            .arg("--bios")
            .arg(&rom)
            .args(["--display", "none", "--serial", "none"])
            .args(extra)
            .output()
            .expect("run oxbox");
        assert_eq!(
            out.status.code(),
            Some((0x13 << 1) | 1),
            "the ROM counted 50 ticks"
        );
        start.elapsed()
    };
    // The guest waits half a second of its own time in HLT.
    let fast = run(&[]);
    let paced = run(&["--realtime"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        fast < Duration::from_millis(400),
        "unthrottled, halted time is skipped: {fast:?}"
    );
    assert!(paced >= Duration::from_millis(480), "--realtime: {paced:?}");
}

// ---- The window under Xvfb ------------------------------------------------

/// A virtual X server on a free display number, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        // Tests run in parallel: each try takes a fresh number.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..20 {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let number = 90 + (std::process::id() % 400) * 10 + n;
            if Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
                || Path::new(&format!("/tmp/.X{number}-lock")).exists()
            {
                continue;
            }
            let display = format!(":{number}");
            // -noreset: by default the server resets when its last client
            // leaves (each xdotool call here), and a client connecting
            // during the reset fails ("XOpenDisplay failed").
            let child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
                .arg("-noreset")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb is needed for the window test (Debian: apt-get install xvfb)");
            let mut x = Xvfb { child, display };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                // Ready when a client can connect.
                let probe = Command::new("xdotool")
                    .env("DISPLAY", &x.display)
                    .arg("getdisplaygeometry")
                    .output();
                if probe.is_ok_and(|o| o.status.success()) {
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
/// colours the ROMs load (load_font and text_dac in roms/vga.inc): 9-dot
/// cells of 16 lines, glyph row r of character c is c ^ (r * 0x11), the
/// ninth dot is background (no line graphics characters here), and colour
/// i is DAC entry i (the ROMs' attribute palette is the identity).
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

/// oxbox with `--display window` on a virtual X server, running a test
/// ROM, with a screenshot at exit.
struct WindowRun {
    // Dropped last: the X server outlives oxbox.
    oxbox: Child,
    window: String,
    shot: PathBuf,
    dir: PathBuf,
    x: Xvfb,
}

impl WindowRun {
    fn start(tag: &str, extra: &[&str]) -> WindowRun {
        WindowRun::start_rom("frontend_keys", tag, extra)
    }

    fn start_rom(rom: &str, tag: &str, extra: &[&str]) -> WindowRun {
        let x = Xvfb::start();
        let dir = temp_dir(tag);
        let rom = assemble(&dir, rom, &[]);
        let shot = dir.join("window.png");
        let mut oxbox = oxbox_rom(&rom, "window", "20000000000", &shot)
            .env("DISPLAY", &x.display)
            .args(extra)
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
        WindowRun {
            oxbox,
            window,
            shot,
            dir,
            x,
        }
    }

    /// Run an xdotool command chain against the window.
    fn xdotool(&self, args: &[&str]) {
        let out = xdotool(&self.x.display, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Press and release each of `keys` (xdotool names; "a+b" holds a
    /// then b together), each held for `hold` seconds: the window polls
    /// its keys at the display rate, so a key must stay down for a frame.
    fn type_keys(&self, keys: &[&str], hold: &str) {
        let mut script = vec!["windowfocus", self.window.as_str()];
        for k in keys {
            let parts: Vec<&str> = k.split('+').collect();
            for p in &parts {
                script.extend(["keydown", p, "sleep", "0.05"]);
            }
            script.extend(["sleep", hold]);
            for p in parts.iter().rev() {
                script.extend(["keyup", p]);
            }
            // The window samples the keyboard once a frame (minifb keeps key
            // states, not events): on a loaded machine a frame can come late,
            // and a release and the next press of the same key falling in
            // one frame would look like one long press.
            script.extend(["sleep", "0.3"]);
        }
        let out = xdotool(&self.x.display, &script);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Wait for oxbox to exit; its status and screenshot.
    fn finish(mut self) -> (Option<i32>, Image) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.oxbox.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.oxbox.kill();
                let mut err = String::new();
                if let Some(mut e) = self.oxbox.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("oxbox did not exit: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.oxbox.wait().unwrap().code();
        let image = read_png(&self.shot);
        let _ = std::fs::remove_dir_all(&self.dir);
        (status, image)
    }
}

/// The banner frontend_keys.asm writes on row 0, and `typed` echoed on
/// row 2.
fn keys_screen(typed: &[u8]) -> Vec<(u32, u32, u8, u8)> {
    let mut cells: Vec<(u32, u32, u8, u8)> = b"TYPE:"
        .iter()
        .enumerate()
        .map(|(i, &c)| (0, i as u32, c, 0x1E))
        .collect();
    cells.extend(
        typed
            .iter()
            .enumerate()
            .map(|(i, &c)| (2, i as u32, c, 0x0F)),
    );
    cells
}

impl Drop for WindowRun {
    fn drop(&mut self) {
        // A failed test must not leave oxbox running.
        let _ = self.oxbox.kill();
        let _ = self.oxbox.wait();
    }
}

/// frontend_keys.asm's exit status after Enter.
const KEYS_DONE: Option<i32> = Some((0x10 << 1) | 1);

#[test]
fn window_echoes_typed_keys_and_the_screenshot_shows_them_in_the_guest_font() {
    let run = WindowRun::start("echo", &[]);
    run.type_keys(
        &[
            "h", "e", "l", "l", "o", "space", "4", "2", "Right", "Left", "KP_6", "Return",
        ],
        "0.1",
    );
    let (status, image) = run.finish();
    assert_eq!(status, KEYS_DONE, "the guest saw Enter");
    // Right and Left arrows arrive with their E0 prefix ('>' and '<');
    // keypad 6 without it ('6').
    assert_image(
        &image,
        (720, 400),
        1,
        text_screen(&keys_screen(b"hello 42><6")),
    );
}

#[test]
fn keys_typed_in_the_window_under_record_replay_headless_to_the_same_state() {
    let dir = temp_dir("record");
    let log = dir.join("keys.log");
    let (recorded, replayed) = (dir.join("rec.oxs"), dir.join("rep.oxs"));
    let run = WindowRun::start(
        "record-window",
        &[
            "--record",
            log.to_str().unwrap(),
            "--savevm",
            recorded.to_str().unwrap(),
        ],
    );
    run.type_keys(&["h", "i", "Return"], "0.1");
    let (status, _) = run.finish();
    assert_eq!(status, KEYS_DONE, "the guest saw Enter");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" key KeyH down\n"), "{text}");
    // The same ROM, headless, with the keys from the log.
    let rom = assemble(&dir, "frontend_keys", &[]);
    let out = oxbox()
        .arg("--bios")
        .arg(&rom)
        .args(["--display", "none", "--serial", "none", "--replay"])
        .arg(&log)
        .arg("--savevm")
        .arg(&replayed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), KEYS_DONE, "{out:?}");
    let (a, b) = (
        std::fs::read(&recorded).unwrap(),
        std::fs::read(&replayed).unwrap(),
    );
    assert!(a == b, "the replayed state differs from the recorded one");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn window_host_keys_reset_the_machine_and_quit_without_reaching_the_guest() {
    let run = WindowRun::start("combos", &[]);
    // Typed before the reset: gone, echoed or not (the reset empties the
    // keyboard controller, the ROM starts over and clears the screen). The
    // R and Q of the combinations never reach the guest.
    run.type_keys(&["a", "b", "ctrl+alt+r"], "0.1");
    std::thread::sleep(Duration::from_millis(300));
    run.type_keys(&["c"], "0.1");
    std::thread::sleep(Duration::from_millis(300));
    run.type_keys(&["ctrl+alt+q"], "0.1");
    let (status, image) = run.finish();
    assert_eq!(status, Some(0), "quitting from the window is a clean exit");
    assert_image(&image, (720, 400), 1, text_screen(&keys_screen(b"c")));
}

#[test]
fn window_key_held_down_repeats_at_the_typematic_rate_in_real_time() {
    // An 8086 at 4.77 MHz: a host keeps up with it even when busy, and
    // --realtime holds guest time to the wall clock, so the keyboard's
    // typematic delay (500 ms at power-on) and rate (10.9/s) play out in
    // about the time the key is held.
    let hold = 2.0;
    let run = WindowRun::start("repeat", &["--cpu", "8086", "--realtime"]);
    run.type_keys(&["x"], &hold.to_string());
    run.type_keys(&["Return"], "0.1");
    let (status, image) = run.finish();
    assert_eq!(status, KEYS_DONE, "the guest saw Enter");
    // How many x's the guest echoed: the cells of row 2 that show an x.
    let full_row = keys_screen(&[b'x'; 80]);
    let expected_x = text_screen(&full_row);
    let shows_x = |col: u32| {
        (32..48).all(|y| {
            (col * 9..col * 9 + 9).all(|x| {
                let got = image.pixels[(y * 720 + x) as usize];
                got.iter()
                    .zip(expected_x(x, y))
                    .all(|(g, w)| g.abs_diff(w) <= 1)
            })
        })
    };
    let n = (0..80).take_while(|&c| shows_x(c)).count();
    // At most: the press, then a repeat every 1/10.9 s after 500 ms, over
    // the hold plus half a second for xdotool's steps and a busy host
    // seeing the release late, since guest time cannot run ahead of the
    // wall clock. At least a few repeats, even if a busy host let the
    // guest fall behind.
    let most = 1 + ((hold + 0.5 - 0.5) * 10.9) as usize;
    assert!((4..=most).contains(&n), "{n} x's, expected 4..={most}");
    let typed = vec![b'x'; n];
    assert_image(&image, (720, 400), 1, text_screen(&keys_screen(&typed)));
}

#[test]
fn window_click_grabs_the_mouse_and_its_motion_and_buttons_reach_the_ps2_mouse() {
    // The mouse reports at its sample rate (100/s) in guest time, so a
    // click must last a sample period of guest time: on an 8086 held to
    // the wall clock it does, however busy the host.
    let run = WindowRun::start_rom("frontend_mouse", "mouse", &["--cpu", "8086", "--realtime"]);
    let w = run.window.clone();
    // The first click grabs (and is not the guest's); then 40 right and
    // 20 up, and a right click.
    // Buttons stay down for 0.3 s: the window polls them at the display
    // rate, and a busy host may poll late.
    run.xdotool(&[
        "mousemove",
        "--window",
        &w,
        "300",
        "200",
        "sleep",
        "0.2",
        "mousedown",
        "1",
        "sleep",
        "0.3",
        "mouseup",
        "1",
        "sleep",
        "0.2",
        "mousemove_relative",
        "40",
        "0",
        "sleep",
        "0.2",
        "mousemove_relative",
        "--",
        "0",
        "-20",
        "sleep",
        "0.2",
        "mousedown",
        "3",
        "sleep",
        "0.3",
        "mouseup",
        "3",
        "sleep",
        "0.2",
    ]);
    run.type_keys(&["Return"], "0.1");
    let (status, image) = run.finish();
    assert_eq!(status, Some((0x14 << 1) | 1), "the guest saw Enter");
    // frontend_mouse.asm's report: buttons ever down, then the X and Y
    // sums (PS/2 counts up as positive) in hex.
    let mut cells: Vec<(u32, u32, u8, u8)> = Vec::new();
    for (row, text) in [(0, &b"MOUSE:"[..]), (2, &b"-R- 0028 0014"[..])] {
        cells.extend(
            text.iter()
                .enumerate()
                .map(|(i, &c)| (row, i as u32, c, 0x07)),
        );
    }
    assert_image(&image, (720, 400), 1, text_screen(&cells));
}

// ---- A guest that halts for good ------------------------------------------

/// The screen frontend_halt.asm halts on.
fn halted_screen(image: &Image) {
    let cells: Vec<(u32, u32, u8, u8)> = b"HALTED"
        .iter()
        .enumerate()
        .map(|(i, &c)| (0, i as u32, c, 0x1E))
        .collect();
    assert_image(image, (720, 400), 1, text_screen(&cells));
}

/// frontend_halt.asm's run ended by itself with status 0, on the halt
/// rather than the instruction budget, with its screen in `shot`.
fn ended_on_the_halt(out: &std::process::Output, shot: &Path) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("budget"),
        "the run ended on the budget: {err}"
    );
    halted_screen(&read_png(shot));
}

/// Run frontend_halt.asm headless with `extra`: it must end on the halt.
fn run_halt_rom_headless(extra: &[&str], tag: &str) {
    let dir = temp_dir(tag);
    let rom = assemble(&dir, "frontend_halt", &[]);
    let shot = dir.join("headless.png");
    let out = oxbox_rom(&rom, "none", "2000000000", &shot)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run oxbox");
    ended_on_the_halt(&out, &shot);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn headless_ends_when_the_guest_halts_with_interrupts_disabled() {
    run_halt_rom_headless(&[], "halt-headless");
}

#[test]
fn headless_with_exit_on_halt_ends_on_the_halt_too() {
    run_halt_rom_headless(&["--exit-on-halt"], "halt-headless-flag");
}

/// Wait until a window whose title matches `pattern` appears.
fn wait_for_title(run: &mut WindowRun, pattern: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = xdotool(&run.x.display, &["search", "--name", pattern]);
        if !out.stdout.is_empty() {
            return;
        }
        if let Ok(Some(status)) = run.oxbox.try_wait() {
            panic!("oxbox exited ({status}) before its title matched {pattern:?}");
        }
        assert!(
            Instant::now() < deadline,
            "no window titled {pattern:?} on {}",
            run.x.display
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn window_keeps_a_halted_guests_last_screen_up_and_says_so_until_closed() {
    let mut run = WindowRun::start_rom("frontend_halt", "halt-window", &[]);
    wait_for_title(&mut run, "^oxbox - guest halted");
    // The halt did not end the run: the window stays until closed.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        run.oxbox.try_wait().unwrap().is_none(),
        "oxbox ended on the halt without --exit-on-halt"
    );
    run.type_keys(&["ctrl+alt+q"], "0.1");
    let (status, image) = run.finish();
    assert_eq!(status, Some(0), "closing the window is a clean exit");
    halted_screen(&image);
}

#[test]
fn window_with_exit_on_halt_ends_the_run_when_the_guest_halts_for_good() {
    let dir = temp_dir("halt-exit");
    let rom = assemble(&dir, "frontend_halt", &[]);
    let x = Xvfb::start();
    let shot = dir.join("window.png");
    let mut oxbox = oxbox_rom(&rom, "window", "20000000000", &shot)
        .env("DISPLAY", &x.display)
        .arg("--exit-on-halt")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oxbox");
    // Nothing is typed: the halt alone must end the run, long before the
    // budget (a minute or more of instructions).
    let deadline = Instant::now() + Duration::from_secs(30);
    while oxbox.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = oxbox.kill();
            let _ = oxbox.wait();
            panic!("oxbox --exit-on-halt did not end when the guest halted");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // (Status 2 would mean that the window did not open.)
    ended_on_the_halt(&oxbox.wait_with_output().unwrap(), &shot);
    drop(x);
    let _ = std::fs::remove_dir_all(&dir);
}
