//! Receiving message data after `DATA` (RFC 5321 §4.1.1.4, §4.5.2), and sending it on.
//!
//! **Line ends, and why smuggling cannot pass.** Data ends only at CRLF `.` CRLF, where the
//! line before the dot also ended in CRLF. What the proxy sends upstream it writes itself,
//! in canonical CRLF form ([`dot_stuff`]), so no server behind the proxy, however it reads
//! line ends, can be made to see two messages (SMTP smuggling, CVE-2023-51764/5/6). What a
//! bare LF or bare CR means is the [`BareNewline`] setting:
//! - [`BareNewline::Normalize`] (the default, as Postfix 3.9's `smtpd_forbid_bare_newline =
//!   normalize`): a bare LF ends a content line, which is stored with CRLF; a lone `.` on a
//!   line that a bare LF began or ends is content (so it is dot-stuffed when relayed); a
//!   bare CR becomes a space, as Postfix's `cleanup_replace_stray_cr_lf = yes` does, since
//!   a CR passed on could end a line for a server that reads CR as a line end. This is what
//!   scripts need: Python's `smtplib.SMTP.sendmail` sends `bytes` unchanged, LF lines and
//!   all.
//! - [`BareNewline::Reject`] (as Postfix's `reject`, chasquid and sendmail 8.18): a bare LF
//!   or bare CR anywhere makes the whole message refused (`550 5.5.2`) once its end
//!   arrives.

/// What a bare LF or bare CR in message data means (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BareNewline {
    /// Accept it: a bare LF ends a line (stored as CRLF), a bare CR becomes a space.
    #[default]
    Normalize,
    /// Refuse the message with `550 5.5.2`.
    Reject,
}

impl BareNewline {
    /// The setting's name, as in configuration files and flags.
    pub fn name(self) -> &'static str {
        match self {
            BareNewline::Normalize => "normalize",
            BareNewline::Reject => "reject",
        }
    }
}

impl std::str::FromStr for BareNewline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normalize" => Ok(BareNewline::Normalize),
            "reject" => Ok(BareNewline::Reject),
            other => Err(format!(
                "unknown bare_newline {other:?} (normalize or reject)"
            )),
        }
    }
}

/// Longest text line, line end included (RFC 5321 §4.5.3.1.6).
pub const MAX_LINE: usize = 1000;

pub use super::dot_stuff::{dot_stuff, dot_stuff_after};

/// Why received data was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Larger than the size limit (552 5.3.4).
    #[error("message exceeds the size limit")]
    TooBig,
    /// A line over 1,000 octets (500 5.5.2).
    #[error("line longer than 1000 octets")]
    LineTooLong,
    /// A bare LF or bare CR (550 5.5.2).
    #[error("bare LF or CR in message data")]
    BareLineEnd,
    /// The gateway ran out of room for held messages while it arrived (451 4.3.1).
    #[error("insufficient storage")]
    InsufficientStorage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    InLine,
    Cr,
    Dot,
    DotCr,
}

/// Collects one message's data: dot-unstuffed, with CRLF line ends, bounded in size.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    body: Vec<u8>,
    state: State,
    mode: BareNewline,
    /// The line being read began after a bare LF (normalize): a lone `.` on it is content.
    after_bare_lf: bool,
    line_len: usize,
    max_size: usize,
    error: Option<DataError>,
    /// Read the rest, store none of it (after an error that refuses the message anyway).
    discarding: bool,
}

impl DataReceiver {
    /// Ready to receive data, refusing messages over `max_size` bytes, with bare line ends
    /// normalised ([`BareNewline::Normalize`]).
    pub fn new(max_size: usize) -> Self {
        Self::with_mode(max_size, BareNewline::Normalize)
    }

    /// Ready to receive data, treating bare line ends as `mode` says.
    pub fn with_mode(max_size: usize, mode: BareNewline) -> Self {
        DataReceiver {
            body: Vec::new(),
            state: State::LineStart,
            mode,
            after_bare_lf: false,
            line_len: 0,
            max_size,
            error: None,
            discarding: false,
        }
    }

    /// Bytes of message stored so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// True when nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The gateway has no room for this message: what arrived is dropped, the rest is read
    /// to the end of data without being stored, and the message is refused.
    pub fn refuse_storage(&mut self) {
        self.fail(DataError::InsufficientStorage);
        self.discarding = true;
        self.body = Vec::new();
    }

