//! `aptsim explore`: generated whole worlds, or variations of the user's own scenario
//! (`--base FILE`), run on virtual time and checked against the invariants N1–N9,
//! determinism (N8) and the metamorphic properties; the first failing world is shrunk and
//! written as a scenario file. The work is [`aptsim_scenarios::explore`]; this file is the
//! flags, the progress lines, the summary and the exit status.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aptsim_scenarios::explore::{self, Explore, Progress};

/// Arguments of `aptsim explore`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  aptsim explore --cases 200\n  aptsim explore --time 60s --out found/\n  aptsim explore --seed 7 --no-swarm"
)]
pub struct ExploreArgs {
    /// Run this many generated worlds. Default 100 unless --time is given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub cases: Option<u64>,
    /// Explore for this long (wall-clock), e.g. `60s`, `10m`.
    #[arg(long, value_name = "DURATION", value_parser = aptsim_core::duration::parse)]
    pub time: Option<Duration>,
    /// Seed of the generator: the same seed draws the same worlds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the shrunk failing world into this folder (as `explore-SEED-INVARIANT.toml`).
    #[arg(long, value_name = "DIR", default_value = "explore-found")]
    pub out: PathBuf,
    /// Enable every fault kind and feature in every world, instead of a random subset per
    /// world (swarm testing).
    #[arg(long)]
    pub no_swarm: bool,
    /// Threads checking worlds at once [default: one per core]. The same seed finds and
    /// shrinks the same world whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Vary this scenario instead of generating worlds: its policy, presets, traffic,
    /// clients and faults are kept; message and analysis times, verdicts, fault times, the
    /// seed and extra faults are varied (its expectations are left out).
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// With --base: keep the file's [totals] in every variation, as properties (e.g.
    /// `duplicates = 0`); a variation breaking one fails as `expect`.
    #[arg(long, requires = "base")]
    pub keep_totals: bool,
}

fn days(d: Duration) -> f64 {
    d.as_secs_f64() / 86_400.0
}

fn line(p: &Progress) -> String {
    let secs = p.wall.as_secs_f64().max(1e-9);
    format!(
        "{} cases, {:.1} cases/s, {} messages ({:.0} messages/s), {:.0} simulated days ({:.1} days/s)",
        p.cases,
        p.cases as f64 / secs,
        p.messages,
        p.messages as f64 / secs,
        days(p.simulated),
        days(p.simulated) / secs
    )
}

/// `aptsim explore`.
pub fn run(args: &ExploreArgs) -> Result<ExitCode, String> {
    let cfg = Explore {
        cases: args
            .cases
            .or(if args.time.is_none() { Some(100) } else { None }),
        time: args.time,
        seed: args.seed,
        swarm: !args.no_swarm,
        out: Some(args.out.clone()),
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            usize::from,
        ),
        base: args.base.as_ref().map(|p| p.display().to_string()),
        ..Explore::default()
    };
    let base = match &cfg.base {
        Some(path) => Some(std::sync::Arc::new(explore::base::Base::load(
            path,
            args.keep_totals,
        )?)),
        None => None,
    };
    let stderr = std::io::stderr();
    let mut last = Instant::now();
    let mut progress = |p: &Progress| {
        if last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            let _ = writeln!(stderr.lock(), "explore: {}", line(p));
        }
    };
    let summary = match base {
        Some(base) => explore::explore_base(&cfg, base, &mut progress),
        None => explore::explore(&cfg, &mut progress),
    }
    .map_err(|e| e.to_string())?;
    let p = &summary.progress;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "explored {} worlds ({} messages, {} runs, {:.0} virtual days, {} invariant checks) \
         in {:.1}s; seed {}{}{}",
        p.cases,
        p.messages,
        p.runs,
        days(p.simulated),
        p.checks,
        p.wall.as_secs_f64(),
        args.seed,
        if args.no_swarm { ", no swarm" } else { "" },
        cfg.base
            .as_ref()
            .map_or_else(String::new, |b| format!(", around {b}"))
    );
    match summary.found {
        None => {
            let _ = writeln!(out, "no failures");
            Ok(ExitCode::SUCCESS)
        }
        Some(found) => {
            let _ = writeln!(
                out,
                "FAILED at case {}: {}\nshrunk in {} steps ({} kept the failure)",
                found.case, found.failure, found.shrink_steps.0, found.shrink_steps.1
            );
            if let Some(file) = &found.file {
                let _ = writeln!(
                    out,
                    "written to {}\nreproduce: aptsim run {}",
                    file.display(),
                    file.display()
                );
            }
            let _ = writeln!(out, "--- shrunk world ---\n{}", found.toml);
            Ok(ExitCode::FAILURE)
        }
    }
}
