//! The FETCH classifier: for a client's FETCH or UID FETCH, which messages and which content
//! items it asks for, so the session knows what it must hold and judge (I1, I6).
//!
//! Parsing is imap-codec's; the result is translated into this module's own types so the session
//! never depends on the crate's. A FETCH that imap-codec cannot parse is [`ContentFetch::Unknown`]:
//! the session fetches the message whole and judges it, or refuses the command, but never passes
//! it through. One non-standard form real clients send is understood on purpose: `RFC822.PEEK`
//! (Outlook against non-rev1 servers, `reference/IMAP.md` §3), which imap-codec rejects.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{AString, Tag, Vec1};
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section,
};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::client::ClientCommand;

/// What a client command asks for, as far as message content goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentFetch {
    /// Not a FETCH or UID FETCH.
    NotFetch,
    /// A FETCH understood item by item.
    Fetch(FetchRequest),
    /// A FETCH (by its command word) that could not be parsed: never pass it through.
    Unknown {
        /// What the parser said, for the log.
        reason: String,
    },
}

/// A parsed FETCH or UID FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The command's tag.
    pub tag: String,
    /// UID FETCH (the set names UIDs) rather than FETCH (sequence numbers).
    pub uid: bool,
    /// The messages, as written (`*` is [`SeqBound::Last`]).
    pub messages: Vec<SeqRange>,
    /// The items that return message content, in the order asked.
    pub content: Vec<ContentItem>,
    /// Whether it asks for an item computed from the message's structure: `BODYSTRUCTURE`,
    /// `BODY`, `BINARY.SIZE` (or the `FULL` macro, which holds `BODY`). A rewritten message
    /// has its own, so these are held and judged like content (I6).
    pub structure: bool,
}

impl FetchRequest {
    /// Whether any item returns message content (otherwise only FLAGS, UID, ENVELOPE,
    /// BODYSTRUCTURE, RFC822.SIZE, BINARY.SIZE and the like were asked for).
    pub fn asks_for_content(&self) -> bool {
        !self.content.is_empty()
    }
}

/// A range of a sequence set; a single number has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// One end, as written.
    pub first: SeqBound,
    /// The other end, as written (IMAP allows `5:2` for `2:5`).
    pub last: SeqBound,
}

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound {
    /// A sequence number or UID.
    Number(u32),
    /// `*`: the largest number in use.
    Last,
}

/// The item name a content item is asked (and answered) under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemName {
    /// `BODY[…]` or `BODY.PEEK[…]`, answered as `BODY[…]`.
    Body,
    /// `RFC822`, `RFC822.PEEK`, `RFC822.HEADER` or `RFC822.TEXT`, answered under the same name
    /// (without `.PEEK`).
    Rfc822,
    /// `BINARY[…]` or `BINARY.PEEK[…]` (RFC 3516): the part transfer-decoded.
    Binary,
}

/// One item that returns content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentItem {
    /// Which item.
    pub name: ItemName,
    /// Which part of the message.
    pub section: SectionSpec,
    /// `<offset.length>`, when only a range of the section is asked for.
    pub partial: Option<Partial>,
    /// Whether `\Seen` is left alone (`.PEEK`, and RFC822.HEADER).
    pub peek: bool,
}

/// A partial fetch `<offset.length>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// The first octet.
    pub offset: u32,
    /// At most this many octets.
    pub length: u32,
}

/// A section: a part path (`2.1`; empty for the message itself) and what of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionSpec {
    /// Part numbers from the top (`[2, 1]` for `2.1`); empty for the whole message.
    pub part: Vec<u32>,
    /// `HEADER`, `TEXT`, `MIME`…; `None` for the whole part.
    pub text: Option<SectionText>,
}

impl SectionSpec {
    /// Whether this is the whole message (`BODY[]`, `RFC822`, `BINARY[]`).
    pub fn is_whole_message(&self) -> bool {
        self.part.is_empty() && self.text.is_none()
    }
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (…)`, the field names as asked.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (…)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`: the body without the header.
    Text,
    /// `MIME`: the MIME header of a part.
    Mime,
}

/// Classifies a client command (see the module doc).
pub fn fetch_content(command: &ClientCommand) -> ContentFetch {
    if !names_fetch(command.raw()) {
        return ContentFetch::NotFetch;
    }
    let codec = CommandCodec::default();
    let error = match codec.decode(command.raw()) {
        Ok(([], parsed)) => return classify(&parsed.tag, &parsed.body, false),
        Ok(_) => "bytes after the command".to_owned(),
        Err(error) => format!("{error:?}"),
    };
    // `RFC822.PEEK` is RFC822 without setting \Seen; parse it as RFC822 and mark it peeked.
    if let Some(rewritten) = without_rfc822_peek(command.raw())
        && let Ok((rest, parsed)) = codec.decode(&rewritten)
        && rest.is_empty()
    {
        return classify(&parsed.tag, &parsed.body, true);
    }
    ContentFetch::Unknown { reason: error }
}

/// Whether the command word (after the tag, and after `UID`) is FETCH, whatever the rest says.
fn names_fetch(raw: &[u8]) -> bool {
    let line_end = raw
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    let mut words = raw[..line_end]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .skip(1);
    match words.next() {
        Some(word) if word.eq_ignore_ascii_case(b"UID") => words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"FETCH")),
        Some(word) => word.eq_ignore_ascii_case(b"FETCH"),
        None => false,
    }
}

