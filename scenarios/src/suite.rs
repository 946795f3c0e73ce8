//! Many runs at once: scenario × seed pairs spread over one worker thread per core, results
//! handed back in the order of the jobs, whatever order they finish in.
//!
//! Parallelism is between worlds, never inside one: each run builds its own actix system on
//! a current-thread tokio runtime on the worker's thread, so a world stays single-threaded
//! and its trace depends on its scenario and seed alone (N8). A worker takes the next job
//! when it is done with one, so a long scenario does not hold up the others.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::format::Scenario;
use crate::progress::ProgressSink;
use crate::runner::{self, RunReport};

/// One run to make.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The scenario's file, for the reproduce line.
    pub path: &'a Path,
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The seed.
    pub seed: u64,
}

/// Which traces to keep once a run is checked. Traces are the bulk of a run's memory, and
/// a thousand seeds need only their verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepTraces {
    /// None.
    None,
    /// The last job's (`aptsim run --trace`).
    Last,
    /// Every one.
    All,
}

/// How to run a suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run each job twice and fail it unless both traces are byte-identical (N8).
    pub check_determinism: bool,
    /// Which traces outlive their checks.
    pub keep_traces: KeepTraces,
    /// Write the last job's trace to this file as JSON Lines, while it runs
    /// (`aptsim run --trace`): a trace of any length, never held in memory.
    pub trace_file: Option<PathBuf>,
    /// Worker threads. Default: one per core ([`std::thread::available_parallelism`]).
    pub workers: usize,
    /// Where each run tells its progress while it goes (a long run's only sign of life).
    pub progress: Option<ProgressSink>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            check_determinism: false,
            keep_traces: KeepTraces::None,
            trace_file: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: None,
        }
    }
}

/// What one job came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's file.
    pub path: PathBuf,
    /// The run's report; its trace is empty unless [`Options::keep_traces`] kept it.
    pub report: RunReport,
    /// Lines the trace had.
    pub trace_lines: usize,
    /// The world could not be built (the run did not happen).
    pub error: Option<String>,
    /// N8 failed: the second run's trace differed.
    pub determinism: Option<String>,
}

impl Outcome {
    /// True when the run passed every check.
    pub fn passed(&self) -> bool {
        self.report.passed() && self.error.is_none() && self.determinism.is_none()
    }

    /// What failed, one line each: `panic: …`, `expectation: …`, `invariant N1: …`.
    pub fn problems(&self) -> Vec<String> {
        let r = &self.report;
        let mut out = Vec::new();
        out.extend(self.error.iter().map(|e| format!("error: {e}")));
        out.extend(r.panic.iter().map(|p| format!("panic: {p}")));
        out.extend(r.failures.iter().map(|f| format!("expectation: {f}")));
        out.extend(
            r.violations
                .iter()
                .map(|v| format!("invariant {}: {}", v.id, v.detail)),
        );
        out.extend(self.determinism.iter().cloned());
        out
    }

    /// The one command that reruns this job alone.
    pub fn reproduce(&self) -> String {
        format!(
            "aptsim run {} --seed {}",
            self.path.display(),
            self.report.seed
        )
    }
}

/// Runs every job, `options.workers` at a time, and calls `done(index, outcome)` for each in
/// the order of `jobs` as soon as it and every job before it are done (for progress lines,
/// and for whatever is made of a kept trace before the trace is let go). Returns the
/// outcomes in the order of `jobs`.
pub fn run_all(
    jobs: &[Job<'_>],
    options: &Options,
    mut done: impl FnMut(usize, &mut Outcome),
) -> Vec<Outcome> {
    let keep = |i: usize| match options.keep_traces {
        KeepTraces::None => false,
        KeepTraces::Last => i + 1 == jobs.len(),
        KeepTraces::All => true,
    };
    let workers = options.workers.clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<Option<Outcome>> = (0..jobs.len()).map(|_| None).collect();
    let mut reported = 0;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let mut spawned = 0;
        for w in 0..workers {
            let (tx, next) = (tx.clone(), &next);
            let worker = move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        return;
                    };
                    if tx
                        .send((i, run_one(job, options, keep(i), i + 1 == jobs.len())))
                        .is_err()
                    {
                        return;
                    }
                }
            };
            // The main thread's stack size: a world's actors nest deeply in a debug build.
            let thread = std::thread::Builder::new()
                .name(format!("aptsim-run-{w}"))
                .stack_size(8 << 20)
                .spawn_scoped(scope, worker);
            if thread.is_ok() {
                spawned += 1;
            }
        }
        drop(tx);
        if spawned == 0 {
            // No thread could be started: run everything here, one after the other.
            for (i, job) in jobs.iter().enumerate() {
                let mut outcome = run_one(job, options, keep(i), i + 1 == jobs.len());
                done(i, &mut outcome);
                outcomes[i] = Some(outcome);
            }
            return;
        }
        for (i, outcome) in rx {
            outcomes[i] = Some(outcome);
            while let Some(Some(o)) = outcomes.get_mut(reported) {
                done(reported, o);
                reported += 1;
            }
        }
    });
    outcomes.into_iter().flatten().collect()
}

/// One job, checked, with its trace kept only if `keep_trace`; the last one writes the
/// trace file, if any.
fn run_one(job: &Job<'_>, options: &Options, keep_trace: bool, last: bool) -> Outcome {
    let s = job.scenario;
    let keep = runner::Keep {
        trace: keep_trace,
        file: options.trace_file.clone().filter(|_| last),
        digest: options.check_determinism,
        progress: options.progress.clone(),
    };
    let (report, error) = match runner::run_with(s, job.seed, &keep) {
        Ok(report) => (report, None),
        Err(e) => (RunReport::not_run(&s.name, job.seed), Some(e)),
    };
    let mut determinism = None;
    if options.check_determinism && report.panic.is_none() && error.is_none() {
        let again = runner::run_with(
            s,
            job.seed,
            &runner::Keep {
                digest: true,
                ..runner::Keep::default()
            },
        )
        .map(|r| r.digest);
        if again != Ok(report.digest) {
            determinism = Some("N8: the same seed gave a different trace".to_owned());
        }
    }
    Outcome {
        path: job.path.to_path_buf(),
        trace_lines: report.trace_lines as usize,
        report,
        error,
        determinism,
    }
}
