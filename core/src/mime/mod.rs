//! The files in a raw message: every attachment, transfer-decoded, archives expanded.
//!
//! [`extract`] walks the message entity by entity (`walk`), under its own named
//! [`MimeLimits`]. Each header block is parsed by mail-parser (RFC 2047/2231 names, folding,
//! 8-bit junk), or, when it is plain, read to the same fields in one pass without it
//! (`plain_header`); the parts of a multipart are found as they are walked (`parts`, with the
//! delimiter rules of `split`), and base64 bodies are decoded by a SIMD decoder that hashes
//! as it goes and finds its part's end as it reads the body (`base64`), so that an
//! attachment's text is read once. Together these keep the pipeline near raw MD5 speed
//! (docs/performance.md). A leaf part is an *attachment* when its Content-Disposition is
//! `attachment` or it carries a file name (`filename=` or the Content-Type `name=`), the same
//! rule as Python's `email` package. Each attachment is transfer-decoded; if its bytes are an
//! archive (recognised by content, see [`crate::archive`]) its members become the files,
//! otherwise the attachment itself is the file. Every file is identified by the MD5 of its
//! bytes.
//!
//! Malformed input is data, not an error: the walk finds what it can and says what was wrong
//! in [`Extraction::malformed`].

mod base64;
pub(crate) mod decode;
mod fields;
mod header_cost;
mod parts;
mod plain_header;
#[cfg(test)]
mod plain_header_props;
mod split;
mod walk;

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

use mail_parser::MessageParser;

use crate::archive::{self, ArchiveLimits};
use crate::digest::Md5;
use crate::unscannable::Unscannable;
pub use base64::mime_base64;
use walk::Walker;

/// Bounds on one message's extraction. Defaults are generous for real mail and small enough
/// that hostile input stays cheap. Whatever a limit keeps the walk out of is not skipped: it
/// becomes an unscannable file of its own (see [`Attachment::unwalked`]), so the policy's
/// `unscannable_level` acts on exactly those bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MimeLimits {
    /// Largest message scanned, in bytes. Default 64 MiB (Postfix's `message_size_limit`
    /// default is 10 MB; gateways commonly allow a few times that). A larger message is not
    /// parsed: it is flagged [`Malformed::TooLarge`] and is one unscannable file.
    pub max_message_bytes: usize,
    /// Deepest nesting of multiparts and attached messages walked. Default 32.
    pub max_depth: u32,
    /// Most MIME parts walked in one message (containers included). Default 2,000.
    pub max_parts: u32,
    /// Largest header block of one entity handed to the header parser. Default 256 KiB:
    /// Postfix keeps at most `header_size_limit` (100 KiB) of one header field; a block of
    /// MIME fields twice as large is no real mail's.
    pub max_header_bytes: usize,
    /// Most parameters in one Content-Type or Content-Disposition field, RFC 2231
    /// continuations included. Default 100: a 255-character file name needs a few dozen
    /// continuations at most, and mail-parser merges continuations in quadratic time.
    pub max_parameters: u32,
    /// Most bytes held at once in decoded copies of encoded attached messages (a base64
    /// `message/rfc822` inside another one, and so on). Default 64 MiB, the message limit:
    /// without it, quoted-printable attached messages nested 32 deep would cost 32 copies.
    pub max_decoded_bytes: usize,
    /// Limits for archive attachments. Their byte and member budgets are shared by all the
    /// archives of one message, so many small bombs cost no more than one.
    pub archive: ArchiveLimits,
}

/// The work extraction may do on a message of `len` bytes beyond reading it once: three times
/// its size plus 64 KiB, in units of about one byte scanned. Charged to it: what the header
/// parser would spend on the shapes where it is superlinear or slow per byte
/// (`header_cost`), and every byte decoded into a copy of an encoded attached message
/// (nested ones are decoded again at each level). Real mail uses a sliver of it: three
/// levels of base64-forwarded messages cost under 2× the size. Hostile mail that would need
/// more is unwalked where it passes the budget, and so costs a small multiple of a plain
/// message of its size. Not a setting: it is what keeps extraction linear, whatever the
/// other limits say.
#[doc(hidden)]
pub fn work_budget(len: usize) -> u64 {
    (64u64 << 10).saturating_add((len as u64).saturating_mul(3))
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_message_bytes: 64 << 20,
            max_depth: 32,
            max_parts: 2_000,
            max_header_bytes: 256 << 10,
            max_parameters: 100,
            max_decoded_bytes: 64 << 20,
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
    /// A header block over [`MimeLimits::max_header_bytes`], a MIME field with more than
    /// [`MimeLimits::max_parameters`] parameters, or fields that would cost the header parser
    /// more than what is left of the message's work budget; that entity was not parsed.
    HeaderLimit,
    /// Nested decoded copies of attached messages passed [`MimeLimits::max_decoded_bytes`],
    /// or decoding one more would pass the message's work budget; the attached message that
    /// would have passed it was not walked.
    DecodedLimit,
    /// A part's transfer encoding was broken (for example bad base64); it was decoded
    /// leniently, skipping what is not part of the encoding.
    BadTransferEncoding,
    /// A multipart whose closing delimiter (`--boundary--`) never came.
    UnterminatedMultipart,
    /// A header block held a line that is not a header field, or lacked the empty line
    /// that ends it.
    HeaderSyntax,
    /// An entity with more than one Content-Type field; the first counts (as in Python), so
    /// a trailing `Content-Type: text/plain` cannot hide an attachment.
    DuplicateContentType,
}

