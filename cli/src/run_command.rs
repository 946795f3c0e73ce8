//! `aptsim run` and `aptsim list`: the suite runner and the catalogue.
//!
//! Runs go through [`aptsim_scenarios::suite`], one worker per core; this file turns their
//! outcomes into the progress lines, the summary, the failures with their reproduce lines,
//! the `--json` and `--junit` files, and the exit status.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use aptsim_scenarios::files::{load, scenario_files};
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::junit;
use aptsim_scenarios::progress::{Progress, ProgressSink};
use aptsim_scenarios::suite::{self, Job, KeepTraces, Outcome};

/// Most runs one `aptsim run` makes (scenarios × seeds): each keeps its metrics until the
/// summary.
const MAX_SEEDS: u64 = 100_000;

/// Arguments of `aptsim run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  aptsim run scenarios/suite\n  aptsim run scenarios/suite/s3-s5-sender-timeout-retry.toml --seed 7 --trace t.jsonl\n  aptsim run scenarios/suite --seeds 100 --shard 2/4\n  aptsim run scenarios/suite --report target/report   (then open target/report/index.html)"
)]
pub struct RunArgs {
    /// Scenario files (.toml) or folders of them. Default: the built-in catalogue.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run with this seed instead of each scenario's own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run each scenario with this many seeds (the base seed and the ones after it), at most
    /// 100,000.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_SEEDS))]
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
    /// Write the results as JUnit XML to this file (one testcase per scenario and seed), for
    /// CI test reports.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Runs at once. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Run every scenario twice and fail unless the two traces are byte-identical (N8).
    #[arg(long)]
    pub check_determinism: bool,
    /// Write an HTML report into this folder: a page per run (summary, failures with their
    /// reproduce line, distributions, messages, a swimlane per message) and index.html.
    /// Each page is written as its run is reported, and the run's trace let go then.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
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
    let stderr = std::io::stderr();
    for (path, s) in &scenarios {
        for w in s.warnings() {
            let _ = writeln!(stderr.lock(), "aptsim: warning: {}: {w}", path.display());
        }
    }
    let jobs = jobs(args, &scenarios)?;
    let options = suite::Options {
        check_determinism: args.check_determinism,
        // A report draws every run from its trace; `--trace` streams to its file instead.
        keep_traces: if args.report.is_some() {
            KeepTraces::All
        } else {
            KeepTraces::None
        },
        trace_file: args.trace.clone(),
        workers: args
            .jobs
            .map_or(suite::Options::default().workers, |n| n as usize),
        // A run longer than ten seconds (a million-message day) says where it stands.
        progress: Some(ProgressSink(Arc::new(|p: &Progress| {
            let _ = writeln!(std::io::stderr().lock(), "  ... {p}");
        }))),
    };
    let total = jobs.len();
    let mut pages = match &args.report {
        Some(dir) => Some(crate::report_command::StreamedReport::create(dir)?),
        None => None,
    };
    let mut page_error = None;
    let outcomes = suite::run_all(&jobs, &options, |k, o| {
        let _ = writeln!(
            stderr.lock(),
            "[{}/{total}] {:<40} seed {:<6} {} ({} events, {:.0} ms)",
            k + 1,
            o.report.name,
            o.report.seed,
            if o.passed() { "ok" } else { "FAILED" },
            o.trace_lines,
            o.report.wall.as_secs_f64() * 1e3
        );
        if let Some(pages) = pages.as_mut()
            && page_error.is_none()
            && let Err(e) = pages.add(o)
        {
            page_error = Some(e);
        }
    });
    if let Some(e) = page_error {
        return Err(e);
    }
    let (index, timelines) = match pages {
        Some(pages) => {
            let (index, timelines) = pages.finish()?;
            (Some(index), timelines)
        }
        None => (
            None,
            crate::report_command::failing_timelines(&outcomes, &jobs),
        ),
    };
    let mut out = std::io::stdout().lock();
    let failed = report(&outcomes, &timelines, &mut out).map_err(|e| format!("stdout: {e}"))?;
    if let Some(file) = &args.json {
        std::fs::write(file, json_results(&outcomes)?)
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    if let Some(file) = &args.junit {
        std::fs::write(file, junit::write(&outcomes))
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    if let Some(index) = index {
        let _ = writeln!(stderr.lock(), "aptsim: report in {}", index.display());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The (scenario, seed) pairs to run, after `--seed`, `--seeds` and `--shard`. None at all
/// is an error: a CI job that runs nothing must not pass.
fn jobs<'a>(args: &RunArgs, scenarios: &'a [(PathBuf, Scenario)]) -> Result<Vec<Job<'a>>, String> {
    let mut jobs = Vec::new();
    for (path, s) in scenarios {
        let base = args.seed.unwrap_or(s.seed);
        for k in 0..args.seeds {
            jobs.push(Job {
                path,
                scenario: s,
                seed: base.wrapping_add(k),
            });
        }
    }
    let all = jobs.len();
    if let Some((i, n)) = args.shard {
        jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(k, _)| (*k as u64) % n == i - 1)
            .map(|(_, j)| j)
            .collect();
        if jobs.is_empty() {
            return Err(format!(
                "shard {i}/{n} holds none of the {all} runs: use at most {all} shards"
            ));
        }
    }
    if jobs.is_empty() {
        return Err("no scenarios to run".to_owned());
    }
    Ok(jobs)
}

/// Prints the summary table, then each failure with what failed, its reproduce line and the
/// text timeline of its message (`timelines`, by the outcome's place), then the count. True
/// when any run failed.
fn report(
    outcomes: &[Outcome],
    timelines: &[Option<String>],
    out: &mut impl Write,
) -> std::io::Result<bool> {
    print_summary(outcomes, out)?;
    let failed: Vec<(usize, &Outcome)> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.passed())
        .collect();
    writeln!(out)?;
    for (k, o) in &failed {
        writeln!(out, "FAILED {} (seed {})", o.report.name, o.report.seed)?;
        for p in o.problems() {
            writeln!(out, "  {p}")?;
        }
        writeln!(out, "  reproduce: {}", o.reproduce())?;
        if let Some(Some(timeline)) = timelines.get(*k) {
            write!(out, "{timeline}")?;
        }
    }
    if !failed.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    )?;
    Ok(!failed.is_empty())
}

