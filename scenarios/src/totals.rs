//! Expectations on the whole run: `[totals]`, and counts that may be a range.
//!
//! A total names any count the run reports — a number in the run's [`Metrics`] or its
//! [`FinalStates`] — so that a metric added to the simulator can be expected without this
//! file changing. The names are read from the serialised structs, not listed here; only
//! `holds` and `exposures`, the counts of two percentile sets, are spelt out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aptsim_simulator::invariants::FinalStates;
use aptsim_simulator::metrics::Metrics;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// Totals that stand for the count of a set of percentiles: (name, metric).
const PERCENTILE_COUNTS: [(&str, &str); 2] = [("holds", "hold_ms"), ("exposures", "exposure_ms")];

/// A count as an expectation writes it: `3` (exactly), or `{ min = 2, max = 3 }` with
/// either bound left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    /// Smallest count accepted.
    pub min: Option<u64>,
    /// Largest count accepted.
    pub max: Option<u64>,
}

impl CountRange {
    /// Exactly `n`.
    pub fn exactly(n: u64) -> Self {
        CountRange {
            min: Some(n),
            max: Some(n),
        }
    }

    /// True when `n` is in the range.
    pub fn contains(&self, n: u64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

impl fmt::Display for CountRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a} to {b}"),
            (Some(a), None) => write!(f, "at least {a}"),
            (None, Some(b)) => write!(f, "at most {b}"),
            (None, None) => f.write_str("any number"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for CountRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountRangeVisitor)
    }
}

struct CountRangeVisitor;

impl<'de> Visitor<'de> for CountRangeVisitor {
    type Value = CountRange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count such as 3, or a range such as { min = 2, max = 3 }")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountRange, E> {
        Ok(CountRange::exactly(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountRange, E> {
        u64::try_from(v)
            .map(CountRange::exactly)
            .map_err(|_| E::custom("a count cannot be negative"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CountRange, A::Error> {
        let mut range = CountRange {
            min: None,
            max: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let bound = match key.as_str() {
                "min" => &mut range.min,
                "max" => &mut range.max,
                other => return Err(de::Error::unknown_field(other, &["min", "max"])),
            };
            *bound = Some(map.next_value()?);
        }
        match (range.min, range.max) {
            (None, None) => Err(de::Error::custom("a range needs `min`, `max` or both")),
            (Some(a), Some(b)) if a > b => {
                Err(de::Error::custom(format!("range min {a} is above max {b}")))
            }
            _ => Ok(range),
        }
    }
}

/// `[totals]`: counts by name, and bounds on the exposure windows (X5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Expected counts by name (see [`names`]).
    pub counts: BTreeMap<String, CountRange>,
    /// Longest exposure window at most this.
    pub max_exposure_window: Option<Duration>,
    /// Longest exposure window at least this.
    pub min_exposure_window: Option<Duration>,
}

impl<'de> serde::Deserialize<'de> for Totals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TotalsVisitor)
    }
}

struct TotalsVisitor;

/// A duration value, read as scenario files write durations.
struct Window(Duration);

impl<'de> serde::Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        aptsim_core::duration::serde_text::deserialize(d).map(Window)
    }
}

impl<'de> Visitor<'de> for TotalsVisitor {
    type Value = Totals;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of totals such as { uploads = 3, delivered = { min = 1 } }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Totals, A::Error> {
        let mut totals = Totals::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "max_exposure_window" => {
                    totals.max_exposure_window = Some(map.next_value::<Window>()?.0);
                }
                "min_exposure_window" => {
                    totals.min_exposure_window = Some(map.next_value::<Window>()?.0);
                }
                // Names are checked against the run's counts after parsing
                // (`format::Scenario::from_toml`), where the error can list them.
                _ => {
                    let range = map.next_value()?;
                    totals.counts.insert(key, range);
                }
            }
        }
        Ok(totals)
    }
}

