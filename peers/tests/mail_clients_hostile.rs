//! Hostile servers: a true server's answers mutated at random (lines put before or after,
//! bytes flipped, answers cut short, late, or the connection hung up) — no mail client
//! panics, every connection it opens it closes once, and what it cannot read ends the
//! operation with a typed reason.

mod common;

use std::time::Duration;

use aptsim_core::clock::Timestamp;
use std::collections::VecDeque;

use aptsim_peers::mail_client::{
    ClientConfig, ClientEvent, ClientOutput, ClientPreset, ConnId, FailReason, Job, MailClient,
    OpenAt, preset,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use common::imap_responder::Responder;
use common::mail_world::{World, config, message, secs, with_attachment};

/// Lines a server could send anywhere, right or wrong.
const PIECES: &[&[u8]] = &[
    b"* BYE gone\r\n",
    b"1 OK done\r\n",
    b"4 NO no\r\n",
    b"A0004 BAD bad\r\n",
    b"* 3 EXISTS\r\n",
    b"* SEARCH 1 2\r\n",
    b"* 1 FETCH (UID 1 RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n",
    b"* 1 FETCH (RFC822.HEADER {4}\r\nab\r\n)\r\n",
    b"* 2 FETCH (UID 2 BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1))\r\n",
    b"* 1 FETCH (UID 1 BODY[]<0> {3}\r\nabc)\r\n",
    b"* 1 FETCH (UID 1 BODY[]",
    b"{4294967296}\r\n",
    b"+ idling\r\n",
    b"* OK Still here\r\n",
    b"\r\n",
    b"\x00\xff*",
];

/// What happens to one answer of the server.
#[derive(Debug, Clone)]
enum Mutation {
    Pass,
    Before(Vec<u8>),
    After(Vec<u8>),
    Flip(usize),
    /// Only the first bytes come; the server then says nothing more on this connection.
    Truncate(usize),
    /// The answer comes this many seconds late.
    Delay(u16),
    HangUp,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![
        3 => prop::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ];
    prop_oneof![
        6 => Just(Mutation::Pass),
        2 => piece.clone().prop_map(Mutation::Before),
        1 => piece.prop_map(Mutation::After),
        1 => any::<usize>().prop_map(Mutation::Flip),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (0u16..400).prop_map(Mutation::Delay),
        1 => Just(Mutation::HangUp),
    ]
}

/// Drives a client against the scripted server, each answer mutated in turn; afterwards a
/// day passes with the server answering truly. Returns the connections opened and closed.
fn drive(config: ClientConfig, mutations: &[Mutation]) -> (Vec<ConnId>, Vec<ConnId>) {
    let mut c = MailClient::new(config, ChaCha8Rng::seed_from_u64(1)).expect("valid");
    let mut server = Responder::new(&[message("a", 900), with_attachment("b", 140_000)]);
    let (mut opened, mut closed) = (Vec::new(), Vec::new());
    let mut current: Option<ConnId> = None;
    let mut muted = false;
    let mut answers: VecDeque<Vec<u8>> = VecDeque::new();
    let mut mutations = mutations.iter();
    let mut now = Timestamp::ZERO;
    let end = Timestamp::ZERO + Duration::from_secs(24 * 3600);
    for _ in 0..100_000 {
        // Outputs first: connections, commands to the server.
        while let Some(out) = c.poll_output() {
            match out {
                ClientOutput::Connect { conn } => {
                    opened.push(conn);
                    current = Some(conn);
                    muted = false;
                    server.reset_connection();
                    answers.clear();
                    c.handle_connected(conn, now);
                    answers.push_back(server.greeting.clone());
                }
                ClientOutput::Close { conn } => {
                    assert!(!closed.contains(&conn), "{conn} closed twice");
                    closed.push(conn);
                    if current == Some(conn) {
                        current = None;
                        answers.clear();
                    }
                }
                ClientOutput::Send { conn, bytes } => {
                    assert!(opened.contains(&conn) && !closed.contains(&conn));
                    let answer = server.receive(&bytes);
                    if !answer.is_empty() && !muted {
                        answers.push_back(answer);
                    }
                }
                ClientOutput::Event(_) => {}
            }
        }
        if let (Some(conn), Some(mut answer)) = (current, answers.pop_front()) {
            match mutations.next().cloned().unwrap_or(Mutation::Pass) {
                Mutation::Pass => {}
                Mutation::Before(p) => answer.splice(0..0, p).for_each(drop),
                Mutation::After(p) => answer.extend(p),
                Mutation::Flip(i) => {
                    let i = i % answer.len().max(1);
                    if let Some(b) = answer.get_mut(i) {
                        *b ^= 0x5a;
                    }
                }
                Mutation::Truncate(i) => {
                    answer.truncate(i % answer.len().max(1));
                    muted = true;
                }
                Mutation::Delay(s) => {
                    let at = now + Duration::from_secs(u64::from(s));
                    while let Some(due) = c.poll_timeout().filter(|d| *d <= at) {
                        now = now.max(due);
                        c.handle_timeout(now);
                    }
                    now = now.max(at);
                    if current != Some(conn) {
                        continue;
                    }
                }
                Mutation::HangUp => {
                    current = None;
                    answers.clear();
                    c.handle_closed(conn, now);
                    continue;
                }
            }
            c.handle_bytes(conn, &answer, now);
            continue;
        }
        match c.poll_timeout() {
            Some(due) if due <= end => {
                now = now.max(due);
                c.handle_timeout(now);
            }
            _ => break,
        }
    }
    if let Some(conn) = current {
        c.handle_closed(conn, end);
        while let Some(out) = c.poll_output() {
            if let ClientOutput::Close { conn } = out {
                closed.push(conn);
            }
        }
    }
    (opened, closed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_client_panics_and_every_connection_is_closed(
        which in 0usize..5,
        mutations in prop::collection::vec(mutation(), 0..30),
    ) {
        let name = aptsim_peers::mail_client::presets::PRESETS[which];
        let mut cfg = config(preset(name).expect("known"));
        cfg.opens = vec![OpenAt { uid: 2, at: Duration::from_secs(30) }];
        cfg.attachments.probability = 1.0;
        let (opened, mut closed) = drive(cfg, &mutations);
        closed.sort();
        prop_assert_eq!(closed, opened, "every connection opened is closed once");
    }
}

#[test]
fn unreadable_answers_end_the_operation_with_a_reason() {
    let cases: [(&[u8], &str); 4] = [
        (b"2 OK logged in\r\n", "reply to no command"),
        (b"* 1 FETCH (UID x)\r\n", "in * 1 FETCH"),
        (b"* 1 FETCH (UID 1 BODY[] {4294967296}\r\n", "literal"),
        (b"HTTP/1.1 400 Bad Request\r\n", "not a greeting"),
    ];
    for (bytes, says) in cases {
        let mut w = World::new(config(ClientPreset::mbsync()), &[message("a", 100)], true);
        if says == "not a greeting" {
            w.server.greeting = bytes.to_vec();
        } else {
            w.server.before.push(("LOGIN".to_owned(), bytes.to_vec()));
        }
        w.run_until(secs(1));
        let reason = w.events().into_iter().find_map(|e| match e {
            ClientEvent::Failed {
                job: Job::Check,
                reason: FailReason::Protocol(r),
            } => Some(r),
            _ => None,
        });
        let reason = reason.unwrap_or_else(|| panic!("{says}: {:?}", w.events()));
        assert!(reason.contains(says), "{reason:?} should say {says:?}");
        assert_eq!(w.closes, w.connects, "{says}: closed");
    }
    // A greeting of BYE is its own reason.
    let mut w = World::new(config(ClientPreset::fetchmail()), &[], false);
    w.server.greeting = b"* BYE Too many connections\r\n".to_vec();
    w.run_until(secs(1));
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::ServerBye
    }));
}

#[test]
fn a_refused_login_fails_the_operation_and_logs_out() {
    let mut w = World::new(
        config(ClientPreset::thunderbird()),
        &[message("a", 100)],
        false,
    );
    w.server.bad.push("LOGIN".to_owned());
    w.run_until(secs(1));
    assert_eq!(
        w.commands_from(0),
        ["LOGIN \"bob\" \"pw\"", "LOGOUT"],
        "no SELECT after a refused LOGIN"
    );
    assert!(w.events().iter().any(|e| matches!(
        e,
        ClientEvent::Failed {
            job: Job::Check,
            reason: FailReason::Refused { .. }
        }
    )));
    // The LOGIN line is never traced with its password.
    assert!(w.events().contains(&ClientEvent::Command {
        conn: ConnId(1),
        line: "LOGIN \"bob\" \"***\"".to_owned()
    }));
}
