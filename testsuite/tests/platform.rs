//! The machine with the AT core logic, from a real-mode test program
//! (testsuite/roms/pc_platform.asm): timer interrupts while halted, counter
//! readback, the RTC; and determinism: the same program run twice ends in
//! the same full machine state.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox_devices::VirtualTime;
use testsuite::nasm::assemble;
use testsuite::rom::run_rom;

/// A hash of everything that makes up the machine's state: CPU registers
/// and counters, all of RAM, and every serialized device.
fn state_hash(m: &Machine) -> u64 {
    let mut h = DefaultHasher::new();
    let c = &m.cpu;
    c.regs.hash(&mut h);
    c.eip.hash(&mut h);
    c.flags_word().hash(&mut h);
    c.cycles.hash(&mut h);
    c.instructions.hash(&mut h);
    for s in &c.segs {
        (s.selector, s.base, s.limit, s.attr).hash(&mut h);
    }
    c.mem().ram().hash(&mut h);
    let b = &m.bus;
    let devices = [
        serde_json::to_string(&b.platform).expect("platform state serializes"),
        serde_json::to_string(&b.kbc).expect("8042 state serializes"),
        serde_json::to_string(&b.serial).expect("UART state serializes"),
        serde_json::to_string(&b.ide).expect("IDE state serializes"),
        serde_json::to_string(&b.vga).expect("VGA state serializes"),
        serde_json::to_string(&b.pci).expect("PCI state serializes"),
    ];
    devices.hash(&mut h);
    h.finish()
}

#[test]
fn timer_interrupts_wake_the_halted_cpu_and_the_rtc_reads_its_start_date() {
    let image = assemble("pc_platform").expect("the test program assembles");
    for model in [CpuModel::I8086, CpuModel::I80286, CpuModel::PentiumPro] {
        // The program uses 386 instructions only in its report (setbe).
        if model < CpuModel::I80386 {
            continue;
        }
        let run = run_rom(
            &image,
            model,
            16 << 20,
            10_000_000,
            Box::new(std::io::sink()),
        )
        .unwrap();
        let out = run.output_text();
        assert_eq!(run.exit, RunExit::Halted, "{out}");
        assert!(
            out.ends_with("PASS\n") && !out.contains("FAIL"),
            "{model}:\n{out}"
        );
        // 100 ticks of ~1 ms each passed in guest time.
        assert!(
            run.machine.now() >= VirtualTime::from_millis(99),
            "{:?}",
            run.machine.now()
        );
        // Idle time was skipped, not executed: far fewer instructions than
        // 100 ms at the CPU clock.
        assert!(
            run.machine.cpu.instructions < 100_000,
            "{}",
            run.machine.cpu.instructions
        );
    }
}

#[test]
fn the_same_guest_run_twice_ends_in_the_same_state() {
    let image = assemble("pc_platform").expect("the test program assembles");
    let hashes: Vec<u64> = (0..2)
        .map(|_| {
            let run = run_rom(
                &image,
                CpuModel::PentiumPro,
                16 << 20,
                10_000_000,
                Box::new(std::io::sink()),
            )
            .unwrap();
            assert!(run.output_text().ends_with("PASS\n"));
            state_hash(&run.machine)
        })
        .collect();
    assert_eq!(hashes[0], hashes[1], "two runs of the same guest diverged");
    // The hash does see the state: a third run cut short differs.
    let short = run_rom(
        &image,
        CpuModel::PentiumPro,
        16 << 20,
        500,
        Box::new(std::io::sink()),
    )
    .unwrap();
    assert_ne!(state_hash(&short.machine), hashes[0]);
}

#[test]
fn com1_output_reaches_its_back_end() {
    let image = assemble("pc_platform").expect("the test program assembles");
    let mut m = Machine::new(
        CpuModel::I80386,
        16 << 20,
        &image,
        Box::new(std::io::sink()),
    )
    .unwrap();
    let backend = oxbox_devices::uart16550::MemoryBackend::new();
    m.bus.attach_serial(Box::new(backend.clone()));
    assert_eq!(m.run(10_000_000), RunExit::Halted);
    assert!(String::from_utf8_lossy(&m.bus.debugcon_log).ends_with("PASS\n"));
    assert_eq!(backend.take_output(), b"S");
}
