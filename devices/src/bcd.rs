//! Packed BCD, as the 8254 and the MC146818 count in it.
//!
//! Decoding is permissive: a guest may write nibbles A-F, and the chips
//! then count from values no datasheet defines. They decode here as 10-15,
//! which keeps every result in range without panicking.

/// Two BCD digits to binary (0-99 for valid input, at most 165).
pub(crate) fn from_bcd8(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0xF)
}

/// Binary 0-99 to two BCD digits (taken modulo 100).
pub(crate) fn to_bcd8(v: u8) -> u8 {
    let v = v % 100;
    ((v / 10) << 4) | (v % 10)
}

/// Four BCD digits to binary (0-9999 for valid input).
pub(crate) fn from_bcd16(v: u16) -> u32 {
    from_bcd8((v >> 8) as u8) as u32 * 100 + from_bcd8(v as u8) as u32
}

/// Binary to four BCD digits (taken modulo 10000).
pub(crate) fn to_bcd16(v: u32) -> u16 {
    let v = v % 10_000;
    ((to_bcd8((v / 100) as u8) as u16) << 8) | to_bcd8((v % 100) as u8) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_bad_digits() {
        for v in 0..100u8 {
            assert_eq!(from_bcd8(to_bcd8(v)), v);
        }
        for v in [0u32, 1, 9, 10, 99, 100, 1234, 9999] {
            assert_eq!(from_bcd16(to_bcd16(v)), v);
        }
        assert_eq!(to_bcd16(10_000), 0);
        assert_eq!(from_bcd8(0xFF), 165);
        assert_eq!(from_bcd16(0xFFFF), 16665);
    }
}
