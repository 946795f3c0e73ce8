//! Deterministic hostile messages for the worst-case parsing benchmark
//! (`benches/benches/worst_case.rs`, docs/performance.md "Worst-case parsing").
//!
//! Each [`Shape`] is a way of spending a message's bytes that costs a MIME parser more than
//! plain mail does: RFC 2231 continuations, unfinished RFC 2047 encoded words, many header
//! fields, many parts, deep nesting. [`build`] makes a message of one shape exactly `len`
//! bytes long, so that every shape can be timed against the plain message of the same size
//! ([`plain`]) and the ratio of the times read directly. Messages are padded to the exact
//! length with an epilogue after the closing delimiter, which no parser reads.
//!
//! Lines stay within RFC 5322's 998 octets (CRLF included), as mail that crossed an SMTP
//! relay would: every long field is folded.
//!
//! [`rfc2231_block`], [`folded_block`], [`distinct_block`], [`quotes_block`] and
//! [`rfc2047_block`] are bare header blocks of one hostile field each, of any size (without
//! extraction's limits), for timing mail-parser alone on them
//! (`benches/examples/quadratic.rs`).

use rand_core::Rng;

use crate::{Case, ChaCha8Rng, generate, input_rng};
use fields::{at_limit_field, folded_field, quotes_field, rfc2047_field, rfc2231_field};
pub use fields::{distinct_block, folded_block, quotes_block, rfc2047_block, rfc2231_block};
use nesting::{base64_lines, junk_message, nested_message, nested_qp_message};

mod fields;
mod nesting;

/// Longest line written, CRLF included (RFC 5322 §2.1.1: 998 characters plus CRLF; kept a
/// little under so that no line is on the edge).
pub const MAX_LINE: usize = 990;

/// Largest header block aimed for by the shapes that fill blocks up to extraction's
/// `max_header_bytes` (256 KiB by default): a little under it, so each block is parsed.
pub const BLOCK_UNDER_LIMIT: usize = 250 << 10;

/// Most parameters (separators plus folded lines) in one field aimed for by the shapes that
/// sit exactly at extraction's `max_parameters` (100 by default).
pub const PARAMETERS_AT_LIMIT: usize = 100;

/// Extraction's `max_depth` default: multiparts nested this deep are all walked.
pub const DEPTH_LIMIT: usize = 32;

/// One way of filling a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A text part and one base64 attachment: the baseline (`crate::generate`).
    Plain,
    /// One Content-Disposition whose `filename*0..N` continuations (one per folded line,
    /// separated by `;`) make up most of the message.
    Rfc2231,
    /// Parts whose header blocks (just under 256 KiB each) hold Content-Disposition fields
    /// of exactly 100 parameters: `attachment;` and 99 fold-separated continuations of
    /// ~1 KB each. Within every limit: mail-parser merges them all.
    Rfc2231AtLimit,
    /// Parts whose header blocks hold Content-Disposition fields of 100 parameters: 98 short
    /// ones, then an RFC 2231 extended value (`filename*="x'a'a'a'…"`) over two folded lines
    /// made of `'` separators. Within every limit.
    Rfc2231Quotes,
    /// Parts whose header blocks hold Content-Disposition fields of 100 parameters, each a
    /// continuation of a parameter of its own (`; a00*1=x; a01*1=x…`): mail-parser looks
    /// every one up among the parameters merged before it. Within every limit.
    Rfc2231Distinct,
    /// Content-Disposition fields of `attachment;` then `filename*K=x` continuations
    /// separated only by folds (one `;` in the field), 16 KiB per field, one per part.
    FoldedContinuations,
    /// Parts whose Content-Description is unfinished RFC 2047 words (` =?AB?q?x`) over one
    /// line of ~1 KB, as many parts as fill the message.
    Rfc2047,
    /// Parts with ~12,000 short fields each (`X-Filler-NNNNN: v`), header blocks just under
    /// 256 KiB.
    ManyHeaders,
    /// Parts with ~6,000 Content-Type fields each (`Content-Type: text/plain; charset=x`),
    /// each parsed with structure, header blocks just under 256 KiB.
    ManyMimeHeaders,
    /// Small attachment parts of ~250 bytes: thousands of them, past `max_parts` (2,000).
    ManyParts,
    /// Multiparts nested [`DEPTH_LIMIT`] deep (all walked), a base64 attachment innermost
    /// that makes up the message.
    NestedToLimit,
    /// Multiparts nested 2 × [`DEPTH_LIMIT`] deep: the half past the limit is one
    /// unscannable piece.
    NestedPastLimit,
    /// `message/rfc822` parts in quoted-printable nested [`DEPTH_LIMIT`] deep, a base64
    /// attachment innermost: each level is transfer-decoded into a copy of its own.
    NestedQpMessages,
    /// A multipart with a one-letter boundary and a text part whose lines are
    /// `x--b--b--b…`: a delimiter candidate every three bytes.
    DelimiterJunk,
    /// Multiparts nested [`DEPTH_LIMIT`] deep with boundaries `b`, `bb`, `bbb`…, a text part
    /// innermost whose lines are `x--bbb…b--bbb…b…`: every run is a delimiter candidate for
    /// every level, and each level searches the whole text again.
    NestedDelimiterJunk,
}

