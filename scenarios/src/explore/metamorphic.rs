//! Metamorphic properties beyond X1 (no oracle: a world is compared with a changed copy of
//! itself):
//!
//! - **Cache flush** ([`flush_keeps_actions`]): the world with one more `cache_flush` fault
//!   ends every message in the same final state with the same last action (SMTP and IMAP);
//!   a flush may only add uploads and time.
//! - **Faster data center** ([`faster_never_bounces`]): with four times the workers and
//!   every analysis half as long, a message delivered before is never bounced (`denied` or
//!   `expired`).
//!
//! Both compare only messages whose every decision, in both runs, judged every file
//! ([`Judged::Complete`]): a verdict a decision never saw cannot be compared. Where a file
//! goes unjudged — released (S1) because its verdict was not in the cache yet, or decided by
//! the outage policy because the analysis failed (X3) — timing changes what the gateway
//! knew, and with it the action, as designed: in release mode a flush turns a cache hit
//! (S6, a known-bad file denied) into a release, and a faster data center puts a verdict in
//! the cache before a later message that was released before. A message still in flight at
//! the end of either run is not compared either (the run ended, not the gateway).

use std::time::Duration;

use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::inspect::Source;
use aptsim_core::policy::Action;
use aptsim_peers::datacenter::AnalysisTime;
use aptsim_simulator::faults::{Fault, FaultAction};
use aptsim_simulator::trace::{FileLevel, FileRecord, Record, TraceLine};

use super::property::{Failure, run_checked};
use crate::format::Scenario;
use crate::runner::RunReport;

/// What one run's decisions on a message knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// No decision on it (never reached the gateway, or refused before one).
    None,
    /// Every decision judged every file (or denied, which no verdict could raise): the last
    /// SMTP and IMAP actions.
    Complete(Option<Action>, Option<Action>),
    /// Some decision went without a verdict (released, or the outage policy).
    Incomplete,
}

/// Every file judged, or a hold a known file settled with `deny` before the others were
/// judged (they are `released` then; no verdict could raise a deny). A file decided by the
/// outage policy (`unreachable`, `slow`) is never judged, whatever the action: with
/// `outage = "apply"` its deny is the policy's, not a verdict (found by exploring, seed 3).
fn complete(action: Action, files: &[FileRecord]) -> bool {
    files.iter().all(|f| match f.level {
        FileLevel::Judged(_) => true,
        FileLevel::Unjudged => action == Action::Deny && f.source == Source::Released,
    })
}

/// What the run's decisions on `msg` knew, and their last actions.
pub fn judged(trace: &[TraceLine], msg: &str) -> Judged {
    let (mut smtp, mut imap) = (None, None);
    for l in trace {
        match &l.record {
            Record::Decision {
                msg: m,
                action,
                files,
                ..
            } if m == msg => {
                if !complete(*action, files) {
                    return Judged::Incomplete;
                }
                smtp = Some(*action);
            }
            Record::ImapDecision {
                msg: m,
                action,
                result,
                files,
                ..
            } if m == msg
                && !matches!(
                    result,
                    MessageResult::Abandoned | MessageResult::PartsServed
                ) =>
            {
                if !complete(*action, files) {
                    return Judged::Incomplete;
                }
                imap = Some(*action);
            }
            _ => {}
        }
    }
    if smtp.is_none() && imap.is_none() {
        Judged::None
    } else {
        Judged::Complete(smtp, imap)
    }
}

/// A deterministic spread of `seed` over `0..n` (splitmix64), so that each world flushes
/// at its own time and the same world always at the same one.
fn spread(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % n.max(1)
}

/// When the flush lands: within the hour after the first message, or after the last one's
/// time when the messages are spread wider, so that it falls between verdicts and the
/// messages that would find them cached.
pub fn flush_time(s: &Scenario) -> Duration {
    let last = s.messages.iter().map(|m| m.at).max().unwrap_or_default();
    let window = (last + Duration::from_secs(3_600)).min(s.duration);
    Duration::from_secs(spread(s.seed, window.as_secs().max(1)))
}

