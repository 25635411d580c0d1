//! The host debugger's hooks in the CPU: breakpoints, memory watchpoints,
//! I/O and interrupt breaks that oxbox's debugger sets (crate::debugger).
//!
//! They are separate from the guest's own debug registers ([`super::debug`]):
//! nothing here is visible to the guest, raises #DB or changes DR6. The CPU
//! checks them only where it already checks the guest's DR7 breakpoints,
//! through the same armed flags ([`super::debug::DebugRegs::host`]), so a
//! run with no breakpoint set costs nothing more per instruction.
//!
//! A breakpoint stops before its instruction executes (Bochs' `b`/`vb`/
//! `lb`); watchpoints, I/O and interrupt breaks stop at the instruction
//! boundary after the access or the delivery, as Bochs' watchpoints do. A
//! stop is recorded in [`Hooks::stop`] and the run loop returns
//! [`super::RunExit::Debug`].

use super::protected::Source;

/// Where an instruction breakpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakAt {
    /// CS selector and EIP (Bochs' `vb`).
    Virtual { cs: u16, eip: u32 },
    /// Linear address of the instruction (Bochs' `lb`).
    Linear(u32),
    /// Physical address of the instruction (Bochs' `pb`, `b`).
    Physical(u32),
}

/// A memory watchpoint on a physical range (Bochs' `watch`, which is
/// physical too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    pub phys: u32,
    pub len: u32,
    /// Writes (true) or reads (false).
    pub write: bool,
}

/// An I/O breakpoint on a range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoBreak {
    pub port: u16,
    pub len: u16,
}

/// Why the CPU stopped for the debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Breakpoint `index` of [`Hooks::breakpoints`], before its instruction.
    Breakpoint { index: usize },
    /// Watchpoint `index` saw an access; `value` is the written value.
    Watch {
        index: usize,
        lin: u32,
        phys: u32,
        len: u32,
        write: bool,
        value: Option<u32>,
    },
    /// A port access hit I/O breakpoint `index`.
    Io {
        index: usize,
        port: u16,
        len: u32,
        write: bool,
        value: u32,
    },
    /// An interrupt or exception watched with `int N` was delivered; the
    /// CPU is at the handler's first instruction. `from` is CS:EIP where
    /// it was raised (the return address the handler gets).
    Interrupt {
        vector: u8,
        source: Source,
        from: (u16, u32),
    },
}

/// The debugger's breakpoints and the stop they caused.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub breakpoints: Vec<BreakAt>,
    pub watches: Vec<Watch>,
    pub io: Vec<IoBreak>,
    /// One bit per vector: break when it is delivered.
    interrupts: [u64; 4],
    /// The first stop since the debugger last cleared it.
    pub stop: Option<Stop>,
    /// The linear address of the instruction a continue starts from: its
    /// breakpoint has been reported and must not stop it again (cleared
    /// at the first instruction boundary).
    pub resume_at: Option<u32>,
    /// Record every instruction executed into [`Hooks::trace`] (the run
    /// loop takes its careful path, see [`super::debug::HostChecks`]).
    pub tracing: bool,
    /// Instructions recorded while tracing, for the debugger to format.
    pub trace: Vec<TraceRecord>,
}

/// The registers a trace line compares before and after an instruction
/// (general registers in [`super::reg`] order, segments in [`super::seg`]
/// order, CR0, CR2, CR3, CR4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegSnapshot {
    pub gpr: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    pub segs: [u16; 6],
    pub cr: [u32; 4],
}

/// One traced instruction: counters and state before it, its bytes, the
/// state after it (including an exception it raised being delivered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub instructions: u64,
    pub cycles: u64,
    /// Linear address of the instruction.
    pub lin: u32,
    /// Decoded as 32-bit code (CS.D).
    pub code32: bool,
    /// Up to 15 bytes from CS:EIP (`len` of them readable).
    pub bytes: [u8; 15],
    pub len: u8,
    pub before: RegSnapshot,
    pub after: RegSnapshot,
}

