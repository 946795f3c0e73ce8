//! A session's view of its selected mailbox: the messages it has announced, in sequence
//! order, with the flags it last reported and which are `\Recent` for it; the sync that
//! brings the view up to the store (Dovecot's `imap-sync.c`); sequence sets and SEARCH keys
//! resolved against the view.
//!
//! A sync reports, in Dovecot's order: flag changes the client has not been told of
//! (`* n FETCH (FLAGS (…))`, with `UID u` first after a UID STORE), then expunges (`* n
//! EXPUNGE`, highest first; only where the command allows them: not within FETCH, STORE or
//! SEARCH by sequence number, RFC 3501 §7.4.1), then `* n EXISTS` and `* n RECENT` when the
//! counts changed. A message expunged but not yet announced stays in the view as a ghost:
//! its sequence number holds, and a FETCH skips it.

use std::collections::BTreeSet;

use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::store::{Flags, Mailbox, StoredMessage};

/// One announced message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    /// Its UID.
    pub uid: u32,
    /// The flags last reported to the client.
    pub flags: Flags,
}

/// What a sync may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncRules {
    /// Expunges may be announced.
    pub expunges: bool,
    /// Flag changes carry the UID (after UID STORE).
    pub send_uid: bool,
}

/// What a sync changed, for the trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Synced {
    /// UIDs announced as expunged.
    pub expunged: Vec<u32>,
    /// The new EXISTS count, when it was announced.
    pub exists: Option<u32>,
}

/// The selected mailbox of a session. See the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// The mailbox's name.
    pub name: String,
    /// EXAMINE: nothing changes (no `\Seen` from FETCH, no STORE, no expunge), and
    /// `\Recent` is shown but not taken.
    pub read_only: bool,
    /// Announced messages, in sequence order.
    pub known: Vec<Known>,
    /// UIDs that are `\Recent` in this session.
    pub recent: BTreeSet<u32>,
    /// The EXISTS and RECENT counts last announced.
    announced: (usize, usize),
}

