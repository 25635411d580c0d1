//! The machine with the AT core logic, from a real-mode test program
//! (testsuite/roms/pc_platform.asm): timer interrupts while halted, counter
//! readback, the RTC; and determinism: the same program run twice ends in
//! the same full machine state.

use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox_devices::VirtualTime;
use testsuite::nasm::assemble;
use testsuite::rom::run_rom;

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
            run.machine.state_hash()
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
    assert_ne!(short.machine.state_hash(), hashes[0]);
}

#[test]
fn a_state_saved_while_the_timer_runs_resumes_to_the_same_end() {
    let image = assemble("pc_platform").expect("the test program assembles");
    let run = |n| {
        run_rom(
            &image,
            CpuModel::PentiumPro,
            16 << 20,
            n,
            Box::new(std::io::sink()),
        )
        .unwrap()
    };
    let whole = run(10_000_000);
    assert_eq!(whole.exit, RunExit::Halted);
    // Partway through the 100 timer ticks (the program halts between them).
    let half = run(whole.machine.cpu.instructions / 2);
    assert_eq!(half.exit, RunExit::Budget);
    let mut file = Vec::new();
    let mut first = half.machine;
    first.snapshot().unwrap().write_to(&mut file).unwrap();
    let state = oxbox::savestate::Snapshot::read_from(&file[..]).unwrap();
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        16 << 20,
        &image,
        Box::new(std::io::sink()),
    )
    .unwrap();
    m.bus.print_post = true;
    m.restore(&state).unwrap();
    assert_eq!(m.run(10_000_000), RunExit::Halted);
    assert_eq!(m.state_hash(), whole.machine.state_hash());
    let output = [half.output, m.bus.debugcon_log].concat();
    assert_eq!(String::from_utf8_lossy(&output), whole.output_text());
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
