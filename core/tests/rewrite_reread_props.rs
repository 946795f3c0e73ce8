//! Property: a message rewritten to drop some of its files reads, to the gateway, as the
//! original less the pieces replaced — the same files, no more and no fewer — also when its
//! header blocks end without an empty line, so that a replacement's own empty line could
//! move where they end (docs/fuzzing.md, finding 6). Messages are generated with nested
//! multiparts and attached messages (some base64-encoded), mostly without empty lines,
//! with LF, CRLF or mixed line ends, mbox `From ` lines, and field-like lines in preambles
//! and bodies; each is rewritten dropping every file, and dropping each of its first files
//! alone.

use std::collections::BTreeMap;

use aptsim_core::digest::Md5;
use aptsim_core::inspect::{FileOutcome, Source};
use aptsim_core::mime::{self, Extraction, MimeLimits};
use aptsim_core::policy::{Action, Policy};
use aptsim_core::rewrite::Rewrite;
use aptsim_core::verdict::ThreatLevel;
use proptest::prelude::*;

/// A small deterministic generator: the message is a function of the seed.
struct Gen {
    state: u64,
    /// The message's line end; `mixed` switches one line in five to the other.
    eol: &'static str,
    mixed: bool,
    /// Percent of header blocks that end with an empty line.
    blank: usize,
    /// Entities made so far, for unique boundaries and names.
    made: usize,
}

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn chance(&mut self, percent: usize) -> bool {
        (self.next() % 100) < percent as u64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn line(&mut self, out: &mut String, text: &str) {
        out.push_str(text);
        let other = if self.eol == "\n" { "\r\n" } else { "\n" };
        let eol = if self.mixed && self.chance(20) {
            other
        } else {
            self.eol
        };
        out.push_str(eol);
    }

    /// One entity: a multipart, an attached message or a leaf that may be a file.
    fn entity(&mut self, depth: u32, out: &mut String, may_start_mbox: bool) {
        self.made += 1;
        let id = self.made;
        if may_start_mbox && self.chance(15) {
            self.line(out, "From someone Tue Nov 14 22:13:20 2023");
        }
        let kind = if depth >= 3 { 2 } else { self.below(4) };
        let boundary = format!("B{id}");
        let mut fields = Vec::new();
        if self.chance(30) {
            fields.push("X-Mailer: test".to_owned());
        }
        match kind {
            0 => fields.push(format!(
                "Content-Type: multipart/mixed; boundary=\"{boundary}\""
            )),
            1 => fields.push("Content-Type: message/rfc822".to_owned()),
            _ => {
                if self.chance(70) {
                    fields.push(format!(
                        "Content-Type: application/octet-stream; name=\"f{id}.bin\""
                    ));
                }
                if self.chance(60) {
                    fields.push(format!(
                        "Content-Disposition: attachment; filename=\"f{id}.exe\""
                    ));
                }
                if self.chance(40) {
                    fields.push("Content-Transfer-Encoding: base64".to_owned());
                }
            }
        }
        let encoded_message = kind == 1 && self.chance(15);
        if encoded_message {
            fields.push("Content-Transfer-Encoding: base64".to_owned());
        }
        if self.chance(10) {
            fields.push(format!("Subject: folded{} continued", self.eol));
        }
        for f in fields {
            self.line(out, &f);
        }
        if self.chance(self.blank) {
            out.push_str(self.eol);
        } else if self.chance(30) {
            self.line(out, "a line that is no header field");
        }
        match kind {
            0 => {
                if self.chance(15) {
                    // Preamble that reads as a field if the block runs on into it.
                    self.line(out, "Content-Type: application/x-evil; name=\"pre.exe\"");
                }
                for _ in 0..1 + self.below(3) {
                    self.line(out, &format!("--{boundary}"));
                    self.entity(depth + 1, out, false);
                }
                if self.chance(85) {
                    self.line(out, &format!("--{boundary}--"));
                }
            }
            1 => {
                let mut inner = String::new();
                self.entity(depth + 1, &mut inner, true);
                if encoded_message {
                    let text = base64_simd::STANDARD.encode_to_string(inner.as_bytes());
                    for chunk in text.as_bytes().chunks(76) {
                        self.line(out, &String::from_utf8_lossy(chunk));
                    }
                } else {
                    out.push_str(&inner);
                }
            }
            _ => {
                let size = 20 + self.below(40);
                let bytes: Vec<u8> = (0..size).map(|_| self.next() as u8).collect();
                self.line(out, &base64_simd::STANDARD.encode_to_string(&bytes));
                if self.chance(20) {
                    self.line(out, "Content-Type: text/html; name=\"in-body.html\"");
                }
            }
        }
    }
}

