//! The properties every generated world must keep, needing no oracle: no invariant
//! N1–N9 breaks, nothing panics, the same world twice gives the same trace (N8), X1 on or
//! off ends every message the same way, and the metamorphic properties of
//! [`super::metamorphic`] (a cache flush, a faster data center). A failure names what broke ([`Failure::kind`]) so that shrinking keeps to worlds failing
//! the same way.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::format::Scenario;
use crate::runner::{self, RunReport};

/// Why a world failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What broke: an invariant id (`N2`), `panic`, `N8` for two different traces, or
    /// `world` when it could not be built. Shrinking keeps this the same.
    pub kind: String,
    /// What was seen.
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// What one passing world showed, for the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checked {
    /// Messages in the world.
    pub messages: usize,
    /// Runs made (each simulates the world's whole duration).
    pub runs: usize,
    /// Invariant checks made (runs × N1–N9).
    pub checks: usize,
}

/// A property: a world either passes (what it showed) or fails (why).
pub type Property<'a> = dyn Fn(&Scenario) -> Result<Checked, Failure> + Sync + 'a;

fn trace_hash(report: &RunReport) -> u64 {
    let mut h = DefaultHasher::new();
    runner::trace_jsonl(&report.trace).hash(&mut h);
    h.finish()
}

fn same_trace(first: &RunReport, second: &RunReport) -> Result<(), Failure> {
    if trace_hash(first) == trace_hash(second) {
        return Ok(());
    }
    Err(Failure {
        kind: "N8".to_owned(),
        detail: format!(
            "the same world twice gave two traces ({} and {} lines)",
            first.trace.len(),
            second.trace.len()
        ),
    })
}

/// Runs `s` once and fails on a panic or a broken invariant.
pub fn run_checked(s: &Scenario) -> Result<RunReport, Failure> {
    let report = runner::run(s, s.seed).map_err(|e| Failure {
        kind: "world".to_owned(),
        detail: e,
    })?;
    if let Some(panic) = &report.panic {
        return Err(Failure {
            kind: "panic".to_owned(),
            detail: panic.clone(),
        });
    }
    if let Some(v) = report.violations.first() {
        return Err(Failure {
            kind: v.id.to_owned(),
            detail: v.detail.clone(),
        });
    }
    if let Some(f) = report.failures.first() {
        return Err(Failure {
            kind: "expect".to_owned(),
            detail: f.clone(),
        });
    }
    Ok(report)
}

/// The explorer's properties: N1–N9 hold, and a second run gives the same trace (N8).
pub fn invariants_and_determinism(s: &Scenario) -> Result<Checked, Failure> {
    let first = run_checked(s)?;
    let second = run_checked(s)?;
    same_trace(&first, &second)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 2,
        checks: 2 * 9,
    })
}

/// The metamorphic property X1 (no oracle needed): the world with X1 flipped ends every
/// message in the same final state; only uploads and timing may differ. Also N1–N9 on both.
pub fn x1_same_outcomes(s: &Scenario) -> Result<Checked, Failure> {
    let report = run_checked(s)?;
    x1_against(s, &report)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 2,
        checks: 2 * 9 + s.messages.len(),
    })
}

/// Runs `s` with X1 flipped and compares each message's final state with `report`'s —
/// except for a message that some decision, in either run, made without every verdict
/// ([`super::metamorphic::Judged::Incomplete`]; see below).
fn x1_against(s: &Scenario, report: &RunReport) -> Result<(), Failure> {
    use aptsim_simulator::faults::{FaultAction, LinkName};
    // Where the data center can lose answers (an outage, a slow data center, a cut link),
    // X1 decides how many analyses there are and so which verdicts reach the cache before a
    // later message: a release-mode message is then judged from the cache (S6) in one run
    // and not in the other. Found by exploring (seed 7, --no-swarm). The property is
    // checked where every upload is answered.
    let answers_lost = s.faults.iter().any(|f| {
        matches!(
            f.action,
            FaultAction::DatacenterUnreachable
                | FaultAction::DatacenterSlow
                | FaultAction::LinkCut(LinkName::Datacenter)
        )
    });
    if answers_lost {
        return Ok(());
    }
    let mut flipped = s.clone();
    flipped.world.policy.dedupe_in_flight = !s.world.policy.dedupe_in_flight;
    let other = run_checked(&flipped)?;
    // A message some decision, in either run, made without every verdict — the outage
    // policy's (X3/S7), or a release (S1) — is not compared: X1 decides which upload a
    // message waits on, and how many analyses refresh the cache when, so whether a file was
    // known then. Found by exploring: with `outage = "apply"`, a message that waits on an
    // upload made before an outage is judged while its own upload is refused; and (seed 3,
    // once caches could be small) with a 4 min time to live, X1 off analyses a file twice,
    // the second verdict is still cached when a later release-mode message comes, which is
    // denied, and with X1 on it is released.
    let unjudged = |trace: &[aptsim_simulator::trace::TraceLine], id: &str| {
        super::metamorphic::judged(trace, id) == super::metamorphic::Judged::Incomplete
    };
    for m in &s.messages {
        if unjudged(&report.trace, &m.id) || unjudged(&other.trace, &m.id) {
            continue;
        }
        let (this, that) = (
            crate::expect::final_state(&report.trace, &m.id),
            crate::expect::final_state(&other.trace, &m.id),
        );
        if this != that {
            return Err(Failure {
                kind: "X1".to_owned(),
                detail: format!(
                    "message {} ends {this} with dedupe_in_flight = {}, {that} with it flipped",
                    m.id, s.world.policy.dedupe_in_flight
                ),
            });
        }
    }
    Ok(())
}

/// The metamorphic property of a cache flush ([`super::metamorphic::flush_keeps_actions`]),
/// with N1–N9 on both runs.
pub fn flush_same_actions(s: &Scenario) -> Result<Checked, Failure> {
    let report = run_checked(s)?;
    let compared = super::metamorphic::flush_keeps_actions(s, &report)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 2,
        checks: 2 * 9 + compared,
    })
}

/// The metamorphic property of a faster data center
/// ([`super::metamorphic::faster_never_bounces`]), with N1–N9 on both runs.
pub fn faster_no_bounce(s: &Scenario) -> Result<Checked, Failure> {
    let report = run_checked(s)?;
    let compared = super::metamorphic::faster_never_bounces(s, &report)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 2,
        checks: 2 * 9 + compared,
    })
}

/// Every property: N1–N9, the same trace twice (N8), X1 on vs off, one more cache flush,
/// and a faster data center (five runs).
pub fn all(s: &Scenario) -> Result<Checked, Failure> {
    let first = run_checked(s)?;
    let second = run_checked(s)?;
    same_trace(&first, &second)?;
    x1_against(s, &first)?;
    let flushed = super::metamorphic::flush_keeps_actions(s, &first)?;
    let faster = super::metamorphic::faster_never_bounces(s, &first)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 5,
        checks: 5 * 9 + s.messages.len() + flushed + faster,
    })
}
