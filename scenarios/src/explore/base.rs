//! Exploring around a user's own scenario (`aptsim explore --base FILE`): the user's world —
//! policy, presets, proxy and server settings, traffic, clients, faults — is kept, and each
//! case varies what a configuration must survive: message times, analysis times, the files'
//! verdicts, fault times and durations, the seed, and up to two extra faults of the kinds
//! the world can have (chosen per case by swarm). The user's `[[expect]]` and `[totals]` are
//! left out: they pin the timings of the file as written, which the variations change; the
//! properties (N1–N9, N8, the metamorphic ones) need no expectations.
//!
//! A variation edits the file's own TOML table, so the written failure is the user's file
//! with a few values changed (comments and key order are not kept). Every varied value is
//! an `Option` or a `keep` flag that proptest shrinks towards the file as written, or
//! towards dropping a message or a fault: a shrunk failure is the user's world with the
//! fewest changes that still fail.
//!
//! With `keep_totals` (`--keep-totals`), the file's `[totals]` stay in every variation:
//! counts the user wants whatever the timings (`duplicates = 0`, `exposures = 0`) are then
//! properties too, and a world breaking one fails as `expect`, which `aptsim run` shows on
//! the written file as it is.

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::duration::format as show;
use aptsim_core::verdict::ThreatLevel;
use aptsim_simulator::faults::{FaultAction, LinkName};
use proptest::prelude::*;

use crate::format::{Scenario, Via};

use super::World;

/// The part of a path `--base` names that goes into a written file's name: its stem.
pub fn stem(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| "base".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// A user's scenario to vary: its table as written and as parsed.
#[derive(Debug)]
pub struct Base {
    /// The file's TOML, without `expect` (and `totals`, unless kept).
    table: toml::Table,
    /// The same file parsed (times, fault kinds, attachments as the run sees them).
    scenario: Scenario,
    /// Its distinct files, `(name, size)`, each varied once wherever it is attached (an
    /// `eicar` file keeps its verdict).
    files: Vec<(String, usize)>,
    /// Extra fault kinds this world can have.
    kinds: Vec<FaultAction>,
}

impl Base {
    /// Reads a base scenario; `path` names it in errors. `keep_totals` keeps its
    /// `[totals]` in every variation.
    pub fn from_toml(text: &str, path: &str, keep_totals: bool) -> Result<Base, String> {
        let scenario = Scenario::from_toml(text, path).map_err(|e| e.to_string())?;
        let mut table: toml::Table = text.parse().map_err(|e| format!("{path}: {e}"))?;
        table.remove("expect");
        if !keep_totals {
            table.remove("totals");
        }
        let mut files = Vec::new();
        for a in scenario.messages.iter().flat_map(|m| &m.attachments) {
            let key = (a.name.clone(), a.size);
            if a.content.is_none() && !files.contains(&key) {
                files.push(key);
            }
        }
        let smtp = scenario.messages.iter().any(|m| m.via == Via::Smtp)
            || scenario.traffic.iter().any(|t| t.via == Via::Smtp);
        let mut kinds = vec![
            FaultAction::DatacenterUnreachable,
            FaultAction::DatacenterSlow,
            FaultAction::CacheFlush,
            FaultAction::LinkCut(LinkName::Datacenter),
        ];
        if smtp {
            kinds.extend([
                FaultAction::ServerDown,
                FaultAction::LinkCut(LinkName::Client),
                FaultAction::LinkCut(LinkName::Upstream),
                FaultAction::SenderRestart,
            ]);
        }
        if !scenario.clients.is_empty() {
            kinds.extend([
                FaultAction::ClientRestart,
                FaultAction::ImapServerDown,
                FaultAction::LinkCut(LinkName::ImapClient),
                FaultAction::LinkCut(LinkName::ImapServer),
            ]);
        }
        Ok(Base {
            table,
            scenario,
            files,
            kinds,
        })
    }

    /// Reads the base scenario at `path` ([`Base::from_toml`]).
    pub fn load(path: &str, keep_totals: bool) -> Result<Base, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Base::from_toml(&text, path, keep_totals)
    }

    /// Until when extra faults and shifted times are drawn: an hour past the last written
    /// message (or traffic start), within the run.
    fn horizon(&self) -> Duration {
        let last = self
            .scenario
            .messages
            .iter()
            .map(|m| m.at)
            .chain(self.scenario.traffic.iter().map(|t| t.start))
            .max()
            .unwrap_or_default();
        (last + Duration::from_secs(3_600)).min(self.scenario.duration)
    }
}

