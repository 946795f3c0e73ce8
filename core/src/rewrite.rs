//! The rewritten message for `drop`, `block` and `lock`, and the deny message that replaces a
//! whole message (IMAP `deny` and `quarantine`): planned as a [`Rewrite`] when the decision
//! is made, written by [`Rewrite::apply`].
//!
//! Attachments are replaced *in place*: the bytes of the original part (its span, found by
//! [`crate::mime`]) are swapped for a new part written by mail-builder, and every other byte of
//! the message stays as it was, so signatures on other parts, odd but valid structure and the
//! message's line-end style all survive. A part that cannot be spliced alone (inside an
//! encoded attached message) is replaced with the smallest enclosing part that can.

use std::borrow::Cow;
use std::ops::Range;

use mail_builder::mime::MimePart;

use crate::digest::Md5;
use crate::inspect::outcome::{FileOutcome, Source};
use crate::mime::{Extraction, MimeLimits};
use crate::policy::{Action, Policy};

/// First line of a locked attachment; what follows is the original's MD5 and its bytes
/// scrambled so that no program opens them by accident.
pub const LOCK_MAGIC: &[u8] = b"APTSIM-LOCKED-1\n";
const LOCK_KEY: u8 = 0x5a;

/// The locked copy of `bytes`.
pub fn lock(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + LOCK_MAGIC.len() + 33);
    out.extend_from_slice(LOCK_MAGIC);
    out.extend_from_slice(Md5::of(bytes).to_hex().as_bytes());
    out.push(b'\n');
    out.extend(bytes.iter().map(|b| b ^ LOCK_KEY));
    out
}

/// The administrator's release of a locked copy: the original bytes, or `None` if `locked`
/// is not a locked copy or was altered.
pub fn unlock(locked: &[u8]) -> Option<Vec<u8>> {
    let rest = locked.strip_prefix(LOCK_MAGIC)?;
    let (hex, body) = (rest.get(..32)?, rest.get(33..)?);
    let md5: Md5 = std::str::from_utf8(hex).ok()?.parse().ok()?;
    let original: Vec<u8> = body.iter().map(|b| b ^ LOCK_KEY).collect();
    (Md5::of(&original) == md5).then_some(original)
}

/// One line naming what was found, for a `554` reply or a log record.
pub fn reason_summary(files: &[FileOutcome], extraction: &Extraction) -> String {
    let found: Vec<String> = files
        .iter()
        .filter(|f| f.action != Action::Allow)
        .map(|f| format!("{} ({})", quoted_name(f, extraction), reason(f)))
        .collect();
    if found.is_empty() {
        "message could not be scanned".to_owned()
    } else {
        found.join(", ")
    }
}

/// A rewrite decided but not yet written: which pieces of the message are replaced, and by
/// what. Making it is cheap (it is made when the decision is taken, on the proxy's event
/// loop); [`Rewrite::apply`] writes the new message, in time linear in the message, wherever
/// the driver has time for it (a worker thread in the live proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Replace these pieces (attachments, or pieces the walk could not enter) and keep every
    /// other byte: `drop`, `block`, `lock`.
    Pieces(Vec<Edit>),
    /// A new message in place of the whole one: the original's header fields, less its MIME
    /// ones, and a text body with this notice. IMAP `deny` and `quarantine`, and any action
    /// on a piece that is the whole message.
    Message {
        /// The notice, one deny message per file that was not allowed.
        text: String,
    },
}

/// One piece of the message and what takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The bytes of the original message replaced (an [`crate::mime::Attachment::span`]),
    /// or an empty span where a line goes in ([`Replacement::EndOfHeader`]).
    pub span: Range<usize>,
    /// What takes their place.
    pub with: Replacement,
}

/// What takes the place of a piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// An inline text part with the deny message (`drop`, `block`).
    Notice(String),
    /// A locked copy (`lock`) named `NAME.locked`: of the piece's decoded bytes, or of its
    /// raw bytes when the piece is one the walk could not enter.
    Lock {
        /// The attachment's name (`attachment` when it had none).
        name: String,
        /// The attachment's MD5, written into an `X-APT-Locked` field.
        md5: Md5,
        /// Lock the raw bytes rather than the decoded ones.
        raw: bool,
    },
    /// An empty line where a header block that none ended stops
    /// ([`crate::mime::Extraction::unended_headers`]), written with a replacement inside its
    /// entity: the replacement's own empty line would otherwise end the block further on.
    EndOfHeader,
}

