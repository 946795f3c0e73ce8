//! The session limits and timeouts of `aptsim proxy smtp` as flags: each overrides the same
//! key of the `--config` file's `[limits]` table, which overrides the default (`ProxyConfig`,
//! whose field docs give each default's source; docs/live.md lists them).

use std::time::Duration;

use aptsim_core::duration;
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::smtp::wire::data::BareNewline;

/// Session limits and timeouts.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct LimitArgs {
    /// Client connections served at once; one more is answered 421 4.7.0 and closed
    /// [default: 500, capped by the open-file limit].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Bytes held in memory by all sessions together (messages arriving, held, relayed,
    /// files kept until submitted); past it new messages get 451 4.3.1. Accepts K, M and G
    /// suffixes (binary) [default: 512M].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_held_bytes: Option<usize>,
    /// Largest message accepted (advertised as SIZE) [default: 32M].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_message_bytes: Option<usize>,
    /// Client bytes kept unread while a message is held or a command relayed; a client
    /// sending more that far ahead of its replies is answered 421 4.7.0 and closed. Accepts
    /// K, M and G suffixes [default: 1M; a pipelined group is at most about 210K].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_unread_bytes: Option<usize>,
    /// Recipients per transaction; more get 452 4.5.3 [default: 100, RFC 5321 4.5.3.1.8].
    #[arg(long, value_name = "N")]
    pub max_recipients: Option<usize>,
    /// RCPTs past --max-recipients answered 452 before each further one counts as an
    /// error [default: 1000, Postfix smtpd_recipient_overshoot_limit].
    #[arg(long, value_name = "N")]
    pub max_recipient_overshoot: Option<u32>,
    /// Bad commands before the proxy hangs up with 421 [default: 10].
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u32>,
    /// NOOP, VRFY, RSET, HELO and EHLO a session may send before each counts as an error
    /// [default: 100, Postfix smtpd_junk_command_limit].
    #[arg(long, value_name = "N")]
    pub max_junk_commands: Option<u32>,
    /// Longest command line, line end included [default: 2048, Postfix line_length_limit].
    #[arg(long, value_name = "BYTES")]
    pub max_command_line: Option<usize>,
    /// Close a client that sends nothing for this long [default: 10m, the reference
    /// gateway's idle timeout].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub idle_timeout: Option<Duration>,
    /// A command line must be complete this long after its first byte [default: 5m,
    /// Postfix smtpd_timeout, Exim smtp_receive_timeout].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub command_timeout: Option<Duration>,
    /// The message data's time budget; it gains 1/min-data-rate seconds per byte received
    /// [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub data_timeout: Option<Duration>,
    /// Bytes per second that keep the data budget from running out [default: 500, Postfix
    /// smtpd_min_data_rate].
    #[arg(long, value_name = "BYTES_PER_S")]
    pub min_data_rate: Option<u32>,
    /// How long to wait for each reply of the upstream server [default: 5m, RFC 5321
    /// 4.5.3.2].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub upstream_timeout: Option<Duration>,
    /// Bare LF or CR in message data: `normalize` accepts it and relays CRLF (Postfix 3.9's
    /// default), `reject` answers 550 5.5.2. Neither lets a smuggled second message through
    /// [default: normalize].
    #[arg(long, value_name = "MODE")]
    pub bare_newline: Option<BareNewline>,
    /// A client's FIN this soon after its last bytes is a half-close (it still reads its
    /// replies, as Exim does after a pipelined QUIT); later, during a hold, it is the
    /// sender leaving [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub half_close_window: Option<Duration>,
}

impl LimitArgs {
    /// Overrides the limits the flags give.
    pub fn apply(&self, c: &mut ProxyConfig) {
        fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
            if let Some(v) = flag {
                *field = v.clone();
            }
        }
        set(&mut c.max_connections, &self.max_connections);
        set(&mut c.max_held_bytes, &self.max_held_bytes);
        set(&mut c.max_message_bytes, &self.max_message_bytes);
        set(&mut c.max_unread_bytes, &self.max_unread_bytes);
        set(&mut c.max_recipients, &self.max_recipients);
        set(
            &mut c.max_recipient_overshoot,
            &self.max_recipient_overshoot,
        );
        set(&mut c.max_errors, &self.max_errors);
        set(&mut c.max_junk_commands, &self.max_junk_commands);
        set(&mut c.max_command_line, &self.max_command_line);
        set(&mut c.idle_timeout, &self.idle_timeout);
        set(&mut c.command_timeout, &self.command_timeout);
        set(&mut c.data_timeout, &self.data_timeout);
        set(&mut c.min_data_rate, &self.min_data_rate);
        set(&mut c.upstream_timeout, &self.upstream_timeout);
        set(&mut c.bare_newline, &self.bare_newline);
        set(&mut c.half_close_window, &self.half_close_window);
    }
}

/// `512M`, `64K`, `1G` (binary multiples) or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512M, 64K, 1048576)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}
