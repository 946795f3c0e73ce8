//! Serving a rewritten message (I6) against real Dovecot 2.3.19: every FETCH form of every
//! test message, as Dovecot answered it (core/tests/imap_fixtures/dovecot, recorded by
//! scripts/imap/record_dovecot_fixtures.py; no Dovecot needed here), must come out of
//! `section_bytes`, `binary_bytes`, `bodystructure` and `FetchResponse::serve_from` byte for
//! byte. The one deliberate difference, the case of `"TEXT"` and `"MESSAGE" "RFC822"` in a
//! BODYSTRUCTURE, is explained at `imap_fixtures::imap_codec_case`.

mod imap_fixtures;

use std::collections::BTreeMap;

use aptsim_core::imap::{BinaryError, ItemName, binary_bytes, partial, section_bytes};
use aptsim_core::mime::MimeLimits;
use imap_fixtures::{Record, SERVED, crlf, imap_codec_case, message_lf, names, records};

/// Mismatches collected over a whole corpus, reported together.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self) {
        let count = self.0.len();
        let shown: Vec<_> = self.0.into_iter().take(15).collect();
        assert!(
            count == 0,
            "{count} mismatches, the first:\n{}",
            shown.join("\n")
        );
    }
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// What Dovecot sent, with the BODYSTRUCTURE case difference removed.
fn expected(record: &Record) -> Vec<u8> {
    let raw = record.fetch().raw();
    let structure = record
        .form
        .split(' ')
        .any(|w| w == "BODYSTRUCTURE" || w == "BODY");
    if structure {
        imap_codec_case(raw)
    } else {
        raw.to_vec()
    }
}

#[test]
fn served_copies_are_what_the_rewrite_makes() {
    let limits = MimeLimits::default();
    let bless = std::env::var_os("APTSIM_BLESS").is_some();
    for served in SERVED {
        let lf = message_lf(served.original);
        let from_crlf = (served.rewrite)(&crlf(&lf)).apply(&crlf(&lf), &limits);
        let from_lf = (served.rewrite)(&lf).apply(&lf, &limits);
        assert_eq!(
            crlf(&from_lf),
            from_crlf,
            "{}: the rewrite keeps the message's line ends",
            served.name
        );
        let path = imap_fixtures::corpus()
            .join("messages")
            .join(format!("{}.eml", served.name));
        if bless {
            std::fs::write(&path, &from_lf).expect("write the served copy");
        }
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(
            stored == from_lf,
            "{} is not what the rewrite makes now: run APTSIM_BLESS=1 cargo test -p aptsim-core \
             --test imap_serve, then python3 scripts/imap/record_dovecot_fixtures.py {}",
            path.display(),
            served.name
        );
    }
}

/// Dovecot's answer for a message, recomputed from the message by `serve_from` on Dovecot's
/// own response, is Dovecot's answer: sections, partials, BINARY and its literal8 choice,
/// sizes, BODYSTRUCTURE, BODY, ENVELOPE. Forms Dovecot refused must be refused too.
#[test]
fn serve_from_reproduces_every_dovecot_answer() {
    let mut failures = Failures::default();
    let mut compared = 0;
    for name in names() {
        let message = crlf(&message_lf(&name));
        for record in records(&name) {
            let request = record.request();
            if !record.ok() {
                refused_as_dovecot_refused(&name, &message, &record, &mut failures);
                continue;
            }
            let mut response = match record.fetch().fetch() {
                Some(Ok(response)) => response,
                other => panic!("{name} {}: {other:?}", record.form),
            };
            compared += 1;
            match response.serve_from(&message, &request) {
                Ok(()) => {
                    let ours = response.encode();
                    let theirs = expected(&record);
                    failures.check(ours == theirs, || {
                        format!(
                            "{name} {}:\n ours   {}\n dovecot {}",
                            record.form,
                            show(&ours),
                            show(&theirs)
                        )
                    });
                }
                Err(error) => failures.push_error(&name, &record, &error.to_string()),
            }
        }
    }
    assert!(compared > 1500, "only {compared} answers compared");
    failures.assert_none();
}

impl Failures {
    fn push_error(&mut self, name: &str, record: &Record, error: &str) {
        self.0.push(format!("{name} {}: {error}", record.form));
    }
}

