//! The mail store behind the simulated IMAP server: accounts (user and password), each with
//! mailboxes (INBOX at least), each with its UIDVALIDITY, next UID and messages.
//!
//! One store serves every session of a server: the actor owns it and passes `&mut Mailstore`
//! into each session call. The receiving mail server's delivery calls
//! [`Mailstore::deliver`]; sessions read messages and change flags, and compare what they
//! announced with the store at their sync points (docs/imap.md, "The simulated IMAP
//! server"). A message's bytes are an `Arc<[u8]>`, so a session can hold one while it
//! serves it without a copy.
//!
//! `\Recent` (RFC 3501 §2.3.2) is kept as Dovecot keeps it: a new message is recent for the
//! first session that selects its mailbox read-write (or has it selected when it arrives)
//! and for no other; [`Mailbox::claim_recent`] hands them out.

use std::collections::BTreeMap;
use std::sync::Arc;

use aptsim_core::clock::Timestamp;

/// The system flags a message can carry (RFC 3501 §2.3.2), as a bit set. `\Recent` is no
/// stored flag: it belongs to a session (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// `\Answered`.
    pub const ANSWERED: Flags = Flags(1);
    /// `\Flagged`.
    pub const FLAGGED: Flags = Flags(2);
    /// `\Deleted`.
    pub const DELETED: Flags = Flags(4);
    /// `\Seen`.
    pub const SEEN: Flags = Flags(8);
    /// `\Draft`.
    pub const DRAFT: Flags = Flags(16);
    /// No flag.
    pub const NONE: Flags = Flags(0);

    /// Each flag with its name, in the order Dovecot writes them (`imap_write_flags`).
    pub const NAMES: [(Flags, &'static str); 5] = [
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::SEEN, "\\Seen"),
        (Flags::DRAFT, "\\Draft"),
    ];

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// This set without the flags of `other`.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The flag named `name` (`\Seen`, any case), if it is one of the five.
    pub fn named(name: &str) -> Option<Flags> {
        Flags::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(f, _)| *f)
    }

    /// The flags as IMAP writes them inside `FLAGS (…)`, with `\Recent` last when `recent`:
    /// `\Seen \Recent`.
    pub fn imap(self, recent: bool) -> String {
        let mut names: Vec<&str> = Flags::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect();
        if recent {
            names.push("\\Recent");
        }
        names.join(" ")
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its UID in the mailbox.
    pub uid: u32,
    /// The message as stored, with the line ends it came with (CRLF from SMTP).
    pub bytes: Arc<[u8]>,
    /// Its flags.
    pub flags: Flags,
    /// When it was delivered (INTERNALDATE).
    pub internal_date: Timestamp,
}

/// One mailbox of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    uid_validity: u32,
    next_uid: u32,
    /// The first UID no session has taken as recent yet.
    recent_from: u32,
    messages: Vec<StoredMessage>,
}

impl Mailbox {
    fn new(uid_validity: u32) -> Self {
        Mailbox {
            uid_validity,
            next_uid: 1,
            recent_from: 1,
            messages: Vec::new(),
        }
    }

    /// UIDVALIDITY.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// The UID the next message will get (UIDNEXT).
    pub fn next_uid(&self) -> u32 {
        self.next_uid
    }

    /// The messages, in UID order.
    pub fn messages(&self) -> &[StoredMessage] {
        &self.messages
    }

    /// The message with this UID.
    pub fn message(&self, uid: u32) -> Option<&StoredMessage> {
        self.index(uid).map(|i| &self.messages[i])
    }

    /// Sets the flags of the message `uid`; whether it exists.
    pub fn set_flags(&mut self, uid: u32, flags: Flags) -> bool {
        match self.index(uid) {
            Some(i) => {
                self.messages[i].flags = flags;
                true
            }
            None => false,
        }
    }

    /// Removes every message flagged `\Deleted`; their UIDs.
    pub fn expunge_deleted(&mut self) -> Vec<u32> {
        let gone: Vec<u32> = self
            .messages
            .iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .map(|m| m.uid)
            .collect();
        self.messages.retain(|m| !m.flags.contains(Flags::DELETED));
        gone
    }

