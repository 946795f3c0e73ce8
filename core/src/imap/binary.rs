//! What an IMAP server returns for `BINARY[part]` (RFC 3516): the part's body with its
//! Content-Transfer-Encoding undone, computed as Dovecot 2.3 does (`index-mail-binary.c`).
//!
//! A leaf part's body is decoded (base64, quoted-printable) or taken as it is (7bit, 8bit,
//! binary, or no Content-Transfer-Encoding). A multipart or message/rfc822 part is its
//! content with every part inside decoded, and each decoded part's header says
//! `Content-Transfer-Encoding: binary` in place of its old field. `BINARY[]` is the whole
//! message so. Dovecot's decoders are strict: base64 allows only whitespace besides the
//! alphabet and `=` padding at the end; quoted-printable allows lower-case hex but no `=`
//! that is not followed by two hex digits or a line end. An unknown encoding is
//! [`BinaryError::UnknownCte`] (Dovecot's `NO [UNKNOWN-CTE]`), broken encoded data
//! [`BinaryError::Invalid`] (Dovecot's `NO [PARSE]`, or a disconnection when the data ends
//! in the middle of a base64 group or an escape). Line ends are the message's own (Dovecot
//! writes CRLF for every line end it does not decode from base64).

use super::message::header;
use super::message::parts::{self, Part};
use super::message::rfc822::{Lexer, Step};

