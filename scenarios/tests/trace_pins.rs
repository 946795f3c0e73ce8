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
        "b4dfb69182d599402db1dd75df77de3d",
        "b4dfb69182d599402db1dd75df77de3d",
    ),
    (
        "a1-block",
        "04ad9c6705235005fd2f7a0a99ffae5b",
        "04ad9c6705235005fd2f7a0a99ffae5b",
    ),
    (
        "a1-deny",
        "b4c5285bc12ff80fd919411edb45b166",
        "b4c5285bc12ff80fd919411edb45b166",
    ),
    (
        "a1-drop",
        "0d413e1ff55f6a15dd01518fcad5839a",
        "0d413e1ff55f6a15dd01518fcad5839a",
    ),
    (
        "a1-lock",
        "fc8429298527b47d9f12fca558d578ad",
        "fc8429298527b47d9f12fca558d578ad",
    ),
    (
        "a1-quarantine",
        "5fc8a254d7ae26fcf539d3651e482c54",
        "5fc8a254d7ae26fcf539d3651e482c54",
    ),
    (
        "exim-half-close-hold",
        "cfcb122312a5b6fb509b386a6de69ca8",
        "cfcb122312a5b6fb509b386a6de69ca8",
    ),
    (
        "exim-half-close-long-hold",
        "f6792f71c678ef45b5723fe391b0581a",
        "f6792f71c678ef45b5723fe391b0581a",
    ),
    (
        "hold-past-server-timeout",
        "af8ce3b8cd3f2bb6625e6da8b4eda40a",
        "af8ce3b8cd3f2bb6625e6da8b4eda40a",
    ),
    (
        "link-cut-sender-leaves-during-hold",
        "78b838b42a8bc38f2a94ba4715e12cda",
        "78b838b42a8bc38f2a94ba4715e12cda",
    ),
    (
        "link-cut-verdict-during-cut",
        "c59809e518639774f725789bfe6e7a33",
        "c59809e518639774f725789bfe6e7a33",
    ),
    (
        "queue-lifetime-five-days",
        "9f27eb754d57c384a970b23f398066e7",
        "9f27eb754d57c384a970b23f398066e7",
    ),
    (
        "s1-release-exposure",
        "8baf1a15787f424849a379ec1a0054f0",
        "8baf1a15787f424849a379ec1a0054f0",
    ),
    (
        "s2-hold-clean",
        "9b8f392e38a7925350623b32adb33e98",
        "9b8f392e38a7925350623b32adb33e98",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "72b314ef0d146de4fe4ef5bd7b6f02cb",
        "72b314ef0d146de4fe4ef5bd7b6f02cb",
    ),
    (
        "s4-archive-at-once",
        "6796f624b65c1ee1647899769261d02e",
        "6796f624b65c1ee1647899769261d02e",
    ),
    (
        "s6-known-file",
        "e39d8a629a438cfaf26ade84d7081c33",
        "e39d8a629a438cfaf26ade84d7081c33",
    ),
    (
        "s7-datacenter-unreachable",
        "f3f83ce3ae5878da18636d2b140e9f39",
        "f3f83ce3ae5878da18636d2b140e9f39",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "ab31014a9e72fd08b74c2484ff8d067f",
        "bd5256608894f5f9ed4755a58644a365",
    ),
    (
        "traffic-release-mix",
        "172e627c923ec67da6ef854024e2b459",
        "e0093f5118262ebfa766147e64827c92",
    ),
    (
        "x1-in-flight-dedupe",
        "0df8b9dde306646484654fa9d7cb61e7",
        "0df8b9dde306646484654fa9d7cb61e7",
    ),
    (
        "x1-off-plain-reference",
        "d049f8cf77b308fe493eb42c81896321",
        "d049f8cf77b308fe493eb42c81896321",
    ),
    (
        "x2-exim-long-hold",
        "4c3eef65df5a4e5b9c0bf121e6cdb8ab",
        "4c3eef65df5a4e5b9c0bf121e6cdb8ab",
    ),
    (
        "x2-proactive-tempfail",
        "a71c5eed8e310f8e0c3be3779b0a3267",
        "a71c5eed8e310f8e0c3be3779b0a3267",
    ),
    (
        "x2-upstream-cut-after-decision",
        "09a5db55610670a7d5777dde00e670fe",
        "09a5db55610670a7d5777dde00e670fe",
    ),
    (
        "x3-datacenter-link-cut",
        "900ec22ba432e47b9ea1c7fae09e7a79",
        "900ec22ba432e47b9ea1c7fae09e7a79",
    ),
    (
        "x3-datacenter-slow",
        "a17e637edcddc6c0389ebdc50df528ac",
        "a17e637edcddc6c0389ebdc50df528ac",
    ),
    (
        "x3-outage-tempfail",
        "72d31e10a9f59065588495e885d25a1a",
        "72d31e10a9f59065588495e885d25a1a",
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
