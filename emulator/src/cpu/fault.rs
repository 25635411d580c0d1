//! Exceptions as values.
//!
//! Every memory access, descriptor load and decode step returns
//! `Result<_, Fault>`; `?` carries the fault to [`crate::cpu::Cpu::step`],
//! which rolls EIP back to the faulting instruction and delivers the
//! exception. Nothing in the CPU panics or unwinds on guest behaviour.

use std::fmt;

/// Exception vectors (Intel SDM vol. 3, §6.3.1, table 6-1).
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
}

/// A fault raised by an instruction: the vector and, for the exceptions that
/// push one in protected mode, the error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: Option<u32>,
}

impl Fault {
    #[inline]
    pub const fn new(vector: u8) -> Fault {
        Fault {
            vector,
            error_code: None,
        }
    }

    #[inline]
    pub const fn with_code(vector: u8, code: u32) -> Fault {
        Fault {
            vector,
            error_code: Some(code),
        }
    }

    pub const fn ud() -> Fault {
        Fault::new(vector::UD)
    }

    pub const fn de() -> Fault {
        Fault::new(vector::DE)
    }

    pub const fn gp(code: u32) -> Fault {
        Fault::with_code(vector::GP, code)
    }

    pub const fn ss(code: u32) -> Fault {
        Fault::with_code(vector::SS, code)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.vector {
            vector::DE => "#DE",
            vector::DB => "#DB",
            vector::NMI => "NMI",
            vector::BP => "#BP",
            vector::OF => "#OF",
            vector::BR => "#BR",
            vector::UD => "#UD",
            vector::NM => "#NM",
            vector::DF => "#DF",
            vector::TS => "#TS",
            vector::NP => "#NP",
            vector::SS => "#SS",
            vector::GP => "#GP",
            vector::PF => "#PF",
            vector::MF => "#MF",
            vector::AC => "#AC",
            _ => "exception",
        };
        write!(f, "{name} (vector {})", self.vector)?;
        if let Some(code) = self.error_code {
            write!(f, " error code {code:#x}")?;
        }
        Ok(())
    }
}

pub type Result<T> = std::result::Result<T, Fault>;

/// Exception classes for the double-fault rule (SDM vol. 3 §6.15,
/// interrupt 8, table 6-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Benign,
    Contributory,
    PageFault,
}

pub fn class(v: u8) -> Class {
    match v {
        vector::DE | vector::TS | vector::NP | vector::SS | vector::GP => Class::Contributory,
        vector::PF => Class::PageFault,
        _ => Class::Benign,
    }
}

/// Whether a `second` exception raised while delivering `first` becomes a
/// double fault (table 6-5); otherwise the two are handled serially.
pub fn is_double_fault(first: u8, second: u8) -> bool {
    matches!(
        (class(first), class(second)),
        (Class::Contributory, Class::Contributory)
            | (Class::PageFault, Class::Contributory | Class::PageFault)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_fault_table_6_5() {
        assert!(is_double_fault(vector::GP, vector::NP));
        assert!(is_double_fault(vector::PF, vector::PF));
        assert!(is_double_fault(vector::PF, vector::GP));
        assert!(!is_double_fault(vector::GP, vector::PF));
        assert!(!is_double_fault(vector::UD, vector::GP));
        assert!(!is_double_fault(vector::BP, vector::PF));
    }
}
