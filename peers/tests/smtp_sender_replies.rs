//! The sending MTA's client machine against scripted servers: which replies defer (4xx),
//! which bounce (5xx), and when a lost connection makes delivery ambiguous.

mod common;

use aptsim_core::smtp::wire::reply::Reply;
use aptsim_peers::smtp::presets::SenderTimeouts;
use aptsim_peers::smtp::receiver::ReceiverConfig;
use aptsim_peers::smtp::sender::{
    AttemptResult, DeferReason, Phase, SenderEvent, SenderOutput, SenderSession,
};
use common::peers::{BOB, Peers, sender, tricky_message};
use common::{content, t};

struct Script {
    greeting: &'static str,
    ehlo: &'static str,
    helo: &'static str,
    mail: &'static str,
    rcpt: &'static str,
    data: &'static str,
    done: &'static str,
}

const OK: Script = Script {
    greeting: "220 mx.example ESMTP\r\n",
    ehlo: "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n",
    helo: "250 mx.example\r\n",
    mail: "250 2.1.0 Ok\r\n",
    rcpt: "250 2.1.5 Ok\r\n",
    data: "354 go ahead\r\n",
    done: "250 2.0.0 queued\r\n",
};

/// Runs a sender against the script; returns its result and the commands it sent.
fn scripted(script: &Script) -> (AttemptResult, Vec<String>) {
    let mut s = sender(SenderTimeouts::rfc5321(), &[BOB], b"hi\r\n", t(0));
    s.handle_connected(t(0));
    s.handle_bytes(script.greeting.as_bytes(), t(0));
    let mut sent = Vec::new();
    let mut closed = false;
    while let Some(o) = s.poll_output() {
        match o {
            SenderOutput::Send(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let answer = match text.get(..4) {
                    Some("EHLO") => script.ehlo,
                    Some("HELO") => script.helo,
                    Some("MAIL") => script.mail,
                    Some("RCPT") => script.rcpt,
                    Some("DATA") => script.data,
                    Some("QUIT") => "221 2.0.0 Bye\r\n",
                    _ => script.done,
                };
                sent.push(text.lines().next().unwrap_or_default().to_owned());
                s.handle_bytes(answer.as_bytes(), t(1));
            }
            SenderOutput::Close => closed = true,
            SenderOutput::HalfClose | SenderOutput::Event(_) => {}
        }
    }
    assert!(closed, "the sender closes at the end");
    (s.result().cloned().expect("finished"), sent)
}

type Check = Box<dyn Fn(&AttemptResult) -> bool>;

fn deferred(code: u16) -> Check {
    Box::new(move |r| matches!(r, AttemptResult::Deferred(DeferReason::Reply(x)) if x.code == code))
}

fn bounced(code: u16) -> Check {
    Box::new(move |r| matches!(r, AttemptResult::Bounced(x) if x.code == code))
}

fn delivered() -> Check {
    Box::new(|r| matches!(r, AttemptResult::Delivered { reply, .. } if reply.code == 250))
}

fn with(f: impl FnOnce(&mut Script)) -> Script {
    let mut s = OK;
    f(&mut s);
    s
}

#[test]
fn four_xx_defers_and_five_xx_bounces() {
    let cases: Vec<(&str, Script, Check)> = vec![
        (
            "greeting 421",
            with(|s| s.greeting = "421 4.3.2 busy\r\n"),
            deferred(421),
        ),
        // A 5xx greeting is the host's fault: deferred (Postfix smtp_skip_5xx_greeting).
        (
            "greeting 554",
            with(|s| s.greeting = "554 5.3.2 no service\r\n"),
            deferred(554),
        ),
        (
            "ehlo 421",
            with(|s| s.ehlo = "421 4.3.2 bye\r\n"),
            deferred(421),
        ),
        (
            "ehlo+helo 550",
            with(|s| {
                s.ehlo = "550 5.7.1 no\r\n";
                s.helo = "550 5.7.1 no\r\n";
            }),
            bounced(550),
        ),
        (
            "mail 451",
            with(|s| s.mail = "451 4.3.0 try later\r\n"),
            deferred(451),
        ),
        (
            "mail 553",
            with(|s| s.mail = "553 5.7.1 sender refused\r\n"),
            bounced(553),
        ),
        (
            "rcpt 450",
            with(|s| s.rcpt = "450 4.2.0 mailbox busy\r\n"),
            deferred(450),
        ),
        (
            "rcpt 550",
            with(|s| s.rcpt = "550 5.1.1 unknown\r\n"),
            bounced(550),
        ),
        (
            "data 451",
            with(|s| s.data = "451 4.3.0 later\r\n"),
            deferred(451),
        ),
        (
            "data 554",
            with(|s| s.data = "554 5.5.1 no\r\n"),
            bounced(554),
        ),
        (
            "done 451",
            with(|s| s.done = "451 4.7.0 tempfail\r\n"),
            deferred(451),
        ),
        (
            "done 554",
            with(|s| s.done = "554 5.7.1 virus\r\n"),
            bounced(554),
        ),
        (
            "done 552 multi-line",
            with(|s| s.done = "552-5.3.4 too\r\n552 5.3.4 big\r\n"),
            bounced(552),
        ),
        ("all good", OK, delivered()),
    ];
    for (name, script, check) in cases {
        let (result, sent) = scripted(&script);
        assert!(check(&result), "{name}: {result:?}");
        assert_eq!(
            sent.last().map(String::as_str),
            Some("QUIT"),
            "{name}: {sent:?}"
        );
    }
    // The HELO fallback only on 5xx to EHLO.
    let (result, sent) = scripted(&with(|s| s.ehlo = "502 5.5.1 no EHLO\r\n"));
    assert!(matches!(result, AttemptResult::Delivered { .. }));
    assert_eq!(
        sent[..3],
        [
            "EHLO mta.example.com",
            "HELO mta.example.com",
            "MAIL FROM:<alice@example.com>"
        ]
    );

    // The same distinction against the real receiver: 452 past its recipient limit defers
    // that recipient; a declared size over its limit bounces the message.
    let config = ReceiverConfig {
        max_recipients: 1,
        ..ReceiverConfig::default()
    };
    let p = Peers::deliver(b"hi\r\n", &[BOB, "carol@example.net"], config);
    match p.result() {
        AttemptResult::Delivered {
            deferred_rcpts,
            rejected_rcpts,
            ..
        } => {
            assert!(rejected_rcpts.is_empty());
            assert_eq!(deferred_rcpts.len(), 1);
            assert_eq!(deferred_rcpts[0].0, "carol@example.net");
            assert_eq!(deferred_rcpts[0].1.code, 452);
        }
        other => panic!("{other:?}"),
    }
    let config = ReceiverConfig {
        max_message_bytes: 1_000,
        ..ReceiverConfig::default()
    };
    let p = Peers::deliver(&content("big", 5_000), &[BOB], config);
    assert_eq!(
        p.result(),
        AttemptResult::Bounced(Reply::new(552, "5.3.4 Message size exceeds fixed limit"))
    );
}

