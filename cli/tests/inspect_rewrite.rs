//! `aptsim inspect --rewrite` fails closed: an EICAR attachment one level past the MIME
//! depth limit is reported, and the rewritten messages it writes (SMTP and IMAP) carry the
//! deny notice in its place, not the attachment.

use std::path::PathBuf;
use std::process::Command;

const EICAR_B64: &str =
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";

fn nested_eicar(levels: usize) -> String {
    let mut inner = format!(
        "Content-Type: application/octet-stream; name=\"eicar.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{EICAR_B64}\r\n"
    );
    for level in (1..levels).rev() {
        inner = format!(
            "Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\n{inner}\r\n--n{level}--\r\n"
        );
    }
    format!(
        "From: a@example.com\r\nTo: b@example.net\r\nSubject: deep\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n--n0\r\nContent-Type: text/plain\r\n\r\n\
         hello\r\n--n0\r\n{inner}\r\n--n0--\r\n"
    )
}

#[test]
fn over_the_depth_limit_the_rewrite_carries_the_notice_not_the_file() {
    let dir = std::env::temp_dir().join(format!("aptsim-inspect-rewrite-{}", std::process::id()));
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let message = dir.join("deep.eml");
    std::fs::write(&message, nested_eicar(33)).expect("write message");
    let policy = dir.join("default.toml");
    std::fs::write(&policy, "").expect("write policy");
    let out = Command::new(env!("CARGO_BIN_EXE_aptsim"))
        .arg("inspect")
        .arg("--policy")
        .arg(&policy)
        .arg("--rewrite")
        .arg(&out_dir)
        .arg(&message)
        .output()
        .expect("aptsim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("depth_limit"), "{stdout}");
    assert!(stdout.contains("unscanned-content"), "{stdout}");
    for flavour in ["smtp", "imap"] {
        let path: PathBuf = out_dir.join(format!("deep.{flavour}.eml"));
        let rewritten = std::fs::read_to_string(&path).expect("rewritten message written");
        assert!(!rewritten.contains(EICAR_B64), "{flavour}: EICAR delivered");
        assert!(
            rewritten.contains("could not be scanned"),
            "{flavour}: {rewritten}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
