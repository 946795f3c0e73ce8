//! Interop of the verdict cache shared by several live proxies (`aptsim proxy smtp --cache
//! redis://…`) with a real Redis: runs `scripts/interop/cache_interop.py`, which starts
//! redis-server on a free loopback port (no persistence), smtp-sink and two hold-mode
//! proxies sharing it, and checks (r1)-(r5) listed in the script's doc: a file judged at one
//! proxy is decided at the other without an upload, one upload for a file sent to both at
//! once (X1 across gateways), and both go on delivering, refusing what they know is bad, when
//! redis-server is killed, and share again when it is back.

mod common;

#[test]
fn live_smtp_proxies_share_verdicts_through_redis() {
    let missing: Vec<String> = ["python3", "redis-server", "redis-cli", "smtp-sink"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install redis-server (redis-cli comes with it, in redis-tools) postfix
    // python3.
    common::require(&missing, "the shared-cache interop test");
    common::run_interop_script("cache_interop.py");
}
