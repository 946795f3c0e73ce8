//! LIST and STATUS: the account's mailboxes as Dovecot 2.3 lists them (cmd-list.c,
//! cmd-status.c). The store has no hierarchy: every mailbox is `\HasNoChildren` under the
//! delimiter `.`.

use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as MailboxName};
use imap_codec::imap_types::status::StatusDataItemName;

use super::commands::mailbox_name;
use super::server::{ImapServerSession, State};
use super::store::{Flags, Mailstore};

impl ImapServerSession {
    pub(super) fn list(
        &mut self,
        tag: &str,
        reference: &MailboxName<'_>,
        pattern: &ListMailbox<'_>,
        store: &Mailstore,
    ) {
        let pattern = match pattern {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let reference = mailbox_name(reference);
        if pattern.is_empty() {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            self.send(b"* LIST (\\Noselect) \".\" \"\"\r\n");
        } else {
            let full = format!("{reference}{pattern}");
            let user = self.user().unwrap_or_default().to_owned();
            for name in store.mailbox_names(&user) {
                if wildcard(full.as_bytes(), name.as_bytes()) {
                    let line = format!("* LIST (\\HasNoChildren) \".\" {}\r\n", astring(&name));
                    self.send(line.as_bytes());
                }
            }
        }
        self.done(tag, "OK List completed.");
    }

    pub(super) fn status(
        &mut self,
        tag: &str,
        name: &MailboxName<'_>,
        items: &[StatusDataItemName],
        store: &Mailstore,
    ) {
        let name = mailbox_name(name);
        let user = self.user().unwrap_or_default().to_owned();
        let Some(mailbox) = store.mailbox(&user, &name) else {
            return self.done(tag, &format!("NO Mailbox doesn't exist: {name}"));
        };
        // Of the selected mailbox, the session's own counts (and Dovecot's hint that the
        // client should not ask).
        let own_recent = match &self.state {
            State::Authenticated {
                selected: Some(view),
                ..
            } if view.name == name => Some(view.recent.len()),
            _ => None,
        };
        let messages = mailbox.messages();
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusDataItemName::Messages => format!("MESSAGES {}", messages.len()),
                StatusDataItemName::Recent => format!(
                    "RECENT {}",
                    own_recent.unwrap_or_else(|| mailbox.unclaimed_recent().count())
                ),
                StatusDataItemName::UidNext => format!("UIDNEXT {}", mailbox.next_uid()),
                StatusDataItemName::UidValidity => {
                    format!("UIDVALIDITY {}", mailbox.uid_validity())
                }
                StatusDataItemName::Unseen => format!(
                    "UNSEEN {}",
                    messages
                        .iter()
                        .filter(|m| !m.flags.contains(Flags::SEEN))
                        .count()
                ),
                StatusDataItemName::Deleted => format!(
                    "DELETED {}",
                    messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .count()
                ),
                StatusDataItemName::DeletedStorage => {
                    let bytes: usize = messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .map(|m| m.bytes.len())
                        .sum();
                    format!("DELETED-STORAGE {bytes}")
                }
                // Items of extensions imap-types may be built with (STATUS=SIZE, CONDSTORE),
                // which this model does not offer.
                #[allow(unreachable_patterns)]
                _ => String::new(),
            })
            .filter(|v| !v.is_empty())
            .collect();
        let line = format!("* STATUS {} ({})\r\n", astring(&name), values.join(" "));
        self.send(line.as_bytes());
        self.done(
            tag,
            if own_recent.is_some() {
                "OK [CLIENTBUG] Status on selected mailbox completed."
            } else {
                "OK Status completed."
            },
        );
    }
}

/// A mailbox name as Dovecot writes it: bare when it is an atom, quoted otherwise.
fn astring(name: &str) -> String {
    let atom = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    if atom {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// LIST's pattern match: `*` and `%` match any run of characters (the store has no
/// hierarchy, so the two are the same); INBOX matches without regard to case. The greedy
/// glob with one backtracking point: linear in pattern times name, whatever the pattern.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let inbox = name == b"INBOX";
    let same = |p: u8, n: u8| {
        if inbox {
            p.eq_ignore_ascii_case(&n)
        } else {
            p == n
        }
    };
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*' | b'%') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if same(c, name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|&c| c == b'*' || c == b'%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns_and_names() {
        assert!(wildcard(b"*", b"INBOX"));
        assert!(wildcard(b"in%", b"INBOX"));
        assert!(!wildcard(b"Arch", b"Archive"));
        assert!(wildcard(b"A*e", b"Archive"));
        assert!(!wildcard(b"a*", b"Archive"));
        assert!(wildcard(
            b"%*%*%*%*%*%*%*%*%*%*%*%*x",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax"
        ));
        assert_eq!(astring("INBOX"), "INBOX");
        assert_eq!(astring("Sent Items"), "\"Sent Items\"");
    }
}
