//! MIME structure at memory speed: where each entity's headers and body are, and where the
//! parts of a multipart begin and end (RFC 2046 §5.1.1).
//!
//! A plain header block is read by [`super::plain_header`] in one pass; any other is parsed
//! by mail-parser (`parse_headers`: RFC 2047/2231 names, folding, 8-bit junk — its proven
//! code), to the same fields. Bodies are never walked byte by byte: delimiters are
//! found with `memchr::memmem` (SIMD), so a 10 MB base64 attachment costs one fast search
//! rather than a byte loop. The walk finds parts with `parts`, which reads them one at a
//! time by these same rules ([`delimiter_line`], [`part_end`]); [`split`] splits a whole
//! body at once, for the two-pass reference and the tests that hold `parts` to it.

use std::ops::Range;

use mail_parser::MessageParser;

use super::fields::Fields;
use super::header_cost::{HeaderCost, header_cost};
use super::plain_header;
use crate::mime::MimeLimits;
use crate::unscannable::LimitExceeded;

/// One entity (a message or a body part) as the tests read it: its MIME header fields,
/// where its body is, and whether its header block was malformed ([`Shape`]).
#[cfg(test)]
pub(crate) struct Entity<'a> {
    /// The MIME header fields; `None` when the block holds no header field.
    pub fields: Option<Fields<'a>>,
    pub body: Range<usize>,
    pub header_syntax: bool,
}

/// [`entity_into`] with the fields returned beside the rest, as the tests read them.
#[cfg(test)]
pub(crate) fn entity<'a>(
    parser: &MessageParser,
    plain: bool,
    buf: &'a [u8],
    range: Range<usize>,
    limits: &MimeLimits,
    work: &mut u64,
) -> Result<Entity<'a>, LimitExceeded> {
    let mut fields = None;
    let shape = entity_into(parser, plain, buf, range, limits, work, &mut fields)?;
    Ok(Entity {
        fields,
        body: shape.body,
        header_syntax: shape.header_syntax,
    })
}

/// Where an entity's body is, and how its header block ended (see [`entity_into`]).
pub(crate) struct Shape {
    /// The entity's body, absolute in the buffer.
    pub body: Range<usize>,
    /// The header block held a line that is not a header field, or lacked the empty line
    /// that ends it.
    pub header_syntax: bool,
    /// No empty line ended the block: it stopped at a line that is no header field, where
    /// the body starts.
    pub unended: bool,
}

/// Parses the header block at the start of `buf[range]` into `fields` (`None` when the
/// block holds no header field) and says where the body is; or says which limit keeps it
/// from the header parser: a block over `max_header_bytes`, a MIME field with more than
/// `max_parameters` parameters, or header parsing that would cost more than is left of
/// `work` (the message's budget, see [`super::header_cost`]). All are measured in one linear pass
/// before mail-parser sees the block, so that the cost of an entity stays linear in its size.
///
/// With `plain`, a plain block ([`plain_header`]) is read without mail-parser, to the same
/// fields and under the same limits; without, mail-parser reads every block (the reference).
/// The fields go where the caller keeps them: the walk has a plain block's read in place
/// rather than moved, a few hundred bytes, from frame to frame.
pub(crate) fn entity_into<'a>(
    parser: &MessageParser,
    plain: bool,
    buf: &'a [u8],
    range: Range<usize>,
    limits: &MimeLimits,
    work: &mut u64,
    fields: &mut Option<Fields<'a>>,
) -> Result<Shape, LimitExceeded> {
    let bytes = &buf[range.clone()];
    if plain {
        let slot = fields.insert(Fields::default());
        if let Some((cost, body)) = plain_header::read(bytes, limits.max_header_bytes, slot) {
            charge(cost, limits, work)?;
            return Ok(Shape {
                body: range.start + body..range.end,
                header_syntax: false,
                unended: false,
            });
        }
        // Not plain: what the reader took before it gave up is not the block's reading.
        *fields = None;
    }
    let block = header_block(bytes);
    let lines = &bytes[..block.end];
    if lines.len() > limits.max_header_bytes {
        return Err(LimitExceeded::HeaderBytes(limits.max_header_bytes as u64));
    }
    let body = range.start + block.body..range.end;
    charge(header_cost(lines), limits, work)?;
    *fields = parser
        .parse_headers(lines)
        .filter(|m| m.parts.first().is_some_and(|p| !p.headers.is_empty()))
        .map(|m| Fields::from_message(m, lines));
    Ok(Shape {
        body,
        header_syntax: block.syntax,
        unended: block.end == block.body && 0 < block.end && block.end < bytes.len(),
    })
}

