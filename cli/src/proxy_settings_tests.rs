//! The IMAP side of the live proxy's settings: flags, the `[imap]` section of the config
//! file, and `aptsim proxy imap`'s own defaults.

use std::time::Duration;

use clap::Parser;

use super::Settings;
use crate::proxy_command::SmtpArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SmtpArgs,
}

fn args(flags: &[&str]) -> SmtpArgs {
    let mut argv = vec!["aptsim"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).expect("flags parse").args
}

#[test]
fn imap_listen_needs_an_imap_server() {
    let e = Settings::load(&args(&[
        "--upstream",
        "127.0.0.1:25",
        "--imap-listen",
        "127.0.0.1:1143",
    ]))
    .expect_err("no IMAP server given");
    assert!(e.contains("--imap-upstream"), "{e}");
    let s = Settings::load(&args(&["--upstream", "127.0.0.1:25"])).expect("SMTP alone");
    assert!(s.imap_listen.is_empty(), "no IMAP proxy unless asked");
}

#[test]
fn the_imap_section_and_flags_set_the_imap_proxy() {
    let dir = std::env::temp_dir().join(format!("aptsim-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("aptsim.toml");
    std::fs::write(
        &file,
        "upstream = [\"127.0.0.1:25\"]\n\n[imap]\nlisten = [\"127.0.0.1:1143\"]\n\
         upstream = [\"127.0.0.1:143\"]\n\n[imap.limits]\nkeepalive = \"30s\"\n",
    )
    .expect("write config");
    let path = file.display().to_string();
    let s = Settings::load(&args(&["--config", &path])).expect("config loads");
    assert_eq!(s.imap_listen, vec!["127.0.0.1:1143"]);
    assert_eq!(s.imap_upstream, vec!["127.0.0.1:143"]);
    assert_eq!(s.imap.keepalive, Some(Duration::from_secs(30)));
    // A flag wins over the file.
    let s = Settings::load(&args(&["--config", &path, "--keepalive", "5s"])).expect("loads");
    assert_eq!(s.imap.keepalive, Some(Duration::from_secs(5)));
    std::fs::write(&file, "[imap.limits]\nkeep_alive = \"30s\"\n").expect("write");
    let e = Settings::load(&args(&["--config", &path, "--upstream", "a:1"]))
        .expect_err("an unknown key is an error");
    assert!(e.contains("[imap.limits]"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn proxy_imap_alone_has_its_own_listen_default_and_no_smtp_listener() {
    let mut a = args(&["--imap-upstream", "127.0.0.1:143"]);
    a.imap.imap_only = true;
    let s = Settings::load(&a).expect("IMAP alone needs no SMTP upstream");
    assert!(s.listen.is_empty() && s.upstream.is_empty());
    assert_eq!(s.imap_listen, vec![crate::imap_args::DEFAULT_IMAP_LISTEN]);
    let mut a = args(&[]);
    a.imap.imap_only = true;
    let e = Settings::load(&a).expect_err("no IMAP server");
    assert!(e.contains("--upstream"), "{e}");
}
