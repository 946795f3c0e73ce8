//! The next hop through the live SMTP proxy, with a REAL Postfix as the upstream: runs
//! `scripts/interop/xforward_interop.py`, which starts a private Postfix instance
//! (`scripts/interop/postfix.py`: its own configuration, queue and log in a temporary
//! folder, 127.0.0.1 only, every message held, nothing delivered) and checks (q1)-(q5):
//! Postfix records the original client that the proxy forwarded with XFORWARD, before each
//! transaction and after a reconnect, only when it offers XFORWARD; and it counts the
//! proxy's `Received:` header as a hop. Postfix's master must be started by root: run as
//! another user, the script fails saying so.

mod common;

#[test]
fn postfix_upstream_sees_xforward_and_the_received_hop() {
    let missing: Vec<String> = ["python3", "swaks", "postfix", "postcat"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install postfix swaks python3 (scripts/interop/install-deps.sh).
    common::require(&missing, "the Postfix XFORWARD interop test");
    common::run_interop_script("xforward_interop.py");
}
