//! The invariants N1–N9, checked from the trace alone.
//!
//! Each check reads only trace records — what the sender saw, what the proxy decided, what
//! the receiving server stored, what the data center judged — never an actor's state, so a
//! bug in an actor cannot hide itself by also misreporting.
//!
//! The [`Checker`] reads the trace one line at a time: online, as an [`Observer`] of a
//! running world, or afterwards over a kept trace or a trace file ([`check`]). Either way
//! it is the same code, so the two always agree. What it keeps follows what is in flight —
//! open uploads, holds, unanswered verdicts — plus a few flags per message, because a
//! message already final may still be delivered again, and N1 and N2 must see that. Its maps
//! are ordered, so what is reported per message comes in the order of the ids, the same
//! every time (N8).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aptsim_core::verdict::ThreatLevel;

use crate::faults::{FaultAction, LinkName};
use crate::message_map::MessageMap;
use crate::msg_key::MsgKey;
use crate::observe::Observer;
use crate::trace::{DecisionKind, Record, TraceLine};

pub use ambiguity::Ambiguity;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// `N1` … `N9`.
    pub id: &'static str,
    /// What was seen.
    pub detail: String,
}

/// What the checks need to know about the run besides the trace.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The cache's time to live (N7).
    pub cache_ttl: Duration,
    /// How many verdicts the cache holds (N7): past that, the oldest stored goes first.
    pub cache_capacity: usize,
    /// X1 on: one MD5 never under analysis twice at once (N7).
    pub dedupe_in_flight: bool,
    /// The policy's analysis timeout (X3): an upload unanswered this long is given up by
    /// the gateway (the data center is slow), so it no longer counts as in flight (N5, N7).
    pub analysis_timeout: Duration,
    /// X2 on: no ambiguous timeouts expected (N2).
    pub proactive_tempfail: bool,
    /// Levels whose action is not `allow` (N3).
    pub non_allow_levels: BTreeSet<ThreatLevel>,
    /// Ids of the faults the scenario injects (N9).
    pub faults: Vec<String>,
}

/// How each message ended (N1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FinalStates {
    /// Submitted by the sender.
    pub submitted: usize,
    /// Delivered to the recipient (changed or not).
    pub delivered: usize,
    /// Kept in quarantine.
    pub quarantined: usize,
    /// Refused with a 5xx the sender bounced (deny, or another permanent refusal).
    pub denied: usize,
    /// Given up by the sender's queue lifetime.
    pub expired: usize,
    /// Neither when the run ended.
    pub in_flight: usize,
    /// Messages stored in a mailbox of the IMAP server (each account's copy counts).
    pub mailbox: usize,
    /// Of those, held by a mail client as sent.
    pub fetched: usize,
    /// Held by a mail client rewritten or as the deny notice.
    pub replaced: usize,
    /// Not held by any client when the run ended.
    pub unfetched: usize,
}

/// Runs every check over a whole trace.
pub fn check(trace: &[TraceLine], ctx: &CheckContext) -> (FinalStates, Vec<Violation>) {
    let mut checker = Checker::new(ctx.clone());
    for line in trace {
        checker.observe(line);
    }
    checker.finish()
}

/// What the checks keep of one message for the whole run.
#[derive(Debug, Default, Clone, Copy)]
struct Message {
    /// Seen queued, delivered, quarantined or bounced: one of the messages N1 counts.
    counted: bool,
    delivered: u32,
    quarantined: bool,
    denied: bool,
    expired: bool,
    /// Decided under a hold (N3), and whether any such decision failed open.
    held: bool,
    held_fail_open: bool,
}

