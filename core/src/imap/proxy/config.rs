//! The IMAP proxy session's limits and timers, with their defaults and sources.

use std::time::Duration;

use crate::imap::WireLimits;

/// Session limits and timers. Defaults and their sources in each field's doc; docs/imap.md
/// lists them all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// X4: while a body fetch is held, send the client an untagged `* OK` line this often,
    /// so that a client with a read timeout reset by any bytes (Thunderbird 100 s, mbsync
    /// 20 s) keeps waiting. Default off, as BEHAVIOUR.md states: fetchmail 6.3 fails on an
    /// untagged line before its header reply, so keepalives go only to body fetches, never
    /// to header-only ones.
    #[serde(with = "crate::duration::serde_text_opt")]
    pub keepalive: Option<Duration>,
    /// While a fetch is held and nothing is in flight upstream, send the server a command
    /// of the proxy's own this long after the last one, so that a long hold does not reach
    /// the server's autologout (Dovecot: 30 min after the last input, `reference/IMAP.md`
    /// §6). Default 10 min, a third of it.
    #[serde(with = "crate::duration::serde_text")]
    pub upstream_keepalive: Duration,
    /// Client connections the gateway serves at once (both proxies of one gateway count
    /// against their own limit); one more is answered `* BYE` and closed. Default 500, as
    /// the SMTP proxy's.
    pub max_connections: usize,
    /// Bytes fetched to judge that one hold may keep at once; the messages its commands
    /// name are fetched in batches of at most this (one message at least), the next as soon
    /// as it fits beside the ones still being judged. Default 64 MiB.
    pub max_prefetch_bytes: usize,
    /// Bytes the gateway holds in memory at once, all sessions of both proxies together
    /// (the same count as the SMTP proxy's `max_held_bytes`): a batch of messages to judge
    /// that would pass it waits, its fetch still held, until there is room (one message is
    /// always let in when nothing else is held). Default 512 MiB, as the SMTP proxy's.
    pub max_held_bytes: usize,
    /// Judged copies kept per session after the fetch that judged them, so that the next
    /// chunk of a partial download (Thunderbird: 64 KiB at a time) or the next section
    /// (K-9) is served without fetching and judging the message again. Rewritten copies
    /// count their size; unchanged messages cost nothing. Default 32 MiB.
    pub max_judged_bytes: usize,
    /// Client commands waiting behind the one in progress; a client that pipelines more is
    /// told `* BYE` and closed. Default 1,000 (mbsync's `PipelineDepth` is unlimited, but it
    /// sends a few hundred at most per batch).
    pub max_queued_commands: usize,
    /// Line and literal bounds on both sides (Dovecot's line limit, imap-next's literal
    /// limit; `imap::framing`).
    #[serde(skip)]
    pub wire: WireLimits,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            keepalive: None,
            upstream_keepalive: Duration::from_secs(600),
            max_connections: 500,
            max_prefetch_bytes: 64 << 20,
            max_held_bytes: 512 << 20,
            max_judged_bytes: 32 << 20,
            max_queued_commands: 1_000,
            wire: WireLimits::default(),
        }
    }
}
