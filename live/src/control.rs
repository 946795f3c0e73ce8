//! What an operator tells a running proxy (from its signal handlers): reload the policy and
//! limits (`SIGHUP`), or shut down with a grace period (`SIGTERM`, `SIGINT`).
//!
//! A reload changes what new decisions and new sessions use; open sessions keep their
//! limits, inspections under way keep the policy they started with, and the verdict cache
//! stays. A shutdown stops accepting at once, answers idle sessions `421 4.3.2`, lets
//! messages in progress finish for the grace period, then answers the rest `421 4.3.2`
//! (`aptsim_core::node::Node::shut_down`): no sender sees a bare disconnect.

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::ProxyConfig;

/// An operator's request to the coordinator.
#[derive(Debug)]
pub enum Control {
    /// New settings from a reloaded configuration.
    Reload {
        /// The policy for decisions from now on.
        policy: Arc<Policy>,
        /// The limits for sessions from now on.
        config: Arc<ProxyConfig>,
        /// Upstream servers, tried in order, for connections from now on.
        upstream: Vec<String>,
        /// How long each upstream address is given to accept.
        connect_timeout: Duration,
        /// The IMAP sessions' settings, for sessions from now on.
        imap_config: Arc<ImapConfig>,
        /// IMAP servers, tried in order, for connections from now on.
        imap_upstream: Vec<String>,
        /// What changed, for the log.
        summary: String,
    },
    /// Stop accepting, let messages in progress finish for `grace`, then close the rest.
    Shutdown {
        /// Which signal asked, for the log.
        why: &'static str,
        /// How long messages in progress may take.
        grace: Duration,
    },
    /// A reload that failed: logged, and the proxy keeps running as it was.
    ReloadFailed(String),
}

/// Where a shutdown stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draining {
    /// When the grace period ends (milliseconds since the proxy started); once it has, when
    /// the proxy stops waiting for the last connections to close (a peer that never
    /// answers `QUIT` must not keep it alive).
    pub(crate) until: aptsim_core::clock::Timestamp,
    /// Sessions that had a message in progress when it began.
    pub(crate) busy: usize,
    /// The grace period is over and everything was closed.
    pub(crate) forced: bool,
}
