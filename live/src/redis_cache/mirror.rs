//! The local mirror of the shared cache: every verdict this gateway stored or read, each
//! until the moment it expires in Redis, within the policy's cache capacity.
//!
//! It is what keeps a known verdict in force while Redis is unreachable (a file this gateway
//! knows is bad is still refused: never fail open on it), and it saves a round trip for a
//! file seen again. Unlike core's `MemoryCache`, an entry carries its own expiry: a verdict
//! read from Redis lives only as long as Redis still keeps it (its `PTTL`), not a whole
//! time to live from the read. When full, the entry closest to expiry goes first.

use std::collections::{BTreeMap, BTreeSet};

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;

/// Verdicts with their expiry, by MD5.
#[derive(Debug, Default)]
pub struct Mirror {
    capacity: usize,
    entries: BTreeMap<Md5, (Verdict, Timestamp)>,
    /// (expiry, MD5) of every entry: the front is the next to expire.
    by_expiry: BTreeSet<(Timestamp, Md5)>,
}

impl Mirror {
    /// An empty mirror that keeps at most `capacity` verdicts (0: none).
    pub fn new(capacity: usize) -> Self {
        Mirror {
            capacity,
            ..Mirror::default()
        }
    }

    /// The verdict on `md5`, if one is stored and not expired at `now`.
    pub fn get(&self, md5: &Md5, now: Timestamp) -> Option<&Verdict> {
        self.entries
            .get(md5)
            .filter(|(_, expires)| now < *expires)
            .map(|(v, _)| v)
    }

    /// Stores `verdict` on `md5` until `expires`, replacing what was there.
    pub fn insert(&mut self, md5: Md5, verdict: Verdict, expires: Timestamp, now: Timestamp) {
        if self.capacity == 0 {
            return;
        }
        self.remove(&md5);
        while let Some(&(at, oldest)) = self.by_expiry.first() {
            if at > now && self.entries.len() < self.capacity {
                break;
            }
            // Expired, or the one closest to expiry when there is no room.
            self.remove(&oldest);
        }
        self.by_expiry.insert((expires, md5));
        self.entries.insert(md5, (verdict, expires));
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_expiry.clear();
    }

    /// Entries stored, expired or not yet purged.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn remove(&mut self, md5: &Md5) {
        if let Some((_, expires)) = self.entries.remove(md5) {
            self.by_expiry.remove(&(expires, *md5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::verdict::{ThreatLevel, Thresholds};

    fn v(level: ThreatLevel) -> Verdict {
        Verdict::from_level(level, &Thresholds::default())
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn an_entry_lives_until_its_own_expiry() {
        let mut m = Mirror::new(10);
        let (a, b) = (Md5::of(b"a"), Md5::of(b"b"));
        m.insert(a, v(ThreatLevel::High), t(100), t(0));
        m.insert(b, v(ThreatLevel::Clean), t(50), t(0));
        assert_eq!(m.get(&b, t(49)).map(|v| v.level), Some(ThreatLevel::Clean));
        assert!(m.get(&b, t(50)).is_none());
        assert_eq!(m.get(&a, t(99)).map(|v| v.level), Some(ThreatLevel::High));
        assert!(m.get(&a, t(100)).is_none());
    }

    #[test]
    fn full_it_drops_the_expired_then_the_closest_to_expiry() {
        let mut m = Mirror::new(2);
        let (a, b, c, d) = (Md5::of(b"a"), Md5::of(b"b"), Md5::of(b"c"), Md5::of(b"d"));
        m.insert(a, v(ThreatLevel::Low), t(300), t(0));
        m.insert(b, v(ThreatLevel::Low), t(200), t(0));
        m.insert(c, v(ThreatLevel::Low), t(400), t(0)); // full: b goes, closest to expiry
        assert!(m.get(&b, t(1)).is_none());
        assert!(m.get(&a, t(1)).is_some() && m.get(&c, t(1)).is_some());
        m.insert(d, v(ThreatLevel::Low), t(900), t(350)); // a expired at 300
        assert_eq!(m.len(), 2);
        assert!(m.get(&c, t(351)).is_some() && m.get(&d, t(351)).is_some());
    }

    #[test]
    fn replacing_an_entry_moves_its_expiry() {
        let mut m = Mirror::new(2);
        let a = Md5::of(b"a");
        m.insert(a, v(ThreatLevel::Low), t(10), t(0));
        m.insert(a, v(ThreatLevel::High), t(1_000), t(5));
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&a, t(500)).map(|v| v.level), Some(ThreatLevel::High));
        m.clear();
        assert!(m.get(&a, t(500)).is_none());
        let mut none = Mirror::new(0);
        none.insert(a, v(ThreatLevel::High), t(10), t(0));
        assert!(none.get(&a, t(1)).is_none());
    }
}
