//! The trace as the report reads it: JSON Lines text, one event per line, parsed into the
//! records the report draws. Unknown events are kept as [`Event::Other`] (the trace grows new
//! kinds; the report skips what it does not draw); a line that is not JSON, or a known event
//! with missing fields, is an error naming its line.

use serde::Deserialize;

/// One line of the trace: virtual milliseconds, the actor that saw it, what happened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Line {
    /// Virtual milliseconds since the start of the run.
    pub t: u64,
    /// The actor that saw it.
    #[serde(default)]
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A file of a decision (`files` of `decision` and `imap_decision`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct File {
    /// File name.
    #[serde(default)]
    pub name: String,
    /// MD5, hex.
    pub md5: String,
    /// Where its level came from: `cache`, `analysis`, `released`, …
    #[serde(default)]
    pub source: String,
    /// The level, or `unjudged`.
    #[serde(default)]
    pub level: String,
}

/// The events the report draws; the field names are the trace's (simulator/src/trace.rs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Event {
    Queued {
        msg: String,
    },
    AttemptStarted {
        msg: String,
        attempt: u32,
        conn: u64,
    },
    AttemptEnded {
        msg: String,
        attempt: u32,
        result: String,
        #[serde(default)]
        reason: String,
    },
    MayBeDeliveredMultipleTimes {
        msg: String,
        attempt: u32,
    },
    SenderTimeout {
        msg: String,
        attempt: u32,
        #[serde(default)]
        phase: String,
    },
    RetryScheduled {
        msg: String,
        attempt: u32,
        at_ms: u64,
    },
    Bounced {
        msg: String,
        #[serde(default)]
        reason: String,
    },
    SmtpReply {
        conn: u64,
        side: String,
        code: u16,
        #[serde(default)]
        text: String,
    },
    Submission {
        conn: u64,
        txn: u64,
        md5: String,
        #[serde(default)]
        name: String,
        upload: bool,
    },
    Verdict {
        md5: String,
        level: String,
        #[serde(default)]
        analysis_ms: u64,
    },
    Lookup {
        md5: String,
        level: String,
    },
    Unreachable {
        md5: String,
    },
    AnalysisLost {
        md5: String,
    },
    BodyRelayed {
        conn: u64,
        txn: u64,
    },
    HoldStart {
        conn: u64,
        txn: u64,
    },
    Decision {
        conn: u64,
        txn: u64,
        msg: String,
        #[serde(default)]
        action: String,
        decision: String,
        #[serde(default)]
        held_ms: Option<u64>,
        #[serde(default)]
        released: bool,
        #[serde(default)]
        fail_open: bool,
        #[serde(default)]
        files: Vec<File>,
    },
    Exposure {
        conn: u64,
        txn: u64,
        md5: String,
        level: String,
        window_ms: u64,
    },
    Quarantined {
        msg: String,
    },
    ClientGone {
        conn: u64,
        #[serde(default)]
        txn: Option<u64>,
        #[serde(default)]
        after_body_sent: bool,
    },
    Delivered {
        msg: String,
    },
    CacheStored {
        md5: String,
    },
    ImapHoldStart {
        conn: u64,
        #[serde(default)]
        messages: u64,
    },
    ImapDecision {
        conn: u64,
        msg: String,
        #[serde(default)]
        action: String,
        result: String,
        #[serde(default)]
        held_ms: u64,
        #[serde(default)]
        files: Vec<File>,
    },
    ImapServed {
        conn: u64,
        #[serde(default)]
        held_ms: u64,
    },
    ImapRefused {
        conn: u64,
        #[serde(default)]
        reason: String,
    },
    ImapKeepalive {
        conn: u64,
    },
    ImapClientGone {
        conn: u64,
    },
    MailboxStored {
        msg: String,
        #[serde(default)]
        account: String,
    },
    ImapFetched {
        #[serde(default)]
        client: String,
        msg: String,
        #[serde(default)]
        attempts: u32,
    },
    ImapClientTimeout {
        #[serde(default)]
        client: String,
        conn: u64,
    },
    Fault {
        id: String,
        kind: String,
        #[serde(default)]
        detail: String,
    },
    /// An event the report does not draw.
    #[serde(other)]
    Other,
}

/// Why a trace could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trace line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses JSON Lines text; blank lines are skipped. The lines are returned in time order (a
/// stable sort: lines at the same `t` keep the order they were written in).
pub fn parse(text: &str) -> Result<Vec<Line>, ParseError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| ParseError {
            line: i + 1,
            reason: e.to_string(),
        })?;
        lines.push(line);
    }
    lines.sort_by_key(|l| l.t);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_and_unknown_events() {
        let text = concat!(
            r#"{"t":5,"actor":"sending_mta","event":"queued","msg":"m1"}"#,
            "\n\n",
            r#"{"t":7,"actor":"x","event":"a_new_kind","whatever":[1,2]}"#,
            "\n",
            r#"{"t":6,"actor":"smtp_proxy","event":"submission","conn":1,"txn":1,"md5":"ab","name":"a.pdf","upload":true}"#,
        );
        let lines = parse(text).expect("parses");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].event, Event::Queued { msg: "m1".into() });
        assert_eq!(lines[1].t, 6, "sorted by time");
        assert!(matches!(
            lines[1].event,
            Event::Submission { upload: true, .. }
        ));
        assert_eq!(lines[2].event, Event::Other);
    }

    #[test]
    fn a_broken_line_is_an_error_naming_it() {
        let text = "{\"t\":1,\"event\":\"queued\",\"msg\":\"m1\"}\n{\"t\":2,\"event\":\"queued\"}\nnot json";
        let err = parse(text).expect_err("missing msg");
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("trace line 2: "), "{err}");
        let err = parse("[1,2]").expect_err("not an object");
        assert_eq!(err.line, 1);
    }

    #[test]
    fn reads_a_decision_with_its_files() {
        let text = r#"{"t":1200096,"actor":"smtp_proxy","event":"decision","conn":2,"txn":1,"msg":"m1","action":"allow","decision":"deliver","held_ms":null,"released":false,"fail_open":false,"files":[{"name":"a.pdf","md5":"ca","level":"clean","action":"allow","source":"cache"}]}"#;
        let lines = parse(text).expect("parses");
        let Event::Decision { files, held_ms, .. } = &lines[0].event else {
            panic!("a decision: {:?}", lines[0].event);
        };
        assert_eq!(*held_ms, None);
        assert_eq!(files[0].source, "cache");
    }
}
