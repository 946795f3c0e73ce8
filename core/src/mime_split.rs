//! MIME structure at memory speed: where each entity's headers and body are, and where the
//! parts of a multipart begin and end (RFC 2046 §5.1.1).
//!
//! Header blocks are parsed by mail-parser (`parse_headers`: RFC 2047/2231 names, folding,
//! 8-bit junk — its proven code), but bodies are never walked byte by byte: delimiters are
//! found with `memchr::memmem` (SIMD), so a 10 MB base64 attachment costs one fast search
//! rather than a byte loop. This is what keeps the attachment pipeline near raw MD5 speed
//! (docs/performance.md).

use std::ops::Range;

use mail_parser::{Message, MessageParser};

/// One entity (a message or a body part): its parsed headers and where its body is.
pub(crate) struct Entity<'a> {
    /// Header fields, as mail-parser reads them; `None` when the block holds none.
    pub headers: Option<Message<'a>>,
    /// The entity's body, absolute in the buffer.
    pub body: Range<usize>,
}

/// Parses the header block at the start of `buf[range]`.
pub(crate) fn entity<'a>(parser: &MessageParser, buf: &'a [u8], range: Range<usize>) -> Entity<'a> {
    let bytes = &buf[range.clone()];
    let end = header_end(bytes);
    let headers = parser
        .parse_headers(&bytes[..end])
        .filter(|m| m.parts.first().is_some_and(|p| !p.headers.is_empty()));
    Entity {
        headers,
        body: range.start + end..range.end,
    }
}

/// Where the header block ends: just after the first empty line (CRLF or bare LF), or at the
/// end when there is none. An entity starting with an empty line has no headers.
fn header_end(bytes: &[u8]) -> usize {
    if bytes.starts_with(b"\r\n") {
        return 2;
    }
    if bytes.starts_with(b"\n") {
        return 1;
    }
    for i in memchr::memchr_iter(b'\n', bytes) {
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'\n'), _) => return i + 2,
            (Some(b'\r'), Some(b'\n')) => return i + 3,
            _ => {}
        }
    }
    bytes.len()
}

/// The parts of a multipart body, and whether its closing delimiter came.
pub(crate) struct Split {
    /// Each part's bytes (headers and body), absolute, without the line end that belongs to
    /// the next delimiter.
    pub parts: Vec<Range<usize>>,
    /// True when the close delimiter (`--boundary--`) was found.
    pub terminated: bool,
}

/// Splits `buf[body]` on `boundary`.
///
/// A delimiter is `--boundary` at the start of a line, followed by `--` (the close
/// delimiter) or by optional white space and the line end. A longer boundary that merely
/// starts with this one is not a delimiter, so nested multiparts whose boundaries share a
/// prefix stay apart. Text before the first delimiter (preamble) and after the close
/// delimiter (epilogue) belongs to no part. Without a close delimiter the last part runs to
/// the end of the body.
pub(crate) fn split(buf: &[u8], body: Range<usize>, boundary: &[u8]) -> Split {
    let mut needle = Vec::with_capacity(boundary.len() + 2);
    needle.extend_from_slice(b"--");
    needle.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&needle);
    let hay = &buf[body.clone()];
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut from = 0;
    while let Some(i) = finder.find(&hay[from..]) {
        let at = from + i;
        from = at + 1;
        if at > 0 && hay[at - 1] != b'\n' {
            continue;
        }
        let after = at + needle.len();
        let close = hay.get(after..after + 2) == Some(b"--");
        let rest_start = if close { after + 2 } else { after };
        // Transport padding, then the line end (or the end of the body).
        let mut k = rest_start;
        while matches!(hay.get(k), Some(b' ' | b'\t')) {
            k += 1;
        }
        let line_end = match (hay.get(k), hay.get(k + 1)) {
            (None, _) => k,
            (Some(b'\n'), _) => k + 1,
            (Some(b'\r'), Some(b'\n')) => k + 2,
            // The close delimiter may be followed by anything on its line.
            _ if close => k,
            _ => continue,
        };
        if let Some(start) = open.take() {
            // The line end before the delimiter belongs to the delimiter.
            let mut end = at;
            if end > start && hay[end - 1] == b'\n' {
                end -= 1;
                if end > start && hay[end - 1] == b'\r' {
                    end -= 1;
                }
            }
            parts.push(body.start + start..body.start + end.max(start));
        }
        if close {
            return Split {
                parts,
                terminated: true,
            };
        }
        open = Some(line_end);
        from = line_end.max(from);
    }
    if let Some(start) = open {
        parts.push(body.start + start..body.end);
    }
    Split {
        parts,
        terminated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(buf: &'a [u8], s: &Split) -> Vec<&'a str> {
        s.parts
            .iter()
            .map(|r| std::str::from_utf8(&buf[r.clone()]).unwrap_or("?"))
            .collect()
    }

    #[test]
    fn splits_on_delimiters_at_line_start() {
        let b =
            b"preamble\r\n--XY\r\nA: 1\r\n\r\none\r\n--XY  \r\n\r\ntwo --XY\r\n--XY--\r\nepilogue";
        let s = split(b, 0..b.len(), b"XY");
        assert!(s.terminated);
        assert_eq!(parts(b, &s), ["A: 1\r\n\r\none", "\r\ntwo --XY"]);
    }

    #[test]
    fn a_longer_boundary_is_not_a_delimiter() {
        let b = b"--ab\n--abc\ninner\n--ab\nsecond\n--ab--\n";
        let s = split(b, 0..b.len(), b"ab");
        assert_eq!(parts(b, &s), ["--abc\ninner", "second"]);
    }

    #[test]
    fn unterminated_runs_to_the_end() {
        let b = b"--B\nx\n--B\ny\n";
        let s = split(b, 0..b.len(), b"B");
        assert!(!s.terminated);
        assert_eq!(parts(b, &s), ["x", "y\n"]);
        let none = split(b"no delimiters here", 0..18, b"B");
        assert!(none.parts.is_empty() && !none.terminated);
    }

    #[test]
    fn entity_finds_the_body() {
        let parser = MessageParser::new().with_mime_headers();
        let b = b"Content-Type: text/plain\r\n\r\nbody";
        let e = entity(&parser, b, 0..b.len());
        assert!(e.headers.is_some());
        assert_eq!(&b[e.body], b"body");
        let bare = b"\r\njust a body";
        let e = entity(&parser, bare, 0..bare.len());
        assert_eq!(&bare[e.body], b"just a body");
    }
}
