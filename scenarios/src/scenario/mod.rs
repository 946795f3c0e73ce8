//! Scenario files: their format, the messages they build, running them, and checking their
//! expectations.

pub mod build;
pub mod expect;
pub mod format;
pub mod runner;
