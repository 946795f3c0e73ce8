//! The simulated IMAP server (peers/src/imap), command by command against a store: each
//! command and FETCH form with the answer Dovecot 2.3 gives (the forms recorded from a real
//! Dovecot are checked in imap_server_dovecot.rs and imap_server_session.rs), hostile input,
//! and every dialogue fed whole and in pieces of 1, 2, 3 and 7 bytes, which must not change
//! a byte of the answers. Timers: imap_server_timers.rs.

mod imap;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{Flags, ImapServerConfig, ImapServerEvent, Mailstore};
use imap::{Conn, store_with, untimed_text};

const ONE: &[u8] = b"From: Alice <alice@example.com>\r\nSubject: one\r\n\r\nhello\r\n";
const TWO: &[u8] = b"From: a@b\r\nSubject: two\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n\
--X\r\nContent-Type: text/plain\r\n\r\nbody text\r\n\
--X\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n\
--X--\r\n";
const THREE: &[u8] = b"Subject: three\r\n\r\nthird\r\n";

const SPLITS: [usize; 5] = [usize::MAX, 1, 2, 3, 7];

/// Logs in, selects INBOX (both answers dropped), sends `input` in pieces of `chunk`; the
/// answers without timing, and whether the server closed.
fn dialogue(store: &mut Mailstore, input: &[u8], chunk: usize) -> (String, bool) {
    let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, usize::MAX);
    c.ready(store);
    c.chunk = chunk;
    let answer = c.send(store, input);
    (untimed_text(&answer), c.closed)
}

/// The answer to `input` after login and SELECT on a store with `messages`, checked to be
/// the same in every split.
fn answer(messages: &[&[u8]], input: &str) -> String {
    let mut whole = None;
    for chunk in SPLITS {
        let mut store = store_with(messages);
        let got = dialogue(&mut store, input.as_bytes(), chunk).0;
        match &whole {
            None => whole = Some(got),
            Some(w) => assert_eq!(&got, w, "chunk {chunk} of {input:?}"),
        }
    }
    whole.unwrap_or_default()
}

/// A table of `(input, answer)` after login and SELECT.
fn table(messages: &[&[u8]], cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        assert_eq!(answer(messages, input), *expected, "{input:?}");
    }
}

