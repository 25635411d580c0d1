//! Building the test programs in `testsuite/roms/` with NASM (Debian's
//! `nasm`, installed by `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directory of the test programs' sources.
pub fn roms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("roms")
}

/// Assemble `testsuite/roms/NAME.asm` into a flat binary image.
pub fn assemble(name: &str) -> Result<Vec<u8>, String> {
    // Tests run in parallel: every assembly gets its own output file.
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!("oxbox-{name}-{}-{seq}.bin", std::process::id()));
    let status = Command::new("nasm")
        .current_dir(roms_dir())
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(format!("{name}.asm"))
        .status()
        .map_err(|e| {
            format!(
                "nasm is needed to build testsuite/roms/{name}.asm ({e}); Debian: apt-get install nasm"
            )
        })?;
    if !status.success() {
        return Err(format!("nasm failed on testsuite/roms/{name}.asm"));
    }
    let image = std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()));
    let _ = std::fs::remove_file(&out);
    image
}
