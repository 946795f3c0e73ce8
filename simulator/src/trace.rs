//! The typed trace: every observable event of a simulation, stamped with virtual time.
//!
//! Actors write [`Record`]s through a [`Recorder`]; expectations, invariants and metrics are
//! computed from these records alone, never from actors' private state (ARCHITECTURE.md,
//! principle 5). Message identities come from each message's `X-Aptsim-Id` header, which
//! the world stamps on every message it injects.

use std::cell::RefCell;
use std::rc::Rc;

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::inspect::{Decision, Source};
use aptsim_core::policy::Action;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::smtp::sender::Phase;
use serde::{Deserialize, Serialize};

use crate::faults::FaultAction;
use crate::observe::Observer;

/// Which side of a proxy a protocol line was seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Between the sending MTA and the proxy.
    Client,
    /// Between the proxy and the receiving server.
    Upstream,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The server accepted the message.
    Delivered,
    /// The server refused it for good (5xx): the queue gives it up.
    Bounced,
    /// Not this time (4xx, a timeout, a lost connection): the queue tries again.
    Deferred,
}

/// What the engine decided to do with a message, without the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Deliver it unchanged.
    Deliver,
    /// Deliver it rewritten.
    DeliverRewritten,
    /// Keep it in quarantine.
    Quarantine,
    /// Refuse it (554).
    Reject,
    /// Try again later (451).
    Tempfail,
}

impl From<&Decision> for DecisionKind {
    fn from(d: &Decision) -> Self {
        match d {
            Decision::Deliver => DecisionKind::Deliver,
            Decision::DeliverRewritten(_) => DecisionKind::DeliverRewritten,
            Decision::Quarantine => DecisionKind::Quarantine,
            Decision::Reject(_) => DecisionKind::Reject,
            Decision::Tempfail(_) => DecisionKind::Tempfail,
        }
    }
}

