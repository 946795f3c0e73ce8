//! The parts of a multipart, found as the walk reaches them instead of all before it.
//!
//! [`super::split::split`] finds every delimiter of a body first, then the walk decodes each
//! part: two passes over the text, and from 1 MB up the second one reads it again from memory
//! (docs/performance.md, "History: each attachment's text read once"). [`Parts`] finds the same parts, with the same rules
//! (RFC 2046 §5.1.1 as `split` reads it), one at a time: a part's header block is read up to
//! its empty line while checking every line for a delimiter ([`Parts::head`]), and the end of
//! its body is found only when the walk asks ([`Parts::end_from`]) — after a base64
//! decoder has read the body's lines itself, from the last of them
//! (`base64::base64_fast_open`), so that an attachment's text is read once.
//!
//! Whatever the order of the questions, the answers are `split`'s: the part tests below and
//! the walk's differential property test compare them.

use std::cell::OnceCell;
use std::ops::Range;

use super::split::{delimiter_line, part_end};

/// What [`Parts::head`] found of a part that starts at a given place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// The part ends here (absolute): its end came before the end of its header block, or
    /// the part has no empty line at all.
    Ended(usize),
    /// The header block ends with an empty line and the body starts here (absolute); no
    /// delimiter comes before it, so the part's end is at or after it ([`Parts::end_from`]).
    Open(usize),
}

/// How far a search for a delimiter walks from line start to line start before it hands
/// over to the SIMD finder. Most searches end a line or two from where they start (a
/// base64 decoder asks from its body's last line, a text part is short), and building the
/// finder costs more than walking a few lines: about 1,400 instructions, 3 % of a 10 KB
/// message's pipeline (docs/performance.md, "10 KB").
const NEAR: usize = 2 * 1024;

/// The parts of `buf[body]` split on one boundary, found one at a time.
pub(crate) struct Parts<'b> {
    /// The multipart's body.
    hay: &'b [u8],
    /// Where `hay` starts in the buffer.
    offset: usize,
    /// The boundary: a delimiter is `--boundary` at the start of a line.
    boundary: &'b [u8],
    /// Finds `\n--boundary` past the first [`NEAR`] bytes of a search; built by the first
    /// search that goes that far.
    finder: OnceCell<memchr::memmem::Finder<'static>>,
    /// [`NEAR`], less in the tests, so that they reach the finder on short bodies.
    near: usize,
    /// Start (relative) of the part after the last delimiter found, if one opens.
    next: Option<usize>,
    /// The close delimiter was found.
    terminated: bool,
    /// The part being read.
    current: Option<Current>,
}

/// The part [`Parts::next_part`] gave last (relative): where it starts, where its body starts
/// (its end when that came first), and its end once found.
struct Current {
    start: usize,
    body: usize,
    end: Option<usize>,
}

impl<'b> Parts<'b> {
    /// The parts of `buf[body]`, or `None` when `boundary` holds a line end: then a delimiter
    /// line may hold another delimiter, which only `split`'s order of search reads right.
    pub(crate) fn new(buf: &'b [u8], body: Range<usize>, boundary: &'b [u8]) -> Option<Self> {
        Parts::with_near(buf, body, boundary, NEAR)
    }

    /// [`Parts::new`] with the searches' line walks `near` bytes long.
    fn with_near(
        buf: &'b [u8],
        body: Range<usize>,
        boundary: &'b [u8],
        near: usize,
    ) -> Option<Self> {
        if boundary.contains(&b'\n') {
            return None;
        }
        let mut parts = Parts {
            hay: &buf[body.clone()],
            offset: body.start,
            boundary,
            finder: OnceCell::new(),
            near,
            next: None,
            terminated: false,
            current: None,
        };
        // A delimiter may also open the body itself, with no line end before it.
        let first = if parts.dash_boundary(0) {
            delimiter_line(parts.hay, 0, parts.boundary.len() + 2).map(|d| (0, d))
        } else {
            None
        };
        if let Some((_, (close, line_end))) = first.or_else(|| parts.find(1)) {
            parts.after(close, line_end);
        }
        Some(parts)
    }

