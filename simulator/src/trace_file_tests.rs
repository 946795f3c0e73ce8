//! Tests of reading trace files: every record kind reads back equal to what was written, and
//! what is not a trace line is refused with its line number.

use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::inspect::Source;
use aptsim_core::policy::Action;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::smtp::sender::Phase;

use super::*;
use crate::faults::FaultAction;
use crate::observe::{JsonlSink, Observer};
use crate::trace::{AttemptOutcome, DecisionKind, FileRecord, Record, Side};

/// The variant's place in [`Record`]: the match has no wildcard, so a new record kind does
/// not compile until it is here, and [`every_record_kind_reads_back_equal`] then wants a
/// sample of it.
fn kind(r: &Record) -> usize {
    match r {
        Record::Queued { .. } => 0,
        Record::AttemptStarted { .. } => 1,
        Record::AttemptEnded { .. } => 2,
        Record::MayBeDeliveredMultipleTimes { .. } => 3,
        Record::SenderTimeout { .. } => 4,
        Record::RetryScheduled { .. } => 5,
        Record::Bounced { .. } => 6,
        Record::SmtpCommand { .. } => 7,
        Record::SmtpReply { .. } => 8,
        Record::Submission { .. } => 9,
        Record::Verdict { .. } => 10,
        Record::Lookup { .. } => 11,
        Record::Unreachable { .. } => 12,
        Record::AnalysisLost { .. } => 13,
        Record::BodyRelayed { .. } => 14,
        Record::HoldStart { .. } => 15,
        Record::Decision { .. } => 16,
        Record::Exposure { .. } => 17,
        Record::Quarantined { .. } => 18,
        Record::SiteBlocked { .. } => 19,
        Record::ClientGone { .. } => 20,
        Record::Delivered { .. } => 21,
        Record::CacheStored { .. } => 22,
        Record::ServerTimeout { .. } => 23,
        Record::ImapCommand { .. } => 24,
        Record::ImapHoldStart { .. } => 25,
        Record::ImapDecision { .. } => 26,
        Record::ImapServed { .. } => 27,
        Record::ImapRefused { .. } => 28,
        Record::ImapDropped { .. } => 29,
        Record::ImapKeepalive { .. } => 30,
        Record::ImapClientGone { .. } => 31,
        Record::MailboxStored { .. } => 32,
        Record::ImapServerAutologout { .. } => 33,
        Record::ImapFetched { .. } => 34,
        Record::ImapPartFetched { .. } => 35,
        Record::ImapClientTimeout { .. } => 36,
        Record::ImapClientFailed { .. } => 37,
        Record::ImapSyncStalled { .. } => 38,
        Record::ImapDiscarded { .. } => 39,
        Record::ImapClientRestarted { .. } => 40,
        Record::Fault { .. } => 41,
    }
}
const KINDS: usize = 42;

fn s(text: &str) -> String {
    text.to_owned()
}

fn files() -> Vec<FileRecord> {
    let sources = [
        Source::Cache,
        Source::Analysis,
        Source::Unscannable,
        Source::Unreachable,
        Source::Slow,
        Source::Released,
    ];
    let actions = [
        Action::Allow,
        Action::Lock,
        Action::Drop,
        Action::Block,
        Action::Quarantine,
        Action::Deny,
    ];
    let levels = ThreatLevel::ALL
        .iter()
        .map(|l| FileLevel::Judged(*l))
        .chain([FileLevel::Unjudged]);
    levels
        .zip(sources.iter().cycle())
        .zip(actions.iter().cycle())
        .map(|((level, source), action)| FileRecord {
            name: s("a \"quoted\" name.zip"),
            md5: s("0123456789abcdef0123456789abcdef"),
            level,
            action: *action,
            source: *source,
        })
        .chain(
            sources
                .iter()
                .zip(actions)
                .map(|(source, action)| FileRecord {
                    name: s("f.pdf"),
                    md5: s("ffff"),
                    level: FileLevel::Unjudged,
                    action,
                    source: *source,
                }),
        )
        .collect()
}

