//! The SMTP proxy session: one client connection (the sending MTA) and its upstream
//! connection (the receiving server), sans-IO.
//!
//! # Driving it
//! Feed inputs with the `handle_*` methods, passing `now` and the shared [`Gateway`]; after
//! each, drain [`ProxySession::poll_output`] until `None` and carry the outputs out (bytes to
//! either side, connecting or closing the upstream, uploads to the data center, events for the
//! trace), then arm a timer for [`ProxySession::poll_timeout`] and call
//! [`ProxySession::handle_timeout`] when it fires. Verdicts go to [`Gateway::record_verdict`]
//! first, then to every session's [`ProxySession::handle_verdict`].
//!
//! # What it does
//! It relays the dialogue (greeting, EHLO/HELO with the extensions filtered to what it
//! handles, MAIL, RCPT, RSET, QUIT), answering NOOP, VRFY and unimplemented verbs itself.
//! Commands are relayed one at a time, which makes client pipelining safe. After DATA the
//! proxy takes the whole message itself ([`super::data`]) and runs the decision engine:
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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::gateway::Gateway;
use crate::inspect::{Decision, FileOutcome, Flavour, Inspection, Outcome};
use crate::policy::Action;
use crate::verdict::{ThreatLevel, Verdict};

use super::command::{self, Command, CommandError, Line, LineReader};
pub use super::config::ProxyConfig;
use super::data::{self, DataError, DataReceiver};
pub use super::ehlo::filter_ehlo;
pub use super::events::{Event, Output, TxnLog, TxnResult};
use super::reply::{Reply, ReplyParser};

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
    Replay { line: Vec<u8> },
    /// `DATA`, expecting 354.
    Data,
    /// The dot-stuffed message; its reply goes to the client.
    Body { bytes: Vec<u8> },
    /// `RSET` after a message that was not delivered; the reply is not relayed.
    Reset,
    /// `QUIT`; then close.
    Quit,
}

#[derive(Debug, Default, Clone)]
struct Txn {
    id: u64,
    from: Option<String>,
    mail_line: Option<Vec<u8>>,
    rcpts: Vec<String>,
    rcpt_lines: Vec<Vec<u8>>,
}

/// An inspection still running after its transaction ended: a release-mode message whose
/// files are being analysed (X5), or a held one whose client left or was tempfailed (S5).
#[derive(Debug)]
struct Background {
    txn: u64,
    inspection: Inspection,
    /// Set for a message released unjudged and accepted upstream.
    delivered_at: Option<Timestamp>,
}

#[derive(Debug)]
struct Held {
    txn: u64,
    inspection: Inspection,
    since: Timestamp,
    message: Arc<[u8]>,
}

/// The proxy session for one client connection. See the module doc for the calling order.
#[derive(Debug)]
pub struct ProxySession {
    config: Arc<ProxyConfig>,
    site: String,
    client: ClientState,
    client_in: LineReader,
    /// Client bytes not yet consumed while the session cannot read commands.
    client_pending: Vec<u8>,
    client_busy: bool,
    last_client: Timestamp,
    errors: u32,
    helo: Option<Vec<u8>>,
    upstream: Upstream,
    upstream_in: ReplyParser,
    ops: VecDeque<Op>,
    awaiting: Option<(Op, Timestamp)>,
    txn: Txn,
    next_txn: u64,
    held: Option<Held>,
    /// What to log when the current transaction's final reply goes out.
    pending_log: Option<TxnLog>,
    background: Vec<Background>,
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
        let mut s = ProxySession {
            config,
            site: site.into(),
            client: ClientState::Greeting,
            client_in: LineReader::new(max_line),
            client_pending: Vec::new(),
            client_busy: false,
            last_client: now,
            errors: 0,
            helo: None,
            upstream: Upstream::Gone,
            upstream_in: ReplyParser::default(),
            ops: VecDeque::new(),
            awaiting: None,
            txn: Txn::default(),
            next_txn: 1,
            held: None,
            pending_log: None,
            background: Vec::new(),
            out: VecDeque::new(),
        };
        if gw.is_blocked(&s.site, now) {
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

    /// Bytes from the client.
    pub fn handle_client_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        if matches!(self.client, ClientState::Closed) {
            return;
        }
        self.last_client = now;
        self.client_pending.extend_from_slice(bytes);
        self.pump(gw, now);
    }

