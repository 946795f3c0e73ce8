//! The invariants on the IMAP side of a world (issue 12): N1 for mailbox messages, N3 for
//! what mail clients hold, N6 for the IMAP proxy's submissions. Read from the trace alone,
//! one line at a time, as the others (`invariants.rs`).

use std::collections::{BTreeMap, BTreeSet};

use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::verdict::ThreatLevel;

use super::{FinalStates, Violation};
use crate::trace::{Record, TraceLine};

/// What the IMAP checks keep.
pub(super) struct Checker {
    non_allow_levels: BTreeSet<ThreatLevel>,
    /// Mailbox copies stored: (account, message), in the order stored.
    stored: Vec<(String, String)>,
    stored_msgs: BTreeSet<String>,
    by_uid: BTreeMap<u32, Vec<String>>,
    last_result: BTreeMap<String, MessageResult>,
    held: BTreeSet<String>,
    levels: BTreeMap<String, ThreatLevel>,
    fail_open: BTreeSet<String>,
    /// Files a client holds whose level is not known yet: MD5 → (client, what).
    pending_n3: BTreeMap<String, Vec<(String, String)>>,
    /// N6: the first submission of each held IMAP message.
    first: BTreeMap<(u64, u64), u64>,
    n1: Vec<Violation>,
    n3: Vec<Violation>,
    n6: Vec<Violation>,
}

impl Checker {
    pub(super) fn new(non_allow_levels: BTreeSet<ThreatLevel>) -> Self {
        Checker {
            non_allow_levels,
            stored: Vec::new(),
            stored_msgs: BTreeSet::new(),
            by_uid: BTreeMap::new(),
            last_result: BTreeMap::new(),
            held: BTreeSet::new(),
            levels: BTreeMap::new(),
            fail_open: BTreeSet::new(),
            pending_n3: BTreeMap::new(),
            first: BTreeMap::new(),
            n1: Vec::new(),
            n3: Vec::new(),
            n6: Vec::new(),
        }
    }

    pub(super) fn observe(&mut self, l: &TraceLine) {
        match &l.record {
            Record::MailboxStored { msg, account, uid } => {
                self.stored.push((account.clone(), msg.clone()));
                self.stored_msgs.insert(msg.clone());
                self.by_uid.entry(*uid).or_default().push(msg.clone());
            }
            Record::ImapDecision {
                msg,
                result,
                fail_open,
                ..
            } => {
                if !matches!(
                    result,
                    MessageResult::Abandoned | MessageResult::PartsServed
                ) {
                    self.last_result.insert(msg.clone(), *result);
                }
                if *fail_open {
                    self.fail_open.insert(msg.clone());
                }
            }
            Record::ImapFetched {
                client,
                msg,
                uid,
                seq,
                files,
                ..
            } => {
                self.n1_fetched(msg, *uid, *seq);
                // I4: a message the proxy let through because the data center failed.
                if !self.fail_open.contains(msg.as_str()) {
                    for md5 in files {
                        self.n3_holds(client, md5, || format!("message {msg}"));
                    }
                }
            }
            Record::ImapPartFetched {
                client,
                uid,
                part,
                md5,
                ..
            } => self.n3_holds(client, md5, || format!("part {part} of UID {uid}")),
            Record::Verdict { md5, level, .. } | Record::Lookup { md5, level } => {
                self.levels.insert(md5.clone(), *level);
                for (client, what) in self.pending_n3.remove(md5.as_str()).unwrap_or_default() {
                    self.n3_bad(&client, md5, *level, &what);
                }
            }
            Record::Submission { conn, txn, md5, .. } if l.actor == "imap_proxy" => {
                // N6: an IMAP hold submits all its message's unknown files at once: every
                // submission of one held message carries one timestamp.
                let at = *self.first.entry((*conn, *txn)).or_insert(l.t);
                if at != l.t {
                    self.n6.push(Violation {
                        id: "N6",
                        detail: format!(
                            "IMAP conn {conn} message {txn}: {md5} submitted at {} ms, after the \
                             message's first submission at {at} ms",
                            l.t
                        ),
                    });
                }
            }
            _ => {}
        }
    }

    /// N1 for mailboxes: no client holds a message no mailbox ever had (nothing is invented
    /// on the way out).
    fn n1_fetched(&mut self, msg: &str, uid: Option<u32>, seq: Option<u32>) {
        let named: Vec<String> = if msg != "?" {
            vec![msg.to_owned()]
        } else {
            uid.or(seq)
                .and_then(|u| self.by_uid.get(&u))
                .cloned()
                .unwrap_or_default()
        };
        if named.is_empty() || named.iter().any(|m| !self.stored_msgs.contains(m)) {
            self.n1.push(Violation {
                id: "N1",
                detail: format!(
                    "a mail client holds message {msg} (UID {uid:?}) that no mailbox had"
                ),
            });
        }
        self.held.extend(named);
    }

    /// N3 for IMAP (I1): no mail client ever holds a file whose level's action is not
    /// `allow`. A file judged later is checked when its verdict comes.
    fn n3_holds(&mut self, client: &str, md5: &str, what: impl FnOnce() -> String) {
        match self.levels.get(md5) {
            Some(level) => {
                let level = *level;
                self.n3_bad(client, md5, level, &what());
            }
            None => self
                .pending_n3
                .entry(md5.to_owned())
                .or_default()
                .push((client.to_owned(), what())),
        }
    }

    fn n3_bad(&mut self, client: &str, md5: &str, level: ThreatLevel, what: &str) {
        if self.non_allow_levels.contains(&level) {
            self.n3.push(Violation {
                id: "N3",
                detail: format!("mail client {client} holds file {md5} (judged {level}) in {what}"),
            });
        }
    }

    /// Counts the mailbox messages into `states` (each ends held by a client as sent, held
    /// rewritten or as the notice, or not held by any client); gives back the N1, N3 and N6
    /// violations.
    pub(super) fn finish(
        self,
        states: &mut FinalStates,
    ) -> (Vec<Violation>, Vec<Violation>, Vec<Violation>) {
        let stored: BTreeSet<&(String, String)> = self.stored.iter().collect();
        states.mailbox = stored.len();
        for (_, msg) in stored {
            if !self.held.contains(msg) {
                states.unfetched += 1;
            } else if matches!(
                self.last_result.get(msg),
                Some(MessageResult::Rewritten | MessageResult::Notice)
            ) {
                states.replaced += 1;
            } else {
                states.fetched += 1;
            }
        }
        (self.n1, self.n3, self.n6)
    }
}
