//! SMTP commands (RFC 5321 §4.1): reading lines from a client and parsing them.

/// One command from an SMTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO domain`.
    Helo(String),
    /// `EHLO domain`.
    Ehlo(String),
    /// `MAIL FROM:<path> [params]`; `path` without the angle brackets.
    Mail {
        /// Reverse path (may be empty: the null sender).
        from: String,
        /// ESMTP parameters as sent (`SIZE=123 BODY=8BITMIME`).
        params: String,
    },
    /// `RCPT TO:<path> [params]`.
    Rcpt {
        /// Forward path.
        to: String,
        /// ESMTP parameters as sent.
        params: String,
    },
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(String),
    /// A known command this proxy does not implement (`STARTTLS`, `BDAT`, `AUTH`, …).
    NotImplemented(String),
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not a command this proxy knows (500 5.5.1).
    #[error("command unrecognized: {0:?}")]
    Unknown(String),
    /// A known command with bad arguments (501 5.5.4).
    #[error("syntax error in parameters: {0:?}")]
    Syntax(String),
}

/// Verbs recognised but not offered: the proxy does not advertise them, and relaying them
/// blindly would let a client start TLS or chunking the proxy cannot follow.
const NOT_IMPLEMENTED: [&str; 8] = [
    "STARTTLS", "BDAT", "AUTH", "EXPN", "HELP", "TURN", "ETRN", "ATRN",
];

/// Parses one command line (without its line end).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let text = super::text(line);
    let text = text.trim_end_matches([' ', '\t']);
    let (verb, rest) = match text.find(' ') {
        Some(i) => (&text[..i], text[i + 1..].trim_start()),
        None => (text, ""),
    };
    // Upper-cased on the stack: every command of every session passes here. A verb longer
    // than any known one is none of them.
    let mut upper = [0u8; 8];
    let verb_upper = match upper.get_mut(..verb.len()) {
        Some(room) => {
            room.copy_from_slice(verb.as_bytes());
            room.make_ascii_uppercase();
            std::str::from_utf8(room).unwrap_or_default()
        }
        None => "",
    };
    let syntax = || CommandError::Syntax(text.to_owned());
    match verb_upper {
        "HELO" | "EHLO" if rest.is_empty() => Err(syntax()),
        "HELO" => Ok(Command::Helo(rest.to_owned())),
        "EHLO" => Ok(Command::Ehlo(rest.to_owned())),
        "MAIL" => {
            let (from, params) = path_after(rest, "FROM:").ok_or_else(syntax)?;
            Ok(Command::Mail { from, params })
        }
        "RCPT" => {
            let (to, params) = path_after(rest, "TO:").ok_or_else(syntax)?;
            if to.is_empty() {
                return Err(syntax());
            }
            Ok(Command::Rcpt { to, params })
        }
        "DATA" | "RSET" | "QUIT" if !rest.is_empty() => Err(syntax()),
        "DATA" => Ok(Command::Data),
        "RSET" => Ok(Command::Rset),
        "QUIT" => Ok(Command::Quit),
        "NOOP" => Ok(Command::Noop),
        "VRFY" => Ok(Command::Vrfy(rest.to_owned())),
        v if NOT_IMPLEMENTED.contains(&v) => Ok(Command::NotImplemented(v.to_owned())),
        _ => Err(CommandError::Unknown(text.to_owned())),
    }
}

impl Command {
    /// NOOP, VRFY, RSET, HELO and EHLO: commands that move no mail, which Postfix counts
    /// against `smtpd_junk_command_limit`.
    pub fn is_junk(&self) -> bool {
        matches!(
            self,
            Command::Noop | Command::Vrfy(_) | Command::Rset | Command::Helo(_) | Command::Ehlo(_)
        )
    }
}

