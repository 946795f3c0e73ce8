//! Runs as a suite makes them: a run that panics fails with the panic and its place.

use std::path::PathBuf;
use std::time::Duration;

use aptsim_scenarios::files::load;
use aptsim_scenarios::runner;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_scenario_that_panics_fails_with_the_panic() {
    let path = root().join("suite/s2-hold-clean.toml");
    let mut s = load(&path).expect("valid");
    // Beyond what a file may say (`world.latency` is bounded when read): a link's
    // `Instant + latency` overflows inside an actor, where tokio swallows the panic and the
    // world runs on without that actor. That run used to be reported `ok`.
    s.world.latency = Duration::MAX;
    let report = runner::run(&s, 1).expect("the world builds");
    assert!(!report.passed(), "a run that panicked must fail");
    let panic = report.panic.as_deref().expect("the panic is reported");
    assert!(
        panic.starts_with("overflow when adding duration to instant at "),
        "the message and its place: {panic}"
    );
    assert!(report.failures.is_empty() && report.violations.is_empty());
}
