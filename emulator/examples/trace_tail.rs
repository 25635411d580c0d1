//! Run a firmware image instruction by instruction and print the last
//! instructions and exceptions before the CPU shuts down (or the budget
//! runs out): a quick look at where a guest goes wrong.
//!
//! cargo run --release -p oxbox --example trace_tail -- /usr/share/seabios/bios.bin p6 20000000

use std::collections::VecDeque;

use oxbox::cpu::{seg, CpuModel};
use oxbox::machine::Machine;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("ROM path");
    let model: CpuModel = args
        .next()
        .unwrap_or_else(|| "p6".into())
        .parse()
        .expect("model");
    let budget: u64 = args
        .next()
        .map_or(20_000_000, |s| s.parse().expect("count"));
    let rom = std::fs::read(&path).expect("read ROM");
    let mut m = Machine::new(model, 32 << 20, &rom, Box::new(std::io::sink())).expect("ROM");
    m.reset_on_triple_fault = false;
    let mut tail: VecDeque<String> = VecDeque::new();
    for _ in 0..budget {
        let cs = m.cpu.segs[seg::CS].selector;
        let eip = m.cpu.eip;
        let exit = m.run(1);
        let line = format!(
            "{cs:04x}:{eip:08x} eax={:08x} esp={:08x} {exit:?}",
            m.cpu.regs[0], m.cpu.regs[4]
        );
        tail.push_back(line);
        if tail.len() > 400 {
            tail.pop_front();
        }
        if exit == oxbox::cpu::RunExit::Shutdown || exit == oxbox::cpu::RunExit::Halted {
            println!("{exit:?} after {} instructions", m.cpu.instructions);
            break;
        }
    }
    for l in tail {
        println!("{l}");
    }
    println!(
        "CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}",
        m.cpu.cr0, m.cpu.cr2, m.cpu.cr3, m.cpu.cr4
    );
}
