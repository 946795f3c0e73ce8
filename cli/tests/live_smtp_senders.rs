//! Interop of the live SMTP proxy (`aptsim proxy smtp`) with what real senders do at the
//! edges of a message: runs `scripts/interop/sender_interop.py`, checks (l)-(n) listed in
//! the script's doc. A real Exim sends through the proxy and ends its session with "." and
//! QUIT in one write and a half-close (l); Python's smtplib sends bare-LF mail, and raw
//! smuggling attempts, in the proxy's normalize and reject modes (m); the 554 texts stay
//! ASCII and readable (n).
//!
//! Missing tools are a failure, not a skip, as in `live_smtp.rs`: CI installs them with
//! `scripts/interop/install-deps.sh` (Exim is unpacked, not installed, into
//! /var/cache/aptsim-interop/exim or `$APTSIM_EXIM_DIR`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts smtp-sink, often not on PATH.
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/lib/postfix/sbin"];

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn exim() -> PathBuf {
    let dir = std::env::var_os("APTSIM_EXIM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/aptsim-interop/exim"));
    dir.join("usr/sbin/exim4")
}

#[test]
fn live_smtp_proxy_with_exim_bare_lf_and_reply_texts() {
    let mut missing: Vec<String> = ["python3", "smtp-sink"]
        .into_iter()
        .filter(|p| find(p).is_none())
        .map(str::to_owned)
        .collect();
    if !exim().is_file() {
        missing.push(format!("exim ({})", exim().display()));
    }
    assert!(
        missing.is_empty(),
        "the live SMTP sender interop test needs {missing:?}, not installed here. Install \
         them with `sudo bash scripts/interop/install-deps.sh` (postfix for smtp-sink; Exim \
         is unpacked from Debian's exim4-daemon-light, not installed)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace folder");
    let script = root.join("scripts/interop/sender_interop.py");
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
