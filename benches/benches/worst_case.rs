//! Extraction on hostile messages against a plain message of the same size, one criterion
//! group per size.
//!
//! Each group (`worst_case/64KiB`, `worst_case/1MiB`, `worst_case/8MiB`) times
//! `aptsim_core::mime::extract` with the default `MimeLimits` on every
//! [`aptsim_benches::worst::Shape`]: the plain baseline (a text part and one base64
//! attachment) and the hostile shapes, all exactly as long as the baseline (the inputs are
//! described in `benches/src/worst/mod.rs` and docs/performance.md, "Worst-case parsing").
//! Every function reports `Throughput::Bytes` of the raw message, the same for the whole
//! group, so the ratio of two rates is the inverse ratio of their times.
//!
//! What mail-parser alone would cost on the same hostile fields, without extraction's
//! bounds, is not timed here (it grows quadratically: seconds to minutes); see
//! `benches/examples/quadratic.rs`.
//!
//! Run with `cargo bench -p aptsim-benches --bench worst_case`. Flat sampling with 10 samples
//! and short measurement times keep the whole run under three minutes on a shared 2-core
//! machine.

use std::hint::black_box;
use std::time::Duration;

use aptsim_benches::worst::{Shape, build, plain};
use aptsim_core::mime::{self, MimeLimits};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// The sizes: (group name, nominal size of the plain message; the exact size is its length).
const SIZES: [(&str, usize); 3] = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("8MiB", 8 << 20)];

fn bench_size(c: &mut Criterion, name: &str, nominal: usize) {
    let base = plain(nominal);
    let len = base.len();
    let inputs: Vec<(Shape, Vec<u8>)> = Shape::ALL
        .iter()
        .map(|&shape| {
            let m = if shape == Shape::Plain {
                base.clone()
            } else {
                build(shape, len)
            };
            assert_eq!(m.len(), len, "{}", shape.name());
            (shape, m)
        })
        .collect();
    let limits = MimeLimits::default();

    let mut group = c.benchmark_group(format!("worst_case/{name}"));
    group.throughput(Throughput::Bytes(len as u64));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300));
    // 4 s at 8 MiB: the slowest input takes about 350 ms, and flat sampling needs 10 runs.
    group.measurement_time(Duration::from_millis(if nominal >= 8 << 20 {
        4_000
    } else {
        1_500
    }));
    for (shape, raw) in &inputs {
        group.bench_function(shape.name(), |b| {
            b.iter(|| mime::extract(black_box(raw), &limits))
        });
    }
    group.finish();
}

fn worst_case(c: &mut Criterion) {
    for (name, nominal) in SIZES {
        bench_size(c, name, nominal);
    }
}

criterion_group!(benches, worst_case);
criterion_main!(benches);
