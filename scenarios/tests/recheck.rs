//! "The trace is truth": every catalogue scenario, run with its trace streamed to a file and
//! checked online, concludes the same final states, violations, metrics and expectation
//! failures as the trace file re-checked afterwards ([`checks::recheck`], `aptsim check`);
//! and a trace file edited to break an invariant is caught by the re-check.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aptsim_scenarios::checks;
use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner::{self, Keep, RunReport};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder for one test's trace files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aptsim-recheck-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir
}

/// Runs `s` at its seed streaming the trace to `file` (nothing kept in memory).
fn run_to_file(s: &Scenario, file: &Path) -> RunReport {
    let keep = Keep {
        file: Some(file.to_owned()),
        ..Keep::default()
    };
    let report = runner::run_with(s, s.seed, &keep).expect("runs");
    assert!(report.panic.is_none(), "{}: {:?}", s.name, report.panic);
    assert!(report.trace.is_empty(), "the trace streams, it is not kept");
    report
}

fn recheck(s: &Scenario, file: &Path) -> RunReport {
    let f = std::fs::File::open(file).expect("the trace file exists");
    checks::recheck(BufReader::new(f), s, s.seed).expect("the trace file reads back")
}

/// What differs between the online checks and the re-check, one line each.
fn differences(online: &RunReport, again: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    let name = &online.name;
    if online.states != again.states {
        out.push(format!(
            "{name}: states {:?} vs {:?}",
            online.states, again.states
        ));
    }
    if online.violations != again.violations {
        out.push(format!(
            "{name}: violations {:?} vs {:?}",
            online.violations, again.violations
        ));
    }
    if online.metrics != again.metrics {
        out.push(format!(
            "{name}: metrics {:?} vs {:?}",
            online.metrics, again.metrics
        ));
    }
    if online.failures != again.failures {
        out.push(format!(
            "{name}: failures {:?} vs {:?}",
            online.failures, again.failures
        ));
    }
    if online.trace_lines != again.trace_lines {
        out.push(format!(
            "{name}: {} lines written, {} read",
            online.trace_lines, again.trace_lines
        ));
    }
    out
}

#[test]
fn every_catalogue_scenario_rechecks_as_it_was_checked_online() {
    let files = scenario_files(&[root().join("suite")]).expect("the catalogue folder exists");
    assert!(files.len() > 30, "the whole catalogue: {}", files.len());
    let dir = scratch("catalogue");
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    // The catalogue takes a while in a debug build: one worker per core, each taking the
    // next scenario.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let s = load(file).expect("valid scenario");
                    let trace = dir.join(format!("{}.jsonl", s.name));
                    let online = run_to_file(&s, &trace);
                    assert!(online.trace_lines > 0, "{}: an empty trace", s.name);
                    let again = recheck(&s, &trace);
                    let _ = std::fs::remove_file(&trace);
                    let diff = differences(&online, &again);
                    found
                        .lock()
                        .expect("no worker panics holding it")
                        .extend(diff);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let found = found.into_inner().expect("no worker panicked");
    assert!(
        found.is_empty(),
        "the re-check disagrees with the run:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_delivery_added_to_the_file_is_caught_by_the_recheck() {
    let s = load(&root().join("suite/s2-hold-clean.toml")).expect("valid");
    let dir = scratch("duplicate");
    let trace = dir.join("t.jsonl");
    let online = run_to_file(&s, &trace);
    assert!(online.violations.is_empty(), "{:?}", online.violations);
    let text = std::fs::read_to_string(&trace).expect("the trace file");
    let delivered = text
        .lines()
        .find(|l| l.contains(r#""event":"delivered""#))
        .expect("a delivery in the trace");
    // The mail server stores the message a second time, the sender none the wiser.
    let edited = text.replacen(delivered, &format!("{delivered}\n{delivered}"), 1);
    std::fs::write(&trace, edited).expect("writes");
    let again = recheck(&s, &trace);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        again.violations.iter().any(|v| v.id == "N2"),
        "{:?}",
        again.violations
    );
    assert_eq!(again.metrics.duplicates, online.metrics.duplicates + 1);
    assert_eq!(again.trace_lines, online.trace_lines + 1);
}

#[test]
fn a_trace_that_is_not_one_is_refused_with_its_line() {
    let s = load(&root().join("suite/s2-hold-clean.toml")).expect("valid");
    let dir = scratch("garbage");
    let trace = dir.join("t.jsonl");
    run_to_file(&s, &trace);
    let mut text = std::fs::read_to_string(&trace).expect("the trace file");
    text.push_str("{\"t\":1,\"actor\":\"nobody\",\"event\":\"queued\",\"msg\":\"m\"}\n");
    let lines = text.lines().count();
    std::fs::write(&trace, text).expect("writes");
    let f = std::fs::File::open(&trace).expect("exists");
    let e = checks::recheck(BufReader::new(f), &s, s.seed).expect_err("refused");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(e.starts_with(&format!("line {lines}, ")), "{e}");
    assert!(e.contains("unknown actor \"nobody\""), "{e}");
}
