//! The HTML report in a real browser: runs `scripts/report/browser_check.py`, which makes the
//! report of a few catalogue scenarios (the S5 sender-timeout retry among them), a failing
//! run and a page of two traces, opens each page in headless Chromium, and checks there are
//! no console messages and that the known scenario draws what it should (the S5 retry: two
//! attempts, three uploads, the retry decided from the cache), then drives real input through
//! the DevTools protocol (wheel zoom, drag, a click on a row). Its screenshots go to
//! `target/report-screenshots/` (under `$CARGO_TARGET_DIR` when set), which CI keeps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_report_opens_in_headless_chromium_without_errors_and_draws_the_s5_retry() {
    let missing: Vec<String> = ["python3", "chromium"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install chromium python3.
    common::require(&missing, "the report's browser test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace folder");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let shots = target.join("report-screenshots");
    let out = Command::new("python3")
        .arg(root.join("scripts/report/browser_check.py"))
        .arg(env!("CARGO_BIN_EXE_aptsim"))
        .arg("--screenshots")
        .arg(&shots)
        .current_dir(root)
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser_check.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "no summary line:\n{stdout}"
    );
    assert!(
        shots.join("s5-swimlane.png").is_file(),
        "no screenshot in {}",
        shots.display()
    );
}
