//! Fuzzing's findings kept as tests (docs/fuzzing.md).
//!
//! The checks are the fuzz targets' own: `fuzz/src/checks/` is compiled here as a module,
//! so a saved input fails here exactly where it failed under `cargo fuzz`.
//!
//! - `saved_crashes`: every `core/tests/fuzz_regressions/<target>-<name>.bin`, each a
//!   minimised input that once broke a check of `<target>`.
//! - `corpora`: the small files of the seeds and minimised corpora (`fuzz/seeds/<target>/`,
//!   `fuzz/corpus/<target>/`), so that what the fuzzer learnt keeps guarding the code in CI.
//!
//! To see what the proxy session does with one `smtp_proxy_session` input, run
//! `cargo run --manifest-path fuzz/Cargo.toml --example trace_proxy -- FILE`.

// The trace printer in there is the `trace_proxy` example's, not this test's.
#[allow(unused_imports)]
#[path = "../../fuzz/src/checks/mod.rs"]
mod checks;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

/// A fuzz target's check: panics on an input that breaks it.
type Check = fn(&[u8]);

/// Every fuzz target and its check.
const TARGETS: [(&str, Check); 6] = [
    ("mime_extract", checks::mime_extract),
    ("archive_expand", checks::archive_expand),
    ("smtp_command", checks::smtp_command),
    ("smtp_reply", checks::smtp_reply),
    ("smtp_data", checks::smtp_data),
    ("smtp_proxy_session", checks::smtp_proxy_session),
];

/// Corpus files larger than this are left to the fuzzer: the test stays fast in a debug build.
const MAX_CORPUS_FILE: u64 = 4 << 10;

/// Corpus replay stops after this long per target (a debug build on a slow machine).
const CORPUS_BUDGET: Duration = Duration::from_secs(3);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

thread_local! {
    /// Set while a check replays an input on this thread.
    static REPLAYING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of a replay on this thread happened.
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs, once, a panic hook that only records where a replayed check panicked (a corpus
/// full of failing inputs would otherwise print a backtrace for each); other panics go to
/// the default hook.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if REPLAYING.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `check` on the file at `path`; the panic message if it fails.
fn replay(check: Check, path: &Path) -> Option<String> {
    quiet_panics();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    REPLAYING.with(|r| r.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| check(&bytes)));
    REPLAYING.with(|r| r.set(false));
    let err = result.err()?;
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(non-string panic)".to_owned());
    let at = PANIC_AT.with(|p| p.borrow().clone());
    Some(format!("{}: panicked at {at}: {msg}", path.display()))
}

#[test]
fn saved_crashes() {
    let dir = repo().join("core/tests/fuzz_regressions");
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in files(&dir) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".bin") {
            continue;
        }
        let (target, check) = TARGETS
            .iter()
            .find(|(t, _)| name.starts_with(&format!("{t}-")))
            .unwrap_or_else(|| panic!("{name}: no fuzz target named by its prefix"));
        ran += 1;
        if let Some(f) = replay(*check, &path) {
            failures.push(format!("[{target}] {f}"));
        }
    }
    eprintln!("replayed {ran} saved crash inputs");
    assert!(
        failures.is_empty(),
        "{} saved fuzz inputs still fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpora() {
    let root = repo().join("fuzz");
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let start = Instant::now();
        let mut ran = 0;
        for dir in ["seeds", "corpus"] {
            for path in files(&root.join(dir).join(target)) {
                let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_CORPUS_FILE);
                if !small || start.elapsed() > CORPUS_BUDGET {
                    continue;
                }
                ran += 1;
                if let Some(f) = replay(check, &path) {
                    failures.push(format!("[{target}] {f}"));
                }
            }
        }
        eprintln!("{target}: {ran} corpus inputs in {:?}", start.elapsed());
    }
    assert!(
        failures.is_empty(),
        "{} corpus inputs fail:\n{}",
        failures.len(),
        summary(&failures)
    );
}

/// Failures grouped by the check that failed (its location in `fuzz/src/checks/`), each group
/// with its count and first failure: a corpus broken by one bug can hold dozens of inputs
/// that show it.
fn summary(failures: &[String]) -> String {
    let mut groups: Vec<(&str, usize, &str)> = Vec::new();
    for f in failures {
        let at = f
            .split_once(": panicked at ")
            .and_then(|(_, rest)| rest.split_once(": "))
            .map_or(f.as_str(), |(at, _)| at);
        match groups.iter_mut().find(|(k, ..)| *k == at) {
            Some((_, n, _)) => *n += 1,
            None => groups.push((at, 1, f)),
        }
    }
    groups
        .iter()
        .map(|(_, n, first)| format!("{n} x, first: {first}"))
        .collect::<Vec<_>>()
        .join("\n")
}
