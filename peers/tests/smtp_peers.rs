//! The SMTP peers, wired together with no runtime: a sending MTA's [`SenderSession`] talking
//! to a [`ReceiverSession`] directly, and through the gateway's [`ProxySession`]. Bytes move
//! instantly; virtual time moves only to the next deadline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::gateway::Gateway;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession, TxnResult};
use aptsim_core::smtp::wire::reply::Reply;
use aptsim_peers::smtp::presets::{self, SenderPreset, SenderTimeouts};
use aptsim_peers::smtp::receiver::{
    ReceivedMessage, ReceiverConfig, ReceiverOutput, ReceiverSession,
};
use aptsim_peers::smtp::sender::{
    AttemptResult, DeferReason, Phase, SenderEvent, SenderOutput, SenderSession,
};
use common::peers::{BOB, FROM, Peers, delivered_reply, sender, tricky_message};
use common::{content, message, t};

/// The message as it must arrive: every line end CRLF, a final CRLF.
fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn message_arrives_byte_for_byte() {
    for raw in [
        message(&[("report.pdf", content("%PDF-1.7 report", 4_000))]),
        tricky_message(),
    ] {
        let p = Peers::deliver(&raw, &[BOB], ReceiverConfig::default());
        let result = p.result();
        assert!(
            delivered_reply(&result)
                .first_line()
                .starts_with("2.0.0 Ok: queued as"),
            "{result:?}"
        );
        assert_eq!(p.delivered.len(), 1);
        let got = &p.delivered[0];
        assert_eq!(got.mail_from, FROM);
        assert_eq!(got.rcpts, [BOB]);
        assert_eq!(
            String::from_utf8_lossy(&got.message),
            String::from_utf8_lossy(&crlf(&raw))
        );
        // The dialogue, in order, ends with a QUIT answered and both sides closed.
        let commands: Vec<&str> = p
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                SenderEvent::Command(line) => Some(line.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(commands[0], "EHLO mta.example.com");
        assert!(commands[1].starts_with("MAIL FROM:<alice@example.com> SIZE="));
        assert_eq!(commands[2..], ["RCPT TO:<bob@example.net>", "DATA", "QUIT"]);
        assert!(p.to_client.ends_with(b"221 2.0.0 Bye\r\n"));
        assert!(p.sender_closed && p.receiver_closed && p.receiver.is_closed());
    }
}

#[test]
fn rejected_recipient_is_reported() {
    let config = ReceiverConfig {
        reject_rcpt: vec!["nobody@example.net".into()],
        ..ReceiverConfig::default()
    };
    let raw = tricky_message();
    let p = Peers::deliver(&raw, &["nobody@example.net", BOB], config.clone());
    match p.result() {
        AttemptResult::Delivered {
            rejected_rcpts,
            deferred_rcpts,
            ..
        } => {
            assert_eq!(rejected_rcpts.len(), 1);
            assert_eq!(rejected_rcpts[0].0, "nobody@example.net");
            assert_eq!(rejected_rcpts[0].1.code, 550);
            assert!(
                rejected_rcpts[0]
                    .1
                    .first_line()
                    .starts_with("5.1.1 <nobody@example.net>")
            );
            assert!(deferred_rcpts.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.delivered[0].rcpts, [BOB]);

    // Every recipient refused: the message bounces and no DATA is sent.
    let p = Peers::deliver(&raw, &["nobody@example.net"], config);
    match p.result() {
        AttemptResult::Bounced(r) => assert_eq!(r.code, 550),
        other => panic!("{other:?}"),
    }
    assert!(p.delivered.is_empty());
    let client = String::from_utf8_lossy(&p.to_server).into_owned();
    assert!(!client.contains("DATA"), "{client}");
    assert!(client.ends_with("QUIT\r\n"));
}

#[test]
fn silent_final_dot_times_out_at_exactly_data_done() {
    for preset in [SenderPreset::postfix(), SenderPreset::sendmail()] {
        let raw = tricky_message();
        let start = t(7);
        let mut p = Peers::new(
            sender(preset.timeouts.clone(), &[BOB], &raw, start),
            ReceiverConfig::default(),
            start,
        );
        p.mute_after_delivery = true;
        p.run(t(86_400));
        let body_at = p
            .events
            .iter()
            .find(|(_, e)| matches!(e, SenderEvent::BodySent { .. }))
            .map(|(at, _)| *at)
            .expect("body sent");
        let timeout = SenderEvent::Timeout {
            phase: Phase::DataDone,
        };
        assert_eq!(
            p.event_at(&timeout),
            Some(body_at + preset.timeouts.data_done),
            "{}",
            preset.name
        );
        let reason = DeferReason::Timeout {
            phase: Phase::DataDone,
        };
        assert_eq!(p.result(), AttemptResult::Deferred(reason.clone()));
        assert!(reason.is_ambiguous());
        // The ambiguity is said out loud, and it is real: the server has the message.
        assert!(
            p.event_at(&SenderEvent::MayBeDeliveredMultipleTimes { reason })
                .is_some()
        );
        assert_eq!(p.delivered.len(), 1);
        // The client hangs up without QUIT.
        assert!(!String::from_utf8_lossy(&p.to_server).contains("QUIT"));
        assert!(p.sender_closed);
    }
}

#[test]
fn receiver_command_timeout_after_300s_of_silence() {
    let mut r = ReceiverSession::new(ReceiverConfig::default(), t(0));
    let drain =
        |r: &mut ReceiverSession| std::iter::from_fn(|| r.poll_output()).collect::<Vec<_>>();
    assert_eq!(drain(&mut r).len(), 1, "the greeting");
    assert_eq!(r.poll_timeout(), Some(t(300)));
    r.handle_bytes(b"EHLO client.example\r\n", t(10));
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(t(310)));
    r.handle_timeout(Timestamp::from_millis(309_999));
    assert!(drain(&mut r).is_empty(), "not a moment early");
    r.handle_timeout(t(310));
    let out = drain(&mut r);
    assert_eq!(
        out,
        [
            ReceiverOutput::Send(
                b"421 4.4.2 mx.aptsim.example Error: timeout exceeded\r\n".to_vec()
            ),
            ReceiverOutput::Close
        ]
    );
    assert_eq!(r.poll_timeout(), None);
    r.handle_bytes(b"NOOP\r\n", t(311));
    assert!(drain(&mut r).is_empty(), "closed: no more replies");

    // Also in the middle of message data.
    let mut r = ReceiverSession::new(ReceiverConfig::default(), t(0));
    r.handle_bytes(
        b"HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: half",
        t(20),
    );
    drain(&mut r);
    r.handle_timeout(Timestamp::from_millis(319_999));
    assert!(drain(&mut r).is_empty());
    r.handle_timeout(t(320));
    let out = drain(&mut r);
    let timed_out = |b: &[u8]| b.starts_with(b"421 4.4.2 ");
    assert!(matches!(&out[..], [ReceiverOutput::Send(b), ReceiverOutput::Close] if timed_out(b)));

    // Wired to a sender that waits longer for its greeting than the server waits for EHLO:
    // the sender is never given the greeting (a slow network), so the server hangs up first.
    let mut p = Peers::new(
        sender(
            SenderTimeouts {
                greeting: Duration::from_secs(3_600),
                ..SenderTimeouts::rfc5321()
            },
            &[BOB],
            b"x",
            t(0),
        ),
        ReceiverConfig::default(),
        t(0),
    );
    // Swallow the greeting.
    while p.receiver.poll_output().is_some() {}
    p.run(t(7_200));
    assert_eq!(
        p.result(),
        AttemptResult::Deferred(DeferReason::Reply(Reply::new(
            421,
            "4.4.2 mx.aptsim.example Error: timeout exceeded"
        )))
    );
    assert_eq!(p.now, t(300));
}

/// What a scripted server answers to each step.
#[derive(Clone)]
/// One full dialogue: what each side sent and what came of it.
#[derive(Debug, PartialEq)]
struct Dialogue {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    result: AttemptResult,
    delivered: Vec<ReceivedMessage>,
}

fn dialogue(raw: &[u8], chunk: usize) -> Dialogue {
    let config = ReceiverConfig {
        reject_rcpt: vec!["nobody@example.net".into()],
        ..ReceiverConfig::default()
    };
    let mut p = Peers::new(
        sender(
            SenderTimeouts::rfc5321(),
            &[BOB, "nobody@example.net"],
            raw,
            t(0),
        ),
        config,
        t(0),
    );
    p.chunk = chunk;
    p.run(t(3_600));
    Dialogue {
        result: p.result(),
        to_server: p.to_server,
        to_client: p.to_client,
        delivered: p.delivered,
    }
}

#[test]
fn every_split_gives_the_same_dialogue() {
    // Built once: mail-builder picks a new MIME boundary each time.
    let raw = message(&[("a.zip", content("PK zip-ish", 700))]);
    let whole = dialogue(&raw, usize::MAX);
    assert!(matches!(whole.result, AttemptResult::Delivered { .. }));
    assert_eq!(whole.delivered.len(), 1);
    assert_eq!(whole.delivered[0].message, crlf(&raw));
    // Live, both directions chopped into pieces of every small size.
    for chunk in 1..=17 {
        assert!(dialogue(&raw, chunk) == whole, "chunk {chunk}");
    }

    // The server's input, replayed in two pieces cut at every byte boundary: same replies,
    // same message.
    let server = |pieces: &[&[u8]]| {
        let mut r = ReceiverSession::new(
            ReceiverConfig {
                reject_rcpt: vec!["nobody@example.net".into()],
                ..ReceiverConfig::default()
            },
            t(0),
        );
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for piece in pieces {
            r.handle_bytes(piece, t(0));
            while let Some(o) = r.poll_output() {
                match o {
                    ReceiverOutput::Send(b) => sent.extend_from_slice(&b),
                    ReceiverOutput::Delivered(m) => got.push(m),
                    ReceiverOutput::Close => {}
                }
            }
        }
        (sent, got)
    };
    let wire = &whole.to_server;
    for cut in 0..=wire.len() {
        let (sent, got) = server(&[&wire[..cut], &wire[cut..]]);
        assert!(
            sent == whole.to_client && got == whole.delivered,
            "server, cut {cut}"
        );
    }

    // The client's input likewise: same commands, same outcome.
    let client = |pieces: &[&[u8]]| {
        let mut s = sender(
            SenderTimeouts::rfc5321(),
            &[BOB, "nobody@example.net"],
            &raw,
            t(0),
        );
        s.handle_connected(t(0));
        let mut sent = Vec::new();
        for piece in pieces {
            s.handle_bytes(piece, t(0));
            while let Some(o) = s.poll_output() {
                if let SenderOutput::Send(b) = o {
                    sent.extend_from_slice(&b);
                }
            }
        }
        (sent, s.result().cloned())
    };
    let wire = &whole.to_client;
    for cut in 0..=wire.len() {
        let (sent, result) = client(&[&wire[..cut], &wire[cut..]]);
        assert!(
            sent == whole.to_server && result.as_ref() == Some(&whole.result),
            "client, cut {cut}"
        );
    }
}

/// Attempt start times (seconds of age) for a message every attempt of which is deferred,
/// run against the receiver, until the preset's queue lifetime bounces it.
fn retry_timeline(preset: &SenderPreset) -> Vec<u64> {
    let config = ReceiverConfig {
        max_recipients: 0,
        ..ReceiverConfig::default()
    };
    let mut starts = Vec::new();
    let mut at = Timestamp::ZERO;
    loop {
        starts.push(at.as_millis() / 1_000);
        let mut p = Peers::new(
            sender(preset.timeouts.clone(), &[BOB], b"hi\r\n", at),
            config.clone(),
            at,
        );
        p.run(at + Duration::from_secs(86_400));
        let result = p.result();
        assert!(
            matches!(&result, AttemptResult::Deferred(DeferReason::Reply(r)) if r.code == 452),
            "{result:?}"
        );
        let age = p.now.saturating_since(Timestamp::ZERO);
        let delay = preset.retry.next_delay(starts.len() as u32, age);
        if age + delay > preset.queue_lifetime {
            return starts;
        }
        at = p.now + delay;
    }
}

#[test]
fn presets_retry_schedules() {
    let gaps = |s: &[u64]| s.windows(2).map(|w| (w[1] - w[0]) / 60).collect::<Vec<_>>();

    let postfix = retry_timeline(&presets::preset("postfix").expect("known"));
    let g = gaps(&postfix);
    assert_eq!(g[..6], [5, 5, 10, 20, 40, 70], "postfix");
    assert!(g[6..].iter().all(|m| *m == 70), "postfix: {g:?}");
    assert!(*postfix.last().expect("tries") <= 5 * 86_400);
    assert!(*postfix.last().expect("tries") + 4_200 > 5 * 86_400);

    let exim = retry_timeline(&presets::preset("exim").expect("known"));
    let g: Vec<u64> = exim.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(g[..8], [900; 8], "exim");
    assert_eq!(
        g[8..14],
        [3_600, 5_400, 8_100, 12_150, 18_225, 27_337],
        "exim"
    );
    assert!(g[14..].iter().all(|s| *s == 6 * 3_600), "exim: {g:?}");
    assert!(*exim.last().expect("tries") <= 4 * 86_400);

    let exchange = retry_timeline(&presets::preset("exchange").expect("known"));
    let g = gaps(&exchange);
    assert_eq!(g[..6], [5; 6], "exchange");
    assert!(g[6..].iter().all(|m| *m == 15), "exchange: {g:?}");
    // 6 retries in the first 30 min, then 4 an hour for the rest of the 2 days.
    assert_eq!(exchange.len(), 1 + 6 + (2 * 86_400 - 30 * 60) / 900);

    let sendmail = retry_timeline(&presets::preset("sendmail").expect("known"));
    assert!(gaps(&sendmail).iter().all(|m| *m == 15));
    assert_eq!(sendmail.len(), 1 + 5 * 86_400 / 900);
}

/// Sender → proxy → receiver, all sans-IO in one loop.
struct Chain {
    now: Timestamp,
    gw: Gateway,
    sender: SenderSession,
    proxy: ProxySession,
    receiver: Option<ReceiverSession>,
    config: ReceiverConfig,
    delivered: Vec<ReceivedMessage>,
    proxy_events: Vec<Event>,
    submits: usize,
}

impl Chain {
    fn new(policy: Policy, sender: SenderSession) -> Self {
        let gw = Gateway::new(Arc::new(policy));
        let proxy = ProxySession::new(
            Arc::new(ProxyConfig::default()),
            "192.0.2.7",
            &gw,
            Timestamp::ZERO,
        );
        let mut c = Chain {
            now: Timestamp::ZERO,
            gw,
            sender,
            proxy,
            receiver: None,
            config: ReceiverConfig::default(),
            delivered: Vec::new(),
            proxy_events: Vec::new(),
            submits: 0,
        };
        c.sender.handle_connected(c.now);
        c
    }

    fn run(&mut self, limit: Timestamp) {
        let mut fired = None;
        loop {
            let mut moved = false;
            while let Some(o) = self.sender.poll_output() {
                moved = true;
                match o {
                    SenderOutput::Send(b) => {
                        self.proxy.handle_client_bytes(&b, &mut self.gw, self.now)
                    }
                    SenderOutput::Close | SenderOutput::HalfClose => {
                        self.proxy.handle_client_eof(&mut self.gw, self.now)
                    }
                    SenderOutput::Event(_) => {}
                }
            }
            while let Some(o) = self.proxy.poll_output() {
                moved = true;
                match o {
                    Output::ToClient(b) => self.sender.handle_bytes(&b, self.now),
                    Output::ToUpstream(b) => {
                        if let Some(r) = &mut self.receiver {
                            r.handle_bytes(&b, self.now);
                        }
                    }
                    Output::ConnectUpstream => {
                        self.receiver = Some(ReceiverSession::new(self.config.clone(), self.now));
                        self.proxy.handle_upstream_connected(&mut self.gw, self.now);
                    }
                    Output::CloseUpstream => {
                        if let Some(mut r) = self.receiver.take() {
                            r.handle_closed(self.now);
                        }
                    }
                    Output::CloseClient => self.sender.handle_closed(self.now),
                    // The upload to the data center: not part of this test.
                    Output::Submit { .. } => self.submits += 1,
                    Output::Work { id, job } => {
                        let result = job.run(&std::sync::atomic::AtomicBool::new(false));
                        self.proxy
                            .handle_work_done(id, result, &mut self.gw, self.now);
                    }
                    Output::Event(e) => self.proxy_events.push(e),
                }
            }
            let mut gone = false;
            if let Some(r) = &mut self.receiver {
                while let Some(o) = r.poll_output() {
                    moved = true;
                    match o {
                        ReceiverOutput::Send(b) => {
                            self.proxy.handle_upstream_bytes(&b, &mut self.gw, self.now)
                        }
                        ReceiverOutput::Close => {
                            gone = true;
                            self.proxy.handle_upstream_closed(&mut self.gw, self.now);
                            break;
                        }
                        ReceiverOutput::Delivered(m) => self.delivered.push(m),
                    }
                }
            }
            if gone {
                self.receiver = None;
            }
            if moved {
                fired = None;
                continue;
            }
            if self.sender.is_finished() {
                return;
            }
            let next = [
                self.sender.poll_timeout(),
                self.proxy.poll_timeout(),
                self.receiver
                    .as_ref()
                    .and_then(ReceiverSession::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= limit => {
                    assert_ne!(fired, Some(at), "a deadline was due and nothing happened");
                    fired = Some(at);
                    self.now = self.now.max(at);
                    self.sender.handle_timeout(self.now);
                    self.proxy.handle_timeout(&mut self.gw, self.now);
                    if let Some(r) = &mut self.receiver {
                        r.handle_timeout(self.now);
                    }
                }
                _ => return,
            }
        }
    }
}

#[test]
fn attachment_passes_the_proxy_in_release_mode() {
    let raw = message(&[("invoice.pdf", content("%PDF-1.4 invoice", 3_000))]);
    let mut c = Chain::new(
        Policy::default(),
        sender(SenderTimeouts::rfc5321(), &[BOB], &raw, t(0)),
    );
    c.run(t(3_600));
    let result = c.sender.result().cloned().expect("finished");
    assert!(
        delivered_reply(&result)
            .first_line()
            .starts_with("2.0.0 Ok: queued as"),
        "the receiver's reply reaches the sender: {result:?}"
    );
    assert_eq!(c.delivered.len(), 1);
    assert_eq!(c.delivered[0].mail_from, FROM);
    assert_eq!(c.delivered[0].rcpts, [BOB]);
    // The message as sent, under the proxy's Received: header (RFC 5321 4.4), dated from
    // the gateway's fixed simulated epoch.
    let delivered = String::from_utf8_lossy(&c.delivered[0].message).into_owned();
    let stamp = "\tThu, 01 Jan 2026 00:00:00 +0000\r\n";
    let (received, rest) = delivered
        .split_once(stamp)
        .unwrap_or_else(|| panic!("no Received: header from the proxy: {delivered:.300}"));
    assert!(
        received.starts_with("Received: from ")
            && received.ends_with("\tby aptsim-proxy (aptsim) with ESMTP id 1;\r\n"),
        "{received}"
    );
    assert_eq!(rest, String::from_utf8_lossy(&crlf(&raw)));
    assert_eq!(c.now, t(0), "release: no waiting");
    assert!(
        c.submits >= 1,
        "the attachment went to analysis in the background"
    );
    let results: Vec<TxnResult> = c
        .proxy_events
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(log) => Some(log.result),
            _ => None,
        })
        .collect();
    assert_eq!(results, [TxnResult::Delivered]);
    assert!(c.receiver.is_none(), "the proxy quit upstream");
}
