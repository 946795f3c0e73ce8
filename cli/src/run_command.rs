//! `aptsim run` and `aptsim list`: the suite runner and the catalogue.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner::{self, RunReport};

/// Arguments of `aptsim run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  aptsim run scenarios/suite\n  aptsim run scenarios/suite/s3-s5-sender-timeout-retry.toml --seed 7 --trace t.jsonl\n  aptsim run scenarios/suite --seeds 100 --shard 2/4"
)]
pub struct RunArgs {
    /// Scenario files (.toml) or folders of them. Default: the built-in catalogue.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run with this seed instead of each scenario's own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run each scenario with this many seeds (the base seed and the ones after it).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Run only shard I of N of the (scenario, seed) pairs, e.g. `2/4` (for CI matrices).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Write the trace of the (last) run to this file, as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write a machine-readable result of every run to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Run every scenario twice and fail unless the two traces are byte-identical (N8).
    #[arg(long)]
    pub check_determinism: bool,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 1/4")?;
    let i: u64 = i.parse().map_err(|_| "shard index is not a number")?;
    let n: u64 = n.parse().map_err(|_| "shard count is not a number")?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
}

/// `aptsim run`.
pub fn run(args: &RunArgs) -> Result<ExitCode, String> {
    let files = scenario_files(&args.paths)?;
    let scenarios: Vec<(PathBuf, Scenario)> = files
        .iter()
        .map(|f| load(f).map(|s| (f.clone(), s)))
        .collect::<Result<_, _>>()?;
    for (path, s) in &scenarios {
        for w in s.warnings() {
            eprintln!("aptsim: warning: {}: {w}", path.display());
        }
    }
    let mut jobs = Vec::new();
    for (path, s) in &scenarios {
        let base = args.seed.unwrap_or(s.seed);
        for k in 0..args.seeds.max(1) {
            jobs.push((path, s, base.wrapping_add(k)));
        }
    }
    if let Some((i, n)) = args.shard {
        jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(k, _)| (*k as u64) % n == i - 1)
            .map(|(_, j)| j)
            .collect();
    }
    let total = jobs.len();
    let mut reports: Vec<(&PathBuf, RunReport, Option<String>)> = Vec::new();
    let stderr = std::io::stderr();
    for (k, (path, s, seed)) in jobs.into_iter().enumerate() {
        let report = runner::run(s, seed)?;
        let mut determinism = None;
        if args.check_determinism {
            let again = runner::run(s, seed)?;
            if runner::trace_jsonl(&again.trace) != runner::trace_jsonl(&report.trace) {
                determinism = Some("N8: the same seed gave a different trace".to_owned());
            }
        }
        let ok = report.passed() && determinism.is_none();
        let _ = writeln!(
            stderr.lock(),
            "[{}/{total}] {:<40} seed {:<6} {} ({} events, {:.0} ms)",
            k + 1,
            s.name,
            seed,
            if ok { "ok" } else { "FAILED" },
            report.trace.len(),
            report.wall.as_secs_f64() * 1e3
        );
        reports.push((path, report, determinism));
    }
    print_summary(&reports);
    if let (Some(file), Some((_, last, _))) = (&args.trace, reports.last()) {
        std::fs::write(file, runner::trace_jsonl(&last.trace))
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    if let Some(file) = &args.json {
        let runs: Vec<_> = reports
            .iter()
            .map(|(path, r, det)| {
                json!({
                    "scenario": r.name, "path": path.display().to_string(), "seed": r.seed,
                    "passed": r.passed() && det.is_none(), "failures": r.failures,
                    "violations": r.violations, "panic": r.panic, "determinism": det, "states": r.states,
                    "metrics": r.metrics, "wall_ms": r.wall.as_secs_f64() * 1e3,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
        std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let failed: Vec<_> = reports
        .iter()
        .filter(|(_, r, det)| !r.passed() || det.is_some())
        .collect();
    if failed.is_empty() {
        println!("\n{} passed, 0 failed", reports.len());
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    for (path, r, det) in &failed {
        println!("FAILED {} (seed {})", r.name, r.seed);
        if let Some(p) = &r.panic {
            println!("  panic: {p}");
        }
        for f in &r.failures {
            println!("  expectation: {f}");
        }
        for v in &r.violations {
            println!("  invariant {}: {}", v.id, v.detail);
        }
        if let Some(d) = det {
            println!("  {d}");
        }
        println!(
            "  reproduce: aptsim run {} --seed {}",
            path.display(),
            r.seed
        );
    }
    println!(
        "\n{} passed, {} failed",
        reports.len() - failed.len(),
        failed.len()
    );
    Ok(ExitCode::FAILURE)
}

fn print_summary(reports: &[(&PathBuf, RunReport, Option<String>)]) {
    println!(
        "{:<40} {:>6} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9} {:>8}",
        "scenario",
        "seed",
        "result",
        "sent",
        "deliv",
        "other",
        "uploads",
        "retries",
        "hold p50",
        "wall ms"
    );
    for (_, r, det) in reports {
        let s = &r.states;
        println!(
            "{:<40} {:>6} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9} {:>8.1}",
            r.name,
            r.seed,
            if r.passed() && det.is_none() {
                "ok"
            } else {
                "FAIL"
            },
            s.submitted,
            s.delivered,
            s.quarantined + s.denied + s.expired + s.in_flight,
            r.metrics.uploads,
            r.metrics.retries,
            format!("{:.0}s", r.metrics.hold_ms.p50 as f64 / 1e3),
            r.wall.as_secs_f64() * 1e3
        );
    }
}

/// `aptsim list`: the catalogue with the behaviour ids each scenario covers.
pub fn list(paths: &[PathBuf]) -> Result<ExitCode, String> {
    let files = scenario_files(paths)?;
    println!("{:<44} {:<22} description", "scenario", "behaviours");
    for f in files {
        let s = load(&f)?;
        println!(
            "{:<44} {:<22} {}",
            s.name,
            s.behaviours.join(" "),
            s.description
        );
    }
    Ok(ExitCode::SUCCESS)
}
