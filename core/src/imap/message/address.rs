//! Address lists as Dovecot reads them for ENVELOPE (`lib-mail/message-address.c`, with
//! `FILL_MISSING` and lenient dots): groups become a start and an end entry, a missing
//! mailbox or domain is filled with `MISSING_MAILBOX` / `MISSING_DOMAIN`, a broken angle
//! address gets the domain `SYNTAX_ERROR`, a comment after a bare address is its name.
//!
//! A port, kept close to the C (return values 1/0/-1 as `i32`), because the ENVELOPE of a
//! rewritten message must read as Dovecot's for the same header (docs/imap.md).

use super::rfc822::{Lexer, NUL_REPLACEMENT, Step};

/// One ENVELOPE address entry (RFC 3501 §7.4.2): a mailbox, or a group's start (mailbox =
/// the group name, no domain) or end (all `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Address {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub domain: Option<Vec<u8>>,
}

/// The addresses of one header value.
pub(crate) fn parse(value: &[u8]) -> Vec<Address> {
    let mut lexer = Lexer::new(value);
    lexer.last_comment = Some(Vec::new());
    lexer.replace_nul = true;
    let mut ctx = Ctx {
        lx: lexer,
        out: Vec::new(),
        addr: Address::default(),
        s: Vec::new(),
    };
    if ctx.lx.skip_lwsp().more() {
        ctx.address_list();
    }
    ctx.out
}

fn ret(step: Step) -> i32 {
    match step {
        Step::Error => -1,
        Step::End => 0,
        Step::More => 1,
    }
}

struct Ctx<'a> {
    lx: Lexer<'a>,
    out: Vec<Address>,
    addr: Address,
    /// Dovecot's shared scratch string (its content carries from one step to the next).
    s: Vec<u8>,
}

impl Ctx<'_> {
    fn add(&mut self) {
        self.out.push(std::mem::take(&mut self.addr));
    }

    fn add_fixed(&mut self) {
        if self.addr.mailbox.is_none() {
            self.addr.mailbox = Some(b"MISSING_MAILBOX".to_vec());
        }
        if self.addr.domain.as_ref().is_none_or(|d| d.is_empty()) {
            self.addr.domain = Some(b"MISSING_DOMAIN".to_vec());
        }
        self.add();
    }

    fn phrase(&mut self) -> i32 {
        ret(self.lx.parse_phrase(&mut self.s))
    }

    fn nonstrict_dot_atom(&mut self) -> i32 {
        let mut r = -1;
        loop {
            while self.lx.peek() == b'.' {
                self.s.push(b'.');
                self.lx.pos += 1;
                if self.lx.at_end() {
                    // The @domain is missing, but the local part was read.
                    return 0;
                }
                r = 1;
            }
            if self.lx.peek() == b'@' {
                break;
            }
            r = ret(self.lx.parse_atom(&mut self.s));
            if !(r > 0 && self.lx.peek() == b'.') {
                break;
            }
        }
        r
    }

    fn local_part(&mut self) -> i32 {
        self.s.clear();
        let r = if self.lx.peek() == b'"' {
            ret(self.lx.parse_quoted_string(&mut self.s))
        } else {
            self.nonstrict_dot_atom()
        };
        if r < 0 {
            return -1;
        }
        self.addr.mailbox = Some(self.s.clone());
        r
    }

    fn domain(&mut self) -> i32 {
        self.s.clear();
        let r = ret(self.lx.parse_domain(&mut self.s));
        if r < 0 {
            return -1;
        }
        self.addr.domain = Some(self.s.clone());
        r
    }

    fn domain_list(&mut self) -> i32 {
        self.s.clear();
        loop {
            if self.lx.at_end() {
                return 0;
            }
            if self.lx.peek() != b'@' {
                break;
            }
            if !self.s.is_empty() {
                self.s.push(b',');
            }
            self.s.push(b'@');
            let r = ret(self.lx.parse_domain(&mut self.s));
            if r <= 0 {
                return r;
            }
            while self.lx.skip_lwsp().more() && self.lx.peek() == b',' {
                self.lx.pos += 1;
            }
        }
        self.addr.route = Some(self.s.clone());
        1
    }

    fn angle_addr(&mut self) -> i32 {
        self.lx.pos += 1;
        if !self.lx.skip_lwsp().more() {
            return -1;
        }
        if self.lx.peek() == b'@' {
            if self.domain_list() > 0 && self.lx.peek() == b':' {
                self.lx.pos += 1;
            } else {
                self.addr.route = Some(b"INVALID_ROUTE".to_vec());
                if self.lx.at_end() {
                    return -1;
                }
            }
            if !self.lx.skip_lwsp().more() {
                return -1;
            }
        }
        if self.lx.peek() != b'>' {
            if self.local_part() <= 0 {
                return -1;
            }
            if self.lx.peek() == b'@' && self.domain() <= 0 {
                return -1;
            }
        }
        if self.lx.peek() != b'>' {
            return -1;
        }
        self.lx.pos += 1;
        ret(self.lx.skip_lwsp())
    }

    fn name_addr(&mut self) -> i32 {
        self.s.clear();
        if self.phrase() <= 0 || self.lx.peek() != b'<' {
            return -1;
        }
        self.addr.name = (!self.s.is_empty()).then(|| self.s.clone());
        if self.angle_addr() < 0 {
            self.addr.domain = Some(b"SYNTAX_ERROR".to_vec());
        }
        i32::from(!self.lx.at_end())
    }

    fn addr_spec(&mut self) -> i32 {
        if let Some(c) = &mut self.lx.last_comment {
            c.clear();
        }
        let quoted = self.lx.peek() == b'"';
        let mut r = self.local_part();
        let mut r2 = -2;
        if r != 0 && !self.lx.at_end() && self.lx.peek() == b'@' {
            r2 = self.domain();
            if r2 <= 0 {
                r = r2;
            }
        }
        let comment = self.lx.last_comment.clone().unwrap_or_default();
        if !comment.is_empty() {
            self.addr.name = Some(comment);
        } else if r2 == -2 {
            // A word without @domain: a mailbox, unless more words follow (a display name).
            self.s.push(b' ');
            let len = self.s.len();
            self.phrase();
            if self.s.len() != len {
                self.addr.mailbox = None;
                self.addr.name = Some(self.s.clone());
            } else if !quoted {
                self.addr.domain = Some(Vec::new());
            }
            r = -1;
        }
        r
    }

    fn mailbox(&mut self) -> i32 {
        let start = self.lx.pos;
        let mut r = self.name_addr();
        if r < 0 {
            self.lx.pos = start;
            r = self.addr_spec();
            if self.addr.name.is_none() && self.addr.mailbox.is_some() && self.addr.domain.is_none()
            {
                self.addr.name = self.addr.mailbox.take();
            }
        }
        self.add_fixed();
        r
    }

    fn group(&mut self) -> i32 {
        self.s.clear();
        if self.phrase() <= 0 || self.lx.peek() != b':' {
            return -1;
        }
        self.lx.pos += 1;
        let mut r = ret(self.lx.skip_lwsp());
        self.addr.mailbox = Some(self.s.clone());
        self.add();
        if r > 0 && self.lx.peek() != b';' {
            loop {
                self.mailbox();
                if self.lx.at_end() || self.lx.peek() != b',' {
                    break;
                }
                self.lx.pos += 1;
                if !self.lx.skip_lwsp().more() {
                    r = -1;
                    break;
                }
            }
        }
        if r >= 0 {
            if self.lx.at_end() || self.lx.peek() != b';' {
                r = -1;
            } else {
                self.lx.pos += 1;
                r = ret(self.lx.skip_lwsp());
            }
        }
        self.add();
        if r == 0 { 0 } else { 1 }
    }

    fn address(&mut self) -> i32 {
        let start = self.lx.pos;
        let r = self.group();
        if r >= 0 {
            return r;
        }
        self.lx.pos = start;
        self.mailbox()
    }

    fn address_list(&mut self) {
        loop {
            if self.address() == 0 {
                break;
            }
            if self.lx.at_end() || self.lx.peek() != b',' {
                break;
            }
            self.lx.pos += 1;
            let r = ret(self.lx.skip_lwsp());
            if r <= 0 {
                if r < 0 {
                    // Ends with garbage.
                    self.add_fixed();
                }
                break;
            }
        }
    }
}

