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
//! | `aptsim_imap_messages_total` | counter | `result`, `action` | each message the IMAP proxy judged (`unchanged`, `rewritten`, `notice`, `withheld`, `abandoned`, `parts_served`) |
//! | `aptsim_imap_hold_seconds` | histogram | | how long each IMAP fetch waited for its message's decision |
//!
//! The files of IMAP messages count in `aptsim_files_total` and `aptsim_cache_hits_total` as
//! the SMTP proxy's do.

use aptsim_core::imap::proxy::{ImapEvent, MessageLog};
use aptsim_core::inspect::{FileOutcome, Source};
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
    imap_messages: Family<Labels2, Counter>,
    imap_hold_seconds: Histogram,
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
            imap_messages: Family::default(),
            imap_hold_seconds: Histogram::new(HOLD_BUCKETS),
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
            "aptsim_imap_messages",
            "Messages the IMAP proxy judged, by what the client got and the action",
            m.imap_messages.clone(),
        );
        r.register(
            "aptsim_imap_hold_seconds",
            "How long IMAP fetches waited for their message's decision",
            m.imap_hold_seconds.clone(),
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
            NodeOutput::ImapEvent {
                event: ImapEvent::Message(m),
                ..
            } => self.imap_message(m),
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

    fn imap_message(&self, m: &MessageLog) {
        let result = serde_json::to_value(m.result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.imap_messages
            .get_or_create(&[("result", result), ("action", m.action.to_string())])
            .inc();
        self.imap_hold_seconds.observe(m.held.as_secs_f64());
        self.count_files(&m.files);
    }

    /// Each file of a decided message, by level and source; the cache's hits.
    fn count_files(&self, files: &[FileOutcome]) {
        for f in files {
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
                self.count_files(&t.files);
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
#[path = "metrics_tests.rs"]
mod tests;
