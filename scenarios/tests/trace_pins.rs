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
        "c63d3afc93b98ab7f35a66a694c90bc5",
        "c63d3afc93b98ab7f35a66a694c90bc5",
    ),
    (
        "a1-block",
        "d693fe727cb413f578b9377991e42071",
        "d693fe727cb413f578b9377991e42071",
    ),
    (
        "a1-deny",
        "b4c5285bc12ff80fd919411edb45b166",
        "b4c5285bc12ff80fd919411edb45b166",
    ),
    (
        "a1-drop",
        "c3c3af7ee1993bc39640a841f9261a2c",
        "c3c3af7ee1993bc39640a841f9261a2c",
    ),
    (
        "a1-lock",
        "2e2c6dc3092e040ffe5b605d757281ca",
        "2e2c6dc3092e040ffe5b605d757281ca",
    ),
    (
        "a1-quarantine",
        "5fc8a254d7ae26fcf539d3651e482c54",
        "5fc8a254d7ae26fcf539d3651e482c54",
    ),
    (
        "exim-half-close-hold",
        "7db9291783c13bbdc53bd7a50ba957aa",
        "7db9291783c13bbdc53bd7a50ba957aa",
    ),
    (
        "exim-half-close-long-hold",
        "9d48e5779dc5ee0b5b72a5c34cdb1a5e",
        "9d48e5779dc5ee0b5b72a5c34cdb1a5e",
    ),
    (
        "hold-past-server-timeout",
        "73d2f8dbe938272f985a249c2eb45b4d",
        "73d2f8dbe938272f985a249c2eb45b4d",
    ),
    (
        "imap-android-attachment-on-demand",
        "9135961ae5adac8b85aae549cf6439ee",
        "9135961ae5adac8b85aae549cf6439ee",
    ),
    (
        "imap-i1-i2-hold-all-at-once",
        "302f3a1b59a3890c4a607d975b74e4b0",
        "302f3a1b59a3890c4a607d975b74e4b0",
    ),
    (
        "imap-i3-thunderbird-timeout-refetch",
        "b47a46d01112f7fb45be65614fa71f50",
        "b47a46d01112f7fb45be65614fa71f50",
    ),
    (
        "imap-i4-datacenter-unreachable",
        "fe41964d489ba414c46861d73afa7eb5",
        "fe41964d489ba414c46861d73afa7eb5",
    ),
    (
        "imap-i5-outlook-stall-restart",
        "d71f611462e997256af371e4d952e07e",
        "d71f611462e997256af371e4d952e07e",
    ),
    (
        "imap-mbsync-1000-messages",
        "889baa54c6f5796f414e9194a3d9f125",
        "6333a70b2131b1bff23accf0e1ca39e7",
    ),
    (
        "imap-mbsync-timeout-then-cache",
        "768eaca2781ed0be3a05230aaad46758",
        "768eaca2781ed0be3a05230aaad46758",
    ),
    (
        "imap-server-down-then-back",
        "b8876ebe220ffda6c53ed0e0a1e0f6f2",
        "b8876ebe220ffda6c53ed0e0a1e0f6f2",
    ),
    (
        "imap-thunderbird-chunked-held",
        "c8df52cfd9416a82013fd390d723aff3",
        "c8df52cfd9416a82013fd390d723aff3",
    ),
    (
        "imap-x4-fetchmail-not-broken",
        "8cded8ae1bdf3ef46d4170fef37a3443",
        "8cded8ae1bdf3ef46d4170fef37a3443",
    ),
    (
        "imap-x4-keepalive-keeps-thunderbird",
        "60907d19a169075dfbf4d2a663fa2c12",
        "60907d19a169075dfbf4d2a663fa2c12",
    ),
    (
        "imap-x6-smtp-release-then-fetch",
        "5c88babb4e7b69ca392310d9ef6ffa20",
        "5c88babb4e7b69ca392310d9ef6ffa20",
    ),
    (
        "link-cut-longer-than-tcp-retries",
        "0861d970fb6dbf4dd1113d8a5d8ec758",
        "0861d970fb6dbf4dd1113d8a5d8ec758",
    ),
    (
        "link-cut-sender-leaves-during-hold",
        "ed12045b4cb390006817a48a610d71b1",
        "ed12045b4cb390006817a48a610d71b1",
    ),
    (
        "link-cut-verdict-during-cut",
        "4fe9ed6bed51a01d2b284d0887fd7953",
        "4fe9ed6bed51a01d2b284d0887fd7953",
    ),
    (
        "queue-lifetime-five-days",
        "9f27eb754d57c384a970b23f398066e7",
        "9f27eb754d57c384a970b23f398066e7",
    ),
    (
        "s1-release-exposure",
        "e6159448b557207c1be313c45f0b3e5c",
        "e6159448b557207c1be313c45f0b3e5c",
    ),
    (
        "s2-hold-clean",
        "6eb6104f51e520178cb1a9f373183ac1",
        "6eb6104f51e520178cb1a9f373183ac1",
    ),
    (
        "s3-s5-sender-timeout-retry",
        "8bd3fd36b2b25dd11e76a1b6d0c9ff46",
        "8bd3fd36b2b25dd11e76a1b6d0c9ff46",
    ),
    (
        "s4-archive-at-once",
        "bb3468861edb10ddf7762fb9009cde5a",
        "bb3468861edb10ddf7762fb9009cde5a",
    ),
    (
        "s6-known-file",
        "c42c5fa778ef5456f07b68e598051ddc",
        "c42c5fa778ef5456f07b68e598051ddc",
    ),
    (
        "s7-datacenter-unreachable",
        "005542d37ef1cd3415d37d0ca2cf5f03",
        "005542d37ef1cd3415d37d0ca2cf5f03",
    ),
    (
        "sender-restart-during-hold",
        "add7910545987567e2306deba3e54c70",
        "add7910545987567e2306deba3e54c70",
    ),
    (
        "traffic-hold-drawn-verdicts",
        "7443ce72a609be8f1d7cf6b3a44fb68c",
        "f7e7e93be587e7f3e1ad8f5cebc49363",
    ),
    (
        "traffic-release-mix",
        "8173f50f5acdceb049009f06a4173758",
        "baef5252b850de64aa0e344d6d0ee1c7",
    ),
    (
        "x1-in-flight-dedupe",
        "ae9463630466ac3587a08872431352cd",
        "ae9463630466ac3587a08872431352cd",
    ),
    (
        "x1-off-plain-reference",
        "a6c775f1a19cd715f65e397ee4eeb523",
        "a6c775f1a19cd715f65e397ee4eeb523",
    ),
    (
        "x2-exim-long-hold",
        "c9762e1d3c9f9819f6c4bf95fe1d7594",
        "c9762e1d3c9f9819f6c4bf95fe1d7594",
    ),
    (
        "x2-proactive-tempfail",
        "8de7b120f7115b0475632882e3c266d7",
        "8de7b120f7115b0475632882e3c266d7",
    ),
    (
        "x2-upstream-cut-after-decision",
        "1bfb429c6f2bae386748089ee0068200",
        "1bfb429c6f2bae386748089ee0068200",
    ),
    (
        "x3-datacenter-link-cut",
        "dcd3527e0e6b6086a73c9f55126b533f",
        "dcd3527e0e6b6086a73c9f55126b533f",
    ),
    (
        "x3-datacenter-slow",
        "fa110991334898b71d13f1aa028c4575",
        "fa110991334898b71d13f1aa028c4575",
    ),
    (
        "x3-outage-tempfail",
        "c69612d12507f346535dd34e6c322896",
        "c69612d12507f346535dd34e6c322896",
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
