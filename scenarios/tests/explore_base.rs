//! Exploring around a user's scenario (`--base`): catalogue scenarios, varied, keep every
//! property; the variations are valid scenarios that keep the user's world; a failing
//! variation is shrunk towards the file as written and written as a scenario that fails the
//! same way when run.

use std::sync::Arc;

use aptsim_scenarios::explore::base::{self, Base};
use aptsim_scenarios::explore::property::{Checked, Failure};
use aptsim_scenarios::explore::{self, Explore, World};
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

fn suite(name: &str) -> String {
    format!("{}/suite/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn explore_clean(file: &str, cases: u64, seed: u64) {
    let base = Arc::new(Base::load(&suite(file), false).expect("a catalogue scenario"));
    let cfg = Explore {
        cases: Some(cases),
        seed,
        jobs: 2,
        base: Some(file.to_owned()),
        ..Explore::default()
    };
    let summary = explore::explore_base(&cfg, base, &mut |_| {}).expect("explores");
    if let Some(found) = summary.found {
        panic!("{}\n{}", found.failure, found.toml);
    }
    assert_eq!(summary.progress.cases, cases);
    assert!(summary.progress.runs >= 3 * cases);
}

#[test]
fn explore_base_an_smtp_hold_scenario_varied_keeps_every_property() {
    explore_clean("s3-s5-sender-timeout-retry.toml", 24, 1);
}

#[test]
fn explore_base_an_imap_scenario_varied_keeps_every_property() {
    explore_clean("imap-server-down-then-back.toml", 24, 2);
}

#[test]
fn explore_base_variations_are_valid_and_keep_the_users_world() {
    for file in [
        "s3-s5-sender-timeout-retry.toml",
        "imap-server-down-then-back.toml",
        "traffic-hold-drawn-verdicts.toml",
        "s4-archive-at-once.toml",
    ] {
        let base = Arc::new(Base::load(&suite(file), false).expect("a catalogue scenario"));
        let original = Scenario::from_toml(
            &std::fs::read_to_string(suite(file)).expect("readable"),
            file,
        )
        .expect("valid");
        let strategy = base::varied(Arc::clone(&base), true);
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let v = strategy.new_tree(&mut runner).expect("draws").current();
            let text = v.to_toml("v", "a \"varied\" world");
            let s = Scenario::from_toml(&text, "v.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert!(s.expectations.is_empty(), "{text}");
            assert_eq!(s.world.policy, original.world.policy, "{text}");
            assert_eq!(s.world.mta, original.world.mta, "{text}");
            assert_eq!(s.clients.len(), original.clients.len(), "{text}");
            assert_eq!(s.traffic.len(), original.traffic.len(), "{text}");
            assert_eq!(s.duration, original.duration, "{text}");
            assert!(s.messages.len() <= original.messages.len(), "{text}");
            assert!(
                s.faults.len() <= original.faults.len() + 2,
                "at most two extra faults: {text}"
            );
            assert_eq!(
                World::messages(&v),
                runner::all_messages(&s, s.seed).len() as u64
            );
        }
    }
}

/// A user's scenario: hold mode, three messages sharing files, and a total of their own —
/// no message denied.
const MY_GATEWAY: &str = r#"
description = "my gateway: hold, three messages"
[world]
mta = "postfix"
policy = { release_immediately = false }

[[message]]
id = "a"
at = "0s"
[[message.attachment]]
name = "a.pdf"
analysis = "1m"
[[message.attachment]]
name = "b.docx"
analysis = "2m"

[[message]]
id = "b"
at = "5m"
[[message.attachment]]
name = "b.docx"
analysis = "2m"

[[message]]
id = "c"
at = "30m"
[[message.attachment]]
name = "c.xlsx"

[totals]
denied = 0
"#;

fn base_with_totals() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new("explore-base-totals");
    let path = dir.path.join("my-gateway.toml");
    std::fs::write(&path, MY_GATEWAY).expect("written");
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

/// Temporary folders removed when dropped.
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("aptsim-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("a temporary folder");
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// N1–N9 and the user's totals, one run (a stand-in for the full properties, faster).
fn invariants_and_totals(s: &Scenario) -> Result<Checked, Failure> {
    explore::property::run_checked(s)?;
    Ok(Checked {
        messages: s.messages.len(),
        runs: 1,
        checks: 9,
    })
}

#[test]
fn explore_base_a_kept_total_broken_by_a_variation_is_shrunk_to_a_file_that_fails_the_same_way() {
    let (dir, path) = base_with_totals();
    let base = Arc::new(Base::load(&path, true).expect("valid"));
    let cfg = Explore {
        cases: Some(200),
        seed: 4,
        out: Some(dir.path.join("found")),
        max_shrink_steps: 500,
        jobs: 2,
        base: Some(path.clone()),
        ..Explore::default()
    };
    let found = explore::explore_worlds(
        &cfg,
        base::varied(base, true),
        &invariants_and_totals,
        &mut |_| {},
    )
    .expect("explores")
    .found
    .expect("some variation judges a file high, and its message is denied");
    assert_eq!(found.failure.kind, "expect", "{}", found.failure);
    let file = found.file.expect("written");
    assert_eq!(
        file.file_name().and_then(|n| n.to_str()),
        Some("explore-my-gateway-4-expect.toml")
    );
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(
        text.contains(&format!("aptsim explore --base {path} --seed 4")),
        "{text}"
    );
    let s = Scenario::from_toml(&text, "f.toml").expect("valid");
    // The user's world, with one change that matters: a file judged at a denying level.
    assert!(!s.world.policy.release_immediately, "{text}");
    assert_eq!(s.messages.len(), 1, "{text}");
    assert!(s.faults.is_empty(), "{text}");
    let changed = s.messages[0]
        .attachments
        .iter()
        .filter(|a| a.level.is_some() || a.score.is_some())
        .count();
    assert_eq!(changed, 1, "{text}");
    // `aptsim run` on the file fails the same way: the total, from the file alone.
    let report = runner::run(&s, s.seed).expect("runs");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(
        report.failures.iter().any(|f| f.contains("denied")),
        "{:?}\n{text}",
        report.failures
    );
}

#[test]
fn explore_base_a_missing_or_invalid_base_is_an_error_naming_the_file() {
    let err = Base::load("/nonexistent/base.toml", false).expect_err("no such file");
    assert!(err.contains("/nonexistent/base.toml"), "{err}");
    let err = Base::from_toml("[[message]]\nid = 1\n", "bad.toml", false).expect_err("invalid");
    assert!(err.contains("bad.toml"), "{err}");
    assert_eq!(base::stem("dir/my-gateway.toml"), "my-gateway");
}
