//! Thunderbird desktop's model against a scripted server: the exact commands of a check and
//! of opening a message, IDLE, its 100 s timer reset by any bytes, the one retry on a new
//! connection then the error, chunked downloads (fixed and tuned), and the re-download of a
//! message shorter than its `RFC822.SIZE`. Each story runs with the server's bytes whole and
//! one byte at a time, and must come out the same.
//!
//! The other presets: `mail_clients_k9_outlook.rs`, `mail_clients_batch.rs`.

mod common;

use std::time::Duration;

use aptsim_peers::mail_client::presets::ThunderbirdParams;
use aptsim_peers::mail_client::{
    ClientEvent, ClientPreset, FailReason, Job, MessageKey, Program, Step,
};
use common::mail_world::{ConnectMode, World, both, config, message, secs, timed_out};

const LISTING: &str = "UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To \
    Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To \
    Content-Type Reply-To Received)])";

fn tb(f: impl FnOnce(&mut ThunderbirdParams)) -> ClientPreset {
    let mut p = ClientPreset::thunderbird();
    if let Program::Thunderbird(params) = &mut p.program {
        f(params);
    }
    p
}

#[test]
fn check_header_sync_offline_sync_then_idle() {
    let w = both(|bytewise| {
        let mut w = World::new(
            config(ClientPreset::thunderbird()),
            &[message("a", 500), message("b", 700)],
            bytewise,
        );
        w.run_until(secs(1));
        assert_eq!(
            w.lines(),
            [
                "1 LOGIN \"bob\" \"pw\"".to_owned(),
                "2 SELECT \"INBOX\"".to_owned(),
                format!("3 {LISTING}"),
                "4 UID fetch 1:2 (UID RFC822.SIZE BODY.PEEK[])".to_owned(),
                "5 IDLE".to_owned(),
            ]
        );
        assert_eq!(
            w.fetched(),
            [(MessageKey::Uid(1), 500, 1), (MessageKey::Uid(2), 700, 1)]
        );
        // In IDLE the read timer is off: the next deadline is the next check (10 min).
        assert_eq!(w.client.poll_timeout(), Some(secs(600)));
        // New mail announced in IDLE: DONE, a check of the new UIDs only, IDLE again.
        w.run_until(secs(30));
        w.server.append(message("c", 300));
        w.push(b"* 3 EXISTS\r\n");
        assert_eq!(
            w.commands_from(5),
            [
                "DONE",
                &LISTING.replace("1:*", "3:*"),
                "UID fetch 3 (UID RFC822.SIZE BODY.PEEK[])",
                "IDLE"
            ]
        );
        // The scheduled check leaves IDLE too, and finds nothing new.
        w.run_until(secs(600));
        assert_eq!(
            w.commands_from(9),
            ["DONE", &LISTING.replace("1:*", "4:*"), "IDLE"]
        );
        w
    });
    assert_eq!(w.connects.len(), 1, "one connection throughout");
    assert_eq!(
        w.client
            .message(MessageKey::Uid(2))
            .and_then(|d| d.message.clone()),
        Some(message("b", 700))
    );
}

#[test]
fn timer_is_reset_by_any_bytes() {
    let w = both(|bytewise| {
        let mut w = World::new(
            config(ClientPreset::thunderbird()),
            &[message("a", 500)],
            bytewise,
        );
        w.server.hold.push("BODY.PEEK[]".to_owned());
        w.run_until(secs(90));
        // One byte (not even a line) at 90 s restarts the 100 s timer...
        w.push(b"*");
        w.run_until(secs(150));
        // ...and the rest of a keepalive line at 150 s again.
        w.push(b" OK Still inspecting attachments\r\n");
        w.run_until(secs(249));
        assert!(timed_out(&w).is_empty(), "{:?}", w.events());
        w.run_until(secs(250));
        w
    });
    assert_eq!(timed_out(&w), [(250, Step::Fetch { uids: vec![1] })]);
}

