//! What one gateway's sessions share: the policy, the verdict cache (X6: one cache for the
//! SMTP and the IMAP proxy), the in-flight table (X1), the list of blocked sending sites
//! (A1 `block`), and the count of connections and held bytes ([`Usage`]).
//!
//! Sessions take `&mut Gateway` in their handlers; the driver (an actor, or the live proxy)
//! owns it and routes data-center results: [`Gateway::record_verdict`] caches a verdict and
//! ends its in-flight entry, then the driver hands the verdict to every session that has the
//! file.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::{Claim, InFlight, InFlightTable, MemoryCache, VerdictCache};
use crate::clock::{Timestamp, WallClock};
use crate::digest::Md5;
use crate::policy::Policy;
use crate::usage::Usage;
use crate::verdict::Verdict;

/// One gateway's shared state.
pub struct Gateway {
    /// The policy every session applies.
    pub policy: Arc<Policy>,
    /// MD5 → verdict.
    pub cache: Box<dyn VerdictCache + Send>,
    /// Files under analysis now.
    pub in_flight: Box<dyn InFlightTable + Send>,
    /// Client connections and held bytes of all sessions (limits in the session config).
    pub usage: Usage,
    /// Submissions carry the files' bytes, for a data center that reads them (the live
    /// proxy's). Off by default: the simulated data center judges by MD5 alone, and keeping
    /// the bytes would only cost memory.
    pub submit_bytes: bool,
    /// The calendar date of the sessions' timestamps, for the dates they write into mail
    /// (the `Received:` header). Default [`WallClock::SIMULATED`], a fixed date; the live
    /// proxy sets the time it started.
    pub wall_clock: WallClock,
    /// Sending site → refused until.
    blocked: BTreeMap<String, Timestamp>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("in_flight", &self.in_flight.len())
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

/// What the driver should do with one file of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadDecision {
    /// Send it to the data center.
    Upload,
    /// Already under analysis for another message (X1): its verdict will come.
    Wait,
}

impl Gateway {
    /// A gateway with an in-memory cache sized by the policy.
    pub fn new(policy: Arc<Policy>) -> Self {
        let cache = MemoryCache::new(policy.cache.clone());
        Gateway {
            policy,
            cache: Box::new(cache),
            in_flight: Box::new(InFlight::default()),
            usage: Usage::default(),
            submit_bytes: false,
            wall_clock: WallClock::default(),
            blocked: BTreeMap::new(),
        }
    }

    /// Replaces the in-memory verdict cache and in-flight table with ones shared with other
    /// gateways (the live proxy's `--cache redis://`), before any session starts.
    pub fn share_tables(
        &mut self,
        cache: Box<dyn VerdictCache + Send>,
        in_flight: Box<dyn InFlightTable + Send>,
    ) {
        self.cache = cache;
        self.in_flight = in_flight;
    }

    /// Whether to upload `md5` now. With X1 on, a file already in flight is not uploaded
    /// again; with X1 off every submission is an upload (the plain reference).
    pub fn claim_upload(&mut self, md5: Md5, now: Timestamp) -> UploadDecision {
        // An analysis that outlived the analysis timeout will not answer (the data center is
        // slow, X3): it no longer counts as in flight, or every later message would wait on
        // it for good.
        if self
            .in_flight
            .started(&md5)
            .is_some_and(|at| now >= at + self.policy.analysis_timeout)
        {
            self.in_flight.finish(&md5);
        }
        match self.in_flight.claim(md5, now) {
            Claim::Upload => UploadDecision::Upload,
            Claim::AlreadyInFlight(_) if self.policy.dedupe_in_flight => UploadDecision::Wait,
            Claim::AlreadyInFlight(_) => UploadDecision::Upload,
        }
    }

    /// A verdict arrived: cache it and end its analysis.
    pub fn record_verdict(&mut self, md5: Md5, verdict: &Verdict, now: Timestamp) {
        self.cache.insert(md5, verdict.clone(), now);
        self.in_flight.finish(&md5);
    }

    /// An upload failed (data center unreachable or slow): nothing is in flight for it now.
    pub fn record_failure(&mut self, md5: &Md5) {
        self.in_flight.finish(md5);
    }

