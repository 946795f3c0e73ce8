//! The SMTP proxy session's limits and timeouts, with their defaults and sources.

use std::time::Duration;

use crate::smtp::wire::data::BareNewline;

/// Session limits and timeouts. Defaults and their sources in each field's doc; the live
/// proxy's docs (docs/live.md) list them all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// The proxy's host name, in its own replies. Default `aptsim-proxy`.
    pub hostname: String,
    /// Close a client that sends nothing for this long. Default 10 min, the reference
    /// gateway's SMTP proxy idle timeout (TIMINGS.md).
    #[serde(with = "crate::duration::serde_text")]
    pub idle_timeout: Duration,
    /// A command line must be complete this long after its first byte arrived; bytes that
    /// trickle in do not extend it (a client sending a byte a second would otherwise never
    /// time out). Default 5 min: Postfix's `smtpd_timeout` (300 s) as a per-request deadline
    /// (`smtpd_per_request_deadline`), Exim's `smtp_receive_timeout` (5 min).
    #[serde(with = "crate::duration::serde_text")]
    pub command_timeout: Duration,
    /// The time budget of the message data: it starts at this, loses the time spent
    /// waiting, and gains `1 / min_data_rate` seconds per byte received, never above this.
    /// Default 5 min (Postfix `smtpd_timeout`, the cap of its DATA deadline).
    #[serde(with = "crate::duration::serde_text")]
    pub data_timeout: Duration,
    /// Bytes per second that keep the data budget from running out. Default 500, Postfix's
    /// `smtpd_min_data_rate` (3.7+): a sender slower than that is cut off, one at 1 byte/s
    /// after about `data_timeout`.
    pub min_data_rate: u32,
    /// Give up on an upstream reply after this long. Default 5 min (RFC 5321 §4.5.3.2, MAIL
    /// and RCPT).
    #[serde(with = "crate::duration::serde_text")]
    pub upstream_timeout: Duration,
    /// Largest message accepted, in bytes (advertised as SIZE, checked against `SIZE=` at
    /// MAIL). Default 32 MiB.
    pub max_message_bytes: usize,
    /// Recipients per transaction. Default 100, the minimum RFC 5321 §4.5.3.1.8 asks for.
    pub max_recipients: usize,
    /// RCPTs past `max_recipients` in one transaction answered `452 4.5.3` before each
    /// further one also counts as an error (`max_errors`). Default 1,000, Postfix's
    /// `smtpd_recipient_overshoot_limit` (smtpd.c `rcpt_cmd`: the 452, then an error once
    /// `rcpt_overshoot` passes it).
    pub max_recipient_overshoot: u32,
    /// Longest command line, line end included. Default 2,048 (Postfix's
    /// `line_length_limit`; RFC 5321's 512 is too tight once extensions add parameters).
    pub max_command_line: usize,
    /// Bad commands before the proxy hangs up (421). Default 10.
    pub max_errors: u32,
    /// NOOP, VRFY, RSET, HELO and EHLO a session may send before each counts as an error.
    /// Default 100, Postfix's `smtpd_junk_command_limit`.
    pub max_junk_commands: u32,
    /// Client connections the gateway serves at once; one more is answered `421 4.7.0` and
    /// closed. Default 500: with two sockets per session, what a default limit of 1,024
    /// open files allows (Postfix serves `default_process_limit` = 100 sessions per service,
    /// Exim `smtp_accept_max` = 20; an event-driven proxy affords more).
    pub max_connections: usize,
    /// Bytes the gateway holds in memory at once, all sessions together: messages being
    /// received, held for a verdict or relayed, and files kept until submitted. Past it a
    /// new message is answered `451 4.3.1` (at DATA, or at its end if it passed the limit
    /// while arriving). Default 512 MiB, sixteen messages of the default maximum size
    /// (Postfix refuses mail with `452 4.3.1` when its queue has less free space than
    /// 1.5 × `message_size_limit`; this proxy's queue is its memory).
    pub max_held_bytes: usize,
    /// Bare LF or bare CR in message data ([`crate::smtp::wire::data`]): `normalize`
    /// (default, as Postfix 3.9's `smtpd_forbid_bare_newline = normalize`: accepted, relayed
    /// with CRLF) or `reject` (550 5.5.2, as chasquid and sendmail 8.18). Either way no
    /// smuggled second message can reach the upstream.
    pub bare_newline: BareNewline,
    /// A client's FIN that arrives this soon after its last bytes is a half-close (it still
    /// reads its replies, as Exim ≥ 4.95 does after pipelining the final dot and `QUIT`); a
    /// FIN later than that while a message is held is the sender giving up (S5). Default
    /// 1 s: Exim shuts down right after writing, and no sender gives up that fast.
    #[serde(with = "crate::duration::serde_text")]
    pub half_close_window: Duration,
    /// Client bytes a session keeps unread while it cannot read them (a message held, a
    /// command relayed); past it the client is answered `421 4.7.0` and closed. Default
    /// 1 MiB. A compliant client never comes near it: a pipelined group ends at `DATA`
    /// (RFC 2920 §3.1), so what waits is at most `max_recipients` + 3 command lines, about
    /// 210 KB at the defaults. Postfix and Exim do not read ahead at all (TCP holds the
    /// rest), and neither does the live proxy past 64 KiB (`live/src/read_ahead.rs`): there
    /// this is a backstop. It bounds what a session keeps unread, checked after each chunk
    /// its driver hands it (16 KiB at most in the live proxy). At least twice
    /// `max_command_line` ([`ProxyConfig::validate`]).
    pub max_unread_bytes: usize,
    /// Put a `Received:` header for the proxy's hop at the top of every message it relays
    /// (RFC 5321 §4.4 asks it of every SMTP hop; `smtp/proxy/received.rs`), so that the path
    /// can be traced and a mail loop is counted by the servers that stop them. Default on;
    /// off, the proxy passes the message on exactly as it was received (or rewritten).
    pub received_header: bool,
}

impl ProxyConfig {
    /// Refuses limits that would refuse mail they should take: a command line the session
    /// must keep unread while it waits for its end could pass `max_unread_bytes`.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_unread_bytes < 2 * self.max_command_line {
            return Err(format!(
                "max_unread_bytes ({}) must be at least twice max_command_line ({})",
                self.max_unread_bytes, self.max_command_line
            ));
        }
        Ok(())
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            hostname: "aptsim-proxy".to_owned(),
            idle_timeout: Duration::from_secs(600),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            min_data_rate: 500,
            upstream_timeout: Duration::from_secs(300),
            max_message_bytes: 32 << 20,
            max_recipients: 100,
            max_recipient_overshoot: 1_000,
            max_command_line: 2_048,
            max_errors: 10,
            max_junk_commands: 100,
            max_connections: 500,
            max_held_bytes: 512 << 20,
            bare_newline: BareNewline::Normalize,
            half_close_window: Duration::from_secs(1),
            max_unread_bytes: 1 << 20,
            received_header: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_input_must_hold_two_command_lines() {
        assert_eq!(ProxyConfig::default().validate(), Ok(()));
        let tight = ProxyConfig {
            max_unread_bytes: 4_095,
            max_command_line: 2_048,
            ..ProxyConfig::default()
        };
        assert!(tight.validate().is_err());
        let enough = ProxyConfig {
            max_unread_bytes: 4_096,
            ..tight
        };
        assert_eq!(enough.validate(), Ok(()));
    }
}
