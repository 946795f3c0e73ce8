//! Fetches the client pipelined behind a held one join its hold: the ones already read
//! when it starts, and the ones that arrive while it waits for verdicts. mbsync writes each
//! per-message `UID FETCH` with a `socket_write` of its own, and holds the next while its
//! socket's write buffer is not empty (isync 1.4.4, `src/drv_imap.c`: `send_imap_cmd`,
//! `cmd_sendable`), so all but the first usually come a moment after the hold began, the
//! more so over a slow link. Joined, their messages are resolved, fetched and judged
//! with the first's, all their files submitted at once, instead of one message's a sync.
//! The commands are still served in the order sent, each as soon as the messages it names
//! are decided ([`Hold::first_is_ready`]), so joining costs the first nothing: a user who
//! opens a second message while the first is held sees the first as soon as its own
//! analysis ends.

use super::command::{self, Kind};
use super::early_parts::parts_only;
use super::events::ImapEvent;
use super::hold::{HeldCommand, Hold, Step, resolve_text};
use super::judged::JudgedStore;
use super::{ImapSession, Role};
use crate::clock::Timestamp;

/// Pipelined fetches one hold takes in all (the rest wait for a later one).
pub(super) const MAX_JOINED: usize = 100;

impl Hold {
    /// Whether the first command may be served now, before the others' messages are
    /// decided: it names its messages one by one (mbsync's per-message `UID FETCH`), and
    /// each is decided (or was not found). A command with a range waits for the whole hold.
    pub(super) fn first_is_ready(&self, judged: &JudgedStore) -> bool {
        let Some(first) = self.current() else {
            return false;
        };
        let Some(numbers) = command::explicit_numbers(&first.request.messages, 64) else {
            return false;
        };
        numbers.iter().all(|&n| {
            let uid = if self.uid { Some(n) } else { self.uid_at(n) };
            let Some(uid) = uid.filter(|u| self.resolved.contains_key(u)) else {
                // Not among the messages the server named: nothing of it is served.
                return true;
            };
            self.results.contains_key(&uid) || judged.contains(uid)
        })
    }
}

impl ImapSession {
    /// The fetches at the front of the queue that may join a hold naming messages by UID
    /// (`uid`) or not, at most `room` of them, joining at `now`; each is taken off the queue
    /// and logged.
    pub(super) fn joining(&mut self, uid: bool, room: usize, now: Timestamp) -> Vec<HeldCommand> {
        let mut joined = Vec::new();
        while joined.len() < room
            && let Some(next) = self.queue.front()
            && let Kind::Hold { request, body } = command::classify(next)
            && request.uid == uid
            && let Some(tag) = next.tag().map(str::to_owned)
            && let Some(next) = self.queue.pop_front()
        {
            self.emit(ImapEvent::ClientCommand(command::summary(&next)));
            joined.push(HeldCommand {
                command: next,
                tag,
                request,
                body,
                incomplete: None,
                since: now,
            });
        }
        joined
    }

    /// While the hold waits for verdicts, fetches the client pipelined since it started
    /// join it: their messages are resolved now, so that their files are submitted without
    /// waiting for the first command's verdicts.
    pub(super) fn join_late(&mut self, now: Timestamp) {
        let Some(hold) = self.hold.as_ref() else {
            return;
        };
        // A session shutting down finishes its hold and takes nothing more. A lone fetch of
        // parts (K-9's text parts) stays alone, so that its parts may be served before the
        // verdicts if they hold no file (`serve_file_free_parts`).
        let lone_parts =
            hold.commands.len() == 1 && hold.current().is_some_and(|c| parts_only(&c.request));
        if hold.step != Step::Waiting || hold.commands.is_empty() || self.draining || lone_parts {
            return;
        }
        // Counted over the hold's life, so that a long sync's hold ends, and the next
        // starts afresh, after `MAX_JOINED` commands.
        let (uid, room) = (hold.uid, MAX_JOINED.saturating_sub(hold.taken));
        let joined = self.joining(uid, room, now);
        if joined.is_empty() {
            return;
        }
        let text = resolve_text(uid, &joined);
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        hold.unannounced += joined.len();
        hold.taken += joined.len();
        hold.resolving_since = now;
        hold.commands.extend(joined);
        hold.step = Step::Resolving;
        if hold.body() && self.keepalive_at.is_none() {
            self.keepalive_at = self.config.keepalive.map(|k| now + k);
        }
        self.own_command(&text, Role::Resolve, now);
    }
}
