//! A message id as a map key that keeps short ids inside the map's own table.
//!
//! With `String` keys each entry of a map by message id is also a small block of its own
//! on the heap, and every comparison follows a pointer to it. An id of up to [`INLINE`]
//! bytes — every id the scenarios generate — is kept in the key itself, a longer one on the
//! heap. The metrics key the messages in flight by it, and [`crate::message_map`] the ids
//! no traffic stream generated. Keys compare as their text does, byte by byte, so a list
//! of them sorts as the ids would (the checks report the messages they find wrong in id
//! order); maps of them are searched with the id's bytes (`map.get(id.as_bytes())`).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

/// The longest id kept inline: with the length and the variant, the key is 24 bytes, as
/// large as a `String`.
pub const INLINE: usize = 22;

/// A message id, inline when short.
#[derive(Clone)]
pub enum MsgKey {
    /// Up to [`INLINE`] bytes of text, the rest zero.
    Inline {
        /// How many bytes of `bytes` are the id.
        len: u8,
        /// The id's bytes.
        bytes: [u8; INLINE],
    },
    /// A longer id.
    Heap(Box<str>),
}

impl MsgKey {
    /// The key of `id`.
    pub fn new(id: &str) -> Self {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                MsgKey::Inline { len, bytes }
            }
            _ => MsgKey::Heap(id.into()),
        }
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            MsgKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            MsgKey::Heap(id) => id.as_bytes(),
        }
    }

    /// The id. Checks the bytes again (they were a `str` when the key was made), so meant
    /// for reports, not for searching.
    pub fn to_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }
}

impl PartialEq for MsgKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MsgKey {}

impl PartialOrd for MsgKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MsgKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for MsgKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `Borrow<[u8]>` keeps its promise.
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for MsgKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn short_ids_are_inline_long_ones_on_the_heap_and_both_read_back() {
        assert_eq!(std::mem::size_of::<MsgKey>(), std::mem::size_of::<String>());
        let short = "plain-799999";
        let edge = "a".repeat(INLINE);
        let long = "b".repeat(INLINE + 1);
        assert!(matches!(MsgKey::new(short), MsgKey::Inline { .. }));
        assert!(matches!(MsgKey::new(&edge), MsgKey::Inline { .. }));
        assert!(matches!(MsgKey::new(&long), MsgKey::Heap(_)));
        for id in [short, &edge, &long, "", "ünïcødé-ид"] {
            let key = MsgKey::new(id);
            assert_eq!(key.as_bytes(), id.as_bytes());
            assert_eq!(key.to_string(), id);
            assert_eq!(format!("{key:?}"), format!("{id:?}"));
        }
    }

    proptest! {
        /// A map of keys holds the same ids in the same order as a map of `String`s, and
        /// finds each by its bytes.
        #[test]
        fn orders_and_finds_as_strings_do(ids in proptest::collection::vec("\\PC{0,30}", 0..40)) {
            let strings: BTreeSet<String> = ids.iter().cloned().collect();
            let keys: BTreeMap<MsgKey, usize> =
                ids.iter().enumerate().map(|(i, id)| (MsgKey::new(id), i)).collect();
            let in_order: Vec<String> = keys.keys().map(|k| k.to_string()).collect();
            prop_assert_eq!(in_order, strings.iter().cloned().collect::<Vec<_>>());
            for id in &ids {
                prop_assert!(keys.contains_key(id.as_bytes()));
            }
            for (a, b) in ids.iter().zip(ids.iter().skip(1)) {
                prop_assert_eq!(MsgKey::new(a).cmp(&MsgKey::new(b)), a.cmp(b));
                prop_assert_eq!(MsgKey::new(a) == MsgKey::new(b), a == b);
            }
        }
    }
}
