//! Per-message values that the online checks keep for a whole run, in a few bytes per
//! message and in the order the messages come.
//!
//! N1 and N2 must see a late duplicate of any message, so the checks and the metrics keep
//! something for every message until the run ends: a million entries on `day-1m`. In hash
//! maps of [`MsgKey`]s that was about 120 MB, and each message's lookups were misses at
//! random places in it, which also pushed out of the caches what the messages in flight
//! were using. But nearly every id is one a traffic stream generated, `{prefix}-{k}`
//! ([`split_generated`]), and streams send in the order of `k`. Such ids are kept in pages
//! of [`PAGE`] consecutive numbers: one small table lookup per page, the values side by
//! side, and the page of the messages in flight is the one just used. Any other id (an
//! explicit `[[message]]`, or whatever a trace file holds) goes to a hash map.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use aptsim_core::conn_map::NumberHasher;

use crate::msg_key::MsgKey;

/// Consecutive numbers of one prefix kept together.
pub const PAGE: u64 = 64;

/// Up to this many prefixes, a prefix's number is found by looking along their names: a
/// world has a traffic stream or three, and comparing a short name or two costs less than
/// hashing it.
const FEW_PREFIXES: usize = 8;

/// A page's key is two numbers this map made itself (a prefix's and a page's): hashed with
/// one multiply per number ([`NumberHasher`]) instead of SipHash, since there is no one to
/// choose keys that collide, and every check of every message looks a page up.
type PageTable<V> = HashMap<(usize, u64), Box<Page<V>>, BuildHasherDefault<NumberHasher>>;

/// `id` as `{prefix}-{k}` with `k` a number as a traffic stream writes it (digits, no
/// leading zero, at most `u64`), if it has that form. The number has no dash, so the
/// split is at the last one and an id has at most one such reading.
pub fn split_generated(id: &str) -> Option<(&str, u64)> {
    let (prefix, k) = id.rsplit_once('-')?;
    let canonical =
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && (k == "0" || !k.starts_with('0'));
    if !canonical {
        return None;
    }
    Some((prefix, k.parse().ok()?))
}

/// [`PAGE`] values of one prefix, and which of them are there.
#[derive(Debug)]
struct Page<V> {
    present: u64,
    values: [V; PAGE as usize],
}

/// Values by message id (see the module doc).
#[derive(Debug)]
pub struct MessageMap<V> {
    /// Prefix → its number, and back.
    prefixes: HashMap<Box<str>, usize>,
    names: Vec<Box<str>>,
    /// (prefix number, k / PAGE) → page.
    pages: PageTable<V>,
    other: HashMap<MsgKey, V>,
    len: usize,
}

impl<V> Default for MessageMap<V> {
    fn default() -> Self {
        MessageMap {
            prefixes: HashMap::new(),
            names: Vec::new(),
            pages: PageTable::default(),
            other: HashMap::new(),
            len: 0,
        }
    }
}

/// The id of an entry, as [`MessageMap::iter`] gives it.
#[derive(Debug, Clone, Copy)]
pub enum MessageId<'a> {
    /// `{prefix}-{k}`.
    Generated(&'a str, u64),
    /// Any other id.
    Other(&'a MsgKey),
}

impl MessageId<'_> {
    /// The id as text.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            MessageId::Generated(prefix, k) => Cow::Owned(format!("{prefix}-{k}")),
            MessageId::Other(key) => key.to_text(),
        }
    }
}

impl<V: Default> MessageMap<V> {
    /// The value of `id`, made with `V::default()` if it had none.
    pub fn entry(&mut self, id: &str) -> &mut V {
        let Some((prefix, k)) = split_generated(id) else {
            let len = &mut self.len;
            return self.other.entry(MsgKey::new(id)).or_insert_with(|| {
                *len += 1;
                V::default()
            });
        };
        let p = match self.prefix_number(prefix) {
            Some(p) => p,
            None => {
                let p = self.names.len();
                self.prefixes.insert(prefix.into(), p);
                self.names.push(prefix.into());
                p
            }
        };
        let page = self.pages.entry((p, k / PAGE)).or_insert_with(|| {
            Box::new(Page {
                present: 0,
                values: std::array::from_fn(|_| V::default()),
            })
        });
        let bit = 1u64 << (k % PAGE);
        if page.present & bit == 0 {
            page.present |= bit;
            self.len += 1;
        }
        &mut page.values[(k % PAGE) as usize]
    }
}

