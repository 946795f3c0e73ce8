//! The nested shapes of the worst-case messages: multiparts nested to and past extraction's
//! depth limit, attached messages in quoted-printable inside each other, and delimiter-like
//! junk at every level. Each is built to a given length, as [`super::build`] asks.

use rand_core::Rng;

use super::{BOUNDARY, DEPTH_LIMIT, MAX_LINE, Shape, top_headers};
use crate::input_rng;

/// Multiparts nested `depth` deep (the top message is the first), a base64 attachment
/// innermost making up the rest of `len`.
pub(super) fn nested_message(len: usize, depth: usize) -> Vec<u8> {
    let shape = if depth > DEPTH_LIMIT {
        Shape::NestedPastLimit
    } else {
        Shape::NestedToLimit
    };
    let boundary = |d: usize| format!("nest-{d:03}");
    let mut out = nested_openings(len, shape, depth, boundary);
    out.extend_from_slice(
        format!(
            "--{}\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"deep.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
            boundary(depth - 1)
        )
        .as_bytes(),
    );
    let closing: usize = (0..depth).map(|d| boundary(d).len() + 6).sum();
    let payload = base64_room(len.saturating_sub(out.len() + closing));
    let mut bytes = vec![0u8; payload];
    input_rng(0xDEE9).fill_bytes(&mut bytes);
    base64_lines(&mut out, &bytes);
    for d in (0..depth).rev() {
        out.extend_from_slice(format!("--{}--\r\n", boundary(d)).as_bytes());
    }
    out
}

/// A multipart holding one `message/rfc822` part in quoted-printable, whose message is
/// again one, `depth - 1` levels in all below the top multipart, a base64 attachment
/// innermost. No `=` appears below the top (the payload is a multiple of 3 bytes: no base64
/// padding), so every level's text is its own quoted-printable encoding and all levels share
/// the same bytes.
pub(super) fn nested_qp_message(len: usize, depth: usize) -> Vec<u8> {
    let close = format!("\r\n--{BOUNDARY}--\r\n");
    let mut out = Vec::with_capacity(len);
    top_headers(
        &mut out,
        Shape::NestedQpMessages,
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
    for d in 1..depth {
        out.extend_from_slice(
            format!(
                "Content-Type: message/rfc822\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                 Subject: level {d}\r\nMIME-Version: 1.0\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        b"Content-Type: application/octet-stream\r\n\
          Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    let payload = base64_room(len.saturating_sub(out.len() + close.len()));
    let mut bytes = vec![0u8; payload];
    input_rng(0x0F0F).fill_bytes(&mut bytes);
    base64_lines(&mut out, &bytes);
    // The base64 lines end in CRLF, which belongs to the delimiter.
    out.truncate(out.len() - 2);
    out.extend_from_slice(close.as_bytes());
    out
}

/// [`Shape::DelimiterJunk`] (`depth` 1) and [`Shape::NestedDelimiterJunk`]: multiparts
/// nested `depth` deep with boundaries `b`, `bb`, `bbb`…, a text attachment innermost made
/// of lines `x--bb…b--bb…b…` (runs of `depth` b's). Every `--` run matches the delimiter
/// search of every level, which then rejects it: it is not at a line start.
pub(super) fn junk_message(len: usize, depth: usize) -> Vec<u8> {
    let shape = if depth > 1 {
        Shape::NestedDelimiterJunk
    } else {
        Shape::DelimiterJunk
    };
    let boundary = |d: usize| "b".repeat(d + 1);
    let mut out = nested_openings(len, shape, depth, boundary);
    out.extend_from_slice(
        format!(
            "--{}\r\nContent-Type: text/plain\r\n\
             Content-Disposition: attachment; filename=\"junk.txt\"\r\n\r\n",
            boundary(depth - 1)
        )
        .as_bytes(),
    );
    let closing: usize = (0..depth).map(|d| boundary(d).len() + 6).sum();
    let end = len.saturating_sub(closing + 2);
    let run = format!("--{}", boundary(depth - 1));
    let per_line = (MAX_LINE - 3) / run.len();
    while out.len() + 3 + per_line * run.len() <= end {
        out.push(b'x');
        for _ in 0..per_line {
            out.extend_from_slice(run.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    for d in (0..depth).rev() {
        out.extend_from_slice(format!("--{}--\r\n", boundary(d)).as_bytes());
    }
    out
}

/// Decoded bytes whose base64 lines (76 characters and CRLF per 57 bytes) fit in `room`.
fn base64_room(room: usize) -> usize {
    room / 78 * 57
}

/// Appends `bytes` in base64, 76-character lines, each ended by CRLF.
pub(super) fn base64_lines(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for line in bytes.chunks(57) {
        for quantum in line.chunks(3) {
            let b = [
                quantum[0],
                quantum.get(1).copied().unwrap_or(0),
                quantum.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                if i <= quantum.len() {
                    out.push(ALPHABET[(n >> shift) as usize & 63]);
                } else {
                    out.push(b'=');
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The top headers of a multipart nested `depth` deep, and every level's opening delimiter
/// and header block down to the innermost, whose boundaries `boundary(level)` names.
fn nested_openings(
    len: usize,
    shape: Shape,
    depth: usize,
    boundary: impl Fn(usize) -> String,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    top_headers(
        &mut out,
        shape,
        &format!("multipart/mixed; boundary=\"{}\"", boundary(0)),
    );
    for d in 1..depth {
        out.extend_from_slice(
            format!(
                "--{}\r\nContent-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n",
                boundary(d - 1),
                boundary(d)
            )
            .as_bytes(),
        );
    }
    out
}
