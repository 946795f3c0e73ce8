//! Serving a rewritten message (I6): [`FetchResponse::serve_from`] rewrites every
//! content-dependent item of a server's FETCH response from the judged copy, so that literal
//! sizes, `RFC822.SIZE`, `BODYSTRUCTURE` and `ENVELOPE` agree with the bytes the client gets,
//! across full, partial and section fetches.
//!
//! Each item is computed from the served message as Dovecot computes it from a stored one
//! ([`section_bytes`](super::section_bytes), [`binary_bytes`](super::binary_bytes),
//! [`bodystructure`](super::bodystructure()), docs/imap.md "Serving a rewritten message").
//! Items that do not depend on the content (UID, FLAGS, INTERNALDATE, MODSEQ) stay as the
//! server sent them.

use std::borrow::Cow;
use std::cell::OnceCell;

use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8};
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::MessageDataItem;

use super::binary::{BinaryError, binary};
use super::bodystructure;
use super::fetch::{ContentItem, FetchRequest, ItemName, SectionSpec, SectionText, section_spec};
use super::message::envelope;
use super::message::parts::{self, Part};
use super::section::{partial, section_of, without_nul};
use super::server::FetchResponse;

/// Why a FETCH response could not be served from the judged copy; the session must then not
/// send it (and answer the command itself, e.g. `NO`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The response has a partial item (`BODY[…]<origin>`) that no item of the request asks
    /// for, so its length is unknown.
    #[error("the response's {item} has an origin <{origin}> the request did not ask for")]
    UnmatchedPartial {
        /// The item as the response names it, e.g. `BODY[2]`.
        item: String,
        /// Its `<origin>`.
        origin: u32,
    },
    /// A BINARY or BINARY.SIZE item of a part that cannot be decoded (`NO [UNKNOWN-CTE]` or
    /// `NO [PARSE]`).
    #[error("BINARY of the served message: {0}")]
    Binary(#[from] BinaryError),
    /// The served message or a section of it is larger than an IMAP size can say (4 GiB).
    #[error("{what} of {len} bytes is larger than an IMAP size (u32)")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

impl FetchResponse<'_> {
    /// Rewrites every content-dependent item of this response from `message` (the served
    /// copy), taking the length of each partial item from the matching item of `request`
    /// (the response carries only the origin):
    ///
    /// - `BODY[section]<origin>`, `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`: the section's
    ///   bytes (a missing part: empty), as a literal; NUL bytes are sent as 0x80, as Dovecot
    ///   sends them, so no response fails on them and sizes stay;
    /// - `BINARY[part]`: the part decoded, as `~{n}` when something was decoded or it holds
    ///   NUL, `{n}` otherwise (Dovecot's choice); `BINARY.SIZE[part]`: its length;
    /// - `RFC822.SIZE`: the message's length; `BODYSTRUCTURE`, `BODY`, `ENVELOPE`: computed.
    ///
    /// On error the response may be partly rewritten: do not send it.
    pub fn serve_from(&mut self, message: &[u8], request: &FetchRequest) -> Result<(), ServeError> {
        let copy = Copy {
            message,
            tree: OnceCell::new(),
        };
        let mut used = vec![false; request.content.len()];
        for item in self.items_mut() {
            serve_item(item, &copy, request, &mut used)?;
        }
        Ok(())
    }
}

/// The served copy, and its part tree parsed on first use: the chunks of a whole-message
/// download (Thunderbird's `BODY[]<n.65536>`, one command each) need none.
struct Copy<'m> {
    message: &'m [u8],
    tree: OnceCell<Part>,
}

impl<'m> Copy<'m> {
    fn tree(&self) -> &Part {
        self.tree.get_or_init(|| parts::parse(self.message))
    }

    /// The section's bytes as a server sends them (NUL as 0x80); empty for a missing part.
    fn section(&self, spec: &SectionSpec) -> Cow<'m, [u8]> {
        let bytes = if spec.is_whole_message() {
            Cow::Borrowed(self.message)
        } else {
            section_of(self.message, self.tree(), spec).unwrap_or_default()
        };
        without_nul(bytes)
    }
}