/// A verdict given to a file instead of the written one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictChange {
    /// `level = "…"` (any `score` removed).
    Level(ThreatLevel),
    /// `score = N` (any `level` removed).
    Score(u8),
}

/// How one message is varied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageChange {
    /// False drops it (what shrinking tries, to reach fewer messages).
    pub keep: bool,
    /// Seconds added to its time (clamped to the run).
    pub shift: Option<i64>,
}

/// How one written fault is varied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultChange {
    /// False drops it.
    pub keep: bool,
    /// Seconds added to its time.
    pub shift: Option<i64>,
    /// A new duration (for a fault that lasts).
    pub lasts: Option<Duration>,
}

/// How one file is varied, wherever it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// A new analysis time.
    pub analysis: Option<Duration>,
    /// A new verdict.
    pub verdict: Option<VerdictChange>,
}

/// A fault added to the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFault {
    /// What it does.
    pub action: FaultAction,
    /// When.
    pub at: Duration,
    /// How long, for one that lasts.
    pub lasts: Duration,
}

/// One variation of a base: the world the explorer runs.
#[derive(Debug, Clone)]
pub struct Varied {
    /// The base.
    pub base: Arc<Base>,
    /// Another seed, or the file's.
    pub seed: Option<u64>,
    /// One per written message, in file order.
    pub messages: Vec<MessageChange>,
    /// One per distinct file ([`Base`]'s order).
    pub files: Vec<FileChange>,
    /// One per written fault.
    pub faults: Vec<FaultChange>,
    /// Per traffic block: the percentage of its messages kept (at least one).
    pub traffic: Vec<u8>,
    /// Faults added.
    pub extra: Vec<ExtraFault>,
}

fn shifted(at: Duration, shift: Option<i64>, limit: Duration) -> Duration {
    let Some(s) = shift else { return at };
    let ms = at.as_millis() as i64 + s * 1_000;
    Duration::from_millis(ms.max(0) as u64).min(limit)
}

/// The latest a shifted time may be: a second before the run ends, so that a fault shifted
/// to the end still takes effect (N9) and a message is still sent.
fn last_moment(s: &Scenario) -> Duration {
    s.duration.saturating_sub(Duration::from_secs(1))
}

fn text(d: Duration) -> toml::Value {
    toml::Value::String(show(d))
}

impl Varied {
    /// Whether written message `i` stays: as drawn, except that a world left with no
    /// messages at all keeps its first (a scenario must have some).
    fn kept(&self, i: usize) -> bool {
        let none = self.base.scenario.traffic.is_empty() && !self.messages.iter().any(|m| m.keep);
        self.messages.get(i).is_some_and(|m| m.keep) || (none && i == 0)
    }

    fn edit_messages(&self, table: &mut toml::Table) {
        let s = &self.base.scenario;
        let Some(toml::Value::Array(messages)) = table.get_mut("message") else {
            return;
        };
        let mut kept = Vec::new();
        for (i, m) in std::mem::take(messages).into_iter().enumerate() {
            let (Some(change), Some(spec)) = (self.messages.get(i), s.messages.get(i)) else {
                continue;
            };
            let toml::Value::Table(mut m) = m else {
                continue;
            };
            if !self.kept(i) {
                continue;
            }
            m.insert(
                "at".into(),
                text(shifted(spec.at, change.shift, last_moment(s))),
            );
            if let Some(toml::Value::Array(attachments)) = m.get_mut("attachment") {
                for (a, spec) in attachments.iter_mut().zip(&spec.attachments) {
                    let key = (spec.name.clone(), spec.size);
                    let index = self.base.files.iter().position(|f| *f == key);
                    if let (toml::Value::Table(a), Some(i)) = (a, index) {
                        self.edit_file(a, &self.files[i]);
                    }
                }
            }
            kept.push(toml::Value::Table(m));
        }
        *messages = kept;
    }

