//! Interop of the live SMTP proxy (`aptsim proxy smtp`) with mail software nobody here
//! wrote: runs `scripts/interop/smtp_interop.py`, which puts the proxy between swaks, Python's
//! smtplib and Postfix's smtp-source on one side and Postfix's smtp-sink on the other (checks
//! (a)-(g) are listed in the script's doc).
//!
//! Missing tools are a failure, not a skip: CI installs them with
//! `scripts/interop/install-deps.sh`, and a test that skips itself where they are missing
//! would pass without testing anything.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts smtp-sink and smtp-source, often not on PATH.
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/lib/postfix/sbin"];

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[test]
fn live_smtp_proxy_with_swaks_smtplib_and_postfix_tools() {
    let missing: Vec<&str> = ["python3", "swaks", "smtp-sink", "smtp-source"]
        .into_iter()
        .filter(|p| find(p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "the live SMTP interop test needs {missing:?}, not installed here. Install them with \
         `sudo bash scripts/interop/install-deps.sh` (Debian: apt-get install swaks postfix \
         python3; smtp-sink and smtp-source come with postfix)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the scenarios crate sits in the workspace folder");
    let script = root.join("scripts/interop/smtp_interop.py");
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