    /// `block`: refuse `site` until `until`.
    pub fn block(&mut self, site: &str, until: Timestamp) {
        let entry = self.blocked.entry(site.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Whether `site` is refused at `now`.
    pub fn is_blocked(&self, site: &str, now: Timestamp) -> bool {
        self.blocked.get(site).is_some_and(|&until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{ThreatLevel, Thresholds};

    #[test]
    fn x1_dedupe_follows_the_policy() {
        let md5 = Md5::of(b"f");
        let mut on = Gateway::new(Arc::new(Policy::default()));
        assert_eq!(
            on.claim_upload(md5, Timestamp::ZERO),
            UploadDecision::Upload
        );
        assert_eq!(on.claim_upload(md5, Timestamp::ZERO), UploadDecision::Wait);
        let v = Verdict::from_level(ThreatLevel::Low, &Thresholds::default());
        on.record_verdict(md5, &v, Timestamp::from_millis(5));
        assert!(on.cache.get(&md5, Timestamp::from_millis(6)).is_some());
        assert_eq!(
            on.claim_upload(md5, Timestamp::ZERO),
            UploadDecision::Upload
        );

        let mut off = Gateway::new(Arc::new(Policy {
            dedupe_in_flight: false,
            ..Policy::default()
        }));
        assert_eq!(
            off.claim_upload(md5, Timestamp::ZERO),
            UploadDecision::Upload
        );
        assert_eq!(
            off.claim_upload(md5, Timestamp::ZERO),
            UploadDecision::Upload
        );
    }

    #[test]
    fn a_stale_analysis_stops_counting_as_in_flight() {
        let md5 = Md5::of(b"slow");
        let mut g = Gateway::new(Arc::new(Policy::default()));
        let timeout = g.policy.analysis_timeout;
        assert_eq!(g.claim_upload(md5, Timestamp::ZERO), UploadDecision::Upload);
        let just_before = Timestamp::from_millis(timeout.as_millis() as u64 - 1);
        assert_eq!(g.claim_upload(md5, just_before), UploadDecision::Wait);
        assert_eq!(
            g.claim_upload(md5, Timestamp::ZERO + timeout),
            UploadDecision::Upload
        );
    }

    /// Found by `cargo mutants` (docs/scenarios.md, "Mutation testing"): nothing checked that
    /// a failed upload ends its claim, so that the next message uploads the file at once
    /// instead of waiting for an analysis that will never answer (X1, X3).
    #[test]
    fn a_failed_upload_is_no_longer_in_flight() {
        let md5 = Md5::of(b"refused");
        let mut g = Gateway::new(Arc::new(Policy::default()));
        let at = Timestamp::from_millis(60_000);
        assert_eq!(g.claim_upload(md5, at), UploadDecision::Upload);
        assert_eq!(g.claim_upload(md5, at), UploadDecision::Wait);
        g.record_failure(&md5);
        assert_eq!(g.claim_upload(md5, at), UploadDecision::Upload);
    }

    /// A table that says every file is under analysis elsewhere, as a shared one does for
    /// another gateway's claim.
    struct ClaimedElsewhere;

    impl InFlightTable for ClaimedElsewhere {
        fn claim(&mut self, _: Md5, now: Timestamp) -> Claim {
            Claim::AlreadyInFlight(now)
        }
        fn finish(&mut self, _: &Md5) -> Option<Timestamp> {
            None
        }
        fn started(&self, _: &Md5) -> Option<Timestamp> {
            None
        }
        fn len(&self) -> usize {
            0
        }
    }

    #[test]
    fn a_shared_table_decides_x1() {
        let md5 = Md5::of(b"f");
        let mut g = Gateway::new(Arc::new(Policy::default()));
        let cache = MemoryCache::new(g.policy.cache.clone());
        g.share_tables(Box::new(cache), Box::new(ClaimedElsewhere));
        assert_eq!(g.claim_upload(md5, Timestamp::ZERO), UploadDecision::Wait);
    }

    #[test]
    fn blocks_expire() {
        let mut g = Gateway::new(Arc::new(Policy::default()));
        g.block("192.0.2.1", Timestamp::from_millis(1_000));
        assert!(g.is_blocked("192.0.2.1", Timestamp::from_millis(999)));
        assert!(!g.is_blocked("192.0.2.1", Timestamp::from_millis(1_000)));
        assert!(!g.is_blocked("192.0.2.2", Timestamp::ZERO));
    }
}
