//! Heavy work a session hands to its driver instead of doing it itself: finding a message's
//! files, and writing the body it relays.
//!
//! Everything else a session does costs little per input, but these two are linear in the
//! message (tens of milliseconds for tens of megabytes), and a live proxy that did them on
//! its event loop would make every other connection wait (ARCHITECTURE.md: the event loop
//! only moves bytes). So a session emits a [`Job`] with an id; the driver runs
//! [`Job::run`] where it likes — inline in the simulator, which keeps runs deterministic;
//! on a worker thread in the live proxy, under a time budget — and hands the result back
//! with the session's `handle_work_done`. A job that fails (its budget ran out, its thread
//! panicked) comes back as a [`WorkFailed`], and the session fails closed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::mime::{self, Extraction, MimeLimits};
use crate::rewrite::Rewrite;
use crate::smtp::wire::data;

/// A job's id, unique within its session.
pub type WorkId = u64;

/// One piece of heavy work and what it needs; owns its inputs, so it can move to a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Find the files of `message` ([`mime::extract`]), keeping their bytes when asked.
    Extract {
        /// The message as received.
        message: Arc<[u8]>,
        /// The extraction limits (the policy's).
        limits: MimeLimits,
        /// Keep each file's bytes for a data center that reads them.
        keep_contents: bool,
    },
    /// The body to relay after `DATA`: `header`, then the message rewritten by the plan if
    /// there is one, dot-stuffed and terminated ([`data::dot_stuff_after`]).
    SmtpBody {
        /// The message as received.
        message: Arc<[u8]>,
        /// The rewrite to apply first (drop, block, lock).
        rewrite: Option<Rewrite>,
        /// The extraction limits, for re-reading a part to lock.
        limits: MimeLimits,
        /// Header lines the proxy adds in front (its `Received:`), CRLF-ended; empty for
        /// none. They go in front of the rewritten message, since the rewrite's places are
        /// those of the message as received.
        header: Vec<u8>,
    },
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The files of the message.
    Extracted(Extraction),
    /// The body, ready for the wire.
    SmtpBody(Vec<u8>),
}

/// Why a job produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorkFailed {
    /// The driver's time budget for it ran out (it was cancelled).
    #[error("time budget exhausted")]
    TimedOut,
    /// It stopped abnormally (a panic in a worker thread).
    #[error("the job failed")]
    Crashed,
}

impl Job {
    /// Does the work. `cancel` is read between the message's entities; once it is set the
    /// job stops early and returns [`WorkFailed::TimedOut`].
    pub fn run(&self, cancel: &AtomicBool) -> Result<Done, WorkFailed> {
        match self {
            Job::Extract {
                message,
                limits,
                keep_contents,
            } => mime::extract_cancellable(message, limits, *keep_contents, cancel)
                .map(Done::Extracted)
                .ok_or(WorkFailed::TimedOut),
            Job::SmtpBody {
                message,
                rewrite,
                limits,
                header,
            } => Ok(Done::SmtpBody(match rewrite {
                Some(plan) => data::dot_stuff_after(header, &plan.apply(message, limits)),
                None => data::dot_stuff_after(header, message),
            })),
        }
    }

    /// The size of the message the job works on, for logs and budgets.
    pub fn message_len(&self) -> usize {
        match self {
            Job::Extract { message, .. } | Job::SmtpBody { message, .. } => message.len(),
        }
    }
}
