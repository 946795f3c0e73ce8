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
    /// The policy's analysis timeout (X3): an upload unanswered this long is given up by
    /// the gateway (the data center is slow), so it no longer counts as in flight (N5, N7).
    pub analysis_timeout: Duration,
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
    /// Messages stored in a mailbox of the IMAP server (each account's copy counts).
    pub mailbox: usize,
    /// Of those, held by a mail client as sent.
    pub fetched: usize,
    /// Held by a mail client rewritten or as the deny notice.
    pub replaced: usize,
    /// Not held by any client when the run ended.
    pub unfetched: usize,
}

/// Runs every check.
pub fn check(trace: &[TraceLine], ctx: &CheckContext) -> (FinalStates, Vec<Violation>) {
    let mut v = Vec::new();
    let mut states = n1_nothing_lost(trace, &mut v);
    imap::n1_mailboxes(trace, &mut states, &mut v);
    n2_no_duplicates(trace, ctx, &mut v);
    n3_hold_means_hold(trace, ctx, &mut v);
    imap::n3_mail_clients(trace, ctx, &mut v);
    n4_release_means_release(trace, &mut v);
    n5_one_at_a_time(trace, ctx, &mut v);
    imap::n6_all_at_once(trace, &mut v);
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
    // A delivery the sender did not hear of (an ambiguous timeout, N2) leaves its queue to
    // go on with the message: a later attempt may then be refused (554), quarantined or give
    // up. The recipient has the message all the same; it counts as delivered.
    let ambiguous = ambiguous_timeouts(trace);
    let mut states = FinalStates::default();
    for (msg, s) in &seen {
        states.submitted += 1;
        let ends = [s.delivered, s.quarantined, s.denied, s.expired];
        if s.delivered && ambiguous.contains_key(*msg) {
            states.delivered += 1;
            continue;
        }
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
    let relayed: BTreeSet<u64> = relays(trace)
        .into_iter()
        .filter(|r| !r.after_client_gone)
        .map(|r| r.conn)
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

/// A body the proxy relayed, and whether the proxy had seen the sender leave that
/// transaction first (S5: it must never relay then).
struct Relay {
    conn: u64,
    txn: u64,
    after_client_gone: bool,
}

fn relays(trace: &[TraceLine]) -> Vec<Relay> {
    let mut gone: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut out = Vec::new();
    for l in trace {
        match &l.record {
            Record::ClientGone {
                conn,
                txn: Some(txn),
                ..
            } => {
                gone.insert((*conn, *txn));
            }
            Record::BodyRelayed { conn, txn } => out.push(Relay {
                conn: *conn,
                txn: *txn,
                after_client_gone: gone.contains(&(*conn, *txn)),
            }),
            _ => {}
        }
    }
    out
}

fn n2_no_duplicates(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    for r in relays(trace).iter().filter(|r| r.after_client_gone) {
        v.push(Violation {
            id: "N2",
            detail: format!(
                "conn {} txn {} relayed after its sender left (S5: never delivered later)",
                r.conn, r.txn
            ),
        });
    }
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
    // X2 answers before the sender's timeout, but a cut path can hide any answer: an
    // ambiguous attempt whose connection lived while the sender's link was cut is the
    // network's doing, not a missed deadline.
    if ctx.proactive_tempfail {
        let cuts = client_cuts(trace);
        let started: BTreeMap<u64, u64> = trace
            .iter()
            .filter_map(|l| match &l.record {
                Record::AttemptStarted { conn, .. } => Some((*conn, l.t)),
                _ => None,
            })
            .collect();
        let relayed: BTreeSet<u64> = relays(trace)
            .into_iter()
            .filter(|r| !r.after_client_gone)
            .map(|r| r.conn)
            .collect();
        let unexcused = trace
            .iter()
            .filter(|l| match &l.record {
                Record::MayBeDeliveredMultipleTimes { conn, .. } if relayed.contains(conn) => {
                    let from = started.get(conn).copied().unwrap_or(0);
                    !cuts.iter().any(|&(a, b)| a <= l.t && b >= from)
                }
                _ => false,
            })
            .count();
        if unexcused > 0 {
            v.push(Violation {
                id: "N2",
                detail: format!("{unexcused} ambiguous timeouts with X2 on"),
            });
        }
    }
}

/// When the sender's link was cut: (start, end) in trace milliseconds; a cut never
/// repaired lasts to the end.
fn client_cuts(trace: &[TraceLine]) -> Vec<(u64, u64)> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut cuts = Vec::new();
    for l in trace {
        if let Record::Fault {
            id,
            kind: FaultAction::LinkCut(crate::faults::LinkName::Client),
            ..
        } = &l.record
        {
            match id.strip_suffix("/end") {
                Some(start) => {
                    if let Some(a) = open.remove(start) {
                        cuts.push((a, l.t));
                    }
                }
                None => {
                    open.insert(id, l.t);
                }
            }
        }
    }
    cuts.extend(open.into_values().map(|a| (a, u64::MAX)));
    cuts
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
            // Held: a hold started for it, or it was decided in hold mode at once (from the
            // cache, as an S5 retry is), which `held_ms` records.
            Record::Decision {
                conn,
                txn,
                msg,
                fail_open,
                held_ms,
                ..
            } if held_ms.is_some() || holds.contains(&(*conn, *txn)) => {
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

fn n5_one_at_a_time(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    let timeout = ctx.analysis_timeout.as_millis() as u64;
    // Per transaction: MD5s uploaded and not yet answered, with their upload time.
    let mut open: BTreeMap<(u64, u64), Vec<(String, u64)>> = BTreeMap::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for l in trace {
        match &l.record {
            Record::CacheStored { md5 }
            | Record::Unreachable { md5 }
            | Record::AnalysisLost { md5 } => {
                answered.insert(md5.clone());
                for files in open.values_mut() {
                    files.retain(|(m, _)| m != md5);
                }
            }
            Record::Submission { conn, txn, md5, .. } => {
                let files = open.entry((*conn, *txn)).or_default();
                // An upload the gateway gave up on (its analysis timeout, X3) is over.
                files.retain(|(_, at)| l.t < at + timeout);
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
    let timeout = ctx.analysis_timeout.as_millis() as u64;
    // MD5 → when its upload started; an upload older than the analysis timeout is one the
    // gateway gave up on (X3), no longer in flight.
    let mut in_flight: BTreeMap<&str, u64> = BTreeMap::new();
    for l in trace {
        match &l.record {
            Record::CacheStored { md5 } => {
                cached_at.insert(md5, l.t);
                in_flight.remove(md5.as_str());
            }
            Record::Unreachable { md5 } | Record::AnalysisLost { md5 } => {
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
                let live = in_flight
                    .get(md5.as_str())
                    .is_some_and(|&at| l.t < at + timeout);
                in_flight.insert(md5, l.t);
                if ctx.dedupe_in_flight && live {
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

#[path = "invariants_imap.rs"]
mod imap;

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
