//! Metrics computed from the trace: delivery latency percentiles, holds and their durations,
//! requests to the data center (uploads analysed, look-ups answered at once, refusals),
//! cache hits, retries, exposures (X5) with their windows, duplicates and ambiguous
//! timeouts.

use std::collections::{BTreeMap, HashMap};

use aptsim_core::inspect::Source;

use crate::invariants::Ambiguity;
use crate::message_map::MessageMap;
use crate::msg_key::MsgKey;
use crate::observe::Observer;
use crate::trace::{Record, TraceLine};

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    /// How many values.
    pub count: usize,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`.
    pub fn of(mut values: Vec<u64>) -> Self {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let rank = |p: usize| values[((values.len() * p).div_ceil(100)).clamp(1, values.len()) - 1];
        Percentiles {
            count: values.len(),
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: values[values.len() - 1],
        }
    }
}

/// A run's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metrics {
    /// From entering the sender's queue to the first delivery.
    pub delivery_latency_ms: Percentiles,
    /// Holds: from the end of DATA to the decision, or to the sender leaving (S5).
    pub hold_ms: Percentiles,
    /// Requests to the data center: every file the proxy sent it.
    pub requests: usize,
    /// Requests that went to analysis (or were never answered): the uploads that cost.
    pub uploads: usize,
    /// Requests the data center answered at once from what it already knew.
    pub lookups: usize,
    /// Requests the data center refused (unreachable, S7).
    pub refusals: usize,
    /// Submissions that waited on another message's upload (X1).
    pub dedupe_waits: usize,
    /// Files judged from the cache (S6).
    pub cache_hits: usize,
    /// Delivery attempts after the first.
    pub retries: usize,
    /// Sender timeouts.
    pub sender_timeouts: usize,
    /// X5 exposures and their windows.
    pub exposure_ms: Percentiles,
    /// Deliveries beyond the first of one message.
    pub duplicates: usize,
    /// Attempts the sender ended unanswered after its final dot whose body the proxy
    /// relayed upstream (N2, [`crate::invariants::Ambiguity`]).
    pub ambiguous_timeouts: usize,
    /// Trace lines.
    pub trace_lines: usize,
}

/// Computes the metrics of a whole trace.
pub fn compute(trace: &[TraceLine]) -> Metrics {
    let mut a = Accumulator::default();
    for line in trace {
        a.observe(line);
    }
    a.finish()
}

/// The metrics, read one line at a time (online, as an [`Observer`] of a run, or over a
/// kept trace by [`compute`]). It keeps one value per duration measured (for exact
/// percentiles), the queueing time of each message not yet delivered, and the messages
/// delivered (a duplicate may come at any time).
#[derive(Debug, Default)]
pub struct Accumulator {
    m: Metrics,
    lines: usize,
    queued: HashMap<MsgKey, u64>,
    delivered: MessageMap<()>,
    latencies: Vec<u64>,
    hold_start: BTreeMap<(u64, u64), u64>,
    holds: Vec<u64>,
    exposures: Vec<u64>,
    ambiguity: Ambiguity,
}

impl Accumulator {
    /// The run wrote `lines` lines in all, the SMTP wire lines nobody read and so never
    /// built among them ([`crate::trace::Recorder::record_wire`]).
    pub fn set_trace_lines(&mut self, lines: usize) {
        self.lines = lines;
    }

    /// The metrics of what was read.
    pub fn finish(self) -> Metrics {
        let mut m = self.m;
        m.trace_lines = self.lines;
        m.uploads = m.requests.saturating_sub(m.lookups + m.refusals);
        m.ambiguous_timeouts = self.ambiguity.total();
        m.delivery_latency_ms = Percentiles::of(self.latencies);
        m.hold_ms = Percentiles::of(self.holds);
        m.exposure_ms = Percentiles::of(self.exposures);
        m
    }
}

impl Observer for Accumulator {
    fn observe(&mut self, l: &TraceLine) {
        self.lines += 1;
        self.ambiguity.observe(l);
        let m = &mut self.m;
        match &l.record {
            Record::Queued { msg } if !self.delivered.contains(msg) => {
                self.queued.entry(MsgKey::new(msg)).or_insert(l.t);
            }
            Record::Delivered { msg, .. } => {
                if self.delivered.contains(msg) {
                    m.duplicates += 1;
                } else {
                    if let Some(at) = self.queued.remove(msg.as_bytes()) {
                        self.latencies.push(l.t - at);
                    }
                    self.delivered.entry(msg);
                }
            }
            Record::HoldStart { conn, txn } => {
                self.hold_start.insert((*conn, *txn), l.t);
            }
            Record::Decision {
                conn, txn, files, ..
            } => {
                if let Some(at) = self.hold_start.remove(&(*conn, *txn)) {
                    self.holds.push(l.t - at);
                }
                m.cache_hits += files.iter().filter(|f| f.source == Source::Cache).count();
            }
            // A hold the sender left (S5) is a hold all the same, and often the longest.
            Record::ClientGone {
                conn,
                txn: Some(txn),
                ..
            } => {
                if let Some(at) = self.hold_start.remove(&(*conn, *txn)) {
                    self.holds.push(l.t - at);
                }
            }
            Record::Submission { upload, .. } => {
                if *upload {
                    m.requests += 1;
                } else {
                    m.dedupe_waits += 1;
                }
            }
            Record::Lookup { .. } => m.lookups += 1,
            Record::Unreachable { .. } => m.refusals += 1,
            Record::AttemptStarted { attempt, .. } if *attempt > 1 => m.retries += 1,
            Record::SenderTimeout { .. } => m.sender_timeouts += 1,
            Record::Exposure { window_ms, .. } => self.exposures.push(*window_ms),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!(
            (p.count, p.p50, p.p90, p.p99, p.max),
            (100, 50, 90, 99, 100)
        );
        let one = Percentiles::of(vec![7]);
        assert_eq!((one.p50, one.p99), (7, 7));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
    }

    #[test]
    fn counts_from_records() {
        let l = |t, record| TraceLine {
            t,
            actor: "t",
            record,
        };
        let trace = vec![
            l(0, Record::Queued { msg: "m".into() }),
            l(10, Record::HoldStart { conn: 1, txn: 1 }),
            l(
                70,
                Record::Submission {
                    conn: 1,
                    txn: 1,
                    md5: "a".into(),
                    name: String::new(),
                    upload: true,
                },
            ),
            l(
                100,
                Record::Decision {
                    conn: 1,
                    txn: 1,
                    msg: "m".into(),
                    action: aptsim_core::policy::Action::Allow,
                    decision: crate::trace::DecisionKind::Deliver,
                    held_ms: None,
                    released: false,
                    fail_open: false,
                    files: vec![],
                },
            ),
            l(
                150,
                Record::Delivered {
                    msg: "m".into(),
                    rcpts: vec![],
                    size: 1,
                    files: vec![],
                },
            ),
            l(
                200,
                Record::Delivered {
                    msg: "m".into(),
                    rcpts: vec![],
                    size: 1,
                    files: vec![],
                },
            ),
        ];
        let m = compute(&trace);
        assert_eq!(m.delivery_latency_ms.p50, 150);
        assert_eq!(m.hold_ms.p50, 90);
        assert_eq!((m.uploads, m.duplicates), (1, 1));
    }

    #[test]
    fn an_abandoned_hold_counts_and_requests_are_told_apart() {
        let l = |t, record| TraceLine {
            t,
            actor: "t",
            record,
        };
        let submit = |t, md5: &str| {
            l(
                t,
                Record::Submission {
                    conn: 1,
                    txn: 1,
                    md5: md5.into(),
                    name: String::new(),
                    upload: true,
                },
            )
        };
        let trace = vec![
            l(0, Record::HoldStart { conn: 1, txn: 1 }),
            submit(1, "a"),
            submit(2, "b"),
            submit(3, "c"),
            l(
                3,
                Record::Lookup {
                    md5: "b".into(),
                    level: aptsim_core::verdict::ThreatLevel::Clean,
                },
            ),
            l(4, Record::Unreachable { md5: "c".into() }),
            l(
                600_000,
                Record::ClientGone {
                    conn: 1,
                    txn: Some(1),
                    after_body_sent: false,
                },
            ),
        ];
        let m = compute(&trace);
        assert_eq!((m.hold_ms.count, m.hold_ms.p50), (1, 600_000));
        assert_eq!((m.requests, m.uploads, m.lookups, m.refusals), (3, 1, 1, 1));
    }
}
