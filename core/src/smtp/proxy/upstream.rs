//! The upstream side of the proxy session: connecting to the receiving server, sending the
//! queued operations one at a time, reading its replies and routing each to what it
//! answers, and — when the connection is lost during a long hold (Postfix `smtpd_timeout`
//! 300 s) — reconnecting and replaying the envelope (EHLO, MAIL, each accepted RCPT) before
//! DATA, or answering `451 4.4.0` so that the sender retries.

use super::*;

impl ProxySession {
    /// The upstream connection is open.
    pub fn handle_upstream_connected(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.now = now;
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
        self.now = now;
        self.upstream = Upstream::Gone;
        // Nothing was sent yet: what failed is whatever waits first in line.
        if let Some(op) = self.ops.pop_front() {
            self.awaiting = Some((op, now));
        }
        self.upstream_lost(gw, now);
        if self.ops.iter().any(|op| matches!(op, Op::Relay { .. }))
            && !matches!(self.client, ClientState::Closed)
        {
            // A client command waited for this reconnect (the server had dropped the idle
            // connection): it gets an answer, not silence.
            self.client_busy = false;
            self.reply(Reply::new(
                421,
                "4.4.0 Upstream server unavailable, try again later",
            ));
            self.close_client();
        }
        self.ops.clear();
        self.pump(gw, now);
    }

    /// Bytes from the upstream.
    pub fn handle_upstream_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        self.now = now;
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
        self.now = now;
        if self.upstream == Upstream::Gone {
            return;
        }
        self.upstream = Upstream::Gone;
        self.upstream_lost(gw, now);
        self.pump(gw, now);
    }

    pub(super) fn quit_upstream(&mut self) {
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
    pub(super) fn connect_upstream(&mut self, first: bool) {
        self.upstream = Upstream::Connecting;
        self.awaiting = None;
        self.xforward_reset();
        let mut replay = vec![Op::Greeting { relay: first }];
        if !first {
            let helo = self.helo.clone().unwrap_or_else(|| {
                ["EHLO ", self.config.hostname.as_str()]
                    .concat()
                    .into_bytes()
            });
            replay.push(Op::Replay {
                line: helo,
                what: Replayed::Hello,
            });
            // XFORWARD goes before the replayed MAIL, as before any MAIL (`next_op`).
            if let Some(mail) = &self.txn.mail_line {
                replay.push(Op::Replay {
                    line: mail.clone(),
                    what: Replayed::Mail,
                });
                for rcpt in &self.txn.rcpt_lines {
                    replay.push(Op::Replay {
                        line: rcpt.clone(),
                        what: Replayed::Rcpt,
                    });
                }
            }
        }
        for op in replay.into_iter().rev() {
            self.ops.push_front(op);
        }
        self.out.push_back(Output::ConnectUpstream);
    }

    /// Sends `op` upstream; returns it to await its reply (a body without its bytes, which
    /// went to the driver: the session keeps no second copy of a message in flight).
    pub(super) fn send_op(&mut self, mut op: Op) -> Op {
        let line: &[u8] = match &mut op {
            Op::Greeting { .. } => return op,
            Op::Relay { line, .. } | Op::Replay { line, .. } | Op::Xforward { line } => line,
            Op::Data => b"DATA",
            Op::Body { bytes } => {
                // Committed: from here the upstream may have it, and a 451 would be a lie.
                self.relay_deadline = None;
                self.out
                    .push_back(Output::ToUpstream(std::mem::take(bytes)));
                self.emit(Event::BodySent { txn: self.txn.id });
                return op;
            }
            Op::Reset => b"RSET",
            Op::Quit => b"QUIT",
        };
        // Made at its size: the line and its CRLF, in one allocation.
        let mut wire = Vec::with_capacity(line.len() + 2);
        wire.extend_from_slice(line);
        wire.extend_from_slice(b"\r\n");
        self.emit(Event::UpstreamCommand(
            crate::smtp::wire::text(line).into_owned(),
        ));
        self.out.push_back(Output::ToUpstream(wire));
        op
    }

    pub(super) fn on_upstream_reply(&mut self, reply: Reply, gw: &mut Gateway, now: Timestamp) {
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

    pub(super) fn on_reply_to(&mut self, op: Op, reply: Reply, gw: &mut Gateway, now: Timestamp) {
        match op {
            Op::Greeting { relay: true } => {
                self.reply(reply.clone());
                // A client hung up on or gone before the greeting stays closed.
                if reply.is_positive() && !matches!(self.client, ClientState::Closed) {
                    self.client = ClientState::Command;
                } else {
                    self.close_client();
                    self.quit_upstream();
                }
            }
            Op::Greeting { relay: false } | Op::Replay { .. } => {
                if matches!(
                    op,
                    Op::Replay {
                        what: Replayed::Hello,
                        ..
                    }
                ) {
                    self.xforward_offered(&reply);
                }
                if !reply.is_positive() {
                    self.delivery_failed(&format!(
                        "upstream refused the replayed envelope: {reply}"
                    ));
                }
            }
            Op::Relay { command, line } => {
                self.client_busy = false;
                let positive = reply.is_positive();
                if matches!(command, Command::Helo(_) | Command::Ehlo(_)) {
                    self.xforward_offered(&reply);
                }
                match command {
                    Command::Ehlo(_) if positive => {
                        let filtered = filter_ehlo(&reply, self.config.max_message_bytes);
                        self.reply(filtered);
                    }
                    Command::Mail { from, params } if positive => {
                        self.txn.smtputf8 = command::smtputf8_param(&params);
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
                } else if !matches!(self.ops.front(), Some(Op::Body { .. })) {
                    // A 354 with no body left to send (the client hung up on or gone while
                    // DATA waited): whatever went now would be message data, a `QUIT` too,
                    // and a lone dot would deliver an empty message. Only closing the
                    // connection ends the transaction undelivered (RFC 5321 §4.1.1.4).
                    self.ops.clear();
                    self.out.push_back(Output::CloseUpstream);
                    self.upstream = Upstream::Gone;
                }
            }
            Op::Body { .. } => self.final_reply(reply, now),
            Op::Xforward { .. } => self.xforward_answered(reply),
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
    pub(super) fn final_reply(&mut self, reply: Reply, now: Timestamp) {
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
            self.emit(Event::Transaction(Box::new(log)));
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

    pub(super) fn delivery_failed(&mut self, why: &str) {
        self.ops
            .retain(|op| !matches!(op, Op::Data | Op::Body { .. } | Op::Replay { .. }));
        let reply = Reply::new(451, format!("4.4.0 Delivery deferred: {why}"));
        if let Some(mut log) = self.pending_log.take() {
            log.result = TxnResult::Tempfailed;
            log.reply = Some(reply.clone());
            self.emit(Event::Transaction(Box::new(log)));
        }
        if matches!(self.client, ClientState::Delivering) {
            self.reply(reply);
            self.finish_txn(false);
        }
    }

    /// The upstream went away: fail whatever waited on it.
    pub(super) fn upstream_lost(&mut self, gw: &mut Gateway, now: Timestamp) {
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
            // Lost at the XFORWARD before a replayed MAIL: as if lost in the replay.
            Some(Op::Xforward { .. }) if matches!(self.client, ClientState::Delivering) => {
                self.delivery_failed("upstream unavailable");
            }
            // Lost at the XFORWARD before a relayed MAIL: as if lost at the MAIL.
            Some(Op::Relay { .. } | Op::Xforward { .. }) => {
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
