//! `dot_stuff_after` copies the text between line ends in whole pieces; it must write what
//! the plain definition writes, line by line: every line CRLF-ended (one CR of a line's own
//! is its line end's), a leading dot doubled, a final CRLF when missing, then the `.` line.
//! Checked on arbitrary bytes rich in CR, LF and dots, and read back by the receiver.

use aptsim_core::smtp::wire::data::{DataReceiver, dot_stuff_after};
use proptest::prelude::*;

/// The definition, one line at a time.
fn by_lines(header: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    if !message.is_empty() {
        let body = message.strip_suffix(b"\n").unwrap_or(message);
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Bytes where line ends and dots are common.
fn text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'.'),
            Just(b'a'),
            any::<u8>()
        ],
        0..200,
    )
}

proptest! {
    #[test]
    fn writes_what_the_line_by_line_definition_writes(message in text()) {
        let header = b"Received: from x\r\n";
        prop_assert_eq!(dot_stuff_after(header, &message), by_lines(header, &message));
        prop_assert_eq!(dot_stuff_after(&[], &message), by_lines(&[], &message));
    }

    #[test]
    fn what_it_writes_ends_once_and_reads_back_with_crlf_lines(message in text()) {
        let wire = dot_stuff_after(&[], &message);
        let mut receiver = DataReceiver::new(1 << 20);
        let (used, done) = receiver.ingest(&wire);
        prop_assert!(done);
        prop_assert_eq!(used, wire.len(), "the data ends at the terminating line only");
    }
}

#[test]
fn the_shapes_that_need_a_change_are_changed() {
    let cases: [(&[u8], &[u8]); 9] = [
        (b"", b".\r\n"),
        (b"\n", b"\r\n.\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\nb", b"a\r\nb\r\n.\r\n"),
        (b".a\r\n.\r\n", b"..a\r\n..\r\n.\r\n"),
        (b"x\n\r\n", b"x\r\n\r\n.\r\n"),
        (b"abc\n\r", b"abc\r\n\r\n.\r\n"),
        (b"a\r\r\n", b"a\r\r\n.\r\n"),
        (b"\n.\n", b"\r\n..\r\n.\r\n"),
    ];
    for (message, wire) in cases {
        assert_eq!(
            dot_stuff_after(&[], message),
            wire,
            "{:?}",
            String::from_utf8_lossy(message)
        );
    }
}
