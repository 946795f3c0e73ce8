//! Generated worlds: a [`Case`] is a small whole world (sender preset, policy, a pool of
//! files, messages drawing from it, faults, optionally an IMAP side with mail clients), and
//! [`case`] is its proptest strategy.
//!
//! What a world may have: hold or release, X1, X2, an outage policy (X3), a cache with a
//! short time to live or a few entries, per-level actions (any of the six for low, medium,
//! high); files of odd sizes (empty, one byte, 70 kB) and odd names (empty, quoted, very
//! long, a path, non-ASCII); the same file twice in one message (duplicates); archives of
//! several members; messages put straight into the mailbox; and faults of eleven kinds.
//! There is no sender-restart fault in the scenario format (the sending MTA keeps its
//! queue across the run), so none is generated.
//!
//! Small-first: few messages, few files, few faults, short times, so that proptest's
//! shrinking reaches a readable world in seconds. Files come from a pool shared by every
//! message, so the same file recurs across messages (cache hits, X1 dedupe).
//!
//! Swarm testing (Groce et al., ISSTA 2012): each case first draws a [`Swarm`], the subset
//! of fault kinds and features it may use, then generates within it; a case that may not
//! cut links explores the others more deeply than one where everything happens at once.

use std::time::Duration;

use aptsim_core::policy::{Action, OutagePolicy};
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::smtp::presets::{self, PRESETS};
use proptest::prelude::*;

use super::generate_imap::{self, ImapCase};

/// The fault kinds a case can use.
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
    /// `client_restart` (instant; IMAP worlds only).
    ClientRestart,
    /// `imap_server_down` (IMAP worlds only).
    ImapServerDown,
    /// `link_cut`, `link = "imap_client"` (IMAP worlds only).
    CutImapClient,
    /// `link_cut`, `link = "imap_server"` (IMAP worlds only).
    CutImapServer,
    /// `sender_restart`: the sending MTA stopped, down for up to ten minutes.
    SenderRestart,
}

impl FaultKind {
    /// Every kind, in a fixed order (the swarm's mask indexes it).
    pub const ALL: [FaultKind; 12] = [
        FaultKind::DatacenterUnreachable,
        FaultKind::DatacenterSlow,
        FaultKind::ServerDown,
        FaultKind::CacheFlush,
        FaultKind::CutClient,
        FaultKind::CutUpstream,
        FaultKind::CutDatacenter,
        FaultKind::ClientRestart,
        FaultKind::ImapServerDown,
        FaultKind::CutImapClient,
        FaultKind::CutImapServer,
        FaultKind::SenderRestart,
    ];

    /// True for a fault that lasts (has a `for`).
    pub fn lasts(self) -> bool {
        !matches!(self, FaultKind::CacheFlush | FaultKind::ClientRestart)
    }

    /// True for a fault of the IMAP side (drawn only in worlds with clients).
    pub fn imap(self) -> bool {
        matches!(
            self,
            FaultKind::ClientRestart
                | FaultKind::ImapServerDown
                | FaultKind::CutImapClient
                | FaultKind::CutImapServer
        )
    }
}

/// Which fault kinds and features one case may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swarm {
    /// Bit i enables [`FaultKind::ALL`]\[i\].
    pub faults: u16,
    /// Hold mode may be drawn (else release).
    pub hold: bool,
    /// X2 deadlines may be drawn.
    pub tempfail_deadline: bool,
    /// Files may be judged medium or high (else every file is clean).
    pub threats: bool,
    /// Analyses may be long (past the senders' timeouts), else at most a minute.
    pub long_analyses: bool,
    /// The cache may have a short time to live or few entries.
    pub cache_limits: bool,
    /// Levels may have other actions than the defaults.
    pub actions: bool,
    /// Files may go into archives.
    pub archives: bool,
    /// Files may have odd sizes and names.
    pub odd_files: bool,
    /// The world may have an IMAP side (clients, mailbox messages, IMAP faults).
    pub imap: bool,
}

