//! Messages and policies for the integration tests, built with mail-builder.
#![allow(dead_code, unused_imports)]

pub mod harness;
pub mod imap_server;
pub mod imap_world;
mod messages;

pub use messages::{content, message, t};

use std::io::Write;
use std::sync::Arc;

use aptsim_core::cache::MemoryCache;
use aptsim_core::clock::Timestamp;
use aptsim_core::inspect::{Flavour, Inspection};
use aptsim_core::policy::Policy;

/// The EICAR anti-virus test string: harmless, and every scanner calls it a virus.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Base64 in 76-character lines (RFC 2045), CRLF between lines, none after the last.
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap_or_default())
        .collect();
    lines.join("\r\n")
}

/// Limits no test message reaches: for reading back what a rewrite handed on, so that the
/// check itself never stops short of something a client would see.
pub fn generous_limits() -> aptsim_core::mime::MimeLimits {
    aptsim_core::mime::MimeLimits {
        max_message_bytes: usize::MAX,
        max_depth: 10_000,
        max_parts: u32::MAX,
        max_header_bytes: usize::MAX,
        max_parameters: u32::MAX,
        max_decoded_bytes: usize::MAX,
        archive: aptsim_core::archive::ArchiveLimits {
            max_depth: 100,
            max_members: u32::MAX,
            max_total_bytes: u64::MAX,
            max_ratio: u32::MAX,
            ratio_floor: u64::MAX,
        },
    }
}

/// `n` incompressible, deterministic bytes (ChaCha8, the project's one random family, from
/// `seed`).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    use rand_core::{Rng, SeedableRng};
    let mut out = vec![0u8; n];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// A deflated zip of these members.
pub fn zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(*name, options).expect("zip entry");
        w.write_all(bytes).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

pub fn hold_policy() -> Policy {
    Policy {
        release_immediately: false,
        ..Policy::default()
    }
}

pub fn inspect(
    flavour: Flavour,
    raw: &[u8],
    policy: &Policy,
    cache: &MemoryCache,
    now: Timestamp,
) -> Inspection {
    Inspection::new(flavour, raw, Arc::new(policy.clone()), cache, now)
}
