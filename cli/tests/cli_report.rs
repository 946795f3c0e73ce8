//! `aptsim report` and `aptsim run --report` as a user sees them: the catalogue's report stays
//! small, a failing run prints its message's timeline under the reproduce line, a broken
//! trace is an error naming its line.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The catalogue's report must stay a CI artifact one opens without waiting: a few MB.
const MAX_CATALOGUE_REPORT: u64 = 5 << 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace folder")
        .to_path_buf()
}

fn aptsim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aptsim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("aptsim runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aptsim-report-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn the_catalogue_report_is_a_few_megabytes_with_a_page_per_run() {
    let dir = scratch("catalogue");
    let (ok, stdout, stderr) = aptsim(&["run", "scenarios/suite", "--report", text(&dir)]);
    assert!(ok, "the catalogue passes:\n{stdout}\n{stderr}");
    let runs = std::fs::read_dir(root().join("scenarios/suite"))
        .expect("the catalogue")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count();
    let mut pages = 0;
    let mut total = 0;
    for e in std::fs::read_dir(&dir)
        .expect("the report folder")
        .flatten()
    {
        total += e.metadata().expect("size").len();
        pages += usize::from(e.file_name() != "index.html");
    }
    assert_eq!(pages, runs, "a page per run");
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        index.contains(&format!("data-runs=\"{runs}\" data-failed=\"0\"")),
        "{index}"
    );
    assert!(
        total < MAX_CATALOGUE_REPORT,
        "the catalogue's report is {total} bytes, over {MAX_CATALOGUE_REPORT}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_run_prints_its_message_timeline_under_the_reproduce_line() {
    let fixture = root().join("cli/tests/fixtures/wrong-expectation.toml");
    let (ok, stdout, _) = aptsim(&["run", text(&fixture), "--seed", "42"]);
    assert!(!ok);
    let reproduce = format!("  reproduce: aptsim run {} --seed 42\n", fixture.display());
    let after = stdout
        .split_once(&reproduce)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no reproduce line:\n{stdout}"));
    let lines: Vec<&str> = after.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.first().copied(),
        Some("  timeline of m1 (delivered):"),
        "{stdout}"
    );
    assert!(
        lines[1]
            .trim_start()
            .starts_with("+0ms  sender       queued"),
        "{stdout}"
    );
    for what in [
        "attempt 1 (conn 1)",
        "upload ",
        "decision: deliver",
        "delivered",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(what)),
            "no {what:?}:\n{stdout}"
        );
    }
}

#[test]
fn a_report_written_as_runs_finish_still_lists_failures_and_prints_their_timelines() {
    let dir = scratch("streamed");
    let fixture = root().join("cli/tests/fixtures/wrong-expectation.toml");
    let (ok, stdout, stderr) = aptsim(&[
        "run",
        text(&fixture),
        "--seeds",
        "2",
        "--report",
        text(&dir),
    ]);
    assert!(!ok);
    // Each run's trace was let go once its page was written: the timelines under the
    // reproduce lines are made with the pages.
    assert_eq!(
        stdout.matches("  timeline of m1 (delivered):").count(),
        2,
        "{stdout}"
    );
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        index.contains("data-runs=\"2\" data-failed=\"2\""),
        "{index}"
    );
    assert!(index.contains("reproduce: <code>aptsim run "), "{index}");
    let pages = std::fs::read_dir(&dir)
        .expect("the report folder")
        .flatten()
        .filter(|e| e.file_name() != "index.html")
        .count();
    assert_eq!(pages, 2, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_of_a_trace_file_and_a_broken_trace() {
    let dir = scratch("trace");
    let trace = dir.join("s5.jsonl");
    let (ok, _, stderr) = aptsim(&[
        "run",
        "scenarios/suite/s3-s5-sender-timeout-retry.toml",
        "--trace",
        text(&trace),
    ]);
    assert!(ok, "{stderr}");
    let page = dir.join("s5.html");
    let (ok, _, stderr) = aptsim(&["report", text(&trace), "-o", text(&page)]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("(1 runs, 1 messages)"), "{stderr}");
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("\"name\":\"s5\""),
        "named after the trace file"
    );

    let broken = dir.join("broken.jsonl");
    std::fs::write(
        &broken,
        "{\"t\":0,\"actor\":\"a\",\"event\":\"queued\",\"msg\":\"m1\"}\n{\"t\":1,\n",
    )
    .expect("written");
    let (ok, _, stderr) = aptsim(&["report", text(&broken), "-o", text(&page)]);
    assert!(!ok);
    assert!(stderr.contains("broken.jsonl: trace line 2: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
