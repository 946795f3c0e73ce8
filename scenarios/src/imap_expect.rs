//! The IMAP expectations of a message (`imap`, `fetch_attempts`, `fetched_after`,
//! `fetched_before`, `imap_verdicts_from`), checked against the trace: what the client
//! holds (its `imap_fetched` records, with the files in the bytes it received), and the IMAP
//! proxy's decisions.

use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::inspect::Source;
use aptsim_simulator::trace::{Record, TraceLine};

use crate::build::BuiltMessage;
use crate::expect::show;
use crate::format::{Expectation, VerdictsFrom};
use crate::imap_format::ImapState;

/// Each record of message `msg` that the client named (or any client) got, with its time:
/// matched by the message's id, or by the UID it was stored under.
fn seen<'t>(trace: &'t [TraceLine], msg: &str, client: Option<&str>) -> Vec<(u64, &'t Record)> {
    let uid = trace.iter().find_map(|l| match &l.record {
        Record::MailboxStored { msg: m, uid, .. } if m == msg => Some(*uid),
        _ => None,
    });
    trace
        .iter()
        .filter(|l| match &l.record {
            Record::ImapFetched {
                client: c,
                uid: u,
                seq,
                msg: m,
                ..
            } => {
                client.is_none_or(|want| want == c)
                    && (m == msg || uid.is_some() && (*u == uid || *seq == uid))
            }
            _ => false,
        })
        .map(|l| (l.t, &l.record))
        .collect()
}

/// The IMAP proxy's last decision on the message (not one made after its client left).
fn last_decision<'t>(trace: &'t [TraceLine], msg: &str) -> Option<&'t Record> {
    trace.iter().rev().find_map(|l| match &l.record {
        r @ Record::ImapDecision { msg: m, result, .. }
            if m == msg
                && !matches!(
                    result,
                    MessageResult::Abandoned | MessageResult::PartsServed
                ) =>
        {
            Some(r)
        }
        _ => None,
    })
}

/// Every failed IMAP expectation of `e`, as a sentence.
pub fn check(trace: &[TraceLine], messages: &[BuiltMessage], e: &Expectation) -> Vec<String> {
    let msg = e.message.as_str();
    let mut failures = Vec::new();
    let mut fail = |what: &str, want: String, got: String| {
        failures.push(format!("{msg}: expected {what} {want}, got {got}"));
    };
    let fetches = seen(trace, msg, e.client.as_deref());
    let decision = last_decision(trace, msg);
    if let Some(want) = e.imap {
        let sent: Vec<String> = messages
            .iter()
            .find(|m| m.id == msg)
            .map(|m| m.files.iter().map(Md5::to_hex).collect())
            .unwrap_or_default();
        let got = match fetches.last() {
            None => ImapState::NotFetched,
            Some((_, Record::ImapFetched { files, .. })) if *files == sent && !sent.is_empty() => {
                ImapState::Fetched
            }
            Some(_) => match decision {
                Some(Record::ImapDecision {
                    result: MessageResult::Notice,
                    ..
                }) => ImapState::ReplacedByNotice,
                Some(Record::ImapDecision {
                    result: MessageResult::Rewritten,
                    ..
                }) => ImapState::FetchedRewritten,
                _ => ImapState::Fetched,
            },
        };
        if got != want {
            fail("imap", want.as_str().to_owned(), got.as_str().to_owned());
        }
    }
    if let Some(want) = e.fetch_attempts {
        let got = fetches.last().map_or(0, |(_, r)| match r {
            Record::ImapFetched { attempts, .. } => u64::from(*attempts),
            _ => 0,
        });
        if !want.contains(got) {
            fail("fetch attempts", want.to_string(), got.to_string());
        }
    }
    let first = fetches.first().map(|(t, _)| Duration::from_millis(*t));
    if let Some(after) = e.fetched_after {
        match first {
            Some(at) if at >= after => {}
            other => fail("a fetch at or after", show(Some(after)), show(other)),
        }
    }
    if let Some(before) = e.fetched_before {
        match first {
            Some(at) if at <= before => {}
            other => fail("a fetch at or before", show(Some(before)), show(other)),
        }
    }
    // The message's attachment parts the client got (K-9), by the UID it was stored under.
    let uid = trace.iter().find_map(|l| match &l.record {
        Record::MailboxStored { msg: m, uid, .. } if m == msg => Some(*uid),
        _ => None,
    });
    let part_at = trace.iter().find_map(|l| match &l.record {
        Record::ImapPartFetched { client, uid: u, .. }
            if Some(*u) == uid && e.client.as_deref().is_none_or(|c| c == client) =>
        {
            Some(Duration::from_millis(l.t))
        }
        _ => None,
    });
    if let Some(after) = e.part_fetched_after {
        match part_at {
            Some(at) if at >= after => {}
            other => fail(
                "an attachment part at or after",
                show(Some(after)),
                show(other),
            ),
        }
    }
    if let Some(before) = e.part_fetched_before {
        match part_at {
            Some(at) if at <= before => {}
            other => fail(
                "an attachment part at or before",
                show(Some(before)),
                show(other),
            ),
        }
    }
    if let Some(want) = e.imap_verdicts_from {
        let got = match decision {
            Some(Record::ImapDecision { files, .. })
                if files.iter().any(|f| f.source == Source::Analysis) =>
            {
                VerdictsFrom::Analysis.as_str()
            }
            Some(Record::ImapDecision { files, .. })
                if !files.is_empty() && files.iter().all(|f| f.source == Source::Cache) =>
            {
                VerdictsFrom::Cache.as_str()
            }
            Some(_) => "other",
            None => "no IMAP decision",
        };
        if got != want.as_str() {
            fail(
                "IMAP verdicts from",
                want.as_str().to_owned(),
                got.to_owned(),
            );
        }
    }
    failures
}
