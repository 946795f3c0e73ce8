//! The gateway's verdict cache (MD5 → verdict, with a time to live and a capacity) and the
//! in-flight table that keeps one file from being analysed twice at once (X1).
//!
//! One cache serves both proxies of one gateway (X6). Both are traits so that a fleet of live
//! gateways can share them through a network store (the live proxy's `--cache redis://`);
//! [`MemoryCache`] and [`InFlight`] are the defaults.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::verdict::Verdict;

/// Where the gateway remembers verdicts.
pub trait VerdictCache {
    /// The live verdict for `md5` at `now`, if there is one.
    fn get(&self, md5: &Md5, now: Timestamp) -> Option<Verdict>;
    /// Stores a verdict, replacing any older one; it lives for the cache's time to live.
    fn insert(&mut self, md5: Md5, verdict: Verdict, now: Timestamp);
    /// Forgets everything (a fault the simulator can inject).
    fn flush(&mut self);
    /// How many verdicts it holds, when it can tell cheaply (the live proxy's
    /// `aptsim_cache_entries` metric); `None` for a store that cannot.
    fn entries(&self) -> Option<usize> {
        None
    }
}

/// Size and lifetime of the in-memory cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// How long a verdict stays valid. Default 24 h: the reference does not say; this outlives
    /// every preset's first day of retries (TIMINGS.md), which S5 relies on, while Rspamd's
    /// 1–2 h would expire before an Exim retry at 16 h.
    #[serde(with = "crate::duration::serde_text")]
    pub ttl: Duration,
    /// Most entries kept; the oldest stored is evicted first. Default 100,000 (a few MB).
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_secs(24 * 3_600),
            capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    verdict: Verdict,
    expires: Timestamp,
    seq: u64,
}

/// A verdict cache in memory with time to live and oldest-first eviction.
///
/// Eviction follows `order`, an ordered map, so it is the same in every run (N8). The
/// entries themselves are only ever looked up, never walked: a hash map, one probe rather
/// than a descent by MD5 comparisons through up to [`CacheConfig::capacity`] of them.
#[derive(Debug, Clone)]
pub struct MemoryCache {
    config: CacheConfig,
    entries: HashMap<Md5, Entry>,
    /// Store order: sequence number → MD5, oldest first.
    order: BTreeMap<u64, Md5>,
    next_seq: u64,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        MemoryCache {
            config,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Entries stored, live or not yet purged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn remove_oldest(&mut self) {
        if let Some((_, md5)) = self.order.pop_first() {
            self.entries.remove(&md5);
        }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new(CacheConfig::default())
    }
}

impl VerdictCache for MemoryCache {
    fn get(&self, md5: &Md5, now: Timestamp) -> Option<Verdict> {
        self.entries
            .get(md5)
            .filter(|e| now < e.expires)
            .map(|e| e.verdict.clone())
    }

    fn insert(&mut self, md5: Md5, verdict: Verdict, now: Timestamp) {
        if self.config.capacity == 0 {
            return;
        }
        if let Some(old) = self.entries.remove(&md5) {
            self.order.remove(&old.seq);
        }
        // Entries are stored with one time to live, so store order is expiry order: purge
        // the expired ones from the front before evicting anything live.
        while let Some((_, oldest)) = self.order.first_key_value() {
            match self.entries.get(oldest) {
                Some(e) if now >= e.expires => self.remove_oldest(),
                _ => break,
            }
        }
        while self.entries.len() >= self.config.capacity {
            self.remove_oldest();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, md5);
        self.entries.insert(
            md5,
            Entry {
                verdict,
                expires: now + self.config.ttl,
                seq,
            },
        );
    }