    fn edit_file(&self, a: &mut toml::Table, change: &FileChange) {
        if let Some(d) = change.analysis {
            a.insert("analysis".into(), text(d));
        }
        match change.verdict {
            Some(VerdictChange::Level(level)) => {
                a.remove("score");
                a.insert("level".into(), toml::Value::String(level.to_string()));
            }
            Some(VerdictChange::Score(score)) => {
                a.remove("level");
                a.insert("score".into(), toml::Value::Integer(i64::from(score)));
            }
            None => {}
        }
    }

    fn edit_faults(&self, table: &mut toml::Table) {
        let s = &self.base.scenario;
        let mut kept = Vec::new();
        if let Some(toml::Value::Array(faults)) = table.remove("fault") {
            for (i, f) in faults.into_iter().enumerate() {
                let (Some(change), Some(spec), toml::Value::Table(mut f)) =
                    (self.faults.get(i), s.faults.get(i), f)
                else {
                    continue;
                };
                if !change.keep {
                    continue;
                }
                // The id as the run numbered it, so that dropping another fault renumbers
                // nothing.
                f.insert("id".into(), toml::Value::String(spec.id.clone()));
                f.insert(
                    "at".into(),
                    text(shifted(spec.at, change.shift, last_moment(s))),
                );
                if let (Some(d), true) = (change.lasts, spec.action.lasts()) {
                    f.insert("for".into(), text(restart_within_minutes(spec.action, d)));
                }
                kept.push(toml::Value::Table(f));
            }
        }
        for (i, x) in self.extra.iter().enumerate() {
            let mut f = toml::Table::new();
            f.insert("id".into(), format!("explore-f{}", i + 1).into());
            f.insert("at".into(), text(x.at.min(last_moment(s))));
            let (kind, link) = fault_kind(x.action);
            f.insert("kind".into(), kind.into());
            if let Some(link) = link {
                f.insert("link".into(), link.into());
            }
            if x.action.lasts() {
                f.insert("for".into(), text(x.lasts));
            }
            kept.push(toml::Value::Table(f));
        }
        if !kept.is_empty() {
            table.insert("fault".into(), toml::Value::Array(kept));
        }
    }

    fn edit_traffic(&self, table: &mut toml::Table) {
        let Some(toml::Value::Array(traffic)) = table.get_mut("traffic") else {
            return;
        };
        for ((t, spec), pct) in traffic
            .iter_mut()
            .zip(&self.base.scenario.traffic)
            .zip(&self.traffic)
        {
            if let toml::Value::Table(t) = t {
                let count = (spec.count * usize::from(*pct)).div_ceil(100).max(1);
                t.insert("count".into(), toml::Value::Integer(count as i64));
            }
        }
    }
}

/// A drawn duration as it stands for every fault but an MTA restart
/// ([`super::generate::restart_downtime`]).
fn restart_within_minutes(action: FaultAction, d: Duration) -> Duration {
    match action {
        FaultAction::SenderRestart => super::generate::restart_downtime(d),
        _ => d,
    }
}

/// A fault action as a scenario file writes it: `kind`, and `link` for a cut.
pub fn fault_kind(action: FaultAction) -> (&'static str, Option<&'static str>) {
    match action {
        FaultAction::LinkCut(link) => (
            "link_cut",
            Some(match link {
                LinkName::Client => "client",
                LinkName::Upstream => "upstream",
                LinkName::Datacenter => "datacenter",
                LinkName::ImapClient => "imap_client",
                LinkName::ImapServer => "imap_server",
            }),
        ),
        other => (other.name(), None),
    }
}

