//! The IMAP proxy's flags: where it listens and which IMAP server it fronts, and its X4
//! keepalive. `aptsim proxy imap` takes `--listen` and `--upstream` for these; `aptsim proxy
//! smtp` takes them as `--imap-listen` and `--imap-upstream` to run both proxies in one
//! process on one gateway, so that they share one verdict cache (X6).

use std::time::Duration;

use aptsim_core::duration;
use aptsim_core::imap::proxy::ImapConfig;

/// Where IMAP clients connect when `aptsim proxy imap` is given no `--listen`.
pub const DEFAULT_IMAP_LISTEN: &str = "127.0.0.1:1143";

/// The IMAP proxy's flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImapArgs {
    /// Also run the IMAP proxy, accepting mail clients here (repeat for several); it
    /// shares the SMTP proxy's gateway and verdict cache (X6).
    #[arg(long, value_name = "ADDR")]
    pub imap_listen: Vec<String>,
    /// The IMAP server behind the IMAP proxy (host:port); repeat for a list tried in order.
    #[arg(long, value_name = "ADDR")]
    pub imap_upstream: Vec<String>,
    /// X4: while a fetch of message bodies is held, send the client an untagged "* OK"
    /// line this often, so clients whose read timeout any bytes reset keep waiting
    /// (Thunderbird: 100 s). Off by default; never sent to header fetches (fetchmail).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub keepalive: Option<Duration>,
    /// During a long hold, send the IMAP server a command of the proxy's own this often, so
    /// that it does not log the proxy out [default: 10m; Dovecot logs out after 30 min].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub imap_upstream_keepalive: Option<Duration>,
    /// Set by `aptsim proxy imap`: no SMTP listener.
    #[arg(skip)]
    pub imap_only: bool,
}

impl ImapArgs {
    /// Sets what these flags decide in the IMAP sessions' configuration.
    pub fn apply(&self, config: &mut ImapConfig) {
        if self.keepalive.is_some() {
            config.keepalive = self.keepalive;
        }
        if let Some(d) = self.imap_upstream_keepalive {
            config.upstream_keepalive = d;
        }
    }
}
