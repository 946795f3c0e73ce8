//! What one delivery attempt of the sending MTA ([`super::sender`]) reports: the phase it
//! waited in, how it ended and why, the events it observed and the outputs it asks of its
//! driver.

use aptsim_core::smtp::wire::reply::Reply;

/// Which reply the client was waiting for (written by its variant name in traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Phase {
    /// The connection and the 220 greeting.
    Greeting,
    /// The reply to EHLO or HELO.
    Ehlo,
    /// The reply to MAIL.
    Mail,
    /// The reply to a RCPT.
    Rcpt,
    /// The 354 after DATA.
    DataInit,
    /// The reply after the final dot.
    DataDone,
    /// The reply to QUIT.
    Quit,
}

/// Why an attempt was deferred (the MTA will try again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferReason {
    /// The server answered 4xx (or something out of place).
    Reply(Reply),
    /// No reply in time.
    Timeout {
        /// What the client was waiting for.
        phase: Phase,
    },
    /// The connection broke, or the server stopped speaking SMTP.
    ConnectionLost {
        /// What the client was waiting for.
        phase: Phase,
    },
    /// The connection could not be opened.
    ConnectFailed,
    /// The MTA itself was stopped during the attempt (its delivery process killed): the
    /// message goes back to the queue and is tried again when the MTA starts.
    Stopped {
        /// What the client was waiting for.
        phase: Phase,
    },
}

impl DeferReason {
    /// True if the server may have the message all the same: the body went out and its
    /// final reply never came.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            DeferReason::Timeout {
                phase: Phase::DataDone
            } | DeferReason::ConnectionLost {
                phase: Phase::DataDone
            } | DeferReason::Stopped {
                phase: Phase::DataDone
            }
        )
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The server accepted the message for at least one recipient.
    Delivered {
        /// The reply after the final dot.
        reply: Reply,
        /// Recipients refused with 5xx: they bounce.
        rejected_rcpts: Vec<(String, Reply)>,
        /// Recipients refused with 4xx: the driver should retry them.
        deferred_rcpts: Vec<(String, Reply)>,
    },
    /// Refused for good (5xx): the message bounces.
    Bounced(Reply),
    /// Not delivered this time; the MTA retries.
    Deferred(DeferReason),
}

/// What the session observed, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEvent {
    /// The connection is open.
    Connected,
    /// The connection could not be opened.
    ConnectFailed,
    /// A command line sent (without its line end).
    Command(String),
    /// The message body was handed over (dot-stuffed, `bytes` long with the final dot).
    BodySent {
        /// Bytes on the wire.
        bytes: usize,
    },
    /// A reply received.
    Reply(Reply),
    /// A reply that arrived while nothing was waiting for one.
    UnexpectedReply(Reply),
    /// What the server sent is not an SMTP reply; the client hangs up.
    MalformedReply(String),
    /// No reply in time for `phase`.
    Timeout {
        /// What the client was waiting for.
        phase: Phase,
    },
    /// The server closed the connection while the client waited for `phase`.
    ConnectionLost {
        /// What the client was waiting for.
        phase: Phase,
    },
    /// The final dot went out and its reply never came: the attempt is deferred, yet the
    /// server may have the message, so the retry may deliver it again (Postfix: "mail may be
    /// delivered multiple times").
    MayBeDeliveredMultipleTimes {
        /// The timeout or lost connection after the final dot.
        reason: DeferReason,
    },
    /// The attempt's outcome is known (the session may still be closing with QUIT).
    Outcome(AttemptResult),
}

/// What the session asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderOutput {
    /// Send these bytes to the server.
    Send(Vec<u8>),
    /// Close the connection.
    Close,
    /// Shut down the sending side (a FIN) and go on reading: Exim after its pipelined QUIT.
    HalfClose,
    /// Something to trace.
    Event(SenderEvent),
}
