//! The report of simulation runs: a self-contained HTML page per run (or one for several
//! traces) with a summary, the failures first, distributions as charts, a table of messages
//! and a swimlane timeline per message; and the compact text timeline `aptsim run` prints
//! under a failure's reproduce line. Everything is built from the trace's JSON Lines text.
//!
//! # Layout
//! - [`line`](mod@line): parsing JSON Lines into the records the report draws.
//! - [`story`]: a message's story: steps on lanes, spans, final state.
//! - [`group`]: which lines belong to which message.
//! - [`duration`]: virtual times written for people.
//! - [`summary`]: a run's key metrics and its distributions.
//! - [`focus`]: the message a failure is about.
//! - [`timeline`]: a message's text timeline, for the terminal.
//! - [`run`]: a run as the report shows it (name, seed, what was checked, its stories).
//! - [`data`]: the JSON a page embeds.
//! - [`page`]: the HTML page (template, style and script in `assets/`).
//! - [`index`]: a folder of pages and its `index.html` (`aptsim run --report DIR`).
//!
//! The page's script (`assets/*.js`, plain JavaScript, no framework) draws the tables,
//! charts and, on demand, a message's swimlane from the embedded JSON.

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
