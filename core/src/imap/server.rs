//! The server side: reads a server's responses (untagged, tagged, `+ ` continuations) with
//! their literals, and reads and rewrites FETCH responses for the session (a replaced message
//! literal, a corrected `RFC822.SIZE`, I6).

use std::borrow::Cow;

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8, Vec1};
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

use super::fetch::{ItemName, SectionSpec, SectionText, section_spec};
use super::framing::{FrameStep, Framer, WireError, WireLimits};

/// One complete response from the server, byte for byte as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerResponse {
    raw: Vec<u8>,
}

/// The three kinds of server response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseKind {
    /// `+ …`: the server waits for the rest of a command.
    Continuation,
    /// `* …`: data or status not tied to a command.
    Untagged,
    /// `tag OK|NO|BAD …`: a command is done.
    Tagged(String),
}

impl ServerResponse {
    /// Wraps bytes already known to be one whole response (tests, replays).
    pub fn from_bytes(raw: impl Into<Vec<u8>>) -> Self {
        Self { raw: raw.into() }
    }

    /// The bytes as received, to forward unchanged.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Which kind of response this is, by its first word.
    pub fn kind(&self) -> ResponseKind {
        let end = self
            .raw
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(self.raw.len());
        match &self.raw[..end] {
            b"+" => ResponseKind::Continuation,
            b"*" => ResponseKind::Untagged,
            tag => ResponseKind::Tagged(String::from_utf8_lossy(tag).into_owned()),
        }
    }

    /// The FETCH response this is, `None` if it is not an untagged FETCH; `Some(Err)` when the
    /// line says FETCH but imap-codec cannot parse it (the session must not serve it unjudged).
    pub fn fetch(&self) -> Option<Result<FetchResponse<'_>, String>> {
        let mut words = self.raw.split(|&b| b == b' ');
        let untagged = words.next() == Some(b"*");
        let _number = words.next();
        let fetch = words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"FETCH"));
        if !(untagged && fetch) {
            return None;
        }
        Some(match ResponseCodec::default().decode(&self.raw) {
            Ok(([], Response::Data(Data::Fetch { seq, items }))) => Ok(FetchResponse {
                seq: seq.get(),
                items: items.into_inner(),
            }),
            Ok(_) => Err("not a whole FETCH response".to_owned()),
            Err(error) => Err(format!("{error:?}")),
        })
    }
}

/// Incremental, sans-IO reader of a server's responses: [`ResponseReader::push`] the bytes, then
/// [`ResponseReader::next_response`] until `Ok(None)`. A server never waits for `+ `, so every
/// error is final.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    framer: Framer,
}

impl ResponseReader {
    /// A reader with the given limits.
    pub fn new(limits: WireLimits) -> Self {
        Self {
            framer: Framer::new(limits, false),
        }
    }

    /// Queues bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// The next whole response, or `Ok(None)` when more bytes are needed.
    pub fn next_response(&mut self) -> Result<Option<ServerResponse>, WireError> {
        loop {
            match self.framer.next_step()? {
                None => return Ok(None),
                Some(FrameStep::LiteralAnnounced { .. }) => {}
                Some(FrameStep::Message(raw)) => return Ok(Some(ServerResponse { raw })),
            }
        }
    }
}

/// A parsed `* n FETCH (…)` response, to read and to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse<'a> {
    seq: u32,
    items: Vec<MessageDataItem<'a>>,
}

/// One content item of a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedContent<'r> {
    /// The item's position in the response, for [`FetchResponse::replace_content`].
    pub index: usize,
    /// The item's name.
    pub name: ItemName,
    /// The section it answers.
    pub section: SectionSpec,
    /// `<origin>` of a partial answer.
    pub origin: Option<u32>,
    /// The bytes; `None` for NIL.
    pub data: Option<&'r [u8]>,
}

/// Why a FETCH response could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The index names no content item.
    #[error("item {0} of the FETCH response is not message content")]
    NotContent(usize),
    /// A BODY/RFC822 literal may not hold NUL bytes (only a BINARY literal8 may).
    #[error("replacement for item {0} holds a NUL byte, which a literal cannot carry")]
    NulInLiteral(usize),
}

impl<'a> FetchResponse<'a> {
    /// The message sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// The UID, when the response carries it.
    pub fn uid(&self) -> Option<u32> {
        self.items.iter().find_map(|item| match item {
            MessageDataItem::Uid(uid) => Some(uid.get()),
            _ => None,
        })
    }

