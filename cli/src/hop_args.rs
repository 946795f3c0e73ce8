//! `aptsim proxy smtp` flags for what the next hop learns of a message's path: the proxy's
//! `Received:` header (on unless `--no-received-header`). XFORWARD needs no flag: the proxy
//! sends it whenever the upstream offers it (docs/live.md, "The next hop").

use aptsim_core::smtp::proxy::ProxyConfig;

/// Flags on the proxy's own trace in relayed mail.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HopArgs {
    /// Do not add the proxy's Received: header to relayed messages (RFC 5321 4.4 asks
    /// every hop for one; without it a loop through the proxy is not counted and the
    /// message's path has a gap).
    #[arg(long)]
    pub no_received_header: bool,
}

impl HopArgs {
    /// Sets what these flags decide in the session configuration; a flag not given leaves
    /// the configuration's value (the default, or a configuration file's) as it is.
    pub fn apply(&self, config: &mut ProxyConfig) {
        if self.no_received_header {
            config.received_header = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_turns_the_header_off_and_its_absence_changes_nothing() {
        let mut c = ProxyConfig::default();
        HopArgs {
            no_received_header: false,
        }
        .apply(&mut c);
        assert!(c.received_header, "on by default");
        c.received_header = false;
        HopArgs {
            no_received_header: false,
        }
        .apply(&mut c);
        assert!(!c.received_header, "a configured false stays");
        c.received_header = true;
        HopArgs {
            no_received_header: true,
        }
        .apply(&mut c);
        assert!(!c.received_header);
    }
}
