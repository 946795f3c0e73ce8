//! The fast MIME base64 decoder: SIMD-decoded, hashed as it goes, and able to find where
//! its text ends as it reads it.
//!
//! [`base64_fast`] decodes a body whose end is known. [`base64_fast_open`] decodes the body
//! of a multipart's part whose end (the next delimiter) is not found yet: it reads the
//! body's full lines itself — lines of base64 hold no `-`, so no delimiter can start inside
//! them — and only then asks for the delimiter, from the first line that is not one. So the
//! text of an attachment is read from memory once, not once by the delimiter search and
//! again by the decoder (docs/performance.md, "History"). Both give the same bytes and
//! digest as decoding the part's body once its end is known; the property tests below
//! check it on clean, broken and adversarial bodies.

use crate::archive;
use crate::digest::{Md5, Md5Hasher};

/// Which decoded bytes [`base64_fast`] hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All of them (a caller that keeps file contents or walks the bytes further).
    All,
    /// Only those that may be an archive ([`archive::may_be_archive`] of the first chunk):
    /// any other attachment needs no more than its size and MD5, so its bytes are hashed in
    /// cache-sized chunks and dropped, never written out whole.
    IfArchive,
}

/// Room for decoding, lent from one attachment to the next of one walk: the text of a
/// round with its line ends dropped, and the decoded bytes that are not kept. A 10 KB
/// message with three files otherwise allocates and frees six buffers of a few KB, the
/// costliest allocations of its pipeline (docs/performance.md, "10 KB").
#[derive(Debug, Default)]
pub struct Rooms {
    text: Vec<u8>,
    out: Vec<u8>,
}

/// What a base64 body decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded bytes, unless [`Keep::IfArchive`] dropped them.
    pub bytes: Option<Vec<u8>>,
    /// How many bytes were decoded.
    pub size: u64,
    /// Their MD5.
    pub md5: Md5,
}

/// Encoded characters decoded per round: 32 KiB of text become 24 KiB of bytes, which stay
/// in the first two cache levels between decoding and hashing.
const CHUNK: usize = 32 * 1024;

/// The line width of MIME base64 (RFC 2045 §6.8), which nearly every encoder writes.
const MIME_WIDTH: usize = 76;

/// How far [`base64_fast_open`] looks for the end of the first line: past it, the body is
/// no MIME base64 of fixed-width lines, and is decoded once its end is found.
const FIRST_LINE_MAX: usize = 4 * 1024;

/// How many of the last full lines [`Rounds::full_lines`] looks into for a line end.
const GLUED_LINES: usize = 4;

/// Moves whole CRLF-ended lines of exactly `W` characters from `rest` to `buf` until the
/// next line is another width or `buf` holds a round's worth; returns what is left. The
/// width is a constant so that each line's copy is a few vector moves instead of a call to
/// `memcpy`, which cost as much as the decoding of the line.
fn take_lines<'t, const W: usize>(mut rest: &'t [u8], buf: &mut Vec<u8>) -> &'t [u8] {
    while buf.len() < CHUNK
        && let Some((line, tail)) = rest.split_first_chunk::<W>()
        && tail.starts_with(b"\r\n")
    {
        buf.extend_from_slice(line);
        rest = &tail[2..];
    }
    rest
}

/// Decodes MIME base64 fast. Line ends are dropped (found with `memchr`) into a small
/// buffer that stays in cache, and each full buffer is decoded by the SIMD decoder, then
/// hashed while it is still in cache, so the text is read once and never copied whole.
/// `None` when the text is not clean base64 (junk characters, spaces inside lines, padding
/// before the end), or when the MD5 engine failed; the caller then falls back to
/// `decode::base64_lenient`. Which bytes come back is `keep`'s choice.
pub fn base64_fast(input: &[u8], keep: Keep) -> Option<Decoded> {
    base64_fast_in(input, keep, &mut Rooms::default())
}