    /// The client closed its connection (or it broke).
    pub fn handle_client_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        if matches!(self.client, ClientState::Closed) {
            return;
        }
        let after_body_sent = matches!(self.client, ClientState::Delivering)
            && matches!(self.awaiting, Some((Op::Body { .. }, _)));
        let open_txn = match self.client {
            ClientState::Held | ClientState::Delivering | ClientState::Data(_) => Some(self.txn.id),
            _ => None,
        };
        self.emit(Event::ClientGone {
            txn: open_txn,
            after_body_sent,
        });
        if let Some(held) = self.held.take() {
            // S5: never delivered later; the analysis goes on so the retry finds the cache.
            let files = held.inspection_files();
            self.log_txn(
                files,
                Action::Allow,
                TxnResult::Abandoned,
                Some(now.saturating_since(held.since)),
                None,
            );
            self.background.push(Background {
                txn: held.txn,
                inspection: held.inspection,
                delivered_at: None,
            });
        } else if let Some(mut log) = self.pending_log.take() {
            log.result = TxnResult::Abandoned;
            self.emit(Event::Transaction(log));
        }
        self.client = ClientState::Closed;
        self.ops.clear();
        if self.upstream != Upstream::Gone && !after_body_sent {
            self.ops.push_back(Op::Quit);
        }
        self.pump(gw, now);
    }

    /// The upstream connection is open.
    pub fn handle_upstream_connected(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.upstream = Upstream::Open;
        self.upstream_in = ReplyParser::default();
        // The greeting op waits for the server's 220 without sending anything.
        if let Some(Op::Greeting { .. }) = self.ops.front()
            && let Some(op) = self.ops.pop_front()
        {
            self.awaiting = Some((op, now));
        }
        self.pump(gw, now);
    }

    /// The upstream could not be reached.
    pub fn handle_upstream_connect_failed(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.upstream = Upstream::Gone;
        // Nothing was sent yet: what failed is whatever waits first in line.
        if let Some(op) = self.ops.pop_front() {
            self.awaiting = Some((op, now));
        }
        self.upstream_lost(gw, now);
        self.ops.clear();
        self.pump(gw, now);
    }

    /// Bytes from the upstream.
    pub fn handle_upstream_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        self.upstream_in.push(bytes);
        loop {
            match self.upstream_in.next_reply() {
                Ok(Some(reply)) => self.on_upstream_reply(reply, gw, now),
                Ok(None) => break,
                Err(_) => {
                    // A server that does not speak SMTP: treat it as lost.
                    self.out.push_back(Output::CloseUpstream);
                    self.upstream = Upstream::Gone;
                    self.upstream_lost(gw, now);
                    break;
                }
            }
        }
        self.pump(gw, now);
    }

    /// The upstream closed its connection (idle timeout, restart, error).
    pub fn handle_upstream_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        if self.upstream == Upstream::Gone {
            return;
        }
        self.upstream = Upstream::Gone;
        self.upstream_lost(gw, now);
        self.pump(gw, now);
    }

    /// A verdict, already recorded in the gateway. Returns whether any of this session's
    /// messages had the file.
    pub fn handle_verdict(
        &mut self,
        md5: &Md5,
        verdict: &Verdict,
        gw: &mut Gateway,
        now: Timestamp,
    ) -> bool {
        let mut relevant = false;
        if let Some(held) = &mut self.held {
            relevant |= held.inspection.handle_verdict(md5, verdict, now);
        }
        let policy = gw.policy.clone();
        let mut exposures = Vec::new();
        for bg in &mut self.background {
            if bg.inspection.handle_verdict(md5, verdict, now) {
                relevant = true;
                if let Some(at) = bg.delivered_at
                    && policy.level(verdict.level).action != Action::Allow
                {
                    exposures.push(Event::Exposure {
                        txn: bg.txn,
                        md5: *md5,
                        level: verdict.level,
                        window: now.saturating_since(at),
                    });
                }
            }
        }
        for e in exposures {
            self.emit(e);
        }
        self.drive(gw, now);
        self.pump(gw, now);
        relevant
    }

    /// The data center refused the upload of `md5` (S7).
    pub fn handle_unreachable(&mut self, md5: &Md5, gw: &mut Gateway, now: Timestamp) {
        if let Some(held) = &mut self.held {
            held.inspection.handle_unreachable(md5, now);
        }
        for bg in &mut self.background {
            bg.inspection.handle_unreachable(md5, now);
        }
        self.drive(gw, now);
        self.pump(gw, now);
    }

    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let idle = match self.client {
            ClientState::Command | ClientState::Data(_) if !self.client_busy => {
                Some(self.last_client + self.config.idle_timeout)
            }
            _ => None,
        };
        let upstream = self
            .awaiting
            .as_ref()
            .map(|(_, at)| *at + self.config.upstream_timeout);
        let inspections = self
            .held
            .iter()
            .map(|h| &h.inspection)
            .chain(self.background.iter().map(|b| &b.inspection))
            .filter_map(Inspection::poll_timeout);
        idle.into_iter().chain(upstream).chain(inspections).min()
    }

    /// Acts on every deadline that has passed.
    pub fn handle_timeout(&mut self, gw: &mut Gateway, now: Timestamp) {
        if let Some((_, at)) = &self.awaiting
            && now >= *at + self.config.upstream_timeout
        {
            self.out.push_back(Output::CloseUpstream);
            self.upstream = Upstream::Gone;
            self.upstream_lost(gw, now);
        }
        let idle_due = matches!(self.client, ClientState::Command | ClientState::Data(_))
            && !self.client_busy
            && now >= self.last_client + self.config.idle_timeout;
        if idle_due {
            self.reply(Reply::new(
                421,
                format!(
                    "4.4.2 {} Idle timeout, closing connection",
                    self.config.hostname
                ),
            ));
            self.close_client();
            self.quit_upstream();
        }
        if let Some(held) = &mut self.held {
            held.inspection.handle_timeout(now);
        }
        for bg in &mut self.background {
            bg.inspection.handle_timeout(now);
        }
        self.drive(gw, now);
        self.pump(gw, now);
    }

    // ---- internals ----

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn reply(&mut self, r: Reply) {
        self.out.push_back(Output::ToClient(r.to_bytes()));
        self.emit(Event::ClientReply(r));
    }

    fn close_client(&mut self) {
        if !matches!(self.client, ClientState::Closed) {
            self.client = ClientState::Closed;
            self.out.push_back(Output::CloseClient);
        }
    }

    fn quit_upstream(&mut self) {
        self.ops.clear();
        match self.upstream {
            Upstream::Open => self.ops.push_back(Op::Quit),
            Upstream::Connecting => {
                self.out.push_back(Output::CloseUpstream);
                self.upstream = Upstream::Gone;
                self.awaiting = None;
            }
            Upstream::Gone => {}
        }
    }

    /// Opens the upstream; after a loss, replays the envelope first.
    fn connect_upstream(&mut self, first: bool) {
        self.upstream = Upstream::Connecting;
        self.awaiting = None;
        let mut replay = vec![Op::Greeting { relay: first }];
        if !first {
            let helo = self
                .helo
                .clone()
                .unwrap_or_else(|| format!("EHLO {}", self.config.hostname).into_bytes());
            replay.push(Op::Replay { line: helo });
            if let Some(mail) = &self.txn.mail_line {
                replay.push(Op::Replay { line: mail.clone() });
                for rcpt in &self.txn.rcpt_lines {
                    replay.push(Op::Replay { line: rcpt.clone() });
                }
            }
        }
        for op in replay.into_iter().rev() {
            self.ops.push_front(op);
        }
        self.out.push_back(Output::ConnectUpstream);
    }

    /// Sends the next upstream command and reads client input, as far as each can go.
    fn pump(&mut self, gw: &mut Gateway, now: Timestamp) {
        loop {
            let mut progress = false;
            if self.awaiting.is_none() && !self.ops.is_empty() {
                match self.upstream {
                    Upstream::Open => {
                        if let Some(op) = self.ops.pop_front() {
                            self.send_op(&op);
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
    }

    fn send_op(&mut self, op: &Op) {
        let line = match op {
            Op::Greeting { .. } => return,
            Op::Relay { line, .. } | Op::Replay { line } => line.clone(),
            Op::Data => b"DATA".to_vec(),
            Op::Body { bytes } => {
                self.out.push_back(Output::ToUpstream(bytes.clone()));
                self.emit(Event::BodySent { txn: self.txn.id });
                return;
            }
            Op::Reset => b"RSET".to_vec(),
            Op::Quit => b"QUIT".to_vec(),
        };
        self.emit(Event::UpstreamCommand(
            String::from_utf8_lossy(&line).into_owned(),
        ));
        let mut wire = line;
        wire.extend_from_slice(b"\r\n");
        self.out.push_back(Output::ToUpstream(wire));
    }

    /// Consumes client input the current state can take. Returns whether anything happened.
    fn read_client(&mut self, gw: &mut Gateway, now: Timestamp) -> bool {
        if self.client_pending.is_empty() && !matches!(self.client, ClientState::Command) {
            return false;
        }
        match &mut self.client {
            ClientState::Data(receiver) => {
                let (used, done) = receiver.ingest(&self.client_pending);
                self.client_pending.drain(..used);
                if done {
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
                if !self.client_pending.is_empty() {
                    let pending = std::mem::take(&mut self.client_pending);
                    self.client_in.push(&pending);
                }
                match self.client_in.next_line() {
                    Some(Line::Complete(line)) => {
                        self.on_command(line, gw, now);
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
        self.errors += 1;
        if self.errors > self.config.max_errors {
            self.reply(Reply::new(421, "4.7.0 Too many errors, closing connection"));
            self.close_client();
            self.quit_upstream();
        } else {
            self.reply(r);
        }
    }

    fn relay(&mut self, line: Vec<u8>, command: Command) {
        self.client_busy = true;
        self.ops.push_back(Op::Relay { line, command });
    }

    fn on_command(&mut self, line: Vec<u8>, gw: &mut Gateway, now: Timestamp) {
        self.emit(Event::ClientCommand(
            String::from_utf8_lossy(&line).into_owned(),
        ));
        let command = match command::parse(&line) {
            Ok(c) => c,
            Err(CommandError::Unknown(_)) => {
                return self.error(Reply::new(500, "5.5.1 Command unrecognized"));
            }
            Err(CommandError::Syntax(_)) => {
                return self.error(Reply::new(501, "5.5.4 Syntax error in parameters"));
            }
        };
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
            Command::Mail { .. } => self.relay(line, command),
            Command::Rcpt { .. } if self.txn.mail_line.is_none() => {
                self.error(Reply::new(503, "5.5.1 Need MAIL before RCPT"));
            }
            Command::Rcpt { .. } if self.txn.rcpts.len() >= self.config.max_recipients => {
                self.reply(Reply::new(452, "4.5.3 Too many recipients"));
            }
            Command::Rcpt { .. } => self.relay(line, command),
            Command::Data if self.txn.mail_line.is_none() => {
                self.error(Reply::new(503, "5.5.1 Need MAIL before DATA"));
            }
            Command::Data if self.txn.rcpts.is_empty() => {
                self.error(Reply::new(554, "5.5.1 No valid recipients"));
            }
            Command::Data => {
                self.txn.id = self.next_txn;
                self.next_txn += 1;
                self.reply(Reply::new(354, "End data with <CR><LF>.<CR><LF>"));
                self.client = ClientState::Data(DataReceiver::new(self.config.max_message_bytes));
                // Pipelined bytes after DATA are message data, not commands.
                let rest = self.client_in.take_rest();
                let mut pending = std::mem::take(&mut self.client_pending);
                self.client_pending = rest;
                self.client_pending.append(&mut pending);
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
                    format!("2.0.0 {} Bye", self.config.hostname),
                ));
                self.close_client();
                self.quit_upstream();
            }
            Command::NotImplemented(_) => {
                self.error(Reply::new(502, "5.5.1 Command not implemented"))
            }
        }
        let _ = (gw, now);
    }

    fn end_of_data(
        &mut self,
        received: Result<Vec<u8>, DataError>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        let message = match received {
            Ok(m) => m,
            Err(e) => {
                let r = match e {
                    DataError::TooBig => Reply::new(552, "5.3.4 Message size exceeds fixed limit"),
                    DataError::LineTooLong => {
                        Reply::new(500, "5.5.2 Line too long (RFC 5321 4.5.3.1.6)")
                    }
                    DataError::BareLineEnd => {
                        Reply::new(550, "5.5.2 Bare LF or CR in message data (RFC 5321 2.3.8)")
                    }
                };
                self.log_txn(
                    Vec::new(),
                    Action::Allow,
                    TxnResult::Refused,
                    None,
                    Some(r.clone()),
                );
                self.reply(r);
                self.finish_txn(true);
                return;
            }
        };
        let message: Arc<[u8]> = Arc::from(message);
        let inspection =
            Inspection::new(Flavour::Smtp, &message, gw.policy.clone(), &*gw.cache, now);
        let holds = inspection.holds();
        self.held = Some(Held {
            txn: self.txn.id,
            inspection,
            since: now,
            message,
        });
        self.client = ClientState::Held;
        self.drive(gw, now);
        if holds && self.held.is_some() {
            self.emit(Event::HoldStarted { txn: self.txn.id });
        }
    }

    /// Collects uploads from every inspection, acts on a decision, drops what is finished.
    fn drive(&mut self, gw: &mut Gateway, now: Timestamp) {
        let mut submits = Vec::new();
        if let Some(held) = &mut self.held {
            while let Some(sub) = held.inspection.poll_submission(&*gw.cache, now) {
                submits.push((held.txn, sub.files));
            }
        }
        for bg in &mut self.background {
            while let Some(sub) = bg.inspection.poll_submission(&*gw.cache, now) {
                submits.push((bg.txn, sub.files));
            }
        }
        for (txn, files) in submits {
            self.out.push_back(Output::Submit { txn, files });
        }
        let decided = self.held.as_mut().and_then(|h| h.inspection.poll_outcome());
        if let Some(outcome) = decided
            && let Some(held) = self.held.take()
        {
            self.apply(held, outcome, gw, now);
        }
        self.background.retain(|b| !b.inspection.is_finished());
    }

    fn apply(&mut self, held: Held, outcome: Outcome, gw: &mut Gateway, now: Timestamp) {
        let waited = now.saturating_since(held.since);
        let hold = (!outcome.released).then_some(waited);
        self.emit(Event::Decided {
            txn: held.txn,
            outcome: Box::new(outcome.clone()),
        });
        if let Some(d) = outcome.block_for {
            let until = now + d;
            gw.block(&self.site, until);
            self.emit(Event::SiteBlocked {
                site: self.site.clone(),
                until,
            });
        }
        let files = outcome.files.clone();
        let (result, reply) = match outcome.decision {
            Decision::Deliver => {
                self.deliver(&held.message);
                (TxnResult::Delivered, None)
            }
            Decision::DeliverRewritten(rewrite) => {
                self.deliver(&rewrite.apply(&held.message, &gw.policy.limits));
                (TxnResult::Delivered, None)
            }
            Decision::Quarantine => {
                self.emit(Event::Quarantined {
                    txn: held.txn,
                    message: held.message.to_vec(),
                });
                (
                    TxnResult::Quarantined,
                    Some(Reply::new(250, "2.0.0 Message accepted")),
                )
            }
            Decision::Reject(text) => (TxnResult::Denied, Some(Reply::new(554, text))),
            Decision::Tempfail(text) => (TxnResult::Tempfailed, Some(Reply::new(451, text))),
        };
        self.log_txn(files, outcome.action, result, hold, reply.clone());
        if let Some(r) = reply {
            self.reply(r);
            self.finish_txn(true);
        }
        if !held.inspection.is_finished() {
            self.background.push(Background {
                txn: held.txn,
                inspection: held.inspection,
                delivered_at: None,
            });
        }
    }

    fn deliver(&mut self, message: &[u8]) {
        self.client = ClientState::Delivering;
        self.ops.push_back(Op::Data);
        self.ops.push_back(Op::Body {
            bytes: data::dot_stuff(message),
        });
    }

    /// Prepares the transaction record; it is emitted with the final reply.
    fn log_txn(
        &mut self,
        files: Vec<FileOutcome>,
        action: Action,
        result: TxnResult,
        held: Option<Duration>,
        reply: Option<Reply>,
    ) {
        let log = TxnLog {
            txn: self.txn.id,
            from: self.txn.from.clone().unwrap_or_default(),
            rcpts: self.txn.rcpts.clone(),
            files,
            action,
            result,
            held,
            reply,
        };
        if matches!(result, TxnResult::Delivered) {
            self.pending_log = Some(log);
        } else {
            self.emit(Event::Transaction(log));
        }
    }

    /// Ends the current transaction; `reset_upstream` clears the envelope the upstream holds.
    fn finish_txn(&mut self, reset_upstream: bool) {
        let had_envelope = self.txn.mail_line.is_some();
        self.txn = Txn::default();
        if !matches!(self.client, ClientState::Closed) {
            self.client = ClientState::Command;
        }
        if reset_upstream && had_envelope && self.upstream == Upstream::Open {
            self.ops.push_back(Op::Reset);
        }
    }

    fn on_upstream_reply(&mut self, reply: Reply, gw: &mut Gateway, now: Timestamp) {
        self.emit(Event::UpstreamReply(reply.clone()));
        let Some((op, _)) = self.awaiting.take() else {
            // Unsolicited (a 421 before closing, typically): nothing waits for it.
            return;
        };
        // 421 means the server is closing the channel (RFC 5321 §3.8): whatever the reply
        // answered goes back as usual, then the proxy closes both sides, as a server would.
        let closing = reply.code == 421 && !matches!(op, Op::Reset | Op::Quit);
        self.on_reply_to(op, reply, gw, now);
        if closing && !matches!(self.client, ClientState::Closed) {
            self.close_client();
            self.ops.clear();
            self.out.push_back(Output::CloseUpstream);
            self.upstream = Upstream::Gone;
        }
    }

    fn on_reply_to(&mut self, op: Op, reply: Reply, gw: &mut Gateway, now: Timestamp) {
        match op {
            Op::Greeting { relay: true } => {
                self.reply(reply.clone());
                if reply.is_positive() {
                    self.client = ClientState::Command;
                } else {
                    self.close_client();
                    self.quit_upstream();
                }
            }
            Op::Greeting { relay: false } | Op::Replay { .. } => {
                if !reply.is_positive() {
                    self.delivery_failed(&format!(
                        "upstream refused the replayed envelope: {reply}"
                    ));
                }
            }
            Op::Relay { command, line } => {
                self.client_busy = false;
                let positive = reply.is_positive();
                match command {
                    Command::Ehlo(_) if positive => {
                        let filtered = filter_ehlo(&reply, self.config.max_message_bytes);
                        self.reply(filtered);
                    }
                    Command::Mail { from, .. } if positive => {
                        self.txn.from = Some(from);
                        self.txn.mail_line = Some(line);
                        self.reply(reply);
                    }
                    Command::Rcpt { to, .. } if positive => {
                        self.txn.rcpts.push(to);
                        self.txn.rcpt_lines.push(line);
                        self.reply(reply);
                    }
                    _ => self.reply(reply),
                }
            }
            Op::Data => {
                if !reply.is_intermediate() {
                    // The upstream will not take the body: its answer is the sender's.
                    self.ops.retain(|op| !matches!(op, Op::Body { .. }));
                    self.final_reply(reply, now);
                }
            }
            Op::Body { .. } => self.final_reply(reply, now),
            Op::Reset => {}
            Op::Quit => {
                self.out.push_back(Output::CloseUpstream);
                self.upstream = Upstream::Gone;
            }
        }
        let _ = gw;
    }

    /// The upstream's answer to the body (or to DATA) goes to the sender and ends the
    /// transaction.
    fn final_reply(&mut self, reply: Reply, now: Timestamp) {
        let positive = reply.is_positive();
        if let Some(mut log) = self.pending_log.take() {
            if !positive {
                log.result = if reply.is_transient() {
                    TxnResult::Tempfailed
                } else {
                    TxnResult::RefusedUpstream
                };
            }
            log.reply = Some(reply.clone());
            self.emit(Event::Transaction(log));
        }
        if positive {
            let txn = self.txn.id;
            // Released unjudged (S1): later verdicts count as exposures from now on (X5).
            if let Some(bg) = self.background.iter_mut().find(|b| b.txn == txn) {
                bg.delivered_at = Some(now);
            }
        }
        self.reply(reply);
        self.finish_txn(false);
    }

    fn delivery_failed(&mut self, why: &str) {
        self.ops
            .retain(|op| !matches!(op, Op::Data | Op::Body { .. } | Op::Replay { .. }));
        let reply = Reply::new(451, format!("4.4.0 Delivery deferred: {why}"));
        if let Some(mut log) = self.pending_log.take() {
            log.result = TxnResult::Tempfailed;
            log.reply = Some(reply.clone());
            self.emit(Event::Transaction(log));
        }
        if matches!(self.client, ClientState::Delivering) {
            self.reply(reply);
            self.finish_txn(false);
        }
    }

    /// The upstream went away: fail whatever waited on it.
    fn upstream_lost(&mut self, gw: &mut Gateway, now: Timestamp) {
        let waiting = self.awaiting.take().map(|(op, _)| op);
        match waiting {
            Some(Op::Greeting { relay: true }) => {
                self.reply(Reply::new(
                    421,
                    "4.4.0 Upstream server unavailable, try again later",
                ));
                self.close_client();
                self.ops.clear();
            }
            Some(Op::Relay { .. }) => {
                self.client_busy = false;
                self.reply(Reply::new(421, "4.4.2 Upstream connection lost, closing"));
                self.close_client();
                self.ops.clear();
            }
            Some(Op::Body { .. }) => {
                // The body went out and no answer came: the upstream may have it (N2).
                self.delivery_failed("upstream lost after the message was sent");
            }
            Some(Op::Greeting { relay: false } | Op::Replay { .. } | Op::Data) => {
                self.delivery_failed("upstream unavailable");
            }
            Some(Op::Reset | Op::Quit) | None => {
                if self.upstream == Upstream::Gone && matches!(self.client, ClientState::Closed) {
                    self.ops.clear();
                }
            }
        }
        let _ = (gw, now);
    }
}

impl Held {
    fn inspection_files(&self) -> Vec<FileOutcome> {
        let extraction = self.inspection.extraction();
        let verdicts: Vec<_> = self.inspection.verdicts().collect();
        extraction
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let v = verdicts
                    .iter()
                    .find(|(m, _)| *m == f.md5)
                    .and_then(|(_, v)| *v);
                FileOutcome {
                    file: i,
                    md5: f.md5,
                    name: f.name.clone(),
                    level: v.map_or(ThreatLevel::Clean, |v| v.level),
                    score: v.map_or(0, |v| v.score),
                    threat: v.and_then(|v| v.threat.clone()),
                    action: Action::Allow,
                    source: crate::inspect::Source::Released,
                }
            })
            .collect()
    }
}
