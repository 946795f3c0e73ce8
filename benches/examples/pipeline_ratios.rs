//! The pipeline bench's ratios on a shared, busy machine: each function of
//! `benches/pipeline.rs` (`md5_raw`, `md5_fast`, `extract_only`, `pipeline`) is timed in
//! short batches taken in turn, many rounds over, and each keeps its best batch.
//!
//! Criterion reports a mean, which on this 2-core machine moves by 10-30 % when someone else
//! builds; a ratio of two means taken a minute apart moves by as much. Taking the functions
//! in turn puts them under the same load, and the best of many batches is what the code
//! costs when it gets the core, which is what the ratio is about. Same inputs, same unit
//! (decoded attachment bytes) as the criterion bench.
//!
//! Like the bench, it runs with the `aptsim` binary's allocator (mimalloc).
//!
//! Run with `cargo run --release -p aptsim-benches --example pipeline_ratios [CASE…]`
//! (cases by name, e.g. `10KB_x1`; all when none); `ROUNDS=N` sets the rounds (default 40).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use aptsim_benches::{CASES, NOW, generate, hold_policy, md5_fast, run_pipeline, warm_cache};
use aptsim_core::mime;
use md5::{Digest, Md5};

/// The allocator of the `aptsim` binary (cli/src/main.rs), which runs the live proxy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long one batch of calls runs, in seconds: long enough for the clock, short enough
/// that most batches see no other process.
const BATCH_SECONDS: f64 = 0.003;

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    println!(
        "{:8} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9}",
        "case", "md5_raw", "md5_fast", "extract", "pipeline", "/md5_raw", "/md5_fast"
    );
    for case in CASES
        .iter()
        .filter(|c| wanted.is_empty() || wanted.iter().any(|w| w == c.name))
    {
        let sample = generate(case);
        let policy = Arc::new(hold_policy());
        let cache = warm_cache(&sample, &policy);
        let raw: Arc<[u8]> = Arc::from(sample.raw.as_slice());
        let limits = policy.limits.clone();
        let functions: [&dyn Fn(); 4] = [
            &|| {
                for a in &sample.attachments {
                    black_box(Md5::digest(black_box(a.as_slice())));
                }
            },
            &|| {
                for a in &sample.attachments {
                    black_box(md5_fast(black_box(a.as_slice())));
                }
            },
            &|| {
                black_box(mime::extract(black_box(&sample.raw), &limits));
            },
            &|| {
                black_box(run_pipeline(black_box(&raw), &policy, &cache, NOW));
            },
        ];
        // Calls per batch, from one warm call of the slowest function.
        functions[3]();
        let started = Instant::now();
        functions[3]();
        let one = started.elapsed().as_secs_f64();
        let calls = ((BATCH_SECONDS / one) as usize).max(1);
        let mut best = [f64::MAX; 4];
        for _ in 0..rounds {
            for (f, best) in functions.iter().zip(best.iter_mut()) {
                let started = Instant::now();
                for _ in 0..calls {
                    f();
                }
                *best = best.min(started.elapsed().as_secs_f64() / calls as f64);
            }
        }
        let shown = |seconds: f64| {
            if seconds < 1e-3 {
                format!("{:.2} µs", seconds * 1e6)
            } else {
                format!("{:.3} ms", seconds * 1e3)
            }
        };
        println!(
            "{:8} {:>11} {:>11} {:>11} {:>11} {:>8.0}% {:>8.0}%",
            case.name,
            shown(best[0]),
            shown(best[1]),
            shown(best[2]),
            shown(best[3]),
            best[0] / best[3] * 100.0,
            best[1] / best[3] * 100.0,
        );
    }
}
