//! Shutting the gateway down without cutting anyone off: idle sessions get `421 4.3.2` at
//! once, a held message is let finish within the grace period, and what is still held
//! when it ends gets `421 4.3.2` — never a bare disconnect, never a delivery later.

mod common;

use aptsim_core::smtp::proxy::{Drained, TxnResult};
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::hold_policy;

#[test]
fn an_idle_session_is_told_421_at_once() {
    let mut h = Harness::ready(hold_policy());
    let drained = h.s.shut_down(false, &mut h.gw, h.now);
    h.drain();
    assert_eq!(drained, Drained::Idle);
    assert!(h.take_client().starts_with("421 4.3.2 "));
    assert!(h.client_closed);
    assert_eq!(h.take_upstream(), "QUIT\r\n");
}

#[test]
fn a_held_message_finishes_then_the_session_closes() {
    let mut h = Harness::ready(hold_policy());
    let file = h.hold_one("a");
    let drained = h.s.shut_down(false, &mut h.gw, h.now);
    h.drain();
    assert_eq!(drained, Drained::Busy);
    assert_eq!(h.take_client(), "", "still held");
    h.advance(30);
    h.relay_clean(file);
    h.upstream(b"250 2.0.0 queued\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 queued\r\n");
    assert!(!h.client_closed, "the sender may still QUIT");
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
    // A next message is refused, temporarily.
    h.client(b"MAIL FROM:<next@example.com>\r\n");
    assert!(h.take_client().starts_with("421 4.3.2 "));
    assert!(h.client_closed);
}

#[test]
fn a_quit_after_the_last_reply_gets_its_221() {
    let mut h = Harness::ready(hold_policy());
    let file = h.hold_one("a");
    h.s.shut_down(false, &mut h.gw, h.now);
    h.drain();
    h.relay_clean(file);
    h.upstream(b"250 2.0.0 queued\r\n");
    h.client(b"QUIT\r\n");
    assert_eq!(
        h.take_client(),
        "250 2.0.0 queued\r\n221 2.0.0 aptsim-proxy Bye\r\n"
    );
    assert!(h.client_closed);
}

#[test]
fn past_the_grace_period_a_held_message_gets_421_and_is_never_delivered() {
    let mut h = Harness::ready(hold_policy());
    let file = h.hold_one("a");
    h.s.shut_down(false, &mut h.gw, h.now);
    h.drain();
    h.advance(30);
    let drained = h.s.shut_down(true, &mut h.gw, h.now);
    h.drain();
    assert_eq!(drained, Drained::Idle);
    assert!(h.take_client().starts_with("421 4.3.2 "));
    assert!(h.client_closed);
    h.verdict(file, ThreatLevel::Clean);
    assert!(!h.take_upstream().contains("DATA"), "never delivered later");
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}

/// The grace period ends while the body is out and its reply not back: a 421 then would
/// make the sender deliver again, so the upstream's answer is awaited and relayed.
#[test]
fn a_body_already_relayed_is_answered_by_the_upstream_not_cut_short() {
    let mut h = Harness::ready(hold_policy());
    let file = h.hold_one("a");
    h.relay_clean(file);
    let drained = h.s.shut_down(true, &mut h.gw, h.now);
    h.drain();
    assert_eq!(drained, Drained::Busy);
    assert_eq!(h.take_client(), "", "no 421 while the upstream decides");
    h.upstream(b"250 2.0.0 queued\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 queued\r\n");
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
}
