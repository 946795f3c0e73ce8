//! The files in a raw message: every attachment, transfer-decoded, archives expanded.
//!
//! [`extract`] parses with mail-parser (which never panics and parses nested messages with an
//! explicit stack), then walks the part tree itself so that it can apply its own named
//! [`MimeLimits`]. A leaf part is an *attachment* when its Content-Disposition is `attachment`
//! or it carries a file name (`filename=` or the Content-Type `name=`), the same rule as
//! Python's `email` package. Each attachment is transfer-decoded; if its bytes are an archive
//! (recognised by content, see [`crate::archive`]) its members become the files, otherwise
//! the attachment itself is the file. Every file is identified by the MD5 of its bytes.
//!
//! Malformed input is data, not an error: the walk finds what it can and says what was wrong
//! in [`Extraction::malformed`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::archive::{self, ArchiveLimits, MemberContent, Unscannable};
use crate::digest::Md5;

/// Bounds on one message's extraction. Defaults are generous for real mail and small enough
/// that hostile input stays cheap.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MimeLimits {
    /// Largest message scanned, in bytes. Default 64 MiB (Postfix's `message_size_limit`
    /// default is 10 MB; gateways commonly allow a few times that). A larger message is not
    /// parsed: it is flagged [`Malformed::TooLarge`] and holds no files.
    pub max_message_bytes: usize,
    /// Deepest nesting of multiparts and attached messages walked. Default 32.
    pub max_depth: u32,
    /// Most MIME parts walked in one message (containers included). Default 2,000.
    pub max_parts: u32,
    /// Limits for archive attachments. Their byte and member budgets are shared by all the
    /// archives of one message, so many small bombs cost no more than one.
    pub archive: ArchiveLimits,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_message_bytes: 64 << 20,
            max_depth: 32,
            max_parts: 2_000,
            archive: ArchiveLimits::default(),
        }
    }
}

/// What was wrong with a message. Malformed messages still yield every file that was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// No header block: the parser found no message at all.
    NoHeaders,
    /// Larger than [`MimeLimits::max_message_bytes`]; not parsed.
    TooLarge,
    /// Nesting deeper than [`MimeLimits::max_depth`]; the deeper parts were not walked.
    DepthLimit,
    /// More parts than [`MimeLimits::max_parts`]; the rest were not walked.
    PartLimit,
    /// A part's transfer encoding was broken (for example bad base64); it was decoded
    /// leniently, skipping what is not part of the encoding.
    BadTransferEncoding,
    /// A multipart whose closing delimiter (`--boundary--`) never came.
    UnterminatedMultipart,
}

/// One attachment part as it sits in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name, decoded (RFC 2047/2231); empty when the part has none.
    pub name: String,
    /// Lowercase `type/subtype`; `text/plain` when the part declares none.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// MD5 of the decoded bytes.
    pub md5: Md5,
    /// The bytes of the raw message to replace when this attachment is rewritten: the part's
    /// headers and body. For a part inside a base64-encoded attached message it is the span of
    /// that whole attached message, the smallest piece that can be replaced in place.
    pub span: Range<usize>,
    /// The archive format, when the attachment is one.
    pub archive: Option<archive::ArchiveKind>,
}

/// One file: an attachment, or a member of an archive attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Index into [`Extraction::attachments`] of the attachment this file came from.
    pub attachment: usize,
    /// The attachment's file name, or for an archive member its path inside the archive.
    pub name: String,
    /// Lowercase `type/subtype`; archive members are `application/octet-stream`.
    pub content_type: String,
    /// Size of the file's bytes.
    pub size: u64,
    /// MD5 of the file's bytes: its identity for the verdict cache and the data center.
    pub md5: Md5,
    /// For an archive member, the archive attachment's file name.
    pub archive: Option<String>,
    /// Why the file cannot be analysed (an encrypted member, an archive over its limits),
    /// or `None` when it can.
    pub unscannable: Option<Unscannable>,
    /// The file's bytes, kept only when [`extract_with_contents`] asked for them.
    pub content: Option<Vec<u8>>,
}

/// Everything found in one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The attachment parts, in message order.
    pub attachments: Vec<Attachment>,
    /// The files, in message order, archive members in archive order.
    pub files: Vec<File>,
    /// What was malformed, each kind once.
    pub malformed: BTreeSet<Malformed>,
}