/// At least one record of every kind, and every value of every enum inside one.
fn samples() -> Vec<Record> {
    let msg = || s("m1");
    let mut v = vec![
        Record::Queued { msg: msg() },
        Record::AttemptStarted {
            msg: msg(),
            attempt: 1,
            conn: u64::MAX,
        },
        Record::MayBeDeliveredMultipleTimes {
            msg: msg(),
            attempt: 2,
            conn: 3,
        },
        Record::RetryScheduled {
            msg: msg(),
            attempt: 2,
            at_ms: 60_000,
        },
        Record::Bounced {
            msg: msg(),
            reason: s("queue lifetime \u{e9}\n"),
        },
        Record::Submission {
            conn: 1,
            txn: 2,
            md5: s("ab"),
            name: s("x.exe"),
            upload: false,
        },
        Record::Verdict {
            md5: s("ab"),
            level: ThreatLevel::High,
            score: u8::MAX,
            analysis_ms: 5,
        },
        Record::Lookup {
            md5: s("ab"),
            level: ThreatLevel::Low,
        },
        Record::Unreachable { md5: s("ab") },
        Record::AnalysisLost { md5: s("ab") },
        Record::BodyRelayed { conn: 1, txn: 2 },
        Record::HoldStart { conn: 1, txn: 2 },
        Record::Exposure {
            conn: 1,
            txn: 2,
            md5: s("ab"),
            level: ThreatLevel::Medium,
            window_ms: 9,
        },
        Record::Quarantined { msg: msg() },
        Record::SiteBlocked {
            site: s("203.0.113.7"),
            until_ms: 7,
        },
        Record::ClientGone {
            conn: 1,
            txn: None,
            after_body_sent: false,
        },
        Record::ClientGone {
            conn: 1,
            txn: Some(3),
            after_body_sent: true,
        },
        Record::Delivered {
            msg: msg(),
            rcpts: vec![s("a@x"), s("b@x")],
            size: 12_345,
            files: vec![s("ab"), s("cd")],
        },
        Record::Delivered {
            msg: msg(),
            rcpts: vec![],
            size: 0,
            files: vec![],
        },
        Record::CacheStored { md5: s("ab") },
        Record::ServerTimeout { conn: 4 },
        Record::ImapCommand {
            conn: 5,
            line: s("a1 UID FETCH 1:* (BODY.PEEK[])"),
        },
        Record::ImapHoldStart {
            conn: 5,
            tag: s("a1"),
            messages: 3,
        },
        Record::ImapServed {
            conn: 5,
            tag: s("a1"),
            held_ms: 100,
        },
        Record::ImapRefused {
            conn: 5,
            tag: s("a2"),
            reason: s("too large"),
        },
        Record::ImapDropped {
            conn: 5,
            reason: s("bad literal"),
        },
        Record::ImapKeepalive { conn: 5 },
        Record::ImapClientGone {
            conn: 5,
            judging: 2,
        },
        Record::MailboxStored {
            msg: msg(),
            account: s("bob"),
            uid: 7,
        },
        Record::ImapServerAutologout {
            conn: 5,
            authenticated: true,
        },
        Record::ImapFetched {
            client: s("thunderbird"),
            uid: Some(7),
            seq: None,
            msg: msg(),
            size: 99,
            files: vec![s("ab")],
            attempts: 2,
        },
        Record::ImapFetched {
            client: s("fetchmail"),
            uid: None,
            seq: Some(1),
            msg: msg(),
            size: 99,
            files: vec![],
            attempts: 1,
        },
        Record::ImapPartFetched {
            client: s("k9"),
            uid: 7,
            part: s("2"),
            md5: s("ab"),
            attempts: 1,
        },
        Record::ImapClientTimeout {
            client: s("outlook"),
            conn: 6,
            what: s("fetch"),
        },
        Record::ImapClientFailed {
            client: s("outlook"),
            what: s("sync"),
        },
        Record::ImapSyncStalled {
            client: s("outlook"),
        },
        Record::ImapDiscarded {
            client: s("thunderbird"),
            key: s("7"),
        },
        Record::ImapClientRestarted {
            client: s("outlook"),
        },
    ];
    for result in [
        AttemptOutcome::Delivered,
        AttemptOutcome::Bounced,
        AttemptOutcome::Deferred,
    ] {
        v.push(Record::AttemptEnded {
            msg: msg(),
            attempt: 1,
            result,
            reason: s("250 ok"),
        });
    }
    for phase in [
        Phase::Greeting,
        Phase::Ehlo,
        Phase::Mail,
        Phase::Rcpt,
        Phase::DataInit,
        Phase::DataDone,
        Phase::Quit,
    ] {
        v.push(Record::SenderTimeout {
            msg: msg(),
            attempt: 1,
            phase,
        });
    }
    for side in [Side::Client, Side::Upstream] {
        v.push(Record::SmtpCommand {
            conn: 1,
            side,
            line: s("MAIL FROM:<a@x>"),
        });
        v.push(Record::SmtpReply {
            conn: 1,
            side,
            code: 250,
            text: s("2.1.0 ok"),
        });
    }
    for (i, decision) in [
        DecisionKind::Deliver,
        DecisionKind::DeliverRewritten,
        DecisionKind::Quarantine,
        DecisionKind::Reject,
        DecisionKind::Tempfail,
    ]
    .into_iter()
    .enumerate()
    {
        v.push(Record::Decision {
            conn: 1,
            txn: 2,
            msg: msg(),
            action: Action::Deny,
            decision,
            held_ms: (i % 2 == 0).then_some(1_500),
            released: i == 1,
            fail_open: i == 2,
            files: if i == 0 { files() } else { vec![] },
        });
    }
    for (i, result) in [
        MessageResult::Unchanged,
        MessageResult::Rewritten,
        MessageResult::Notice,
        MessageResult::Withheld,
        MessageResult::Abandoned,
        MessageResult::PartsServed,
    ]
    .into_iter()
    .enumerate()
    {
        v.push(Record::ImapDecision {
            conn: 5,
            uid: 7,
            msg: msg(),
            action: Action::Lock,
            result,
            held_ms: 3,
            fail_open: i == 3,
            files: if i == 0 { files() } else { vec![] },
        });
    }
    for kind in FaultAction::ALL {
        v.push(Record::Fault {
            id: s("cut"),
            kind,
            detail: s("for 30s"),
        });
    }
    v
}