/// [`base64_fast`] in lent room.
pub fn base64_fast_in(input: &[u8], keep: Keep, rooms: &mut Rooms) -> Option<Decoded> {
    Rounds::new(keep, input.len(), input.len() / 4 * 3 + 3, rooms)
        .run(input)
        .ok()
}

/// As [`base64_fast`] over `text[..end]`, where `end` is not known in advance: `find_end(from)`
/// gives it, `from` being a line start of `text` before which the text holds no end (it is
/// the end of a multipart's part, before its next delimiter, and `text` runs on to the end
/// of the multipart). Returns the decoding and `end`.
///
/// The body's lines of the first line's width (CRLF-ended, not starting with `-`) are
/// decoded as they are read; `find_end` is asked from the first other line, and the rest
/// is decoded as [`base64_fast`] would. Lines that decode cleanly hold no line end and no
/// `-`, so no delimiter hides in them; a round that fails may hold one (a short last line
/// glued to the delimiter and the next part's header into one "line" of that width), so the
/// lines of that round are read again, and the end asked again, from the round's first
/// line. So the answer is always `base64_fast(&text[..end])`'s, and clean base64 is read
/// once.
pub fn base64_fast_open(
    text: &[u8],
    keep: Keep,
    rooms: &mut Rooms,
    mut find_end: impl FnMut(usize) -> usize,
) -> (Option<Decoded>, usize) {
    let mut rounds = Rounds::new(keep, text.len(), 0, rooms);
    let at = rounds.full_lines(text);
    let end = find_end(at);
    // Before `at` only when the delimiter follows the last full line: its line end
    // belongs to the delimiter, and the line was read whole either way.
    let tail = text.get(at..end).unwrap_or_default();
    let (pending, carry) = (rounds.pending, rounds.carry);
    match rounds.run(tail) {
        Ok(decoded) => (Some(decoded), end),
        // The lines not decoded yet may hide the end: from the first of them, as
        // `base64_fast` reads them.
        Err(Some(rounds)) if pending < at => {
            rounds.buf.truncate(carry);
            let end = find_end(pending);
            let tail = text.get(pending..end).unwrap_or_default();
            (rounds.run(tail).ok(), end)
        }
        // Every line before the failing round decoded: `base64_fast` fails there too.
        Err(_) => (None, end),
    }
}

/// The state of one decoding between rounds.
struct Rounds<'r> {
    keep: Keep,
    /// Room for all the decoded bytes, reserved once they are to be kept (0: grow as
    /// needed, when the text's end is not known).
    whole: usize,
    hasher: Md5Hasher,
    /// Decoded bytes: all of them when kept, else the last round's (lent room, handed
    /// over only when kept).
    out: &'r mut Vec<u8>,
    /// Whether the bytes are kept, decided at the first round.
    keeping: Option<bool>,
    size: u64,
    /// Text of the lines taken, line ends dropped, not decoded yet (lent room).
    buf: &'r mut Vec<u8>,
    /// Width of the last CRLF-terminated line, 0 when unknown.
    width: usize,
    /// For [`Rounds::full_lines`]: where in the text the lines not decoded yet start, and
    /// how much of `buf` came before them (the last round's remainder).
    pending: usize,
    carry: usize,
}

impl<'r> Rounds<'r> {
    fn new(keep: Keep, text_len: usize, whole: usize, rooms: &'r mut Rooms) -> Self {
        let Rooms { text, out } = rooms;
        // The first round's bytes are needed either way (to tell an archive); the rest of
        // the room only once they are to be kept.
        out.clear();
        out.reserve((text_len / 4 * 3 + 3).min(CHUNK / 4 * 3 + 3));
        text.clear();
        text.reserve(CHUNK.min(text_len) + 80);
        Rounds {
            keep,
            whole,
            hasher: Md5Hasher::new(),
            out,
            keeping: None,
            size: 0,
            buf: text,
            width: 0,
            pending: 0,
            carry: 0,
        }
    }

