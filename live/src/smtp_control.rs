//! The coordinator's side of [`crate::control`]: applying a reload, and draining on
//! shutdown — stop accepting, 421 to idle sessions, the grace period for messages in
//! progress, 421 to what is left, then return once every connection is closed.

use std::sync::Arc;

use aptsim_core::clock::Timestamp;

use super::Coordinator;
use crate::control::{Control, Draining};
use crate::log::secs;

/// After the grace period, how long the proxy waits for its last 421s to be written and
/// the upstreams to answer `QUIT` before it stops regardless.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

impl Coordinator {
    /// An operator's request (see [`Control`]).
    pub(super) fn on_control(&mut self, ctl: Control) {
        let now = self.now();
        match ctl {
            Control::Reload {
                policy,
                config,
                upstream,
                connect_timeout,
                imap_config,
                imap_upstream,
                summary,
            } => {
                self.node.set_policy(policy);
                self.node.set_config(config);
                self.node.set_imap_config(imap_config);
                self.upstream_addrs = Arc::from(upstream);
                self.imap_upstream_addrs = Arc::from(imap_upstream);
                self.connect_timeout = connect_timeout;
                let text = format!("configuration reloaded (cache kept): {summary}");
                self.log.always(now, "reload", &text);
            }
            Control::ReloadFailed(why) => {
                let text = format!("reload failed, still running as before: {why}");
                self.log.always(now, "reload", &text);
            }
            Control::Shutdown { why, grace } if self.draining.is_none() => {
                for a in self.acceptors.drain(..) {
                    a.abort();
                }
                let mut counts = (0, 0);
                self.with_node(|n, now| counts = n.shut_down(false, now));
                self.draining = Some(Draining {
                    until: now + grace,
                    busy: counts.1,
                    forced: false,
                });
                let text = format!(
                    "{why}: no longer accepting; {} idle session(s) told 421 4.3.2, {} with a \
                     message in progress given {} to finish",
                    counts.0,
                    counts.1,
                    secs(grace)
                );
                self.log.always(now, "shutdown", &text);
            }
            // A second signal while draining: the grace period ends now.
            Control::Shutdown { .. } => {
                if let Some(d) = self.draining.as_mut() {
                    d.until = now;
                }
                self.on_timers();
            }
        }
    }

    /// The grace period is over: whatever is still in progress is told 421 4.3.2.
    pub(super) fn end_grace(&mut self, now: Timestamp) {
        let Some(mut d) = self.draining.filter(|d| !d.forced && now >= d.until) else {
            return;
        };
        let mut counts = (0, 0);
        self.with_node(|n, now| counts = n.shut_down(true, now));
        d.forced = true;
        d.until = now + LINGER;
        self.draining = Some(d);
        let text = format!(
            "grace period over: {} of {} message(s) in progress finished, {} cut short with \
             421 4.3.2 (the senders retry; the cache decides)",
            d.busy.saturating_sub(counts.0),
            d.busy,
            counts.0
        );
        self.log.always(now, "shutdown", &text);
    }

    /// True once a shutdown has nothing left to wait for: every connection closed (messages
    /// in progress finished, or the grace period cut them short), or — past the grace
    /// period — [`LINGER`] spent waiting for the last ones.
    pub(super) fn drained(&self) -> bool {
        let Some(d) = self.draining else {
            return false;
        };
        let closed = self.clients.values().all(|c| c.socket.is_none())
            && self.upstreams.is_empty()
            && self.open_sockets.load(std::sync::atomic::Ordering::Acquire) == 0;
        closed || (d.forced && self.now() >= d.until)
    }
}
