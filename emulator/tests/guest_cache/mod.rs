//! The real guests `testsuite/guests/build.sh` builds, shared by the
//! guest boot tests: the script runs once per test binary (it downloads
//! the Debian packages once into the git-ignored cache/; `OXBOX_GUESTS`
//! points elsewhere).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build (or refresh) the guest images once per test run and return their
/// directory (the tests of one test binary share them).
pub fn guests() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_guests).clone()
}

fn build_guests() -> PathBuf {
    let dir = std::env::var_os("OXBOX_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("cache/guests"));
    let out = Command::new("bash")
        .arg(repo().join("testsuite/guests/build.sh"))
        .arg(&dir)
        .output()
        .expect("run testsuite/guests/build.sh");
    assert!(
        out.status.success(),
        "testsuite/guests/build.sh failed (it needs Debian's archive through apt-get):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}
