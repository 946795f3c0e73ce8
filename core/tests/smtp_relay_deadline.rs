//! X2 after the decision: a held message decided for delivery is answered `451 4.7.0` at the
//! X2 deadline if its body has not gone upstream by then, so that the sender retries rather
//! than times out; once the body is out, the upstream's answer is the sender's.

mod common;

use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::TxnResult;
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::{content, hold_policy, message};

fn x2_policy() -> Policy {
    Policy {
        tempfail_deadline: Some(Duration::from_secs(540)),
        ..hold_policy()
    }
}

#[test]
fn x2_answers_451_when_the_upstream_does_not_take_data_in_time() {
    let mut h = Harness::ready(x2_policy());
    h.envelope();
    let file = content("a", 300);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.advance(300);
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
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
    h.envelope();
    let file = content("a", 300);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.advance(300);
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    h.take_upstream();
    h.upstream(b"354 go\r\n");
    assert!(h.take_upstream().ends_with("\r\n.\r\n"));
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
