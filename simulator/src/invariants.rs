//! The invariants N1–N9, checked after every run from the trace alone.
//!
//! Each check reads only trace records — what the sender saw, what the proxy decided, what
//! the receiving server stored, what the data center judged — never an actor's state, so a
//! bug in an actor cannot hide itself by also misreporting.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aptsim_core::verdict::ThreatLevel;

use crate::faults::FaultAction;
use crate::trace::{Record, TraceLine};

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// `N1` … `N9`.
    pub id: &'static str,
    /// What was seen.
    pub detail: String,
}

/// What the checks need to know about the run besides the trace.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The cache's time to live (N7).
    pub cache_ttl: Duration,
    /// X1 on: one MD5 never under analysis twice at once (N7).
    pub dedupe_in_flight: bool,
    /// X2 on: no ambiguous timeouts expected (N2).
    pub proactive_tempfail: bool,
    /// Levels whose action is not `allow` (N3).
    pub non_allow_levels: BTreeSet<ThreatLevel>,
    /// Ids of the faults the scenario injects (N9).
    pub faults: Vec<String>,
}

/// How each message ended (N1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FinalStates {
    /// Submitted by the sender.
    pub submitted: usize,
    /// Delivered to the recipient (changed or not).
    pub delivered: usize,
    /// Kept in quarantine.
    pub quarantined: usize,
    /// Refused with a 5xx the sender bounced (deny, or another permanent refusal).
    pub denied: usize,
    /// Given up by the sender's queue lifetime.
    pub expired: usize,
    /// Neither when the run ended.
    pub in_flight: usize,
}

/// Runs every check.
pub fn check(trace: &[TraceLine], ctx: &CheckContext) -> (FinalStates, Vec<Violation>) {
    let mut v = Vec::new();
    let states = n1_nothing_lost(trace, &mut v);
    n2_no_duplicates(trace, ctx, &mut v);
    n3_hold_means_hold(trace, ctx, &mut v);
    n4_release_means_release(trace, &mut v);
    n5_one_at_a_time(trace, &mut v);
    n7_cache(trace, ctx, &mut v);
    n9_faults_fire(trace, ctx, &mut v);
    (states, v)
}

fn n1_nothing_lost(trace: &[TraceLine], v: &mut Vec<Violation>) -> FinalStates {
    #[derive(Default)]
    struct Seen {
        delivered: bool,
        quarantined: bool,
        denied: bool,
        expired: bool,
    }
    let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
    for l in trace {
        match &l.record {
            Record::Queued { msg } => {
                seen.entry(msg).or_default();
            }
            Record::Delivered { msg, .. } => seen.entry(msg).or_default().delivered = true,
            Record::Quarantined { msg } => seen.entry(msg).or_default().quarantined = true,
            Record::Bounced { msg, reason } => {
                let s = seen.entry(msg).or_default();
                if reason.starts_with("queue lifetime") {
                    s.expired = true;
                } else {
                    s.denied = true;
                }
            }
            _ => {}
        }
    }
    let mut states = FinalStates::default();
    for (msg, s) in &seen {
        states.submitted += 1;
        let ends = [s.delivered, s.quarantined, s.denied, s.expired];
        match ends.iter().filter(|e| **e).count() {
            0 => states.in_flight += 1,
            1 => {
                states.delivered += usize::from(s.delivered);
                states.quarantined += usize::from(s.quarantined);
                states.denied += usize::from(s.denied);
                states.expired += usize::from(s.expired);
            }
            _ => v.push(Violation {
                id: "N1",
                detail: format!(
                    "message {msg} ended in more than one state (delivered {}, quarantined {}, denied {}, expired {})",
                    s.delivered, s.quarantined, s.denied, s.expired
                ),
            }),
        }
    }
    states
}

