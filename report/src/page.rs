//! The HTML page: one self-contained file (inline CSS, script and data, no network) that
//! works from a CI artifact. The template, style and script are in `report/assets/`.

use serde_json::json;

use crate::data::{run_data, script_safe};
use crate::run::Run;

const TEMPLATE: &str = include_str!("../assets/page.html");
const STYLE: &str = include_str!("../assets/report.css");
/// The script, in the order its parts need each other: helpers, charts, the swimlane, the
/// page.
const SCRIPTS: [&str; 4] = [
    include_str!("../assets/util.js"),
    include_str!("../assets/charts.js"),
    include_str!("../assets/swimlane.js"),
    include_str!("../assets/report.js"),
];

/// The page of `runs`, titled `title`; `index` is the link back to a folder's index, if any.
pub fn page(title: &str, runs: &[Run], index: Option<&str>) -> String {
    let data = json!({
        "title": title,
        "index": index,
        "runs": runs.iter().map(run_data).collect::<Vec<_>>(),
    });
    fill(title, &script_safe(&data))
}

/// The template with its holes filled. Each hole is filled once, in order, so text put in
/// one hole is never searched for the next.
fn fill(title: &str, data: &str) -> String {
    let holes = [
        ("{{TITLE}}", escape(title)),
        ("{{STYLE}}", STYLE.to_owned()),
        ("{{DATA}}", data.to_owned()),
        ("{{SCRIPT}}", SCRIPTS.join("\n")),
    ];
    let mut out = String::with_capacity(TEMPLATE.len() + STYLE.len() + data.len() + 64 * 1024);
    let mut rest = TEMPLATE;
    for (hole, text) in holes {
        if let Some(i) = rest.find(hole) {
            out.push_str(&rest[..i]);
            out.push_str(&text);
            rest = &rest[i + hole.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_self_contained() {
        let text = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");
        let run = Run::from_jsonl("s5 <x>", Some(1), "s5.toml", None, text).expect("parses");
        let html = page("s5 <x>", &[run], None);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>s5 &lt;x&gt; — aptsim report</title>"));
        assert!(!html.contains("{{"), "every hole filled");
        // The one URL is the SVG namespace, a name that is never fetched.
        let rest = html.replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !rest.contains("http:") && !rest.contains("https:"),
            "no network"
        );
        assert!(!rest.contains("fetch(") && !rest.contains("XMLHttpRequest"));
        assert!(html.contains("\"name\":\"s5 \\u003cx>\""));
    }
}
