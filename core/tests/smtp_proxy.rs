//! The SMTP proxy session, table-driven: a scripted upstream, the client's bytes, and what
//! each side sees. Covers S1, S2, S5, S6, S7, X2, A1 (deny, quarantine, block), pipelining,
//! every error reply, smuggling vectors, and every input split at every byte boundary.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::policy::{Action, Policy};
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession, TxnResult};
use aptsim_core::smtp::wire::data::BareNewline;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use common::harness::{EHLO_REPLY, Harness};
use common::{content, hold_policy, message};

fn verdict(level: ThreatLevel) -> Verdict {
    Verdict::from_level(level, &Thresholds::default())
}

#[test]
fn greeting_is_relayed_and_ehlo_filtered() {
    let mut h = Harness::new(Policy::default());
    assert_eq!(h.connects, 1);
    assert_eq!(h.take_client(), "", "no greeting before the upstream's");
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx.example ESMTP\r\n");
    assert_eq!(h.take_client(), "220 mx.example ESMTP\r\n");
    h.client(b"EHLO client.example\r\n");
    assert_eq!(h.take_upstream(), "EHLO client.example\r\n");
    h.upstream(EHLO_REPLY);
    let ehlo = h.take_client();
    assert_eq!(
        ehlo,
        "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
    );
}

#[test]
fn s1_release_delivers_at_once_and_submits_in_background() {
    let mut h = Harness::ready(Policy::default());
    h.envelope();
    let raw = message(&[("a.pdf", content("a", 300))]);
    h.send_message(&raw);
    assert_eq!(
        h.take_client(),
        "",
        "the sender waits for the upstream's reply"
    );
    let up = h.take_upstream();
    assert_eq!(up, "DATA\r\n");
    h.upstream(b"354 go ahead\r\n");
    let body = h.take_upstream();
    assert!(body.ends_with("\r\n.\r\n") && body.contains("a.pdf"));
    h.upstream(b"250 2.0.0 queued as 123\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 queued as 123\r\n");
    assert_eq!(
        h.submits,
        [vec![Md5::of(&content("a", 300))]],
        "N4: uploaded in the background"
    );
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
    // X5: the file is judged high three minutes later.
    h.advance(180);
    h.verdict(Md5::of(&content("a", 300)), ThreatLevel::High);
    let exposure = h.events.iter().find_map(|e| match e {
        Event::Exposure { window, level, .. } => Some((*window, *level)),
        _ => None,
    });
    assert_eq!(
        exposure,
        Some((Duration::from_secs(180), ThreatLevel::High))
    );
}

#[test]
fn s2_hold_answers_only_after_the_verdict() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 300);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    assert_eq!(h.take_client(), "");
    assert_eq!(
        h.take_upstream(),
        "",
        "nothing goes upstream during the hold"
    );
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::HoldStarted { .. }))
    );
    h.advance(240);
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    h.take_upstream();
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    let held = h.events.iter().find_map(|e| match e {
        Event::Transaction(t) => t.held,
        _ => None,
    });
    assert_eq!(held, Some(Duration::from_secs(240)));
}

#[test]
fn s6_a1_known_bad_file_is_denied_with_554_and_upstream_reset() {
    let mut h = Harness::ready(Policy::default());
    let bad = content("bad", 100);
    h.gw.cache
        .insert(Md5::of(&bad), verdict(ThreatLevel::High), h.now);
    h.envelope();
    h.send_message(&message(&[("bad.exe", bad)]));
    let reply = h.take_client();
    assert!(reply.starts_with("554 5.7.1 "), "{reply}");
    assert!(reply.contains("bad.exe"), "{reply}");
    assert_eq!(h.take_upstream(), "RSET\r\n");
    assert!(h.submits.is_empty(), "N7: a known file is not uploaded");
    assert_eq!(h.transactions(), [TxnResult::Denied]);
}

