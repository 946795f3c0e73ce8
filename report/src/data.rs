//! The data a page embeds: per run, its summary, failures, faults, and one compact row per
//! message with its steps and spans as arrays (the page's script draws a message's swimlane
//! from them when asked, so thousands of messages cost no SVG up front). Only what the page
//! shows: no SMTP command lines, replies only when they refuse (4xx/5xx).

use serde_json::{Value, json};

use crate::run::Run;
use crate::story::Story;
use crate::summary::{Distribution, Summary};

/// One run's data, as the page's script reads it (`report/assets/report.js`).
pub fn run_data(run: &Run) -> Value {
    let s = Summary::of(&run.grouped);
    let g = &run.grouped;
    let outcome = run.outcome.as_ref();
    json!({
        "name": run.name,
        "seed": run.seed,
        "source": run.source,
        "checked": outcome.is_some(),
        "passed": outcome.map(|o| o.passed),
        "problems": outcome.map_or(&[][..], |o| &o.problems[..]),
        "reproduce": outcome.map(|o| o.reproduce.as_str()),
        "focus": run.focus().map(|m| m.id.as_str()),
        "end": g.end,
        "summary": summary(&s),
        "dist": {
            "hold": s.hold.samples,
            "exposure": s.exposure.samples,
            "delivery": s.delivery.samples,
        },
        "faults": g.faults.iter().map(|f| json!([f.start, f.end, f.id, f.kind])).collect::<Vec<_>>(),
        "msgs": g.stories.iter().map(message).collect::<Vec<_>>(),
    })
}

fn summary(s: &Summary) -> Value {
    let q = |d: &Distribution, q| d.quantile(q);
    json!({
        "messages": s.messages,
        "states": s.states,
        "attempts": s.attempts,
        "retries": s.retries,
        "sender_timeouts": s.sender_timeouts,
        "uploads": s.uploads,
        "lookups": s.lookups,
        "cache_decisions": s.cache_decisions,
        "refusals": s.refusals,
        "faults": s.faults,
        "holds": s.hold.samples.len(),
        "hold_p50": q(&s.hold, 0.5),
        "hold_p95": q(&s.hold, 0.95),
        "hold_max": q(&s.hold, 1.0),
        "exposures": s.exposure.samples.len(),
        "exposure_max": q(&s.exposure, 1.0),
        "delivery_p50": q(&s.delivery, 0.5),
        "delivery_p95": q(&s.delivery, 0.95),
        "delivery_max": q(&s.delivery, 1.0),
    })
}

/// A message's row: `[id, state, attempts, uploads, hold_ms, exposure_ms, delivery_ms,
/// timeouts, cache decisions, steps, spans]`; a step is `[t, kind, from, to, text]`, a span
/// `[start, end, lane, kind, text]`.
fn message(m: &Story) -> Value {
    let steps: Vec<Value> = m
        .steps
        .iter()
        .map(|s| json!([s.t, s.kind, s.from.key(), s.to.map(|l| l.key()), s.text]))
        .collect();
    let spans: Vec<Value> = m
        .spans
        .iter()
        .map(|s| json!([s.start, s.end, s.lane.key(), s.kind, s.text]))
        .collect();
    json!([
        m.id,
        m.state(),
        m.attempts(),
        m.uploads(),
        m.hold_ms(),
        m.exposure_ms(),
        m.delivery_ms(),
        m.count("timeout"),
        m.count("cache_decision"),
        steps,
        spans
    ])
}

/// JSON to put inside `<script type="application/json">`: no `<` at all, so no `</script>`
/// or `<!--` in a message id or a reply's text can end the element early.
pub fn script_safe(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_what_the_table_and_swimlane_need() {
        let text = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");
        let run = Run::from_jsonl("s5", Some(1), "s5.toml", None, text).expect("parses");
        let d = run_data(&run);
        let m1 = &d["msgs"][0];
        assert_eq!(m1[0], "m1");
        assert_eq!(m1[1], "delivered");
        assert_eq!((m1[2].as_u64(), m1[3].as_u64()), (Some(2), Some(3)));
        assert_eq!(m1[8], 1, "one decision from the cache");
        assert_eq!(m1[9][0], json!([0, "queued", "sender", null, "queued"]));
        assert_eq!(d["checked"], false);
        assert!(!d.to_string().contains("EHLO"), "no SMTP command lines");
    }

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let v = json!({"id": "</script><script>alert(1)</script>"});
        let s = script_safe(&v);
        assert!(!s.contains('<'));
        assert_eq!(serde_json::from_str::<Value>(&s).ok(), Some(v));
    }
}
