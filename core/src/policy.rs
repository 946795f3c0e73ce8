//! What the gateway does with a judged file: the action per threat level (A1), and the named
//! options around it — release mode (S1), in-flight dedupe (X1), proactive tempfail (X2), the
//! outage policy (S7/X3) — with every default and its source.
//!
//! A policy is a plain struct with `Default`, loadable from TOML ([`Policy::from_toml`]);
//! unknown keys are an error so that a typo never silently keeps a default.

use std::fmt;
use std::time::Duration;

use crate::cache::CacheConfig;
use crate::mime::MimeLimits;
use crate::verdict::{ThreatLevel, Thresholds};

/// What happens to a file (and through it, its message).
///
/// The order is the precedence of message-wide actions over per-attachment ones (A1):
/// `deny > quarantine > block > drop > lock > allow`, so a message's action is the `max` of
/// its files' actions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver unchanged.
    Allow,
    /// Replace the attachment with a locked copy only an administrator can release.
    Lock,
    /// Remove the attachment, put the deny message in its place, deliver the rest.
    Drop,
    /// As `drop`, and refuse the sending site for [`Policy::block_duration`].
    Block,
    /// SMTP: the whole message goes to the quarantine store. IMAP: replaced by the deny message.
    Quarantine,
    /// SMTP: refuse the transaction with `554 5.7.1`. IMAP: replaced by the deny message.
    Deny,
}

impl Action {
    /// The lowercase name used in configuration, deny messages and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Lock => "lock",
            Action::Drop => "drop",
            Action::Block => "block",
            Action::Quarantine => "quarantine",
            Action::Deny => "deny",
        }
    }

    /// True for actions that change or stop the message as a whole rather than one attachment.
    pub fn is_message_wide(self) -> bool {
        matches!(self, Action::Quarantine | Action::Deny)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action for one level, and whether to raise an alarm and write a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelPolicy {
    /// What to do.
    pub action: Action,
    /// Raise an alarm (notify the administrator). Default false.
    #[serde(default)]
    pub alarm: bool,
    /// Write a log record. Default false.
    #[serde(default)]
    pub log: bool,
}

impl LevelPolicy {
    const fn new(action: Action, alarm: bool, log: bool) -> Self {
        LevelPolicy { action, alarm, log }
    }
}

/// One [`LevelPolicy`] per threat level.
///
/// Defaults (the reference's are not public; chosen to be safe and visible, BEHAVIOUR.md A1):
/// clean `allow`; low `allow` + log; medium `drop` + alarm + log; high `deny` + alarm + log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Levels {
    /// For clean files.
    pub clean: LevelPolicy,
    /// For low-threat files.
    pub low: LevelPolicy,
    /// For medium-threat files.
    pub medium: LevelPolicy,
    /// For high-threat files.
    pub high: LevelPolicy,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            clean: LevelPolicy::new(Action::Allow, false, false),
            low: LevelPolicy::new(Action::Allow, false, true),
            medium: LevelPolicy::new(Action::Drop, true, true),
            high: LevelPolicy::new(Action::Deny, true, true),
        }
    }
}

impl Levels {
    /// The policy for `level`.
    pub fn get(&self, level: ThreatLevel) -> LevelPolicy {
        match level {
            ThreatLevel::Clean => self.clean,
            ThreatLevel::Low => self.low,
            ThreatLevel::Medium => self.medium,
            ThreatLevel::High => self.high,
        }
    }
}

/// What to do with a file the data center could not judge (X3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutagePolicy {
    /// Let it through (the reference gateway: "APT Blocker allows the message"; S7, I4).
    Allow,
    /// Answer `451 4.7.0` so the sender retries later (clamav-milter's and Exim's default).
    Tempfail,
    /// Act as if the file were judged [`Policy::outage_level`] (Microsoft's `ActionOnError`).
    Apply,
}

/// The gateway's APT policy. Field docs give each default and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// S1: SMTP delivers a message with unknown files at once and analyses them in the
    /// background. Default **on**, as in the reference ("enabled by default"). Off is S2 hold.
    pub release_immediately: bool,
    /// X1: a file already under analysis for one message is not uploaded again for another.
    /// Default on; off reproduces the plain reference.
    pub dedupe_in_flight: bool,
    /// X2: in SMTP hold mode, answer `451 4.7.0` this long after the end of DATA if the
    /// message is still held, so the sender retries cleanly instead of timing out. Default
    /// off. Set it below the senders' DATA-termination timeout (Postfix 600 s, RFC 5321
    /// §4.5.3.2: 10 min), e.g. `9m`.
    #[serde(with = "crate::duration::serde_text_opt")]
    pub tempfail_deadline: Option<Duration>,
    /// X3 / S7 / I4: what to do when the data center cannot be reached. Default `allow`, the
    /// reference's behaviour.
    pub outage: OutagePolicy,
    /// The level `outage = "apply"` treats unjudged files as. Default `high`.
    pub outage_level: ThreatLevel,
    /// How long to wait for one file's verdict before treating the data center as *slow*
    /// (connected, no answer) and applying the outage policy. Default 20 min: Bitdefender
    /// quotes "up to 20 minutes", Proofpoint caps at 15 (TIMINGS.md).
    #[serde(with = "crate::duration::serde_text")]
    pub analysis_timeout: Duration,
    /// The level given to a file that cannot be analysed (an encrypted archive member, an
    /// archive over its limits, a message over the size or nesting limits). Default `medium`:
    /// the reference is silent; what cannot be seen is stripped and reported, not passed.
    pub unscannable_level: ThreatLevel,
    /// How long `block` refuses the sending site. Default 20 min (BEHAVIOUR.md A1).
    #[serde(with = "crate::duration::serde_text")]
    pub block_duration: Duration,
    /// Text put in place of a removed attachment, or of a whole message (IMAP deny and
    /// quarantine). Variables: `%(reason)%`, `%(filename)%`, `%(virus)%`, `%(action)%`,
    /// `%(recovery)%`.
    pub deny_message: String,
    /// Score thresholds of the levels.
    pub thresholds: Thresholds,
    /// Action, alarm and log per level (A1).
    pub levels: Levels,
    /// The verdict cache.
    pub cache: CacheConfig,
    /// Bounds on parsing one message.
    pub limits: MimeLimits,
}

