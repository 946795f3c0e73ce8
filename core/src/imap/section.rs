//! What an IMAP server returns for `BODY[section]` of a message (RFC 3501 §6.4.5), computed
//! from the message's bytes as Dovecot 2.3 computes it (`lib-imap-storage/imap-msgpart.c`),
//! and the partial fetch `<offset.length>`.
//!
//! - `[]`: the message; `[HEADER]` its header (with the empty line that ends it), `[TEXT]`
//!   the rest.
//! - `[HEADER.FIELDS (…)]`: the fields so named, in message order, each with its continuation
//!   lines, then the empty line; `[HEADER.FIELDS.NOT (…)]` the other fields. Of the message,
//!   the empty line is always there (Dovecot adds a missing one) for `FIELDS`, only when the
//!   header has one for `FIELDS.NOT`.
//! - `[n]`, `[n.m]`: a part's body (a message/rfc822 part's body is the whole attached
//!   message; a single-part message is its own part 1); `[n.MIME]` the part's header.
//! - `[n.HEADER]`, `[n.TEXT]`, `[n.HEADER.FIELDS …]`: of the message attached as part `n`,
//!   which must be message/rfc822.
//!
//! A part that does not exist (or `HEADER`/`TEXT` of a part that is no message/rfc822) is
//! `None`; Dovecot answers it with an empty string (`{0}`), and so does
//! [`FetchResponse::serve_from`](super::FetchResponse::serve_from). NUL bytes come back as
//! 0x80, as Dovecot sends them, because no IMAP literal may hold NUL (RFC 3501 `CHAR8`); the
//! length stays, so `RFC822.SIZE` still equals the length of `BODY[]`.
//!
//! Line ends are the message's own: Dovecot stores messages with LF and serves every line
//! with CRLF, so for a message with CRLF line ends (what a server sends) the bytes here are
//! Dovecot's byte for byte; for one with bare LF they are Dovecot's with LF for CRLF.

use std::borrow::Cow;

use super::fetch::{SectionSpec, SectionText};
use super::message::header::{self, c_name};
use super::message::parts::{self, Kind, Part};

/// The bytes an IMAP server returns for `BODY[spec]` of `message`, or `None` when the part
/// does not exist (see the module doc).
pub fn section_bytes<'m>(message: &'m [u8], spec: &SectionSpec) -> Option<Cow<'m, [u8]>> {
    let tree = parts::parse(message);
    section_of(message, &tree, spec).map(without_nul)
}

/// `bytes<offset.length>` (RFC 3501 §6.4.5): at most `length` bytes from `offset`; empty when
/// `offset` is past the end.
pub fn partial(bytes: &[u8], offset: u32, length: u32) -> &[u8] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let Some(rest) = bytes.get(start..) else {
        return &[];
    };
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    &rest[..rest.len().min(length)]
}

/// NUL as 0x80, as Dovecot sends it in a literal.
pub(crate) fn without_nul(bytes: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if memchr::memchr(0, &bytes).is_none() {
        return bytes;
    }
    Cow::Owned(
        bytes
            .iter()
            .map(|&b| if b == 0 { 0x80 } else { b })
            .collect(),
    )
}

/// Where part sections (`BODY[2]`, `BODY[2.1.MIME]`, `BODY[3.TEXT]`) lie in the message, as
/// byte ranges, in the order asked (the message is parsed once); `None` for a section of the
/// message itself (`BODY[]`, `HEADER`, `TEXT`, which may hold anything) or a part that does
/// not exist. The IMAP proxy serves parts that hold none of the message's files before the
/// files are judged (K-9's text parts).
pub fn part_spans(message: &[u8], specs: &[&SectionSpec]) -> Vec<Option<std::ops::Range<usize>>> {
    let tree = parts::parse(message);
    specs.iter().map(|spec| span_in(&tree, spec)).collect()
}

fn span_in(tree: &Part, spec: &SectionSpec) -> Option<std::ops::Range<usize>> {
    if spec.part.is_empty() {
        return None;
    }
    let part = tree.find(&spec.part)?;
    let inner = || {
        (part.kind == Kind::Message)
            .then(|| part.children.first())
            .flatten()
    };
    Some(match &spec.text {
        None => part.body..part.end,
        Some(SectionText::Mime) => part.start..part.body,
        Some(SectionText::Text) => inner().map(|m| m.body..m.end)?,
        Some(_) => inner().map(|m| m.start..m.body)?,
    })
}

