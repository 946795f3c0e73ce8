//! Thunderbird for Android (K-9) and classic Outlook against a scripted server.
//!
//! K-9: small messages whole, a large one by `BODYSTRUCTURE` and its text parts, its
//! attachment section only once the user opens it (explicitly, or by the configured habit);
//! the 60 s timer reset by any bytes; on a timeout the connection is closed, the sync fails,
//! and nothing is retried before the next poll.
//!
//! Outlook: the whole folder's UIDs, then whole messages one by one in the forms it uses; the
//! I5 stall on a held fetch (a timeout or a lost connection) until the user restarts it, and
//! no stall for a timeout elsewhere.

mod common;

use std::time::Duration;

use aptsim_core::imap::{SectionSpec, section_bytes};
use aptsim_peers::mail_client::presets::OutlookItem;
use aptsim_peers::mail_client::{
    AttachmentHabit, ClientEvent, ClientPreset, FailReason, Job, MessageKey, OpenAt, Program, Step,
};
use common::mail_world::{World, both, config, message, secs, timed_out, with_attachment};

const K9_LISTING: &str = "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE \
    BODY.PEEK[HEADER.FIELDS (date subject from content-type to cc bcc reply-to message-id \
    references in-reply-to list-post list-unsubscribe sender X-K9mail-Identity Chat-Version)])";

fn k9_messages() -> Vec<Vec<u8>> {
    vec![message("small", 2_000), with_attachment("big", 200_000)]
}

fn part(message: &[u8], part: &[u32]) -> Vec<u8> {
    let spec = SectionSpec {
        part: part.to_vec(),
        text: None,
    };
    section_bytes(message, &spec).unwrap_or_default().to_vec()
}

#[test]
fn k9_fetches_text_parts_and_the_attachment_only_when_opened() {
    let w = both(|bytewise| {
        let preset = ClientPreset::thunderbird_android();
        let mut w = World::new(config(preset), &k9_messages(), bytewise);
        w.run_until(secs(1));
        assert_eq!(
            w.lines(),
            [
                "1 LOGIN \"bob\" \"pw\"".to_owned(),
                "2 SELECT \"INBOX\"".to_owned(),
                format!("3 {K9_LISTING}"),
                "4 UID FETCH 1 (UID BODY.PEEK[])".to_owned(),
                "5 UID FETCH 2 (UID BODYSTRUCTURE)".to_owned(),
                "6 UID FETCH 2 (UID BODY.PEEK[1.1])".to_owned(),
                "7 UID FETCH 2 (UID BODY.PEEK[1.2])".to_owned(),
                "8 LOGOUT".to_owned(),
            ]
        );
        w.run_until(secs(100));
        assert!(
            !w.lines().iter().any(|l| l.contains("BODY.PEEK[2]")),
            "no attachment section before the user opens it"
        );
        w.client.open_attachments(2, w.now);
        w.flush();
        w
    });
    let big = with_attachment("big", 200_000);
    let (plain, html, pdf) = (part(&big, &[1, 1]), part(&big, &[1, 2]), part(&big, &[2]));
    assert_eq!(
        w.commands_from(8),
        [
            "LOGIN \"bob\" \"pw\"",
            "SELECT \"INBOX\"",
            "UID FETCH 2 (UID BODY.PEEK[2])",
            "LOGOUT"
        ]
    );
    assert_eq!(
        w.fetched(),
        [
            (MessageKey::Uid(1), 2_000, 1),
            (MessageKey::Uid(2), plain.len() + html.len(), 1)
        ]
    );
    assert!(w.events().contains(&ClientEvent::PartFetched {
        uid: 2,
        part: "2".to_owned(),
        bytes: pdf.len(),
        attempts: 1
    }));
    let d = w.client.message(MessageKey::Uid(2)).expect("on the device");
    assert_eq!(d.message, None, "fetched by parts, never whole");
    assert_eq!(d.parts.get("1.1"), Some(&plain));
    assert_eq!(d.parts.get("1.2"), Some(&html));
    assert_eq!(d.parts.get("2"), Some(&pdf));
    // Opening the small message's attachments fetches nothing: it came whole.
    let mut again = World::new(
        config(ClientPreset::thunderbird_android()),
        &k9_messages(),
        false,
    );
    again.run_until(secs(1));
    let before = again.sent.len();
    again.client.open_attachments(1, again.now);
    again.flush();
    assert_eq!(again.commands_from(before), Vec::<String>::new());
}

#[test]
fn k9_user_opens_attachments_by_habit() {
    let run = |probability: f64| {
        let mut c = config(ClientPreset::thunderbird_android());
        c.opens = vec![OpenAt {
            uid: 2,
            at: Duration::from_secs(60),
        }];
        c.attachments = AttachmentHabit {
            probability,
            delay: Duration::from_secs(30),
        };
        let mut w = World::new(c, &k9_messages(), false);
        w.run_until(secs(200));
        w
    };
    let w = run(1.0);
    assert!(w.events().contains(&ClientEvent::Opened {
        uid: 2,
        local: true
    }));
    let sections = w.events_where(|e| matches!(e, ClientEvent::PartFetched { .. }));
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].0, secs(90), "30 s after opening the message");
    let never = run(0.0);
    assert!(!never.lines().iter().any(|l| l.contains("BODY.PEEK[2]")));
}

