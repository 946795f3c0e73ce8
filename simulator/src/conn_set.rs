//! A set of connection numbers, in words of 64.
//!
//! The checks keep, to the end of a run, the connections whose body the proxy relayed
//! (N2): nearly every connection, a million on `day-1m`. Connections are numbered as they
//! open, so the set is dense: one bit each, in 64-bit words found by a hash map, is about
//! a quarter of a megabyte for the million, where a set of the numbers themselves took
//! about 20 MB and a cache miss at a random place for each one added. Any numbers at all
//! work (a trace file may hold anything): a sparse set just uses a word for each.

use std::collections::HashMap;

/// Connection numbers (see the module doc).
#[derive(Debug, Default)]
pub struct ConnSet {
    /// conn / 64 → the bits of conn % 64. Only looked up, never walked, so its hash order
    /// cannot reach a trace or a report (N8).
    words: HashMap<u64, u64>,
}

impl ConnSet {
    /// Adds `conn`.
    pub fn insert(&mut self, conn: u64) {
        *self.words.entry(conn / 64).or_default() |= 1 << (conn % 64);
    }

    /// Whether `conn` was added.
    pub fn contains(&self, conn: u64) -> bool {
        self.words
            .get(&(conn / 64))
            .is_some_and(|w| w & (1 << (conn % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Holds what a `BTreeSet<u64>` holds, for dense and for scattered numbers.
        #[test]
        fn holds_what_a_set_of_numbers_holds(
            dense in proptest::collection::vec(0u64..300, 0..100),
            scattered in proptest::collection::vec(any::<u64>(), 0..20),
        ) {
            let mut set = ConnSet::default();
            let mut model = BTreeSet::new();
            for &c in dense.iter().chain(&scattered) {
                set.insert(c);
                model.insert(c);
            }
            for c in (0..320).chain(scattered.iter().flat_map(|c| [*c, c ^ 1])) {
                prop_assert_eq!(set.contains(c), model.contains(&c), "{}", c);
            }
        }
    }
}
