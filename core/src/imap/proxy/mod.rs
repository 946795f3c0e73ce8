//! The IMAP proxy session: one client connection (a mail client) and its upstream connection
//! (the IMAP server), sans-IO.
//!
//! # Driving it
//! As the SMTP session: feed inputs with the `handle_*` methods, passing `now` and the shared
//! [`Gateway`]; after each, drain [`ImapSession::poll_output`] until `None` and carry the
//! outputs out; arm a timer for [`ImapSession::poll_timeout`] and call
//! [`ImapSession::handle_timeout`] when it fires. Verdicts go to the gateway's cache first,
//! then to the [`ImapSession::handle_verdict`] of every session that has the file
//! ([`ImapSession::watched_files`]). The gateway node
//! ([`crate::node`]) does all of this for both proxies.
//!
//! # What it does
//! It relays the dialogue one command at a time, byte for byte, with the server's
//! capabilities filtered to what it can read (`capability.rs`). A synchronising literal from
//! the client is answered `+ ` by the proxy, and goes upstream only after the server's own
//! `+ `. `IDLE` and `AUTHENTICATE` pass the server's continuations to the client and the
//! client's lines back. `STARTTLS`, `COMPRESS` and FETCH forms it cannot read are refused
//! with a tagged `NO`, never passed through.
//!
//! A FETCH that returns message content or structure is held (I1, `hold.rs`): the proxy
//! asks the server which messages it names, fetches the ones it has not judged
//! (`BODY.PEEK[]`), judges each (`judging.rs`: all its unknown files submitted at once, I2),
//! and only then sends the client's own FETCH upstream. Its responses are served from the judged copies
//! (`relay.rs`): unchanged for an allowed message, rewritten item by item (content, sizes,
//! structure) for one whose files were replaced or that became the deny notice (A1, I6). A
//! client that leaves during a hold (I3) leaves the analyses running: the verdicts reach the
//! cache, and its next fetch is decided from there.

mod capability;
mod command;
mod config;
mod early_parts;
mod events;
mod hold;
mod joining;
mod judged;
mod judging;
mod relay;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::gateway::Gateway;
use crate::imap::{ClientCommand, CommandEvent, CommandReader, ResponseReader, WireError};
use crate::smtp::proxy::Drained;
use crate::usage::{ConnectionSlot, Reservation};
use crate::verdict::Verdict;
use crate::work::{Done, WorkFailed, WorkId};

pub use capability::allowed as capability_allowed;
pub use config::ImapConfig;
pub use events::{ImapEvent, MessageLog, MessageResult, Output};

use command::Kind;
use hold::Hold;
use judged::JudgedStore;
use judging::Judging;

/// The upstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Connecting,
    Open,
    Gone,
}

/// How the responses to a command in flight upstream are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A client command relayed as it is.
    Relay,
    /// `IDLE` or `AUTHENTICATE`: continuations go to the client, its lines upstream.
    Interactive,
    /// `LOGOUT`: the session ends with it.
    Logout,
    /// A held FETCH, sent at last: its responses are served from the judged copies.
    Serve,
    /// The proxy's own: which messages a held FETCH names.
    Resolve,
    /// The proxy's own: the messages to judge.
    Prefetch,
    /// The proxy's own: keeps the server from logging the proxy out during a long hold.
    Keepalive,
}

/// The command the server is working on.
#[derive(Debug)]
struct InFlight {
    tag: String,
    role: Role,
    /// Pieces still to send, each after the server's `+ ` (synchronising literals).
    rest: VecDeque<Vec<u8>>,
}

/// The proxy session for one client connection. See the module doc for the calling order.
#[derive(Debug)]
pub struct ImapSession {
    config: Arc<ImapConfig>,
    site: String,
    client_in: CommandReader,
    upstream_in: ResponseReader,
    client_open: bool,
    upstream: Upstream,
    /// The server's greeting has gone to the client; commands may go upstream.
    greeted: bool,
    /// Client commands waiting for the one in flight.
    queue: VecDeque<ClientCommand>,
    current: Option<InFlight>,
    /// The held FETCH, from its first step to its tagged response.
    hold: Option<Hold>,
    judged: JudgedStore,
    /// Messages still judged after their client left (I3).
    background: Vec<Judging>,
    /// The gateway is shutting down: close once nothing is held.
    draining: bool,
    next_tag: u64,
    next_work: WorkId,
    next_txn: u64,
    /// When the proxy last sent the server anything (the server's autologout counts from
    /// there).
    upstream_sent_at: Timestamp,
    /// The next X4 keepalive to the client, while a body fetch is held.
    keepalive_at: Option<Timestamp>,
    slot: Option<ConnectionSlot>,
    reservation: Reservation,
    out: VecDeque<Output>,
}

