//! Fetches that join a hold while it waits (`core/src/imap/proxy/joining.rs`): the first
//! command is served as soon as its own messages are decided, whatever the joined ones still
//! need; sequence numbers stay right when the server expunges during the hold's own
//! commands (I6); a session shutting down takes no more; a hold takes at most 100 commands
//! over its life. These cases came from a review of the change.

mod common;

use std::sync::Arc;

use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::imap::proxy::{ImapConfig, ImapEvent};
use aptsim_core::policy::Policy;
use aptsim_core::verdict::ThreatLevel;
use common::imap_server::FakeImap;
use common::imap_world::ImapWorld;
use common::{EICAR, content, message};

#[test]
fn a_decided_first_command_does_not_wait_for_room_for_a_joined_message() {
    let fa = content("first", 300);
    let a = message(&[("a.pdf", fa.clone())]);
    let b = message(&[("b.pdf", content("second", 5_000))]);
    let gw = Gateway::new(Arc::new(Policy::default()));
    // Another session holds a quarter of the gateway's room: the joined message does not
    // fit beside the first one's.
    let mut other = gw.usage.reservation();
    other.set(1_000);
    let config = ImapConfig {
        max_held_bytes: 4_000,
        ..ImapConfig::default()
    };
    assert!(
        a.len() <= 3_000 && b.len() > 3_000,
        "{} {}",
        a.len(),
        b.len()
    );
    let mut w = ImapWorld::on(gw, FakeImap::new(&[a, b]), config, usize::MAX);
    w.login();
    w.client(b"p1 UID FETCH 1 BODY.PEEK[]\r\n");
    assert_eq!(w.uploads, vec![Md5::of(&fa)]);
    // mbsync's next write, a moment later: it joins the hold.
    w.client(b"p2 UID FETCH 2 BODY.PEEK[]\r\n");
    w.verdict(Md5::of(&fa), ThreatLevel::Clean);
    w.advance(1);
    let text = w.take_client_text();
    assert!(
        text.contains("p1 OK") && !text.contains("p2 OK"),
        "p1's message is decided: it is answered while p2 waits for room: {text:?}"
    );
    drop(other);
}

#[test]
fn a_decided_first_command_goes_before_the_joined_prefetch() {
    let fa = content("first", 300);
    let a = message(&[("a.pdf", fa.clone())]);
    let b = message(&[("b.pdf", content("second", 5_000))]);
    let config = ImapConfig {
        max_prefetch_bytes: 3_000,
        ..ImapConfig::default()
    };
    let mut w = ImapWorld::ready(&[a, b], Policy::default(), config, usize::MAX);
    w.client(b"p1 UID FETCH 1 BODY.PEEK[]\r\n");
    w.client(b"p2 UID FETCH 2 BODY.PEEK[]\r\n");
    // The second message does not fit beside the first under max_prefetch_bytes: it waits.
    assert_eq!(w.uploads, vec![Md5::of(&fa)]);
    let before = w.server.commands.len();
    w.verdict(Md5::of(&fa), ThreatLevel::Clean);
    let after = &w.server.commands[before..];
    let prefetch = after
        .iter()
        .position(|c| c.contains("UID FETCH 2 (UID BODY.PEEK[])"));
    let serve = after.iter().position(|c| c.starts_with("p1 "));
    assert!(
        serve.is_some() && serve < prefetch,
        "p1, decided, goes upstream before p2's message is fetched: {after:?}"
    );
}

/// UID 2 was rewritten and is now message 1: a fetch of its size by number gets its copy's
/// (I6), not the original's (`original` bytes).
fn assert_served_as_its_copy(w: &mut ImapWorld, original: usize) {
    let served = w
        .message_logs()
        .iter()
        .find(|l| l.uid == 2)
        .and_then(|l| l.served_size)
        .expect("a notice in its place");
    w.client(b"s FETCH 1 (RFC822.SIZE)\r\n");
    let text = w.take_client_text();
    assert!(
        text.contains(&format!("RFC822.SIZE {served}")),
        "{text} (original {original}, copy {served})"
    );
}

#[test]
fn an_expunge_during_a_late_resolve_moves_the_judged_message_number_too() {
    let filler = message(&[("f.pdf", content("filler", 300))]);
    let bad = message(&[("eicar.com", EICAR.to_vec())]);
    let fc = content("third", 300);
    let third = message(&[("c.pdf", fc.clone())]);
    let mut w = ImapWorld::ready(
        &[filler, bad.clone(), third],
        Policy::default(),
        ImapConfig::default(),
        usize::MAX,
    );
    w.client(b"p1 UID FETCH 2 BODY.PEEK[]\r\n");
    assert_eq!(w.uploads, vec![Md5::of(EICAR)]);
    // Another client expunges message 1 (UID 1); the server says so during the next UID
    // FETCH, the proxy's resolve for the fetch that joins.
    w.server.messages.remove(0);
    w.server.inject = b"* 1 EXPUNGE\r\n".to_vec();
    w.client(b"p2 UID FETCH 3 BODY.PEEK[]\r\n");
    w.verdict(Md5::of(EICAR), ThreatLevel::High);
    w.verdict(Md5::of(&fc), ThreatLevel::Clean);
    let text = w.take_client_text();
    assert!(text.contains("p1 OK") && text.contains("p2 OK"), "{text}");
    // UID 2 is now message 1.
    assert_served_as_its_copy(&mut w, bad.len());
}

