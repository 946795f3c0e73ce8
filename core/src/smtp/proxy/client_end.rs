//! How the client side of a session ends: a FIN (a half-close, or a sender giving up), a
//! connection gone, and a half-closed client closed once it has been answered.

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
        let answered = matches!(self.client, ClientState::Command | ClientState::Greeting)
            && !self.client_busy
            && self.client_pending.is_empty()
            && !self.client_in.has_line();
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
}
