//! `aptsim inspect` agrees with Python's `email` package on which files messages hold and on
//! their MD5s: on the golden corpus, on Python's own email test messages, on mail-parser's
//! test messages, and on 200 messages Python generates (scripts/crosscheck.py).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn inspect_agrees_with_python_email() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("python3")
        .current_dir(&root)
        .arg("scripts/crosscheck.py")
        .arg("--aptsim")
        .arg(env!("CARGO_BIN_EXE_aptsim"))
        .arg("--known")
        .arg("scripts/crosscheck-known.txt")
        .arg("core/tests/corpus")
        .output()
        .expect("python3 is needed for this test (Debian: apt-get install python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "crosscheck failed:\n{stdout}\n{stderr}"
    );
    // Messages nobody here wrote must really have been checked: mail-parser's test corpus
    // comes with the crate's source; Python's own email tests come with CPython where its
    // test package is installed (pyenv builds have it, Debian's python3 does not).
    for source in ["generated: 200 agree", "mail-parser:"] {
        assert!(
            stdout.contains(source),
            "source missing from the crosscheck ({source}):\n{stdout}"
        );
    }
    if !stdout.contains("python-test-data:") {
        eprintln!("note: Python's email test messages are not installed; checked the rest");
    }
}
