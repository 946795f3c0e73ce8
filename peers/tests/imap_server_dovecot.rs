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

use std::path::PathBuf;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{ImapServerConfig, Mailstore};
use imap::{Conn, PASSWORD, USER, untimed};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/imap_fixtures")
}

fn crlf(lf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 16);
    for &b in lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// One recorded answer: the form and Dovecot's bytes.
struct Record {
    form: String,
    raw: Vec<u8>,
}

fn records(name: &str) -> Vec<Record> {
    let path = fixtures().join("dovecot").join(format!("{name}.txt"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let line = |r: &[u8]| r.iter().position(|&b| b == b'\n').expect("a line");
        let end = line(rest);
        let form = String::from_utf8_lossy(&rest[..end])
            .strip_prefix(">>> ")
            .expect(">>> FORM")
            .to_owned();
        rest = &rest[end + 1..];
        let end = line(rest);
        let len: usize = String::from_utf8_lossy(&rest[..end])
            .parse()
            .expect("length");
        let raw = rest[end + 1..end + 1 + len].to_vec();
        rest = &rest[end + 2 + len..];
        out.push(Record { form, raw });
    }
    out
}

fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("messages"))
        .expect("messages folder")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".eml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Dovecot's spelling of the text and message types, as imap-codec writes them (see
/// core/tests/imap_fixtures/mod.rs `imap_codec_case`).
fn imap_codec_case(dovecot: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dovecot.len());
    let mut i = 0;
    while i < dovecot.len() {
        let rest = &dovecot[i..];
        let starts = |t: &[u8]| rest.len() >= t.len() && rest[..t.len()].eq_ignore_ascii_case(t);
        if starts(b"(\"message\" \"rfc822\" ") {
            out.extend_from_slice(b"(\"MESSAGE\" \"RFC822\" ");
            i += 20;
        } else if starts(b"(\"text\" ") {
            out.extend_from_slice(b"(\"TEXT\" ");
            i += 8;
        } else {
            out.push(dovecot[i]);
            i += 1;
        }
    }
    out
}

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
        let message = crlf(
            &std::fs::read(fixtures().join("messages").join(format!("{name}.eml")))
                .expect("message"),
        );
        let mut store = imap::store_with(&[&message]);
        let mut c = connect(&mut store, Timestamp::ZERO);
        // The recorder's first question, which it does not record.
        c.send(&mut store, b"T0 FETCH 1 (RFC822.SIZE BODYSTRUCTURE)\r\n");
        for record in records(&name) {
            let command = format!("T FETCH 1 ({})\r\n", record.form);
            let mut ours = as_recorded(&c.send_bytes(&mut store, command.as_bytes()));
            let mut theirs = record.raw.clone();
            if record
                .form
                .split(' ')
                .any(|w| w == "BODYSTRUCTURE" || w == "BODY")
            {
                theirs = imap_codec_case(&theirs);
            }
            if c.closed {
                ours.extend_from_slice(b"(connection closed)\r\n");
                c = connect(&mut store, c.now);
            }
            compared += 1;
            if ours != theirs {
                failures.push(format!(
                    "{name} {}:\n ours    {:?}\n dovecot {:?}",
                    record.form,
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
