//! Segment registers, descriptors and their access rights
//! (Intel SDM vol. 3, §3.4 "Logical and linear addresses", §3.4.5 "Segment
//! descriptors", §5 "Protection").

/// Access rights a segment grants to data accesses.
pub mod rights {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
}

/// Descriptor type bits (byte 5 of a descriptor, the "access byte").
pub mod attr {
    /// Present.
    pub const P: u16 = 0x80;
    /// Code or data segment (clear for system descriptors and gates).
    pub const S: u16 = 0x10;
    /// Code segment (with S).
    pub const CODE: u16 = 0x08;
    /// Conforming (code) / expand-down (data).
    pub const CONFORMING: u16 = 0x04;
    pub const EXPAND_DOWN: u16 = 0x04;
    /// Readable (code) / writable (data).
    pub const READABLE: u16 = 0x02;
    pub const WRITABLE: u16 = 0x02;
    /// Accessed.
    pub const ACCESSED: u16 = 0x01;
    /// Default operation size / big (flags nibble, shifted to bit 14 here).
    pub const DB: u16 = 0x4000;
    /// Granularity (4 KiB units), bit 15 here.
    pub const G: u16 = 0x8000;
}

/// System descriptor and gate types (the low four bits with S clear).
pub mod system_type {
    pub const TSS16_AVAILABLE: u8 = 0x1;
    pub const LDT: u8 = 0x2;
    pub const TSS16_BUSY: u8 = 0x3;
    pub const CALL_GATE16: u8 = 0x4;
    pub const TASK_GATE: u8 = 0x5;
    pub const INTERRUPT_GATE16: u8 = 0x6;
    pub const TRAP_GATE16: u8 = 0x7;
    pub const TSS32_AVAILABLE: u8 = 0x9;
    pub const TSS32_BUSY: u8 = 0xB;
    pub const CALL_GATE32: u8 = 0xC;
    pub const INTERRUPT_GATE32: u8 = 0xE;
    pub const TRAP_GATE32: u8 = 0xF;
}

/// A segment register: the visible selector and the hidden descriptor cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub selector: u16,
    pub base: u32,
    /// Byte limit from the descriptor (granularity applied).
    pub limit: u32,
    /// Access byte in bits 0-7 and the flags nibble (AVL, L, D/B, G) in bits
    /// 12-15.
    pub attr: u16,
    /// Lowest and highest valid offsets (expand-down segments are valid
    /// above their limit).
    pub lo: u32,
    pub hi: u32,
    /// [`rights`] for data accesses through this register (0 for a null
    /// selector in protected mode: any access faults).
    pub rights: u8,
}

impl Segment {
    /// A real-mode (or v8086) segment: base = selector × 16, 64 KiB,
    /// read/write.
    pub const fn real(selector: u16) -> Segment {
        Segment {
            selector,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
            attr: attr::P | attr::S | attr::WRITABLE | attr::ACCESSED,
            lo: 0,
            hi: 0xFFFF,
            rights: rights::READ | rights::WRITE,
        }
    }

    /// A null selector loaded into DS/ES/FS/GS in protected mode: loading is
    /// allowed, using it raises #GP(0).
    pub const fn null(selector: u16) -> Segment {
        Segment {
            selector,
            base: 0,
            limit: 0,
            attr: 0,
            lo: 1,
            hi: 0,
            rights: 0,
        }
    }

    /// The cache loaded from a code or data descriptor.
    pub fn from_descriptor(selector: u16, d: &Descriptor) -> Segment {
        let a = d.attr;
        let mut s = Segment {
            selector,
            base: d.base,
            limit: d.limit,
            attr: a,
            lo: 0,
            hi: d.limit,
            rights: 0,
        };
        if a & attr::CODE != 0 {
            if a & attr::READABLE != 0 {
                s.rights = rights::READ;
            }
        } else {
            s.rights = rights::READ;
            if a & attr::WRITABLE != 0 {
                s.rights |= rights::WRITE;
            }
            if a & attr::EXPAND_DOWN != 0 {
                // Valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (B bit).
                s.lo = d.limit.wrapping_add(1);
                s.hi = if a & attr::DB != 0 { u32::MAX } else { 0xFFFF };
            }
        }
        s
    }

    /// The descriptor privilege level.
    #[inline]
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }

    /// D/B: 32-bit code segment or 32-bit stack.
    #[inline]
    pub fn big(&self) -> bool {
        self.attr & attr::DB != 0
    }
}