impl Extraction {
    /// True when limits stopped the walk, so that files may exist that were not found.
    pub fn is_incomplete(&self) -> bool {
        self.malformed.iter().any(|m| {
            matches!(
                m,
                Malformed::TooLarge | Malformed::DepthLimit | Malformed::PartLimit
            )
        })
    }
}

/// Finds the files of `raw`, dropping their bytes once hashed.
pub fn extract(raw: &[u8], limits: &MimeLimits) -> Extraction {
    Walker::new(raw, limits, false).run()
}

/// As [`extract`], and keeps each file's bytes in [`File::content`] (for a data center that
/// looks at content, such as the live proxy's EICAR check).
pub fn extract_with_contents(raw: &[u8], limits: &MimeLimits) -> Extraction {
    Walker::new(raw, limits, true).run()
}

/// The transfer-decoded body of one part given as its raw headers and body (an
/// [`Attachment::span`]), for rewriting. Empty if nothing parses.
pub fn decode_part(part: &[u8]) -> Vec<u8> {
    let Some(message) = MessageParser::default().parse(part) else {
        return Vec::new();
    };
    match message.parts.first() {
        Some(p) => decoded_bytes(&message, p).into_owned(),
        None => Vec::new(),
    }
}

/// A part still to visit: which message it belongs to, its index there, its depth, and the
/// span in the top-level message that stands for it when it cannot be spliced by itself.
struct Pending<'m, 'x> {
    message: &'m Message<'x>,
    part: usize,
    depth: u32,
    splice: Option<Range<usize>>,
}

struct Walker<'r> {
    raw: &'r [u8],
    limits: &'r MimeLimits,
    keep_contents: bool,
    out: Extraction,
    /// Archive budgets left for the rest of the message.
    archive_budget: ArchiveLimits,
}

impl<'r> Walker<'r> {
    fn new(raw: &'r [u8], limits: &'r MimeLimits, keep_contents: bool) -> Self {
        Walker {
            raw,
            limits,
            keep_contents,
            out: Extraction::default(),
            archive_budget: limits.archive.clone(),
        }
    }

    fn run(mut self) -> Extraction {
        if self.raw.len() > self.limits.max_message_bytes {
            self.out.malformed.insert(Malformed::TooLarge);
            return self.out;
        }
        let Some(message) = MessageParser::default().parse(self.raw) else {
            self.out.malformed.insert(Malformed::NoHeaders);
            return self.out;
        };
        if message.parts.first().is_none_or(|p| p.headers.is_empty()) {
            self.out.malformed.insert(Malformed::NoHeaders);
        }
        self.walk(&message);
        self.out
    }

    /// Depth-first, in message order, with an explicit stack: nesting depth costs heap, not
    /// call stack.
    fn walk(&mut self, root: &Message<'_>) {
        let mut stack = vec![Pending {
            message: root,
            part: 0,
            depth: 0,
            splice: None,
        }];
        let mut visited: u32 = 0;
        while let Some(p) = stack.pop() {
            let Some(part) = p.message.parts.get(p.part) else {
                continue;
            };
            visited += 1;
            if visited > self.limits.max_parts {
                self.out.malformed.insert(Malformed::PartLimit);
                return;
            }
            match &part.body {
                PartType::Multipart(children) => {
                    self.check_terminated(p.message, part);
                    if p.depth >= self.limits.max_depth {
                        self.out.malformed.insert(Malformed::DepthLimit);
                        continue;
                    }
                    // Reverse, so that the first child is popped first.
                    for &child in children.iter().rev() {
                        stack.push(Pending {
                            message: p.message,
                            part: child as usize,
                            depth: p.depth + 1,
                            splice: p.splice.clone(),
                        });
                    }
                }
                PartType::Message(nested) => {
                    if p.depth >= self.limits.max_depth {
                        self.out.malformed.insert(Malformed::DepthLimit);
                        continue;
                    }
                    // mail-parser parses an unencoded attached message in place, so its offsets
                    // are the top message's; an encoded one is parsed from its decoded bytes,
                    // and its parts can only be replaced as a whole.
                    let splice = p
                        .splice
                        .clone()
                        .or_else(|| (!self.shares_raw(nested)).then(|| span_of(part)));
                    stack.push(Pending {
                        message: nested,
                        part: 0,
                        depth: p.depth + 1,
                        splice,
                    });
                }
                PartType::Text(_)
                | PartType::Html(_)
                | PartType::Binary(_)
                | PartType::InlineBinary(_) => {
                    if is_attachment(part) {
                        let span = p.splice.clone().unwrap_or_else(|| span_of(part));
                        self.add_attachment(p.message, part, span);
                    }
                }
            }
        }
    }

