//! The proxy session's limits against hostile or careless clients: control bytes in
//! commands, `SIZE=` at MAIL, the connection limit, the gateway's held bytes (and release
//! mode keeping only what it still needs), slow senders (command deadline, minimum data
//! rate), junk commands, and heavy work that fails. Each refusal is the reply a sender
//! understands, and nothing refused reaches the upstream.

mod common;

use std::sync::Arc;

use aptsim_core::clock::Timestamp;
use aptsim_core::gateway::Gateway;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Output, ProxyConfig, ProxySession, TxnResult};
use aptsim_core::verdict::ThreatLevel;
use aptsim_core::work::WorkFailed;
use common::harness::Harness;
use common::{EICAR, content, hold_policy, message};

#[test]
fn control_bytes_in_any_command_are_refused_and_never_relayed() {
    let mut h = Harness::ready(Policy::default());
    for line in [
        &b"RCPT TO:<a\x00b@example.net>\r\n"[..],
        b"MAIL FROM:<a@example.com> NOTIFY=\x1b[31m\r\n",
        b"EHLO evil\x1b]0;pwned\x07\r\n",
        b"MAIL FROM:<a\x7f@example.com>\r\n",
        b"VRFY \x00\r\n",
    ] {
        h.client(line);
        let reply = h.take_client();
        assert!(reply.starts_with("501 5.5.2 "), "{line:?}: {reply}");
        assert_eq!(h.take_upstream(), "", "{line:?} went upstream");
    }
    // A tab between arguments is white space, not a control byte.
    h.client(b"MAIL FROM:<a@example.com>\tSIZE=10\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<a@example.com>\tSIZE=10\r\n");
}