impl Shape {
    /// Every shape, the baseline first.
    pub const ALL: [Shape; 15] = [
        Shape::Plain,
        Shape::Rfc2231,
        Shape::Rfc2231AtLimit,
        Shape::Rfc2231Quotes,
        Shape::Rfc2231Distinct,
        Shape::FoldedContinuations,
        Shape::Rfc2047,
        Shape::ManyHeaders,
        Shape::ManyMimeHeaders,
        Shape::ManyParts,
        Shape::NestedToLimit,
        Shape::NestedPastLimit,
        Shape::NestedQpMessages,
        Shape::DelimiterJunk,
        Shape::NestedDelimiterJunk,
    ];

    /// Short name: the criterion function name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::Rfc2231 => "rfc2231_one_field",
            Shape::Rfc2231AtLimit => "rfc2231_at_limit",
            Shape::Rfc2231Quotes => "rfc2231_quotes",
            Shape::Rfc2231Distinct => "rfc2231_distinct",
            Shape::FoldedContinuations => "folded_continuations",
            Shape::Rfc2047 => "rfc2047_unfinished",
            Shape::ManyHeaders => "many_headers",
            Shape::ManyMimeHeaders => "many_mime_headers",
            Shape::ManyParts => "many_parts",
            Shape::NestedToLimit => "nested_to_limit",
            Shape::NestedPastLimit => "nested_past_limit",
            Shape::NestedQpMessages => "nested_qp_messages",
            Shape::DelimiterJunk => "delimiter_junk",
            Shape::NestedDelimiterJunk => "nested_delimiter_junk",
        }
    }
}

/// The plain baseline of about `nominal` bytes (the exact length is what the others are
/// built to): a text part and one base64 attachment, from [`crate::generate`].
pub fn plain(nominal: usize) -> Vec<u8> {
    let case = Case {
        name: "worst_case_plain",
        message_bytes: nominal,
        attachments: 1,
        seed: 0xBAD0 ^ nominal as u64,
    };
    generate(&case).raw
}