/// One observable event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// A message entered the sender's queue.
    Queued { msg: String },
    /// A delivery attempt opened a connection.
    AttemptStarted {
        msg: String,
        attempt: u32,
        conn: u64,
    },
    /// A delivery attempt ended: `delivered`, `bounced` or `deferred`, and why.
    AttemptEnded {
        msg: String,
        attempt: u32,
        result: AttemptOutcome,
        reason: String,
    },
    /// The attempt ended after the final dot without its reply (a timeout or a lost
    /// connection): the server may have the message, so the retry may deliver it again
    /// (Postfix logs "message may be sent more than once").
    MayBeDeliveredMultipleTimes {
        msg: String,
        attempt: u32,
        conn: u64,
    },
    /// The sender gave up waiting for a reply (its per-phase timeout).
    SenderTimeout {
        msg: String,
        attempt: u32,
        #[serde(deserialize_with = "crate::trace_file::phase")]
        phase: Phase,
    },
    /// The next attempt is scheduled.
    RetryScheduled {
        msg: String,
        attempt: u32,
        at_ms: u64,
    },
    /// The sender's queue gave the message up (queue lifetime or a 5xx).
    Bounced { msg: String, reason: String },
    /// A command line on a proxy connection.
    SmtpCommand { conn: u64, side: Side, line: String },
    /// A reply on a proxy connection.
    SmtpReply {
        conn: u64,
        side: Side,
        code: u16,
        text: String,
    },
    /// The proxy sent a file to the data center (`upload`), or waited on another message's
    /// upload of the same file (X1, `upload: false`).
    Submission {
        conn: u64,
        txn: u64,
        md5: String,
        name: String,
        upload: bool,
    },
    /// The data center judged a file.
    Verdict {
        md5: String,
        level: ThreatLevel,
        score: u8,
        analysis_ms: u64,
    },
    /// The data center knew the file and answered at once: a look-up, no analysis.
    Lookup { md5: String, level: ThreatLevel },
    /// The data center refused an upload (unreachable).
    Unreachable { md5: String },
    /// An analysis under way when the data center became unreachable ended without a
    /// verdict: the upload is over (N5, N7), answered as unreachable (S7).
    AnalysisLost { md5: String },
    /// The proxy sent a message's body upstream: from here the upstream may have it.
    BodyRelayed { conn: u64, txn: u64 },
    /// A message is held (no reply to its final dot).
    HoldStart { conn: u64, txn: u64 },
    /// The engine decided a message.
    Decision {
        conn: u64,
        txn: u64,
        msg: String,
        action: Action,
        decision: DecisionKind,
        held_ms: Option<u64>,
        released: bool,
        fail_open: bool,
        files: Vec<FileRecord>,
    },
    /// X5: a file released unjudged was later judged at a level whose action is not allow.
    Exposure {
        conn: u64,
        txn: u64,
        md5: String,
        level: ThreatLevel,
        window_ms: u64,
    },
    /// A message went to the quarantine store.
    Quarantined { msg: String },
    /// A sending site is refused until then (`block`).
    SiteBlocked { site: String, until_ms: u64 },
    /// The client left; `after_body_sent` marks an ambiguous timeout (N2).
    ClientGone {
        conn: u64,
        txn: Option<u64>,
        after_body_sent: bool,
    },
    /// The receiving server stored a message for its recipients; `files` are the MD5s of the
    /// files it holds as stored (so invariants can check what really arrived).
    Delivered {
        msg: String,
        rcpts: Vec<String>,
        size: usize,
        files: Vec<String>,
    },
    /// The proxy stored a verdict in the gateway's cache.
    CacheStored { md5: String },
    /// The receiving server closed an idle connection.
    ServerTimeout { conn: u64 },
    /// A command from a mail client on an IMAP proxy connection (tag and command words).
    ImapCommand { conn: u64, line: String },
    /// The IMAP proxy holds a fetch until the messages it names are judged (I1).
    ImapHoldStart {
        conn: u64,
        tag: String,
        messages: usize,
    },
    /// The IMAP proxy decided a message it fetched to judge: what the client gets (`result`:
    /// unchanged, rewritten, notice, withheld, or abandoned when the client had left, I3).
    ImapDecision {
        conn: u64,
        uid: u32,
        msg: String,
        action: Action,
        result: MessageResult,
        held_ms: u64,
        fail_open: bool,
        files: Vec<FileRecord>,
    },
    /// A held fetch went to the server at last and its responses to the client.
    ImapServed {
        conn: u64,
        tag: String,
        held_ms: u64,
    },
    /// The IMAP proxy answered a command `NO` itself.
    ImapRefused {
        conn: u64,
        tag: String,
        reason: String,
    },
    /// A server response the IMAP proxy did not pass (fail closed).
    ImapDropped { conn: u64, reason: String },
    /// An X4 keepalive line went to an IMAP client.
    ImapKeepalive { conn: u64 },
    /// An IMAP client left with fetches held (I3); `judging` messages are judged on.
    ImapClientGone { conn: u64, judging: usize },
    /// The IMAP server stored a message in an account's INBOX (delivered by the mail
    /// server, or put there by the scenario).
    MailboxStored {
        msg: String,
        account: String,
        uid: u32,
    },
    /// The IMAP server logged a client out for inactivity (Dovecot's autologout).
    ImapServerAutologout { conn: u64, authenticated: bool },
    /// A mail client holds a whole message: the MD5s of the files in the bytes it received
    /// (N3 reads these), and the download attempts it took. `uid` or, for fetchmail, `seq`.
    ImapFetched {
        client: String,
        uid: Option<u32>,
        seq: Option<u32>,
        msg: String,
        size: usize,
        files: Vec<String>,
        attempts: u32,
    },
    /// A mail client holds one attachment section (K-9 opening it): the MD5 of what the user
    /// gets.
    ImapPartFetched {
        client: String,
        uid: u32,
        part: String,
        md5: String,
        attempts: u32,
    },
    /// A mail client stopped waiting (its read timeout).
    ImapClientTimeout {
        client: String,
        conn: u64,
        what: String,
    },
    /// A mail client's operation failed (an alert, a failed sync or poll).
    ImapClientFailed { client: String, what: String },
    /// I5: a client treated a held fetch as a denied connection and stopped syncing.
    ImapSyncStalled { client: String },
    /// Thunderbird dropped a copy shorter than its `RFC822.SIZE` (it fetches it again).
    ImapDiscarded { client: String, key: String },
    /// The user restarted the client.
    ImapClientRestarted { client: String },
    /// An injected fault took effect (N9).
    Fault {
        id: String,
        kind: FaultAction,
        detail: String,
    },
}

