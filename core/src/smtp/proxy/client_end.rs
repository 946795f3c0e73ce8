//! How the client side of a session ends: a FIN (a half-close, or a sender giving up), a
//! connection gone, a half-closed client closed once it has been answered, and a client
//! hung up on with a 421 (the gateway shutting down, or a client sending far ahead of its
//! answers).

use super::*;

impl ProxySession {
    /// The client's end of stream (a TCP FIN): it will send nothing more, and may or may
    /// not still read. TCP cannot tell a half-close (`shutdown(SHUT_WR)`) from a close, so
    /// the session judges by timing:
    /// - an EOF that follows the client's last bytes within
    ///   [`ProxyConfig::half_close_window`] is a half-close: Exim ≥ 4.95 writes the final dot
    ///   and `QUIT` together and then shuts down its sending side, and reads the replies
    ///   (SMTP-SENDERS.md §1, Exim `smtp_deliver()`). The session answers everything the
    ///   client sent — the decision on a held message, then the pipelined `QUIT` — and
    ///   closes;
    /// - an EOF later than that while a message is held is the sender leaving (its
    ///   timeout ran out, S5): handled as [`ProxySession::handle_client_closed`];
    /// - an EOF in the middle of message data ends the transaction unfinished.
    pub fn handle_client_eof(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.now = now;
        if matches!(self.client, ClientState::Closed) || self.client_eof {
            return;
        }
        let waiting = matches!(self.client, ClientState::Held | ClientState::Delivering);
        let half_close =
            now.saturating_since(self.client_bytes_at) <= self.config.half_close_window;
        if matches!(self.client, ClientState::Data(_)) || (waiting && !half_close) {
            return self.handle_client_closed(gw, now);
        }
        self.client_eof = true;
        self.pump(gw, now);
    }

    /// The client's connection is gone: reset, broken, or closed by a sender that gave up
    /// (see [`ProxySession::handle_client_eof`] for a FIN).
    pub fn handle_client_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.now = now;
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
        if matches!(self.client, ClientState::Data(_)) {
            // Cut short in its data: never complete, never relayed; the sender retries.
            self.log_txn(Vec::new(), Action::Allow, TxnResult::Abandoned, None, None);
        }
        // S5: a held message is never delivered later; its analysis goes on so that the
        // retry finds the cache.
        if !self.abandon_held(now)
            && let Some(mut log) = self.pending_log.take()
        {
            log.result = TxnResult::Abandoned;
            self.emit(Event::Transaction(Box::new(log)));
        }
        // A body being written for it will not be sent.
        self.body_work = None;
        self.client = ClientState::Closed;
        self.client_gone();
        self.ops.clear();
        if self.upstream != Upstream::Gone && !after_body_sent {
            self.ops.push_back(Op::Quit);
        }
        self.pump(gw, now);
    }

    /// A half-closed client that has been answered everything it asked hears nothing more:
    /// the session ends as after QUIT, without a 221 it did not ask for. True if it ended.
    pub(super) fn end_half_closed(&mut self) -> bool {
        // Before the greeting nothing is read yet, so any byte is a command to answer;
        // after it, a partial line the FIN ended will never be one.
        let nothing_to_answer = match self.client {
            ClientState::Greeting => self.client_in.unread().is_empty(),
            ClientState::Command => !self.client_in.has_line(),
            _ => false,
        };
        let answered = nothing_to_answer && !self.client_busy;
        if !(self.client_eof && answered) {
            return false;
        }
        self.emit(Event::ClientGone {
            txn: None,
            after_body_sent: false,
        });
        self.close_client();
        self.quit_upstream();
        true
    }

    /// The client has sent more than [`ProxyConfig::max_unread_bytes`] that the session
    /// cannot read yet: it floods while a message is held or a command is relayed. It is
    /// hung up on with `421 4.7.0` ([`ProxySession::hang_up`]), so that memory per
    /// connection stays bounded and no one client's unread input takes more than this of
    /// the gateway's `max_held_bytes`. While
    /// the body is out upstream it is cut without a reply instead, as a client gone (S5,
    /// N2): a 421 then would have it send a message the upstream may have taken.
    pub(super) fn too_much_unread(&mut self, gw: &mut Gateway, now: Timestamp) {
        if matches!(self.awaiting, Some((Op::Body { .. }, _))) {
            self.handle_client_closed(gw, now);
            // Gone as far as the session is concerned; the driver still has to close it.
            self.out.push_back(Output::CloseClient);
            return;
        }
        self.hang_up(
            Reply::new(
                421,
                "4.7.0 Too much input ahead of replies, closing connection",
            ),
            gw,
            now,
        );
    }

    /// Answers the client `reply` (a 421) and closes, whatever it was doing: a message
    /// being received or held is tempfailed and never delivered later, while its analysis
    /// goes on (S5), so the sender's retry finds the cache; a transaction waiting for its
    /// final reply gets this one.
    pub(super) fn hang_up(&mut self, reply: Reply, gw: &mut Gateway, now: Timestamp) {
        if matches!(self.client, ClientState::Data(_)) {
            self.log_txn(
                Vec::new(),
                Action::Allow,
                TxnResult::Tempfailed,
                None,
                Some(reply.clone()),
            );
        } else if let Some(held) = self.held.take() {
            let files = held.files_so_far();
            let waited = now.saturating_since(held.since);
            self.log_txn(
                files,
                Action::Allow,
                TxnResult::Tempfailed,
                Some(waited),
                Some(reply.clone()),
            );
            self.background.push(held::Background {
                txn: held.txn,
                stage: held.stage,
                delivered_at: None,
            });
        }
        if let Some(mut log) = self.pending_log.take() {
            log.result = TxnResult::Tempfailed;
            log.reply = Some(reply.clone());
            self.emit(Event::Transaction(Box::new(log)));
        }
        self.body_work = None;
        self.reply(reply);
        self.close_client();
        self.quit_upstream();
        self.pump(gw, now);
    }
}
