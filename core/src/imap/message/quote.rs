//! How Dovecot writes the strings of BODYSTRUCTURE and ENVELOPE (`lib-imap/imap-quote.c`),
//! as imap-types values: a quoted string, unless the value holds CR, LF or 8-bit bytes or more
//! than four `"` or `\` (then a literal); header values with their line breaks removed; names
//! and subjects with their whitespace collapsed (`imap_append_string_for_humans`).

use imap_codec::imap_types::core::{IString, Literal, NString, Quoted};

/// Dovecot switches to a literal at the fifth character that would need escaping.
const MAX_ESCAPES: usize = 4;

/// A string, quoted or literal as Dovecot chooses (`imap_append_string`).
pub(crate) fn string(value: &[u8]) -> IString<'static> {
    let mut escapes = 0;
    let mut literal = false;
    for &b in value {
        match b {
            b'"' | b'\\' => {
                escapes += 1;
                if escapes > MAX_ESCAPES {
                    literal = true;
                    break;
                }
            }
            b'\r' | b'\n' => {
                literal = true;
                break;
            }
            b if b >= 0x80 => {
                literal = true;
                break;
            }
            _ => {}
        }
    }
    if !literal && let Ok(quoted) = Quoted::try_from(value.to_vec()) {
        return IString::Quoted(quoted);
    }
    literal_of(value.to_vec())
}

/// A literal; a NUL (which no literal may hold, and which Dovecot's values never hold) is
/// written as 0x80, as Dovecot writes NULs it sends.
fn literal_of(mut bytes: Vec<u8>) -> IString<'static> {
    for b in &mut bytes {
        if *b == 0 {
            *b = 0x80;
        }
    }
    // NUL is the one byte a literal may not hold (CHAR8), and none is left.
    IString::Literal(Literal::unvalidated(bytes))
}

/// `NIL` or the string.
pub(crate) fn nstring(value: Option<&[u8]>) -> NString<'static> {
    NString(value.map(string))
}

/// `imap_append_nstring_nolf`: CR and LF removed, a space put where a line break was not
/// followed by whitespace.
pub(crate) fn nstring_nolf(value: Option<&[u8]>) -> NString<'static> {
    let Some(value) = value else {
        return NString(None);
    };
    if !value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return nstring(Some(value));
    }
    let mut out = Vec::with_capacity(value.len());
    for (i, &b) in value.iter().enumerate() {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        } else if !matches!(
            value.get(i + 1),
            Some(b' ' | b'\t' | b'\r' | b'\n' | 0) | None
        ) {
            out.push(b' ');
        }
    }
    nstring(Some(&out))
}

/// `imap_append_string_for_humans`: whitespace runs (CR, LF, tab, space) become one space,
/// leading and trailing whitespace goes; written quoted when nothing had to change, as a
/// literal otherwise (`""` when only whitespace was left).
pub(crate) fn for_humans(value: &[u8]) -> IString<'static> {
    let needs_change = {
        let mut last_lwsp = true;
        let mut modify = false;
        for &b in value {
            match b {
                0 | b'"' | b'\\' => {
                    modify = true;
                    last_lwsp = false;
                }
                b'\r' | b'\n' | b'\t' => {
                    modify = true;
                    last_lwsp = true;
                }
                b' ' => {
                    modify |= last_lwsp;
                    last_lwsp = true;
                }
                b => {
                    modify |= b >= 0x80;
                    last_lwsp = false;
                }
            }
        }
        modify || (last_lwsp && !value.is_empty())
    };
    if !needs_change && let Ok(quoted) = Quoted::try_from(value.to_vec()) {
        return IString::Quoted(quoted);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut last_lwsp = true;
    for &b in value {
        match b {
            b'\r' | b'\n' | b'\t' | b' ' => {
                if !last_lwsp {
                    out.push(b' ');
                }
                last_lwsp = true;
            }
            b => {
                out.push(if b == 0 { 0x80 } else { b });
                last_lwsp = false;
            }
        }
    }
    if last_lwsp && out.last() == Some(&b' ') {
        out.pop();
    }
    if out.is_empty() {
        return IString::Quoted(Quoted::unvalidated(""));
    }
    literal_of(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `"…"` for a quoted string, `{…}` for a literal.
    fn written(value: IString<'static>) -> String {
        match value {
            IString::Quoted(q) => format!("\"{}\"", q.inner()),
            IString::Literal(l) => format!("{{{}}}", String::from_utf8_lossy(l.as_ref())),
        }
    }

    #[test]
    fn strings_are_quoted_or_literal_as_dovecot_writes_them() {
        assert_eq!(written(string(b"plain")), "\"plain\"");
        assert_eq!(written(string(b"a\"b\\c\"d\"e")), "\"a\"b\\c\"d\"e\"");
        assert_eq!(written(string(b"\"\"\"\"\"")), "{\"\"\"\"\"}");
        assert_eq!(written(string("caf\u{e9}".as_bytes())), "{caf\u{e9}}");
        assert_eq!(written(for_humans(b"Hello")), "\"Hello\"");
        assert_eq!(written(for_humans(b"  a\r\n\tb  ")), "{a b}");
        assert_eq!(written(for_humans(b" \t ")), "\"\"");
        assert_eq!(written(for_humans(b"a\0b")), "{a\u{fffd}b}");
    }

    #[test]
    fn line_breaks_leave_a_space_only_where_none_follows() {
        let nolf = |v: &[u8]| match nstring_nolf(Some(v)).0 {
            Some(s) => s.as_ref().to_vec(),
            None => b"NIL".to_vec(),
        };
        assert_eq!(nolf(b"a\r\n b"), b"a b");
        assert_eq!(nolf(b"a\nb"), b"a b");
        assert_eq!(nolf(b"a\r\n"), b"a");
        assert_eq!(nstring_nolf(None).0, None);
    }
}
