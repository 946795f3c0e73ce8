//! The IMAP proxy session around its holds: what it relays untouched, what it refuses, the
//! literals and continuations it carries on both sides, its keepalives (X4 and the
//! server's autologout), the outage and limit paths (I4, X3), and what it does with
//! responses it cannot vouch for (fail closed). Every test runs with every byte split.

mod common;

use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::imap::proxy::{ImapConfig, ImapEvent, MessageResult};
use aptsim_core::policy::{Action, OutagePolicy, Policy};
use aptsim_core::verdict::ThreatLevel;
use common::imap_world::ImapWorld;
use common::{EICAR, content, message};

const SPLITS: [usize; 3] = [1, 5, usize::MAX];

fn clean() -> (Vec<u8>, Md5) {
    let file = content("report", 400);
    (message(&[("report.pdf", file.clone())]), Md5::of(&file))
}

fn eicar() -> (Vec<u8>, Md5) {
    (message(&[("eicar.com", EICAR.to_vec())]), Md5::of(EICAR))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn world(messages: &[Vec<u8>], chunk: usize) -> ImapWorld {
    ImapWorld::ready(messages, Policy::default(), ImapConfig::default(), chunk)
}

#[test]
fn header_field_listing_is_not_held_and_passes_as_sent() {
    let (m, _) = eicar();
    for chunk in SPLITS {
        let mut w = world(std::slice::from_ref(&m), chunk);
        w.client(
            b"h UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)])\r\n",
        );
        let text = w.take_client_text();
        assert!(text.contains("Subject: Report"), "{text}");
        assert!(text.contains("h OK"), "{text}");
        assert!(w.uploads.is_empty(), "a header listing judges nothing");
    }
}

#[test]
fn starttls_compress_and_unreadable_fetch_forms_are_refused_and_never_relayed() {
    for chunk in SPLITS {
        let mut w = world(&[clean().0], chunk);
        let before = w.server.commands.len();
        w.client(b"t1 STARTTLS\r\nt2 COMPRESS DEFLATE\r\nt3 FETCH 1 BODY[]<0>\r\n");
        let text = w.take_client_text();
        assert!(text.starts_with("t1 NO "), "{text}");
        assert!(text.contains("t2 NO "), "{text}");
        assert!(text.contains("t3 NO [CANNOT]"), "{text}");
        assert_eq!(w.server.commands.len(), before, "nothing went upstream");
    }
}

#[test]
fn synchronising_literals_are_answered_by_the_proxy_and_wait_for_the_server() {
    for chunk in SPLITS {
        let mut w = ImapWorld::new(&[], Policy::default(), ImapConfig::default(), chunk);
        w.connect();
        w.take_client();
        w.client(b"a1 LOGIN {3}\r\n");
        assert_eq!(w.take_client_text(), "+ Ready for literal data\r\n");
        w.client(b"bob {6}\r\n");
        assert_eq!(w.take_client_text(), "+ Ready for literal data\r\n");
        w.client(b"secret\r\n");
        assert!(w.take_client_text().starts_with("a1 OK "));
        w.client(b"a2 SELECT INBOX\r\n");
        w.take_client();
        let mail = clean().0;
        w.client(format!("a3 APPEND INBOX {{{}}}\r\n", mail.len()).as_bytes());
        assert_eq!(w.take_client_text(), "+ Ready for literal data\r\n");
        w.client(&mail);
        w.client(b"\r\n");
        assert!(w.take_client_text().starts_with("a3 OK [APPENDUID"));
        assert_eq!(
            w.server.messages[0].bytes, mail,
            "the server stored it byte for byte"
        );
    }
}

#[test]
fn idle_passes_the_continuation_and_done() {
    for chunk in SPLITS {
        let mut w = world(&[], chunk);
        w.client(b"i IDLE\r\n");
        assert_eq!(w.take_client_text(), "+ idling\r\n");
        w.client(b"DONE\r\n");
        assert!(w.take_client_text().starts_with("i OK Idle completed"));
        assert_eq!(w.server.commands.last().map(String::as_str), Some("DONE"));
    }
}

#[test]
fn keepalives_go_to_held_body_fetches_only() {
    let (m, md5) = clean();
    let config = ImapConfig {
        keepalive: Some(Duration::from_secs(30)),
        ..ImapConfig::default()
    };
    let mut w = ImapWorld::ready(
        std::slice::from_ref(&m),
        Policy::default(),
        config.clone(),
        usize::MAX,
    );
    w.client(b"b FETCH 1 BODY.PEEK[]\r\n");
    w.advance(95);
    let text = w.take_client_text();
    assert_eq!(text.matches("* OK Still inspecting").count(), 3, "{text}");
    w.verdict(md5, ThreatLevel::Clean);
    assert!(w.take_client_text().contains("b OK"));

    // fetchmail's header fetch: an untagged line before its reply would break it.
    let mut w = ImapWorld::ready(&[m], Policy::default(), config, usize::MAX);
    w.client(b"h FETCH 1 RFC822.HEADER\r\n");
    w.advance(95);
    assert_eq!(w.take_client(), b"", "no keepalive before a header reply");
    assert!(
        !w.events
            .iter()
            .any(|e| matches!(e, ImapEvent::KeepaliveSent))
    );
}

#[test]
fn a_long_hold_keeps_the_server_from_logging_the_proxy_out() {
    let (m, md5) = clean();
    for (command, keepalive) in [
        (&b"s FETCH 1 BODY.PEEK[]\r\n"[..], "FETCH 1 (UID)"),
        (&b"u UID FETCH 1 BODY.PEEK[]\r\n"[..], "NOOP"),
    ] {
        // An analysis slower than the default 20-minute timeout, so the hold lasts.
        let policy = Policy {
            analysis_timeout: Duration::from_secs(3600),
            ..Policy::default()
        };
        let mut w = ImapWorld::ready(std::slice::from_ref(&m), policy, ImapConfig::default(), 1);
        w.client(command);
        let sent = w.server.commands.len();
        w.advance(25 * 60);
        let own: Vec<&String> = w.server.commands[sent..].iter().collect();
        assert_eq!(own.len(), 2, "one every 10 minutes: {own:?}");
        assert!(own.iter().all(|c| c.ends_with(keepalive)), "{own:?}");
        w.verdict(md5, ThreatLevel::Clean);
        assert!(w.take_client_text().contains(" OK Fetch completed"));
    }
}

#[test]
fn content_the_proxy_did_not_ask_to_judge_is_dropped() {
    let (m, _) = eicar();
    for chunk in SPLITS {
        let mut w = world(std::slice::from_ref(&m), chunk);
        let mut unsolicited = format!("* 1 FETCH (BODY[] {{{}}}\r\n", m.len()).into_bytes();
        unsolicited.extend_from_slice(&m);
        unsolicited.extend_from_slice(b")\r\n");
        w.server.inject = unsolicited;
        w.client(b"n NOOP\r\n");
        let got = w.take_client();
        assert!(!contains(&got, EICAR), "an unsolicited body never passes");
        assert!(String::from_utf8_lossy(&got).contains("n OK NOOP"));
        assert!(
            w.events
                .iter()
                .any(|e| matches!(e, ImapEvent::Dropped { .. }))
        );
    }
}

#[test]
fn later_sizes_of_a_rewritten_message_are_its_copys() {
    let (m, md5) = eicar();
    let mut w = world(std::slice::from_ref(&m), usize::MAX);
    w.client(b"f FETCH 1 BODY.PEEK[]\r\n");
    w.verdict(md5, ThreatLevel::High);
    w.take_client();
    let served = w.message_logs()[0].served_size.expect("a notice");
    w.client(b"s FETCH 1 (FLAGS RFC822.SIZE)\r\n");
    let text = w.take_client_text();
    assert!(text.contains(&format!("RFC822.SIZE {served}")), "{text}");
    assert!(
        !text.contains(&format!("RFC822.SIZE {}", m.len())),
        "{text}"
    );
}

#[test]
fn an_unreachable_data_center_lets_the_message_through() {
    let (m, md5) = eicar();
    let mut w = world(std::slice::from_ref(&m), usize::MAX);
    w.client(b"f FETCH 1 BODY.PEEK[]\r\n");
    w.unreachable(md5);
    let got = w.take_client();
    assert!(contains(&got, &m), "I4: the message as it is");
    let log = &w.message_logs()[0];
    assert_eq!(log.result, MessageResult::Unchanged);
    assert!(log.fail_open);
}

#[test]
fn a_tempfail_outage_policy_answers_no_and_serves_nothing() {
    let (m, md5) = eicar();
    let policy = Policy {
        outage: OutagePolicy::Tempfail,
        ..Policy::default()
    };
    let mut w = ImapWorld::ready(&[m], policy, ImapConfig::default(), usize::MAX);
    w.client(b"f FETCH 1 BODY.PEEK[]\r\n");
    w.unreachable(md5);
    let got = w.take_client();
    assert!(!contains(&got, EICAR));
    assert!(String::from_utf8_lossy(&got).starts_with("f NO [UNAVAILABLE]"));
    assert_eq!(w.message_logs()[0].result, MessageResult::Withheld);
}

#[test]
fn a_message_that_arrives_during_the_hold_is_not_served_unjudged() {
    let (m, md5) = clean();
    for chunk in SPLITS {
        let mut w = world(std::slice::from_ref(&m), chunk);
        w.client(b"f FETCH 1:* BODY.PEEK[]\r\n");
        w.server.append(eicar().0);
        w.verdict(md5, ThreatLevel::Clean);
        let got = w.take_client();
        assert!(!contains(&got, EICAR));
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("* 1 FETCH"), "{text}");
        assert!(text.contains("f NO [UNAVAILABLE]"), "{text}");
    }
}

