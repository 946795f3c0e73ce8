//! aptsim-scenarios: scenario files — their format, the world and messages they build,
//! running them on virtual time, checking their expectations — and the catalogue
//! (`scenarios/suite/`).
//!
//! # Layout
//! - [`format`]: the scenario file format (TOML), with its defaults; [`imap_format`] its IMAP
//!   half (clients, mailbox messages, what a client holds).
//! - [`validate`]: what serde cannot check: bounds, consistency, names; and warnings.
//! - [`limits`]: the bounds on sizes, counts and times, in one place.
//! - [`build`]: the messages a scenario stands for, and the data center's oracle for them;
//!   [`feed`] all of them in queue order, made one at a time.
//! - [`imap_world`]: the world's IMAP side (accounts, clients, mailbox messages).
//! - [`runner`]: a scenario and a seed → the world → the run's trace, invariants, metrics.
//! - [`checks`]: what a run concludes from its trace, online or re-checking a trace file.
//! - [`panics`]: a panic inside a run, caught and turned into a failure.
//! - [`expect`]: the per-message expectations, checked against the trace; [`imap_expect`]
//!   those about what a mail client holds; [`expect_lines`] the lines they read, kept while
//!   the rest of a trace streams away.
//! - [`totals`]: the expectations on the whole run, by the names of the run's counts.
//! - [`suite`]: many scenario × seed runs across every core, results in a fixed order.
//! - [`junit`]: a suite's results as JUnit XML, for CI.
//! - [`explore`]: generated whole worlds, checked and shrunk to a scenario file.
//! - [`files`]: finding scenario files and folders; the built-in catalogue.

pub mod build;
pub mod checks;
pub mod expect;
pub mod expect_lines;
pub mod explore;
pub mod feed;
pub mod files;
pub mod format;
pub mod imap_expect;
pub mod imap_format;
pub mod imap_world;
pub mod junit;
pub mod limits;
pub mod message_ids;
pub mod panics;
pub mod progress;
pub mod runner;
pub mod suite;
pub mod totals;
pub mod validate;
