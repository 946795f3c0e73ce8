//! XFORWARD (Postfix): the next hop keeps the client's identity.
//!
//! Behind the proxy, the receiving server sees the proxy as its client. When it announces
//! XFORWARD in its EHLO reply (Postfix does to the hosts in `smtpd_authorized_xforward_hosts`),
//! the proxy tells it, before each MAIL, who the client really was:
//!
//! ```text
//! XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PROTO=ESMTP HELO=client.example SOURCE=REMOTE
//! 250 2.0.0 Ok
//! ```
//!
//! and the server logs that client and writes it into its own `Received:` header. What
//! follows is Postfix's XFORWARD_README and its SMTP client (`src/smtp/smtp_proto.c`,
//! postfix-3.12, states `SMTP_STATE_XFORWARD_*`), read for this:
//!
//! - Only attributes the server named after the keyword are sent (`250-XFORWARD NAME ADDR
//!   PROTO HELO SOURCE PORT IDENT`); with none the proxy knows, nothing is sent.
//! - Values are xtext (RFC 1891 §5; Postfix `xtext_quote_append`): `+`, `=`, and bytes
//!   below 33 or above 126, as `+XX` in upper-case hex. A value is at most 255 characters (the
//!   server answers `501` to a longer one, `smtpd.c xforward_cmd`), a command at most 512
//!   (README, note 2): the longest this proxy writes is under 400, so one command carries
//!   them all where Postfix's client, which may forward a 255-character NAME, sends two.
//! - The server forgets the attributes when a transaction ends (RSET or the final dot), and
//!   a new connection knows none: XFORWARD goes before every MAIL sent upstream, including
//!   the MAIL replayed after a reconnect ([`super::upstream`]). It is never sent inside a
//!   transaction (the server would answer `503 5.5.1`).
//! - A reply other than 2xx does not stop the mail (Postfix's client logs `host … said: …
//!   (in reply to XFORWARD …)` and goes on to MAIL); it is reported as
//!   [`Event::XforwardRefused`]. After a 5xx (`550 5.7.0 Error: insufficient
//!   authorization`) the proxy stops asking on that connection. A 421 means the server is
//!   leaving: the MAIL waiting behind the XFORWARD gets that 421.
//! - `NAME=[UNAVAILABLE]`: the proxy does no DNS look-ups, and the server refuses a NAME that
//!   is not a host name (`valid_hostname`), so `[192.0.2.7]` would get a 501. Postfix then
//!   writes the client as `unknown [192.0.2.7]`, as for any client without reverse DNS. An
//!   attribute the proxy does not know (ADDR of a site that is not an IP address, a HELO too
//!   long for 255 characters) is sent as `[UNAVAILABLE]` too; PORT and IDENT it never knows,
//!   and leaves out. `SOURCE=REMOTE`: the mail came from the network, so the server must not
//!   treat it as local (which a client on 127.0.0.1 otherwise would be, and get its headers
//!   rewritten, `local_header_rewrite_clients`).
//!
//! The proxy's own client never sees XFORWARD: [`filter_ehlo`] does not pass it, and a client
//! that sends XFORWARD is answered `500` as for any unknown command, so no client can make
//! the proxy vouch for an identity it made up.

use std::net::IpAddr;

use super::identity::ClientIdentity;
use super::*;

/// Longest attribute value the server takes (XFORWARD_README, note 1).
pub(super) const MAX_VALUE: usize = 255;

/// Longest command line (XFORWARD_README, note 2; RFC 5321 §4.5.3.1.4), line end excluded.
pub(super) const MAX_COMMAND: usize = 510;

/// What stands for an attribute the proxy does not know.
const UNAVAILABLE: &str = "[UNAVAILABLE]";

/// The XFORWARD attributes a server announced (those this proxy can send).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Offer {
    name: bool,
    addr: bool,
    proto: bool,
    helo: bool,
    source: bool,
}

impl Offer {
    /// The offer in a positive EHLO reply, or `None` when it has no XFORWARD line. Keyword
    /// and attribute names are case-insensitive (README); unknown names are ignored.
    pub(super) fn in_ehlo_reply(reply: &Reply) -> Option<Offer> {
        if !reply.is_positive() {
            return None;
        }
        let line = reply.lines().skip(1).find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("XFORWARD"))
        })?;
        let mut offer = Offer::default();
        for attr in line.split_whitespace().skip(1) {
            match attr.to_ascii_uppercase().as_str() {
                "NAME" => offer.name = true,
                "ADDR" => offer.addr = true,
                "PROTO" => offer.proto = true,
                "HELO" => offer.helo = true,
                "SOURCE" => offer.source = true,
                _ => {}
            }
        }
        Some(offer)
    }
}

