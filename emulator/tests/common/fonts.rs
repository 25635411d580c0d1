//! The fonts of oxbox's BIOS as its sources list them
//! (bios/oxbios/font8xN.inc), for tests that check drawn glyphs.

use std::path::Path;

/// The 256 glyphs of the 8xN font, N lines each.
pub fn bios_font<const N: usize>() -> Vec<[u8; N]> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../bios/oxbios/font8x{N}.inc"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let glyphs: Vec<[u8; N]> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("db "))
        .map(|l| {
            let bytes: Vec<u8> = l
                .split(';')
                .next()
                .unwrap()
                .split(',')
                .map(|b| u8::from_str_radix(b.trim().trim_start_matches("0x"), 16).unwrap())
                .collect();
            bytes.try_into().unwrap()
        })
        .collect();
    assert_eq!(glyphs.len(), 256, "{path:?}");
    glyphs
}
