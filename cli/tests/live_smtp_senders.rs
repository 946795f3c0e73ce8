//! Interop of the live SMTP proxy (`aptsim proxy smtp`) with what real senders do at the
//! edges of a message: runs `scripts/interop/sender_interop.py`, checks (l)-(n) listed in
//! the script's doc. A real Exim sends through the proxy and ends its session with "." and
//! QUIT in one write and a half-close (l); Python's smtplib sends bare-LF mail, and raw
//! smuggling attempts, in the proxy's normalize and reject modes (m); the 554 texts stay
//! ASCII and readable (n).
//!
//! Exim is unpacked, not installed, into /var/cache/aptsim-interop/exim or
//! `$APTSIM_EXIM_DIR` by `scripts/interop/install-deps.sh`.

mod common;

use std::path::PathBuf;

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
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    if !exim().is_file() {
        missing.push(format!("exim ({})", exim().display()));
    }
    // Exim is unpacked from Debian's exim4-daemon-light, not installed.
    common::require(&missing, "the live SMTP sender interop test");
    common::run_interop_script("sender_interop.py");
}
