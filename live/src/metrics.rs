//! The live proxy's metrics, counted from what the node reports (its [`NodeOutput`]s) and
//! what the data center answers, and rendered in the Prometheus/OpenMetrics text format for
//! `/metrics` ([`super::metrics_server`], `--metrics ADDR`).
//!
//! Nothing here reads a session: the coordinator calls [`Metrics::observe`] for every output
//! it carries out and [`Metrics::datacenter`] for every answer, so the counts are what the
//! node said happened, as the simulator's metrics are what its trace says. Gauges (open
//! connections, held bytes, cache entries) are sampled from the node at each output, so
//! they are as fresh as the last thing the proxy did.
//!
//! | metric | type | labels | from |
//! |---|---|---|---|
//! | `aptsim_messages_total` | counter | `result`, `action` | each transaction's end |
//! | `aptsim_holds_total` | counter | | a message held for its verdicts (S2) |
//! | `aptsim_hold_seconds` | histogram | | how long each held message waited |
//! | `aptsim_files_total` | counter | `level`, `source` | each file of a decided message |
//! | `aptsim_cache_hits_total` | counter | | files decided from the verdict cache (S6) |
//! | `aptsim_cache_entries` | gauge | | verdicts in the cache |
//! | `aptsim_uploads_total` | counter | | files sent to the data center |
//! | `aptsim_upload_waits_total` | counter | | files that waited on an upload in flight (X1) |
//! | `aptsim_verdicts_total` | counter | `level` | the data center's verdicts |
//! | `aptsim_datacenter_errors_total` | counter | `kind` | `unreachable` (S7), `unseen` |
//! | `aptsim_exposures_total` | counter | `level` | files judged bad after release (X5) |
//! | `aptsim_exposure_window_seconds` | histogram | | delivery to verdict, per exposure |
//! | `aptsim_connections` | gauge | | client connections open |
//! | `aptsim_sessions` | gauge | | sessions alive (connected, or an analysis followed) |
//! | `aptsim_sessions_finished_total` | counter | | sessions ended |
//! | `aptsim_held_bytes` | gauge | | bytes held by all sessions |
//! | `aptsim_quarantined_total` | counter | `stored` | quarantined messages, stored or not |

use aptsim_core::inspect::Source;
use aptsim_core::node::{Node, NodeOutput};
use aptsim_core::smtp::proxy::Event;
use aptsim_peers::datacenter::{Basis, DcAnswer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Hold-time buckets, seconds: from an instant decision to past Postfix's 600 s DATA
/// timeout (a hold that long loses the sender; X2's tempfail deadline sits below it).
const HOLD_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0,
];

/// Exposure-window buckets, seconds: from a fast analysis to past the 20 min analysis
/// timeout (X3) and an hour.
const EXPOSURE_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0,
];