fn json_results(outcomes: &[Outcome]) -> Result<String, String> {
    let runs: Vec<_> = outcomes
        .iter()
        .map(|o| {
            let r = &o.report;
            json!({
                "scenario": r.name, "path": o.path.display().to_string(), "seed": r.seed,
                "passed": o.passed(), "failures": r.failures, "violations": r.violations,
                "panic": r.panic, "error": o.error, "determinism": o.determinism,
                "states": r.states, "metrics": r.metrics, "wall_ms": r.wall.as_secs_f64() * 1e3,
                "reproduce": o.reproduce(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())
}

fn print_summary(outcomes: &[Outcome], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
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
    )?;
    for o in outcomes {
        let (r, s) = (&o.report, &o.report.states);
        writeln!(
            out,
            "{:<40} {:>6} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9} {:>8.1}",
            r.name,
            r.seed,
            if o.passed() { "ok" } else { "FAIL" },
            s.submitted,
            s.delivered,
            s.quarantined + s.denied + s.expired + s.in_flight,
            r.metrics.uploads,
            r.metrics.retries,
            format!("{:.0}s", r.metrics.hold_ms.p50 as f64 / 1e3),
            r.wall.as_secs_f64() * 1e3
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_run_that_panics_is_reported_failed_with_its_reproduce_line() {
        let mut s = Scenario::from_toml("[[message]]\nid = \"m1\"\n", "p.toml").expect("valid");
        // Beyond what a file may say (`world.latency` is bounded when read): a link's
        // `Instant + latency` overflows inside an actor.
        s.world.latency = Duration::MAX;
        let path = PathBuf::from("p.toml");
        let jobs = [Job {
            path: &path,
            scenario: &s,
            seed: 9,
        }];
        let outcomes = suite::run_all(&jobs, &suite::Options::default(), |_, _| {});
        let mut out = Vec::new();
        let failed = report(&outcomes, &[], &mut out).expect("written");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(failed, "a panic fails the run (exit status 1):\n{out}");
        assert!(
            out.contains(
                "FAILED p (seed 9)\n  panic: overflow when adding duration to instant at "
            ),
            "{out}"
        );
        assert!(
            out.contains("\n  reproduce: aptsim run p.toml --seed 9\n"),
            "{out}"
        );
        assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
        assert!(junit::write(&outcomes).contains("type=\"panic\""));
    }
}
