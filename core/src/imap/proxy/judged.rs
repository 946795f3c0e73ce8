//! The messages a session has judged, by UID in the selected mailbox, and what it serves for
//! each: the server's own bytes, or a rewritten copy.
//!
//! A client reads one message in several fetches: Thunderbird in 64 KiB chunks, K-9 its
//! structure and then one part at a time. The first fetch judges the message; the ones after
//! it are served from here without fetching and judging it again. And once a message is
//! known to be rewritten, its `RFC822.SIZE` and structure in any later response are the
//! rewritten copy's (I6). The store is per session and per selected mailbox (UIDs name
//! messages only within one), bounded in bytes; the oldest copies go first. A message that
//! falls out is judged again when it is fetched again, from the verdict cache.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What the session serves for a judged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Served {
    /// The message as the server has it (allowed, or let through by I4).
    Original,
    /// This copy instead (a file replaced, or the deny notice).
    Rewritten(Arc<[u8]>),
}

#[derive(Debug)]
struct Entry {
    /// Its sequence number, while it is known (kept up to date through EXPUNGE responses).
    seq: Option<u32>,
    served: Served,
    last_used: u64,
}

/// Judged messages by UID. See the module doc. Looking a message up by sequence number and
/// dropping the least recently used are indexed: a header sync of a large folder goes
/// through here once per response, on the proxy's event loop.
#[derive(Debug)]
pub(super) struct JudgedStore {
    entries: BTreeMap<u32, Entry>,
    /// Sequence number → UID, for the entries whose number is known.
    by_seq: BTreeMap<u32, u32>,
    /// Last use → UID: the least recently used first.
    by_use: BTreeMap<u64, u32>,
    bytes: usize,
    max_bytes: usize,
    clock: u64,
}

/// Entries kept at most, whatever their bytes (unchanged messages cost none).
const MAX_ENTRIES: usize = 100_000;

impl JudgedStore {
    pub(super) fn new(max_bytes: usize) -> Self {
        JudgedStore {
            entries: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            by_use: BTreeMap::new(),
            bytes: 0,
            max_bytes,
            clock: 0,
        }
    }

    /// What to serve for `uid`, if it was judged.
    pub(super) fn get(&mut self, uid: u32) -> Option<Served> {
        self.clock += 1;
        let clock = self.clock;
        let e = self.entries.get_mut(&uid)?;
        self.by_use.remove(&e.last_used);
        self.by_use.insert(clock, uid);
        e.last_used = clock;
        Some(e.served.clone())
    }

    /// Whether any entry is a rewritten copy (only then do plain responses need reading).
    pub(super) fn has_rewritten(&self) -> bool {
        self.bytes > 0
    }

    /// Whether the store holds `uid`'s judged result (without counting as a use of it).
    pub(super) fn contains(&self, uid: u32) -> bool {
        self.entries.contains_key(&uid)
    }

    /// The UID of the message now at `seq`, when the store knows it.
    pub(super) fn uid_at(&self, seq: u32) -> Option<u32> {
        self.by_seq.get(&seq).copied()
    }

    /// Records a judged message.
    pub(super) fn insert(&mut self, uid: u32, seq: Option<u32>, served: Served) {
        self.clock += 1;
        self.remove(uid);
        self.bytes += cost(&served);
        if let Some(seq) = seq {
            self.by_seq.insert(seq, uid);
        }
        self.by_use.insert(self.clock, uid);
        self.entries.insert(
            uid,
            Entry {
                seq,
                served,
                last_used: self.clock,
            },
        );
        while self.bytes > self.max_bytes || self.entries.len() > MAX_ENTRIES {
            // The newest entry is the last in `by_use`: it always stays.
            match self.by_use.first_key_value() {
                Some((_, &oldest)) if oldest != uid => self.remove(oldest),
                _ => break,
            }
        }
    }

    fn remove(&mut self, uid: u32) {
        if let Some(old) = self.entries.remove(&uid) {
            self.bytes -= cost(&old.served);
            self.by_use.remove(&old.last_used);
            if let Some(seq) = old.seq
                && self.by_seq.get(&seq) == Some(&uid)
            {
                self.by_seq.remove(&seq);
            }
        }
    }

    /// Notes the sequence number of `uid` (from a FETCH response that carried both).
    pub(super) fn note_seq(&mut self, uid: u32, seq: u32) {
        if let Some(e) = self.entries.get_mut(&uid) {
            if let Some(old) = e.seq
                && self.by_seq.get(&old) == Some(&uid)
            {
                self.by_seq.remove(&old);
            }
            e.seq = Some(seq);
            self.by_seq.insert(seq, uid);
        }
    }

    /// `* n EXPUNGE`: the message at `n` is gone and the ones after it move down.
    pub(super) fn expunge(&mut self, seq: u32) {
        for e in self.entries.values_mut() {
            e.seq = match e.seq {
                Some(s) if s == seq => None,
                Some(s) if s > seq => Some(s - 1),
                other => other,
            };
        }
        // Rare (another client expunged): the index is rebuilt.
        self.by_seq = self
            .entries
            .iter()
            .filter_map(|(uid, e)| e.seq.map(|s| (s, *uid)))
            .collect();
    }

    /// Another mailbox is selected (or none): UIDs name other messages now.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.by_seq.clear();
        self.by_use.clear();
        self.bytes = 0;
    }

    /// Bytes of rewritten copies kept.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

fn cost(served: &Served) -> usize {
    match served {
        Served::Original => 0,
        Served::Rewritten(copy) => copy.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_copies_go_first_and_the_newest_always_stays() {
        let mut store = JudgedStore::new(10);
        store.insert(1, Some(1), Served::Rewritten(Arc::from(&b"123456"[..])));
        store.insert(2, Some(2), Served::Original);
        store.insert(3, Some(3), Served::Rewritten(Arc::from(&b"abcdef"[..])));
        assert_eq!(store.get(1), None);
        assert_eq!(store.get(2), Some(Served::Original));
        assert!(store.get(3).is_some());
        store.insert(4, None, Served::Rewritten(Arc::from(&b"far too large"[..])));
        assert!(store.get(4).is_some());
        assert_eq!(store.bytes(), 13);
    }

    #[test]
    fn a_copy_served_again_is_kept_longer_and_sequence_numbers_follow_the_server() {
        let copy = |b: &[u8]| Served::Rewritten(Arc::from(b));
        let mut store = JudgedStore::new(10);
        store.insert(1, Some(1), copy(b"1234"));
        store.insert(2, Some(2), copy(b"5678"));
        assert!(store.get(1).is_some(), "1 is now the most recently used");
        store.insert(3, Some(3), copy(b"abcd"));
        assert!(store.get(1).is_some());
        assert_eq!(store.get(2), None, "2 was the least recently used");
        store.note_seq(3, 7);
        assert_eq!(store.uid_at(3), None);
        assert_eq!(store.uid_at(7), Some(3));
        store.clear();
        assert_eq!((store.uid_at(7), store.bytes()), (None, 0));
    }

    #[test]
    fn expunge_moves_sequence_numbers_down() {
        let mut store = JudgedStore::new(100);
        store.insert(10, Some(1), Served::Original);
        store.insert(20, Some(2), Served::Original);
        store.insert(30, Some(3), Served::Original);
        store.expunge(2);
        assert_eq!(store.uid_at(1), Some(10));
        assert_eq!(store.uid_at(2), Some(30));
        assert_eq!(store.uid_at(3), None);
    }
}