/// XFORWARD on the current upstream connection.
#[derive(Debug, Default)]
pub(super) struct XforwardState {
    /// What the server announced in its last EHLO reply on this connection; `None` if it
    /// did not, or refused XFORWARD for good.
    offer: Option<Offer>,
    /// XFORWARD has gone out for the MAIL now first in the queue.
    sent: bool,
}

/// The XFORWARD command line for `client`, with the attributes of `offer`; `None` when the
/// offer names none of them.
pub(super) fn command_line(offer: Offer, client: &ClientIdentity) -> Option<String> {
    let mut line = String::from("XFORWARD");
    let mut add = |wanted: bool, name: &str, value: Option<String>| {
        if wanted {
            for piece in [" ", name, "=", value.as_deref().unwrap_or(UNAVAILABLE)] {
                line.push_str(piece);
            }
        }
    };
    add(offer.name, "NAME", None);
    let addr = client.addr.map(|ip| match ip {
        IpAddr::V4(v4) => v4.to_string(),
        // "an IPv6 address prefixed with IPV6:" (README).
        IpAddr::V6(v6) => format!("IPV6:{v6}"),
    });
    add(offer.addr, "ADDR", addr.map(|a| xtext(&a)));
    let proto = client
        .helo
        .as_ref()
        .map(|_| if client.esmtp { "ESMTP" } else { "SMTP" }.to_owned());
    add(offer.proto, "PROTO", proto);
    let helo = client
        .helo
        .as_deref()
        .map(xtext)
        .filter(|h| h.len() <= MAX_VALUE);
    add(offer.helo, "HELO", helo);
    add(offer.source, "SOURCE", Some("REMOTE".to_owned()));
    // Every value is within MAX_VALUE and NAME is a constant (module doc).
    debug_assert!(
        line.len() <= MAX_COMMAND,
        "XFORWARD of {} bytes",
        line.len()
    );
    (line.len() > "XFORWARD".len()).then_some(line)
}

/// `value` as xtext (RFC 1891 §5): every byte that is not an `xchar` — `!` to `~` except
/// `+` and `=` — written `+XX` in upper-case hex. (Postfix's encoder leaves `=` as it is;
/// its decoder takes either.)
pub(super) fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (33..127).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

impl ProxySession {
    /// The next op to send upstream: the first in the queue, or an XFORWARD before it when
    /// it is a MAIL (relayed, or replayed after a reconnect) and the server takes XFORWARD.
    pub(super) fn next_op(&mut self) -> Option<Op> {
        let mail_next = matches!(
            self.ops.front(),
            Some(
                Op::Relay {
                    command: Command::Mail { .. },
                    ..
                } | Op::Replay {
                    what: Replayed::Mail,
                    ..
                }
            )
        );
        if mail_next && !self.xforward.sent {
            self.xforward.sent = true;
            let line = self
                .xforward
                .offer
                .and_then(|offer| command_line(offer, &self.client_identity()));
            if let Some(line) = line {
                return Some(Op::Xforward {
                    line: line.into_bytes(),
                });
            }
        }
        let op = self.ops.pop_front()?;
        if mail_next {
            // The next transaction's MAIL needs its own XFORWARD.
            self.xforward.sent = false;
        }
        Some(op)
    }

    /// A new upstream connection: its server knows nothing of this client, and its own
    /// EHLO reply will say whether it takes XFORWARD.
    pub(super) fn xforward_reset(&mut self) {
        self.xforward = XforwardState::default();
    }

    /// The server's reply to HELO or EHLO (the client's, or one replayed after a
    /// reconnect): what it offers from now on.
    pub(super) fn xforward_offered(&mut self, reply: &Reply) {
        if reply.is_positive() {
            self.xforward.offer = Offer::in_ehlo_reply(reply);
        }
    }