/// Why a part cannot be served as BINARY.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The part's Content-Transfer-Encoding is none the server can undo: answer
    /// `NO [UNKNOWN-CTE]`.
    #[error(
        "the part at byte {offset} has Content-Transfer-Encoding {encoding:?}, which cannot be decoded"
    )]
    UnknownCte {
        /// Where the part's header starts in the message.
        offset: usize,
        /// The field's value, as written.
        encoding: String,
    },
    /// The part's encoded data is broken: answer `NO [PARSE]`.
    #[error("the {encoding} data of the part at byte {offset} is broken: {reason}")]
    Invalid {
        /// Where the part's header starts in the message.
        offset: usize,
        /// `base64` or `quoted-printable`.
        encoding: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A decoded section and how Dovecot sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Binary {
    pub bytes: Vec<u8>,
    /// Dovecot sends `~{n}` (a literal8) when something was decoded or NUL bytes are in it,
    /// `{n}` otherwise.
    pub literal8: bool,
}

/// `BINARY[part]` of `message` (`part` empty: `BINARY[]`, the whole message); `Ok(None)` when
/// the part does not exist (Dovecot answers an empty string).
pub fn binary_bytes(message: &[u8], part: &[u32]) -> Result<Option<Vec<u8>>, BinaryError> {
    Ok(binary(message, &parts::parse(message), part)?.map(|b| b.bytes))
}

pub(crate) fn binary(
    message: &[u8],
    tree: &Part,
    path: &[u32],
) -> Result<Option<Binary>, BinaryError> {
    let (part, include_header) = if path.is_empty() {
        (tree, true)
    } else {
        match tree.find(path) {
            Some(part) => (part, false),
            None => return Ok(None),
        }
    };
    let mut state = State {
        message,
        out: Vec::new(),
        converted: false,
        nul: false,
    };
    state.add(part, include_header)?;
    Ok(Some(Binary {
        literal8: state.converted || state.nul,
        bytes: state.out,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    Plain,
    QuotedPrintable,
    Base64,
    Unknown,
}

/// Dovecot's `message_decoder_parse_cte`: one token (a `;` may follow), case-insensitive.
fn parse_cte(value: &[u8]) -> Cte {
    let mut lexer = Lexer::new(value);
    lexer.skip_lwsp();
    let mut token = Vec::new();
    if lexer.parse_mime_token(&mut token) == Step::More {
        lexer.skip_lwsp();
        if lexer.peek() != b';' {
            return Cte::Unknown;
        }
    }
    match token.to_ascii_lowercase().as_slice() {
        b"7bit" | b"8bit" | b"binary" => Cte::Plain,
        b"quoted-printable" => Cte::QuotedPrintable,
        b"base64" => Cte::Base64,
        _ => Cte::Unknown,
    }
}

struct State<'m> {
    message: &'m [u8],
    out: Vec<u8>,
    converted: bool,
    nul: bool,
}

impl State<'_> {
    fn raw(&mut self, from: usize, to: usize) {
        if let Some(bytes) = self.message.get(from..to) {
            self.out.extend_from_slice(bytes);
        }
    }

    fn add(&mut self, part: &Part, include_header: bool) -> Result<(), BinaryError> {
        let header = self.message.get(part.start..part.body).unwrap_or_default();
        let (fields, eoh) = header::fields(header);
        // The last field counts, whether or not the part is a MIME entity.
        let cte_field = fields
            .iter()
            .rev()
            .find(|f| f.is("Content-Transfer-Encoding"));
        let cte = cte_field.map_or(Cte::Plain, |f| parse_cte(&f.value()));
        self.nul |= memchr::memchr(0, header).is_some();
        if cte == Cte::Unknown {
            let encoding = cte_field.map(|f| f.value()).unwrap_or_default();
            return Err(BinaryError::UnknownCte {
                offset: part.start,
                encoding: String::from_utf8_lossy(&encoding).trim().to_owned(),
            });
        }
        if include_header {
            if matches!(cte, Cte::QuotedPrintable | Cte::Base64) {
                for field in fields.iter().filter(|f| !f.is("Content-Transfer-Encoding")) {
                    self.out.extend_from_slice(field.raw);
                }
                // Dovecot adds the field where the header's empty line is, so not at all to
                // a header without one.
                if let Some(eoh) = eoh {
                    self.out
                        .extend_from_slice(b"Content-Transfer-Encoding: binary");
                    self.out.extend_from_slice(eoh);
                    self.out.extend_from_slice(eoh);
                }
            } else {
                self.out.extend_from_slice(header);
            }
        }
        if !part.children.is_empty() {
            let mut at = part.body;
            for child in &part.children {
                self.raw(at, child.start);
                self.add(child, true)?;
                at = child.end;
            }
            self.raw(at, part.end);
            return Ok(());
        }
        let body = self.message.get(part.body..part.end).unwrap_or_default();
        if body.is_empty() {
            return Ok(());
        }
        let invalid = |encoding, reason| BinaryError::Invalid {
            offset: part.start,
            encoding,
            reason,
        };
        match cte {
            Cte::Plain | Cte::Unknown => {
                self.nul |= memchr::memchr(0, body).is_some();
                self.out.extend_from_slice(body);
            }
            Cte::QuotedPrintable => {
                quoted_printable(body, &mut self.out)
                    .map_err(|reason| invalid("quoted-printable", reason))?;
                self.converted = true;
            }
            Cte::Base64 => {
                base64(body, &mut self.out).map_err(|reason| invalid("base64", reason))?;
                self.converted = true;
            }
        }
        Ok(())
    }
}

/// Strict base64 (Dovecot's `base64_decode_more` without flags): whitespace is skipped,
/// anything else outside the alphabet is an error, `=` pads only the last group, and only
/// whitespace may follow it.
fn base64(input: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    fn value(b: u8) -> Option<u32> {
        Some(u32::from(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let mut group = 0u32;
    let mut count = 0;
    let mut bytes = input
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    while let Some(b) = bytes.next() {
        if b == b'=' {
            // Padding: `xx==` or `xxx=`, then nothing but whitespace.
            let needed = match count {
                2 => 1,
                3 => 0,
                _ => return Err("padding where none belongs"),
            };
            for _ in 0..needed {
                if bytes.next() != Some(b'=') {
                    return Err("padding cut short");
                }
            }
            if bytes.next().is_some() {
                return Err("data after the padding");
            }
            out.push((group >> (if count == 2 { 4 } else { 10 })) as u8);
            if count == 3 {
                out.push((group >> 2) as u8);
            }
            return Ok(());
        }
        let v = value(b).ok_or("a byte outside the base64 alphabet")?;
        group = (group << 6) | v;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&[(group >> 16) as u8, (group >> 8) as u8, group as u8]);
            group = 0;
            count = 0;
        }
    }
    if count != 0 {
        return Err("the data ends inside a group");
    }
    Ok(())
}

/// Dovecot's quoted-printable decoder (`qp-decoder.c`): `=XX` (upper- or lower-case hex)
/// decoded, `=` before a line end joins lines, whitespace before a line end (and at the end)
/// dropped; a line end is kept as written.
fn quoted_printable(input: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    /// Dovecot stops keeping trailing whitespace past this; text after more is an error.
    const MAX_WHITESPACE: usize = 76;
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' => {
                let next = input.get(i + 1).copied();
                if let (Some(h), Some(l)) =
                    (next.and_then(hex), input.get(i + 2).and_then(|&b| hex(b)))
                {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                // A soft line break: `=`, optional whitespace, a line end.
                let mut j = i + 1;
                while input.get(j).is_some_and(|&b| b == b' ' || b == b'\t') {
                    j += 1;
                }
                match input.get(j) {
                    Some(b'\n') => i = j + 1,
                    Some(b'\r') if input.get(j + 1) == Some(&b'\n') => i = j + 2,
                    Some(b'\r') => return Err("CR not followed by LF"),
                    None if j == i + 1 => return Err("'=' at the end of the data"),
                    None => return Err("'=<whitespace>' at the end of the data"),
                    Some(_) if j > i + 1 => {
                        return Err("'=<whitespace>' not followed by a line end");
                    }
                    Some(_) if next.and_then(hex).is_some() => {
                        return Err("'=<hex>' not followed by a hex digit");
                    }
                    Some(_) => return Err("'=' not followed by two hex digits"),
                }
            }
            b' ' | b'\t' => {
                let mut j = i;
                while input.get(j).is_some_and(|&b| b == b' ' || b == b'\t') {
                    j += 1;
                }
                match input.get(j) {
                    // Trailing whitespace goes.
                    None | Some(b'\n') => {}
                    Some(b'\r') if input.get(j + 1) == Some(&b'\n') => {}
                    Some(b'\r') => return Err("CR not followed by LF"),
                    Some(_) if j - i > MAX_WHITESPACE => return Err("too much whitespace"),
                    Some(_) => out.extend_from_slice(&input[i..j]),
                }
                i = j;
            }
            b'\r' => {
                if input.get(i + 1) != Some(&b'\n') {
                    return Err("CR not followed by LF");
                }
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(input: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut out = Vec::new();
        quoted_printable(input, &mut out).map(|()| out)
    }

    fn b64(input: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut out = Vec::new();
        base64(input, &mut out).map(|()| out)
    }

    #[test]
    fn quoted_printable_as_dovecot_decodes_it() {
        assert_eq!(
            qp(b"a=3Db=3d soft=\r\nbreak  \r\nx  "),
            Ok(b"a=b= softbreak\r\nx".to_vec())
        );
        assert_eq!(qp(b"lf=\nline \nend"), Ok(b"lfline\nend".to_vec()));
        assert_eq!(
            qp(b"ends with space =20  "),
            Ok(b"ends with space  ".to_vec())
        );
        assert!(qp(b"bad =ZZ").is_err());
        assert!(qp(b"bad =4").is_err());
        assert!(qp(b"bad =").is_err());
        assert!(qp(b"a\rb").is_err());
        assert!(qp(b"= x").is_err());
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(b64(b"aGVs bG8=\r\n"), Ok(b"hello".to_vec()));
        assert_eq!(b64(b"aGk=  \n"), Ok(b"hi".to_vec()));
        assert_eq!(b64(b"aA=\n="), Ok(b"h".to_vec()));
        assert_eq!(b64(b""), Ok(Vec::new()));
        assert!(b64(b"aGVsbG8=aGVsbG8=").is_err());
        assert!(b64(b"aGVsbG8").is_err());
        assert!(b64(b"!!!!").is_err());
        assert!(b64(b"a===").is_err());
    }

    #[test]
    fn encodings_are_read_as_one_token() {
        assert_eq!(parse_cte(b" Base64 "), Cte::Base64);
        assert_eq!(parse_cte(b"7bit; x=y"), Cte::Plain);
        assert_eq!(parse_cte(b"base64 binary"), Cte::Unknown);
        assert_eq!(parse_cte(b""), Cte::Unknown);
        assert_eq!(parse_cte(b"x-uuencode"), Cte::Unknown);
    }
}
