//! Key metrics of a run, from its grouped trace: how messages ended, attempts, uploads,
//! holds, and the three distributions the page charts (hold time, exposure window, time to
//! delivery).

use std::collections::BTreeMap;

use crate::group::Grouped;

/// A distribution's samples and its quantiles, in virtual milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    /// The samples, ascending.
    pub samples: Vec<u64>,
}

impl Distribution {
    fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        Distribution { samples }
    }

    /// The `q`-quantile (nearest rank), none without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.samples.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.samples[rank - 1])
    }
}

/// What a run came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages in the trace.
    pub messages: usize,
    /// Messages per final state.
    pub states: BTreeMap<&'static str, usize>,
    /// Delivery attempts, all messages.
    pub attempts: usize,
    /// Retries scheduled.
    pub retries: usize,
    /// Sender timeouts.
    pub sender_timeouts: usize,
    /// Files uploaded to the data center.
    pub uploads: usize,
    /// Look-ups the data center answered at once.
    pub lookups: usize,
    /// Decisions taken from the cache.
    pub cache_decisions: usize,
    /// 4xx and 5xx replies.
    pub refusals: usize,
    /// Faults injected.
    pub faults: usize,
    /// Hold time per held message.
    pub hold: Distribution,
    /// Exposure window per exposed message.
    pub exposure: Distribution,
    /// Queued to delivered, per delivered message.
    pub delivery: Distribution,
}

impl Summary {
    /// The summary of a grouped trace.
    pub fn of(g: &Grouped) -> Self {
        let mut s = Summary {
            messages: g.stories.len(),
            uploads: g.uploads,
            lookups: g.lookups,
            faults: g.faults.len(),
            ..Summary::default()
        };
        for m in &g.stories {
            *s.states.entry(m.state()).or_default() += 1;
            s.attempts += m.attempts();
            s.retries += m.count("retry");
            s.sender_timeouts += m.count("timeout");
            s.cache_decisions += m.count("cache_decision");
            s.refusals += m.count("reply4") + m.count("reply5");
        }
        s.hold = Distribution::of(g.stories.iter().filter_map(|m| m.hold_ms()).collect());
        s.exposure = Distribution::of(g.stories.iter().filter_map(|m| m.exposure_ms()).collect());
        s.delivery = Distribution::of(g.stories.iter().filter_map(|m| m.delivery_ms()).collect());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::group;
    use crate::line::parse;

    #[test]
    fn quantiles_by_nearest_rank() {
        let d = Distribution::of(vec![40, 10, 30, 20]);
        assert_eq!(d.quantile(0.5), Some(20));
        assert_eq!(d.quantile(0.95), Some(40));
        assert_eq!(d.quantile(0.0), Some(10));
        assert_eq!(Distribution::default().quantile(0.5), None);
    }

    #[test]
    fn sums_up_the_sender_timeout_retry() {
        let text = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");
        let s = Summary::of(&group(&parse(text).expect("parses")));
        assert_eq!((s.messages, s.attempts, s.uploads, s.retries), (1, 2, 3, 1));
        assert_eq!((s.sender_timeouts, s.cache_decisions), (1, 1));
        assert_eq!(s.states.get("delivered"), Some(&1));
        assert_eq!(s.hold.samples, vec![600_000]);
        assert_eq!(s.delivery.samples, vec![1_200_111]);
        assert!(s.exposure.samples.is_empty());
    }
}
