//! The simulated IMAP server's timers, Dovecot 2.3's (sources at `ImapServerConfig`): the
//! 3 min login timeout that input does not reset; the 30 min autologout that input and the
//! end of each command reset; `* OK Still here` every 2 min in IDLE on Dovecot's per-user
//! phase, each resetting the autologout, so that an idling client is never logged out
//! (cmd-idle.c `keepalive_timeout`: "Make sure idling connections don't get
//! disconnected"); new mail announced at once in IDLE and at the next command otherwise.

mod imap;

use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{ImapServerConfig, ImapServerEvent, Mailstore};
use imap::{Conn, store_with, untimed_text};

const MINUTE: u64 = 60;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_millis(secs * 1_000)
}

/// When each event of a kind happened, in seconds.
fn times(c: &Conn, kind: fn(&ImapServerEvent) -> bool) -> Vec<u64> {
    c.events
        .iter()
        .filter(|(_, e)| kind(e))
        .map(|(t, _)| t.as_millis() / 1_000)
        .collect()
}

fn connect(store: &mut Mailstore, config: ImapServerConfig, now: Timestamp) -> Conn {
    let mut c = Conn::new(config, now, 3);
    c.take();
    let _ = store;
    c
}

#[test]
fn the_login_timeout_counts_from_the_connection() {
    let mut store = store_with(&[]);
    let mut c = connect(&mut store, ImapServerConfig::default(), at(0));
    c.advance(&mut store, 100);
    assert_eq!(
        c.send(&mut store, b"a NOOP\r\n"),
        "a OK NOOP completed.\r\n"
    );
    assert_eq!(c.advance(&mut store, 79), "");
    assert!(!c.closed);
    assert_eq!(
        c.advance(&mut store, 1),
        "* BYE Disconnected for inactivity.\r\n"
    );
    assert!(c.closed);
    assert_eq!(c.session.poll_timeout(), None);
    assert!(matches!(
        c.events.last(),
        Some((t, ImapServerEvent::Autologout { authenticated: false, idle }))
            if *t == at(180) && *idle == Duration::from_secs(180)
    ));
    // Waiting for an AUTHENTICATE response, Dovecot says so.
    let mut c = connect(&mut store, ImapServerConfig::default(), at(0));
    c.send(&mut store, b"a AUTHENTICATE PLAIN\r\n");
    assert_eq!(
        c.advance(&mut store, 180),
        "* BYE Disconnected for inactivity during authentication.\r\n"
    );
}

#[test]
fn the_autologout_is_reset_by_input() {
    for chunk in [1, 4, 100] {
        let mut store = store_with(&[b"Subject: x\r\n\r\ny\r\n"]);
        let mut c = connect(&mut store, ImapServerConfig::default(), at(0));
        c.chunk = chunk;
        c.ready(&mut store);
        assert_eq!(c.session.poll_timeout(), Some(at(30 * MINUTE)));
        assert_eq!(c.advance(&mut store, 20 * MINUTE), "");
        c.send(&mut store, b"a NOOP\r\n");
        assert_eq!(c.advance(&mut store, 30 * MINUTE - 1), "");
        assert!(!c.closed);
        assert_eq!(
            c.advance(&mut store, 1),
            "* BYE Disconnected for inactivity.\r\n"
        );
        assert!(c.closed);
        assert_eq!(
            times(&c, |e| matches!(
                e,
                ImapServerEvent::Autologout {
                    authenticated: true,
                    ..
                }
            )),
            [50 * MINUTE]
        );
        // Nothing is read after the close.
        assert_eq!(c.send(&mut store, b"b NOOP\r\n"), "");
    }
}

