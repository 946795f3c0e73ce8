//! The sending MTA stopped during an attempt (`postfix stop`, a restart): the attempt is
//! deferred with [`DeferReason::Stopped`], the connection closed, and a stop after the final
//! dot is ambiguous (the server may have the message), as a lost connection there is.

mod common;

use aptsim_core::clock::Timestamp;
use aptsim_peers::smtp::presets::SenderTimeouts;
use aptsim_peers::smtp::sender::{
    AttemptResult, DeferReason, Phase, SenderEvent, SenderOutput, SenderSession,
};
use common::t;

fn session() -> SenderSession {
    common::peers::sender(
        SenderTimeouts::rfc5321(),
        &["b@example.net"],
        b"Subject: x\r\n\r\nhi\r\n",
        t(0),
    )
}

/// The server's replies up to the 354 after DATA: the body and its dot go out on the last.
const TO_THE_DOT: [&[u8]; 5] = [
    b"220 mx\r\n",
    b"250 mx\r\n",
    b"250 ok\r\n",
    b"250 ok\r\n",
    b"354 go\r\n",
];

/// Feeds `replies` one by one and drains the output.
fn feed(s: &mut SenderSession, replies: &[&[u8]]) {
    for r in replies {
        s.handle_bytes(r, t(1));
        while s.poll_output().is_some() {}
    }
}

/// Stops the session and returns what it asked for: closes, and ambiguity events.
fn stop(s: &mut SenderSession, now: Timestamp) -> (usize, bool) {
    s.handle_stopped(now);
    let out: Vec<SenderOutput> = std::iter::from_fn(|| s.poll_output()).collect();
    let closes = out
        .iter()
        .filter(|o| matches!(o, SenderOutput::Close))
        .count();
    let ambiguous = out.iter().any(|o| {
        matches!(
            o,
            SenderOutput::Event(SenderEvent::MayBeDeliveredMultipleTimes { .. })
        )
    });
    (closes, ambiguous)
}

#[test]
fn stopped_while_waiting_for_the_dots_reply_is_ambiguous() {
    let mut s = session();
    s.handle_connected(t(0));
    feed(&mut s, &TO_THE_DOT);
    let (closes, ambiguous) = stop(&mut s, t(5));
    assert_eq!(
        closes, 1,
        "the kernel closes the dead process's socket once"
    );
    assert!(ambiguous, "the body went out: the server may have it");
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::Stopped {
            phase: Phase::DataDone
        }))
    );
    assert_eq!(s.poll_timeout(), None, "no timer runs after the stop");
}

#[test]
fn stopped_before_the_body_is_a_plain_deferral() {
    let mut s = session();
    s.handle_connected(t(0));
    feed(&mut s, &[b"220 mx\r\n"]);
    let (closes, ambiguous) = stop(&mut s, t(2));
    assert_eq!(closes, 1);
    assert!(!ambiguous);
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::Stopped {
            phase: Phase::Ehlo
        }))
    );
}

#[test]
fn stopped_while_connecting_closes_nothing_it_never_opened() {
    let mut s = session();
    let (closes, _) = stop(&mut s, t(0));
    assert_eq!(closes, 0);
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::Stopped {
            phase: Phase::Greeting
        }))
    );
}

#[test]
fn a_delivered_message_stays_delivered_when_stopped_before_the_221() {
    let mut s = session();
    s.handle_connected(t(0));
    // Lockstep (the default): the client sends QUIT after the dot's 250 and waits for 221.
    feed(&mut s, &TO_THE_DOT);
    feed(&mut s, &[b"250 2.0.0 queued\r\n"]);
    assert_eq!(s.result(), None, "still waiting for the 221");
    let (closes, ambiguous) = stop(&mut s, t(3));
    assert_eq!(closes, 1);
    assert!(!ambiguous);
    assert!(matches!(s.result(), Some(AttemptResult::Delivered { .. })));
}

#[test]
fn a_finished_attempt_ignores_the_stop() {
    let mut s = session();
    s.handle_connect_failed(t(0));
    while s.poll_output().is_some() {}
    let (closes, _) = stop(&mut s, t(1));
    assert_eq!(closes, 0);
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::ConnectFailed))
    );
}
