//! Test messages and times shared by the test crates of `core` and `peers` (which include
//! this file by path): mail-builder messages with attachments, distinct contents, seconds.

use aptsim_core::clock::Timestamp;
use mail_builder::MessageBuilder;
use mail_builder::mime::MimePart;

/// A message with a text body and these attachments (name, bytes).
pub fn message(attachments: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut parts = vec![MimePart::new("text/plain", "See attached.")];
    for (name, bytes) in attachments {
        parts.push(
            MimePart::new("application/octet-stream", bytes.clone()).attachment(name.to_string()),
        );
    }
    MessageBuilder::new()
        .from(("Alice", "alice@example.com"))
        .to(("Bob", "bob@example.net"))
        .subject("Report")
        .message_id("m1@example.com")
        .date(1_700_000_000_i64)
        .body(MimePart::new("multipart/mixed", parts))
        .write_to_vec()
        .expect("writing to a Vec cannot fail")
}

/// Distinct file contents, `n` bytes each.
pub fn content(tag: &str, n: usize) -> Vec<u8> {
    tag.bytes().cycle().take(n.max(tag.len())).collect()
}

pub fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(secs * 1_000)
}
