//! The live proxy's operator side with real mail software: runs
//! `scripts/interop/ops_interop.py`, which sends mail with swaks and Python's smtplib
//! through proxies started with `--log-format json`, `--metrics` and `--quarantine`, parses
//! every JSON log line, scrapes `/metrics` over HTTP, lists and shows the quarantine, and
//! releases a message to Postfix's smtp-sink exactly once (checks (o1)-(o6) in the
//! script's doc).

mod common;

#[test]
fn live_proxy_json_log_metrics_and_quarantine_release() {
    let missing: Vec<String> = ["python3", "swaks", "smtp-sink"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    common::require(&missing, "the live ops interop test");
    common::run_interop_script("ops_interop.py");
}
