//! Deterministic inputs for the criterion benchmarks of the attachment pipeline.
//!
//! Every benchmark input is built from a fixed seed with ChaCha8 (the simulator's one random
//! family), so two runs (and two machines) measure exactly the same bytes: no clock, no OS
//! randomness.
//!
//! A [`Case`] names a message size class (about 10 KB, 1 MB or 10 MB on the wire) and a
//! number of attachments. [`generate`] fills that many attachments with pseudo-random,
//! incompressible bytes and wraps them in a real MIME message built with mail-builder
//! (`multipart/mixed`, a short text body, each attachment `application/octet-stream` in
//! base64 with 76-column lines, as real mail carries binaries). The decoded attachment bytes
//! are returned next to the raw message, so a benchmark can hash them directly as the
//! raw-MD5 baseline.
//!
//! The mail-builder output is byte-for-byte reproducible too: the multipart boundary and the
//! Date and Message-ID headers are given explicitly (mail-builder would otherwise derive them
//! from the clock).
//!
//! [`run_pipeline`] is the measured pipeline itself (parse, transfer-decode, MD5, verdict
//! cache lookup, decision), shared by the benchmark and the tests so that what is timed is
//! what is checked.
#![warn(missing_docs)]

pub mod session;
pub mod worst;

use std::sync::Arc;

use aptsim_core::archive;
use aptsim_core::cache::{MemoryCache, VerdictCache};
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::inspect::{Flavour, Inspection, Outcome, Submission};
use aptsim_core::policy::Policy;
use aptsim_core::verdict::{ThreatLevel, Verdict};
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
pub use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The multipart boundary of every generated message (fixed, so the bytes are reproducible).
pub const BOUNDARY: &str = "aptsim-bench-boundary-0001";

/// Decoded bytes per line of mail-builder's base64 (57 bytes become 76 characters + CRLF).
const BASE64_LINE_IN: usize = 57;
/// Characters per encoded line, CRLF included.
const BASE64_LINE_OUT: usize = 78;

/// One benchmark input shape: a message of about `message_bytes` on the wire carrying
/// `attachments` attachments of equal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Short name, used as the criterion group name (for example `1MB_x5`).
    pub name: &'static str,
    /// Nominal size of the raw message in bytes (decimal units: 1 MB = 1,000,000 bytes).
    pub message_bytes: usize,
    /// Number of attachments, 1 to 5.
    pub attachments: usize,
    /// Seed of the generator of this case's attachment bytes.
    pub seed: u64,
}

impl Case {
    /// Decoded bytes of attachment `index`: the decoded total that makes the base64-encoded
    /// message about [`Case::message_bytes`] long, split evenly (the first attachment takes
    /// the remainder).
    pub fn attachment_len(&self, index: usize) -> usize {
        let total = self.message_bytes * BASE64_LINE_IN / BASE64_LINE_OUT;
        let n = self.attachments.max(1);
        total / n + if index == 0 { total % n } else { 0 }
    }
}

/// The benchmark matrix: three message sizes, one attachment and several.
pub const CASES: [Case; 6] = [
    Case {
        name: "10KB_x1",
        message_bytes: 10_000,
        attachments: 1,
        seed: 0x0001,
    },
    Case {
        name: "10KB_x3",
        message_bytes: 10_000,
        attachments: 3,
        seed: 0x0003,
    },
    Case {
        name: "1MB_x1",
        message_bytes: 1_000_000,
        attachments: 1,
        seed: 0x0101,
    },
    Case {
        name: "1MB_x5",
        message_bytes: 1_000_000,
        attachments: 5,
        seed: 0x0105,
    },
    Case {
        name: "10MB_x1",
        message_bytes: 10_000_000,
        attachments: 1,
        seed: 0x1001,
    },
    Case {
        name: "10MB_x5",
        message_bytes: 10_000_000,
        attachments: 5,
        seed: 0x1005,
    },
];

/// The generator of every input's bytes: ChaCha8, the family the simulator draws from too,
/// seeded with the case's fixed seed.
pub fn input_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The fastest MD5 on this machine, OpenSSL's, called directly (not through aptsim-core):
/// the second ceiling of the pipeline bench (`md5_fast`). The algorithm is fetched once, as
/// aptsim-core does, so that each call pays only for a context and the hashing itself.
/// `None` when the linked libcrypto refuses MD5.
pub fn md5_fast(bytes: &[u8]) -> Option<[u8; 16]> {
    use openssl::md::Md;
    use openssl::md_ctx::MdCtx;
    static MD5: std::sync::OnceLock<Option<Md>> = std::sync::OnceLock::new();
    let md = MD5
        .get_or_init(|| Md::fetch(None, "MD5", None).ok())
        .as_ref()?;
    let mut ctx = MdCtx::new().ok()?;
    ctx.digest_init(md).ok()?;
    ctx.digest_update(bytes).ok()?;
    let mut out = [0u8; 16];
    ctx.digest_final(&mut out).ok()?;
    Some(out)
}

