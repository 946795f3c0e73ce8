//! The simulated IMAP server's settings: Dovecot 2.3's timers and texts as the default
//! preset, each value with its source (`reference/IMAP.md` §6; dovecot/core 2.3.21.1).

use std::time::Duration;

use aptsim_core::clock::WallClock;

/// What the server advertises before login (Dovecot's greeting with `auth_mechanisms =
/// plain`, no TLS): `imap-login-client.c` `get_capability`.
pub const PRE_LOGIN_CAPABILITY: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN";

/// What the server advertises after login: Dovecot's list cut to what this model answers
/// (Dovecot 2.3 adds SORT, THREAD, CONDSTORE, QRESYNC, MOVE, UIDPLUS and more, which a
/// client would then use).
pub const CAPABILITY: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT BINARY LITERAL+";

/// The server's settings. Defaults and their sources in each field's doc.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapServerConfig {
    /// Text of the greeting after the capabilities. Default `Dovecot ready.`, Dovecot's
    /// `login_greeting`.
    pub greeting: String,
    /// Autologout of a logged-in client: this long after its last input, the end of its last
    /// command or the last IDLE keepalive, the server sends `* BYE Disconnected for
    /// inactivity.` and closes. Default 30 min, Dovecot `CLIENT_IDLE_TIMEOUT_MSECS`
    /// (imap-common.h; reset in imap-client.c `client_input`, `client_command_free`,
    /// cmd-idle.c `keepalive_timeout`). RFC 3501 §5.4 asks for at least 30 min.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub autologout: Duration,
    /// A client that has not logged in this long after connecting is disconnected, whatever
    /// it sent meanwhile. Default 3 min, Dovecot `CLIENT_LOGIN_TIMEOUT_MSECS` =
    /// `MASTER_LOGIN_TIMEOUT_SECS` (login-common/client-common.c, never reset).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub login_timeout: Duration,
    /// In IDLE, `* OK Still here` this often; zero sends none (and IDLE then ends in the
    /// autologout). Default 2 min, Dovecot `imap_idle_notify_interval`. Dovecot schedules
    /// it on a per-user phase (`imap_keepalive_interval_msecs`: the next multiple of the
    /// interval after `time + crc32(user)`), so the first comes within one interval.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub idle_notify_interval: Duration,
    /// A failed login is answered this much later, and nothing else the client sent is
    /// read meanwhile. Default 2 s, Dovecot `auth_failure_delay`.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub auth_failure_delay: Duration,
    /// Consecutive BAD commands before `* BYE Too many invalid IMAP commands.`. Default 20,
    /// Dovecot `CLIENT_MAX_BAD_COMMANDS`.
    pub max_bad_commands: u32,
    /// Longest command, literals included (longer: `* BYE` and close). Default 64 KiB,
    /// Dovecot `imap_max_line_length`.
    pub max_command_bytes: u32,
    /// The calendar date of the driver's epoch, for INTERNALDATE. Not in scenario files:
    /// the simulator's fixed date (`WallClock::SIMULATED`) unless the driver sets one.
    #[serde(skip)]
    pub wall_clock: WallClock,
}

impl Default for ImapServerConfig {
    fn default() -> Self {
        ImapServerConfig {
            greeting: "Dovecot ready.".to_owned(),
            autologout: Duration::from_secs(30 * 60),
            login_timeout: Duration::from_secs(3 * 60),
            idle_notify_interval: Duration::from_secs(2 * 60),
            auth_failure_delay: Duration::from_secs(2),
            max_bad_commands: 20,
            max_command_bytes: 64 * 1024,
            wall_clock: WallClock::SIMULATED,
        }
    }
}

/// Dovecot's `crc32_str` (lib/crc32.c, the IEEE CRC-32 of zlib): the per-user phase of the
/// IDLE keepalive when the client's address is private or unknown.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc ^ 0xffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn config_reads_durations_and_refuses_unknown_keys() {
        let c: ImapServerConfig =
            toml::from_str("autologout = \"10m\"\nidle_notify_interval = \"29m\"").expect("toml");
        assert_eq!(c.autologout, Duration::from_secs(600));
        assert_eq!(c.idle_notify_interval, Duration::from_secs(29 * 60));
        assert_eq!(c.login_timeout, Duration::from_secs(180));
        assert!(toml::from_str::<ImapServerConfig>("output_timeout = \"5m\"").is_err());
    }
}
