//! `aptsim run` as a user sees it: a wrong expectation fails, says what failed, and prints
//! the one command that reproduces it; nothing to run is an error; warnings go to stderr;
//! results come in the order of the files however many run at once; `--junit` writes a
//! report CI can read.

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

fn aptsim(args: &[&str]) -> (bool, Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aptsim"))
        .args(args)
        .output()
        .expect("aptsim runs");
    (
        out.status.success(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh folder for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aptsim-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir
}

fn text(p: &std::path::Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn nothing_to_run_is_an_error_not_a_pass() {
    let dir = scratch("nothing");
    let (ok, code, _, err) = aptsim(&["run", &text(&dir)]);
    assert!(!ok && code == Some(2), "an empty folder must fail: {err}");
    assert!(
        err.contains("no scenario files (*.toml) in this folder"),
        "{err}"
    );

    std::fs::write(dir.join("notes.txt"), "not a scenario").expect("write");
    let (ok, _, _, err) = aptsim(&["run", &text(&dir)]);
    assert!(!ok, "a folder without scenarios must fail: {err}");

    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let (ok, _, _, err) = aptsim(&["run", &text(&empty)]);
    assert!(
        !ok && err.contains("empty.toml: the file is empty"),
        "{err}"
    );

    let one = root().join("tests/fixtures/wrong-expectation.toml");
    let (ok, _, _, err) = aptsim(&["run", &text(&one), "--shard", "2/3"]);
    assert!(
        !ok && err.contains("shard 2/3 holds none of the 1 runs"),
        "{err}"
    );
    let (ok, _, _, err) = aptsim(&["run", &text(&one), "--seeds", "0"]);
    assert!(
        !ok && err.contains("--seeds"),
        "zero seeds run nothing: {err}"
    );
    let (ok, _, _, err) = aptsim(&["run", &text(&one), "--seeds", "100001"]);
    assert!(!ok && err.contains("--seeds"), "over the bound: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_warning_goes_to_stderr_and_the_run_goes_on() {
    let dir = scratch("warning");
    let file = dir.join("late-tempfail.toml");
    std::fs::write(
        &file,
        "[world]\npolicy = { release_immediately = false, tempfail_deadline = \"11m\" }\n\
         [[message]]\nid = \"m1\"\n",
    )
    .expect("write");
    let (ok, _, out, err) = aptsim(&["run", &text(&file)]);
    assert!(ok, "a warning does not fail the run:\n{out}\n{err}");
    assert!(
        err.contains(&format!(
            "aptsim: warning: {}: world.policy.tempfail_deadline: 11m",
            file.display()
        )) && err.contains("X2 would never fire"),
        "{err}"
    );
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn results_come_in_the_order_of_the_files_whatever_runs_first() {
    let suite = root().join("../scenarios/suite");
    let files = [
        "s3-s5-sender-timeout-retry",
        "a1-allow",
        "x2-proactive-tempfail",
        "a1-deny",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| text(&suite.join(format!("{f}.toml"))))
        .collect();
    let mut args = vec!["run", "--jobs", "3", "--seeds", "2"];
    args.extend(paths.iter().map(String::as_str));
    let (ok, _, out, err) = aptsim(&args);
    assert!(ok, "{out}\n{err}");
    let summary: Vec<(&str, &str)> = out
        .lines()
        .skip(1)
        .take(8)
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap_or(""), w.next().unwrap_or(""))
        })
        .collect();
    // Catalogue scenarios run with seed 1 unless told; `--seeds 2` adds seed 2.
    let want: Vec<(&str, &str)> = files.iter().flat_map(|f| [(*f, "1"), (*f, "2")]).collect();
    assert_eq!(summary, want, "{out}");
    let progress: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split(']').next())
        .filter(|l| l.starts_with('['))
        .collect();
    assert_eq!(
        progress,
        [
            "[1/8", "[2/8", "[3/8", "[4/8", "[5/8", "[6/8", "[7/8", "[8/8"
        ]
    );
}

#[test]
fn junit_holds_a_case_per_run_and_the_failure_with_its_reproduce_line() {
    let dir = scratch("junit");
    let (junit, json) = (dir.join("results.xml"), dir.join("results.json"));
    let failing = root().join("tests/fixtures/wrong-expectation.toml");
    let passing = root().join("../scenarios/suite/a1-allow.toml");
    let (ok, _, out, _) = aptsim(&[
        "run",
        &text(&passing),
        &text(&failing),
        "--seed",
        "42",
        "--junit",
        &text(&junit),
        "--json",
        &text(&json),
    ]);
    assert!(!ok, "one run failed:\n{out}");

    let doc = xml::parse(&std::fs::read_to_string(&junit).expect("junit written"));
    assert_eq!(doc.name, "testsuites");
    assert_eq!((doc.attr("tests"), doc.attr("failures")), ("2", "1"));
    let cases: Vec<&xml::Element> = doc.children[0].children.iter().collect();
    assert_eq!(cases.len(), 2);
    assert_eq!(
        (cases[0].attr("classname"), cases[0].attr("name")),
        ("a1-allow", "seed 42")
    );
    assert!(cases[0].children.is_empty(), "a passing run has no failure");
    assert_eq!(cases[1].attr("classname"), "wrong-expectation");
    let failure = &cases[1].children[0];
    assert_eq!(failure.name, "failure");
    assert_eq!(
        failure.attr("message"),
        "expectation: m1: expected attempts 3, got 1"
    );
    let reproduce = format!("reproduce: aptsim run {} --seed 42", failing.display());
    assert!(failure.text.contains(&reproduce), "{}", failure.text);

    let runs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("json");
    assert_eq!(runs[0]["passed"], true);
    assert_eq!(runs[1]["passed"], false);
    assert_eq!(runs[1]["panic"], serde_json::Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Just enough of an XML reader to read the JUnit file back: elements, attributes, text
/// and the five entities plus character references; anything malformed panics.
mod xml {
    use std::collections::BTreeMap;

    #[derive(Debug)]
    pub struct Element {
        pub name: String,
        pub attrs: BTreeMap<String, String>,
        pub children: Vec<Element>,
        pub text: String,
    }

    impl Element {
        pub fn attr(&self, name: &str) -> &str {
            self.attrs
                .get(name)
                .unwrap_or_else(|| panic!("{} has no {name}", self.name))
        }
    }

    pub fn parse(doc: &str) -> Element {
        let rest = doc.strip_prefix("<?xml").expect("an XML declaration");
        let rest = &rest[rest.find("?>").expect("declaration closed") + 2..];
        let (root, rest) = element(rest.trim_start());
        assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
        root
    }

    fn element(s: &str) -> (Element, &str) {
        let s = s.strip_prefix('<').expect("an element");
        let end = s.find(|c: char| c.is_whitespace() || c == '/' || c == '>');
        let (name, mut s) = s.split_at(end.expect("a tag name"));
        let mut e = Element {
            name: name.to_owned(),
            attrs: BTreeMap::new(),
            children: Vec::new(),
            text: String::new(),
        };
        loop {
            s = s.trim_start();
            if let Some(rest) = s.strip_prefix("/>") {
                return (e, rest);
            }
            if let Some(rest) = s.strip_prefix('>') {
                s = rest;
                break;
            }
            let (key, rest) = s.split_once("=\"").expect("an attribute");
            let (value, rest) = rest.split_once('"').expect("a closed attribute");
            assert!(!value.contains('<'), "raw < in {key}");
            e.attrs.insert(key.to_owned(), unescape(value));
            s = rest;
        }
        loop {
            if let Some(rest) = s.strip_prefix("</") {
                let (close, rest) = rest.split_once('>').expect("a closed end tag");
                assert_eq!(close, e.name, "tags must nest");
                return (e, rest);
            }
            if s.starts_with('<') {
                let (child, rest) = element(s);
                e.children.push(child);
                s = rest;
                continue;
            }
            let end = s.find('<').expect("the element is closed");
            e.text.push_str(&unescape(&s[..end]));
            s = &s[end..];
        }
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            let (entity, after) = rest[at + 1..].split_once(';').expect("entity closed");
            match entity {
                "amp" => out.push('&'),
                "lt" => out.push('<'),
                "gt" => out.push('>'),
                "quot" => out.push('"'),
                "apos" => out.push('\''),
                n => {
                    let code = n.strip_prefix('#').expect("a known entity");
                    let c = code.parse::<u32>().ok().and_then(char::from_u32);
                    out.push(c.expect("a character reference"));
                }
            }
            rest = after;
        }
        out.push_str(rest);
        out
    }
}