impl Rewrite {
    /// Each attachment whose strongest file action is `drop`, `block` or `lock` replaced (by
    /// a deny text part, or a locked copy). One archive member to drop drops the archive; a
    /// piece that is the whole message turns the rewrite into [`Rewrite::Message`].
    pub fn pieces(extraction: &Extraction, files: &[FileOutcome], policy: &Policy) -> Rewrite {
        let mut per_attachment: Vec<Option<&FileOutcome>> =
            vec![None; extraction.attachments.len()];
        for f in files {
            let Some(file) = extraction.files.get(f.file) else {
                continue;
            };
            if let Some(slot) = per_attachment.get_mut(file.attachment)
                && slot.is_none_or(|s| f.action > s.action)
            {
                *slot = Some(f);
            }
        }
        let mut edits = Vec::new();
        for (index, worst) in per_attachment.iter().enumerate() {
            let Some(f) =
                worst.filter(|f| matches!(f.action, Action::Drop | Action::Block | Action::Lock))
            else {
                continue;
            };
            let attachment = &extraction.attachments[index];
            if attachment.span.start == 0 {
                // The piece is the message itself: nothing else to keep.
                return Rewrite::message(extraction, files, f.action, policy);
            }
            let with = if f.action == Action::Lock {
                let name = if attachment.name.is_empty() {
                    "attachment".to_owned()
                } else {
                    attachment.name.clone()
                };
                Replacement::Lock {
                    name,
                    md5: attachment.md5,
                    raw: attachment.unwalked,
                }
            } else {
                Replacement::Notice(render(&policy.deny_message, f, extraction))
            };
            edits.push(Edit {
                span: attachment.span.clone(),
                with,
            });
        }
        // A container whose header block no empty line ended, with a piece replaced in its
        // body and not itself inside one: its block must still end where it was read to.
        // The pieces are disjoint (or the same): sorted, one binary search finds the first
        // at or after the block's end, and only the one before it can cover that point.
        // (This runs where the decision is taken, on the proxy's event loop: no search per
        // pair of a hostile message's thousands of parts.)
        let mut spans: Vec<Range<usize>> = edits.iter().map(|e| e.span.clone()).collect();
        spans.sort_by_key(|s| (s.start, s.end));
        let mut ends = Vec::new();
        for h in &extraction.unended_headers {
            let next = spans.partition_point(|s| s.start < h.start);
            let inside = spans.get(next).is_some_and(|s| s.end <= h.end);
            let covered = next.checked_sub(1).is_some_and(|i| h.start < spans[i].end);
            if inside && !covered {
                ends.push(Edit {
                    span: h.start..h.start,
                    with: Replacement::EndOfHeader,
                });
            }
        }
        edits.extend(ends);
        Rewrite::Pieces(edits)
    }

    /// The whole message replaced by one deny message per file that was not allowed.
    pub fn message(
        extraction: &Extraction,
        files: &[FileOutcome],
        action: Action,
        policy: &Policy,
    ) -> Rewrite {
        let mut text = String::new();
        for f in files.iter().filter(|f| f.action != Action::Allow) {
            text.push_str(&render(&policy.deny_message, f, extraction));
            text.push_str("\r\n");
        }
        if text.is_empty() {
            text = format!(
                "This message was withheld by the email security gateway (action: {action}).\r\n"
            );
        }
        Rewrite::Message { text }
    }

    /// Writes the rewritten message from the original `raw`, in its own line-end style.
    /// `limits` bound the re-reading of a part to lock (extraction already read it under the
    /// same limits).
    pub fn apply(&self, raw: &[u8], limits: &MimeLimits) -> Vec<u8> {
        let crlf = uses_crlf(raw);
        match self {
            Rewrite::Pieces(edits) => {
                let written = edits
                    .iter()
                    .map(|e| (e.span.clone(), e.with.bytes(raw, e, limits, crlf)))
                    .collect();
                splice(raw, written)
            }
            Rewrite::Message { text } => replace_message(raw, text, crlf),
        }
    }
}

impl Replacement {
    /// What is written in place of `edit`'s span.
    fn bytes(&self, raw: &[u8], edit: &Edit, limits: &MimeLimits, crlf: bool) -> Vec<u8> {
        match self {
            Replacement::Notice(text) => write_part(MimePart::raw(notice_part(text)), crlf),
            Replacement::Lock {
                name,
                md5,
                raw: as_is,
            } => write_part(locked_part(raw, edit, limits, name, md5, *as_is), crlf),
            Replacement::EndOfHeader => {
                if crlf {
                    b"\r\n".to_vec()
                } else {
                    b"\n".to_vec()
                }
            }
        }
    }
}

/// The locked copy of `edit`'s piece, named after `name`.
fn locked_part(
    raw: &[u8],
    edit: &Edit,
    limits: &MimeLimits,
    name: &str,
    md5: &Md5,
    as_is: bool,
) -> MimePart<'static> {
    let span = raw.get(edit.span.clone()).unwrap_or_default();
    let original = if as_is {
        span.to_vec()
    } else {
        crate::mime::decode_part(span, limits)
    };
    // The name is the sender's: no control character of it reaches a header.
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    MimePart::new("application/octet-stream", lock(&original))
        .attachment(format!("{name}.locked"))
        .header(
            "X-APT-Locked",
            mail_builder::headers::raw::Raw::new(md5.to_hex()),
        )
}

