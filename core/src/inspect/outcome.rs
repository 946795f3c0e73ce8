//! One file's part in a decision: its level, action, and where its level came from. Apart
//! from the engine so that the rewrite, which renders these, does not depend on the engine
//! that uses the rewrite.

use crate::digest::Md5;
use crate::policy::Action;
use crate::verdict::ThreatLevel;

/// Where a file's verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A live entry of the verdict cache (S6).
    Cache,
    /// An analysis by the data center.
    Analysis,
    /// The file could not be analysed; the policy's `unscannable_level` applies.
    Unscannable,
    /// The data center could not be reached (connect refused).
    Unreachable,
    /// The data center did not answer within the analysis timeout.
    Slow,
    /// Not judged when the message was decided: released unjudged (S1), or not needed
    /// because a known file had already settled a hold with `deny`.
    Released,
}

/// One file's part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileOutcome {
    /// Index into the extraction's files.
    pub file: usize,
    /// The file's MD5.
    pub md5: Md5,
    /// The file's name.
    pub name: String,
    /// Its level (clean for a file released unjudged or allowed by a fail-open outage).
    pub level: ThreatLevel,
    /// The sandbox score behind the level (the level's threshold when none was given).
    pub score: u8,
    /// The threat's name, when the data center named one.
    pub threat: Option<String>,
    /// The action its level calls for.
    pub action: Action,
    /// Where the level came from.
    pub source: Source,
}