/// True when `line` holds a control byte: C0 (but horizontal tab, which some clients put
/// between arguments) or DEL. No command argument legitimately has one, and relayed or
/// logged they are how terminals and parsers downstream get attacked.
pub fn has_control_bytes(line: &[u8]) -> bool {
    line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// True when MAIL's parameters carry `SMTPUTF8` (RFC 6531 §3.4): the transaction may then
/// use UTF-8 in addresses and replies.
pub fn smtputf8_param(params: &str) -> bool {
    params
        .split_ascii_whitespace()
        .any(|p| p.eq_ignore_ascii_case("SMTPUTF8"))
}

/// The `SIZE=` value among MAIL parameters (RFC 1870): `Ok(None)` without one, `Err` when it
/// is not a decimal number.
#[allow(clippy::result_unit_err)]
pub fn size_param(params: &str) -> Result<Option<u64>, ()> {
    for param in params.split_ascii_whitespace() {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        if key.eq_ignore_ascii_case("SIZE") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            // Past u64 it is too large anyway.
            return Ok(Some(value.parse().unwrap_or(u64::MAX)));
        }
    }
    Ok(None)
}

/// `FROM:<a@b> SIZE=1` → (`a@b`, `SIZE=1`). Tolerates a space after the colon, as most
/// servers do.
fn path_after(rest: &str, keyword: &str) -> Option<(String, String)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let path = rest[..end].to_owned();
    if path.contains(['<', '\r', '\n']) {
        return None;
    }
    Some((path, rest[end + 1..].trim().to_owned()))
}

/// Room a [`LineReader`] keeps once everything in it is read: a few segments' worth. A
/// client that sent far ahead does not leave its session holding that much for good.
const KEPT_ROOM: usize = 64 * 1024;

/// What [`LineReader::next_line`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, its line end removed.
    Complete(Vec<u8>),
    /// A line longer than the limit; it was discarded up to its end.
    TooLong,
}

/// Splits a client's command stream into lines. A command line ends at LF (with or without
/// CR, as Postfix accepts); message data does not go through here (see
/// [`super::data::DataReceiver`], where only CRLF ends a line).
///
/// Lines are taken from the front by moving a mark, not by moving the rest of the buffer:
/// a client that pipelines thousands of commands in one segment costs each line once, not
/// the whole segment again for every line. The space taken is given back when the mark
/// passes half the buffer.
#[derive(Debug, Clone)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Where the bytes not yet taken start.
    start: usize,
    max: usize,
    discarding: bool,
}

