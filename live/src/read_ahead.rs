//! Backpressure on clients: a client socket whose session already holds [`READ_AHEAD`]
//! bytes it has not read (a message held, a command relayed, and the client pipelining on)
//! stops being read until the session has read down to half of it. The rest waits in the
//! kernel and TCP's window stops the client, as it does against Postfix and Exim, which
//! read a client's next command only when they are ready for it. Without it the proxy
//! would take in whatever a client sends and rely on `max_unread_bytes` (1 MiB) alone:
//! a compliant sender never comes near either, a flooding one now waits instead of
//! filling the gateway's `max_held_bytes` for everyone.
//!
//! What a paused socket cannot see: a FIN or a reset that comes behind the bytes not read
//! yet. TCP delivers in order, so a client that gave up (S5) after sending 64 KiB ahead is
//! known to have left only once those bytes are read, exactly as Postfix learns it only
//! when it reads on. A real MTA has at most one pipelined group ahead — MAIL, its RCPTs
//! and DATA, a few KB for a hundred recipients — so S5 stays exact for it; a group of
//! 100 RCPTs of 2,048-byte addresses (about 210 KB, the most the limits let a compliant
//! client send ahead) would be paused, its FIN seen once the group is read.

use aptsim_core::node::ConnId;

use super::Coordinator;
use crate::sockets::Cmd;

/// Unread bytes past which a client socket is paused: about one socket receive buffer
/// (Linux starts `tcp_rmem` at 128 KiB), far above a pipelined group of commands.
pub(crate) const READ_AHEAD: usize = 64 * 1024;

impl Coordinator {
    /// Where a client is paused: [`READ_AHEAD`], or half the session's own limit if that is
    /// lower, so that pausing comes before the hang-up; but never below two command lines.
    fn read_ahead(&self) -> usize {
        let config = self.node.config();
        READ_AHEAD
            .min(config.max_unread_bytes / 2)
            .max(2 * config.max_command_line)
    }

    /// After bytes from `conn`: past the read-ahead, its socket stops reading.
    pub(super) fn pause_if_ahead(&mut self, conn: ConnId) {
        if self.node.client_unread(conn) <= self.read_ahead() || !self.paused.insert(conn) {
            return;
        }
        if let Some(socket) = self.clients.get(&conn).and_then(|c| c.socket.as_ref()) {
            let _ = socket.send(Cmd::Pause);
        }
    }

    /// After anything that may have let a session read (a verdict, a reply, a timer): the
    /// paused sockets whose sessions have read down to half the read-ahead read again. A
    /// session gone has nothing unread, and leaves the set here.
    pub(super) fn resume_readers(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        // Never below a command line: a session reading commands waits for a line's end
        // with what is left of it unread, and must get it.
        let low = (self.read_ahead() / 2).max(self.node.config().max_command_line);
        let ready: Vec<ConnId> = (self.paused.iter())
            .copied()
            .filter(|&conn| self.node.client_unread(conn) <= low)
            .collect();
        for conn in ready {
            self.paused.remove(&conn);
            if let Some(socket) = self.clients.get(&conn).and_then(|c| c.socket.as_ref()) {
                let _ = socket.send(Cmd::Resume);
            }
        }
    }
}
