//! aptsim-scenarios: the `aptsim` command line, and (next) scenario files, the suite runner
//! and the built-in catalogue.
//!
//! # Layout
//! - [`inspect_command`]: `aptsim inspect`, the gateway's view of messages on disk.

pub mod inspect_command;