/// A file in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// File name.
    pub name: String,
    /// MD5, hex.
    pub md5: String,
    /// The level it was judged at, or `unjudged`.
    pub level: FileLevel,
    /// The action applied to it (for an unjudged file, what the policy does without a
    /// verdict: allow in release mode, the outage policy after a failed analysis).
    pub action: Action,
    /// Where the level came from (`cache`, `analysis`, `released`, …).
    pub source: Source,
}

/// A file's level when its message was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLevel {
    /// Judged: by the cache, an analysis, or the unscannable policy.
    Judged(ThreatLevel),
    /// No verdict when the message was decided: released unjudged (S1), or the analysis
    /// failed (unreachable, slow: X3). Written `unjudged`, never as a level it never had.
    Unjudged,
}

impl FileRecord {
    /// A decision's file as the trace writes it.
    pub fn of(f: &aptsim_core::inspect::FileOutcome) -> Self {
        FileRecord {
            name: f.name.clone(),
            md5: f.md5.to_hex(),
            level: FileLevel::of(f.level, f.source),
            action: f.action,
            source: f.source,
        }
    }
}

impl FileLevel {
    /// The level of a file with `level` from `source`.
    pub fn of(level: ThreatLevel, source: Source) -> Self {
        match source {
            Source::Released | Source::Slow | Source::Unreachable => FileLevel::Unjudged,
            Source::Cache | Source::Analysis | Source::Unscannable => FileLevel::Judged(level),
        }
    }
}

impl Serialize for FileLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FileLevel::Judged(level) => level.serialize(s),
            FileLevel::Unjudged => s.serialize_str("unjudged"),
        }
    }
}

/// One line of the trace (read back by [`crate::trace_file`], whose `Deserialize` maps
/// `actor` onto the names the actors write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    /// Virtual milliseconds since the start of the run.
    pub t: u64,
    /// The actor that saw it.
    pub actor: &'static str,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

/// Where actors write the trace; cheap to clone, single-threaded like the simulation.
///
/// Each line goes to the [`Observer`]s first (online checks, a file), then into the kept
/// trace if the recorder keeps one ([`Recorder::default`] does; [`Recorder::streaming`]
/// keeps nothing, so memory follows what is in flight, not what ever happened).
#[derive(Clone)]
pub struct Recorder {
    inner: Rc<RefCell<Sinks>>,
}

struct Sinks {
    kept: Option<Vec<TraceLine>>,
    observers: Vec<Box<dyn Observer>>,
    /// Somebody reads the SMTP wire lines ([`Observer::wants_wire`]).
    wire: bool,
    lines: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.borrow();
        f.debug_struct("Recorder")
            .field("lines", &s.lines)
            .field("keeps", &s.kept.is_some())
            .field("observers", &s.observers.len())
            .finish()
    }
}

impl Default for Recorder {
    /// A recorder that keeps every line ([`Recorder::take_lines`]).
    fn default() -> Self {
        Recorder::with_kept(Some(Vec::new()))
    }
}

impl Recorder {
    /// A recorder that keeps nothing: lines reach its observers only.
    pub fn streaming() -> Self {
        Recorder::with_kept(None)
    }

    fn with_kept(kept: Option<Vec<TraceLine>>) -> Self {
        let wire = kept.is_some();
        Recorder {
            inner: Rc::new(RefCell::new(Sinks {
                kept,
                observers: Vec::new(),
                wire,
                lines: 0,
            })),
        }
    }

    /// Adds an observer; it reads every line recorded from now on.
    pub fn observe(&self, observer: impl Observer + 'static) {
        let mut s = self.inner.borrow_mut();
        s.wire |= observer.wants_wire();
        s.observers.push(Box::new(observer));
    }

    /// Appends a record at `now`.
    pub fn record(&self, now: Timestamp, actor: &'static str, record: Record) {
        let line = TraceLine {
            t: now.as_millis(),
            actor,
            record,
        };
        let mut s = self.inner.borrow_mut();
        s.lines += 1;
        for o in &mut s.observers {
            o.observe(&line);
        }
        if let Some(kept) = &mut s.kept {
            kept.push(line);
        }
    }

