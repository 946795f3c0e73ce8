//! The sessions a gateway node runs, SMTP and IMAP, behind one face: the node routes bytes,
//! verdicts and deadlines to a session without caring which proxy it belongs to, and reads
//! back one kind of output.

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::gateway::Gateway;
use crate::imap::proxy::{ImapEvent, ImapSession};
use crate::session_output::Output;
use crate::smtp::proxy::{Drained, Event, ProxySession};
use crate::verdict::Verdict;
use crate::work::{Done, WorkFailed, WorkId};

/// A session of either proxy.
#[derive(Debug)]
pub(super) enum AnySession {
    Smtp(Box<ProxySession>),
    Imap(Box<ImapSession>),
}

/// An event of either proxy.
pub(super) enum AnyEvent {
    Smtp(Event),
    Imap(ImapEvent),
}

/// A session's output, whichever proxy it is.
pub(super) type SessionOutput = Output<AnyEvent>;

/// Calls the same method on whichever session it is.
macro_rules! either {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            AnySession::Smtp($s) => $call,
            AnySession::Imap($s) => $call,
        }
    };
}

impl AnySession {
    pub(super) fn poll_output(&mut self) -> Option<SessionOutput> {
        Some(match self {
            AnySession::Smtp(s) => s.poll_output()?.map_event(AnyEvent::Smtp),
            AnySession::Imap(s) => s.poll_output()?.map_event(AnyEvent::Imap),
        })
    }

    pub(super) fn is_finished(&self) -> bool {
        either!(self, s => s.is_finished())
    }

    pub(super) fn watched_files(&self, out: &mut Vec<Md5>) {
        either!(self, s => s.watched_files(out))
    }

    pub(super) fn poll_timeout(&self) -> Option<Timestamp> {
        either!(self, s => s.poll_timeout())
    }

    pub(super) fn handle_client_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_client_bytes(bytes, gw, now))
    }

    /// Client bytes the session holds unread. The IMAP proxy parses every command as it
    /// comes and queues it (at most `max_queued_commands`), so only a partial one waits.
    pub(super) fn client_unread(&self) -> usize {
        match self {
            AnySession::Smtp(s) => s.client_unread(),
            AnySession::Imap(_) => 0,
        }
    }

    pub(super) fn handle_client_eof(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_client_eof(gw, now))
    }

    pub(super) fn handle_client_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_client_closed(gw, now))
    }

    pub(super) fn handle_upstream_connected(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_upstream_connected(gw, now))
    }

    pub(super) fn handle_upstream_connect_failed(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_upstream_connect_failed(gw, now))
    }

    pub(super) fn handle_upstream_bytes(&mut self, bytes: &[u8], gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_upstream_bytes(bytes, gw, now))
    }

    pub(super) fn handle_upstream_closed(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_upstream_closed(gw, now))
    }

    pub(super) fn handle_work_done(
        &mut self,
        id: WorkId,
        result: Result<Done, WorkFailed>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        either!(self, s => s.handle_work_done(id, result, gw, now))
    }

    pub(super) fn handle_verdict(
        &mut self,
        md5: &Md5,
        verdict: &Verdict,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        either!(self, s => { s.handle_verdict(md5, verdict, gw, now); })
    }

    pub(super) fn handle_unreachable(&mut self, md5: &Md5, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_unreachable(md5, gw, now))
    }

    pub(super) fn handle_timeout(&mut self, gw: &mut Gateway, now: Timestamp) {
        either!(self, s => s.handle_timeout(gw, now))
    }

    pub(super) fn shut_down(&mut self, force: bool, gw: &mut Gateway, now: Timestamp) -> Drained {
        either!(self, s => s.shut_down(force, gw, now))
    }
}