impl Swarm {
    /// Everything enabled (`--no-swarm`).
    pub const ALL: Swarm = Swarm {
        faults: (1 << FaultKind::ALL.len()) - 1,
        hold: true,
        tempfail_deadline: true,
        threats: true,
        long_analyses: true,
        cache_limits: true,
        actions: true,
        archives: true,
        odd_files: true,
        imap: true,
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

/// One file of the pool: the same name and size in every message that draws it, so the same
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCase {
    /// File name.
    pub name: String,
    /// Size in bytes (the scenario's default, 2,000, unless odd).
    pub size: usize,
    /// Its level, or `None` for the data center's default (clean).
    pub level: Option<ThreatLevel>,
    /// How long its analysis takes.
    pub analysis: Duration,
}

/// One message: when it is queued and which files of the pool it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCase {
    /// When it enters the sender's queue (or the mailbox).
    pub at: Duration,
    /// Indexes into [`Case::files`] (taken modulo the pool's length); the same index twice
    /// is the same file attached twice.
    pub files: Vec<usize>,
    /// Per file, whether it goes into the message's archive `bundle.zip` (a file already in
    /// it stays outside: a zip holds a name once).
    pub archived: Vec<bool>,
    /// Put straight into the mailbox (`via = "mailbox"`), in a world with clients.
    pub mailbox: bool,
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
    /// The cache's time to live and capacity, or the defaults.
    pub cache: Option<(Duration, usize)>,
    /// Actions for low, medium and high, or the defaults.
    pub actions: Option<[Action; 3]>,
    /// The IMAP side, if any.
    pub imap: Option<ImapCase>,
    /// The pool of files.
    pub files: Vec<FileCase>,
    /// The messages.
    pub messages: Vec<MessageCase>,
    /// The faults.
    pub faults: Vec<FaultCase>,
}

impl Case {
    /// The virtual time an SMTP-only case simulates: past every timeout that matters to a
    /// few messages and faults within the first hours, short enough to run fast.
    pub const DURATION: Duration = Duration::from_secs(86_400);

    /// The virtual time a case with an IMAP side simulates: its clients check mail every few
    /// minutes, which costs; six hours is past every fault (the last ends within four) and
    /// every analysis, and a message still in flight at the end is a final state (N1).
    pub const IMAP_DURATION: Duration = Duration::from_secs(6 * 3_600);

    /// The virtual time this case simulates.
    pub fn simulated(&self) -> Duration {
        if self.imap.is_some() {
            Case::IMAP_DURATION
        } else {
            Case::DURATION
        }
    }
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

/// Odd names, one per pool slot (distinct, so that two slots never share bytes by name).
const ODD_NAMES: [&str; 5] = [
    "",
    "a \"quoted\"; name=x.pdf",
    "../../etc/passwd",
    "名前 with spaces and a very long tail that goes on and on and on and on and on and on and on and on and on and on.docx",
    "=?utf-8?q?encoded?=.exe",
];

/// Odd sizes: empty (every empty file has the same MD5, whatever its name), one byte, and
/// larger than an 8 KiB buffer (not larger still: a big file costs the debug build's
/// parsing more than it finds).
const ODD_SIZES: [usize; 3] = [0, 1, 9_000];

/// Every action, for per-level policies.
const ACTIONS: [Action; 6] = [
    Action::Allow,
    Action::Lock,
    Action::Drop,
    Action::Block,
    Action::Quarantine,
    Action::Deny,
];

fn secs(range: std::ops::Range<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_secs)
}

/// A random subset of fault kinds and features.
pub fn swarm() -> impl Strategy<Value = Swarm> {
    (
        0u16..(1 << FaultKind::ALL.len()),
        prop::array::uniform5(any::<bool>()),
        prop::array::uniform5(any::<bool>()),
    )
        .prop_map(|(faults, a, b)| Swarm {
            faults,
            hold: a[0],
            tempfail_deadline: a[1],
            threats: a[2],
            long_analyses: a[3],
            cache_limits: a[4],
            actions: b[0],
            archives: b[1],
            odd_files: b[2],
            imap: b[3] && b[4],
        })
}

/// A file as drawn, before the swarm trims it: level, analysis, odd name, odd size.
type RawFile = (Option<ThreatLevel>, Duration, bool, Option<usize>);

fn raw_file() -> impl Strategy<Value = RawFile> {
    // Up to 21 min: past Postfix's 10 min DATA timeout and the default analysis timeout.
    let level = prop_oneof![
        3 => Just(None),
        1 => Just(Some(ThreatLevel::Low)),
        1 => Just(Some(ThreatLevel::Medium)),
        1 => Just(Some(ThreatLevel::High)),
    ];
    (
        level,
        secs(1..1_260),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.3, prop::sample::select(ODD_SIZES.to_vec())),
    )
}

