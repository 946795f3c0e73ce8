//! What serde cannot check about a scenario: the bounds of [`crate::limits`], values that
//! are consistent with each other, names that refer to something; and warnings about what
//! is valid but cannot do what it is written for.
//!
//! Every error starts with the key path it is about, as the file writes it, counting tables
//! from 0: `message[2].attachment[0].size: 100000000000 is over the limit of 64 MiB`. The
//! file name is added by [`crate::format::ScenarioError`].

use std::collections::BTreeSet;

use aptsim_core::duration::format as show;

use crate::format::{AttachmentSpec, Scenario, TrafficSpec};
use crate::limits::{
    MAX_ATTACHMENT_SIZE, MAX_ATTACHMENTS_PER_MESSAGE, MAX_DURATION, MAX_FILES, MAX_LATENCY,
    MAX_MESSAGES, MAX_POOL, MAX_TOTAL_BYTES, show_bytes,
};
use crate::message_ids::MessageIds;
use crate::totals;

/// The final states an expectation may name.
pub const STATES: [&str; 5] = ["delivered", "quarantined", "denied", "expired", "in_flight"];

/// Checks a parsed scenario; the first problem found, as `key: what is wrong`.
pub fn check(s: &Scenario) -> Result<(), String> {
    check_world(s)?;
    // Bounds before anything walks the generated messages: a count of ten million must be
    // refused, not enumerated.
    check_sizes(s)?;
    let ids = MessageIds::of(s)?;
    check_times(s)?;
    check_clients(s)?;
    check_expectations(s, &ids)
}

/// The mail clients: known presets, distinct names, settings their preset has.
fn check_clients(s: &Scenario) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for (i, c) in s.clients.iter().enumerate() {
        crate::imap_world::client_config(c).map_err(|e| format!("client[{i}]: {e}"))?;
        if c.account.is_empty() {
            return Err(format!("client[{i}].account: empty"));
        }
        let name = crate::imap_world::client_name(c, i);
        if !names.insert(name.clone()) {
            return Err(format!("client[{i}].name: {name:?} used twice"));
        }
    }
    for (i, e) in s.expectations.iter().enumerate() {
        let imap = e.imap.is_some()
            || e.fetch_attempts.is_some()
            || e.fetched_after.is_some()
            || e.fetched_before.is_some()
            || e.imap_verdicts_from.is_some()
            || e.part_fetched_after.is_some()
            || e.part_fetched_before.is_some()
            || e.client.is_some();
        if imap && s.clients.is_empty() {
            return Err(format!(
                "expect[{i}]: an IMAP expectation needs a [[client]] to read the mailbox"
            ));
        }
        if let Some(c) = &e.client
            && !names.contains(c)
        {
            return Err(format!("expect[{i}].client: unknown client {c:?}"));
        }
        if let (Some(a), Some(b)) = (e.fetched_after, e.fetched_before)
            && a > b
        {
            return Err(format!(
                "expect[{i}].fetched_after: {} is after fetched_before {}: nothing can pass",
                show(a),
                show(b)
            ));
        }
    }
    Ok(())
}

fn check_world(s: &Scenario) -> Result<(), String> {
    if s.duration.is_zero() || s.duration > MAX_DURATION {
        return Err(format!(
            "duration: {} is not within 1ms to {}",
            show(s.duration),
            show(MAX_DURATION)
        ));
    }
    let w = &s.world;
    if w.latency > MAX_LATENCY {
        return Err(format!(
            "world.latency: {} is over the limit of {}",
            show(w.latency),
            show(MAX_LATENCY)
        ));
    }
    // PolicyError reads `policy: …`.
    w.policy.validate().map_err(|e| format!("world.{e}"))?;
    w.datacenter
        .validate()
        .map_err(|e| format!("world.datacenter.{e}"))?;
    w.sender().map_err(|e| format!("world.mta: {e}"))?;
    Ok(())
}

fn check_sizes(s: &Scenario) -> Result<(), String> {
    if s.messages.is_empty() && s.traffic.is_empty() {
        return Err("no [[message]] and no [[traffic]]: the scenario would check nothing".into());
    }
    let mut messages = s.messages.len();
    let mut files = 0usize;
    let mut bytes = 0u64;
    for (i, m) in s.messages.iter().enumerate() {
        if m.attachments.len() > MAX_ATTACHMENTS_PER_MESSAGE {
            return Err(format!(
                "message[{i}].attachment: {} attachments is over the limit of \
                 {MAX_ATTACHMENTS_PER_MESSAGE} per message",
                m.attachments.len()
            ));
        }
        for (j, a) in m.attachments.iter().enumerate() {
            check_attachment(s, a).map_err(|e| format!("message[{i}].attachment[{j}].{e}"))?;
            files += 1;
            bytes = bytes.saturating_add(a.size as u64);
        }
    }
    for (i, t) in s.traffic.iter().enumerate() {
        check_traffic(s, t).map_err(|e| format!("traffic[{i}].{e}"))?;
        messages = messages.saturating_add(t.count);
        let generated = t.count.saturating_mul(t.attachments);
        files = files.saturating_add(generated);
        bytes = bytes.saturating_add((generated as u64).saturating_mul(t.size as u64));
    }
    if messages > MAX_MESSAGES {
        return Err(format!(
            "message, traffic: {messages} messages in all is over the limit of {MAX_MESSAGES}"
        ));
    }
    if files > MAX_FILES {
        return Err(format!(
            "message, traffic: {files} attachments in all is over the limit of {MAX_FILES}"
        ));
    }
    if bytes > MAX_TOTAL_BYTES {
        return Err(format!(
            "message, traffic: {bytes} attachment bytes in all is over the limit of {}",
            show_bytes(MAX_TOTAL_BYTES)
        ));
    }
    Ok(())
}