#[test]
fn one_retry_on_a_new_connection_then_the_error() {
    let w = both(|bytewise| {
        let mut w = World::new(
            config(ClientPreset::thunderbird()),
            &[message("a", 500)],
            bytewise,
        );
        w.server.hold.push("BODY.PEEK[]".to_owned());
        w.run_until(secs(500));
        w.server.hold.clear();
        w.run_until(secs(601));
        w
    });
    let fetch = Step::Fetch { uids: vec![1] };
    assert_eq!(timed_out(&w), [(100, fetch.clone()), (200, fetch.clone())]);
    // The first connection, the retry's, and the next check's.
    assert_eq!(w.connects.len(), 3);
    let retries = w.events_where(|e| matches!(e, ClientEvent::Retrying { .. }));
    assert_eq!(retries.len(), 1);
    let failed = w.events_where(|e| matches!(e, ClientEvent::Failed { .. }));
    assert_eq!(
        failed,
        [(
            secs(200),
            ClientEvent::Failed {
                job: Job::Check,
                reason: FailReason::Timeout { what: fetch }
            }
        )]
    );
    // The retry asked the same thing on its own connection; no LOGOUT on a timed-out one.
    let on_conn2: Vec<&str> = w
        .sent
        .iter()
        .filter(|(c, _)| c.0 == 2)
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(
        on_conn2.last(),
        Some(&"4 UID fetch 1 (UID RFC822.SIZE BODY.PEEK[])")
    );
    assert!(!w.lines().iter().any(|l| l.ends_with("LOGOUT")));
    // The next check (10 min) fetches it: three attempts in all.
    assert_eq!(w.fetched(), [(MessageKey::Uid(1), 500, 3)]);
}

#[test]
fn no_retry_before_the_greeting() {
    let mut w = World::new(
        config(ClientPreset::thunderbird()),
        &[message("a", 500)],
        false,
    );
    w.connect = ConnectMode::Hang;
    w.run_until(secs(599));
    assert_eq!(timed_out(&w), [(160, Step::Connect)]);
    assert_eq!(w.connects.len(), 1, "no retry without a greeting");
    assert!(w.events().contains(&ClientEvent::Failed {
        job: Job::Check,
        reason: FailReason::Timeout {
            what: Step::Connect
        }
    }));
}

fn open_big(params: impl Fn(&mut ThunderbirdParams), answer_after: Duration) -> World {
    both(|bytewise| {
        let p = tb(|p| {
            p.offline_sync = false;
            params(p);
        });
        let mut w = World::new(config(p), &[message("big", 200_000)], bytewise);
        w.run_until(secs(1));
        w.server.hold.push("BODY[]<".to_owned());
        w.client.open_message(1, w.now);
        w.flush();
        while w.server.holding() {
            w.run_for(answer_after);
            w.release();
        }
        w
    })
}

fn chunks(w: &World) -> Vec<String> {
    w.commands_from(4)
        .into_iter()
        .filter(|l| l.contains("BODY[]<"))
        .map(|l| {
            l.replace("UID fetch 1 (UID RFC822.SIZE BODY[]", "")
                .replace(')', "")
        })
        .collect()
}

#[test]
fn large_message_opened_in_fixed_chunks() {
    let w = open_big(|p| p.chunk_tuning = None, Duration::ZERO);
    assert_eq!(
        chunks(&w),
        [
            "<0.65536>",
            "<65536.65536>",
            "<131072.65536>",
            "<196608.3392>"
        ]
    );
    assert_eq!(w.fetched(), [(MessageKey::Uid(1), 200_000, 1)]);
    let got = w
        .client
        .message(MessageKey::Uid(1))
        .and_then(|d| d.message.clone());
    assert_eq!(
        got,
        Some(message("big", 200_000)),
        "chunks add up to the message"
    );
    assert_eq!(w.commands_from(4)[0], "DONE", "the open leaves IDLE first");
    assert_eq!(w.commands_from(4).last().map(String::as_str), Some("IDLE"));
}