/// A new message in place of `raw`: its header fields, less its MIME ones, and `text`.
fn replace_message(raw: &[u8], text: &str, crlf: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len().min(64 << 10) + text.len());
    // The original's header fields, read line by line rather than by a header parser: this
    // path also serves messages whose headers were too large or too odd to parse, and it
    // must stay linear. MIME fields go (the new body brings its own); so do lines that are
    // no header field, which a client could take for the end of the header block.
    for field in kept_header_fields(raw) {
        out.extend_from_slice(field);
        if !field.ends_with(b"\n") {
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
    }
    out.extend_from_slice(&line_ends(b"MIME-Version: 1.0\r\n".to_vec(), crlf));
    out.extend_from_slice(&line_ends(notice_part(text), crlf));
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    out
}

/// The deny notice as a whole MIME part (fields, then the text in quoted-printable; CRLF
/// line ends, none after the last line), written here rather than by mail-builder, because
/// the text holds names a sender chose. Whatever they hold, no line of the written body
/// starts with `-` or `.`: those are encoded (`=2D`, `=2E`), so no name can put a
/// `--boundary` line into the message — which would end the notice early and open a part of
/// the sender's making — nor be taken for a dot line.
fn notice_part(text: &str) -> Vec<u8> {
    let mut out = b"Content-Type: text/plain; charset=\"utf-8\"\r\n\
        Content-Disposition: inline\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        .to_vec();
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        quoted_printable_line(line.as_bytes(), &mut out);
    }
    out
}

/// One line of text in quoted-printable (RFC 2045 §6.7), soft-broken before 76 characters;
/// a `-` or `.` that would open an output line is encoded.
fn quoted_printable_line(line: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut width = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal = match b {
            b'=' => false,
            b' ' | b'\t' => !last,
            b'-' | b'.' => width > 0,
            33..=126 => true,
            _ => false,
        };
        let size = if literal { 1 } else { 3 };
        if width + size > 75 {
            out.extend_from_slice(b"=\r\n");
            width = 0;
        }
        // After a soft break, a `-` or `.` opens the line: encode it.
        if literal && (width > 0 || !matches!(b, b'-' | b'.')) {
            out.push(b);
            width += 1;
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            width += 3;
        }
    }
}

/// The top-level header fields of `raw` worth keeping in a replacement message, each with its
/// continuation lines: every field but `MIME-Version` and `Content-*`, up to the first empty
/// line (or the first line that is neither a field nor a continuation).
fn kept_header_fields(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut lines = raw.split_inclusive(|&b| b == b'\n').peekable();
    let mut first = true;
    std::iter::from_fn(move || {
        loop {
            let line = lines.next()?;
            let is_first = std::mem::take(&mut first);
            if line == b"\n" || line == b"\r\n" {
                return None;
            }
            // An mbox `From ` line may open the message; any other line that is no field
            // ends the block.
            if is_first && line.starts_with(b"From ") {
                continue;
            }
            let colon = memchr::memchr(b':', line)?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
                return None;
            }
            let mut end = line.len();
            let start = line.as_ptr() as usize - raw.as_ptr() as usize;
            while let Some(next) = lines.peek() {
                if !matches!(next.first(), Some(b' ' | b'\t')) {
                    break;
                }
                end += next.len();
                lines.next();
            }
            let skip = name.eq_ignore_ascii_case(b"mime-version")
                || name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-");
            if !skip {
                return Some(&raw[start..start + end]);
            }
        }
    })
}

/// Fills the deny message's variables for one file. A name (or a threat name) is written
/// with its control characters escaped: it is the sender's, and may not start a line.
fn render(template: &str, f: &FileOutcome, extraction: &Extraction) -> String {
    let recovery = match f.action {
        Action::Lock => "An administrator can release the locked attachment.",
        Action::Quarantine => "An administrator can release the message from quarantine.",
        _ => "",
    };
    template
        .replace("%(reason)%", &reason(f))
        .replace("%(filename)%", &printable(&display_name(f, extraction)))
        .replace(
            "%(virus)%",
            &printable(f.threat.as_deref().unwrap_or("none named")),
        )
        .replace("%(action)%", f.action.as_str())
        .replace("%(recovery)%", recovery)
}

/// `value` with every control character written as a `\u{…}` escape.
fn printable(value: &str) -> Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

