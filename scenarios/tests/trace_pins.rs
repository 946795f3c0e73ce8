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
        "3f7ffe7017fc3d2f1bbad203b23e9f47",
        "3f7ffe7017fc3d2f1bbad203b23e9f47",
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
        "0b636fa0d8e0a0a62c4336986fecd907",
        "0b636fa0d8e0a0a62c4336986fecd907",
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
        "9a5bd4e5e87e744bc302703397ae5988",
        "9a5bd4e5e87e744bc302703397ae5988",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "61e7669298e2a36ed3afbc532c5d4ae5",
        "cad637ea0d5b15deac48611964897544",
    ),
    (
        "traffic-release-mix",
        "75038e2bcbede7ccad84834f1a484ca1",
        "ea07fee5c563e9ad8b0bf0789a4ee6bb",
    ),
    (
        "x1-in-flight-dedupe",
        "a19b9990cc468d367b4681eba672986b",
        "a19b9990cc468d367b4681eba672986b",
    ),
    (
        "x1-off-plain-reference",
        "5a00f223e0aac4cbc23d96787962df85",
        "5a00f223e0aac4cbc23d96787962df85",
    ),
    (
        "x2-proactive-tempfail",
        "3a0197083b94c341f9bb81b6b09113d6",
        "3a0197083b94c341f9bb81b6b09113d6",
    ),
    (
        "x3-datacenter-link-cut",
        "1d79ae68448572ea94b5f9be191b33ac",
        "1d79ae68448572ea94b5f9be191b33ac",
    ),
    (
        "x3-datacenter-slow",
        "252df57882bbcdb1bdffa27c6265227a",
        "252df57882bbcdb1bdffa27c6265227a",
    ),
    (
        "x3-outage-tempfail",
        "f86000a98c6c308ae4aa29a4ee81c7da",
        "f86000a98c6c308ae4aa29a4ee81c7da",
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
