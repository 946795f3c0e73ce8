//! Generated worlds: a [`Case`] is a small whole world (sender preset, policy, a pool of
//! files, messages drawing from it, faults), and [`case`] is its proptest strategy.
//!
//! Small-first: few messages, few files, few faults, short times, so that proptest's
//! shrinking reaches a readable world in seconds. Files come from a pool shared by every
//! message, so the same file recurs across messages (cache hits, X1 dedupe).
//!
//! Swarm testing (Groce et al., ISSTA 2012): each case first draws a [`Swarm`], the subset
//! of fault kinds and features it may use, then generates within it; a case that may not
//! cut links explores the others more deeply than one where everything happens at once.

use std::time::Duration;

use aptsim_core::policy::OutagePolicy;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::smtp::presets::{self, PRESETS};
use proptest::prelude::*;

/// The fault kinds a case can use (the SMTP side's; IMAP comes later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `datacenter_unreachable`.
    DatacenterUnreachable,
    /// `datacenter_slow`.
    DatacenterSlow,
    /// `server_down`.
    ServerDown,
    /// `cache_flush` (instant).
    CacheFlush,
    /// `link_cut`, `link = "client"`.
    CutClient,
    /// `link_cut`, `link = "upstream"`.
    CutUpstream,
    /// `link_cut`, `link = "datacenter"`.
    CutDatacenter,
}

impl FaultKind {
    /// Every kind, in a fixed order (the swarm's mask indexes it).
    pub const ALL: [FaultKind; 7] = [
        FaultKind::DatacenterUnreachable,
        FaultKind::DatacenterSlow,
        FaultKind::ServerDown,
        FaultKind::CacheFlush,
        FaultKind::CutClient,
        FaultKind::CutUpstream,
        FaultKind::CutDatacenter,
    ];

    /// True for a fault that lasts (has a `for`).
    pub fn lasts(self) -> bool {
        self != FaultKind::CacheFlush
    }
}

/// Which fault kinds and features one case may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swarm {
    /// Bit i enables [`FaultKind::ALL`]\[i\].
    pub faults: u8,
    /// Hold mode may be drawn (else release).
    pub hold: bool,
    /// X2 deadlines may be drawn.
    pub tempfail_deadline: bool,
    /// Files may be judged medium or high (else every file is clean).
    pub threats: bool,
    /// Analyses may be long (past the senders' timeouts), else at most a minute.
    pub long_analyses: bool,
}

impl Swarm {
    /// Everything enabled (`--no-swarm`).
    pub const ALL: Swarm = Swarm {
        faults: 0x7f,
        hold: true,
        tempfail_deadline: true,
        threats: true,
        long_analyses: true,
    };

    /// The fault kinds this swarm enables.
    pub fn kinds(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| self.faults & (1 << i) != 0)
            .map(|(_, k)| *k)
            .collect()
    }
}

/// One file of the pool: the same name in every message that draws it, so the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCase {
    /// File name.
    pub name: String,
    /// Its level, or `None` for the data center's default (clean).
    pub level: Option<ThreatLevel>,
    /// How long its analysis takes.
    pub analysis: Duration,
}

/// One message: when it is queued and which files of the pool it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCase {
    /// When it enters the sender's queue.
    pub at: Duration,
    /// Indexes into [`Case::files`] (taken modulo the pool's length).
    pub files: Vec<usize>,
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCase {
    /// What it does.
    pub kind: FaultKind,
    /// When it starts.
    pub at: Duration,
    /// How long it lasts (ignored for instant kinds).
    pub lasts: Duration,
}

/// A whole generated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The run's seed.
    pub seed: u64,
    /// Sending MTA preset (one of [`PRESETS`]).
    pub mta: &'static str,
    /// S2 hold (true) or S1 release.
    pub hold: bool,
    /// X1 on.
    pub dedupe: bool,
    /// X2 deadline.
    pub tempfail_deadline: Option<Duration>,
    /// X3 outage policy.
    pub outage: OutagePolicy,
    /// The pool of files.
    pub files: Vec<FileCase>,
    /// The messages.
    pub messages: Vec<MessageCase>,
    /// The faults.
    pub faults: Vec<FaultCase>,
}

impl Case {
    /// The virtual time every case simulates: past every timeout that matters to a few
    /// messages and faults within the first hours, short enough to run fast.
    pub const DURATION: Duration = Duration::from_secs(86_400);
}

/// File names: few, so files repeat across messages; one odd name. The pool has one file
/// of each.
const NAMES: [&str; 5] = [
    "report.pdf",
    "invoice.docx",
    "setup.exe",
    "photo.jpg",
    "ünïcode name.zip",
];

fn secs(range: std::ops::Range<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_secs)
}