impl ImapSession {
    /// A session for a client from `site` (its address) that has just connected: the
    /// upstream connection is opened, and the server's greeting will be the client's. Over
    /// the gateway's connection limit, the client is told `* BYE` and closed.
    pub fn new(
        config: Arc<ImapConfig>,
        site: impl Into<String>,
        gw: &Gateway,
        now: Timestamp,
    ) -> Self {
        let slot = gw.usage.try_connect(config.max_connections);
        let mut session = ImapSession {
            client_in: CommandReader::new(config.wire),
            upstream_in: ResponseReader::new(config.wire),
            judged: JudgedStore::new(config.max_judged_bytes),
            config,
            site: site.into(),
            client_open: true,
            upstream: Upstream::Connecting,
            greeted: false,
            queue: VecDeque::new(),
            current: None,
            hold: None,
            background: Vec::new(),
            draining: false,
            next_tag: 0,
            next_work: 0,
            next_txn: 0,
            upstream_sent_at: now,
            keepalive_at: None,
            reservation: gw.usage.reservation(),
            slot,
            out: VecDeque::new(),
        };
        if session.slot.is_some() {
            session.out.push_back(Output::ConnectUpstream);
        } else {
            session.upstream = Upstream::Gone;
            session.bye("Too many connections, try again later");
        }
        session
    }

    /// The client's address.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Both connections are closed and no analysis is left to follow.
    pub fn is_finished(&self) -> bool {
        !self.client_open
            && self.upstream == Upstream::Gone
            && self.background.is_empty()
            && self.hold.is_none()
    }

    /// Bytes from the client.
    pub fn handle_client_bytes(&mut self, bytes: &[u8], _gw: &mut Gateway, now: Timestamp) {
        if !self.client_open {
            return;
        }
        self.client_in.push(bytes);
        loop {
            match self.client_in.next_event() {
                Ok(None) => break,
                Ok(Some(CommandEvent::SendContinuation { .. })) => {
                    self.send_client(b"+ Ready for literal data\r\n".to_vec());
                }
                Ok(Some(CommandEvent::Command(command))) => {
                    if self
                        .current
                        .as_ref()
                        .is_some_and(|c| c.role == Role::Interactive)
                    {
                        // `DONE` after IDLE, or an answer to an AUTHENTICATE challenge.
                        self.send_upstream(command.raw().to_vec(), now);
                    } else if self.queue.len() >= self.config.max_queued_commands {
                        self.bye("Too many commands pipelined");
                        break;
                    } else {
                        self.queue.push_back(command);
                    }
                }
                Err(WireError::LiteralTooLarge {
                    synchronising: true,
                    tag,
                    limit,
                    ..
                }) => {
                    let tag = tag.unwrap_or_else(|| "*".to_owned());
                    self.refuse(&tag, &format!("[TOOBIG] Literal larger than {limit} bytes"));
                }
                Err(e) => {
                    self.bye(&format!("Protocol error: {e}"));
                    break;
                }
            }
        }
        self.pump(now);
        // A fetch pipelined behind a hold that waits for verdicts joins it.
        self.next_step(now);
    }

    /// The client's end of stream: it will send nothing more, and an IMAP client that stops
    /// sending has left (no IMAP client half-closes to wait for answers).
    pub fn handle_client_eof(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.handle_client_closed(gw, now);
    }

