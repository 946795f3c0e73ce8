//! BODYSTRUCTURE and BODY (RFC 3501 §7.4.2) computed from a message's bytes, as Dovecot 2.3
//! writes them (`lib-mail/message-part-data.c`, `lib-imap/imap-bodystructure.c`), as
//! imap-types values that encode through imap-codec.
//!
//! Per part: type and subtype as written (text/plain without a Content-Type), parameters
//! (RFC 2231 continuations merged; `charset us-ascii` added to a text part without one), id,
//! description, encoding (`7bit` without one), the body's size in bytes, lines for text/*,
//! envelope, structure and lines of an attached message/rfc822; with extension data, MD5,
//! disposition, language and location. Content-* fields count only in a MIME entity. A
//! multipart without parts is written with one empty text/plain part; a part the parser's
//! limits kept it from entering is application/octet-stream. Sizes and line counts are of the
//! bytes as they are (Dovecot counts a bare LF as CRLF, since it serves CRLF).
//!
//! imap-codec writes the type of a text part as `"TEXT"` and a message/rfc822 part as
//! `"MESSAGE" "RFC822"`, where Dovecot writes them as the message spells them (usually
//! lower case); IMAP compares them case-insensitively, and that is the only difference.

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Vec1};

use super::message::address::strdup;
use super::message::envelope;
use super::message::header;
use super::message::params::Param;
use super::message::parts::{self, Kind, Part};
use super::message::quote::{nstring_nolf, string};
use super::message::rfc822::{Lexer, Step};

/// `BODYSTRUCTURE` of `message`: the structure with extension data.
pub fn bodystructure(message: &[u8]) -> BodyStructure<'static> {
    structure_of(message, &parts::parse(message), true)
}

/// `BODY` of `message`: the structure without extension data.
pub fn body(message: &[u8]) -> BodyStructure<'static> {
    structure_of(message, &parts::parse(message), false)
}

/// The structure of a parsed message, with or without extension data.
pub(crate) fn structure_of(message: &[u8], tree: &Part, extended: bool) -> BodyStructure<'static> {
    structure(message, tree, extended)
}

/// The Content-* fields of one part that BODYSTRUCTURE shows.
#[derive(Debug, Default)]
struct PartData {
    /// Type and subtype, as written; `None` without a Content-Type.
    content_type: Option<(Vec<u8>, Vec<u8>)>,
    params: Vec<Param>,
    id: Option<Vec<u8>>,
    description: Option<Vec<u8>>,
    encoding: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    disposition: Option<(Vec<u8>, Vec<Param>)>,
    language: Option<Vec<Vec<u8>>>,
    location: Option<Vec<u8>>,
}

/// What Dovecot reads from a part's header (`message_part_data_parse_from_header`): the
/// first of each field, except a Content-Disposition after one without parameters, which
/// replaces it, and a Content-Transfer-Encoding after one that was no single token.
fn part_data(message: &[u8], part: &Part) -> PartData {
    let mut d = PartData::default();
    if !part.is_mime {
        return d;
    }
    let header_bytes = message.get(part.start..part.body).unwrap_or_default();
    for field in header::fields(header_bytes).0 {
        let name = header::c_name(field.name);
        let Some(rest) = name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case(b"content-"))
            .map(|_| name[8..].to_ascii_lowercase())
        else {
            continue;
        };
        let value = field.value();
        match rest.as_slice() {
            b"id" if d.id.is_none() => d.id = Some(strdup(&value)),
            b"md5" if d.md5.is_none() => d.md5 = Some(strdup(&value)),
            b"description" if d.description.is_none() => d.description = Some(strdup(&value)),
            b"location" if d.location.is_none() => d.location = Some(strdup(&value)),
            b"type" if d.content_type.is_none() => {
                let mut lexer = Lexer::new(&value);
                lexer.skip_lwsp();
                let mut ct = Vec::new();
                let step = lexer.parse_content_type(&mut ct);
                let (ty, sub) = match ct.iter().position(|&b| b == b'/') {
                    Some(slash) => (ct[..slash].to_vec(), ct[slash + 1..].to_vec()),
                    None => (ct.clone(), Vec::new()),
                };
                d.content_type = Some((ty, sub));
                if step != Step::Error {
                    d.params = lexer.parse_rfc2231_params();
                }
            }
            b"transfer-encoding" if d.encoding.is_none() => {
                let mut lexer = Lexer::new(&value);
                lexer.skip_lwsp();
                let mut token = Vec::new();
                if lexer.parse_mime_token(&mut token) != Step::Error
                    && lexer.skip_lwsp() == Step::End
                    && !token.is_empty()
                {
                    d.encoding = Some(token);
                }
            }
            b"disposition" if d.disposition.as_ref().is_none_or(|(_, p)| p.is_empty()) => {
                let mut lexer = Lexer::new(&value);
                lexer.skip_lwsp();
                let mut token = Vec::new();
                if lexer.parse_mime_token(&mut token) != Step::Error {
                    d.disposition = Some((token, lexer.parse_rfc2231_params()));
                }
            }
            b"language" if d.language.is_none() => {
                let mut lexer = Lexer::new(&value);
                lexer.skip_lwsp();
                let mut langs = Vec::new();
                loop {
                    let mut atom = Vec::new();
                    if lexer.parse_atom(&mut atom) == Step::Error {
                        break;
                    }
                    langs.push(atom);
                    if lexer.at_end() || lexer.peek() != b',' {
                        break;
                    }
                    lexer.pos += 1;
                    lexer.skip_lwsp();
                }
                if !langs.is_empty() {
                    d.language = Some(langs);
                }
            }
            _ => {}
        }
    }
    d
}

