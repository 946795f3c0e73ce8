//! SMTP replies: the three-digit code, an optional enhanced status code (RFC 3463) and text
//! lines; written as RFC 5321 §4.2 multi-line replies and parsed incrementally from a peer.

use std::fmt;

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200–599.
    pub code: u16,
    /// Text lines (without the code, without line ends); at least one, maybe empty.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply; `text` may start with an enhanced status code (`"2.0.0 Ok"`).
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx (354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply on the wire, CRLF after every line.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Written by hand, not with `format!`: every reply of every session passes here.
        let code = self.code.to_string();
        let size: usize = self.lines.iter().map(|l| l.len() + code.len() + 3).sum();
        let mut out = Vec::with_capacity(size.max(code.len() + 3));
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.extend_from_slice(code.as_bytes());
            out.push(if i == last { b' ' } else { b'-' });
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.lines.is_empty() {
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(b" \r\n");
        }
        out
    }

    /// The reply as it may go to a client: no control characters in its lines (a CR or LF
    /// in a file name would end the reply early and start a forged one; each becomes a
    /// space), and ASCII only unless the transaction negotiated SMTPUTF8 (RFC 6531 §3.7.4:
    /// without it a reply is ASCII), other characters written as `%XX` per UTF-8 byte.
    pub fn for_client(mut self, utf8: bool) -> Reply {
        for line in &mut self.lines {
            let clean = line
                .chars()
                .all(|c| !c.is_control() && (utf8 || c.is_ascii()));
            if clean {
                continue;
            }
            let mut out = String::with_capacity(line.len() + 8);
            for c in line.chars() {
                if c.is_control() {
                    out.push(' ');
                } else if utf8 || c.is_ascii() {
                    out.push(c);
                } else {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            *line = out;
        }
        self
    }

    /// The text of all lines joined by spaces (for logs and traces).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// What a peer sent that is not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line that does not start with three digits and a space or hyphen.
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    /// The lines of one multi-line reply carry different codes.
    #[error("reply code changed within a multi-line reply: {0} then {1}")]
    MixedCodes(u16, u16),
    /// A reply longer than the parser keeps.
    #[error("reply longer than {0} bytes")]
    TooLong(usize),
}

/// Assembles replies from bytes as they arrive; [`ReplyParser::next_reply`] yields each
/// complete one. Lines may end in CRLF or bare LF (peers differ; a reply is not smuggling
/// surface).
#[derive(Debug, Default, Clone)]
pub struct ReplyParser {
    buf: Vec<u8>,
    pending: Option<Reply>,
}

/// Longest reply kept, all lines together: far above any real server's EHLO list.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

impl ReplyParser {
    /// Adds bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            if self.buf.len() > MAX_REPLY_BYTES {
                self.buf.clear();
                self.pending = None;
                return Err(ReplyError::TooLong(MAX_REPLY_BYTES));
            }
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = super::text(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let bytes = line.as_bytes();
            // RFC 5321 §4.2: three digits, the first 2 to 5 (so "040" is no code 40).
            let code = match bytes.get(..3) {
                Some(&[a @ b'2'..=b'5', b, c]) if b.is_ascii_digit() && c.is_ascii_digit() => {
                    u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
                }
                _ => return Err(ReplyError::Malformed(line.to_owned())),
            };
            let (more, text) = match bytes.get(3) {
                None => (false, ""),
                Some(b' ') => (false, &line[4..]),
                Some(b'-') => (true, &line[4..]),
                Some(_) => return Err(ReplyError::Malformed(line.to_owned())),
            };
            let reply = self.pending.get_or_insert_with(|| Reply {
                code,
                lines: Vec::new(),
            });
            if reply.code != code {
                let first = reply.code;
                self.pending = None;
                return Err(ReplyError::MixedCodes(first, code));
            }
            reply.lines.push(text.to_owned());
            if !more {
                return Ok(self.pending.take());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_to_clients_are_ascii_without_smtputf8_and_never_broken_by_a_name() {
        let r = Reply::new(554, "5.7.1 Message refused: \"résumé.exe\"\r\n250 forged");
        assert_eq!(
            r.clone().for_client(false).to_bytes(),
            b"554 5.7.1 Message refused: \"r%C3%A9sum%C3%A9.exe\"  250 forged\r\n"
        );
        let utf8 = r.for_client(true).to_bytes();
        assert_eq!(
            String::from_utf8(utf8).expect("utf-8"),
            "554 5.7.1 Message refused: \"résumé.exe\"  250 forged\r\n"
        );
    }

    #[test]
    fn writes_single_and_multi_line() {
        assert_eq!(Reply::new(250, "2.0.0 Ok").to_bytes(), b"250 2.0.0 Ok\r\n");
        let r = Reply {
            code: 250,
            lines: vec!["mx.example".into(), "PIPELINING".into(), "SIZE 1000".into()],
        };
        assert_eq!(
            r.to_bytes(),
            b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        );
    }

    #[test]
    fn parses_split_at_every_byte() {
        let wire = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n354 go ahead\n";
        for cut in 0..=wire.len() {
            let mut p = ReplyParser::default();
            let mut got = Vec::new();
            for chunk in [&wire[..cut], &wire[cut..]] {
                p.push(chunk);
                while let Some(r) = p.next_reply().expect("valid") {
                    got.push(r);
                }
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0].lines, ["mx.example", "PIPELINING", "SIZE 1000"]);
            assert_eq!(got[1], Reply::new(354, "go ahead"));
        }
    }

    #[test]
    fn rejects_garbage_and_mixed_codes() {
        let mut p = ReplyParser::default();
        p.push(b"hello\r\n");
        assert!(matches!(p.next_reply(), Err(ReplyError::Malformed(_))));
        for bad in [&b"040 x\r\n"[..], b"600 x\r\n", b"25 x\r\n", b"1234\r\n"] {
            let mut p = ReplyParser::default();
            p.push(bad);
            assert!(
                matches!(p.next_reply(), Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
        let mut p = ReplyParser::default();
        p.push(b"250-a\r\n251 b\r\n");
        assert_eq!(p.next_reply(), Err(ReplyError::MixedCodes(250, 251)));
        let mut p = ReplyParser::default();
        p.push(b"220\r\n");
        assert_eq!(
            p.next_reply(),
            Ok(Some(Reply {
                code: 220,
                lines: vec![String::new()]
            }))
        );
    }
}
