//! The live proxy's log: one line per transaction on standard error, plus the startup line,
//! the data center's answers, exposures (X5) and, with `--verbose`, the SMTP dialogue.
//!
//! Each line is a `tracing` event (target [`TARGET`]) with typed fields, written by one of
//! the two formatters of [`super::log_format`]: text (the default) or JSON
//! (`--log-format json`, one object per line with the same fields). Text lines are
//! `key=value` pairs after a UTC timestamp and a kind, so that `grep` and `awk` read them:
//!
//! ```text
//! 2025-06-01T12:00:05.123Z txn client=127.0.0.1 conn=3 txn=1 from=<a@example.com>
//!   to=<b@example.net> files=eicar.com:44d88612fea8a8f36de82e1278abb02f:high action=deny
//!   result=denied held=1.004s reply=554
//! ```
//!
//! (one line in reality). `files` lists `name:md5:level` separated by commas (`-` when the
//! message had none; the first [`MAX_FILES`], then `…(+N more)`); a name with characters
//! outside `[A-Za-z0-9._+-]` is written as a quoted string. Every value a peer chose (paths,
//! names, the dialogue) is escaped and cut to [`MAX_FIELD`] bytes ([`escape`]). The level is `unjudged` for a file released before its verdict (S1), and
//! carries `(unreachable)`, `(slow)` or `(unscannable)` when the outage policy or the
//! unscannable level set it rather than an analysis (S7, X3). `held` is `-` for a message
//! that was not held (release mode, S1).
//!
//! In JSON the same line is `{"time":…,"kind":"txn","client":"127.0.0.1","conn":3,"txn":1,
//! "from":"a@example.com","to":["b@example.net"],"files":[{"name":"eicar.com","md5":…,
//! "level":"high","source":"analysis"}],"action":"deny","result":"denied","held":1.004,
//! "reply":554}`: `held` in seconds or null, `reply` null when no reply went out, a file's
//! `level` null when it was released unjudged, and past [`MAX_FILES`] a last `{"more":N}`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aptsim_core::clock::Timestamp;
use aptsim_core::inspect::{FileOutcome, Source};
use aptsim_core::smtp::proxy::{Event, TxnLog};
use serde_json::{Value, json};

pub use super::log_format::TARGET;
use super::log_format::TwoForms;

/// Where log lines go, and how many.
#[derive(Debug, Clone)]
pub struct Log {
    /// Only the startup line and warnings.
    pub quiet: bool,
    /// Also the SMTP dialogue, both sides.
    pub verbose: bool,
    /// Wall-clock time of the proxy's `Timestamp::ZERO`.
    pub wall_start: SystemTime,
}

impl Log {
    /// Always written (startup, warnings, errors). A `warning` or `error` kind is a tracing
    /// event of that level; the others are INFO.
    pub fn always(&self, now: Timestamp, kind: &str, text: &str) {
        let time = self.time(now);
        let time = time.as_str();
        match kind {
            "error" => tracing::error!(target: TARGET, time, kind, message = text),
            "warning" => tracing::warn!(target: TARGET, time, kind, message = text),
            _ => tracing::info!(target: TARGET, time, kind, message = text),
        }
    }

    /// Written unless `--quiet`.
    pub fn info(&self, now: Timestamp, kind: &str, text: &str) {
        if !self.quiet {
            self.always(now, kind, text);
        }
    }

