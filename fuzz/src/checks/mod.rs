//! The checks behind every fuzz target, one function per target, each taking the raw fuzz
//! input and panicking when an invariant breaks; one file per area (`mime_checks`,
//! `archive_checks`, `wire_checks` for the SMTP parsers, `proxy_checks` and `proxy_driver`
//! for the session).
//!
//! These files use nothing but `std` and `aptsim_core`, so that it can be compiled twice: as a
//! module of the fuzz crate (`fuzz/src/lib.rs`), where the targets call them, and as a module
//! of the regression test `core/tests/fuzz_regressions.rs` (through `#[path]`), which replays
//! saved crash inputs and the minimised corpora through exactly the same checks.
//! docs/fuzzing.md says what each target checks.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aptsim_core::archive::{self, ArchiveLimits, MemberContent};
use aptsim_core::cache::MemoryCache;
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::inspect::{Decision, Flavour, Inspection};
use aptsim_core::mime::{self, Extraction, MimeLimits};
use aptsim_core::policy::{Action, LevelPolicy, Levels, OutagePolicy, Policy};
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession};
use aptsim_core::smtp::wire::command::{self, Command, Line, LineReader};
use aptsim_core::smtp::wire::data::{self, DataError, DataReceiver};
use aptsim_core::smtp::wire::reply::{MAX_REPLY_BYTES, Reply, ReplyError, ReplyParser};
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_core::work::WorkFailed;

/// True when the environment variable `APTSIM_FUZZ_SKIP` (a comma-separated list) names
/// `check`: a check that fails on a known, reported bug can be switched off to fuzz on past
/// it (docs/fuzzing.md). Read once.
pub fn skipped(check: &str) -> bool {
    static SKIP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("APTSIM_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == check)
}

// ---------------------------------------------------------------------------------------
// Limits small enough that fuzz inputs of a few KB reach them.
// ---------------------------------------------------------------------------------------

/// Archive limits a few-KB input can exhaust.
pub fn small_archive_limits() -> ArchiveLimits {
    ArchiveLimits {
        max_depth: 2,
        max_members: 4,
        max_total_bytes: 2048,
        max_ratio: 10,
        ratio_floor: 256,
    }
}

/// MIME limits a few-KB input can exhaust.
pub fn small_mime_limits() -> MimeLimits {
    MimeLimits {
        max_message_bytes: 8192,
        max_depth: 4,
        max_parts: 20,
        max_header_bytes: 1024,
        max_parameters: 8,
        max_decoded_bytes: 2048,
        archive: small_archive_limits(),
    }
}

// ---------------------------------------------------------------------------------------
// mime_extract
// ---------------------------------------------------------------------------------------

mod archive_checks;
mod mime_checks;
mod proxy_checks;
mod proxy_driver;
mod wire_checks;

pub use archive_checks::archive_expand;
pub use mime_checks::mime_extract;
pub use proxy_checks::{smtp_proxy_session, smtp_proxy_trace};
pub use wire_checks::{canonical_line_ends, smtp_command, smtp_data, smtp_reply};