#[test]
fn chunk_size_follows_the_time_each_chunk_takes() {
    // Fast (under 2 s): each full chunk grows the next by 8192, up to what is left.
    let fast = open_big(|_| {}, Duration::ZERO);
    assert_eq!(
        chunks(&fast),
        ["<0.65536>", "<65536.73728>", "<139264.60736>"]
    );
    // 3 s (under the ideal 4 s): the size stays.
    let ideal = open_big(|_| {}, Duration::from_secs(3));
    assert_eq!(chunks(&ideal).len(), 4);
    // 5 s (slow): at the start size already, it shrinks by 8192 each time.
    let slow = open_big(|_| {}, Duration::from_secs(5));
    assert_eq!(
        chunks(&slow),
        [
            "<0.65536>",
            "<65536.57344>",
            "<122880.49152>",
            "<172032.27968>"
        ]
    );
    for w in [fast, ideal, slow] {
        assert_eq!(w.fetched(), [(MessageKey::Uid(1), 200_000, 1)]);
    }
}

#[test]
fn small_message_opened_whole_with_body_not_peek() {
    let w = both(|bytewise| {
        let p = tb(|p| p.offline_sync = false);
        let mut w = World::new(config(p), &[message("small", 90_000)], bytewise);
        w.run_until(secs(1));
        w.client.open_message(1, w.now);
        w.flush();
        // Opening it again: it is on the device.
        w.client.open_message(1, w.now);
        w.flush();
        w
    });
    assert_eq!(
        w.commands_from(4),
        ["DONE", "UID fetch 1 (UID RFC822.SIZE BODY[])", "IDLE"]
    );
    assert_eq!(
        w.events_where(|e| matches!(e, ClientEvent::Opened { .. }))
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>(),
        [
            ClientEvent::Opened {
                uid: 1,
                local: false
            },
            ClientEvent::Opened {
                uid: 1,
                local: true
            }
        ]
    );
    assert!(w.server.messages[0].seen, "BODY[] sets \\Seen");
}

#[test]
fn shorter_than_rfc822_size_is_discarded_and_fetched_again() {
    let len = 500;
    let w = both(|bytewise| {
        let mut w = World::new(
            config(ClientPreset::thunderbird()),
            &[message("a", len)],
            bytewise,
        );
        w.server.messages[0].size = Some(len as u32 + 100);
        w.run_until(secs(1));
        assert!(
            w.client.downloaded().is_empty(),
            "the short copy is dropped"
        );
        w.server.messages[0].size = None;
        w.run_until(secs(600));
        w
    });
    assert_eq!(
        w.events_where(|e| matches!(e, ClientEvent::Discarded { .. })),
        [(
            secs(0),
            ClientEvent::Discarded {
                key: MessageKey::Uid(1),
                got: len,
                size: len as u32 + 100
            }
        )]
    );
    assert_eq!(w.fetched(), [(MessageKey::Uid(1), len, 2)]);
}

#[test]
fn chunked_download_short_of_its_size_is_discarded() {
    let w = both(|bytewise| {
        let p = tb(|p| {
            p.offline_sync = false;
            p.chunk_tuning = None;
        });
        let mut w = World::new(config(p), &[message("big", 200_000)], bytewise);
        w.server.messages[0].size = Some(200_100);
        w.run_until(secs(1));
        w.client.open_message(1, w.now);
        w.flush();
        w.server.messages[0].size = None;
        w.client.open_message(1, w.now);
        w.flush();
        w
    });
    // The expected size is 200100: the last chunk asks for 3492 and gets 3392, which ends it.
    assert!(w.lines().iter().any(|l| l.contains("BODY[]<196608.3492>")));
    assert!(w.events().contains(&ClientEvent::Discarded {
        key: MessageKey::Uid(1),
        got: 200_000,
        size: 200_100
    }));
    assert_eq!(w.fetched(), [(MessageKey::Uid(1), 200_000, 2)]);
}
