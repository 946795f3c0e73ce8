//! The header blocks of plain mail, read in one pass without mail-parser.
//!
//! Most header blocks a gateway sees are plain: field names and a few MIME fields such as
//! `Content-Type: application/pdf; name="a.pdf"`, with no encoded words, no RFC 2231
//! parameters, no comments. mail-parser costs about 6,500 instructions on such a block
//! (its field tables, a message per block, a string per token), the largest fixed cost of a
//! small message's pipeline (docs/performance.md, "10 KB"). [`read`] reads the MIME fields
//! of a plain block into the same [`Fields`] mail-parser's reading gives, with the same
//! [`HeaderCost`] `header_cost` would charge, in the same pass that finds where the block
//! ends; or it gives up (`None`) as soon as anything is not plain, and the block is read as
//! before.
//!
//! *Plain* is a narrow grammar, chosen so that mail-parser's reading of it is plain too
//! (mail-parser 0.11.9, `parsers/fields/content_type.rs`, `unstructured.rs`):
//!
//! - every line is a field (a printable name and `:`) or continues one, up to the empty
//!   line that ends the block;
//! - no `=?` in any MIME field (no RFC 2047 decoding, no encoded-word cost) and no `'` in a
//!   Content-Type or Content-Disposition (no RFC 2231 decoding, no quote cost);
//! - a Content-Type or Content-Disposition is `type[/subtype]` and `; name=value`
//!   parameters, each name and type an RFC 2045 token (without `*` and `'`), each value a
//!   token or a non-empty quoted string without `\`; blanks around `;` only, and a field
//!   folded only after a `;`, where mail-parser's reading does not depend on its state;
//! - a Content-Transfer-Encoding is one word on one line.
//!
//! The property tests below hold [`read`] to mail-parser's reading on generated blocks,
//! plain and not, and the extraction tests hold the whole walk to the reference that reads
//! every block with mail-parser (`extract_two_pass`).

use std::borrow::Cow;

use mail_parser::{Attribute, ContentType};

use super::fields::Fields;
use super::header_cost::{HeaderCost, PARAMETER_COST};

/// A plain block's fields, and what mail-parser's reading of it would have cost.
#[derive(Debug)]
pub(crate) struct Plain<'a> {
    pub fields: Fields<'a>,
    pub cost: HeaderCost,
}

/// The MIME fields this reader tells apart; the others are skipped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mime {
    Type,
    Disposition,
    TransferEncoding,
    /// Content-ID, -Description, -Location: parsed by mail-parser, read by nobody here.
    Unread,
}

/// Reads the header block at the start of `entity` when it is plain and ends, within
/// `max_bytes`, at an empty line: its fields, and where the body starts. `None` when it is
/// not plain (or too large, or has no header field), for mail-parser to read as before.
///
/// One pass over the lines finds the empty line, checks that every line before it is a
/// field (a printable name and a colon, `split::header_block`'s test) or continues one,
/// and reads each MIME field as it ends.
pub(crate) fn read(entity: &[u8], max_bytes: usize) -> Option<(Plain<'_>, usize)> {
    let mut plain = Plain {
        fields: Fields::default(),
        cost: HeaderCost::default(),
    };
    // The field being read: where it starts, where its colon is, how many lines continue it.
    let mut field: Option<(usize, usize, u32)> = None;
    let mut at = 0;
    loop {
        let end = at + memchr::memchr(b'\n', entity.get(at..)?)? + 1;
        let line = &entity[at..end];
        match line {
            b"\n" | b"\r\n" => {
                let (start, colon, folds) = field?;
                plain.field(&entity[start..at], colon - start, folds)?;
                return Some((plain, end));
            }
            [b' ' | b'\t', ..] => field.as_mut()?.2 += 1,
            _ => {
                if let Some((start, colon, folds)) = field {
                    plain.field(&entity[start..at], colon - start, folds)?;
                }
                // A printable name, then the colon (which an mbox `From ` line, with its
                // space, does not have).
                let colon = line
                    .iter()
                    .position(|&b| !(33..=126).contains(&b) || b == b':')?;
                if colon == 0 || line[colon] != b':' {
                    return None;
                }
                field = Some((at, at + colon, 0));
            }
        }
        if end > max_bytes {
            return None;
        }
        at = end;
    }
}

impl<'a> Plain<'a> {
    /// Reads one field (its lines, `folds` of them continuing the first, its colon at
    /// `colon`) into the fields and the cost; `None` when it is not plain.
    fn field(&mut self, field: &'a [u8], colon: usize, folds: u32) -> Option<()> {
        let Some(kind) = mime_field(&field[..colon]) else {
            return Some(());
        };
        // From after the colon to the end of the field, as mail-parser's offsets span it.
        let value = &field[colon + 1..];
        // One pass for what makes a MIME field not plain, and for its `;`s.
        let (mut separators, mut encoded_word, mut quote) = (0u32, false, false);
        let mut previous = 0u8;
        for &b in value {
            separators += u32::from(b == b';');
            encoded_word |= previous == b'=' && b == b'?';
            quote |= b == b'\'';
            previous = b;
        }
        if encoded_word {
            return None;
        }
        let f = &mut self.fields;
        match kind {
            Mime::Type | Mime::Disposition => {
                if quote {
                    return None;
                }
                // As `header_cost` counts them: every `;`, and every folded line.
                let p = separators.saturating_add(folds);
                self.cost.parameters = self.cost.parameters.max(p);
                let pairs = u64::from(p).saturating_mul(u64::from(p));
                self.cost.work = self
                    .cost
                    .work
                    .saturating_add(pairs.saturating_mul(PARAMETER_COST));
                let parsed = parameters(value)?;
                if kind == Mime::Type {
                    f.raw_type.get_or_insert(value);
                    f.content_types += 1;
                    f.content_type.get_or_insert(parsed);
                } else {
                    f.raw_disposition.get_or_insert(value);
                    f.disposition.get_or_insert(parsed);
                }
            }
            Mime::TransferEncoding => {
                let mut c = Cursor::new(value);
                c.blanks();
                let word = c.run(|b| (0x21..=0x7e).contains(&b))?;
                c.blanks();
                if !(c.line_end() && c.done()) {
                    return None;
                }
                f.transfer_encoding.get_or_insert(Cow::Borrowed(word));
            }
            Mime::Unread => {}
        }
        Some(())
    }
}

