//! The attachment pipeline against raw MD5, one criterion group per input case.
//!
//! Each group (named after its [`Case`], e.g. `1MB_x5`) measures five functions on the same
//! deterministic message:
//!
//! - `md5_raw`: md-5's portable Rust over the decoded attachment bytes, nothing else. The
//!   first ceiling: the pipeline cannot identify files faster than it can hash them.
//! - `md5_fast`: the fastest MD5 on this machine (OpenSSL's, [`md5_fast`]) over the same
//!   bytes: the real limit, since the pipeline itself hashes with it.
//! - `parse_only`: mail-parser's `MessageParser::parse` alone, which also base64-decodes every
//!   binary part. The first slice of the pipeline's time.
//! - `extract_only`: `aptsim_core::mime::extract` alone (the same parse, then aptsim-core's
//!   walk of the part tree with its closing-delimiter check, archive sniffing and the MD5 of
//!   each file), to show where the pipeline's time goes.
//! - `pipeline`: the full pipeline on the raw message, [`run_pipeline`]: `Inspection::new`
//!   (extract + verdict cache lookup + decision) and then draining `poll_submission` and
//!   `poll_outcome`, under SMTP hold mode, with a warm `MemoryCache` that knows every second
//!   attachment.
//!
//! **Throughput unit.** All five report `Throughput::Bytes` of the *decoded attachment
//! bytes* of the message, not of the raw message (which is about 37 % larger because of
//! base64 and line ends). The rates are therefore directly comparable: the ratio
//! `pipeline / md5_fast` (or `/ md5_raw`) of the reported rates is the share of the pure
//! hashing speed the pipeline keeps, and equals `time(md5_fast) / time(pipeline)`.
//!
//! **Allocator.** The bench runs with the `aptsim` binary's allocator (mimalloc,
//! cli/src/main.rs), which the live proxy runs the pipeline with; OpenSSL allocates its
//! digest contexts with the C library's either way.
//!
//! Run with `cargo bench -p aptsim-benches --bench pipeline`. Sample counts and times are kept
//! small (flat sampling and 10 samples from 1 MB up) so that the whole run stays within a
//! few minutes on a shared 2-core machine.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aptsim_benches::{CASES, Case, NOW, generate, hold_policy, md5_fast, run_pipeline, warm_cache};
use aptsim_core::mime;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mail_parser::MessageParser;
use md5::{Digest, Md5};

/// The allocator of the `aptsim` binary (cli/src/main.rs), which runs the live proxy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_case(c: &mut Criterion, case: &Case) {
    let sample = generate(case);
    let policy = Arc::new(hold_policy());
    let cache = warm_cache(&sample, &policy);
    // Built once: each iteration only bumps the reference count, never copies the message.
    let raw: Arc<[u8]> = Arc::from(sample.raw.as_slice());
    let limits = policy.limits.clone();
    // A libcrypto that refuses MD5 would make `md5_fast` time nothing at all.
    md5_fast(b"").expect("OpenSSL's MD5 is unavailable: md5_fast would measure nothing");

    let mut group = c.benchmark_group(case.name);
    // Decoded attachment bytes for every function, so that the rates compare (module doc).
    group.throughput(Throughput::Bytes(sample.decoded_bytes()));
    group.warm_up_time(Duration::from_millis(500));
    if case.message_bytes >= 1_000_000 {
        // One pass takes milliseconds to tens of milliseconds: a few flat samples suffice.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(50)
            .measurement_time(Duration::from_secs(2));
    }

    group.bench_function("md5_raw", |b| {
        b.iter(|| {
            for attachment in &sample.attachments {
                black_box(Md5::digest(black_box(attachment.as_slice())));
            }
        })
    });
    group.bench_function("md5_fast", |b| {
        b.iter(|| {
            for attachment in &sample.attachments {
                black_box(md5_fast(black_box(attachment.as_slice())));
            }
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| MessageParser::default().parse(black_box(&sample.raw[..])))
    });
    group.bench_function("extract_only", |b| {
        b.iter(|| mime::extract(black_box(&sample.raw), &limits))
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| run_pipeline(black_box(&raw), &policy, &cache, NOW))
    });
    group.finish();
}

fn pipeline_vs_md5(c: &mut Criterion) {
    for case in &CASES {
        bench_case(c, case);
    }
}

criterion_group!(benches, pipeline_vs_md5);
criterion_main!(benches);