/// The section's raw bytes (NULs kept), from a parsed tree.
pub(crate) fn section_of<'m>(
    message: &'m [u8],
    tree: &Part,
    spec: &SectionSpec,
) -> Option<Cow<'m, [u8]>> {
    let slice = |from: usize, to: usize| message.get(from..to).map(Cow::Borrowed);
    if spec.part.is_empty() {
        return match &spec.text {
            None => Some(Cow::Borrowed(message)),
            Some(SectionText::Header) => slice(tree.start, tree.body),
            Some(SectionText::Text) => slice(tree.body, tree.end),
            Some(SectionText::HeaderFields(names)) => Some(Cow::Owned(filter(
                header_of(message, tree),
                names,
                true,
                true,
            ))),
            Some(SectionText::HeaderFieldsNot(names)) => Some(Cow::Owned(filter(
                header_of(message, tree),
                names,
                false,
                false,
            ))),
            // `MIME` needs a part number; a client cannot ask for it alone.
            Some(SectionText::Mime) => None,
        };
    }
    let part = tree.find(&spec.part)?;
    let message_part = || {
        (part.kind == Kind::Message)
            .then(|| part.children.first())
            .flatten()
    };
    match &spec.text {
        None => slice(part.body, part.end),
        Some(SectionText::Mime) => slice(part.start, part.body),
        Some(SectionText::Header) => message_part().and_then(|m| slice(m.start, m.body)),
        Some(SectionText::Text) => message_part().and_then(|m| slice(m.body, m.end)),
        Some(SectionText::HeaderFields(names)) => {
            message_part().map(|m| Cow::Owned(filter(header_of(message, m), names, true, false)))
        }
        Some(SectionText::HeaderFieldsNot(names)) => {
            message_part().map(|m| Cow::Owned(filter(header_of(message, m), names, false, false)))
        }
    }
}

fn header_of<'m>(message: &'m [u8], part: &Part) -> &'m [u8] {
    message.get(part.start..part.body).unwrap_or_default()
}

/// Dovecot's header filter (`istream-header-filter.c`): the fields named (`include`) or not
/// named, each as written, then the header's empty line; `add_missing_eoh` adds one when the
/// header has none (and a line end to a last field without one).
fn filter(header: &[u8], names: &[String], include: bool, add_missing_eoh: bool) -> Vec<u8> {
    let (fields, eoh) = header::fields(header);
    let mut out = Vec::new();
    for field in &fields {
        let name = c_name(field.name);
        let named = names
            .iter()
            .any(|n| c_name(n.as_bytes()).eq_ignore_ascii_case(name));
        if named == include {
            out.extend_from_slice(field.raw);
        }
    }
    match eoh {
        Some(eoh) => out.extend_from_slice(eoh),
        None if add_missing_eoh => {
            // The message's own line end (Dovecot writes CRLF, as it serves every line).
            let eol: &[u8] = if header.windows(2).any(|w| w == b"\r\n") || !header.contains(&b'\n')
            {
                b"\r\n"
            } else {
                b"\n"
            };
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(eol);
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(part: &[u32], text: Option<SectionText>) -> SectionSpec {
        SectionSpec {
            part: part.to_vec(),
            text,
        }
    }

    fn get(message: &[u8], part: &[u32], text: Option<SectionText>) -> Option<Vec<u8>> {
        section_bytes(message, &spec(part, text)).map(Cow::into_owned)
    }

    #[test]
    fn partial_cuts_and_is_empty_past_the_end() {
        assert_eq!(partial(b"0123456789", 2, 3), b"234");
        assert_eq!(partial(b"0123456789", 8, 100), b"89");
        assert_eq!(partial(b"0123456789", 10, 1), b"");
        assert_eq!(partial(b"0123456789", u32::MAX, u32::MAX), b"");
        assert_eq!(partial(b"", 0, 0), b"");
    }

    #[test]
    fn a_single_part_message_is_its_own_part_one() {
        let m = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(get(m, &[1], None), Some(b"body\r\n".to_vec()));
        assert_eq!(
            get(m, &[1], Some(SectionText::Mime)),
            Some(b"Subject: x\r\n\r\n".to_vec())
        );
        assert_eq!(get(m, &[1], Some(SectionText::Header)), None);
        assert_eq!(get(m, &[2], None), None);
        assert_eq!(get(m, &[1, 1], None), None);
    }

    #[test]
    fn header_fields_keep_message_order_and_folding() {
        let m = b"B: 1\r\nA: 2\r\n  more\r\nb: 3\r\n\r\nbody";
        let fields = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            get(m, &[], Some(SectionText::HeaderFields(fields(&["a", "B"])))),
            Some(b"B: 1\r\nA: 2\r\n  more\r\nb: 3\r\n\r\n".to_vec())
        );
        assert_eq!(
            get(m, &[], Some(SectionText::HeaderFieldsNot(fields(&["b"])))),
            Some(b"A: 2\r\n  more\r\n\r\n".to_vec())
        );
        // No empty line: FIELDS adds one, FIELDS.NOT does not.
        let m = b"A: 1\r\nB: 2";
        assert_eq!(
            get(m, &[], Some(SectionText::HeaderFields(fields(&["B"])))),
            Some(b"B: 2\r\n\r\n".to_vec())
        );
        assert_eq!(
            get(
                m,
                &[],
                Some(SectionText::HeaderFieldsNot(fields(&["A", "B"])))
            ),
            Some(Vec::new())
        );
    }

    #[test]
    fn nul_is_served_as_0x80() {
        let m = b"A: 1\n\na\0b";
        assert_eq!(
            get(m, &[], Some(SectionText::Text)),
            Some(b"a\x80b".to_vec())
        );
    }
}
