//! What the next hop learns of the client: XFORWARD when the upstream offers it (Postfix's
//! XFORWARD_README; `core/src/smtp/proxy/xforward.rs`), and the proxy's `Received:` header
//! (RFC 5321 §4.4; `core/src/smtp/proxy/received.rs`).

mod common;

use std::time::{Duration, UNIX_EPOCH};

use aptsim_core::clock::WallClock;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, ProxyConfig, TxnResult};
use aptsim_core::verdict::ThreatLevel;
use common::harness::Harness;
use common::{content, hold_policy, message};
use std::sync::Arc;

/// Postfix 3.x's EHLO reply to a host in `smtpd_authorized_xforward_hosts`.
const POSTFIX_EHLO: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
    250-VRFY\r\n250-ETRN\r\n250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n\
    250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n";

const XFORWARD_LINE: &str =
    "XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PROTO=ESMTP HELO=client.example SOURCE=REMOTE\r\n";

/// A session past EHLO whose upstream answered EHLO with `ehlo`; what went to either side
/// is taken.
fn ready(policy: Policy, config: ProxyConfig, ehlo: &[u8]) -> Harness {
    let mut h = Harness::on(Gateway::new(Arc::new(policy)), config);
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx.example ESMTP\r\n");
    h.client(b"EHLO client.example\r\n");
    h.upstream(ehlo);
    h.take_client();
    h.take_upstream();
    h
}

fn postfix() -> Harness {
    ready(Policy::default(), ProxyConfig::default(), POSTFIX_EHLO)
}

/// MAIL from the client; the upstream gets XFORWARD first when it should, answered `reply`.
fn mail_after_xforward(h: &mut Harness, reply: &[u8]) {
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.take_upstream(), XFORWARD_LINE);
    assert_eq!(h.take_client(), "", "the client waits for its MAIL's reply");
    h.upstream(reply);
    assert_eq!(h.take_upstream(), "MAIL FROM:<alice@example.com>\r\n");
    h.upstream(b"250 2.1.0 Ok\r\n");
    assert_eq!(
        h.take_client(),
        "250 2.1.0 Ok\r\n",
        "only the MAIL's reply reaches the client"
    );
}