#[test]
fn fetch_forms_and_sequence_sets() {
    table(
        &[ONE, TWO, THREE],
        &[
            (
                "f FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject \"From\")])\r\n",
                "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT \"FROM\")] {49}\r\n\
                 From: Alice <alice@example.com>\r\nSubject: one\r\n\r\n)\r\nf OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])\r\n",
                "* 2 FETCH (BODY[1] {9}\r\nbody text BODY[2.MIME] {77}\r\n\
                 Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n \
                 BINARY[2] ~{5}\r\nhello BINARY.SIZE[2] 5)\r\nf OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 2 (BINARY.PEEK[2]<1.3> BODY.PEEK[TEXT]<0.4> BODY.PEEK[9])\r\n",
                "* 2 FETCH (BINARY[2]<1> ~{3}\r\nell BODY[TEXT]<0> {4}\r\n--X\r BODY[9] {0}\r\n)\r\n\
                 f OK Fetch completed.\r\n",
            ),
            (
                "f FETCH * (RFC822.SIZE RFC822.HEADER)\r\n",
                "* 3 FETCH (RFC822.SIZE 25 RFC822.HEADER {18}\r\nSubject: three\r\n\r\n)\r\n\
                 f OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 3 FAST\r\n",
                "* 3 FETCH (FLAGS (\\Recent) INTERNALDATE \"01-Jan-2026 00:00:00 +0000\" \
                 RFC822.SIZE 25)\r\nf OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 3 ALL\r\n",
                "* 3 FETCH (FLAGS (\\Recent) INTERNALDATE \"01-Jan-2026 00:00:00 +0000\" \
                 RFC822.SIZE 25 ENVELOPE (NIL \"three\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n\
                 f OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 3 FULL\r\n",
                "* 3 FETCH (FLAGS (\\Recent) INTERNALDATE \"01-Jan-2026 00:00:00 +0000\" \
                 RFC822.SIZE 25 ENVELOPE (NIL \"three\" NIL NIL NIL NIL NIL NIL NIL NIL) \
                 BODY (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1))\r\n\
                 f OK Fetch completed.\r\n",
            ),
            // Ranges either way round, `*`, lists; by UID `n:*` past the end is the last.
            (
                "f FETCH *:2 UID\r\ng FETCH 3,1 UID\r\nh UID FETCH 9:* UID\r\ni UID FETCH 2 FLAGS\r\n",
                "* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\nf OK Fetch completed.\r\n\
                 * 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\ng OK Fetch completed.\r\n\
                 * 3 FETCH (UID 3)\r\nh OK Fetch completed.\r\n\
                 * 2 FETCH (UID 2 FLAGS (\\Recent))\r\ni OK Fetch completed.\r\n",
            ),
            (
                "f FETCH 4 UID\r\ng FETCH 4:* UID\r\nh FETCH 0 UID\r\ni UID FETCH 9 UID\r\n",
                "f BAD Error in IMAP command FETCH: Invalid messageset.\r\n\
                 g BAD Error in IMAP command FETCH: Invalid messageset.\r\n\
                 h BAD Error in IMAP command FETCH: Invalid arguments.\r\n\
                 i OK Fetch completed.\r\n",
            ),
            // RFC822 sets \Seen (once); Dovecot 2.3 does not know RFC822.PEEK.
            (
                "f FETCH 3 RFC822\r\ng FETCH 3 RFC822\r\nh FETCH 3 (RFC822.PEEK)\r\n",
                "* 3 FETCH (FLAGS (\\Seen \\Recent) RFC822 {25}\r\nSubject: three\r\n\r\nthird\r\n)\r\n\
                 f OK Fetch completed.\r\n\
                 * 3 FETCH (RFC822 {25}\r\nSubject: three\r\n\r\nthird\r\n)\r\ng OK Fetch completed.\r\n\
                 h BAD Error in IMAP command FETCH: Unknown parameter RFC822.PEEK.\r\n",
            ),
            // A header field name sent as a synchronising literal: `+ OK`, then the answer.
            (
                "f FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7}\r\nSubject)])\r\n",
                "+ OK\r\n* 1 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {16}\r\nSubject: one\r\n\r\n)\r\n\
                 f OK Fetch completed.\r\n",
            ),
        ],
    );
}

