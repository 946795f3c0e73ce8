//! What the builder remembers of the files it has put into messages, in each thread: a
//! file's MD5 and, for a file carried on its own (not in an archive), its body as the base64
//! text of its MIME part.
//!
//! Traffic with a pool sends each file again and again. Hashing its bytes for every message
//! was a twentieth of a simulation carrying a file in each; making the bytes and encoding
//! them again was another twentieth of a day of mail. A file's bytes are a pure function of
//! its name and size (or the test file), so that is the key, and a remembered body is the
//! very text mail-builder would have written.
//!
//! Bounded twice: by files, and by the bytes of the bodies kept. When either is full the
//! memo starts again, so traffic whose files never repeat costs one copy per file, never
//! memory that grows with the run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use aptsim_core::digest::Md5;

use crate::format::AttachmentSpec;

/// Files remembered at most.
const FILES: usize = 1 << 16;
/// Bytes of base64 bodies kept at most.
const BODY_BYTES: usize = 32 << 20;

/// A file as the messages carry it.
#[derive(Debug, Clone)]
pub(crate) struct Carried {
    /// The MD5 of its bytes.
    pub md5: Md5,
    /// Its base64 body (lines of 76 characters, each ended by CRLF), once a message has
    /// carried it on its own.
    pub base64: Option<Rc<[u8]>>,
}

/// One remembered file: what its bytes were made from, and what was made of them.
struct Entry {
    size: usize,
    test_file: bool,
    carried: Carried,
}

#[derive(Default)]
struct Memo {
    /// Name → file. Only looked up, never walked: its hash order cannot reach a message
    /// or a trace (N8).
    files: HashMap<String, Entry>,
    body_bytes: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

fn is_test_file(spec: &AttachmentSpec) -> bool {
    spec.content.as_deref() == Some("eicar")
}

/// What is remembered of `spec`'s file, if it is the same file (same size, same content).
pub(crate) fn recall(spec: &AttachmentSpec) -> Option<Carried> {
    MEMO.with_borrow(|memo| {
        memo.files
            .get(spec.name.as_str())
            .filter(|e| (e.size, e.test_file) == (spec.size, is_test_file(spec)))
            .map(|e| e.carried.clone())
    })
}

/// Remembers `carried` for `spec`'s file, in place of what was remembered before.
pub(crate) fn remember(spec: &AttachmentSpec, carried: Carried) {
    MEMO.with_borrow_mut(|memo| {
        let body = carried.base64.as_ref().map_or(0, |b| b.len());
        if memo.files.len() >= FILES || memo.body_bytes + body > BODY_BYTES {
            *memo = Memo::default();
        }
        memo.body_bytes += body;
        let entry = Entry {
            size: spec.size,
            test_file: is_test_file(spec),
            carried,
        };
        if let Some(old) = memo.files.insert(spec.name.clone(), entry) {
            memo.body_bytes -= old.carried.base64.map_or(0, |b| b.len());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, size: usize) -> AttachmentSpec {
        AttachmentSpec {
            name: name.to_owned(),
            size,
            level: None,
            score: None,
            analysis: None,
            content: None,
            archive: None,
        }
    }

    fn carried(byte: u8, body: usize) -> Carried {
        Carried {
            md5: Md5::of(&[byte]),
            base64: Some(vec![b'A'; body].into()),
        }
    }

    #[test]
    fn a_file_is_recalled_only_with_its_size_and_content() {
        remember(&spec("memo-a", 10), carried(1, 4));
        assert_eq!(
            recall(&spec("memo-a", 10)).map(|c| c.md5),
            Some(Md5::of(&[1]))
        );
        assert!(recall(&spec("memo-a", 11)).is_none());
        let mut test_file = spec("memo-a", 10);
        test_file.content = Some("eicar".into());
        assert!(recall(&test_file).is_none());
    }

    #[test]
    fn bodies_are_bounded_by_their_bytes() {
        let big = BODY_BYTES / 3 + 1;
        remember(&spec("memo-1", 1), carried(1, big));
        remember(&spec("memo-2", 1), carried(2, big));
        assert!(recall(&spec("memo-1", 1)).is_some());
        // A third would pass the bound: the memo starts again with it alone.
        remember(&spec("memo-3", 1), carried(3, big));
        assert!(recall(&spec("memo-1", 1)).is_none());
        assert!(recall(&spec("memo-3", 1)).is_some());
        MEMO.with_borrow(|m| assert_eq!(m.body_bytes, big));
        // Remembering a file again replaces its body, and its bytes are counted once.
        remember(&spec("memo-3", 1), carried(3, 10));
        MEMO.with_borrow(|m| assert_eq!(m.body_bytes, 10));
    }
}
