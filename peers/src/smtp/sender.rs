//! The sending MTA's SMTP client for one delivery attempt of one message, sans-IO.
//!
//! # Driving it
//! Create a [`SenderSession`] when the driver starts connecting. Report the connection with
//! [`SenderSession::handle_connected`] or [`SenderSession::handle_connect_failed`], the
//! server's bytes with [`SenderSession::handle_bytes`] and its hanging up with
//! [`SenderSession::handle_closed`]. After each call drain [`SenderSession::poll_output`]
//! until `None` (bytes to send, closing the connection, events for the trace), then arm a
//! timer for [`SenderSession::poll_timeout`] and call [`SenderSession::handle_timeout`] when
//! it fires. Once [`SenderSession::result`] is `Some` the attempt is over: the session has
//! asked for the connection to be closed (if it was open) and takes no more input.
//!
//! # The dialogue
//! Greeting → `EHLO` (`HELO` if EHLO gets a 5xx) → `MAIL FROM` (with `SIZE=` if the server
//! offers SIZE) → one `RCPT TO` per recipient → `DATA` → the body, dot-stuffed
//! ([`data::dot_stuff`]) → `QUIT`. Commands wait for their replies even when the server
//! advertises PIPELINING (the gateway's proxy serialises them anyway; batching would only
//! save round trips) — except how the session ends, which matters to a proxy holding the
//! dot's reply and follows the preset's [`SessionEnd`]
//! ([`SenderSession::with_session_end`]): Postfix writes `QUIT` with the dot and does not
//! wait for the 221; Exim, on a first attempt, also shuts down its sending side at once
//! ([`SenderOutput::HalfClose`]) and reads the replies after.
//!
//! # Outcomes
//! - a 5xx to HELO, MAIL, DATA or the final dot bounces the message ([`AttemptResult::Bounced`]);
//!   a 4xx (or any reply out of place) defers it ([`AttemptResult::Deferred`]);
//! - a greeting other than 2xx defers it even when it is 5xx: the fault is the host's, not the
//!   message's (Postfix `smtp_skip_5xx_greeting = yes`);
//! - a 5xx to a RCPT drops that recipient, a 4xx defers it; both are listed in
//!   [`AttemptResult::Delivered`]. With no recipient accepted, the attempt is deferred if any
//!   was deferred, else bounced with the first refusal;
//! - after a refusal the client sends QUIT and closes when it is answered.
//!
//! # Timeouts
//! Each reply is waited for as long as [`SenderTimeouts`] says for its phase; the greeting's
//! timer also covers the connection attempt. The body is handed over in one piece and the
//! simulator delivers it instantly, so no `data_block` timer runs: `data_done` starts when
//! the body is handed over. On a timeout the client hangs up without QUIT and the attempt is
//! deferred. **A timeout (or a lost connection) after the final dot is ambiguous:** the
//! server may have taken the message, and the retry can deliver it a second time. The session
//! then emits [`SenderEvent::MayBeDeliveredMultipleTimes`], as Postfix logs "mail may be
//! delivered multiple times"; a proxy holding the message is exactly this case.

use std::collections::VecDeque;

use aptsim_core::clock::Timestamp;

use super::presets::{SenderTimeouts, SessionEnd};
use aptsim_core::smtp::wire::data;
use aptsim_core::smtp::wire::reply::{Reply, ReplyParser};

pub use super::attempt::{AttemptResult, DeferReason, Phase, SenderEvent, SenderOutput};

/// The reply the client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Await {
    Greeting,
    Ehlo,
    Helo,
    Mail,
    Rcpt(usize),
    Data,
    Body,
    Quit,
}

