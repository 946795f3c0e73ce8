//! The SMTP proxy session: one client connection (the sending MTA) and its upstream
//! connection (the receiving server), sans-IO.
//!
//! # Driving it
//! Feed inputs with the `handle_*` methods, passing `now` and the shared [`Gateway`]; after
//! each, drain [`ProxySession::poll_output`] until `None` and carry the outputs out (bytes to
//! either side, connecting or closing the upstream, uploads to the data center, events for the
//! trace), then arm a timer for [`ProxySession::poll_timeout`] and call
//! [`ProxySession::handle_timeout`] when it fires. Verdicts go to [`Gateway::record_verdict`]
//! first, then to the [`ProxySession::handle_verdict`] of every session that has the file
//! ([`ProxySession::watched_files`]).
//!
//! # What it does
//! It relays the dialogue (greeting, EHLO/HELO with the extensions filtered to what it
//! handles, MAIL, RCPT, RSET, QUIT), answering NOOP, VRFY and unimplemented verbs itself.
//! Commands are relayed one at a time, which makes client pipelining safe. After DATA the
//! proxy takes the whole message itself ([`super::wire::data`]) and runs the decision engine:
//! - release (S1): deliver at once, the sender gets the upstream's reply, files are analysed
//!   in the background; a later bad verdict is an *exposure* (X5);
//! - hold (S2–S4): no reply to the final dot until the engine decides, then the action (A1);
//!   `block` refuses the client's site for the policy's time;
//! - a client that leaves during a hold (it timed out, S5) loses that transaction for good —
//!   it is never delivered later — while its analysis goes on, so the retry is decided from
//!   the cache;
//! - an X2 deadline answers `451 4.7.0`.
//!
//! # The upstream during a long hold
//! The body goes upstream only after the decision. The receiving server may drop the idle
//! connection meanwhile (Postfix `smtpd_timeout` 300 s). Then the proxy reconnects and
//! replays the envelope (EHLO, MAIL, each accepted RCPT) before DATA; if that fails it answers
//! `451 4.4.0` so that the sender retries. Reconnecting beats keepalive NOOPs, which servers
//! count as junk commands (Postfix `smtpd_junk_command_limit` 100).
//!
//! # The next hop
//! A server that takes XFORWARD hears the client's address and HELO before each MAIL
//! (`xforward.rs`); every relayed message gets the proxy's `Received:` header
//! (`received.rs`, [`ProxyConfig::received_header`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::gateway::Gateway;
use crate::inspect::{Decision, FileOutcome, Flavour, Inspection, Outcome};
use crate::mime;
use crate::policy::Action;
use crate::rewrite::Rewrite;
use crate::unscannable::Unscannable;
use crate::usage::{ConnectionSlot, Reservation};
use crate::verdict::{ThreatLevel, Verdict};
use crate::work::{Done, Job, WorkFailed, WorkId};

use super::wire::command::{self, Command, CommandError, Line, LineReader};
use super::wire::data::{DataError, DataReceiver};
use super::wire::reply::{Reply, ReplyParser};
pub use config::ProxyConfig;
pub use ehlo::filter_ehlo;
pub use events::{Event, Output, TxnLog, TxnResult};
use held::{Background, Held};
pub use shutdown::Drained;
use timers::DataBudget;
use xforward::XforwardState;

mod client_end;
mod config;
mod ehlo;
mod events;
mod held;
mod identity;
mod received;
mod shutdown;
mod timers;
mod upstream;
mod xforward;

#[derive(Debug)]
enum ClientState {
    /// Waiting for the upstream's greeting.
    Greeting,
    /// Reading commands.
    Command,
    /// Reading message data.
    Data(DataReceiver),
    /// Message received, engine undecided.
    Held,
    /// Message going upstream; the upstream's final reply goes to the client.
    Delivering,
    /// Gone.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Connecting,
    Open,
    Gone,
}

