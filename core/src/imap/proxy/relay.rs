//! The server's responses, routed: to the step of a hold that asked for them, to the client
//! as they are, or to the client served from a judged copy.
//!
//! The rule that keeps I1 and I6: a FETCH response that carries content or structure goes
//! to the client only for a message the session has judged — unchanged when it was allowed,
//! rewritten item by item from the judged copy when it was not — and is dropped otherwise
//! (a message that arrived between the steps of a hold, a response that cannot be read).
//! A held command missing any of its messages ends `NO [UNAVAILABLE]` instead of `OK`, so
//! the client asks again later. Responses without content pass as they are, with
//! `RFC822.SIZE` made the copy's for a rewritten message.

use super::capability;
use super::hold::is_ok;
use super::judged::Served;
use super::{ImapEvent, ImapSession, Role};
use crate::clock::Timestamp;
use crate::gateway::Gateway;
use crate::imap::{FetchRequest, FetchResponse, ResponseKind, SectionText, ServerResponse};

impl ImapSession {
    /// One whole response from the server.
    pub(super) fn on_response(
        &mut self,
        response: ServerResponse,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        match response.kind() {
            ResponseKind::Continuation => self.on_continuation(response, now),
            ResponseKind::Untagged => self.on_untagged(response, gw),
            ResponseKind::Tagged(tag) => self.on_tagged(&tag, response, gw, now),
        }
    }

    /// `+ …`: the rest of a command may go, or a challenge for the client.
    fn on_continuation(&mut self, response: ServerResponse, now: Timestamp) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        if let Some(piece) = current.rest.pop_front() {
            // The proxy already said `+ ` to the client when it read the literal.
            self.send_upstream(piece, now);
        } else if current.role == Role::Interactive {
            self.send_client(response.raw().to_vec());
        }
    }

    fn on_untagged(&mut self, response: ServerResponse, gw: &Gateway) {
        let raw = response.raw();
        if !self.greeted {
            self.greeted = true;
            self.forward_filtered(raw);
            if starts_with_word(raw, 1, b"BYE") {
                self.close_client();
            }
            return;
        }
        if let Some(seq) = expunged(raw) {
            // Every sequence number the session keeps moves down past it: the judged store's,
            // the hold's, and those of messages still being judged (filed under their
            // number when decided).
            self.judged.expunge(seq);
            if let Some(hold) = self.hold.as_mut() {
                hold.expunged(seq);
            }
            for j in &mut self.background {
                j.expunged(seq);
            }
            self.send_client(raw.to_vec());
            return;
        }
        let Some(parsed) = response.fetch() else {
            self.forward_filtered(raw);
            return;
        };
        let role = self.current.as_ref().map(|c| c.role);
        let fetch = match parsed {
            Ok(fetch) => fetch,
            Err(reason) => {
                // Unreadable: it may carry content, so it does not pass.
                self.drop_response(format!("unreadable FETCH response: {reason}"), role);
                return;
            }
        };
        match role {
            Some(Role::Resolve) if fetch.uid().is_some() && fetch.content().is_empty() => {
                self.resolved_one(&fetch)
            }
            Some(Role::Prefetch) if !fetch.content().is_empty() => self.prefetched_one(&fetch, gw),
            Some(Role::Keepalive) if fetch.content().is_empty() && fetch.uid().is_some() => {}
            Some(Role::Serve) => self.serve_response(fetch, raw),
            _ => self.pass_fetch(fetch, raw),
        }
    }

    fn on_tagged(&mut self, tag: &str, response: ServerResponse, gw: &mut Gateway, now: Timestamp) {
        let raw = response.raw();
        if self.current.as_ref().is_none_or(|c| c.tag != tag) {
            // Not the command in flight (there is one at a time): a server's mistake.
            self.forward_filtered(raw);
            return;
        }
        let Some(current) = self.current.take() else {
            return;
        };
        match current.role {
            Role::Relay | Role::Interactive | Role::Logout => self.forward_filtered(raw),
            Role::Serve => self.serve_done(raw, now),
            Role::Resolve => self.resolve_done(raw, gw, now),
            Role::Prefetch => self.prefetch_done(now),
            Role::Keepalive => self.next_step(now),
        }
    }

    /// A held command's tagged response: the next one is served, or the hold ends.
    fn serve_done(&mut self, raw: &[u8], now: Timestamp) {
        let Some(done) = self.hold.as_mut().and_then(|h| h.commands.pop_front()) else {
            return;
        };
        match done.incomplete {
            Some(why) if is_ok(raw) => {
                let line = format!("{} NO [UNAVAILABLE] {why}; try again later\r\n", done.tag);
                self.send_client(line.into_bytes());
                self.emit(ImapEvent::Refused {
                    tag: done.tag,
                    reason: why,
                });
            }
            _ => self.forward_filtered(raw),
        }
        if let Some(hold) = self.hold.as_mut().filter(|h| !h.commands.is_empty()) {
            // The next command is served when its messages are decided; meanwhile the hold
            // waits again, and fetches pipelined since may join it.
            hold.step = super::hold::Step::Waiting;
            if hold.body() {
                self.keepalive_at = self.config.keepalive.map(|k| now + k);
            }
            self.next_step(now);
        } else if let Some(hold) = self.hold.take() {
            self.background.extend(hold.judging);
        }
    }

    /// A FETCH response to the held command.
    fn serve_response(&mut self, mut fetch: FetchResponse<'_>, raw: &[u8]) {
        let Some(hold) = self.hold.as_ref() else {
            return;
        };
        let carries = !fetch.content().is_empty() || fetch.has_structure();
        let uid = fetch
            .uid()
            .or_else(|| hold.uid_at(fetch.seq()))
            .or_else(|| self.judged.uid_at(fetch.seq()));
        let result = uid.and_then(|u| hold.results.get(&u).cloned());
        let result = match (result, uid) {
            (Some(r), _) => Some(r),
            (None, Some(u)) => self.judged.get(u).map(Ok),
            (None, None) => None,
        };
        if !carries {
            match result {
                Some(Ok(Served::Rewritten(copy))) if fetch.rfc822_size().is_some() => {
                    fetch.set_rfc822_size(copy.len() as u32);
                    self.send_client(fetch.encode());
                }
                _ => self.send_client(raw.to_vec()),
            }
            return;
        }
        let Some(request) = hold.current().map(|c| c.request.clone()) else {
            return;
        };
        match result {
            Some(Ok(Served::Original)) => self.send_client(raw.to_vec()),
            Some(Ok(Served::Rewritten(copy))) => match serve_copy(&mut fetch, &copy, &request) {
                Ok(()) => self.send_client(fetch.encode()),
                Err(why) => self.incomplete(why),
            },
            Some(Err(why)) => self.incomplete(why),
            None => self.incomplete("a message was not inspected".to_owned()),
        }
    }

    /// A FETCH response to anything but a held command or a step of one.
    fn pass_fetch(&mut self, mut fetch: FetchResponse<'_>, raw: &[u8]) {
        if let Some(uid) = fetch.uid() {
            self.judged.note_seq(uid, fetch.seq());
        }
        let carries = !fetch.content().is_empty() || fetch.has_structure();
        if !(carries || self.judged.has_rewritten() && fetch.rfc822_size().is_some()) {
            self.send_client(raw.to_vec());
            return;
        }
        let uid = fetch.uid().or_else(|| self.judged.uid_at(fetch.seq()));
        match uid.and_then(|u| self.judged.get(u)) {
            Some(Served::Rewritten(copy)) => {
                let request = no_request();
                match serve_copy(&mut fetch, &copy, &request) {
                    Ok(()) => self.send_client(fetch.encode()),
                    Err(why) => self.drop_response(why, None),
                }
            }
            Some(Served::Original) => self.send_client(raw.to_vec()),
            None if !carries || fields_only(&fetch) => self.send_client(raw.to_vec()),
            None => self.drop_response(
                "a FETCH response with content for a message not inspected".to_owned(),
                None,
            ),
        }
    }

    /// Marks the held command as missing a message, and drops the response.
    fn incomplete(&mut self, why: String) {
        self.emit(ImapEvent::Dropped {
            reason: why.clone(),
        });
        if let Some(held) = self.hold.as_mut().and_then(|h| h.commands.front_mut())
            && held.incomplete.is_none()
        {
            held.incomplete = Some(why);
        }
    }

    fn drop_response(&mut self, reason: String, role: Option<Role>) {
        if role == Some(Role::Serve) {
            self.incomplete(reason);
        } else {
            self.emit(ImapEvent::Dropped { reason });
        }
    }

    /// A response to the client, its capability lists filtered.
    fn forward_filtered(&mut self, raw: &[u8]) {
        match capability::filter_response(raw) {
            Some(filtered) => self.send_client(filtered),
            None => self.send_client(raw.to_vec()),
        }
    }
}

