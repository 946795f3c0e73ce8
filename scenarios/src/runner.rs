//! Runs one scenario: builds its world, simulates it, and checks its expectations and the
//! invariants N1–N9 against the trace as it is written ([`crate::checks`], the same checks
//! that re-check a trace file). A panic anywhere in the run fails it ([`crate::panics`]).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aptsim_actors::outgoing::Outgoing;
use aptsim_actors::sending_mta::OutgoingMessage;
use aptsim_actors::world::{self, WorldSpec};
use aptsim_core::policy::Action;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::datacenter::DcConfig;
use aptsim_simulator::invariants::{CheckContext, FinalStates, Violation};
use aptsim_simulator::metrics::{self, Metrics};
use aptsim_simulator::observe::{JsonlSink, TraceDigest};
use aptsim_simulator::trace::Recorder;
use aptsim_simulator::trace::TraceLine;

use crate::build::{self, BuiltMessage};
use crate::checks::Checks;
use crate::format::Scenario;
use crate::format::Via;
use crate::progress::{self, ProgressObserver, ProgressSink};
use crate::{feed, panics};

/// Everything one run produced and concluded.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Scenario name.
    pub name: String,
    /// The seed used.
    pub seed: u64,
    /// Expectations that failed.
    pub failures: Vec<String>,
    /// Invariants that broke.
    pub violations: Vec<Violation>,
    /// The panic that ended the run, with its place. Expectations and invariants are not
    /// checked then: the trace stops short, and the panic is the failure.
    pub panic: Option<String>,
    /// How messages ended.
    pub states: FinalStates,
    /// Metrics of the run.
    pub metrics: Metrics,
    /// Wall-clock time the simulation took.
    pub wall: Duration,
    /// The trace, if the run kept it ([`Keep::trace`]).
    pub trace: Vec<TraceLine>,
    /// Lines the trace had, kept or not.
    pub trace_lines: u64,
    /// A fingerprint of the trace as JSON Lines and its line count, if asked for
    /// ([`Keep::digest`]): two runs agree on N8 when their digests do.
    pub digest: Option<(u64, u64)>,
}

/// What a run keeps or writes of its trace besides checking it. The checks, expectations
/// and metrics read the trace as it is written, so a run that keeps nothing holds in memory
/// only what is in flight.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// Keep the whole trace in the report.
    pub trace: bool,
    /// Write the trace to this file as JSON Lines while the run goes.
    pub file: Option<PathBuf>,
    /// Fingerprint the trace ([`RunReport::digest`]).
    pub digest: bool,
    /// Tell where the run stands, every [`crate::progress::INTERVAL`] of wall time.
    pub progress: Option<ProgressSink>,
}

impl RunReport {
    /// True when every expectation and invariant held and nothing panicked.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.violations.is_empty() && self.panic.is_none()
    }

    /// The report of a run that did not happen: nothing checked, nothing found. Whoever
    /// makes one says why elsewhere.
    pub fn not_run(name: &str, seed: u64) -> Self {
        RunReport {
            name: name.to_owned(),
            seed,
            failures: Vec::new(),
            violations: Vec::new(),
            panic: None,
            states: FinalStates::default(),
            metrics: Metrics::default(),
            wall: Duration::ZERO,
            trace: Vec::new(),
            trace_lines: 0,
            digest: None,
        }
    }

    /// The report of a run that panicked, with what it left of a trace.
    fn panicked(name: &str, seed: u64, panic: String, trace: Vec<TraceLine>) -> Self {
        RunReport {
            panic: Some(panic),
            metrics: metrics::compute(&trace),
            trace_lines: trace.len() as u64,
            trace,
            ..RunReport::not_run(name, seed)
        }
    }
}

/// The world a scenario describes, and the messages it keeps built: those that go straight
/// into a mailbox and those its expectations name. The messages the sender queues are made
/// one at a time while the world runs ([`Outgoing`]), so a run holds the messages in flight,
/// not the day's.
pub fn world_of(s: &Scenario, seed: u64) -> Result<(WorldSpec, Vec<BuiltMessage>), String> {
    let sender = s.world.sender()?;
    let policy = s.world.policy.clone();
    let named: BTreeSet<&str> = s.expectations.iter().map(|e| e.message.as_str()).collect();
    // One pass over every message: the oracle, the recipients (the IMAP accounts), and the
    // messages kept built.
    let mut oracle = build::Oracle::new(&policy.thresholds);
    let mut recipients = BTreeSet::new();
    let mut kept = Vec::new();
    for spec in feed::specs(s, seed) {
        oracle.add(&spec);
        recipients.extend(spec.to.iter().cloned());
        if spec.via == Via::Mailbox || named.contains(spec.id.as_str()) {
            kept.push((build::build(&spec), spec.via));
        }
    }
    let datacenter = DcConfig {
        oracle: oracle.judgements(),
        thresholds: policy.thresholds,
        ..s.world.datacenter.clone()
    };
    let mailbox: Vec<&BuiltMessage> = kept
        .iter()
        .filter(|(_, via)| *via == Via::Mailbox)
        .map(|(m, _)| m)
        .collect();
    let imap = crate::imap_world::imap_side(s, &mailbox, &recipients)?;
    let scenario = Arc::new(s.clone());
    let messages = Outgoing::lazy(move || {
        Box::new(
            feed::specs(&scenario, seed)
                .filter(|spec| spec.via == Via::Smtp)
                .map(|spec| {
                    let m = build::build(&spec);
                    OutgoingMessage {
                        id: m.id,
                        at: m.at,
                        from: m.from,
                        to: m.to,
                        raw: m.raw.into(),
                        files: m.files.into(),
                    }
                }),
        )
    });
    let spec = WorldSpec {
        seed,
        horizon: s.duration,
        latency: s.world.latency,
        policy,
        proxy: s.world.proxy.clone(),
        sender,
        server: s.world.server.clone(),
        datacenter,
        messages,
        faults: s.faults.clone(),
        imap,
    };
    Ok((spec, kept.into_iter().map(|(m, _)| m).collect()))
}