/// The sample lines, each actor in turn.
fn lines() -> Vec<TraceLine> {
    samples()
        .into_iter()
        .zip(ACTORS.iter().cycle())
        .enumerate()
        .map(|(t, (record, actor))| TraceLine {
            t: t as u64 * 1_000,
            actor,
            record,
        })
        .collect()
}

fn written(lines: &[TraceLine]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sink = JsonlSink::new(&mut out);
    lines.iter().for_each(|l| sink.observe(l));
    sink.finish().expect("a Vec never fails");
    out
}

fn read(text: &[u8]) -> Result<Vec<TraceLine>, TraceFileError> {
    TraceReader::new(text).collect()
}

fn error(text: &str) -> String {
    match read(text.as_bytes()) {
        Ok(lines) => panic!("read {} lines from {text:?}", lines.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_record_kind_reads_back_equal() {
    let lines = lines();
    let mut covered = [false; KINDS];
    lines.iter().for_each(|l| covered[kind(&l.record)] = true);
    let missing: Vec<usize> = (0..KINDS).filter(|k| !covered[*k]).collect();
    assert!(missing.is_empty(), "no sample of record kinds {missing:?}");
    let text = written(&lines);
    let back = read(&text).expect("the trace reads back");
    assert_eq!(back.len(), lines.len());
    for (want, got) in lines.iter().zip(&back) {
        assert_eq!(want, got);
    }
}

#[test]
fn feeding_an_observer_reads_one_line_at_a_time() {
    #[derive(Default)]
    struct Count(Vec<u64>);
    impl Observer for Count {
        fn observe(&mut self, line: &TraceLine) {
            self.0.push(line.t);
        }
    }
    let lines = lines();
    let mut count = Count::default();
    let n = feed(&written(&lines)[..], &mut count).expect("reads");
    assert_eq!(n, lines.len() as u64);
    assert_eq!(count.0, lines.iter().map(|l| l.t).collect::<Vec<_>>());
}

#[test]
fn phases_read_back_by_their_variant_names() {
    for phase in [
        Phase::Greeting,
        Phase::Ehlo,
        Phase::Mail,
        Phase::Rcpt,
        Phase::DataInit,
        Phase::DataDone,
        Phase::Quit,
    ] {
        let own = serde_json::to_value(phase).expect("serialises");
        let described =
            PhaseDef::serialize(&phase, serde_json::value::Serializer).expect("serialises");
        assert_eq!(own, described);
    }
}

#[test]
fn blank_lines_are_skipped_and_counted() {
    let text = "\n{\"t\":1,\"actor\":\"faults\",\"event\":\"cache_stored\",\"md5\":\"ab\"}\n  \n";
    let mut reader = TraceReader::new(text.as_bytes());
    assert!(matches!(reader.next(), Some(Ok(_))));
    assert!(reader.next().is_none());
    assert_eq!(reader.lines_read(), 3);
}

#[test]
fn what_is_not_a_trace_line_is_refused_with_its_line_number() {
    let ok = r#"{"t":1,"actor":"mail_server","event":"server_timeout","conn":4}"#;
    let cases = [
        (
            r#"{"t":1,"actor":"mallory","event":"server_timeout","conn":4}"#,
            "unknown actor \"mallory\"",
        ),
        (
            r#"{"t":1,"actor":"mail_server","event":"exploded","conn":4}"#,
            "unknown variant `exploded`",
        ),
        (
            r#"{"t":1,"actor":"mail_server","event":"server_timeout","conn":4,"extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"t":1,"actor":"mail_server","event":"server_timeout","conn":"four"}"#,
            "invalid type",
        ),
        (
            r#"{"t":1,"actor":"mail_server","event":"server_timeout"}"#,
            "missing field `conn`",
        ),
        (
            r#"{"actor":"mail_server","event":"server_timeout","conn":4}"#,
            "missing field `t`",
        ),
        (
            r#"{"t":1,"actor":"faults","conn":4}"#,
            "missing field `event`",
        ),
        (
            r#"{"t":1,"actor":"faults","event":"fault","id":"f","kind":"meteor","detail":""}"#,
            "unknown fault \"meteor\"",
        ),
        (
            r#"{"t":1,"actor":"smtp_proxy","event":"sender_timeout","msg":"m","attempt":1,"phase":"Lunch"}"#,
            "unknown variant `Lunch`",
        ),
        (r#"{"t":1,"#, "EOF while parsing"),
        ("not json", "expected"),
    ];
    for (bad, why) in cases {
        let e = error(&format!("{ok}\n{ok}\n{bad}\n{ok}\n"));
        assert!(e.starts_with("line 3"), "{bad}: {e}");
        assert!(e.contains(why), "{bad}: {e} lacks {why:?}");
        assert!(!e.contains("at line 1"), "{bad}: {e}");
    }
}

#[test]
fn a_bad_file_level_is_named() {
    let line = |level: &str| {
        format!(
            r#"{{"t":1,"actor":"smtp_proxy","event":"decision","conn":1,"txn":1,"msg":"m","action":"allow","decision":"deliver","held_ms":null,"released":false,"fail_open":false,"files":[{{"name":"a","md5":"b","level":{level},"action":"allow","source":"cache"}}]}}"#
        )
    };
    assert!(read(line("\"unjudged\"").as_bytes()).is_ok());
    assert!(read(line("\"high\"").as_bytes()).is_ok());
    let e = error(&line("\"severe\""));
    assert!(e.contains("unknown file level \"severe\""), "{e}");
}

#[test]
fn the_reader_stops_after_an_error() {
    let mut reader = TraceReader::new(&b"nope\n{}\n"[..]);
    assert!(matches!(reader.next(), Some(Err(_))));
    assert!(reader.next().is_none());
}

#[test]
fn a_line_without_end_is_refused_before_it_fills_memory() {
    let long = vec![b' '; MAX_LINE_BYTES as usize + 10];
    let e = read(&long).expect_err("too long");
    assert!(matches!(e, TraceFileError::TooLong { line: 1 }), "{e}");
}

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let mut text = br#"{"t":1,"actor":"faults","event":"cache_stored","md5":""#.to_vec();
    text.extend_from_slice(b"\xff\"}\n");
    let e = read(&text).expect_err("not UTF-8");
    assert!(e.to_string().starts_with("line 1"), "{e}");
}