/// Takes a header block's cost from the message's work budget, or says which limit it is
/// over.
fn charge(cost: HeaderCost, limits: &MimeLimits, work: &mut u64) -> Result<(), LimitExceeded> {
    if cost.parameters > limits.max_parameters {
        return Err(LimitExceeded::Parameters(limits.max_parameters));
    }
    *work = work
        .checked_sub(cost.work)
        .ok_or(LimitExceeded::ParseWork(cost.work))?;
    Ok(())
}

struct HeaderBlock {
    /// End of the header lines.
    end: usize,
    /// Start of the body (after the empty line, if there is one).
    body: usize,
    /// A line that is not a header field, or no empty line.
    syntax: bool,
}

/// Where the header block of an entity ends.
///
/// Normally at the first empty line; a line inside the block that is not a header field is
/// then skipped as junk (mail-parser's reading, which finds attachments a strict reading
/// would hide). Without any empty line, the block ends at the first line that is not a
/// header field (Python's reading): a part whose body follows its headers directly still
/// has a body. An entity whose first line is no header field has no headers at all.
fn header_block(bytes: &[u8]) -> HeaderBlock {
    let blank = blank_line(bytes);
    let limit = blank.map_or(bytes.len(), |(end, _)| end);
    let mut junk = None;
    let mut at = 0;
    while at < limit {
        let next = memchr::memchr(b'\n', &bytes[at..limit]).map_or(limit, |i| at + i + 1);
        if !is_field_line(&bytes[at..next], at == 0) {
            if at == 0 {
                // Not a header: the whole entity is body.
                return HeaderBlock {
                    end: 0,
                    body: 0,
                    syntax: false,
                };
            }
            junk.get_or_insert(at);
        }
        at = next;
    }
    match (blank, junk) {
        (Some((end, body)), junk) => HeaderBlock {
            end,
            body,
            syntax: junk.is_some(),
        },
        (None, Some(first_junk)) => HeaderBlock {
            end: first_junk,
            body: first_junk,
            syntax: true,
        },
        (None, None) => HeaderBlock {
            end: bytes.len(),
            body: bytes.len(),
            syntax: false,
        },
    }
}

/// The first empty line: (end of the header lines, start of the body).
fn blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.starts_with(b"\r\n") {
        return Some((0, 2));
    }
    if bytes.starts_with(b"\n") {
        return Some((0, 1));
    }
    memchr::memchr_iter(b'\n', bytes).find_map(|i| match (bytes.get(i + 1), bytes.get(i + 2)) {
        (Some(b'\n'), _) => Some((i + 1, i + 2)),
        (Some(b'\r'), Some(b'\n')) => Some((i + 1, i + 3)),
        _ => None,
    })
}

