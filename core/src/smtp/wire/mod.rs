//! The SMTP wire format, as both sides of a proxy read and write it.
//!
//! - [`command`]: command lines (RFC 5321 §4.1) and the reader that splits a client's
//!   stream into them.
//! - [`reply`]: replies, written and parsed incrementally (RFC 5321 §4.2).
//! - [`data`]: message data after DATA: dot-unstuffing, strict line ends, size and line
//!   limits; and the dot-stuffed form sent on (written in `dot_stuff`, re-exported there).
//! - [`date`]: dates as mail headers write them (RFC 5322), for the proxy's `Received:`.

pub mod command;
pub mod data;
pub mod date;
mod dot_stuff;
pub mod reply;

use std::borrow::Cow;

/// A line of the dialogue as text: as it is when it is UTF-8 (every line of well-behaved
/// mail software, checked by the standard library's fast validation), else with each
/// invalid sequence replaced by U+FFFD.
pub fn text(line: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_borrows_utf8_and_replaces_what_is_not() {
        assert!(matches!(
            text(b"250 ok \xc3\xa9"),
            Cow::Borrowed("250 ok é")
        ));
        assert_eq!(text(b"MAIL FROM:<\xff>"), "MAIL FROM:<\u{fffd}>");
    }
}
