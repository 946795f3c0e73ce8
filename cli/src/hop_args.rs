//! `aptsim proxy smtp` flags for what the next hop learns of a message's path: the proxy's
//! `Received:` header (on unless `--no-received-header`). XFORWARD needs no flag: the proxy
//! sends it whenever the upstream offers it (docs/live.md, "The next hop").

use aptsim_core::smtp::proxy::ProxyConfig;

/// Flags on the proxy's own trace in relayed mail.
#[derive(clap::Args, Debug)]
pub struct HopArgs {
    /// Do not add the proxy's Received: header to relayed messages (RFC 5321 4.4 asks
    /// every hop for one; without it a loop through the proxy is not counted and the
    /// message's path has a gap).
    #[arg(long)]
    pub no_received_header: bool,
}

impl HopArgs {
    /// Sets what these flags decide in the session configuration.
    pub fn apply(&self, config: &mut ProxyConfig) {
        config.received_header = !self.no_received_header;
    }
}
