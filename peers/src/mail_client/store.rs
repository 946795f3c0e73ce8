//! What a mail client has on its device: the messages it knows of (UID and the size its
//! listing gave), what it downloaded (bytes per message, sections per part) and how many
//! attempts each download took. It outlives connections and restarts.

use std::collections::BTreeMap;

use super::events::{ClientEvent, MessageKey};

/// A message on the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloaded {
    /// The whole message, when it was fetched whole (in one piece, in chunks, or as
    /// fetchmail's header and text). `None` for a K-9 message fetched by parts.
    pub message: Option<Vec<u8>>,
    /// Sections fetched one by one (K-9): part number (or `TEXT`) → bytes.
    pub parts: BTreeMap<String, Vec<u8>>,
    /// The last `RFC822.SIZE` the server gave for it.
    pub size: Option<u32>,
    /// Download attempts of the message (not of its attachment sections).
    pub attempts: u32,
}

/// A large message's parts as K-9 reads them from `BODYSTRUCTURE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Text parts shown with the message (`text/plain`, `text/html`, not attachments).
    pub text: Vec<String>,
    /// The other leaves: attachments, fetched when the user opens them.
    pub attachments: Vec<String>,
}

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub(super) struct Store {
    /// UID → `RFC822.SIZE` from a listing (if it had one).
    known: BTreeMap<u32, Option<u32>>,
    downloaded: BTreeMap<MessageKey, Downloaded>,
    attempts: BTreeMap<MessageKey, u32>,
    part_attempts: BTreeMap<(u32, String), u32>,
    layouts: BTreeMap<u32, Layout>,
}

impl Store {
    /// A listing named `uid` (with its size, if it gave one).
    pub fn know(&mut self, uid: u32, size: Option<u32>) {
        let entry = self.known.entry(uid).or_insert(None);
        if size.is_some() {
            *entry = size;
        }
    }

    /// The size a listing gave for `uid`.
    pub fn known_size(&self, uid: u32) -> Option<u32> {
        self.known.get(&uid).copied().flatten()
    }

    /// The highest UID known.
    pub fn max_known(&self) -> Option<u32> {
        self.known.keys().next_back().copied()
    }

    /// Known messages not downloaded yet, by UID, with their sizes.
    pub fn missing(&self) -> Vec<(u32, Option<u32>)> {
        self.known
            .iter()
            .filter(|(uid, _)| !self.downloaded.contains_key(&MessageKey::Uid(**uid)))
            .map(|(uid, size)| (*uid, *size))
            .collect()
    }

    /// Whether the message is on the device.
    pub fn has(&self, key: MessageKey) -> bool {
        self.downloaded.contains_key(&key)
    }

    /// Everything downloaded.
    pub fn downloaded(&self) -> &BTreeMap<MessageKey, Downloaded> {
        &self.downloaded
    }

    /// Counts a download attempt of `key`; returns the count.
    pub fn attempt(&mut self, key: MessageKey) -> u32 {
        let n = self.attempts.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    /// Keeps a whole message.
    pub fn complete(&mut self, key: MessageKey, bytes: Vec<u8>, size: Option<u32>) -> ClientEvent {
        let attempts = self.attempts.get(&key).copied().unwrap_or(1);
        let event = ClientEvent::Fetched {
            key,
            bytes: bytes.len(),
            attempts,
        };
        let entry = self.downloaded.entry(key).or_default();
        entry.message = Some(bytes);
        entry.size = size.or(entry.size);
        entry.attempts = attempts;
        event
    }

    /// Keeps a message fetched as its text parts (K-9).
    pub fn complete_parts(
        &mut self,
        uid: u32,
        parts: BTreeMap<String, Vec<u8>>,
        size: Option<u32>,
    ) -> ClientEvent {
        let key = MessageKey::Uid(uid);
        let attempts = self.attempts.get(&key).copied().unwrap_or(1);
        let bytes = parts.values().map(Vec::len).sum();
        let entry = self.downloaded.entry(key).or_default();
        entry.parts.extend(parts);
        entry.size = size.or(entry.size);
        entry.attempts = attempts;
        ClientEvent::Fetched {
            key,
            bytes,
            attempts,
        }
    }

    /// Counts an attempt at one section; returns the count.
    pub fn part_attempt(&mut self, uid: u32, part: &str) -> u32 {
        let n = self
            .part_attempts
            .entry((uid, part.to_owned()))
            .or_insert(0);
        *n += 1;
        *n
    }

    /// Keeps one section (an attachment K-9 fetched on demand).
    pub fn add_part(&mut self, uid: u32, part: &str, bytes: Vec<u8>) -> ClientEvent {
        let attempts = self
            .part_attempts
            .get(&(uid, part.to_owned()))
            .copied()
            .unwrap_or(1);
        let event = ClientEvent::PartFetched {
            uid,
            part: part.to_owned(),
            bytes: bytes.len(),
            attempts,
        };
        let entry = self.downloaded.entry(MessageKey::Uid(uid)).or_default();
        entry.parts.insert(part.to_owned(), bytes);
        event
    }

    /// Whether section `part` of `uid` is on the device.
    pub fn has_part(&self, uid: u32, part: &str) -> bool {
        self.downloaded
            .get(&MessageKey::Uid(uid))
            .is_some_and(|d| d.parts.contains_key(part))
    }

    /// Remembers a message's parts (K-9).
    pub fn set_layout(&mut self, uid: u32, layout: Layout) {
        self.layouts.insert(uid, layout);
    }

    /// A message's parts, if its structure was read.
    pub fn layout(&self, uid: u32) -> Option<&Layout> {
        self.layouts.get(&uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_and_missing() {
        let mut s = Store::default();
        s.know(3, Some(10));
        s.know(1, None);
        s.know(3, None);
        assert_eq!(
            s.known_size(3),
            Some(10),
            "a listing without sizes keeps the old one"
        );
        assert_eq!(s.max_known(), Some(3));
        assert_eq!(s.missing(), vec![(1, None), (3, Some(10))]);
        assert_eq!(s.attempt(MessageKey::Uid(3)), 1);
        assert_eq!(s.attempt(MessageKey::Uid(3)), 2);
        let e = s.complete(MessageKey::Uid(3), b"abc".to_vec(), Some(3));
        assert_eq!(
            e,
            ClientEvent::Fetched {
                key: MessageKey::Uid(3),
                bytes: 3,
                attempts: 2
            }
        );
        assert_eq!(s.missing(), vec![(1, None)]);
        assert!(s.has(MessageKey::Uid(3)) && !s.has(MessageKey::Seq(3)));
        s.part_attempt(1, "2");
        let e = s.add_part(1, "2", b"zz".to_vec());
        assert!(matches!(
            e,
            ClientEvent::PartFetched {
                attempts: 1,
                bytes: 2,
                ..
            }
        ));
        assert!(s.has_part(1, "2") && !s.has_part(1, "1"));
    }
}
