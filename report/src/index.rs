//! A folder of pages (`aptsim run --report DIR`): one page per run, and `index.html` listing
//! them, the failed runs first, each with its problems and reproduce line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::page::{escape, page};
use crate::run::Run;
use crate::summary::Summary;

const STYLE: &str = include_str!("../assets/report.css");

/// Writes one page per run and `index.html` into `dir` (made if missing). Returns the index's
/// path.
pub fn write_dir(dir: &Path, runs: &[Run]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::with_capacity(runs.len());
    for (k, run) in runs.iter().enumerate() {
        let file = file_name(k, run);
        let path = dir.join(&file);
        let title = match run.seed {
            Some(seed) => format!("{} seed {seed}", run.name),
            None => run.name.clone(),
        };
        std::fs::write(
            &path,
            page(&title, std::slice::from_ref(run), Some("index.html")),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(file);
    }
    let path = dir.join("index.html");
    std::fs::write(&path, index(runs, &files)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
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
fn index(runs: &[Run], files: &[String]) -> String {
    let failed = runs.iter().filter(|r| r.failed()).count();
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&k| !runs[k].failed());
    let mut rows = String::new();
    for k in order {
        let (r, s) = (&runs[k], Summary::of(&runs[k].grouped));
        let result = match &r.outcome {
            Some(o) if o.passed => "<td class=\"ok\">ok</td>".to_owned(),
            Some(_) => "<td class=\"fail\">FAILED</td>".to_owned(),
            None => "<td>not checked</td>".to_owned(),
        };
        let delivered = s.states.get("delivered").copied().unwrap_or(0);
        let _ = writeln!(
            rows,
            "<tr data-failed=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td>{result}<td>{}</td><td>{delivered}</td><td>{}</td><td>{}</td></tr>",
            r.failed(),
            escape(&files[k]),
            escape(&r.name),
            r.seed.map_or(String::new(), |s| s.to_string()),
            s.messages,
            s.uploads,
            s.retries,
        );
        if let Some(o) = r.outcome.as_ref().filter(|o| !o.passed) {
            let problems: Vec<String> = o
                .problems
                .iter()
                .map(|p| format!("<li>{}</li>", escape(p)))
                .collect();
            let _ = writeln!(
                rows,
                "<tr class=\"problems\"><td colspan=\"7\"><ul>{}</ul>reproduce: <code>{}</code></td></tr>",
                problems.join(""),
                escape(&o.reproduce)
            );
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>aptsim report</title>\n<style>{STYLE}</style></head>\n<body><header><h1>aptsim report</h1><p id=\"counts\" data-runs=\"{}\" data-failed=\"{failed}\">{} runs, {} passed, {failed} failed</p></header>\n<main><table class=\"runs\"><thead><tr><th>scenario</th><th>seed</th><th>result</th><th>messages</th><th>delivered</th><th>uploads</th><th>retries</th></tr></thead><tbody>\n{rows}</tbody></table></main></body></html>\n",
        runs.len(),
        runs.len(),
        runs.len() - failed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Outcome;

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
