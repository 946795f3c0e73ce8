//! The scenario file format (TOML), mapped onto plain structs with serde. Unknown keys are
//! an error everywhere, so a typo never silently keeps a default; what serde cannot check
//! (bounds, consistency, names) is [`crate::validate`]. `docs/scenarios.md` is the
//! reference for users; this file is the reference for the code.

use std::time::Duration;

use aptsim_core::policy::{Action, Policy};
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::datacenter::DcConfig;
use aptsim_peers::smtp::presets;
use aptsim_peers::smtp::receiver::ReceiverConfig;
use aptsim_simulator::faults::Fault;
use serde::Deserialize;

use aptsim_core::duration::serde_text;

pub use crate::imap_format::{ClientSpec, ImapState, ImapWorld, Via};
pub use crate::totals::{CountRange, Totals};

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; defaults to the file name without `.toml`.
    #[serde(default)]
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Behaviour ids it covers (`S5`, `A1`, `X2`, …), shown by `aptsim list`.
    #[serde(default)]
    pub behaviours: Vec<String>,
    /// The run's seed, unless `--seed` gives another. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How much virtual time to simulate. Default 6 days: past every sender preset's queue
    /// lifetime (Postfix 5 d), so every message reaches a final state. At most
    /// [`crate::limits::MAX_DURATION`].
    #[serde(default = "default_duration", with = "serde_text")]
    pub duration: Duration,
    /// The gateway and its peers.
    #[serde(default)]
    pub world: World,
    /// Messages, each injected into the sender's queue at its time.
    #[serde(default, rename = "message")]
    pub messages: Vec<MessageSpec>,
    /// Generated messages, by rate and mix.
    #[serde(default)]
    pub traffic: Vec<TrafficSpec>,
    /// Faults, at given times ([`Fault`]).
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    /// Expectations per message.
    #[serde(default, rename = "expect")]
    pub expectations: Vec<Expectation>,
    /// Expectations on the whole run.
    #[serde(default)]
    pub totals: Totals,
    /// Mail clients reading mailboxes through the gateway's IMAP proxy.
    #[serde(default, rename = "client")]
    pub clients: Vec<ClientSpec>,
}

fn default_seed() -> u64 {
    1
}

fn default_duration() -> Duration {
    Duration::from_secs(6 * 86_400)
}

/// The simulated world.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct World {
    /// Sending MTA preset: `postfix`, `exim`, `sendmail` or `exchange`. Default `postfix`.
    pub mta: String,
    /// Overrides of the preset's DATA-termination timeout (the wait for the reply to the
    /// final dot).
    #[serde(with = "aptsim_core::duration::serde_text_opt")]
    pub data_done_timeout: Option<Duration>,
    /// One-way latency of every link. Default 5 ms, at most [`crate::limits::MAX_LATENCY`].
    #[serde(with = "serde_text")]
    pub latency: Duration,
    /// The gateway's policy (the same keys as a policy file).
    pub policy: Policy,
    /// The SMTP proxy's limits and timeouts.
    pub proxy: ProxyConfig,
    /// The data center: the simulator's own settings ([`DcConfig`], defaults documented
    /// there).
    pub datacenter: DcConfig,
    /// The receiving mail server ([`ReceiverConfig`]).
    pub server: ReceiverConfig,
    /// The IMAP proxy and server (used when the scenario has clients or mailbox messages).
    pub imap: ImapWorld,
}

impl World {
    /// The sending MTA: its preset, with the scenario's override of the DATA-termination
    /// timeout.
    pub fn sender(&self) -> Result<presets::SenderPreset, String> {
        let mut sender = presets::preset(&self.mta).ok_or_else(|| {
            format!(
                "unknown mta preset {:?} ({})",
                self.mta,
                presets::PRESETS.join(", ")
            )
        })?;
        if let Some(d) = self.data_done_timeout {
            sender.timeouts.data_done = d;
        }
        Ok(sender)
    }
}