/// A generated message and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The case it was built for.
    pub case: Case,
    /// The raw RFC 5322 message, CRLF line ends, attachments in base64.
    pub raw: Vec<u8>,
    /// Each attachment's decoded bytes, in message order.
    pub attachments: Vec<Vec<u8>>,
}

impl Sample {
    /// The file name of attachment `index` in the message.
    pub fn attachment_name(index: usize) -> String {
        format!("payload-{index}.bin")
    }

    /// Total decoded attachment bytes: the unit of every reported throughput.
    pub fn decoded_bytes(&self) -> u64 {
        self.attachments.iter().map(|a| a.len() as u64).sum()
    }

    /// The MD5 of each attachment, computed directly on the decoded bytes.
    pub fn md5s(&self) -> Vec<Md5> {
        self.attachments.iter().map(|a| Md5::of(a)).collect()
    }
}

/// Builds the message of `case`: same case, same bytes, every time.
pub fn generate(case: &Case) -> Sample {
    let mut rng = input_rng(case.seed);
    let attachments: Vec<Vec<u8>> = (0..case.attachments)
        .map(|i| {
            let mut bytes = vec![0u8; case.attachment_len(i)];
            rng.fill_bytes(&mut bytes);
            // Random bytes could, by a small chance, begin with an archive's magic number;
            // the benchmark is about plain files, so make sure none is taken for an archive.
            if archive::sniff(&bytes).is_some()
                && let Some(first) = bytes.first_mut()
            {
                *first = b'X';
            }
            bytes
        })
        .collect();

    let mut parts = vec![MimePart::new(
        "text/plain",
        "Please find the requested files attached.\r\n",
    )];
    for (i, bytes) in attachments.iter().enumerate() {
        parts.push(
            MimePart::new("application/octet-stream", bytes.as_slice())
                .attachment(Sample::attachment_name(i)),
        );
    }
    let raw = MessageBuilder::new()
        .from(("Alice Sender", "alice@example.com"))
        .to(("Bob Recipient", "bob@example.net"))
        .subject(format!("Benchmark message {}", case.name))
        .message_id(format!("{}@bench.aptsim.example", case.name))
        .date(1_700_000_000_i64)
        .body(MimePart::new(
            ContentType::new("multipart/mixed").attribute("boundary", BOUNDARY),
            parts,
        ))
        .write_to_vec()
        .expect("writing to a Vec cannot fail");

    Sample {
        case: *case,
        raw,
        attachments,
    }
}

/// The policy the pipeline runs under: SMTP hold mode (S2), so unknown files are submitted
/// and the message waits for them.
pub fn hold_policy() -> Policy {
    Policy {
        release_immediately: false,
        ..Policy::default()
    }
}

/// The time every benchmark runs at.
pub const NOW: Timestamp = Timestamp::ZERO;

/// True for the attachments [`warm_cache`] knows: every second one (indices 1, 3, …), so a
/// message with several attachments exercises both the cache-hit and the submission path.
pub fn is_cached(index: usize) -> bool {
    index % 2 == 1
}

/// A verdict cache holding a clean verdict for each attachment [`is_cached`] picks.
pub fn warm_cache(sample: &Sample, policy: &Policy) -> MemoryCache {
    let mut cache = MemoryCache::new(policy.cache.clone());
    for (i, md5) in sample.md5s().into_iter().enumerate() {
        if is_cached(i) {
            let verdict = Verdict::from_level(ThreatLevel::Clean, &policy.thresholds);
            cache.insert(md5, verdict, NOW);
        }
    }
    cache
}

/// What one pass of the pipeline produced.
#[derive(Debug)]
pub struct PipelineRun {
    /// The decision machine, after the pass.
    pub inspection: Inspection,
    /// The upload groups it asked for.
    pub submissions: Vec<Submission>,
    /// The decision, if it was made without waiting for the data center.
    pub outcome: Option<Outcome>,
}

