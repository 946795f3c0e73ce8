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
        "e6f3aca77882bdc4e5ea020051699c6b",
        "e6f3aca77882bdc4e5ea020051699c6b",
    ),
    (
        "a1-block",
        "1a4290806d43d878e6337ff72c65356f",
        "1a4290806d43d878e6337ff72c65356f",
    ),
    (
        "a1-deny",
        "d971a0ec8c6652db41d55d523ef39d34",
        "d971a0ec8c6652db41d55d523ef39d34",
    ),
    (
        "a1-drop",
        "2d07e3436eda4478973d416160cd7f82",
        "2d07e3436eda4478973d416160cd7f82",
    ),
    (
        "a1-lock",
        "31212711460aca99bc76f6cb5e9e3360",
        "31212711460aca99bc76f6cb5e9e3360",
    ),
    (
        "a1-quarantine",
        "42e1ad215f167c21cf0cbd880b16b90a",
        "42e1ad215f167c21cf0cbd880b16b90a",
    ),
    (
        "exim-half-close-hold",
        "1892ecb3963afd461744988a212f2649",
        "1892ecb3963afd461744988a212f2649",
    ),
    (
        "exim-half-close-long-hold",
        "9fda4cdc8bed8be47276f57695ca9770",
        "9fda4cdc8bed8be47276f57695ca9770",
    ),
    (
        "hold-past-server-timeout",
        "7b3a256b81183a853290d188fd82add5",
        "7b3a256b81183a853290d188fd82add5",
    ),
    (
        "imap-android-attachment-on-demand",
        "d8668f17542979b907058037b2823e10",
        "d8668f17542979b907058037b2823e10",
    ),
    (
        "imap-i1-i2-hold-all-at-once",
        "776e211fe8b772bdd32cf23d8f7e0cf2",
        "776e211fe8b772bdd32cf23d8f7e0cf2",
    ),
    (
        "imap-i3-thunderbird-timeout-refetch",
        "48321178bdd4dc84c5bf108c0028685f",
        "48321178bdd4dc84c5bf108c0028685f",
    ),
    (
        "imap-i4-datacenter-unreachable",
        "064ac03c92e50cf38b2b27e1bf79916d",
        "064ac03c92e50cf38b2b27e1bf79916d",
    ),
    (
        "imap-i5-outlook-stall-restart",
        "c96c03b5dff06d7fd4c227fa838de501",
        "c96c03b5dff06d7fd4c227fa838de501",
    ),
    (
        "imap-mbsync-1000-messages",
        "43c15ce6a36172ff114745504406152a",
        "bdaef1bbd0f8611d4daec6b18d752edb",
    ),
    (
        "imap-mbsync-timeout-then-cache",
        "fdb3b3de6a33946606468ae6f4561c93",
        "fdb3b3de6a33946606468ae6f4561c93",
    ),
    (
        "imap-server-down-then-back",
        "562c8cce3a618d85eb16a9e3883f7e52",
        "562c8cce3a618d85eb16a9e3883f7e52",
    ),
    (
        "imap-thunderbird-chunked-held",
        "aa49b5dd692f5328181975a7ecb3d180",
        "aa49b5dd692f5328181975a7ecb3d180",
    ),
    (
        "imap-x4-fetchmail-not-broken",
        "1f7e0f3e7dfe40b117b49967bf789393",
        "1f7e0f3e7dfe40b117b49967bf789393",
    ),
    (
        "imap-x4-keepalive-keeps-thunderbird",
        "2ba77fa1b1951aa9dcbfb6a06af4cdd1",
        "2ba77fa1b1951aa9dcbfb6a06af4cdd1",
    ),
    (
        "imap-x6-smtp-release-then-fetch",
        "dba2734de08c5d29ab69f25cd96ea428",
        "dba2734de08c5d29ab69f25cd96ea428",
    ),
    (
        "link-cut-longer-than-tcp-retries",
        "ff7bb98126ab3e68578d72054f132b29",
        "ff7bb98126ab3e68578d72054f132b29",
    ),
    (
        "link-cut-sender-leaves-during-hold",
        "80c4be440e6cb808c9e3b25a08b2c3ed",
        "80c4be440e6cb808c9e3b25a08b2c3ed",
    ),
    (
        "link-cut-verdict-during-cut",
        "3120c2a9bcde4b242e4d6db7004300d6",
        "3120c2a9bcde4b242e4d6db7004300d6",
    ),
    (
        "queue-lifetime-five-days",
        "8e6c6d3b065f169ec90a6322da968a72",
        "8e6c6d3b065f169ec90a6322da968a72",
    ),
    (
        "s1-release-exposure",
        "146b49725e25676a0f3fb238ea4e696f",
        "146b49725e25676a0f3fb238ea4e696f",
    ),
    (
        "s2-hold-clean",
        "5894d2f792a23e7158abdc4e2623874f",
        "5894d2f792a23e7158abdc4e2623874f",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "9579bd8a80b43765c1cafe590a68ed0c",
        "9579bd8a80b43765c1cafe590a68ed0c",
    ),
    (
        "s4-archive-at-once",
        "570208836625ac5d6a9e29238de79244",
        "570208836625ac5d6a9e29238de79244",
    ),
    (
        "s6-known-file",
        "26230f47f02af66680c506cde34da0c7",
        "26230f47f02af66680c506cde34da0c7",
    ),
    (
        "s7-datacenter-unreachable",
        "a043c1675607b747a5fd2c3d7b6b0cc6",
        "a043c1675607b747a5fd2c3d7b6b0cc6",
    ),
    (
        "sender-restart-during-hold",
        "96c3802ff339c8c799c7efae6f44acb0",
        "96c3802ff339c8c799c7efae6f44acb0",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "82aac06fc7e2cfe4c17c718a7829f05f",
        "7f8a150d2b5db7f47ff36a337ca5ea9d",
    ),
    (
        "traffic-release-mix",
        "5683420dd4ac6e2693c55842bbfc02ad",
        "43b77960eacc27c6128317627848de7d",
    ),
    (
        "x1-in-flight-dedupe",
        "1fbeafe7c5fbe7b07c6781b220536dbc",
        "1fbeafe7c5fbe7b07c6781b220536dbc",
    ),
    (
        "x1-off-plain-reference",
        "1f0bea24bd80ddbc2b9ade1b34681f99",
        "1f0bea24bd80ddbc2b9ade1b34681f99",
    ),
    (
        "x2-exim-long-hold",
        "cc1f4b3a929ed346817544a4290c3f5c",
        "cc1f4b3a929ed346817544a4290c3f5c",
    ),
    (
        "x2-proactive-tempfail",
        "df144404bec3512ca65eaf4941d31979",
        "df144404bec3512ca65eaf4941d31979",
    ),
    (
        "x2-upstream-cut-after-decision",
        "01b816f09a0febfff49fd9590e455340",
        "01b816f09a0febfff49fd9590e455340",
    ),
    (
        "x3-datacenter-link-cut",
        "e2066ec33a83ffa3cb98574c2e37be40",
        "e2066ec33a83ffa3cb98574c2e37be40",
    ),
    (
        "x3-datacenter-slow",
        "2b76ac40d1f391f42fec08590550b48f",
        "2b76ac40d1f391f42fec08590550b48f",
    ),
    (
        "x3-outage-tempfail",
        "a28abc6c1b171054b8d6ef58a8037b10",
        "a28abc6c1b171054b8d6ef58a8037b10",
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
