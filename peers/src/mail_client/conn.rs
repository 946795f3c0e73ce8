//! One IMAP connection of a mail client: its phase, command tags, the commands awaiting their
//! tagged replies, the server's responses (read with core's [`ResponseReader`]) and the read
//! timer with the program's reset rule. Also the small readers of response lines that the
//! dialogues share (status, `EXISTS`, `[UIDNEXT]`, capabilities, `SEARCH`).

use std::collections::VecDeque;

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::{ResponseReader, ServerResponse, WireError, WireLimits};

use super::events::{ConnId, Step};
use super::presets::{ClientTimeouts, TagStyle, TimerReset};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The driver is opening it.
    Connecting,
    /// Waiting for the greeting.
    Greeting,
    /// `CAPABILITY`, `LOGIN` or `SELECT` outstanding.
    Prologue,
    /// The mailbox is selected; operations may run.
    Ready,
    /// `IDLE` sent; `idling` once the server's `+` came, `done_sent` once `DONE` went out.
    Idling { idling: bool, done_sent: bool },
    /// `LOGOUT` sent.
    LoggingOut,
}

/// A tagged reply's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    No,
    Bad,
    /// Anything else after the tag (a server error).
    Other,
}

/// One connection; see the module doc.
#[derive(Debug)]
pub(super) struct Conn {
    pub id: ConnId,
    pub phase: Phase,
    /// The greeting arrived (Thunderbird retries only after it).
    pub greeted: bool,
    /// The greeting was `PREAUTH`: no `LOGIN`.
    pub preauth: bool,
    /// Capabilities the server listed (upper case).
    pub caps: Vec<String>,
    reader: ResponseReader,
    next_tag: u32,
    /// Commands awaiting their tagged reply, oldest first.
    pending: VecDeque<(String, Step)>,
    deadline: Option<Timestamp>,
}

impl Conn {
    /// A connection being opened `now`; its connect timer runs.
    pub fn connecting(id: ConnId, timeouts: &ClientTimeouts, now: Timestamp) -> Self {
        Conn {
            id,
            phase: Phase::Connecting,
            greeted: false,
            preauth: false,
            caps: Vec::new(),
            reader: ResponseReader::new(WireLimits::default()),
            next_tag: 0,
            pending: VecDeque::new(),
            deadline: Some(now + timeouts.connect),
        }
    }

    /// The connection is open: the greeting is due.
    pub fn opened(&mut self, timeouts: &ClientTimeouts, now: Timestamp) {
        self.phase = Phase::Greeting;
        self.deadline = timeouts.read.map(|d| now + d);
    }

    /// When the read (or connect) timer fires.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// What the client waits for now: the oldest command, the greeting, or the connection.
    pub fn waiting_for(&self) -> Step {
        match self.phase {
            Phase::Connecting => Step::Connect,
            Phase::Greeting => Step::Greeting,
            _ => self
                .pending
                .front()
                .map(|(_, s)| s.clone())
                .unwrap_or(Step::Idle),
        }
    }

    /// The oldest command awaiting its reply.
    pub fn front_step(&self) -> Option<&Step> {
        self.pending.front().map(|(_, s)| s)
    }

    /// Whether commands await replies.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes `line` as the next command; returns its bytes (CRLF added). Any write restarts
    /// the read timer (both Thunderbird's and mbsync's count any socket event).
    pub fn command(
        &mut self,
        line: &str,
        step: Step,
        style: &TagStyle,
        timeouts: &ClientTimeouts,
        now: Timestamp,
    ) -> Vec<u8> {
        self.next_tag += 1;
        let tag = match style {
            TagStyle::Numeric => self.next_tag.to_string(),
            TagStyle::Prefixed { prefix, width } => {
                format!("{prefix}{:0width$}", self.next_tag, width = *width)
            }
        };
        let bytes = format!("{tag} {line}\r\n").into_bytes();
        self.pending.push_back((tag, step));
        self.deadline = timeouts.read.map(|d| now + d);
        bytes
    }

