//! The FETCH items that depend on a message's content, written as Dovecot 2.3 writes them:
//! `BODY[section]<origin>`, `RFC822…`, `BINARY[part]<origin>`, `BINARY.SIZE[part]`,
//! `ENVELOPE`, `BODY`, `BODYSTRUCTURE`, and `INTERNALDATE`.
//!
//! The bytes come from aptsim-core's serving functions, which match Dovecot byte for byte
//! (core/tests/imap_serve.rs): [`section_bytes`] and [`partial`] for sections,
//! [`bodystructure()`] and [`body()`] for the structures. ENVELOPE and the choice between
//! `{n}` and `~{n}` for BINARY are computed by core only inside
//! [`FetchResponse::serve_from`]; they are asked of it here with a one-item response, so
//! that the server and the proxy serve the same bytes from one implementation.

use std::borrow::Cow;
use std::num::NonZeroU32;

use aptsim_core::clock::{Timestamp, WallClock};
use aptsim_core::imap::{
    BinaryError, ContentItem, FetchRequest, ItemName, Partial, SectionSpec, SectionText,
    ServeError, ServerResponse, binary_bytes, body, bodystructure, partial, section_bytes,
};
use aptsim_core::smtp::wire::date::rfc5322;
use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::{AString, Vec1};
use imap_codec::imap_types::fetch::{MessageDataItem, Section};
use imap_codec::imap_types::response::{Data, Response};

/// Why a BINARY item could not be served, and what Dovecot does then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BinaryFailure {
    /// `NO [UNKNOWN-CTE] …` or `NO [PARSE] …` after the FETCH: this text.
    No(&'static str),
    /// Dovecot cannot read what it promised and hangs up (data that ends inside a base64
    /// group or a quoted-printable escape): `* BYE FETCH failed: …`.
    Disconnect,
}

impl BinaryFailure {
    fn of(error: &BinaryError) -> Self {
        match error {
            BinaryError::UnknownCte { .. } => {
                BinaryFailure::No("NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding.")
            }
            BinaryError::Invalid { reason, .. }
                if *reason == "the data ends inside a group"
                    || reason.ends_with("at the end of the data") =>
            {
                BinaryFailure::Disconnect
            }
            BinaryError::Invalid { .. } => {
                BinaryFailure::No("NO [PARSE] Invalid data in MIME part.")
            }
        }
    }
}

/// `{n}\r\n` and the bytes: how Dovecot writes every string it serves.
pub(crate) fn literal(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{{{}}}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out
}

/// A section as Dovecot names it in the response: upper case, header field names as the
/// client wrote them (an atom bare, a string quoted), e.g. `1.HEADER.FIELDS (FROM "TO")`.
pub(crate) fn section_name(section: Option<&Section<'_>>) -> String {
    let part = |p: &imap_codec::imap_types::fetch::Part| -> String {
        let numbers: Vec<String> = p.0.as_ref().iter().map(|n| n.to_string()).collect();
        numbers.join(".")
    };
    let with = |p: Option<&imap_codec::imap_types::fetch::Part>, text: &str| match p {
        Some(p) => format!("{}.{text}", part(p)),
        None => text.to_owned(),
    };
    let names = |names: &Vec1<AString<'_>>| -> String {
        let written: Vec<String> = names.as_ref().iter().map(field_name).collect();
        written.join(" ")
    };
    match section {
        None => String::new(),
        Some(Section::Part(p)) => part(p),
        Some(Section::Header(p)) => with(p.as_ref(), "HEADER"),
        Some(Section::Text(p)) => with(p.as_ref(), "TEXT"),
        Some(Section::Mime(p)) => with(Some(p), "MIME"),
        Some(Section::HeaderFields(p, n)) => {
            with(p.as_ref(), &format!("HEADER.FIELDS ({})", names(n)))
        }
        Some(Section::HeaderFieldsNot(p, n)) => {
            with(p.as_ref(), &format!("HEADER.FIELDS.NOT ({})", names(n)))
        }
    }
}

/// One header field name of a section, as Dovecot echoes it (`body_header_fields_parse`).
fn field_name(name: &AString<'_>) -> String {
    let upper = String::from_utf8_lossy(name.as_ref()).to_ascii_uppercase();
    match name {
        AString::Atom(_) => upper,
        // A quoted string or a literal (any kind imap-codec may read).
        AString::String(_) => {
            format!("\"{}\"", upper.replace('\\', "\\\\").replace('"', "\\\""))
        }
    }
}

