//! The batch tools against a scripted server: mbsync (listing, pipelined per-message fetches,
//! a 20 s timer reset by any bytes and armed only while replies are pending, a failed channel
//! on a timeout) and fetchmail (sizes, header, text and `\Seen` one command at a time, 300 s
//! per line, the untagged line that breaks its header reply but not its body reply, the
//! search fallbacks, and polling stopped after too many timeouts).

mod common;

use aptsim_peers::mail_client::presets::MbsyncParams;
use aptsim_peers::mail_client::{
    ClientEvent, ClientPreset, FailReason, Job, MessageKey, Program, Step,
};
use common::mail_world::{ConnectMode, World, both, config, message, secs, timed_out};

const MBSYNC_LISTING: &str =
    "UID FETCH 1:3 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-TUID MESSAGE-ID)])";

fn three() -> Vec<Vec<u8>> {
    vec![message("a", 900), message("b", 1_200), message("c", 400)]
}

fn mbsync(f: impl FnOnce(&mut MbsyncParams)) -> ClientPreset {
    let mut p = ClientPreset::mbsync();
    if let Program::Mbsync(m) = &mut p.program {
        f(m);
    }
    p
}

#[test]
fn mbsync_lists_then_pipelines_every_fetch() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::mbsync()), &three(), bytewise);
        w.server.hold.push("INTERNALDATE".to_owned());
        w.run_until(secs(1));
        // All three fetches are out before any is answered.
        assert_eq!(
            w.lines(),
            [
                "1 LOGIN \"bob\" \"pw\"".to_owned(),
                "2 SELECT \"INBOX\"".to_owned(),
                format!("3 {MBSYNC_LISTING}"),
                "4 UID FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])".to_owned(),
                "5 UID FETCH 2 (FLAGS INTERNALDATE BODY.PEEK[])".to_owned(),
                "6 UID FETCH 3 (FLAGS INTERNALDATE BODY.PEEK[])".to_owned(),
            ]
        );
        w.server.hold.clear();
        w.release();
        w
    });
    assert_eq!(w.commands_from(6), ["LOGOUT"]);
    assert_eq!(
        w.fetched(),
        [
            (MessageKey::Uid(1), 900, 1),
            (MessageKey::Uid(2), 1_200, 1),
            (MessageKey::Uid(3), 400, 1)
        ]
    );
    // Done and logged out: no timer runs until the next run.
    assert_eq!(w.client.poll_timeout(), Some(secs(300)));
    assert_eq!(w.closes, w.connects);
}

#[test]
fn mbsync_pipeline_depth_one_is_lockstep_and_a_run_without_news_lists_nothing() {
    let mut w = World::new(
        config(mbsync(|m| m.pipeline_depth = Some(1))),
        &three(),
        false,
    );
    w.server.hold.push("INTERNALDATE".to_owned());
    w.run_until(secs(1));
    assert_eq!(w.lines().len(), 4, "one fetch in flight: {:?}", w.lines());
    w.server.hold.clear();
    w.release();
    assert_eq!(w.fetched().len(), 3);
    // The next run: UIDNEXT 4, everything below is on the device, nothing is asked.
    let before = w.sent.len();
    w.run_until(secs(300));
    assert_eq!(
        w.commands_from(before),
        ["LOGIN \"bob\" \"pw\"", "SELECT \"INBOX\"", "LOGOUT"]
    );
}

#[test]
fn mbsync_20_s_timeout_reset_by_any_bytes_fails_the_channel() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::mbsync()), &three(), bytewise);
        w.server.hold.push("UID FETCH 2 ".to_owned());
        w.run_until(secs(15));
        w.push(b"*");
        w.run_until(secs(34));
        assert!(timed_out(&w).is_empty());
        w.run_until(secs(35));
        w.server.hold.clear();
        w.run_until(secs(300));
        w
    });
    let held = Step::Fetch { uids: vec![2] };
    // The oldest fetch still pending is the one waited for (3 is queued behind it).
    assert_eq!(timed_out(&w), [(35, held.clone())]);
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::Timeout { what: held }
    }));
    assert_eq!(
        w.lines().iter().filter(|l| l.ends_with("LOGOUT")).count(),
        1
    );
    // The next run lists from the lowest UID still missing and fetches what is missing.
    assert!(
        w.lines()
            .contains(&format!("3 {}", MBSYNC_LISTING.replace("1:3", "2:3")))
    );
    assert_eq!(
        w.fetched(),
        [
            (MessageKey::Uid(1), 900, 1),
            (MessageKey::Uid(2), 1_200, 2),
            (MessageKey::Uid(3), 400, 2)
        ]
    );
}

fn fetchmail_lines(n: u32) -> Vec<String> {
    let mut l = vec![
        "A0001 CAPABILITY".to_owned(),
        "A0002 LOGIN \"bob\" \"pw\"".to_owned(),
        "A0003 SELECT \"INBOX\"".to_owned(),
        "A0004 SEARCH UNSEEN UNDELETED".to_owned(),
        format!("A0005 FETCH 1:{n} RFC822.SIZE"),
    ];
    let mut tag = 6;
    for seq in 1..=n {
        for c in [
            format!("FETCH {seq} RFC822.HEADER"),
            format!("FETCH {seq} BODY.PEEK[TEXT]"),
            format!("STORE {seq} +FLAGS (\\Seen)"),
        ] {
            l.push(format!("A{tag:04} {c}"));
            tag += 1;
        }
    }
    l.push(format!("A{tag:04} LOGOUT"));
    l
}