#[test]
fn an_expunge_during_the_upstream_keepalive_moves_the_judged_message_number_too() {
    let filler = message(&[("f.pdf", content("filler", 300))]);
    let bad = message(&[("eicar.com", EICAR.to_vec())]);
    let policy = Policy {
        analysis_timeout: std::time::Duration::from_secs(3600),
        ..Policy::default()
    };
    let mut w = ImapWorld::ready(
        &[filler, bad.clone()],
        policy,
        ImapConfig::default(),
        usize::MAX,
    );
    w.client(b"p1 UID FETCH 2 BODY.PEEK[]\r\n");
    w.server.messages.remove(0);
    w.server.inject = b"* 1 EXPUNGE\r\n".to_vec();
    // The upstream keepalive (every 10 minutes while a hold waits) carries the EXPUNGE.
    w.advance(11 * 60);
    assert!(w.server.commands.iter().any(|c| c.ends_with("NOOP")));
    w.verdict(Md5::of(EICAR), ThreatLevel::High);
    assert!(w.take_client_text().contains("p1 OK"));
    assert_served_as_its_copy(&mut w, bad.len());
}

#[test]
fn a_session_shutting_down_takes_no_more_fetches_into_its_hold() {
    let a = message(&[("a.pdf", content("first", 300))]);
    let b = message(&[("b.pdf", content("second", 300))]);
    let mut w = ImapWorld::ready(
        &[a, b],
        Policy::default(),
        ImapConfig::default(),
        usize::MAX,
    );
    w.client(b"p1 UID FETCH 1 BODY.PEEK[]\r\n");
    let now = w.now;
    assert_eq!(w.node.shut_down(false, now), (0, 1), "one session busy");
    w.pump();
    w.client(b"p2 UID FETCH 2 BODY.PEEK[]\r\n");
    let holds = w
        .events
        .iter()
        .filter(|e| matches!(e, ImapEvent::HoldStarted { .. }))
        .count();
    assert_eq!(holds, 1, "uploads {:?}", w.uploads);
    assert_eq!(w.uploads.len(), 1);
}

#[test]
fn a_hold_takes_at_most_a_hundred_commands_over_its_life() {
    // 150 messages with a file each, one command each. The first 60 are written, the first
    // 50 answered (their files judged), then the other 90 written: a hold that counted only
    // the commands it still holds would take them all and never end.
    let files: Vec<Vec<u8>> = (0..150).map(|i| content(&format!("f{i}"), 200)).collect();
    let messages: Vec<Vec<u8>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| message(&[(&format!("m{i}.pdf"), f.clone())]))
        .collect();
    let mut w = ImapWorld::ready(
        &messages,
        Policy::default(),
        ImapConfig::default(),
        usize::MAX,
    );
    let fetch = |uid: usize| format!("p{uid} UID FETCH {uid} BODY.PEEK[]\r\n").into_bytes();
    for uid in 1..=60 {
        w.client(&fetch(uid));
    }
    for f in &files[..50] {
        w.verdict(Md5::of(f), ThreatLevel::Clean);
    }
    let text = w.take_client_text();
    assert!(
        text.contains("p50 OK") && !text.contains("p51 OK"),
        "{text}"
    );
    for uid in 61..=150 {
        w.client(&fetch(uid));
    }
    assert_eq!(
        w.uploads.len(),
        100,
        "the hold took 100 commands in all; the rest wait for the next hold"
    );
    for f in &files[50..] {
        w.verdict(Md5::of(f), ThreatLevel::Clean);
    }
    let text = w.take_client_text();
    assert!(
        (51..=150).all(|uid| text.contains(&format!("p{uid} OK"))),
        "every command is answered in the end: {text}"
    );
    assert_eq!(w.uploads.len(), 150);
}

#[test]
fn a_message_named_again_by_a_fetch_that_joins_is_judged_once() {
    let fa = content("first", 300);
    let a = message(&[("a.pdf", fa.clone())]);
    let mut w = ImapWorld::ready(&[a], Policy::default(), ImapConfig::default(), usize::MAX);
    w.client(b"p1 UID FETCH 1 BODY.PEEK[]\r\n");
    w.client(b"p2 UID FETCH 1 BODY.PEEK[]\r\n");
    let resolves = w
        .server
        .commands
        .iter()
        .filter(|c| c.contains("(UID RFC822.SIZE)"))
        .count();
    assert_eq!(
        resolves, 2,
        "the second fetch joined: {:?}",
        w.server.commands
    );
    let prefetches = w
        .server
        .commands
        .iter()
        .filter(|c| c.contains("(UID BODY.PEEK[])"))
        .count();
    assert_eq!(
        prefetches, 1,
        "fetched to judge once: {:?}",
        w.server.commands
    );
    assert_eq!(w.uploads, vec![Md5::of(&fa)]);
    w.verdict(Md5::of(&fa), ThreatLevel::Clean);
    let text = w.take_client_text();
    let (p1, p2) = (text.find("p1 OK"), text.find("p2 OK"));
    assert!(p1.is_some() && p1 < p2, "{text}");
}
