//! The GDB remote stub (`--gdb`): Debian's gdb attached to oxbox running
//! the debugger test guest (tests/roms/debugger_guest.asm, real mode at
//! F000:0000, so linear 0xF0000 + offset), and gdb's interrupt byte
//! stopping a guest that never stops by itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbox-gdb-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nasm(src: &Path, out: &Path) {
    let status = Command::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(out)
        .arg(src)
        .status()
        .expect("nasm is needed (Debian: apt-get install nasm)");
    assert!(status.success(), "nasm failed on {}", src.display());
}

/// oxbox, killed if a failing test leaves it running.
struct Oxbox(Child);

impl Drop for Oxbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// oxbox on `rom` with the stub on a free port (and `extra` arguments);
/// returns the child and the port it printed.
fn start(rom: &Path, extra: &[&str]) -> (Oxbox, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxbox"))
        .arg("--bios")
        .arg(rom)
        .args(["--display", "none", "--gdb", "tcp::0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("oxbox: gdb stub listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    (Oxbox(child), port)
}

#[test]
fn gdb_breaks_in_real_mode_code_reads_registers_and_memory_steps_and_reaches_the_monitor() {
    if Command::new("gdb").arg("--version").output().is_err() {
        panic!("gdb is needed for this test (Debian: apt-get install gdb)");
    }
    let dir = temp_dir("batch");
    let rom = dir.join("debugger_guest.bin");
    nasm(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roms/debugger_guest.asm"),
        &rom,
    );
    let (mut child, port) = start(&rom, &["-S"]);
    let target = format!("target remote 127.0.0.1:{port}");
    let out = Command::new("timeout")
        .args(["60", "gdb", "-batch", "-nx"])
        .args(["-ex", "set architecture i386", "-ex", &target])
        .args(["-ex", "break *0xf0040", "-ex", "continue"])
        .args(["-ex", "info registers eip eax ebx cs"])
        .args(["-ex", "x/4xb 0xf0040"])
        .args(["-ex", "stepi", "-ex", "info registers eip eax"])
        .args(["-ex", "reverse-stepi", "-ex", "info registers eip eax"])
        .args(["-ex", "stepi"])
        .args(["-ex", "watch *(short*)0x500", "-ex", "continue"])
        .args(["-ex", "set {char}0x600 = 0x5a", "-ex", "x/1xb 0x600"])
        .args(["-ex", "hbreak *0xf0060", "-ex", "continue"])
        .args(["-ex", "info registers al"])
        .args(["-ex", "monitor x /2b 0xF000:0x40", "-ex", "monitor r"])
        .args(["-ex", "kill"])
        .output()
        .unwrap();
    finish(&mut child);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // The breakpoint at F000:0040 stops there: gdb's $eip is linear.
    assert!(text.contains("Breakpoint 1, 0x000f0040"), "{text}");
    let regs = regex_lines(&text, &["eip ", "eax ", "ebx ", "cs "]);
    assert_eq!(
        regs,
        ["eip 0xf0040", "eax 0x1234", "ebx 0x5678", "cs 0xf000"],
        "{text}"
    );
    // add ax, bx (01 D8); mov [0x500], ax (A3 00 05).
    assert!(text.contains("0xf0040:\t0x01\t0xd8\t0xa3\t0x00"), "{text}");
    // One instruction: AX = 0x1234 + 0x5678.
    assert!(text.contains("0x000f0042 in ??"), "{text}");
    assert!(text.contains("eax            0x68ac"), "{text}");
    // reverse-stepi: back before the ADD, AX as it was.
    let eax: Vec<&str> = text.lines().filter(|l| l.starts_with("eax ")).collect();
    let eip: Vec<&str> = text.lines().filter(|l| l.starts_with("eip ")).collect();
    assert!(
        eax.len() >= 3 && eax[2].contains("0x1234") && eip[2].contains("0xf0040"),
        "{text}"
    );
    // The watchpoint sees the store and stops after it.
    assert!(text.contains("New value = 26796"), "{text}");
    assert!(text.contains("0x000f0045 in ??"), "{text}");
    // A memory write, read back.
    assert!(text.contains("0x600:\t0x5a"), "{text}");
    // The hardware breakpoint at OUT 0x80, after the loop set AL.
    assert!(text.contains("Breakpoint 3, 0x000f0060"), "{text}");
    assert!(text.contains("al             0x42"), "{text}");
    // The built-in debugger's commands: segment:offset memory, and its
    // register dump (EIP as the CPU has it, not linear).
    assert!(text.contains("0x000f0040: 0x01 0xd8"), "{text}");
    assert!(text.contains("eip: 0x00000060"), "{text}");
}

/// The first whitespace-separated two fields of each line starting with
/// one of `names`, in order.
fn regex_lines(text: &str, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for name in names {
        if let Some(l) = text.lines().find(|l| l.starts_with(name)) {
            found.push(l.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        }
    }
    found
}

/// Read one `$...#xx` packet, skipping acks.
fn packet(s: &mut TcpStream) -> String {
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b).unwrap();
        if b[0] == b'$' {
            break;
        }
    }
    let mut body = Vec::new();
    loop {
        s.read_exact(&mut b).unwrap();
        if b[0] == b'#' {
            break;
        }
        body.push(b[0]);
    }
    let mut sum = [0u8; 2];
    s.read_exact(&mut sum).unwrap();
    s.write_all(b"+").unwrap();
    unrun(&String::from_utf8(body).unwrap())
}

/// Undo the protocol's run-length encoding: `X*n` is X and then
/// `n - 29` more of it.
fn unrun(body: &str) -> String {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '*' {
            let n = chars.next().unwrap() as usize - 29;
            let last = out.chars().last().unwrap();
            out.extend(std::iter::repeat_n(last, n));
        } else {
            out.push(c);
        }
    }
    out
}

fn send(s: &mut TcpStream, body: &str) {
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    write!(s, "${body}#{sum:02x}").unwrap();
}

#[test]
fn gdb_attaches_to_a_running_guest_and_its_interrupt_byte_stops_it() {
    let dir = temp_dir("interrupt");
    let src = dir.join("spin.asm");
    std::fs::write(
        &src,
        "bits 16\norg 0\nstart: jmp start\ntimes 0xFFF0-($-$$) db 0xFF\n\
         jmp 0xF000:start\ntimes 0x10000-($-$$) db 0xFF\n",
    )
    .unwrap();
    let rom = dir.join("spin.bin");
    nasm(&src, &rom);
    // Without -S the guest runs until gdb attaches, which stops it.
    let (mut child, port) = start(&rom, &[]);
    std::thread::sleep(Duration::from_millis(200));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    send(&mut s, "?");
    let _ = packet(&mut s);
    // Stopped in the loop, not at the reset vector (linear 0xFFFFFFF0).
    send(&mut s, "g");
    let regs = packet(&mut s);
    // The 9th 32-bit register, little-endian: linear 0xF0000.
    assert_eq!(&regs[64..72], "00000f00", "$eip in {regs}");
    send(&mut s, "c");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&[0x03]).unwrap();
    let stop = packet(&mut s);
    // SIGINT (2), as gdb expects after its interrupt.
    assert!(stop.starts_with("S02") || stop.starts_with("T02"), "{stop}");
    send(&mut s, "k");
    drop(s);
    finish(&mut child);
}

/// The stub ends the run after `kill`; a hung oxbox fails the test.
fn finish(child: &mut Oxbox) {
    let child = &mut child.0;
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("oxbox did not end after gdb's kill");
}
