//! Mail clients with real habits, sans-IO: one program for one account over time — when it
//! checks mail, what it asks the server (or the gateway's IMAP proxy) for, how long it waits,
//! and what it does when it stops waiting.
//!
//! Presets follow the real programs (`reference/IMAP.md` §2–5; docs/imap-clients.md):
//! `thunderbird`, `thunderbird-android` (K-9), `outlook`, `mbsync`, `fetchmail`.
//!
//! # Layout
//! - [`client`]: [`MailClient`], the program: its inputs, outputs, schedule and user actions;
//!   the module doc says in which order to call it.
//! - `session`: its connection: prologue, operations one at a time, IDLE, LOGOUT, and each
//!   program's policy when a connection times out or is lost (retry, fail, stall).
//! - [`presets`]: each program's timeouts, schedule and fetch habits, with sources.
//! - [`config`]: the account, the first check, the user's opens and attachment habit.
//! - [`events`]: outputs, trace events, the step waited for, why an operation failed.
//! - `conn`: one connection's tags, pending commands, response reading and read timer.
//! - `store`: what is on the device ([`Downloaded`]).
//! - `job`: the seam between the client and the dialogues.
//! - `thunderbird`, `k9` (with `structure`, its reading of `BODYSTRUCTURE`), `outlook`,
//!   `mbsync`, `fetchmail`: what each program asks and how it reads the answers.
//!
//! Responses are read with core's IMAP wire layer ([`aptsim_core::imap::ResponseReader`],
//! [`aptsim_core::imap::ServerResponse::fetch`]); commands are written as text.

pub mod client;
pub mod config;
mod conn;
pub mod events;
mod fetchmail;
mod job;
mod k9;
mod mbsync;
mod outlook;
pub mod presets;
mod session;
mod store;
mod structure;
mod thunderbird;

pub use client::MailClient;
pub use config::{Account, AttachmentHabit, ClientConfig, ConfigError, OpenAt};
pub use events::{ClientEvent, ClientOutput, ConnId, FailReason, Job, MessageKey, Step};
pub use presets::{ClientPreset, Program, preset};
pub use store::{Downloaded, Layout};
