//! Property: extraction that reads each attachment's text once (the multipart's delimiters
//! found as its parts are walked, a base64 body's end found by its decoder) gives exactly
//! what the two-pass reference gives (every delimiter found first): the same attachments,
//! spans, files, MD5s and malformations, with and without contents, on random messages
//! built to be hard on it — base64 of several widths and line ends, delimiters glued to
//! bodies, padded, inside lines, missing, boundaries that prefix each other, parts without
//! an empty line, junk in headers and bodies, nested and digest multiparts.

use aptsim_core::mime::{self, MimeLimits};
use proptest::prelude::*;

/// A small deterministic generator: the message is a function of the seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A base64 body: clean most of the time, else with something wrong in it.
fn base64_body(g: &mut Gen, boundary: &str) -> Vec<u8> {
    let size = [0, 3, 57, 100, 2_000, 30_000, 70_000][g.below(7)];
    let data = g.bytes(size);
    let text = base64_simd::STANDARD.encode_to_string(&data);
    let width = [76, 76, 76, 64, 4, 72, 1_000][g.below(7)];
    let eol = if g.below(8) == 0 { "\n" } else { "\r\n" };
    let mut out = Vec::new();
    let lines: Vec<&[u8]> = text.as_bytes().chunks(width).collect();
    for (i, line) in lines.iter().enumerate() {
        out.extend_from_slice(line);
        if i + 1 < lines.len() || g.below(3) > 0 {
            out.extend_from_slice(eol.as_bytes());
        }
        if g.below(400) == 0 {
            let junk = g.pick(&["--", "*", "  ", "QQ==", "\r", "-x", "--BOUND", "\r\n"]);
            out.extend_from_slice(junk.replace("BOUND", boundary).as_bytes());
            out.extend_from_slice(eol.as_bytes());
        }
        if g.below(2_000) == 0 {
            // A line of the body's width that hides a delimiter after a bare LF.
            let mut hidden = "A".repeat(width.saturating_sub(boundary.len() + 3).max(1));
            hidden.push_str("\n--");
            hidden.push_str(boundary);
            out.extend_from_slice(hidden.as_bytes());
            out.extend_from_slice(eol.as_bytes());
        }
    }
    if g.below(6) == 0 {
        out.extend_from_slice(g.pick(&["\r\n", "  \r\n", "\r\n\r\n", "="]).as_bytes());
    }
    out
}

/// One entity at `depth`: header block and body.
fn entity(g: &mut Gen, depth: usize, out: &mut Vec<u8>) {
    let boundary = ["B", "B1", "B", "XYZ", "B1x"][g.below(5)].to_owned() + &depth.to_string();
    let kind = if depth >= 4 {
        1 + g.below(4)
    } else {
        g.below(6)
    };
    let header = match kind {
        0 => format!("Content-Type: multipart/mixed; boundary=\"{boundary}\""),
        5 => format!("Content-Type: multipart/digest; boundary={boundary}"),
        1 => "Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
              Content-Transfer-Encoding: base64"
            .to_owned(),
        2 => "Content-Disposition: attachment; filename=b.txt\r\n\
              Content-Transfer-Encoding: quoted-printable"
            .to_owned(),
        3 => "Content-Type: text/plain".to_owned(),
        _ => "Content-Type: message/rfc822".to_owned(),
    };
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(b"\r\n");
    if g.below(20) == 0 {
        out.extend_from_slice(b"this is no header\r\n");
    }
    // Most entities end their header block with an empty line.
    if g.below(12) > 0 {
        out.extend_from_slice(b"\r\n");
    }
    match kind {
        0 | 5 => {
            if g.below(3) == 0 {
                out.extend_from_slice(b"preamble --");
                out.extend_from_slice(boundary.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            for _ in 0..1 + g.below(4) {
                out.extend_from_slice(g.pick(&["--", "--", "\r\n--"]).as_bytes());
                out.extend_from_slice(boundary.as_bytes());
                out.extend_from_slice(
                    g.pick(&["\r\n", "\r\n", "\n", "  \r\n", "x\r\n"])
                        .as_bytes(),
                );
                if g.below(10) > 0 {
                    entity(g, depth + 1, out);
                }
                out.extend_from_slice(g.pick(&["\r\n", "\r\n", "\n", ""]).as_bytes());
            }
            if g.below(6) > 0 {
                out.extend_from_slice(b"--");
                out.extend_from_slice(boundary.as_bytes());
                out.extend_from_slice(g.pick(&["--\r\n", "--", "--  epilogue\r\n"]).as_bytes());
            }
        }
        1 => out.extend(base64_body(g, &boundary[..boundary.len() - 1])),
        2 => out.extend_from_slice(b"a=3Db=\r\nc\r\n--\r\n"),
        3 => out.extend_from_slice(b"hello\r\n\r\n-- \r\nsignature\r\n"),
        _ => entity(g, depth + 1, out),
    }
}

fn message(seed: u64) -> Vec<u8> {
    let mut g = Gen(seed | 1);
    let mut out = b"From: a@example.com\r\nMIME-Version: 1.0\r\n".to_vec();
    entity(&mut g, 0, &mut out);
    out
}

fn agree(raw: &[u8], limits: &MimeLimits) {
    for keep in [false, true] {
        let one = if keep {
            mime::extract_with_contents(raw, limits)
        } else {
            mime::extract(raw, limits)
        };
        let two = mime::extract_two_pass(raw, limits, keep);
        assert_eq!(one, two, "keep contents: {keep}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn one_pass_extraction_agrees_with_two(seed in any::<u64>()) {
        let raw = message(seed);
        agree(&raw, &MimeLimits::default());
        // Limits that stop the walk part way, so the rest of a multipart is one piece.
        let small = MimeLimits { max_parts: 3, max_depth: 2, ..MimeLimits::default() };
        agree(&raw, &small);
        // The same message with bare LF line ends.
        let lf: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
        agree(&lf, &MimeLimits::default());
    }
}

#[test]
fn the_messages_have_what_the_walk_must_agree_on() {
    // The generator makes attachments and multiparts, or the property above tests nothing.
    let (mut files, mut multiparts) = (0, 0);
    for seed in 0..200 {
        let raw = message(seed);
        files += mime::extract(&raw, &MimeLimits::default()).files.len();
        multiparts += usize::from(raw.windows(9).any(|w| w == b"multipart"));
    }
    assert!(
        files > 100 && multiparts > 50,
        "{files} files, {multiparts} multiparts"
    );
}