fn serve_item(
    item: &mut MessageDataItem<'_>,
    copy: &Copy<'_>,
    request: &FetchRequest,
    used: &mut [bool],
) -> Result<(), ServeError> {
    let whole = SectionSpec::default;
    let text = |text| SectionSpec {
        part: Vec::new(),
        text: Some(text),
    };
    match item {
        MessageDataItem::BodyExt {
            section,
            origin,
            data,
        } => {
            let spec = section_spec(section.as_ref());
            let bytes = copy.section(&spec);
            let asked = matching(request, used, ItemName::Body, &spec, *origin)
                .and_then(|i| request.content[i].partial);
            let bytes = match (*origin, asked) {
                (Some(origin), Some(p)) => Cow::Owned(partial(&bytes, origin, p.length).to_vec()),
                (Some(origin), None) => {
                    return Err(ServeError::UnmatchedPartial {
                        item: format!("BODY[{}]", show(&spec)),
                        origin,
                    });
                }
                // A server that left out the origin of a range the client asked for: the
                // client still gets only that range.
                (None, Some(p)) => Cow::Owned(partial(&bytes, p.offset, p.length).to_vec()),
                (None, None) => bytes,
            };
            *data = literal(bytes.into_owned(), "a BODY section")?;
        }
        MessageDataItem::Rfc822(data) => {
            *data = literal(copy.section(&whole()).into_owned(), "RFC822")?;
        }
        MessageDataItem::Rfc822Header(data) => {
            *data = literal(
                copy.section(&text(SectionText::Header)).into_owned(),
                "RFC822.HEADER",
            )?;
        }
        MessageDataItem::Rfc822Text(data) => {
            *data = literal(
                copy.section(&text(SectionText::Text)).into_owned(),
                "RFC822.TEXT",
            )?;
        }
        MessageDataItem::Binary { section, value } => {
            let spec = SectionSpec {
                part: section.iter().map(|n| n.get()).collect(),
                text: None,
            };
            let decoded = binary(copy.message, copy.tree(), &spec.part)?.unwrap_or_default();
            let mut bytes = decoded.bytes;
            if let Some(p) = matching(request, used, ItemName::Binary, &spec, None)
                .and_then(|i| request.content[i].partial)
            {
                bytes = partial(&bytes, p.offset, p.length).to_vec();
            }
            check_size(bytes.len(), "a BINARY section")?;
            *value = if decoded.literal8 || memchr::memchr(0, &bytes).is_some() {
                NString8::Literal8(Literal8 {
                    data: Cow::Owned(bytes),
                    mode: LiteralMode::Sync,
                })
            } else {
                NString8::NString(literal(bytes, "a BINARY section")?)
            };
        }
        MessageDataItem::BinarySize { section, size } => {
            let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
            let decoded = binary(copy.message, copy.tree(), &path)?.unwrap_or_default();
            *size = check_size(decoded.bytes.len(), "a BINARY section")?;
        }
        MessageDataItem::Rfc822Size(size) => {
            *size = check_size(copy.message.len(), "the served message")?;
        }
        MessageDataItem::BodyStructure(structure) => {
            *structure = bodystructure::structure_of(copy.message, copy.tree(), true);
        }
        MessageDataItem::Body(structure) => {
            *structure = bodystructure::structure_of(copy.message, copy.tree(), false);
        }
        MessageDataItem::Envelope(env) => {
            let tree = copy.tree();
            *env = envelope::envelope(copy.message.get(tree.start..tree.body).unwrap_or_default());
        }
        // UID, FLAGS, INTERNALDATE, MODSEQ: not content.
        _ => {}
    }
    Ok(())
}

/// The first request item not yet used that this response item answers: same name, same
/// section (header field names compared case-insensitively: Dovecot answers them in upper
/// case), and the same offset for a partial answer; an answer without origin takes an item
/// without a range first, then one with.
fn matching(
    request: &FetchRequest,
    used: &mut [bool],
    name: ItemName,
    spec: &SectionSpec,
    origin: Option<u32>,
) -> Option<usize> {
    let same = |item: &ContentItem| item.name == name && same_section(&item.section, spec);
    let exact = |item: &ContentItem| match origin {
        Some(origin) => item.partial.is_some_and(|p| p.offset == origin),
        None => item.partial.is_none(),
    };
    let free = |i: &usize| !used[*i];
    let all = 0..request.content.len();
    let index = all
        .clone()
        .filter(free)
        .find(|&i| same(&request.content[i]) && exact(&request.content[i]))
        .or_else(|| {
            origin
                .is_none()
                .then(|| all.filter(free).find(|&i| same(&request.content[i])))?
        })?;
    used[index] = true;
    Some(index)
}

fn same_section(a: &SectionSpec, b: &SectionSpec) -> bool {
    let names = |x: &[String], y: &[String]| {
        x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.eq_ignore_ascii_case(y))
    };
    a.part == b.part
        && match (&a.text, &b.text) {
            (Some(SectionText::HeaderFields(x)), Some(SectionText::HeaderFields(y)))
            | (Some(SectionText::HeaderFieldsNot(x)), Some(SectionText::HeaderFieldsNot(y))) => {
                names(x, y)
            }
            (x, y) => x == y,
        }
}

fn literal(bytes: Vec<u8>, what: &'static str) -> Result<NString<'static>, ServeError> {
    check_size(bytes.len(), what)?;
    // NUL is the one byte a literal may not hold (CHAR8), and `without_nul` leaves none.
    let bytes = without_nul(Cow::Owned(bytes)).into_owned();
    Ok(NString(Some(IString::Literal(Literal::unvalidated(bytes)))))
}

fn check_size(len: usize, what: &'static str) -> Result<u32, ServeError> {
    u32::try_from(len).map_err(|_| ServeError::TooLarge { what, len })
}

/// A section as the response writes it, for error messages.
fn show(spec: &SectionSpec) -> String {
    let mut out: Vec<String> = spec.part.iter().map(u32::to_string).collect();
    let text = match &spec.text {
        None => None,
        Some(SectionText::Header) => Some("HEADER".to_owned()),
        Some(SectionText::Text) => Some("TEXT".to_owned()),
        Some(SectionText::Mime) => Some("MIME".to_owned()),
        Some(SectionText::HeaderFields(n)) => Some(format!("HEADER.FIELDS ({})", n.join(" "))),
        Some(SectionText::HeaderFieldsNot(n)) => {
            Some(format!("HEADER.FIELDS.NOT ({})", n.join(" ")))
        }
    };
    out.extend(text);
    out.join(".")
}
