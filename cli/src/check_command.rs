//! `aptsim check`: re-checks a trace file (`aptsim run --trace`) against its scenario with
//! the checks the run itself made online ([`checks::recheck`]): the invariants N1–N9, the
//! metrics, the scenario's expectations and totals. The trace is truth: the file says what
//! happened, and anyone can check it again without running anything.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use aptsim_scenarios::checks;
use aptsim_scenarios::files::load;
use aptsim_scenarios::runner::RunReport;
use aptsim_simulator::metrics::Percentiles;

/// Arguments of `aptsim check`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Re-check a trace file (aptsim run --trace) against its scenario: invariants \
             N1-N9, expectations, totals and metrics, by the same code the run used",
    after_help = "Examples:\n  aptsim run scenarios/suite/s3-s5-sender-timeout-retry.toml --seed 7 --trace t.jsonl\n  aptsim check t.jsonl scenarios/suite/s3-s5-sender-timeout-retry.toml --seed 7\n\nExit status: 0 when everything holds, 1 when an invariant or expectation fails, 2 when the\nfile is not a trace (the error names the line) or the scenario does not load."
)]
pub struct CheckArgs {
    /// The trace, JSON Lines as `aptsim run --trace` writes it; `-` reads standard input.
    #[arg(value_name = "TRACE.jsonl")]
    pub trace: PathBuf,
    /// The scenario the trace is a run of: its policy, faults and expectations.
    #[arg(value_name = "SCENARIO.toml")]
    pub scenario: PathBuf,
    /// The seed the trace was run with. Default: the scenario's own (as `aptsim run`).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `aptsim check`.
pub fn run(args: &CheckArgs) -> Result<ExitCode, String> {
    let scenario = load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let shown = args.trace.display().to_string();
    let input: Box<dyn BufRead> = if args.trace.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&args.trace).map_err(|e| format!("{shown}: {e}"))?;
        Box::new(std::io::BufReader::with_capacity(1 << 16, f))
    };
    let report = checks::recheck(input, &scenario, seed).map_err(|e| format!("{shown}: {e}"))?;
    let mut out = std::io::stdout().lock();
    print(&report, &shown, &mut out).map_err(|e| format!("stdout: {e}"))?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the re-check found, in the words of `aptsim run`'s failures.
fn print(r: &RunReport, trace: &str, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{trace}: {} lines, scenario {} (seed {})",
        r.trace_lines, r.name, r.seed
    )?;
    let s = &r.states;
    write!(
        out,
        "states: submitted {}, delivered {}, quarantined {}, denied {}, expired {}, in flight {}",
        s.submitted, s.delivered, s.quarantined, s.denied, s.expired, s.in_flight
    )?;
    if s.mailbox > 0 {
        write!(
            out,
            "; mailbox {}, fetched {}, replaced {}, unfetched {}",
            s.mailbox, s.fetched, s.replaced, s.unfetched
        )?;
    }
    writeln!(out)?;
    let m = &r.metrics;
    writeln!(
        out,
        "requests {} (uploads {}, look-ups {}, refusals {}, dedupe waits {}), cache hits {}, \
         retries {}, sender timeouts {}, duplicates {}, ambiguous timeouts {}",
        m.requests,
        m.uploads,
        m.lookups,
        m.refusals,
        m.dedupe_waits,
        m.cache_hits,
        m.retries,
        m.sender_timeouts,
        m.duplicates,
        m.ambiguous_timeouts
    )?;
    writeln!(
        out,
        "delivery latency {}",
        percentiles(&m.delivery_latency_ms)
    )?;
    writeln!(out, "hold {}", percentiles(&m.hold_ms))?;
    writeln!(out, "exposure window {}", percentiles(&m.exposure_ms))?;
    for v in &r.violations {
        writeln!(out, "invariant {}: {}", v.id, v.detail)?;
    }
    for f in &r.failures {
        writeln!(out, "expectation: {f}")?;
    }
    if r.passed() {
        writeln!(out, "ok")
    } else {
        writeln!(
            out,
            "FAILED: {} invariant violations, {} expectations",
            r.violations.len(),
            r.failures.len()
        )
    }
}

fn percentiles(p: &Percentiles) -> String {
    if p.count == 0 {
        return "none".to_owned();
    }
    format!(
        "n {} p50 {} ms p90 {} ms p99 {} ms max {} ms",
        p.count, p.p50, p.p90, p.p99, p.max
    )
}
