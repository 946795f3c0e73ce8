//! `aptsim run` as a user sees it: a wrong expectation fails, says what failed, and prints
//! the one command that reproduces it.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_wrong_expectation_fails_and_prints_its_reproduce_line() {
    let fixture = root().join("tests/fixtures/wrong-expectation.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_aptsim"))
        .arg("run")
        .arg(&fixture)
        .arg("--seed")
        .arg("42")
        .output()
        .expect("aptsim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a wrong expectation must fail:\n{stdout}"
    );
    assert!(stdout.contains("expected attempts 3, got 1"), "{stdout}");
    let reproduce = format!("reproduce: aptsim run {} --seed 42", fixture.display());
    assert!(stdout.contains(&reproduce), "{stdout}");
}