#[test]
fn pipelined_fetches_are_judged_together_and_each_answered_once_its_message_is() {
    let (a, a_md5) = clean();
    let file = content("second", 500);
    let b = message(&[("b.pdf", file.clone())]);
    // mbsync sends one UID FETCH per message, all at once.
    let mut w = world(&[a, b], usize::MAX);
    w.client(b"p1 UID FETCH 1 BODY.PEEK[]\r\np2 UID FETCH 2 BODY.PEEK[]\r\np3 NOOP\r\n");
    assert_eq!(
        w.uploads,
        vec![a_md5, Md5::of(&file)],
        "both messages go to the data center before any verdict"
    );
    w.verdict(a_md5, ThreatLevel::Clean);
    let first = w.take_client_text();
    assert!(
        first.contains("* 1 FETCH") && first.contains("p1 OK") && !first.contains("p2 OK"),
        "the first is answered without waiting for the second's analysis: {first}"
    );
    w.verdict(Md5::of(&file), ThreatLevel::Clean);
    let text = w.take_client_text();
    let (p2, p3) = (text.find("p2 OK"), text.find("p3 OK"));
    assert!(p2.is_some() && p2 < p3, "in the order sent: {text}");
    assert!(text.find("* 2 FETCH") < p2, "{text}");
}