fn message() -> impl Strategy<Value = MessageCase> {
    (
        secs(0..3_600),
        prop::collection::vec((0usize..5, prop::bool::weighted(0.4)), 1..=3),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(at, files, mailbox)| MessageCase {
            at,
            archived: files.iter().map(|f| f.1).collect(),
            files: files.into_iter().map(|f| f.0).collect(),
            mailbox,
        })
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

/// The policy's extras as drawn: cache (time to live, capacity), actions per level.
type RawExtras = (Option<(Duration, usize)>, Option<[Action; 3]>);

fn raw_extras() -> impl Strategy<Value = RawExtras> {
    (
        prop::option::of((secs(60..7_200), 1usize..=4)),
        prop::option::of(prop::array::uniform3(prop::sample::select(
            ACTIONS.to_vec(),
        ))),
    )
}

/// How long a generated MTA restart keeps the MTA down, from a drawn fault duration: less
/// than ten minutes (zero is `systemctl restart`), where other faults last up to hours.
pub fn restart_downtime(drawn: Duration) -> Duration {
    Duration::from_secs(drawn.as_secs() % 600)
}

/// A case within `swarm`, from the values drawn. The swarm trims what it does not enable
/// here rather than steering the draws (no `prop_flat_map`), so that shrinking works on one
/// flat tree: shrinking the swarm then removes features instead of drawing a new world.
fn within(
    swarm: Swarm,
    (policy, extras): (RawPolicy, RawExtras),
    files: Vec<RawFile>,
    mut messages: Vec<MessageCase>,
    faults: Vec<RawFault>,
    imap: ImapCase,
) -> Case {
    let (seed, mta, hold, x1_off, deadline, outage) = policy;
    let imap = Some(imap).filter(|_| swarm.imap);
    let kinds: Vec<FaultKind> = (swarm.kinds().into_iter())
        .filter(|k| imap.is_some() || !k.imap())
        .collect();
    for m in &mut messages {
        m.mailbox &= imap.is_some();
        if !swarm.archives {
            m.archived.iter_mut().for_each(|a| *a = false);
        }
    }
    let files = files
        .into_iter()
        .enumerate()
        .map(|(i, (level, analysis, odd_name, odd_size))| FileCase {
            name: if odd_name && swarm.odd_files {
                ODD_NAMES[i % ODD_NAMES.len()]
            } else {
                NAMES[i % NAMES.len()]
            }
            .to_owned(),
            size: odd_size.filter(|_| swarm.odd_files).unwrap_or(2_000),
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
            .map(|(kind, at, lasts)| {
                let kind = kinds[kind.index(kinds.len())];
                let lasts = match kind {
                    FaultKind::SenderRestart => restart_downtime(lasts),
                    _ => lasts,
                };
                FaultCase { kind, at, lasts }
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
        cache: extras.0.filter(|_| swarm.cache_limits),
        actions: extras.1.filter(|_| swarm.actions),
        imap,
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
        (raw_policy(), raw_extras()),
        prop::collection::vec(raw_file(), NAMES.len()),
        prop::collection::vec(message(), 1..=6),
        prop::collection::vec(raw_fault(), 0..=3),
        generate_imap::imap(),
    )
        .prop_map(|(swarm, policy, files, messages, faults, imap)| {
            within(swarm, policy, files, messages, faults, imap)
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