/// The message of `shape` exactly `len` bytes long (for [`Shape::Plain`], the plain message
/// of about `len` bytes: use its length for the others).
pub fn build(shape: Shape, len: usize) -> Vec<u8> {
    let mut m = match shape {
        Shape::Plain => return plain(len),
        Shape::Rfc2231 => rfc2231_message(len),
        Shape::Rfc2231AtLimit => blocks_message(len, shape, at_limit_field),
        Shape::Rfc2231Quotes => blocks_message(len, shape, quotes_field),
        Shape::Rfc2231Distinct => blocks_message(len, shape, |out, _, _| {
            out.extend_from_slice(b"Content-Disposition: attachment");
            for k in 0..PARAMETERS_AT_LIMIT {
                out.extend_from_slice(format!("; a{k:02}*1=x").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }),
        Shape::FoldedContinuations => parts_message(len, shape, |out, _| {
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            folded_field(out, 16 << 10);
        }),
        Shape::Rfc2047 => parts_message(len, shape, |out, _| {
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            out.extend_from_slice(b"Content-Disposition: attachment; filename=\"d.bin\"\r\n");
            rfc2047_field(out, MAX_LINE);
        }),
        Shape::ManyHeaders => blocks_message(len, shape, |out, i, _| {
            out.extend_from_slice(format!("X-Filler-{:05}: v\r\n", i % 100_000).as_bytes());
        }),
        Shape::ManyMimeHeaders => blocks_message(len, shape, |out, _, _| {
            out.extend_from_slice(b"Content-Type: text/plain; charset=x\r\n");
        }),
        Shape::ManyParts => parts_message(len, shape, |out, i| {
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            out.extend_from_slice(
                format!("Content-Disposition: attachment; filename=\"p{i:06}.bin\"\r\n").as_bytes(),
            );
        }),
        Shape::NestedToLimit => nested_message(len, DEPTH_LIMIT),
        Shape::NestedPastLimit => nested_message(len, 2 * DEPTH_LIMIT),
        Shape::NestedQpMessages => nested_qp_message(len, DEPTH_LIMIT),
        Shape::DelimiterJunk => junk_message(len, 1),
        Shape::NestedDelimiterJunk => junk_message(len, DEPTH_LIMIT),
    };
    pad(&mut m, len);
    m
}

/// The boundary of the top multipart of every shape but the nested ones.
const BOUNDARY: &str = "worst-case-boundary";

/// The top header block, for a body of type `content_type`.
fn top_headers(out: &mut Vec<u8>, shape: Shape, content_type: &str) {
    out.extend_from_slice(
        format!(
            "From: Mallory <mallory@example.com>\r\n\
             To: Bob Recipient <bob@example.net>\r\n\
             Subject: Worst case {}\r\n\
             Message-ID: <{}@worst.aptsim.example>\r\n\
             Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: {content_type}\r\n\
             \r\n",
            shape.name(),
            shape.name()
        )
        .as_bytes(),
    );
}

/// The first part of every multipart shape: a short text.
fn text_part(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
             Please find the files attached.\r\n"
        )
        .as_bytes(),
    );
}

/// The body of each small attachment: 57 pseudo-random bytes in base64 (one 76-character
/// line), then CRLF.
fn small_body(out: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    let mut bytes = [0u8; 57];
    rng.fill_bytes(&mut bytes);
    base64_lines(out, &bytes);
}

