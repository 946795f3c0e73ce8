//! The compact text timeline of one message, for the terminal: `aptsim run` prints it under
//! a failure's reproduce line. One line per step that matters (queued, attempts, holds,
//! submissions, verdicts, decisions, deliveries, timeouts, retries, refusals, a hold's end),
//! with the faults of the run that overlap the message's life, each with its virtual time (`+10m02s`).

use crate::duration::offset;
use crate::group::Grouped;
use crate::story::Story;

/// Most steps printed: a message retried for days has hundreds; the first ones and the last
/// ones tell the story.
const MAX_STEPS: usize = 40;

/// The text timeline of `story`, every line indented by `indent`.
pub fn text(story: &Story, run: &Grouped, indent: &str) -> String {
    let mut rows: Vec<(u64, String, String)> = story
        .steps
        .iter()
        .filter(|s| s.kind != "keepalive")
        .map(|s| (s.t, actor(s.from.key()).to_owned(), s.text.clone()))
        .collect();
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => (story.queued_at, story.queued_at),
    };
    // A hold's start is a step; its end (decided, or the sender gone) is its span's.
    for h in story.spans.iter().filter(|s| s.kind == "hold") {
        rows.push((h.end, actor(h.lane.key()).to_owned(), h.text.clone()));
    }
    for f in &run.faults {
        if f.start <= last && f.end >= first {
            let end = if f.end > f.start {
                format!(" until {}", offset(f.end))
            } else {
                String::new()
            };
            let text = format!("fault {} ({}){end}", f.id, f.kind);
            rows.push((f.start, "faults".to_owned(), text));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut out = format!("{indent}timeline of {} ({}):\n", story.id, story.state());
    let skipped = rows.len().saturating_sub(MAX_STEPS);
    for (k, (t, who, what)) in rows.iter().enumerate() {
        if skipped > 0 && k == MAX_STEPS / 2 {
            out.push_str(&format!("{indent}  … {skipped} more steps …\n"));
        }
        if skipped > 0 && k >= MAX_STEPS / 2 && k < MAX_STEPS / 2 + skipped {
            continue;
        }
        out.push_str(&format!("{indent}  {:>10}  {who:<12} {what}\n", offset(*t)));
    }
    out
}

/// The lane's party as a short column.
fn actor(lane: &str) -> &str {
    match lane {
        "sender" => "sender",
        "proxy" => "smtp proxy",
        "dc" => "data center",
        "server" => "mail server",
        "imap_proxy" => "imap proxy",
        "imap_server" => "imap server",
        _ => "mail client",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::group;
    use crate::line::parse;

    #[test]
    fn the_sender_timeout_retry_reads_in_order() {
        let g = group(
            &parse(include_str!(
                "../tests/fixtures/s5-sender-timeout-retry.jsonl"
            ))
            .expect("parses"),
        );
        let out = text(&g.stories[0], &g, "  ");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  timeline of m1 (delivered):");
        assert_eq!(lines[1], "          +0ms  sender       queued");
        assert!(
            out.contains(
                "     +10m00s  sender       sender timeout waiting for DataDone (attempt 1)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("+20m00s  smtp proxy   decision: deliver (allow); a.pdf clean (cache)"),
            "{out}"
        );
        assert!(
            out.contains("+4m00s  data center  verdict clean after 4m00s: a.pdf"),
            "{out}"
        );
        assert!(
            out.contains("     +10m00s  smtp proxy   held 10m00s (sender gone)\n"),
            "{out}"
        );
        let delivered = lines
            .iter()
            .position(|l| l.ends_with("delivered"))
            .expect("delivered");
        let retry = lines
            .iter()
            .position(|l| l.contains("retry: attempt 2 at +20m00s"))
            .expect("retry");
        assert!(retry < delivered);
    }

    #[test]
    fn a_long_story_keeps_its_first_and_last_steps() {
        let mut lines = String::from(r#"{"t":0,"actor":"a","event":"queued","msg":"m1"}"#);
        for k in 1..=100u32 {
            lines.push_str(&format!(
                "\n{{\"t\":{},\"actor\":\"a\",\"event\":\"retry_scheduled\",\"msg\":\"m1\",\"attempt\":{k},\"at_ms\":0}}",
                k * 1000
            ));
        }
        let g = group(&parse(&lines).expect("parses"));
        let out = text(&g.stories[0], &g, "");
        assert!(out.contains("… 61 more steps …"), "{out}");
        assert!(out.contains("retry: attempt 100 "), "{out}");
        assert_eq!(out.lines().count(), 1 + MAX_STEPS + 1);
    }
}
