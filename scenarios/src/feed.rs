//! Every message of a scenario, in queue order, made one at a time: its own `[[message]]`
//! tables (ordered by time) merged with each `[[traffic]]` stream as it is drawn.
//!
//! Ties keep the order of the file — the scenario's messages first, then each traffic in
//! turn — as a stable sort of the whole list would, so a run's trace does not depend on
//! whether its messages were listed or streamed.

use aptsim_simulator::rng::{self, streams};

use crate::build::{self, TrafficStream};
use crate::format::{MessageSpec, Scenario};

/// A scenario's message specs in queue order ([`specs`]).
pub struct Specs {
    /// The scenario's own messages (sorted, stably), then each traffic's stream.
    sources: Vec<Source>,
}

struct Source {
    head: Option<MessageSpec>,
    rest: Rest,
}

enum Rest {
    Listed(std::vec::IntoIter<MessageSpec>),
    Traffic(Box<TrafficStream>),
}

impl Rest {
    fn next(&mut self) -> Option<MessageSpec> {
        match self {
            Rest::Listed(it) => it.next(),
            Rest::Traffic(it) => it.next(),
        }
    }
}

/// Every message spec of `s` for a run with `seed`, in the order they are queued.
pub fn specs(s: &Scenario, seed: u64) -> Specs {
    let mut own = s.messages.clone();
    own.sort_by_key(|m| m.at);
    let mut rests = vec![Rest::Listed(own.into_iter())];
    for (i, t) in s.traffic.iter().enumerate() {
        rests.push(Rest::Traffic(Box::new(build::generate(
            t,
            rng::stream(seed, streams::traffic(i)),
        ))));
    }
    Specs {
        sources: rests
            .into_iter()
            .map(|mut rest| Source {
                head: rest.next(),
                rest,
            })
            .collect(),
    }
}

impl Iterator for Specs {
    type Item = MessageSpec;

    fn next(&mut self) -> Option<MessageSpec> {
        // The earliest head; the first source wins a tie. A scenario has a few sources.
        let (_, source) = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.head.as_ref().map(|h| (h.at, i)))
            .min()?;
        let s = &mut self.sources[source];
        let next = s.rest.next();
        std::mem::replace(&mut s.head, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_time_order_and_ties_keep_the_file_order() {
        let s = Scenario::from_toml(
            "[[message]]\nid = \"late\"\nat = \"3s\"\n\
             [[message]]\nid = \"early\"\nat = \"1s\"\n\
             [[traffic]]\nprefix = \"a\"\ncount = 3\nevery = \"1s\"\nattachments = 0\n\
             [[traffic]]\nprefix = \"b\"\ncount = 2\nstart = \"1s\"\nevery = \"2s\"\nattachments = 0\n",
            "t.toml",
        )
        .expect("valid");
        let ids: Vec<String> = specs(&s, 1).map(|m| m.id).collect();
        assert_eq!(ids, ["a-0", "early", "a-1", "b-0", "a-2", "late", "b-1"]);
    }
}
