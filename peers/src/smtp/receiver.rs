//! The receiving mail server behind the proxy: one SMTP server session, sans-IO, modelled on
//! Postfix's `smtpd` with its defaults.
//!
//! # Driving it
//! Create a [`ReceiverSession`] when a client connects; it greets at once. Feed the client's
//! bytes with [`ReceiverSession::handle_bytes`] and its hanging up with
//! [`ReceiverSession::handle_closed`]; after each call drain
//! [`ReceiverSession::poll_output`] until `None`: bytes to send, [`ReceiverOutput::Close`],
//! and each accepted message ([`ReceiverOutput::Delivered`]) for the mailbox store. Then arm
//! a timer for [`ReceiverSession::poll_timeout`] and call [`ReceiverSession::handle_timeout`]
//! when it fires.
//!
//! # What it does
//! EHLO (advertising PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES), HELO, MAIL (refusing a
//! `SIZE=` over the limit), RCPT (refusing the configured unknown users with 550 5.1.1, and
//! recipients past the limit with 452), DATA (354, then [`DataReceiver`], which normalises
//! bare line ends or refuses them with 550 5.5.2, as [`ReceiverConfig::bare_newline`] says),
//! RSET, NOOP, VRFY, QUIT; other verbs get 500 or 502.
//! Pipelined commands are taken from one read in order, and bytes after DATA are message
//! data. A client that sends nothing for [`ReceiverConfig::command_timeout`] gets
//! `421 4.4.2 <host> Error: timeout exceeded` and is disconnected, as Postfix does: this is
//! what a proxy holding a message on an idle upstream connection runs into.

use std::collections::VecDeque;
use std::time::Duration;

use aptsim_core::clock::Timestamp;

use aptsim_core::smtp::wire::command::{self, Command, CommandError, Line, LineReader};
use aptsim_core::smtp::wire::data::{BareNewline, DataError, DataReceiver};
use aptsim_core::smtp::wire::reply::Reply;

/// Longest command line, line end included: Postfix's `line_length_limit` (2048).
pub const MAX_COMMAND_LINE: usize = 2_048;

/// The server's settings. Defaults and their sources in each field's doc.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Host name in the greeting and replies. Default `mx.aptsim.example`.
    pub hostname: String,
    /// Hang up on a client silent this long while the server waits for it (a command or
    /// message data). Default 300 s, Postfix `smtpd_timeout`.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub command_timeout: Duration,
    /// Largest message, in bytes (advertised as SIZE). Default 10,240,000, Postfix
    /// `message_size_limit`.
    pub max_message_bytes: usize,
    /// Recipients per message; more get 452. Default 1000, Postfix `smtpd_recipient_limit`.
    pub max_recipients: usize,
    /// Errors before the server hangs up (421). Default 20, Postfix `smtpd_hard_error_limit`.
    pub hard_error_limit: u32,
    /// Addresses refused with `550 5.1.1` (unknown users), compared without regard to case.
    /// Default none.
    pub reject_rcpt: Vec<String>,
    /// Bare LF or CR in message data: `normalize` (default, Postfix 3.9's
    /// `smtpd_forbid_bare_newline = normalize`) or `reject` (550 5.5.2).
    pub bare_newline: BareNewline,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            hostname: "mx.aptsim.example".to_owned(),
            command_timeout: Duration::from_secs(300),
            max_message_bytes: 10_240_000,
            max_recipients: 1_000,
            hard_error_limit: 20,
            reject_rcpt: Vec::new(),
            bare_newline: BareNewline::Normalize,
        }
    }
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Reverse path (empty for the null sender).
    pub mail_from: String,
    /// Accepted recipients.
    pub rcpts: Vec<String>,
    /// The message, dot-unstuffed, CRLF line ends.
    pub message: Vec<u8>,
}

/// What the session asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverOutput {
    /// Send to the client.
    Send(Vec<u8>),
    /// Close the connection.
    Close,
    /// Store this message (it has been answered 250).
    Delivered(ReceivedMessage),
}

#[derive(Debug)]
enum State {
    /// Reading commands.
    Command,
    /// Reading message data.
    Data(DataReceiver),
    /// Gone.
    Closed,
}

/// One SMTP server connection. See the module doc for the calling order.
#[derive(Debug)]
pub struct ReceiverSession {
    config: ReceiverConfig,
    state: State,
    lines: LineReader,
    from: Option<String>,
    rcpts: Vec<String>,
    last_input: Timestamp,
    errors: u32,
    queued: u64,
    out: VecDeque<ReceiverOutput>,
}

