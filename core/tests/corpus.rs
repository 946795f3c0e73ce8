//! The golden MIME corpus (`core/tests/corpus/`, written by `scripts/make_corpus.py`): every
//! message is extracted twice, as stored (LF line endings) and with every LF turned into CRLF,
//! and the files found are compared one by one, in order, on (name, content_type, size, md5,
//! archive, kind of unscannable):
//!
//! - for every set but `malformed/`, with what Python's `email` package finds
//!   (`<name>.python.json` and `<name>.crlf.python.json`, from `scripts/python_oracle.py`);
//! - for `malformed/`, with aptsim's own reviewed view, `<name>.expected.json` (files and the
//!   sorted `malformed` flags of both forms), which `APTSIM_BLESS=1` writes.
//!
//! A mismatch writes `<name>.<lf|crlf>.failed` beside the message (git-ignored) with what
//! aptsim found, in the shape `aptsim inspect` prints, and fails the set's test naming the file.
//! Messages on [`KNOWN_RUST_BUGS`] are still run: their mismatch is reported but does not
//! fail, and the test fails once one of them agrees, so that the list only shrinks.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use aptsim_core::mime::{self, Extraction, MimeLimits};
use serde_json::{Value, json};

/// Messages of the compared sets on which aptsim disagrees with the oracle because of a bug on
/// the Rust side (reported with a minimal reproducer; `core/src/` is not ours to change here).
/// Each is `(path under core/tests/corpus, the bug)`. Take an entry off once the bug is fixed:
/// the test says when.
const KNOWN_RUST_BUGS: &[(&str, &str)] = &[(
    "clients/rfc2047_adjacent_space.eml",
    "the space between two adjacent RFC 2047 encoded words in a quoted name= / filename= \
         is kept (`Jahres bericht für 2024.pdf`); RFC 2047 6.2 says to drop it (mail-parser \
         drops it across a line fold only)",
)];

/// The sets compared with the oracle.
const ORACLE_SETS: [&str; 4] = ["archives", "clients", "encodings", "nested"];
/// The set compared with aptsim's own blessed view.
const MALFORMED_SET: &str = "malformed";

#[test]
fn archives_agree_with_python() {
    check_oracle_set("archives");
}

#[test]
fn clients_agree_with_python() {
    check_oracle_set("clients");
}

#[test]
fn encodings_agree_with_python() {
    check_oracle_set("encodings");
}

#[test]
fn nested_agree_with_python() {
    check_oracle_set("nested");
}

#[test]
fn malformed_match_blessed_expectations() {
    let mut report = Report::default();
    for eml in messages(MALFORMED_SET) {
        check_malformed(&eml, &mut report);
    }
    report.finish(MALFORMED_SET);
}