/// The invariants, read one line at a time; [`Checker::finish`] gives the verdict.
pub struct Checker {
    ctx: CheckContext,
    analysis_timeout_ms: u64,
    cache_ttl_ms: u64,
    messages: MessageMap<Message>,
    ambiguity: Ambiguity,
    /// When each sender connection started (N2 with X2 only).
    started: BTreeMap<u64, u64>,
    /// Ambiguous attempts with the start of their connection (N2 with X2 only).
    maybe_started: Vec<(u64, u64, u64)>,
    /// Client link cuts: open ones by fault id, and closed (start, end) spans; a stop of
    /// the sending MTA is a span of no length.
    open_cuts: BTreeMap<String, u64>,
    cuts: Vec<(u64, u64)>,
    /// Levels the data center gave, by MD5 (N3).
    levels: HashMap<String, ThreatLevel>,
    /// Connections each quarantined message was decided on (N1).
    quarantined_on: BTreeMap<String, Vec<u64>>,
    /// Held deliveries whose file had no verdict yet: MD5 → messages (N3).
    pending_n3: BTreeMap<String, Vec<String>>,
    /// Transactions a hold started for (N3, N4).
    holds: HashSet<(u64, u64)>,
    /// Per transaction: MD5s uploaded and not yet answered, with their upload time (N5).
    open_uploads: BTreeMap<(u64, u64), Vec<(String, u64)>>,
    /// Per MD5: the transactions that have it open in `open_uploads`, so that an answer
    /// visits those and not every open upload (hundreds on a day of mail). Only looked up,
    /// never walked: its hash order reaches nothing.
    open_by_md5: HashMap<String, Vec<(u64, u64)>>,
    answered: HashSet<String>,
    /// N7: when each verdict was cached (and how many were stored before it), and when each
    /// MD5's upload started.
    cached_at: HashMap<String, (u64, u64)>,
    stores: u64,
    in_flight: HashMap<String, u64>,
    fired: BTreeSet<String>,
    imap: imap::Checker,
    found: Found,
}

/// Violations by check, so that they come out in the order of the checks.
#[derive(Default)]
struct Found {
    n2: Vec<Violation>,
    n3: Vec<Violation>,
    n4: Vec<Violation>,
    n5: Vec<Violation>,
    n7: Vec<Violation>,
}

impl Checker {
    /// A checker for a run with `ctx`.
    pub fn new(ctx: CheckContext) -> Self {
        Checker {
            analysis_timeout_ms: ctx.analysis_timeout.as_millis() as u64,
            cache_ttl_ms: ctx.cache_ttl.as_millis() as u64,
            imap: imap::Checker::new(ctx.non_allow_levels.clone()),
            ctx,
            messages: MessageMap::default(),
            ambiguity: Ambiguity::default(),
            started: BTreeMap::new(),
            maybe_started: Vec::new(),
            open_cuts: BTreeMap::new(),
            cuts: Vec::new(),
            levels: HashMap::new(),
            quarantined_on: BTreeMap::new(),
            pending_n3: BTreeMap::new(),
            holds: HashSet::new(),
            open_uploads: BTreeMap::new(),
            open_by_md5: HashMap::new(),
            answered: HashSet::new(),
            cached_at: HashMap::new(),
            stores: 0,
            in_flight: HashMap::new(),
            fired: BTreeSet::new(),
            found: Found::default(),
        }
    }

    /// The message N1 counts, from its first end or queueing on.
    fn message(&mut self, msg: &str) -> &mut Message {
        let m = self.entry(msg);
        m.counted = true;
        m
    }

    fn entry(&mut self, msg: &str) -> &mut Message {
        self.messages.entry(msg)
    }

    fn bad_level(&self, md5: &str) -> Option<ThreatLevel> {
        self.levels
            .get(md5)
            .filter(|l| self.ctx.non_allow_levels.contains(l))
            .copied()
    }

    /// N3: a held message reached the recipient with a file judged at a level whose action
    /// is not `allow`.
    fn n3_bad_file(&mut self, msg: &str, md5: &str, level: ThreatLevel) {
        self.found.n3.push(Violation {
            id: "N3",
            detail: format!(
                "held message {msg} reached the recipient with file {md5}, judged {level}"
            ),
        });
    }