impl Default for World {
    fn default() -> Self {
        World {
            mta: "postfix".to_owned(),
            data_done_timeout: None,
            latency: Duration::from_millis(5),
            policy: Policy::default(),
            proxy: ProxyConfig::default(),
            datacenter: DcConfig::default(),
            server: ReceiverConfig::default(),
            imap: ImapWorld::default(),
        }
    }
}

/// One message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// Its id (the `X-Aptsim-Id` header); expectations name it.
    pub id: String,
    /// When it enters the sender's queue. Default 0; within the scenario's `duration`.
    #[serde(default, with = "serde_text")]
    pub at: Duration,
    /// Reverse path. Default `alice@example.com`.
    #[serde(default = "default_from")]
    pub from: String,
    /// Recipients. Default `["bob@example.net"]`.
    #[serde(default = "default_to")]
    pub to: Vec<String>,
    /// Attachments; members naming the same `archive` are zipped into one attachment. At
    /// most [`crate::limits::MAX_ATTACHMENTS_PER_MESSAGE`].
    #[serde(default, rename = "attachment")]
    pub attachments: Vec<AttachmentSpec>,
    /// `smtp` (default): sent through the SMTP proxy; `mailbox`: put straight into the
    /// recipients' INBOX at `at`.
    #[serde(default)]
    pub via: Via,
}

fn default_from() -> String {
    "alice@example.com".to_owned()
}

fn default_to() -> Vec<String> {
    vec!["bob@example.net".to_owned()]
}

/// One file. The same name and size give the same bytes in every message of a scenario, so
/// "the same file" is written by naming it again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSpec {
    /// File name.
    pub name: String,
    /// Size in bytes. Default 2,000, at most [`crate::limits::MAX_ATTACHMENT_SIZE`].
    #[serde(default = "default_size")]
    pub size: usize,
    /// What the data center will judge it. Default: the data center's default level.
    pub level: Option<ThreatLevel>,
    /// Its score (0–100), if a particular one matters. With `level` too, the policy's
    /// thresholds must put the score at that level.
    pub score: Option<u8>,
    /// How long its analysis takes. Default: the data center's analysis time.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub analysis: Option<Duration>,
    /// `eicar` for the EICAR test file (judged high); otherwise pseudo-random bytes.
    pub content: Option<String>,
    /// Put this file into the zip attachment of this name.
    pub archive: Option<String>,
}

fn default_size() -> usize {
    2_000
}

/// Messages generated by rate and mix: `count` messages, one every `every` from `start`,
/// each with `attachments` files drawn (seeded) from a pool of `pool` distinct files, of
/// which the fraction `high` is judged high, `medium` medium, the rest clean. Ids are
/// `PREFIX-N`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSpec {
    /// Id prefix. Default `gen`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How many messages: 1 to [`crate::limits::MAX_MESSAGES`], the last one queued
    /// within the scenario's `duration`.
    pub count: usize,
    /// When the first is queued. Default 0.
    #[serde(default, with = "serde_text")]
    pub start: Duration,
    /// Time between two messages. Default 1 s.
    #[serde(default = "default_every", with = "serde_text")]
    pub every: Duration,
    /// Files per message. Default 1, at most
    /// [`crate::limits::MAX_ATTACHMENTS_PER_MESSAGE`].
    #[serde(default = "default_one")]
    pub attachments: usize,
    /// Size of each file in bytes. Default 2,000, at most
    /// [`crate::limits::MAX_ATTACHMENT_SIZE`].
    #[serde(default = "default_size")]
    pub size: usize,
    /// Distinct files to draw from; a small pool means many repeats (cache hits, X1).
    /// Default: as many as the traffic has files (every file new). 1 to
    /// [`crate::limits::MAX_POOL`].
    pub pool: Option<usize>,
    /// Fraction of the pool judged high, 0 to 1 (`high + medium` at most 1). Default 0.
    #[serde(default)]
    pub high: f64,
    /// Fraction of the pool judged medium. Default 0.
    #[serde(default)]
    pub medium: f64,
    /// `smtp` (default) or `mailbox`: the generated messages go straight into the
    /// recipient's INBOX (a mailbox to sync).
    #[serde(default)]
    pub via: Via,
    /// Recipient of every generated message. Default `user@example.net`.
    #[serde(default = "default_traffic_rcpt")]
    pub to: String,
}

