//! Receiving message data after `DATA` (RFC 5321 §4.1.1.4, §4.5.2), and sending it on.
//!
//! **Line ends, and why this is strict.** Only CRLF ends a line, and data ends only at
//! CRLF `.` CRLF. A bare LF or a bare CR anywhere in the data makes the whole message
//! refused (`550 5.5.2`) once its end arrives, as Postfix does with
//! `smtpd_forbid_bare_newline = reject`. So an SMTP smuggling payload (`<LF>.<LF>`,
//! `<CR>.<CR>`, `<CR><LF>.<LF>`, …) can never end the message early here, and a message that
//! carries one is never relayed at all: no server behind the proxy, however it reads line
//! ends, can be made to see two messages. What the proxy sends upstream it writes itself,
//! in canonical CRLF form ([`dot_stuff`]).

/// Longest text line, line end included (RFC 5321 §4.5.3.1.6).
pub const MAX_LINE: usize = 1000;

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
    line_len: usize,
    max_size: usize,
    error: Option<DataError>,
    /// Read the rest, store none of it (after an error that refuses the message anyway).
    discarding: bool,
}

impl DataReceiver {
    /// Ready to receive data, refusing messages over `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        DataReceiver {
            body: Vec::new(),
            state: State::LineStart,
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
        let mut i = 0;
        while i < bytes.len() {
            // Inside a line, everything up to the next CR or LF is plain content: take it in
            // one copy instead of byte by byte.
            if self.state == State::InLine {
                let end = memchr::memchr2(b'\r', b'\n', &bytes[i..]).map_or(bytes.len(), |k| i + k);
                if end > i {
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

    /// Content bytes without CR or LF, as [`DataReceiver::content`] would take them one by one.
    fn content_run(&mut self, run: &[u8]) {
        self.line_len += run.len();
        if self.line_len > MAX_LINE - 2 {
            self.fail(DataError::LineTooLong);
        }
        let room = self.max_size.saturating_sub(self.body.len());
        if run.len() > room {
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

    /// One byte; true at the end of data.
    fn step(&mut self, b: u8) -> bool {
        self.state = match (self.state, b) {
            (State::LineStart, b'.') => State::Dot,
            (State::LineStart | State::InLine, b'\r') => State::Cr,
            (State::LineStart | State::InLine, b'\n') => {
                // A bare LF is content, and never a line start: a following dot is data.
                self.fail(DataError::BareLineEnd);
                self.content(b'\n');
                State::InLine
            }
            (State::LineStart | State::InLine, _) => {
                self.content(b);
                State::InLine
            }
            (State::Cr, b'\n') => {
                self.push(b'\r');
                self.push(b'\n');
                self.line_len = 0;
                State::LineStart
            }
            (State::Cr, b'\r') => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\r');
                State::Cr
            }
            (State::Cr, _) => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\r');
                self.content(b);
                State::InLine
            }
            // Dot-unstuffing: the leading dot goes, the rest of the line is content.
            (State::Dot, b'\r') => State::DotCr,
            (State::Dot, b'\n') => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\n');
                State::InLine
            }
            (State::Dot, _) => {
                self.content(b);
                State::InLine
            }
            (State::DotCr, b'\n') => return true,
            (State::DotCr, b'\r') => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\r');
                State::Cr
            }
            (State::DotCr, _) => {
                self.fail(DataError::BareLineEnd);
                self.content(b'\r');
                self.content(b);
                State::InLine
            }
        };
        false
    }
}

/// The message as sent after `DATA`: every line end CRLF, lines starting with `.` doubled,
/// a final CRLF if missing, and the terminating `.` line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    if !message.is_empty() {
        // A final line end closes the last line; it does not open an empty one.
        let body = message.strip_suffix(b"\n").unwrap_or(message);
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
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

    #[test]
    fn smuggling_vectors_never_end_the_message() {
        let vectors: [&[u8]; 6] = [
            b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r",
        ];
        for v in vectors {
            let mut wire = b"Subject: a\r\n\r\nbody".to_vec();
            wire.extend_from_slice(v);
            wire.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n");
            let mut r = DataReceiver::new(1 << 20);
            let (used, done) = r.ingest(&wire);
            assert!(!done, "{v:?} ended the data");
            assert_eq!(used, wire.len());
            let (_, done) = r.ingest(b"\r\n.\r\n");
            assert!(done);
            assert_eq!(r.finish(), Err(DataError::BareLineEnd), "{v:?}");
        }
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
