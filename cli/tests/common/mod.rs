//! What the live interop tests share: finding the real mail tools, and running one of the
//! interop scripts against this build's `aptsim`, failing with its whole output.
//!
//! Missing tools are a failure, not a skip: CI installs them with
//! `scripts/interop/install-deps.sh`, and a test that skips itself where they are missing
//! would pass without testing anything.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts smtp-sink and smtp-source, often not on PATH.
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/lib/postfix/sbin"];

/// The program's path on PATH or in the sbin folders, if it is installed.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Fails, naming what is missing and how to install it, unless `missing` is empty.
pub fn require(missing: &[String], what: &str) {
    assert!(
        missing.is_empty(),
        "{what} needs {missing:?}, not installed here. Install them with \
         `sudo bash scripts/interop/install-deps.sh`"
    );
}

/// Runs `scripts/interop/<script>` with this build's `aptsim`; it must exit 0 and print its
/// `N passed, 0 failed` summary.
pub fn run_interop_script(script: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace folder");
    let script = root.join("scripts/interop").join(script);
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_aptsim"))
        .current_dir(root)
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "no summary line from the interop script:\n{stdout}"
    );
}