impl LineReader {
    /// A reader refusing lines longer than `max` bytes (line end included).
    pub fn new(max: usize) -> Self {
        LineReader {
            buf: Vec::new(),
            start: 0,
            max,
            discarding: false,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// True when no bytes wait to be taken as a line.
    pub fn is_empty(&self) -> bool {
        self.unread().is_empty() && !self.discarding
    }

    /// True when a whole line is waiting to be taken.
    pub fn has_line(&self) -> bool {
        memchr::memchr(b'\n', self.unread()).is_some()
    }

    /// Bytes received but not yet taken as lines.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes the first `n` bytes of [`LineReader::unread`] as read by someone else (message
    /// data pipelined after `DATA`).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            // All read: room kept for the next segment, but not a flood's worth of it.
            if self.buf.capacity() > KEPT_ROOM {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.start = 0;
        }
    }

    /// The next line, or `None` if more bytes are needed.
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            match memchr::memchr(b'\n', self.unread()) {
                Some(at) => {
                    let end = self.start + at + 1;
                    let mut line = self.buf[self.start..end].to_vec();
                    self.consume(at + 1);
                    if std::mem::take(&mut self.discarding) {
                        return Some(Line::TooLong);
                    }
                    if line.len() > self.max {
                        return Some(Line::TooLong);
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Some(Line::Complete(line));
                }
                None if self.unread().len() > self.max => {
                    // Keep memory bounded: drop what we have and skip to the line's end.
                    self.buf.clear();
                    self.start = 0;
                    self.discarding = true;
                    continue;
                }
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_envelope_commands() {
        assert_eq!(
            parse(b"EHLO client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(
            parse(b"MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: "a@example.com".into(),
                params: "SIZE=100 BODY=8BITMIME".into()
            })
        );
        assert_eq!(
            parse(b"mail from: <>"),
            Ok(Command::Mail {
                from: String::new(),
                params: String::new()
            })
        );
        assert_eq!(
            parse(b"RCPT TO:<b@example.net>"),
            Ok(Command::Rcpt {
                to: "b@example.net".into(),
                params: String::new()
            })
        );
        assert_eq!(parse(b"data"), Ok(Command::Data));
        assert_eq!(
            parse(b"STARTTLS"),
            Ok(Command::NotImplemented("STARTTLS".into()))
        );
    }

    #[test]
    fn refuses_bad_syntax_and_unknown_verbs() {
        assert!(matches!(parse(b"MAIL a@b"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"RCPT TO:<>"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"EHLO"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"DATA now"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"FROB"), Err(CommandError::Unknown(_))));
        assert!(matches!(parse(b""), Err(CommandError::Unknown(_))));
        // Verbs are matched without regard to case, and only whole.
        assert_eq!(parse(b"eHlO x"), Ok(Command::Ehlo("x".into())));
        assert_eq!(
            parse(b"starttls"),
            Ok(Command::NotImplemented("STARTTLS".into()))
        );
        for long in [
            &b"STARTTLSX"[..],
            b"DATADATADATA",
            "\u{c9}HLO x".as_bytes(),
            b"QUI",
        ] {
            assert!(
                matches!(parse(long), Err(CommandError::Unknown(_))),
                "{long:?}"
            );
        }
    }

    proptest::proptest! {
        /// However a command stream is cut into pushes, and whenever lines are taken in
        /// between, the same lines come out as from the whole stream at once, and nothing
        /// is left unread.
        #[test]
        fn line_reader_gives_the_same_lines_however_the_stream_is_cut(
            lines in proptest::collection::vec("[A-Z ]{0,20}\r?\n", 0..40),
            cuts in proptest::collection::vec(0usize..64, 0..20),
        ) {
            let stream = lines.concat().into_bytes();
            let mut whole = LineReader::new(16);
            whole.push(&stream);
            let expected: Vec<Line> = std::iter::from_fn(|| whole.next_line()).collect();
            let mut r = LineReader::new(16);
            let mut got = Vec::new();
            let mut at: usize = 0;
            for cut in cuts.iter().chain([&usize::MAX]) {
                let end = at.saturating_add(*cut).min(stream.len());
                r.push(&stream[at..end]);
                at = end;
                while let Some(line) = r.next_line() {
                    got.push(line);
                }
            }
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert!(r.unread().is_empty());
        }
    }

    #[test]
    fn line_reader_hands_over_what_follows_a_line() {
        let mut r = LineReader::new(16);
        r.push(b"DATA\r\nhi\r\n.\r\nQUIT\r\n");
        assert_eq!(r.next_line(), Some(Line::Complete(b"DATA".to_vec())));
        assert_eq!(r.unread(), b"hi\r\n.\r\nQUIT\r\n");
        r.consume(7);
        assert_eq!(r.next_line(), Some(Line::Complete(b"QUIT".to_vec())));
        assert!(r.is_empty());
        r.push(b"NOOP\r\nRS");
        assert_eq!(r.next_line(), Some(Line::Complete(b"NOOP".to_vec())));
        assert_eq!(r.unread(), b"RS");
        r.consume(2);
        assert!(r.is_empty());
    }

    #[test]
    fn line_reader_splits_and_bounds() {
        let mut r = LineReader::new(16);
        r.push(b"NOOP\r\nQUIT\nxx");
        assert_eq!(r.next_line(), Some(Line::Complete(b"NOOP".to_vec())));
        assert_eq!(r.next_line(), Some(Line::Complete(b"QUIT".to_vec())));
        assert_eq!(r.next_line(), None);
        r.push(&[b'a'; 40]);
        assert_eq!(r.next_line(), None);
        r.push(b"\r\nNOOP\r\n");
        assert_eq!(r.next_line(), Some(Line::TooLong));
        assert_eq!(r.next_line(), Some(Line::Complete(b"NOOP".to_vec())));
    }
}
