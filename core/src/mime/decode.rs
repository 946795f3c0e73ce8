//! Transfer decoders for the parts mail-parser does not hand over as bytes.
//!
//! Both are lenient in the way Python's `email` package is, so that a file's MD5 is the same
//! whichever of the two tools looked at it: base64 skips what is not in its alphabet and ends
//! at complete padding; quoted-printable joins soft line breaks, decodes `=XX` and keeps any
//! other `=` as it stands. [`transfer_decode`] picks the decoder a part's
//! Content-Transfer-Encoding names.

use std::borrow::Cow;

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
/// [`base64_lenient`]. Which bytes come back is `keep`'s choice.
pub fn base64_fast(input: &[u8], keep: Keep) -> Option<Decoded> {
    let mut hasher = Md5Hasher::new();
    let whole = input.len() / 4 * 3 + 3;
    // The first round's bytes are needed either way (to tell an archive); the rest of the
    // room only once they are to be kept.
    let mut out: Vec<u8> = Vec::with_capacity(whole.min(CHUNK / 4 * 3 + 3));
    let mut keeping = None;
    let mut size = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK.min(input.len()) + 80);
    let mut rest = input;
    // Width of the last CRLF-terminated line, 0 when unknown.
    let mut width = 0;
    loop {
        while buf.len() < CHUNK && !rest.is_empty() {
            if width == MIME_WIDTH {
                rest = take_lines::<MIME_WIDTH>(rest, &mut buf);
            }
            // Encoders write lines of one width (76 in MIME): while the next line has the
            // width of the last one, take it without searching for its end.
            if width > 0
                && let Some(end) = rest.get(width..width + 2)
                && end == b"\r\n"
            {
                buf.extend_from_slice(&rest[..width]);
                rest = &rest[width + 2..];
                continue;
            }
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            width = if next.len() < rest.len() && rest.get(line.len()) == Some(&b'\r') {
                line.len()
            } else {
                0
            };
            buf.extend_from_slice(line);
            rest = next;
        }
        let last = rest.is_empty();
        if last {
            // Trailing blank lines and spaces before the delimiter are harmless.
            while buf.last().is_some_and(|b| b.is_ascii_whitespace()) {
                buf.pop();
            }
        }
        // Only whole quanta before the end; the remainder waits for the next round.
        let n = if last { buf.len() } else { buf.len() / 4 * 4 };
        let at = if keeping == Some(false) {
            // Not kept: the room of the last round is reused, still in cache.
            out.clear();
            0
        } else {
            out.len()
        };
        base64_simd::STANDARD
            .decode_append(&buf[..n], &mut out)
            .ok()?;
        let fresh = &out[at..];
        hasher.update(fresh);
        size += fresh.len() as u64;
        if keeping.is_none() {
            let kept = keep == Keep::All || last || archive::may_be_archive(&out);
            if kept {
                out.reserve_exact(whole.saturating_sub(out.len()));
            }
            keeping = Some(kept);
        }
        buf.drain(..n);
        if last {
            return Some(Decoded {
                bytes: (keeping == Some(true)).then_some(out),
                size,
                md5: hasher.finish()?,
            });
        }
    }
}

/// Decodes base64, skipping characters outside the alphabet (line ends, spaces, junk).
///
/// Ends at padding once a quantum has at least two characters; trailing bits of a lone
/// character are dropped. A missing final padding is tolerated.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut quad = [0u8; 4];
    let mut n = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' if n >= 2 => break,
            _ => continue,
        };
        quad[n] = v;
        n += 1;
        if n == 4 {
            out.push((quad[0] << 2) | (quad[1] >> 4));
            out.push((quad[1] << 4) | (quad[2] >> 2));
            out.push((quad[2] << 6) | quad[3]);
            n = 0;
        }
    }
    if n >= 2 {
        out.push((quad[0] << 2) | (quad[1] >> 4));
    }
    if n == 3 {
        out.push((quad[1] << 4) | (quad[2] >> 2));
    }
    out
}

