//! Header fields as Dovecot's header parser reads them (`lib-mail/message-header-parser.c`):
//! one field is a line and the lines after it that start with a space or tab; the header ends
//! at the first empty line (`\n` or `\r\n`), or where the bytes end. A line without a colon is
//! a field with an empty name. The value Dovecot hands on is its `full_value` with
//! `SKIP_INITIAL_LWSP` and `DROP_CR` (what BODYSTRUCTURE and ENVELOPE are built from).

use std::borrow::Cow;

/// Dovecot treats a longer name as no name (RFC 5322 §2.1.1's line limit).
const MAX_NAME: usize = 1000;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The field's lines as they are in the message, the last line's newline included.
    pub raw: &'a [u8],
    /// The name, without the whitespace before the colon; empty for a line without a colon
    /// or a name over 1,000 bytes.
    pub name: &'a [u8],
    /// The length of the last line's newline: 2 (CRLF), 1 (LF) or 0 (the bytes end).
    pub newline: usize,
}

impl<'a> Field<'a> {
    /// Whether the name is `name`, compared as Dovecot compares C strings (case-insensitive,
    /// up to a NUL).
    pub fn is(&self, name: &str) -> bool {
        c_name(self.name).eq_ignore_ascii_case(name.as_bytes())
    }

    /// Dovecot's `full_value`: after the colon and the whitespace after it (one space is kept
    /// of a value that is only whitespace), continuation lines joined by `\n` (CRs dropped).
    pub fn value(&self) -> Cow<'a, [u8]> {
        let lines: Vec<&'a [u8]> = self.raw.split_inclusive(|&b| b == b'\n').collect();
        let strip = |line: &'a [u8]| -> &'a [u8] {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            line.strip_suffix(b"\r").unwrap_or(line)
        };
        let first = strip(lines.first().copied().unwrap_or_default());
        let value = match value_start(first) {
            Some(start) => {
                let value = &first[start..];
                let skip = value.iter().take_while(|&&b| is_lwsp(b)).count();
                if skip == value.len() && !value.is_empty() {
                    &value[1..]
                } else {
                    &value[skip..]
                }
            }
            // No colon, or a name too long: the whole line is the value, as it is.
            None => first,
        };
        if lines.len() == 1 {
            return Cow::Borrowed(value);
        }
        let mut out = value.to_vec();
        for line in &lines[1..] {
            out.push(b'\n');
            out.extend_from_slice(strip(line));
        }
        Cow::Owned(out)
    }
}

/// Where the value starts in a field's first line: after the colon, unless there is none or
/// the name before it is too long.
fn value_start(first_line: &[u8]) -> Option<usize> {
    let colon = memchr::memchr(b':', first_line)?;
    let mut name_end = colon;
    while name_end > 0 && is_lwsp(first_line[name_end - 1]) {
        name_end -= 1;
    }
    (name_end <= MAX_NAME).then_some(colon + 1)
}

/// The name up to a NUL, as a C string.
pub(crate) fn c_name(name: &[u8]) -> &[u8] {
    match memchr::memchr(0, name) {
        Some(nul) => &name[..nul],
        None => name,
    }
}

pub(crate) fn is_lwsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// What starts at a line start in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// The empty line that ends the header, of this many bytes (1 or 2).
    Eoh(usize),
    /// A field.
    Field(Field<'a>),
    /// The bytes end.
    End,
}

/// The line (field or end of header) at `pos`, which is the start of a line.
pub(crate) fn next(buf: &[u8], pos: usize) -> Line<'_> {
    let rest = buf.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Line::End;
    }
    if rest.starts_with(b"\n") {
        return Line::Eoh(1);
    }
    if rest.starts_with(b"\r\n") {
        return Line::Eoh(2);
    }
    let mut end = 0;
    let newline = loop {
        match memchr::memchr(b'\n', &rest[end..]) {
            None => {
                end = rest.len();
                break 0;
            }
            Some(lf) => {
                let line_end = end + lf;
                end = line_end + 1;
                let crlf = line_end > 0 && rest[line_end - 1] == b'\r';
                if !rest.get(end).is_some_and(|&b| is_lwsp(b)) {
                    break if crlf { 2 } else { 1 };
                }
            }
        }
    };
    let raw = &rest[..end];
    let first_line = &raw[..memchr::memchr(b'\n', raw).unwrap_or(raw.len())];
    let name = match value_start(first_line) {
        Some(start) => {
            let mut end = start - 1;
            while end > 0 && is_lwsp(first_line[end - 1]) {
                end -= 1;
            }
            &first_line[..end]
        }
        None => &first_line[..0],
    };
    Line::Field(Field { raw, name, newline })
}

/// The fields of a header block (`buf[pos..]` up to its end of header), and the end-of-header
/// line, if there is one.
pub(crate) fn fields(buf: &[u8]) -> (Vec<Field<'_>>, Option<&[u8]>) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match next(buf, pos) {
            Line::End => return (out, None),
            Line::Eoh(n) => return (out, Some(&buf[pos..pos + n])),
            Line::Field(field) => {
                pos += field.raw.len();
                out.push(field);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(raw: &[u8]) -> Field<'_> {
        match next(raw, 0) {
            Line::Field(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fields_fold_and_end_at_the_empty_line() {
        let block = b"Subject:   a\r\n \tb\r\nX: 1\nbroken line\r\n\r\nbody";
        let (fields, eoh) = fields(block);
        assert_eq!(eoh, Some(&b"\r\n"[..]));
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].raw, b"Subject:   a\r\n \tb\r\n");
        assert_eq!(fields[0].value(), &b"a\n \tb"[..]);
        assert!(fields[0].is("subject"));
        assert_eq!(fields[1].newline, 1);
        assert_eq!(fields[2].name, b"");
        assert_eq!(fields[2].value(), &b"broken line"[..]);
        assert_eq!(field(b"  no colon\n").value(), &b"  no colon"[..]);
    }

    #[test]
    fn values_keep_one_space_of_only_whitespace_and_names_lose_trailing_blanks() {
        let f = field(b"Subject \t:   \r\n");
        assert_eq!(f.name, b"Subject");
        assert_eq!(f.value(), &b"  "[..]);
        let f = field(b"A:b");
        assert_eq!((f.newline, f.value()), (0, Cow::Borrowed(&b"b"[..])));
        assert!(field(b"Mime-Version\0x: 1\n").is("mime-version"));
    }
}
