//! The report of simulation runs: a self-contained HTML page per run (or one for several
//! traces) with a summary, the failures first, distributions as charts, a table of messages
//! and a swimlane timeline per message; and the compact text timeline `aptsim run` prints
//! under a failure's reproduce line. Everything is built from the trace's JSON Lines text.
//!
//! # Layout
//! - [`line`]: parsing JSON Lines into the records the report draws.
//! - [`story`]: a message's story: steps on lanes, spans, final state.
//! - [`group`]: which lines belong to which message.
//! - [`duration`]: virtual times written for people.

pub mod data;
pub mod duration;
pub mod focus;
pub mod group;
pub mod index;
pub mod line;
pub mod page;
pub mod run;
pub mod story;
pub mod summary;
pub mod timeline;
