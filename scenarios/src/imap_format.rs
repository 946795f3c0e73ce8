//! The IMAP half of the scenario format (issue 12): the world's IMAP side, mail clients,
//! messages put straight into a mailbox, and what a client must end up holding.
//! docs/scenarios.md is the reference for users.

use std::time::Duration;

use aptsim_core::duration::serde_text;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_peers::imap::ImapServerConfig;
use aptsim_peers::mail_client::{AttachmentHabit, OpenAt};
use serde::Deserialize;

/// `[world.imap]`: the gateway's IMAP proxy and the IMAP server behind it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapWorld {
    /// The IMAP proxy's settings (`keepalive` for X4, …; docs/imap.md).
    pub proxy: ImapConfig,
    /// The IMAP server's settings (Dovecot 2.3's timers by default).
    pub server: ImapServerConfig,
    /// Accounts besides those the clients and the messages' recipients name.
    pub accounts: Vec<String>,
}

/// Every account's password in a simulated world.
pub const PASSWORD: &str = "secret";

/// `[[client]]`: one mail client program reading one account through the IMAP proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Its name, in the trace and in expectations. Default `client-N`.
    #[serde(default)]
    pub name: String,
    /// `thunderbird`, `thunderbird-android`, `outlook`, `mbsync` or `fetchmail`.
    pub preset: String,
    /// The account it reads. Default `bob` (the default recipient's).
    #[serde(default = "default_account")]
    pub account: String,
    /// Its first check of the mailbox (then every `check_every`).
    #[serde(default, with = "serde_text")]
    pub first_check: Duration,
    /// Overrides the preset's time between checks.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub check_every: Option<Duration>,
    /// Overrides the preset's read timeout.
    #[serde(default, with = "aptsim_core::duration::serde_text_opt")]
    pub read_timeout: Option<Duration>,
    /// Thunderbird only: its offline sync (default on). Off, a message is downloaded only
    /// when the user opens it (`opens`), in 64 KiB chunks above 96 KiB.
    pub offline_sync: Option<bool>,
    /// Messages the user opens, by UID, and when.
    #[serde(default)]
    pub opens: Vec<OpenAt>,
    /// Whether the user opens a message's attachments, and how long after.
    #[serde(default)]
    pub attachments: AttachmentHabit,
}

fn default_account() -> String {
    "bob".to_owned()
}

/// How a message reaches its recipients' mailboxes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Sent by the sending MTA through the SMTP proxy (the default).
    #[default]
    Smtp,
    /// Put straight into the recipients' INBOX at its time, as mail already there.
    Mailbox,
}

/// What a client ends up holding of a message (an expectation's `imap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapState {
    /// The message as it was sent.
    Fetched,
    /// The message with files replaced (drop, block, lock).
    FetchedRewritten,
    /// The deny notice instead of the message (deny, quarantine).
    ReplacedByNotice,
    /// Nothing (never fetched, or every fetch held or refused until the end).
    NotFetched,
}

impl ImapState {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            ImapState::Fetched => "fetched",
            ImapState::FetchedRewritten => "fetched_rewritten",
            ImapState::ReplacedByNotice => "replaced_by_notice",
            ImapState::NotFetched => "not_fetched",
        }
    }
}