/// Every count a run reports, by the name a total uses: the numbers of [`Metrics`] and of
/// [`FinalStates`] (a state's count wins over a metric of the same name), and `holds` and
/// `exposures`.
pub fn observed(metrics: &Metrics, states: &FinalStates) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for value in [json_of(metrics), json_of(states)] {
        let serde_json::Value::Object(fields) = value else {
            continue;
        };
        for (name, v) in &fields {
            if let Some(n) = v.as_u64() {
                out.insert(name.clone(), n);
            }
        }
        for (total, set) in PERCENTILE_COUNTS {
            if let Some(n) = fields.get(set).and_then(|p| p["count"].as_u64()) {
                out.insert(total.to_owned(), n);
            }
        }
    }
    out
}

/// The names a total may use.
pub fn names() -> Vec<String> {
    observed(&Metrics::default(), &FinalStates::default())
        .into_keys()
        .collect()
}

fn json_of<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Plain structs of numbers serialise without error; Null would only hide counts.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Every total that failed, as a sentence.
pub fn check(totals: &Totals, metrics: &Metrics, states: &FinalStates) -> Vec<String> {
    let observed = observed(metrics, states);
    let mut failures = Vec::new();
    for (name, want) in &totals.counts {
        let what = name.replace('_', " ");
        match observed.get(name) {
            Some(&got) if want.contains(got) => {}
            Some(&got) => failures.push(format!("totals: expected {what} {want}, got {got}")),
            // Checked when the file was read; a metric renamed since reads as missing.
            None => failures.push(format!("totals: the run reports no count {name:?}")),
        }
    }
    let longest = Duration::from_millis(metrics.exposure_ms.max);
    if let Some(max) = totals.max_exposure_window
        && longest > max
    {
        failures.push(format!(
            "totals: expected exposure windows at most {}, got {}",
            crate::expect::show(Some(max)),
            crate::expect::show(Some(longest))
        ));
    }
    if let Some(min) = totals.min_exposure_window
        && longest < min
    {
        failures.push(format!(
            "totals: expected an exposure window of at least {}, got {}",
            crate::expect::show(Some(min)),
            crate::expect::show(Some(longest))
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(text: &str) -> Result<Totals, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn counts_and_ranges() {
        let t = totals("uploads = { min = 2, max = 3 }\ndelivered = 1\nholds = { min = 1 }\n")
            .expect("valid");
        assert_eq!(t.counts["delivered"], CountRange::exactly(1));
        let uploads = t.counts["uploads"];
        assert!(!uploads.contains(1) && uploads.contains(2) && uploads.contains(3));
        assert!(!uploads.contains(4));
        assert_eq!(uploads.to_string(), "2 to 3");
        assert_eq!(t.counts["holds"].to_string(), "at least 1");
        for (bad, want) in [
            ("uploads = { min = 3, max = 2 }", "min 3 is above max 2"),
            ("uploads = {}", "needs `min`, `max` or both"),
            ("uploads = { least = 1 }", "least"),
            ("uploads = -1", "negative"),
            ("max_exposure_window = { min = 1 }", "a duration"),
        ] {
            let got = totals(bad).map_or_else(|e| e.to_string(), |t| format!("{t:?}"));
            assert!(got.contains(want), "{bad}: wanted {want:?} in {got}");
        }
        let windows = totals("max_exposure_window = \"3m\"").expect("valid");
        assert_eq!(windows.max_exposure_window, Some(Duration::from_secs(180)));
        assert!(windows.counts.is_empty());
    }

    #[test]
    fn every_count_of_metrics_and_states_is_a_name() {
        let names = names();
        for name in [
            "uploads",
            "sender_timeouts",
            "duplicates",
            "delivered",
            "quarantined",
            "in_flight",
            "holds",
            "exposures",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        // Percentile sets are not counts themselves.
        assert!(!names.iter().any(|n| n == "hold_ms"));
    }

    #[test]
    fn a_range_fails_outside_and_passes_inside() {
        let metrics = Metrics {
            uploads: 4,
            ..Metrics::default()
        };
        let states = FinalStates::default();
        let t = totals("uploads = { min = 2, max = 3 }").expect("valid");
        assert_eq!(
            check(&t, &metrics, &states),
            ["totals: expected uploads 2 to 3, got 4"]
        );
        let t = totals("uploads = { max = 4 }\nin_flight = 0").expect("valid");
        assert!(check(&t, &metrics, &states).is_empty());
    }
}