fn default_traffic_rcpt() -> String {
    "user@example.net".to_owned()
}

fn default_prefix() -> String {
    "gen".to_owned()
}

fn default_every() -> Duration {
    Duration::from_secs(1)
}

fn default_one() -> usize {
    1
}

/// What must hold for one message at the end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The message id.
    pub message: String,
    /// Its final state: `delivered`, `quarantined`, `denied`, `expired` or `in_flight`.
    pub state: Option<String>,
    /// Delivery attempts made: a count or a range (`{ min = 1, max = 2 }`).
    pub attempts: Option<CountRange>,
    /// First delivered no earlier than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub delivered_after: Option<Duration>,
    /// First delivered no later than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub delivered_before: Option<Duration>,
    /// Reached its final state (any of them: delivered, quarantined, denied, expired) no
    /// earlier than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub decided_after: Option<Duration>,
    /// Reached its final state no later than this; a message still in flight fails.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub decided_before: Option<Duration>,
    /// Uploads made for this message's files.
    pub uploads: Option<CountRange>,
    /// Times the sender gave up waiting for a reply while sending this message.
    pub sender_timeouts: Option<CountRange>,
    /// Where the last decision's verdicts came from: `cache` (every judged file from the
    /// cache) or `analysis`.
    pub verdicts_from: Option<VerdictsFrom>,
    /// The last decision's action.
    pub action: Option<Action>,
    /// The delivered message still holds its attachments (false: some were removed).
    pub attachments_intact: Option<bool>,
    /// What the mail client ends up holding: `fetched`, `fetched_rewritten`,
    /// `replaced_by_notice` or `not_fetched`.
    pub imap: Option<ImapState>,
    /// Which client's view (`imap`, `fetch_attempts`, `fetched_*`); default: the only one.
    pub client: Option<String>,
    /// Downloads the client needed (its own count of attempts).
    pub fetch_attempts: Option<CountRange>,
    /// First held by the client no earlier than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub fetched_after: Option<Duration>,
    /// First held by the client no later than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub fetched_before: Option<Duration>,
    /// Where the IMAP proxy's last decision on it took its verdicts from.
    pub imap_verdicts_from: Option<VerdictsFrom>,
    /// An attachment part first held by the client (K-9 opening it) no earlier than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub part_fetched_after: Option<Duration>,
    /// An attachment part first held by the client no later than this.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub part_fetched_before: Option<Duration>,
}

/// Where a decision's verdicts came from, as an expectation names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictsFrom {
    /// Every judged file's verdict came from the cache (S6).
    Cache,
    /// At least one file was analysed by the data center.
    Analysis,
}

impl VerdictsFrom {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictsFrom::Cache => "cache",
            VerdictsFrom::Analysis => "analysis",
        }
    }
}

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML or an unknown key.
    #[error("{path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// What the parser said.
        source: toml::de::Error,
    },
    /// Well-formed but inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Scenario {
    /// Parses a scenario; `path` names it in errors and gives the default name.
    pub fn from_toml(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Syntax {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_owned(),
            message,
        };
        if text.trim().is_empty() {
            return Err(invalid("the file is empty".to_owned()));
        }
        if s.name.is_empty() {
            s.name = std::path::Path::new(path)
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_owned());
        }
        // Numbered before the checks, so that a fault named `fault-2` and an unnamed second
        // fault are caught as one id used twice.
        for (i, f) in s.faults.iter_mut().enumerate() {
            if f.id.is_empty() {
                f.id = format!("fault-{}", i + 1);
            }
        }
        crate::validate::check(&s).map_err(invalid)?;
        Ok(s)
    }

    /// What is valid but cannot do what it is written for (a `tempfail_deadline` the sender
    /// never waits for), one sentence each, starting with the key. Print them; the run goes
    /// on.
    pub fn warnings(&self) -> Vec<String> {
        crate::validate::warnings(self)
    }
}