fn params(list: &[Param], default_charset: bool) -> Vec<(IString<'static>, IString<'static>)> {
    let mut out: Vec<_> = list.iter().map(|(k, v)| (string(k), string(v))).collect();
    if default_charset && !list.iter().any(|(k, _)| k.eq_ignore_ascii_case(b"charset")) {
        out.push((string(b"charset"), string(b"us-ascii")));
    }
    out
}

/// Disposition, language and location, the tail both kinds of extension data share.
fn common_tail(d: &PartData) -> Disposition<'static> {
    Disposition {
        disposition: d
            .disposition
            .as_ref()
            .map(|(kind, p)| (string(kind), params(p, false))),
        tail: Some(Language {
            language: d.language.iter().flatten().map(|l| string(l)).collect(),
            tail: Some(Location {
                location: nstring_nolf(d.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

fn lines(bytes: &[u8]) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', bytes).count()).unwrap_or(u32::MAX)
}

fn size(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

/// The empty text/plain part Dovecot writes for a multipart without parts.
fn empty_part(extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: params(&[], true),
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: string(b"7bit"),
                size: 0,
            },
            specific: SpecificFields::Text {
                subtype: string(b"plain"),
                number_of_lines: 0,
            },
        },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: Some(Disposition {
                disposition: None,
                tail: Some(Language {
                    language: Vec::new(),
                    tail: Some(Location {
                        location: NString(None),
                        extensions: Vec::new(),
                    }),
                }),
            }),
        }),
    }
}

fn structure(message: &[u8], part: &Part, extended: bool) -> BodyStructure<'static> {
    let d = part_data(message, part);
    let body_bytes = message.get(part.body..part.end).unwrap_or_default();
    if let Kind::Multipart { .. } = part.kind {
        let children: Vec<_> = part
            .children
            .iter()
            .map(|c| structure(message, c, extended))
            .collect();
        let bodies = Vec1::try_from(children).unwrap_or_else(|_| Vec1::from(empty_part(extended)));
        let subtype = d.content_type.as_ref().map_or(&b""[..], |(_, s)| s);
        return BodyStructure::Multi {
            bodies,
            subtype: string(subtype),
            extension_data: extended.then(|| MultiPartExtensionData {
                parameter_list: params(&d.params, false),
                tail: Some(common_tail(&d)),
            }),
        };
    }
    let lower = |s: &[u8]| s.to_ascii_lowercase();
    let truncated = match (&d.content_type, part.kind) {
        (_, Kind::Message) => false,
        (Some((ty, sub)), _) => {
            (lower(ty) == b"message" && lower(sub) == b"rfc822") || lower(ty) == b"multipart"
        }
        // Without a Content-Type only a digest's part past the limits is "Other": it
        // should have been message/rfc822.
        (None, kind) => kind == Kind::Other,
    };
    let (specific_type, is_text) = match (&d.content_type, part.kind) {
        (_, Kind::Message) => (None, false),
        _ if truncated => (
            Some((b"application".to_vec(), b"octet-stream".to_vec())),
            false,
        ),
        (None, _) => (Some((b"text".to_vec(), b"plain".to_vec())), true),
        (Some((ty, sub)), _) => (Some((ty.clone(), sub.clone())), lower(ty) == b"text"),
    };
    let basic = BasicFields {
        parameter_list: params(&d.params, is_text),
        id: nstring_nolf(d.id.as_deref()),
        description: nstring_nolf(d.description.as_deref()),
        content_transfer_encoding: string(d.encoding.as_deref().unwrap_or(b"7bit")),
        size: size(body_bytes),
    };
    let specific = match specific_type {
        None => {
            // message/rfc822: the attached message is the one child.
            let (env, inner) = match part.children.first() {
                Some(child) => (
                    envelope::envelope(message.get(child.start..child.body).unwrap_or_default()),
                    structure(message, child, extended),
                ),
                None => (envelope::write(&Default::default()), empty_part(extended)),
            };
            SpecificFields::Message {
                envelope: Box::new(env),
                body_structure: Box::new(inner),
                number_of_lines: lines(body_bytes),
            }
        }
        Some((_, sub)) if is_text => SpecificFields::Text {
            subtype: string(&sub),
            number_of_lines: lines(body_bytes),
        },
        Some((ty, sub)) => SpecificFields::Basic {
            r#type: string(&ty),
            subtype: string(&sub),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: nstring_nolf(d.md5.as_deref()),
            tail: Some(common_tail(&d)),
        }),
    }
}