    fn flush(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    fn entries(&self) -> Option<usize> {
        Some(self.len())
    }
}

/// Where the gateway keeps the files under analysis now (X1), so that one file is uploaded
/// once however many messages carry it. [`crate::gateway::Gateway::claim_upload`] calls
/// [`InFlightTable::started`] (to drop a claim older than the analysis timeout, X3), then
/// [`InFlightTable::claim`]; a verdict or a failure calls [`InFlightTable::finish`].
pub trait InFlightTable {
    /// Claims `md5` for an upload at `now`, unless it is already in flight. A table shared
    /// between gateways answers [`Claim::AlreadyInFlight`] for a claim another gateway holds,
    /// with the time this gateway first saw it.
    fn claim(&mut self, md5: Md5, now: Timestamp) -> Claim;
    /// The analysis of `md5` ended (verdict, failure or timeout); returns when it started.
    fn finish(&mut self, md5: &Md5) -> Option<Timestamp>;
    /// When the analysis of `md5` started (or was first seen), if it is under analysis.
    fn started(&self, md5: &Md5) -> Option<Timestamp>;
    /// Files under analysis now, as far as this gateway knows.
    fn len(&self) -> usize;
    /// True when nothing is under analysis.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Files under analysis now, by MD5, with when their upload started (X1).
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    started: BTreeMap<Md5, Timestamp>,
}

/// What [`InFlight::claim`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody is analysing this file: upload it.
    Upload,
    /// Already under analysis since the given time: wait for that verdict.
    AlreadyInFlight(Timestamp),
}

impl InFlight {
    /// Claims `md5` for an upload at `now`, unless it is already in flight.
    pub fn claim(&mut self, md5: Md5, now: Timestamp) -> Claim {
        match self.started.get(&md5) {
            Some(&since) => Claim::AlreadyInFlight(since),
            None => {
                self.started.insert(md5, now);
                Claim::Upload
            }
        }
    }

    /// The analysis of `md5` ended (verdict, failure or timeout); returns when it started.
    pub fn finish(&mut self, md5: &Md5) -> Option<Timestamp> {
        self.started.remove(md5)
    }

    /// When the analysis of `md5` started, if it is under analysis.
    pub fn started(&self, md5: &Md5) -> Option<Timestamp> {
        self.started.get(md5).copied()
    }

    /// True while `md5` is under analysis.
    pub fn contains(&self, md5: &Md5) -> bool {
        self.started.contains_key(md5)
    }

    /// Files under analysis now.
    pub fn len(&self) -> usize {
        self.started.len()
    }

    /// True when nothing is under analysis.
    pub fn is_empty(&self) -> bool {
        self.started.is_empty()
    }
}

impl InFlightTable for InFlight {
    fn claim(&mut self, md5: Md5, now: Timestamp) -> Claim {
        InFlight::claim(self, md5, now)
    }

    fn finish(&mut self, md5: &Md5) -> Option<Timestamp> {
        InFlight::finish(self, md5)
    }

    fn started(&self, md5: &Md5) -> Option<Timestamp> {
        InFlight::started(self, md5)
    }

    fn len(&self) -> usize {
        InFlight::len(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{ThreatLevel, Thresholds};

    fn v(level: ThreatLevel) -> Verdict {
        Verdict::from_level(level, &Thresholds::default())
    }

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1_000)
    }

    #[test]
    fn entries_expire_after_ttl() {
        let mut c = MemoryCache::new(CacheConfig {
            ttl: Duration::from_secs(60),
            capacity: 10,
        });
        let a = Md5::of(b"a");
        c.insert(a, v(ThreatLevel::High), t(0));
        assert_eq!(c.get(&a, t(59)).map(|v| v.level), Some(ThreatLevel::High));
        assert_eq!(c.get(&a, t(60)), None);
    }