    /// The client's connection is gone. A held fetch is abandoned (I3): its analyses go on
    /// so that the verdicts reach the cache for the client's next fetch.
    pub fn handle_client_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        if !self.client_open {
            return;
        }
        self.client_open = false;
        self.slot = None;
        self.queue.clear();
        if let Some(hold) = self.hold.take() {
            let judging = hold.judging.len();
            self.background.extend(hold.judging);
            self.emit(ImapEvent::ClientGone { judging });
        }
        self.close_upstream();
        self.drive(gw, now);
    }

    /// The upstream connection is open; the server's greeting comes next.
    pub fn handle_upstream_connected(&mut self, _gw: &mut Gateway, now: Timestamp) {
        if self.upstream == Upstream::Connecting {
            self.upstream = Upstream::Open;
            self.upstream_sent_at = now;
        }
    }

    /// The upstream connection could not be opened.
    pub fn handle_upstream_connect_failed(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.upstream = Upstream::Gone;
        self.bye("The mail server cannot be reached, try again later");
        self.drive(gw, now);
    }

    /// The upstream connection closed. After LOGOUT that is the end; otherwise the client is
    /// told `* BYE`, as a server that goes away does.
    pub fn handle_upstream_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        if self.upstream == Upstream::Gone {
            return;
        }
        self.upstream = Upstream::Gone;
        let logging_out = self
            .current
            .as_ref()
            .is_some_and(|c| c.role == Role::Logout);
        self.current = None;
        if let Some(hold) = self.hold.take() {
            self.background.extend(hold.judging);
        }
        if logging_out {
            self.close_client();
        } else {
            self.bye("Connection to the mail server lost");
        }
        self.drive(gw, now);
    }

    /// Bytes from the server.
    pub fn handle_upstream_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        if self.upstream != Upstream::Open {
            return;
        }
        self.upstream_in.push(bytes);
        loop {
            match self.upstream_in.next_response() {
                Ok(None) => break,
                Ok(Some(response)) => self.on_response(response, gw, now),
                Err(e) => {
                    self.close_upstream();
                    if let Some(hold) = self.hold.take() {
                        self.background.extend(hold.judging);
                    }
                    self.current = None;
                    self.bye(&format!("The mail server's answer could not be read: {e}"));
                    break;
                }
            }
            if self.upstream != Upstream::Open {
                break;
            }
        }
        self.drive(gw, now);
        self.pump(now);
    }

    /// A job's result.
    pub fn handle_work_done(
        &mut self,
        id: WorkId,
        result: Result<Done, WorkFailed>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        let judging = self
            .hold
            .iter_mut()
            .flat_map(|h| h.judging.iter_mut())
            .chain(self.background.iter_mut())
            .find(|j| j.waits_for(id));
        if let Some(judging) = judging {
            judging.work_done(result, gw, now);
        }
        self.drive(gw, now);
        self.pump(now);
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
        for inspection in self.inspections() {
            relevant |= inspection.handle_verdict(md5, verdict, now);
        }
        self.drive(gw, now);
        self.pump(now);
        relevant
    }

    /// The data center refused the upload of `md5` (I4).
    pub fn handle_unreachable(&mut self, md5: &Md5, gw: &mut Gateway, now: Timestamp) {
        for inspection in self.inspections() {
            inspection.handle_unreachable(md5, now);
        }
        self.drive(gw, now);
        self.pump(now);
    }

    /// When [`ImapSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let judging = self
            .hold
            .iter()
            .flat_map(|h| h.judging.iter())
            .chain(self.background.iter())
            .filter_map(Judging::poll_timeout);
        let upstream = self
            .wants_upstream_keepalive()
            .then(|| self.upstream_sent_at + self.config.upstream_keepalive);
        let room = self.hold.as_ref().and_then(|h| h.room_at);
        judging
            .chain(self.keepalive_at)
            .chain(upstream)
            .chain(room)
            .min()
    }

    /// Acts on what is due: X4 keepalives, the upstream keepalive, analysis timeouts.
    pub fn handle_timeout(&mut self, gw: &mut Gateway, now: Timestamp) {
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.send_client(b"* OK Still inspecting attachments\r\n".to_vec());
            self.emit(ImapEvent::KeepaliveSent);
            self.keepalive_at = self.config.keepalive.map(|k| now + k);
        }
        if self.wants_upstream_keepalive()
            && self.upstream_sent_at + self.config.upstream_keepalive <= now
        {
            self.send_keepalive(now);
        }
        for j in self
            .hold
            .iter_mut()
            .flat_map(|h| h.judging.iter_mut())
            .chain(self.background.iter_mut())
        {
            j.handle_timeout(now);
        }
        if self
            .hold
            .as_ref()
            .is_some_and(|h| h.room_at.is_some_and(|t| t <= now))
        {
            self.next_step(now);
        }
        self.drive(gw, now);
        self.pump(now);
    }

    /// The gateway is shutting down. A session that holds nothing says `* BYE` and closes
    /// now; one with a fetch held is let finish unless `force`.
    pub fn shut_down(&mut self, force: bool, gw: &mut Gateway, now: Timestamp) -> Drained {
        if !self.client_open {
            return Drained::Gone;
        }
        self.draining = true;
        if !force && self.hold.is_some() {
            return Drained::Busy;
        }
        self.bye("Server shutting down");
        if let Some(hold) = self.hold.take() {
            self.background.extend(hold.judging);
        }
        self.close_upstream();
        self.drive(gw, now);
        Drained::Idle
    }

    // ---- the command pump ----

    /// Sends the next client command upstream when nothing is in flight.
    fn pump(&mut self, now: Timestamp) {
        while self.client_open
            && self.greeted
            && self.upstream == Upstream::Open
            && self.current.is_none()
            && self.hold.is_none()
        {
            if self.draining {
                self.bye("Server shutting down");
                self.close_upstream();
                break;
            }
            let Some(command) = self.queue.pop_front() else {
                break;
            };
            self.emit(ImapEvent::ClientCommand(command::summary(&command)));
            let Some(tag) = command.tag().map(str::to_owned) else {
                self.send_client(b"* BAD Command without a tag\r\n".to_vec());
                continue;
            };
            match command::classify(&command) {
                Kind::Hold { request, body } => self.start_hold(command, tag, request, body, now),
                Kind::UnknownFetch(reason) => self.refuse_logged(
                    &tag,
                    "[CANNOT] This FETCH form is not supported through the proxy",
                    reason,
                ),
                Kind::Refused(why) => self.refuse(&tag, why),
                Kind::Select => {
                    self.judged.clear();
                    self.relay(command, tag, Role::Relay, now);
                }
                Kind::Idle | Kind::Authenticate => self.relay(command, tag, Role::Interactive, now),
                Kind::Logout => self.relay(command, tag, Role::Logout, now),
                Kind::Plain => self.relay(command, tag, Role::Relay, now),
            }
        }
        self.update_reservation();
    }

    /// This session's share of the gateway's held bytes: judged copies, the messages being
    /// judged and the batch being fetched.
    fn update_reservation(&mut self) {
        let background: usize = self.background.iter().map(|j| j.message.len()).sum();
        self.reservation
            .set(self.judged.bytes() + self.hold.as_ref().map_or(0, Hold::held_bytes) + background);
    }

    /// Sends a command upstream, the first piece now and the rest after each `+ `.
    fn relay(&mut self, command: ClientCommand, tag: String, role: Role, now: Timestamp) {
        let mut pieces: VecDeque<Vec<u8>> = command::split_at_sync_literals(command.raw()).into();
        if let Some(first) = pieces.pop_front() {
            self.send_upstream(first, now);
        }
        self.current = Some(InFlight {
            tag,
            role,
            rest: pieces,
        });
    }

    /// Sends one of the proxy's own commands (`{tag} {text}`), returning its tag.
    fn own_command(&mut self, text: &str, role: Role, now: Timestamp) -> String {
        self.next_tag += 1;
        let tag = format!("aptsim{}", self.next_tag);
        self.send_upstream(format!("{tag} {text}\r\n").into_bytes(), now);
        self.current = Some(InFlight {
            tag: tag.clone(),
            role,
            rest: VecDeque::new(),
        });
        tag
    }

    // ---- small helpers ----

    fn send_client(&mut self, bytes: Vec<u8>) {
        if self.client_open {
            self.out.push_back(Output::ToClient(bytes));
        }
    }

    fn send_upstream(&mut self, bytes: Vec<u8>, now: Timestamp) {
        if self.upstream == Upstream::Open {
            self.upstream_sent_at = now;
            self.out.push_back(Output::ToUpstream(bytes));
        }
    }

    fn emit(&mut self, event: ImapEvent) {
        self.out.push_back(Output::Event(event));
    }

    fn refuse(&mut self, tag: &str, text: &str) {
        self.refuse_logged(tag, text, text.to_owned());
    }

    fn refuse_logged(&mut self, tag: &str, text: &str, reason: String) {
        self.send_client(format!("{tag} NO {text}\r\n").into_bytes());
        self.emit(ImapEvent::Refused {
            tag: tag.to_owned(),
            reason,
        });
    }

    /// `* BYE`, then the client connection closes.
    fn bye(&mut self, text: &str) {
        self.send_client(format!("* BYE {text}\r\n").into_bytes());
        self.close_client();
    }

    fn close_client(&mut self) {
        if self.client_open {
            self.client_open = false;
            self.slot = None;
            self.queue.clear();
            self.keepalive_at = None;
            self.out.push_back(Output::CloseClient);
        }
        if let Some(hold) = self.hold.take() {
            self.background.extend(hold.judging);
        }
        self.close_upstream();
    }

    fn close_upstream(&mut self) {
        if self.upstream != Upstream::Gone {
            self.upstream = Upstream::Gone;
            self.current = None;
            self.out.push_back(Output::CloseUpstream);
        }
    }

    fn next_work(&mut self) -> WorkId {
        self.next_work += 1;
        self.next_work
    }

    fn inspections(&mut self) -> impl Iterator<Item = &mut crate::inspect::Inspection> {
        self.hold
            .iter_mut()
            .flat_map(|h| h.judging.iter_mut())
            .chain(self.background.iter_mut())
            .filter_map(Judging::inspection)
    }
}
