//! What an IMAP server session asks its driver to do, and what it reports for the trace.

use std::time::Duration;

/// One thing for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapServerOutput {
    /// Send these bytes to the client.
    Send(Vec<u8>),
    /// Close the connection (after sending what came before).
    Close,
    /// This session changed the store (flags by STORE or by a FETCH that set `\Seen`,
    /// expunged messages): call `handle_store_changed` on the account's other sessions, so
    /// that one in IDLE tells its client, as Dovecot's IDLE does.
    StoreChanged,
    /// Something happened, for the trace.
    Event(ImapServerEvent),
}

/// What happened in a session, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapServerEvent {
    /// A client logged in (LOGIN or AUTHENTICATE PLAIN).
    LoggedIn {
        /// The account.
        user: String,
    },
    /// A login was refused (answered after the failure delay).
    LoginFailed {
        /// The user name the client gave.
        user: String,
    },
    /// A mailbox was selected (SELECT) or examined (EXAMINE).
    Selected {
        /// The mailbox.
        mailbox: String,
        /// Messages in it.
        exists: u32,
        /// EXAMINE: read-only.
        read_only: bool,
    },
    /// One message's FETCH response was sent with content or structure in it (not for one
    /// of only UID, FLAGS, INTERNALDATE and RFC822.SIZE).
    Fetched {
        /// Its UID.
        uid: u32,
        /// The items served besides those four, as the response names them (`BODY[]<0>`,
        /// `RFC822`, `BINARY[2]`, `BODYSTRUCTURE`, `ENVELOPE`).
        items: Vec<String>,
        /// Bytes of content sent (the literals of BODY[…], RFC822… and BINARY[…]).
        bytes: u64,
        /// The fetch set `\Seen` on the message.
        seen_set: bool,
    },
    /// A FETCH item could not be served (BINARY of a part that does not decode).
    FetchFailed {
        /// The message.
        uid: u32,
        /// Why.
        reason: String,
    },
    /// Messages new to the session were announced (`* n EXISTS`).
    NewMail {
        /// Messages in the mailbox now.
        exists: u32,
    },
    /// Messages were expunged (by this session or announced to it).
    Expunged {
        /// Their UIDs.
        uids: Vec<u32>,
    },
    /// The client entered IDLE.
    IdleStarted,
    /// `* OK Still here` was sent in IDLE.
    Keepalive,
    /// The client ended IDLE.
    IdleDone {
        /// How long it idled.
        after: Duration,
    },
    /// The server logged the client out for inactivity (`* BYE Disconnected for
    /// inactivity.`).
    Autologout {
        /// Whether the client had logged in (else the login timeout).
        authenticated: bool,
        /// Time since the timer was last reset.
        idle: Duration,
    },
    /// A command was answered BAD (or NO because this model does not do it).
    Refused {
        /// The command's tag (`*` when none could be read).
        tag: String,
        /// The reply's text.
        reply: String,
    },
    /// The client logged out (LOGOUT).
    LoggedOut,
    /// The server hung up on a protocol error (`* BYE …`).
    Disconnected {
        /// The BYE text.
        reason: String,
    },
}
