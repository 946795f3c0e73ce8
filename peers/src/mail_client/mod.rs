//! Mail clients with real habits, sans-IO: one program for one account over time — when it
//! checks mail, what it asks the server (or the gateway's IMAP proxy) for, how long it waits,
//! and what it does when it stops waiting.
//!
//! Presets follow the real programs (`reference/IMAP.md` §2–5; docs/imap-clients.md):
//! `thunderbird`, `thunderbird-android` (K-9), `outlook`, `mbsync`, `fetchmail`.
//!
//! # Layout
//! - [`presets`]: each program's timeouts, schedule and fetch habits, with sources.
//! - [`events`]: outputs, trace events, the step waited for, why an operation failed.

pub mod events;
pub mod presets;

pub use events::{ClientEvent, ClientOutput, ConnId, FailReason, Job, MessageKey, Step};
pub use presets::{ClientPreset, Program, preset};
