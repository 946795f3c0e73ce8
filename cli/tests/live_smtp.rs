//! Interop of the live SMTP proxy (`aptsim proxy smtp`) with mail software nobody here
//! wrote: runs `scripts/interop/smtp_interop.py`, which puts the proxy between swaks, Python's
//! smtplib and Postfix's smtp-source on one side and Postfix's smtp-sink on the other (checks
//! (a)-(k) are listed in the script's doc).

mod common;

#[test]
fn live_smtp_proxy_with_swaks_smtplib_and_postfix_tools() {
    let missing: Vec<String> = ["python3", "swaks", "smtp-sink", "smtp-source"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install swaks postfix python3; smtp-sink and smtp-source come with
    // postfix.
    common::require(&missing, "the live SMTP interop test");
    common::run_interop_script("smtp_interop.py");
}
