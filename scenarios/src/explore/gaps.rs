//! Violations the explorer does not count as failures: where an invariant's check (in
//! `simulator/src/invariants.rs`) states more than the trace lets it know, found by
//! exploring and written down here, each with the story, until the check learns it. Each
//! one is narrow — a violation id, its wording, and a condition on the world or the trace —
//! so that anything else the same invariant finds still fails.

use aptsim_simulator::invariants::Violation;
use aptsim_simulator::trace::{Record, TraceLine};

use crate::format::Scenario;

/// True for a violation of `report` (a run of `s`) that is a known gap in the checks.
pub fn known(s: &Scenario, trace: &[TraceLine], v: &Violation) -> bool {
    evicted_maybe(s, v) || ambiguous_quarantine(trace, v)
}

/// N7, an upload "with a live cached verdict", where the cache holds fewer entries than the
/// world has files: the verdict may have been evicted (oldest first, as designed). N7's
/// check knows the cache's time to live but not its capacity, and the trace records no
/// eviction (found by exploring, seed 1, with `capacity = 1`).
fn evicted_maybe(s: &Scenario, v: &Violation) -> bool {
    if v.id != "N7" || !v.detail.contains("live cached verdict") {
        return false;
    }
    let mut files = std::collections::BTreeSet::new();
    for m in crate::runner::all_messages(s, s.seed) {
        for a in m.attachments {
            files.insert((a.name, a.size, a.content));
        }
    }
    s.world.policy.cache.capacity < files.len()
}

/// N1, a message both delivered and quarantined, whose sender ended an attempt unanswered
/// after its final dot (`may_be_delivered_multiple_times`). Found by exploring (seed 1, 60
/// s): Exim half-closes at its dot, so the proxy cannot see it give up at its 10 min
/// `final_timeout` during a hold; the analysis then times out (20 min), `outage = "apply"`
/// quarantines the message for a sender that has left, and Exim's retry, judged clean, is
/// delivered. Both happened: the quarantine holds a copy the sender never learnt of, as an
/// ambiguous delivery does (N2), which N1 already counts as delivered; N1 does not count an
/// ambiguous quarantine yet. X2 prevents it, as it does the duplicate delivery.
fn ambiguous_quarantine(trace: &[TraceLine], v: &Violation) -> bool {
    if v.id != "N1"
        || !v
            .detail
            .contains("(delivered true, quarantined true, denied false")
    {
        return false;
    }
    let Some(msg) = v
        .detail
        .strip_prefix("message ")
        .and_then(|rest| rest.split(' ').next())
    else {
        return false;
    };
    trace.iter().any(
        |l| matches!(&l.record, Record::MayBeDeliveredMultipleTimes { msg: m, .. } if m == msg),
    )
}