    /// Decodes `rest` to its end. When it fails, the state is handed back if its first
    /// round failed (nothing of it was hashed: the caller may start that round again).
    // The state comes back at most once per body, by value so that it cannot be used half
    // way: its size does not matter.
    #[allow(clippy::result_large_err)]
    fn run(mut self, mut rest: &[u8]) -> Result<Decoded, Option<Self>> {
        let mut first = true;
        loop {
            rest = self.fill(rest);
            let last = rest.is_empty();
            if self.round(last).is_none() {
                return Err(first.then_some(self));
            }
            first = false;
            if last {
                return Ok(Decoded {
                    bytes: (self.keeping == Some(true)).then(|| std::mem::take(self.out)),
                    size: self.size,
                    md5: self.hasher.finish().ok_or(None)?,
                });
            }
        }
    }

    /// Takes lines of `rest` into the buffer until it holds a round's worth; returns what
    /// is left.
    fn fill<'t>(&mut self, mut rest: &'t [u8]) -> &'t [u8] {
        let buf = &mut *self.buf;
        while buf.len() < CHUNK && !rest.is_empty() {
            if self.width == MIME_WIDTH {
                rest = take_lines::<MIME_WIDTH>(rest, buf);
            }
            // Encoders write lines of one width (76 in MIME): while the next line has the
            // width of the last one, take it without searching for its end.
            if self.width > 0
                && let Some(end) = rest.get(self.width..self.width + 2)
                && end == b"\r\n"
            {
                buf.extend_from_slice(&rest[..self.width]);
                rest = &rest[self.width + 2..];
                continue;
            }
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.width = if next.len() < rest.len() && rest.get(line.len()) == Some(&b'\r') {
                line.len()
            } else {
                0
            };
            buf.extend_from_slice(line);
            rest = next;
        }
        rest
    }

    /// Reads the lines at the start of `text` that have the width of its first one (CRLF
    /// ended, at least a quantum wide, not starting with `-`), decoding every full round;
    /// returns where it stopped: at the first other line, or at the first line of a round
    /// that failed (its lines dropped again), with the state [`Rounds::fill`] would have
    /// there.
    fn full_lines(&mut self, text: &[u8]) -> usize {
        let first = &text[..text.len().min(FIRST_LINE_MAX)];
        let Some(width) = memchr::memchr(b'\n', first).and_then(|nl| nl.checked_sub(1)) else {
            return 0;
        };
        if width < 4 || text[width] != b'\r' {
            return 0;
        }
        self.width = width;
        let mut at = 0;
        loop {
            (self.pending, self.carry) = (at, self.buf.len());
            at += if width == MIME_WIDTH {
                take_full::<MIME_WIDTH>(&text[at..], self.buf)
            } else {
                take_full_any(&text[at..], width, self.buf)
            };
            if self.buf.len() < CHUNK {
                break;
            }
            if self.round(false).is_none() {
                self.buf.truncate(self.carry);
                at = self.pending;
                break;
            }
        }
        // A short last line, the delimiter after it and the next part's first header line
        // may make one "line" of this width (the benchmark's messages do): stop before it,
        // so that the end is searched for from there and not from past the next part.
        let last = (self.buf.len() - self.carry) / width;
        let from = self.carry + last.saturating_sub(GLUED_LINES) * width;
        if let Some(i) = memchr::memchr(b'\n', &self.buf[from..]) {
            let line = (from + i - self.carry) / width;
            self.buf.truncate(self.carry + line * width);
            at = self.pending + line * (width + 2);
        }
        if at == 0 {
            self.width = 0;
        }
        at
    }

    /// Decodes the buffer's whole quanta (all of it when `last`) and hashes them.
    fn round(&mut self, last: bool) -> Option<()> {
        let buf = &mut *self.buf;
        if last {
            // Trailing blank lines and spaces before the delimiter are harmless.
            while buf.last().is_some_and(|b| b.is_ascii_whitespace()) {
                buf.pop();
            }
        }
        // Only whole quanta before the end; the remainder waits for the next round.
        let n = if last { buf.len() } else { buf.len() / 4 * 4 };
        let at = if self.keeping == Some(false) {
            // Not kept: the room of the last round is reused, still in cache.
            self.out.clear();
            0
        } else {
            self.out.len()
        };
        if base64_simd::STANDARD
            .decode_append(&buf[..n], &mut *self.out)
            .is_err()
        {
            // As it was before the round: it may be started again.
            self.out.truncate(at);
            return None;
        }
        let fresh = &self.out[at..];
        self.hasher.update(fresh);
        self.size += fresh.len() as u64;
        if self.keeping.is_none() {
            // A file that is no archive is its size and digest, however short: its bytes
            // stay in the lent room for the next one.
            let kept = self.keep == Keep::All || archive::may_be_archive(self.out);
            if kept {
                self.out
                    .reserve_exact(self.whole.saturating_sub(self.out.len()));
            }
            self.keeping = Some(kept);
        }
        buf.drain(..n);
        Some(())
    }
}

