//! The data center's judgement of one file: a score, its threat level, and how levels are
//! derived from scores.

use std::fmt;

/// Threat levels, ordered from harmless to worst, so that a message's level is the `max` of
/// its files' levels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ThreatLevel {
    /// Nothing found.
    Clean,
    /// Low threat.
    Low,
    /// Medium threat.
    Medium,
    /// High threat.
    High,
}

impl ThreatLevel {
    /// All levels, harmless first.
    pub const ALL: [ThreatLevel; 4] = [
        ThreatLevel::Clean,
        ThreatLevel::Low,
        ThreatLevel::Medium,
        ThreatLevel::High,
    ];

    /// The lowercase name used in configuration and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreatLevel::Clean => "clean",
            ThreatLevel::Low => "low",
            ThreatLevel::Medium => "medium",
            ThreatLevel::High => "high",
        }
    }
}

impl fmt::Display for ThreatLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Score thresholds (0–100) at which each level starts.
///
/// Defaults: low ≥ 1, medium ≥ 40, high ≥ 70. The only public figure is a 0–100 sandbox scale
/// on which above 70 is high (BEHAVIOUR.md, vocabulary); the rest are chosen here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Lowest score judged low. Default 1.
    pub low: u8,
    /// Lowest score judged medium. Default 40.
    pub medium: u8,
    /// Lowest score judged high. Default 70.
    pub high: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            low: 1,
            medium: 40,
            high: 70,
        }
    }
}

impl Thresholds {
    /// The level of a score.
    pub fn level(&self, score: u8) -> ThreatLevel {
        if score >= self.high {
            ThreatLevel::High
        } else if score >= self.medium {
            ThreatLevel::Medium
        } else if score >= self.low {
            ThreatLevel::Low
        } else {
            ThreatLevel::Clean
        }
    }

    /// A representative score for a level (its threshold; 0 for clean), for verdicts that are
    /// given as a level only.
    pub fn score_of(&self, level: ThreatLevel) -> u8 {
        match level {
            ThreatLevel::Clean => 0,
            ThreatLevel::Low => self.low,
            ThreatLevel::Medium => self.medium,
            ThreatLevel::High => self.high,
        }
    }

    /// Checks that the thresholds rise: 1 ≤ low ≤ medium ≤ high ≤ 100.
    pub fn validate(&self) -> Result<(), String> {
        if 1 <= self.low && self.low <= self.medium && self.medium <= self.high && self.high <= 100
        {
            Ok(())
        } else {
            Err(format!(
                "thresholds must rise within 1..=100, got low {} medium {} high {}",
                self.low, self.medium, self.high
            ))
        }
    }
}

/// The data center's answer for one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// Sandbox score, 0–100.
    pub score: u8,
    /// The level the score maps to (kept with the score so that a cached verdict means the
    /// same thing after the thresholds change).
    pub level: ThreatLevel,
    /// The threat's name when the sandbox named one (the deny message's `%(virus)%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat: Option<String>,
}

impl Verdict {
    /// A verdict for `score` under `thresholds`.
    pub fn from_score(score: u8, thresholds: &Thresholds) -> Self {
        Verdict {
            score: score.min(100),
            level: thresholds.level(score.min(100)),
            threat: None,
        }
    }

    /// A verdict given as a level, with the level's representative score.
    pub fn from_level(level: ThreatLevel, thresholds: &Thresholds) -> Self {
        Verdict {
            score: thresholds.score_of(level),
            level,
            threat: None,
        }
    }

    /// Names the threat.
    pub fn with_threat(mut self, name: impl Into<String>) -> Self {
        self.threat = Some(name.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds_map_scores_to_levels() {
        let t = Thresholds::default();
        let cases = [
            (0, ThreatLevel::Clean),
            (1, ThreatLevel::Low),
            (39, ThreatLevel::Low),
            (40, ThreatLevel::Medium),
            (69, ThreatLevel::Medium),
            (70, ThreatLevel::High),
            (100, ThreatLevel::High),
        ];
        for (score, level) in cases {
            assert_eq!(t.level(score), level, "score {score}");
            assert_eq!(t.level(t.score_of(level)), level);
        }
    }

    #[test]
    fn levels_order_from_clean_to_high() {
        assert!(ThreatLevel::Clean < ThreatLevel::Low);
        assert!(ThreatLevel::Medium < ThreatLevel::High);
        assert_eq!(ThreatLevel::ALL.iter().max(), Some(&ThreatLevel::High));
    }

    #[test]
    fn validate_rejects_falling_thresholds() {
        assert!(Thresholds::default().validate().is_ok());
        let bad = Thresholds {
            low: 50,
            medium: 40,
            high: 70,
        };
        assert!(bad.validate().is_err());
        assert!(
            Thresholds {
                low: 0,
                ..Thresholds::default()
            }
            .validate()
            .is_err()
        );
    }
}