impl<V> MessageMap<V> {
    /// The value of `id`, if it has one.
    pub fn get(&self, id: &str) -> Option<&V> {
        let Some((prefix, k)) = split_generated(id) else {
            return self.other.get(id.as_bytes());
        };
        let p = self.prefix_number(prefix)?;
        let page = self.pages.get(&(p, k / PAGE))?;
        (page.present & (1u64 << (k % PAGE)) != 0).then(|| &page.values[(k % PAGE) as usize])
    }

    /// The number of `prefix`, if it has one (see [`FEW_PREFIXES`]).
    fn prefix_number(&self, prefix: &str) -> Option<usize> {
        if self.names.len() <= FEW_PREFIXES {
            self.names.iter().position(|name| **name == *prefix)
        } else {
            self.prefixes.get(prefix).copied()
        }
    }

    /// Whether `id` has a value.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// How many ids have a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no id has a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every id with its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (MessageId<'_>, &V)> {
        let generated = self.pages.iter().flat_map(move |(&(p, n), page)| {
            let prefix: &str = &self.names[p];
            (0..PAGE)
                .filter(move |i| page.present & (1u64 << i) != 0)
                .map(move |i| {
                    (
                        MessageId::Generated(prefix, n * PAGE + i),
                        &page.values[i as usize],
                    )
                })
        });
        let other = self.other.iter().map(|(k, v)| (MessageId::Other(k), v));
        generated.chain(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn generated_ids_split_and_others_do_not() {
        assert_eq!(split_generated("day-0"), Some(("day", 0)));
        assert_eq!(split_generated("a-b-120"), Some(("a-b", 120)));
        assert_eq!(split_generated("-7"), Some(("", 7)));
        for id in [
            "day",
            "day-",
            "day-01",
            "day-+1",
            "day-1x",
            "day-99999999999999999999",
        ] {
            assert_eq!(split_generated(id), None, "{id}");
        }
    }

    /// Past [`FEW_PREFIXES`] prefixes are found through their table, those numbered before
    /// it too.
    #[test]
    fn many_prefixes_keep_their_values() {
        let mut map: MessageMap<u64> = MessageMap::default();
        let id = |p: usize, k: u64| format!("stream{p}-{k}");
        for round in 0..2 {
            for p in 0..3 * FEW_PREFIXES {
                for k in (0..300).step_by(7) {
                    *map.entry(&id(p, k)) += k + 1 + round;
                }
            }
        }
        let per_prefix = (0..300).step_by(7).count();
        assert_eq!(map.len(), 3 * FEW_PREFIXES * per_prefix);
        for p in 0..3 * FEW_PREFIXES {
            for k in 0..300 {
                let want = (k % 7 == 0).then_some(2 * (k + 1) + 1);
                assert_eq!(map.get(&id(p, k)).copied(), want, "{}", id(p, k));
            }
        }
        assert_eq!(map.get("stream99-0"), None);
        assert_eq!(map.iter().count(), map.len());
    }

    proptest! {
        /// The map holds what a `BTreeMap<String, _>` holds: ids of both kinds, numbers in
        /// and across pages, leading zeros and the like that only look generated.
        #[test]
        fn holds_what_a_map_of_strings_holds(
            ops in proptest::collection::vec(("[ab]{0,2}-?(0|[1-9][0-9]{0,3}|0[0-9])", 0u8..4), 0..200),
        ) {
            let mut map: MessageMap<u32> = MessageMap::default();
            let mut model: BTreeMap<String, u32> = BTreeMap::new();
            for (id, add) in &ops {
                if *add > 0 {
                    *map.entry(id) += u32::from(*add);
                    *model.entry(id.clone()).or_default() += u32::from(*add);
                }
                prop_assert_eq!(map.get(id), model.get(id));
                prop_assert_eq!(map.contains(id), model.contains_key(id));
            }
            prop_assert_eq!(map.len(), model.len());
            let mut all: Vec<(String, u32)> =
                map.iter().map(|(id, v)| (id.to_text().into_owned(), *v)).collect();
            all.sort();
            prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        }
    }
}