/// A command to send upstream and what its reply is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// The greeting (nothing is sent); relayed to the client on the first connection.
    Greeting { relay: bool },
    /// A client command; its reply goes back to the client.
    Relay { line: Vec<u8>, command: Command },
    /// Part of replaying the envelope after a reconnect; must succeed.
    Replay { line: Vec<u8>, what: Replayed },
    /// `XFORWARD` before a MAIL (`xforward.rs`); its reply is not relayed, and a refusal does
    /// not stop the mail.
    Xforward { line: Vec<u8> },
    /// `DATA`, expecting 354.
    Data,
    /// The dot-stuffed message; its reply goes to the client.
    Body { bytes: Vec<u8> },
    /// `RSET` after a message that was not delivered; the reply is not relayed.
    Reset,
    /// `QUIT`; then close.
    Quit,
}

/// Which command of the envelope a replay sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replayed {
    Hello,
    Mail,
    Rcpt,
}

#[derive(Debug, Default, Clone)]
struct Txn {
    id: u64,
    from: Option<String>,
    mail_line: Option<Vec<u8>>,
    rcpts: Vec<String>,
    rcpt_lines: Vec<Vec<u8>>,
    /// MAIL carried `SMTPUTF8` (RFC 6531): replies may then hold UTF-8.
    smtputf8: bool,
    /// RCPTs refused for `max_recipients` (`max_recipient_overshoot`).
    overshoot: u32,
}

/// The proxy session for one client connection. See the module doc for the calling order.
#[derive(Debug)]
pub struct ProxySession {
    config: Arc<ProxyConfig>,
    site: String,
    client: ClientState,
    /// Everything the client sent that the session has not read yet: command lines, and
    /// message data while it is in DATA. One buffer read by moving a mark, so that bytes
    /// pipelined ahead (even many messages in one segment) are each read once.
    client_in: LineReader,
    client_busy: bool,
    /// The client's last bytes or the proxy's last reply to it, whichever came later: the
    /// idle timer runs from there (as Postfix's `smtpd_timeout` waits for input after each
    /// reply), so a reply after a long hold is not followed by an unasked 421.
    idle_since: Timestamp,
    /// The time of the input being handled.
    now: Timestamp,
    /// When the client's last bytes arrived (to tell a half-close from a departure).
    client_bytes_at: Timestamp,
    /// The client sent its FIN and is taken to be still reading (a half-close): it is
    /// answered what it asked, then closed.
    client_eof: bool,
    /// The gateway is shutting down: the next command other than QUIT is answered 421 and
    /// the session closed (the driver's grace period ends the others).
    shutting_down: bool,
    /// When the command line being read began to arrive (the command deadline).
    line_started: Option<Timestamp>,
    /// The data budget while message data arrives (the minimum data rate).
    data_budget: Option<DataBudget>,
    errors: u32,
    /// NOOP, VRFY, RSET, HELO and EHLO so far (`max_junk_commands`).
    junk: u32,
    helo: Option<Vec<u8>>,
    upstream: Upstream,
    upstream_in: ReplyParser,
    /// XFORWARD on the current upstream connection.
    xforward: XforwardState,
    ops: VecDeque<Op>,
    awaiting: Option<(Op, Timestamp)>,
    txn: Txn,
    next_txn: u64,
    held: Option<Held>,
    /// What to log when the current transaction's final reply goes out.
    pending_log: Option<TxnLog>,
    background: Vec<Background>,
    /// The job writing the body to relay, and the size of the message it works on.
    body_work: Option<(WorkId, usize)>,
    /// X2 after the decision: a held message decided for delivery whose body has not gone
    /// upstream by then (the upstream cut, slow, reconnecting) is answered `451` at this
    /// time all the same, so the sender retries instead of timing out.
    relay_deadline: Option<Timestamp>,
    next_work: WorkId,
    /// The client's place among the gateway's connections; `None` once it is closed.
    slot: Option<ConnectionSlot>,
    /// This session's share of the gateway's held bytes.
    reservation: Reservation,
    out: VecDeque<Output>,
}

