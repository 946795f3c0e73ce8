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
//! - no `=?` in any MIME field (no RFC 2047 decoding, no encoded-word cost);
//! - a Content-Type or Content-Disposition is `type[/subtype]` and `; name=value`
//!   parameters, each name and type an RFC 2045 token (without `*` and `'`), each value a
//!   run of printable bytes that mail-parser reads to its end ([`is_unquoted_value`]) or a
//!   non-empty quoted string, neither holding `\`, `;`, `?` or `'` (so no escapes, no
//!   RFC 2231 decoding or quote cost, and no `;` but the separators); blanks before the
//!   type, around `;` and at the end only, and a field folded only after a `;`, where
//!   mail-parser's reading does not depend on its state;
//! - a Content-Transfer-Encoding is one word, without `?`, on one line.
//!
//! The property tests below hold [`read`] to mail-parser's reading on generated blocks,
//! plain and not, and the extraction tests hold the whole walk to the reference that reads
//! every block with mail-parser (`extract_two_pass`).

use std::borrow::Cow;

use super::fields::{Fields, TypeField};
use super::header_cost::{HeaderCost, PARAMETER_COST};

/// A plain block's fields as they are read, and what mail-parser's reading of it would
/// have cost.
struct Plain<'f, 'a> {
    fields: &'f mut Fields<'a>,
    cost: HeaderCost,
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
/// `max_bytes`, at an empty line: its fields into `fields` (default ones), what
/// mail-parser's reading would have cost, and where the body starts. `None` when it is not
/// plain (or too large, or has no header field), for mail-parser to read as before; then
/// `fields` holds what was read before the reader gave up.
///
/// One pass over the lines finds the empty line, checks that every line before it is a
/// field (a printable name and a colon, `split::header_block`'s test) or continues one,
/// and reads each MIME field as it ends. The fields are read where the caller keeps them:
/// moving them (a few hundred bytes) cost more than some of the reading.
pub(crate) fn read<'a>(
    entity: &'a [u8],
    max_bytes: usize,
    fields: &mut Fields<'a>,
) -> Option<(HeaderCost, usize)> {
    let mut plain = Plain {
        fields,
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
                return Some((plain.cost, end));
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
                    .position(|&b| CLASSES[usize::from(b)] & NAME == 0)?;
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

impl<'a> Plain<'_, 'a> {
    /// Reads one field (its lines, `folds` of them continuing the first, its colon at
    /// `colon`) into the fields and the cost; `None` when it is not plain.
    fn field(&mut self, field: &'a [u8], colon: usize, folds: u32) -> Option<()> {
        let Some(kind) = mime_field(&field[..colon]) else {
            return Some(());
        };
        // From after the colon to the end of the field, as mail-parser's offsets span it.
        let value = &field[colon + 1..];
        if kind == Mime::Unread {
            // Only its cost matters: an encoded word (`=?`; `?` is the rarer byte) has one.
            let encoded = memchr::memchr_iter(b'?', value).any(|i| i > 0 && value[i - 1] == b'=');
            return (!encoded).then_some(());
        }
        // Once for the whole value: then each token is a slice of it. The grammar below
        // has no `?` and no `'` anywhere, so a value it takes costs nothing but its
        // parameters, and no `;` but those it reads as separators.
        let text = std::str::from_utf8(value).ok()?;
        let f = &mut *self.fields;
        match kind {
            Mime::Type | Mime::Disposition => {
                let (raw, slot) = if kind == Mime::Type {
                    f.content_types += 1;
                    (&mut f.raw_type, &mut f.content_type)
                } else {
                    (&mut f.raw_disposition, &mut f.disposition)
                };
                raw.get_or_insert(value);
                // The first field counts, read where it is kept (a field is a few words,
                // a fifth of the reading was moving it); a later one is read to be costed.
                // A field that is not plain leaves a part read in its slot, and the whole
                // block to mail-parser.
                let mut later = None;
                let parsed = match slot {
                    None => slot.insert(TypeField::default()),
                    Some(_) => later.insert(TypeField::default()),
                };
                let separators = parameters(text, parsed)?;
                // As `header_cost` counts them: every `;`, and every folded line.
                let p = separators.saturating_add(folds);
                self.cost.parameters = self.cost.parameters.max(p);
                let pairs = u64::from(p).saturating_mul(u64::from(p));
                self.cost.work = self
                    .cost
                    .work
                    .saturating_add(pairs.saturating_mul(PARAMETER_COST));
            }
            Mime::TransferEncoding => {
                let mut c = Cursor::new(text);
                c.blanks();
                let word = c.run(WORD)?;
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
    // Every MIME field name starts with `content-`: one compare of eight bytes rejects the
    // rest. Setting bit 5 lowers a letter; of the printable bytes a name is made of, no
    // other becomes a letter or `-` by it.
    let (head, rest) = name.split_first_chunk::<8>()?;
    const LOWER: u64 = 0x2020_2020_2020_2020;
    if u64::from_le_bytes(*head) | LOWER != u64::from_le_bytes(*b"content-") {
        return None;
    }
    let is = |n: &[u8]| rest.eq_ignore_ascii_case(n);
    match rest.len() {
        4 if is(b"type") => Some(Mime::Type),
        11 if is(b"disposition") => Some(Mime::Disposition),
        17 if is(b"transfer-encoding") => Some(Mime::TransferEncoding),
        2 if is(b"id") => Some(Mime::Unread),
        11 if is(b"description") => Some(Mime::Unread),
        8 if is(b"location") => Some(Mime::Unread),
        _ => None,
    }
}

/// A Content-Type or Content-Disposition value, from after the colon to the end of the
/// field, read into `parsed` (a default one): `type[/subtype]` and its parameters; how many
/// `;` it holds, or `None` when it is not plain.
fn parameters<'a>(value: &'a str, parsed: &mut TypeField<'a>) -> Option<u32> {
    let mut separators = 0u32;
    let mut c = Cursor::new(value);
    c.blanks();
    parsed.c_type = c.token()?;
    if c.eat(b'/') {
        parsed.c_subtype = Some(c.token()?);
    }
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
        separators += 1;
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
        let name = c.token()?;
        if !c.eat(b'=') {
            return None;
        }
        let value = if c.eat(b'"') {
            let v = c.run(QUOTED);
            if !c.eat(b'"') {
                return None;
            }
            v?
        } else {
            c.run(UNQUOTED)?
        };
        parsed.parameter(&name, Cow::Borrowed(value));
    }
    Some(separators)
}

/// An RFC 2045 token byte, less `*` and `'` (RFC 2231's markers).
const fn is_token(b: u8) -> bool {
    match b {
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'\\' | b'"' | b'/' | b'['
        | b']' | b'?' | b'=' | b'*' | b'\'' => false,
        _ => b >= 0x21 && b <= 0x7e,
    }
}

/// A byte of an unquoted parameter value as mail-parser reads one to its end: anything
/// printable but the bytes that end it or start something else (`;`, `"`, `\`, comments),
/// and `?` and `'`, which plain values do not have.
const fn is_unquoted_value(b: u8) -> bool {
    match b {
        b';' | b'"' | b'\\' | b'(' | b')' | b'\'' | b'?' => false,
        _ => b >= 0x21 && b <= 0x7e,
    }
}

/// A byte of a quoted parameter value: a space, or any byte from `!` up (DEL and UTF-8
/// too, which mail-parser keeps as they are) but the bytes that end it (`"`, and `\`, which
/// would escape), and `;`, `?` and `'`, which plain values do not have (so that the value's
/// `;`s are its separators and it holds no encoded word).
const fn is_quoted(b: u8) -> bool {
    match b {
        b'"' | b'\\' | b';' | b'?' | b'\'' => false,
        _ => b == b' ' || b >= 0x21,
    }
}

/// Byte classes for [`Cursor::run`], one bit each: a table lookup per byte of a MIME field
/// rather than a chain of compares (header reading is a tenth of a small message's
/// pipeline).
const TOKEN: u8 = 1;
const UNQUOTED: u8 = 2;
const QUOTED: u8 = 4;
/// What a Content-Transfer-Encoding's word is made of: printable, no `?`.
const WORD: u8 = 8;
/// An upper-case letter, which a token is lowered for.
const UPPER: u8 = 16;
/// A byte of a field name: printable, not the colon that ends it.
const NAME: u8 = 32;

static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = (is_token(b) as u8 * TOKEN)
            | (is_unquoted_value(b) as u8 * UNQUOTED)
            | (is_quoted(b) as u8 * QUOTED)
            | ((b >= 0x21 && b <= 0x7e && b != b'?') as u8 * WORD)
            | (b.is_ascii_uppercase() as u8 * UPPER)
            | ((b >= 33 && b <= 126 && b != b':') as u8 * NAME);
        i += 1;
    }
    table
};