/// A random subset of fault kinds and features.
pub fn swarm() -> impl Strategy<Value = Swarm> {
    (
        0u8..0x80,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(faults, hold, tempfail_deadline, threats, long_analyses)| Swarm {
                faults,
                hold,
                tempfail_deadline,
                threats,
                long_analyses,
            },
        )
}

/// A file as drawn, before the swarm trims it.
type RawFile = (Option<ThreatLevel>, Duration);

fn raw_file() -> impl Strategy<Value = RawFile> {
    // Up to 21 min: past Postfix's 10 min DATA timeout and the default analysis timeout.
    let level = prop_oneof![
        3 => Just(None),
        1 => Just(Some(ThreatLevel::Medium)),
        1 => Just(Some(ThreatLevel::High)),
    ];
    (level, secs(1..1_260))
}

fn message() -> impl Strategy<Value = MessageCase> {
    (secs(0..3_600), prop::collection::vec(0usize..5, 1..=3))
        .prop_map(|(at, files)| MessageCase { at, files })
}

/// A fault as drawn: which of the swarm's enabled kinds, when, how long.
type RawFault = (prop::sample::Index, Duration, Duration);

fn raw_fault() -> impl Strategy<Value = RawFault> {
    (
        any::<prop::sample::Index>(),
        secs(0..3_600),
        secs(1..3 * 3_600),
    )
}

/// The policy as drawn: seed, preset, hold, X1 off, X2 deadline, outage.
type RawPolicy = (
    u64,
    &'static str,
    bool,
    bool,
    Option<Duration>,
    OutagePolicy,
);

fn raw_policy() -> impl Strategy<Value = RawPolicy> {
    (
        0u64..1_000,
        prop::sample::select(PRESETS.to_vec()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(secs(60..1_200)),
        prop_oneof![
            Just(OutagePolicy::Allow),
            Just(OutagePolicy::Tempfail),
            Just(OutagePolicy::Apply)
        ],
    )
}

/// A case within `swarm`, from the values drawn. The swarm trims what it does not enable
/// here rather than steering the draws (no `prop_flat_map`), so that shrinking works on one
/// flat tree: shrinking the swarm then removes features instead of drawing a new world.
fn within(
    swarm: Swarm,
    policy: RawPolicy,
    files: Vec<RawFile>,
    messages: Vec<MessageCase>,
    faults: Vec<RawFault>,
) -> Case {
    let (seed, mta, hold, x1_off, deadline, outage) = policy;
    let kinds = swarm.kinds();
    let files = files
        .into_iter()
        .enumerate()
        .map(|(i, (level, analysis))| FileCase {
            name: NAMES[i % NAMES.len()].to_owned(),
            level: level.filter(|_| swarm.threats),
            analysis: if swarm.long_analyses {
                analysis
            } else {
                Duration::from_secs(1 + analysis.as_secs() % 60)
            },
        })
        .collect();
    let faults = if kinds.is_empty() {
        Vec::new()
    } else {
        faults
            .into_iter()
            .map(|(kind, at, lasts)| FaultCase {
                kind: kinds[kind.index(kinds.len())],
                at,
                lasts,
            })
            .collect()
    };
    Case {
        seed,
        mta,
        hold: hold && swarm.hold,
        dedupe: !x1_off,
        tempfail_deadline: deadline
            .filter(|_| swarm.tempfail_deadline)
            .map(|d| before_sender_timeout(mta, d)),
        outage,
        files,
        messages,
        faults,
    }
}

/// An X2 deadline the sender waits for: one at or past the preset's DATA timeout is a
/// misconfiguration the scenario warns about (X2 never fires), not a world to explore.
fn before_sender_timeout(mta: &str, deadline: Duration) -> Duration {
    match presets::preset(mta) {
        Some(p) if deadline >= p.timeouts.data_done => {
            let limit = p.timeouts.data_done.as_secs().saturating_sub(1).max(1);
            Duration::from_secs(1 + deadline.as_secs() % limit)
        }
        _ => deadline,
    }
}

/// A case within swarms drawn by `swarms`.
pub fn case_from(swarms: impl Strategy<Value = Swarm>) -> impl Strategy<Value = Case> {
    (
        swarms,
        raw_policy(),
        prop::collection::vec(raw_file(), NAMES.len()),
        prop::collection::vec(message(), 1..=6),
        prop::collection::vec(raw_fault(), 0..=3),
    )
        .prop_map(|(swarm, policy, files, messages, faults)| {
            within(swarm, policy, files, messages, faults)
        })
}

/// A whole case: with `swarm_on`, a random [`Swarm`] first; else [`Swarm::ALL`].
pub fn case(swarm_on: bool) -> BoxedStrategy<Case> {
    if swarm_on {
        case_from(swarm()).boxed()
    } else {
        case_from(Just(Swarm::ALL)).boxed()
    }
}