    fn observe_smtp(&mut self, l: &TraceLine) {
        if let Some((conn, txn)) = self.ambiguity.observe(l) {
            self.found.n2.push(Violation {
                id: "N2",
                detail: format!(
                    "conn {conn} txn {txn} relayed after its sender left (S5: never delivered later)"
                ),
            });
        }
        match &l.record {
            Record::Queued { msg } => {
                self.message(msg);
            }
            Record::Quarantined { msg } => self.message(msg).quarantined = true,
            Record::Bounced { msg, reason } => {
                let m = self.message(msg);
                if reason.starts_with("queue lifetime") {
                    m.expired = true;
                } else {
                    m.denied = true;
                }
            }
            Record::Delivered { msg, files, .. } => {
                let m = self.message(msg);
                m.delivered += 1;
                let Message {
                    held,
                    held_fail_open,
                    ..
                } = *m;
                if held && !held_fail_open {
                    for md5 in files {
                        match self.levels.get(md5.as_str()) {
                            Some(_) => {
                                if let Some(level) = self.bad_level(md5) {
                                    self.n3_bad_file(msg, md5, level);
                                }
                            }
                            None => self
                                .pending_n3
                                .entry(md5.clone())
                                .or_default()
                                .push(msg.clone()),
                        }
                    }
                }
            }
            Record::AttemptStarted { conn, .. } if self.ctx.proactive_tempfail => {
                self.started.insert(*conn, l.t);
            }
            Record::MayBeDeliveredMultipleTimes { conn, .. } if self.ctx.proactive_tempfail => {
                let from = self.started.get(conn).copied().unwrap_or(0);
                self.maybe_started.push((*conn, from, l.t));
            }
            // A stop kills the sender's deliveries at that instant: no deadline helps an
            // attempt killed after its dot, so it is excused as a cut of no length is.
            Record::Fault {
                id,
                kind: FaultAction::SenderRestart,
                ..
            } if !id.ends_with("/end") => self.cuts.push((l.t, l.t)),
            Record::Fault {
                id,
                kind: FaultAction::LinkCut(LinkName::Client),
                ..
            } => match id.strip_suffix("/end") {
                Some(start) => {
                    if let Some(a) = self.open_cuts.remove(start) {
                        self.cuts.push((a, l.t));
                    }
                }
                None => {
                    self.open_cuts.insert(id.clone(), l.t);
                }
            },
            Record::Verdict { md5, level, .. } => {
                self.levels.insert(md5.clone(), *level);
                if let Some(msgs) = self.pending_n3.remove(md5.as_str())
                    && self.ctx.non_allow_levels.contains(level)
                {
                    for msg in msgs {
                        self.n3_bad_file(&msg, md5, *level);
                    }
                }
            }
            Record::HoldStart { conn, txn } => {
                self.holds.insert((*conn, *txn));
            }
            Record::Decision {
                conn,
                txn,
                msg,
                fail_open,
                held_ms,
                released,
                decision,
                ..
            } => {
                if *decision == DecisionKind::Quarantine {
                    self.quarantined_on
                        .entry(msg.clone())
                        .or_default()
                        .push(*conn);
                }
                let under_hold = self.holds.contains(&(*conn, *txn));
                // Held: a hold started for it, or it was decided in hold mode at once (from
                // the cache, as an S5 retry is), which `held_ms` records.
                if held_ms.is_some() || under_hold {
                    let m = self.entry(msg);
                    m.held = true;
                    m.held_fail_open |= *fail_open;
                }
                if *released && under_hold {
                    self.found.n4.push(Violation {
                        id: "N4",
                        detail: format!("released message {msg} was held first"),
                    });
                }
            }
            _ => {}
        }
        self.n5_one_at_a_time(l);
        self.n7_cache(l);
        if let Record::Fault { id, .. } = &l.record {
            self.fired.insert(id.clone());
        }
    }

