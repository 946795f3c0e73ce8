//! X2 after the decision: a held message decided for delivery is answered `451 4.7.0` at the
//! X2 deadline if its body has not gone upstream by then, so that the sender retries rather
//! than times out; once the body is out, the upstream's answer is the sender's.

mod common;

use std::time::Duration;

use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::TxnResult;
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::hold_policy;

fn x2_policy() -> Policy {
    Policy {
        tempfail_deadline: Some(Duration::from_secs(540)),
        ..hold_policy()
    }
}

#[test]
fn x2_answers_451_when_the_upstream_does_not_take_data_in_time() {
    let mut h = Harness::ready(x2_policy());
    let file = h.hold_one("a");
    h.advance(300);
    h.verdict(file, ThreatLevel::Clean);
    assert_eq!(h.take_upstream(), "DATA\r\n");
    // The upstream is cut or slow: no 354.
    h.advance(239);
    assert_eq!(h.take_client(), "", "nothing before the deadline");
    h.advance(1);
    let reply = h.take_client();
    assert!(reply.starts_with("451 4.7.0 "), "{reply}");
    assert!(
        h.upstream_closed,
        "the server waiting for a body is dropped"
    );
    // The 354 that comes late gets no body.
    h.upstream(b"354 go\r\n");
    assert_eq!(h.take_upstream(), "");
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}

#[test]
fn x2_does_not_fire_once_the_body_is_relayed() {
    let mut h = Harness::ready(x2_policy());
    let file = h.hold_one("a");
    h.advance(300);
    h.relay_clean(file);
    // Past the X2 deadline (540 s), within the upstream's reply time (300 s).
    h.advance(280);
    assert_eq!(
        h.take_client(),
        "",
        "committed: no 451 once the body is out"
    );
    h.upstream(b"250 2.0.0 queued\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 queued\r\n");
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
}

/// X2 fires while the proxy is still reconnecting to give the server the envelope again:
/// the half-replayed connection is dropped, so the sender's next transaction starts clean
/// (no "nested MAIL" from a stale envelope).
#[test]
fn x2_during_a_reconnect_drops_the_half_replayed_connection() {
    let mut h = Harness::ready(x2_policy());
    let file = h.hold_one("a");
    // The server drops the idle connection during the hold (Postfix smtpd_timeout).
    h.advance(300);
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    h.advance(220);
    let connects = h.connects;
    h.verdict(file, ThreatLevel::Clean);
    assert_eq!(h.connects, connects + 1, "reconnecting to relay");
    h.advance(20);
    assert!(h.take_client().starts_with("451 4.7.0 "));
    assert!(h.upstream_closed, "the reconnect is given up");
    // The next transaction reconnects and replays nothing of the old one.
    h.client(b"MAIL FROM:<next@example.com>\r\n");
    assert_eq!(h.connects, connects + 2);
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.drain();
    h.upstream(b"220 mx ESMTP\r\n");
    let sent = h.take_upstream();
    assert!(
        !sent.contains("alice@example.com"),
        "stale envelope replayed: {sent}"
    );
}