fn reason(f: &FileOutcome) -> String {
    match f.source {
        Source::Unscannable => format!("the file could not be scanned (treated as {})", f.level),
        Source::Unreachable | Source::Slow => {
            format!("the analysis service failed (treated as {})", f.level)
        }
        _ => format!("APT threat level {} (score {})", f.level, f.score),
    }
}

/// The file's name for a notice (which quotes it itself): with its archive, and an empty
/// name read as such.
fn display_name<'a>(f: &'a FileOutcome, extraction: &'a Extraction) -> Cow<'a, str> {
    let name = if f.name.is_empty() {
        "(unnamed file)"
    } else {
        &f.name
    };
    match archive_of(f, extraction) {
        Some(archive) => Cow::Owned(format!("{archive}/{name}")),
        None => Cow::Borrowed(name),
    }
}

/// The file's name for a summary reply: quoted (a name may hold spaces, commas and
/// parentheses, which the summary's own punctuation would blur), with its archive, and an
/// empty name read as such rather than as `""`.
fn quoted_name(f: &FileOutcome, extraction: &Extraction) -> String {
    let quoted = |name: &str| match name {
        "" => "an unnamed file".to_owned(),
        name => format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\"")),
    };
    match archive_of(f, extraction) {
        Some(archive) => format!("{} in archive {}", quoted(&f.name), quoted(archive)),
        None => quoted(&f.name),
    }
}

fn archive_of<'a>(f: &FileOutcome, extraction: &'a Extraction) -> Option<&'a str> {
    extraction
        .files
        .get(f.file)
        .and_then(|file| file.archive.as_deref())
}

fn uses_crlf(raw: &[u8]) -> bool {
    raw.windows(2).take(64 << 10).any(|w| w == b"\r\n")
}

/// Writes a part as mail-builder does (CRLF), in the message's line-end style (`crlf`),
/// without the trailing line end (the span it replaces ends before the delimiter's line end).
fn write_part(part: MimePart<'_>, crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = part.write_part(&mut out);
    while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        out.pop();
    }
    line_ends(out, crlf)
}

fn line_ends(crlf_text: Vec<u8>, crlf: bool) -> Vec<u8> {
    if crlf {
        return crlf_text;
    }
    let mut out = Vec::with_capacity(crlf_text.len());
    let mut bytes = crlf_text.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Applies non-overlapping edits; where spans overlap (files of one encoded attached message)
/// the first edit wins, since they all replace the same part.
fn splice(raw: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    // An empty span (a line put in) before a piece replaced from the same place.
    edits.sort_by_key(|(span, _)| (span.start, span.end));
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for (span, replacement) in edits {
        if span.start < at || span.end > raw.len() {
            continue;
        }
        out.extend_from_slice(&raw[at..span.start]);
        out.extend_from_slice(&replacement);
        at = span.end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_round_trips_and_detects_tampering() {
        let original = b"MZ\x90\x00 some program".to_vec();
        let locked = lock(&original);
        assert!(locked.starts_with(LOCK_MAGIC));
        assert!(
            !locked
                .windows(original.len())
                .any(|w| w == original.as_slice())
        );
        assert_eq!(unlock(&locked), Some(original));
        let mut tampered = locked.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(unlock(&tampered), None);
        assert_eq!(unlock(b"not locked"), None);
    }

    #[test]
    fn no_name_can_put_a_delimiter_or_a_dot_line_into_the_notice() {
        for name in [
            "a\r\n--XX\r\nx",
            "--XX",
            ".",
            "a-b",
            &format!("{}--XX", "x".repeat(73)),
        ] {
            let part = notice_part(&format!("The attachment \"{name}\" was removed.\r\nBye"));
            let text = String::from_utf8(part).expect("ASCII");
            let body = text.split("\r\n\r\n").nth(1).expect("a body");
            for line in body.split("\r\n") {
                assert!(
                    !line.starts_with('-') && !line.starts_with('.') && line.len() <= 76,
                    "{name:?}: line {line:?}"
                );
            }
            let decoded = crate::mime::decode::quoted_printable(body.as_bytes());
            let decoded = String::from_utf8_lossy(&decoded);
            assert!(decoded.contains(name), "{name:?}: {decoded:?}");
        }
        assert_eq!(printable("a\r\nb"), "a\\u{d}\\u{a}b");
    }

    #[test]
    fn line_ends_follow_the_message() {
        assert_eq!(line_ends(b"a\r\nb\r\n".to_vec(), false), b"a\nb\n");
        assert_eq!(line_ends(b"a\r\nb".to_vec(), true), b"a\r\nb");
    }

    #[test]
    fn splice_skips_overlaps() {
        let out = splice(
            b"0123456789",
            vec![
                (6..8, b"x".to_vec()),
                (1..3, b"ab".to_vec()),
                (2..4, b"zz".to_vec()),
            ],
        );
        assert_eq!(out, b"0ab345x89");
    }
}