/// RCPT, DATA and a message relayed and accepted; returns the body the upstream got.
fn rest_of_transaction(h: &mut Harness) -> String {
    h.client(b"RCPT TO:<bob@example.net>\r\n");
    assert_eq!(h.take_upstream(), "RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    h.take_client();
    h.send_message(&message(&[]));
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    let body = h.take_upstream();
    h.upstream(b"250 2.0.0 Ok: queued as 1\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok: queued as 1\r\n");
    body
}

#[test]
fn xforward_goes_before_mail_when_the_upstream_offers_it() {
    let mut h = postfix();
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    rest_of_transaction(&mut h);
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
}

#[test]
fn no_xforward_without_the_offer() {
    let ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    let mut h = ready(Policy::default(), ProxyConfig::default(), ehlo);
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<alice@example.com>\r\n");
    // HELO: no extensions at all.
    let mut h = Harness::new(Policy::default());
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx.example ESMTP\r\n");
    h.client(b"HELO client.example\r\n");
    h.upstream(b"250 mx.example\r\n");
    h.take_upstream();
    h.client(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<a@example.com>\r\n");
}

#[test]
fn the_client_is_never_offered_xforward_and_cannot_send_it() {
    let mut h = Harness::new(Policy::default());
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx.example ESMTP\r\n");
    h.take_client();
    h.client(b"EHLO client.example\r\n");
    h.upstream(POSTFIX_EHLO);
    let ehlo = h.take_client();
    assert!(ehlo.starts_with("250-mx.example\r\n"), "{ehlo}");
    assert!(!ehlo.contains("XFORWARD"), "{ehlo}");
    h.take_upstream();
    h.client(b"XFORWARD ADDR=10.9.8.7 NAME=trusted.example\r\n");
    assert!(h.take_client().starts_with("500 "));
    assert_eq!(
        h.take_upstream(),
        "",
        "a client's XFORWARD never goes upstream"
    );
}

#[test]
fn only_the_announced_attributes_are_sent() {
    let ehlo = b"250-mx.example\r\n250-XFORWARD ADDR HELO\r\n250 8BITMIME\r\n";
    let mut h = ready(Policy::default(), ProxyConfig::default(), ehlo);
    h.client(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(
        h.take_upstream(),
        "XFORWARD ADDR=192.0.2.7 HELO=client.example\r\n"
    );
    // An offer of attributes the proxy never knows sends nothing.
    let ehlo = b"250-mx.example\r\n250-XFORWARD PORT IDENT\r\n250 8BITMIME\r\n";
    let mut h = ready(Policy::default(), ProxyConfig::default(), ehlo);
    h.client(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<a@example.com>\r\n");
}

#[test]
fn the_helo_is_xtext_encoded() {
    let mut h = Harness::new(Policy::default());
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.upstream(b"220 mx.example ESMTP\r\n");
    h.client("EHLO we+ird=\tname\u{e9}\r\n".as_bytes());
    h.upstream(b"250-mx.example\r\n250 XFORWARD HELO\r\n");
    h.take_upstream();
    h.client(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(
        h.take_upstream(),
        "XFORWARD HELO=we+2Bird+3D+09name+C3+A9\r\n"
    );
}

#[test]
fn xforward_is_sent_again_for_every_transaction() {
    let mut h = postfix();
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    rest_of_transaction(&mut h);
    // The server forgot it at the final dot.
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    // And at RSET.
    h.client(b"RSET\r\n");
    assert_eq!(h.take_upstream(), "RSET\r\n");
    h.upstream(b"250 2.0.0 Ok\r\n");
    h.take_client();
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    // A MAIL the server refused leaves no transaction, but the next MAIL gets its own
    // XFORWARD all the same.
    let mut h = postfix();
    h.client(b"MAIL FROM:<spam@example.com>\r\n");
    h.upstream(b"250 2.0.0 Ok\r\n");
    h.upstream(b"550 5.7.1 Sender rejected\r\n");
    assert_eq!(h.take_client(), "550 5.7.1 Sender rejected\r\n");
    h.take_upstream();
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
}

#[test]
fn xforward_is_replayed_after_a_reconnect() {
    let mut h = ready(hold_policy(), ProxyConfig::default(), POSTFIX_EHLO);
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    h.client(b"RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    h.take_client();
    h.take_upstream();
    let file = content("a", 10);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    // The server drops the idle connection during the hold.
    h.advance(300);
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert_eq!(h.connects, 2, "reconnects for delivery");
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.drain();
    h.upstream(b"220 mx.example ESMTP\r\n");
    assert_eq!(h.take_upstream(), "EHLO client.example\r\n");
    h.upstream(POSTFIX_EHLO);
    assert_eq!(h.take_upstream(), XFORWARD_LINE, "before the replayed MAIL");
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<alice@example.com>\r\n");
    h.upstream(b"250 2.1.0 Ok\r\n");
    assert_eq!(h.take_upstream(), "RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    h.take_upstream();
    h.upstream(b"250 2.0.0 Ok: queued as 2\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok: queued as 2\r\n");
    // A server that stopped offering XFORWARD on the new connection gets none.
    let mut h = ready(hold_policy(), ProxyConfig::default(), POSTFIX_EHLO);
    mail_after_xforward(&mut h, b"250 2.0.0 Ok\r\n");
    h.client(b"RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    h.take_upstream();
    h.take_client();
    h.send_message(&message(&[("a.pdf", file.clone())]));
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    h.s.handle_upstream_connected(&mut h.gw, h.now);
    h.drain();
    h.upstream(b"220 mx.example ESMTP\r\n");
    h.upstream(b"250-mx.example\r\n250 8BITMIME\r\n");
    assert_eq!(
        h.take_upstream(),
        "EHLO client.example\r\nMAIL FROM:<alice@example.com>\r\n"
    );
}

#[test]
fn a_refused_xforward_does_not_stop_the_mail() {
    let mut h = postfix();
    mail_after_xforward(&mut h, b"451 4.3.0 Error: queue file write error\r\n");
    rest_of_transaction(&mut h);
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
    let refused: Vec<u16> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::XforwardRefused(r) => Some(r.code),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [451], "reported");
    // A 4xx may pass: the next transaction asks again.
    mail_after_xforward(&mut h, b"550 5.7.0 Error: insufficient authorization\r\n");
    rest_of_transaction(&mut h);
    // A 5xx will not: this connection is not asked again.
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.take_upstream(), "MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(
        h.transactions(),
        [TxnResult::Delivered, TxnResult::Delivered]
    );
}

#[test]
fn a_421_to_xforward_answers_the_mail_and_closes() {
    let mut h = postfix();
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.take_upstream(), XFORWARD_LINE);
    h.upstream(b"421 4.3.2 mx.example Service shutting down\r\n");
    assert_eq!(
        h.take_client(),
        "421 4.3.2 mx.example Service shutting down\r\n"
    );
    assert!(h.client_closed && h.upstream_closed);
    assert_eq!(h.take_upstream(), "", "the MAIL was not sent");
}

#[test]
fn the_upstream_lost_at_xforward_is_lost_at_mail() {
    let mut h = postfix();
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.take_upstream(), XFORWARD_LINE);
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    assert!(h.take_client().starts_with("421 4.4.2 "));
    assert!(h.client_closed);
}

/// The header the proxy adds at 2026-11-30T11:19:04Z for transaction 1 of `client.example`.
const RECEIVED: &str = "Received: from client.example ([192.0.2.7])\r\n\
    \tby aptsim-proxy (aptsim) with ESMTP id 1;\r\n\
    \tMon, 30 Nov 2026 11:19:04 +0000\r\n";

/// The body relayed for a message held for a medium verdict (the default `drop` rewrites
/// it), with the session's clock set to 2026-11-30T11:19:04Z at the verdict.
fn body_of_rewritten(config: ProxyConfig, raw: &[u8], file: &[u8]) -> String {
    let mut h = ready(hold_policy(), config, POSTFIX_EHLO);
    h.gw.wall_clock = WallClock::starting_at(UNIX_EPOCH + Duration::from_secs(1_796_037_540));
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    h.upstream(b"250 2.0.0 Ok\r\n");
    h.upstream(b"250 2.1.0 Ok\r\n");
    h.client(b"RCPT TO:<bob@example.net>\r\n");
    h.upstream(b"250 2.1.5 Ok\r\n");
    h.take_upstream();
    h.take_client();
    h.send_message(raw);
    h.advance(4);
    h.verdict(Md5::of(file), ThreatLevel::Medium);
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    h.take_upstream()
}

#[test]
fn the_received_header_goes_on_top_of_the_rewritten_message() {
    // One message for both: mail-builder draws its boundaries at random.
    let file = content("m", 40);
    let raw = message(&[("a.pdf", file.clone())]);
    let with = body_of_rewritten(ProxyConfig::default(), &raw, &file);
    let off = ProxyConfig {
        received_header: false,
        ..ProxyConfig::default()
    };
    let without = body_of_rewritten(off, &raw, &file);
    assert!(without.contains("\"a.pdf\" was removed") && without.starts_with("From: "));
    assert_eq!(with, format!("{RECEIVED}{without}"));
}

#[test]
fn the_received_header_names_what_it_can_and_nothing_else() {
    // (HELO text, the `from` part of the header)
    let cases: [(&[u8], &str); 6] = [
        (b"EHLO client.example", "from client.example ([192.0.2.7])"),
        (b"HELO [192.0.2.7]", "from [192.0.2.7] ([192.0.2.7])"),
        (
            b"EHLO x.example\tX-Injected: yes",
            "from [192.0.2.7] ([192.0.2.7])",
        ),
        (b"EHLO a;b (c) <d>", "from [192.0.2.7] ([192.0.2.7])"),
        (
            "EHLO caf\u{e9}.example".as_bytes(),
            "from [192.0.2.7] ([192.0.2.7])",
        ),
        (
            b"EHLO x.example\nX-Injected: yes",
            "from x.example ([192.0.2.7])",
        ),
    ];
    for (helo, from) in cases {
        let mut h = Harness::new(Policy::default());
        h.s.handle_upstream_connected(&mut h.gw, h.now);
        h.upstream(b"220 mx.example ESMTP\r\n");
        let mut line = helo.to_vec();
        line.extend_from_slice(b"\r\n");
        h.client(&line);
        h.upstream(b"250 mx.example\r\n");
        h.envelope();
        h.send_message(&message(&[]));
        assert_eq!(h.take_upstream(), "DATA\r\n");
        h.upstream(b"354 go\r\n");
        let body = h.take_upstream();
        let header_end = body.find("\r\nFrom: ").expect("the message follows") + 2;
        let header = &body[..header_end];
        assert!(
            header.starts_with(&format!("Received: {from}\r\n\tby aptsim-proxy ")),
            "{helo:?}: {header}"
        );
        assert!(header.is_ascii(), "{header}");
        assert_eq!(header.matches("\r\n").count(), 3, "{header}");
        assert!(
            !header.contains("X-Injected") && !body.contains("\r\nX-Injected"),
            "{body}"
        );
    }
}
