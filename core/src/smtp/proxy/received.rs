//! The proxy's `Received:` header: every message it relays records the hop (RFC 5321 §4.4),
//! so that the path is traceable and a loop is seen by the servers that count hops
//! (Postfix `hopcount_limit`, Exim `received_headers_max`). [`ProxyConfig::received_header`]
//! turns it off.
//!
//! ```text
//! Received: from client.example ([192.0.2.7])
//!         by aptsim-proxy (aptsim) with ESMTP id 1;
//!         Thu, 01 Jan 2026 00:00:05 +0000
//! ```
//!
//! The grammar is RFC 5321 §4.4's `Stamp`: `from` the client's HELO name and, in the
//! comment, its address literal (`TCP-info`); `by` the proxy's host name; `with` the protocol
//! (RFC 3848: `SMTP` after HELO, `ESMTP` after EHLO, RFC 6531 §3.7.3 `UTF8SMTP` when the
//! transaction used SMTPUTF8); `id` the transaction's number in its session; then the date
//! of the proxy's clock ([`crate::clock::WallClock`]). The first line breaks before `by` and
//! before the date, with a tab (RFC 5322 §3.2.2 folding).
//!
//! Client text never reaches the header as it is. The HELO name goes in only if it is a
//! domain (RFC 5321 `Domain`: letters, digits and inner hyphens, labels of at most 63,
//! at most 255 in all) or an address literal that parses (`[192.0.2.7]`,
//! `[IPv6:2001:db8::7]`); otherwise the `from` part is the client's address literal alone
//! (`from [192.0.2.7] ([192.0.2.7])`), or `unknown` when the site is not an address. The
//! same goes for the configured host name. So no byte a client sends can end the header
//! line or start another.

use std::net::IpAddr;

use super::identity::ClientIdentity;
use super::*;
use crate::smtp::wire::date;

/// What one `Received:` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp<'a> {
    /// The client.
    pub(super) client: &'a ClientIdentity,
    /// The proxy's host name.
    pub(super) by: &'a str,
    /// The transaction used SMTPUTF8.
    pub(super) utf8: bool,
    /// The transaction's number.
    pub(super) id: u64,
    /// The date, milliseconds since 1970.
    pub(super) unix_ms: u64,
}

impl Stamp<'_> {
    /// The header, CRLF-ended, ASCII only. Pushed piece by piece into one string: every
    /// message the proxy passes gets one, and `format!` with its pieces cost about 1 % of a
    /// simulated day (callgrind).
    pub(super) fn header(&self) -> String {
        let helo = self
            .client
            .helo
            .as_deref()
            .filter(|h| is_domain(h) || is_address_literal(h));
        let by = if is_domain(self.by) {
            self.by
        } else {
            "unknown"
        };
        let with = match (self.utf8, self.client.esmtp) {
            (true, _) => "UTF8SMTP",
            (false, true) => "ESMTP",
            (false, false) => "SMTP",
        };
        let mut h = String::with_capacity(128);
        h.push_str("Received: from ");
        match (helo, self.client.addr) {
            (Some(helo), Some(ip)) => {
                h.push_str(helo);
                h.push_str(" (");
                push_address_literal(&mut h, ip);
                h.push(')');
            }
            (Some(helo), None) => h.push_str(helo),
            (None, Some(ip)) => {
                push_address_literal(&mut h, ip);
                h.push_str(" (");
                push_address_literal(&mut h, ip);
                h.push(')');
            }
            (None, None) => h.push_str("unknown"),
        }
        h.push_str("\r\n\tby ");
        h.push_str(by);
        h.push_str(" (aptsim) with ");
        h.push_str(with);
        h.push_str(" id ");
        h.push_str(itoa::Buffer::new().format(self.id));
        h.push_str(";\r\n\t");
        date::push_rfc5322(&mut h, self.unix_ms);
        h.push_str("\r\n");
        h
    }
}

impl ProxySession {
    /// The `Received:` header for the current transaction's message, or nothing when the
    /// configuration turns it off.
    pub(super) fn received_header(&self, gw: &Gateway) -> Vec<u8> {
        if !self.config.received_header {
            return Vec::new();
        }
        let client = self.client_identity();
        let stamp = Stamp {
            client: &client,
            by: &self.config.hostname,
            utf8: self.txn.smtputf8,
            id: self.txn.id,
            unix_ms: gw.wall_clock.unix_ms(self.now),
        };
        stamp.header().into_bytes()
    }
}

