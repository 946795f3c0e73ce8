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
        "5bb35be0a588edd5fce696e5be2fc0ce",
        "5bb35be0a588edd5fce696e5be2fc0ce",
    ),
    (
        "a1-block",
        "49acc7d5ae9a43056a4323ce39c3d521",
        "49acc7d5ae9a43056a4323ce39c3d521",
    ),
    (
        "a1-deny",
        "12bead1e25c353d1091341dd748586fa",
        "12bead1e25c353d1091341dd748586fa",
    ),
    (
        "a1-drop",
        "ab2db09394f0afdec9b5375be113f892",
        "ab2db09394f0afdec9b5375be113f892",
    ),
    (
        "a1-lock",
        "3a79ff622c42264cf497e18e5d092f7e",
        "3a79ff622c42264cf497e18e5d092f7e",
    ),
    (
        "a1-quarantine",
        "d3fe37e16da3470fce29dd52a99ba4d6",
        "d3fe37e16da3470fce29dd52a99ba4d6",
    ),
    (
        "hold-past-server-timeout",
        "5588a6b10dfb990a57d4aa9d20692ce5",
        "5588a6b10dfb990a57d4aa9d20692ce5",
    ),
    (
        "link-cut-sender-leaves-during-hold",
        "845f374676c4c056e38d91caf3c3db1c",
        "845f374676c4c056e38d91caf3c3db1c",
    ),
    (
        "link-cut-verdict-during-cut",
        "093e8f314a54d39329fdaefcb9b15908",
        "093e8f314a54d39329fdaefcb9b15908",
    ),
    (
        "queue-lifetime-five-days",
        "9f27eb754d57c384a970b23f398066e7",
        "9f27eb754d57c384a970b23f398066e7",
    ),
    (
        "s1-release-exposure",
        "c0e9239edcaf0649c42b42cce7e71aed",
        "c0e9239edcaf0649c42b42cce7e71aed",
    ),
    (
        "s2-hold-clean",
        "65d3df80094c61e2acff6ffa0ccbef1b",
        "65d3df80094c61e2acff6ffa0ccbef1b",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "706e9ce13f407d93a5015e1365d054e4",
        "706e9ce13f407d93a5015e1365d054e4",
    ),
    (
        "s4-archive-at-once",
        "117a5c9a212de19b80de9efdb9a6b121",
        "117a5c9a212de19b80de9efdb9a6b121",
    ),
    (
        "s6-known-file",
        "4f44ddaa2a9c1c291d4ae91b842155cc",
        "4f44ddaa2a9c1c291d4ae91b842155cc",
    ),
    (
        "s7-datacenter-unreachable",
        "273279c2dcf70049d716ba3c3346de58",
        "273279c2dcf70049d716ba3c3346de58",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "3f6035f38b95103660820d07fd5c69e0",
        "f88a4abff355ca281bbe97c090b69b4b",
    ),
    (
        "traffic-release-mix",
        "482d52129ca289673eb596f795e863a9",
        "6c2702db15d1568055367b149a689099",
    ),
    (
        "x1-in-flight-dedupe",
        "607ecc73b87fc6e63d984f7ded26ee9d",
        "607ecc73b87fc6e63d984f7ded26ee9d",
    ),
    (
        "x1-off-plain-reference",
        "6c120ad814bf188337e211e20c10d830",
        "6c120ad814bf188337e211e20c10d830",
    ),
    (
        "x2-proactive-tempfail",
        "835ff5b12c8487d1fdf72c96cefc92a9",
        "835ff5b12c8487d1fdf72c96cefc92a9",
    ),
    (
        "x3-datacenter-link-cut",
        "0154ac5889b6e8cb07e4fe4bb3df1595",
        "0154ac5889b6e8cb07e4fe4bb3df1595",
    ),
    (
        "x3-datacenter-slow",
        "467293c9a708c37fccc0bb8836105abe",
        "467293c9a708c37fccc0bb8836105abe",
    ),
    (
        "x3-outage-tempfail",
        "37273a5820f8f2b2fcb84abd68693891",
        "37273a5820f8f2b2fcb84abd68693891",
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