/// A header field line (`Name: value`, the name printable ASCII without spaces), a
/// continuation line (leading white space), or on the first line an mbox `From ` line.
fn is_field_line(line: &[u8], first: bool) -> bool {
    match line.first() {
        Some(b' ' | b'\t') => !first,
        _ if first && line.starts_with(b"From ") => true,
        _ => match line.iter().position(|&b| b == b':') {
            Some(colon) => colon > 0 && line[..colon].iter().all(|b| (33..=126).contains(b)),
            None => false,
        },
    }
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
    // The search is for LF `--boundary`, so that only candidates at the start of a line
    // are ever looked at: a body full of `--boundary` in mid-line (or of a nested
    // multipart's longer boundaries) costs one pass, not one restart per candidate.
    let mut needle = Vec::with_capacity(boundary.len() + 3);
    needle.extend_from_slice(b"\n--");
    needle.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&needle);
    let hay = &buf[body.clone()];
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let delimiter_len = needle.len() - 1;
    // A delimiter may also open the body itself, with no line end before it.
    let first = hay.starts_with(&needle[1..]).then_some(0).into_iter();
    let mut from = 0;
    let candidates = first.chain(std::iter::from_fn(move || {
        let i = finder.find(&hay[from..])?;
        let at = from + i + 1;
        from = at;
        Some(at)
    }));
    for at in candidates {
        let Some((close, line_end)) = delimiter_line(hay, at, delimiter_len) else {
            continue;
        };
        if let Some(start) = open.take() {
            parts.push(body.start + start..body.start + part_end(hay, start, at));
        }
        if close {
            return Split {
                parts,
                terminated: true,
            };
        }
        open = Some(line_end);
    }
    if let Some(start) = open {
        parts.push(body.start + start..body.end);
    }
    Split {
        parts,
        terminated: false,
    }
}

/// Whether `--boundary` at `hay[at..]` (`delimiter_len` bytes) is a delimiter: followed by
/// `--` (the close delimiter), or by transport padding and the line end or the end of the
/// body. `Some((close, where its line ends))` when it is.
pub(crate) fn delimiter_line(hay: &[u8], at: usize, delimiter_len: usize) -> Option<(bool, usize)> {
    let after = at + delimiter_len;
    let close = hay.get(after..after + 2) == Some(b"--");
    let rest_start = if close { after + 2 } else { after };
    // Transport padding, then the line end (or the end of the body).
    let mut k = rest_start;
    while matches!(hay.get(k), Some(b' ' | b'\t')) {
        k += 1;
    }
    match (hay.get(k), hay.get(k + 1)) {
        (None, _) => Some((close, k)),
        (Some(b'\n'), _) => Some((close, k + 1)),
        (Some(b'\r'), Some(b'\n')) => Some((close, k + 2)),
        // The close delimiter may be followed by anything on its line.
        _ if close => Some((close, k)),
        _ => None,
    }
}

/// The end of a part that starts at `start` and is ended by a delimiter at `at`: the line
/// end before the delimiter belongs to the delimiter.
pub(crate) fn part_end(hay: &[u8], start: usize, at: usize) -> usize {
    let mut end = at;
    if end > start && hay[end - 1] == b'\n' {
        end -= 1;
        if end > start && hay[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end.max(start)
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
        let limits = MimeLimits::default();
        let entity = |p: &MessageParser, b: &'static [u8], r: Range<usize>| {
            super::entity(p, false, b, r, &limits, &mut u64::MAX.clone()).expect("within limits")
        };
        let b = b"Content-Type: text/plain\r\n\r\nbody";
        let e = entity(&parser, b, 0..b.len());
        assert!(e.fields.is_some());
        assert_eq!(&b[e.body], b"body");
        let bare = b"\r\njust a body";
        let e = entity(&parser, bare, 0..bare.len());
        assert_eq!(&bare[e.body], b"just a body");
        // No empty line: the body starts at the first line that is no header field.
        let glued = b"Content-Type: application/pdf\nJVBERi0xLjQK\n";
        let e = entity(&parser, glued, 0..glued.len());
        assert!(e.fields.is_some() && e.header_syntax);
        assert_eq!(&glued[e.body], b"JVBERi0xLjQK\n");
        // A junk line inside a block that does end: skipped, and reported.
        let junk = b"Subject: x\nthis is no header\nContent-Type: text/csv\n\nbody";
        let e = entity(&parser, junk, 0..junk.len());
        assert!(e.header_syntax);
        assert_eq!(&junk[e.body], b"body");
        // A first line that is no header field: no headers at all.
        let prose = b"It starts with its body: no headers\n\nmore";
        let e = entity(&parser, prose, 0..prose.len());
        assert!(e.fields.is_none());
        assert_eq!(e.body, 0..prose.len());
    }
}