    /// Takes bytes; returns how many it consumed and whether the end of data was among them.
    /// Bytes after the end (pipelined commands) are not consumed.
    pub fn ingest(&mut self, bytes: &[u8]) -> (usize, bool) {
        // Room for this segment at once, rather than doubling line by line: a message
        // usually comes in a few segments of many lines. Never beyond what the size limit
        // lets the body hold, so a client cannot make it reserve more than it may send.
        if !self.discarding {
            let room = self.max_size.saturating_sub(self.body.len());
            self.body.reserve(bytes.len().min(room));
        }
        let mut i = 0;
        while i < bytes.len() {
            // Inside a line, everything up to the next CR or LF is plain content: take it in
            // one copy instead of byte by byte.
            let plain_start = match self.state {
                State::InLine => true,
                State::LineStart => !matches!(bytes[i], b'.' | b'\r' | b'\n'),
                _ => false,
            };
            if plain_start {
                let end = memchr::memchr2(b'\r', b'\n', &bytes[i..]).map_or(bytes.len(), |k| i + k);
                // The usual line: its content and CRLF both here, with room for them.
                if bytes.get(end..end + 2) == Some(b"\r\n") && self.whole_line(&bytes[i..end + 2]) {
                    i = end + 2;
                    continue;
                }
                if end > i {
                    self.state = State::InLine;
                    self.content_run(&bytes[i..end]);
                    i = end;
                    continue;
                }
            }
            if self.step(bytes[i]) {
                return (i + 1, true);
            }
            i += 1;
        }
        (bytes.len(), false)
    }

    /// The rest of a line and its CRLF (`line`, no other CR or LF in it), taken at once as
    /// [`DataReceiver::content_run`] and [`DataReceiver::end_line`] would take them: a
    /// message is mostly such lines, and one copy per line is a third of the work of
    /// stepping through its line end. False, taking nothing, when the body has no room
    /// for it (the byte-wise path then fails the message as it would).
    fn whole_line(&mut self, line: &[u8]) -> bool {
        let room = self.max_size.saturating_sub(self.body.len());
        if self.discarding || line.len() > room {
            return false;
        }
        self.line_len += line.len() - 2;
        if self.line_len > MAX_LINE - 2 {
            self.fail(DataError::LineTooLong);
        }
        self.body.extend_from_slice(line);
        self.line_len = 0;
        self.after_bare_lf = false;
        self.state = State::LineStart;
        true
    }

    /// Content bytes without CR or LF, as [`DataReceiver::content`] would take them one by one.
    fn content_run(&mut self, run: &[u8]) {
        let room = self.max_size.saturating_sub(self.body.len());
        // Byte by byte, the line limit is passed at the byte after the last that fits the
        // line, the size limit at the first byte with no room: the earlier is reported.
        let fits_line = (MAX_LINE - 2).saturating_sub(self.line_len);
        self.line_len += run.len();
        let too_long = self.line_len > MAX_LINE - 2;
        let too_big = run.len() > room;
        if too_big && (!too_long || room < fits_line) {
            self.fail(DataError::TooBig);
        }
        if too_long {
            self.fail(DataError::LineTooLong);
        }
        if too_big {
            self.fail(DataError::TooBig);
        }
        if !self.discarding {
            self.body.extend_from_slice(&run[..run.len().min(room)]);
        }
    }

