//! One mail client's configuration: which program ([`ClientPreset`]), whose account, when it
//! first checks mail, and what its user does (opens messages at given times, opens their
//! attachments with a probability and a delay).

use std::time::Duration;

use super::presets::ClientPreset;

/// The account a client logs in to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The login name.
    pub user: String,
    /// The password (sent with `LOGIN` as a quoted string).
    pub password: String,
    /// The mailbox it syncs. Default `INBOX`.
    #[serde(default = "inbox")]
    pub mailbox: String,
}

fn inbox() -> String {
    "INBOX".to_owned()
}

/// The user opens message `uid` `at` this time after the start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAt {
    /// The message's UID.
    pub uid: u32,
    /// When, from the driver's epoch.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub at: Duration,
}

/// Whether a user who opens a message also opens its attachments, and how long after.
/// Only clients that fetch attachments on demand (K-9) go to the network for them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentHabit {
    /// Probability (0–1), drawn once per opened message from the client's random stream.
    /// Default 0.
    pub probability: f64,
    /// Time from opening the message to opening its attachments. Default 30 s.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub delay: Duration,
}

impl Default for AttachmentHabit {
    fn default() -> Self {
        AttachmentHabit {
            probability: 0.0,
            delay: Duration::from_secs(30),
        }
    }
}

/// One mail program for one account.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The program.
    pub preset: ClientPreset,
    /// The account.
    pub account: Account,
    /// The first check, from the driver's epoch (then every `preset.check_interval`).
    /// Default 0.
    #[serde(default, with = "aptsim_core::duration::serde_text")]
    pub first_check: Duration,
    /// Messages the user opens, and when.
    #[serde(default)]
    pub opens: Vec<OpenAt>,
    /// Attachments opened after their message.
    #[serde(default)]
    pub attachments: AttachmentHabit,
}

impl ClientConfig {
    /// A client of `preset` for `user`/`password` on `INBOX`, checking first at the epoch.
    pub fn new(preset: ClientPreset, user: &str, password: &str) -> Self {
        ClientConfig {
            preset,
            account: Account {
                user: user.to_owned(),
                password: password.to_owned(),
                mailbox: inbox(),
            },
            first_check: Duration::ZERO,
            opens: Vec::new(),
            attachments: AttachmentHabit::default(),
        }
    }

    /// Checks what the client could not send or use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("user", &self.account.user),
            ("password", &self.account.password),
            ("mailbox", &self.account.mailbox),
        ] {
            // A quoted string carries neither line ends nor NUL (RFC 3501 `quoted`).
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(ConfigError::Unquotable(field));
            }
        }
        let p = self.attachments.probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(ConfigError::Probability(p));
        }
        if self.preset.check_interval == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroInterval);
        }
        Ok(())
    }
}

/// A configuration the client cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The account field holds CR, LF or NUL, which an IMAP quoted string cannot carry.
    #[error("account {0} holds a line end or NUL, which LOGIN/SELECT cannot send")]
    Unquotable(&'static str),
    /// The attachment probability is outside 0–1.
    #[error("attachment probability {0} is not between 0 and 1")]
    Probability(f64),
    /// A check interval of zero would check for ever at one instant.
    #[error("check interval of zero")]
    ZeroInterval,
}

/// `text` as an IMAP quoted string (RFC 3501 `quoted`: `\` and `"` escaped).
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_validation() {
        assert_eq!(quoted(r#"pa"ss\word"#), r#""pa\"ss\\word""#);
        let mut c = ClientConfig::new(ClientPreset::mbsync(), "bob", "pw");
        assert_eq!(c.validate(), Ok(()));
        c.account.password = "a\r\nA1 LOGOUT".to_owned();
        assert_eq!(c.validate(), Err(ConfigError::Unquotable("password")));
        c.account.password = "pw".to_owned();
        c.attachments.probability = 1.5;
        assert_eq!(c.validate(), Err(ConfigError::Probability(1.5)));
        c.attachments.probability = 0.5;
        c.preset.check_interval = Some(Duration::ZERO);
        assert_eq!(c.validate(), Err(ConfigError::ZeroInterval));
    }

    #[test]
    fn reads_from_toml() {
        let c: ClientConfig = toml::from_str(
            r#"
            first_check = "1m"
            opens = [{ uid = 3, at = "5m" }]
            attachments = { probability = 0.5 }
            [account]
            user = "bob"
            password = "pw"
            [preset]
            name = "k9"
            check_interval = "15m"
            tags = "numeric"
            capability_first = false
            timeouts = { connect = "30s", read = "60s", reset = "any_bytes" }
            program = { k9 = {} }
            "#,
        )
        .expect("valid");
        assert_eq!(c.account.mailbox, "INBOX");
        assert_eq!(c.opens[0].at, Duration::from_secs(300));
        assert_eq!(c.attachments.delay, Duration::from_secs(30));
        assert_eq!(
            c.preset.program,
            ClientPreset::thunderbird_android().program
        );
    }
}
