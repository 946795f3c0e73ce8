//! One run as the report shows it: its name and seed, what was checked (when it comes from
//! `aptsim run`), and its trace grouped by message.

use crate::focus;
use crate::group::{Grouped, group};
use crate::line::{ParseError, parse};
use crate::story::Story;
use crate::timeline;

/// What `aptsim run` concluded about a run; a trace file alone carries none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every expectation and invariant held.
    pub passed: bool,
    /// What failed, one line each (`expectation: …`, `invariant N1: …`, `panic: …`).
    pub problems: Vec<String>,
    /// The command that reruns it alone (`aptsim run FILE --seed S`).
    pub reproduce: String,
}

/// A run: who it is and its trace, grouped.
#[derive(Debug, Clone)]
pub struct Run {
    /// The scenario's name (or the trace file's).
    pub name: String,
    /// The seed, when known.
    pub seed: Option<u64>,
    /// Where it came from: the scenario file, or the trace file.
    pub source: String,
    /// What was checked; none for a trace file.
    pub outcome: Option<Outcome>,
    /// The trace, by message.
    pub grouped: Grouped,
}

impl Run {
    /// A run from its trace's JSON Lines text.
    pub fn from_jsonl(
        name: &str,
        seed: Option<u64>,
        source: &str,
        outcome: Option<Outcome>,
        jsonl: &str,
    ) -> Result<Self, ParseError> {
        Ok(Run {
            name: name.to_owned(),
            seed,
            source: source.to_owned(),
            outcome,
            grouped: group(&parse(jsonl)?),
        })
    }

    /// False only when checked and failed.
    pub fn failed(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| !o.passed)
    }

    /// The message the failure is about (see [`focus`]); none for a run that passed.
    pub fn focus(&self) -> Option<&Story> {
        let o = self.outcome.as_ref().filter(|o| !o.passed)?;
        focus::failing(&self.grouped, &o.problems)
    }

    /// The text timeline of the failing message, indented for a failure's lines.
    pub fn failing_timeline(&self) -> Option<String> {
        self.focus().map(|s| timeline::text(s, &self.grouped, "  "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_points_at_the_message_its_problem_names() {
        let text = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");
        let failed = Outcome {
            passed: false,
            problems: vec!["expectation: m1: expected attempts 1, got 2".into()],
            reproduce: "aptsim run s5.toml --seed 1".into(),
        };
        let run =
            Run::from_jsonl("s5", Some(1), "s5.toml", Some(failed.clone()), text).expect("parses");
        assert!(run.failed());
        let tl = run.failing_timeline().expect("a timeline");
        assert!(tl.starts_with("  timeline of m1 (delivered):\n"), "{tl}");
        let passed = Outcome {
            passed: true,
            ..failed
        };
        let run = Run::from_jsonl("s5", Some(1), "s5.toml", Some(passed), text).expect("parses");
        assert!(run.failing_timeline().is_none());
        assert!(Run::from_jsonl("x", None, "x", None, "nope").is_err());
    }
}
