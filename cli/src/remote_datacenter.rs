//! `aptsim proxy smtp --datacenter URL`: the flags that put an HTTP data center
//! (`aptsim datacenter serve`, or any server of the API in docs/live.md) in place of the
//! proxy's built-in one, and the [`Sandbox`] they make.

use std::time::Duration;

use aptsim_core::duration;
use aptsim_core::policy::Policy;
use aptsim_live::dc_http::client::{ClientConfig, Endpoint, RemoteClient};
use aptsim_live::log::Log;
use aptsim_live::sandbox::Sandbox;
use aptsim_peers::datacenter::DataCenter;

/// The proxy's flags for a remote data center.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteDcArgs {
    /// Send files to the HTTP data center at URL (http://HOST:PORT, e.g. one run by `aptsim
    /// datacenter serve`) instead of the built-in one. One it cannot reach, or that stops
    /// answering mid-analysis, makes the file unreachable: the policy's outage setting
    /// decides (S7, default allow).
    #[arg(
        long,
        value_name = "URL",
        value_parser = parse_endpoint,
        conflicts_with_all = ["analysis_time", "dc_outage", "dc_verdicts"]
    )]
    pub datacenter: Option<Endpoint>,
    /// With --datacenter: how long one request may take to connect, send and be answered
    /// (a poll may be held 10 s more by the server) [default: 30s].
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = duration::parse,
        requires = "datacenter"
    )]
    pub dc_timeout: Option<Duration>,
}

impl RemoteDcArgs {
    /// The remote data center when `--datacenter` is given, else `builtin`. Files are polled
    /// for at most the policy's `analysis_timeout`: by then X3 has decided their sessions.
    pub fn sandbox(&self, builtin: DataCenter<()>, policy: &Policy, log: &Log) -> Sandbox {
        match &self.datacenter {
            Some(endpoint) => {
                let mut config = ClientConfig::new(endpoint.clone());
                if let Some(t) = self.dc_timeout {
                    config.timeout = t;
                }
                config.give_up = policy.analysis_timeout;
                RemoteClient::new(config, log.clone()).into()
            }
            None => builtin.into(),
        }
    }

    /// The data center for the startup line, when it is remote.
    pub fn describe(&self) -> Option<String> {
        let endpoint = self.datacenter.as_ref()?;
        let timeout = self
            .dc_timeout
            .unwrap_or_else(|| ClientConfig::new(endpoint.clone()).timeout);
        Some(format!(
            "remote {endpoint} (HTTP; request timeout {}; unreachable = outage policy)",
            duration::format(timeout)
        ))
    }
}

pub(crate) fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    text.parse()
}
