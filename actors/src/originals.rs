//! The messages the sender has in its queue, as sent, so that the mail server can tell the
//! files in what it stored without taking apart a message it already knows.
//!
//! N3 reads the MD5s of the files in each stored message *as stored*, never what the proxy
//! says it did. Most messages reach the server as they were sent, behind the `Received:`
//! fields of the hops (the proxy's, RFC 5321 §4.4). When the stored bytes are exactly such
//! fields followed by the sent message, byte for byte, the files are the sent message's,
//! known since it was built; anything else — a rewritten message, a changed byte, another
//! header in front, a message the sender no longer has — is taken apart by the same
//! extractor the gateway uses. Parsing each stored message again was a tenth of a
//! simulation's time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use aptsim_core::digest::Md5;

/// A message as sent, and the MD5s of its files as built.
#[derive(Debug, Clone)]
pub struct Original {
    /// The message.
    pub raw: Arc<[u8]>,
    /// Its files' MD5s (archive members, not archives).
    pub files: Arc<[Md5]>,
}

/// The messages in the sender's queue, by id; shared by the sender and the mail server of
/// one world (single-threaded, as the world is). Only looked up, never iterated; ordered
/// all the same, as every map of the simulation is, so that no order can reach the trace
/// (N8).
#[derive(Debug, Clone, Default)]
pub struct Originals(Rc<RefCell<BTreeMap<String, Original>>>);

impl Originals {
    /// The sender queued message `id`.
    pub fn add(&self, id: &str, original: Original) {
        self.0.borrow_mut().insert(id.to_owned(), original);
    }

    /// The sender is done with message `id` (delivered, bounced or given up).
    pub fn remove(&self, id: &str) {
        self.0.borrow_mut().remove(id);
    }

    /// The files of `stored`, if it is message `id` as sent behind `Received:` fields only.
    pub fn files_of(&self, id: &str, stored: &[u8]) -> Option<Arc<[Md5]>> {
        let map = self.0.borrow();
        let original = map.get(id)?;
        let prefix = stored.len().checked_sub(original.raw.len())?;
        (stored[prefix..] == original.raw[..] && only_received_fields(&stored[..prefix]))
            .then(|| original.files.clone())
    }
}

/// True when `block` is whole header fields named `Received`, each line ending in CRLF,
/// continuation lines starting with a space or a tab.
fn only_received_fields(block: &[u8]) -> bool {
    const NAME: &[u8] = b"received:";
    let mut rest = block;
    let mut first = true;
    while !rest.is_empty() {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let line = &rest[..end];
        let continuation = !first && matches!(line.first(), Some(b' ' | b'\t'));
        let field = line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME);
        if !(continuation || field) {
            return false;
        }
        first = false;
        rest = &rest[end + 2..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn originals() -> Originals {
        let o = Originals::default();
        o.add(
            "m1",
            Original {
                raw: Arc::from(&b"From: a\r\nX-Aptsim-Id: m1\r\n\r\nbody\r\n"[..]),
                files: Arc::from(vec![Md5::of(b"file")]),
            },
        );
        o
    }

    #[test]
    fn a_message_as_sent_behind_received_fields_has_its_files() {
        let o = originals();
        let sent = b"From: a\r\nX-Aptsim-Id: m1\r\n\r\nbody\r\n";
        assert!(o.files_of("m1", sent).is_some());
        let behind = [
            &b"Received: from x\r\n\tby y; Mon, 1 Jan 2024\r\nreceived: from z\r\n"[..],
            sent,
        ]
        .concat();
        assert_eq!(o.files_of("m1", &behind).map(|f| f.len()), Some(1));
    }

    #[test]
    fn anything_else_is_taken_apart() {
        let o = originals();
        let sent = &b"From: a\r\nX-Aptsim-Id: m1\r\n\r\nbody\r\n"[..];
        let changed = b"From: a\r\nX-Aptsim-Id: m1\r\n\r\nbodY\r\n";
        assert!(o.files_of("m1", changed).is_none(), "a changed byte");
        let other_field = [&b"Content-Type: text/plain\r\n"[..], sent].concat();
        assert!(
            o.files_of("m1", &other_field).is_none(),
            "another field in front"
        );
        let continuation_first = [&b" folded\r\n"[..], sent].concat();
        assert!(o.files_of("m1", &continuation_first).is_none());
        let bare_lf = [&b"Received: x\n"[..], sent].concat();
        assert!(
            o.files_of("m1", &bare_lf).is_none(),
            "not a whole CRLF line"
        );
        assert!(
            o.files_of("m2", sent).is_none(),
            "a message the sender does not have"
        );
        o.remove("m1");
        assert!(
            o.files_of("m1", sent).is_none(),
            "once the sender is done with it"
        );
    }
}
