//! Transfer decoders for the parts mail-parser does not hand over as bytes.
//!
//! Both are lenient in the way Python's `email` package is, so that a file's MD5 is the same
//! whichever of the two tools looked at it: base64 skips what is not in its alphabet and ends
//! at complete padding; quoted-printable joins soft line breaks, decodes `=XX` and keeps any
//! other `=` as it stands. [`transfer_decode`] picks the decoder a part's
//! Content-Transfer-Encoding names.

use std::borrow::Cow;

pub use super::base64::{Decoded, Keep, Rooms, base64_fast};
use crate::digest::Md5;

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
    rooms: &mut Rooms,
) -> (Body<'b>, bool) {
    if !is_base64(cte) {
        let (bytes, broken) = transfer_decode(cte, body);
        return (Body::Bytes(bytes, None), broken);
    }
    base64_body(super::base64::base64_fast_in(body, keep, rooms), body)
}

/// Whether an attachment in this transfer encoding is decoded by [`base64_open`].
pub(super) fn is_base64(cte: Option<&str>) -> bool {
    // As nearly every attachment spells it, before the general reading.
    cte.is_some_and(|c| c == "base64" || c.trim().eq_ignore_ascii_case("base64"))
}

/// As [`decode_attachment`] for a base64 body that starts `text` and ends where
/// `find_end` says (see [`super::base64::base64_fast_open`]): the decoding, whether it was
/// broken, and where the body ends in `text`.
pub(super) fn base64_open<'b>(
    text: &'b [u8],
    keep: Keep,
    rooms: &mut Rooms,
    find_end: impl FnMut(usize) -> usize,
) -> (Body<'b>, bool, usize) {
    let (decoded, end) = super::base64::base64_fast_open(text, keep, rooms, find_end);
    let (body, broken) = base64_body(decoded, &text[..end]);
    (body, broken, end)
}

/// A base64 body as [`base64_fast`] decoded it, or leniently when it could not.
fn base64_body(decoded: Option<Decoded>, body: &[u8]) -> (Body<'_>, bool) {
    match decoded {
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
    use crate::mime::base64::mime_base64;
    use crate::test_bytes::varied;

    #[test]
    fn base64_skips_junk_and_stops_at_padding() {
        assert_eq!(base64_lenient(b"SGVs\r\nbG8=\r\n"), b"Hello");
        assert_eq!(base64_lenient(b"SG Vs*bG8"), b"Hello");
        assert_eq!(base64_lenient(b"QQ==QUJD"), b"A");
        assert_eq!(base64_lenient(b"QUJDR"), b"ABC");
        assert_eq!(base64_lenient(b""), b"");
    }

    #[test]
    fn an_attachment_is_hashed_whatever_its_encoding() {
        let data = varied(60_000, 9);
        let text = mime_base64(&data);
        let (body, broken) = decode_attachment(
            Some(" Base64 "),
            &text,
            Keep::IfArchive,
            &mut Rooms::default(),
        );
        assert!(!broken);
        assert!(
            matches!(body, Body::Hashed { size: 60_000, md5 } if md5 == Md5::of(&data)),
            "{body:?}"
        );
        let (body, _) = decode_attachment(Some("base64"), &text, Keep::All, &mut Rooms::default());
        assert!(
            matches!(body, Body::Bytes(ref b, Some(md5)) if *b == data && md5 == Md5::of(&data))
        );
        // Junk falls back to the lenient decoder, which keeps the bytes and flags them.
        let (body, broken) = decode_attachment(
            Some("base64"),
            b"SG Vs*bG8",
            Keep::IfArchive,
            &mut Rooms::default(),
        );
        assert!(broken);
        assert!(matches!(body, Body::Bytes(ref b, None) if **b == *b"Hello"));
        let (body, broken) = decode_attachment(
            Some("quoted-printable"),
            b"a=3Db",
            Keep::IfArchive,
            &mut Rooms::default(),
        );
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
