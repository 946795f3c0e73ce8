//! aptsim-scenarios: the `aptsim` command line, and (next) scenario files, the suite runner
//! and the built-in catalogue.
//!
//! # Layout
//! - [`inspect_command`]: `aptsim inspect`, the gateway's view of messages on disk.
//! - [`run_command`]: `aptsim run` and `aptsim list`, the suite runner and the catalogue.
//! - [`scenario`]: the scenario file format, building its world, checking expectations.
//! - [`live`]: `aptsim proxy smtp`, the core SMTP session on real sockets (live mode).

pub mod inspect_command;
pub mod live;
pub mod run_command;
pub mod scenario;
