//! Transfer decoders for the parts mail-parser does not hand over as bytes.
//!
//! Both are lenient in the way Python's `email` package is, so that a file's MD5 is the same
//! whichever of the two tools looked at it: base64 skips what is not in its alphabet and ends
//! at complete padding; quoted-printable joins soft line breaks, decodes `=XX` and keeps any
//! other `=` as it stands.

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

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
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
    fn quoted_printable_soft_breaks_and_literals() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd\r\n"), b"a=bcd\r\n");
        assert_eq!(quoted_printable(b"x=zz=4"), b"x=zz=4");
        assert_eq!(quoted_printable(b"caf=c3=a9="), "café".as_bytes());
    }
}