/// A position in a field value.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
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
            Some(b'\r') => self.s.as_bytes().get(self.i + 1) == Some(&b'\n'),
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

    /// A token, lower case as mail-parser lowers types and parameter names: borrowed unless
    /// it has an upper-case letter, which the same pass notices.
    fn token(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let token = self.run(TOKEN)?;
        // A second look at a few bytes, without a branch per byte, costs less than
        // keeping the flag in the loop that finds the token's end.
        let upper = token
            .bytes()
            .fold(0, |upper, b| upper | CLASSES[usize::from(b)])
            & UPPER
            != 0;
        debug_assert_eq!(self.s.get(start..self.i), Some(token));
        Some(match upper {
            true => Cow::Owned(token.to_ascii_lowercase()),
            false => Cow::Borrowed(token),
        })
    }

    /// The longest run of bytes of `class` ([`CLASSES`]); `None` when it is empty. Tokens
    /// are ASCII and quoted values end at `"`, so a run is whole characters (quoted values
    /// may carry UTF-8, which mail-parser keeps as it is).
    fn run(&mut self, class: u8) -> Option<&'a str> {
        let start = self.i;
        let rest = self.s.as_bytes().get(start..)?;
        let n = rest
            .iter()
            .position(|&b| CLASSES[usize::from(b)] & class == 0)
            .unwrap_or(rest.len());
        self.i += n;
        (n > 0).then(|| self.s.get(start..self.i)).flatten()
    }
}
