//! Transfer decoders for the parts mail-parser does not hand over as bytes.
//!
//! Both are lenient in the way Python's `email` package is, so that a file's MD5 is the same
//! whichever of the two tools looked at it: base64 skips what is not in its alphabet and ends
//! at complete padding; quoted-printable joins soft line breaks, decodes `=XX` and keeps any
//! other `=` as it stands. [`transfer_decode`] picks the decoder a part's
//! Content-Transfer-Encoding names.

use std::borrow::Cow;

use crate::digest::Md5;

/// Decodes MIME base64 fast. Line ends are dropped (found with `memchr`) into a small
/// buffer that stays in cache, and each full buffer is decoded by the SIMD decoder straight
/// into the output, so the text is read once and never copied whole. `None` when the text is
/// not clean base64 (junk characters, spaces inside lines, padding before the end); the
/// caller then falls back to [`base64_lenient`]. The MD5 of the decoded bytes comes with
/// them, computed chunk by chunk while each chunk is still in cache.
pub fn base64_fast(input: &[u8]) -> Option<(Vec<u8>, crate::digest::Md5)> {
    use md5::Digest;
    let mut hasher = md5::Md5::new();
    const CHUNK: usize = 32 * 1024;
    let mut out: Vec<u8> = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
    let mut rest = input;
    // Width of the last CRLF-terminated line, 0 when unknown.
    let mut width = 0;
    loop {
        while buf.len() < CHUNK && !rest.is_empty() {
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
        let at = out.len();
        out.resize(at + n.div_ceil(4) * 3, 0);
        let written = base64_simd::STANDARD
            .decode(&buf[..n], base64_simd::Out::from_slice(&mut out[at..]))
            .ok()?
            .len();
        out.truncate(at + written);
        hasher.update(&out[at..]);
        buf.drain(..n);
        if last {
            return Some((out, crate::digest::Md5(hasher.finalize().into())));
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
    let (bytes, broken, _) = transfer_decode_md5(cte, body);
    (bytes, broken)
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

/// As [`transfer_decode`], with the MD5 of the decoded bytes when it came for free with them.
pub(super) fn transfer_decode_md5<'b>(
    cte: Option<&str>,
    body: &'b [u8],
) -> (Cow<'b, [u8]>, bool, Option<Md5>) {
    let cte = cte.map(|c| c.trim().to_ascii_lowercase());
    match cte.as_deref() {
        Some("base64") => match base64_fast(body) {
            Some((bytes, md5)) => (Cow::Owned(bytes), false, Some(md5)),
            None => {
                // RFC 2045 §6.8: characters outside the alphabet are ignored; spaces and tabs
                // inside lines are legal, anything else is a broken encoding.
                let symbols = body
                    .iter()
                    .filter(|b| b.is_ascii_alphanumeric() || **b == b'+' || **b == b'/')
                    .count();
                // A lone sixth of a byte at the end means text is missing.
                let broken = symbols % 4 == 1
                    || !body
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/= \t\r\n".contains(b));
                (Cow::Owned(base64_lenient(body)), broken, None)
            }
        },
        Some("quoted-printable") => (Cow::Owned(quoted_printable(body)), false, None),
        // Not MIME, but mail from older clients still carries it, and Python decodes it.
        Some("x-uuencode" | "uuencode" | "x-uue" | "uue") => match uudecode(body) {
            Some(bytes) => (Cow::Owned(bytes), false, None),
            None => (Cow::Borrowed(body), true, None),
        },
        _ => (Cow::Borrowed(body), false, None),
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
                base64_fast(text).map(|d| d.0),
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
            let (bytes, md5) = base64_fast(&text).expect("clean base64");
            assert_eq!(bytes, data, "width {width}");
            assert_eq!(md5, crate::digest::Md5::of(&data));
        }
        assert_eq!(base64_fast(b"SG Vs*bG8"), None);
        assert_eq!(base64_fast(b"QUJDR"), None);
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
