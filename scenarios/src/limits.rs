//! The bounds on what a scenario may ask for, in one place. `docs/scenarios.md` lists them
//! for users.
//!
//! A run makes each message when the sender queues it and forgets it once the message is
//! final, and checks the trace as it is written; what stays is a few hundred bytes per
//! message for the checks (N1 and N2 must see a late duplicate). Unbounded,
//! `size = 100000000000` fails an allocation and aborts the process instead of reporting an
//! error, and a billion messages outgrow memory. The bounds are generous for what scenarios
//! are for, and keep one world within a few GB, so that a run per core fits a 24 GB machine.
//! Measured (release build): a million-message day (20 % with one 2 kB file) peaks at about
//! 0.4 GB; 100 messages of one 10 MiB file, all in flight at once, at about 4 GB.
//!
//! Settings that are limits themselves and allocate nothing (the data center's `workers`
//! and `remember`, the server's and the proxy's maximums) need no bound; nor does `pool`
//! beyond [`MAX_FILES`], since drawing from it allocates nothing.

use std::time::Duration;

/// Longest `duration`, the virtual time a scenario simulates: 366 days. Every preset's queue
/// lifetime (Postfix 5 days) fits many times over.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// Largest one-way `latency` of the links: 1 hour. Every SMTP timeout is shorter, so longer
/// latencies only show the same timeouts.
pub const MAX_LATENCY: Duration = Duration::from_secs(3_600);

/// Most messages in one scenario, `[[message]]` tables and `[[traffic]]` counts together:
/// 10,000,000 (ten busy days of a 10,000-user site; about 4 GB kept for the checks).
pub const MAX_MESSAGES: usize = 10_000_000;

/// Most attachments on one message, archive members included: 1,000.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 1_000;

/// Most files in one scenario, over all messages (written and generated): 10,000,000.
pub const MAX_FILES: usize = 10_000_000;

/// Most distinct files a traffic draws from (`pool`): 1,000,000. The data center remembers
/// each one it judged.
pub const MAX_POOL: usize = 1_000_000;

/// Largest attachment: 64 MiB (a message many mail servers would already refuse; the
/// default receiving server takes 10 MB).
pub const MAX_ATTACHMENT_SIZE: usize = 64 << 20;

/// Most attachment bytes in one scenario, over all messages: 4 GiB. Messages are made one at
/// a time, but all of them can be in flight at once (a server down all day), and a message
/// in flight is held a few times over (queued, relayed, held by the proxy), base64 adding a
/// third.
pub const MAX_TOTAL_BYTES: u64 = 4 << 30;

/// A byte count as users write limits: `64 MiB`, `1 GiB`, else bytes.
pub fn show_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n.is_multiple_of(1 << 30) => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        n => n.to_string(),
    }
}
