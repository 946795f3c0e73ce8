//! What an IMAP proxy session hands its driver: bytes and connection actions ([`Output`]),
//! and what it observed ([`ImapEvent`]), which the simulator turns into trace records and
//! the live proxy into log lines.

use std::sync::Arc;
use std::time::Duration;

use crate::inspect::{FileOutcome, Outcome};
use crate::policy::Action;

/// What the session asks its driver to do (the same requests as the SMTP session's, with
/// IMAP events).
pub type Output = crate::session_output::Output<ImapEvent>;

/// What became of one message the session fetched to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageResult {
    /// Allowed: served as the server has it.
    Unchanged,
    /// Served with files replaced (drop, block, lock).
    Rewritten,
    /// Served as the deny notice instead of the message (deny, quarantine).
    Notice,
    /// Not served: the fetch was answered `NO` (X3 `tempfail`, or too large to inspect).
    Withheld,
    /// Decided after the client had left (I3): nothing was served; the verdicts are in the
    /// cache for its next fetch.
    Abandoned,
    /// Decided after parts holding none of its files were served (K-9's text parts, before
    /// the verdicts); what holds the files is fetched, and held, separately.
    PartsServed,
}

/// One judged message's record, logged when it is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLog {
    /// Its UID in the selected mailbox.
    pub uid: u32,
    /// Its size as the server has it.
    pub size: usize,
    /// Files, with levels, actions and where each verdict came from.
    pub files: Vec<FileOutcome>,
    /// The message-wide action.
    pub action: Action,
    /// What the client gets.
    pub result: MessageResult,
    /// How long the fetch waited for the decision.
    pub held: Duration,
    /// Some file went through unjudged because the data center failed (I4).
    pub fail_open: bool,
    /// The size served, when it differs from `size`.
    pub served_size: Option<usize>,
    /// The message as the server has it (shared, not copied), for a trace that names
    /// messages by their headers.
    pub message: Arc<[u8]>,
}

/// Observable events, for the trace and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapEvent {
    /// A command from the client: its tag and command word(s), never its arguments (they
    /// may hold a password).
    ClientCommand(String),
    /// A fetch is held until the messages it names are judged (I1).
    HoldStarted {
        /// The client's tag.
        tag: String,
        /// Messages fetched to judge.
        messages: usize,
        /// Whether it returns body content (X4 keepalives go only to these).
        body: bool,
    },
    /// The engine decided on one message.
    Decided {
        /// Its UID.
        uid: u32,
        /// The decision.
        outcome: Box<Outcome>,
        /// How long the fetch waited for it.
        held: Duration,
    },
    /// A held fetch's responses went to the client.
    Served {
        /// The client's tag.
        tag: String,
        /// How long it was held, from the command to its first response.
        held: Duration,
    },
    /// The proxy answered a command itself with `NO` or `BAD` (a form it does not pass
    /// through, STARTTLS, a limit).
    Refused {
        /// The client's tag.
        tag: String,
        /// Why.
        reason: String,
    },
    /// A response from the server that would have carried content not judged was not passed
    /// on (fail closed).
    Dropped {
        /// Why.
        reason: String,
    },
    /// An X4 keepalive line went to the client.
    KeepaliveSent,
    /// The client closed the connection with fetches still held (I3): their analyses go on.
    ClientGone {
        /// Messages still being judged.
        judging: usize,
    },
    /// One message's record.
    Message(Box<MessageLog>),
}