    /// The transaction line.
    pub fn txn(&self, now: Timestamp, conn: u64, client: IpAddr, t: &TxnLog) {
        if self.quiet {
            return;
        }
        let result = serde_json::to_value(t.result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{:?}", t.result));
        tracing::info!(
            target: TARGET,
            time = self.time(now).as_str(),
            kind = "txn",
            client = client.to_string().as_str(),
            conn,
            txn = t.txn,
            from = ?TwoForms::new(format!("<{}>", escape(&t.from)), escape(&t.from)),
            to = ?rcpts(&t.rcpts),
            files = ?files(&t.files),
            action = t.action.as_str(),
            result = result.as_str(),
            held = t.held.map(|d| tracing::field::debug(seconds(d))),
            reply = t.reply.as_ref().map(|r| u64::from(r.code)),
        );
    }

    /// `--verbose`: an event of a session (the dialogue); exposures (unless `--quiet`) and
    /// warnings (an XFORWARD refused) are always logged.
    pub fn event(&self, now: Timestamp, conn: u64, e: &Event) {
        let text = match e {
            Event::Exposure {
                txn,
                md5,
                level,
                window,
            } => {
                if !self.quiet {
                    tracing::info!(
                        target: TARGET,
                        time = self.time(now).as_str(),
                        kind = "exposure",
                        conn,
                        txn,
                        md5 = md5.to_hex().as_str(),
                        level = level.to_string().as_str(),
                        window = ?seconds(*window),
                        message = "(released unjudged, S1; judged later, X5)",
                    );
                }
                return;
            }
            Event::XforwardRefused(r) => {
                let text = format!(
                    "conn={conn} upstream refused XFORWARD: {}; the mail goes on without the \
                     client's identity",
                    escape(&r.to_string())
                );
                return self.always(now, "warning", &text);
            }
            _ if !self.verbose => return,
            Event::ClientCommand(line) => format!("conn={conn} client> {}", escape(line)),
            Event::ClientReply(r) => format!("conn={conn} client< {}", escape(&r.to_string())),
            Event::UpstreamCommand(line) => format!("conn={conn} upstream> {}", escape(line)),
            Event::UpstreamReply(r) => {
                format!("conn={conn} upstream< {}", escape(&r.to_string()))
            }
            Event::HoldStarted { txn } => format!("conn={conn} txn={txn} hold started (S2)"),
            Event::Decided { txn, outcome, .. } => format!(
                "conn={conn} txn={txn} decided action={} released={} fail_open={}",
                outcome.action, outcome.released, outcome.fail_open
            ),
            Event::BodySent { txn } => format!("conn={conn} txn={txn} body sent upstream"),
            Event::Quarantined { txn, message } => {
                format!(
                    "conn={conn} txn={txn} quarantined ({} bytes)",
                    message.len()
                )
            }
            Event::SiteBlocked { site, until } => {
                format!("conn={conn} site {} blocked until t+{until}", escape(site))
            }
            Event::ClientGone {
                txn,
                after_body_sent,
            } => format!(
                "conn={conn} client gone txn={} after_body_sent={after_body_sent}",
                txn.map_or("-".to_owned(), |t| t.to_string())
            ),
            Event::Transaction(_) => return,
        };
        self.always(now, "smtp", &text);
    }

    pub(crate) fn time(&self, now: Timestamp) -> String {
        let at = self.wall_start + Duration::from_millis(now.as_millis());
        utc_rfc3339(at)
    }
}

/// A duration: `1.004s` in text, `1.004` (seconds) in JSON.
pub(crate) fn seconds(d: Duration) -> TwoForms {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    TwoForms::new(secs(d), millis as f64 / 1000.0)
}

/// Recipients: `<a>,<b>` (`-` for none) in text, a list in JSON.
fn rcpts(rcpts: &[String]) -> TwoForms {
    let escaped: Vec<String> = rcpts.iter().map(|r| escape(r)).collect();
    let text = if escaped.is_empty() {
        "-".to_owned()
    } else {
        let bracketed: Vec<String> = escaped.iter().map(|r| format!("<{r}>")).collect();
        bracketed.join(",")
    };
    TwoForms::new(text, escaped)
}

/// Most files written into one transaction line; an archive of a thousand members would
/// otherwise make a line of tens of kilobytes.
pub const MAX_FILES: usize = 20;

/// The files: `name:md5:level,…` (`-` for none) in text, a list of objects in JSON.
pub(crate) fn files(files: &[FileOutcome]) -> TwoForms {
    if files.is_empty() {
        return TwoForms::new("-", Value::Array(Vec::new()));
    }
    let shown = files.iter().take(MAX_FILES);
    let mut items: Vec<String> = shown
        .clone()
        .map(|f| format!("{}:{}:{}", name(&f.name), f.md5.to_hex(), level(f)))
        .collect();
    let mut objects: Vec<Value> = shown
        .map(|f| {
            json!({
                "name": escape(&f.name),
                "md5": f.md5.to_hex(),
                "level": (f.source != Source::Released).then(|| f.level.to_string()),
                "source": serde_json::to_value(f.source).unwrap_or(Value::Null),
            })
        })
        .collect();
    if files.len() > MAX_FILES {
        items.push(format!("…(+{} more)", files.len() - MAX_FILES));
        objects.push(json!({ "more": files.len() - MAX_FILES }));
    }
    TwoForms::new(items.join(","), objects)
}

/// The level, or what stands in for it when the data center did not judge the file.
fn level(f: &FileOutcome) -> String {
    match f.source {
        Source::Cache | Source::Analysis => f.level.to_string(),
        Source::Released => "unjudged".to_owned(),
        Source::Unreachable => format!("{}(unreachable)", f.level),
        Source::Slow => format!("{}(slow)", f.level),
        Source::Unscannable => format!("{}(unscannable)", f.level),
    }
}

fn name(n: &str) -> String {
    let plain = !n.is_empty()
        && n.len() <= MAX_FIELD
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
    if plain {
        n.to_owned()
    } else {
        format!("\"{}\"", escape(n).replace('"', "\\\""))
    }
}

/// Longest peer-supplied value written whole into a log line, in bytes.
pub const MAX_FIELD: usize = 256;

/// A peer-supplied value made safe for a log line: control characters (C0, DEL, C1) and the
/// Unicode controls that reorder or hide text (bidi overrides and isolates, zero-width
/// marks) are written as `\u{…}` escapes, a backslash as `\\`, and a value longer than
/// [`MAX_FIELD`] bytes is cut there and followed by its length, so no sender can write into
/// an operator's terminal or make a log line of megabytes.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_FIELD) + 16);
    for (i, c) in value.char_indices() {
        if i >= MAX_FIELD {
            out.push_str(&format!("…[{} bytes]", value.len()));
            break;
        }
        let hidden = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || hidden => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// `1.234s`.
pub fn secs(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

/// `2025-06-01T12:00:05.123Z`, without a date library: days since 1970 to a civil date
/// (Howard Hinnant's `civil_from_days`).
pub fn utc_rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_format::LogFormat;
    use crate::log_format::tests::logged;
    use aptsim_core::digest::Md5;
    use aptsim_core::policy::Action;
    use aptsim_core::smtp::proxy::TxnResult;
    use aptsim_core::smtp::wire::reply::Reply;
    use aptsim_core::verdict::ThreatLevel;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(utc_rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // last second of 2025
        assert_eq!(utc_rfc3339(t), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn peer_values_cannot_write_into_the_terminal_or_flood_it() {
        assert_eq!(escape("a\x1b[31mb\x00"), "a\\u{1b}[31mb\\u{0}");
        assert_eq!(escape("r\u{202e}txt.exe"), "r\\u{202e}txt.exe");
        assert_eq!(escape("naïve\\x"), "naïve\\\\x");
        let long = "x".repeat(10_000);
        let cut = escape(&long);
        assert!(cut.len() < 300 && cut.ends_with("…[10000 bytes]"), "{cut}");
        assert_eq!(name("evil\nname.exe"), "\"evil\\u{a}name.exe\"");
        let many: Vec<FileOutcome> = (0..1_000)
            .map(|i| FileOutcome {
                file: i,
                md5: Md5::of(&i.to_le_bytes()),
                name: format!("member{i}.bin"),
                level: ThreatLevel::Clean,
                score: 0,
                threat: None,
                action: Action::Allow,
                source: Source::Analysis,
            })
            .collect();
        let listed = format!("{:?}", files(&many));
        assert!(listed.ends_with(",…(+980 more)"), "{listed}");
        assert!(listed.len() < 1_500, "{} bytes", listed.len());
    }

    #[test]
    fn transaction_line() {
        let md5 = Md5::of(b"x");
        let t = TxnLog {
            txn: 2,
            from: "a@x".into(),
            rcpts: vec!["b@y".into(), "c@y".into()],
            files: vec![FileOutcome {
                file: 0,
                md5,
                name: "my file.exe".into(),
                level: ThreatLevel::High,
                score: 70,
                threat: None,
                action: Action::Deny,
                source: Source::Analysis,
            }],
            action: Action::Deny,
            result: TxnResult::Denied,
            held: Some(Duration::from_millis(1_004)),
            reply: Some(Reply::new(554, "5.7.1 no")),
        };
        let ip: IpAddr = [127, 0, 0, 1].into();
        let log = Log {
            quiet: false,
            verbose: false,
            wall_start: UNIX_EPOCH,
        };
        let at = Timestamp::from_millis(5_123);
        let text = logged(LogFormat::Text, || log.txn(at, 7, ip, &t));
        assert_eq!(
            text,
            format!(
                "1970-01-01T00:00:05.123Z txn client=127.0.0.1 conn=7 txn=2 from=<a@x> \
                 to=<b@y>,<c@y> files=\"my file.exe\":{}:high action=deny result=denied \
                 held=1.004s reply=554\n",
                md5.to_hex()
            )
        );
        let json = logged(LogFormat::Json, || log.txn(at, 7, ip, &t));
        let v: Value = serde_json::from_str(&json).expect("one JSON object");
        assert_eq!(
            v,
            json!({
                "time": "1970-01-01T00:00:05.123Z", "kind": "txn", "client": "127.0.0.1",
                "conn": 7, "txn": 2, "from": "a@x", "to": ["b@y", "c@y"],
                "files": [{"name": "my file.exe", "md5": md5.to_hex(), "level": "high",
                           "source": "analysis"}],
                "action": "deny", "result": "denied", "held": 1.004, "reply": 554,
            })
        );
        // Not held, no reply, no recipients, a file released unjudged.
        let mut t = t;
        t.held = None;
        t.reply = None;
        t.rcpts.clear();
        t.files[0].source = Source::Released;
        let text = logged(LogFormat::Text, || log.txn(at, 7, ip, &t));
        assert!(
            text.ends_with(":unjudged action=deny result=denied held=- reply=-\n")
                && text.contains(" to=- "),
            "{text}"
        );
        let v: Value = serde_json::from_str(&logged(LogFormat::Json, || log.txn(at, 7, ip, &t)))
            .expect("JSON");
        assert_eq!(
            (&v["held"], &v["reply"], &v["to"]),
            (&Value::Null, &Value::Null, &json!([]))
        );
        assert_eq!(v["files"][0]["level"], Value::Null);
    }

    #[test]
    fn lines_given_as_text_keep_their_text_and_their_pairs_become_json_fields() {
        let log = Log {
            quiet: false,
            verbose: false,
            wall_start: UNIX_EPOCH,
        };
        let line = "conn=1 txn=1 md5=44d88612fea8a8f36de82e1278abb02f name=\"eicar.com\" upload";
        let text = logged(LogFormat::Text, || {
            log.info(Timestamp::ZERO, "submit", line)
        });
        assert_eq!(text, format!("1970-01-01T00:00:00.000Z submit {line}\n"));
        let json = logged(LogFormat::Json, || {
            log.info(Timestamp::ZERO, "submit", line)
        });
        let v: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(
            v,
            json!({"time": "1970-01-01T00:00:00.000Z", "kind": "submit", "conn": 1, "txn": 1,
                   "md5": "44d88612fea8a8f36de82e1278abb02f", "name": "eicar.com",
                   "msg": "upload"})
        );
        let quiet = Log { quiet: true, ..log };
        assert_eq!(
            logged(LogFormat::Text, || quiet.info(Timestamp::ZERO, "conn", "x")),
            ""
        );
        let warned = logged(LogFormat::Json, || {
            quiet.always(Timestamp::ZERO, "warning", "w")
        });
        assert!(warned.contains(r#""kind":"warning""#), "{warned}");
    }

    #[test]
    fn exposure_line() {
        let log = Log {
            quiet: false,
            verbose: false,
            wall_start: UNIX_EPOCH,
        };
        let md5 = Md5::of(b"x");
        let e = Event::Exposure {
            txn: 1,
            md5,
            level: ThreatLevel::High,
            window: Duration::from_millis(1_000),
        };
        let text = logged(LogFormat::Text, || log.event(Timestamp::ZERO, 3, &e));
        assert_eq!(
            text,
            format!(
                "1970-01-01T00:00:00.000Z exposure conn=3 txn=1 md5={} level=high \
                 window=1.000s (released unjudged, S1; judged later, X5)\n",
                md5.to_hex()
            )
        );
        let v: Value = serde_json::from_str(&logged(LogFormat::Json, || {
            log.event(Timestamp::ZERO, 3, &e)
        }))
        .expect("JSON");
        assert_eq!((&v["window"], &v["txn"]), (&json!(1.0), &json!(1)));
    }
}
