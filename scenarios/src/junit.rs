//! A suite's results as JUnit XML, the format CI systems read (GitLab, Jenkins, GitHub
//! test reporters): one `<testcase>` per scenario × seed, `classname` the scenario and
//! `name` the seed, and a `<failure>` for each run that failed, holding what failed and the
//! command that reproduces it.
//!
//! Written by hand: the format is small, and escaping is the only care it needs. Text from a
//! run (panic messages, expectation sentences, file names) may hold any character; those
//! XML 1.0 cannot carry at all (most control characters) become U+FFFD.

use std::fmt::Write;

use crate::suite::Outcome;

/// The JUnit XML document for `outcomes`.
pub fn write(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| !o.passed()).count();
    let seconds: f64 = outcomes.iter().map(|o| o.report.wall.as_secs_f64()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\"",
        outcomes.len()
    );
    // Writing to a String cannot fail.
    let _ = writeln!(x, "<testsuites name=\"aptsim\" {counts}>");
    let _ = writeln!(
        x,
        "  <testsuite name=\"aptsim run\" skipped=\"0\" {counts}>"
    );
    for o in outcomes {
        let r = &o.report;
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"seed {}\" file=\"{}\" time=\"{:.3}\"",
            escape(&r.name),
            r.seed,
            escape(&o.path.display().to_string()),
            r.wall.as_secs_f64()
        );
        if o.passed() {
            x.push_str("/>\n");
            continue;
        }
        let problems = o.problems();
        let kind = if r.panic.is_some() {
            "panic"
        } else if o.error.is_some() {
            "error"
        } else if !r.failures.is_empty() {
            "expectation"
        } else if !r.violations.is_empty() {
            "invariant"
        } else {
            "determinism"
        };
        let message = match problems.as_slice() {
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
            [] => "failed".to_owned(),
        };
        let mut body = problems.join("\n");
        let _ = write!(body, "\nreproduce: {}", o.reproduce());
        let _ = write!(
            x,
            ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>\n",
            escape(&message),
            escape(&body)
        );
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for an attribute value or element content. Newlines and tabs in attributes
/// are written as character references, which XML keeps (a literal one becomes a space).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // Not allowed in XML 1.0, not even as references.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::RunReport;
    use std::path::PathBuf;

    fn outcome(name: &str, failures: Vec<String>, panic: Option<String>) -> Outcome {
        Outcome {
            path: PathBuf::from(format!("suite/{name}.toml")),
            report: RunReport {
                failures,
                panic,
                ..RunReport::not_run(name, 7)
            },
            trace_lines: 0,
            error: None,
            determinism: None,
        }
    }

    #[test]
    fn escapes_markup_quotes_and_forbidden_characters() {
        assert_eq!(
            escape("a<b>&\"c\"'d'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#10;\u{FFFD}"
        );
    }

    #[test]
    fn a_case_per_run_and_a_failure_with_its_reproduce_line() {
        let xml = write(&[
            outcome("good", vec![], None),
            outcome(
                "bad<1>",
                vec!["m1: expected attempts 3, got 1".into()],
                None,
            ),
            outcome("boom", vec![], Some("overflow at x.rs:1:2".into())),
        ]);
        assert!(xml.contains("tests=\"3\" failures=\"2\""), "{xml}");
        assert!(xml.contains(
            "<testcase classname=\"good\" name=\"seed 7\" file=\"suite/good.toml\" time=\"0.000\"/>"
        ));
        assert!(xml.contains("classname=\"bad&lt;1&gt;\""), "{xml}");
        assert!(xml.contains(
            "<failure message=\"expectation: m1: expected attempts 3, got 1\" type=\"expectation\">\
             expectation: m1: expected attempts 3, got 1&#10;reproduce: aptsim run suite/bad&lt;1&gt;.toml --seed 7</failure>"
        ), "{xml}");
        assert!(
            xml.contains("type=\"panic\">panic: overflow at x.rs:1:2"),
            "{xml}"
        );
    }
}