    /// The next part, if one opens: where it starts (absolute) and what [`Parts::head`] found
    /// of it. Finds the end of the part before it first, if nobody asked for it.
    pub(crate) fn next_part(&mut self) -> Option<(usize, Head)> {
        if self.current.as_ref().is_some_and(|c| c.end.is_none()) {
            self.end();
        }
        let start = self.next.take()?;
        let head = self.head(start);
        self.current = Some(match head {
            Head::Ended(end) => Current {
                start,
                body: end,
                end: Some(end),
            },
            Head::Open(body) => Current {
                start,
                body,
                end: None,
            },
        });
        let at = |i: usize| self.offset + i;
        Some((
            at(start),
            match head {
                Head::Ended(end) => Head::Ended(at(end)),
                Head::Open(body) => Head::Open(at(body)),
            },
        ))
    }

    /// True when the close delimiter came (known once every part was taken).
    pub(crate) fn terminated(&self) -> bool {
        self.terminated
    }

    /// Reads the part starting at `start` line by line up to the empty line that ends its
    /// header block, or to its end if that comes first (relative positions). Costs the
    /// header block, not the body.
    fn head(&mut self, start: usize) -> Head {
        let hay = self.hay;
        if start >= hay.len() {
            return Head::Ended(hay.len());
        }
        // Every part starts after a line end: `start - 1` is a `\n`, which also stands for
        // the header block starting with its empty line (as `split::blank_line` reads it).
        let lines = std::iter::once(start - 1)
            .chain(memchr::memchr_iter(b'\n', &hay[start..]).map(|i| start + i));
        for nl in lines {
            let at = nl + 1;
            if let Some(d) = self.delimiter_at(at) {
                return Head::Ended(self.close_part(start, at, d));
            }
            let body = match (hay.get(at), hay.get(at + 1)) {
                (Some(b'\n'), _) => at + 1,
                (Some(b'\r'), Some(b'\n')) => at + 2,
                _ => continue,
            };
            // The empty line's own line end may come right before a delimiter.
            if let Some(d) = self.delimiter_at(body) {
                return Head::Ended(self.close_part(start, body, d));
            }
            return Head::Open(body);
        }
        self.after_none();
        Head::Ended(hay.len())
    }

    /// The end (absolute) of the current part: found now, from its body, if it was not yet.
    pub(crate) fn end(&mut self) -> usize {
        match &self.current {
            Some(Current { end: Some(end), .. }) => self.offset + end,
            Some(c) => {
                let body = self.offset + c.body;
                self.end_from(body)
            }
            None => self.offset,
        }
    }

    /// The end (absolute) of the current part, searching for its delimiter from `from`
    /// (absolute, a line start in its body before which there is none): the first one at or
    /// after it ends the part. May be asked again from an earlier place (a decoder that gave
    /// up); the last answer counts.
    pub(crate) fn end_from(&mut self, from: usize) -> usize {
        let Some(start) = self.current.as_ref().map(|c| c.start) else {
            return self.offset;
        };
        let end = match self.find((from - self.offset).max(1)) {
            Some((at, d)) => self.close_part(start, at, d),
            None => {
                self.after_none();
                self.hay.len()
            }
        };
        if let Some(c) = self.current.as_mut() {
            c.end = Some(end);
        }
        self.offset + end
    }

    /// The first delimiter at or after `from` (relative, at least 1): where it starts, and
    /// its line ([`delimiter_line`]).
    fn find(&self, mut from: usize) -> Option<(usize, (bool, usize))> {
        while from <= self.hay.len() {
            let at = self.candidate(from)?;
            if let Some(d) = delimiter_line(self.hay, at, self.boundary.len() + 2) {
                return Some((at, d));
            }
            from = at + 1;
        }
        None
    }

    /// The first line start at or after `from` (at least 1) where `--boundary` is: found
    /// line by line over the next [`NEAR`] bytes, past them by the finder.
    fn candidate(&self, from: usize) -> Option<usize> {
        let hay = self.hay;
        let near = hay.len().min(from - 1 + self.near);
        // A `\n` before `near` whose `--boundary` runs past it is found here.
        for nl in memchr::memchr_iter(b'\n', &hay[from - 1..near]) {
            let at = from + nl;
            if self.dash_boundary(at) {
                return Some(at);
            }
        }
        let finder = self.finder.get_or_init(|| {
            let needle = [&b"\n--"[..], self.boundary].concat();
            memchr::memmem::Finder::new(&needle).into_owned()
        });
        Some(near + 1 + finder.find(&hay[near..])?)
    }

    /// Whether `--boundary` starts at `at`.
    fn dash_boundary(&self, at: usize) -> bool {
        let rest = self.hay.get(at..).unwrap_or_default();
        rest.starts_with(b"--") && rest[2..].starts_with(self.boundary)
    }

