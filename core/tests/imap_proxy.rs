//! The IMAP proxy session (core/src/imap/proxy/) between a client and a server, on a gateway
//! node: each fetch form real clients send, each action, every byte split (BEHAVIOUR.md
//! I1–I6, X4, A1).
//!
//! The oracle for an allowed message is the server itself: what the client receives through
//! the proxy must be byte for byte what the same command gets from the server directly. For
//! a bad message it is the rule that no byte of the attachment reaches the client, and that
//! what does arrive is consistent (literal sizes, `RFC822.SIZE`).

mod common;

use aptsim_core::digest::Md5;
use aptsim_core::imap::proxy::{ImapConfig, ImapEvent, MessageResult};
use aptsim_core::policy::Policy;
use aptsim_core::verdict::ThreatLevel;
use common::imap_server::FakeImap;
use common::imap_world::ImapWorld;
use common::{EICAR, content, message};

/// Chunk sizes every table test runs with: a byte at a time, an odd split, all at once.
const SPLITS: [usize; 3] = [1, 7, usize::MAX];

fn clean_message() -> (Vec<u8>, Md5) {
    let file = content("report", 400);
    (message(&[("report.pdf", file.clone())]), Md5::of(&file))
}

fn eicar_message() -> (Vec<u8>, Md5) {
    (message(&[("eicar.com", EICAR.to_vec())]), Md5::of(EICAR))
}

/// What the server answers `command` directly, after the same login and SELECT.
fn direct(messages: &[Vec<u8>], command: &[u8]) -> Vec<u8> {
    let mut server = FakeImap::new(messages);
    server.receive(b"a1 LOGIN bob secret\r\n");
    server.receive(b"a2 SELECT INBOX\r\n");
    server.receive(command)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The MD5s of the files in every literal the client received (each literal read as a
/// message by the extractor): what a client that saves what it fetched would hold, in
/// whatever encoding the message carried it.
fn served_files(got: &[u8]) -> Vec<Md5> {
    let mut out = Vec::new();
    let mut rest = got;
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&b| b == b'}') else {
            break;
        };
        let n: Option<usize> = std::str::from_utf8(&after[..close])
            .ok()
            .and_then(|d| d.parse().ok());
        let body_start = close + 3; // "}\r\n"
        match n {
            Some(n) if after.len() >= body_start + n => {
                let literal = &after[body_start..body_start + n];
                let x = aptsim_core::mime::extract(literal, &common::generous_limits());
                out.extend(x.files.iter().map(|f| f.md5));
                rest = &after[body_start + n..];
            }
            _ => rest = after,
        }
    }
    out
}

#[test]
fn greeting_and_login_capabilities_are_filtered() {
    for chunk in SPLITS {
        let mut w = ImapWorld::new(&[], Policy::default(), ImapConfig::default(), chunk);
        w.connect();
        assert_eq!(
            w.take_client_text(),
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
             AUTH=PLAIN] Dovecot ready.\r\n"
        );
        w.client(b"a1 LOGIN bob secret\r\n");
        assert_eq!(
            w.take_client_text(),
            "a1 OK [CAPABILITY IMAP4rev1 IDLE LITERAL+ BINARY] Logged in\r\n"
        );
        w.client(b"a2 CAPABILITY\r\n");
        assert_eq!(
            w.take_client_text(),
            "* CAPABILITY IMAP4rev1 IDLE LITERAL+\r\na2 OK Capability completed.\r\n"
        );
    }
}

/// The fetch forms of `reference/IMAP.md`, for one message at UID 1 / sequence 1.
const FORMS: &[&str] = &[
    // Thunderbird opening a message.
    "f UID FETCH 1 (UID RFC822.SIZE BODY[])\r\n",
    // K-9 and mbsync.
    "f UID FETCH 1 (UID BODY.PEEK[])\r\n",
    "f UID FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])\r\n",
    // Outlook.
    "f UID FETCH 1 (UID RFC822.SIZE RFC822.PEEK)\r\n",
    "f FETCH 1 RFC822\r\n",
    "f FETCH 1 (BODY.PEEK[HEADER])\r\n",
    // fetchmail.
    "f FETCH 1 RFC822.HEADER\r\n",
    "f FETCH 1 BODY.PEEK[TEXT]\r\n",
    // Thunderbird's first chunk.
    "f UID FETCH 1 (UID RFC822.SIZE BODY.PEEK[]<0.300>)\r\n",
    "f FETCH 1:* (UID BODY.PEEK[])\r\n",
];

#[test]
fn an_allowed_message_arrives_as_the_server_sends_it_in_every_form() {
    let (m, md5) = clean_message();
    for form in FORMS {
        for chunk in SPLITS {
            let mut w = ImapWorld::ready(
                std::slice::from_ref(&m),
                Policy::default(),
                ImapConfig::default(),
                chunk,
            );
            w.client(form.as_bytes());
            assert_eq!(w.take_client(), b"", "{form}: held until judged (I1)");
            assert_eq!(w.uploads, vec![md5], "{form}");
            w.verdict(md5, ThreatLevel::Clean);
            let got = w.take_client();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&direct(std::slice::from_ref(&m), form.as_bytes())),
                "{form} split {chunk}"
            );
        }
    }
}

