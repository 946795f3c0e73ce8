//! The SMTP proxy session's limits and timeouts, with their defaults and sources.

use std::time::Duration;

/// Session limits and timeouts. Defaults and their sources in each field's doc.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// The proxy's host name, in its own replies. Default `aptsim-proxy`.
    pub hostname: String,
    /// Close a client that sends nothing for this long. Default 10 min, the reference
    /// gateway's SMTP proxy idle timeout (TIMINGS.md).
    #[serde(with = "crate::duration::serde_text")]
    pub idle_timeout: Duration,
    /// Give up on an upstream reply after this long. Default 5 min (RFC 5321 §4.5.3.2, MAIL
    /// and RCPT).
    #[serde(with = "crate::duration::serde_text")]
    pub upstream_timeout: Duration,
    /// Largest message accepted, in bytes (advertised as SIZE). Default 32 MiB.
    pub max_message_bytes: usize,
    /// Recipients per transaction. Default 100, the minimum RFC 5321 §4.5.3.1.8 asks for.
    pub max_recipients: usize,
    /// Longest command line, line end included. Default 2,048 (Postfix's
    /// `line_length_limit`; RFC 5321's 512 is too tight once extensions add parameters).
    pub max_command_line: usize,
    /// Bad commands before the proxy hangs up (421). Default 10.
    pub max_errors: u32,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            hostname: "aptsim-proxy".to_owned(),
            idle_timeout: Duration::from_secs(600),
            upstream_timeout: Duration::from_secs(300),
            max_message_bytes: 32 << 20,
            max_recipients: 100,
            max_command_line: 2_048,
            max_errors: 10,
        }
    }
}