/// As [`take_lines`] for [`Rounds::full_lines`]: lines of `W` characters and CRLF that do
/// not start with `-` (where a delimiter would), until `buf` holds a round's worth; returns
/// how much of `text` they took.
fn take_full<const W: usize>(text: &[u8], buf: &mut Vec<u8>) -> usize {
    let mut rest = text;
    while buf.len() < CHUNK
        && let Some((line, tail)) = rest.split_first_chunk::<W>()
        && tail.starts_with(b"\r\n")
        && line[0] != b'-'
    {
        buf.extend_from_slice(line);
        rest = &tail[2..];
    }
    text.len() - rest.len()
}

/// [`take_full`] for a width known only at run time.
fn take_full_any(text: &[u8], width: usize, buf: &mut Vec<u8>) -> usize {
    let mut at = 0;
    while buf.len() < CHUNK
        && let Some(line) = text.get(at..at + width + 2)
        && line.ends_with(b"\r\n")
        && line[0] != b'-'
    {
        buf.extend_from_slice(&line[..width]);
        at += width + 2;
    }
    at
}

/// `data` in MIME base64: lines of 76 characters, each ended by CRLF, the last one too;
/// nothing for no data. This is the text mail-builder writes (`base64_encode_mime`), at a
/// fraction of its cost: the simulated sender encodes every file it sends with it, and the
/// decoder's tests make their input with it.
pub fn mime_base64(data: &[u8]) -> Vec<u8> {
    let encoded = base64_simd::STANDARD.encode_to_string(data);
    let mut text = Vec::with_capacity(encoded.len() + encoded.len().div_ceil(MIME_WIDTH) * 2);
    for line in encoded.as_bytes().chunks(MIME_WIDTH) {
        text.extend_from_slice(line);
        text.extend_from_slice(b"\r\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::decode::base64_lenient;
    use crate::test_bytes::varied;

    #[test]
    fn fast_base64_agrees_with_lenient_on_clean_input_and_refuses_junk() {
        for text in [
            &b"SGVs\r\nbG8=\r\n"[..],
            b"SGVsbG8=",
            b"",
            b"QUJD\nREVG\n\n",
        ] {
            assert_eq!(
                base64_fast(text, Keep::All).and_then(|d| d.bytes),
                Some(base64_lenient(text)),
                "{text:?}"
            );
        }
        // Across many chunks, with line lengths that are not whole quanta.
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let encoded = base64_simd::STANDARD.encode_to_string(&data);
        for width in [76, 61, 4, 1_000] {
            let mut text = Vec::new();
            for line in encoded.as_bytes().chunks(width) {
                text.extend_from_slice(line);
                text.extend_from_slice(if width == 61 { b"\n" } else { b"\r\n" });
            }
            let d = base64_fast(&text, Keep::All).expect("clean base64");
            assert_eq!(d.bytes.as_ref(), Some(&data), "width {width}");
            assert_eq!((d.size, d.md5), (data.len() as u64, Md5::of(&data)));
            // Not an archive: with `IfArchive` the same size and digest, and no bytes.
            let hashed = base64_fast(&text, Keep::IfArchive).expect("clean base64");
            assert_eq!(hashed, Decoded { bytes: None, ..d }, "width {width}");
        }
        for keep in [Keep::All, Keep::IfArchive] {
            assert_eq!(base64_fast(b"SG Vs*bG8", keep), None);
            assert_eq!(base64_fast(b"QUJDR", keep), None);
        }
    }

    #[test]
    fn dropped_bytes_are_hashed_and_counted_like_kept_ones() {
        // Sizes around the first round's end (24 KiB decoded) and well past it.
        for len in [0, 1, 57, 24_575, 24_576, 24_577, 24_579, 49_152, 100_003] {
            let data = varied(len, len as u32);
            let text = mime_base64(&data);
            let kept = base64_fast(&text, Keep::All).expect("clean base64");
            assert_eq!(kept.bytes.as_deref(), Some(&data[..]), "length {len}");
            assert_eq!(kept.md5, Md5::of(&data), "length {len}");
            let hashed = base64_fast(&text, Keep::IfArchive).expect("clean base64");
            assert_eq!(
                (hashed.size, hashed.md5),
                (kept.size, kept.md5),
                "length {len}"
            );
            // No archive: no bytes, however few (they stay in the room lent to the next).
            assert!(hashed.bytes.is_none(), "length {len}");
        }
    }

    #[test]
    fn bytes_that_may_be_an_archive_are_kept() {
        let mut gzip = varied(100_000, 3);
        gzip[..2].copy_from_slice(b"\x1f\x8b");
        let mut zip = varied(100_000, 4);
        zip[..4].copy_from_slice(b"PK\x03\x04");
        let mut tar = varied(100_000, 5);
        tar[257..262].copy_from_slice(b"ustar");
        for data in [gzip, zip, tar] {
            let d = base64_fast(&mime_base64(&data), Keep::IfArchive).expect("clean base64");
            assert_eq!(d.bytes.as_deref(), Some(&data[..]));
            assert_eq!(d.md5, Md5::of(&data));
        }
    }

    use crate::mime::parts::{Head, Parts};
    use crate::mime::split::split;
    use proptest::prelude::*;

    /// `base64_fast_open` on the body of the first part of `--XY` + `part`, with its end
    /// found by [`Parts`], against `base64_fast` on the body `split` finds.
    fn open_agrees(part: &[u8], keep: Keep) {
        let mut buf = b"--XY\r\nContent-Type: a/b\r\n\r\n".to_vec();
        buf.extend_from_slice(part);
        let want = split(&buf, 0..buf.len(), b"XY");
        let mut parts = Parts::new(&buf, 0..buf.len(), b"XY").expect("no line end");
        let Some((_, Head::Open(body))) = parts.next_part() else {
            // The part ends at once: nothing is open.
            return;
        };
        let (got, end) = base64_fast_open(&buf[body..], keep, &mut Rooms::default(), |from| {
            parts.end_from(body + from) - body
        });
        let end = body + end;
        let text = String::from_utf8_lossy(part);
        assert_eq!(end, want.parts[0].end, "{text:?}");
        let expected = base64_fast(&buf[body..end], keep);
        assert_eq!(got.is_some(), expected.is_some(), "{text:?}");
        if let (Some(got), Some(expected)) = (got, expected) {
            assert_eq!(
                (got.size, got.md5),
                (expected.size, expected.md5),
                "{text:?}"
            );
            if let (Some(a), Some(b)) = (&got.bytes, &expected.bytes) {
                assert_eq!(a, b, "{text:?}");
            }
            if keep == Keep::All {
                assert!(got.bytes.is_some(), "{text:?}");
            }
        }
    }

    #[test]
    fn an_open_body_decodes_as_the_split_one() {
        let clean = mime_base64(&varied(100_000, 1));
        let mut tail = clean.clone();
        tail.extend_from_slice(b"--XY--\r\n");
        open_agrees(&tail, Keep::IfArchive);
        open_agrees(&tail, Keep::All);
        // The delimiter right after the last full line, or after a short one.
        let full = mime_base64(&varied(57 * 600, 2));
        for end in [
            &b"--XY\r\n"[..],
            b"\r\n--XY--",
            b"QQ==\r\n--XY--",
            b"--XYZ\r\n--XY",
        ] {
            open_agrees(&[&full[..], end].concat(), Keep::IfArchive);
            open_agrees(&[&clean[..], end].concat(), Keep::All);
        }
        // A delimiter hidden inside a line of the body's width (after a bare LF), in the
        // first round and at the end of a later one.
        let mut line = vec![b'A'; 60];
        line.extend_from_slice(b"\n--XY");
        line.extend_from_slice(&[b' '; 11]);
        line.extend_from_slice(b"\r\n");
        assert_eq!(line.len(), 78);
        for lines in [10, 420, 500] {
            let mut hidden = clean[..78 * lines].to_vec();
            hidden.extend_from_slice(&line);
            hidden.extend_from_slice(&clean[..78 * 3]);
            hidden.extend_from_slice(b"QQ==\r\n--XY--\r\n");
            open_agrees(&hidden, Keep::IfArchive);
            open_agrees(&hidden, Keep::All);
        }
        // The short last line, the delimiter and the next part's first header line glued
        // into one line of the body's width, in the round not decoded yet.
        let mut glued = clean[..78 * 500].to_vec();
        glued.extend_from_slice(b"QQ==\r\n--XY\r\nContent-Type: ");
        glued.extend_from_slice(&[b'a'; 50]);
        glued.extend_from_slice(b"\r\n\r\nQUJD\r\n--XY--");
        open_agrees(&glued, Keep::IfArchive);
        open_agrees(&glued, Keep::All);
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        // Clean lines of a few widths, with line ends, junk and delimiters mixed in.
        let line = prop_oneof![
            8 => (0..3usize, any::<u32>()).prop_map(|(w, seed)| {
                let bytes = varied([57, 12, 3][w], seed);
                base64_simd::STANDARD.encode_to_string(bytes).into_bytes()
            }),
            1 => Just(b"QQ==".to_vec()),
            1 => Just(b"--XY".to_vec()),
            1 => Just(b"--XY--".to_vec()),
            1 => Just(b"--XYZ".to_vec()),
            1 => Just(b"  ".to_vec()),
            1 => Just(b"-".to_vec()),
            1 => Just(b"*".to_vec()),
            1 => Just(Vec::new()),
        ];
        let end = prop_oneof![6 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b""[..])];
        let lines = proptest::collection::vec((line, end), 0..40);
        // Many copies of the first lines make rounds of 32 KiB.
        (lines, 0..500usize, any::<bool>()).prop_map(|(lines, copies, close)| {
            let mut text: Vec<u8> = lines
                .iter()
                .flat_map(|(l, e)| [&l[..], e].concat())
                .collect();
            let first = text.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
            let head = text[..first].to_vec();
            for _ in 0..copies {
                text.splice(0..0, head.iter().copied());
            }
            if close {
                text.extend_from_slice(b"\r\n--XY--\r\n");
            }
            text
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn any_open_body_decodes_as_the_split_one(part in body(), all in any::<bool>()) {
            open_agrees(&part, if all { Keep::All } else { Keep::IfArchive });
        }
    }
}