#[test]
fn store_search_and_expunge() {
    table(
        &[ONE, TWO, THREE],
        &[
            (
                "s STORE 1:2 +FLAGS (\\Seen \\Flagged)\r\nt STORE 2 FLAGS (\\Answered)\r\n\
                 u STORE 1 -FLAGS.SILENT (\\Flagged)\r\nv UID STORE 3 +FLAGS (\\Draft)\r\n\
                 w FETCH 1:* FLAGS\r\n",
                "* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\n\
                 * 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\ns OK Store completed.\r\n\
                 * 2 FETCH (FLAGS (\\Answered \\Recent))\r\nt OK Store completed.\r\n\
                 u OK Store completed.\r\n\
                 * 3 FETCH (UID 3 FLAGS (\\Draft \\Recent))\r\nv OK Store completed.\r\n\
                 * 1 FETCH (FLAGS (\\Seen \\Recent))\r\n* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n\
                 * 3 FETCH (FLAGS (\\Draft \\Recent))\r\nw OK Fetch completed.\r\n",
            ),
            (
                "s STORE 1 +FLAGS (NotJunk)\r\nt STORE 1 +FLAGS (\\Bogus)\r\n",
                "s NO [CANNOT] Keywords are not kept by this server.\r\n\
                 t BAD Error in IMAP command STORE: Invalid system flag \\BOGUS.\r\n",
            ),
            (
                "s STORE 2 +FLAGS.SILENT (\\Seen)\r\nt SEARCH UNSEEN\r\nu SEARCH NOT SEEN LARGER 30\r\n\
                 v UID SEARCH OR UID 1 UID 3\r\nw SEARCH 2:* RECENT\r\nx SEARCH FROM alice\r\n\
                 y SEARCH NEW\r\nz SEARCH OLD\r\n",
                "s OK Store completed.\r\n* SEARCH 1 3\r\nt OK Search completed.\r\n\
                 * SEARCH 1\r\nu OK Search completed.\r\n* SEARCH 1 3\r\nv OK Search completed.\r\n\
                 * SEARCH 2 3\r\nw OK Search completed.\r\n\
                 x NO [CANNOT] only flag, size, sequence and UID searches are supported.\r\n\
                 * SEARCH 1 3\r\ny OK Search completed.\r\n* SEARCH\r\nz OK Search completed.\r\n",
            ),
            // EXPUNGE announces the highest first; EXISTS does not follow.
            (
                "e STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\nf EXPUNGE\r\ng FETCH 1:* UID\r\n",
                "e OK Store completed.\r\n* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 RECENT\r\n\
                 f OK Expunge completed.\r\n* 1 FETCH (UID 2)\r\ng OK Fetch completed.\r\n",
            ),
            // CLOSE expunges without a word; UNSELECT does not expunge.
            (
                "c STORE 2 +FLAGS.SILENT (\\Deleted)\r\nd CLOSE\r\ne SELECT INBOX\r\nf UNSELECT\r\n\
                 g FETCH 1 UID\r\n",
                "c OK Store completed.\r\nd OK Close completed.\r\n\
                 * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                 * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Flags permitted.\r\n\
                 * 2 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 1] First unseen.\r\n\
                 * OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\n\
                 e OK [READ-WRITE] Select completed.\r\nf OK Unselect completed.\r\n\
                 g BAD No mailbox selected.\r\n",
            ),
        ],
    );
}

#[test]
fn examine_changes_nothing() {
    let input = "x EXAMINE INBOX\r\na FETCH 1 (BODY[TEXT])\r\nb STORE 1 +FLAGS (\\Deleted)\r\n\
                 c EXPUNGE\r\nd STATUS INBOX (MESSAGES UNSEEN RECENT)\r\n";
    let mut store = store_with(&[ONE]);
    let (text, _) = dialogue(&mut store, input.as_bytes(), 5);
    assert!(text.contains("* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"));
    assert!(
        text.contains("* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n)\r\na OK"),
        "{text}"
    );
    assert!(text.contains("b OK Store ignored with read-only mailbox.\r\n"));
    assert!(text.contains("c OK Expunge completed.\r\n"));
    let inbox = store.mailbox("bob", "INBOX").expect("inbox");
    assert_eq!(inbox.messages().len(), 1);
    assert_eq!(inbox.messages()[0].flags, Flags::NONE);
}

#[test]
fn fetch_events_name_what_was_served() {
    let mut store = store_with(&[ONE, TWO]);
    let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, 3);
    c.ready(&mut store);
    c.events.clear();
    c.send(
        &mut store,
        b"a UID FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n\
          b FETCH 2 (BODYSTRUCTURE BODY.PEEK[]<0.10> BINARY[2])\r\n",
    );
    let fetched: Vec<_> = c.events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        fetched,
        [ImapServerEvent::Fetched {
            uid: 2,
            items: vec![
                "BODYSTRUCTURE".to_owned(),
                "BODY[]<0>".to_owned(),
                "BINARY[2]".to_owned()
            ],
            bytes: 15,
            seen_set: true,
        }],
        "flags and sizes alone are no event"
    );
}

