//! SMTP replies: the three-digit code, an optional enhanced status code (RFC 3463) and text
//! lines; written as RFC 5321 §4.2 multi-line replies and parsed incrementally from a peer.

use std::fmt;
use std::sync::Arc;

/// One SMTP reply.
///
/// Its text is shared: a reply read from a peer is passed on, recorded and answered with,
/// and each of those is a copy of a pointer, not of its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200–599.
    pub code: u16,
    /// The text lines (without the code, without line ends), joined by `\n`: no line holds
    /// one. At least one line, maybe empty.
    text: Arc<str>,
}

impl Reply {
    /// A one-line reply; `text` may start with an enhanced status code (`"2.0.0 Ok"`). A
    /// line feed in `text` (a file name may hold one) becomes a space: it cannot end the
    /// line.
    pub fn new(code: u16, text: impl AsRef<str>) -> Self {
        let text = text.as_ref();
        Reply {
            code,
            text: if text.contains('\n') {
                Arc::from(text.replace('\n', " "))
            } else {
                Arc::from(text)
            },
        }
    }

    /// A reply of these lines (an EHLO reply: the greeting, then one extension a line); a
    /// line feed in a line becomes a space. No lines make one empty line.
    pub fn with_lines<S: AsRef<str>>(code: u16, lines: impl IntoIterator<Item = S>) -> Self {
        // Room for an EHLO list at once; the shared text is made at its size below.
        let mut text = String::with_capacity(128);
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            push_line(&mut text, line.as_ref());
        }
        Reply {
            code,
            text: Arc::from(text),
        }
    }

    /// The text lines, in order; at least one.
    pub fn lines(&self) -> Lines<'_> {
        Lines(Some(&self.text))
    }

    /// The first line (the server's name, in an EHLO reply).
    pub fn first_line(&self) -> &str {
        self.lines().next().unwrap_or_default()
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
        // Written by hand, not with `format!` or `to_string`: every reply of every session
        // passes here.
        let mut digits = itoa::Buffer::new();
        let code = digits.format(self.code).as_bytes();
        let lines = self.text.bytes().filter(|&b| b == b'\n').count() + 1;
        let mut out = Vec::with_capacity(self.text.len() + lines * (code.len() + 3));
        let mut rest = self.text.as_bytes();
        loop {
            out.extend_from_slice(code);
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    out.push(b'-');
                    out.extend_from_slice(&rest[..i]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[i + 1..];
                }
                None => {
                    out.push(b' ');
                    out.extend_from_slice(rest);
                    out.extend_from_slice(b"\r\n");
                    return out;
                }
            }
        }
    }

    /// The reply as it may go to a client: no control characters in its lines (a CR or LF
    /// in a file name would end the reply early and start a forged one; each becomes a
    /// space), and ASCII only unless the transaction negotiated SMTPUTF8 (RFC 6531 §3.7.4:
    /// without it a reply is ASCII), other characters written as `%XX` per UTF-8 byte.
    pub fn for_client(self, utf8: bool) -> Reply {
        // Printable ASCII, the text of nearly every reply, passes whatever `utf8` says; a
        // byte test, not a char decode, since every reply to every client comes here.
        let printable = |b: &u8| *b == b'\n' || (b' '..=b'~').contains(b);
        if self.text.as_bytes().iter().all(printable) {
            return self;
        }
        let allowed = |c: char| c == '\n' || (!c.is_control() && (utf8 || c.is_ascii()));
        if self.text.chars().all(allowed) {
            return self;
        }
        let mut out = String::with_capacity(self.text.len() + 8);
        for c in self.text.chars() {
            if c == '\n' {
                out.push(c);
            } else if c.is_control() {
                out.push(' ');
            } else if utf8 || c.is_ascii() {
                out.push(c);
            } else {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
        }
        Reply {
            code: self.code,
            text: Arc::from(out),
        }
    }

    /// The text of all lines joined by spaces (for logs and traces).
    pub fn text(&self) -> String {
        if memchr::memchr(b'\n', self.text.as_bytes()).is_none() {
            return self.text.to_string();
        }
        self.text.replace('\n', " ")
    }
}

