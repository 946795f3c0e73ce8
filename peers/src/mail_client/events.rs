//! What a mail client ([`super::MailClient`]) asks of its driver ([`ClientOutput`]) and
//! reports for the trace ([`ClientEvent`]): connections, the step it waited in, what it
//! downloaded, and how its operations ended.

use std::fmt;

/// One connection of a client, numbered by the client from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}", self.0)
    }
}

/// How a client names a message: by UID, or — fetchmail — by sequence number (the simulated
/// mailbox expunges nothing, so a number names the same message throughout a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum MessageKey {
    /// A UID in the selected mailbox.
    Uid(u32),
    /// A message sequence number.
    Seq(u32),
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKey::Uid(u) => write!(f, "uid {u}"),
            MessageKey::Seq(n) => write!(f, "#{n}"),
        }
    }
}

/// What the client waited for (the command outstanding, or the connection).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Step {
    /// The connection to open.
    Connect,
    /// The server's greeting.
    Greeting,
    /// `CAPABILITY`.
    Capability,
    /// `LOGIN`.
    Login,
    /// `SELECT`.
    Select,
    /// A listing of UIDs, sizes, flags or header fields (never held by the proxy).
    Listing,
    /// Whole messages (`BODY[]`, `BODY.PEEK[]`, `RFC822.peek`, `BODY.PEEK[HEADER]`).
    Fetch {
        /// The messages asked for.
        uids: Vec<u32>,
    },
    /// One chunk of a message (Thunderbird `BODY[]<offset.size>`).
    Chunk {
        /// The message.
        uid: u32,
        /// Its first byte.
        offset: u32,
    },
    /// `BODYSTRUCTURE` (K-9).
    Structure {
        /// The message.
        uid: u32,
    },
    /// One section (K-9 `BODY.PEEK[<part>]`).
    Part {
        /// The message.
        uid: u32,
        /// The part number, or `TEXT`.
        part: String,
    },
    /// `SEARCH UNSEEN` or its fallback `FETCH 1:n FLAGS` (fetchmail).
    Search,
    /// `FETCH a:b RFC822.SIZE` (fetchmail).
    Sizes,
    /// `FETCH n RFC822.HEADER` (fetchmail).
    Header {
        /// The sequence number.
        seq: u32,
    },
    /// `FETCH n BODY.PEEK[TEXT]` (fetchmail).
    Text {
        /// The sequence number.
        seq: u32,
    },
    /// `STORE n +FLAGS (\Seen)` (fetchmail).
    MarkSeen {
        /// The sequence number.
        seq: u32,
    },
    /// `IDLE`, until its tagged reply after `DONE`.
    Idle,
    /// `LOGOUT`.
    Logout,
}

impl Step {
    /// Whether the step asks for message content (what the gateway's proxy holds).
    pub fn is_content(&self) -> bool {
        matches!(
            self,
            Step::Fetch { .. }
                | Step::Chunk { .. }
                | Step::Structure { .. }
                | Step::Part { .. }
                | Step::Header { .. }
                | Step::Text { .. }
        )
    }
}

/// An operation of the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Job {
    /// A check for new mail (sync, poll): the schedule's, an IDLE notice's, or a restart's.
    Check,
    /// The user opens a message that is not on the device yet.
    Open {
        /// The message.
        uid: u32,
    },
    /// The user opens a message's attachments (K-9 fetches their sections).
    Attachments {
        /// The message.
        uid: u32,
    },
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum FailReason {
    /// Nothing arrived in time (Thunderbird after its one retry: "Connection to server %S
    /// timed out."; mbsync: "Socket error …: timeout").
    Timeout {
        /// What the client waited for.
        what: Step,
    },
    /// The server closed the connection.
    ConnectionLost {
        /// What the client waited for.
        what: Step,
    },
    /// The connection could not be opened.
    ConnectFailed,
    /// The server answered `NO` or `BAD`.
    Refused {
        /// The command.
        what: Step,
        /// The reply line, without its tag.
        text: String,
    },
    /// The greeting was `* BYE`.
    ServerBye,
    /// The server's bytes are not IMAP the client can read.
    Protocol(String),
    /// fetchmail: an untagged line before its header reply (imap.c, "Incorrect FETCH
    /// response"); the poll ends.
    IncorrectFetchResponse {
        /// The line, up to its first CRLF.
        line: String,
    },
}

/// What the client observed, for the trace and the scenario's expectations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ClientEvent {
    /// A command line sent (without CRLF; a `LOGIN` password is shown as `"***"`).
    Command {
        /// The connection.
        conn: ConnId,
        /// The line.
        line: String,
    },
    /// The connection is open.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// The server closed the connection.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// An operation starts.
    Started {
        /// The operation.
        job: Job,
    },
    /// An operation ended well.
    Done {
        /// The operation.
        job: Job,
    },
    /// An operation failed (Thunderbird's alert, K-9's error, mbsync's failed channel,
    /// fetchmail's failed poll). The client tries again at its next check.
    Failed {
        /// The operation.
        job: Job,
        /// Why.
        reason: FailReason,
    },
    /// A whole message is on the device (for K-9's large messages: its text parts).
    Fetched {
        /// The message.
        key: MessageKey,
        /// Its bytes (the text parts' for K-9's large messages).
        bytes: usize,
        /// Download attempts it took, this one included.
        attempts: u32,
    },
    /// One section (K-9 attachment) is on the device.
    PartFetched {
        /// The message.
        uid: u32,
        /// The part number.
        part: String,
        /// Its bytes.
        bytes: usize,
        /// Attempts it took, this one included.
        attempts: u32,
    },
    /// Thunderbird 154+: the bytes of a message add up to less than its `RFC822.SIZE`, so the
    /// copy is dropped and fetched again at a later check.
    Discarded {
        /// The message.
        key: MessageKey,
        /// Bytes received.
        got: usize,
        /// `RFC822.SIZE` the server gave.
        size: u32,
    },
    /// A message the server did not give (a `NO`, or fetchmail's `* NO` to its header
    /// fetch); it is tried again at a later check.
    Skipped {
        /// The message.
        key: MessageKey,
    },
    /// The user opens a message; `local` if it is on the device already.
    Opened {
        /// The message.
        uid: u32,
        /// Already downloaded.
        local: bool,
    },
    /// The client gave up waiting on a connection (and closes it).
    TimedOut {
        /// The connection.
        conn: ConnId,
        /// What it waited for.
        what: Step,
    },
    /// Thunderbird runs the operation that timed out once more, on a new connection.
    Retrying {
        /// The operation.
        job: Job,
        /// Where the first try timed out.
        what: Step,
    },
    /// I5: Outlook took a fetch during its sync that did not answer for a denied connection,
    /// and syncs no more until the user restarts it.
    SyncStalled {
        /// The fetch.
        what: Step,
    },
    /// fetchmail saw more than `max_timeouts` timeouts in a row and polls no more until
    /// restarted (driver.c, "Fetchmail won't poll this mailbox again until you restart it").
    PollingStopped {
        /// Timeouts counted.
        timeouts: u32,
    },
    /// The user restarted the program.
    Restarted,
}

/// What the client asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Open a connection to the server (or the proxy); answer with
    /// `handle_connected` or `handle_connect_failed`.
    Connect {
        /// The client's name for it.
        conn: ConnId,
    },
    /// Send these bytes on the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the connection (the client takes no more input for it).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Something to trace.
    Event(ClientEvent),
}