/// Ambiguous timeouts per message: attempts the sender ended after its final dot without a
/// reply (it logs that the message may be delivered more than once) on a connection whose
/// body the proxy did relay upstream. The relay may come before the sender gave up or
/// after — when a cut path held back the sender's FIN, the proxy could not know — but a
/// relay after the proxy *saw* the sender leave is never excused: the proxy never relays
/// then (S5), and a duplicate from it fails N2.
pub fn ambiguous_timeouts(trace: &[TraceLine]) -> BTreeMap<String, usize> {
    let relayed: BTreeSet<u64> = trace
        .iter()
        .filter_map(|l| match &l.record {
            Record::BodyRelayed { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect();
    let mut out = BTreeMap::new();
    for l in trace {
        if let Record::MayBeDeliveredMultipleTimes { msg, conn, .. } = &l.record
            && relayed.contains(conn)
        {
            *out.entry(msg.clone()).or_insert(0) += 1;
        }
    }
    out
}

fn n2_no_duplicates(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    let mut deliveries: BTreeMap<&str, usize> = BTreeMap::new();
    for l in trace {
        if let Record::Delivered { msg, .. } = &l.record {
            *deliveries.entry(msg).or_insert(0) += 1;
        }
    }
    let ambiguous = ambiguous_timeouts(trace);
    for (msg, n) in deliveries {
        let allowed = ambiguous.get(msg).copied().unwrap_or(0);
        if n > 1 + allowed {
            v.push(Violation {
                id: "N2",
                detail: format!(
                    "message {msg} delivered {n} times with {allowed} ambiguous timeouts"
                ),
            });
        }
    }
    // X2 answers before the sender's timeout, but a cut path can hide any answer: with the
    // sender's link cut, an ambiguous timeout is the network's doing.
    let client_cut = trace.iter().any(|l| {
        matches!(
            l.record,
            Record::Fault {
                kind: FaultAction::LinkCut(crate::faults::LinkName::Client),
                ..
            }
        )
    });
    if ctx.proactive_tempfail && !client_cut {
        let total: usize = ambiguous.values().sum();
        if total > 0 {
            v.push(Violation {
                id: "N2",
                detail: format!("{total} ambiguous timeouts with X2 on"),
            });
        }
    }
}

fn n3_hold_means_hold(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    // Levels the data center gave, by MD5.
    let levels: BTreeMap<&str, ThreatLevel> = trace
        .iter()
        .filter_map(|l| match &l.record {
            Record::Verdict { md5, level, .. } => Some((md5.as_str(), *level)),
            _ => None,
        })
        .collect();
    // Messages decided under a hold (S2: a hold started for them), and whether the decision
    // failed open.
    let mut holds: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut held: BTreeMap<&str, bool> = BTreeMap::new();
    for l in trace {
        match &l.record {
            Record::HoldStart { conn, txn } => {
                holds.insert((*conn, *txn));
            }
            Record::Decision {
                conn,
                txn,
                msg,
                fail_open,
                ..
            } if holds.contains(&(*conn, *txn)) => {
                let e = held.entry(msg).or_insert(false);
                *e |= *fail_open;
            }
            _ => {}
        }
    }
    for l in trace {
        let Record::Delivered { msg, files, .. } = &l.record else {
            continue;
        };
        let Some(&fail_open) = held.get(msg.as_str()) else {
            continue;
        };
        for md5 in files {
            let bad = levels
                .get(md5.as_str())
                .is_some_and(|lvl| ctx.non_allow_levels.contains(lvl));
            if bad && !fail_open {
                v.push(Violation {
                    id: "N3",
                    detail: format!(
                        "held message {msg} reached the recipient with file {md5}, judged {}",
                        levels[md5.as_str()]
                    ),
                });
            }
        }
    }
}

fn n4_release_means_release(trace: &[TraceLine], v: &mut Vec<Violation>) {
    let holds: BTreeSet<(u64, u64)> = trace
        .iter()
        .filter_map(|l| match &l.record {
            Record::HoldStart { conn, txn } => Some((*conn, *txn)),
            _ => None,
        })
        .collect();
    for l in trace {
        if let Record::Decision {
            conn,
            txn,
            released: true,
            msg,
            ..
        } = &l.record
            && holds.contains(&(*conn, *txn))
        {
            v.push(Violation {
                id: "N4",
                detail: format!("released message {msg} was held first"),
            });
        }
    }
}

fn n5_one_at_a_time(trace: &[TraceLine], v: &mut Vec<Violation>) {
    // Per transaction: MD5s uploaded and not yet answered, with their upload time.
    let mut open: BTreeMap<(u64, u64), Vec<(String, u64)>> = BTreeMap::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for l in trace {
        match &l.record {
            Record::CacheStored { md5 } | Record::Unreachable { md5 } => {
                answered.insert(md5.clone());
                for files in open.values_mut() {
                    files.retain(|(m, _)| m != md5);
                }
            }
            Record::Submission { conn, txn, md5, .. } => {
                let files = open.entry((*conn, *txn)).or_default();
                // Uploads of one group carry the same timestamp; an older one still open
                // means two groups in flight.
                if let Some((other, _)) = files.iter().find(|(_, at)| *at < l.t) {
                    v.push(Violation {
                        id: "N5",
                        detail: format!("conn {conn} txn {txn}: {md5} submitted at {} ms while {other} was in flight", l.t),
                    });
                }
                if !answered.contains(md5) {
                    files.push((md5.clone(), l.t));
                }
            }
            _ => {}
        }
    }
}

fn n7_cache(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    let ttl = ctx.cache_ttl.as_millis() as u64;
    let mut cached_at: BTreeMap<&str, u64> = BTreeMap::new();
    let mut in_flight: BTreeSet<&str> = BTreeSet::new();
    for l in trace {
        match &l.record {
            Record::CacheStored { md5 } => {
                cached_at.insert(md5, l.t);
                in_flight.remove(md5.as_str());
            }
            Record::Unreachable { md5 } => {
                in_flight.remove(md5.as_str());
            }
            Record::Fault {
                kind: FaultAction::CacheFlush,
                ..
            } => cached_at.clear(),
            Record::Submission {
                md5, upload: true, ..
            } => {
                if cached_at
                    .get(md5.as_str())
                    .is_some_and(|&at| l.t < at + ttl)
                {
                    v.push(Violation {
                        id: "N7",
                        detail: format!("{md5} uploaded at {} ms with a live cached verdict", l.t),
                    });
                }
                if ctx.dedupe_in_flight && !in_flight.insert(md5) {
                    v.push(Violation {
                        id: "N7",
                        detail: format!("{md5} under analysis twice at {} ms with X1 on", l.t),
                    });
                }
            }
            _ => {}
        }
    }
}

fn n9_faults_fire(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    let fired: BTreeSet<&str> = trace
        .iter()
        .filter_map(|l| match &l.record {
            Record::Fault { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    for id in &ctx.faults {
        if !fired.contains(id.as_str()) {
            v.push(Violation {
                id: "N9",
                detail: format!("fault {id} never took effect"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: u64, record: Record) -> TraceLine {
        TraceLine {
            t,
            actor: "test",
            record,
        }
    }

    fn ctx() -> CheckContext {
        CheckContext {
            cache_ttl: Duration::from_secs(3_600),
            dedupe_in_flight: true,
            proactive_tempfail: false,
            non_allow_levels: [ThreatLevel::Medium, ThreatLevel::High].into(),
            faults: vec![],
        }
    }

    fn ids(trace: &[TraceLine], ctx: &CheckContext) -> Vec<&'static str> {
        check(trace, ctx).1.iter().map(|v| v.id).collect()
    }

    fn delivered(t: u64, msg: &str, files: &[&str]) -> TraceLine {
        line(
            t,
            Record::Delivered {
                msg: msg.into(),
                rcpts: vec![],
                size: 1,
                files: files.iter().map(|f| f.to_string()).collect(),
            },
        )
    }

    fn submission(t: u64, txn: u64, md5: &str) -> TraceLine {
        line(
            t,
            Record::Submission {
                conn: 1,
                txn,
                md5: md5.into(),
                name: String::new(),
                upload: true,
            },
        )
    }

    #[test]
    fn a_clean_trace_passes_and_counts() {
        let trace = vec![
            line(0, Record::Queued { msg: "m1".into() }),
            line(0, Record::Queued { msg: "m2".into() }),
            delivered(5, "m1", &[]),
        ];
        let (states, violations) = check(&trace, &ctx());
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(
            (states.submitted, states.delivered, states.in_flight),
            (2, 1, 1)
        );
    }

    #[test]
    fn n1_two_end_states() {
        let trace = vec![
            line(0, Record::Queued { msg: "m1".into() }),
            delivered(5, "m1", &[]),
            line(6, Record::Quarantined { msg: "m1".into() }),
        ];
        assert_eq!(ids(&trace, &ctx()), ["N1"]);
    }

    #[test]
    fn n2_duplicates_unless_ambiguous() {
        let mut trace = vec![
            line(0, Record::Queued { msg: "m1".into() }),
            line(
                0,
                Record::AttemptStarted {
                    msg: "m1".into(),
                    attempt: 1,
                    conn: 9,
                },
            ),
            delivered(5, "m1", &[]),
            delivered(9, "m1", &[]),
        ];
        assert_eq!(ids(&trace, &ctx()), ["N2"]);
        // The sender says the first attempt may have delivered it...
        trace.insert(
            3,
            line(
                6,
                Record::MayBeDeliveredMultipleTimes {
                    msg: "m1".into(),
                    attempt: 1,
                    conn: 9,
                },
            ),
        );
        assert_eq!(
            ids(&trace, &ctx()),
            ["N2"],
            "but the proxy never relayed it"
        );
        // ...and the proxy did relay its body: ambiguous, not a violation.
        trace.insert(2, line(4, Record::BodyRelayed { conn: 9, txn: 1 }));
        assert!(ids(&trace, &ctx()).is_empty());
        let x2 = CheckContext {
            proactive_tempfail: true,
            ..ctx()
        };
        assert_eq!(ids(&trace, &x2), ["N2"]);
    }

    #[test]
    fn n3_held_bad_file_reaching_the_recipient() {
        let decision = |fail_open| {
            line(
                3,
                Record::Decision {
                    conn: 1,
                    txn: 1,
                    msg: "m1".into(),
                    action: aptsim_core::policy::Action::Allow,
                    decision: crate::trace::DecisionKind::Deliver,
                    held_ms: None,
                    released: false,
                    fail_open,
                    files: vec![],
                },
            )
        };
        let verdict = line(
            2,
            Record::Verdict {
                md5: "aa".into(),
                level: ThreatLevel::High,
                score: 90,
                analysis_ms: 1,
            },
        );
        let hold = line(1, Record::HoldStart { conn: 1, txn: 1 });
        let trace = vec![
            hold.clone(),
            verdict.clone(),
            decision(false),
            delivered(4, "m1", &["aa"]),
        ];
        assert_eq!(ids(&trace, &ctx()), ["N3"]);
        let trace = vec![
            hold,
            verdict.clone(),
            decision(true),
            delivered(4, "m1", &["aa"]),
        ];
        assert!(ids(&trace, &ctx()).is_empty(), "fail-open is excepted");
        let trace = vec![verdict, decision(false), delivered(4, "m1", &["aa"])];
        assert!(ids(&trace, &ctx()).is_empty(), "no hold, no N3");
    }

    #[test]
    fn n5_two_groups_in_flight() {
        let trace = vec![
            submission(0, 1, "a"),
            submission(0, 1, "b"),
            submission(5, 1, "c"),
        ];
        assert_eq!(ids(&trace, &ctx()), ["N5"]);
        let trace = vec![
            submission(0, 1, "a"),
            line(4, Record::CacheStored { md5: "a".into() }),
            submission(5, 1, "c"),
        ];
        assert!(ids(&trace, &ctx()).is_empty());
    }

    #[test]
    fn n7_cached_upload_and_double_analysis() {
        let trace = vec![
            submission(0, 1, "a"),
            line(4, Record::CacheStored { md5: "a".into() }),
            submission(10, 2, "a"),
        ];
        assert_eq!(ids(&trace, &ctx()), ["N7"]);
        let trace = vec![submission(0, 1, "a"), submission(1, 2, "a")];
        assert_eq!(ids(&trace, &ctx()), ["N7"]);
        let off = CheckContext {
            dedupe_in_flight: false,
            ..ctx()
        };
        assert!(ids(&trace, &off).is_empty());
    }

    #[test]
    fn n9_fault_that_never_fired() {
        let c = CheckContext {
            faults: vec!["outage".into()],
            ..ctx()
        };
        assert_eq!(ids(&[], &c), ["N9"]);
        let fired = vec![line(
            1,
            Record::Fault {
                id: "outage".into(),
                kind: FaultAction::DatacenterUnreachable,
                detail: String::new(),
            },
        )];
        assert!(ids(&fired, &c).is_empty());
    }
}
