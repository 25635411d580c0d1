//! The built-in demo disk (bios/demo.asm) through the oxbox binary, as a
//! newcomer runs it: no disk on the command line, headless. Its COM1 report
//! must show the PIT switching between the two ring-3 tasks, it must end by
//! itself with status 0, and the screen at exit must be mode 13h with each
//! task's colours in its half. Through the library, keys typed on the PS/2
//! keyboard come back on COM1 and Esc ends the demo.

#[path = "common/demo.rs"]
mod demo;
#[path = "common/fonts.rs"]
mod fonts;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use oxbox::cpu::RunExit;
use oxbox::machine::Machine;
use oxbox_devices::ps2::Key;
use oxbox_devices::uart16550::CaptureBackend;

/// One headless run of the demo (it takes a while), shared by the tests.
fn demo_run() -> &'static (Output, PathBuf) {
    static RUN: OnceLock<(Output, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let shot = std::env::temp_dir().join(format!("oxbox-demo-{}.png", std::process::id()));
        let out = Command::new(env!("CARGO_BIN_EXE_oxbox"))
            .args(["--display", "none", "--serial", "stdio"])
            // 5 s of guest time at the default 200 MHz is 1e9 clocks (at most
            // 1e9 instructions); the budget is only a safety net.
            .args(["--max-instructions", "3000000000", "--screenshot"])
            .arg(&shot)
            .output()
            .expect("run oxbox");
        (out, shot)
    })
}

/// "tick N: task A x slices, task B y slices" -> (N, x, y).
fn parse_tick(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix("tick ")?;
    let (n, rest) = rest.split_once(": task A ")?;
    let (a, rest) = rest.split_once(" slices, task B ")?;
    let b = rest.strip_suffix(" slices")?;
    Some((n.parse().ok()?, a.parse().ok()?, b.parse().ok()?))
}

#[test]
fn with_no_disk_the_demo_reports_two_tasks_sharing_the_timer_and_ends_by_itself() {
    let (out, _) = demo_run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("oxbox: no disk given; booting the built-in demo disk"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"oxbox demo: protected mode, paging on, 2 ring-3 tasks"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("unexpected exception"),
        "the demo faulted:\n{stdout}"
    );
    let ticks: Vec<(u64, u64, u64)> = lines.iter().filter_map(|l| parse_tick(l)).collect();
    assert!(ticks.len() >= 2, "periodic reports:\n{stdout}");
    for pair in ticks.windows(2) {
        let ((n0, a0, b0), (n1, a1, b1)) = (pair[0], pair[1]);
        // One report a second at 100 Hz.
        assert_eq!(n1, n0 + 100, "{stdout}");
        // Both tasks got the CPU in that second: the timer switches them.
        assert!(a1 > a0 && b1 > b0, "a task starved:\n{stdout}");
        // Every tick is one task's slice.
        assert_eq!(a1 + b1, n1, "{stdout}");
    }
    let done = lines
        .iter()
        .position(|l| *l == "oxbox demo: done")
        .unwrap_or_else(|| panic!("no done line:\n{stdout}"));
    assert!(
        lines[..done].iter().any(|l| parse_tick(l).is_some()),
        "done before any report:\n{stdout}"
    );
}

/// A 6-bit DAC level as the 8-bit intensity a screenshot holds.
fn dac_level(v: u8) -> u8 {
    ((u32::from(v) * 255 + 31) / 63) as u8
}

