//! The CPU test-ROM runner: a firmware image mapped at the top of the first
//! MiB and of the 4 GiB space, run from the reset vector with RAM and the
//! debug ports, until the CPU halts with interrupts disabled or an
//! instruction budget runs out.

use std::io::Write;
use std::path::Path;

use oxbox::cpu::{flags, reg, seg, CpuModel, RunExit};
use oxbox::machine::Machine;

/// How a ROM run ended, with everything it printed.
pub struct RomRun {
    pub exit: RunExit,
    /// Bytes the program wrote to the debug console (with `POST xx` lines
    /// interleaved when requested).
    pub output: Vec<u8>,
    pub post_codes: Vec<u8>,
    pub machine: Machine,
}

impl RomRun {
    pub fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The final register state, one line per group, as the runner prints
    /// it.
    pub fn register_lines(&self) -> Vec<String> {
        let c = &self.machine.cpu;
        let r = &c.regs;
        vec![
            format!(
                "EAX={:08x} EBX={:08x} ECX={:08x} EDX={:08x}",
                r[reg::AX],
                r[reg::BX],
                r[reg::CX],
                r[reg::DX]
            ),
            format!(
                "ESI={:08x} EDI={:08x} EBP={:08x} ESP={:08x}",
                r[reg::SI],
                r[reg::DI],
                r[reg::BP],
                r[reg::SP]
            ),
            format!(
                "EIP={:08x} EFLAGS={:08x} CPL={} CR0={:08x} CR2={:08x} CR3={:08x}",
                c.eip,
                c.flags_word(),
                c.cpl,
                c.cr0,
                c.cr2,
                c.cr3
            ),
            format!(
                "CS={:04x} SS={:04x} DS={:04x} ES={:04x} FS={:04x} GS={:04x}",
                c.segs[seg::CS].selector,
                c.segs[seg::SS].selector,
                c.segs[seg::DS].selector,
                c.segs[seg::ES].selector,
                c.segs[seg::FS].selector,
                c.segs[seg::GS].selector
            ),
            format!(
                "instructions={} halted={} IF={}",
                c.instructions,
                c.is_halted(),
                c.flags_word() & flags::IF != 0
            ),
        ]
    }
}

/// Run `image` on `model` with `ram` bytes of RAM. The debug console goes to
/// `out` as well as into the returned log; POST bytes become `POST xx`
/// lines.
pub fn run_rom(
    image: &[u8],
    model: CpuModel,
    ram: usize,
    max_instructions: u64,
    out: Box<dyn Write + Send>,
) -> Result<RomRun, String> {
    if ![64 * 1024, 128 * 1024, 256 * 1024].contains(&image.len()) && image.len() > 256 * 1024 {
        return Err(format!(
            "a test ROM is 64, 128 or 256 KiB; this one is {} bytes",
            image.len()
        ));
    }
    let mut machine = Machine::new(model, ram, image, out).map_err(|e| e.to_string())?;
    machine.bus.print_post = true;
    let exit = machine.run(max_instructions);
    Ok(RomRun {
        exit,
        output: machine.bus.debugcon_log.clone(),
        post_codes: machine.bus.post_log.clone(),
        machine,
    })
}

/// Read a ROM file and run it.
pub fn run_rom_file(
    path: &Path,
    model: CpuModel,
    ram: usize,
    max_instructions: u64,
    out: Box<dyn Write + Send>,
) -> Result<RomRun, String> {
    let image = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    run_rom(&image, model, ram, max_instructions, out)
}
