//! How a run ends when the guest stops the CPU for good (HLT with
//! interrupts disabled, as Linux's `poweroff -f` does without ACPI): the
//! devices run on briefly, as they would on the real machine, so the bytes
//! still queued in a UART's FIFO reach the serial back end.

use oxbox::cpu::{CpuModel, RunExit};
use oxbox::machine::Machine;
use oxbox_devices::uart16550::CaptureBackend;

/// A 4 KiB ROM: program COM1 for 9600 baud 8N1 with its FIFO on, queue
/// "ABCDEFGHIJKLMNOP" (16 bytes, about 17 ms on the line), then CLI; HLT.
fn rom() -> Vec<u8> {
    let code = [
        0xBA, 0xFB, 0x03, 0xB0, 0x80, 0xEE, // LCR: DLAB
        0xBA, 0xF8, 0x03, 0xB0, 0x0C, 0xEE, // DLL = 12 (9600 baud)
        0x42, 0xB0, 0x00, 0xEE, // DLM = 0
        0xBA, 0xFB, 0x03, 0xB0, 0x03, 0xEE, // LCR: 8N1
        0xBA, 0xFA, 0x03, 0xB0, 0x01, 0xEE, // FCR: FIFO on
        0xBA, 0xF8, 0x03, 0xB0, 0x41, 0xB9, 0x10, 0x00, // dx = THR, al = 'A', cx = 16
        0xEE, 0xFE, 0xC0, 0xE2, 0xFB, // out dx, al; inc al; loop
        0xFA, 0xF4, // cli; hlt
    ];
    let mut rom = vec![0xF4; 4096];
    rom[..code.len()].copy_from_slice(&code);
    // Reset vector F000:FFF0 (ROM offset 0xFF0): jmp near to F000:F000.
    rom[0xFF0..0xFF3].copy_from_slice(&[0xE9, 0x0D, 0xF0]);
    rom
}

#[test]
fn a_uart_fifo_drains_after_the_cpu_stops_for_good() {
    let out = CaptureBackend::default();
    let mut m = Machine::new(
        CpuModel::PentiumPro,
        1 << 20,
        &rom(),
        Box::new(std::io::sink()),
    )
    .expect("machine");
    m.bus.attach_serial(Box::new(out.clone()));
    assert_eq!(m.run(1_000_000), RunExit::Halted);
    assert_eq!(out.text(), "ABCDEFGHIJKLMNOP");
}
