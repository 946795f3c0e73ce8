//! What mail-parser 0.11.9 alone costs on the hostile header blocks that extraction now
//! bounds before mail-parser sees them (docs/performance.md, "Worst-case parsing";
//! docs/upstream/mail-parser-quadratic.md).
//!
//! For each shape and growing block sizes, it times
//! `MessageParser::new().with_mime_headers().parse_headers(block)` and, for contrast,
//! `aptsim_core::mime::extract` on a message made of the same block and a one-line body
//! (which refuses the block after one linear pass and reports it unscannable). It prints a
//! Markdown table with the growth exponent between consecutive sizes (2 = quadratic).
//!
//! The inputs (`aptsim_benches::worst`): (b) `filename*K="…";` continuations, one per
//! 990-byte line; (g) `filename*K=x` continuations separated by folds only; continuations
//! of distinct parameters `; a000000*1=x; a000001*1=x…`; (c) unfinished
//! RFC 2047 words ` =?AB?q?x` in one Content-Description; and an RFC 2231 extended value
//! `filename*="x'a'a'…"` after as many bytes of short parameters.
//!
//! A shape stops growing once one measurement passes 10 s, or when the next size would take
//! more than 25 s by a quadratic extrapolation; the table says which.
//!
//! Run with `cargo run --release -p aptsim-benches --example quadratic` (about two minutes
//! on the 2-core machine of docs/performance.md). `--quick` stops at 1 MiB, 5 s a
//! measurement and 10 s predicted.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aptsim_benches::worst::{
    distinct_block, folded_block, quotes_block, rfc2047_block, rfc2231_block,
};
use aptsim_core::mime::{self, MimeLimits};
use mail_parser::MessageParser;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const SIZES: [usize; 9] = [
    64 * KIB,
    128 * KIB,
    256 * KIB,
    512 * KIB,
    MIB,
    2 * MIB,
    4 * MIB,
    8 * MIB,
    16 * MIB,
];

struct Input {
    name: &'static str,
    block: fn(usize) -> Vec<u8>,
}

const INPUTS: [Input; 5] = [
    Input {
        name: "(b) 2231 `;` continuations",
        block: rfc2231_block,
    },
    Input {
        name: "(g) fold continuations",
        block: folded_block,
    },
    Input {
        name: "2231 distinct names",
        block: distinct_block,
    },
    Input {
        name: "(c) unfinished 2047 words",
        block: rfc2047_block,
    },
    Input {
        name: "2231 `'` separators",
        block: quotes_block,
    },
];

/// Best of `runs` timings of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn size(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / KIB)
    }
}

/// One input at one size: mail-parser's time and extraction's, or why it was not run.
enum Cell {
    Ran { parse: Duration, extract: Duration },
    Skipped(f64),
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (stop_after, max_predicted, largest) = if quick {
        (5.0, 10.0, MIB)
    } else {
        (10.0, 25.0, 8 * MIB)
    };
    let sizes: Vec<usize> = SIZES.into_iter().filter(|&n| n <= largest).collect();
    let parser = MessageParser::new().with_mime_headers();
    let limits = MimeLimits::default();
    let mut columns: Vec<Vec<Cell>> = Vec::new();
    for input in &INPUTS {
        let mut cells = Vec::new();
        let mut last: Option<(usize, f64)> = None;
        for &n in &sizes {
            if let Some((n0, t0)) = last {
                let predicted = t0 * (n as f64 / n0 as f64).powi(2);
                if t0 > stop_after || predicted > max_predicted {
                    cells.push(Cell::Skipped(predicted));
                    break;
                }
            }
            let block = (input.block)(n);
            // One run when slow: a second would not change the picture.
            let runs = match last {
                Some((_, t0)) if t0 > 0.5 => 1,
                _ => 3,
            };
            let parse = time(runs, || parser.parse_headers(&block));
            let mut message = block;
            message.extend_from_slice(b"body\r\n");
            let extract = time(5, || mime::extract(&message, &limits));
            eprintln!("{} at {}: {}", input.name, size(n), human(parse));
            cells.push(Cell::Ran { parse, extract });
            last = Some((n, parse.as_secs_f64()));
        }
        columns.push(cells);
    }

    println!("mail-parser `parse_headers` alone (growth exponent from the size before):\n");
    print!("| block |");
    for input in &INPUTS {
        print!(" {} |", input.name);
    }
    println!("\n|---|{}", "---:|".repeat(INPUTS.len()));
    for (i, &n) in sizes.iter().enumerate() {
        print!("| {} |", size(n));
        for cells in &columns {
            match (cells.get(i), i.checked_sub(1).and_then(|j| cells.get(j))) {
                (Some(Cell::Ran { parse, .. }), Some(Cell::Ran { parse: p0, .. })) => {
                    let g = (parse.as_secs_f64() / p0.as_secs_f64()).ln()
                        / (n as f64 / sizes[i - 1] as f64).ln();
                    print!(" {} ({g:.2}) |", human(*parse));
                }
                (Some(Cell::Ran { parse, .. }), _) => print!(" {} |", human(*parse)),
                (Some(Cell::Skipped(p)), _) => print!(" not run (~{p:.0} s) |"),
                (None, _) => print!(" |"),
            }
        }
        println!();
    }

    println!("\n`mime::extract` on the same block followed by a one-line body:\n");
    print!("| block |");
    for input in &INPUTS {
        print!(" {} |", input.name);
    }
    println!("\n|---|{}", "---:|".repeat(INPUTS.len()));
    for (i, &n) in sizes.iter().enumerate() {
        print!("| {} |", size(n));
        for cells in &columns {
            match cells.get(i) {
                Some(Cell::Ran { extract, .. }) => print!(" {} |", human(*extract)),
                _ => print!(" |"),
            }
        }
        println!();
    }
}