#[test]
fn fetches_that_arrive_one_by_one_join_the_hold_and_are_answered_one_by_one() {
    let (a, a_md5) = clean();
    let file = content("second", 500);
    let b = message(&[("b.pdf", file.clone())]);
    // Three bytes at a time: the second fetch arrives after the first one's hold began,
    // as a client's second write does (mbsync writes each command on its own).
    let mut w = world(&[a, b], 3);
    w.client(b"p1 FETCH 1 BODY.PEEK[]\r\np2 FETCH 2 BODY.PEEK[]\r\n");
    assert_eq!(
        w.uploads,
        vec![a_md5, Md5::of(&file)],
        "the second message's file goes out before the first one's verdict"
    );
    w.verdict(a_md5, ThreatLevel::Clean);
    let first = w.take_client_text();
    assert!(
        first.contains("p1 OK") && !first.contains("p2 OK"),
        "{first}"
    );
    w.verdict(Md5::of(&file), ThreatLevel::Clean);
    assert!(w.take_client_text().contains("p2 OK"));
}

#[test]
fn a_dropped_file_is_replaced_and_the_sizes_follow() {
    let (m, md5) = eicar();
    let mut policy = Policy::default();
    policy.levels.high.action = Action::Drop;
    let mut w = ImapWorld::ready(&[m], policy, ImapConfig::default(), usize::MAX);
    w.client(b"f UID FETCH 1 (UID RFC822.SIZE BODY[])\r\n");
    w.verdict(md5, ThreatLevel::High);
    let got = w.take_client();
    assert!(!contains(&got, EICAR));
    let log = &w.message_logs()[0];
    assert_eq!(log.result, MessageResult::Rewritten);
    let served = log.served_size.expect("a rewritten copy");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains(&format!("RFC822.SIZE {served} BODY[] {{{served}}}")),
        "{text}"
    );
    assert!(
        text.contains("See attached."),
        "the rest of the message stays: {text}"
    );
}

#[test]
fn the_connection_limit_says_bye() {
    let config = ImapConfig {
        max_connections: 0,
        ..ImapConfig::default()
    };
    let mut w = ImapWorld::new(&[], Policy::default(), config, usize::MAX);
    w.connect();
    assert!(
        w.take_client_text()
            .starts_with("* BYE Too many connections")
    );
    assert!(w.client_closed);
    assert!(w.finished);
}