/// The scenario's own messages and those its traffic generates, ordered by time.
pub fn all_messages(s: &Scenario, seed: u64) -> Vec<crate::format::MessageSpec> {
    feed::specs(s, seed).collect()
}

/// Runs a scenario with `seed`, keeping its trace. `Err` when its world cannot be built; a
/// panic during the run is a failed report.
pub fn run(s: &Scenario, seed: u64) -> Result<RunReport, String> {
    run_with(
        s,
        seed,
        &Keep {
            trace: true,
            ..Keep::default()
        },
    )
}

/// Runs a scenario with `seed`, keeping or writing of its trace what `keep` asks. `Err`
/// when its world cannot be built or its trace file cannot be written.
pub fn run_with(s: &Scenario, seed: u64, keep: &Keep) -> Result<RunReport, String> {
    let started = Instant::now();
    match panics::catch(|| run_unguarded(s, seed, keep)) {
        (Some(result), None) => result,
        (Some(Err(e)), Some(_)) => Err(e),
        // A panic swallowed on the way (an actor's, which tokio catches): the run went on
        // without that actor, so its checks mean nothing.
        (Some(Ok(report)), Some(panic)) => Ok(RunReport {
            wall: report.wall,
            metrics: report.metrics,
            trace_lines: report.trace_lines,
            ..RunReport::panicked(&s.name, seed, panic, report.trace)
        }),
        (None, panic) => Ok(RunReport {
            wall: started.elapsed(),
            ..RunReport::panicked(
                &s.name,
                seed,
                panic.unwrap_or_else(|| "the run ended without a result".to_owned()),
                Vec::new(),
            )
        }),
    }
}

fn run_unguarded(s: &Scenario, seed: u64, keep: &Keep) -> Result<RunReport, String> {
    let (spec, messages) = world_of(s, seed)?;
    let recorder = if keep.trace {
        Recorder::default()
    } else {
        Recorder::streaming()
    };
    let checks = Rc::new(RefCell::new(Checks::new(
        s,
        check_context(&spec),
        &messages,
    )));
    recorder.observe(checks.clone());
    let file = match &keep.file {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let sink = Rc::new(RefCell::new(JsonlSink::new(std::io::BufWriter::new(f))));
            recorder.observe(sink.clone());
            Some((path, sink))
        }
        None => None,
    };
    let digest = keep.digest.then(|| {
        let d = Rc::new(RefCell::new(TraceDigest::default()));
        recorder.observe(d.clone());
        d
    });
    if let Some(sink) = &keep.progress {
        recorder.observe(Rc::new(RefCell::new(ProgressObserver::new(
            sink.clone(),
            progress::INTERVAL,
            &s.name,
            seed,
            s.duration,
        ))));
    }
    let started = Instant::now();
    world::run_recorded(spec, &recorder);
    let wall = started.elapsed();
    if let Some((path, sink)) = file {
        sink.borrow_mut()
            .finish()
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let c = checks
        .borrow_mut()
        .finish(s, &messages, Some(recorder.len()));
    Ok(RunReport {
        name: s.name.clone(),
        seed,
        failures: c.failures,
        violations: c.violations,
        panic: None,
        states: c.states,
        metrics: c.metrics,
        wall,
        trace: recorder.take_lines(),
        trace_lines: recorder.len(),
        digest: digest.map(|d| d.borrow().value()),
    })
}

/// What the invariants need to know of a world besides its trace.
pub fn check_context(spec: &WorldSpec) -> CheckContext {
    CheckContext {
        cache_ttl: spec.policy.cache.ttl,
        cache_capacity: spec.policy.cache.capacity,
        dedupe_in_flight: spec.policy.dedupe_in_flight,
        analysis_timeout: spec.policy.analysis_timeout,
        proactive_tempfail: spec.policy.tempfail_deadline.is_some()
            && !spec.policy.release_immediately,
        non_allow_levels: ThreatLevel::ALL
            .iter()
            .filter(|l| spec.policy.level(**l).action != Action::Allow)
            .copied()
            .collect(),
        faults: spec.faults.iter().map(|f| f.id.clone()).collect(),
    }
}

/// The trace as JSON Lines: one object per event, virtual milliseconds in `t`.
pub fn trace_jsonl(trace: &[TraceLine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(trace.len() * 120);
    for line in trace {
        // Serialising plain data into a Vec cannot fail.
        if serde_json::to_writer(&mut out, line).is_ok() {
            out.push(b'\n');
        }
    }
    out
}
