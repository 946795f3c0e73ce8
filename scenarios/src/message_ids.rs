//! The message ids a scenario names, checked for uniqueness without enumerating them.
//!
//! A `[[traffic]]` stream generates the ids `{prefix}-0` … `{prefix}-{count - 1}`: a
//! million on `day-1m`. Making each as a string to put it in a set cost a second of the
//! run's start and about a hundred megabytes. But a generated id is its prefix, a dash and
//! a number written without leading zeros, and the number has no dash: so two streams'
//! ids meet only if their prefixes are equal, and an explicit `[[message]]` id is a
//! generated one exactly when the text after its last dash is such a number below the
//! count of a stream with the text before it as prefix. The checks below read ids that way
//! and report the first clash the enumeration would have met, with the same words.

use std::collections::{BTreeMap, BTreeSet};

use aptsim_simulator::message_map::split_generated;

use crate::format::Scenario;

/// Every message id of a scenario: explicit ones, and generated ones known by prefix.
#[derive(Debug)]
pub struct MessageIds<'a> {
    explicit: BTreeSet<&'a str>,
    /// Prefix → how many ids its streams generate (one stream per prefix).
    generated: BTreeMap<&'a str, usize>,
}

impl<'a> MessageIds<'a> {
    /// The ids, or the first one used twice: explicit messages in order, then each
    /// stream's ids in order.
    pub fn of(s: &'a Scenario) -> Result<Self, String> {
        let mut explicit = BTreeSet::new();
        for (i, m) in s.messages.iter().enumerate() {
            if !explicit.insert(m.id.as_str()) {
                return Err(format!("message[{i}].id: {:?} is used twice", m.id));
            }
        }
        // The numbers of the explicit ids that have a generated id's form, by prefix.
        let mut explicit_numbers: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for id in &explicit {
            if let Some((prefix, k)) = split_generated(id)
                && let Ok(k) = usize::try_from(k)
            {
                explicit_numbers.entry(prefix).or_default().insert(k);
            }
        }
        let mut generated = BTreeMap::new();
        for (i, t) in s.traffic.iter().enumerate() {
            let count = t.count;
            if count == 0 {
                continue;
            }
            // The first of this stream's ids that was already taken: its first id, if an
            // earlier stream has the same prefix; else the lowest explicit one in range.
            let clash = if generated.contains_key(t.prefix.as_str()) {
                Some(0)
            } else {
                explicit_numbers
                    .get(t.prefix.as_str())
                    .and_then(|ks| ks.first())
                    .copied()
                    .filter(|k| *k < count)
            };
            if let Some(k) = clash {
                return Err(format!(
                    "traffic[{i}].prefix: generated id {:?} is used twice",
                    format!("{}-{k}", t.prefix)
                ));
            }
            generated.insert(t.prefix.as_str(), count);
        }
        Ok(MessageIds {
            explicit,
            generated,
        })
    }

    /// Whether the scenario has a message `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.explicit.contains(id)
            || split_generated(id).is_some_and(|(prefix, k)| {
                self.generated
                    .get(prefix)
                    .is_some_and(|count| k < *count as u64)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What validation did before: every id made and put in a set.
    fn enumerated(s: &Scenario) -> Result<BTreeSet<String>, String> {
        let mut ids = BTreeSet::new();
        for (i, m) in s.messages.iter().enumerate() {
            if !ids.insert(m.id.clone()) {
                return Err(format!("message[{i}].id: {:?} is used twice", m.id));
            }
        }
        for (i, t) in s.traffic.iter().enumerate() {
            for k in 0..t.count {
                let id = format!("{}-{k}", t.prefix);
                if !ids.insert(id.clone()) {
                    return Err(format!(
                        "traffic[{i}].prefix: generated id {id:?} is used twice"
                    ));
                }
            }
        }
        Ok(ids)
    }

    fn scenario(messages: &[String], traffic: &[(String, usize)]) -> Scenario {
        let mut toml = String::new();
        for id in messages {
            toml.push_str(&format!("[[message]]\nid = {id:?}\n"));
        }
        for (prefix, count) in traffic {
            toml.push_str(&format!(
                "[[traffic]]\nprefix = {prefix:?}\ncount = {count}\n"
            ));
        }
        // Read without validation, which would check the ids itself (and refuse a count of 0).
        toml::from_str(&toml).expect("a scenario")
    }

    #[test]
    fn a_million_generated_ids_are_known_without_making_them() {
        let s = scenario(&["day-1000000".into()], &[("day".into(), 1_000_000)]);
        let ids = MessageIds::of(&s).expect("no clash: 999999 is the last generated");
        for id in ["day-0", "day-999999", "day-1000000"] {
            assert!(ids.contains(id), "{id}");
        }
        for id in [
            "day-01",
            "day-1000001",
            "day--1",
            "day-",
            "day",
            "da-1",
            "day-1e3",
        ] {
            assert!(!ids.contains(id), "{id}");
        }
        let clash = scenario(&["day-999999".into()], &[("day".into(), 1_000_000)]);
        assert_eq!(
            MessageIds::of(&clash).expect_err("the last generated id is explicit too"),
            "traffic[0].prefix: generated id \"day-999999\" is used twice"
        );
    }

    proptest! {
        /// Same first error, and the same ids, as making every id: prefixes and ids from a
        /// small alphabet with dashes, digits and leading zeros, so that clashes are common.
        #[test]
        fn agrees_with_enumerating_every_id(
            messages in proptest::collection::vec("[a0-]{0,3}-?[01]{0,2}", 0..6),
            traffic in proptest::collection::vec(("[a0-]{0,3}", 0usize..12), 0..4),
        ) {
            let s = scenario(&messages, &traffic);
            match (enumerated(&s), MessageIds::of(&s)) {
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (Ok(all), Ok(ids)) => {
                    for id in &all {
                        prop_assert!(ids.contains(id), "{id}");
                    }
                    let mut probes: Vec<String> = messages.clone();
                    for (prefix, count) in &traffic {
                        for k in 0..count + 3 {
                            probes.push(format!("{prefix}-{k}"));
                            probes.push(format!("{prefix}-0{k}"));
                        }
                    }
                    for id in &probes {
                        prop_assert_eq!(ids.contains(id), all.contains(id), "{}", id);
                    }
                }
                (a, b) => prop_assert!(false, "enumerated {a:?}, by prefix {b:?}"),
            }
        }
    }
}