#[test]
fn size_at_mail_is_checked_against_the_limit() {
    let config = ProxyConfig {
        max_message_bytes: 1_000,
        ..ProxyConfig::default()
    };
    let mut h = Harness::ready_with(Policy::default(), config);
    h.client(b"MAIL FROM:<a@example.com> SIZE=1001\r\n");
    assert_eq!(
        h.take_client(),
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    h.client(b"MAIL FROM:<a@example.com> SIZE=12x\r\n");
    assert_eq!(h.take_client(), "501 5.5.4 Bad message size syntax\r\n");
    assert_eq!(h.take_upstream(), "", "refused at once, not relayed");
    h.client(b"MAIL FROM:<a@example.com> SIZE=1000\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<a@example.com> SIZE=1000\r\n");
}

/// Postfix's `smtpd_recipient_overshoot_limit`: RCPTs past the recipient limit are answered
/// 452 here (never relayed), and past the overshoot each also counts as an error, so a
/// client pipelining RCPTs without end is hung up on after `max_errors` of them.
#[test]
fn recipients_past_the_overshoot_count_as_errors() {
    let config = ProxyConfig {
        max_recipients: 1,
        max_recipient_overshoot: 3,
        ..ProxyConfig::default()
    };
    let mut h = Harness::ready_with(Policy::default(), config);
    h.envelope();
    let rcpt = b"RCPT TO:<c@example.net>\r\n";
    for n in 1..=3 + 10 {
        h.client(rcpt);
        assert_eq!(
            h.take_client(),
            "452 4.5.3 Too many recipients\r\n",
            "RCPT {n}"
        );
        assert!(!h.client_closed, "RCPT {n}");
    }
    h.client(rcpt);
    assert_eq!(
        h.take_client(),
        "452 4.5.3 Too many recipients\r\n421 4.7.0 Too many errors, closing connection\r\n"
    );
    assert!(h.client_closed);
    assert_eq!(
        h.take_upstream(),
        "QUIT\r\n",
        "no refused RCPT went upstream"
    );
    // A new transaction starts its own count.
    let mut h = Harness::ready_with(
        Policy::default(),
        ProxyConfig {
            max_recipients: 1,
            max_recipient_overshoot: 3,
            max_errors: 0,
            ..ProxyConfig::default()
        },
    );
    for _ in 0..2 {
        h.envelope();
        for _ in 0..3 {
            h.client(rcpt);
        }
        h.client(b"RSET\r\n");
        h.upstream(b"250 2.0.0 Ok\r\n");
    }
    assert!(!h.client_closed, "{}", h.take_client());
}

/// Drains a session made outside a harness; returns what went to the client and whether it
/// was closed.
fn drain(s: &mut ProxySession) -> (String, bool) {
    let mut to_client = Vec::new();
    let mut closed = false;
    while let Some(o) = s.poll_output() {
        match o {
            Output::ToClient(b) => to_client.extend_from_slice(&b),
            Output::CloseClient => closed = true,
            _ => {}
        }
    }
    (String::from_utf8_lossy(&to_client).into_owned(), closed)
}

#[test]
fn connections_past_the_limit_are_refused_until_one_closes() {
    let mut gw = Gateway::new(Arc::new(Policy::default()));
    let config = Arc::new(ProxyConfig {
        max_connections: 2,
        ..ProxyConfig::default()
    });
    let now = Timestamp::ZERO;
    let mut a = ProxySession::new(config.clone(), "192.0.2.1", &gw, now);
    let mut b = ProxySession::new(config.clone(), "192.0.2.2", &gw, now);
    assert_eq!(drain(&mut a), (String::new(), false));
    assert_eq!(drain(&mut b), (String::new(), false));
    let mut c = ProxySession::new(config.clone(), "192.0.2.3", &gw, now);
    let (reply, closed) = drain(&mut c);
    assert!(reply.starts_with("421 4.7.0 "), "{reply}");
    assert!(closed);
    assert_eq!(gw.usage.connections(), 2);
    a.handle_client_closed(&mut gw, now);
    assert_eq!(
        gw.usage.connections(),
        1,
        "a closed client gives its place back"
    );
    let mut d = ProxySession::new(config, "192.0.2.4", &gw, now);
    assert_eq!(drain(&mut d), (String::new(), false));
}

#[test]
fn held_bytes_past_the_limit_get_451_and_are_given_back() {
    // Room for one message of about 30 KB, not two.
    let config = ProxyConfig {
        max_held_bytes: 40_000,
        ..ProxyConfig::default()
    };
    let mut h = Harness::ready_with(hold_policy(), config);
    let big = message(&[("a.bin", content("a", 20_000))]);
    h.envelope();
    h.send_message(&big);
    assert_eq!(h.take_client(), "", "held for its verdict");
    assert!(h.gw.usage.held_bytes() >= big.len());
    // A second session of the same gateway sends one too: past the limit as it arrives, it
    // is read to its end and refused with 451 4.3.1.
    let mut shared = Gateway::new(Arc::new(hold_policy()));
    shared.usage = h.gw.usage.clone();
    let mut other = Harness::ready_on(
        shared,
        ProxyConfig {
            max_held_bytes: 40_000,
            ..ProxyConfig::default()
        },
    );
    other.envelope();
    other.send_message(&message(&[("b.bin", content("b", 20_000))]));
    let reply = other.take_client();
    assert!(reply.starts_with("451 4.3.1 "), "{reply}");
    assert_eq!(other.transactions(), [TxnResult::Tempfailed]);
    assert_eq!(
        other.take_upstream(),
        "RSET\r\n",
        "nothing of it went upstream"
    );
    // Once the gateway holds its limit (here a third session's lower one), a new message is
    // refused at DATA, before it starts.
    let mut shared = Gateway::new(Arc::new(hold_policy()));
    shared.usage = h.gw.usage.clone();
    let mut third = Harness::ready_on(
        shared,
        ProxyConfig {
            max_held_bytes: 20_000,
            ..ProxyConfig::default()
        },
    );
    third.envelope();
    third.client(b"DATA\r\n");
    let reply = third.take_client();
    assert!(reply.starts_with("451 4.3.1 "), "{reply}");
    // The first message's verdict: delivered, and its bytes are given back.
    h.verdict(
        aptsim_core::digest::Md5::of(&content("a", 20_000)),
        ThreatLevel::Clean,
    );
    h.upstream(b"354 go\r\n");
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    assert_eq!(h.gw.usage.held_bytes(), 0);
}

#[test]
fn release_mode_keeps_only_the_files_still_to_submit() {
    let mut h = Harness::ready(Policy::default());
    h.gw.submit_bytes = true;
    let (a, b) = (content("a", 5_000), content("b", 7_000));
    let raw = message(&[("a.bin", a.clone()), ("b.bin", b.clone())]);
    h.envelope();
    h.send_message(&raw);
    h.upstream(b"354 go\r\n");
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n", "S1: delivered at once");
    // One at a time (S3): the first file went with its bytes; the second waits, and only
    // its bytes are held — not the message.
    assert_eq!(h.submitted_bytes, [Some(a.len())]);
    assert_eq!(h.gw.usage.held_bytes(), b.len());
    h.verdict(aptsim_core::digest::Md5::of(&a), ThreatLevel::Clean);
    assert_eq!(h.submitted_bytes, [Some(a.len()), Some(b.len())]);
    assert_eq!(h.gw.usage.held_bytes(), 0, "then just MD5s");
}

#[test]
fn hold_mode_holds_exactly_the_message_and_the_files_still_to_submit() {
    let mut h = Harness::ready(hold_policy());
    h.gw.submit_bytes = true;
    let (a, b) = (content("a", 5_000), content("b", 7_000));
    let raw = message(&[("a.bin", a.clone()), ("b.bin", b.clone())]);
    h.envelope();
    h.send_message(&raw);
    assert_eq!(h.take_client(), "", "held (S2)");
    // One file at a time (S3): the first went with its bytes; the message and the second
    // file's bytes are held.
    assert_eq!(h.submitted_bytes, [Some(a.len())]);
    assert_eq!(h.gw.usage.held_bytes(), raw.len() + b.len());
    h.verdict(aptsim_core::digest::Md5::of(&a), ThreatLevel::Clean);
    assert_eq!(h.submitted_bytes, [Some(a.len()), Some(b.len())]);
    assert_eq!(h.gw.usage.held_bytes(), raw.len(), "the message alone");
    h.verdict(aptsim_core::digest::Md5::of(&b), ThreatLevel::Clean);
    // Delivered: the body, as it will be written, waits for the upstream's 354.
    let _ = h.take_upstream();
    let waiting = h.gw.usage.held_bytes();
    h.upstream(b"354 go\r\n");
    let body = h.take_upstream();
    assert!(body.ends_with("\r\n.\r\n"), "{body:?}");
    assert_eq!(waiting, body.len(), "the body waiting to be written");
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    assert_eq!(h.gw.usage.held_bytes(), 0);
}

#[test]
fn a_command_trickled_a_byte_at_a_time_hits_the_command_deadline() {
    let mut h = Harness::ready(Policy::default());
    let line = b"MAIL FROM:<slow@example.com>\r\n";
    let mut closed_after = None;
    for (i, byte) in line.iter().enumerate() {
        // One byte every 20 s: each resets the idle timer (10 min), none the deadline.
        h.advance(20);
        if h.client_closed {
            closed_after = Some(i);
            break;
        }
        h.client(&[*byte]);
    }
    let reply = h.take_client();
    assert!(
        reply.contains("421 4.4.2 ") && reply.contains("timeout exceeded"),
        "{reply}"
    );
    assert_eq!(closed_after, Some(15), "5 min after its first byte");
    assert_eq!(
        h.take_upstream(),
        "QUIT\r\n",
        "the half line never went upstream"
    );
}

#[test]
fn data_below_the_minimum_rate_is_cut_off() {
    let mut h = Harness::ready(Policy::default());
    h.envelope();
    h.client(b"DATA\r\n");
    assert!(h.take_client().starts_with("354 "));
    let mut seconds = 0;
    while !h.client_closed && seconds < 1_000 {
        h.advance(1);
        seconds += 1;
        h.client(b"x");
    }
    assert!((300..=302).contains(&seconds), "cut off after {seconds} s");
    let reply = h.take_client();
    assert!(reply.contains("421 4.4.2 "), "{reply}");
    assert_eq!(h.transactions(), [TxnResult::Refused]);
    assert_eq!(h.gw.usage.held_bytes(), 0);
    // A sender at the minimum rate is never cut off.
    let mut h = Harness::ready(Policy::default());
    h.envelope();
    h.client(b"DATA\r\n");
    for _ in 0..900 {
        h.advance(1);
        h.client(&[b'y'; 500]);
        if h.client_closed {
            break;
        }
        h.client(b"\r\n");
    }
    assert!(!h.client_closed, "500 bytes/s keeps the budget full");
}

#[test]
fn junk_commands_past_the_limit_count_as_errors() {
    let mut h = Harness::ready(Policy::default());
    // EHLO in `ready` was the first junk command.
    for _ in 0..99 {
        h.client(b"NOOP\r\n");
    }
    assert!(!h.client_closed);
    let limits = ProxyConfig::default();
    for _ in 0..limits.max_errors {
        h.client(b"NOOP\r\n");
        assert!(!h.client_closed);
    }
    h.client(b"NOOP\r\n");
    assert!(h.client_closed, "the 11th error closes");
    assert!(
        h.take_client()
            .ends_with("421 4.7.0 Too many errors, closing connection\r\n")
    );
}

#[test]
fn an_extraction_that_fails_makes_the_whole_message_unscannable() {
    let mut h = Harness::ready(hold_policy());
    h.inline_work = false;
    h.envelope();
    let raw = message(&[("eicar.com", EICAR.to_vec())]);
    h.send_message(&raw);
    let (id, _) = h.work.pop().expect("an extraction job");
    // The driver's budget ran out: the session is told, and fails closed.
    h.s.handle_work_done(id, Err(WorkFailed::TimedOut), &mut h.gw, h.now);
    h.drain();
    let (id, job) = h.work.pop().expect("the body job");
    let result = job.run(&std::sync::atomic::AtomicBool::new(false));
    h.s.handle_work_done(id, result, &mut h.gw, h.now);
    h.drain();
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    let body = h.take_upstream();
    assert!(!body.contains("X5O!P%@AP"), "{body}");
    assert!(body.contains("could not be scanned"), "{body}");
    assert!(
        body.contains("Subject: Report"),
        "the original's headers stay"
    );
}

#[test]
fn a_body_that_cannot_be_written_is_deferred_not_sent() {
    let mut h = Harness::ready(Policy::default());
    h.inline_work = false;
    h.envelope();
    h.send_message(&message(&[("a.pdf", content("a", 100))]));
    let (id, job) = h.work.pop().expect("an extraction job");
    let result = job.run(&std::sync::atomic::AtomicBool::new(false));
    h.s.handle_work_done(id, result, &mut h.gw, h.now);
    h.drain();
    let (id, _) = h.work.pop().expect("the body job");
    h.s.handle_work_done(id, Err(WorkFailed::Crashed), &mut h.gw, h.now);
    h.drain();
    let reply = h.take_client();
    assert!(reply.starts_with("451 4.4.0 "), "{reply}");
    assert_eq!(h.take_upstream(), "", "nothing went upstream");
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}
