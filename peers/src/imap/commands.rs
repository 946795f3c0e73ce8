//! After login: the commands this model answers, with Dovecot 2.3's replies (src/imap/cmd-*.c):
//! CAPABILITY, NOOP, CHECK, LOGOUT, ENABLE, ID, LIST and STATUS
//! ([`mailboxes`](super::mailboxes)), SELECT, EXAMINE, FETCH and UID FETCH
//! ([`fetch`](super::fetch)), STORE and UID STORE, SEARCH and UID SEARCH, EXPUNGE, CLOSE,
//! UNSELECT and IDLE.
//!
//! Anything else is `BAD Error in IMAP command NAME: Unknown command.` (also commands Dovecot
//! has and this model does not: APPEND, COPY, MOVE, CREATE…; docs/imap.md). Arguments
//! imap-codec cannot read are `BAD … Invalid arguments.`, and `RFC822.PEEK`, which Dovecot
//! 2.3 does not know, `BAD … Unknown parameter RFC822.PEEK`. The 20th command error in a row
//! ends the connection (`* BYE Too many invalid IMAP commands.`).

use std::time::Duration;

use aptsim_core::clock::Timestamp;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox as MailboxName;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;

use super::config::CAPABILITY;
use super::events::ImapServerEvent;
use super::fetch::{FetchContext, FetchEnd, fetch};
use super::login::{ID_REPLY, tag_and_name};
use super::server::{ImapServerSession, State};
use super::store::{Flags, Mailbox, Mailstore};
use super::view::{SyncRules, View};

/// Commands this model answers after login, by name.
const KNOWN: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "CHECK",
    "LOGOUT",
    "ENABLE",
    "ID",
    "LIST",
    "STATUS",
    "SELECT",
    "EXAMINE",
    "FETCH",
    "UID FETCH",
    "STORE",
    "UID STORE",
    "SEARCH",
    "UID SEARCH",
    "EXPUNGE",
    "CLOSE",
    "UNSELECT",
    "IDLE",
];

const NO_MAILBOX: &str = "BAD No mailbox selected.";

