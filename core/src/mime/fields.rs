//! How extraction reads one entity's MIME header fields: the first of each kind wins (as in
//! Python's `email`; mail-parser's accessors take the last), and a file-name parameter counts
//! even when its value is empty (mail-parser drops empty values; Python keeps them).

use mail_parser::{ContentType, HeaderName, HeaderValue, MessagePart};

/// The MIME fields of one entity.
pub(crate) struct Fields<'p> {
    /// Every Content-Type field, in order; the first is the one that counts.
    pub content_types: Vec<&'p ContentType<'p>>,
    /// Every Content-Disposition field, in order.
    pub dispositions: Vec<&'p ContentType<'p>>,
    /// The first Content-Transfer-Encoding.
    pub transfer_encoding: Option<&'p str>,
    /// Raw text of the Content-Type and Content-Disposition fields, for parameters whose
    /// value mail-parser dropped.
    raw_type: Vec<&'p [u8]>,
    raw_disposition: Vec<&'p [u8]>,
}

impl<'p> Fields<'p> {
    /// Reads `part`'s fields; `header_start` is where its header block starts in `buf`.
    pub fn of(part: &'p MessagePart<'p>, buf: &'p [u8], header_start: usize) -> Self {
        let mut f = Fields {
            content_types: Vec::new(),
            dispositions: Vec::new(),
            transfer_encoding: None,
            raw_type: Vec::new(),
            raw_disposition: Vec::new(),
        };
        for h in &part.headers {
            let start = header_start + h.offset_start as usize;
            let end = (header_start + h.offset_end as usize).clamp(start, buf.len().max(start));
            let raw = buf.get(start..end).unwrap_or_default();
            match (&h.name, &h.value) {
                (HeaderName::ContentType, HeaderValue::ContentType(ct)) => {
                    f.content_types.push(ct);
                    f.raw_type.push(raw);
                }
                (HeaderName::ContentType, _) => f.raw_type.push(raw),
                (HeaderName::ContentDisposition, HeaderValue::ContentType(cd)) => {
                    f.dispositions.push(cd);
                    f.raw_disposition.push(raw);
                }
                (HeaderName::ContentDisposition, _) => f.raw_disposition.push(raw),
                (HeaderName::ContentTransferEncoding, HeaderValue::Text(t)) => {
                    f.transfer_encoding.get_or_insert(t.as_ref());
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
            .dispositions
            .first()
            .is_some_and(|cd| cd.is_attachment());
        let from_disposition = self
            .dispositions
            .first()
            .and_then(|cd| cd.attribute("filename"));
        let from_type = self
            .content_types
            .first()
            .and_then(|ct| ct.attribute("name"));
        let name = match (from_disposition, from_type) {
            (Some(n), _) => Some(n.to_owned()),
            _ if self
                .raw_disposition
                .first()
                .is_some_and(|r| has_param(r, b"filename")) =>
            {
                Some(String::new())
            }
            (None, Some(n)) => Some(n.to_owned()),
            _ if self.raw_type.first().is_some_and(|r| has_param(r, b"name")) => {
                Some(String::new())
            }
            _ => None,
        };
        match name {
            Some(n) => Some(n),
            None if attachment => Some(String::new()),
            None => None,
        }
    }
}

/// Whether a parameter `name` (or its RFC 2231 form `name*`, `name*0`) is present in a raw
/// field value: `; name=…`.
fn has_param(raw: &[u8], name: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = raw.get(from..).and_then(|rest| {
        rest.windows(name.len())
            .position(|w| w.eq_ignore_ascii_case(name))
    }) {
        let at = from + i;
        from = at + 1;
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
