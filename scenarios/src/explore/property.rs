//! The properties every generated world must keep, needing no oracle: no invariant
//! N1–N9 breaks, nothing panics, and the same world twice gives the same trace (N8). A
//! failure names what broke ([`Failure::kind`]) so that shrinking keeps to worlds failing
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
pub type Property<'a> = dyn Fn(&Scenario) -> Result<Checked, Failure> + 'a;

fn trace_hash(report: &RunReport) -> u64 {
    let mut h = DefaultHasher::new();
    runner::trace_jsonl(&report.trace).hash(&mut h);
    h.finish()
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
    if trace_hash(&first) != trace_hash(&second) {
        return Err(Failure {
            kind: "N8".to_owned(),
            detail: format!(
                "the same world twice gave two traces ({} and {} lines)",
                first.trace.len(),
                second.trace.len()
            ),
        });
    }
    Ok(Checked {
        messages: s.messages.len(),
        runs: 2,
        checks: 2 * 9,
    })
}
