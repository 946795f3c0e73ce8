//! The simulated IMAP server against one dialogue with a real Dovecot 2.3.19
//! (peers/tests/imap_fixtures/dovecot-session.txt, recorded by
//! scripts/imap/record_dovecot_session.py; no Dovecot needed here): three connections, a
//! refused and an accepted LOGIN, AUTHENTICATE PLAIN with and without an initial response,
//! SELECT, EXAMINE, FETCH and the `\Seen` it sets, STORE, SEARCH, LIST, STATUS, errors,
//! IDLE while another connection delivers, flags and expunges, CLOSE, UNSELECT, LOGOUT.
//! Every answer must come back byte for byte, in every split of the client's bytes.
//!
//! What is deliberately not Dovecot's is changed in Dovecot's answers before comparing:
//! the capability lists (the recorder's Dovecot also offers AUTH=LOGIN, and after login
//! SORT, THREAD, CONDSTORE, MOVE… which this model does not answer: it lists its own) and
//! `\*` in PERMANENTFLAGS (keywords are not kept). The greeting text is the config's, set
//! here to Debian's. Timing after tagged replies is compared without its numbers.

mod imap;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{CAPABILITY, ImapServerConfig, Mailstore, PRE_LOGIN_CAPABILITY};
use imap::{Conn, untimed};

const DOVECOT_CAPABILITY: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC \
ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY \
PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY";

/// One step of the dialogue: connection, step, Dovecot's bytes.
struct Step {
    conn: String,
    what: String,
    raw: Vec<u8>,
}

fn steps() -> Vec<Step> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/imap_fixtures/dovecot-session.txt");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let line = |r: &[u8]| r.iter().position(|&b| b == b'\n').expect("a line");
        let end = line(rest);
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let head = head.strip_prefix(">>> ").expect(">>> CONN STEP");
        let (conn, what) = head.split_once(' ').expect("CONN STEP");
        rest = &rest[end + 1..];
        let end = line(rest);
        let len: usize = String::from_utf8_lossy(&rest[..end])
            .parse()
            .expect("length");
        out.push(Step {
            conn: conn.to_owned(),
            what: what.to_owned(),
            raw: rest[end + 1..end + 1 + len].to_vec(),
        });
        rest = &rest[end + 2 + len..];
    }
    out
}

fn replace(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(haystack);
    text.replace(from, to).into_bytes()
}

/// Dovecot's answer with the deliberate differences of the module doc made ours.
fn expected(raw: &[u8]) -> Vec<u8> {
    let raw = replace(raw, DOVECOT_CAPABILITY, CAPABILITY);
    let raw = replace(
        &raw,
        &format!("{PRE_LOGIN_CAPABILITY} AUTH=LOGIN"),
        PRE_LOGIN_CAPABILITY,
    );
    replace(&raw, " \\Draft \\*)]", " \\Draft)]")
}

/// Replays the dialogue, the client's bytes in pieces of `chunk`; the mismatches.
fn replay(chunk: usize) -> Vec<String> {
    let config = ImapServerConfig {
        greeting: "Dovecot (Debian) ready.".to_owned(),
        ..ImapServerConfig::default()
    };
    let mut store = Mailstore::new();
    store.add_account("bob", "pw-bob");
    let mut conns: BTreeMap<String, Conn> = BTreeMap::new();
    let mut now = Timestamp::ZERO;
    let mut failures = Vec::new();
    for step in steps() {
        let ours = match step.what.as_str() {
            "deliver" => {
                store
                    .deliver("bob", "INBOX", step.raw.clone(), now)
                    .expect("deliver");
                for c in conns.values_mut() {
                    c.session.handle_store_changed(&mut store, c.now);
                    c.pump();
                }
                continue;
            }
            "connect" => {
                let mut c = Conn::new(config.clone(), now, chunk);
                let greeting = c.take_bytes();
                conns.insert(step.conn.clone(), c);
                greeting
            }
            "notice" => conns
                .get_mut(&step.conn)
                .map(Conn::take_bytes)
                .unwrap_or_default(),
            line => {
                let c = conns.get_mut(&step.conn).expect("connected");
                let changes = c.changes;
                let mut answer = c.send_bytes(&mut store, format!("{line}\r\n").as_bytes());
                if answer.is_empty() && !line.ends_with(" IDLE") {
                    // A refused login: answered after Dovecot's 2 s failure delay.
                    answer = c.advance(&mut store, 2).into_bytes();
                }
                now = c.now;
                // Another connection in IDLE hears of this one's changes, when this one
                // says it made some (as the actor will do).
                let changed = c.changes != changes;
                for (name, other) in conns.iter_mut() {
                    if changed && *name != step.conn {
                        other.now = now;
                        other.session.handle_store_changed(&mut store, now);
                        other.pump();
                    }
                }
                answer
            }
        };
        let ours = untimed(&ours);
        let theirs = expected(&step.raw);
        if ours != theirs {
            failures.push(format!(
                "{} {}:\n ours    {:?}\n dovecot {:?}",
                step.conn,
                step.what,
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            ));
        }
        now += Duration::from_millis(10);
        for c in conns.values_mut() {
            c.now = c.now.max(now);
        }
    }
    failures
}

#[test]
fn the_dialogue_is_dovecots_in_every_split() {
    for chunk in [4096, 1, 2, 3, 5, 8, 13] {
        let failures = replay(chunk);
        assert!(
            failures.is_empty(),
            "chunk {chunk}: {} steps differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