#[test]
fn the_demo_screen_at_exit_is_mode_13h_with_each_task_in_its_half_above_the_console() {
    let (out, shot) = demo_run();
    assert_eq!(out.status.code(), Some(0));
    let file = std::fs::File::open(shot).expect("screenshot written");
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!((info.width, info.height), (320, 200), "mode 13h");
    let _ = std::fs::remove_file(shot);
    // The 16 CGA colours are the first 16 DAC entries in mode 13h (IBM VGA
    // BIOS): 1 blue (0, 0, 2Ah), 4 red (2Ah, 0, 0), 9 light blue (15h, 15h,
    // 3Fh), 12 light red (3Fh, 15h, 15h), in 6-bit DAC levels. Task A
    // draws with 4 and 12 on the left, task B with 1 and 9 on the right,
    // above the black key-echo console (y 184-199; nothing was typed).
    let rgb = |r: u8, g: u8, b: u8| [dac_level(r), dac_level(g), dac_level(b)];
    let left = [rgb(0x2A, 0, 0), rgb(0x3F, 0x15, 0x15)];
    let right = [rgb(0, 0, 0x2A), rgb(0x15, 0x15, 0x3F)];
    let near = |p: [u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 1);
    let mut seen = [[false; 2]; 2];
    for y in 0..200usize {
        for x in 0..320usize {
            let i = (y * 320 + x) * 3;
            let p = [buf[i], buf[i + 1], buf[i + 2]];
            if y >= 184 {
                assert_eq!(p, [0; 3], "console pixel ({x}, {y})");
                continue;
            }
            let (half, colours) = if x < 160 { (0, &left) } else { (1, &right) };
            let k = colours
                .iter()
                .position(|&c| near(p, c))
                .unwrap_or_else(|| panic!("pixel ({x}, {y}) is {p:?}, not a colour of its task"));
            seen[half][k] = true;
        }
    }
    assert_eq!(
        seen, [[true; 2]; 2],
        "each half shows its background and its moving bar"
    );
}

#[test]
fn keys_typed_on_the_ps2_keyboard_are_echoed_on_com1_and_screen_and_escape_ends_the_demo() {
    let mut m = demo::oxbios_with_disk(32 << 20, demo::demo_disk());
    let out = CaptureBackend::default();
    m.bus.attach_serial(Box::new(out.clone()));
    // Boot to the banner (the BIOS and the boot take well under a second).
    let banner = "Esc or Q quits\r\n";
    for _ in 0..100 {
        if out.text().contains(banner) {
            break;
        }
        assert_eq!(m.run(10_000_000), RunExit::Budget, "{}", out.text());
    }
    let typed_from = out.text().find(banner).expect("the demo started") + banner.len();
    // 10 ms of guest time down, then up.
    let ten_ms = |m: &mut Machine| {
        let until = m.now().add_nanos(10_000_000);
        assert_eq!(m.run_to(u64::MAX, Some(until)), RunExit::Deadline);
    };
    for key in [
        Key::KeyH,
        Key::KeyI,
        Key::Space,
        Key::Digit4,
        Key::Digit2,
        Key::Enter,
    ] {
        let now = m.now();
        m.bus.kbc.key_event(now, key, true);
        ten_ms(&mut m);
        let now = m.now();
        m.bus.kbc.key_event(now, key, false);
        ten_ms(&mut m);
    }
    let now = m.now();
    m.bus.kbc.key_event(now, Key::Escape, true);
    let mut exit = RunExit::Budget;
    for _ in 0..10 {
        exit = m.run(10_000_000);
        if exit != RunExit::Budget {
            break;
        }
    }
    let all = out.text();
    assert_eq!(exit, RunExit::Halted, "{all}");
    // Only the echo (Enter as CR LF), and any periodic report, between the
    // banner and the goodbye; `lines` drops the CR of each CR LF.
    let typed: String = all[typed_from..]
        .lines()
        .filter(|l| !l.starts_with("tick "))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(typed, "hi 42\n\noxbox demo: bye", "{all}");
    assert!(!all.contains("oxbox demo: done"), "{all}");
    // On screen, Enter moved "hi 42" to the console's first line (y 184):
    // the BIOS's 8x8 glyphs (bios/oxbios/font8x8.inc) in white (DAC entry
    // 15) on black, and the second line is empty.
    let font = fonts::bios_font::<8>();
    let frame = m.bus.vga.render();
    let white = 0xFF_FFFF; // DAC entry 15: (3Fh, 3Fh, 3Fh)
    for (col, ch) in "hi 42      ".bytes().enumerate() {
        for (y, bits) in font[ch as usize].iter().enumerate() {
            for x in 0..8 {
                let want = if bits & (0x80 >> x) != 0 { white } else { 0 };
                let (px, py) = (col as u32 * 8 + x, 184 + y as u32);
                assert_eq!(
                    frame.pixel(px, py),
                    Some(want),
                    "'{}' at ({px}, {py})",
                    ch as char
                );
                assert_eq!(
                    frame.pixel(px, py + 8),
                    Some(0),
                    "second line ({px}, {})",
                    py + 8
                );
            }
        }
    }
}