    /// The delimiter line at `at`, if a delimiter starts there (after a `\n`).
    fn delimiter_at(&self, at: usize) -> Option<(bool, usize)> {
        // Nearly every line a part's header block holds starts with a letter: one compare
        // turns it away before the boundary's.
        if self.hay.get(at) != Some(&b'-') {
            return None;
        }
        (self.dash_boundary(at) && self.hay[at - 1] == b'\n')
            .then(|| delimiter_line(self.hay, at, self.boundary.len() + 2))
            .flatten()
    }

    /// Ends the part at `start` with the delimiter at `at`; returns its end (relative).
    fn close_part(&mut self, start: usize, at: usize, (close, line_end): (bool, usize)) -> usize {
        self.after(close, line_end);
        part_end(self.hay, start, at)
    }

    fn after(&mut self, close: bool, line_end: usize) {
        self.terminated = close;
        self.next = (!close).then_some(line_end);
    }

    /// No delimiter came before the end of the body: the last part runs to it.
    fn after_none(&mut self) {
        self.terminated = false;
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::split::split;
    use super::*;
    use proptest::prelude::*;

    /// The parts as `Parts` finds them, asking for each end either at once or after its
    /// header block, from `skip` lines into the body, its searches walking `near` bytes
    /// line by line before the finder takes over.
    fn lazily(buf: &[u8], boundary: &[u8], skip: usize, near: usize) -> (Vec<Range<usize>>, bool) {
        let mut parts = Parts::with_near(buf, 0..buf.len(), boundary, near).expect("no line end");
        let mut found = Vec::new();
        while let Some((start, head)) = parts.next_part() {
            let end = match head {
                Head::Ended(end) => end,
                Head::Open(body) => {
                    // A caller that read `skip` lines of the body without a delimiter in
                    // them (as a base64 decoder does) asks from the next one; and a decoder
                    // that gave up asks again from the body.
                    let mut from = body;
                    for _ in 0..skip {
                        match memchr::memchr(b'\n', &buf[from..]) {
                            Some(i) if buf[from..].first() != Some(&b'-') => from += i + 1,
                            _ => break,
                        }
                    }
                    let end = parts.end_from(from);
                    if skip == 3 {
                        assert_eq!(parts.end_from(body), end);
                    }
                    assert_eq!(parts.end(), end);
                    end
                }
            };
            found.push(start..end);
        }
        (found, parts.terminated())
    }

    fn agrees(buf: &[u8], boundary: &[u8]) {
        let eager = split(buf, 0..buf.len(), boundary);
        for skip in [0, 1, 3, 1_000] {
            // Every search by the finder alone, by both, and by the line walk alone.
            for near in [0, 1, 7, NEAR] {
                let (parts, terminated) = lazily(buf, boundary, skip, near);
                assert_eq!(
                    (&parts, terminated),
                    (&eager.parts, eager.terminated),
                    "skip {skip}, near {near}: {:?}",
                    String::from_utf8_lossy(buf)
                );
            }
        }
    }

    #[test]
    fn finds_the_parts_split_finds() {
        for b in [
            &b"preamble\r\n--XY\r\nA: 1\r\n\r\none\r\n--XY  \r\n\r\ntwo --XY\r\n--XY--\r\nepi"[..],
            b"--XY\n--XY\n--XY\n\n--XY--",
            b"--XY\nA: 1\n\n--XY\nA: 1\r\n\r\n--XY--",
            b"--XY\nA: 1\n\nbody\n--XYZ\nmore\n--XY\n",
            b"--XY\r\n\r\nQUJD\r\nQUJD\r\n--XY--",
            b"--XY\r\nA: 1\r\n\r\nQUJD\r\n--XY--x\r\n--XY\r\n",
            b"--XY\nno blank line\n--XY\n",
            b"--XY--",
            b"--XY",
            b"",
            b"\n--XY\n",
        ] {
            agrees(b, b"XY");
        }
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        // Pieces that make delimiters, near-delimiters, empty lines and base64-like lines.
        let piece = prop_oneof![
            Just(&b"--XY"[..]),
            Just(&b"--XY--"[..]),
            Just(&b"--XYZ"[..]),
            Just(&b"\r\n"[..]),
            Just(&b"\n"[..]),
            Just(&b"\r"[..]),
            Just(&b" \t"[..]),
            Just(&b"QUJD"[..]),
            Just(&b"A: 1"[..]),
            Just(&b"-"[..]),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn any_text_splits_the_same(buf in text()) {
            agrees(&buf, b"XY");
        }
    }
}