/// One written attachment; errors start with the key inside the attachment table.
fn check_attachment(s: &Scenario, a: &AttachmentSpec) -> Result<(), String> {
    check_size(a.size)?;
    if let Some(score) = a.score {
        if score > 100 {
            return Err(format!("score: {score} is not within 0 to 100"));
        }
        let thresholds = &s.world.policy.thresholds;
        if let Some(level) = a.level
            && thresholds.level(score) != level
        {
            return Err(format!(
                "level: {level} does not match score {score}, which the policy's thresholds \
                 judge {}; give one or the other",
                thresholds.level(score)
            ));
        }
    }
    if let Some(content) = &a.content
        && content != "eicar"
    {
        return Err(format!(
            "content: {content:?} is not \"eicar\" (leave it out for pseudo-random bytes)"
        ));
    }
    Ok(())
}

fn check_size(size: usize) -> Result<(), String> {
    if size > MAX_ATTACHMENT_SIZE {
        return Err(format!(
            "size: {size} is over the limit of {}",
            show_bytes(MAX_ATTACHMENT_SIZE as u64)
        ));
    }
    Ok(())
}

/// One traffic block; errors start with the key inside the traffic table.
fn check_traffic(s: &Scenario, t: &TrafficSpec) -> Result<(), String> {
    if t.count == 0 || t.count > MAX_MESSAGES {
        return Err(format!(
            "count: {} is not within 1 to {MAX_MESSAGES}",
            t.count
        ));
    }
    if t.attachments > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(format!(
            "attachments: {} is over the limit of {MAX_ATTACHMENTS_PER_MESSAGE} per message",
            t.attachments
        ));
    }
    check_size(t.size)?;
    if let Some(pool) = t.pool
        && (pool == 0 || pool > MAX_POOL)
    {
        return Err(format!("pool: {pool} is not within 1 to {MAX_POOL}"));
    }
    for (key, p) in [("high", t.high), ("medium", t.medium)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("{key}: {p} is not a fraction between 0 and 1"));
        }
    }
    if t.high + t.medium > 1.0 {
        return Err(format!(
            "high + medium: {} is more than 1 (the whole pool)",
            t.high + t.medium
        ));
    }
    // Within the duration, so the product below stays far from overflowing: count ≤
    // MAX_MESSAGES and every ≤ duration::MAX.
    let last = t.start + t.every * (t.count as u32 - 1);
    if last > s.duration {
        return Err(format!(
            "every: the last message would be queued at {}, after the scenario's duration {}",
            show(last),
            show(s.duration)
        ));
    }
    Ok(())
}

/// Unique fault ids; messages and faults within the run (message ids: [`MessageIds`]).
fn check_times(s: &Scenario) -> Result<(), String> {
    for (i, m) in s.messages.iter().enumerate() {
        if m.at > s.duration {
            return Err(format!(
                "message[{i}].at: {} is after the scenario's duration {}: it would never be sent",
                show(m.at),
                show(s.duration)
            ));
        }
    }
    let mut faults = BTreeSet::new();
    for (i, f) in s.faults.iter().enumerate() {
        if !faults.insert(f.id.as_str()) {
            return Err(format!("fault[{i}].id: {:?} is used twice", f.id));
        }
        if f.at > s.duration {
            return Err(format!(
                "fault[{i}].at: {} is after the scenario's duration {}: it would never take effect",
                show(f.at),
                show(s.duration)
            ));
        }
    }
    Ok(())
}

fn check_expectations(s: &Scenario, ids: &MessageIds<'_>) -> Result<(), String> {
    for (i, e) in s.expectations.iter().enumerate() {
        if !ids.contains(&e.message) {
            return Err(format!(
                "expect[{i}].message: unknown message {:?}",
                e.message
            ));
        }
        if let Some(state) = &e.state
            && !STATES.contains(&state.as_str())
        {
            return Err(format!(
                "expect[{i}].state: unknown state {state:?} ({})",
                STATES.join(", ")
            ));
        }
        for (keys, after, before) in [
            ("delivered", e.delivered_after, e.delivered_before),
            ("decided", e.decided_after, e.decided_before),
        ] {
            if let (Some(a), Some(b)) = (after, before)
                && a > b
            {
                return Err(format!(
                    "expect[{i}].{keys}_after: {} is after {keys}_before {}: nothing can pass",
                    show(a),
                    show(b)
                ));
            }
        }
    }
    let names = totals::names();
    for name in s.totals.counts.keys() {
        if !names.contains(name) {
            return Err(format!(
                "totals.{name}: the run reports no such count (counts: {}, and \
                 max_exposure_window, min_exposure_window)",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// What is valid but cannot do what it is written for, one sentence each (key first).
pub fn warnings(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(deadline), Ok(sender)) = (s.world.policy.tempfail_deadline, s.world.sender())
        && deadline >= sender.timeouts.data_done
    {
        out.push(format!(
            "world.policy.tempfail_deadline: {} is not before the {} sender's DATA timeout of \
             {}: the sender gives up first, so X2 would never fire",
            show(deadline),
            sender.name,
            show(sender.timeouts.data_done)
        ));
    }
    out
}