type Labels1 = [(&'static str, String); 1];
type Labels2 = [(&'static str, String); 2];

/// Every metric of one proxy, in one registry (no global: tests make their own).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages: Family<Labels2, Counter>,
    holds: Counter,
    hold_seconds: Histogram,
    files: Family<Labels2, Counter>,
    cache_hits: Counter,
    cache_entries: Gauge,
    uploads: Counter,
    upload_waits: Counter,
    verdicts: Family<Labels1, Counter>,
    datacenter_errors: Family<Labels1, Counter>,
    exposures: Family<Labels1, Counter>,
    exposure_window_seconds: Histogram,
    connections: Gauge,
    sessions: Gauge,
    sessions_finished: Counter,
    held_bytes: Gauge,
    quarantined: Family<Labels1, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            messages: Family::default(),
            holds: Counter::default(),
            hold_seconds: Histogram::new(HOLD_BUCKETS),
            files: Family::default(),
            cache_hits: Counter::default(),
            cache_entries: Gauge::default(),
            uploads: Counter::default(),
            upload_waits: Counter::default(),
            verdicts: Family::default(),
            datacenter_errors: Family::default(),
            exposures: Family::default(),
            exposure_window_seconds: Histogram::new(EXPOSURE_BUCKETS),
            connections: Gauge::default(),
            sessions: Gauge::default(),
            sessions_finished: Counter::default(),
            held_bytes: Gauge::default(),
            quarantined: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "aptsim_messages",
            "Transactions ended, by result and message-wide action",
            m.messages.clone(),
        );
        r.register(
            "aptsim_holds",
            "Messages held for their verdicts (S2)",
            m.holds.clone(),
        );
        r.register(
            "aptsim_hold_seconds",
            "How long held messages waited for their decision",
            m.hold_seconds.clone(),
        );
        r.register(
            "aptsim_files",
            "Files of decided messages, by level and where the level came from",
            m.files.clone(),
        );
        r.register(
            "aptsim_cache_hits",
            "Files decided from the verdict cache (S6)",
            m.cache_hits.clone(),
        );
        r.register(
            "aptsim_cache_entries",
            "Verdicts in the cache",
            m.cache_entries.clone(),
        );
        r.register(
            "aptsim_uploads",
            "Files uploaded to the data center",
            m.uploads.clone(),
        );
        r.register(
            "aptsim_upload_waits",
            "Files that waited on the same file's upload in flight (X1)",
            m.upload_waits.clone(),
        );
        r.register(
            "aptsim_verdicts",
            "Verdicts from the data center, by level",
            m.verdicts.clone(),
        );
        r.register(
            "aptsim_datacenter_errors",
            "Data center answers that were no verdict (unreachable, S7) or a verdict on bytes it never saw (unseen)",
            m.datacenter_errors.clone(),
        );
        r.register(
            "aptsim_exposures",
            "Files released unjudged and judged bad afterwards (X5), by level",
            m.exposures.clone(),
        );
        r.register(
            "aptsim_exposure_window_seconds",
            "Time from delivery to the bad verdict, per exposure (X5)",
            m.exposure_window_seconds.clone(),
        );
        r.register(
            "aptsim_connections",
            "Client connections open",
            m.connections.clone(),
        );
        r.register(
            "aptsim_sessions",
            "Sessions alive: client connected, or an analysis still followed (S5)",
            m.sessions.clone(),
        );
        r.register(
            "aptsim_sessions_finished",
            "Sessions ended",
            m.sessions_finished.clone(),
        );
        r.register(
            "aptsim_held_bytes",
            "Bytes held in memory by all sessions",
            m.held_bytes.clone(),
        );
        r.register(
            "aptsim_quarantined",
            "Quarantined messages, by whether the quarantine store kept them",
            m.quarantined.clone(),
        );
        m
    }

    /// Counts one output of the node, and samples its gauges.
    pub fn observe(&self, out: &NodeOutput, node: &Node) {
        match out {
            NodeOutput::Upload { .. } => {
                self.uploads.inc();
            }
            NodeOutput::Submitted { upload: false, .. } => {
                self.upload_waits.inc();
            }
            NodeOutput::Finished { .. } => {
                self.sessions_finished.inc();
            }
            NodeOutput::Event { event, .. } => self.event(event),
            _ => {}
        }
        let gw = node.gateway();
        self.connections.set(gauge(gw.usage.connections()));
        self.sessions.set(gauge(node.sessions()));
        self.held_bytes.set(gauge(gw.usage.held_bytes()));
        if let Some(n) = gw.cache.entries() {
            self.cache_entries.set(gauge(n));
        }
    }

    fn event(&self, event: &Event) {
        match event {
            Event::HoldStarted { .. } => {
                self.holds.inc();
            }
            Event::Exposure { level, window, .. } => {
                self.exposures
                    .get_or_create(&[("level", level.to_string())])
                    .inc();
                self.exposure_window_seconds.observe(window.as_secs_f64());
            }
            Event::Transaction(t) => {
                let result = serde_json::to_value(t.result)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.messages
                    .get_or_create(&[("result", result), ("action", t.action.to_string())])
                    .inc();
                if let Some(held) = t.held {
                    self.hold_seconds.observe(held.as_secs_f64());
                }
                for f in &t.files {
                    let level = match f.source {
                        Source::Released => "unjudged".to_owned(),
                        _ => f.level.to_string(),
                    };
                    let source = serde_json::to_value(f.source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    self.files
                        .get_or_create(&[("level", level), ("source", source)])
                        .inc();
                    if f.source == Source::Cache {
                        self.cache_hits.inc();
                    }
                }
            }
            _ => {}
        }
    }

    /// Counts one answer of the data center.
    pub fn datacenter(&self, answer: &DcAnswer) {
        match answer {
            DcAnswer::Verdict { verdict, basis, .. } => {
                self.verdicts
                    .get_or_create(&[("level", verdict.level.to_string())])
                    .inc();
                if *basis == Basis::Unseen {
                    self.datacenter_errors
                        .get_or_create(&[("kind", "unseen".to_owned())])
                        .inc();
                }
            }
            DcAnswer::Unreachable { .. } => {
                self.datacenter_errors
                    .get_or_create(&[("kind", "unreachable".to_owned())])
                    .inc();
            }
        }
    }

    /// Counts a quarantined message: kept in the store, or not (no store, or it failed).
    pub fn quarantined(&self, stored: bool) {
        self.quarantined
            .get_or_create(&[("stored", stored.to_string())])
            .inc();
    }

    /// Every metric in the OpenMetrics text format (what Prometheus scrapes).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder's error is fmt's.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use aptsim_core::digest::Md5;
    use aptsim_core::gateway::Gateway;
    use aptsim_core::inspect::FileOutcome;
    use aptsim_core::policy::{Action, Policy};
    use aptsim_core::smtp::proxy::{ProxyConfig, TxnLog, TxnResult};
    use aptsim_core::verdict::{ThreatLevel, Verdict};

    /// The value of the sample line `name{labels}` (or `name`), if it is there.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn file(source: Source, level: ThreatLevel) -> FileOutcome {
        FileOutcome {
            file: 0,
            md5: Md5::of(b"f"),
            name: "f".into(),
            level,
            score: 0,
            threat: None,
            action: Action::Allow,
            source,
        }
    }

    #[test]
    fn counts_what_the_node_and_the_data_center_report() {
        let m = Metrics::new();
        let node = Node::new(
            Gateway::new(Arc::new(Policy::default())),
            Arc::new(ProxyConfig::default()),
        );
        let ev = |event| NodeOutput::Event { conn: 1, event };
        let txn = |result, action, held: Option<u64>, files| {
            ev(Event::Transaction(TxnLog {
                txn: 1,
                from: "a@x".into(),
                rcpts: vec!["b@y".into()],
                files,
                action,
                result,
                held: held.map(Duration::from_millis),
                reply: None,
            }))
        };
        let outputs = [
            ev(Event::HoldStarted { txn: 1 }),
            txn(
                TxnResult::Denied,
                Action::Deny,
                Some(1_500),
                vec![file(Source::Analysis, ThreatLevel::High)],
            ),
            txn(
                TxnResult::Denied,
                Action::Deny,
                None,
                vec![file(Source::Cache, ThreatLevel::High)],
            ),
            txn(
                TxnResult::Delivered,
                Action::Allow,
                None,
                vec![file(Source::Released, ThreatLevel::Clean)],
            ),
            NodeOutput::Upload {
                md5: Md5::of(b"f"),
                name: "f".into(),
                bytes: None,
            },
            NodeOutput::Submitted {
                conn: 2,
                txn: 1,
                md5: Md5::of(b"f"),
                name: "f".into(),
                upload: false,
            },
            ev(Event::Exposure {
                txn: 1,
                md5: Md5::of(b"f"),
                level: ThreatLevel::High,
                window: Duration::from_secs(7),
            }),
            NodeOutput::Finished { conn: 1 },
        ];
        for out in &outputs {
            m.observe(out, &node);
        }
        m.datacenter(&DcAnswer::Verdict {
            md5: Md5::of(b"f"),
            verdict: Verdict {
                score: 70,
                level: ThreatLevel::High,
                threat: None,
            },
            basis: Basis::Eicar,
            analysed: Some(Duration::from_secs(5)),
        });
        m.datacenter(&DcAnswer::Unreachable {
            md5: Md5::of(b"f"),
            refused: true,
        });
        m.quarantined(true);
        let text = m.render();
        let expect = [
            (
                r#"aptsim_messages_total{result="denied",action="deny"}"#,
                2.0,
            ),
            (
                r#"aptsim_messages_total{result="delivered",action="allow"}"#,
                1.0,
            ),
            ("aptsim_holds_total", 1.0),
            ("aptsim_hold_seconds_count", 1.0),
            ("aptsim_hold_seconds_sum", 1.5),
            (r#"aptsim_hold_seconds_bucket{le="1.0"}"#, 0.0),
            (r#"aptsim_hold_seconds_bucket{le="2.0"}"#, 1.0),
            (r#"aptsim_files_total{level="high",source="analysis"}"#, 1.0),
            (
                r#"aptsim_files_total{level="unjudged",source="released"}"#,
                1.0,
            ),
            ("aptsim_cache_hits_total", 1.0),
            ("aptsim_cache_entries", 0.0),
            ("aptsim_uploads_total", 1.0),
            ("aptsim_upload_waits_total", 1.0),
            (r#"aptsim_verdicts_total{level="high"}"#, 1.0),
            (r#"aptsim_datacenter_errors_total{kind="unreachable"}"#, 1.0),
            (r#"aptsim_exposures_total{level="high"}"#, 1.0),
            (r#"aptsim_exposure_window_seconds_bucket{le="5.0"}"#, 0.0),
            (r#"aptsim_exposure_window_seconds_bucket{le="10.0"}"#, 1.0),
            ("aptsim_sessions_finished_total", 1.0),
            ("aptsim_connections", 0.0),
            (r#"aptsim_quarantined_total{stored="true"}"#, 1.0),
        ];
        for (series, value) in expect {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn gauges_follow_the_node() {
        let m = Metrics::new();
        let mut gw = Gateway::new(Arc::new(Policy::default()));
        gw.cache.insert(
            Md5::of(b"x"),
            Verdict {
                score: 0,
                level: ThreatLevel::Clean,
                threat: None,
            },
            aptsim_core::clock::Timestamp::ZERO,
        );
        let node = Node::new(gw, Arc::new(ProxyConfig::default()));
        let _slot = node.gateway().usage.try_connect(10);
        m.observe(&NodeOutput::VerdictRecorded { md5: Md5::of(b"x") }, &node);
        let text = m.render();
        assert_eq!(sample(&text, "aptsim_cache_entries"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "aptsim_connections"), Some(1.0), "{text}");
    }
}