/// Every folder of the corpus is one of the sets above: a new set cannot go untested.
#[test]
fn every_set_is_tested() {
    let mut found: Vec<String> = fs::read_dir(corpus_root())
        .expect("reading the corpus folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut known: Vec<String> = ORACLE_SETS.iter().map(|s| s.to_string()).collect();
    known.push(MALFORMED_SET.to_owned());
    known.sort();
    assert_eq!(found, known, "corpus sets on disk vs sets this test checks");
    for (rel, _) in KNOWN_RUST_BUGS {
        assert!(
            corpus_root().join(rel).is_file(),
            "KNOWN_RUST_BUGS names {rel}, which is not in the corpus"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// oracle sets

fn check_oracle_set(set: &str) {
    let mut report = Report::default();
    for eml in messages(set) {
        let rel = relative(&eml);
        let known_bug = KNOWN_RUST_BUGS
            .iter()
            .find(|(path, _)| *path == rel)
            .map(|(_, why)| *why);
        let raw = read_message(&eml);
        let mut mismatches = 0;
        for form in Form::ALL {
            let bytes = form.apply(&raw);
            let x = mime::extract(&bytes, &MimeLimits::default());
            let oracle = eml.with_extension(form.oracle_suffix());
            let expected = match read_json(&oracle).and_then(|v| files_of(&v, &oracle)) {
                Ok(files) => files,
                Err(e) => {
                    report.fail(&rel, form, e);
                    continue;
                }
            };
            report.checked += 1;
            let actual = comparable(&x);
            let failed = failed_path(&eml, form);
            if actual == expected {
                remove_stale(&failed);
                continue;
            }
            mismatches += 1;
            write_failed(&failed, &rel, &x);
            let diff = describe_diff(&expected, &actual, &oracle, &failed);
            match known_bug {
                Some(why) => report.known(&rel, form, why, diff),
                None => report.fail(&rel, form, diff),
            }
        }
        if let Some(why) = known_bug
            && mismatches == 0
        {
            report.fail(
                &rel,
                Form::Lf,
                format!(
                    "agrees with the oracle in both forms now: take it off KNOWN_RUST_BUGS \
                     (it was there for: {why})"
                ),
            );
        }
    }
    report.finish(set);
}

/// `(name, content_type, size, md5, archive, unscannable kind)` of each file in an oracle or
/// expected JSON object (`{"files": [...]}`).
fn files_of(v: &Value, path: &Path) -> Result<Vec<FileKey>, String> {
    let files = v
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}: no \"files\" array", path.display()))?;
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let bad = |what: &str| format!("{}: files[{i}]: {what}", path.display());
            let text = |key: &str| {
                f.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| bad(&format!("\"{key}\" is not a string")))
            };
            let optional = |key: &str| match f.get(key) {
                Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(bad(&format!("\"{key}\" is neither null nor a string"))),
            };
            Ok(FileKey {
                name: text("name")?,
                content_type: text("content_type")?,
                size: f
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("\"size\" is not a number"))?,
                md5: text("md5")?,
                archive: optional("archive")?,
                unscannable: optional("unscannable")?.map(|u| unscannable_kind(&u)),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// malformed set

fn check_malformed(eml: &Path, report: &mut Report) {
    let rel = relative(eml);
    let raw = read_message(eml);
    let expected_path = eml.with_extension("expected.json");
    let mut blessed = json!({ "path": rel });
    let expected = read_json(&expected_path);
    for form in Form::ALL {
        let bytes = form.apply(&raw);
        let x = mime::extract(&bytes, &MimeLimits::default());
        let view = rust_view(&x);
        blessed[form.key()] = view.clone();
        let failed = failed_path(eml, form);
        if blessing() {
            remove_stale(&failed);
            report.checked += 1;
            continue;
        }
        let expected = match &expected {
            Ok(v) => v,
            Err(e) => {
                report.fail(
                    &rel,
                    form,
                    format!("{e} (APTSIM_BLESS=1 writes it; review it before committing)"),
                );
                continue;
            }
        };
        let Some(want) = expected.get(form.key()) else {
            report.fail(
                &rel,
                form,
                format!("{}: no \"{}\" object", expected_path.display(), form.key()),
            );
            continue;
        };
        report.checked += 1;
        let problem = match files_of(want, &expected_path) {
            Err(e) => Some(e),
            Ok(files) if files != comparable(&x) => Some(describe_diff(
                &files,
                &comparable(&x),
                &expected_path,
                &failed,
            )),
            Ok(_) if want.get("malformed") != view.get("malformed") => Some(format!(
                "malformed flags: expected {}, found {} (actual output in {})",
                want.get("malformed").unwrap_or(&Value::Null),
                view["malformed"],
                failed.display()
            )),
            Ok(_) => None,
        };
        match problem {
            Some(p) => {
                write_failed(&failed, &rel, &x);
                report.fail(&rel, form, p);
            }
            None => remove_stale(&failed),
        }
    }
    if blessing() {
        let text = pretty(&blessed);
        if fs::read_to_string(&expected_path).ok().as_deref() != Some(text.as_str()) {
            fs::write(&expected_path, text)
                .unwrap_or_else(|e| panic!("writing {}: {e}", expected_path.display()));
            eprintln!("blessed {}", expected_path.display());
        }
    }
}

/// aptsim's view of one form, as blessed: the files (unscannable in full) and the sorted
/// `malformed` flags as serde writes them.
fn rust_view(x: &Extraction) -> Value {
    let flags = serde_json::to_value(&x.malformed).expect("Malformed serialises");
    let mut flags: Vec<String> = flags
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    flags.sort();
    json!({ "files": files_json(x), "malformed": flags })
}

fn blessing() -> bool {
    std::env::var_os("APTSIM_BLESS").is_some_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------------
// shared

/// The two forms every message is fed in.
#[derive(Clone, Copy)]
enum Form {
    /// As stored: LF line endings.
    Lf,
    /// Every LF turned into CRLF, as the message travels over SMTP.
    Crlf,
}

impl Form {
    const ALL: [Form; 2] = [Form::Lf, Form::Crlf];

    fn key(self) -> &'static str {
        match self {
            Form::Lf => "lf",
            Form::Crlf => "crlf",
        }
    }

    fn oracle_suffix(self) -> &'static str {
        match self {
            Form::Lf => "python.json",
            Form::Crlf => "crlf.python.json",
        }
    }

    fn apply(self, lf: &[u8]) -> Vec<u8> {
        match self {
            Form::Lf => lf.to_vec(),
            Form::Crlf => {
                let mut out = Vec::with_capacity(lf.len() + lf.len() / 32);
                for &b in lf {
                    if b == b'\n' {
                        out.push(b'\r');
                    }
                    out.push(b);
                }
                out
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct FileKey {
    name: String,
    content_type: String,
    size: u64,
    md5: String,
    archive: Option<String>,
    unscannable: Option<String>,
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {} {} {}",
            self.name, self.content_type, self.size, self.md5
        )?;
        if let Some(a) = &self.archive {
            write!(f, " in {a:?}")?;
        }
        if let Some(u) = &self.unscannable {
            write!(f, " [{u}]")?;
        }
        Ok(())
    }
}

/// `corrupt: gzip: unexpected end of file` -> `corrupt`: the oracle gives the kind only.
fn unscannable_kind(u: &str) -> String {
    u.split(':').next().unwrap_or_default().to_owned()
}

fn comparable(x: &Extraction) -> Vec<FileKey> {
    x.files
        .iter()
        .map(|f| FileKey {
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            md5: f.md5.to_hex(),
            archive: f.archive.clone(),
            unscannable: f
                .unscannable
                .as_ref()
                .map(|u| unscannable_kind(&u.to_string())),
        })
        .collect()
}

/// The files as `aptsim inspect` prints them.
fn files_json(x: &Extraction) -> Value {
    serde_json::to_value(&x.files).expect("files serialise")
}

fn describe_diff(
    expected: &[FileKey],
    actual: &[FileKey],
    expected_path: &Path,
    failed: &Path,
) -> String {
    let mut s = format!(
        "{} files expected ({}), {} found (written to {}):",
        expected.len(),
        expected_path.display(),
        actual.len(),
        failed.display()
    );
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => {
                let _ = write!(s, "\n      {i}: {a}");
            }
            (e, a) => {
                if let Some(e) = e {
                    let _ = write!(s, "\n    - {i}: {e}");
                }
                if let Some(a) = a {
                    let _ = write!(s, "\n    + {i}: {a}");
                }
            }
        }
    }
    s
}

/// Failures and known bugs of one set, printed together at the end.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    known: Vec<String>,
    checked: usize,
}