impl Hooks {
    /// Break when `vector` is delivered (or stop doing so).
    pub fn set_interrupt_break(&mut self, vector: u8, on: bool) {
        let (word, bit) = ((vector >> 6) as usize, vector & 63);
        if on {
            self.interrupts[word] |= 1 << bit;
        } else {
            self.interrupts[word] &= !(1 << bit);
        }
    }

    #[inline]
    pub fn breaks_on_interrupt(&self, vector: u8) -> bool {
        self.interrupts[(vector >> 6) as usize] & (1 << (vector & 63)) != 0
    }

    /// The vectors `int N` watches, ascending.
    pub fn interrupt_breaks(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|&v| self.breaks_on_interrupt(v))
            .collect()
    }

    pub fn any_interrupt_break(&self) -> bool {
        self.interrupts.iter().any(|&w| w != 0)
    }

    /// Record `stop` unless an earlier one is still unreported.
    pub fn note(&mut self, stop: Stop) {
        if self.stop.is_none() {
            self.stop = Some(stop);
        }
    }

    /// The watchpoint an access of `len` bytes at physical `phys` hits.
    pub fn watch_hit(&self, phys: u32, len: u32, write: bool) -> Option<usize> {
        self.watches.iter().position(|w| {
            w.write == write
                && phys <= w.phys.wrapping_add(w.len - 1)
                && w.phys <= phys.wrapping_add(len - 1)
        })
    }

    /// The I/O breakpoint an access of `len` bytes at `port` hits.
    pub fn io_hit(&self, port: u16, len: u32) -> Option<usize> {
        let (p, end) = (port as u32, port as u32 + len - 1);
        self.io.iter().position(|b| {
            let (s, e) = (b.port as u32, b.port as u32 + b.len.max(1) as u32 - 1);
            p <= e && s <= end
        })
    }
}

impl super::Cpu {
    /// Tell the hot paths what the hooks need checked; call after changing
    /// [`Hooks`]'s breakpoint lists or tracing.
    pub fn rearm_hooks(&mut self) {
        let h = &self.hooks;
        let checks = super::debug::HostChecks {
            exec: !h.breakpoints.is_empty() || h.tracing,
            data: !h.watches.is_empty(),
            io: !h.io.is_empty(),
        };
        self.debug.set_host(checks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_breaks_are_a_bitmap_over_all_vectors() {
        let mut h = Hooks::default();
        h.set_interrupt_break(0, true);
        h.set_interrupt_break(255, true);
        h.set_interrupt_break(64, true);
        assert_eq!(h.interrupt_breaks(), vec![0, 64, 255]);
        h.set_interrupt_break(64, false);
        assert!(!h.breaks_on_interrupt(64) && h.breaks_on_interrupt(255));
    }

    #[test]
    fn watch_and_io_ranges_overlap_partially() {
        let mut h = Hooks::default();
        h.watches.push(Watch {
            phys: 0x1000,
            len: 4,
            write: true,
        });
        assert_eq!(h.watch_hit(0x0FFF, 2, true), Some(0));
        assert_eq!(h.watch_hit(0x1004, 2, true), None);
        assert_eq!(
            h.watch_hit(0x1002, 1, false),
            None,
            "reads do not hit a write watch"
        );
        h.io.push(IoBreak { port: 0x80, len: 1 });
        assert_eq!(h.io_hit(0x7F, 2), Some(0));
        assert_eq!(h.io_hit(0x81, 4), None);
    }

    #[test]
    fn the_first_stop_is_kept() {
        let mut h = Hooks::default();
        h.note(Stop::Breakpoint { index: 1 });
        h.note(Stop::Breakpoint { index: 2 });
        assert_eq!(h.stop, Some(Stop::Breakpoint { index: 1 }));
    }
}
