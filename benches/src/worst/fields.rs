//! The hostile header fields of the worst-case messages, each written to a byte budget with
//! every line within [`MAX_LINE`]: RFC 2231 continuations, fold-separated continuations,
//! unfinished RFC 2047 words, parameters at extraction's limit, quote-laden extended values.
//! The `*_block` functions wrap one such field in a bare header block, for timing
//! mail-parser alone.

use super::{MAX_LINE, PARAMETERS_AT_LIMIT};

/// A header block (fields, then the empty line) of about `len` bytes holding one
/// Content-Disposition with `filename*K="…"` continuations, one per folded line, separated
/// by `;`: the shape of [`Shape::Rfc2231`].
pub fn rfc2231_block(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + MAX_LINE);
    rfc2231_field(&mut out, len.saturating_sub(2));
    out.extend_from_slice(b"\r\n");
    out
}

/// A header block of about `len` bytes holding one Content-Description of unfinished RFC
/// 2047 words (` =?AB?q?x`), folded: the shape of [`Shape::Rfc2047`], in one field.
pub fn rfc2047_block(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + MAX_LINE);
    rfc2047_field(&mut out, len.saturating_sub(2));
    out.extend_from_slice(b"\r\n");
    out
}

/// A header block of about `len` bytes holding one Content-Disposition of fold-separated
/// continuations (`attachment;\r\n filename*0=x\r\n filename*1=x…`): the shape of
/// [`Shape::FoldedContinuations`], in one field.
pub fn folded_block(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + MAX_LINE);
    folded_field(&mut out, len.saturating_sub(2));
    out.extend_from_slice(b"\r\n");
    out
}

/// A header block of about `len` bytes holding one Content-Disposition: half of it short
/// parameters (`; pNNNNNN=1`, folded), the other half one RFC 2231 extended value
/// `filename*="x'a'a'a'…"` (quoted, folded): each `'` after the second makes mail-parser
/// search all the parameters before it for `filename-language`. The shape of
/// [`Shape::Rfc2231Quotes`], without extraction's bound on the number of parameters.
pub fn quotes_block(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + MAX_LINE);
    out.extend_from_slice(b"Content-Disposition: attachment");
    let mut line = out.len();
    let mut k = 0usize;
    while out.len() < len / 2 {
        let param = format!("; p{k:06}=1");
        if line + param.len() + 2 > MAX_LINE {
            out.extend_from_slice(b"\r\n ");
            line = 1;
        }
        out.extend_from_slice(param.as_bytes());
        line += param.len();
        k += 1;
    }
    out.extend_from_slice(b";\r\n filename*=\"x'");
    line = 14;
    while out.len() + 8 < len {
        if line + 2 + 3 > MAX_LINE {
            out.extend_from_slice(b"\r\n ");
            line = 1;
        }
        out.extend_from_slice(b"a'");
        line += 2;
    }
    out.extend_from_slice(b"a\"\r\n\r\n");
    out
}

