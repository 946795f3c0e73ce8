//! Everything a run concludes from its trace — invariants N1–N9 ([`Checker`]), metrics
//! ([`Accumulator`]), the per-message expectations ([`ExpectLines`] then
//! [`crate::expect::check`]) and the totals — as one [`Observer`]. The runner feeds it the
//! trace as the world writes it; [`recheck`] feeds it a trace file. Same code either way, so
//! "the trace is truth": a trace file re-checked says what the run said (a test holds every
//! catalogue scenario to it, `scenarios/tests/recheck.rs`).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::time::{Duration, Instant};

use aptsim_simulator::invariants::{CheckContext, Checker, FinalStates, Violation};
use aptsim_simulator::metrics::{Accumulator, Metrics};
use aptsim_simulator::observe::Observer;
use aptsim_simulator::trace::TraceLine;
use aptsim_simulator::trace_file;

use crate::build::BuiltMessage;
use crate::expect_lines::ExpectLines;
use crate::format::Scenario;
use crate::runner::{self, RunReport};
use crate::{expect, totals};

/// The checks of one scenario's trace, read one line at a time.
pub struct Checks {
    checker: Checker,
    accumulator: Accumulator,
    expected: ExpectLines,
}

/// What the checks concluded.
#[derive(Debug, Clone)]
pub struct Concluded {
    /// How messages ended.
    pub states: FinalStates,
    /// Invariants that broke.
    pub violations: Vec<Violation>,
    /// The run's metrics.
    pub metrics: Metrics,
    /// Expectations (per message, then totals) that failed.
    pub failures: Vec<String>,
}

impl Checks {
    /// The checks of scenario `s`, whose world checks under `ctx` and keeps `messages` built
    /// ([`runner::world_of`]).
    pub fn new(s: &Scenario, ctx: CheckContext, messages: &[BuiltMessage]) -> Self {
        Checks {
            checker: Checker::new(ctx),
            accumulator: Accumulator::default(),
            expected: expect_lines(s, messages),
        }
    }

    /// The verdict on what was read. `trace_lines` counts every line the run wrote, those
    /// nobody built among them ([`aptsim_simulator::trace::Recorder::record_wire`]); `None`
    /// takes the lines read. The checks are spent: a second call finds nothing.
    pub fn finish(
        &mut self,
        s: &Scenario,
        messages: &[BuiltMessage],
        trace_lines: Option<u64>,
    ) -> Concluded {
        let (states, violations) =
            std::mem::replace(&mut self.checker, Checker::new(empty_context())).finish();
        let mut accumulator = std::mem::take(&mut self.accumulator);
        if let Some(lines) = trace_lines {
            accumulator.set_trace_lines(lines as usize);
        }
        let metrics = accumulator.finish();
        let mut failures = expect::check(self.expected.lines(), messages, &s.expectations);
        failures.extend(totals::check(&s.totals, &metrics, &states));
        Concluded {
            states,
            violations,
            metrics,
            failures,
        }
    }
}

impl Observer for Checks {
    fn observe(&mut self, line: &TraceLine) {
        self.checker.observe(line);
        self.accumulator.observe(line);
        self.expected.observe(line);
    }
}

/// Re-checks a trace file of scenario `s` run with `seed` (`aptsim check`): the same checks
/// as the run's, fed the file one line at a time. The report's `wall` is the re-check's,
/// its `trace_lines` the lines read. `Err` when the scenario's world cannot be built or the
/// file is not a trace (the error names the line).
pub fn recheck(trace: impl BufRead, s: &Scenario, seed: u64) -> Result<RunReport, String> {
    let started = Instant::now();
    let (spec, messages) = runner::world_of(s, seed)?;
    let mut checks = Checks::new(s, runner::check_context(&spec), &messages);
    let lines = trace_file::feed(trace, &mut checks).map_err(|e| e.to_string())?;
    let c = checks.finish(s, &messages, None);
    Ok(RunReport {
        failures: c.failures,
        violations: c.violations,
        states: c.states,
        metrics: c.metrics,
        wall: started.elapsed(),
        trace_lines: lines,
        ..RunReport::not_run(&s.name, seed)
    })
}

/// What the expectations read: the lines of the messages they name.
fn expect_lines(s: &Scenario, messages: &[BuiltMessage]) -> ExpectLines {
    let named: BTreeSet<&str> = s.expectations.iter().map(|e| e.message.as_str()).collect();
    let md5s = messages
        .iter()
        .filter(|m| named.contains(m.id.as_str()))
        .flat_map(|m| m.files.iter().map(|f| f.to_hex()));
    ExpectLines::new(named.iter().map(|m| (*m).to_owned()), md5s)
}

/// A context for a checker that is only there to be replaced.
fn empty_context() -> CheckContext {
    CheckContext {
        cache_ttl: Duration::ZERO,
        cache_capacity: 0,
        dedupe_in_flight: false,
        analysis_timeout: Duration::ZERO,
        proactive_tempfail: false,
        non_allow_levels: BTreeSet::new(),
        faults: Vec::new(),
    }
}
