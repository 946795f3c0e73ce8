//! `aptsim check` as a user sees it: a trace file from `aptsim run --trace` re-checks clean
//! against its scenario with the run's states; an edited trace that breaks an invariant
//! exits 1 naming it; a file that is not a trace exits 2 naming the line.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn aptsim(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aptsim"))
        .args(args)
        .output()
        .expect("aptsim runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh folder for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aptsim-check-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The trace of catalogue scenario `name` at seed 7, written by `aptsim run`.
fn traced(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let scenario = root().join(format!("../scenarios/suite/{name}.toml"));
    let trace = dir.join("t.jsonl");
    let (code, stdout, stderr) = aptsim(&[
        "run",
        text(&scenario),
        "--seed",
        "7",
        "--trace",
        text(&trace),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    (scenario, trace)
}

#[test]
fn a_trace_file_rechecks_clean_against_its_scenario() {
    let dir = scratch("clean");
    let (scenario, trace) = traced(&dir, "s3-s5-sender-timeout-retry");
    let (code, stdout, stderr) = aptsim(&["check", text(&trace), text(&scenario), "--seed", "7"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("scenario s3-s5-sender-timeout-retry (seed 7)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("states: submitted 1, delivered 1"),
        "{stdout}"
    );
    assert!(stdout.contains("sender timeouts 1"), "{stdout}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}

#[test]
fn an_edited_trace_fails_with_the_broken_invariant() {
    let dir = scratch("edited");
    let (scenario, trace) = traced(&dir, "s7-datacenter-unreachable");
    let original = std::fs::read_to_string(&trace).expect("the trace");
    // Drop the fault's line: the scenario injects it, the trace no longer shows it (N9).
    let edited: String = original
        .lines()
        .filter(|l| !l.contains(r#""event":"fault""#))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        edited.len() < original.len(),
        "the scenario injects a fault"
    );
    std::fs::write(&trace, edited).expect("writes");
    let (code, stdout, stderr) = aptsim(&["check", text(&trace), text(&scenario), "--seed", "7"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("invariant N9: fault"), "{stdout}");
    assert!(stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn a_file_that_is_not_a_trace_is_an_error_naming_the_line() {
    let dir = scratch("garbage");
    let (scenario, trace) = traced(&dir, "a1-allow");
    let mut t = std::fs::read_to_string(&trace).expect("the trace");
    let line = t.lines().count() + 1;
    t.push_str("{\"t\":1,\"actor\":\"faults\",\"event\":\"meteor_strike\"}\n");
    std::fs::write(&trace, t).expect("writes");
    let (code, stdout, stderr) = aptsim(&["check", text(&trace), text(&scenario)]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("t.jsonl: line {line}, ")),
        "{stderr}"
    );
    assert!(stderr.contains("meteor_strike"), "{stderr}");
}