/// A multipart message of parts `--B`, the fields `headers` writes, base64 CTE, an empty
/// line and a small body, as many as fit in `len` (at least one).
fn parts_message(len: usize, shape: Shape, headers: impl Fn(&mut Vec<u8>, usize)) -> Vec<u8> {
    let close = format!("--{BOUNDARY}--\r\n");
    let mut out = Vec::with_capacity(len);
    top_headers(
        &mut out,
        shape,
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    text_part(&mut out, BOUNDARY);
    let mut rng = input_rng(0x5EED ^ shape as u64);
    let mut part = Vec::new();
    for i in 0.. {
        part.clear();
        part.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        headers(&mut part, i);
        part.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        small_body(&mut part, &mut rng);
        if i > 0 && out.len() + part.len() + close.len() > len {
            break;
        }
        out.extend_from_slice(&part);
    }
    out.extend_from_slice(close.as_bytes());
    out
}

/// Parts whose header blocks are filled, field after field, to just under
/// [`BLOCK_UNDER_LIMIT`], as many as fit in `len`; the last block is shorter so that the
/// message fits. `field(out, index, room)` writes one field of at most `room` bytes (or
/// nothing when none fits); `index` counts the fields written so far.
fn blocks_message(len: usize, shape: Shape, field: impl Fn(&mut Vec<u8>, usize, usize)) -> Vec<u8> {
    // Per part, besides its fields: delimiter, Content-Type, Content-Disposition,
    // Content-Transfer-Encoding, the empty line and the one-line body come to less than this.
    const PART_OVERHEAD: usize = 300;
    let close = format!("--{BOUNDARY}--\r\n");
    let mut out = Vec::with_capacity(len);
    top_headers(
        &mut out,
        shape,
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    text_part(&mut out, BOUNDARY);
    let mut rng = input_rng(0x5EED ^ shape as u64);
    let mut index = 0;
    let mut block = Vec::new();
    let mut next = Vec::new();
    loop {
        let room = len.saturating_sub(out.len() + close.len() + PART_OVERHEAD);
        let block_len = room.min(BLOCK_UNDER_LIMIT);
        block.clear();
        loop {
            next.clear();
            field(&mut next, index, block_len - block.len());
            if next.is_empty() || block.len() + next.len() > block_len {
                break;
            }
            block.extend_from_slice(&next);
            index += 1;
        }
        if block.is_empty() {
            break;
        }
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        out.extend_from_slice(&block);
        // After the block: for the RFC 2231 shapes the first disposition, which counts, is
        // the hostile one; for the others this one makes the part an attachment.
        out.extend_from_slice(b"Content-Disposition: attachment; filename=\"block.bin\"\r\n");
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        small_body(&mut out, &mut rng);
    }
    out.extend_from_slice(close.as_bytes());
    out
}

/// [`Shape::Rfc2231`]: one attachment part whose Content-Disposition fills the message.
fn rfc2231_message(len: usize) -> Vec<u8> {
    let close = format!("--{BOUNDARY}--\r\n");
    let mut out = Vec::with_capacity(len);
    top_headers(
        &mut out,
        Shape::Rfc2231,
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    text_part(&mut out, BOUNDARY);
    out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
    out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
    let tail = 2 + 80 + close.len();
    let budget = len.saturating_sub(out.len() + tail);
    rfc2231_field(&mut out, budget);
    out.extend_from_slice(b"\r\n");
    small_body(&mut out, &mut input_rng(0x2231));
    out.extend_from_slice(close.as_bytes());
    out
}

/// Pads `m` to exactly `len` bytes with epilogue lines (after the closing delimiter, where
/// no parser looks). A message already longer is left as it is (the tests check none is).
fn pad(m: &mut Vec<u8>, len: usize) {
    while m.len() < len {
        let room = len - m.len();
        if room <= 2 {
            m.extend(std::iter::repeat_n(b'.', room));
            break;
        }
        let n = (room - 2).min(MAX_LINE - 2);
        m.extend(std::iter::repeat_n(b'.', n));
        m.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::mime::{self, Malformed, MimeLimits};

    const LEN: usize = 1 << 20;

    fn all() -> Vec<(Shape, Vec<u8>)> {
        let base = plain(LEN);
        let len = base.len();
        let mut v = vec![(Shape::Plain, base)];
        v.extend(Shape::ALL[1..].iter().map(|&s| (s, build(s, len))));
        v
    }

    #[test]
    fn shapes_are_deterministic_the_same_size_and_within_line_limits() {
        let shapes = all();
        let len = shapes[0].1.len();
        for (shape, m) in &shapes {
            assert_eq!(m.len(), len, "{shape:?}");
            assert_eq!(
                *m,
                build(*shape, if *shape == Shape::Plain { LEN } else { len })
            );
            let longest = m.split(|&b| b == b'\n').map(|l| l.len() + 1).max();
            assert!(longest <= Some(MAX_LINE), "{shape:?}: line of {longest:?}");
            assert!(!m.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        }
    }

    #[test]
    fn each_shape_meets_the_limit_it_is_about() {
        let limits = MimeLimits::default();
        for (shape, m) in all() {
            let x = mime::extract(&m, &limits);
            let unwalked = x.attachments.iter().filter(|a| a.unwalked).count();
            let walked = x.files.iter().filter(|f| f.unscannable.is_none()).count();
            let header_limit = x.malformed.contains(&Malformed::HeaderLimit);
            match shape {
                Shape::Plain => assert!(x.malformed.is_empty() && walked == 1),
                // Over max_header_bytes (one field of a megabyte).
                Shape::Rfc2231 => assert!(header_limit && unwalked == 1, "{x:?}"),
                // Within every limit: every part walked, its name merged from 99 lines.
                Shape::Rfc2231AtLimit => {
                    assert!(!x.is_incomplete(), "{shape:?}: {:?}", x.malformed);
                    assert!(walked >= 4, "{shape:?}: {walked}");
                    assert!(x.files[0].name.len() > 90_000, "{}", x.files[0].name.len());
                }
                // Slow per byte in mail-parser: parts are parsed until the message's work
                // budget is spent, the rest unwalked.
                Shape::Rfc2231Quotes | Shape::Rfc2231Distinct => {
                    assert!(header_limit && walked >= 1 && unwalked >= 1, "{shape:?}");
                }
                // Over max_parameters in every part (folds count).
                Shape::FoldedContinuations => {
                    assert!(header_limit && walked == 0 && unwalked >= 10, "{x:?}")
                }
                // Some parts parsed, until the message's encoded-word budget is spent.
                Shape::Rfc2047 => {
                    assert!(
                        header_limit && walked > 10 && unwalked > 100,
                        "{walked} {unwalked}"
                    )
                }
                Shape::ManyHeaders | Shape::ManyMimeHeaders => {
                    assert!(!x.is_incomplete() && walked >= 4, "{shape:?}: {x:?}")
                }
                Shape::ManyParts => {
                    // The first part past the limit, then all the parts after it.
                    assert!(
                        x.malformed.contains(&Malformed::PartLimit) && unwalked == 2,
                        "{:?} {unwalked}",
                        x.malformed
                    );
                    // The text part and the top multipart are two of the 2,000 entities.
                    assert_eq!(walked, 1_998);
                }
                Shape::NestedToLimit => {
                    assert!(x.malformed.is_empty() && walked == 1, "{x:?}");
                    assert!(x.files[0].size > 700_000);
                }
                Shape::NestedPastLimit => {
                    assert!(x.malformed.contains(&Malformed::DepthLimit) && unwalked == 1)
                }
                // Each level decoded again: past the work budget the rest is unwalked.
                Shape::NestedQpMessages => {
                    assert!(x.malformed.contains(&Malformed::DecodedLimit) && unwalked == 1);
                }
                Shape::DelimiterJunk | Shape::NestedDelimiterJunk => {
                    assert!(x.malformed.is_empty() && walked == 1, "{x:?}");
                    assert!(x.files[0].size as usize > LEN * 9 / 10);
                }
            }
        }
    }

    #[test]
    fn blocks_are_what_mail_parser_reads_as_one_field() {
        use mail_parser::{HeaderValue, MessageParser};
        let parser = MessageParser::new().with_mime_headers();
        let block = rfc2231_block(64 << 10);
        let m = parser.parse_headers(&block).expect("headers");
        let HeaderValue::ContentType(cd) = &m.parts[0].headers[0].value else {
            panic!("not a Content-Disposition");
        };
        let name = cd.attribute("filename").expect("merged name");
        assert!(name.len() > 60_000 && name.ends_with(".bin"));
        let block = folded_block(16 << 10);
        let m = parser.parse_headers(&block).expect("headers");
        let HeaderValue::ContentType(cd) = &m.parts[0].headers[0].value else {
            panic!("not a Content-Disposition");
        };
        assert!(cd.attribute("filename").is_some_and(|n| n.len() > 500));
        for block in [quotes_block(16 << 10), distinct_block(16 << 10)] {
            let m = parser.parse_headers(&block).expect("headers");
            assert_eq!(m.parts[0].headers.len(), 1);
            let HeaderValue::ContentType(cd) = &m.parts[0].headers[0].value else {
                panic!("not a Content-Disposition");
            };
            assert!(cd.attributes().is_some_and(|a| a.len() > 500), "{cd:?}");
            let longest = block.split(|&b| b == b'\n').map(|l| l.len() + 1).max();
            assert!(longest <= Some(MAX_LINE));
        }
        let block = rfc2047_block(16 << 10);
        assert!(block.len() <= 16 << 10 && block.len() > 15 << 10);
        let m = parser.parse_headers(&block).expect("headers");
        assert!(matches!(m.parts[0].headers[0].value, HeaderValue::Text(_)));
    }
}