#[test]
fn deny_replies_are_ascii_without_smtputf8_and_name_an_unnamed_file() {
    let bad = content("bad", 100);
    let worse = content("worse", 100);
    let with_names = |mail_params: &str| {
        let mut h = Harness::ready(Policy::default());
        for file in [&bad, &worse] {
            h.gw.cache
                .insert(Md5::of(file), verdict(ThreatLevel::High), h.now);
        }
        h.client(format!("MAIL FROM:<alice@example.com>{mail_params}\r\n").as_bytes());
        h.upstream(b"250 2.1.0 Ok\r\n");
        h.client(b"RCPT TO:<bob@example.net>\r\n");
        h.upstream(b"250 2.1.5 Ok\r\n");
        h.take_client();
        h.take_upstream();
        h.send_message(&message(&[
            ("résumé.exe", bad.clone()),
            ("", worse.clone()),
        ]));
        h.take_client()
    };
    let reply = with_names("");
    assert!(reply.starts_with("554 5.7.1 "), "{reply}");
    assert!(reply.is_ascii(), "{reply}");
    assert!(reply.contains("\"r%C3%A9sum%C3%A9.exe\""), "{reply}");
    assert!(reply.contains("an unnamed file ("), "{reply}");
    assert!(!reply.contains("  ("), "{reply}");
    // With SMTPUTF8 negotiated for the transaction the name goes as it is.
    let reply = with_names(" SMTPUTF8");
    assert!(reply.contains("\"résumé.exe\""), "{reply}");
}

#[test]
fn a1_quarantine_accepts_and_keeps_the_message() {
    let mut policy = hold_policy();
    policy.levels.high.action = Action::Quarantine;
    let mut h = Harness::ready(policy);
    let bad = content("bad", 100);
    h.gw.cache
        .insert(Md5::of(&bad), verdict(ThreatLevel::High), h.now);
    h.envelope();
    h.send_message(&message(&[("bad.exe", bad)]));
    assert!(h.take_client().starts_with("250 "));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Quarantined { .. }))
    );
    assert_eq!(h.take_upstream(), "RSET\r\n");
}

#[test]
fn a1_block_refuses_the_site_for_its_time() {
    let mut policy = hold_policy();
    policy.levels.high.action = Action::Block;
    let mut h = Harness::ready(policy);
    let bad = content("bad", 100);
    h.gw.cache
        .insert(Md5::of(&bad), verdict(ThreatLevel::High), h.now);
    h.envelope();
    h.send_message(&message(&[("bad.exe", bad), ("ok.txt", content("ok", 10))]));
    h.verdict(Md5::of(&content("ok", 10)), ThreatLevel::Clean);
    assert_eq!(
        h.take_upstream(),
        "DATA\r\n",
        "block delivers the rest, rewritten"
    );
    assert!(h.gw.is_blocked("192.0.2.7", h.now + Duration::from_secs(1_199)));
    assert!(
        !h.gw
            .is_blocked("192.0.2.7", h.now + Duration::from_secs(1_200))
    );
    // A new connection from the blocked site is refused at once.
    let mut again = ProxySession::new(Arc::new(ProxyConfig::default()), "192.0.2.7", &h.gw, h.now);
    let mut outs = Vec::new();
    while let Some(o) = again.poll_output() {
        outs.push(o);
    }
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::ToClient(b) if b.starts_with(b"421 4.7.0")))
    );
    assert!(!outs.iter().any(|o| matches!(o, Output::ConnectUpstream)));
}