    /// An untagged line of the client's (`DONE`): restarts the timer like any write.
    pub fn wrote(&mut self, timeouts: &ClientTimeouts, now: Timestamp) {
        self.deadline = timeouts.read.map(|d| now + d);
    }

    /// Bytes from the server: queued for reading; the timer restarts if they count.
    pub fn received(&mut self, bytes: &[u8], timeouts: &ClientTimeouts, now: Timestamp) {
        self.reader.push(bytes);
        let counts = match timeouts.reset {
            TimerReset::AnyBytes => !bytes.is_empty(),
            TimerReset::Line => bytes.contains(&b'\n'),
        };
        if counts && self.deadline.is_some() {
            self.deadline = timeouts.read.map(|d| now + d);
        }
    }

    /// The next whole response.
    pub fn next_response(&mut self) -> Result<Option<ServerResponse>, WireError> {
        self.reader.next_response()
    }

    /// Removes the command tagged `tag`.
    pub fn take_pending(&mut self, tag: &str) -> Option<Step> {
        let i = self.pending.iter().position(|(t, _)| t == tag)?;
        self.pending.remove(i).map(|(_, s)| s)
    }

    /// After reading: the timer runs only while the client waits for something — the
    /// greeting, or a reply other than IDLE's while idling.
    pub fn settle(&mut self, timeouts: &ClientTimeouts, now: Timestamp) {
        let waiting = match self.phase {
            Phase::Connecting => return,
            Phase::Greeting => true,
            Phase::Idling {
                idling: true,
                done_sent: false,
            } => false,
            _ => !self.pending.is_empty(),
        };
        if !waiting {
            self.deadline = None;
        } else if self.deadline.is_none() {
            self.deadline = timeouts.read.map(|d| now + d);
        }
    }

    /// Reads capabilities from a `* CAPABILITY` line or a `[CAPABILITY …]` code.
    pub fn note_capabilities(&mut self, raw: &[u8]) {
        let line = first_line(raw).to_ascii_uppercase();
        let list = if let Some((_, rest)) = line.split_once("[CAPABILITY ") {
            rest.split_once(']').map_or(rest, |(list, _)| list)
        } else if let Some(rest) = line.strip_prefix("* CAPABILITY ") {
            rest
        } else {
            return;
        };
        self.caps = list.split_whitespace().map(str::to_owned).collect();
    }

    /// Whether the server listed capability `cap` (upper case).
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }
}

/// The response's first line, without CRLF, as text (lossy).
pub(super) fn first_line(raw: &[u8]) -> String {
    let end = raw
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// A tagged reply's status and the text after the tag.
pub(super) fn status(raw: &[u8]) -> (Status, String) {
    let line = first_line(raw);
    let rest = line.split_once(' ').map(|(_, r)| r).unwrap_or("");
    let word = rest.split(' ').next().unwrap_or("").to_ascii_uppercase();
    let status = match word.as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        _ => Status::Other,
    };
    (status, rest.to_owned())
}

/// `n` of `* n <word>` (EXISTS, EXPUNGE, RECENT …), if the line is that.
pub(super) fn numbered(raw: &[u8], word: &str) -> Option<u32> {
    let line = first_line(raw);
    let mut it = line.split(' ');
    (it.next()? == "*").then_some(())?;
    let n = it.next()?.parse().ok()?;
    it.next()?.eq_ignore_ascii_case(word).then_some(n)
}

/// `n` of a `[UIDNEXT n]` code.
pub(super) fn uidnext(raw: &[u8]) -> Option<u32> {
    let line = first_line(raw).to_ascii_uppercase();
    let rest = line.split_once("[UIDNEXT ")?.1;
    rest.split_once(']')?.0.trim().parse().ok()
}

/// The numbers of a `* SEARCH …` line.
pub(super) fn search_numbers(raw: &[u8]) -> Option<Vec<u32>> {
    let line = first_line(raw);
    let rest = line.strip_prefix("* ")?;
    let (word, numbers) = rest.split_once(' ').unwrap_or((rest, ""));
    word.eq_ignore_ascii_case("SEARCH").then(|| {
        numbers
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    })
}

