//! The two forms of the live proxy's log (`--log-format text|json`), as formatters of
//! tracing-subscriber's fmt layer. [`super::log::Log`] emits every line as a `tracing`
//! event with typed fields; this module writes them.
//!
//! An event of the log has, in this order: `time` (already rendered, so that the line's
//! time is the coordinator's clock), `kind` (`txn`, `submit`, `verdict`, `exposure`,
//! `conn`, `smtp`, `warning`, …), its own fields, and maybe a `message` (free text).
//!
//! - **text** (the default, and byte for byte the lines of before): `TIME KIND name=value …
//!   message`. A declared field without a value is written `-`.
//! - **json**: one object per line, `{"time":…,"kind":…, the same fields, "msg":…}`, with
//!   numbers as numbers, booleans as booleans, and `null` for a field without a value. The
//!   words of a message that begin it as `name=value` (the lines the coordinator writes as
//!   text: `conn=3 client=127.0.0.1 connected`) become fields of their own, typed the same
//!   way (digits are a number, `-` is null, a `"…"` value is unquoted), and the rest is
//!   `msg`.
//!
//! A field whose value has two forms — a list of files, a duration, an address in angle
//! brackets — is recorded as a `Debug` value whose plain form (`{:?}`) is the text and whose
//! alternate form (`{:#?}`) is its JSON ([`TwoForms`]); any other value is one string in
//! both forms. Events of other crates (none log today) are written only at WARN and above.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::SystemTime;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

use super::log::utc_rfc3339;

/// The target of every event of the proxy's log.
pub const TARGET: &str = "aptsim";

/// Which form log lines take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `TIME KIND name=value … message`, for people, grep and awk.
    #[default]
    Text,
    /// One JSON object per line with the same fields, for log collectors and jq.
    Json,
}

impl LogFormat {
    /// The name, as the flag takes it.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?} (text or json)")),
        }
    }
}

/// A subscriber that writes the log in `format` to what `writer` makes (standard error in
/// the proxy, a buffer in tests). Write errors are ignored: the proxy goes on without its
/// log rather than dying with it (a closed pipe on standard error).
pub fn subscriber<W>(format: LogFormat, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .event_format(Formatter(format))
        .with_writer(writer)
        .log_internal_errors(false);
    tracing_subscriber::registry().with(layer)
}

/// Makes the log in `format`, on standard error, the process's log.
pub fn install(format: LogFormat) -> Result<(), String> {
    tracing::subscriber::set_global_default(subscriber(format, std::io::stderr))
        .map_err(|e| format!("setting up the log: {e}"))
}

/// A value whose text and JSON forms differ: `{:?}` writes the text, `{:#?}` the JSON.
/// Record it as `field = ?TwoForms::new(text, json)`.
pub struct TwoForms {
    text: String,
    json: Value,
}

impl TwoForms {
    /// The two forms of one value.
    pub fn new(text: impl Into<String>, json: impl Into<Value>) -> Self {
        TwoForms {
            text: text.into(),
            json: json.into(),
        }
    }
}

impl fmt::Debug for TwoForms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{}", self.json)
        } else {
            f.write_str(&self.text)
        }
    }
}

/// One field's value as recorded.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Json(Value),
    /// Text and JSON forms that differ ([`TwoForms`]).
    Two(String, Value),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Json(Value::String(s)) => s.clone(),
            Val::Json(v) => v.to_string(),
            Val::Two(text, _) => text.clone(),
        }
    }

    fn json(&self) -> &Value {
        match self {
            Val::Json(v) | Val::Two(_, v) => v,
        }
    }
}

/// What one event says, in the order its fields were declared.
#[derive(Debug, Default)]
struct Line {
    time: Option<String>,
    kind: Option<String>,
    message: Option<String>,
    fields: Vec<(&'static str, Option<Val>)>,
}

impl Line {
    fn of(event: &Event<'_>) -> Line {
        let mut recorded = Recorder::default();
        event.record(&mut recorded);
        let mut line = Line::default();
        for field in event.metadata().fields() {
            let value = recorded
                .values
                .iter()
                .position(|(n, _)| *n == field.name())
                .map(|i| recorded.values.swap_remove(i).1);
            match (field.name(), value) {
                ("time", v) => line.time = v.map(|v| v.text()),
                ("kind", v) => line.kind = v.map(|v| v.text()),
                ("message", v) => line.message = v.map(|v| v.text()),
                (name, v) => line.fields.push((name, v)),
            }
        }
        line
    }

    fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(self.time.as_deref().unwrap_or_default());
        out.push(' ');
        out.push_str(self.kind.as_deref().unwrap_or_default());
        for (name, v) in &self.fields {
            let value = v.as_ref().map_or_else(|| "-".to_owned(), Val::text);
            let _ = write!(out, " {name}={value}");
        }
        if let Some(m) = &self.message {
            out.push(' ');
            out.push_str(m);
        }
        out.push('\n');
        out
    }

    fn json(&self) -> String {
        // Written in the event's order (time, kind, its fields, the message's), which a
        // `serde_json::Map` would sort.
        let mut obj: Vec<(String, Value)> = vec![
            ("time".into(), self.time.clone().into()),
            ("kind".into(), self.kind.clone().into()),
        ];
        for (name, v) in &self.fields {
            let value = v.as_ref().map_or(Value::Null, |v| v.json().clone());
            obj.push(((*name).into(), value));
        }
        if let Some(m) = &self.message {
            let (pairs, rest) = split_message(m);
            for (name, value) in pairs {
                if !obj.iter().any(|(n, _)| *n == name) {
                    obj.push((name, value));
                }
            }
            if !rest.is_empty() {
                obj.push(("msg".into(), rest.into()));
            }
        }
        let mut out = String::from("{");
        for (i, (name, value)) in obj.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:{value}", Value::String(name.clone()));
        }
        out.push_str("}\n");
        out
    }
}

/// Collects an event's recorded values by field name.
#[derive(Default)]
struct Recorder {
    values: Vec<(&'static str, Val)>,
}

impl Visit for Recorder {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.push((field.name(), Val::Json(value.into())));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.name(), Val::Json(value.into())));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.push((field.name(), Val::Json(value.into())));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.name(), Val::Json(value.into())));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.values.push((field.name(), Val::Json(value.into())));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let plain = format!("{value:?}");
        let alternate = format!("{value:#?}");
        // Only a value whose two forms differ, and whose alternate is JSON, is recorded as
        // two forms: a derived Debug pretty-prints differently but is no JSON, and a
        // Display value (`%x`) has one form, however JSON-like its text.
        let val = match serde_json::from_str::<Value>(&alternate) {
            Ok(json) if plain != alternate && field.name() != "message" => Val::Two(plain, json),
            _ => Val::Json(Value::String(plain)),
        };
        self.values.push((field.name(), val));
    }
}

/// The words of `message` that begin it as `name=value`, typed, and the rest.
fn split_message(message: &str) -> (Vec<(String, Value)>, &str) {
    let mut pairs = Vec::new();
    let mut rest = message;
    while let Some((pair, after)) = leading_pair(rest) {
        pairs.push(pair);
        rest = after.trim_start_matches(' ');
    }
    (pairs, rest)
}

/// `name=value` at the start of `s`, and what follows it; `None` if `s` does not start so.
fn leading_pair(s: &str) -> Option<((String, Value), &str)> {
    let eq = s.find('=')?;
    let name = &s[..eq];
    let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return None;
    }
    let after = &s[eq + 1..];
    if let Some(quoted) = after.strip_prefix('"') {
        // A quoted value ends at the first `"` not escaped by a backslash; inside, `\"` and
        // `\\` stand for themselves (the log's own escapes, `\u{…}`, stay as written).
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        value.push('\\');
                        value.push(e);
                    }
                    None => return None,
                },
                '"' => {
                    let rest = &quoted[i + 1..];
                    let ends = rest.is_empty() || rest.starts_with(' ');
                    return ends.then(|| ((name.to_owned(), Value::String(value)), rest));
                }
                c => value.push(c),
            }
        }
        return None;
    }
    let end = after.find(' ').unwrap_or(after.len());
    let word = &after[..end];
    Some(((name.to_owned(), typed(word)), &after[end..]))
}

/// A bare word's JSON: a whole number (no sign, no leading zero, within u64), null for `-`,
/// a string otherwise (an MD5 of digits only is 32 digits long, past u64: a string).
fn typed(word: &str) -> Value {
    let number = !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_digit())
        && (word == "0" || !word.starts_with('0'));
    match word.parse::<u64>() {
        Ok(n) if number => n.into(),
        _ if word == "-" => Value::Null,
        _ => Value::String(word.to_owned()),
    }
}