    /// The UIDs of messages no session has taken as recent yet (at or after `from`).
    pub fn unclaimed_recent(&self) -> impl Iterator<Item = u32> + '_ {
        let from = self.recent_from;
        self.messages
            .iter()
            .map(|m| m.uid)
            .filter(move |&uid| uid >= from)
    }

    /// Takes every message not yet taken as recent for the calling session (a read-write
    /// SELECT or a sync of one): their UIDs. Later sessions see them as not recent.
    pub fn claim_recent(&mut self) -> Vec<u32> {
        let claimed = self.unclaimed_recent().collect();
        self.recent_from = self.next_uid;
        claimed
    }

    fn append(&mut self, bytes: Arc<[u8]>, now: Timestamp) -> u32 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.messages.push(StoredMessage {
            uid,
            bytes,
            flags: Flags::NONE,
            internal_date: now,
        });
        uid
    }

    fn index(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    password: String,
    mailboxes: BTreeMap<String, Mailbox>,
}

/// Why the store refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No account has this user name.
    #[error("no account {0:?}")]
    NoSuchUser(String),
    /// The account has no mailbox of this name.
    #[error("account {user:?} has no mailbox {mailbox:?}")]
    NoSuchMailbox {
        /// The account.
        user: String,
        /// The mailbox asked for.
        mailbox: String,
    },
    /// The mailbox ran out of UIDs (2³² − 1 messages delivered).
    #[error("mailbox {mailbox:?} of {user:?} has no UID left")]
    UidsExhausted {
        /// The account.
        user: String,
        /// The mailbox.
        mailbox: String,
    },
}

/// Every account of one IMAP server. See the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailstore {
    accounts: BTreeMap<String, Account>,
    /// UIDVALIDITY of the last mailbox created: each new one gets the next number, so that
    /// runs are reproducible (Dovecot uses the creation time, also increasing).
    last_uid_validity: u32,
}

impl Mailstore {
    /// An empty store.
    pub fn new() -> Self {
        Mailstore::default()
    }

    /// Adds an account with an empty INBOX (or sets the password of an existing one).
    pub fn add_account(&mut self, user: &str, password: &str) {
        if let Some(account) = self.accounts.get_mut(user) {
            account.password = password.to_owned();
            return;
        }
        self.accounts.insert(
            user.to_owned(),
            Account {
                password: password.to_owned(),
                mailboxes: BTreeMap::new(),
            },
        );
        self.create_mailbox(user, "INBOX").ok();
    }

    /// Adds a mailbox to an account (nothing if it is there already).
    pub fn create_mailbox(&mut self, user: &str, mailbox: &str) -> Result<(), StoreError> {
        let name = canonical(mailbox);
        let next = self.last_uid_validity.saturating_add(1);
        let account = self
            .accounts
            .get_mut(user)
            .ok_or_else(|| StoreError::NoSuchUser(user.to_owned()))?;
        if let std::collections::btree_map::Entry::Vacant(slot) = account.mailboxes.entry(name) {
            slot.insert(Mailbox::new(next));
            self.last_uid_validity = next;
        }
        Ok(())
    }