#[test]
fn idle_keepalives_every_two_minutes_keep_the_client_in() {
    let mut store = store_with(&[]);
    let mut c = connect(&mut store, ImapServerConfig::default(), at(0));
    c.ready(&mut store);
    c.send(&mut store, b"i IDLE\r\n");
    let text = c.advance(&mut store, 2 * 3600);
    assert!(!c.closed, "no autologout in IDLE");
    let keepalives = times(&c, |e| matches!(e, ImapServerEvent::Keepalive));
    // bob's phase: 120 - (0 + crc32("bob")) % 120 = 16 s, then every 120 s.
    let expected: Vec<u64> = (0..60).map(|i| 16 + 120 * i).collect();
    assert_eq!(keepalives, expected);
    assert_eq!(text, "* OK Still here\r\n".repeat(60));
    let done = c.send(&mut store, b"DONE\r\n");
    assert_eq!(done, "i OK Idle completed (0.001 + 7200.000 secs).\r\n");
    // After IDLE, the autologout counts from the last input again.
    assert_eq!(c.session.poll_timeout(), Some(at(7200 + 30 * MINUTE)));
    // Another user, another phase (alice: 25 s), and later starts keep it.
    let mut store = Mailstore::new();
    store.add_account("alice", "pw");
    let mut c = connect(&mut store, ImapServerConfig::default(), at(1000));
    c.send(&mut store, b"a LOGIN alice pw\r\nb IDLE\r\n");
    assert_eq!(c.session.poll_timeout(), Some(at(1000 + 105)));
    c.advance(&mut store, 300);
    assert_eq!(
        times(&c, |e| matches!(e, ImapServerEvent::Keepalive)),
        [1105, 1225]
    );
}

#[test]
fn idle_without_keepalives_ends_in_the_autologout() {
    let config = ImapServerConfig {
        idle_notify_interval: Duration::ZERO,
        ..ImapServerConfig::default()
    };
    let mut store = store_with(&[]);
    let mut c = connect(&mut store, config, at(0));
    c.ready(&mut store);
    c.advance(&mut store, 10);
    c.send(&mut store, b"i IDLE\r\n");
    assert_eq!(c.advance(&mut store, 30 * MINUTE - 1), "");
    assert_eq!(
        c.advance(&mut store, 1),
        "* BYE Disconnected for inactivity.\r\n"
    );
    assert!(c.closed);
}

#[test]
fn new_mail_is_announced_in_idle_at_once_and_otherwise_at_the_next_command() {
    let mut store = store_with(&[b"Subject: 1\r\n\r\none\r\n"]);
    let mut idler = connect(&mut store, ImapServerConfig::default(), at(0));
    idler.ready(&mut store);
    let mut other = connect(&mut store, ImapServerConfig::default(), at(0));
    other.ready(&mut store);
    idler.send(&mut store, b"i IDLE\r\n");
    idler.advance(&mut store, 60);
    other.advance(&mut store, 60);
    store
        .deliver(
            "bob",
            "INBOX",
            b"Subject: 2\r\n\r\ntwo\r\n".to_vec(),
            at(60),
        )
        .expect("deliver");
    // The idler took message 1 as recent at its SELECT, and now takes message 2.
    assert_eq!(
        idler.store_changed(&mut store),
        "* 2 EXISTS\r\n* 2 RECENT\r\n"
    );
    assert_eq!(
        other.store_changed(&mut store),
        "",
        "not in IDLE: nothing yet"
    );
    // The keepalive stays on its phase after the announcement.
    assert_eq!(idler.session.poll_timeout(), Some(at(136)));
    assert_eq!(
        untimed_text(&other.send(&mut store, b"n NOOP\r\n")),
        "* 2 EXISTS\r\nn OK NOOP completed.\r\n"
    );
    // Another session's STORE and EXPUNGE reach the idler when it is told.
    other.send(&mut store, b"s STORE 1 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");
    assert_eq!(
        idler.store_changed(&mut store),
        "* 1 EXPUNGE\r\n* 1 RECENT\r\n"
    );
    assert_eq!(
        times(&idler, |e| matches!(
            e,
            ImapServerEvent::NewMail { exists: 2 }
        )),
        [60]
    );
    assert!(
        idler
            .events
            .iter()
            .any(|(_, e)| *e == ImapServerEvent::Expunged { uids: vec![1] })
    );
    // A delivery to a mailbox nobody selected changes nothing for a session.
    store.create_mailbox("bob", "Archive").expect("mailbox");
    store
        .deliver("bob", "Archive", b"Subject: 3\r\n\r\n".to_vec(), at(61))
        .expect("deliver");
    assert_eq!(idler.store_changed(&mut store), "");
}
