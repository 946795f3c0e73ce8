//! Client input the session cannot read yet: bytes a client sends ahead of its replies while
//! a message is held or a command is relayed. Up to `max_unread_bytes` they wait and are
//! read in order; past it the client is hung up on (421), with what it was sending
//! tempfailed and never delivered later (S5). Many whole messages pipelined in one segment
//! are each read once, in order.

mod common;

use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, ProxyConfig, TxnResult};
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::hold_policy;

const LIMIT: usize = 4_096;

/// The limit at 4 KiB, and NOOPs never junk (so that a test may pipeline hundreds).
fn limited() -> ProxyConfig {
    ProxyConfig {
        max_unread_bytes: LIMIT,
        max_junk_commands: u32::MAX,
        ..ProxyConfig::default()
    }
}

/// Command lines of `NOOP` making exactly `n` bytes (n a multiple of 6).
fn noops(n: usize) -> Vec<u8> {
    b"NOOP\r\n".repeat(n / 6)
}

#[test]
fn input_up_to_the_limit_waits_during_a_hold_and_is_answered_in_order() {
    let mut h = Harness::ready_with(hold_policy(), limited());
    let md5 = h.hold_one("a");
    // 4,092 bytes of pipelined NOOPs, in pieces, while the message is held.
    let ahead = noops(LIMIT - LIMIT % 6);
    for piece in ahead.chunks(1_000) {
        h.client(piece);
    }
    assert!(!h.client_closed);
    assert_eq!(
        h.take_client(),
        "",
        "nothing answered before the held message"
    );
    assert!(h.gw.usage.held_bytes() >= ahead.len(), "counted as held");
    h.relay_clean(md5);
    h.upstream(b"250 2.0.0 Ok: queued as 1\r\n");
    let replies = h.take_client();
    let mut lines = replies.lines();
    assert_eq!(lines.next(), Some("250 2.0.0 Ok: queued as 1"));
    assert_eq!(
        lines.filter(|l| *l == "250 2.0.0 Ok").count(),
        ahead.len() / 6
    );
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
}

#[test]
fn a_flood_during_a_hold_is_hung_up_on_and_the_message_is_never_delivered() {
    let mut h = Harness::ready_with(hold_policy(), limited());
    let md5 = h.hold_one("a");
    h.client(&noops(LIMIT - LIMIT % 6));
    assert!(!h.client_closed);
    h.client(b"NOOP\r\n");
    assert!(h.client_closed, "past the limit: hung up on");
    assert_eq!(
        h.take_client(),
        "421 4.7.0 Too much input ahead of replies, closing connection\r\n",
        "the 421 answers the held message: the sender retries it later (S5)"
    );
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
    // The analysis goes on for the retry; the message itself is never relayed.
    h.verdict(md5, ThreatLevel::Clean);
    h.advance(600);
    let upstream = h.take_upstream();
    assert!(!upstream.contains("DATA"), "{upstream}");
    assert!(upstream.ends_with("QUIT\r\n"), "{upstream}");
    // Later bytes are not taken in.
    h.client(&noops(60_000));
    assert!(
        h.gw.usage.held_bytes() < LIMIT,
        "{}",
        h.gw.usage.held_bytes()
    );
}

#[test]
fn a_flood_before_the_greeting_is_hung_up_on() {
    let mut h = Harness::with(Policy::default(), limited());
    h.client(&noops(LIMIT + 6));
    assert!(h.client_closed);
    assert!(h.take_client().starts_with("421 4.7.0 "));
}

#[test]
fn a_flood_while_the_body_is_out_cuts_the_client_without_a_reply() {
    let mut h = Harness::ready_with(hold_policy(), limited());
    let md5 = h.hold_one("a");
    h.relay_clean(md5);
    h.client(&noops(LIMIT + 6));
    assert!(h.client_closed);
    assert_eq!(
        h.take_client(),
        "",
        "a 421 now would have the sender send again a message the upstream may have taken"
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::ClientGone {
            after_body_sent: true,
            ..
        }
    )));
}