/// One piece of the message that a rewrite can replace: an attachment part, or a piece the
/// walk could not enter ([`Attachment::unwalked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name, decoded (RFC 2047/2231); empty when the part has none. For an unwalked
    /// piece, [`UNWALKED_NAME`].
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
    /// True when this is no attachment part but a piece of the message that a limit kept the
    /// walk out of: an entity nested past the depth limit, the parts after the part limit, a
    /// header block too large to parse, or the whole message when it is over the size limit.
    /// Whatever it holds is unknown, so it is one unscannable file, and a rewrite replaces
    /// its raw bytes as a whole. Its MD5 is that of those raw bytes.
    pub unwalked: bool,
}

/// The name reports give a piece of the message the walk could not enter.
pub const UNWALKED_NAME: &str = "unscanned-content";

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

impl File {
    /// The file an attachment is when it is no archive (or cannot be expanded): its name,
    /// type, size and MD5.
    fn whole(
        index: usize,
        a: &Attachment,
        unscannable: Option<Unscannable>,
        content: Option<Vec<u8>>,
    ) -> File {
        File {
            attachment: index,
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            md5: a.md5,
            archive: None,
            unscannable,
            content,
        }
    }
}

/// A file as `aptsim inspect` prints it: name, content type, size, MD5 (hex), containing
/// archive, and why it cannot be scanned (or null); never its bytes.
impl serde::Serialize for File {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut f = s.serialize_struct("File", 6)?;
        f.serialize_field("name", &self.name)?;
        f.serialize_field("content_type", &self.content_type)?;
        f.serialize_field("size", &self.size)?;
        f.serialize_field("md5", &self.md5)?;
        f.serialize_field("archive", &self.archive)?;
        f.serialize_field(
            "unscannable",
            &self.unscannable.as_ref().map(|u| u.to_string()),
        )?;
        f.end()
    }
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
    /// The containers (multiparts and attached messages) of the raw message, outside
    /// decoded copies, whose header block no empty line ended but a line that is no header
    /// field, before the entity's end; in message order, each from where the block stopped
    /// (where the body starts) to the entity's end. A rewrite inside one writes an empty line
    /// where it stopped, or the replacement's own empty line would end the block further on
    /// and the rewritten message would read differently from the one inspected
    /// (docs/fuzzing.md, finding 6). A leaf needs none: a rewrite replaces it whole.
    pub unended_headers: Vec<Range<usize>>,
}

impl Extraction {
    /// True when limits kept the walk out of some of the message (each such piece is an
    /// [`Attachment::unwalked`] and one unscannable file).
    pub fn is_incomplete(&self) -> bool {
        self.attachments.iter().any(|a| a.unwalked)
    }
}

/// A flag nobody sets: extraction that cannot be cancelled.
static NEVER: AtomicBool = AtomicBool::new(false);

/// Finds the files of `raw`, dropping their bytes once hashed.
pub fn extract(raw: &[u8], limits: &MimeLimits) -> Extraction {
    Walker::new(raw, limits, false, &NEVER)
        .run()
        .unwrap_or_default()
}

/// As [`extract`], and keeps each file's bytes in [`File::content`] (for a data center that
/// looks at content, such as the live proxy's EICAR check).
pub fn extract_with_contents(raw: &[u8], limits: &MimeLimits) -> Extraction {
    Walker::new(raw, limits, true, &NEVER)
        .run()
        .unwrap_or_default()
}

/// As [`extract`] or [`extract_with_contents`], reading the message in two passes: every
/// multipart's delimiters are found first, then its parts walked. The reference that the
/// one-pass walk is checked against (property tests, fuzzing); not for production use.
#[doc(hidden)]
pub fn extract_two_pass(raw: &[u8], limits: &MimeLimits, keep_contents: bool) -> Extraction {
    Walker::new(raw, limits, keep_contents, &NEVER)
        .unfused()
        .run()
        .unwrap_or_default()
}