/// Rewrites every content-dependent item of a response from `copy` (`imap::serve`); on an
/// error the response is half rewritten and must not be sent.
fn serve_copy(
    fetch: &mut FetchResponse<'_>,
    copy: &[u8],
    request: &FetchRequest,
) -> Result<(), String> {
    fetch
        .serve_from(copy, request)
        .map_err(|e| format!("the rewritten message could not be served: {e}"))
}

/// Whether every content item is a list of header fields (a header sync, which is not held:
/// no attachment bytes are in it); the structure may come with them.
fn fields_only(fetch: &FetchResponse<'_>) -> bool {
    fetch.content().iter().all(|c| {
        matches!(
            c.section.text,
            Some(SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_))
        )
    })
}

/// A request that asks for no content (a response to a command that was not held).
fn no_request() -> FetchRequest {
    FetchRequest {
        tag: String::new(),
        uid: false,
        messages: Vec::new(),
        content: Vec::new(),
        structure: false,
    }
}

/// `* n EXPUNGE`: `n`.
fn expunged(raw: &[u8]) -> Option<u32> {
    let line = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let mut words = line.split(|&b| b == b' ');
    (words.next()? == b"*").then_some(())?;
    let n = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    let word = words.next()?;
    (word.eq_ignore_ascii_case(b"EXPUNGE") && words.next().is_none()).then_some(n)
}

/// Whether word `index` of the line is `word` (case-insensitive).
fn starts_with_word(raw: &[u8], index: usize, word: &[u8]) -> bool {
    raw.split(|&b| b == b' ' || b == b'\r')
        .nth(index)
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}