impl View {
    /// Opens a mailbox (SELECT or EXAMINE): the view and the untagged responses Dovecot
    /// sends before the tagged OK (`cmd-select.c` `select_open`).
    pub(crate) fn open(mailbox: &mut Mailbox, name: &str, read_only: bool) -> (View, Vec<u8>) {
        let recent: BTreeSet<u32> = if read_only {
            mailbox.unclaimed_recent().collect()
        } else {
            mailbox.claim_recent().into_iter().collect()
        };
        let known: Vec<Known> = mailbox
            .messages()
            .iter()
            .map(|m| Known {
                uid: m.uid,
                flags: m.flags,
            })
            .collect();
        let mut out = String::from("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
        // No `\*`: keywords are not kept (docs/imap.md, "The simulated IMAP server").
        out.push_str(if read_only {
            "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
        } else {
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Flags permitted.\r\n"
        });
        out.push_str(&format!(
            "* {} EXISTS\r\n* {} RECENT\r\n",
            known.len(),
            recent.len()
        ));
        if let Some(first) = known.iter().position(|k| !k.flags.contains(Flags::SEEN)) {
            out.push_str(&format!("* OK [UNSEEN {}] First unseen.\r\n", first + 1));
        }
        out.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n",
            mailbox.uid_validity(),
            mailbox.next_uid()
        ));
        let announced = (known.len(), recent.len());
        let view = View {
            name: name.to_owned(),
            read_only,
            known,
            recent,
            announced,
        };
        (view, out.into_bytes())
    }

    /// Messages announced (the EXISTS count).
    pub(crate) fn exists(&self) -> u32 {
        u32::try_from(self.known.len()).unwrap_or(u32::MAX)
    }

    /// Records flags as told to the client without a sync (the FLAGS of a FETCH that set
    /// `\Seen`, a STORE .SILENT: Dovecot hides these changes from its own sync).
    pub(crate) fn told(&mut self, index: usize, flags: Flags) {
        if let Some(k) = self.known.get_mut(index) {
            k.flags = flags;
        }
    }

    /// Brings the view up to the store, writing what it reports to `out`.
    pub(crate) fn sync(
        &mut self,
        mailbox: &mut Mailbox,
        rules: SyncRules,
        out: &mut Vec<u8>,
    ) -> Synced {
        let mut synced = Synced::default();
        // Flag changes.
        for (i, known) in self.known.iter_mut().enumerate() {
            let Some(now) = mailbox.message(known.uid).map(|m| m.flags) else {
                continue;
            };
            if now != known.flags {
                known.flags = now;
                let uid = if rules.send_uid {
                    format!("UID {} ", known.uid)
                } else {
                    String::new()
                };
                let flags = now.imap(self.recent.contains(&known.uid));
                out.extend(format!("* {} FETCH ({uid}FLAGS ({flags}))\r\n", i + 1).into_bytes());
            }
        }
        // Expunges, highest sequence number first.
        if rules.expunges {
            for i in (0..self.known.len()).rev() {
                let uid = self.known[i].uid;
                if mailbox.message(uid).is_none() {
                    out.extend(format!("* {} EXPUNGE\r\n", i + 1).into_bytes());
                    self.known.remove(i);
                    self.recent.remove(&uid);
                    synced.expunged.push(uid);
                    // An EXPUNGE lowers the count the client knows; only new messages
                    // make an EXISTS (imap-sync.c). RECENT is compared as it is.
                    self.announced.0 = self.announced.0.saturating_sub(1);
                }
            }
            synced.expunged.reverse();
        }
        // New messages.
        let last = self.known.last().map_or(0, |k| k.uid);
        let fresh: Vec<Known> = mailbox
            .messages()
            .iter()
            .filter(|m| m.uid > last)
            .map(|m| Known {
                uid: m.uid,
                flags: m.flags,
            })
            .collect();
        if !fresh.is_empty() {
            let claimed: Vec<u32> = if self.read_only {
                mailbox.unclaimed_recent().collect()
            } else {
                mailbox.claim_recent()
            };
            self.recent
                .extend(claimed.into_iter().filter(|uid| *uid > last));
            self.known.extend(fresh);
        }
        if self.known.len() != self.announced.0 {
            out.extend(format!("* {} EXISTS\r\n", self.known.len()).into_bytes());
            synced.exists = Some(self.exists());
        }
        if self.recent.len() != self.announced.1 {
            out.extend(format!("* {} RECENT\r\n", self.recent.len()).into_bytes());
        }
        self.announced = (self.known.len(), self.recent.len());
        synced
    }

    /// The view's messages a sequence set names, as indexes in ascending order. By sequence
    /// number the set must stay within the view (Dovecot `msgset_is_valid`; else `Invalid
    /// messageset`); by UID, `*` is the highest UID and any set is valid (RFC 3501 §6.4.8).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, &'static str> {
        if uid {
            let max = self.known.iter().map(|k| k.uid).max().unwrap_or(0);
            let ranges = ranges(set, max);
            return Ok(self
                .known
                .iter()
                .enumerate()
                .filter(|(_, k)| ranges.iter().any(|&(a, b)| (a..=b).contains(&k.uid)))
                .map(|(i, _)| i)
                .collect());
        }
        let count = self.exists();
        // Dovecot checks the highest range, with `*` as the largest number.
        let raw = ranges(set, u32::MAX);
        let valid = count > 0
            && raw
                .iter()
                .max_by_key(|r| r.1)
                .is_some_and(|&(first, last)| {
                    if last == u32::MAX {
                        first <= count || first == u32::MAX
                    } else {
                        last <= count
                    }
                });
        if !valid {
            return Err("Invalid messageset");
        }
        Ok(self.members(&ranges(set, count)))
    }

    /// Indexes of the sequence numbers in `ranges` (`*` already replaced), ascending.
    fn members(&self, ranges: &[(u32, u32)]) -> Vec<usize> {
        (0..self.known.len())
            .filter(|&i| {
                let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
                ranges.iter().any(|&(a, b)| (a..=b).contains(&seq))
            })
            .collect()
    }

    /// Whether the message at `index` matches a SEARCH key; `Err` names a key this model
    /// does not evaluate (text and date searches).
    pub(crate) fn matches(
        &self,
        index: usize,
        message: Option<&StoredMessage>,
        key: &SearchKey<'_>,
    ) -> Result<bool, &'static str> {
        let known = self.known[index];
        let flags = message.map_or(known.flags, |m| m.flags);
        let recent = self.recent.contains(&known.uid);
        let size = message.map_or(0, |m| m.bytes.len() as u64);
        Ok(match key {
            SearchKey::And(keys) => {
                for k in keys.as_ref() {
                    if !self.matches(index, message, k)? {
                        return Ok(false);
                    }
                }
                true
            }
            SearchKey::Or(a, b) => {
                self.matches(index, message, a)? || self.matches(index, message, b)?
            }
            SearchKey::Not(k) => !self.matches(index, message, k)?,
            SearchKey::All => true,
            SearchKey::SequenceSet(set) => {
                let count = self.exists();
                self.members(&ranges(set, count)).contains(&index)
            }
            SearchKey::Uid(set) => {
                let max = self.known.iter().map(|k| k.uid).max().unwrap_or(0);
                ranges(set, max)
                    .iter()
                    .any(|&(a, b)| (a..=b).contains(&known.uid))
            }
            SearchKey::Answered => flags.contains(Flags::ANSWERED),
            SearchKey::Unanswered => !flags.contains(Flags::ANSWERED),
            SearchKey::Deleted => flags.contains(Flags::DELETED),
            SearchKey::Undeleted => !flags.contains(Flags::DELETED),
            SearchKey::Draft => flags.contains(Flags::DRAFT),
            SearchKey::Undraft => !flags.contains(Flags::DRAFT),
            SearchKey::Flagged => flags.contains(Flags::FLAGGED),
            SearchKey::Unflagged => !flags.contains(Flags::FLAGGED),
            SearchKey::Seen => flags.contains(Flags::SEEN),
            SearchKey::Unseen => !flags.contains(Flags::SEEN),
            SearchKey::Recent => recent,
            SearchKey::Old => !recent,
            SearchKey::New => recent && !flags.contains(Flags::SEEN),
            SearchKey::Larger(n) => size > u64::from(*n),
            SearchKey::Smaller(n) => size < u64::from(*n),
            _ => return Err("only flag, size, sequence and UID searches are supported"),
        })
    }
}

/// A sequence set as inclusive ranges, each low to high, `*` as `star`.
fn ranges(set: &SequenceSet, star: u32) -> Vec<(u32, u32)> {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => star,
    };
    set.0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        })
        .collect()
}