/// A client that pipelines many whole messages in one segment, against RFC 2920 §3.1 (a
/// group ends at `DATA`): each is relayed, in order, and each reply goes back in order.
/// The session reads each byte once (the bench `session_input` measures that the cost
/// per message does not grow with the segment).
#[test]
fn many_messages_pipelined_in_one_segment_are_each_relayed_in_order() {
    const MESSAGES: usize = 2_000;
    let mut h = Harness::ready(Policy::default());
    let mut segment = Vec::new();
    for i in 0..MESSAGES {
        segment.extend_from_slice(
            format!(
                "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n\
                 Subject: {i}\r\n\r\nmessage {i}\r\n.\r\n"
            )
            .as_bytes(),
        );
    }

    assert!(segment.len() < ProxyConfig::default().max_unread_bytes);
    h.client(&segment);
    let mut queued = 0;
    let mut pending = Vec::new();
    while !h.to_upstream.is_empty() {
        pending.extend_from_slice(&std::mem::take(&mut h.to_upstream));
        // Answer every complete command or body the proxy sent.
        loop {
            let text = String::from_utf8_lossy(&pending).into_owned();
            let (reply, used) = if text.starts_with("MAIL ") || text.starts_with("RCPT ") {
                match text.find("\r\n") {
                    Some(end) => ("250 2.1.0 Ok\r\n".to_owned(), end + 2),
                    None => break,
                }
            } else if text.starts_with("DATA\r\n") {
                ("354 go\r\n".to_owned(), 6)
            } else if let Some(end) = text.find("\r\n.\r\n") {
                queued += 1;
                (format!("250 2.0.0 Ok: queued as {queued}\r\n"), end + 5)
            } else {
                break;
            };
            pending.drain(..used);
            h.upstream(reply.as_bytes());
        }
    }
    assert_eq!(queued, MESSAGES);
    let replies = h.take_client();
    let delivered: Vec<&str> = replies
        .lines()
        .filter_map(|l| l.strip_prefix("250 2.0.0 Ok: queued as "))
        .collect();
    let expected: Vec<String> = (1..=MESSAGES).map(|n| n.to_string()).collect();
    assert_eq!(delivered, expected);
    assert_eq!(
        h.transactions(),
        vec![TxnResult::Delivered; MESSAGES],
        "each message once"
    );
}

/// Hung up on before the upstream's greeting came: the greeting does not bring the client
/// back, the upstream is sent `QUIT`, and the session ends.
#[test]
fn a_client_hung_up_on_before_the_greeting_stays_closed() {
    let mut h = Harness::with(Policy::default(), limited());
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.drain();
    h.client(&noops(LIMIT + 6));
    assert!(h.client_closed);
    h.upstream(b"220 mx.example ESMTP\r\n");
    assert_eq!(h.take_upstream(), "QUIT\r\n");
    h.upstream(b"221 2.0.0 Bye\r\n");
    assert!(h.upstream_closed);
    assert!(
        h.s.is_finished(),
        "the session lingered after its client was closed"
    );
    assert!(
        h.take_client().starts_with("421 4.7.0 "),
        "nothing after the 421"
    );
}

/// Hung up on while `DATA` waits for its 354: the 354 finds no body to send, and the
/// upstream connection is closed rather than sent anything, which would be message data.
#[test]
fn a_hang_up_while_data_waits_for_354_closes_the_upstream() {
    let mut h = Harness::ready_with(hold_policy(), limited());
    let md5 = h.hold_one("a");
    h.verdict(md5, ThreatLevel::Clean);
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.client(&noops(LIMIT + 6));
    assert!(h.take_client().starts_with("421 4.7.0 "));
    h.upstream(b"354 go\r\n");
    assert_eq!(h.take_upstream(), "", "nothing goes up as message data");
    assert!(h.upstream_closed);
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}

/// A partial command pipelined behind a held message: its command deadline starts when
/// the session reads it, after the hold, not when it arrived (a hold longer than the
/// deadline must not end in `421 timeout exceeded` right after the message's 250).
#[test]
fn a_line_begun_behind_a_hold_is_timed_from_when_it_is_read() {
    let mut h = Harness::ready_with(hold_policy(), limited());
    h.envelope();
    let file = common::content("a", 300);
    // DATA, the message and the start of QUIT in one segment.
    let mut wire = b"DATA\r\n".to_vec();
    wire.extend_from_slice(&aptsim_core::smtp::wire::data::dot_stuff(&common::message(
        &[("a.pdf", file.clone())],
    )));
    wire.extend_from_slice(b"QUI");
    h.client(&wire);
    assert!(h.take_client().starts_with("354 "));
    // Held for 400 s, past the 5-minute command deadline.
    h.advance(400);
    h.relay_clean(aptsim_core::digest::Md5::of(&file));
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    h.advance(1);
    assert_eq!(
        h.take_client(),
        "",
        "the partial QUIT has its own five minutes"
    );
    h.client(b"T\r\n");
    assert!(h.take_client().starts_with("221 "));
}