/// The lines of a [`Reply`] ([`Reply::lines`]).
#[derive(Debug, Clone)]
pub struct Lines<'a>(Option<&'a str>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        // memchr straight away: `str::split` sets up a char searcher for every call.
        let rest = self.0?;
        match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => {
                self.0 = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A line onto a reply's text, a line feed in it as a space.
fn push_line(text: &mut String, line: &str) {
    if line.contains('\n') {
        text.push_str(&line.replace('\n', " "));
    } else {
        text.push_str(line);
    }
}

/// `250 text`, the lines joined by spaces ([`Reply::text`]). Written piece by piece: the
/// sender records the final reply of every message it delivers.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(itoa::Buffer::new().format(self.code))?;
        for line in self.lines() {
            f.write_str(" ")?;
            f.write_str(line)?;
        }
        Ok(())
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
    /// The code and lines so far of a multi-line reply.
    pending: Option<(u16, String)>,
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
            // The line is read where it lies; the buffer lets go of it once it is taken.
            let line = super::text(&self.buf[..=end]);
            let line = line.trim_end_matches(['\r', '\n']);
            let bytes = line.as_bytes();
            // RFC 5321 §4.2: three digits, the first 2 to 5 (so "040" is no code 40).
            let code = match bytes.get(..3) {
                Some(&[a @ b'2'..=b'5', b, c]) if b.is_ascii_digit() && c.is_ascii_digit() => {
                    u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
                }
                _ => return Err(self.malformed(line.to_owned(), end)),
            };
            let (more, text) = match bytes.get(3) {
                None => (false, ""),
                Some(b' ') => (false, &line[4..]),
                Some(b'-') => (true, &line[4..]),
                Some(_) => return Err(self.malformed(line.to_owned(), end)),
            };
            match &mut self.pending {
                Some((first, _)) if *first != code => {
                    let first = *first;
                    self.pending = None;
                    self.buf.drain(..=end);
                    return Err(ReplyError::MixedCodes(first, code));
                }
                Some((_, lines)) if lines.len() + 1 + text.len() > MAX_REPLY_BYTES => {
                    // The bound is on the whole reply, not only on what waits in the buffer:
                    // a peer that sends continuation lines forever gets no further.
                    self.pending = None;
                    self.buf.drain(..=end);
                    return Err(ReplyError::TooLong(MAX_REPLY_BYTES));
                }
                Some((_, lines)) => {
                    lines.push('\n');
                    lines.push_str(text);
                }
                None if !more => {
                    let reply = Reply {
                        code,
                        text: Arc::from(text),
                    };
                    self.buf.drain(..=end);
                    return Ok(Some(reply));
                }
                None => {
                    // Room for the whole reply if it is all here (an EHLO list arrives in
                    // one segment): one allocation.
                    let mut lines = String::with_capacity(self.buf.len());
                    lines.push_str(text);
                    self.pending = Some((code, lines));
                }
            }
            self.buf.drain(..=end);
            if !more {
                return Ok(self.pending.take().map(|(code, lines)| Reply {
                    code,
                    text: Arc::from(lines),
                }));
            }
        }
    }

    /// A malformed line: dropped with the buffer before it.
    fn malformed(&mut self, line: String, end: usize) -> ReplyError {
        self.buf.drain(..=end);
        ReplyError::Malformed(line)
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
    fn displays_the_code_and_the_lines_joined_by_spaces() {
        assert_eq!(Reply::new(250, "2.0.0 Ok").to_string(), "250 2.0.0 Ok");
        assert_eq!(Reply::new(354, "").to_string(), "354 ");
        let ehlo = Reply::with_lines(250, ["mx", "PIPELINING", "SIZE 10"]);
        assert_eq!(ehlo.to_string(), "250 mx PIPELINING SIZE 10");
        assert_eq!(ehlo.to_string(), format!("{} {}", ehlo.code, ehlo.text()));
    }

    #[test]
    fn writes_single_and_multi_line() {
        assert_eq!(Reply::new(250, "2.0.0 Ok").to_bytes(), b"250 2.0.0 Ok\r\n");
        let r = Reply::with_lines(250, ["mx.example", "PIPELINING", "SIZE 1000"]);
        assert_eq!(
            r.to_bytes(),
            b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        );
    }

    #[test]
    fn lines_come_back_as_made_empty_ones_too() {
        let r = Reply::with_lines(250, ["a", "", "b", ""]);
        assert!(r.lines().eq(["a", "", "b", ""]));
        assert_eq!(r.to_bytes(), b"250-a\r\n250-\r\n250-b\r\n250 \r\n");
        assert!(Reply::new(221, "").lines().eq([""]));
        assert!(Reply::with_lines(221, Vec::<&str>::new()).lines().eq([""]));
        // A line feed inside a line cannot split it.
        let r = Reply::with_lines(550, ["x\ny", "z"]);
        assert!(r.lines().eq(["x y", "z"]));
        assert_eq!(r.text(), "x y z");
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
            assert!(got[0].lines().eq(["mx.example", "PIPELINING", "SIZE 1000"]));
            assert_eq!(got[1], Reply::new(354, "go ahead"));
        }
    }

    #[test]
    fn a_reply_that_never_ends_is_cut_off() {
        let mut p = ReplyParser::default();
        let line = [b"250-".as_slice(), &[b'x'; 996], b"\r\n"].concat();
        let mut sent = 0;
        let result = loop {
            p.push(&line);
            sent += line.len();
            match p.next_reply() {
                Ok(None) => assert!(sent <= 2 * MAX_REPLY_BYTES, "kept {sent} bytes"),
                other => break other,
            }
        };
        assert_eq!(result, Err(ReplyError::TooLong(MAX_REPLY_BYTES)));
        // What comes after is read afresh.
        p.push(b"250 ok\r\n");
        assert_eq!(p.next_reply(), Ok(Some(Reply::new(250, "ok"))));
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
        assert_eq!(p.next_reply(), Ok(Some(Reply::new(220, ""))));
    }
}