    #[test]
    fn capacity_evicts_oldest_first_and_reinsert_refreshes() {
        let mut c = MemoryCache::new(CacheConfig {
            ttl: Duration::from_secs(3_600),
            capacity: 2,
        });
        let (a, b, d) = (Md5::of(b"a"), Md5::of(b"b"), Md5::of(b"d"));
        c.insert(a, v(ThreatLevel::Low), t(0));
        c.insert(b, v(ThreatLevel::Low), t(1));
        c.insert(a, v(ThreatLevel::Medium), t(2)); // a is now the newest
        c.insert(d, v(ThreatLevel::Clean), t(3)); // evicts b
        assert_eq!(c.len(), 2);
        assert!(c.get(&b, t(3)).is_none());
        assert_eq!(c.get(&a, t(3)).map(|v| v.level), Some(ThreatLevel::Medium));
        assert!(c.get(&d, t(3)).is_some());
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let mut c = MemoryCache::new(CacheConfig {
            ttl: Duration::from_secs(10),
            capacity: 2,
        });
        let (a, b, d) = (Md5::of(b"a"), Md5::of(b"b"), Md5::of(b"d"));
        c.insert(a, v(ThreatLevel::Low), t(0));
        c.insert(b, v(ThreatLevel::Low), t(5));
        c.insert(d, v(ThreatLevel::Low), t(12)); // a expired at 10 and is purged
        assert!(c.get(&b, t(12)).is_some());
        assert!(c.get(&d, t(12)).is_some());
        c.flush();
        assert!(c.is_empty());
    }

    #[test]
    fn in_flight_claims_once() {
        let mut f = InFlight::default();
        let a = Md5::of(b"a");
        assert_eq!(f.claim(a, t(1)), Claim::Upload);
        assert_eq!(f.claim(a, t(2)), Claim::AlreadyInFlight(t(1)));
        assert_eq!(f.finish(&a), Some(t(1)));
        assert_eq!(f.claim(a, t(3)), Claim::Upload);
    }

    /// Found by `cargo mutants` (docs/scenarios.md, "Mutation testing"): nothing checked that
    /// expired verdicts are purged before the cache counts itself full, nor what it reports
    /// of its size (the live proxy's `aptsim_cache_entries`).
    #[test]
    fn expired_entries_are_purged_when_a_verdict_is_stored_and_the_size_is_told() {
        let mut c = MemoryCache::new(CacheConfig {
            ttl: Duration::from_secs(10),
            capacity: 3,
        });
        assert!(c.is_empty());
        assert_eq!(VerdictCache::entries(&c), Some(0));
        let (a, b, d) = (Md5::of(b"a"), Md5::of(b"b"), Md5::of(b"d"));
        c.insert(a, v(ThreatLevel::Low), t(0));
        c.insert(b, v(ThreatLevel::Low), t(5));
        assert!(!c.is_empty());
        assert_eq!(VerdictCache::entries(&c), Some(2));
        // Room for three, but a expired at 10: storing d purges it.
        c.insert(d, v(ThreatLevel::Low), t(12));
        assert_eq!(c.len(), 2);
        assert_eq!(VerdictCache::entries(&c), Some(2));
    }

    #[test]
    fn a_store_that_cannot_count_says_so() {
        struct Opaque;
        impl VerdictCache for Opaque {
            fn get(&self, _: &Md5, _: Timestamp) -> Option<Verdict> {
                None
            }
            fn insert(&mut self, _: Md5, _: Verdict, _: Timestamp) {}
            fn flush(&mut self) {}
        }
        assert_eq!(Opaque.entries(), None);
    }

    /// Found by `cargo mutants`: the in-flight table's own answers (X1) were checked only
    /// through the gateway.
    #[test]
    fn the_in_flight_table_tells_what_is_under_analysis_since_when() {
        let mut f = InFlight::default();
        let (a, b) = (Md5::of(b"a"), Md5::of(b"b"));
        assert!(f.is_empty() && InFlightTable::is_empty(&f));
        assert_eq!(f.claim(a, t(7)), Claim::Upload);
        assert_eq!(f.claim(a, t(9)), Claim::AlreadyInFlight(t(7)));
        assert!(f.contains(&a) && !f.contains(&b));
        assert_eq!(f.started(&a), Some(t(7)));
        assert_eq!(InFlightTable::started(&f, &a), Some(t(7)));
        assert_eq!(f.started(&b), None);
        assert_eq!((f.len(), InFlightTable::len(&f)), (1, 1));
        assert!(!f.is_empty() && !InFlightTable::is_empty(&f));
        assert_eq!(f.finish(&a), Some(t(7)));
        assert!(!f.contains(&a) && f.is_empty() && InFlightTable::is_empty(&f));
    }
}