#[test]
fn lost_connection_after_the_body_is_ambiguous() {
    let raw = tricky_message();
    let mut s = sender(SenderTimeouts::rfc5321(), &[BOB], &raw, t(0));
    s.handle_connected(t(0));
    for reply in [&OK.greeting, &OK.ehlo, &OK.mail, &OK.rcpt, &OK.data] {
        s.handle_bytes(reply.as_bytes(), t(1));
    }
    let lost = DeferReason::ConnectionLost {
        phase: Phase::DataDone,
    };
    s.handle_closed(t(2));
    assert_eq!(s.result(), Some(&AttemptResult::Deferred(lost.clone())));
    let events: Vec<SenderOutput> = std::iter::from_fn(|| s.poll_output()).collect();
    assert!(events.contains(&SenderOutput::Event(
        SenderEvent::MayBeDeliveredMultipleTimes { reason: lost }
    )));
    // Lost before the body went out: a plain deferral.
    let mut s = sender(SenderTimeouts::rfc5321(), &[BOB], &raw, t(0));
    s.handle_connected(t(0));
    s.handle_bytes(OK.greeting.as_bytes(), t(1));
    s.handle_closed(t(2));
    let result = s.result().cloned();
    assert_eq!(
        result,
        Some(AttemptResult::Deferred(DeferReason::ConnectionLost {
            phase: Phase::Ehlo
        }))
    );
    assert!(!std::iter::from_fn(|| s.poll_output()).any(|o| matches!(
        o,
        SenderOutput::Event(SenderEvent::MayBeDeliveredMultipleTimes { .. })
    )));
}

// The client alone, without a server model.
fn bare_session() -> SenderSession {
    let mut s = SenderSession::new(
        SenderTimeouts::rfc5321(),
        "mta.example",
        "a@example.com",
        vec!["b@example.net".into()],
        b"Subject: x\r\n\r\nhi\r\n",
        t(0),
    );
    s.handle_connected(t(0));
    s
}

fn sent(s: &mut SenderSession) -> String {
    let mut out = String::new();
    while let Some(o) = s.poll_output() {
        if let SenderOutput::Send(b) = o {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let mut s = bare_session();
    s.handle_bytes(b"220 mx ESMTP\r\n", t(1));
    assert_eq!(sent(&mut s), "EHLO mta.example\r\n");
    s.handle_bytes(b"502 5.5.1 no\r\n", t(1));
    assert_eq!(sent(&mut s), "HELO mta.example\r\n");
    s.handle_bytes(b"250 mx\r\n", t(1));
    // No SIZE without EHLO.
    assert_eq!(sent(&mut s), "MAIL FROM:<a@example.com>\r\n");
}

#[test]
fn connect_timeout_and_refusal_defer() {
    let mut s = SenderSession::new(
        SenderTimeouts::rfc5321(),
        "h",
        "a@x",
        vec!["b@y".into()],
        Vec::new(),
        t(0),
    );
    assert_eq!(s.poll_timeout(), Some(t(300)));
    s.handle_timeout(t(299));
    assert!(s.result().is_none());
    s.handle_timeout(t(300));
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::ConnectFailed))
    );
    let mut s = SenderSession::new(
        SenderTimeouts::rfc5321(),
        "h",
        "a@x",
        vec!["b@y".into()],
        Vec::new(),
        t(0),
    );
    s.handle_connect_failed(t(1));
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::ConnectFailed))
    );
    assert!(!std::iter::from_fn(|| s.poll_output()).any(|o| o == SenderOutput::Close));
}

#[test]
fn garbage_from_the_server_is_a_lost_connection() {
    let mut s = bare_session();
    s.handle_bytes(b"hello there\r\n", t(1));
    assert_eq!(
        s.result(),
        Some(&AttemptResult::Deferred(DeferReason::ConnectionLost {
            phase: Phase::Greeting
        }))
    );
}