impl ProxySession {
    /// A session for a client from `site` (its address) that has just connected.
    pub fn new(
        config: Arc<ProxyConfig>,
        site: impl Into<String>,
        gw: &Gateway,
        now: Timestamp,
    ) -> Self {
        let max_line = config.max_command_line;
        let config_max_connections = config.max_connections;
        let mut s = ProxySession {
            config,
            site: site.into(),
            client: ClientState::Greeting,
            client_in: LineReader::new(max_line),
            client_busy: false,
            idle_since: now,
            now,
            client_bytes_at: now,
            client_eof: false,
            shutting_down: false,
            line_started: None,
            data_budget: None,
            errors: 0,
            junk: 0,
            helo: None,
            upstream: Upstream::Gone,
            upstream_in: ReplyParser::default(),
            xforward: XforwardState::default(),
            ops: VecDeque::new(),
            awaiting: None,
            txn: Txn::default(),
            next_txn: 1,
            held: None,
            pending_log: None,
            background: Vec::new(),
            body_work: None,
            relay_deadline: None,
            next_work: 0,
            slot: gw.usage.try_connect(config_max_connections),
            reservation: gw.usage.reservation(),
            out: VecDeque::new(),
        };
        if s.slot.is_none() {
            // Over the gateway's connection limit: refused at once, as Postfix's anvil and
            // Exim's `smtp_accept_max` do, with a reply that makes the sender retry.
            let text = format!(
                "4.7.0 {} Error: too many connections, try again later",
                s.config.hostname
            );
            s.reply(Reply::new(421, text));
            s.close_client();
        } else if gw.is_blocked(&s.site, now) {
            // A site under `block` gets no dialogue: the gateway refuses its connections for
            // the block's time, which a sender takes as temporary (it retries later), so the
            // refusal is a 421 rather than a 554 that would bounce its mail for good.
            s.reply(Reply::new(
                421,
                "4.7.0 Your site is temporarily blocked by policy, try again later",
            ));
            s.close_client();
        } else {
            s.connect_upstream(true);
        }
        s
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// True when both connections are closed and no analysis is left to follow.
    pub fn is_finished(&self) -> bool {
        matches!(self.client, ClientState::Closed)
            && self.upstream == Upstream::Gone
            && self.held.is_none()
            && self.background.is_empty()
    }

    /// Client bytes received and not read yet: what a driver that can stop reading its
    /// socket (the live proxy) keeps small, as a real MTA leaves the rest to TCP.
    pub fn client_unread(&self) -> usize {
        self.client_in.unread().len()
    }

    /// Bytes from the client.
    pub fn handle_client_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        self.now = now;
        if matches!(self.client, ClientState::Closed) {
            return;
        }
        self.idle_since = now;
        self.client_bytes_at = now;
        self.client_in.push(bytes);
        self.pump(gw, now);
        if self.client_in.unread().len() > self.config.max_unread_bytes {
            self.too_much_unread(gw, now);
        }
    }

    // ---- internals ----

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn reply(&mut self, r: Reply) {
        if matches!(self.client, ClientState::Closed) {
            // Nothing goes to a client that is gone, and nothing is traced as sent.
            return;
        }
        let r = r.for_client(self.txn.smtputf8);
        self.idle_since = self.idle_since.max(self.now);
        self.out.push_back(Output::ToClient(r.to_bytes()));
        self.emit(Event::ClientReply(r));
    }

    fn close_client(&mut self) {
        if !matches!(self.client, ClientState::Closed) {
            self.client = ClientState::Closed;
            self.client_gone();
            self.out.push_back(Output::CloseClient);
        }
    }

    /// What the client's connection held goes: its place among the gateway's connections,
    /// its deadlines, its unread bytes.
    fn client_gone(&mut self) {
        self.slot = None;
        self.data_budget = None;
        self.line_started = None;
        self.client_in = LineReader::new(self.config.max_command_line);
    }

    /// Sends the next upstream command and reads client input, as far as each can go.
    fn pump(&mut self, gw: &mut Gateway, now: Timestamp) {
        loop {
            let mut progress = false;
            if self.awaiting.is_none() && !self.ops.is_empty() {
                match self.upstream {
                    Upstream::Open => {
                        if let Some(op) = self.next_op() {
                            let op = self.send_op(op);
                            self.awaiting = Some((op, now));
                            progress = true;
                        }
                    }
                    Upstream::Gone if !matches!(self.client, ClientState::Closed) => {
                        self.connect_upstream(false);
                    }
                    Upstream::Gone => self.ops.clear(),
                    Upstream::Connecting => {}
                }
            }
            progress |= self.read_client(gw, now);
            progress |= self.end_half_closed();
            if !progress {
                break;
            }
        }
        if matches!(self.client, ClientState::Closed)
            && self.upstream != Upstream::Gone
            && self.ops.is_empty()
            && self.awaiting.is_none()
        {
            self.out.push_back(Output::CloseUpstream);
            self.upstream = Upstream::Gone;
        }
        let bytes = self.held_bytes();
        self.reservation.set(bytes);
    }