    /// Whether `user` exists and `password` is theirs.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.accounts
            .get(user)
            .is_some_and(|a| a.password == password)
    }

    /// The mailbox names of an account, INBOX first.
    pub fn mailbox_names(&self, user: &str) -> Vec<String> {
        let Some(account) = self.accounts.get(user) else {
            return Vec::new();
        };
        let mut names: Vec<String> = account.mailboxes.keys().cloned().collect();
        names.sort_by_key(|n| n != "INBOX");
        names
    }

    /// A mailbox (`INBOX` in any case).
    pub fn mailbox(&self, user: &str, mailbox: &str) -> Option<&Mailbox> {
        self.accounts.get(user)?.mailboxes.get(&canonical(mailbox))
    }

    /// A mailbox, to change.
    pub fn mailbox_mut(&mut self, user: &str, mailbox: &str) -> Option<&mut Mailbox> {
        self.accounts
            .get_mut(user)?
            .mailboxes
            .get_mut(&canonical(mailbox))
    }

    /// Stores a message in a mailbox at `now` (its INTERNALDATE), without flags: what the
    /// receiving mail server's delivery does. Returns its UID.
    pub fn deliver(
        &mut self,
        user: &str,
        mailbox: &str,
        bytes: impl Into<Arc<[u8]>>,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        if !self.accounts.contains_key(user) {
            return Err(StoreError::NoSuchUser(user.to_owned()));
        }
        let Some(target) = self.mailbox_mut(user, mailbox) else {
            return Err(StoreError::NoSuchMailbox {
                user: user.to_owned(),
                mailbox: mailbox.to_owned(),
            });
        };
        if target.next_uid == u32::MAX {
            return Err(StoreError::UidsExhausted {
                user: user.to_owned(),
                mailbox: mailbox.to_owned(),
            });
        }
        Ok(target.append(bytes.into(), now))
    }

    /// Removes the message `uid` (as an EXPUNGE by another client would); whether it was
    /// there. Sessions that have the mailbox selected report it at their next sync.
    pub fn expunge(&mut self, user: &str, mailbox: &str, uid: u32) -> bool {
        let Some(target) = self.mailbox_mut(user, mailbox) else {
            return false;
        };
        match target.index(uid) {
            Some(i) => {
                target.messages.remove(i);
                true
            }
            None => false,
        }
    }
}

/// INBOX is case-insensitive (RFC 3501 §5.1); other names are as written.
fn canonical(mailbox: &str) -> String {
    if mailbox.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else {
        mailbox.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_numbers_messages_and_refuses_unknown_places() {
        let mut store = Mailstore::new();
        store.add_account("bob", "pw");
        store.create_mailbox("bob", "Archive").ok();
        let t = Timestamp::from_millis(5);
        assert_eq!(store.deliver("bob", "inbox", b"a".to_vec(), t), Ok(1));
        assert_eq!(store.deliver("bob", "INBOX", b"b".to_vec(), t), Ok(2));
        assert_eq!(store.deliver("bob", "Archive", b"c".to_vec(), t), Ok(1));
        assert_eq!(
            store.deliver("eve", "INBOX", b"x".to_vec(), t),
            Err(StoreError::NoSuchUser("eve".into()))
        );
        assert!(matches!(
            store.deliver("bob", "archive", b"x".to_vec(), t),
            Err(StoreError::NoSuchMailbox { .. })
        ));
        let inbox = store.mailbox("bob", "INBOX").expect("inbox");
        assert_eq!(inbox.next_uid(), 3);
        assert_eq!(inbox.message(2).map(|m| &m.bytes[..]), Some(&b"b"[..]));
        assert_ne!(
            inbox.uid_validity(),
            store
                .mailbox("bob", "Archive")
                .map_or(0, Mailbox::uid_validity)
        );
        assert_eq!(store.mailbox_names("bob"), ["INBOX", "Archive"]);
        assert!(store.check_password("bob", "pw"));
        assert!(!store.check_password("bob", "PW"));
    }

    #[test]
    fn recent_goes_to_the_first_claim_and_expunge_removes() {
        let mut store = Mailstore::new();
        store.add_account("bob", "pw");
        for _ in 0..3 {
            store
                .deliver("bob", "INBOX", b"m".to_vec(), Timestamp::ZERO)
                .ok();
        }
        let inbox = store.mailbox_mut("bob", "INBOX").expect("inbox");
        assert_eq!(inbox.claim_recent(), [1, 2, 3]);
        assert!(inbox.claim_recent().is_empty());
        inbox.set_flags(2, Flags::DELETED.union(Flags::SEEN));
        assert_eq!(inbox.expunge_deleted(), [2]);
        assert!(store.expunge("bob", "INBOX", 3));
        assert!(!store.expunge("bob", "INBOX", 3));
        let uids: Vec<u32> = store
            .mailbox("bob", "INBOX")
            .map(|m| m.messages().iter().map(|m| m.uid).collect())
            .unwrap_or_default();
        assert_eq!(uids, [1]);
        assert_eq!(
            Flags::SEEN.union(Flags::ANSWERED).imap(true),
            "\\Answered \\Seen \\Recent"
        );
    }
}