#[test]
fn s3_s5_client_leaving_during_a_hold_is_never_delivered_but_analysis_goes_on() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let files = [content("a", 10), content("b", 10)];
    h.send_message(&message(&[
        ("a.pdf", files[0].clone()),
        ("b.pdf", files[1].clone()),
    ]));
    assert_eq!(h.submits.len(), 1, "S3: one at a time");
    h.advance(600);
    // The sender's timeout ran out and it closed: its FIN, long after its last bytes.
    h.eof();
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::ClientGone {
            txn: Some(1),
            after_body_sent: false
        }
    )));
    assert_eq!(h.take_upstream(), "QUIT\r\n");
    h.verdict(Md5::of(&files[0]), ThreatLevel::Clean);
    assert_eq!(
        h.submits.len(),
        2,
        "the next file is still submitted after the client left"
    );
    h.verdict(Md5::of(&files[1]), ThreatLevel::Clean);
    assert!(!h.take_upstream().contains("DATA"), "never delivered later");
    assert_eq!(h.transactions(), [TxnResult::Abandoned]);
    assert!(
        h.gw.cache.get(&Md5::of(&files[1]), h.now).is_some(),
        "the retry will find the cache"
    );
}

#[test]
fn x2_deadline_answers_451() {
    let policy = Policy {
        tempfail_deadline: Some(Duration::from_secs(540)),
        ..hold_policy()
    };
    let mut h = Harness::ready(policy);
    h.envelope();
    h.send_message(&message(&[("a.pdf", content("a", 10))]));
    h.advance(539);
    assert_eq!(h.take_client(), "");
    h.advance(1);
    assert!(h.take_client().starts_with("451 4.7.0 "));
    assert_eq!(h.take_upstream(), "RSET\r\n");
}

#[test]
fn s7_unreachable_data_center_lets_mail_through() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 10);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.gw.record_failure(&Md5::of(&file));
    h.s.handle_unreachable(&Md5::of(&file), &mut h.gw, h.now);
    h.drain();
    assert_eq!(h.take_upstream(), "DATA\r\n");
}

#[test]
fn upstream_lost_during_hold_is_reconnected_and_the_envelope_replayed() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 10);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.advance(300);
    h.upstream(b"421 4.4.2 mx.example Error: timeout exceeded\r\n");
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    assert_eq!(h.connects, 1);
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert_eq!(h.connects, 2, "reconnects for delivery");
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.drain();
    h.upstream(b"220 mx.example\r\n");
    assert_eq!(h.take_upstream(), "EHLO client.example\r\n");
    h.upstream(EHLO_REPLY);
    assert_eq!(h.take_upstream(), "MAIL FROM:<alice@example.com>\r\n");
    h.upstream(b"250 ok\r\n");
    assert_eq!(h.take_upstream(), "RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 ok\r\n");
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    h.take_upstream();
    h.upstream(b"250 2.0.0 Ok: queued\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok: queued\r\n");
}

#[test]
fn replay_refused_tempfails_the_sender() {
    let mut h = Harness::ready(hold_policy());
    h.envelope();
    let file = content("a", 10);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    h.s.handle_upstream_connect_failed(&mut h.gw, h.now);
    h.drain();
    assert!(h.take_client().starts_with("451 4.4.0 "));
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}

