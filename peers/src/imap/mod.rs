//! The simulated IMAP server, sans-IO: a mail store the receiving mail server delivers into,
//! and one session per client connection, modelled on Dovecot 2.3 (docs/imap.md, "The
//! simulated IMAP server").
//!
//! - [`store`]: [`Mailstore`], accounts with mailboxes of messages, shared by the sessions.
//! - [`config`]: [`ImapServerConfig`], Dovecot's timers as the default preset.
//! - [`server`]: [`ImapServerSession`], one connection: framing, states, timers, outputs.
//! - [`events`]: [`ImapServerOutput`] and [`ImapServerEvent`], what a session asks and reports.
//!
//! Inside: `login` (commands before login), `commands` (after), `mailboxes` (LIST and
//! STATUS), `fetch` (FETCH in
//! Dovecot's item order), `items` (content items as Dovecot writes them, from aptsim-core's
//! serving functions) and `view` (a session's view of its mailbox, and its sync).

mod commands;
pub mod config;
pub mod events;
mod fetch;
mod items;
mod login;
mod mailboxes;
pub mod server;
pub mod store;
mod view;

pub use config::{CAPABILITY, ImapServerConfig, PRE_LOGIN_CAPABILITY};
pub use events::{ImapServerEvent, ImapServerOutput};
pub use server::ImapServerSession;
pub use store::{Flags, Mailbox, Mailstore, StoreError, StoredMessage};
