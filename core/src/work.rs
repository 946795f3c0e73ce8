//! Heavy work a session hands to its driver instead of doing it itself: finding a message's
//! files, and writing the body it relays (SMTP) or the copy it serves (IMAP).
//!
//! Everything else a session does costs little per input, but these two are linear in the
//! message (tens of milliseconds for tens of megabytes), and a live proxy that did them on
//! its event loop would make every other connection wait (ARCHITECTURE.md: the event loop
//! only moves bytes). So a session emits a [`Job`] with an id; the driver runs
//! [`Job::run`] where it likes — inline in the simulator, which keeps runs deterministic;
//! on a worker thread in the live proxy, under a time budget — and hands the result back
//! with the session's `handle_work_done`. A job that fails (its budget ran out, its thread
//! panicked) comes back as a [`WorkFailed`], and the session fails closed. A driver may
//! also run a small message's job on the spot, capped ([`Job::capped`]) so that an archive
//! inflating far beyond the message's size cannot hold it up: past the cap the job goes to
//! a worker after all.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::mime::{self, Extraction, MimeLimits};
use crate::rewrite::Rewrite;
use crate::smtp::wire::data;
use crate::unscannable::{LimitExceeded, Unscannable};

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
    /// The copy an IMAP client is served instead of the message: `message` rewritten by
    /// the plan (a file replaced, or the deny notice).
    ImapCopy {
        /// The message as the server has it.
        message: Arc<[u8]>,
        /// The rewrite.
        rewrite: Rewrite,
        /// The extraction limits, for re-reading a part to lock.
        limits: MimeLimits,
    },
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The files of the message.
    Extracted(Extraction),
    /// The body, ready for the wire.
    SmtpBody(Vec<u8>),
    /// The copy to serve an IMAP client.
    ImapCopy(Vec<u8>),
}

impl Done {
    /// True when a run of [`Job::capped`] stopped at an archive byte limit (the uncapped
    /// job might have gone further). The budget is drawn down across the whole message, so
    /// an archive after the first reports what was left of it, not the cap: any total-bytes
    /// stop counts.
    pub fn hit_archive_cap(&self) -> bool {
        matches!(self, Done::Extracted(x) if x.files.iter().any(|f| matches!(
            f.unscannable,
            Some(Unscannable::OverLimit(LimitExceeded::TotalBytes(_)))
        )))
    }
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
    /// Bytes of message the job works on: what its cost grows with (linearly, under the
    /// work budget of the extraction limits) — except archives, which a small message may
    /// hold and which may inflate to the archive limits ([`Job::capped`]).
    pub fn input_len(&self) -> usize {
        match self {
            Job::Extract { message, .. }
            | Job::SmtpBody { message, .. }
            | Job::ImapCopy { message, .. } => message.len(),
        }
    }

    /// The same job with archives allowed to inflate to at most `bytes` in all: cheap enough
    /// to run where there is no time to spare. Its result is the job's own unless
    /// [`Done::hit_archive_cap`] says the cap was reached; then the job must run uncapped.
    pub fn capped(&self, bytes: u64) -> Job {
        let mut job = self.clone();
        let (Job::Extract { limits, .. }
        | Job::SmtpBody { limits, .. }
        | Job::ImapCopy { limits, .. }) = &mut job;
        limits.archive.max_total_bytes = limits.archive.max_total_bytes.min(bytes);
        job
    }

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
            Job::ImapCopy {
                message,
                rewrite,
                limits,
            } => Ok(Done::ImapCopy(rewrite.apply(message, limits))),
        }
    }

    /// The size of the message the job works on, for logs and budgets.
    pub fn message_len(&self) -> usize {
        match self {
            Job::Extract { message, .. }
            | Job::SmtpBody { message, .. }
            | Job::ImapCopy { message, .. } => message.len(),
        }
    }
}