impl World for Varied {
    fn to_toml(&self, name: &str, description: &str) -> String {
        let mut table = self.base.table.clone();
        table.insert("name".into(), name.into());
        table.insert("description".into(), description.into());
        if let Some(seed) = self.seed {
            table.insert("seed".into(), toml::Value::Integer(seed as i64));
        }
        self.edit_messages(&mut table);
        self.edit_faults(&mut table);
        self.edit_traffic(&mut table);
        // A table of strings, numbers and tables always serializes.
        toml::to_string(&table).unwrap_or_default()
    }

    fn messages(&self) -> u64 {
        let written = (0..self.messages.len()).filter(|i| self.kept(*i)).count();
        let generated: usize = (self.base.scenario.traffic.iter())
            .zip(&self.traffic)
            .map(|(t, pct)| (t.count * usize::from(*pct)).div_ceil(100).max(1))
            .sum();
        (written + generated) as u64
    }

    fn duration(&self) -> Duration {
        self.base.scenario.duration
    }
}

fn verdict() -> impl Strategy<Value = VerdictChange> {
    prop_oneof![
        prop::sample::select(ThreatLevel::ALL.to_vec()).prop_map(VerdictChange::Level),
        (0u8..=100).prop_map(VerdictChange::Score),
    ]
}

/// Variations of `base`. With `swarm`, each case may add only some kinds of extra fault (a
/// random subset of those the world can have).
pub fn varied(base: Arc<Base>, swarm: bool) -> impl Strategy<Value = Varied> {
    let s = &base.scenario;
    let sizes = (
        s.messages.len(),
        base.files.len(),
        s.faults.len(),
        s.traffic.len(),
    );
    let horizon = base.horizon().as_secs().max(1);
    let message = (prop::bool::weighted(0.95), prop::option::of(-600i64..1_800))
        .prop_map(|(keep, shift)| MessageChange { keep, shift });
    let file = (
        prop::option::of((1u64..1_260).prop_map(Duration::from_secs)),
        prop::option::weighted(0.3, verdict()),
    )
        .prop_map(|(analysis, verdict)| FileChange { analysis, verdict });
    let fault = (
        prop::bool::weighted(0.9),
        prop::option::of(-600i64..1_800),
        prop::option::of((1u64..3 * 3_600).prop_map(Duration::from_secs)),
    )
        .prop_map(|(keep, shift, lasts)| FaultChange { keep, shift, lasts });
    let kinds = base.kinds.clone();
    let mask = if swarm {
        (1u16..(1 << kinds.len())).boxed()
    } else {
        Just((1u16 << kinds.len()) - 1).boxed()
    };
    let extra = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            (0..horizon).prop_map(Duration::from_secs),
            (1u64..3 * 3_600).prop_map(Duration::from_secs),
        ),
        0..=2,
    );
    let traffic = prop_oneof![3 => Just(100u8), 1 => 1u8..=100];
    (
        prop::option::weighted(0.8, 0u64..1_000_000),
        prop::collection::vec(message, sizes.0),
        prop::collection::vec(file, sizes.1),
        prop::collection::vec(fault, sizes.2),
        prop::collection::vec(traffic, sizes.3),
        mask,
        extra,
    )
        .prop_map(
            move |(seed, messages, files, faults, traffic, mask, extra)| {
                let enabled: Vec<FaultAction> = (kinds.iter().enumerate())
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, k)| *k)
                    .collect();
                let extra = if enabled.is_empty() {
                    Vec::new()
                } else {
                    extra
                        .into_iter()
                        .map(|(kind, at, lasts)| {
                            let action = enabled[kind.index(enabled.len())];
                            ExtraFault {
                                action,
                                at,
                                lasts: restart_within_minutes(action, lasts),
                            }
                        })
                        .collect()
                };
                Varied {
                    base: Arc::clone(&base),
                    seed,
                    messages,
                    files,
                    faults,
                    traffic,
                    extra,
                }
            },
        )
}
