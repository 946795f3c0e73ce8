//! The bounds on what a scenario may ask for, in one place. `docs/scenarios.md` lists them
//! for users.
//!
//! A scenario is built in memory before it runs: every message as MIME, every file as bytes.
//! Unbounded, `size = 100000000000` or `count = 10_000_000` fails an allocation and aborts
//! the process instead of reporting an error. The bounds are generous for what scenarios are
//! for, and keep one world within a few GB, so that a run per core fits a 24 GB machine.
//! Measured in a debug build: 2,000 generated messages of one 2 kB file peak at about 50 MB
//! and take 3.5 s, the trace included; 100 messages of one 10 MiB file at 4.3 GB.
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
/// 100,000 (measured with one 2 kB file each: a 2 GB peak, 4 minutes in a debug build).
pub const MAX_MESSAGES: usize = 100_000;

/// Most attachments on one message, archive members included: 1,000.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 1_000;

/// Most files in one scenario, over all messages (written and generated): 1,000,000.
pub const MAX_FILES: usize = 1_000_000;

/// Largest attachment: 64 MiB (a message many mail servers would already refuse; the
/// default receiving server takes 10 MB).
pub const MAX_ATTACHMENT_SIZE: usize = 64 << 20;

/// Most attachment bytes in one scenario, over all messages: 512 MiB (a peak of about
/// 2.2 GB). A message's bytes are held several times over during a run (as built, queued,
/// relayed, stored) and base64 adds a third.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;

/// A byte count as users write limits: `64 MiB`, `1 GiB`, else bytes.
pub fn show_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n.is_multiple_of(1 << 30) => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        n => n.to_string(),
    }
}