/// As [`extract`], with the work budget given instead of the one of `raw`'s size. For the
/// fail-closed check of a rewrite, which re-reads the rewritten message with the budget the
/// original was read with (a shorter message has a smaller budget, and would run out of it
/// on a part the original parsed); not for production use.
#[doc(hidden)]
pub fn extract_with_work_budget(raw: &[u8], limits: &MimeLimits, budget: u64) -> Extraction {
    Walker::new(raw, limits, false, &NEVER)
        .with_work_budget(budget)
        .run()
        .unwrap_or_default()
}

/// As [`extract`] or [`extract_with_contents`], checking `cancel` between entities and before
/// each archive: `None` when it was set before the walk finished.
pub fn extract_cancellable(
    raw: &[u8],
    limits: &MimeLimits,
    keep_contents: bool,
    cancel: &AtomicBool,
) -> Option<Extraction> {
    Walker::new(raw, limits, keep_contents, cancel).run()
}

/// The extraction of a message nobody finished reading (its extraction was cancelled or
/// failed): the whole message is one unscannable piece, so that what was not seen is acted
/// on as a whole. Its identity is the MD5 of its first 64 KiB: hashing all of it is the kind
/// of work that was just given up on.
pub fn not_extracted(raw: &[u8], reason: Unscannable) -> Extraction {
    let piece = Attachment {
        name: UNWALKED_NAME.to_owned(),
        content_type: "message/rfc822".to_owned(),
        size: raw.len() as u64,
        md5: Md5::of(&raw[..raw.len().min(64 << 10)]),
        span: 0..raw.len(),
        archive: None,
        unwalked: true,
    };
    Extraction {
        files: vec![File::whole(0, &piece, Some(reason), None)],
        attachments: vec![piece],
        malformed: BTreeSet::new(),
        unended_headers: Vec::new(),
    }
}

/// The transfer-decoded body of one part given as its raw headers and body (an
/// [`Attachment::span`]), for rewriting; the part's raw bytes when its header block is over
/// `limits` (extraction called such a part unwalked, so this does not happen for its spans).
pub fn decode_part(part: &[u8], limits: &MimeLimits) -> Vec<u8> {
    let mut work = work_budget(part.len());
    let mut fields = None;
    let Ok(e) = split::entity_into(
        header_parser(),
        true,
        part,
        0..part.len(),
        limits,
        &mut work,
        &mut fields,
    ) else {
        return part.to_vec();
    };
    // The first Content-Transfer-Encoding, as extraction reads it: the file locked is the
    // file that was identified.
    let cte = fields.as_ref().and_then(|f| f.transfer_encoding.as_deref());
    decode::transfer_decode(cte, &part[e.body]).0.into_owned()
}

/// mail-parser reading only what extraction needs (the MIME headers). Other fields are
/// skipped to their end, exactly where reading them raw would end, but without copying
/// their values into strings nobody reads (that copy was a tenth of a 10 KB message's
/// header cost); they are still listed, with empty values. Built once: its table of field
/// parsers is a hash map, and building it per message was a fifth of the cost of a 10 KB
/// message.
fn header_parser() -> &'static MessageParser {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .default_header_ignore()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unscannable::LimitExceeded;

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
    fn types_in_upper_case_are_read_in_lower_case_by_both_readers() {
        // The walk takes both readings' types as lower case. The second attachment's
        // field has an encoded word, so mail-parser reads its block; the first is plain.
        let raw = "Content-Type: MULTIPART/Mixed; boundary=XX\r\n\r\n\
            --XX\r\nContent-Type: APPLICATION/PDF; name=a.pdf\r\n\r\nx\r\n\
            --XX\r\nContent-Type: Image/PNG; name=\"=?utf-8?q?b.png?=\"\r\n\r\ny\r\n\
            --XX--\r\n";
        let x = files(raw);
        let types: Vec<_> = x.files.iter().map(|f| f.content_type.as_str()).collect();
        assert_eq!(types, ["application/pdf", "image/png"]);
        let names: Vec<_> = x.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b.png"]);
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
        // Not parsed, so the whole message is one unscannable piece: nothing passes unseen.
        assert_eq!(x.files.len(), 1);
        assert_eq!(x.attachments[0].span, 0..MIXED.len());
        assert!(x.attachments[0].unwalked);
        assert_eq!(
            x.files[0].unscannable,
            Some(Unscannable::OverLimit(LimitExceeded::MessageBytes(10)))
        );
    }
}