/// The MIME field a name is, compared as mail-parser compares names (case-insensitively;
/// a plain name has no blanks to skip).
fn mime_field(name: &[u8]) -> Option<Mime> {
    // Every MIME field name starts with `content-`: one compare rejects the rest.
    let rest = name
        .get(..8)?
        .eq_ignore_ascii_case(b"content-")
        .then(|| &name[8..])?;
    [
        (&b"type"[..], Mime::Type),
        (b"disposition", Mime::Disposition),
        (b"transfer-encoding", Mime::TransferEncoding),
        (b"id", Mime::Unread),
        (b"description", Mime::Unread),
        (b"location", Mime::Unread),
    ]
    .into_iter()
    .find_map(|(n, kind)| rest.eq_ignore_ascii_case(n).then_some(kind))
}

/// A Content-Type or Content-Disposition value, from after the colon to the end of the
/// field: `type[/subtype]` and its parameters, or `None` when it is not plain.
fn parameters(value: &[u8]) -> Option<ContentType<'_>> {
    let mut c = Cursor::new(value);
    c.blanks();
    let c_type = lower(c.run(is_token)?);
    let c_subtype = match c.eat(b'/') {
        true => Some(lower(c.run(is_token)?)),
        false => None,
    };
    let mut attributes = Vec::new();
    loop {
        c.blanks();
        if c.line_end() {
            // The end of the field; a fold here would be read by state (mail-parser starts
            // a parameter after a folded subtype, and keeps reading a folded type).
            if c.done() {
                break;
            }
            return None;
        }
        if !c.eat(b';') {
            return None;
        }
        // Blanks, and folds, before the next parameter.
        loop {
            c.blanks();
            if c.at_fold() {
                c.line_end();
            } else {
                break;
            }
        }
        if c.at_line_end() || c.peek() == Some(b';') {
            continue;
        }
        let name = lower(c.run(is_token)?);
        if !c.eat(b'=') {
            return None;
        }
        let value = if c.eat(b'"') {
            let v = c.run(|b| b == b' ' || ((0x21..=0xff).contains(&b) && b != b'"' && b != b'\\'));
            if !c.eat(b'"') {
                return None;
            }
            v?
        } else {
            c.run(is_unquoted_value)?
        };
        attributes.push(Attribute {
            name,
            value: Cow::Borrowed(value),
        });
    }
    Some(ContentType {
        c_type,
        c_subtype,
        attributes: (!attributes.is_empty()).then_some(attributes),
    })
}

/// An RFC 2045 token byte, less `*` and `'` (RFC 2231's markers).
fn is_token(b: u8) -> bool {
    // A `match`, not a search of a list of specials: this runs on every byte of a MIME field.
    match b {
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'\\' | b'"' | b'/' | b'['
        | b']' | b'?' | b'=' | b'*' | b'\'' => false,
        _ => (0x21..=0x7e).contains(&b),
    }
}

/// A byte of an unquoted parameter value as mail-parser reads one to its end: anything
/// printable but the bytes that end it or start something else (`;`, `"`, `\`, comments).
fn is_unquoted_value(b: u8) -> bool {
    match b {
        b';' | b'"' | b'\\' | b'(' | b')' | b'\'' => false,
        _ => (0x21..=0x7e).contains(&b),
    }
}

/// Lower case, borrowed when it already is (mail-parser lowers names the same way).
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A position in a field value.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cursor { s, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    /// Skips spaces and tabs on this line.
    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// At CRLF or LF.
    fn at_line_end(&self) -> bool {
        match self.peek() {
            Some(b'\n') => true,
            Some(b'\r') => self.s.get(self.i + 1) == Some(&b'\n'),
            _ => false,
        }
    }

    /// At a line end that another line of the field follows.
    fn at_fold(&self) -> bool {
        self.at_line_end() && self.s.len() > self.i + 1 + usize::from(self.peek() == Some(b'\r'))
    }

    /// Steps over a line end; false when there is none here.
    fn line_end(&mut self) -> bool {
        if !self.at_line_end() {
            return false;
        }
        self.i += 1 + usize::from(self.peek() == Some(b'\r'));
        true
    }

    /// The longest run of bytes that `keep` takes, as text; `None` when it is empty or not
    /// UTF-8 (quoted values may carry UTF-8, which mail-parser keeps as it is).
    fn run(&mut self, keep: impl Fn(u8) -> bool) -> Option<&'a str> {
        let start = self.i;
        while self.peek().is_some_and(&keep) {
            self.i += 1;
        }
        let run = &self.s[start..self.i];
        if run.is_empty() {
            return None;
        }
        std::str::from_utf8(run).ok()
    }
}
