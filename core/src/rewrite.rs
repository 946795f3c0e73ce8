//! The rewritten message for `drop`, `block` and `lock`, and the deny message that replaces a
//! whole message (IMAP `deny` and `quarantine`).
//!
//! Attachments are replaced *in place*: the bytes of the original part (its span, found by
//! [`crate::mime`]) are swapped for a new part written by mail-builder, and every other byte of
//! the message stays as it was, so signatures on other parts, odd but valid structure and the
//! message's line-end style all survive. A part that cannot be spliced alone (inside an
//! encoded attached message) is replaced with the smallest enclosing part that can.

use std::borrow::Cow;

use mail_builder::mime::MimePart;
use mail_parser::MessageParser;

use crate::digest::Md5;
use crate::inspect::{FileOutcome, Source};
use crate::mime::Extraction;
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
        .map(|f| format!("{} ({})", display_name(f, extraction), reason(f)))
        .collect();
    if found.is_empty() {
        "message could not be scanned".to_owned()
    } else {
        found.join(", ")
    }
}

/// The message with each attachment whose strongest file action is `drop`, `block` or `lock`
/// replaced (a deny text part, or a locked copy).
pub fn replace_attachments(
    raw: &[u8],
    extraction: &Extraction,
    files: &[FileOutcome],
    policy: &Policy,
) -> Vec<u8> {
    // The strongest action per attachment: one archive member to drop drops the archive.
    let mut per_attachment: Vec<Option<&FileOutcome>> = vec![None; extraction.attachments.len()];
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
    let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
    for (index, worst) in per_attachment.iter().enumerate() {
        let Some(f) =
            worst.filter(|f| matches!(f.action, Action::Drop | Action::Block | Action::Lock))
        else {
            continue;
        };
        let attachment = &extraction.attachments[index];
        if attachment.span.start == 0 {
            // The attachment is the message itself: nothing else to keep.
            return replace_message(raw, extraction, files, f.action, policy);
        }
        let part = if f.action == Action::Lock {
            let original = raw
                .get(attachment.span.clone())
                .map(crate::mime::decode_part)
                .unwrap_or_default();
            let name = if attachment.name.is_empty() {
                "attachment"
            } else {
                &attachment.name
            };
            MimePart::new("application/octet-stream", lock(&original))
                .attachment(format!("{name}.locked"))
                .header(
                    "X-APT-Locked",
                    mail_builder::headers::raw::Raw::new(attachment.md5.to_hex()),
                )
        } else {
            let text = render(&policy.deny_message, f, extraction);
            MimePart::new("text/plain", text).inline()
        };
        edits.push((attachment.span.clone(), write_part(part, raw)));
    }
    splice(raw, edits)
}

/// A new message in place of the whole one: the original's headers (less its MIME ones) and
/// a text body with one deny message per file that was not allowed.
pub fn replace_message(
    raw: &[u8],
    extraction: &Extraction,
    files: &[FileOutcome],
    action: Action,
    policy: &Policy,
) -> Vec<u8> {
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
    let crlf = uses_crlf(raw);
    let mut out = Vec::with_capacity(raw.len().min(64 << 10) + text.len());
    if let Some(message) = MessageParser::default().parse_headers(raw) {
        for h in message
            .parts
            .first()
            .map(|p| p.headers.as_slice())
            .unwrap_or_default()
        {
            let name = h.name.as_str();
            if name.eq_ignore_ascii_case("mime-version")
                || name.len() > 8 && name[..8].eq_ignore_ascii_case("content-")
            {
                continue;
            }
            let start = h.offset_field as usize;
            let end = (h.offset_end as usize).clamp(start, raw.len());
            let line = raw.get(start..end).unwrap_or_default();
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
        }
    }
    out.extend_from_slice(&line_ends(b"MIME-Version: 1.0\r\n".to_vec(), crlf));
    out.extend_from_slice(&write_part(MimePart::new("text/plain", text), raw));
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    out
}

/// Fills the deny message's variables for one file.
fn render(template: &str, f: &FileOutcome, extraction: &Extraction) -> String {
    let recovery = match f.action {
        Action::Lock => "An administrator can release the locked attachment.",
        Action::Quarantine => "An administrator can release the message from quarantine.",
        _ => "",
    };
    template
        .replace("%(reason)%", &reason(f))
        .replace("%(filename)%", &display_name(f, extraction))
        .replace("%(virus)%", f.threat.as_deref().unwrap_or("none named"))
        .replace("%(action)%", f.action.as_str())
        .replace("%(recovery)%", recovery)
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

fn display_name<'a>(f: &'a FileOutcome, extraction: &'a Extraction) -> Cow<'a, str> {
    match extraction
        .files
        .get(f.file)
        .and_then(|file| file.archive.as_deref())
    {
        Some(archive) => Cow::Owned(format!("{archive}/{}", f.name)),
        None => Cow::Borrowed(&f.name),
    }
}

fn uses_crlf(raw: &[u8]) -> bool {
    raw.windows(2).take(64 << 10).any(|w| w == b"\r\n")
}

/// Writes a part as mail-builder does (CRLF), in the message's own line-end style, without the
/// trailing line end (the span it replaces ends before the delimiter's line end).
fn write_part(part: MimePart<'_>, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = part.write_part(&mut out);
    while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        out.pop();
    }
    line_ends(out, uses_crlf(raw))
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
fn splice(raw: &[u8], mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(span, _)| span.start);
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