/// imap-codec's section as core's.
pub(crate) fn spec_of(section: Option<&Section<'_>>) -> SectionSpec {
    let path = |p: Option<&imap_codec::imap_types::fetch::Part>| -> Vec<u32> {
        p.map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
            .unwrap_or_default()
    };
    let names = |n: &Vec1<AString<'_>>| -> Vec<String> {
        n.as_ref()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect()
    };
    let (part, text) = match section {
        None => (Vec::new(), None),
        Some(Section::Part(p)) => (path(Some(p)), None),
        Some(Section::Header(p)) => (path(p.as_ref()), Some(SectionText::Header)),
        Some(Section::Text(p)) => (path(p.as_ref()), Some(SectionText::Text)),
        Some(Section::Mime(p)) => (path(Some(p)), Some(SectionText::Mime)),
        Some(Section::HeaderFields(p, n)) => {
            (path(p.as_ref()), Some(SectionText::HeaderFields(names(n))))
        }
        Some(Section::HeaderFieldsNot(p, n)) => (
            path(p.as_ref()),
            Some(SectionText::HeaderFieldsNot(names(n))),
        ),
    };
    SectionSpec { part, text }
}

/// The bytes of `BODY[spec]` (a part that does not exist: empty, as Dovecot sends it), cut
/// to `range` (`<offset.length>`).
pub(crate) fn section(message: &[u8], spec: &SectionSpec, range: Option<Partial>) -> Vec<u8> {
    let whole = if spec.is_whole_message() {
        // `section_bytes` would parse the message's parts first, once per 64 KiB chunk of a
        // Thunderbird download; the whole message needs only NUL sent as 0x80, as there.
        if message.contains(&0) {
            Cow::Owned(
                message
                    .iter()
                    .map(|&b| if b == 0 { 0x80 } else { b })
                    .collect(),
            )
        } else {
            Cow::Borrowed(message)
        }
    } else {
        section_bytes(message, spec).unwrap_or(Cow::Borrowed(&[]))
    };
    match range {
        Some(p) => partial(&whole, p.offset, p.length).to_vec(),
        None => whole.into_owned(),
    }
}

/// The value of `BINARY[part]<range>` (`{n}` or `~{n}` and the decoded bytes).
pub(crate) fn binary(
    message: &[u8],
    part: &[NonZeroU32],
    range: Option<(u32, NonZeroU32)>,
) -> Result<Vec<u8>, BinaryFailure> {
    let path: Vec<String> = part.iter().map(|n| n.to_string()).collect();
    let name = format!("BINARY[{}]", path.join("."));
    let request = FetchRequest {
        tag: String::new(),
        uid: false,
        messages: Vec::new(),
        content: vec![ContentItem {
            name: ItemName::Binary,
            section: SectionSpec {
                part: part.iter().map(|n| n.get()).collect(),
                text: None,
            },
            partial: range.map(|(offset, length)| Partial {
                offset,
                length: length.get(),
            }),
            peek: true,
        }],
        structure: false,
    };
    let value = probe(message, &format!("{name} NIL"), &request).map_err(|e| match e {
        ServeError::Binary(b) => BinaryFailure::of(&b),
        // The probe's response has no partial item and the message is small enough to be
        // stored: these cannot happen, and a NO is the safe answer if they do.
        _ => BinaryFailure::No("NO [PARSE] Invalid data in MIME part."),
    })?;
    Ok(value
        .strip_prefix(name.as_bytes())
        .and_then(|v| v.strip_prefix(b" "))
        .unwrap_or(&value)
        .to_vec())
}

/// `BINARY.SIZE[part]`: 0 for a part that does not exist. Dovecot sizes the whole
/// message's decoded form first, so an existing part fails once any part cannot be decoded
/// (core/tests/imap_serve.rs, "size quirk").
pub(crate) fn binary_size(message: &[u8], part: &[NonZeroU32]) -> Result<u32, BinaryFailure> {
    let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
    let decoded = match binary_bytes(message, &path) {
        Ok(None) => return Ok(0),
        Ok(Some(decoded)) => decoded,
        Err(e) => {
            let whole = binary_bytes(message, &[]).err().unwrap_or(e);
            return Err(BinaryFailure::of(&whole));
        }
    };
    binary_bytes(message, &[]).map_err(|e| BinaryFailure::of(&e))?;
    Ok(u32::try_from(decoded.len()).unwrap_or(u32::MAX))
}

/// `ENVELOPE (…)`.
pub(crate) fn envelope(message: &[u8]) -> Vec<u8> {
    let request = FetchRequest {
        tag: String::new(),
        uid: false,
        messages: Vec::new(),
        content: Vec::new(),
        structure: false,
    };
    probe(
        message,
        "ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        &request,
    )
    .unwrap_or_else(|_| b"ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)".to_vec())
}

