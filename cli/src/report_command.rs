//! `aptsim report` and what `aptsim run` takes from the report crate: the HTML pages of
//! `--report DIR`, and the text timeline of a failing message under its reproduce line.
//! Everything goes through the trace's JSON Lines text ([`runner::trace_jsonl`]), the same
//! as a trace file, whatever keeps the runs' traces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aptsim_report::index::ReportDir;
use aptsim_report::page::page;
use aptsim_report::run::{Outcome as Checked, Run};
use aptsim_scenarios::runner;
use aptsim_scenarios::suite::{Job, Outcome};

/// Most failures `aptsim run` prints a timeline for: each one whose trace was not kept is run
/// again (the same seed gives the same trace, N8).
const MAX_TIMELINES: usize = 3;

/// Arguments of `aptsim report`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Write an HTML report of traces (aptsim run --trace): summary, distributions, a \
             table of messages and a swimlane timeline per message, in one self-contained file",
    long_about = "Write an HTML report of one or more traces (aptsim run --trace FILE): a single \
                  self-contained file (no network) with a summary per run, the distributions \
                  of hold time, exposure window and time to delivery, a filterable table of \
                  messages and, on a click, a message's swimlane timeline (sender, SMTP proxy, \
                  data center, mail server, IMAP). Open FILE#msg=ID to go straight to a \
                  message. For reports of runs with their checks, use aptsim run --report DIR.",
    after_help = "Examples:\n  aptsim run scenarios/suite/s3-s5-sender-timeout-retry.toml --trace t.jsonl\n  aptsim report t.jsonl -o report.html\n  aptsim report a.jsonl b.jsonl -o both.html      (one page, a table of both runs)"
)]
pub struct ReportArgs {
    /// Trace files, JSON Lines (from `aptsim run --trace`).
    #[arg(value_name = "TRACE.jsonl", required = true)]
    pub traces: Vec<PathBuf>,
    /// Where to write the page.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
}

/// `aptsim report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode, String> {
    let mut runs = Vec::with_capacity(args.traces.len());
    for path in &args.traces {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let shown = path.display().to_string();
        let run = Run::from_jsonl(&name, None, &shown, None, &text)
            .map_err(|e| format!("{shown}: {e}"))?;
        runs.push(run);
    }
    let title = match &runs[..] {
        [one] => one.name.clone(),
        _ => format!("{} traces", runs.len()),
    };
    let html = page(&title, &runs, None);
    std::fs::write(&args.output, html).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let messages: usize = runs.iter().map(|r| r.grouped.stories.len()).sum();
    eprintln!(
        "aptsim: wrote {} ({} runs, {messages} messages)",
        args.output.display(),
        runs.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A run of `aptsim run` as the report sees it.
fn report_run(o: &Outcome, trace: &[u8]) -> Result<Run, String> {
    let checked = Checked {
        passed: o.passed(),
        problems: o.problems(),
        reproduce: o.reproduce(),
    };
    let text = String::from_utf8_lossy(trace);
    Run::from_jsonl(
        &o.report.name,
        Some(o.report.seed),
        &o.path.display().to_string(),
        Some(checked),
        &text,
    )
    .map_err(|e| format!("{} seed {}: {e}", o.report.name, o.report.seed))
}

/// `aptsim run --report DIR`, written as the runs are reported: each run's page goes out
/// with its outcome, and its trace is let go then, so a sweep holds only the traces of the
/// runs not yet reported.
#[derive(Debug)]
pub struct StreamedReport {
    dir: ReportDir,
    /// The text timeline of each reported run that failed (the first [`MAX_TIMELINES`]).
    timelines: Vec<Option<String>>,
    left: usize,
}

impl StreamedReport {
    /// Makes `dir` if missing.
    pub fn create(dir: &Path) -> Result<StreamedReport, String> {
        Ok(StreamedReport {
            dir: ReportDir::create(dir)?,
            timelines: Vec::new(),
            left: MAX_TIMELINES,
        })
    }

    /// Writes `o`'s page from its kept trace, notes its failing message's timeline, and
    /// drops the trace.
    pub fn add(&mut self, o: &mut Outcome) -> Result<(), String> {
        let trace = runner::trace_jsonl(&std::mem::take(&mut o.report.trace));
        let run = report_run(o, &trace)?;
        let timeline = if o.passed() || o.error.is_some() || self.left == 0 {
            None
        } else {
            self.left -= 1;
            run.failing_timeline()
        };
        self.timelines.push(timeline);
        self.dir.add(&run)
    }

    /// Writes `index.html`. Returns its path and the timelines by run, as
    /// [`failing_timelines`] does.
    pub fn finish(self) -> Result<(PathBuf, Vec<Option<String>>), String> {
        Ok((self.dir.finish()?, self.timelines))
    }
}

/// The text timeline of each failed run's failing message (the first [`MAX_TIMELINES`]
/// failures), by the outcome's place; a run whose trace was not kept is run again.
pub fn failing_timelines(outcomes: &[Outcome], jobs: &[Job<'_>]) -> Vec<Option<String>> {
    let mut left = MAX_TIMELINES;
    outcomes
        .iter()
        .zip(jobs)
        .map(|(o, job)| {
            if o.passed() || o.error.is_some() || left == 0 {
                return None;
            }
            left -= 1;
            let trace = if o.report.trace.is_empty() {
                runner::trace_jsonl(&runner::run(job.scenario, o.report.seed).ok()?.trace)
            } else {
                runner::trace_jsonl(&o.report.trace)
            };
            report_run(o, &trace).ok()?.failing_timeline()
        })
        .collect()
}
