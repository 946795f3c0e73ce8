//! One case of the pipeline bench, run a given number of times and nothing else: the
//! program to count instructions on (callgrind) or to profile (`perf record`), where the
//! bench's own machinery would blur the picture.
//!
//! Run with `cargo run --release -p aptsim-benches --example pipeline_passes -- CASE N WHAT`:
//! `CASE` as in the bench (`10KB_x3`), `N` passes (1,000), and `WHAT` one of `pipeline`
//! (the default: extraction, cache lookups, decision), `extract` (extraction alone) or
//! `md5` (the fastest MD5 of each attachment, the ceiling). The start of the process
//! (generating the message, OpenSSL's start) is the same for all three, so the difference
//! between two counts is what the passes cost. For example
//! `valgrind --tool=callgrind target/release/examples/pipeline_passes 10KB_x3 1000 md5`.

use std::hint::black_box;
use std::sync::Arc;

use aptsim_benches::{CASES, NOW, generate, hold_policy, md5_fast, run_pipeline, warm_cache};

/// The allocator of the `aptsim` binary (cli/src/main.rs), as in the bench.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("10KB_x3", String::as_str);
    let Some(case) = CASES.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        eprintln!("no case {name}; the cases are {}", names.join(", "));
        std::process::exit(2);
    };
    let passes: usize = match args.get(1).map(|n| n.parse()) {
        None => 1_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("the number of passes must be a whole number");
            std::process::exit(2);
        }
    };
    let what = args.get(2).map_or("pipeline", String::as_str);
    let sample = generate(case);
    let policy = Arc::new(hold_policy());
    let cache = warm_cache(&sample, &policy);
    let raw: Arc<[u8]> = Arc::from(sample.raw.as_slice());
    match what {
        "pipeline" => {
            for _ in 0..passes {
                black_box(run_pipeline(black_box(&raw), &policy, &cache, NOW));
            }
        }
        "extract" => {
            for _ in 0..passes {
                black_box(aptsim_core::mime::extract(black_box(&raw), &policy.limits));
            }
        }
        "md5" => {
            for _ in 0..passes {
                for a in &sample.attachments {
                    black_box(md5_fast(black_box(a.as_slice())));
                }
            }
        }
        other => {
            eprintln!("no {other}: pipeline, extract or md5");
            std::process::exit(2);
        }
    }
}