impl ImapServerSession {
    /// One command after login.
    pub(super) fn command(&mut self, raw: &[u8], store: &mut Mailstore, now: Timestamp) {
        let (tag, name) = tag_and_name(raw);
        let Some(tag) = tag else {
            return self.command_error("*", None, "Invalid tag.");
        };
        if !KNOWN.contains(&name.as_str()) {
            return self.command_error(&tag, Some(&name), "Unknown command.");
        }
        if name == "ID" {
            self.send(ID_REPLY.as_bytes());
            return self.done(&tag, "OK ID completed.");
        }
        let body = match CommandCodec::default().decode(raw) {
            Ok((_, command)) => command.body,
            Err(_) => {
                let text = if name.ends_with("FETCH") && has_word(raw, b"RFC822.PEEK") {
                    "Unknown parameter RFC822.PEEK"
                } else {
                    "Invalid arguments."
                };
                return self.command_error(&tag, Some(&name), text);
            }
        };
        match body {
            CommandBody::Capability => {
                self.send(format!("* CAPABILITY {CAPABILITY}\r\n").as_bytes());
                self.done(&tag, "OK Capability completed.");
            }
            CommandBody::Noop => {
                self.sync(store, rules(true, false));
                self.done(&tag, "OK NOOP completed.");
            }
            CommandBody::Check => {
                if self.selected().is_none() {
                    return self.done(&tag, NO_MAILBOX);
                }
                self.sync(store, rules(true, false));
                self.done(&tag, "OK Check completed.");
            }
            CommandBody::Logout => {
                self.send(b"* BYE Logging out\r\n");
                self.done(&tag, "OK Logout completed.");
                self.event(ImapServerEvent::LoggedOut);
                self.close();
            }
            // No extension this model has can be enabled: Dovecot then lists none.
            CommandBody::Enable { .. } => self.done(&tag, "OK Enabled."),
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(&tag, &reference, &mailbox_wildcard, store),
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(&tag, &mailbox, &item_names, store),
            CommandBody::Select { mailbox, .. } => self.select(&tag, &mailbox, false, store),
            CommandBody::Examine { mailbox, .. } => self.select(&tag, &mailbox, true, store),
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                let wall = self.config.wall_clock;
                let mut out = Vec::new();
                let mut events = Vec::new();
                let result = self.with_selected(store, |view, mailbox| {
                    let ctx = FetchContext {
                        view,
                        mailbox,
                        wall,
                        now,
                        out: &mut out,
                        events: &mut events,
                    };
                    fetch(ctx, &sequence_set, &macro_or_item_names, uid)
                });
                self.send(&out);
                let seen = events
                    .iter()
                    .any(|e| matches!(e, ImapServerEvent::Fetched { seen_set: true, .. }));
                for event in events {
                    self.event(event);
                }
                if seen {
                    self.changed();
                }
                match result {
                    None => self.done(&tag, NO_MAILBOX),
                    Some(Err(text)) => self.command_error(&tag, Some(&name), text),
                    Some(Ok(FetchEnd::Disconnect(text))) => self.bye(&text),
                    Some(Ok(FetchEnd::Tagged(text))) => {
                        self.sync(store, rules(uid, false));
                        self.done(&tag, &text);
                    }
                }
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => self.store(
                &tag,
                &name,
                &sequence_set,
                kind,
                response,
                &flags,
                uid,
                store,
            ),
            CommandBody::Search { criteria, uid, .. } => {
                let key = SearchKey::And(criteria);
                let result =
                    self.with_selected(store, |view, mailbox| search(view, mailbox, &key, uid));
                match result {
                    None => self.done(&tag, NO_MAILBOX),
                    Some(Err(text)) => {
                        let reply = format!("NO [CANNOT] {text}.");
                        self.event(ImapServerEvent::Refused {
                            tag: tag.clone(),
                            reply: reply.clone(),
                        });
                        self.done(&tag, &reply);
                    }
                    Some(Ok(numbers)) => {
                        let mut line = String::from("* SEARCH");
                        for n in numbers {
                            line.push_str(&format!(" {n}"));
                        }
                        line.push_str("\r\n");
                        self.send(line.as_bytes());
                        self.sync(store, rules(uid, false));
                        self.done(&tag, "OK Search completed.");
                    }
                }
            }
            CommandBody::Expunge => {
                let gone = self.with_selected(store, |view, mailbox| {
                    if view.read_only {
                        Vec::new()
                    } else {
                        mailbox.expunge_deleted()
                    }
                });
                let Some(gone) = gone else {
                    return self.done(&tag, NO_MAILBOX);
                };
                self.sync(store, rules(true, false));
                self.done(&tag, "OK Expunge completed.");
                if !gone.is_empty() {
                    self.changed();
                }
            }
            CommandBody::Close => {
                let closed = self.with_selected(store, |view, mailbox| {
                    // CLOSE expunges silently (RFC 3501 §6.4.2); other sessions hear of it
                    // at their next sync.
                    if view.read_only {
                        Vec::new()
                    } else {
                        mailbox.expunge_deleted()
                    }
                });
                let Some(gone) = closed else {
                    return self.done(&tag, NO_MAILBOX);
                };
                self.unselect();
                self.done(&tag, "OK Close completed.");
                if !gone.is_empty() {
                    self.changed();
                }
            }
            CommandBody::Unselect => {
                if self.selected().is_none() {
                    return self.done(&tag, NO_MAILBOX);
                }
                self.unselect();
                self.done(&tag, "OK Unselect completed.");
            }
            CommandBody::Idle => self.start_idle(&tag, store, now),
            _ => self.command_error(&tag, Some(&name), "Unknown command."),
        }
    }

    /// A command completed: its tagged reply (with timing), and the error count restarts.
    pub(super) fn done(&mut self, tag: &str, text: &str) {
        self.bad_commands = 0;
        self.tagged(tag, text, Duration::ZERO);
    }

