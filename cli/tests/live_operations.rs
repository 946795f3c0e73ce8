//! The live SMTP proxy as an administrator runs it: runs
//! `scripts/interop/operations_interop.py` — a configuration file with flags over it,
//! several listening addresses and upstream failover (o1), SIGTERM draining held messages
//! (o2), SIGHUP reloads that keep the verdict cache (o3) — with Python's smtplib as the
//! sender and Postfix's smtp-sink as the upstream.

mod common;

#[test]
fn live_smtp_proxy_config_file_signals_and_failover() {
    let missing: Vec<String> = ["python3", "smtp-sink"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    common::require(&missing, "the live operations interop test");
    common::run_interop_script("operations_interop.py");
}