/// Writes one event in one form.
struct Formatter(LogFormat);

impl<S, N> FormatEvent<S, N> for Formatter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Line::of(event);
        if meta.target() != TARGET || line.kind.is_none() {
            // Another crate's event: only warnings and errors, with the time of writing.
            let kind = match *meta.level() {
                Level::ERROR => "error",
                Level::WARN => "warning",
                _ => return Ok(()),
            };
            line.kind = Some(kind.to_owned());
            line.time = Some(utc_rfc3339(SystemTime::now()));
        }
        let text = match self.0 {
            LogFormat::Text => line.text(),
            LogFormat::Json => line.json(),
        };
        writer.write_str(&text)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    pub(crate) struct Buffer(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("test buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What `f` logs in `format`.
    pub(crate) fn logged(format: LogFormat, f: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let make = {
            let buf = buf.clone();
            move || buf.clone()
        };
        tracing::subscriber::with_default(subscriber(format, make), f);
        let bytes = buf.0.lock().expect("test buffer").clone();
        String::from_utf8(bytes).expect("the log is UTF-8")
    }

    fn event() {
        let held: Option<tracing::field::DebugValue<TwoForms>> = None;
        tracing::info!(
            target: TARGET,
            time = "T",
            kind = "demo",
            n = 7u64,
            neg = -2i64,
            ok = true,
            name = "a b",
            pair = ?TwoForms::new("<x@y>", "x@y"),
            held,
            message = "conn=3 name=\"q \\\" \\\\ r\" n=9 z=- then words=here"
        );
    }

    #[test]
    fn text_is_name_value_pairs_then_the_message() {
        assert_eq!(
            logged(LogFormat::Text, event),
            "T demo n=7 neg=-2 ok=true name=a b pair=<x@y> held=- \
             conn=3 name=\"q \\\" \\\\ r\" n=9 z=- then words=here\n"
        );
    }

    #[test]
    fn json_has_the_same_fields_typed() {
        let out = logged(LogFormat::Json, event);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.starts_with(r#"{"time":"T","kind":"demo","n":7,"#),
            "{out}"
        );
        let v: Value = serde_json::from_str(&out).expect("one JSON object");
        // `n` and `name` from the message do not replace the event's own fields.
        let expected = serde_json::json!({
            "time": "T", "kind": "demo", "n": 7, "neg": -2, "ok": true, "name": "a b",
            "pair": "x@y", "held": null, "conn": 3, "z": null,
            "msg": "then words=here",
        });
        assert_eq!(v, expected, "{out}");
        let (pairs, _) = split_message("name=\"q \\\" \\\\ r\" n=9");
        assert_eq!(pairs[0].1, Value::from("q \" \\ r"));
    }

    #[test]
    fn message_pairs_are_typed_and_stop_at_the_first_plain_word() {
        let (pairs, rest) = split_message("upstream=3 cannot reach x=1");
        assert_eq!(pairs, vec![("upstream".to_owned(), Value::from(3))]);
        assert_eq!(rest, "cannot reach x=1");
        let (pairs, rest) = split_message("md5=00112233445566778899001122334455 score=070 t=");
        assert_eq!(
            pairs,
            vec![
                ("md5".to_owned(), "00112233445566778899001122334455".into()),
                ("score".to_owned(), "070".into()),
                ("t".to_owned(), "".into()),
            ]
        );
        assert_eq!(rest, "");
        let (pairs, rest) = split_message("name=\"unterminated rest");
        assert!(pairs.is_empty());
        assert_eq!(rest, "name=\"unterminated rest");
        let (pairs, _) = split_message("1x=2 a=18446744073709551616");
        assert!(pairs.is_empty(), "a name starts with a letter");
        let (pairs, _) = split_message("a=18446744073709551616");
        assert_eq!(pairs[0].1, Value::from("18446744073709551616"));
    }

    #[test]
    fn other_crates_events_only_from_warnings_up() {
        let out = logged(LogFormat::Text, || {
            tracing::info!(target: "hyper", "chatter");
            tracing::warn!(target: "hyper", "trouble");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.trim_end().ends_with(" warning trouble"), "{out}");
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(LogFormat::default().name(), "text");
        assert!(
            "xml"
                .parse::<LogFormat>()
                .expect_err("not a format")
                .contains("text or json")
        );
    }
}