#[test]
fn fetchmail_polls_one_command_at_a_time() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::fetchmail()), &three(), bytewise);
        w.run_until(secs(1));
        assert_eq!(w.lines(), fetchmail_lines(3));
        w.run_until(secs(300));
        w
    });
    assert_eq!(
        w.fetched(),
        [
            (MessageKey::Seq(1), 900, 1),
            (MessageKey::Seq(2), 1_200, 1),
            (MessageKey::Seq(3), 400, 1)
        ]
    );
    let got = w
        .client
        .message(MessageKey::Seq(2))
        .and_then(|d| d.message.clone());
    assert_eq!(
        got,
        Some(message("b", 1_200)),
        "header and text make the message"
    );
    // The second poll finds nothing unseen.
    assert_eq!(
        w.commands_from(fetchmail_lines(3).len()),
        [
            "CAPABILITY",
            "LOGIN \"bob\" \"pw\"",
            "SELECT \"INBOX\"",
            "SEARCH UNSEEN UNDELETED",
            "LOGOUT"
        ]
    );
}

#[test]
fn fetchmail_breaks_on_an_untagged_line_before_its_header_reply() {
    let keepalive = b"* OK Still inspecting attachments\r\n".to_vec();
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::fetchmail()), &three(), bytewise);
        w.server
            .before
            .push(("FETCH 1 RFC822.HEADER".to_owned(), keepalive.clone()));
        w.run_until(secs(1));
        w
    });
    assert_eq!(
        w.commands_from(5),
        ["FETCH 1 RFC822.HEADER", "LOGOUT"],
        "it reads on to the tagged reply, then logs out"
    );
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::IncorrectFetchResponse {
            line: "* OK Still inspecting attachments".to_owned()
        }
    }));
    assert!(w.fetched().is_empty());
    assert!(
        !w.server.messages[0].seen,
        "so the next poll fetches it again"
    );
}

#[test]
fn fetchmail_skips_untagged_lines_before_its_body_reply() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::fetchmail()), &three(), bytewise);
        let keepalive = b"* OK Still inspecting attachments\r\n".to_vec();
        w.server
            .before
            .push(("FETCH 1 BODY.PEEK[TEXT]".to_owned(), keepalive));
        // EXISTS is consumed before the header reply: no harm either.
        w.server.before.push((
            "FETCH 2 RFC822.HEADER".to_owned(),
            b"* 3 EXISTS\r\n".to_vec(),
        ));
        w.run_until(secs(1));
        w
    });
    assert_eq!(w.lines(), fetchmail_lines(3));
    assert_eq!(w.fetched().len(), 3);
}

#[test]
fn fetchmail_skips_a_message_whose_header_fetch_says_no() {
    let mut w = World::new(config(ClientPreset::fetchmail()), &three(), false);
    w.server.before.push((
        "FETCH 1 RFC822.HEADER".to_owned(),
        b"* NO Message unavailable\r\n".to_vec(),
    ));
    w.run_until(secs(1));
    assert!(w.events().contains(&ClientEvent::Skipped {
        key: MessageKey::Seq(1)
    }));
    assert_eq!(
        w.fetched().iter().map(|f| f.0).collect::<Vec<_>>(),
        [MessageKey::Seq(2), MessageKey::Seq(3)]
    );
    assert!(
        !w.lines()
            .iter()
            .any(|l| l.contains("FETCH 1 BODY.PEEK[TEXT]"))
    );
}

#[test]
fn fetchmail_waits_300_s_per_line() {
    let w = both(|bytewise| {
        let mut w = World::new(config(ClientPreset::fetchmail()), &three(), bytewise);
        w.server.hold.push("FETCH 1 RFC822.HEADER".to_owned());
        // A whole line restarts the timer (an EXISTS, which may come before the header
        // reply)...
        w.run_until(secs(200));
        w.push(b"* 3 EXISTS\r\n");
        // ...a part of a line does not.
        w.run_until(secs(450));
        w.push(b"* 3 EXI");
        w.run_until(secs(499));
        assert!(timed_out(&w).is_empty(), "{:?}", w.events());
        w.run_until(secs(600));
        w
    });
    assert_eq!(timed_out(&w), [(500, Step::Header { seq: 1 })]);
    assert_eq!(
        w.lines().last().map(String::as_str),
        Some("A0006 FETCH 1 RFC822.HEADER"),
        "no LOGOUT after a timeout"
    );
}

#[test]
fn fetchmail_falls_back_from_search_to_flags() {
    let mut w = World::new(config(ClientPreset::fetchmail()), &three(), false);
    w.server.bad.push("SEARCH".to_owned());
    w.server.messages[1].seen = true;
    w.run_until(secs(1));
    assert_eq!(
        w.commands_from(3)[..4],
        [
            "SEARCH UNSEEN UNDELETED",
            "SEARCH UNSEEN",
            "FETCH 1:3 FLAGS",
            "FETCH 1:3 RFC822.SIZE"
        ]
    );
    assert_eq!(
        w.fetched().iter().map(|f| f.0).collect::<Vec<_>>(),
        [MessageKey::Seq(1), MessageKey::Seq(3)]
    );
}

#[test]
fn fetchmail_stops_polling_after_21_timeouts_in_a_row_until_restarted() {
    let mut w = World::new(config(ClientPreset::fetchmail()), &three(), false);
    w.connect = ConnectMode::Hang;
    w.run_until(secs(300 * 30));
    assert_eq!(
        w.connects.len(),
        21,
        "one poll per 5 min until the 21st timeout"
    );
    assert!(w.client.is_wedged());
    assert!(
        w.events()
            .contains(&ClientEvent::PollingStopped { timeouts: 21 })
    );
    assert_eq!(w.client.poll_timeout(), None);
    w.connect = ConnectMode::Accept;
    w.client.handle_restart(w.now);
    w.flush();
    assert!(!w.client.is_wedged());
    assert_eq!(w.fetched().len(), 3);
}