/// The first word after `* ` (`OK`, `BYE`, `PREAUTH`, `FETCH`'s number …), upper case.
pub(super) fn untagged_word(raw: &[u8]) -> String {
    let line = first_line(raw);
    line.strip_prefix("* ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_readers() {
        assert_eq!(
            status(b"A0003 no [AUTHENTICATIONFAILED] bad\r\n").0,
            Status::No
        );
        assert_eq!(status(b"7 OK done\r\n"), (Status::Ok, "OK done".to_owned()));
        assert_eq!(status(b"7\r\n").0, Status::Other);
        assert_eq!(numbered(b"* 23 EXISTS\r\n", "EXISTS"), Some(23));
        assert_eq!(numbered(b"* 23 exists\r\n", "EXISTS"), Some(23));
        assert_eq!(numbered(b"* OK 23 EXISTS\r\n", "EXISTS"), None);
        assert_eq!(numbered(b"* 2 RECENT\r\n", "EXISTS"), None);
        assert_eq!(uidnext(b"* OK [UIDNEXT 4392] Predicted\r\n"), Some(4392));
        assert_eq!(uidnext(b"* OK [UIDNEXT x]\r\n"), None);
        assert_eq!(uidnext(b"* OK [UIDNEXT 12\r\n"), None);
        assert_eq!(search_numbers(b"* SEARCH 2 3 9\r\n"), Some(vec![2, 3, 9]));
        assert_eq!(search_numbers(b"* SEARCH\r\n"), Some(vec![]));
        assert_eq!(search_numbers(b"* OK\r\n"), None);
        assert_eq!(untagged_word(b"* PREAUTH hi\r\n"), "PREAUTH");
        assert_eq!(
            first_line(b"* 1 FETCH (BODY[] {2}\r\nab)\r\n"),
            "* 1 FETCH (BODY[] {2}"
        );
    }

    #[test]
    fn capabilities_from_greeting_or_line() {
        let t = ClientTimeouts {
            connect: std::time::Duration::from_secs(1),
            read: None,
            reset: TimerReset::AnyBytes,
        };
        let mut c = Conn::connecting(ConnId(1), &t, Timestamp::ZERO);
        c.note_capabilities(b"* OK [CAPABILITY IMAP4rev1 IDLE LITERAL+] ready\r\n");
        assert!(c.has_cap("IDLE") && c.has_cap("IMAP4REV1"));
        c.note_capabilities(b"* CAPABILITY IMAP4rev1\r\n");
        assert!(!c.has_cap("IDLE"));
        c.note_capabilities(b"* OK nothing\r\n");
        assert!(
            c.has_cap("IMAP4REV1"),
            "a line without capabilities changes nothing"
        );
    }

    #[test]
    fn tags_by_style() {
        let t = ClientTimeouts {
            connect: std::time::Duration::from_secs(1),
            read: Some(std::time::Duration::from_secs(5)),
            reset: TimerReset::Line,
        };
        let mut c = Conn::connecting(ConnId(1), &t, Timestamp::ZERO);
        let style = TagStyle::Prefixed {
            prefix: "A".to_owned(),
            width: 4,
        };
        let now = Timestamp::from_millis(1_000);
        assert_eq!(
            c.command("NOOP", Step::Listing, &style, &t, now),
            b"A0001 NOOP\r\n"
        );
        assert_eq!(
            c.command("NOOP", Step::Listing, &TagStyle::Numeric, &t, now),
            b"2 NOOP\r\n"
        );
        assert_eq!(c.deadline(), Some(Timestamp::from_millis(6_000)));
        // A line-reset timer ignores bytes without a line end.
        c.received(b"* OK wai", &t, Timestamp::from_millis(3_000));
        assert_eq!(c.deadline(), Some(Timestamp::from_millis(6_000)));
        c.received(b"t\r\n", &t, Timestamp::from_millis(4_000));
        assert_eq!(c.deadline(), Some(Timestamp::from_millis(9_000)));
        assert_eq!(c.take_pending("2"), Some(Step::Listing));
        assert_eq!(c.take_pending("2"), None);
    }
}