    /// True when the gateway holds `max_held_bytes` or more, counting this session's bytes
    /// as they are now.
    fn storage_full(&self, gw: &Gateway) -> bool {
        let others = gw
            .usage
            .held_bytes()
            .saturating_sub(self.reservation.bytes());
        others + self.held_bytes() > self.config.max_held_bytes
    }

    /// Consumes client input the current state can take. Returns whether anything happened.
    fn read_client(&mut self, gw: &mut Gateway, now: Timestamp) -> bool {
        if self.client_in.unread().is_empty() && !matches!(self.client, ClientState::Command) {
            return false;
        }
        match &mut self.client {
            ClientState::Data(receiver) => {
                let (used, done) = receiver.ingest(self.client_in.unread());
                self.client_in.consume(used);
                if let Some(budget) = self.data_budget.as_mut() {
                    let (cap, rate) = (self.config.data_timeout, self.config.min_data_rate);
                    budget.received(used, now, cap, rate);
                }
                if self.storage_full(gw) {
                    // Past the gateway's memory limit as it arrives: the rest is read and
                    // dropped, and the message is refused with 451 4.3.1 at its end.
                    if let ClientState::Data(receiver) = &mut self.client {
                        receiver.refuse_storage();
                    }
                }
                if done {
                    self.data_budget = None;
                    let ClientState::Data(receiver) =
                        std::mem::replace(&mut self.client, ClientState::Held)
                    else {
                        return true;
                    };
                    self.end_of_data(receiver.finish(), gw, now);
                }
                used > 0
            }
            ClientState::Command if !self.client_busy => {
                let line = self.client_in.next_line();
                // The command deadline runs from the first byte of a line still incomplete.
                if self.client_in.is_empty() {
                    self.line_started = None;
                } else if line.is_some() || self.line_started.is_none() {
                    self.line_started = Some(now);
                }
                match line {
                    Some(Line::Complete(line)) => {
                        self.on_command(line, gw, now);
                        // The deadline counts time spent reading: a command relayed or a
                        // message received and held stops it, and a line already begun
                        // behind it starts its clock when reading resumes (Postfix's
                        // per-request deadline starts when it reads the request).
                        if self.client_busy || !matches!(self.client, ClientState::Command) {
                            self.line_started = None;
                        }
                        true
                    }
                    Some(Line::TooLong) => {
                        self.error(Reply::new(500, "5.5.2 Line too long"));
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    fn error(&mut self, r: Reply) {
        if !self.count_error() {
            self.reply(r);
        }
    }

    /// Counts one error; past `max_errors` the client is answered 421 and closed (true).
    fn count_error(&mut self) -> bool {
        self.errors += 1;
        if self.errors <= self.config.max_errors {
            return false;
        }
        self.reply(Reply::new(421, "4.7.0 Too many errors, closing connection"));
        self.close_client();
        self.quit_upstream();
        true
    }

    fn relay(&mut self, line: Vec<u8>, command: Command) {
        self.client_busy = true;
        self.ops.push_back(Op::Relay { line, command });
    }

    fn on_command(&mut self, line: Vec<u8>, gw: &mut Gateway, now: Timestamp) {
        self.emit(Event::ClientCommand(
            crate::smtp::wire::text(&line).into_owned(),
        ));
        if command::has_control_bytes(&line) {
            // Never relayed, whatever the verb: a NUL or an ESC in an argument would reach
            // the upstream and every log that prints it (Exim refuses NUL the same way).
            return self.error(Reply::new(
                501,
                "5.5.2 Control characters are not allowed in SMTP commands",
            ));
        }
        let command = match command::parse(&line) {
            Ok(c) => c,
            Err(CommandError::Unknown(_)) => {
                return self.error(Reply::new(500, "5.5.1 Command unrecognized"));
            }
            Err(CommandError::Syntax(_)) => {
                return self.error(Reply::new(501, "5.5.4 Syntax error in parameters"));
            }
        };
        if self.refuse_while_draining(&command) {
            return;
        }
        if command.is_junk() {
            // Postfix's `smtpd_junk_command_limit`: past it, each counts as an error too, so
            // a client cannot keep a connection for ever with NOOPs.
            self.junk += 1;
            if self.junk > self.config.max_junk_commands && self.count_error() {
                return;
            }
        }
        match command {
            Command::Helo(_) | Command::Ehlo(_) => {
                self.helo = Some(line.clone());
                self.txn = Txn::default();
                self.relay(line, command);
            }
            Command::Mail { .. } if self.txn.mail_line.is_some() => {
                self.error(Reply::new(503, "5.5.1 Nested MAIL command"));
            }
            Command::Mail { .. } if self.helo.is_none() => {
                self.error(Reply::new(503, "5.5.1 Send EHLO or HELO first"));
            }
            Command::Mail { ref params, .. } => match command::size_param(params) {
                Err(()) => self.error(Reply::new(501, "5.5.4 Bad message size syntax")),
                // SIZE is advertised, so a sender that says its message is too large hears
                // it now rather than after sending it all (RFC 1870).
                Ok(Some(size)) if size > self.config.max_message_bytes as u64 => {
                    self.error(Reply::new(552, "5.3.4 Message size exceeds fixed limit"))
                }
                Ok(_) => self.relay(line, command),
            },
            Command::Rcpt { .. } if self.txn.mail_line.is_none() => {
                self.error(Reply::new(503, "5.5.1 Need MAIL before RCPT"));
            }
            Command::Rcpt { .. } if self.txn.rcpts.len() >= self.config.max_recipients => {
                self.reply(Reply::new(452, "4.5.3 Too many recipients"));
                // Answered here, never upstream: past the overshoot each counts as an error,
                // so that a client cannot draw replies without end (Postfix smtpd).
                self.txn.overshoot += 1;
                if self.txn.overshoot > self.config.max_recipient_overshoot {
                    self.count_error();
                }
            }
            Command::Rcpt { .. } => self.relay(line, command),
            Command::Data if self.txn.mail_line.is_none() => {
                self.error(Reply::new(503, "5.5.1 Need MAIL before DATA"));
            }
            Command::Data if self.txn.rcpts.is_empty() => {
                self.error(Reply::new(554, "5.5.1 No valid recipients"));
            }
            Command::Data if self.storage_full(gw) => {
                self.reply(Reply::new(
                    451,
                    "4.3.1 Insufficient system storage, try again later",
                ));
            }
            Command::Data => {
                self.txn.id = self.next_txn;
                self.next_txn += 1;
                self.reply(Reply::new(354, "End data with <CR><LF>.<CR><LF>"));
                self.client = ClientState::Data(DataReceiver::with_mode(
                    self.config.max_message_bytes,
                    self.config.bare_newline,
                ));
                self.data_budget = Some(DataBudget::start(now, self.config.data_timeout));
                // Bytes pipelined after DATA are message data, not commands: the data
                // state reads them from `client_in` where they lie.
            }
            Command::Rset => {
                self.txn = Txn::default();
                self.relay(line, command);
            }
            Command::Noop => self.reply(Reply::new(250, "2.0.0 Ok")),
            Command::Vrfy(_) => self.reply(Reply::new(
                252,
                "2.5.0 Cannot VRFY user, but will accept message",
            )),
            Command::Quit => {
                self.reply(Reply::new(
                    221,
                    ["2.0.0 ", self.config.hostname.as_str(), " Bye"].concat(),
                ));
                self.close_client();
                self.quit_upstream();
            }
            Command::NotImplemented(_) => {
                self.error(Reply::new(502, "5.5.1 Command not implemented"))
            }
        }
    }

    /// Ends the current transaction; `reset_upstream` clears the envelope the upstream holds.
    fn finish_txn(&mut self, reset_upstream: bool) {
        self.relay_deadline = None;
        let had_envelope = self.txn.mail_line.is_some();
        self.txn = Txn::default();
        if !matches!(self.client, ClientState::Closed) {
            self.client = ClientState::Command;
        }
        if reset_upstream && had_envelope && self.upstream == Upstream::Open {
            self.ops.push_back(Op::Reset);
        }
    }
}
