//! Sending message data on after `DATA` (RFC 5321 §4.5.2): every line end CRLF, a leading
//! dot doubled, the terminating `.` line. What the proxy relays it writes itself in this
//! canonical form, so no server behind it can be made to see two messages (see
//! [`super::data`] for the reading side and why smuggling cannot pass).

/// The message as sent after `DATA`: every line end CRLF, lines starting with `.` doubled,
/// a final CRLF if missing, and the terminating `.` line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    dot_stuff_after(&[], message)
}

/// As [`dot_stuff`], with `header` in front of the message: header lines the proxy adds
/// (its `Received:`), which go out as they are. So the message is read once, not copied
/// first to put them in front. `header` is the proxy's own text — CRLF-ended lines, none
/// starting with `.` — which is checked in debug builds.
pub fn dot_stuff_after(header: &[u8], message: &[u8]) -> Vec<u8> {
    debug_assert!(
        plain_lines(header),
        "a header to prepend must be CRLF lines not starting with a dot"
    );
    let mut out = Vec::with_capacity(header.len() + message.len() + message.len() / 64 + 5);
    out.extend_from_slice(header);
    if !message.is_empty() {
        // A final line end closes the last line; it does not open an empty one.
        let body = message.strip_suffix(b"\n").unwrap_or(message);
        // Each line ends CRLF and a leading dot is doubled. Most messages need neither
        // change anywhere, so the line ends are found with `memchr` and the text between two
        // changes is copied in one piece: a few instructions per line, not per byte.
        let mut copied = 0;
        if body.first() == Some(&b'.') {
            out.push(b'.');
        }
        for lf in memchr::memchr_iter(b'\n', body) {
            if lf == 0 || body[lf - 1] != b'\r' {
                // A bare LF: the CR goes in before it.
                out.extend_from_slice(&body[copied..lf]);
                out.push(b'\r');
                copied = lf;
            }
            if body.get(lf + 1) == Some(&b'.') {
                out.extend_from_slice(&body[copied..=lf]);
                out.push(b'.');
                copied = lf + 1;
            }
        }
        out.extend_from_slice(&body[copied..]);
        // The last line: a CR of its own is its line end's, else the whole CRLF is added.
        if body.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// True if `text` is whole CRLF-ended lines with no other CR or LF and none starting with
/// `.`: bytes that go out after `DATA` unchanged and cannot end the data.
fn plain_lines(text: &[u8]) -> bool {
    let mut rest = text;
    while !rest.is_empty() {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let line = &rest[..end];
        if line.first() == Some(&b'.') || line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return false;
        }
        rest = &rest[end + 2..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_goes_in_front_unchanged() {
        let header = b"Received: from a\r\n\tby b;\r\n\tThu, 01 Jan 2026 00:00:00 +0000\r\n";
        let wire = dot_stuff_after(header, b".dot\nbody\n");
        let mut expected = header.to_vec();
        expected.extend_from_slice(b"..dot\r\nbody\r\n.\r\n");
        assert_eq!(wire, expected);
        assert_eq!(dot_stuff_after(header, b"").len(), header.len() + 3);
    }

    #[test]
    fn plain_lines_are_whole_crlf_lines_without_a_leading_dot() {
        assert!(plain_lines(b""));
        assert!(plain_lines(b"a\r\n\tb\r\n"));
        for bad in [&b"a"[..], b"a\n", b"a\r\n.b\r\n", b"a\rb\r\n", b"a\nb\r\n"] {
            assert!(!plain_lines(bad), "{bad:?}");
        }
    }
}