impl Report {
    fn fail(&mut self, rel: &str, form: Form, why: impl Into<String>) {
        self.failures
            .push(format!("{rel} ({}): {}", form.key(), why.into()));
    }

    fn known(&mut self, rel: &str, form: Form, bug: &str, diff: String) {
        self.known.push(format!(
            "{rel} ({}): KNOWN RUST BUG: {bug}\n  {diff}",
            form.key()
        ));
    }

    fn finish(self, set: &str) {
        for k in &self.known {
            eprintln!("{k}");
        }
        assert!(
            self.checked > 0 || !self.failures.is_empty(),
            "no message checked in set {set}"
        );
        eprintln!(
            "corpus set {set}: {} message forms compared, {} known Rust bug(s), {} failure(s)",
            self.checked,
            self.known.len(),
            self.failures.len()
        );
        if !self.failures.is_empty() {
            panic!(
                "corpus set {set}: {} failure(s):\n{}",
                self.failures.len(),
                self.failures.join("\n")
            );
        }
    }
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

/// The `.eml` files of one set, sorted. Panics on an empty or missing set.
fn messages(set: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(set);
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no .eml in {}", dir.display());
    out
}

/// `set/name.eml`, with `/` whatever the platform.
fn relative(eml: &Path) -> String {
    let rel = eml.strip_prefix(corpus_root()).unwrap_or(eml);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_message(eml: &Path) -> Vec<u8> {
    let raw = fs::read(eml).unwrap_or_else(|e| panic!("reading {}: {e}", eml.display()));
    assert!(
        !raw.contains(&b'\r'),
        "{} holds a CR byte: the corpus is stored with LF only, so that the CRLF form is exact",
        eml.display()
    );
    raw
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn failed_path(eml: &Path, form: Form) -> PathBuf {
    eml.with_extension(format!("{}.failed", form.key()))
}

fn write_failed(path: &Path, rel: &str, x: &Extraction) {
    let mut view = rust_view(x);
    view["path"] = json!(rel);
    fs::write(path, pretty(&view)).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn remove_stale(path: &Path) {
    if path.exists() {
        let _ = fs::remove_file(path);
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a Value serialises");
    s.push('\n');
    s
}