/// The messages both runs judged completely, each with both runs' final state and actions.
type Ends = (&'static str, Judged);

fn comparable(s: &Scenario, a: &RunReport, b: &RunReport) -> Vec<(String, Ends, Ends)> {
    let ids = crate::runner::all_messages(s, s.seed);
    let mut out = Vec::new();
    for m in ids {
        let (ja, jb) = (judged(&a.trace, &m.id), judged(&b.trace, &m.id));
        let (sa, sb) = (
            crate::expect::final_state(&a.trace, &m.id),
            crate::expect::final_state(&b.trace, &m.id),
        );
        let complete = |j| matches!(j, Judged::Complete(..));
        if complete(ja) && complete(jb) && sa != "in_flight" && sb != "in_flight" {
            out.push((m.id, (sa, ja), (sb, jb)));
        }
    }
    out
}

/// True when both runs made an SMTP decision, or both an IMAP decision, on a message and
/// their last actions differ. Whether a client fetched a message at all is timing: a flush
/// that makes a fetch wait for an analysis can make the client give up (Outlook then stops
/// syncing until restarted, I5), so a decision one run made and the other never did is not
/// compared (found by exploring, seed 3, with the IMAP server down and a slow data center).
fn differ(a: Judged, b: Judged) -> bool {
    let (Judged::Complete(sa, ia), Judged::Complete(sb, ib)) = (a, b) else {
        return false;
    };
    let both = |x: Option<Action>, y: Option<Action>| x.zip(y).is_some_and(|(x, y)| x != y);
    both(sa, sb) || both(ia, ib)
}

/// The world `s` with one more `cache_flush`.
pub fn with_flush(s: &Scenario) -> Scenario {
    let mut flushed = s.clone();
    flushed.faults.push(Fault {
        id: "metamorphic-flush".to_owned(),
        at: flush_time(s),
        action: FaultAction::CacheFlush,
        duration: None,
    });
    flushed
}

/// Runs `s` with one more cache flush and compares each message with `report`'s (see the
/// module doc for which messages). N1–N9 hold in the flushed run too. The number of
/// messages compared.
pub fn flush_keeps_actions(s: &Scenario, report: &RunReport) -> Result<usize, Failure> {
    let flushed = with_flush(s);
    let other = run_checked(&flushed)?;
    let pairs = comparable(s, report, &other);
    for (id, (sa, ja), (sb, jb)) in &pairs {
        if sa != sb || differ(*ja, *jb) {
            return Err(Failure {
                kind: "flush".to_owned(),
                detail: format!(
                    "message {id} ends {sa} ({ja:?}) as written, {sb} ({jb:?}) with a \
                     cache_flush at {}",
                    aptsim_core::duration::format(flush_time(s))
                ),
            });
        }
    }
    Ok(pairs.len())
}

fn half(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis() / 2) as u64)
}

/// The world `s` with a faster data center: four times the workers, every analysis half as
/// long.
pub fn faster(s: &Scenario) -> Scenario {
    let mut fast = s.clone();
    let dc = &mut fast.world.datacenter;
    dc.workers = dc.workers.saturating_mul(4);
    dc.analysis = match &dc.analysis {
        AnalysisTime::Fixed(d) => AnalysisTime::Fixed(half(*d)),
        AnalysisTime::Uniform { min, max } => AnalysisTime::Uniform {
            min: half(*min),
            max: half(*max),
        },
    };
    for a in fast.messages.iter_mut().flat_map(|m| &mut m.attachments) {
        a.analysis = a.analysis.map(half);
    }
    fast
}

/// Runs `s` with a faster data center ([`faster`]): a message `report` has delivered is
/// not bounced there (see the module doc for which messages). N1–N9 hold in the faster run
/// too. The number of messages compared.
pub fn faster_never_bounces(s: &Scenario, report: &RunReport) -> Result<usize, Failure> {
    let other = run_checked(&faster(s))?;
    let pairs = comparable(s, report, &other);
    for (id, (sa, _), (sb, _)) in &pairs {
        if *sa == "delivered" && matches!(*sb, "denied" | "expired") {
            return Err(Failure {
                kind: "faster".to_owned(),
                detail: format!(
                    "message {id} is delivered as written and {sb} with a faster data center \
                     (4× workers, analyses halved)"
                ),
            });
        }
    }
    Ok(pairs.len())
}
