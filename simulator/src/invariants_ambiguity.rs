//! Ambiguous timeouts (N2), read one line at a time: attempts the sender ended after its
//! final dot without a reply (it logs that the message may be delivered more than once) on
//! a connection whose body the proxy did relay upstream. The N1, N2 checks and the metrics
//! each keep one.
//!
//! The relay may come before the sender gave up or after — when a cut path held back the
//! sender's FIN, the proxy could not know — so both are kept until the end. A relay after
//! the proxy *saw* the sender leave is never excused: the proxy never relays then (S5), and
//! [`Ambiguity::observe`] reports it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::conn_set::ConnSet;
use crate::trace::{Record, TraceLine};

/// What ambiguous timeouts need of the trace.
#[derive(Debug, Default)]
pub struct Ambiguity {
    /// Transactions the proxy saw the sender leave.
    gone: HashSet<(u64, u64)>,
    /// Connections whose body the proxy relayed while the sender was there: nearly every
    /// connection of a run ([`ConnSet`]).
    relayed: ConnSet,
    /// Attempts that may have delivered: message and connection.
    maybe: Vec<(String, u64)>,
}

impl Ambiguity {
    /// Reads one line; a relay of a transaction whose sender had left comes back as
    /// `(conn, txn)`.
    pub fn observe(&mut self, l: &TraceLine) -> Option<(u64, u64)> {
        match &l.record {
            Record::ClientGone {
                conn,
                txn: Some(txn),
                ..
            } => {
                self.gone.insert((*conn, *txn));
            }
            Record::BodyRelayed { conn, txn } => {
                if self.gone.contains(&(*conn, *txn)) {
                    return Some((*conn, *txn));
                }
                self.relayed.insert(*conn);
            }
            Record::MayBeDeliveredMultipleTimes { msg, conn, .. } => {
                self.maybe.push((msg.clone(), *conn));
            }
            _ => {}
        }
        None
    }

    /// True when the proxy relayed a body on `conn` while its sender was there.
    pub fn relayed(&self, conn: u64) -> bool {
        self.relayed.contains(conn)
    }

    /// Ambiguous timeouts per message.
    pub fn per_message(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for (msg, conn) in &self.maybe {
            if self.relayed(*conn) {
                *out.entry(msg.as_str()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Every attempt the sender ended unanswered after its final dot, relayed or not:
    /// (message, connection).
    pub fn attempts_unanswered(&self) -> BTreeSet<(&str, u64)> {
        self.maybe.iter().map(|(m, c)| (m.as_str(), *c)).collect()
    }

    /// Ambiguous timeouts in all.
    pub fn total(&self) -> usize {
        self.maybe.iter().filter(|(_, c)| self.relayed(*c)).count()
    }
}