/// Decodes quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at a line end is a soft
/// line break (with CRLF or bare LF), any other `=` stays as it is. Hard line ends are kept
/// as they were.
pub fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        match (input.get(i + 1), input.get(i + 2)) {
            (Some(b'\n'), _) => i += 2,
            (Some(b'\r'), Some(b'\n')) => i += 3,
            // A soft break cut off after its CR, as Python's `binascii.a2b_qp` reads it.
            (Some(b'\r'), None) => i += 2,
            (Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            // A lone `=` at the very end is a soft break with nothing after it.
            (None, _) => i += 1,
            (Some(_), None) => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// Decodes uuencoded text: from the `begin` line to `end`, each line led by a character
/// giving its byte count. `None` when there is no `begin` line.
pub fn uudecode(input: &[u8]) -> Option<Vec<u8>> {
    let mut lines = input
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.by_ref().find(|l| l.starts_with(b"begin "))?;
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let value = |c: u8| c.wrapping_sub(b' ') & 0x3f;
    for line in lines {
        if line == b"end" {
            break;
        }
        let Some((&count, rest)) = line.split_first() else {
            continue;
        };
        let n = usize::from(value(count));
        let mut bytes = Vec::with_capacity(n + 2);
        for quad in rest.chunks(4) {
            let q: Vec<u8> = (0..4)
                .map(|i| quad.get(i).map_or(0, |&c| value(c)))
                .collect();
            bytes.push((q[0] << 2) | (q[1] >> 4));
            bytes.push((q[1] << 4) | (q[2] >> 2));
            bytes.push((q[2] << 6) | q[3]);
        }
        bytes.truncate(n);
        out.extend_from_slice(&bytes);
    }
    Some(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The body transfer-decoded, and whether its encoding was broken.
pub(super) fn transfer_decode<'b>(cte: Option<&str>, body: &'b [u8]) -> (Cow<'b, [u8]>, bool) {
    let cte = cte.map(|c| c.trim().to_ascii_lowercase());
    match cte.as_deref() {
        Some("base64") => match base64_fast(body, Keep::All) {
            Some(Decoded {
                bytes: Some(bytes), ..
            }) => (Cow::Owned(bytes), false),
            _ => {
                let (bytes, broken) = base64_slow(body);
                (Cow::Owned(bytes), broken)
            }
        },
        Some("quoted-printable") => (Cow::Owned(quoted_printable(body)), false),
        // Not MIME, but mail from older clients still carries it, and Python decodes it.
        Some("x-uuencode" | "uuencode" | "x-uue" | "uue") => match uudecode(body) {
            Some(bytes) => (Cow::Owned(bytes), false),
            None => (Cow::Borrowed(body), true),
        },
        _ => (Cow::Borrowed(body), false),
    }
}

/// Base64 that [`base64_fast`] did not take: decoded leniently, and whether it was broken.
fn base64_slow(body: &[u8]) -> (Vec<u8>, bool) {
    // RFC 2045 §6.8: characters outside the alphabet are ignored; spaces and tabs inside
    // lines are legal, anything else is a broken encoding.
    let symbols = body
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || **b == b'+' || **b == b'/')
        .count();
    // A lone sixth of a byte at the end means text is missing.
    let broken = symbols % 4 == 1
        || !body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/= \t\r\n".contains(b));
    (base64_lenient(body), broken)
}

/// Whether a body in this transfer encoding is decoded into a copy of its own.
pub(super) fn needs_decoding(cte: Option<&str>) -> bool {
    cte.is_some_and(|c| {
        let c = c.trim();
        [
            "base64",
            "quoted-printable",
            "x-uuencode",
            "uuencode",
            "x-uue",
            "uue",
        ]
        .iter()
        .any(|e| c.eq_ignore_ascii_case(e))
    })
}

/// An attachment transfer-decoded: its bytes, or only what identifies them when nobody needs
/// them ([`Keep::IfArchive`]).
#[derive(Debug)]
pub(super) enum Body<'b> {
    /// The decoded bytes, with their MD5 when it came with them.
    Bytes(Cow<'b, [u8]>, Option<Md5>),
    /// Decoded, hashed and dropped: they are no archive, and nobody keeps contents.
    Hashed { size: u64, md5: Md5 },
}

/// As [`transfer_decode`], for an attachment: base64 (nearly every attachment) is hashed as
/// it is decoded, and its bytes are dropped when `keep` allows it.
pub(super) fn decode_attachment<'b>(
    cte: Option<&str>,
    body: &'b [u8],
    keep: Keep,
) -> (Body<'b>, bool) {
    if !cte.is_some_and(|c| c.trim().eq_ignore_ascii_case("base64")) {
        let (bytes, broken) = transfer_decode(cte, body);
        return (Body::Bytes(bytes, None), broken);
    }
    match base64_fast(body, keep) {
        Some(Decoded {
            bytes: Some(bytes),
            md5,
            ..
        }) => (Body::Bytes(Cow::Owned(bytes), Some(md5)), false),
        Some(Decoded {
            bytes: None,
            size,
            md5,
        }) => (Body::Hashed { size, md5 }, false),
        None => {
            let (bytes, broken) = base64_slow(body);
            (Body::Bytes(Cow::Owned(bytes), None), broken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_skips_junk_and_stops_at_padding() {
        assert_eq!(base64_lenient(b"SGVs\r\nbG8=\r\n"), b"Hello");
        assert_eq!(base64_lenient(b"SG Vs*bG8"), b"Hello");
        assert_eq!(base64_lenient(b"QQ==QUJD"), b"A");
        assert_eq!(base64_lenient(b"QUJDR"), b"ABC");
        assert_eq!(base64_lenient(b""), b"");
    }

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

    use crate::test_bytes::varied;

    fn mime_base64(data: &[u8]) -> Vec<u8> {
        let encoded = base64_simd::STANDARD.encode_to_string(data);
        let mut text = Vec::new();
        for line in encoded.as_bytes().chunks(76) {
            text.extend_from_slice(line);
            text.extend_from_slice(b"\r\n");
        }
        text
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
            // Bytes that fit in one round come back anyway (they are there); larger ones
            // that are no archive do not.
            // (The first round ends on a line end just past 32 KiB of text.)
            if len <= 24_576 {
                assert!(hashed.bytes.is_some(), "length {len}");
            } else if len >= 30_000 {
                assert!(hashed.bytes.is_none(), "length {len}");
            }
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

    #[test]
    fn an_attachment_is_hashed_whatever_its_encoding() {
        let data = varied(60_000, 9);
        let text = mime_base64(&data);
        let (body, broken) = decode_attachment(Some(" Base64 "), &text, Keep::IfArchive);
        assert!(!broken);
        assert!(
            matches!(body, Body::Hashed { size: 60_000, md5 } if md5 == Md5::of(&data)),
            "{body:?}"
        );
        let (body, _) = decode_attachment(Some("base64"), &text, Keep::All);
        assert!(
            matches!(body, Body::Bytes(ref b, Some(md5)) if *b == data && md5 == Md5::of(&data))
        );
        // Junk falls back to the lenient decoder, which keeps the bytes and flags them.
        let (body, broken) = decode_attachment(Some("base64"), b"SG Vs*bG8", Keep::IfArchive);
        assert!(broken);
        assert!(matches!(body, Body::Bytes(ref b, None) if **b == *b"Hello"));
        let (body, broken) = decode_attachment(Some("quoted-printable"), b"a=3Db", Keep::IfArchive);
        assert!(!broken);
        assert!(matches!(body, Body::Bytes(ref b, None) if **b == *b"a=b"));
    }

    #[test]
    fn uudecode_reads_begin_to_end() {
        // `uuencode` of "hello uuencode\n" (Python's binascii.b2a_uu gives the same).
        let text = b"begin 644 x\n/:&5L;&\\@=75E;F-O9&4*\n`\nend\n";
        assert_eq!(uudecode(text).as_deref(), Some(&b"hello uuencode\n"[..]));
        assert_eq!(uudecode(b"no begin line"), None);
    }

    #[test]
    fn quoted_printable_soft_breaks_and_literals() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd\r\n"), b"a=bcd\r\n");
        assert_eq!(quoted_printable(b"x=zz=4"), b"x=zz=4");
        assert_eq!(quoted_printable(b"caf=c3=a9="), "café".as_bytes());
    }
}
