//! The scenario catalogue end to end: every scenario passes, every S/A/X id of the catalogue
//! names at least one scenario, and one seed run twice gives the same trace bytes (N8).

use std::path::PathBuf;

use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::runner;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalogue() -> Vec<PathBuf> {
    scenario_files(&[root().join("suite")]).expect("the catalogue folder exists")
}

#[test]
fn every_catalogue_scenario_passes() {
    let mut failed = Vec::new();
    for file in catalogue() {
        let s = load(&file).expect("valid scenario");
        let report = runner::run(&s, s.seed).expect("runs");
        if !report.passed() {
            failed.push(format!(
                "{}: {:?} {:?}",
                s.name,
                report.failures,
                report
                    .violations
                    .iter()
                    .map(|v| format!("{} {}", v.id, v.detail))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
}

#[test]
fn every_behaviour_id_names_a_scenario() {
    let covered: std::collections::BTreeSet<String> = catalogue()
        .iter()
        .flat_map(|f| load(f).expect("valid").behaviours)
        .collect();
    let required = [
        "S1", "S2", "S3", "S4", "S5", "S6", "S7", "A1", "X1", "X2", "X3", "X5",
    ];
    let missing: Vec<_> = required
        .iter()
        .filter(|id| !covered.contains(**id))
        .collect();
    assert!(missing.is_empty(), "no scenario names {missing:?}");
    // Each A1 action has its own scenario.
    for action in ["allow", "drop", "block", "lock", "quarantine", "deny"] {
        assert!(
            catalogue().iter().any(|f| f
                .file_stem()
                .is_some_and(|n| n.to_string_lossy() == format!("a1-{action}"))),
            "no scenario for A1 {action}"
        );
    }
}

#[test]
fn one_seed_twice_gives_the_same_trace_bytes() {
    for name in [
        "s3-s5-sender-timeout-retry",
        "s7-datacenter-unreachable",
        "a1-block",
    ] {
        let s = load(&root().join(format!("suite/{name}.toml"))).expect("valid");
        let a = runner::trace_jsonl(&runner::run(&s, 7).expect("runs").trace);
        let b = runner::trace_jsonl(&runner::run(&s, 7).expect("runs").trace);
        assert!(!a.is_empty());
        if a != b {
            let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            let first = a.lines().zip(b.lines()).find(|(x, y)| x != y);
            panic!("{name}: N8, the traces differ first at\n  {first:?}");
        }
    }
}

#[test]
fn the_trace_shows_the_s5_story() {
    // The held message, the sender's timeout at 10 min, the retry decided from the cache.
    let s = load(&root().join("suite/s3-s5-sender-timeout-retry.toml")).expect("valid");
    let trace = String::from_utf8(runner::trace_jsonl(
        &runner::run(&s, 1).expect("runs").trace,
    ))
    .expect("utf-8");
    let events: Vec<serde_json::Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let timeout = events
        .iter()
        .find(|e| e["event"] == "sender_timeout")
        .expect("the sender timed out");
    assert_eq!(
        timeout["t"].as_u64().map(|t| t / 1000),
        Some(600),
        "Postfix gives up after 600 s"
    );
    let decisions: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "decision").collect();
    let last = decisions.last().expect("a decision");
    assert!(
        last["files"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["source"] == "cache"))
    );
}
