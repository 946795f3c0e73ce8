//! A map keyed by connection numbers, for the lookups every segment makes.
//!
//! The node, the proxy actor, the sender and the mail server find a connection's state
//! several times for each segment that arrives. In a `BTreeMap` with the few thousand
//! connections a day of mail holds open at once (hold mode), each lookup walked about a
//! dozen nodes, most of them a cache miss: 4–6 % of a day's instructions (callgrind). Here
//! a lookup hashes the number with one multiply and probes once or twice.
//!
//! That hash is fine because the numbers are not a peer's to choose: whoever opens a
//! connection numbers it from its own counter, in a run and on the live proxy alike
//! (`live/src/smtp.rs`). And the hash order is never seen: the only ways through the map,
//! [`ConnMap::keys`] and [`ConnMap::into_sorted`], go in the number order a `BTreeMap`
//! gave, so a run stays the run it was (N8).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Connection number → `V` (see the module doc).
#[derive(Debug, Clone)]
pub struct ConnMap<V>(HashMap<u64, V, BuildHasherDefault<NumberHasher>>);

impl<V> Default for ConnMap<V> {
    fn default() -> Self {
        ConnMap(HashMap::default())
    }
}

impl<V> ConnMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `conn`.
    pub fn get(&self, conn: &u64) -> Option<&V> {
        self.0.get(conn)
    }

    /// The value of `conn`, to change.
    pub fn get_mut(&mut self, conn: &u64) -> Option<&mut V> {
        self.0.get_mut(conn)
    }

    /// Whether `conn` has a value.
    pub fn contains_key(&self, conn: &u64) -> bool {
        self.0.contains_key(conn)
    }

    /// Sets the value of `conn`, returning the one it replaces.
    pub fn insert(&mut self, conn: u64, value: V) -> Option<V> {
        self.0.insert(conn, value)
    }

    /// Takes the value of `conn` out.
    pub fn remove(&mut self, conn: &u64) -> Option<V> {
        self.0.remove(conn)
    }

    /// How many connections have a value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no connection has a value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The connections that have a value, in increasing order (never the hash order).
    pub fn keys(&self) -> Vec<u64> {
        let mut keys: Vec<u64> = self.0.keys().copied().collect();
        keys.sort_unstable();
        keys
    }

    /// Every connection and its value, in increasing order of connection.
    pub fn into_sorted(self) -> Vec<(u64, V)> {
        let mut all: Vec<(u64, V)> = self.0.into_iter().collect();
        all.sort_unstable_by_key(|(conn, _)| *conn);
        all
    }
}

/// One multiply per number, as FxHash mixes a word: numbers counted up from one spread over
/// the table. For keys made of numbers a run hands out itself, never a peer's.
#[derive(Debug, Default, Clone, Copy)]
pub struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly numbers counted up from one, as connections are; a few anywhere.
        let conn = prop_oneof![4 => 0u64..200, 1 => any::<u64>()];
        prop_oneof![
            (conn.clone(), any::<u32>()).prop_map(|(c, v)| Op::Insert(c, v)),
            conn.prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Holds what a `BTreeMap` holds, and goes through it in the same order.
        #[test]
        fn holds_and_orders_what_a_btree_map_does(ops in proptest::collection::vec(op(), 0..300)) {
            let (mut map, mut model) = (ConnMap::new(), BTreeMap::new());
            for op in ops {
                match op {
                    Op::Insert(c, v) => prop_assert_eq!(map.insert(c, v), model.insert(c, v)),
                    Op::Remove(c) => prop_assert_eq!(map.remove(&c), model.remove(&c)),
                }
                prop_assert_eq!(map.len(), model.len());
            }
            prop_assert_eq!(map.keys(), model.keys().copied().collect::<Vec<_>>());
            for (c, v) in &model {
                prop_assert_eq!(map.get(c), Some(v));
                prop_assert!(map.contains_key(c));
            }
            prop_assert_eq!(map.is_empty(), model.is_empty());
            prop_assert_eq!(map.into_sorted(), model.into_iter().collect::<Vec<_>>());
        }
    }
}
