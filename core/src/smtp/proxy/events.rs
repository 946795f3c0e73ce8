//! What an SMTP proxy session hands its driver: bytes and connection actions ([`Output`]),
//! and what it observed ([`Event`]), which the simulator turns into trace records and the
//! live proxy into log lines.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::inspect::{FileOutcome, Outcome};
use crate::policy::Action;
use crate::verdict::ThreatLevel;

use crate::smtp::wire::reply::Reply;

/// What the session asks its driver to do.
pub type Output = crate::session_output::Output<Event>;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnResult {
    /// The upstream accepted it (changed or not).
    Delivered,
    /// The upstream refused it; its reply went to the sender.
    RefusedUpstream,
    /// Kept in the quarantine store.
    Quarantined,
    /// Refused with 554 (deny).
    Denied,
    /// Answered 451: X2 deadline, X3 tempfail, or the upstream lost.
    Tempfailed,
    /// Refused before inspection (size, line length, bare line ends).
    Refused,
    /// The client left before it was answered (S5).
    Abandoned,
}

/// One transaction's record, logged when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLog {
    /// Transaction number within the session.
    pub txn: u64,
    /// Reverse path.
    pub from: String,
    /// Accepted forward paths.
    pub rcpts: Vec<String>,
    /// Files, with levels and actions (empty if never inspected).
    pub files: Vec<FileOutcome>,
    /// The message-wide action.
    pub action: Action,
    /// How it ended.
    pub result: TxnResult,
    /// How long the message was held, if it was.
    pub held: Option<Duration>,
    /// The reply the client got, if any.
    pub reply: Option<Reply>,
}

/// Observable events, for the trace and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command line from the client.
    ClientCommand(String),
    /// A reply the proxy sent to the client.
    ClientReply(Reply),
    /// A command line the proxy sent upstream.
    UpstreamCommand(String),
    /// A reply from the upstream.
    UpstreamReply(Reply),
    /// The end of DATA arrived and the message is held (S2).
    HoldStarted {
        /// Transaction number.
        txn: u64,
    },
    /// The engine decided.
    Decided {
        /// Transaction number.
        txn: u64,
        /// The decision.
        outcome: Box<Outcome>,
        /// How long the message was held for it, if it was (S2).
        held: Option<Duration>,
    },
    /// The message body was handed to the upstream.
    BodySent {
        /// Transaction number.
        txn: u64,
    },
    /// Quarantine: the message as it was received.
    Quarantined {
        /// Transaction number.
        txn: u64,
        /// The message.
        message: Arc<[u8]>,
    },
    /// `block`: the client's site is refused until then.
    SiteBlocked {
        /// The client's site.
        site: String,
        /// Refused until.
        until: Timestamp,
    },
    /// The client closed the connection, holding transaction `txn` if any (S5).
    ClientGone {
        /// The transaction it left, if one was open.
        txn: Option<u64>,
        /// True if the body had already gone upstream: delivery is then ambiguous (N2).
        after_body_sent: bool,
    },
    /// X5: a file released unjudged (S1) was later judged at a level whose action is not
    /// `allow`.
    Exposure {
        /// Transaction number.
        txn: u64,
        /// The file.
        md5: Md5,
        /// Its level.
        level: ThreatLevel,
        /// Time from delivery to verdict.
        window: Duration,
    },
    /// The upstream answered XFORWARD with something other than 2xx (its reply); the mail
    /// goes on without it (`smtp/proxy/xforward.rs`).
    XforwardRefused(Reply),
    /// A transaction ended.
    Transaction(Box<TxnLog>),
}