    fn shares_raw(&self, message: &Message<'_>) -> bool {
        std::ptr::eq(message.raw_message.as_ptr(), self.raw.as_ptr())
    }

    /// Flags a multipart whose closing delimiter is missing. The search is bounded by the
    /// multipart's own span, so nested multiparts cost their size, not the message's.
    fn check_terminated(&mut self, message: &Message<'_>, part: &MessagePart<'_>) {
        let Some(boundary) = part.content_type().and_then(|ct| ct.attribute("boundary")) else {
            return;
        };
        let raw = message.raw_message.as_ref();
        let start = part.offset_body as usize;
        let end = (part.offset_end as usize).max(start);
        let Some(body) = raw.get(start..end.min(raw.len())) else {
            return;
        };
        let mut delimiter = Vec::with_capacity(boundary.len() + 4);
        delimiter.extend_from_slice(b"--");
        delimiter.extend_from_slice(boundary.as_bytes());
        delimiter.extend_from_slice(b"--");
        if find(body, &delimiter).is_none() {
            self.out.malformed.insert(Malformed::UnterminatedMultipart);
        }
    }

    fn add_attachment(
        &mut self,
        message: &Message<'_>,
        part: &MessagePart<'_>,
        span: Range<usize>,
    ) {
        if part.is_encoding_problem {
            self.out.malformed.insert(Malformed::BadTransferEncoding);
        }
        let bytes = decoded_bytes(message, part);
        let name = part.attachment_name().unwrap_or_default().to_owned();
        let content_type = content_type_of(part);
        let md5 = Md5::of(&bytes);
        let index = self.out.attachments.len();
        let expansion = archive::expand(&bytes, &self.archive_budget);
        self.out.attachments.push(Attachment {
            name: name.clone(),
            content_type: content_type.clone(),
            size: bytes.len() as u64,
            md5,
            span,
            archive: expansion.as_ref().map(|e| e.kind),
        });
        let Some(expansion) = expansion else {
            self.out.files.push(File {
                attachment: index,
                name,
                content_type,
                size: bytes.len() as u64,
                md5,
                archive: None,
                unscannable: None,
                content: self.keep_contents.then(|| bytes.into_owned()),
            });
            return;
        };
        for member in expansion.members {
            let (content, unscannable) = match member.content {
                MemberContent::Bytes(b) => (b, None),
                MemberContent::Unscannable { reason, raw } => (raw, Some(reason)),
            };
            self.spend_archive_budget(content.len());
            let member_name = if member.path.is_empty() {
                // A gzip without a stored name: the attachment's name without `.gz`.
                name.strip_suffix(".gz").unwrap_or(&name).to_owned()
            } else {
                member.path
            };
            self.out.files.push(File {
                attachment: index,
                name: member_name,
                content_type: "application/octet-stream".to_owned(),
                size: content.len() as u64,
                md5: Md5::of(&content),
                archive: Some(name.clone()),
                unscannable,
                content: self.keep_contents.then_some(content),
            });
        }
        // An archive that could not be read to the end is itself a file that cannot be
        // analysed: what was not read might be anything.
        if let Some(problem) = expansion.problem {
            self.out.files.push(File {
                attachment: index,
                name: name.clone(),
                content_type,
                size: bytes.len() as u64,
                md5,
                archive: None,
                unscannable: Some(problem),
                content: self.keep_contents.then(|| bytes.into_owned()),
            });
        }
    }

    fn spend_archive_budget(&mut self, bytes: usize) {
        let b = &mut self.archive_budget;
        b.max_members = b.max_members.saturating_sub(1);
        b.max_total_bytes = b.max_total_bytes.saturating_sub(bytes as u64);
    }
}

