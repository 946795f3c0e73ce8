//! Runs as a suite makes them: a run that panics fails with the panic and its reproduce
//! line, and runs spread over several threads give the very traces of runs made one after
//! the other, reported in the order of the jobs.

use std::path::PathBuf;
use std::time::Duration;

use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner;
use aptsim_scenarios::suite::{self, Job, KeepTraces, Options};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_scenario_that_panics_fails_with_the_panic_and_its_reproduce_line() {
    let path = root().join("suite/s2-hold-clean.toml");
    let mut s = load(&path).expect("valid");
    // Beyond what a file may say (`world.latency` is bounded when read): a link's
    // `Instant + latency` overflows inside an actor, where tokio swallows the panic and the
    // world runs on without that actor. That run used to be reported `ok`.
    s.world.latency = Duration::MAX;
    let report = runner::run(&s, 1).expect("the world builds");
    assert!(!report.passed(), "a run that panicked must fail");
    let panic = report.panic.as_deref().expect("the panic is reported");
    assert!(
        panic.starts_with("overflow when adding duration to instant at "),
        "the message and its place: {panic}"
    );
    assert!(report.failures.is_empty() && report.violations.is_empty());

    let jobs = [Job {
        path: &path,
        scenario: &s,
        seed: 3,
    }];
    let outcomes = suite::run_all(&jobs, &Options::default(), |_, _| {});
    let o = &outcomes[0];
    assert!(!o.passed());
    assert!(o.problems()[0].starts_with("panic: overflow when adding duration"));
    assert_eq!(
        o.reproduce(),
        format!("aptsim run {} --seed 3", path.display())
    );
}

#[test]
fn parallel_runs_match_sequential_runs_in_job_order() {
    // The generated-traffic scenarios take seconds each in a debug build; the rest cover
    // every kind of actor and fault.
    let scenarios: Vec<(PathBuf, Scenario)> = scenario_files(&[root().join("suite")])
        .expect("the catalogue")
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("traffic-"))
        .map(|f| {
            let s = load(&f).expect("valid");
            (f, s)
        })
        .collect();
    let jobs: Vec<Job<'_>> = scenarios
        .iter()
        .flat_map(|(path, s)| {
            [1, 7].map(|seed| Job {
                path,
                scenario: s,
                seed,
            })
        })
        .collect();
    let options = Options {
        check_determinism: false,
        keep_traces: KeepTraces::All,
        trace_file: None,
        // More workers than this machine may have cores: worlds must not share anything.
        workers: 4,
        progress: None,
    };
    let mut reported = Vec::new();
    let outcomes = suite::run_all(&jobs, &options, |i, _| reported.push(i));
    assert_eq!(reported, (0..jobs.len()).collect::<Vec<_>>());
    assert_eq!(outcomes.len(), jobs.len());
    for (job, o) in jobs.iter().zip(&outcomes) {
        assert_eq!(
            (o.report.name.as_str(), o.report.seed),
            (job.scenario.name.as_str(), job.seed)
        );
        assert!(o.passed(), "{}: {:?}", o.report.name, o.problems());
        let alone = runner::run(job.scenario, job.seed).expect("runs");
        assert!(
            runner::trace_jsonl(&alone.trace) == runner::trace_jsonl(&o.report.trace),
            "{} seed {}: the trace on a worker differs from the trace alone",
            job.scenario.name,
            job.seed
        );
        assert_eq!(o.trace_lines, alone.trace.len());
    }
}

#[test]
fn only_the_last_trace_is_kept_when_asked() {
    let path = root().join("suite/a1-allow.toml");
    let s = load(&path).expect("valid");
    let jobs: Vec<Job<'_>> = (1..=3)
        .map(|seed| Job {
            path: &path,
            scenario: &s,
            seed,
        })
        .collect();
    let options = Options {
        keep_traces: KeepTraces::Last,
        ..Options::default()
    };
    let outcomes = suite::run_all(&jobs, &options, |_, _| {});
    let kept: Vec<bool> = outcomes
        .iter()
        .map(|o| !o.report.trace.is_empty())
        .collect();
    assert_eq!(kept, [false, false, true]);
    assert!(outcomes.iter().all(|o| o.trace_lines > 0));
}

/// Telling a run's progress only reads its trace: a run with a progress sink writes the same
/// trace as one without (N8).
#[test]
fn progress_leaves_the_trace_as_it_is() {
    let s = load(&root().join("suite/s2-hold-clean.toml")).expect("valid");
    let digest = |progress| {
        let keep = runner::Keep {
            digest: true,
            progress,
            ..runner::Keep::default()
        };
        let report = runner::run_with(&s, s.seed, &keep).expect("runs");
        assert!(report.passed(), "{:?}", report.violations);
        report.digest
    };
    let sink = aptsim_scenarios::progress::ProgressSink(std::sync::Arc::new(|_: &_| {}));
    assert_eq!(digest(Some(sink)), digest(None));
}