#[test]
fn an_upstream_421_is_passed_on_and_both_sides_closed() {
    let mut h = Harness::ready(Policy::default());
    h.envelope();
    h.send_message(&message(&[("a.pdf", content("a", 10))]));
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    h.take_upstream();
    h.upstream(b"421 4.0.0 Server closing connection\r\n");
    assert_eq!(h.take_client(), "421 4.0.0 Server closing connection\r\n");
    assert!(h.client_closed && h.upstream_closed);
    assert_eq!(h.transactions(), [TxnResult::Tempfailed]);
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let mut h = Harness::ready(Policy::default());
    h.client(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nNOOP\r\n");
    assert_eq!(
        h.take_upstream(),
        "MAIL FROM:<a@x>\r\n",
        "one command upstream at a time"
    );
    h.upstream(b"250 2.1.0 Ok\r\n");
    assert_eq!(h.take_upstream(), "RCPT TO:<b@y>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    h.upstream(b"550 5.1.1 no such user\r\n");
    assert_eq!(
        h.take_client(),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no such user\r\n250 2.0.0 Ok\r\n"
    );
}

#[test]
fn error_replies() {
    let cases: [(&[u8], &str); 9] = [
        (b"FROB\r\n", "500 5.5.1"),
        (b"MAIL a@b\r\n", "501 5.5.4"),
        (b"RCPT TO:<b@y>\r\n", "503 5.5.1"),
        (b"DATA\r\n", "503 5.5.1"),
        (b"STARTTLS\r\n", "502 5.5.1"),
        (b"BDAT 10 LAST\r\n", "502 5.5.1"),
        (b"VRFY bob\r\n", "252 2.5.0"),
        (b"NOOP\r\n", "250 2.0.0"),
        (b"QUIT\r\n", "221 2.0.0"),
    ];
    for (input, expected) in cases {
        let mut h = Harness::ready(Policy::default());
        h.client(input);
        let got = h.take_client();
        assert!(got.starts_with(expected), "{input:?}: {got}");
        assert_eq!(
            h.take_upstream(),
            if input.starts_with(b"QUIT") {
                "QUIT\r\n"
            } else {
                ""
            }
        );
    }
    let mut h = Harness::ready(Policy::default());
    h.client(b"MAIL FROM:<a@x>\r\n");
    h.upstream(b"250 ok\r\n");
    h.take_client();
    h.client(b"DATA\r\n");
    assert!(
        h.take_client().starts_with("554 5.5.1"),
        "DATA without recipients"
    );
    let mut h = Harness::ready(Policy::default());
    let mut long = vec![b'N'; 3_000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    h.client(&long);
    assert_eq!(
        h.take_client(),
        "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"
    );
}

#[test]
fn too_many_errors_and_idle_timeout_close_the_connection() {
    let mut h = Harness::ready(Policy::default());
    h.client(&b"FROB\r\n".repeat(11));
    assert!(
        h.take_client()
            .ends_with("421 4.7.0 Too many errors, closing connection\r\n")
    );
    assert!(h.client_closed);
    let mut h = Harness::ready(Policy::default());
    h.advance(599);
    assert!(!h.client_closed);
    h.advance(1);
    assert!(h.take_client().starts_with("421 4.4.2"));
    assert!(h.client_closed);
}

#[test]
fn limits_on_recipients_and_size() {
    let config = ProxyConfig {
        max_recipients: 2,
        max_message_bytes: 1_000,
        ..ProxyConfig::default()
    };
    let mut h = Harness::with(Policy::default(), config);
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx\r\n");
    h.client(b"EHLO c\r\n");
    h.upstream(b"250 mx\r\n");
    h.envelope();
    h.client(b"RCPT TO:<c@y>\r\n");
    h.upstream(b"250 ok\r\n");
    h.take_client();
    h.take_upstream();
    h.client(b"RCPT TO:<d@y>\r\n");
    assert!(h.take_client().starts_with("452 4.5.3"));
    h.send_message(
        &b"0123456789"
            .repeat(9)
            .iter()
            .chain(b"\r\n")
            .copied()
            .collect::<Vec<u8>>()
            .repeat(11),
    );
    assert!(h.take_client().starts_with("552 5.3.4"));
    assert_eq!(h.take_upstream(), "RSET\r\n");
}

#[test]
fn smuggling_vectors_give_no_second_message_upstream() {
    let vectors: [&[u8]; 7] = [
        b"\n.\n",
        b"\r.\r",
        b"\r\n.\n",
        b"\n.\r\n",
        b"\r.\r\n",
        b"\n.\r",
        b"\r\n.\n\r\n",
    ];
    for mode in [BareNewline::Reject, BareNewline::Normalize] {
        for v in vectors {
            let config = ProxyConfig {
                bare_newline: mode,
                ..ProxyConfig::default()
            };
            let mut h = Harness::ready_with(Policy::default(), config);
            h.envelope();
            h.client(b"DATA\r\n");
            h.take_client();
            let mut wire = b"Subject: hi\r\n\r\nfirst".to_vec();
            wire.extend_from_slice(v);
            wire.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n");
            h.client(&wire);
            if mode == BareNewline::Reject {
                let reply = h.take_client();
                assert!(reply.starts_with("550 5.5.2"), "{v:?}: {reply}");
                assert_eq!(
                    h.take_upstream(),
                    "RSET\r\n",
                    "{v:?}: nothing but a reset reaches the upstream"
                );
                assert!(h.submits.is_empty());
                continue;
            }
            // Normalised: one message goes upstream, the smuggled commands inside it as
            // content, and the upstream sees exactly one end of data.
            assert_eq!(h.take_upstream(), "DATA\r\n", "{v:?}");
            h.upstream(b"354 go\r\n");
            let body = h.take_upstream();
            assert_eq!(
                body.matches("\r\n.\r\n").count(),
                1,
                "{v:?}: relayed as {body:?}"
            );
            assert!(body.ends_with("\r\n.\r\n"), "{v:?}");
            assert!(body.contains("MAIL FROM:<evil@x>"), "{v:?}");
            assert!(
                !body.replace("\r\n", "").contains(['\r', '\n']),
                "{v:?}: a bare line end relayed: {body:?}"
            );
            h.upstream(b"250 2.0.0 queued\r\n");
            assert_eq!(h.take_client(), "250 2.0.0 queued\r\n", "{v:?}");
            assert_eq!(h.transactions(), [TxnResult::Delivered], "{v:?}");
        }
    }
}

/// A scripted receiving server: answers each command as a well-behaved one would.
#[derive(Default)]
struct FakeServer {
    seen: usize,
    in_data: bool,
}

impl FakeServer {
    /// Answers for the upstream bytes not yet read.
    fn answer(&mut self, wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(end) = wire[self.seen..].windows(2).position(|w| w == b"\r\n") {
            let line = &wire[self.seen..self.seen + end];
            self.seen += end + 2;
            if self.in_data {
                if line == b"." {
                    self.in_data = false;
                    out.extend_from_slice(b"250 queued\r\n");
                }
                continue;
            }
            let verb = line.get(..4).unwrap_or(line).to_ascii_uppercase();
            out.extend_from_slice(match verb.as_slice() {
                b"EHLO" => EHLO_REPLY,
                b"DATA" => {
                    self.in_data = true;
                    b"354 go\r\n"
                }
                b"QUIT" => b"221 bye\r\n",
                _ => b"250 ok\r\n",
            });
        }
        out
    }
}

/// The whole dialogue fed split at every byte boundary gives the same bytes to each side.
#[test]
fn every_split_gives_the_same_transcript() {
    let raw = message(&[("a.pdf", content("a", 64))]);
    let mut client = b"EHLO c.example\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n".to_vec();
    client.extend_from_slice(&aptsim_core::smtp::wire::data::dot_stuff(&raw));
    client.extend_from_slice(b"QUIT\r\n");
    let run = |cut: usize| {
        let mut h = Harness::new(Policy::default());
        h.s.handle_upstream_connected(&mut h.gw, h.now);
        h.upstream(b"220 mx\r\n");
        let mut server = FakeServer::default();
        let mut upstream_wire = Vec::new();
        for chunk in [&client[..cut], &client[cut..]] {
            h.client(chunk);
            // Let the server answer until the proxy has nothing more to say to it.
            loop {
                upstream_wire.extend_from_slice(&std::mem::take(&mut h.to_upstream));
                let answer = server.answer(&upstream_wire);
                if answer.is_empty() {
                    break;
                }
                h.upstream(&answer);
            }
        }
        (
            h.take_client(),
            String::from_utf8_lossy(&upstream_wire).into_owned(),
        )
    };
    let whole = run(client.len());
    assert!(
        whole
            .0
            .ends_with("250 queued\r\n221 2.0.0 aptsim-proxy Bye\r\n"),
        "{}",
        whole.0
    );
    assert!(
        whole.1.contains("DATA\r\n") && whole.1.ends_with(".\r\nQUIT\r\n"),
        "{}",
        whole.1
    );
    for cut in 0..client.len() {
        assert_eq!(run(cut), whole, "cut at {cut}");
    }
}