impl Await {
    fn phase(self) -> Phase {
        match self {
            Await::Greeting => Phase::Greeting,
            Await::Ehlo | Await::Helo => Phase::Ehlo,
            Await::Mail => Phase::Mail,
            Await::Rcpt(_) => Phase::Rcpt,
            Await::Data => Phase::DataInit,
            Await::Body => Phase::DataDone,
            Await::Quit => Phase::Quit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the driver to open the connection.
    Connecting { deadline: Timestamp },
    /// Waiting for a reply.
    Waiting { what: Await, deadline: Timestamp },
    /// Over.
    Done,
}

/// One delivery attempt of one message. See the module doc for the calling order.
#[derive(Debug)]
pub struct SenderSession {
    timeouts: SenderTimeouts,
    helo: String,
    from: String,
    rcpts: Vec<String>,
    body: Vec<u8>,
    state: State,
    replies: ReplyParser,
    size_offered: bool,
    accepted: usize,
    rejected: Vec<(String, Reply)>,
    deferred: Vec<(String, Reply)>,
    outcome: Option<AttemptResult>,
    opened: bool,
    /// How the session ends after the dot, and whether this is the message's first attempt
    /// (Exim half-closes only then).
    session_end: SessionEnd,
    first_attempt: bool,
    pipelining_offered: bool,
    /// `QUIT` went out with the dot.
    quit_pipelined: bool,
    out: VecDeque<SenderOutput>,
}

impl SenderSession {
    /// An attempt to deliver `message` from `mail_from` to `rcpts`, introducing itself as
    /// `helo`; the driver starts connecting `now`.
    pub fn new(
        timeouts: SenderTimeouts,
        helo: impl Into<String>,
        mail_from: impl Into<String>,
        rcpts: Vec<String>,
        message: impl AsRef<[u8]>,
        now: Timestamp,
    ) -> Self {
        let deadline = now + timeouts.greeting;
        SenderSession {
            timeouts,
            helo: helo.into(),
            from: mail_from.into(),
            rcpts,
            body: data::dot_stuff(message.as_ref()),
            state: State::Connecting { deadline },
            replies: ReplyParser::default(),
            size_offered: false,
            accepted: 0,
            rejected: Vec::new(),
            deferred: Vec::new(),
            outcome: None,
            opened: false,
            session_end: SessionEnd::Lockstep,
            first_attempt: true,
            pipelining_offered: false,
            quit_pipelined: false,
            out: VecDeque::new(),
        }
    }

    /// Ends the session after the dot as `end` says; `first_attempt` is whether this is the
    /// message's first delivery attempt (Exim half-closes only then). Default: lockstep.
    pub fn with_session_end(mut self, end: SessionEnd, first_attempt: bool) -> Self {
        self.session_end = end;
        self.first_attempt = first_attempt;
        self
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<SenderOutput> {
        self.out.pop_front()
    }

    /// How the attempt ended, once it has (the connection closed or asked to be).
    pub fn result(&self) -> Option<&AttemptResult> {
        match self.state {
            State::Done => self.outcome.as_ref(),
            _ => None,
        }
    }

    /// True once the attempt is over.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// The connection is open; the server's greeting is due.
    pub fn handle_connected(&mut self, now: Timestamp) {
        if let State::Connecting { .. } = self.state {
            self.opened = true;
            self.event(SenderEvent::Connected);
            self.wait(Await::Greeting, now);
        }
    }

    /// The connection could not be opened.
    pub fn handle_connect_failed(&mut self, now: Timestamp) {
        if let State::Connecting { .. } = self.state {
            self.event(SenderEvent::ConnectFailed);
            self.conclude(AttemptResult::Deferred(DeferReason::ConnectFailed));
            self.finish();
        }
        let _ = now;
    }

    /// Bytes from the server.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Timestamp) {
        if let State::Connecting { .. } = self.state {
            // Bytes prove the connection is up, whatever the driver reported.
            self.handle_connected(now);
        }
        if self.state == State::Done {
            return;
        }
        self.replies.push(bytes);
        while self.state != State::Done {
            match self.replies.next_reply() {
                Ok(Some(reply)) => self.on_reply(reply, now),
                Ok(None) => break,
                Err(e) => {
                    self.event(SenderEvent::MalformedReply(e.to_string()));
                    self.lost();
                }
            }
        }
    }

    /// The server closed the connection (or it broke).
    pub fn handle_closed(&mut self, now: Timestamp) {
        match self.state {
            State::Connecting { .. } => {
                self.event(SenderEvent::ConnectFailed);
                self.conclude(AttemptResult::Deferred(DeferReason::ConnectFailed));
                self.finish();
            }
            State::Waiting { .. } => self.lost(),
            State::Done => {}
        }
        let _ = now;
    }

    /// The MTA is stopped (`postfix stop`, `systemctl restart exim4`): its delivery process
    /// dies and the kernel closes the connection. The attempt is deferred unless its outcome
    /// was already known (a delivered message waiting for the reply to QUIT stays delivered);
    /// a stop after the final dot is as ambiguous as a lost connection there.
    pub fn handle_stopped(&mut self, now: Timestamp) {
        let phase = match self.state {
            State::Connecting { .. } => Phase::Greeting,
            State::Waiting { what, .. } => what.phase(),
            State::Done => return,
        };
        if self.outcome.is_none() {
            self.defer(DeferReason::Stopped { phase });
        }
        self.finish();
        let _ = now;
    }

    /// When [`SenderSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::Connecting { deadline } | State::Waiting { deadline, .. } => Some(deadline),
            State::Done => None,
        }
    }