/// `BODYSTRUCTURE (…)` (with extension data) or `BODY (…)`.
pub(crate) fn structure(message: &[u8], extended: bool) -> Vec<u8> {
    let item = if extended {
        MessageDataItem::BodyStructure(bodystructure(message))
    } else {
        MessageDataItem::Body(body(message))
    };
    one_item(item)
}

/// `INTERNALDATE "01-Jan-2026 00:00:00 +0000"`: the delivery time in UTC, as Dovecot writes
/// it (`imap_to_datetime`, two-digit day).
pub(crate) fn internal_date(wall: WallClock, at: Timestamp) -> String {
    // "Thu, 01 Jan 2026 00:00:00 +0000"
    let date = rfc5322(wall.unix_ms(at));
    let words: Vec<&str> = date.split(' ').collect();
    match words.as_slice() {
        [_, day, month, year, time, zone] => {
            format!("INTERNALDATE \"{day}-{month}-{year} {time} {zone}\"")
        }
        _ => format!("INTERNALDATE \"{date}\""),
    }
}

/// Dovecot's time stamp in error texts (`%Y-%m-%d %H:%M:%S`).
pub(crate) fn stamp(wall: WallClock, at: Timestamp) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = rfc5322(wall.unix_ms(at));
    let words: Vec<&str> = date.split(' ').collect();
    match words.as_slice() {
        [_, day, month, year, time, _] => {
            let m = MONTHS.iter().position(|x| x == month).map_or(1, |i| i + 1);
            format!("{year}-{m:02}-{day} {time}")
        }
        _ => date,
    }
}

/// Asks core's `serve_from` for one item: `template` is the item with placeholder content,
/// the result the item as served (name and value), without the response around it.
fn probe(message: &[u8], template: &str, request: &FetchRequest) -> Result<Vec<u8>, ServeError> {
    let raw = format!("* 1 FETCH ({template})\r\n");
    let response = ServerResponse::from_bytes(raw.into_bytes());
    let Some(Ok(mut fetch)) = response.fetch() else {
        // The templates are fixed and parse: this is unreachable, and an empty item is
        // what the callers turn into their fallback.
        return Ok(Vec::new());
    };
    fetch.serve_from(message, request)?;
    Ok(unframe(fetch.encode()))
}

/// One item as imap-codec writes it.
fn one_item(item: MessageDataItem<'static>) -> Vec<u8> {
    let seq = NonZeroU32::MIN;
    let response = Response::Data(Data::Fetch {
        seq,
        items: Vec1::from(item),
    });
    unframe(ResponseCodec::default().encode(&response).dump())
}

/// `* 1 FETCH (ITEM)\r\n` → `ITEM`.
fn unframe(encoded: Vec<u8>) -> Vec<u8> {
    const HEAD: &[u8] = b"* 1 FETCH (";
    const TAIL: &[u8] = b")\r\n";
    match encoded
        .strip_prefix(HEAD)
        .and_then(|rest| rest.strip_suffix(TAIL))
    {
        Some(item) => item.to_vec(),
        None => encoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"From: a@b\r\nSubject: one\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n";

    #[test]
    fn items_are_written_as_dovecot_writes_them() {
        assert_eq!(
            internal_date(WallClock::SIMULATED, Timestamp::from_millis(3_723_000)),
            "INTERNALDATE \"01-Jan-2026 01:02:03 +0000\""
        );
        assert_eq!(
            stamp(WallClock::SIMULATED, Timestamp::ZERO),
            "2026-01-01 00:00:00"
        );
        assert_eq!(
            String::from_utf8_lossy(&envelope(MESSAGE)),
            "ENVELOPE (NIL \"one\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) \
             ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
        );
        // Decoded: a literal8, as Dovecot sends what it decoded.
        assert_eq!(
            binary(MESSAGE, &[NonZeroU32::MIN], None),
            Ok(b"~{5}\r\nhello".to_vec())
        );
        let two = NonZeroU32::new(2).map(|n| (1, n));
        assert_eq!(
            binary(MESSAGE, &[NonZeroU32::MIN], two),
            Ok(b"~{2}\r\nel".to_vec())
        );
        assert_eq!(binary_size(MESSAGE, &[NonZeroU32::MIN]), Ok(5));
        assert!(structure(MESSAGE, false).starts_with(b"BODY (\"TEXT\" \"plain\""));
    }

    #[test]
    fn broken_encodings_fail_as_dovecot_fails() {
        let cut = b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG\r\n";
        assert_eq!(binary(cut, &[], None), Err(BinaryFailure::Disconnect));
        let unknown = b"Content-Transfer-Encoding: x-uue\r\n\r\nabc\r\n";
        assert_eq!(
            binary_size(unknown, &[NonZeroU32::MIN]),
            Err(BinaryFailure::No(
                "NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding."
            ))
        );
    }
}
