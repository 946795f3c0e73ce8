//! How extraction reads one entity's MIME header fields: the first of each kind wins (as in
//! Python's `email`; mail-parser's accessors take the last), and a file-name parameter counts
//! even when its value is empty (mail-parser drops empty values; Python keeps them).
//!
//! The fields come from mail-parser ([`Fields::from_message`]) or, for a plain header block,
//! from [`super::plain_header`], which reads them the same way without it; both give the
//! values extraction uses, borrowed from the message where they can be.

use std::borrow::Cow;

use mail_parser::{ContentType, HeaderName, HeaderValue, Message};

/// A Content-Type or Content-Disposition field, as far as extraction reads it: its type
/// and subtype, lower case (both readings make them so, and the walk relies on it), and
/// the first value of each parameter it uses (mail-parser's [`ContentType::attribute`]:
/// parameter names are lower case, values as written).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TypeField<'a> {
    pub c_type: Cow<'a, str>,
    pub c_subtype: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub filename: Option<Cow<'a, str>>,
    pub boundary: Option<Cow<'a, str>>,
}

impl<'a> TypeField<'a> {
    /// Keeps `value` when `name` is a parameter extraction uses and it is the first of it.
    pub fn parameter(&mut self, name: &str, value: Cow<'a, str>) {
        let slot = match name {
            "name" => &mut self.name,
            "filename" => &mut self.filename,
            "boundary" => &mut self.boundary,
            _ => return,
        };
        slot.get_or_insert(value);
    }

    /// A disposition of `attachment`.
    pub fn is_attachment(&self) -> bool {
        self.c_type.eq_ignore_ascii_case("attachment")
    }
}

impl<'a> From<ContentType<'a>> for TypeField<'a> {
    fn from(ct: ContentType<'a>) -> Self {
        // mail-parser lowers them as it reads them; made sure of here, where it costs
        // nothing on a plain block (the plain reader lowers its tokens itself).
        let mut field = TypeField {
            c_type: lower(ct.c_type),
            c_subtype: ct.c_subtype.map(lower),
            ..TypeField::default()
        };
        for a in ct.attributes.into_iter().flatten() {
            field.parameter(&a.name, a.value);
        }
        field
    }
}

/// The MIME fields of one entity.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fields<'a> {
    /// The first Content-Type field that parsed, the one that counts.
    pub content_type: Option<TypeField<'a>>,
    /// How many Content-Type fields parsed: more than one is malformed.
    pub content_types: u32,
    /// The first Content-Disposition field that parsed.
    pub disposition: Option<TypeField<'a>>,
    /// The first Content-Transfer-Encoding that is text.
    pub transfer_encoding: Option<Cow<'a, str>>,
    /// Raw text of the first Content-Type and Content-Disposition field (from after the
    /// colon to the end of the field, parsed or not), for parameters whose value mail-parser
    /// dropped.
    pub raw_type: Option<&'a [u8]>,
    pub raw_disposition: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// The fields mail-parser read from `block`, the header block it was given (its offsets
    /// are relative to it). The values are moved out of `message`, not copied.
    pub fn from_message(message: Message<'a>, block: &'a [u8]) -> Self {
        let mut f = Fields::default();
        let Some(part) = message.parts.into_iter().next() else {
            return f;
        };
        for h in part.headers {
            let start = h.offset_start as usize;
            let end = (h.offset_end as usize).clamp(start, block.len().max(start));
            let raw = block.get(start..end).unwrap_or_default();
            match (h.name, h.value) {
                (HeaderName::ContentType, value) => {
                    f.raw_type.get_or_insert(raw);
                    if let HeaderValue::ContentType(ct) = value {
                        f.content_types += 1;
                        if f.content_type.is_none() {
                            f.content_type = Some(ct.into());
                        }
                    }
                }
                (HeaderName::ContentDisposition, value) => {
                    f.raw_disposition.get_or_insert(raw);
                    if let HeaderValue::ContentType(cd) = value
                        && f.disposition.is_none()
                    {
                        f.disposition = Some(cd.into());
                    }
                }
                (HeaderName::ContentTransferEncoding, HeaderValue::Text(t)) => {
                    f.transfer_encoding.get_or_insert(t);
                }
                _ => {}
            }
        }
        f
    }

    /// The part's file name when it is a file, `None` when it is not: a part is a file when
    /// its disposition is `attachment` or it carries a file name (the disposition's
    /// `filename`, else the type's `name`), even an empty one. The name is `""` when absent.
    pub fn file_name(&self) -> Option<String> {
        let attachment = self
            .disposition
            .as_ref()
            .is_some_and(|cd| cd.is_attachment());
        let from_disposition = self
            .disposition
            .as_ref()
            .and_then(|cd| cd.filename.as_deref());
        let from_type = self.content_type.as_ref().and_then(|ct| ct.name.as_deref());
        let name = match (from_disposition, from_type) {
            (Some(n), _) => Some(n.to_owned()),
            _ if self
                .raw_disposition
                .is_some_and(|r| has_param(r, b"filename")) =>
            {
                Some(String::new())
            }
            (None, Some(n)) => Some(n.to_owned()),
            _ if self.raw_type.is_some_and(|r| has_param(r, b"name")) => Some(String::new()),
            _ => None,
        };
        match name {
            Some(n) => Some(n),
            None if attachment => Some(String::new()),
            None => None,
        }
    }
}

/// `s` in lower case, copied only when it is not already.
fn lower(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        s
    }
}

/// Whether a parameter `name` (or its RFC 2231 form `name*`, `name*0`) is present in a raw
/// field value: `; name=…`.
fn has_param(raw: &[u8], name: &[u8]) -> bool {
    let Some(&first) = name.first() else {
        return false;
    };
    // Where the name's first letter is, in either case; then the rest compared there.
    let starts = memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), raw);
    for at in starts {
        if !raw
            .get(at..at + name.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let before = raw[..at].iter().rev().find(|b| !b.is_ascii_whitespace());
        if before.is_some_and(|b| *b != b';') {
            continue;
        }
        let after = raw[at + name.len()..]
            .iter()
            .find(|b| !(b.is_ascii_whitespace() || b.is_ascii_digit() || **b == b'*'));
        if after == Some(&b'=') {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_found_by_name_even_when_empty() {
        assert!(has_param(b" attachment; filename=\"\"", b"filename"));
        assert!(has_param(b" inline;\r\n\tFILENAME*0=\"a\"", b"filename"));
        assert!(has_param(b"application/pdf; name=\"\"", b"name"));
        assert!(
            !has_param(b"application/pdf; filename=\"x\"", b"name"),
            "filename is not name"
        );
        assert!(!has_param(b"text/plain; charset=utf-8", b"name"));
    }
}