#[test]
fn k9_times_out_after_60_s_of_silence_closes_and_waits_for_the_next_poll() {
    let w = both(|bytewise| {
        let preset = ClientPreset::thunderbird_android();
        let mut w = World::new(config(preset), &k9_messages(), bytewise);
        w.server.hold.push("BODYSTRUCTURE".to_owned());
        w.run_until(secs(50));
        w.push(b"* 2 EXISTS\r\n");
        w.run_until(secs(109));
        assert!(timed_out(&w).is_empty());
        w.run_until(secs(899));
        assert_eq!(w.connects.len(), 1, "no retry before the next poll");
        w.server.hold.clear();
        w.run_until(secs(901));
        w
    });
    let structure = Step::Structure { uid: 2 };
    assert_eq!(timed_out(&w), [(110, structure.clone())]);
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::Timeout { what: structure }
    }));
    assert_eq!(
        w.closes.first(),
        w.connects.first(),
        "the connection is closed"
    );
    assert_eq!(
        w.lines().iter().filter(|l| l.ends_with("LOGOUT")).count(),
        1
    );
    let fetched = w.fetched();
    assert_eq!(fetched[0], (MessageKey::Uid(1), 2_000, 1));
    assert_eq!(fetched[1].0, MessageKey::Uid(2));
    assert_eq!(fetched[1].2, 2, "the next poll's attempt is the second");
}

fn outlook(f: impl FnOnce(&mut aptsim_peers::mail_client::presets::OutlookParams)) -> ClientPreset {
    let mut p = ClientPreset::outlook();
    if let Program::Outlook(o) = &mut p.program {
        f(o);
    }
    p
}

fn three() -> Vec<Vec<u8>> {
    vec![message("a", 900), message("b", 1_200), message("c", 400)]
}

#[test]
fn outlook_syncs_the_whole_folder_in_its_own_forms() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::outlook()), &three(), bytewise);
        w.run_until(secs(1));
        w
    });
    assert_eq!(
        w.lines(),
        [
            "1 LOGIN \"bob\" \"pw\"",
            "2 SELECT \"INBOX\"",
            "3 UID fetch 1:* (UID FLAGS)",
            "4 UID fetch 1 (UID RFC822.SIZE BODY.PEEK[])",
            "5 UID fetch 2 (UID RFC822.SIZE BODY.PEEK[])",
            "6 UID fetch 3 (UID RFC822.SIZE BODY.PEEK[])",
            "7 LOGOUT"
        ]
    );
    assert_eq!(w.fetched().len(), 3);
    let peek = outlook(|o| o.item = OutlookItem::Rfc822Peek);
    let mut w = World::new(config(peek), &three(), false);
    w.run_until(secs(1));
    assert_eq!(w.lines()[3], "4 UID fetch 1 (UID RFC822.SIZE RFC822.peek)");
    assert_eq!(w.fetched()[0], (MessageKey::Uid(1), 900, 1));
    let headers = outlook(|o| o.headers_first = true);
    let mut w = World::new(config(headers), &three(), false);
    w.run_until(secs(1));
    assert_eq!(
        w.commands_from(3)[..2],
        [
            "UID fetch 1 (UID RFC822.SIZE BODY.PEEK[HEADER])",
            "UID fetch 1 (UID RFC822.SIZE BODY.PEEK[])"
        ]
    );
    assert_eq!(w.fetched().len(), 3);
}

#[test]
fn outlook_stalls_on_a_held_fetch_until_restarted() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::outlook()), &three(), bytewise);
        w.server.hold.push("UID fetch 2 (".to_owned());
        w.run_until(secs(61));
        assert!(w.client.is_stalled());
        // Hours pass: no check, no connection, nothing to wait for.
        assert_eq!(w.client.poll_timeout(), None);
        w.run_until(secs(7_200));
        assert_eq!(w.connects.len(), 1);
        w.server.hold.clear();
        w.client.handle_restart(w.now);
        w.flush();
        assert!(!w.client.is_stalled());
        w
    });
    assert_eq!(timed_out(&w), [(60, Step::Fetch { uids: vec![2] })]);
    assert!(w.events().contains(&ClientEvent::SyncStalled {
        what: Step::Fetch { uids: vec![2] }
    }));
    assert!(
        !w.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::Failed { .. }))
    );
    assert_eq!(
        w.fetched(),
        [
            (MessageKey::Uid(1), 900, 1),
            (MessageKey::Uid(2), 1_200, 2),
            (MessageKey::Uid(3), 400, 1)
        ]
    );
    assert_eq!(w.connects.len(), 2);
}

#[test]
fn outlook_stalls_when_the_connection_drops_during_a_fetch() {
    let mut w = World::new(config(ClientPreset::outlook()), &three(), false);
    w.server.hold.push("UID fetch 2 (".to_owned());
    w.run_until(secs(10));
    w.hang_up();
    assert!(w.client.is_stalled());
    assert!(w.events().contains(&ClientEvent::SyncStalled {
        what: Step::Fetch { uids: vec![2] }
    }));
}

#[test]
fn outlook_timeout_outside_a_fetch_fails_the_sync_without_stalling() {
    let mut w = World::new(config(ClientPreset::outlook()), &three(), false);
    w.server.hold.push("(UID FLAGS)".to_owned());
    w.run_until(secs(61));
    assert!(!w.client.is_stalled());
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::Timeout {
            what: Step::Listing
        }
    }));
    w.server.hold.clear();
    w.run_until(secs(1_801));
    assert_eq!(w.fetched().len(), 3, "the next send/receive syncs");
}