#[test]
fn authenticate_passes_the_challenge_and_the_answer() {
    for chunk in SPLITS {
        let mut w = ImapWorld::new(&[], Policy::default(), ImapConfig::default(), chunk);
        w.connect();
        w.take_client();
        w.client(b"a1 AUTHENTICATE PLAIN\r\n");
        assert_eq!(w.take_client_text(), "+ \r\n");
        w.client(b"AGJvYgBzZWNyZXQ=\r\n");
        assert_eq!(
            w.take_client_text(),
            "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n",
            "the answer reached the server, and COMPRESS was filtered from its reply"
        );
        assert_eq!(
            w.server.commands.last().map(String::as_str),
            Some("AGJvYgBzZWNyZXQ=")
        );
    }
}

#[test]
fn oversized_literals_and_lines_get_clear_answers() {
    let mut w = world(&[], usize::MAX);
    w.client(b"a3 APPEND INBOX {999999999999}\r\n");
    let text = w.take_client_text();
    assert!(text.starts_with("a3 NO [TOOBIG]"), "{text}");
    w.client(b"a4 NOOP\r\n");
    assert!(
        w.take_client_text().starts_with("a4 OK"),
        "a refused synchronising literal leaves the connection usable"
    );
    w.client(&vec![b'x'; 70 * 1024]);
    let text = w.take_client_text();
    assert!(
        text.starts_with("* BYE Protocol error: line longer than"),
        "{text}"
    );
    assert!(w.client_closed);
}

#[test]
fn a_batch_waits_for_room_under_the_gateways_held_bytes() {
    use aptsim_core::gateway::Gateway;
    use common::imap_server::FakeImap;
    use std::sync::Arc;
    let (m, md5) = clean();
    let gw = Gateway::new(Arc::new(Policy::default()));
    // Another session holds most of the room.
    let mut other = gw.usage.reservation();
    other.set(600);
    let config = ImapConfig {
        max_held_bytes: 1_000,
        ..ImapConfig::default()
    };
    assert!(
        m.len() > 400,
        "the message does not fit beside the other session's bytes"
    );
    let mut w = ImapWorld::on(
        gw,
        FakeImap::new(std::slice::from_ref(&m)),
        config,
        usize::MAX,
    );
    w.login();
    w.client(b"f FETCH 1 BODY.PEEK[]\r\n");
    w.advance(5);
    assert!(w.uploads.is_empty(), "not fetched while there is no room");
    assert!(!w.server.commands.iter().any(|c| c.contains("BODY.PEEK[])")));
    drop(other);
    w.advance(1);
    assert_eq!(
        w.uploads,
        vec![md5],
        "fetched and judged once there is room"
    );
    w.verdict(md5, ThreatLevel::Clean);
    assert!(w.take_client_text().contains("f OK"));
}

#[test]
fn text_parts_come_at_once_and_the_attachment_part_waits_for_its_verdict() {
    // K-9 with a large message: BODYSTRUCTURE, the text part, then the attachment when the
    // user opens it.
    let (m, md5) = eicar();
    for chunk in SPLITS {
        let mut w = world(std::slice::from_ref(&m), chunk);
        w.client(b"s UID FETCH 1 (UID BODYSTRUCTURE)\r\n");
        let text = w.take_client_text();
        assert!(
            text.contains("BODYSTRUCTURE") && text.contains("s OK"),
            "{text}"
        );
        assert!(w.uploads.is_empty(), "the structure is not held");
        w.client(b"t UID FETCH 1 (UID BODY.PEEK[1])\r\n");
        let text = w.take_client_text();
        assert!(
            text.contains("See attached.") && text.contains("t OK"),
            "{text}"
        );
        assert_eq!(w.uploads, vec![md5], "judged on in the background");
        w.client(b"a UID FETCH 1 (UID BODY.PEEK[2])\r\n");
        assert_eq!(
            w.take_client(),
            b"",
            "the attachment's part waits for its verdict"
        );
        w.verdict(md5, ThreatLevel::High);
        let got = w.take_client();
        assert!(!contains(&got, EICAR));
        assert!(String::from_utf8_lossy(&got).contains("a OK"));
        let results: Vec<MessageResult> = w.message_logs().iter().map(|l| l.result).collect();
        assert!(results.contains(&MessageResult::PartsServed), "{results:?}");
        assert!(results.contains(&MessageResult::Notice), "{results:?}");
    }
}
