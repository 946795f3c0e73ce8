//! Stopping the proxy without cutting anyone off: when the gateway shuts down, a session
//! that holds nothing is answered `421 4.3.2` and closed at once; one that is receiving,
//! holding or relaying a message is let finish — its reply, then a `QUIT`'s 221, or `421
//! 4.3.2` to any other next command — and answered `421 4.3.2` when the grace period ends
//! if it is still at it. A sender told 421 retries later, and the verdict cache decides its
//! retry (S5) — never a bare disconnect.

use super::*;

/// How far a session was when the gateway shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Nothing in progress: answered 421 and closed.
    Idle,
    /// A message in progress: let finish for the grace period.
    Busy,
    /// Already closed.
    Gone,
}

impl ProxySession {
    /// The gateway is shutting down. `force` (the grace period is over) closes the session
    /// whatever it is doing; otherwise only a session with nothing in progress is closed.
    pub fn shut_down(&mut self, force: bool, gw: &mut Gateway, now: Timestamp) -> Drained {
        self.now = now;
        self.shutting_down = true;
        if matches!(self.client, ClientState::Closed) {
            return Drained::Gone;
        }
        if !force && !self.idle_for_shutdown() {
            return Drained::Busy;
        }
        if matches!(self.awaiting, Some((Op::Body { .. }, _))) {
            // The body is out: the upstream may take it, so a 421 now would make the sender
            // deliver it again. Its answer goes to the sender; the driver stops waiting for
            // it after its own linger.
            return Drained::Busy;
        }
        self.hang_up(shutdown_reply(&self.config.hostname), gw, now);
        Drained::Idle
    }

    /// True when closing now loses nothing: between transactions, no command waiting on
    /// the upstream.
    fn idle_for_shutdown(&self) -> bool {
        matches!(self.client, ClientState::Greeting | ClientState::Command) && !self.client_busy
    }

    /// After the shutdown began, a command from a session that had a message in progress
    /// is answered `421 4.3.2` and the session closed — except `QUIT`, which gets its 221
    /// (smtplib and every lockstep client send it after the message's reply). True if the
    /// command was answered here.
    pub(super) fn refuse_while_draining(&mut self, command: &Command) -> bool {
        if !self.shutting_down || matches!(command, Command::Quit) {
            return false;
        }
        self.reply(shutdown_reply(&self.config.hostname));
        self.close_client();
        self.quit_upstream();
        true
    }
}

/// What a sender hears when the gateway stops: temporary, so it retries (RFC 3463 4.3.2,
/// system not accepting network messages).
fn shutdown_reply(hostname: &str) -> Reply {
    Reply::new(
        421,
        format!("4.3.2 {hostname} Service shutting down, try again later"),
    )
}