#[test]
fn a_denied_message_never_reaches_the_client_and_the_notice_is_consistent() {
    let (m, md5) = eicar_message();
    for form in FORMS
        .iter()
        .filter(|f| !f.contains("HEADER") && !f.contains("TEXT"))
    {
        for chunk in SPLITS {
            let mut w = ImapWorld::ready(
                std::slice::from_ref(&m),
                Policy::default(),
                ImapConfig::default(),
                chunk,
            );
            w.client(form.as_bytes());
            assert_eq!(w.take_client(), b"", "{form}");
            w.verdict(md5, ThreatLevel::High);
            let got = w.take_client();
            assert!(!contains(&got, EICAR), "{form}: EICAR reached the client");
            assert!(
                !served_files(&got).contains(&md5),
                "{form}: EICAR reached the client"
            );
            let text = String::from_utf8_lossy(&got);
            assert!(text.contains("f OK"), "{form}: {text}");
            if !form.contains("<0.300>") {
                assert!(
                    text.contains("eicar.com"),
                    "{form}: the notice names the file: {text}"
                );
            }
            let logs = w.message_logs();
            assert_eq!(logs.len(), 1);
            assert_eq!(logs[0].result, MessageResult::Notice);
            let served = logs[0].served_size.expect("a notice has its own size");
            if form.contains("RFC822.SIZE") {
                assert!(
                    text.contains(&format!("RFC822.SIZE {served}")),
                    "{form}: {text}"
                );
            }
            if !form.contains("<0.300>") {
                assert!(text.contains(&format!("{{{served}}}")), "{form}: {text}");
            }
        }
    }
}

#[test]
fn all_files_of_a_message_are_submitted_at_once() {
    let files: Vec<Vec<u8>> = (0..3).map(|i| content(&format!("file{i}"), 300)).collect();
    let m = message(&[
        ("a.pdf", files[0].clone()),
        ("b.pdf", files[1].clone()),
        ("c.pdf", files[2].clone()),
    ]);
    let mut w = ImapWorld::ready(&[m], Policy::default(), ImapConfig::default(), usize::MAX);
    w.client(b"f FETCH 1 BODY.PEEK[]\r\n");
    let md5s: Vec<Md5> = files.iter().map(|f| Md5::of(f)).collect();
    assert_eq!(
        w.submissions,
        vec![md5s.clone()],
        "I2/N6: one submission with every file"
    );
    w.verdict(md5s[0], ThreatLevel::Clean);
    w.verdict(md5s[1], ThreatLevel::Clean);
    assert_eq!(w.take_client(), b"", "still held for the third file");
    w.verdict(md5s[2], ThreatLevel::Clean);
    assert!(w.take_client_text().contains("f OK"));
}

#[test]
fn a_client_that_gives_up_is_answered_from_the_cache_on_its_next_fetch() {
    let (m, md5) = eicar_message();
    let mut w = ImapWorld::ready(&[m], Policy::default(), ImapConfig::default(), usize::MAX);
    w.client(b"f UID FETCH 1 (UID RFC822.SIZE BODY[])\r\n");
    w.advance(100);
    w.client_leaves();
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, ImapEvent::ClientGone { judging: 1 }))
    );
    w.verdict(md5, ThreatLevel::High);
    assert_eq!(w.message_logs()[0].result, MessageResult::Abandoned);
    assert!(w.finished, "the session ends once the analysis is done");
    w.reconnect();
    w.client(b"g UID FETCH 1 (UID RFC822.SIZE BODY[])\r\n");
    let text = w.take_client_text();
    assert!(
        text.contains("g OK"),
        "decided from the cache at once (I3): {text}"
    );
    assert!(!text.contains("EICAR"));
    assert_eq!(w.uploads, vec![md5], "no second upload");
}

#[test]
fn each_action_serves_what_the_policy_table_says() {
    use aptsim_core::policy::Action;
    let (m, md5) = eicar_message();
    let cases = [
        (Action::Allow, MessageResult::Unchanged),
        (Action::Lock, MessageResult::Rewritten),
        (Action::Drop, MessageResult::Rewritten),
        (Action::Block, MessageResult::Rewritten),
        (Action::Quarantine, MessageResult::Notice),
        (Action::Deny, MessageResult::Notice),
    ];
    for (action, expected) in cases {
        for chunk in SPLITS {
            let mut policy = Policy::default();
            policy.levels.high.action = action;
            let mut w = ImapWorld::ready(
                std::slice::from_ref(&m),
                policy,
                ImapConfig::default(),
                chunk,
            );
            w.client(b"f UID FETCH 1 (UID RFC822.SIZE BODY.PEEK[])\r\n");
            w.verdict(md5, ThreatLevel::High);
            let got = w.take_client();
            let text = String::from_utf8_lossy(&got);
            assert!(text.contains("f OK"), "{action}: {text}");
            let log = &w.message_logs()[0];
            assert_eq!(log.result, expected, "{action}");
            assert_eq!(log.action, action);
            assert_eq!(
                served_files(&got).contains(&md5),
                action == Action::Allow,
                "{action}: {text}"
            );
            let size = log.served_size.unwrap_or(m.len());
            assert!(
                text.contains(&format!("RFC822.SIZE {size} BODY[] {{{size}}}")),
                "{action}: sizes agree with what is served: {text}"
            );
            assert_eq!(
                w.node.gateway().is_blocked("192.0.2.9", w.now),
                action == Action::Block,
                "{action}: only block refuses the site"
            );
        }
    }
}
