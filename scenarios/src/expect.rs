//! Checks a scenario's per-message expectations against the trace of a run; the totals are
//! [`crate::totals`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::inspect::Source;
use aptsim_core::policy::Action;
use aptsim_simulator::trace::{Record, TraceLine};

use crate::build::BuiltMessage;
use crate::format::{Expectation, VerdictsFrom};

/// The final state of one message, from the trace.
pub fn final_state(trace: &[TraceLine], msg: &str) -> &'static str {
    final_state_at(trace, msg).0
}

/// The final state of one message and when it was reached; `in_flight` has no time.
pub fn final_state_at(trace: &[TraceLine], msg: &str) -> (&'static str, Option<Duration>) {
    let mut state = ("in_flight", None);
    for l in trace {
        let at = Some(Duration::from_millis(l.t));
        match &l.record {
            Record::Delivered { msg: m, .. } if m == msg => return ("delivered", at),
            Record::Quarantined { msg: m } if m == msg => state = ("quarantined", at),
            Record::Bounced { msg: m, reason } if m == msg => {
                let kind = if reason.starts_with("queue lifetime") {
                    "expired"
                } else {
                    "denied"
                };
                state = (kind, at);
            }
            _ => {}
        }
    }
    state
}

/// Every per-message expectation that failed, as a sentence.
pub fn check(
    trace: &[TraceLine],
    messages: &[BuiltMessage],
    expectations: &[Expectation],
) -> Vec<String> {
    let mut failures = Vec::new();
    for e in expectations {
        let msg = e.message.as_str();
        let mut fail = |what: &str, want: String, got: String| {
            failures.push(format!("{msg}: expected {what} {want}, got {got}"));
        };
        let (state, decided_at) = final_state_at(trace, msg);
        if let Some(want) = &e.state
            && state != want
        {
            fail("state", want.clone(), state.to_owned());
        }
        // For every final state, not only deliveries: when the message stopped moving.
        if let Some(after) = e.decided_after {
            match decided_at {
                Some(at) if at >= after => {}
                other => fail(
                    "a final state at or after",
                    show(Some(after)),
                    decided(state, other),
                ),
            }
        }
        if let Some(before) = e.decided_before {
            match decided_at {
                Some(at) if at <= before => {}
                other => fail(
                    "a final state at or before",
                    show(Some(before)),
                    decided(state, other),
                ),
            }
        }
        if let Some(want) = e.sender_timeouts {
            let got = trace
                .iter()
                .filter(|l| matches!(&l.record, Record::SenderTimeout { msg: m, .. } if m == msg))
                .count() as u64;
            if !want.contains(got) {
                fail("sender timeouts", want.to_string(), got.to_string());
            }
        }
        let conns: BTreeSet<u64> = trace
            .iter()
            .filter_map(|l| match &l.record {
                Record::AttemptStarted { msg: m, conn, .. } if m == msg => Some(*conn),
                _ => None,
            })
            .collect();
        if let Some(want) = e.attempts {
            let got = conns.len() as u64;
            if !want.contains(got) {
                fail("attempts", want.to_string(), got.to_string());
            }
        }
        let delivered_at = trace.iter().find_map(|l| match &l.record {
            Record::Delivered { msg: m, .. } if m == msg => Some(Duration::from_millis(l.t)),
            _ => None,
        });
        if let Some(after) = e.delivered_after {
            match delivered_at {
                Some(at) if at >= after => {}
                other => fail("delivery at or after", show(Some(after)), show(other)),
            }
        }
        if let Some(before) = e.delivered_before {
            match delivered_at {
                Some(at) if at <= before => {}
                other => fail("delivery at or before", show(Some(before)), show(other)),
            }
        }
        if let Some(want) = e.uploads {
            let got = uploads_on(trace, &conns) as u64;
            if !want.contains(got) {
                fail("uploads", want.to_string(), got.to_string());
            }
        }
        let decision = trace.iter().rev().find_map(|l| match &l.record {
            Record::Decision {
                msg: m,
                action,
                files,
                ..
            } if m == msg => Some((action, files)),
            _ => None,
        });
        if let Some(want) = e.action {
            let got = decision.map(|(a, _)| *a);
            if got != Some(want) {
                fail(
                    "action",
                    want.as_str().to_owned(),
                    got.map_or("no decision", Action::as_str).to_owned(),
                );
            }
        }
        if let Some(want) = e.verdicts_from {
            let got = match decision {
                None => "no decision",
                Some((_, files)) if files.iter().any(|f| f.source == Source::Analysis) => {
                    VerdictsFrom::Analysis.as_str()
                }
                Some((_, files))
                    if !files.is_empty() && files.iter().all(|f| f.source == Source::Cache) =>
                {
                    VerdictsFrom::Cache.as_str()
                }
                Some(_) => "other",
            };
            if got != want.as_str() {
                fail("verdicts from", want.as_str().to_owned(), got.to_owned());
            }
        }
        if let Some(want) = e.attachments_intact {
            let sent: Option<Vec<String>> = messages
                .iter()
                .find(|m| m.id == msg)
                .map(|m| m.files.iter().map(Md5::to_hex).collect());
            let got = trace.iter().find_map(|l| match &l.record {
                Record::Delivered { msg: m, files, .. } if m == msg => {
                    Some(Some(files.clone()) == sent)
                }
                _ => None,
            });
            if got != Some(want) {
                fail(
                    "attachments intact",
                    want.to_string(),
                    got.map_or("not delivered".to_owned(), |g| g.to_string()),
                );
            }
        }
        failures.extend(crate::imap_expect::check(trace, messages, e));
    }
    failures
}

/// A final state and its time, for a failure: `denied at 12.0 s`, or `in_flight`.
fn decided(state: &str, at: Option<Duration>) -> String {
    match at {
        Some(at) => format!("{state} at {}", show(Some(at))),
        None => state.to_owned(),
    }
}

/// A time for a failure: `14.0 s`, or `never`.
pub(crate) fn show(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
        None => "never".to_owned(),
    }
}

/// Uploads made on `conns`: requests for a file that went to analysis, not those the data
/// center answered at once from what it knew (`lookup`) or refused (`unreachable`), as the
/// run's `uploads` metric counts them. The data center answers those two at once and in
/// order, so each goes to the earliest request for its MD5 still unanswered.
fn uploads_on(trace: &[TraceLine], conns: &BTreeSet<u64>) -> usize {
    let mut waiting: BTreeMap<&str, VecDeque<bool>> = BTreeMap::new();
    let mut uploads = 0;
    for l in trace {
        match &l.record {
            Record::Submission {
                conn,
                md5,
                upload: true,
                ..
            } => {
                let ours = conns.contains(conn);
                uploads += usize::from(ours);
                waiting.entry(md5).or_default().push_back(ours);
            }
            Record::Lookup { md5, .. } | Record::Unreachable { md5 } => {
                let ours = waiting.get_mut(md5.as_str()).and_then(VecDeque::pop_front);
                uploads -= usize::from(ours == Some(true));
            }
            // Analysed: a verdict, or an analysis the data center lost in an outage.
            Record::Verdict { md5, .. } | Record::AnalysisLost { md5 } => {
                waiting.get_mut(md5.as_str()).map(VecDeque::pop_front);
            }
            _ => {}
        }
    }
    uploads
}
