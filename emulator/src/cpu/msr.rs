//! Model-specific registers (Intel SDM vol. 4): the ones oxbox's P6-family
//! identity implements, some with behaviour (TSC, SYSENTER), the rest as
//! storage (APIC base, PAT, MTRRs). An MSR not listed raises #GP(0).

use std::collections::BTreeMap;

pub const TSC: u32 = 0x10;
pub const APIC_BASE: u32 = 0x1B;
/// BIOS_SIGN_ID: the microcode update signature (P6 and later; SDM vol. 4
/// table 2-3). Software writes 0, executes CPUID and reads the loaded
/// update's revision from the high half; oxbox has none, so it reads 0.
pub const BIOS_SIGN_ID: u32 = 0x8B;
pub const MTRR_CAP: u32 = 0xFE;
pub const SYSENTER_CS: u32 = 0x174;
pub const SYSENTER_ESP: u32 = 0x175;
pub const SYSENTER_EIP: u32 = 0x176;
pub const PAT: u32 = 0x277;
pub const MTRR_DEF_TYPE: u32 = 0x2FF;
/// Extended feature enables (NXE, bit 11).
pub const EFER: u32 = 0xC000_0080;

/// Whether `index` is an MSR this CPU has.
pub fn exists(index: u32) -> bool {
    matches!(
        index,
        TSC | APIC_BASE | BIOS_SIGN_ID | MTRR_CAP | SYSENTER_CS | SYSENTER_ESP | SYSENTER_EIP | PAT | MTRR_DEF_TYPE | EFER
            | 0x200..=0x20F // variable-range MTRR base/mask pairs
            | 0x250 | 0x258 | 0x259 | 0x268..=0x26F // fixed-range MTRRs
    )
}

/// The MSR file. TSC is kept as an offset from the cycle counter.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Msrs {
    values: BTreeMap<u32, u64>,
    /// TSC = cycles + tsc_offset.
    pub tsc_offset: u64,
}

impl Default for Msrs {
    fn default() -> Self {
        Msrs::new()
    }
}

impl Msrs {
    pub fn new() -> Msrs {
        let mut values = BTreeMap::new();
        // APIC at its default base, enabled bit clear (no local APIC yet),
        // bootstrap processor.
        values.insert(APIC_BASE, 0xFEE0_0100);
        // 8 variable ranges, fixed ranges and write-combining supported.
        values.insert(MTRR_CAP, 0x508);
        values.insert(PAT, 0x0007_0406_0007_0406);
        Msrs {
            values,
            tsc_offset: 0,
        }
    }

    pub fn read(&self, index: u32) -> u64 {
        self.values.get(&index).copied().unwrap_or(0)
    }

    pub fn write(&mut self, index: u32, value: u64) {
        match index {
            MTRR_CAP | BIOS_SIGN_ID => {}
            // Only NXE is implemented in EFER.
            EFER => {
                self.values.insert(index, value & (1 << 11));
            }
            _ => {
                self.values.insert(index, value);
            }
        }
    }
}