#[test]
fn changes_to_the_store_are_reported_for_the_other_sessions() {
    let steps: &[(&str, u32)] = &[
        ("a FETCH 1 (BODY.PEEK[] FLAGS)\r\n", 0),
        ("b FETCH 1 (BODY[TEXT])\r\n", 1),
        ("c FETCH 1 (BODY[TEXT])\r\n", 0),
        ("d STORE 1 +FLAGS (\\Seen)\r\n", 0),
        ("e STORE 1:2 -FLAGS.SILENT (\\Seen)\r\n", 1),
        ("f EXPUNGE\r\n", 0),
        ("g UID STORE 2 +FLAGS (\\Deleted)\r\n", 1),
        ("h EXPUNGE\r\n", 1),
        ("i STORE 1 +FLAGS (\\Deleted)\r\n", 1),
        ("j CLOSE\r\n", 1),
        ("k EXAMINE INBOX\r\n", 0),
        ("l STORE 1 +FLAGS (\\Flagged)\r\n", 0),
        ("m FETCH 1 RFC822\r\n", 0),
    ];
    let mut store = store_with(&[ONE, TWO, THREE]);
    let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, 2);
    c.ready(&mut store);
    for (input, expected) in steps {
        let before = c.changes;
        c.send(&mut store, input.as_bytes());
        assert_eq!(c.changes - before, *expected, "{input:?}");
    }
}

#[test]
fn other_commands_and_unknown_ones() {
    table(
        &[ONE],
        &[
            (
                "a CAPABILITY\r\nb NOOP\r\nc CHECK\r\nd ID (\"name\" \"x\")\r\ne ENABLE CONDSTORE\r\n",
                "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT BINARY \
                 LITERAL+\r\na OK Capability completed.\r\nb OK NOOP completed.\r\n\
                 c OK Check completed.\r\n* ID (\"name\" \"Dovecot\")\r\nd OK ID completed.\r\n\
                 e OK Enabled.\r\n",
            ),
            (
                "a APPEND INBOX {3+}\r\nabc\r\nb COPY 1 Archive\r\nc UID EXPUNGE 1\r\nd AUTHENTICATE PLAIN\r\n",
                "a BAD Error in IMAP command APPEND: Unknown command.\r\n\
                 b BAD Error in IMAP command COPY: Unknown command.\r\n\
                 c BAD Error in IMAP command UID EXPUNGE: Unknown command.\r\n\
                 d BAD Error in IMAP command AUTHENTICATE: Unknown command.\r\n",
            ),
            (
                "a STATUS Archive (MESSAGES)\r\nb SELECT Archive\r\nc FETCH 1 UID\r\n",
                "a NO Mailbox doesn't exist: Archive.\r\n* OK [CLOSED] Previous mailbox closed.\r\n\
                 b NO Mailbox doesn't exist: Archive.\r\nc BAD No mailbox selected.\r\n",
            ),
            (
                "l LOGOUT\r\nm NOOP\r\n",
                "* BYE Logging out\r\nl OK Logout completed.\r\n",
            ),
        ],
    );
}

