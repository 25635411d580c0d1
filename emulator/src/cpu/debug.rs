//! Debug registers DR0-DR7 and the #DB conditions they raise (Intel SDM
//! vol. 3 ch. 17): instruction breakpoints (faults, suppressed by RF), data
//! breakpoints (traps after the access), single-step (TF) and the
//! general-detect fault on DR access.

use super::Cpu;

/// DR6 bits.
pub mod dr6 {
    pub const B0: u32 = 1 << 0;
    pub const BD: u32 = 1 << 13;
    pub const BS: u32 = 1 << 14;
    pub const BT: u32 = 1 << 15;
    /// Bits that read as one (P6 family).
    pub const FIXED: u32 = 0xFFFF_0FF0;
}

/// DR7 bits.
pub mod dr7 {
    pub const GD: u32 = 1 << 13;
    /// Bit 10 reads as one.
    pub const FIXED: u32 = 1 << 10;
}

/// The debug register file and the breakpoints it arms.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DebugRegs {
    /// DR0-DR3: breakpoint linear addresses.
    pub addr: [u32; 4],
    pub dr6: u32,
    pub dr7: u32,
    /// Any enabled execute breakpoint (checked before each instruction).
    pub exec_armed: bool,
    /// Any enabled data breakpoint (checked on each access).
    pub data_armed: bool,
    /// Any enabled I/O breakpoint (R/W = 10; effective with CR4.DE).
    pub io_armed: bool,
    /// Which checks the host debugger needs ([`super::hooks`]); never
    /// visible to the guest, only folded into the flags below (and not in
    /// a savestate: the session's own are kept, [`DebugRegs::set_host`]).
    #[serde(skip)]
    pub host: HostChecks,
    /// Guest execute/data/I/O breakpoints or host breakpoints: one load
    /// for the run loop's fast-path test.
    pub any_armed: bool,
    /// Guest data breakpoints or host watchpoints: one load per access.
    pub data_check: bool,
    /// Guest I/O breakpoints or host I/O breakpoints.
    pub io_check: bool,
    /// Data breakpoints hit by the current instruction (DR6 B0-B3 bits).
    pub pending: u32,
    /// A task switch entered a TSS with its T flag set: #DB (DR6.BT) is
    /// due before the next instruction.
    pub task_trap: bool,
}

impl Default for DebugRegs {
    fn default() -> Self {
        DebugRegs {
            addr: [0; 4],
            dr6: dr6::FIXED,
            dr7: dr7::FIXED,
            exec_armed: false,
            data_armed: false,
            io_armed: false,
            host: HostChecks::default(),
            any_armed: false,
            data_check: false,
            io_check: false,
            pending: 0,
            task_trap: false,
        }
    }
}

/// What the host debugger's hooks need the CPU to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostChecks {
    /// Instruction breakpoints or tracing: the run loop takes its careful
    /// path at every instruction boundary.
    pub exec: bool,
    /// Watchpoints (data accesses call the slow hook).
    pub data: bool,
    /// I/O breakpoints.
    pub io: bool,
}

impl DebugRegs {
    /// The reset state, keeping the host debugger's checks (a guest reset
    /// does not remove the debugger's breakpoints).
    pub fn after_reset(host: HostChecks) -> DebugRegs {
        let mut d = DebugRegs {
            host,
            ..DebugRegs::default()
        };
        d.rearm();
        d
    }

    /// Set what the host debugger needs checked.
    pub fn set_host(&mut self, host: HostChecks) {
        self.host = host;
        self.rearm();
    }

    fn enabled(&self, i: usize) -> bool {
        self.dr7 & (3 << (2 * i)) != 0
    }

    /// R/W field: 0 execute, 1 write, 2 I/O (with CR4.DE), 3 read/write.
    fn rw(&self, i: usize) -> u32 {
        (self.dr7 >> (16 + 4 * i)) & 3
    }

    /// Breakpoint length in bytes (LEN field: 1, 2, 8, 4).
    fn len(&self, i: usize) -> u32 {
        match (self.dr7 >> (18 + 4 * i)) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        }
    }

    /// Set DR7 and recompute which kinds of breakpoint are armed.
    pub fn set_dr7(&mut self, v: u32) {
        self.dr7 = v | dr7::FIXED;
        self.exec_armed = (0..4).any(|i| self.enabled(i) && self.rw(i) == 0);
        self.data_armed = (0..4).any(|i| self.enabled(i) && self.rw(i) & 1 == 1);
        self.io_armed = (0..4).any(|i| self.enabled(i) && self.rw(i) == 2);
        self.rearm();
    }

    /// Recompute the combined flags the hot paths test.
    fn rearm(&mut self) {
        self.any_armed = self.exec_armed || self.data_armed || self.io_armed || self.host.exec;
        self.data_check = self.data_armed || self.host.data;
        self.io_check = self.io_armed || self.host.io;
    }

    /// Record I/O breakpoints a port access of `len` bytes hits (CR4.DE;
    /// SDM vol. 3 §17.2.5: DRn holds the port address).
    pub fn note_io(&mut self, port: u16, len: u32) {
        for i in 0..4 {
            if !self.enabled(i) || self.rw(i) != 2 {
                continue;
            }
            let blen = self.len(i);
            let start = (self.addr[i] & 0xFFFF) & !(blen - 1);
            let p = port as u32;
            if p <= start + (blen - 1) && start <= p + (len - 1) {
                self.pending |= dr6::B0 << i;
            }
        }
    }

    /// The execute breakpoints matching an instruction at `lin` (B0-B3).
    pub fn exec_hits(&self, lin: u32) -> u32 {
        (0..4)
            .filter(|&i| self.enabled(i) && self.rw(i) == 0 && self.addr[i] == lin)
            .fold(0, |m, i| m | (dr6::B0 << i))
    }

    /// Record data breakpoints an access of `len` bytes at `lin` hits.
    pub fn note_access(&mut self, lin: u32, len: u32, write: bool) {
        for i in 0..4 {
            if !self.enabled(i) {
                continue;
            }
            let rw = self.rw(i);
            if rw == 1 && !write || rw & 1 == 0 {
                continue;
            }
            let blen = self.len(i);
            let start = self.addr[i] & !(blen - 1);
            let overlaps =
                lin <= start.wrapping_add(blen - 1) && start <= lin.wrapping_add(len - 1);
            if overlaps {
                self.pending |= dr6::B0 << i;
            }
        }
    }
}

impl Cpu {
    /// Whether the run loop must take the careful path for debugging
    /// (breakpoints armed).
    #[inline(always)]
    pub fn debug_armed(&self) -> bool {
        self.debug.any_armed
    }
}