fn message(seed: u64) -> Vec<u8> {
    let mut g = Gen {
        state: seed | 1,
        eol: "\r\n",
        mixed: false,
        blank: 0,
        made: 0,
    };
    g.eol = if g.chance(50) { "\r\n" } else { "\n" };
    g.mixed = g.chance(10);
    g.blank = [0, 0, 10, 50][g.below(4)];
    let mut out = String::new();
    g.line(&mut out, "From: a@example.com");
    if g.chance(50) {
        g.line(&mut out, "MIME-Version: 1.0");
    }
    g.entity(0, &mut out, false);
    out.into_bytes()
}

/// Every file judged high, dropped when `dropped` says so.
fn outcomes(x: &Extraction, dropped: impl Fn(usize) -> bool) -> Vec<FileOutcome> {
    x.files
        .iter()
        .enumerate()
        .map(|(i, f)| FileOutcome {
            file: i,
            md5: f.md5,
            name: f.name.clone(),
            level: ThreatLevel::High,
            score: 90,
            threat: None,
            action: if dropped(i) {
                Action::Drop
            } else {
                Action::Allow
            },
            source: Source::Analysis,
        })
        .collect()
}

/// The files' MD5s, each with how many files have it.
fn md5s<'a>(files: impl Iterator<Item = &'a mime::File>) -> BTreeMap<Md5, usize> {
    let mut counts = BTreeMap::new();
    for f in files {
        *counts.entry(f.md5).or_default() += 1;
    }
    counts
}

/// Rewrites `raw` dropping every file, then each of its first four alone, and checks each
/// re-read; returns how many rewrites had a header block no empty line ended.
fn rewrites_reread_as_the_original_less_the_pieces(raw: &[u8]) -> usize {
    let limits = MimeLimits::default();
    let x = mime::extract(raw, &limits);
    let mut unended = 0;
    let all = std::iter::once(None);
    for only in all.chain((0..x.files.len().min(4)).map(Some)) {
        let files = outcomes(&x, |i| only.is_none_or(|k| k == i));
        let plan = Rewrite::pieces(&x, &files, &Policy::default());
        let Rewrite::Pieces(edits) = &plan else {
            continue;
        };
        unended += usize::from(!x.unended_headers.is_empty());
        let out = plan.apply(raw, &limits);
        // The budget the original was read with (docs/fuzzing.md, finding 4).
        let budget = mime::work_budget(raw.len()).max(mime::work_budget(out.len()))
            + 64 * x.files.len() as u64;
        let again = mime::extract_with_work_budget(&out, &limits, budget);
        // The pieces replaced; an empty span is a line put in, and replaces nothing.
        let replaced: Vec<_> = edits
            .iter()
            .map(|e| e.span.clone())
            .filter(|s| !s.is_empty())
            .collect();
        let kept = x.files.iter().filter(|f| {
            let span = &x.attachments[f.attachment].span;
            !replaced
                .iter()
                .any(|r| r.start < span.end && span.start < r.end)
        });
        assert_eq!(
            md5s(again.files.iter()),
            md5s(kept),
            "the rewrite reads differently\noriginal: {:?}\nrewritten: {:?}\nedits: {edits:?}",
            String::from_utf8_lossy(raw),
            String::from_utf8_lossy(&out),
        );
    }
    unended
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn a_rewrite_reads_as_the_original_less_its_pieces(seed in any::<u64>()) {
        rewrites_reread_as_the_original_less_the_pieces(&message(seed));
    }
}

#[test]
fn the_messages_have_files_and_unended_header_blocks() {
    // Else the property above checks little.
    let (mut files, mut unended) = (0, 0);
    for seed in 0..300 {
        let raw = message(seed);
        files += mime::extract(&raw, &MimeLimits::default()).files.len();
        unended += rewrites_reread_as_the_original_less_the_pieces(&raw);
    }
    assert!(
        files > 200 && unended > 100,
        "{files} files, {unended} rewrites"
    );
}