/// A header block of about `len` bytes holding one Content-Disposition of continuations of
/// distinct parameters (`; a000000*1=x; a000001*1=x…`, folded): mail-parser looks each one
/// up among the parameters merged before it. The shape of [`Shape::Rfc2231Distinct`],
/// without extraction's bound on the number of parameters.
pub fn distinct_block(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + MAX_LINE);
    out.extend_from_slice(b"Content-Disposition: attachment");
    let mut line = out.len();
    let mut k = 0usize;
    while out.len() + 4 < len {
        let param = format!("; a{k:06}*1=x");
        if line + param.len() + 2 > MAX_LINE {
            out.extend_from_slice(b"\r\n ");
            line = 1;
        }
        out.extend_from_slice(param.as_bytes());
        line += param.len();
        k += 1;
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Appends `Content-Disposition: attachment;` and then `filename*K="…";` continuation
/// lines of [`MAX_LINE`] bytes until `budget` bytes are written (at least one line; the
/// last one a little shorter, and without `;`).
pub(super) fn rfc2231_field(out: &mut Vec<u8>, budget: usize) {
    let start = out.len();
    out.extend_from_slice(b"Content-Disposition: attachment;\r\n");
    let mut k = 0usize;
    loop {
        let head = format!(" filename*{k}=\"");
        let last = out.len() - start + 2 * MAX_LINE > budget;
        let end: &[u8] = if last { b".bin\"\r\n" } else { b"\";\r\n" };
        out.extend_from_slice(head.as_bytes());
        filler(out, MAX_LINE - head.len() - end.len(), k);
        out.extend_from_slice(end);
        if last {
            return;
        }
        k += 1;
    }
}

/// Appends a Content-Disposition of `attachment;` and then `filename*K=x` continuations
/// with no `;` between them: each is on a folded line of its own, which is what makes
/// mail-parser start a new parameter. Until about `budget` bytes.
pub(super) fn folded_field(out: &mut Vec<u8>, budget: usize) {
    let start = out.len();
    out.extend_from_slice(b"Content-Disposition: attachment;\r\n");
    let mut k = 0usize;
    while out.len() - start + 24 < budget {
        out.extend_from_slice(format!(" filename*{k}=x\r\n").as_bytes());
        k += 1;
    }
}

/// Appends a Content-Description of unfinished RFC 2047 words (` =?AB?q?x`: a valid start
/// whose quoted-printable text never finds `?=`), folded before a word so that lines stay
/// within [`MAX_LINE`], until about `budget` bytes.
pub(super) fn rfc2047_field(out: &mut Vec<u8>, budget: usize) {
    const WORD: &[u8] = b" =?AB?q?x";
    let start = out.len();
    out.extend_from_slice(b"Content-Description:");
    let mut line = out.len() - start;
    while out.len() - start + WORD.len() + 2 <= budget {
        if line + WORD.len() + 2 > MAX_LINE {
            out.extend_from_slice(b"\r\n");
            line = 0;
        }
        out.extend_from_slice(WORD);
        line += WORD.len();
    }
    out.extend_from_slice(b"\r\n");
}

/// [`Shape::Rfc2231AtLimit`]: one Content-Disposition of exactly [`PARAMETERS_AT_LIMIT`]
/// parameters as extraction counts them (`attachment;` is one, each folded line one more):
/// 99 continuation lines of [`MAX_LINE`] bytes, or as many as fit in `room`.
pub(super) fn at_limit_field(out: &mut Vec<u8>, _: usize, room: usize) {
    const HEAD: &[u8] = b"Content-Disposition: attachment;\r\n";
    let lines = (room.saturating_sub(HEAD.len()) / MAX_LINE).min(PARAMETERS_AT_LIMIT - 1);
    if lines == 0 {
        return;
    }
    out.extend_from_slice(HEAD);
    for k in 0..lines {
        let head = format!(" filename*{k}=\"");
        out.extend_from_slice(head.as_bytes());
        filler(out, MAX_LINE - head.len() - 3, k);
        out.extend_from_slice(b"\"\r\n");
    }
}

/// [`Shape::Rfc2231Quotes`]: `attachment` and 97 short parameters on the first line (98
/// `;`), then an extended value `filename*="x'a'a'…"` on two folded lines (99 and 100):
/// every `'` after the second makes mail-parser look for a `filename-language` parameter
/// among all the parameters read so far.
pub(super) fn quotes_field(out: &mut Vec<u8>, _: usize, _: usize) {
    out.extend_from_slice(b"Content-Disposition: attachment");
    for k in 0..PARAMETERS_AT_LIMIT - 3 {
        out.extend_from_slice(format!("; p{k:02}=1").as_bytes());
    }
    out.extend_from_slice(b";\r\n filename*=\"x'");
    let pairs = (MAX_LINE - 16) / 2;
    for _ in 0..pairs {
        out.extend_from_slice(b"a'");
    }
    out.extend_from_slice(b"\r\n ");
    for _ in 0..pairs {
        out.extend_from_slice(b"a'");
    }
    out.extend_from_slice(b"a\"\r\n");
}

/// `n` file-name characters (lowercase letters, varied by `seed`).
fn filler(out: &mut Vec<u8>, n: usize, seed: usize) {
    out.extend((0..n).map(|i| b'a' + ((i + seed) % 26) as u8));
}