    /// `RFC822.SIZE`, when the response carries it.
    pub fn rfc822_size(&self) -> Option<u32> {
        self.items.iter().find_map(|item| match item {
            MessageDataItem::Rfc822Size(size) => Some(*size),
            _ => None,
        })
    }

    /// Whether the response carries an item computed from the message's structure
    /// (`BODYSTRUCTURE`, `BODY`, `BINARY.SIZE`).
    pub fn has_structure(&self) -> bool {
        self.items.iter().any(|item| {
            matches!(
                item,
                MessageDataItem::BodyStructure(_)
                    | MessageDataItem::Body(_)
                    | MessageDataItem::BinarySize { .. }
            )
        })
    }

    /// The content items (BODY[…], RFC822…, BINARY[…]), in order.
    pub fn content(&self) -> Vec<FetchedContent<'_>> {
        let whole = SectionSpec::default;
        let text = |text| SectionSpec {
            part: Vec::new(),
            text: Some(text),
        };
        let mut out = Vec::new();
        for (index, item) in self.items.iter().enumerate() {
            let (name, section, origin, data) = match item {
                MessageDataItem::BodyExt {
                    section,
                    origin,
                    data,
                } => (
                    ItemName::Body,
                    section_spec(section.as_ref()),
                    *origin,
                    nstring(data),
                ),
                MessageDataItem::Rfc822(data) => (ItemName::Rfc822, whole(), None, nstring(data)),
                MessageDataItem::Rfc822Header(data) => (
                    ItemName::Rfc822,
                    text(SectionText::Header),
                    None,
                    nstring(data),
                ),
                MessageDataItem::Rfc822Text(data) => (
                    ItemName::Rfc822,
                    text(SectionText::Text),
                    None,
                    nstring(data),
                ),
                MessageDataItem::Binary { section, value } => {
                    let part = section.iter().map(|n| n.get()).collect();
                    let data = match value {
                        NString8::NString(data) => nstring(data),
                        NString8::Literal8(literal) => Some(literal.data.as_ref()),
                    };
                    (
                        ItemName::Binary,
                        SectionSpec { part, text: None },
                        None,
                        data,
                    )
                }
                _ => continue,
            };
            out.push(FetchedContent {
                index,
                name,
                section,
                origin,
                data,
            });
        }
        out
    }

    /// Replaces the bytes of content item `index` (as a literal, so any bytes fit).
    pub fn replace_content(&mut self, index: usize, bytes: Vec<u8>) -> Result<(), RewriteError> {
        let literal = |bytes: Vec<u8>| {
            Literal::try_from(bytes)
                .map(|l| NString(Some(IString::Literal(l))))
                .map_err(|_| RewriteError::NulInLiteral(index))
        };
        match self.items.get_mut(index) {
            Some(MessageDataItem::BodyExt { data, .. })
            | Some(MessageDataItem::Rfc822(data))
            | Some(MessageDataItem::Rfc822Header(data))
            | Some(MessageDataItem::Rfc822Text(data)) => *data = literal(bytes)?,
            Some(MessageDataItem::Binary { value, .. }) => {
                *value = NString8::Literal8(Literal8 {
                    data: Cow::Owned(bytes),
                    mode: LiteralMode::Sync,
                });
            }
            _ => return Err(RewriteError::NotContent(index)),
        }
        Ok(())
    }

    /// Sets `RFC822.SIZE` if the response carries it; returns whether it did.
    pub fn set_rfc822_size(&mut self, size: u32) -> bool {
        for item in &mut self.items {
            if let MessageDataItem::Rfc822Size(old) = item {
                *old = size;
                return true;
            }
        }
        false
    }

    /// The items, for [`FetchResponse::serve_from`](super::serve) to rewrite in place.
    pub(super) fn items_mut(&mut self) -> &mut [MessageDataItem<'a>] {
        &mut self.items
    }

    /// The response as bytes, CRLF-terminated, literals included.
    pub fn encode(&self) -> Vec<u8> {
        let (Some(seq), Ok(items)) = (
            std::num::NonZeroU32::new(self.seq),
            Vec1::try_from(self.items.clone()),
        ) else {
            // Unreachable: both come from a parsed response (seq ≥ 1, at least one item) and
            // items are replaced, never removed.
            return Vec::new();
        };
        ResponseCodec::default()
            .encode(&Response::Data(Data::Fetch { seq, items }))
            .dump()
    }
}

fn nstring<'r>(value: &'r NString<'_>) -> Option<&'r [u8]> {
    value.0.as_ref().map(|s| -> &[u8] { s.as_ref() })
}
