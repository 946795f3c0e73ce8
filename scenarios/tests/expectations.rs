//! Expectations users asked for, on catalogue worlds: the time of any final state
//! (`decided_after`, `decided_before`), counts as ranges (totals and per message), and a
//! message's own sender timeouts. Each is shown to pass when true and to fail, saying what
//! it saw, when false.

use std::path::PathBuf;

use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner;

/// A catalogue scenario with its `[[expect]]` and `[totals]` replaced by `expectations`.
fn with_expectations(name: &str, expectations: &str) -> Scenario {
    with_top_keys(name, "", expectations)
}

/// The same, with `top` (keys of the scenario's top table) written first.
fn with_top_keys(name: &str, top: &str, expectations: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("suite/{name}.toml"));
    let text = std::fs::read_to_string(&path).expect("catalogue file");
    let world = text.split("\n[[expect]]").next().expect("a prefix");
    let world = world.split("\n[totals]").next().expect("a prefix");
    Scenario::from_toml(
        &format!("{top}{world}\n{expectations}"),
        &format!("{name}.toml"),
    )
    .expect("valid")
}

fn failures(name: &str, expectations: &str) -> Vec<String> {
    let s = with_expectations(name, expectations);
    let report = runner::run(&s, s.seed).expect("runs");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    report.failures
}

#[test]
fn decided_bounds_apply_to_a_denial() {
    // a1-deny: the high file's 2 min analysis, then 554 to the sender at 120.1 s.
    let passing = "[[expect]]\nmessage = \"m1\"\nstate = \"denied\"\ndecided_after = \"2m\"\ndecided_before = \"2m1s\"\n";
    assert_eq!(failures("a1-deny", passing), Vec::<String>::new());
    let late = "[[expect]]\nmessage = \"m1\"\ndecided_after = \"3m\"\n";
    assert_eq!(
        failures("a1-deny", late),
        ["m1: expected a final state at or after 180.0 s, got denied at 120.1 s"]
    );
    let early = "[[expect]]\nmessage = \"m1\"\ndecided_before = \"1m\"\n";
    assert_eq!(
        failures("a1-deny", early),
        ["m1: expected a final state at or before 60.0 s, got denied at 120.1 s"]
    );
}

#[test]
fn decided_bounds_apply_to_a_quarantine() {
    let late = "[[expect]]\nmessage = \"m1\"\nstate = \"quarantined\"\ndecided_after = \"10m\"\n";
    let got = failures("a1-quarantine", late);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("m1: expected a final state at or after 600.0 s, got quarantined at "),
        "{got:?}"
    );
}

#[test]
fn a_message_in_flight_has_no_final_state_time() {
    // Two seconds of virtual time: the 2 min analysis has not ended.
    let s = with_top_keys(
        "a1-deny",
        "duration = \"2s\"\n",
        "[[expect]]\nmessage = \"m1\"\ndecided_before = \"2s\"\n",
    );
    let got = runner::run(&s, s.seed).expect("runs").failures;
    assert_eq!(
        got,
        ["m1: expected a final state at or before 2.0 s, got in_flight"]
    );
}

#[test]
fn totals_and_per_message_counts_take_ranges() {
    // s3-s5: three uploads, one sender timeout (Postfix, 10 min), two attempts.
    let passing = "[[expect]]\nmessage = \"m1\"\nattempts = { min = 2, max = 3 }\n\
                   sender_timeouts = 1\nuploads = { max = 3 }\n\
                   [totals]\nuploads = { min = 2, max = 3 }\nsender_timeouts = { min = 1 }\n\
                   delivered = 1\nin_flight = 0\n";
    assert_eq!(
        failures("s3-s5-sender-timeout-retry", passing),
        Vec::<String>::new()
    );
    let failing = "[[expect]]\nmessage = \"m1\"\nattempts = { min = 3 }\n\
                   sender_timeouts = 0\n\
                   [totals]\nuploads = { min = 4, max = 5 }\nholds = { min = 2 }\n";
    assert_eq!(
        failures("s3-s5-sender-timeout-retry", failing),
        [
            "m1: expected sender timeouts 0, got 1",
            "m1: expected attempts at least 3, got 2",
            // One hold: the first attempt's, which the sender left (S5).
            "totals: expected holds at least 2, got 1",
            "totals: expected uploads 4 to 5, got 3",
        ]
    );
}

#[test]
fn a_total_must_name_a_count_the_run_reports() {
    let text = "[[message]]\nid = \"m\"\n[totals]\nuplods = 3\n";
    let e = Scenario::from_toml(text, "t.toml").expect_err("refused");
    let e = e.to_string();
    assert!(
        e.starts_with("t.toml: totals.uplods: the run reports no such count (counts: ")
            && e.contains("uploads"),
        "{e}"
    );
}
