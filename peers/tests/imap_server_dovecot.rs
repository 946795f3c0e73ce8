//! The simulated IMAP server against real Dovecot 2.3.19: every FETCH form of every IMAP test
//! message, as Dovecot answered it (core/tests/imap_fixtures/dovecot, recorded by
//! scripts/imap/record_dovecot_fixtures.py: each message APPENDed with CRLF line ends into
//! its own mailbox, SELECTed, then `T FETCH 1 (FORM)` form after form), replayed against the
//! server on the same message in the same order, must come back byte for byte: the items,
//! their order, `FLAGS (\Seen \Recent)` where a fetch sets `\Seen`, `NO [UNKNOWN-CTE]`,
//! `NO [PARSE]`, and the hang-up on broken base64.
//!
//! Two differences are removed before comparing, as the recorder and core's tests remove
//! them: the timing after a tagged reply and the time stamp in an error text, and the case
//! of `"TEXT"` and `"MESSAGE" "RFC822"` in BODYSTRUCTURE (core/tests/imap_serve.rs).

mod imap;
#[path = "../../core/tests/imap_fixtures/mod.rs"]
mod imap_fixtures;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{ImapServerConfig, Mailstore};
use imap::{Conn, PASSWORD, USER, untimed};
use imap_fixtures::{crlf, imap_codec_case, message_lf, names, raw_records};

/// Our answer as the recorder writes Dovecot's: no timing, no time stamp (` [2026-01-01
/// 00:00:00]` after an internal error's text).
fn as_recorded(answer: &[u8]) -> Vec<u8> {
    let timed = untimed(answer);
    let stamp = |at: &[u8]| {
        at.len() >= 22
            && at.starts_with(b" [")
            && at[21] == b']'
            && at[2..6].iter().all(u8::is_ascii_digit)
            && at[6] == b'-'
    };
    let mut out = Vec::with_capacity(timed.len());
    let mut i = 0;
    while i < timed.len() {
        if stamp(&timed[i..]) {
            i += 22;
        } else {
            out.push(timed[i]);
            i += 1;
        }
    }
    out
}

fn connect(store: &mut Mailstore, now: Timestamp) -> Conn {
    let mut c = Conn::new(ImapServerConfig::default(), now, 4096);
    c.send(
        store,
        format!("A1 LOGIN {USER} {PASSWORD}\r\nA2 SELECT INBOX\r\n").as_bytes(),
    );
    c
}

#[test]
fn every_fetch_form_is_answered_as_dovecot_answered_it() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for name in names() {
        let message = crlf(&message_lf(&name));
        let mut store = imap::store_with(&[&message]);
        let mut c = connect(&mut store, Timestamp::ZERO);
        // The recorder's first question, which it does not record.
        c.send(&mut store, b"T0 FETCH 1 (RFC822.SIZE BODYSTRUCTURE)\r\n");
        for (form, raw) in raw_records(&name) {
            let command = format!("T FETCH 1 ({form})\r\n");
            let mut ours = as_recorded(&c.send_bytes(&mut store, command.as_bytes()));
            let mut theirs = raw;
            if form.split(' ').any(|w| w == "BODYSTRUCTURE" || w == "BODY") {
                theirs = imap_codec_case(&theirs);
            }
            if c.closed {
                ours.extend_from_slice(b"(connection closed)\r\n");
                c = connect(&mut store, c.now);
            }
            compared += 1;
            if ours != theirs {
                failures.push(format!(
                    "{name} {form}:\n ours    {:?}\n dovecot {:?}",
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                ));
            }
        }
    }
    assert!(compared > 1500, "only {compared} answers compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ, the first:\n{}",
        failures.len(),
        failures[..failures.len().min(8)].join("\n")
    );
}