    /// The server's reply to XFORWARD: 2xx is the normal case; anything else is reported
    /// and the mail goes on without it (see the module doc for 5xx and 421).
    pub(super) fn xforward_answered(&mut self, reply: Reply) {
        if reply.is_positive() {
            return;
        }
        self.emit(Event::XforwardRefused(reply.clone()));
        if reply.is_permanent() {
            self.xforward.offer = None;
        }
        if reply.code != 421 {
            return;
        }
        // The server is closing (the caller closes both sides next): the MAIL behind the
        // XFORWARD has its answer.
        match self.ops.front() {
            Some(Op::Relay { .. }) => {
                self.ops.pop_front();
                self.client_busy = false;
                self.reply(reply);
            }
            Some(Op::Replay { .. }) => {
                self.delivery_failed(&format!("upstream refused XFORWARD: {reply}"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(line: &str) -> Option<Offer> {
        let reply = Reply::with_lines(250, ["mx.example", "PIPELINING", line]);
        Offer::in_ehlo_reply(&reply)
    }

    fn client(helo: &str) -> ClientIdentity {
        ClientIdentity {
            addr: Some("192.0.2.7".parse().expect("ip")),
            helo: Some(helo.to_owned()),
            esmtp: true,
        }
    }

    #[test]
    fn reads_the_announced_attributes() {
        let all = offer("XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT");
        assert_eq!(
            all,
            Some(Offer {
                name: true,
                addr: true,
                proto: true,
                helo: true,
                source: true
            })
        );
        assert_eq!(
            offer("xforward addr"),
            Some(Offer {
                addr: true,
                ..Offer::default()
            })
        );
        assert_eq!(offer("8BITMIME"), None);
        let refused = Reply::new(502, "5.5.2 Error: command not recognized");
        assert_eq!(Offer::in_ehlo_reply(&refused), None);
    }

    #[test]
    fn sends_only_what_was_announced() {
        let c = client("client.example");
        let all = offer("XFORWARD NAME ADDR PROTO HELO SOURCE").expect("offer");
        assert_eq!(
            command_line(all, &c).as_deref(),
            Some(
                "XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PROTO=ESMTP HELO=client.example \
                 SOURCE=REMOTE"
            )
        );
        let addr_helo = offer("XFORWARD HELO ADDR").expect("offer");
        assert_eq!(
            command_line(addr_helo, &c).as_deref(),
            Some("XFORWARD ADDR=192.0.2.7 HELO=client.example")
        );
        let unknown_only = offer("XFORWARD PORT IDENT").expect("offer");
        assert_eq!(command_line(unknown_only, &c), None);
    }

    #[test]
    fn encodes_values_as_xtext() {
        assert_eq!(xtext("a+b=c d\u{e9}"), "a+2Bb+3Dc+20d+C3+A9");
        let all = offer("XFORWARD NAME ADDR PROTO HELO SOURCE").expect("offer");
        let c = ClientIdentity {
            addr: Some("2001:db8::7".parse().expect("ip")),
            helo: Some("[bad] name+x".to_owned()),
            esmtp: false,
        };
        assert_eq!(
            command_line(all, &c).as_deref(),
            Some(
                "XFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::7 PROTO=SMTP \
                 HELO=[bad]+20name+2Bx SOURCE=REMOTE"
            )
        );
    }

    #[test]
    fn a_long_helo_is_unavailable_and_the_line_stays_short() {
        let all = offer("XFORWARD NAME ADDR PROTO HELO SOURCE").expect("offer");
        let longest_ok = "h".repeat(MAX_VALUE);
        let line = command_line(all, &client(&longest_ok)).expect("line");
        assert!(line.contains(&format!("HELO={longest_ok} ")), "{line}");
        // Three characters each once encoded: 86 of them are over the limit.
        let line = command_line(all, &client(&" ".repeat(86))).expect("line");
        assert!(line.contains("HELO=[UNAVAILABLE] "), "{line}");
        // The longest line there can be: a full-length HELO and the longest IPv6 text.
        let c = ClientIdentity {
            addr: Some(
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                    .parse()
                    .expect("ip"),
            ),
            ..client(&longest_ok)
        };
        let line = command_line(all, &c).expect("line");
        assert!(line.len() <= MAX_COMMAND, "{} bytes", line.len());
    }

    #[test]
    fn an_unknown_address_is_unavailable() {
        let all = offer("XFORWARD ADDR").expect("offer");
        let c = ClientIdentity {
            addr: None,
            ..client("c")
        };
        assert_eq!(
            command_line(all, &c).as_deref(),
            Some("XFORWARD ADDR=[UNAVAILABLE]")
        );
    }
}
