//! Checks a scenario's expectations against the trace of a run.

use std::collections::BTreeSet;
use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::inspect::Source;
use aptsim_core::policy::Action;
use aptsim_simulator::metrics::Metrics;
use aptsim_simulator::trace::{Record, TraceLine};

use crate::build::BuiltMessage;
use crate::format::{Expectation, Totals, VerdictsFrom};

/// The final state of one message, from the trace.
pub fn final_state(trace: &[TraceLine], msg: &str) -> &'static str {
    let mut state = "in_flight";
    for l in trace {
        match &l.record {
            Record::Delivered { msg: m, .. } if m == msg => return "delivered",
            Record::Quarantined { msg: m } if m == msg => state = "quarantined",
            Record::Bounced { msg: m, reason } if m == msg => {
                state = if reason.starts_with("queue lifetime") {
                    "expired"
                } else {
                    "denied"
                };
            }
            _ => {}
        }
    }
    state
}

/// Every expectation that failed, as a sentence.
pub fn check(
    trace: &[TraceLine],
    metrics: &Metrics,
    messages: &[BuiltMessage],
    expectations: &[Expectation],
    totals: &Totals,
) -> Vec<String> {
    let mut failures = Vec::new();
    for e in expectations {
        let msg = e.message.as_str();
        let mut fail = |what: &str, want: String, got: String| {
            failures.push(format!("{msg}: expected {what} {want}, got {got}"));
        };
        if let Some(want) = &e.state {
            let got = final_state(trace, msg);
            if got != want {
                fail("state", want.clone(), got.to_owned());
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
            let got = conns.len() as u32;
            if got != want {
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
            let got = trace
                .iter()
                .filter(|l| matches!(&l.record, Record::Submission { conn, upload: true, .. } if conns.contains(conn)))
                .count();
            if got != want {
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
    }
    let mut total = |what: &str, want: Option<usize>, got: usize| {
        if let Some(want) = want
            && want != got
        {
            failures.push(format!("totals: expected {what} {want}, got {got}"));
        }
    };
    let delivered: BTreeSet<&str> = trace
        .iter()
        .filter_map(|l| match &l.record {
            Record::Delivered { msg, .. } => Some(msg.as_str()),
            _ => None,
        })
        .collect();
    total("delivered", totals.delivered, delivered.len());
    total("uploads", totals.uploads, metrics.uploads);
    total("exposures", totals.exposures, metrics.exposure_ms.count);
    total("holds", totals.holds, metrics.hold_ms.count);
    total(
        "sender timeouts",
        totals.sender_timeouts,
        metrics.sender_timeouts,
    );
    total(
        "ambiguous timeouts",
        totals.ambiguous_timeouts,
        metrics.ambiguous_timeouts,
    );
    total("duplicates", totals.duplicates, metrics.duplicates);
    let longest = Duration::from_millis(metrics.exposure_ms.max);
    if let Some(max) = totals.max_exposure_window
        && longest > max
    {
        failures.push(format!(
            "totals: expected exposure windows at most {}, got {}",
            show(Some(max)),
            show(Some(longest))
        ));
    }
    if let Some(min) = totals.min_exposure_window
        && longest < min
    {
        failures.push(format!(
            "totals: expected an exposure window of at least {}, got {}",
            show(Some(min)),
            show(Some(longest))
        ));
    }
    failures
}

fn show(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
        None => "never".to_owned(),
    }
}
