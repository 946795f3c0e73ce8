//! The catalogue's traces, pinned: the MD5 of every scenario's trace (JSON Lines) at its own
//! seed and at seed 7. A restructuring must leave every trace byte-identical; a commit that
//! changes behaviour on purpose updates the pins (the failure prints the new table) and says
//! why in its message.

use std::path::PathBuf;

use aptsim_core::digest::Md5;
use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::runner;

/// (scenario file stem, MD5 of its trace at its own seed, MD5 at seed 7).
const PINS: &[(&str, &str, &str)] = &[
    (
        "a1-allow",
        "7aadf9eeae6869a08edea88c867de15a",
        "7aadf9eeae6869a08edea88c867de15a",
    ),
    (
        "a1-block",
        "6c151544f88fd13349ed407095c3bb65",
        "6c151544f88fd13349ed407095c3bb65",
    ),
    (
        "a1-deny",
        "46968bd241eadfe84c2e9afb885e2da7",
        "46968bd241eadfe84c2e9afb885e2da7",
    ),
    (
        "a1-drop",
        "a45dc867b1da0ca820c812e00bd4c3e7",
        "a45dc867b1da0ca820c812e00bd4c3e7",
    ),
    (
        "a1-lock",
        "102afcaca517e55d3297077089b686bb",
        "102afcaca517e55d3297077089b686bb",
    ),
    (
        "a1-quarantine",
        "05fa8f4dc945627224d5885b48b56f37",
        "05fa8f4dc945627224d5885b48b56f37",
    ),
    (
        "hold-past-server-timeout",
        "5330fd5a89be4c123c59740beca50d82",
        "5330fd5a89be4c123c59740beca50d82",
    ),
    (
        "queue-lifetime-five-days",
        "9f27eb754d57c384a970b23f398066e7",
        "9f27eb754d57c384a970b23f398066e7",
    ),
    (
        "s1-release-exposure",
        "5ff664e84b96d9ac6f88b9d2f02e23e8",
        "5ff664e84b96d9ac6f88b9d2f02e23e8",
    ),
    (
        "s2-hold-clean",
        "cd7d5b0dac2805de495ee60a5ea927ed",
        "cd7d5b0dac2805de495ee60a5ea927ed",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "88296cf78fe08ea48945c354cdc22e92",
        "88296cf78fe08ea48945c354cdc22e92",
    ),
    (
        "s4-archive-at-once",
        "5fc2b15cc19f0140c911259728d7d4ca",
        "5fc2b15cc19f0140c911259728d7d4ca",
    ),
    (
        "s6-known-file",
        "e1afe2214c1a7f3bf2068f9edad4c06b",
        "e1afe2214c1a7f3bf2068f9edad4c06b",
    ),
    (
        "s7-datacenter-unreachable",
        "42734be24c675102f22848d4bea8382a",
        "42734be24c675102f22848d4bea8382a",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "e04d71dad6e4d684acfa72981847f839",
        "74f3bf132720ac2ecd7214c15eb27f89",
    ),
    (
        "traffic-release-mix",
        "fcb25e864c7cd27f7c5c3aec66104827",
        "db06c3977f819a6edbf7dac035861a7f",
    ),
    (
        "x1-in-flight-dedupe",
        "e7092ffdaf06eebc4777faeb5fcdda3f",
        "e7092ffdaf06eebc4777faeb5fcdda3f",
    ),
    (
        "x1-off-plain-reference",
        "20bb87fa57d562f4e83794960cdbaca2",
        "20bb87fa57d562f4e83794960cdbaca2",
    ),
    (
        "x2-proactive-tempfail",
        "ba02203ea2dfa8deab69e33d5ec1f3a8",
        "ba02203ea2dfa8deab69e33d5ec1f3a8",
    ),
    (
        "x3-datacenter-link-cut",
        "9d9996be413b7a5801ec45a2a9f17582",
        "9d9996be413b7a5801ec45a2a9f17582",
    ),
    (
        "x3-datacenter-slow",
        "eb6986c0ca86d739801057f4079abe34",
        "eb6986c0ca86d739801057f4079abe34",
    ),
    (
        "x3-outage-tempfail",
        "20fd8119b5070478e994f3908e49bd7d",
        "20fd8119b5070478e994f3908e49bd7d",
    ),
];

fn traces() -> Vec<(String, String, String)> {
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("suite");
    let files = scenario_files(&[suite]).expect("the catalogue folder exists");
    files
        .iter()
        .map(|f| {
            let s = load(f).expect("valid scenario");
            let hash = |seed| {
                let report = runner::run(&s, seed).expect("runs");
                Md5::of(&runner::trace_jsonl(&report.trace)).to_hex()
            };
            let stem = f
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (stem, hash(s.seed), hash(7))
        })
        .collect()
}

#[test]
fn catalogue_traces_are_unchanged() {
    let now = traces();
    let table: String = now
        .iter()
        .map(|(n, a, b)| format!("    (\"{n}\", \"{a}\", \"{b}\"),\n"))
        .collect();
    let pinned: Vec<(String, String, String)> = PINS
        .iter()
        .map(|(n, a, b)| (n.to_string(), a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        now, pinned,
        "the catalogue's traces changed; if on purpose, the new pins are:\n{table}"
    );
}