/// Dovecot's `message_header_strdup`: NUL bytes become U+FFFD.
pub(crate) fn strdup(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b == 0 {
            out.extend_from_slice(NUL_REPLACEMENT);
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(value: &str) -> Vec<String> {
        let s = |v: &Option<Vec<u8>>| match v {
            None => "NIL".to_owned(),
            Some(v) => format!("{:?}", String::from_utf8_lossy(v)),
        };
        parse(value.as_bytes())
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {}",
                    s(&a.name),
                    s(&a.route),
                    s(&a.mailbox),
                    s(&a.domain)
                )
            })
            .collect()
    }

    #[test]
    fn addresses_groups_and_broken_ones_read_as_dovecot() {
        // The answers are Dovecot 2.3.19's ENVELOPE for the same header
        // (core/tests/imap_fixtures/dovecot/odd-headers.txt).
        assert_eq!(
            show(
                "\"Quoted \\\"Name\\\"\" <q@example.org>, (comment only) c@example.org,\n  \
                 Undisclosed recipients:;, user-without-domain, <@route.example:r@example.org>"
            ),
            vec![
                "\"Quoted \\\"Name\\\"\" NIL \"q\" \"example.org\"",
                "NIL NIL \"c\" \"example.org\"",
                "NIL NIL \"Undisclosed recipients\" NIL",
                "NIL NIL NIL NIL",
                "NIL NIL \"user-without-domain\" \"MISSING_DOMAIN\"",
                "NIL \"@route.example\" \"r\" \"example.org\"",
            ]
        );
        // Cc of the same message.
        assert_eq!(
            show("a@b (Real Name), Two Words, <broken"),
            vec![
                "\"Real Name\" NIL \"a\" \"b\"",
                "\"Two Words\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"",
                "NIL NIL \"broken\" \"SYNTAX_ERROR\"",
            ]
        );
        assert!(show("").is_empty());
    }
}
