//! How an SMTP client's session ends, as real senders end it: Exim's pipelined `QUIT` and
//! half-close after the final dot (SMTP-SENDERS.md §1), a sender that gives up during a
//! hold (S5), and a FIN between commands.

mod common;

use aptsim_core::digest::Md5;
use aptsim_core::smtp::proxy::{Event, TxnResult};
use aptsim_core::smtp::wire::data::dot_stuff;
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::{content, hold_policy, message};

/// Exim ≥ 4.95 on plain TCP: the message, the final dot and `QUIT` in one write, then
/// `shutdown(SHUT_WR)`. The proxy holds, answers the dot when the verdict comes, then the
/// `QUIT`, and closes: delivered once, on the first attempt.
#[test]
fn exim_half_close_after_pipelined_quit_still_gets_its_replies() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 300);
    h.client(b"DATA\r\n");
    assert!(h.take_client().starts_with("354 "));
    let mut wire = dot_stuff(&message(&[("a.pdf", file.clone())]));
    wire.extend_from_slice(b"QUIT\r\n");
    h.client(&wire);
    h.eof();
    assert!(!h.client_closed, "a half-closed client still reads");
    assert_eq!(h.take_client(), "", "held: no reply before the verdict");
    h.advance(120);
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    assert!(h.take_upstream().ends_with("\r\n.\r\n"));
    h.upstream(b"250 2.0.0 queued as X\r\n");
    assert_eq!(
        h.take_client(),
        "250 2.0.0 queued as X\r\n221 2.0.0 aptsim-proxy Bye\r\n"
    );
    assert!(h.client_closed);
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::ClientGone { txn: Some(_), .. })),
        "the transaction was not abandoned"
    );
}

/// A deny decided while the client is half-closed: the 554 and the 221 go out, and the log
/// records the 554 that was sent.
#[test]
fn half_closed_client_hears_a_deny() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("bad", 300);
    h.client(b"DATA\r\n");
    h.take_client();
    let mut wire = dot_stuff(&message(&[("bad.exe", file.clone())]));
    wire.extend_from_slice(b"QUIT\r\n");
    h.client(&wire);
    h.eof();
    h.advance(60);
    h.verdict(Md5::of(&file), ThreatLevel::High);
    let replies = h.take_client();
    assert!(replies.starts_with("554 5.7.1 "), "{replies}");
    assert!(
        replies.ends_with("221 2.0.0 aptsim-proxy Bye\r\n"),
        "{replies}"
    );
    let logged = h.events.iter().find_map(|e| match e {
        Event::Transaction(t) => t.reply.as_ref().map(|r| r.code),
        _ => None,
    });
    assert_eq!(logged, Some(554));
}

/// Postfix pipelines `QUIT` after the dot too, but closes only when its
/// `smtp_data_done_timeout` runs out: that FIN, long after its last bytes, is the sender
/// leaving (S5), and the message is never delivered later.
#[test]
fn a_late_fin_during_a_hold_is_the_sender_leaving() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 300);
    h.client(b"DATA\r\n");
    h.take_client();
    let mut wire = dot_stuff(&message(&[("a.pdf", file.clone())]));
    wire.extend_from_slice(b"QUIT\r\n");
    h.client(&wire);
    h.advance(600);
    h.eof();
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::ClientGone {
            txn: Some(1),
            after_body_sent: false
        }
    )));
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert!(!h.take_upstream().contains("DATA"), "never delivered later");
    assert_eq!(h.take_client(), "");
    assert_eq!(h.transactions(), [TxnResult::Abandoned]);
}

/// A sender that leaves during a hold: the transaction's record lists each file with the
/// verdict it had by then (and the default, clean, for one still in analysis).
#[test]
fn an_abandoned_hold_records_each_file_with_its_verdict_so_far() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let (a, b) = (content("a", 300), content("b", 400));
    h.send_message(&message(&[("a.pdf", a.clone()), ("b.pdf", b.clone())]));
    h.verdict(Md5::of(&a), ThreatLevel::Low);
    assert_eq!(h.take_client(), "", "still held for b.pdf");
    h.advance(600);
    h.eof();
    let files: Vec<(String, ThreatLevel)> = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::Transaction(t) if t.result == TxnResult::Abandoned => {
                Some(t.files.iter().map(|f| (f.name.clone(), f.level)).collect())
            }
            _ => None,
        })
        .expect("the abandoned transaction's record");
    assert_eq!(
        files,
        [
            ("a.pdf".to_owned(), ThreatLevel::Low),
            ("b.pdf".to_owned(), ThreatLevel::Clean)
        ]
    );
}

/// A verdict concerns a session that holds a message with the file, and no other: the
/// session says which, for whoever routes verdicts to sessions.
#[test]
fn a_verdict_concerns_the_session_that_holds_the_file() {
    use aptsim_core::verdict::{Thresholds, Verdict};
    let mut h = Harness::ready(hold_policy());
    let md5 = h.hold_one("a");
    let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
    let other = Md5::of(b"another file");
    assert!(
        !h.s.handle_verdict(&other, &clean, &mut h.gw, h.now),
        "not its file"
    );
    h.gw.record_verdict(md5, &clean, h.now);
    assert!(
        h.s.handle_verdict(&md5, &clean, &mut h.gw, h.now),
        "its held file"
    );
}

/// A FIN between commands: what was sent before it is answered, then the session ends
/// without a 221 nobody asked for.
#[test]
fn fin_between_commands_answers_what_came_before_it() {
    let mut h = Harness::ready(hold_policy());
    h.client(b"NOOP\r\n");
    h.take_client();
    h.client(b"NOOP\r\n");
    h.eof();
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    assert!(h.client_closed);
    assert_eq!(h.take_upstream(), "QUIT\r\n");

    let mut h = Harness::ready(hold_policy());
    h.client(b"QUIT\r\n");
    h.eof();
    assert_eq!(h.take_client(), "221 2.0.0 aptsim-proxy Bye\r\n");
    assert!(h.client_closed);
}

/// A FIN in the middle of message data leaves the message unfinished: nothing is relayed.
#[test]
fn fin_in_the_middle_of_data_abandons_the_message() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    h.client(b"DATA\r\n");
    h.take_client();
    h.client(b"Subject: cut short\r\n\r\nhalf a mess");
    h.eof();
    assert_eq!(
        h.take_client(),
        "",
        "nothing answered to a half-sent message"
    );
    assert!(!h.take_upstream().contains("DATA"));
    assert_eq!(h.transactions(), [TxnResult::Abandoned]);
}

/// A hold longer than the idle timeout (10 min): the reply to the dot restarts the idle
/// timer, so it is not followed by an unasked `421 … Idle timeout` (issue 8, item 7).
#[test]
fn the_reply_after_a_long_hold_is_not_followed_by_an_idle_421() {
    let mut h = Harness::ready(hold_policy());
    let file = h.hold_one("slow");
    h.advance(900);
    assert_eq!(h.take_client(), "", "held, and no idle timeout while held");
    h.relay_clean(file);
    h.upstream(b"250 2.0.0 queued\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 queued\r\n");
    h.advance(60);
    assert_eq!(h.take_client(), "", "no 421 a minute after the reply");
    assert!(!h.client_closed);
    h.advance(540);
    assert!(
        h.take_client().starts_with("421 4.4.2 "),
        "idle 10 min after the reply"
    );
}