/// A leaf is a file when it is marked as an attachment or carries a file name.
fn is_attachment(part: &MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|cd| cd.is_attachment())
        || part.attachment_name().is_some()
}

fn span_of(part: &MessagePart<'_>) -> Range<usize> {
    let start = part.offset_header as usize;
    start..(part.offset_end as usize).max(start)
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_owned(),
    }
}

/// The part's transfer-decoded bytes.
///
/// mail-parser hands binary parts over decoded, but converts text parts to UTF-8 through
/// their charset, which changes the bytes; and a part with broken encoding comes back raw. In
/// those cases decode the raw body here: the file's identity is its transfer-decoded bytes,
/// the same bytes Python's `get_payload(decode=True)` gives.
fn decoded_bytes<'p>(message: &Message<'_>, part: &'p MessagePart<'_>) -> Cow<'p, [u8]> {
    match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) if !part.is_encoding_problem => {
            Cow::Borrowed(b.as_ref())
        }
        _ => {
            let raw = message.raw_message.as_ref();
            let start = part.offset_body as usize;
            let end = (part.offset_end as usize).clamp(start, raw.len().max(start));
            let body = raw.get(start..end).unwrap_or_default();
            let encoding = part
                .content_transfer_encoding()
                .map(|e| e.trim().to_ascii_lowercase());
            match encoding.as_deref() {
                Some("base64") => Cow::Owned(crate::mime_decode::base64_lenient(body)),
                Some("quoted-printable") => Cow::Owned(crate::mime_decode::quoted_printable(body)),
                _ => Cow::Owned(body.to_vec()),
            }
        }
    }
}

/// First position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + i;
        if haystack.get(at + 1..at + 1 + rest.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(raw: &str) -> Extraction {
        extract(raw.as_bytes(), &MimeLimits::default())
    }

    const MIXED: &str = "From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
        --XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
        --XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
        --XX\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=b.csv\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db,c=\r\nd\r\n\
        --XX--\r\n";

    #[test]
    fn finds_attachments_with_md5_of_decoded_bytes() {
        let x = files(MIXED);
        let names: Vec<_> = x.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b.csv"]);
        assert_eq!(x.files[0].md5, Md5::of(b"%PDF-1.4\n"));
        assert_eq!(x.files[0].content_type, "application/pdf");
        assert_eq!(x.files[1].md5, Md5::of(b"a=b,cd"));
        assert!(x.malformed.is_empty(), "{:?}", x.malformed);
    }

    #[test]
    fn spans_cover_the_part_headers_and_body() {
        let x = files(MIXED);
        let span = x.attachments[0].span.clone();
        let text = &MIXED[span];
        assert!(
            text.starts_with("Content-Type: application/pdf"),
            "{text:?}"
        );
        assert!(text.ends_with("JVBERi0xLjQK"), "{text:?}");
    }

    #[test]
    fn flags_missing_closing_delimiter_and_bad_base64() {
        let raw = "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
            Content-Type: application/octet-stream; name=x.bin\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nQU*JD\r\n";
        let x = files(raw);
        assert!(
            x.malformed.contains(&Malformed::UnterminatedMultipart),
            "{x:?}"
        );
        assert!(
            x.malformed.contains(&Malformed::BadTransferEncoding),
            "{x:?}"
        );
        assert_eq!(x.files.len(), 1);
        assert_eq!(x.files[0].md5, Md5::of(b"ABC"));
    }

    #[test]
    fn no_headers_and_too_large_are_flagged() {
        assert!(files("").malformed.contains(&Malformed::NoHeaders));
        let limits = MimeLimits {
            max_message_bytes: 10,
            ..MimeLimits::default()
        };
        let x = extract(MIXED.as_bytes(), &limits);
        assert!(x.malformed.contains(&Malformed::TooLarge));
        assert!(x.is_incomplete());
        assert!(x.files.is_empty());
    }

    #[test]
    fn find_locates_needles() {
        assert_eq!(find(b"abc--B--", b"--B--"), Some(3));
        assert_eq!(find(b"--B-", b"--B--"), None);
        assert_eq!(find(b"", b"x"), None);
    }
}
