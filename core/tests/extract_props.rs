//! Property: a message built by mail-builder with random attachments (random bytes and
//! names, some zipped, some inside an attached message) yields exactly those files, with the
//! right names and MD5s, whatever the line-end style, and the same files whether or not their
//! contents are kept (without contents, plain attachments are hashed as they are decoded and
//! their bytes dropped; some files are large enough for that).

use std::io::Write;

use aptsim_core::digest::Md5;
use aptsim_core::mime::{self, MimeLimits};
use mail_builder::MessageBuilder;
use mail_builder::mime::MimePart;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Item {
    File {
        name: String,
        bytes: Vec<u8>,
    },
    Zip {
        name: String,
        members: Vec<(String, Vec<u8>)>,
    },
    Forwarded(Vec<(String, Vec<u8>)>),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,12}\\.(pdf|docx|bin|txt)",
        "[A-Za-z0-9 _-]{1,20}\\.(xlsx|exe)",
        Just("Prüfbericht März.pdf".to_owned()),
        Just("報告書.docx".to_owned()),
        Just("a;b=\"c\".bin".to_owned()),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    // Starts with a byte that no archive magic starts with, so a random file is never
    // mistaken for a zip, gzip or tar. One in ten is past the 24 KiB that base64 decoding
    // hashes in its first round, where bytes that are no archive are dropped.
    let len = prop_oneof![9 => 0..2_000usize, 1 => 24_000..40_000usize];
    len.prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
        .prop_map(|mut b| {
            b.insert(0, b'#');
            b
        })
}

fn item() -> impl Strategy<Value = Item> {
    let members = proptest::collection::vec(("[a-z]{1,8}/?[a-z]{1,8}\\.dat", bytes()), 1..4);
    prop_oneof![
        4 => (name(), bytes()).prop_map(|(name, bytes)| Item::File { name, bytes }),
        1 => ("[a-z]{1,8}\\.zip", members).prop_map(|(name, members)| Item::Zip { name, members }),
        1 => proptest::collection::vec((name(), bytes()), 0..3).prop_map(Item::Forwarded),
    ]
}

fn zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in members {
        w.start_file(name.as_str(), options).expect("zip entry");
        w.write_all(bytes).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

fn attachment(name: &str, bytes: Vec<u8>) -> MimePart<'static> {
    MimePart::new("application/octet-stream", bytes).attachment(name.to_owned())
}

/// What extraction should find: name, MD5, containing archive.
type Expected = Vec<(String, Md5, Option<String>)>;

fn build(items: &[Item]) -> (Vec<u8>, Expected) {
    let mut parts = vec![MimePart::new("text/plain", "body")];
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::File { name, bytes } => {
                parts.push(attachment(name, bytes.clone()));
                expected.push((name.clone(), Md5::of(bytes), None));
            }
            Item::Zip { name, members } => {
                parts.push(attachment(name, zip(members)));
                // Later members with the same path shadow nothing: zip keeps both entries.
                for (member, bytes) in members {
                    expected.push((member.clone(), Md5::of(bytes), Some(name.clone())));
                }
            }
            Item::Forwarded(files) => {
                let mut inner = vec![MimePart::new("text/plain", "inner")];
                for (name, bytes) in files {
                    inner.push(attachment(name, bytes.clone()));
                    expected.push((name.clone(), Md5::of(bytes), None));
                }
                let forwarded = MessageBuilder::new()
                    .from("x@example.com")
                    .subject("inner")
                    .body(MimePart::new("multipart/mixed", inner))
                    .write_to_vec()
                    .expect("vec");
                parts.push(MimePart::new("message/rfc822", forwarded).transfer_encoding("7bit"));
            }
        }
    }
    let raw = MessageBuilder::new()
        .from("a@example.com")
        .to("b@example.net")
        .subject("props")
        .body(MimePart::new("multipart/mixed", parts))
        .write_to_vec()
        .expect("vec");
    (raw, expected)
}

fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter().peekable();
    while let Some(&b) = it.next() {
        if b == b'\r' && it.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn finds_exactly_the_attached_files(items in proptest::collection::vec(item(), 0..8)) {
        let (raw, expected) = build(&items);
        // Base64 bodies do not change with line ends, so both styles give the same files.
        for raw in [raw.clone(), to_lf(&raw)] {
            let x = mime::extract(&raw, &MimeLimits::default());
            prop_assert!(x.malformed.is_empty(), "{:?}", x.malformed);
            let found: Expected =
                x.files.iter().map(|f| (f.name.clone(), f.md5, f.archive.clone())).collect();
            prop_assert_eq!(found, expected.clone());
            // Keeping contents changes nothing else, and each content is what was hashed.
            let kept = mime::extract_with_contents(&raw, &MimeLimits::default());
            let without: Vec<_> = kept.files.iter().cloned().map(|f| mime::File { content: None, ..f }).collect();
            prop_assert_eq!(&without, &x.files);
            prop_assert_eq!(&kept.attachments, &x.attachments);
            for f in &kept.files {
                let content = f.content.as_deref().unwrap_or_default();
                prop_assert_eq!((content.len() as u64, Md5::of(content)), (f.size, f.md5));
            }
        }
    }
}