    fn n5_one_at_a_time(&mut self, l: &TraceLine) {
        let timeout = self.analysis_timeout_ms;
        match &l.record {
            Record::CacheStored { md5 }
            | Record::Unreachable { md5 }
            | Record::AnalysisLost { md5 } => {
                self.answered.insert(md5.clone());
                for txn in self.open_by_md5.remove(md5.as_str()).unwrap_or_default() {
                    if let Some(files) = self.open_uploads.get_mut(&txn) {
                        files.retain(|(m, _)| m != md5);
                        if files.is_empty() {
                            self.open_uploads.remove(&txn);
                        }
                    }
                }
            }
            Record::Submission { conn, txn, md5, .. } => {
                let files = self.open_uploads.entry((*conn, *txn)).or_default();
                // An upload the gateway gave up on (its analysis timeout, X3) is over.
                files.retain(|(_, at)| l.t < at + timeout);
                // Uploads of one group carry the same timestamp; an older one still open
                // means two groups in flight.
                if let Some((other, _)) = files.iter().find(|(_, at)| *at < l.t) {
                    self.found.n5.push(Violation {
                        id: "N5",
                        detail: format!(
                            "conn {conn} txn {txn}: {md5} submitted at {} ms while {other} was in flight",
                            l.t
                        ),
                    });
                }
                if !self.answered.contains(md5.as_str()) {
                    files.push((md5.clone(), l.t));
                    self.open_by_md5
                        .entry(md5.clone())
                        .or_default()
                        .push((*conn, *txn));
                }
                if files.is_empty() {
                    self.open_uploads.remove(&(*conn, *txn));
                }
            }
            _ => {}
        }
    }

    fn n7_cache(&mut self, l: &TraceLine) {
        let (ttl, timeout) = (self.cache_ttl_ms, self.analysis_timeout_ms);
        match &l.record {
            Record::CacheStored { md5 } => {
                self.cached_at.insert(md5.clone(), (l.t, self.stores));
                self.stores += 1;
                self.in_flight.remove(md5.as_str());
            }
            Record::Unreachable { md5 } | Record::AnalysisLost { md5 } => {
                self.in_flight.remove(md5.as_str());
            }
            Record::Fault {
                kind: FaultAction::CacheFlush,
                ..
            } => self.cached_at.clear(),
            Record::Submission {
                md5, upload: true, ..
            } => {
                // Live: within its time to live, and fewer verdicts stored after it than
                // the cache holds, so it cannot have been pushed out (the oldest stored goes
                // first; a store of one already there only makes it younger).
                let capacity = self.ctx.cache_capacity as u64;
                let stores = self.stores;
                if self
                    .cached_at
                    .get(md5.as_str())
                    .is_some_and(|&(at, seq)| l.t < at + ttl && stores - seq - 1 < capacity)
                {
                    self.found.n7.push(Violation {
                        id: "N7",
                        detail: format!("{md5} uploaded at {} ms with a live cached verdict", l.t),
                    });
                }
                // An upload older than the analysis timeout is one the gateway gave up on
                // (X3), no longer in flight.
                let live = self
                    .in_flight
                    .get(md5.as_str())
                    .is_some_and(|&at| l.t < at + timeout);
                self.in_flight.insert(md5.clone(), l.t);
                if self.ctx.dedupe_in_flight && live {
                    self.found.n7.push(Violation {
                        id: "N7",
                        detail: format!("{md5} under analysis twice at {} ms with X1 on", l.t),
                    });
                }
            }
            _ => {}
        }
    }