/// The command with each `RFC822.PEEK` item written `RFC822`, or `None` if there is none (or
/// the command has a literal, where a blind rewrite could change literal bytes).
fn without_rfc822_peek(raw: &[u8]) -> Option<Vec<u8>> {
    const PEEK: &[u8] = b"RFC822.PEEK";
    if raw.contains(&b'{') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut found = false;
    let mut i = 0;
    while i < raw.len() {
        let window = raw.get(i..i + PEEK.len());
        let boundary_after = raw
            .get(i + PEEK.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if window.is_some_and(|w| w.eq_ignore_ascii_case(PEEK)) && boundary_after {
            out.extend_from_slice(b"RFC822");
            i += PEEK.len();
            found = true;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    found.then_some(out)
}

fn classify(tag: &Tag<'_>, body: &CommandBody<'_>, rfc822_peek: bool) -> ContentFetch {
    let CommandBody::Fetch {
        sequence_set,
        macro_or_item_names,
        uid,
        ..
    } = body
    else {
        return ContentFetch::NotFetch;
    };
    let names: &[MessageDataItemName<'_>] = match macro_or_item_names {
        // ALL, FAST and FULL name no content.
        MacroOrMessageDataItemNames::Macro(_) => &[],
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
    };
    let structure = match macro_or_item_names {
        MacroOrMessageDataItemNames::Macro(m) => matches!(m, Macro::Full),
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::BodyStructure
                    | MessageDataItemName::Body
                    | MessageDataItemName::BinarySize { .. }
            )
        }),
    };
    ContentFetch::Fetch(FetchRequest {
        tag: tag.inner().to_owned(),
        uid: *uid,
        messages: ranges(sequence_set),
        content: names
            .iter()
            .filter_map(|name| content_item(name, rfc822_peek))
            .collect(),
        structure,
    })
}

fn ranges(set: &SequenceSet) -> Vec<SeqRange> {
    let bound = |value: &SeqOrUid| match value {
        SeqOrUid::Value(n) => SeqBound::Number(n.get()),
        SeqOrUid::Asterisk => SeqBound::Last,
    };
    set.0
        .as_ref()
        .iter()
        .map(|sequence| match sequence {
            Sequence::Single(v) => SeqRange {
                first: bound(v),
                last: bound(v),
            },
            Sequence::Range(a, b) => SeqRange {
                first: bound(a),
                last: bound(b),
            },
        })
        .collect()
}

fn content_item(name: &MessageDataItemName<'_>, rfc822_peek: bool) -> Option<ContentItem> {
    let item = |name, section, partial: Option<(u32, std::num::NonZeroU32)>, peek| ContentItem {
        name,
        section,
        partial: partial.map(|(offset, length)| Partial {
            offset,
            length: length.get(),
        }),
        peek,
    };
    let text = |text| SectionSpec {
        part: Vec::new(),
        text: Some(text),
    };
    Some(match name {
        MessageDataItemName::BodyExt {
            section,
            partial,
            peek,
        } => item(
            ItemName::Body,
            section_spec(section.as_ref()),
            *partial,
            *peek,
        ),
        MessageDataItemName::Rfc822 => {
            item(ItemName::Rfc822, SectionSpec::default(), None, rfc822_peek)
        }
        MessageDataItemName::Rfc822Header => {
            item(ItemName::Rfc822, text(SectionText::Header), None, true)
        }
        MessageDataItemName::Rfc822Text => {
            item(ItemName::Rfc822, text(SectionText::Text), None, false)
        }
        MessageDataItemName::Binary {
            section,
            partial,
            peek,
        } => {
            let part = section.iter().map(|n| n.get()).collect();
            item(
                ItemName::Binary,
                SectionSpec { part, text: None },
                *partial,
                *peek,
            )
        }
        _ => return None,
    })
}

/// imap-codec's section as ours (shared with the FETCH response reader).
pub(crate) fn section_spec(section: Option<&Section<'_>>) -> SectionSpec {
    let path = |part: Option<&Part>| -> Vec<u32> {
        part.map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
            .unwrap_or_default()
    };
    let fields = |names: &Vec1<AString<'_>>| {
        names
            .as_ref()
            .iter()
            .map(|name| String::from_utf8_lossy(name.as_ref()).into_owned())
            .collect()
    };
    let (part, text) = match section {
        None => (Vec::new(), None),
        Some(Section::Part(part)) => (path(Some(part)), None),
        Some(Section::Header(part)) => (path(part.as_ref()), Some(SectionText::Header)),
        Some(Section::HeaderFields(part, names)) => (
            path(part.as_ref()),
            Some(SectionText::HeaderFields(fields(names))),
        ),
        Some(Section::HeaderFieldsNot(part, names)) => (
            path(part.as_ref()),
            Some(SectionText::HeaderFieldsNot(fields(names))),
        ),
        Some(Section::Text(part)) => (path(part.as_ref()), Some(SectionText::Text)),
        Some(Section::Mime(part)) => (path(Some(part)), Some(SectionText::Mime)),
    };
    SectionSpec { part, text }
}