    /// Dovecot's `client_send_command_error`: `BAD Error in IMAP command NAME: text`, or
    /// `BAD Error in IMAP tag: text` without a usable tag.
    fn command_error(&mut self, tag: &str, name: Option<&str>, text: &str) {
        let reply = match name {
            Some(name) => format!("BAD Error in IMAP command {name}: {text}"),
            None => format!("BAD Error in IMAP tag: {text}"),
        };
        self.tagged(tag, &reply, Duration::ZERO);
        self.event(ImapServerEvent::Refused {
            tag: tag.to_owned(),
            reply,
        });
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            self.bye("Too many invalid IMAP commands.");
        }
    }

    fn with_selected<R>(
        &mut self,
        store: &mut Mailstore,
        f: impl FnOnce(&mut View, &mut Mailbox) -> R,
    ) -> Option<R> {
        let State::Authenticated {
            user,
            selected: Some(view),
        } = &mut self.state
        else {
            return None;
        };
        let mailbox = store.mailbox_mut(user, &view.name)?;
        Some(f(view, mailbox))
    }

    fn unselect(&mut self) {
        if let State::Authenticated { selected, .. } = &mut self.state {
            *selected = None;
        }
    }

    fn select(
        &mut self,
        tag: &str,
        name: &MailboxName<'_>,
        read_only: bool,
        store: &mut Mailstore,
    ) {
        if self.selected().is_some() {
            self.unselect();
            self.send(b"* OK [CLOSED] Previous mailbox closed.\r\n");
        }
        let name = mailbox_name(name);
        let user = self.user().unwrap_or_default().to_owned();
        let Some(mailbox) = store.mailbox_mut(&user, &name) else {
            return self.done(tag, &format!("NO Mailbox doesn't exist: {name}"));
        };
        let (view, untagged) = View::open(mailbox, &name, read_only);
        let exists = view.exists();
        self.send(&untagged);
        if let State::Authenticated { selected, .. } = &mut self.state {
            *selected = Some(view);
        }
        self.event(ImapServerEvent::Selected {
            mailbox: name,
            exists,
            read_only,
        });
        self.done(
            tag,
            if read_only {
                "OK [READ-ONLY] Examine completed."
            } else {
                "OK [READ-WRITE] Select completed."
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: &str,
        name: &str,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
        store: &mut Mailstore,
    ) {
        let mut wanted = Flags::NONE;
        for flag in flags {
            wanted = wanted.union(match flag {
                Flag::Answered => Flags::ANSWERED,
                Flag::Deleted => Flags::DELETED,
                Flag::Draft => Flags::DRAFT,
                Flag::Flagged => Flags::FLAGGED,
                Flag::Seen => Flags::SEEN,
                Flag::Extension(_) => {
                    // Display writes the flag as the client did, backslash included.
                    let text = format!(
                        "Invalid system flag {}",
                        flag.to_string().to_ascii_uppercase()
                    );
                    return self.command_error(tag, Some(name), &text);
                }
                Flag::Keyword(_) => {
                    let reply = "NO [CANNOT] Keywords are not kept by this server.";
                    self.event(ImapServerEvent::Refused {
                        tag: tag.to_owned(),
                        reply: reply.to_owned(),
                    });
                    return self.done(tag, reply);
                }
            });
        }
        let silent = response == StoreResponse::Silent;
        let result = self.with_selected(store, |view, mailbox| {
            let indexes = view.resolve(set, uid)?;
            if view.read_only {
                return Ok((false, false));
            }
            let mut changed = false;
            for index in indexes {
                let uid = view.known[index].uid;
                let Some(old) = mailbox.message(uid).map(|m| m.flags) else {
                    continue;
                };
                let new = match kind {
                    StoreType::Replace => wanted,
                    StoreType::Add => old.union(wanted),
                    StoreType::Remove => old.without(wanted),
                };
                changed |= new != old;
                mailbox.set_flags(uid, new);
                if silent {
                    view.told(index, new);
                }
            }
            Ok((true, changed))
        });
        match result {
            None => self.done(tag, NO_MAILBOX),
            Some(Err(text)) => self.command_error(tag, Some(name), text),
            Some(Ok((stored, changed))) => {
                self.sync(store, rules(uid, uid && !silent));
                let text = if stored {
                    "OK Store completed."
                } else {
                    "OK Store ignored with read-only mailbox."
                };
                self.done(tag, text);
                if changed {
                    self.changed();
                }
            }
        }
    }
}

fn rules(expunges: bool, send_uid: bool) -> SyncRules {
    SyncRules { expunges, send_uid }
}

/// SEARCH: the sequence numbers (or UIDs) of the messages that match, ascending; expunged
/// messages not yet announced never match.
fn search(
    view: &View,
    mailbox: &Mailbox,
    key: &SearchKey<'_>,
    uid: bool,
) -> Result<Vec<u32>, &'static str> {
    let mut out = Vec::new();
    for (index, known) in view.known.iter().enumerate() {
        let Some(message) = mailbox.message(known.uid) else {
            continue;
        };
        if view.matches(index, Some(message), key)? {
            out.push(if uid {
                known.uid
            } else {
                u32::try_from(index + 1).unwrap_or(u32::MAX)
            });
        }
    }
    Ok(out)
}

pub(super) fn mailbox_name(name: &MailboxName<'_>) -> String {
    match name {
        MailboxName::Inbox => "INBOX".to_owned(),
        MailboxName::Other(other) => String::from_utf8_lossy(other.as_ref()).into_owned(),
    }
}

/// Whether `word` stands in `raw` as a word of its own (any case).
fn has_word(raw: &[u8], word: &[u8]) -> bool {
    raw.split(|&b| b == b' ' || b == b'(' || b == b')' || b == b'\r' || b == b'\n')
        .any(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc822_peek_is_found_as_a_word() {
        assert!(has_word(b"a FETCH 1 (rfc822.peek)\r\n", b"RFC822.PEEK"));
        assert!(!has_word(b"a FETCH 1 (RFC822.PEEKS)\r\n", b"RFC822.PEEK"));
    }
}