    /// The final states and every violation, in the order of the checks.
    pub fn finish(self) -> (FinalStates, Vec<Violation>) {
        let Checker {
            ctx,
            messages,
            ambiguity,
            quarantined_on,
            maybe_started,
            open_cuts,
            mut cuts,
            fired,
            imap,
            found,
            ..
        } = self;
        let ambiguous = ambiguity.per_message();

        // N1: every message ends in one state. A delivery the sender did not hear of (an
        // ambiguous timeout, N2) leaves its queue to go on with the message: a later attempt
        // may then be refused (554), quarantined or give up. The recipient has the message
        // all the same; it counts as delivered. Likewise a quarantine decided only for
        // attempts the sender had given up on unanswered (Exim half-closes at its dot, so
        // the proxy cannot see it leave during a hold; the analysis timeout then
        // quarantines a copy nobody waits for): the sender's retry goes on to its own end,
        // and that end is the message's.
        // N2: no message delivered more often than its ambiguous timeouts allow.
        // One pass over the map, in its own order: only the few messages found wrong are
        // put in id order, so that a report reads the same whatever the map's order.
        let unseen = ambiguity.attempts_unanswered();
        let mut states = FinalStates::default();
        let mut n1: Vec<(MsgKey, Violation)> = Vec::new();
        let mut n2: Vec<(MsgKey, Violation)> = Vec::new();
        for (key, m) in messages.iter().filter(|(_, m)| m.counted) {
            // The id as text only where it is needed: a generated id is made from its
            // prefix and number, and a million of them would be a million strings.
            let allowed = if ambiguous.is_empty() {
                0
            } else {
                ambiguous.get(&*key.to_text()).copied().unwrap_or(0)
            };
            let n = m.delivered as usize;
            if n > 1 + allowed {
                let msg = key.to_text();
                n2.push(about(
                    &msg,
                    "N2",
                    format!("message {msg} delivered {n} times with {allowed} ambiguous timeouts"),
                ));
            }
            let mut s = *m;
            let quarantine_unseen = s.quarantined && {
                let msg = key.to_text();
                let id: &str = &msg;
                quarantined_on
                    .get(id)
                    .is_some_and(|conns| conns.iter().all(|c| unseen.contains(&(id, *c))))
            };
            if quarantine_unseen && (s.delivered > 0 || s.denied || s.expired) {
                s.quarantined = false;
            }
            states.submitted += 1;
            let delivered = s.delivered > 0;
            if delivered && allowed > 0 {
                states.delivered += 1;
                continue;
            }
            let ends = [delivered, s.quarantined, s.denied, s.expired];
            match ends.iter().filter(|e| **e).count() {
                0 => states.in_flight += 1,
                1 => {
                    states.delivered += usize::from(delivered);
                    states.quarantined += usize::from(s.quarantined);
                    states.denied += usize::from(s.denied);
                    states.expired += usize::from(s.expired);
                }
                _ => {
                    let msg = key.to_text();
                    n1.push(about(
                        &msg,
                        "N1",
                        format!(
                            "message {msg} ended in more than one state (delivered {delivered}, quarantined {}, denied {}, expired {})",
                            s.quarantined, s.denied, s.expired
                        ),
                    ));
                }
            }
        }
        n1.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        n2.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut v: Vec<Violation> = n1.into_iter().map(|(_, v)| v).collect();
        let (imap_found, imap_n3, n6) = imap.finish(&mut states);
        v.extend(imap_found);
        v.extend(found.n2);
        v.extend(n2.into_iter().map(|(_, v)| v));
        // X2 answers before the sender's timeout, but a cut path can hide any answer: an
        // ambiguous attempt whose connection lived while the sender's link was cut is the
        // network's doing, not a missed deadline; one killed by a stop of the sending MTA
        // is the MTA's.
        if ctx.proactive_tempfail {
            cuts.extend(open_cuts.into_values().map(|a| (a, u64::MAX)));
            let unexcused = maybe_started
                .iter()
                .filter(|(conn, from, t)| {
                    ambiguity.relayed(*conn) && !cuts.iter().any(|&(a, b)| a <= *t && b >= *from)
                })
                .count();
            if unexcused > 0 {
                v.push(Violation {
                    id: "N2",
                    detail: format!("{unexcused} ambiguous timeouts with X2 on"),
                });
            }
        }
        v.extend(found.n3);
        v.extend(imap_n3);
        v.extend(found.n4);
        v.extend(found.n5);
        v.extend(n6);
        v.extend(found.n7);
        // N9: every injected fault took effect.
        for id in &ctx.faults {
            if !fired.contains(id.as_str()) {
                v.push(Violation {
                    id: "N9",
                    detail: format!("fault {id} never took effect"),
                });
            }
        }
        (states, v)
    }
}

/// A violation about message `msg`, with its key to put it in id order.
fn about(msg: &str, id: &'static str, detail: String) -> (MsgKey, Violation) {
    (MsgKey::new(msg), Violation { id, detail })
}

impl Observer for Checker {
    fn observe(&mut self, line: &TraceLine) {
        self.observe_smtp(line);
        self.imap.observe(line);
    }
}

#[path = "invariants_ambiguity.rs"]
mod ambiguity;

#[path = "invariants_imap.rs"]
mod imap;

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