/// The full pipeline on one raw message: [`Inspection::new`] (parse, transfer-decode, MD5,
/// cache lookup), then draining [`Inspection::poll_submission`] and
/// [`Inspection::poll_outcome`].
///
/// `raw` is an `Arc` so that a benchmark can pass the same message again without copying it.
pub fn run_pipeline(
    raw: &Arc<[u8]>,
    policy: &Arc<Policy>,
    cache: &dyn VerdictCache,
    now: Timestamp,
) -> PipelineRun {
    let mut inspection = Inspection::new(Flavour::Smtp, raw, Arc::clone(policy), cache, now);
    let mut submissions = Vec::new();
    while let Some(s) = inspection.poll_submission(cache, now) {
        submissions.push(s);
    }
    let outcome = inspection.poll_outcome();
    PipelineRun {
        inspection,
        submissions,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::mime::{self, MimeLimits};
    use md5::{Digest, Md5 as Md5Hasher};

    #[test]
    fn generator_is_deterministic() {
        for case in &CASES {
            let a = generate(case);
            let b = generate(case);
            assert!(a == b, "{}: two generations differ", case.name);
        }
        // And the seed matters: different cases do not share bytes.
        let x = generate(&CASES[0]);
        let y = generate(&Case {
            seed: CASES[0].seed + 1,
            ..CASES[0]
        });
        assert_ne!(x.attachments, y.attachments);
        // A fixed value pins the generator itself: a changed algorithm changes every number.
        let mut rng = input_rng(1);
        let first = rng.next_u64();
        assert_eq!(first, input_rng(1).next_u64());
        assert_ne!(first, rng.next_u64());
    }

    #[test]
    fn sizes_and_encoding_are_what_the_cases_say() {
        for case in &CASES {
            let s = generate(case);
            assert_eq!(s.attachments.len(), case.attachments, "{}", case.name);
            let raw = s.raw.len() as f64;
            let nominal = case.message_bytes as f64;
            assert!(
                (0.95..1.15).contains(&(raw / nominal)),
                "{}: raw message is {} bytes for a nominal {}",
                case.name,
                s.raw.len(),
                case.message_bytes
            );
            let text = String::from_utf8_lossy(&s.raw);
            assert_eq!(
                text.matches("Content-Transfer-Encoding: base64").count(),
                case.attachments,
                "{}: every attachment must be base64",
                case.name
            );
            // Incompressible: every byte value turns up, in roughly equal numbers.
            let mut counts = [0usize; 256];
            for b in s.attachments.iter().flatten() {
                counts[*b as usize] += 1;
            }
            let expected = s.decoded_bytes() as f64 / 256.0;
            let worst = counts
                .iter()
                .map(|&c| (c as f64 - expected).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 6.0 * expected.sqrt() + 3.0,
                "{}: byte histogram is skewed",
                case.name
            );
        }
    }

    #[test]
    fn pipeline_finds_every_attachment_with_its_md5() {
        let policy = Arc::new(hold_policy());
        for case in &CASES {
            let s = generate(case);
            // Reference digests straight from md-5, not through aptsim-core's wrapper.
            let expected: Vec<Md5> = s
                .attachments
                .iter()
                .map(|a| Md5(Md5Hasher::digest(a).into()))
                .collect();

            let x = mime::extract(&s.raw, &MimeLimits::default());
            assert!(x.malformed.is_empty(), "{}: {:?}", case.name, x.malformed);

            let cache = warm_cache(&s, &policy);
            let raw: Arc<[u8]> = Arc::from(s.raw.as_slice());
            let run = run_pipeline(&raw, &policy, &cache, NOW);
            let files = &run.inspection.extraction().files;
            let found: Vec<(String, Md5, u64)> = files
                .iter()
                .map(|f| (f.name.clone(), f.md5, f.size))
                .collect();
            let want: Vec<(String, Md5, u64)> = expected
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    (
                        Sample::attachment_name(i),
                        *m,
                        s.attachments[i].len() as u64,
                    )
                })
                .collect();
            assert_eq!(found, want, "{}", case.name);
            assert!(
                files
                    .iter()
                    .all(|f| f.archive.is_none() && f.unscannable.is_none())
            );

            // Cached attachments are judged from the cache; the first unknown one is
            // submitted (SMTP hold: one group at a time) and the message waits.
            for (i, (md5, verdict)) in run.inspection.verdicts().enumerate() {
                assert_eq!(md5, expected[i], "{}", case.name);
                assert_eq!(verdict.is_some(), is_cached(i), "{}: file {i}", case.name);
            }
            let first_unknown = (0..case.attachments).find(|&i| !is_cached(i));
            let submitted: Vec<Md5> = run
                .submissions
                .iter()
                .flat_map(|s| s.files.iter().map(|f| f.md5))
                .collect();
            assert_eq!(
                submitted,
                first_unknown
                    .map(|i| expected[i])
                    .into_iter()
                    .collect::<Vec<_>>(),
                "{}",
                case.name
            );
            assert_eq!(run.outcome, None, "{}: hold mode must wait", case.name);
        }
    }

    #[test]
    fn both_ceilings_compute_the_same_digests() {
        for case in &CASES[..4] {
            let s = generate(case);
            for a in &s.attachments {
                let portable: [u8; 16] = Md5Hasher::digest(a).into();
                assert_eq!(md5_fast(a), Some(portable), "{}", case.name);
            }
        }
        assert_eq!(
            md5_fast(b"abc").map(|d| Md5(d).to_hex()).as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
    }
}
