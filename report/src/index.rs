//! A folder of pages (`aptsim run --report DIR`): one page per run, and `index.html` listing
//! them, the failed runs first, each with its problems and reproduce line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::page::{escape, page};
use crate::run::{Outcome, Run};
use crate::summary::Summary;

const STYLE: &str = include_str!("../assets/report.css");

/// A report folder being written one run at a time: each run's page is written when the
/// run is added, and only its line of the index is kept, so that a long sweep never holds
/// more than one run's trace for the report.
#[derive(Debug)]
pub struct ReportDir {
    dir: PathBuf,
    rows: Vec<Row>,
}

/// What the index shows of a run whose page is written.
#[derive(Debug)]
struct Row {
    file: String,
    name: String,
    seed: Option<u64>,
    outcome: Option<Outcome>,
    messages: usize,
    delivered: usize,
    uploads: usize,
    retries: usize,
}

impl Row {
    fn failed(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| !o.passed)
    }
}

impl ReportDir {
    /// Makes `dir` if missing.
    pub fn create(dir: &Path) -> Result<ReportDir, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(ReportDir {
            dir: dir.to_path_buf(),
            rows: Vec::new(),
        })
    }

    /// Writes `run`'s page and keeps its line of the index.
    pub fn add(&mut self, run: &Run) -> Result<(), String> {
        let file = file_name(self.rows.len(), run);
        let path = self.dir.join(&file);
        let title = match run.seed {
            Some(seed) => format!("{} seed {seed}", run.name),
            None => run.name.clone(),
        };
        std::fs::write(
            &path,
            page(&title, std::slice::from_ref(run), Some("index.html")),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let s = Summary::of(&run.grouped);
        self.rows.push(Row {
            file,
            name: run.name.clone(),
            seed: run.seed,
            outcome: run.outcome.clone(),
            messages: s.messages,
            delivered: s.states.get("delivered").copied().unwrap_or(0),
            uploads: s.uploads,
            retries: s.retries,
        });
        Ok(())
    }

    /// Writes `index.html`; returns its path.
    pub fn finish(self) -> Result<PathBuf, String> {
        let path = self.dir.join("index.html");
        std::fs::write(&path, index(&self.rows)).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Writes one page per run and `index.html` into `dir` (made if missing). Returns the index's
/// path.
pub fn write_dir(dir: &Path, runs: &[Run]) -> Result<PathBuf, String> {
    let mut out = ReportDir::create(dir)?;
    for run in runs {
        out.add(run)?;
    }
    out.finish()
}

/// `007-s2-hold-clean-seed1.html`: the run's place, its name made safe for a file name.
fn file_name(k: usize, run: &Run) -> String {
    let name: String = run
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    match run.seed {
        Some(seed) => format!("{k:03}-{name}-seed{seed}.html"),
        None => format!("{k:03}-{name}.html"),
    }
}

/// The index page: a static table, no script.
fn index(rows: &[Row]) -> String {
    let failed = rows.iter().filter(|r| r.failed()).count();
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by_key(|r| !r.failed());
    let mut out = String::new();
    for r in order {
        let result = match &r.outcome {
            Some(o) if o.passed => "<td class=\"ok\">ok</td>".to_owned(),
            Some(_) => "<td class=\"fail\">FAILED</td>".to_owned(),
            None => "<td>not checked</td>".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr data-failed=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td>{result}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.failed(),
            escape(&r.file),
            escape(&r.name),
            r.seed.map_or(String::new(), |s| s.to_string()),
            r.messages,
            r.delivered,
            r.uploads,
            r.retries,
        );
        if let Some(o) = r.outcome.as_ref().filter(|o| !o.passed) {
            let problems: Vec<String> = o
                .problems
                .iter()
                .map(|p| format!("<li>{}</li>", escape(p)))
                .collect();
            let _ = writeln!(
                out,
                "<tr class=\"problems\"><td colspan=\"7\"><ul>{}</ul>reproduce: <code>{}</code></td></tr>",
                problems.join(""),
                escape(&o.reproduce)
            );
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>aptsim report</title>\n<style>{STYLE}</style></head>\n<body><header><h1>aptsim report</h1><p id=\"counts\" data-runs=\"{}\" data-failed=\"{failed}\">{} runs, {} passed, {failed} failed</p></header>\n<main><table class=\"runs\"><thead><tr><th>scenario</th><th>seed</th><th>result</th><th>messages</th><th>delivered</th><th>uploads</th><th>retries</th></tr></thead><tbody>\n{out}</tbody></table></main></body></html>\n",
        rows.len(),
        rows.len(),
        rows.len() - failed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_lists_failed_runs_first_with_their_reproduce_line() {
        let text = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");
        let outcome = |passed| Outcome {
            passed,
            problems: if passed {
                vec![]
            } else {
                vec!["invariant N1: m1 <lost>".into()]
            },
            reproduce: "aptsim run s.toml --seed 2".into(),
        };
        let ok =
            Run::from_jsonl("a ok", Some(1), "a.toml", Some(outcome(true)), text).expect("parses");
        let bad =
            Run::from_jsonl("b", Some(2), "b.toml", Some(outcome(false)), text).expect("parses");
        let dir = std::env::temp_dir().join(format!("aptsim-report-index-{}", std::process::id()));
        let index_path = write_dir(&dir, &[ok, bad]).expect("written");
        let html = std::fs::read_to_string(&index_path).expect("read");
        assert!(html.contains("data-runs=\"2\" data-failed=\"1\""));
        let b = html.find("001-b-seed2.html").expect("b listed");
        let a = html.find("000-a_ok-seed1.html").expect("a listed");
        assert!(b < a, "failed first");
        assert!(html.contains("<li>invariant N1: m1 &lt;lost&gt;</li></ul>reproduce: <code>aptsim run s.toml --seed 2</code>"));
        assert!(dir.join("000-a_ok-seed1.html").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
