//! The real IMAP proxy session (core/src/imap/proxy, on a gateway node) in front of the
//! simulated IMAP server, replacing core's test fake: a held fetch is served through the
//! proxy from the server once judged, byte for byte what the server answers the same
//! command directly (I1); a hold that outlasts the server's 30 min autologout is kept alive
//! by the proxy's upstream keepalive, and without it the server logs the session out, which
//! the client then hears (BEHAVIOUR.md I3: the server gives up only when a hold outlasts
//! its autologout).

mod imap;
#[path = "../../core/tests/common/messages.rs"]
#[allow(dead_code)]
mod messages;

use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::policy::Policy;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::imap::{Flags, ImapServerConfig, ImapServerEvent};
use imap::world::ProxyWorld;
use imap::{Conn, store_with};
use messages::{content, message};

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const FETCH: &[u8] = b"f UID FETCH 1 (UID RFC822.SIZE BODY[])\r\n";
const MINUTE: u64 = 60;

fn clean() -> (Vec<u8>, Md5) {
    let file = content("report", 400);
    (message(&[("report.pdf", file.clone())]), Md5::of(&file))
}

/// A world with `m` in bob's INBOX, the client logged in through the proxy with INBOX
/// selected (what it received so far dropped).
fn ready(m: &[u8], policy: Policy, config: ImapConfig, chunk: usize) -> ProxyWorld {
    let mut w = ProxyWorld::new(store_with(&[m]), policy, config, chunk);
    w.connect();
    w.client(b"a1 LOGIN bob secret\r\na2 SELECT INBOX\r\n");
    let text = w.take_client_text();
    assert!(text.ends_with("a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"));
    w
}

/// What the server answers `command` directly, after the same login and SELECT.
fn direct(m: &[u8], command: &[u8]) -> String {
    let mut store = store_with(&[m]);
    let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, usize::MAX);
    c.ready(&mut store);
    c.send(&mut store, command)
}

/// A policy that waits for the data center an hour (the default gives up after 20 min).
fn patient() -> Policy {
    Policy {
        analysis_timeout: Duration::from_secs(60 * MINUTE),
        ..Policy::default()
    }
}

#[test]
fn a_held_fetch_is_served_from_the_server_once_judged() {
    let (m, md5) = clean();
    for chunk in [usize::MAX, 1, 7] {
        let mut w = ready(&m, Policy::default(), ImapConfig::default(), chunk);
        w.client(FETCH);
        w.advance(2 * MINUTE);
        assert_eq!(w.take_client_text(), "", "held until judged (I1)");
        assert_eq!(w.uploads, [md5]);
        // The proxy read the message to judge it without setting \Seen.
        let inbox = w.store.mailbox("bob", "INBOX").expect("inbox");
        assert_eq!(inbox.messages()[0].flags, Flags::NONE);
        w.verdict(md5, ThreatLevel::Clean);
        assert_eq!(w.take_client_text(), direct(&m, FETCH), "split {chunk}");
        let served: Vec<_> = w
            .server_events
            .iter()
            .filter_map(|(t, e)| match e {
                ImapServerEvent::Fetched {
                    items, seen_set, ..
                } if items.iter().any(|i| i == "BODY[]") => Some((t.as_millis() / 1000, *seen_set)),
                _ => None,
            })
            .collect();
        // Read to judge at once, then the client's own fetch after the verdict.
        assert_eq!(served, [(0, false), (2 * MINUTE, true)]);
        let inbox = w.store.mailbox("bob", "INBOX").expect("inbox");
        assert_eq!(inbox.messages()[0].flags, Flags::SEEN);
    }
}

#[test]
fn a_denied_message_never_leaves_the_proxy() {
    let m = message(&[("eicar.com", EICAR.to_vec())]);
    let mut w = ready(&m, Policy::default(), ImapConfig::default(), 5);
    w.client(FETCH);
    w.verdict(Md5::of(EICAR), ThreatLevel::High);
    let text = w.take_client_text();
    assert!(text.contains("f OK Fetch completed"), "{text}");
    assert!(!text.contains("EICAR"), "{text}");
    assert!(
        text.contains("eicar.com"),
        "the notice names the file: {text}"
    );
}

#[test]
fn a_hold_past_the_autologout_is_kept_alive_by_the_proxy() {
    let (m, md5) = clean();
    let mut w = ready(&m, patient(), ImapConfig::default(), usize::MAX);
    w.client(FETCH);
    w.advance(45 * MINUTE);
    w.verdict(md5, ThreatLevel::Clean);
    assert_eq!(w.take_client_text(), direct(&m, FETCH));
    let noops: Vec<u64> = w
        .upstream_lines
        .iter()
        .filter(|(_, l)| l.ends_with(" NOOP"))
        .map(|(t, _)| t.as_millis() / 1000)
        .collect();
    assert_eq!(noops, [10 * MINUTE, 20 * MINUTE, 30 * MINUTE, 40 * MINUTE]);
    assert!(
        !w.server_events
            .iter()
            .any(|(_, e)| matches!(e, ImapServerEvent::Autologout { .. })),
        "each NOOP resets the server's 30 min"
    );
    assert!(!w.client_closed && !w.upstream_closed);
}

#[test]
fn without_the_proxy_keepalive_the_server_logs_the_held_session_out() {
    let (m, md5) = clean();
    let config = ImapConfig {
        upstream_keepalive: Duration::from_secs(40 * MINUTE),
        ..ImapConfig::default()
    };
    let mut w = ready(&m, patient(), config, usize::MAX);
    w.client(FETCH);
    w.advance(30 * MINUTE - 1);
    assert_eq!(w.take_client_text(), "");
    w.advance(1);
    assert!(matches!(
        w.server_events.last(),
        Some((t, ImapServerEvent::Autologout { authenticated: true, .. }))
            if *t == Timestamp::from_millis(30 * MINUTE * 1000)
    ));
    assert!(w.upstream_closed && w.client_closed);
    assert_eq!(
        w.take_client_text(),
        "* BYE Disconnected for inactivity.\r\n* BYE Connection to the mail server lost\r\n"
    );
    // The analysis still ends, but nobody is left to serve.
    w.advance(15 * MINUTE);
    w.verdict(md5, ThreatLevel::Clean);
    assert_eq!(w.take_client_text(), "");
}