/// A BINARY form Dovecot answered with NO (or by hanging up) fails here with the matching
/// error. One Dovecot quirk is not copied: BINARY.SIZE of any part fails once any part of
/// the message cannot be decoded (Dovecot sizes the whole message at once).
fn refused_as_dovecot_refused(
    name: &str,
    message: &[u8],
    record: &Record,
    failures: &mut Failures,
) {
    let request = record.request();
    let part: Vec<u32> = match record.form.split_once('[') {
        Some((_, rest)) => rest
            .trim_end_matches(']')
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("a part number"))
            .collect(),
        None => Vec::new(),
    };
    let binary_form = record.form.starts_with("BINARY");
    assert!(
        binary_form,
        "{name} {}: refused: {}",
        record.form, record.status
    );
    let ours = binary_bytes(message, &part);
    let size_quirk = record.form.starts_with("BINARY.SIZE") && binary_bytes(message, &[]).is_err();
    let matches = match &ours {
        Err(BinaryError::UnknownCte { .. }) => record.status.starts_with("NO [UNKNOWN-CTE]"),
        Err(BinaryError::Invalid { .. }) => {
            record.status.starts_with("NO [PARSE]") || record.status == "closed"
        }
        Ok(_) => size_quirk,
    };
    failures.check(matches, || {
        format!(
            "{name} {}: dovecot {:?}, ours {ours:?} ({request:?})",
            record.form, record.status
        )
    });
}

/// The public functions directly: each content item of each answer is `section_bytes` (or
/// `binary_bytes`) cut by `partial`; for the message with bare LF line ends, the same with
/// LF for CRLF (Dovecot serves every line end as CRLF).
#[test]
fn sections_and_binary_are_dovecots_for_crlf_and_bare_lf() {
    let mut failures = Failures::default();
    for name in names() {
        let lf = message_lf(&name);
        let message = crlf(&lf);
        for record in records(&name).iter().filter(|r| r.ok()) {
            let request = record.request();
            let Some(Ok(response)) = record.fetch().fetch() else {
                panic!("{name} {}", record.form);
            };
            for (item, asked) in response.content().iter().zip(&request.content) {
                let theirs = item.data.unwrap_or_default();
                let cut = |bytes: Vec<u8>| match asked.partial {
                    Some(p) => partial(&bytes, p.offset, p.length).to_vec(),
                    None => bytes,
                };
                if item.name == ItemName::Binary {
                    let ours = binary_bytes(&message, &item.section.part);
                    let ours = ours.map(|b| cut(b.unwrap_or_default()));
                    failures.check(ours.as_deref() == Ok(theirs), || {
                        format!(
                            "{name} {}: binary {ours:?} vs {}",
                            record.form,
                            show(theirs)
                        )
                    });
                    continue;
                }
                let section = |m: &[u8]| {
                    cut(section_bytes(m, &item.section)
                        .map(|c| c.into_owned())
                        .unwrap_or_default())
                };
                let ours = section(&message);
                failures.check(ours == theirs, || {
                    format!(
                        "{name} {}: {} vs {}",
                        record.form,
                        show(&ours),
                        show(theirs)
                    )
                });
                // A partial counts CRLF bytes, so only whole sections compare for bare LF.
                if asked.partial.is_none() {
                    let ours_lf = crlf(&section(&lf));
                    failures.check(ours_lf == theirs, || {
                        format!(
                            "{name} {} (LF): {} vs {}",
                            record.form,
                            show(&ours_lf),
                            show(theirs)
                        )
                    });
                }
            }
        }
    }
    failures.assert_none();
}

/// The proxy's case: Dovecot's response for the original message, served from the rewritten
/// copy, is what Dovecot answers for the rewritten copy itself, for every form asked of both.
#[test]
fn a_served_copy_answers_as_dovecot_answers_for_it() {
    let mut failures = Failures::default();
    for served in SERVED {
        let copy = crlf(&message_lf(served.name));
        let theirs: BTreeMap<String, Record> = records(served.name)
            .into_iter()
            .map(|r| (r.form.clone(), r))
            .collect();
        let mut compared = 0;
        for original in records(served.original).into_iter().filter(|r| r.ok()) {
            let Some(answer) = theirs.get(&original.form) else {
                continue;
            };
            let Some(Ok(mut response)) = original.fetch().fetch() else {
                panic!("{} {}", served.original, original.form);
            };
            let result = response.serve_from(&copy, &original.request());
            match (result, answer.ok()) {
                (Ok(()), true) => {
                    compared += 1;
                    // Every message was recorded alone in its mailbox: `* 1 FETCH`, `UID 1`.
                    let ours = response.encode();
                    let expected = expected(answer);
                    failures.check(ours == expected, || {
                        format!(
                            "{} {}:\n ours    {}\n dovecot {}",
                            served.name,
                            original.form,
                            show(&ours),
                            show(&expected)
                        )
                    });
                }
                (Err(_), false) => compared += 1,
                (result, _) => failures.0.push(format!(
                    "{} {}: ours {result:?}, dovecot {}",
                    served.name, original.form, answer.status
                )),
            }
        }
        assert!(
            compared > 30,
            "{}: only {compared} forms in common",
            served.name
        );
    }
    failures.assert_none();
}