impl ReceiverSession {
    /// A session for a client that connected `now`; the greeting is ready to send.
    pub fn new(config: ReceiverConfig, now: Timestamp) -> Self {
        let mut s = ReceiverSession {
            config,
            state: State::Command,
            lines: LineReader::new(MAX_COMMAND_LINE),
            from: None,
            rcpts: Vec::new(),
            last_input: now,
            errors: 0,
            queued: 0,
            out: VecDeque::new(),
        };
        let greeting = [s.config.hostname.as_str(), " ESMTP aptsim"].concat();
        s.reply(Reply::new(220, greeting));
        s
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<ReceiverOutput> {
        self.out.pop_front()
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Bytes from the client.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.last_input = now;
        self.consume(bytes);
    }

    /// Reads `input` where it lies: message data goes straight into the message, and the
    /// rest to the command lines. (Copying every segment into a buffer of its own first
    /// cost a growing buffer per message.)
    fn consume(&mut self, mut input: &[u8]) {
        loop {
            match &mut self.state {
                State::Closed => return,
                State::Data(receiver) => {
                    // Bytes pipelined after DATA wait among the command lines: they come
                    // first (rare), and are read where they lie too.
                    let done = if self.lines.unread().is_empty() {
                        let (used, done) = receiver.ingest(input);
                        input = &input[used..];
                        if !done {
                            return;
                        }
                        done
                    } else {
                        let (used, done) = receiver.ingest(self.lines.unread());
                        self.lines.consume(used);
                        done
                    };
                    if done
                        && let State::Data(receiver) =
                            std::mem::replace(&mut self.state, State::Command)
                    {
                        self.end_of_data(receiver.finish());
                    }
                }
                State::Command => {
                    if !input.is_empty() {
                        self.lines.push(input);
                        input = &[];
                    }
                    match self.lines.next_line() {
                        Some(Line::Complete(line)) => self.on_command(&line),
                        Some(Line::TooLong) => {
                            self.error(Reply::new(500, "5.5.2 Error: line too long"))
                        }
                        None => return,
                    }
                }
            }
        }
    }

    /// The client closed the connection (or it broke); an unfinished message is dropped.
    pub fn handle_closed(&mut self, now: Timestamp) {
        self.state = State::Closed;
        let _ = now;
    }

    /// When [`ReceiverSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::Closed => None,
            State::Command | State::Data(_) => Some(self.last_input + self.config.command_timeout),
        }
    }

    /// Acts on a deadline that has passed: a silent client is told and disconnected.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.poll_timeout().is_some_and(|due| now >= due) {
            let text = format!("4.4.2 {} Error: timeout exceeded", self.config.hostname);
            self.reply(Reply::new(421, text));
            self.close();
        }
    }

    fn reply(&mut self, r: Reply) {
        self.out.push_back(ReceiverOutput::Send(r.to_bytes()));
    }

    fn close(&mut self) {
        if !self.is_closed() {
            self.state = State::Closed;
            self.out.push_back(ReceiverOutput::Close);
        }
    }

    fn error(&mut self, r: Reply) {
        self.errors += 1;
        if self.errors >= self.config.hard_error_limit {
            let text = format!("4.7.0 {} Error: too many errors", self.config.hostname);
            self.reply(Reply::new(421, text));
            self.close();
        } else {
            self.reply(r);
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    fn on_command(&mut self, line: &[u8]) {
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(CommandError::Unknown(_)) => {
                return self.error(Reply::new(500, "5.5.2 Error: command not recognized"));
            }
            Err(CommandError::Syntax(_)) => {
                return self.error(Reply::new(501, "5.5.4 Syntax error in parameters"));
            }
        };
        match command {
            Command::Ehlo(_) => {
                self.reset();
                let mut digits = itoa::Buffer::new();
                let size = ["SIZE ", digits.format(self.config.max_message_bytes)].concat();
                let lines = [
                    self.config.hostname.as_str(),
                    "PIPELINING",
                    &size,
                    "8BITMIME",
                    "ENHANCEDSTATUSCODES",
                ];
                self.reply(Reply::with_lines(250, lines));
            }
            Command::Helo(_) => {
                self.reset();
                self.reply(Reply::new(250, &self.config.hostname));
            }
            Command::Mail { .. } if self.from.is_some() => {
                self.error(Reply::new(503, "5.5.1 Error: nested MAIL command"));
            }
            Command::Mail { from, params } => match command::size_param(&params) {
                // Postfix's replies (smtpd.c `mail_cmd`, `smtpd_check_size`).
                Err(()) => self.error(Reply::new(501, "5.5.4 Bad message size syntax")),
                Ok(Some(n)) if n > self.config.max_message_bytes as u64 => {
                    self.reply(Reply::new(552, "5.3.4 Message size exceeds fixed limit"))
                }
                Ok(_) => {
                    self.from = Some(from);
                    self.reply(Reply::new(250, "2.1.0 Ok"));
                }
            },
            Command::Rcpt { .. } if self.from.is_none() => {
                self.error(Reply::new(503, "5.5.1 Error: need MAIL command"));
            }
            Command::Rcpt { .. } if self.rcpts.len() >= self.config.max_recipients => {
                self.reply(Reply::new(452, "4.5.3 Error: too many recipients"));
            }
            Command::Rcpt { to, .. } => {
                let unknown = self
                    .config
                    .reject_rcpt
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&to));
                if unknown {
                    self.reply(Reply::new(
                        550,
                        format!(
                            "5.1.1 <{to}>: Recipient address rejected: User unknown in local \
                             recipient table"
                        ),
                    ));
                } else {
                    self.rcpts.push(to);
                    self.reply(Reply::new(250, "2.1.5 Ok"));
                }
            }
            Command::Data if self.from.is_none() => {
                self.error(Reply::new(503, "5.5.1 Error: need RCPT command"));
            }
            Command::Data if self.rcpts.is_empty() => {
                self.error(Reply::new(554, "5.5.1 Error: no valid recipients"));
            }
            Command::Data => {
                self.reply(Reply::new(354, "End data with <CR><LF>.<CR><LF>"));
                self.state = State::Data(DataReceiver::with_mode(
                    self.config.max_message_bytes,
                    self.config.bare_newline,
                ));
                // Pipelined bytes after DATA are message data, not commands: the loop in
                // `consume` reads them from the command lines' buffer.
            }
            Command::Rset => {
                self.reset();
                self.reply(Reply::new(250, "2.0.0 Ok"));
            }
            Command::Noop => self.reply(Reply::new(250, "2.0.0 Ok")),
            Command::Vrfy(_) => self.reply(Reply::new(
                252,
                "2.0.0 Cannot VRFY user, but will accept message",
            )),
            Command::Quit => {
                self.reply(Reply::new(221, "2.0.0 Bye"));
                self.close();
            }
            Command::NotImplemented(_) => {
                self.error(Reply::new(502, "5.5.1 Error: command not implemented"));
            }
        }
    }

    fn end_of_data(&mut self, received: Result<Vec<u8>, DataError>) {
        let from = self.from.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.rcpts);
        match received {
            Ok(message) => {
                self.queued += 1;
                self.out
                    .push_back(ReceiverOutput::Delivered(ReceivedMessage {
                        mail_from: from,
                        rcpts,
                        message,
                    }));
                self.reply(Reply::new(250, queue_id_text(self.queued)));
            }
            Err(DataError::TooBig) => {
                self.reply(Reply::new(552, "5.3.4 Message size exceeds fixed limit"));
            }
            Err(DataError::LineTooLong) => {
                self.reply(Reply::new(500, "5.5.2 Line too long (RFC 5321 4.5.3.1.6)"));
            }
            Err(DataError::BareLineEnd) => self.reply(Reply::new(
                550,
                "5.5.2 Bare LF or CR in message data (RFC 5321 2.3.8)",
            )),
            // Postfix's reply when its queue is short of room (smtpd_check_queue).
            Err(DataError::InsufficientStorage) => {
                self.reply(Reply::new(452, "4.3.1 Insufficient system storage"))
            }
        }
    }
}

