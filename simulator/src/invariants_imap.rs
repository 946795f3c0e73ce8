//! The invariants on the IMAP side of a world (issue 12): N1 for mailbox messages, N3 for
//! what mail clients hold, N6 for the IMAP proxy's submissions. Read from the trace alone, as
//! the others (`invariants.rs`).

use std::collections::{BTreeMap, BTreeSet};

use aptsim_core::imap::proxy::MessageResult;
use aptsim_core::verdict::ThreatLevel;

use super::{CheckContext, FinalStates, Violation};
use crate::trace::{Record, TraceLine};

/// N1 for mailboxes: every message stored in a mailbox ends held by a client as sent,
/// held rewritten or as the notice, or not held by any client (the counts add up); and no
/// client holds a message no mailbox ever had (nothing is invented on the way out).
pub(super) fn n1_mailboxes(trace: &[TraceLine], states: &mut FinalStates, v: &mut Vec<Violation>) {
    let mut stored: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut by_uid: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    let mut last_result: BTreeMap<&str, MessageResult> = BTreeMap::new();
    let mut held: BTreeSet<&str> = BTreeSet::new();
    for l in trace {
        match &l.record {
            Record::MailboxStored { msg, account, uid } => {
                stored.insert((account, msg));
                by_uid.entry(*uid).or_default().push(msg);
            }
            Record::ImapDecision { msg, result, .. }
                if !matches!(
                    result,
                    MessageResult::Abandoned | MessageResult::PartsServed
                ) =>
            {
                last_result.insert(msg, *result);
            }
            Record::ImapFetched { msg, uid, seq, .. } => {
                let named: Vec<&str> = if msg != "?" {
                    vec![msg.as_str()]
                } else {
                    uid.or(*seq)
                        .and_then(|u| by_uid.get(&u))
                        .cloned()
                        .unwrap_or_default()
                };
                if named.is_empty() || named.iter().any(|m| !stored.iter().any(|(_, s)| s == m)) {
                    v.push(Violation {
                        id: "N1",
                        detail: format!(
                            "a mail client holds message {msg} (UID {uid:?}) that no mailbox had"
                        ),
                    });
                }
                held.extend(named);
            }
            _ => {}
        }
    }
    states.mailbox = stored.len();
    for (_, msg) in &stored {
        if !held.contains(msg) {
            states.unfetched += 1;
        } else if matches!(
            last_result.get(msg),
            Some(MessageResult::Rewritten | MessageResult::Notice)
        ) {
            states.replaced += 1;
        } else {
            states.fetched += 1;
        }
    }
}

/// N3 for IMAP (I1): no mail client ever holds a file whose level's action is not `allow`,
/// except one the IMAP proxy let through because the data center failed (I4), which its
/// decision records. The files are those in the bytes the client received.
pub(super) fn n3_mail_clients(trace: &[TraceLine], ctx: &CheckContext, v: &mut Vec<Violation>) {
    let mut levels: BTreeMap<&str, ThreatLevel> = BTreeMap::new();
    let mut fail_open: BTreeSet<&str> = BTreeSet::new();
    for l in trace {
        match &l.record {
            Record::Verdict { md5, level, .. } | Record::Lookup { md5, level } => {
                levels.insert(md5, *level);
            }
            Record::ImapDecision {
                msg,
                fail_open: true,
                ..
            } => {
                fail_open.insert(msg);
            }
            _ => {}
        }
    }
    let bad = |md5: &str| {
        levels
            .get(md5)
            .filter(|lvl| ctx.non_allow_levels.contains(lvl))
            .copied()
    };
    for l in trace {
        let (client, what, files): (&str, String, Vec<&str>) = match &l.record {
            Record::ImapFetched {
                client, msg, files, ..
            } if !fail_open.contains(msg.as_str()) => (
                client,
                format!("message {msg}"),
                files.iter().map(String::as_str).collect(),
            ),
            Record::ImapPartFetched {
                client,
                uid,
                part,
                md5,
                ..
            } => (
                client,
                format!("part {part} of UID {uid}"),
                vec![md5.as_str()],
            ),
            _ => continue,
        };
        for md5 in files {
            if let Some(level) = bad(md5) {
                v.push(Violation {
                    id: "N3",
                    detail: format!(
                        "mail client {client} holds file {md5} (judged {level}) in {what}"
                    ),
                });
            }
        }
    }
}

/// N6: an IMAP hold submits all its message's unknown files at once: every submission of
/// one held message (the IMAP proxy's, by connection and message) carries one timestamp, so
/// none can follow a verdict on another.
pub(super) fn n6_all_at_once(trace: &[TraceLine], v: &mut Vec<Violation>) {
    let mut first: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for l in trace {
        if let Record::Submission { conn, txn, md5, .. } = &l.record
            && l.actor == "imap_proxy"
        {
            let at = *first.entry((*conn, *txn)).or_insert(l.t);
            if at != l.t {
                v.push(Violation {
                    id: "N6",
                    detail: format!(
                        "IMAP conn {conn} message {txn}: {md5} submitted at {} ms, after the \
                         message's first submission at {at} ms",
                        l.t
                    ),
                });
            }
        }
    }
}