/// A decoded 8-byte descriptor from the GDT, LDT or IDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub raw: u64,
    pub base: u32,
    /// Byte limit (granularity applied).
    pub limit: u32,
    /// Access byte in bits 0-7, flags nibble in bits 12-15 (as in
    /// [`Segment::attr`]).
    pub attr: u16,
}

impl Descriptor {
    pub fn parse(raw: u64) -> Descriptor {
        let lo = raw as u32;
        let hi = (raw >> 32) as u32;
        let base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000);
        let mut limit = (lo & 0xFFFF) | (hi & 0x000F_0000);
        let attr = (((hi >> 8) & 0xFF) | ((hi >> 8) & 0xF000)) as u16;
        if attr & attr::G != 0 {
            limit = (limit << 12) | 0xFFF;
        }
        Descriptor {
            raw,
            base,
            limit,
            attr,
        }
    }

    #[inline]
    pub fn present(&self) -> bool {
        self.attr & attr::P != 0
    }

    #[inline]
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }

    /// Code or data (S set).
    #[inline]
    pub fn is_segment(&self) -> bool {
        self.attr & attr::S != 0
    }

    #[inline]
    pub fn is_code(&self) -> bool {
        self.is_segment() && self.attr & attr::CODE != 0
    }

    #[inline]
    pub fn is_data(&self) -> bool {
        self.is_segment() && self.attr & attr::CODE == 0
    }

    #[inline]
    pub fn conforming(&self) -> bool {
        self.is_code() && self.attr & attr::CONFORMING != 0
    }

    #[inline]
    pub fn readable(&self) -> bool {
        self.is_data() || self.attr & attr::READABLE != 0
    }

    #[inline]
    pub fn writable_data(&self) -> bool {
        self.is_data() && self.attr & attr::WRITABLE != 0
    }

    /// The type field of a system descriptor or gate.
    #[inline]
    pub fn system_type(&self) -> u8 {
        (self.attr & 0xF) as u8
    }

    /// Gate fields: target selector, offset, parameter count.
    pub fn gate_selector(&self) -> u16 {
        (self.raw >> 16) as u16
    }

    pub fn gate_offset(&self) -> u32 {
        let lo = self.raw as u32 & 0xFFFF;
        let hi = (self.raw >> 48) as u32 & 0xFFFF;
        if matches!(
            self.system_type(),
            system_type::CALL_GATE32 | system_type::INTERRUPT_GATE32 | system_type::TRAP_GATE32
        ) {
            lo | (hi << 16)
        } else {
            lo
        }
    }

    pub fn gate_params(&self) -> u32 {
        ((self.raw >> 32) & 0x1F) as u32
    }

    /// A 32-bit gate (call, interrupt or trap).
    pub fn gate32(&self) -> bool {
        self.system_type() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_fields_are_gathered_from_their_split_positions() {
        // Base 0x12345678, limit 0xABCDE, G=1, D=1, P=1 DPL=3 code readable.
        let raw: u64 = 0x12CA_FA34_5678_BCDE;
        let d = Descriptor::parse(raw);
        assert_eq!(d.base, 0x1234_5678);
        assert_eq!(d.limit, 0xABCD_EFFF);
        assert!(d.present() && d.is_code() && d.readable());
        assert_eq!(d.dpl(), 3);
        assert!(d.attr & attr::DB != 0 && d.attr & attr::G != 0);
    }

    #[test]
    fn expand_down_data_is_valid_above_its_limit() {
        // Data, writable, expand-down, limit 0x0FFF, B=0.
        let raw: u64 = 0x0000_9600_0000_0FFF;
        let s = Segment::from_descriptor(0x10, &Descriptor::parse(raw));
        assert_eq!((s.lo, s.hi), (0x1000, 0xFFFF));
        assert_eq!(s.rights, rights::READ | rights::WRITE);
    }

    #[test]
    fn gate_offset_and_selector() {
        // 32-bit interrupt gate: offset 0x12345678, selector 0x0008, P DPL0.
        let raw: u64 = 0x1234_8E00_0008_5678;
        let d = Descriptor::parse(raw);
        assert_eq!(d.system_type(), system_type::INTERRUPT_GATE32);
        assert_eq!(d.gate_selector(), 8);
        assert_eq!(d.gate_offset(), 0x1234_5678);
    }
}