/// Appends `[192.0.2.7]` or `[IPv6:2001:db8::7]` (RFC 5321 §4.1.3).
fn push_address_literal(out: &mut String, ip: IpAddr) {
    use std::fmt::Write as _;
    // Writing to a `String` cannot fail.
    let _ = match ip {
        IpAddr::V4(v4) => write!(out, "[{v4}]"),
        IpAddr::V6(v6) => write!(out, "[IPv6:{v6}]"),
    };
}

/// An RFC 5321 `Domain`: dot-separated labels of letters, digits and hyphens, each starting
/// and ending with a letter or digit, at most 63 long, at most 255 in all (RFC 1035 §2.3.4).
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.as_bytes().split(|b| *b == b'.').all(|bytes| {
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
                && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

/// An address literal that is an address: `[` IPv4 `]` or `[IPv6:` IPv6 `]`. The general
/// form (`[tag:text]`) is not taken: its text could be anything.
fn is_address_literal(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return false;
    };
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => {
            inner[5..].parse::<std::net::Ipv6Addr>().is_ok()
        }
        _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(addr: Option<&str>, helo: Option<&str>, esmtp: bool) -> String {
        let client = ClientIdentity {
            addr: addr.map(|a| a.parse().expect("ip")),
            helo: helo.map(str::to_owned),
            esmtp,
        };
        Stamp {
            client: &client,
            by: "aptsim-proxy",
            utf8: false,
            id: 3,
            unix_ms: 1_767_225_605_000,
        }
        .header()
    }

    #[test]
    fn writes_the_hop() {
        assert_eq!(
            header(Some("192.0.2.7"), Some("client.example"), true),
            "Received: from client.example ([192.0.2.7])\r\n\
             \tby aptsim-proxy (aptsim) with ESMTP id 3;\r\n\
             \tThu, 01 Jan 2026 00:00:05 +0000\r\n"
        );
        let v6 = header(Some("2001:db8::7"), Some("[IPv6:2001:db8::7]"), false);
        assert!(
            v6.starts_with(
                "Received: from [IPv6:2001:db8::7] ([IPv6:2001:db8::7])\r\n\
                 \tby aptsim-proxy (aptsim) with SMTP id 3;"
            ),
            "{v6}"
        );
    }

    #[test]
    fn a_helo_that_is_not_a_domain_is_left_out() {
        for helo in [
            "evil\r\nX-Injected: yes",
            "a b",
            "-a.example",
            "a..example",
            "a_b.example",
            "caf\u{e9}.example",
            "[1.2.3]",
            "[tag:anything goes]",
            "x(comment)",
            &"a".repeat(64),
        ] {
            let h = header(Some("192.0.2.7"), Some(helo), true);
            assert!(
                h.starts_with("Received: from [192.0.2.7] ([192.0.2.7])\r\n"),
                "{helo:?}: {h}"
            );
            assert_eq!(h.matches("\r\n").count(), 3, "{helo:?}");
        }
        assert!(header(None, Some("a b"), true).starts_with("Received: from unknown\r\n"));
        assert!(header(None, Some("c.example"), true).starts_with("Received: from c.example\r\n"));
    }

    #[test]
    fn domains_and_literals() {
        for ok in ["localhost", "a-b.example", "1.2.3.4.in-addr.arpa", "x"] {
            assert!(is_domain(ok), "{ok}");
        }
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        assert_eq!(longest.len(), 255);
        assert!(is_domain(&longest));
        assert!(!is_domain(&format!("e.{longest}")), "257 characters");
        for ok in ["[192.0.2.7]", "[IPv6:::1]", "[ipv6:2001:db8::1]"] {
            assert!(is_address_literal(ok), "{ok}");
        }
        for bad in ["192.0.2.7", "[::1]", "[IPv6:1.2.3.4]", "[]", "[IPv6:]"] {
            assert!(!is_address_literal(bad), "{bad}");
        }
    }
}
