//! Protected-mode test programs (testsuite/roms/*.asm): each is assembled
//! with nasm at test time and run through the ROM runner on the 386 and
//! the P6 model, or on the models a program needs (the 286 program on the
//! 286 only). A program prints "ok NAME" or "FAIL NAME ..." per check and
//! ends with "PASS" or "FAILED".

use oxbox::cpu::{CpuModel, RunExit};
use testsuite::nasm::assemble;
use testsuite::rom::{run_rom, RomRun};

fn run_program(name: &str) {
    run_program_on(name, &[CpuModel::I80386, CpuModel::PentiumPro]);
}

fn run_program_on(name: &str, models: &[CpuModel]) {
    let image = assemble(name).expect("the test program assembles");
    for &model in models {
        run_passing(name, &image, model);
    }
}

/// Run a program on `model` and assert that it halted after printing PASS
/// with no failed check and at least five passed ones.
fn run_passing(name: &str, image: &[u8], model: CpuModel) -> RomRun {
    let run = run_rom(
        image,
        model,
        16 << 20,
        10_000_000,
        Box::new(std::io::sink()),
    )
    .expect("ROM accepted");
    let out = run.output_text();
    assert_eq!(
        run.exit,
        RunExit::Halted,
        "{name} on {model} did not halt:\n{out}"
    );
    assert!(!out.contains("FAIL"), "{name} on {model}:\n{out}");
    assert!(
        out.trim_end().ends_with("PASS"),
        "{name} on {model}:\n{out}"
    );
    assert!(
        out.matches("\nok ").count() >= 5,
        "{name} on {model} ran too few checks:\n{out}"
    );
    run
}

#[test]
fn segmentation_checks_and_error_codes() {
    run_program("pm_segments");
}

#[test]
fn privilege_levels_gates_and_stack_switches() {
    run_program("pm_privilege");
}

#[test]
fn paging_faults_accessed_dirty_and_tlb_invalidation() {
    // CR4 (for PSE) exists from the Pentium on.
    run_program_on("pm_paging", &[CpuModel::Pentium, CpuModel::PentiumPro]);
}

#[test]
fn task_switches_busy_bits_links_and_task_gates() {
    run_program("pm_tasks");
}

#[test]
fn virtual_8086_mode_entry_exit_and_iopl_sensitive_instructions() {
    run_program("pm_v86");
}

#[test]
fn debug_registers_single_step_and_alignment_check() {
    // Alignment checking exists from the 486 on.
    run_program_on("pm_debug", &[CpuModel::I80486, CpuModel::PentiumPro]);
}

#[test]
fn pae_paging_large_pages_and_execute_disable() {
    run_program_on("pm_pae", &[CpuModel::PentiumPro]);
}

#[test]
fn virtual_mode_extensions_and_protected_mode_virtual_interrupts() {
    run_program_on("pm_vme", &[CpuModel::Pentium, CpuModel::PentiumPro]);
}

#[test]
fn double_fault_rules_and_io_breakpoints() {
    run_program_on("pm_faults", &[CpuModel::PentiumPro]);
}

#[test]
fn conforming_code_runs_at_the_callers_privilege() {
    run_program("pm_conforming");
}

#[test]
fn sixteen_bit_call_interrupt_and_trap_gates_with_stack_switch_faults() {
    run_program("pm_gate16");
}

#[test]
fn sixteen_bit_task_state_segments_links_busy_bits_and_layout() {
    run_program("pm_tasks16");
}

#[test]
fn the_80286_protected_mode_gates_rings_and_no_386_instructions() {
    run_program_on("pm_286", &[CpuModel::I80286]);
}

#[test]
fn double_fault_table_with_paging_task_gates_and_the_tss_debug_trap() {
    run_program("pm_double_fault");
}

#[test]
fn a_fault_while_delivering_a_double_fault_resets_the_machine() {
    let image = assemble("pm_triple_fault").expect("the test program assembles");
    for model in [CpuModel::I80386, CpuModel::PentiumPro] {
        let run = run_passing("pm_triple_fault", &image, model);
        let out = run.output_text();
        // Two shutdowns, each followed by a restart from the reset vector.
        assert_eq!(run.machine.triple_faults, 2, "{model}:\n{out}");
        assert_eq!(
            out.matches("restarted from the reset vector").count(),
            2,
            "{model}:\n{out}"
        );
    }
}