    /// Acts on a deadline that has passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        match self.state {
            State::Connecting { deadline } if now >= deadline => {
                self.event(SenderEvent::Timeout {
                    phase: Phase::Greeting,
                });
                self.conclude(AttemptResult::Deferred(DeferReason::ConnectFailed));
                self.finish();
            }
            State::Waiting { what, deadline } if now >= deadline => {
                let phase = what.phase();
                self.event(SenderEvent::Timeout { phase });
                if self.outcome.is_none() {
                    self.defer(DeferReason::Timeout { phase });
                }
                // No QUIT: the server's state is unknown, so the client just hangs up.
                self.finish();
            }
            _ => {}
        }
    }

    fn on_reply(&mut self, reply: Reply, now: Timestamp) {
        let State::Waiting { what, .. } = self.state else {
            self.event(SenderEvent::UnexpectedReply(reply));
            return;
        };
        self.event(SenderEvent::Reply(reply.clone()));
        match what {
            Await::Greeting if reply.is_positive() => self.ehlo(now),
            Await::Greeting => {
                self.conclude(AttemptResult::Deferred(DeferReason::Reply(reply)));
                self.quit(now);
            }
            Await::Ehlo if reply.is_positive() => {
                let offers = |kw: &str| {
                    reply.lines().skip(1).any(|l| {
                        l.split_whitespace()
                            .next()
                            .is_some_and(|k| k.eq_ignore_ascii_case(kw))
                    })
                };
                self.size_offered = offers("SIZE");
                self.pipelining_offered = offers("PIPELINING");
                self.mail(now);
            }
            Await::Ehlo if reply.is_permanent() => {
                let line = ["HELO ", self.helo.as_str()].concat();
                self.command(line, Await::Helo, now);
            }
            Await::Helo | Await::Mail if reply.is_positive() => {
                if what == Await::Helo {
                    self.mail(now);
                } else {
                    self.rcpt(0, now);
                }
            }
            Await::Ehlo | Await::Helo | Await::Mail => self.refused(reply, now),
            Await::Rcpt(i) => {
                let rcpt = self.rcpts.get(i).cloned().unwrap_or_default();
                if reply.is_positive() {
                    self.accepted += 1;
                } else if reply.is_permanent() {
                    self.rejected.push((rcpt, reply));
                } else {
                    self.deferred.push((rcpt, reply));
                }
                self.rcpt(i + 1, now);
            }
            Await::Data if reply.is_intermediate() => {
                let mut body = self.body.clone();
                let bytes = body.len();
                let pipeline = self.pipelining_offered
                    && match self.session_end {
                        SessionEnd::Lockstep => false,
                        SessionEnd::PipelinedQuit => true,
                        SessionEnd::PipelinedQuitHalfClose => self.first_attempt,
                    };
                if pipeline {
                    body.extend_from_slice(b"QUIT\r\n");
                    self.quit_pipelined = true;
                }
                self.out.push_back(SenderOutput::Send(body));
                self.event(SenderEvent::BodySent { bytes });
                if pipeline {
                    self.event(SenderEvent::Command("QUIT".to_owned()));
                    if self.session_end == SessionEnd::PipelinedQuitHalfClose {
                        self.out.push_back(SenderOutput::HalfClose);
                    }
                }
                self.wait(Await::Body, now);
            }
            Await::Data => self.refused(reply, now),
            Await::Body if reply.is_positive() => {
                let result = AttemptResult::Delivered {
                    reply,
                    rejected_rcpts: std::mem::take(&mut self.rejected),
                    deferred_rcpts: std::mem::take(&mut self.deferred),
                };
                self.conclude(result);
                self.quit(now);
            }
            Await::Body => self.refused(reply, now),
            Await::Quit => self.finish(),
        }
    }

    fn ehlo(&mut self, now: Timestamp) {
        let line = ["EHLO ", self.helo.as_str()].concat();
        self.command(line, Await::Ehlo, now);
    }

    fn mail(&mut self, now: Timestamp) {
        let mut line = ["MAIL FROM:<", self.from.as_str(), ">"].concat();
        if self.size_offered {
            // RFC 1870: the message's size; the dot-stuffed body less its final ".\r\n" is
            // the message in CRLF form, give or take the stuffed dots.
            let size = self.body.len().saturating_sub(3);
            line.push_str(" SIZE=");
            line.push_str(&size.to_string());
        }
        self.command(line, Await::Mail, now);
    }

    /// Sends RCPT for recipient `i`, or DATA once all have been answered.
    fn rcpt(&mut self, i: usize, now: Timestamp) {
        if let Some(to) = self.rcpts.get(i) {
            let line = ["RCPT TO:<", to.as_str(), ">"].concat();
            self.command(line, Await::Rcpt(i), now);
            return;
        }
        if self.accepted > 0 {
            self.command("DATA".to_owned(), Await::Data, now);
            return;
        }
        let result = if let Some((_, r)) = self.deferred.first() {
            AttemptResult::Deferred(DeferReason::Reply(r.clone()))
        } else if let Some((_, r)) = self.rejected.first() {
            AttemptResult::Bounced(r.clone())
        } else {
            // The driver gave no recipients at all: nothing can ever be delivered.
            AttemptResult::Bounced(Reply::new(554, "5.1.3 No recipients given"))
        };
        self.conclude(result);
        self.quit(now);
    }

    /// A refusal of HELO, MAIL, DATA or the message: 5xx bounces, anything else defers.
    fn refused(&mut self, reply: Reply, now: Timestamp) {
        let result = if reply.is_permanent() {
            AttemptResult::Bounced(reply)
        } else {
            AttemptResult::Deferred(DeferReason::Reply(reply))
        };
        self.conclude(result);
        self.quit(now);
    }

    fn quit(&mut self, now: Timestamp) {
        if !self.quit_pipelined {
            self.command("QUIT".to_owned(), Await::Quit, now);
            return;
        }
        match self.session_end {
            // Exim reads the 221 of its pipelined QUIT for at most a second.
            SessionEnd::PipelinedQuitHalfClose => {
                self.state = State::Waiting {
                    what: Await::Quit,
                    deadline: now + std::time::Duration::from_secs(1),
                };
            }
            // Postfix does not wait for it (`smtp_skip_quit_response`).
            SessionEnd::PipelinedQuit | SessionEnd::Lockstep => self.finish(),
        }
    }

    fn command(&mut self, line: String, what: Await, now: Timestamp) {
        let mut wire = Vec::with_capacity(line.len() + 2);
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.out.push_back(SenderOutput::Send(wire));
        self.event(SenderEvent::Command(line));
        self.wait(what, now);
    }

    fn wait(&mut self, what: Await, now: Timestamp) {
        let t = &self.timeouts;
        let timeout = match what {
            Await::Greeting => t.greeting,
            Await::Ehlo | Await::Helo => t.helo,
            Await::Mail => t.mail,
            Await::Rcpt(_) => t.rcpt,
            Await::Data => t.data_init,
            Await::Body => t.data_done,
            Await::Quit => t.quit,
        };
        self.state = State::Waiting {
            what,
            deadline: now + timeout,
        };
    }

    /// The connection went away (or stopped making sense) while waiting.
    fn lost(&mut self) {
        if let State::Waiting { what, .. } = self.state {
            let phase = what.phase();
            if phase != Phase::Quit {
                self.event(SenderEvent::ConnectionLost { phase });
            }
            if self.outcome.is_none() {
                self.defer(DeferReason::ConnectionLost { phase });
            }
        }
        self.finish();
    }

    fn defer(&mut self, reason: DeferReason) {
        if reason.is_ambiguous() {
            self.event(SenderEvent::MayBeDeliveredMultipleTimes {
                reason: reason.clone(),
            });
        }
        self.conclude(AttemptResult::Deferred(reason));
    }

    fn conclude(&mut self, result: AttemptResult) {
        if self.outcome.is_none() {
            self.event(SenderEvent::Outcome(result.clone()));
            self.outcome = Some(result);
        }
    }

    /// Ends the session, closing the connection if it was ever open.
    fn finish(&mut self) {
        if self.state == State::Done {
            return;
        }
        self.state = State::Done;
        if self.opened {
            self.out.push_back(SenderOutput::Close);
        }
    }

    fn event(&mut self, e: SenderEvent) {
        self.out.push_back(SenderOutput::Event(e));
    }
}