#[test]
fn logins_before_select() {
    let cases: &[(&str, &str)] = &[
        (
            "a1 CAPABILITY\r\na2 LOGIN bob secret\r\n",
            "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN\r\n\
             a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n\
             * CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT BINARY LITERAL+\r\n\
             a2 OK Logged in\r\n",
        ),
        (
            "a1 LOGIN {3}\r\nbob \"secret\"\r\n",
            "+ OK\r\na1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT \
             BINARY LITERAL+] Logged in\r\n",
        ),
        (
            "a1 AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n",
            "+ \r\na1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT \
             BINARY LITERAL+] Logged in\r\n",
        ),
        (
            "a1 AUTHENTICATE PLAIN\r\n*\r\na2 AUTHENTICATE PLAIN !!\r\na3 AUTHENTICATE LOGIN\r\n\
             a4 ENABLE IDLE\r\na5 ID NIL\r\nLOGIN bob secret\r\na6 SELECT INBOX\r\n",
            "+ \r\na1 BAD Authentication aborted by client.\r\n\
             a2 BAD Invalid base64 data in initial response\r\n\
             a3 NO [ALERT] Unsupported authentication mechanism.\r\n\
             * ENABLED\r\na4 OK ENABLE ignored in non-authenticated state.\r\n\
             * ID (\"name\" \"Dovecot\")\r\na5 OK ID completed.\r\n\
             LOGIN BAD First parameter in line is IMAP's command tag, not the command name. Add \
             that before the command, like: a login user pass\r\n\
             a6 BAD Error in IMAP command received by server.\r\n",
        ),
        (
            "a1 LOGOUT\r\n",
            "* BYE Logging out\r\na1 OK Logout completed.\r\n",
        ),
    ];
    for (input, expected) in cases {
        for chunk in SPLITS {
            let mut store = store_with(&[]);
            let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, chunk);
            c.take();
            assert_eq!(&c.send(&mut store, input.as_bytes()), expected, "{chunk}");
        }
    }
}

#[test]
fn a_refused_login_waits_and_holds_what_follows() {
    for chunk in SPLITS {
        let mut store = store_with(&[]);
        let mut c = Conn::new(ImapServerConfig::default(), Timestamp::ZERO, chunk);
        c.take();
        let early = c.send(
            &mut store,
            b"a1 LOGIN bob wrong\r\na2 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n",
        );
        assert_eq!(early, "", "nothing before the failure delay");
        assert_eq!(c.advance(&mut store, 1), "");
        let late = c.advance(&mut store, 1);
        assert!(
            late.starts_with("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\na2 OK ["),
            "{late}"
        );
        assert_eq!(c.session.user(), Some("bob"));
        let failed = c
            .events
            .iter()
            .find(|(_, e)| matches!(e, ImapServerEvent::LoginFailed { .. }));
        assert_eq!(failed.map(|(t, _)| t.as_millis()), Some(2_000));
    }
}

#[test]
fn hostile_input_gets_a_clear_end() {
    // Twenty errors in a row end the session (Dovecot's CLIENT_MAX_BAD_COMMANDS).
    let mut store = store_with(&[ONE]);
    let (text, closed) = dialogue(&mut store, "x BOGUS\r\n".repeat(20).as_bytes(), 3);
    assert!(closed);
    assert_eq!(text.matches("Unknown command.").count(), 20);
    assert!(text.ends_with("* BYE Too many invalid IMAP commands.\r\n"));
    // A good command in between starts the count again.
    let input = format!(
        "{}n NOOP\r\n{}",
        "x BOGUS\r\n".repeat(19),
        "x BOGUS\r\n".repeat(19)
    );
    assert!(!dialogue(&mut store, input.as_bytes(), 4).1);
    // A line past 64 KiB, a literal past it, and bytes that are no UTF-8.
    let long = format!(
        "a FETCH 1 (BODY[HEADER.FIELDS ({})])\r\n",
        "X ".repeat(40_000)
    );
    let (text, closed) = dialogue(&mut store, long.as_bytes(), 1_000);
    assert!(
        closed && text.ends_with("* BYE Too long argument.\r\n"),
        "{text}"
    );
    let (text, closed) = dialogue(&mut store, b"a LOGIN {100000}\r\n", 2);
    assert!(
        closed && text.ends_with("* BYE Literal size too large\r\n"),
        "{text}"
    );
    let (text, closed) = dialogue(&mut store, b"\xff\xfe FETCH\r\na NOOP \xc3\x28\r\n", 1);
    assert!(!closed);
    assert_eq!(
        text,
        "* BAD Error in IMAP tag: Invalid tag.\r\n\
         a BAD Error in IMAP command NOOP: Invalid arguments.\r\n"
    );
}