    /// Appends an SMTP command or reply seen on the proxy, built only if somebody reads
    /// such lines (a kept trace, a trace file, a digest); counted either way, so a run
    /// reports the same number of lines whatever it keeps.
    pub fn record_wire(
        &self,
        now: Timestamp,
        actor: &'static str,
        record: impl FnOnce() -> Record,
    ) {
        if self.inner.borrow().wire {
            self.record(now, actor, record());
        } else {
            self.inner.borrow_mut().lines += 1;
        }
    }

    /// The kept lines, moved out (empty for a streaming recorder).
    pub fn take_lines(&self) -> Vec<TraceLine> {
        let mut s = self.inner.borrow_mut();
        match &mut s.kept {
            Some(kept) => std::mem::take(kept),
            None => Vec::new(),
        }
    }

    /// A copy of the kept lines.
    pub fn lines(&self) -> Vec<TraceLine> {
        self.inner.borrow().kept.clone().unwrap_or_default()
    }

    /// Lines recorded so far, kept or not.
    pub fn len(&self) -> u64 {
        self.inner.borrow().lines
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `X-Aptsim-Id` of a raw message, or `"?"`.
pub fn message_id(raw: &[u8]) -> String {
    find_message_id(raw).unwrap_or_else(|| "?".to_owned())
}

/// The `X-Aptsim-Id` of a raw message, if its header block has one.
pub fn find_message_id(raw: &[u8]) -> Option<String> {
    const HEADER: &[u8] = b"x-aptsim-id:";
    // Only the header block (up to the first empty line), and at most its first 64 KiB.
    let mut head = &raw[..raw.len().min(64 * 1024)];
    loop {
        // Line by line with memchr: every segment a client sends passes here.
        let (line, rest) = match memchr::memchr(b'\n', head) {
            Some(i) => (&head[..i], Some(&head[i + 1..])),
            None => (head, None),
        };
        if line.is_empty() || line == b"\r" {
            return None;
        }
        if line.len() >= HEADER.len() && line[..HEADER.len()].eq_ignore_ascii_case(HEADER) {
            let id = String::from_utf8_lossy(&line[HEADER.len()..]);
            return Some(id.trim().to_owned());
        }
        head = rest?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_verdict_is_written_unjudged() {
        let level = |source| serde_json::to_string(&FileLevel::of(ThreatLevel::Clean, source));
        for source in [Source::Released, Source::Slow, Source::Unreachable] {
            assert_eq!(level(source).ok().as_deref(), Some("\"unjudged\""));
        }
        for source in [Source::Cache, Source::Analysis, Source::Unscannable] {
            assert_eq!(level(source).ok().as_deref(), Some("\"clean\""));
        }
    }

    #[test]
    fn finds_the_message_id_header() {
        assert_eq!(
            message_id(b"Subject: x\r\nX-Aptsim-Id: m7\r\n\r\nX-Aptsim-Id: body"),
            "m7"
        );
        assert_eq!(message_id(b"Subject: x\r\n\r\n"), "?");
        // Not in the body, after a blank line written with a bare LF either.
        assert_eq!(message_id(b"Subject: x\n\nX-Aptsim-Id: body"), "?");
        assert_eq!(message_id(b"X-Aptsim-Id: m8\n\nbody"), "m8");
        // A last line without its end counts; a command line, or nothing, has none.
        assert_eq!(message_id(b"Subject: x\r\nx-aptsim-id:m9"), "m9");
        assert_eq!(find_message_id(b"MAIL FROM:<a@example.com>\r\n"), None);
        assert_eq!(find_message_id(b""), None);
    }

    #[test]
    fn lines_serialise_flat() {
        let r = Recorder::default();
        r.record(
            Timestamp::from_millis(5),
            "mta",
            Record::Queued { msg: "m1".into() },
        );
        let json = serde_json::to_string(&r.lines()[0]).expect("serialises");
        assert_eq!(json, r#"{"t":5,"actor":"mta","event":"queued","msg":"m1"}"#);
    }
}