/// `2.0.0 Ok: queued as 0001A`: Postfix's answer to a message taken, with its queue id in
/// upper-case hex of five digits at least (`{:05X}`), written without `format!`: every
/// message a simulated server takes passes here.
fn queue_id_text(id: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digits = (u64::BITS - id.leading_zeros()).div_ceil(4).max(5);
    let mut text = String::with_capacity(36);
    text.push_str("2.0.0 Ok: queued as ");
    for i in (0..digits).rev() {
        text.push(char::from(HEX[(id >> (4 * i) & 0xf) as usize]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_are_written_as_format_writes_them() {
        for id in [
            0,
            1,
            0xA,
            0xFFFF,
            0x10000,
            0xFFFFF,
            0x100000,
            0xDEAD_BEEF,
            u64::MAX,
        ] {
            assert_eq!(
                queue_id_text(id),
                format!("2.0.0 Ok: queued as {id:05X}"),
                "{id}"
            );
        }
    }

    fn run(config: ReceiverConfig, input: &[u8]) -> (String, Vec<ReceivedMessage>, bool) {
        let mut s = ReceiverSession::new(config, Timestamp::ZERO);
        s.handle_bytes(input, Timestamp::ZERO);
        let mut text = String::new();
        let mut got = Vec::new();
        let mut closed = false;
        while let Some(o) = s.poll_output() {
            match o {
                ReceiverOutput::Send(b) => text.push_str(&String::from_utf8_lossy(&b)),
                ReceiverOutput::Close => closed = true,
                ReceiverOutput::Delivered(m) => got.push(m),
            }
        }
        (text, got, closed)
    }

    #[test]
    fn pipelined_commands_are_answered_in_order() {
        let (text, got, closed) = run(
            ReceiverConfig::default(),
            b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n",
        );
        let codes: Vec<&str> = text.lines().map(|l| &l[..4]).collect();
        assert_eq!(
            codes,
            [
                "220 ", "250-", "250-", "250-", "250-", "250 ", "250 ", "250 ", "354 ", "250 ",
                "250 ", "221 "
            ]
        );
        assert!(text.contains("250-SIZE 10240000\r\n"));
        assert!(closed);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, b"hi\r\n");
    }

    /// Data pipelined after DATA and the rest of the message in later segments, cut
    /// anywhere: one message, whole, and the commands after it answered.
    #[test]
    fn message_data_split_anywhere_after_a_pipelined_data() {
        let input: &[u8] =
            b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n";
        let start = input
            .windows(6)
            .position(|w| w == b"DATA\r\n")
            .expect("DATA")
            + 6;
        for cut in start..input.len() {
            let mut s = ReceiverSession::new(ReceiverConfig::default(), Timestamp::ZERO);
            s.handle_bytes(&input[..cut], Timestamp::ZERO);
            s.handle_bytes(&input[cut..], Timestamp::ZERO);
            let mut got = Vec::new();
            let mut text = String::new();
            while let Some(out) = s.poll_output() {
                match out {
                    ReceiverOutput::Send(b) => text.push_str(&String::from_utf8_lossy(&b)),
                    ReceiverOutput::Delivered(m) => got.push(m.message),
                    _ => {}
                }
            }
            assert_eq!(got, [b"hi\r\n.dot\r\n".to_vec()], "cut at {cut}");
            assert!(text.ends_with("221 2.0.0 Bye\r\n"), "cut at {cut}: {text}");
        }
    }

    /// Many messages pipelined in one segment (a client ignoring PIPELINING's rule that
    /// DATA ends a group): each is taken whole, one after the other, and each byte is read
    /// where it lies (moving the rest of the segment for every message made this test take
    /// half a minute in a debug build).
    #[test]
    fn many_messages_pipelined_in_one_segment_are_all_taken() {
        let one = "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\n";
        let input = ["EHLO c\r\n", &one.repeat(20_000), "QUIT\r\n"].concat();
        let (text, got, closed) = run(ReceiverConfig::default(), input.as_bytes());
        assert_eq!(got.len(), 20_000);
        assert!(got.iter().all(|m| m.message == b"hi\r\n"));
        assert!(text.ends_with("221 2.0.0 Bye\r\n"));
        assert!(closed);
    }

    #[test]
    fn sequence_and_limit_errors() {
        let config = ReceiverConfig {
            max_recipients: 1,
            max_message_bytes: 100,
            reject_rcpt: vec!["Nobody@Y".into()],
            ..ReceiverConfig::default()
        };
        let (text, got, _) = run(
            config,
            b"RCPT TO:<b@y>\r\nDATA\r\nFROB\r\nMAIL FROM:<a@x> SIZE=101\r\n\
              MAIL FROM:<a@x> SIZE=100\r\nMAIL FROM:<a@x>\r\nDATA\r\nRCPT TO:<nobody@y>\r\n\
              RCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nSTARTTLS\r\n",
        );
        let codes: Vec<&str> = text.lines().map(|l| &l[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", "503", "503", "500", "552", "250", "503", "554", "550", "250", "452", "502"
            ]
        );
        assert!(got.is_empty());
    }

    #[test]
    fn bare_line_ends_are_refused_when_configured() {
        let config = ReceiverConfig {
            bare_newline: BareNewline::Reject,
            ..ReceiverConfig::default()
        };
        let (text, got, _) = run(
            config,
            b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@y>\r\nDATA\r\na\n.\nb\r\n.\r\n",
        );
        assert!(text.ends_with("550 5.5.2 Bare LF or CR in message data (RFC 5321 2.3.8)\r\n"));
        assert!(got.is_empty());
    }

    #[test]
    fn bare_line_ends_are_normalised_by_default() {
        let (text, got, _) = run(
            ReceiverConfig::default(),
            b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@y>\r\nDATA\r\na\n.\nb\r\n.\r\n",
        );
        assert!(
            text.ends_with("250 2.0.0 Ok: queued as 00001\r\n"),
            "{text}"
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, b"a\r\n.\r\nb\r\n");
    }

    #[test]
    fn too_many_errors_hang_up() {
        let config = ReceiverConfig {
            hard_error_limit: 3,
            ..ReceiverConfig::default()
        };
        let (text, _, closed) = run(config, b"A\r\nB\r\nC\r\nNOOP\r\n");
        assert!(closed);
        assert!(text.ends_with("421 4.7.0 mx.aptsim.example Error: too many errors\r\n"));
        assert!(!text.contains("250"));
    }
}