/// The default deny message.
pub const DEFAULT_DENY_MESSAGE: &str = "The attachment \"%(filename)%\" was removed by the \
email security gateway (action: %(action)%).\r\nReason: %(reason)%\r\nThreat: %(virus)%\r\n\
%(recovery)%";

impl Default for Policy {
    fn default() -> Self {
        Policy {
            release_immediately: true,
            dedupe_in_flight: true,
            tempfail_deadline: None,
            outage: OutagePolicy::Allow,
            outage_level: ThreatLevel::High,
            analysis_timeout: Duration::from_secs(20 * 60),
            unscannable_level: ThreatLevel::Medium,
            block_duration: Duration::from_secs(20 * 60),
            deny_message: DEFAULT_DENY_MESSAGE.to_owned(),
            thresholds: Thresholds::default(),
            levels: Levels::default(),
            cache: CacheConfig::default(),
            limits: MimeLimits::default(),
        }
    }
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("policy: {0}")]
    Syntax(#[from] toml::de::Error),
    /// Well-formed but inconsistent.
    #[error("policy: {0}")]
    Invalid(String),
}

impl Policy {
    /// Reads a policy from TOML; absent keys keep their defaults.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks what serde cannot: rising thresholds, a usable analysis timeout.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.thresholds.validate().map_err(PolicyError::Invalid)?;
        if self.analysis_timeout.is_zero() {
            return Err(PolicyError::Invalid(
                "analysis_timeout must be above zero".into(),
            ));
        }
        Ok(())
    }

    /// The policy for `level`.
    pub fn level(&self, level: ThreatLevel) -> LevelPolicy {
        self.levels.get(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_deny_quarantine_block_drop_lock_allow() {
        let mut all = [
            Action::Lock,
            Action::Deny,
            Action::Allow,
            Action::Block,
            Action::Quarantine,
            Action::Drop,
        ];
        all.sort();
        assert_eq!(
            all,
            [
                Action::Allow,
                Action::Lock,
                Action::Drop,
                Action::Block,
                Action::Quarantine,
                Action::Deny
            ]
        );
    }

    #[test]
    fn defaults_match_the_catalogue() {
        let p = Policy::default();
        assert!(p.release_immediately);
        assert!(p.dedupe_in_flight);
        assert_eq!(p.tempfail_deadline, None);
        assert_eq!(p.outage, OutagePolicy::Allow);
        assert_eq!(p.level(ThreatLevel::High).action, Action::Deny);
        assert_eq!(p.level(ThreatLevel::Medium).action, Action::Drop);
        assert!(p.level(ThreatLevel::Low).log && !p.level(ThreatLevel::Low).alarm);
    }

    #[test]
    fn toml_overrides_and_keeps_defaults() {
        let p = Policy::from_toml(
            r#"
            release_immediately = false
            tempfail_deadline = "9m"
            outage = "tempfail"
            [levels.high]
            action = "quarantine"
            alarm = true
            [cache]
            ttl = "2h"
            "#,
        )
        .expect("valid policy");
        assert!(!p.release_immediately);
        assert_eq!(p.tempfail_deadline, Some(Duration::from_secs(540)));
        assert_eq!(p.outage, OutagePolicy::Tempfail);
        assert_eq!(p.level(ThreatLevel::High).action, Action::Quarantine);
        assert!(!p.level(ThreatLevel::High).log);
        assert_eq!(p.level(ThreatLevel::Medium).action, Action::Drop);
        assert_eq!(p.cache.ttl, Duration::from_secs(7_200));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let typo = Policy::from_toml("release_imediately = false").expect_err("typo");
        assert!(typo.to_string().contains("release_imediately"), "{typo}");
        assert!(Policy::from_toml("[levels.high]\naction = \"explode\"").is_err());
        assert!(Policy::from_toml("[thresholds]\nlow = 80").is_err());
        assert!(Policy::from_toml("block_duration = \"ten minutes\"").is_err());
    }

    #[test]
    fn default_policy_round_trips_through_toml() {
        let text = toml::to_string(&Policy::default()).expect("serialises");
        assert_eq!(Policy::from_toml(&text).expect("parses"), Policy::default());
    }
}
