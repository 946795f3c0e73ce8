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
        "819ee3d4805a5e2e6f678f45ef1b4891",
        "819ee3d4805a5e2e6f678f45ef1b4891",
    ),
    (
        "a1-block",
        "eb3f4c6c7d1751c0276d1c28f13444ab",
        "eb3f4c6c7d1751c0276d1c28f13444ab",
    ),
    (
        "a1-deny",
        "40f7862e56fa86ea59ab18f982f8680f",
        "40f7862e56fa86ea59ab18f982f8680f",
    ),
    (
        "a1-drop",
        "9a82b32250cf4a7d3ed7b453f8dbb198",
        "9a82b32250cf4a7d3ed7b453f8dbb198",
    ),
    (
        "a1-lock",
        "b267beca56d9b0fdabb72ac33ffb6ade",
        "b267beca56d9b0fdabb72ac33ffb6ade",
    ),
    (
        "a1-quarantine",
        "22d0068cefc5f425e7214de71829071d",
        "22d0068cefc5f425e7214de71829071d",
    ),
    (
        "hold-past-server-timeout",
        "d1a29ee34290a43365fb5b38d3f39325",
        "d1a29ee34290a43365fb5b38d3f39325",
    ),
    (
        "queue-lifetime-five-days",
        "9f27eb754d57c384a970b23f398066e7",
        "9f27eb754d57c384a970b23f398066e7",
    ),
    (
        "s1-release-exposure",
        "17ecab718255f007a94a4e23518f296d",
        "17ecab718255f007a94a4e23518f296d",
    ),
    (
        "s2-hold-clean",
        "2ba34e21e0fa2cdc9dd4b01aa120d4f1",
        "2ba34e21e0fa2cdc9dd4b01aa120d4f1",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "cd0f5ebe29cdf0afe940dea21b37c0e1",
        "cd0f5ebe29cdf0afe940dea21b37c0e1",
    ),
    (
        "s4-archive-at-once",
        "f5b30e88c0efd8e5eff299ec693331d3",
        "f5b30e88c0efd8e5eff299ec693331d3",
    ),
    (
        "s6-known-file",
        "0ffc2bd57f92abc98376542c745586a8",
        "0ffc2bd57f92abc98376542c745586a8",
    ),
    (
        "s7-datacenter-unreachable",
        "c155fa0c0ffc495a74748ce48529b90a",
        "c155fa0c0ffc495a74748ce48529b90a",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "a1be76118b106f2220c63d2249d00f75",
        "cad637ea0d5b15deac48611964897544",
    ),
    (
        "traffic-release-mix",
        "fadb170d2f82f295573c0a433f17450c",
        "b7f76f51b1c06d5ad8b9983c5a111eec",
    ),
    (
        "x1-in-flight-dedupe",
        "c9e82dc6daa240ad857f77775f1a4c44",
        "c9e82dc6daa240ad857f77775f1a4c44",
    ),
    (
        "x1-off-plain-reference",
        "a03f31ed5d67009c8190fbcdd181342b",
        "a03f31ed5d67009c8190fbcdd181342b",
    ),
    (
        "x2-proactive-tempfail",
        "f5bf5351124082c958cfa3e12bcba31b",
        "f5bf5351124082c958cfa3e12bcba31b",
    ),
    (
        "x3-datacenter-link-cut",
        "d74106d12dea99ca01aea98dc0db18dc",
        "d74106d12dea99ca01aea98dc0db18dc",
    ),
    (
        "x3-datacenter-slow",
        "8a676d5a3c5c83018ed154637edff36b",
        "8a676d5a3c5c83018ed154637edff36b",
    ),
    (
        "x3-outage-tempfail",
        "37fa7afc03bc73db6900a810870d8007",
        "37fa7afc03bc73db6900a810870d8007",
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