    /// The message, or why it was refused. Call after [`DataReceiver::ingest`] said done.
    pub fn finish(self) -> Result<Vec<u8>, DataError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }

    fn fail(&mut self, e: DataError) {
        // The first problem is the one reported; a bare line end outranks the others, since
        // it is the one that could be an attack, and a permanent refusal (size) outranks a
        // temporary one (storage), which a retry could not cure.
        let outranks = matches!(
            (self.error, e),
            (None, _)
                | (_, DataError::BareLineEnd)
                | (
                    Some(DataError::InsufficientStorage),
                    DataError::TooBig | DataError::LineTooLong
                )
        );
        if outranks {
            self.error = Some(e);
        }
    }

    fn push(&mut self, b: u8) {
        if self.body.len() >= self.max_size {
            self.fail(DataError::TooBig);
            return;
        }
        if !self.discarding {
            self.body.push(b);
        }
    }

    fn content(&mut self, b: u8) {
        self.line_len += 1;
        if self.line_len > MAX_LINE - 2 {
            self.fail(DataError::LineTooLong);
        }
        self.push(b);
    }

    /// Ends the current line with CRLF; `bare` when a bare LF ended it.
    fn end_line(&mut self, bare: bool) -> State {
        self.push(b'\r');
        self.push(b'\n');
        self.line_len = 0;
        self.after_bare_lf = bare;
        State::LineStart
    }

    /// A bare LF (the line's content so far is stored): in normalize mode it ends the line;
    /// in reject mode it refuses the message and is kept as content, never a line start, so
    /// a following dot is data.
    fn bare_lf(&mut self) -> State {
        match self.mode {
            BareNewline::Normalize => self.end_line(true),
            BareNewline::Reject => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\n');
                State::InLine
            }
        }
    }

    /// A bare CR: a space in normalize mode; in reject mode it refuses the message.
    fn bare_cr(&mut self) {
        match self.mode {
            BareNewline::Normalize => self.content(b' '),
            BareNewline::Reject => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\r');
            }
        }
    }

    /// One byte; true at the end of data.
    fn step(&mut self, b: u8) -> bool {
        self.state = match (self.state, b) {
            (State::LineStart, b'.') => State::Dot,
            (State::LineStart | State::InLine, b'\r') => State::Cr,
            (State::LineStart | State::InLine, b'\n') => self.bare_lf(),
            (State::LineStart | State::InLine, _) => {
                self.content(b);
                State::InLine
            }
            (State::Cr, b'\n') => self.end_line(false),
            (State::Cr, b'\r') => {
                self.bare_cr();
                State::Cr
            }
            (State::Cr, _) => {
                self.bare_cr();
                self.content(b);
                State::InLine
            }
            // Dot-unstuffing: the leading dot goes, the rest of the line is content.
            (State::Dot, b'\r') => State::DotCr,
            (State::Dot, b'\n') => {
                // A lone dot ended by a bare LF never ends the data: it is content.
                if self.mode == BareNewline::Normalize {
                    self.content(b'.');
                }
                self.bare_lf()
            }
            (State::Dot, _) => {
                self.content(b);
                State::InLine
            }
            (State::DotCr, b'\n') if self.after_bare_lf => {
                // CRLF `.` CRLF is the only end: after a bare LF the lone dot is content.
                self.content(b'.');
                self.end_line(false)
            }
            (State::DotCr, b'\n') => return true,
            (State::DotCr, b'\r') => {
                self.bare_cr();
                State::Cr
            }
            (State::DotCr, _) => {
                self.bare_cr();
                self.content(b);
                State::InLine
            }
        };
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(wire: &[u8]) -> (usize, bool, Result<Vec<u8>, DataError>) {
        let mut r = DataReceiver::new(1 << 20);
        let (used, done) = r.ingest(wire);
        (used, done, r.finish())
    }

    #[test]
    fn unstuffs_and_stops_at_crlf_dot_crlf() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<next@x>\r\n";
        let (used, done, body) = receive(wire);
        assert!(done);
        assert_eq!(&wire[used..], b"MAIL FROM:<next@x>\r\n");
        assert_eq!(
            body.as_deref(),
            Ok(&b"Subject: x\r\n\r\n.leading dot\r\n"[..])
        );
    }

    #[test]
    fn every_split_gives_the_same_message() {
        let wire = b"a\r\n..b\r\n.c\r\n\r\n.\r\nQUIT\r\n";
        let whole = receive(wire);
        for cut in 0..wire.len() {
            let mut r = DataReceiver::new(1 << 20);
            let (u1, d1) = r.ingest(&wire[..cut]);
            let (u2, d2) = if d1 {
                (0, true)
            } else {
                r.ingest(&wire[cut..])
            };
            assert!(d2, "cut {cut}");
            assert_eq!(u1 + u2, whole.0, "cut {cut}");
            assert_eq!(r.finish(), whole.2, "cut {cut}");
        }
    }

    const SMUGGLING_VECTORS: [&[u8]; 8] = [
        b"\n.\n",
        b"\r.\r",
        b"\r\n.\n",
        b"\n.\r\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\n\r\n.\n",
        b"\r\n.\n\r\n",
    ];

    #[test]
    fn smuggling_vectors_never_end_the_message_in_either_mode() {
        for mode in [BareNewline::Normalize, BareNewline::Reject] {
            for v in SMUGGLING_VECTORS {
                let mut wire = b"Subject: a\r\n\r\nbody".to_vec();
                wire.extend_from_slice(v);
                wire.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n");
                let mut r = DataReceiver::with_mode(1 << 20, mode);
                let (used, done) = r.ingest(&wire);
                assert!(!done, "{mode:?}: {v:?} ended the data");
                assert_eq!(used, wire.len());
                let (_, done) = r.ingest(b"\r\n.\r\n");
                assert!(done);
                match (mode, r.finish()) {
                    (BareNewline::Reject, result) => {
                        assert_eq!(result, Err(DataError::BareLineEnd), "{v:?}")
                    }
                    (BareNewline::Normalize, Ok(body)) => {
                        // Accepted, but relayed as one message: canonical line ends, and the
                        // smuggled commands stay content of this message.
                        assert!(canonical(&body), "{v:?}: {body:?}");
                        let wire = dot_stuff(&body);
                        let ends = wire.windows(5).filter(|w| w == b"\r\n.\r\n").count();
                        assert_eq!(ends, 1, "{v:?}: relayed as {wire:?}");
                        assert!(body.windows(10).any(|w| w == b"MAIL FROM:"), "{v:?}");
                    }
                    (BareNewline::Normalize, Err(e)) => panic!("{v:?} refused: {e:?}"),
                }
            }
        }
    }

    /// Every CR followed by LF, every LF preceded by CR.
    fn canonical(b: &[u8]) -> bool {
        b.iter().enumerate().all(|(i, &c)| match c {
            b'\r' => b.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && b[i - 1] == b'\r',
            _ => true,
        })
    }

    #[test]
    fn normalize_takes_lf_mail_as_smtplib_sends_it() {
        // smtplib.SMTP.sendmail with bytes: LF lines, leading dots doubled at every LF line
        // start (`_quote_periods`), then CRLF `.` CRLF appended after a final CRLF.
        let wire = b"Subject: lf\n\nline one\n..dotted\n..\nlast\n\r\n.\r\nQUIT\r\n";
        let mut r = DataReceiver::new(1 << 20);
        let (used, done) = r.ingest(wire);
        assert!(done);
        assert_eq!(&wire[used..], b"QUIT\r\n");
        let body = r.finish().expect("accepted");
        assert_eq!(
            String::from_utf8_lossy(&body),
            "Subject: lf\r\n\r\nline one\r\n.dotted\r\n.\r\nlast\r\n\r\n"
        );
        // The lone dot is content: relayed stuffed, so the next hop sees one message.
        let relayed = dot_stuff(&body);
        assert!(relayed.windows(7).any(|w| w == b"\r\n..\r\nl"));
    }

    #[test]
    fn normalize_keeps_a_lone_dot_after_a_bare_lf_as_content() {
        for (wire, content) in [
            (&b"a\n.\r\nb\r\n.\r\n"[..], "a\r\n.\r\nb\r\n"),
            (b"a\r\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n"),
            (b"a\rb\r\n.\r\n", "a b\r\n"),
        ] {
            let mut r = DataReceiver::new(1 << 20);
            let (used, done) = r.ingest(wire);
            assert!(done && used == wire.len(), "{wire:?}");
            assert_eq!(String::from_utf8_lossy(&r.finish().expect("ok")), content);
        }
    }

    #[test]
    fn reject_refuses_lf_mail() {
        let mut r = DataReceiver::with_mode(1 << 20, BareNewline::Reject);
        let (_, done) = r.ingest(b"Subject: lf\n\nbody\n\r\n.\r\n");
        assert!(done);
        assert_eq!(r.finish(), Err(DataError::BareLineEnd));
    }

    #[test]
    fn limits() {
        let mut r = DataReceiver::new(10);
        let (_, done) = r.ingest(b"0123456789abc\r\n.\r\n");
        assert!(done);
        assert_eq!(r.finish(), Err(DataError::TooBig));
        let mut long = vec![b'x'; 999];
        long.extend_from_slice(b"\r\n.\r\n");
        let (_, done, body) = receive(&long);
        assert!(done);
        assert_eq!(body, Err(DataError::LineTooLong));
        let mut ok = vec![b'x'; 998];
        ok.extend_from_slice(b"\r\n.\r\n");
        assert!(receive(&ok).2.is_ok());
    }

    #[test]
    fn dot_stuff_round_trips() {
        for message in [
            &b"a\r\n.b\r\n..c\r\n"[..],
            b"no final line end",
            b"",
            b".\r\n",
            b"x\ny\n.z\n",
        ] {
            let wire = dot_stuff(message);
            assert!(wire.ends_with(b"\r\n.\r\n") || wire == b".\r\n");
            let mut r = DataReceiver::new(1 << 20);
            let (used, done) = r.ingest(&wire);
            assert!(done && used == wire.len(), "{message:?}");
            let back = r.finish().expect("canonical");
            let mut expected = String::from_utf8_lossy(message)
                .replace("\r\n", "\n")
                .replace('\n', "\r\n");
            if !expected.is_empty() && !expected.ends_with("\r\n") {
                expected.push_str("\r\n");
            }
            assert_eq!(String::from_utf8_lossy(&back), expected, "{message:?}");
        }
    }
}
