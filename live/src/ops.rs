//! What the coordinator reports to the operator besides its log: the [`Metrics`] it counts
//! and the [`Quarantine`] it stores into (`--metrics`, `--quarantine`). The coordinator
//! (`super::smtp`) makes one call for every output of the node it carries out
//! ([`Ops::carry_out`]) and one for every answer of the data center ([`Ops::datacenter`]);
//! everything else is here.

use std::net::IpAddr;
use std::sync::Arc;

use aptsim_core::clock::Timestamp;
use aptsim_core::node::{ConnId, Node, NodeOutput};
use aptsim_core::smtp::proxy::Event;
use aptsim_peers::datacenter::DcAnswer;

use super::log::Log;
use super::metrics::Metrics;
use super::quarantine::Quarantine;

/// The metrics and the quarantine store of one proxy.
#[derive(Debug, Default)]
pub struct Ops {
    /// Counted always; served over HTTP only with `--metrics`.
    pub metrics: Arc<Metrics>,
    /// Where quarantined messages are kept; without it they are logged only.
    pub quarantine: Option<Quarantine>,
}

impl Ops {
    /// Counts `out`, and stores a quarantined message once its transaction record comes
    /// (before the sender's `250`, which the node emits after it). `client` gives a
    /// session's client address.
    pub fn carry_out(
        &mut self,
        out: &NodeOutput,
        node: &Node,
        log: &Log,
        now: Timestamp,
        client: impl Fn(ConnId) -> Option<IpAddr>,
    ) {
        self.metrics.observe(out, node);
        match out {
            NodeOutput::Event {
                conn,
                event: event @ (Event::Quarantined { .. } | Event::Transaction(_)),
            } => self.quarantine_event(*conn, event, log, now, client(*conn)),
            NodeOutput::Finished { conn } => {
                if let Some(q) = &mut self.quarantine {
                    q.forget(*conn);
                }
            }
            _ => {}
        }
    }

    /// Counts one answer of the data center.
    pub fn datacenter(&self, answer: &DcAnswer) {
        self.metrics.datacenter(answer);
    }

    fn quarantine_event(
        &mut self,
        conn: ConnId,
        event: &Event,
        log: &Log,
        now: Timestamp,
        client: Option<IpAddr>,
    ) {
        let Some(q) = &mut self.quarantine else {
            if matches!(event, Event::Quarantined { .. }) {
                self.metrics.quarantined(false);
            }
            return;
        };
        match q.observe(conn, client, event) {
            None => {}
            Some(Ok(record)) => {
                self.metrics.quarantined(true);
                let text = format!(
                    "conn={conn} txn={} id={} size={} stored in {}",
                    record.txn,
                    record.id,
                    record.size,
                    super::log::escape(&q.dir().display().to_string())
                );
                log.info(now, "quarantine", &text);
            }
            Some(Err(e)) => {
                self.metrics.quarantined(false);
                let text = format!(
                    "conn={conn} quarantined message NOT stored: {}; the sender was told 250",
                    super::log::escape(&e.to_string())
                );
                log.always(now, "error", &text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_format::LogFormat;
    use crate::log_format::tests::logged;
    use crate::quarantine::tests::{temp_dir, txn};
    use aptsim_core::gateway::Gateway;
    use aptsim_core::policy::Policy;
    use aptsim_core::smtp::proxy::{ProxyConfig, TxnResult};
    use std::time::UNIX_EPOCH;

    fn node() -> Node {
        Node::new(
            Gateway::new(Arc::new(Policy::default())),
            Arc::new(ProxyConfig::default()),
        )
    }

    fn log() -> Log {
        Log {
            quiet: false,
            verbose: false,
            wall_start: UNIX_EPOCH,
        }
    }

    fn outputs() -> [NodeOutput; 2] {
        [
            NodeOutput::Event {
                conn: 4,
                event: Event::Quarantined {
                    txn: 1,
                    message: Arc::from(&b"Subject: q\r\n\r\nq\r\n"[..]),
                },
            },
            NodeOutput::Event {
                conn: 4,
                event: Event::Transaction(Box::new(txn(TxnResult::Quarantined))),
            },
        ]
    }

    #[test]
    fn a_quarantined_message_is_stored_logged_and_counted() {
        let dir = temp_dir("ops");
        let mut ops = Ops {
            quarantine: Some(Quarantine::open(&dir).expect("open")),
            ..Ops::default()
        };
        let node = node();
        let out = logged(LogFormat::Text, || {
            for o in &outputs() {
                ops.carry_out(o, &node, &log(), Timestamp::ZERO, |_| {
                    Some([10, 0, 0, 9].into())
                });
            }
        });
        assert!(out.contains(" quarantine conn=4 txn=1 id="), "{out}");
        let entries = crate::quarantine_folder::list(&dir).expect("list");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].record.client, "10.0.0.9");
        let metrics = ops.metrics.render();
        assert!(
            metrics.contains("aptsim_quarantined_total{stored=\"true\"} 1\n"),
            "{metrics}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_store_it_is_counted_as_not_stored() {
        let mut ops = Ops::default();
        let node = node();
        let out = logged(LogFormat::Text, || {
            for o in &outputs() {
                ops.carry_out(o, &node, &log(), Timestamp::ZERO, |_| None);
            }
        });
        assert!(!out.contains("quarantine "), "{out}");
        let metrics = ops.metrics.render();
        assert!(
            metrics.contains("aptsim_quarantined_total{stored=\"false\"} 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "aptsim_messages_total{result=\"quarantined\",action=\"quarantine\"} 1\n"
            ),
            "{metrics}"
        );
    }

    #[test]
    fn a_store_that_fails_is_an_error_line() {
        let dir = temp_dir("ops-fail");
        let mut ops = Ops {
            quarantine: Some(Quarantine::open(&dir).expect("open")),
            ..Ops::default()
        };
        std::fs::remove_dir_all(&dir).expect("the folder goes away");
        let node = node();
        let out = logged(LogFormat::Json, || {
            for o in &outputs() {
                ops.carry_out(o, &node, &log(), Timestamp::ZERO, |_| None);
            }
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(line["kind"], "error", "{out}");
        assert_eq!(line["conn"], 4, "{out}");
        assert!(
            line["msg"]
                .as_str()
                .is_some_and(|m| m.contains("NOT stored")),
            "{out}"
        );
        assert!(
            ops.metrics
                .render()
                .contains("aptsim_quarantined_total{stored=\"false\"} 1\n")
        );
    }
}
