//! Which message a failure is about: the first message a problem's text names (an
//! expectation's `m1: expected …`, an invariant's `message m3 …`), or the message of a
//! connection it names (`conn 4 txn 1`); else the first message of the run.

use std::collections::HashMap;

use crate::group::Grouped;
use crate::story::Story;

/// The story a run's `problems` point at; none when the run has no messages.
pub fn failing<'a>(run: &'a Grouped, problems: &[String]) -> Option<&'a Story> {
    let by_id: HashMap<&str, &Story> = run.stories.iter().map(|s| (s.id.as_str(), s)).collect();
    for p in problems {
        let words: Vec<&str> = p
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(s) = words
            .iter()
            .find_map(|w| by_id.get(w.trim_end_matches('.')))
        {
            return Some(s);
        }
        for pair in words.windows(2) {
            if pair[0] == "conn" {
                let conn = format!("(conn {})", pair[1]);
                if let Some(s) = run
                    .stories
                    .iter()
                    .find(|s| s.steps.iter().any(|st| st.text.ends_with(&conn)))
                {
                    return Some(s);
                }
            }
        }
    }
    run.stories.first()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::group;
    use crate::line::parse;

    fn two() -> Grouped {
        let text = r#"{"t":0,"actor":"a","event":"attempt_started","msg":"m1","attempt":1,"conn":1}
{"t":0,"actor":"a","event":"attempt_started","msg":"m12","attempt":1,"conn":2}"#;
        group(&parse(text).expect("parses"))
    }

    #[test]
    fn finds_the_message_a_problem_names() {
        let g = two();
        let id = |p: &str| failing(&g, &[p.to_owned()]).map(|s| s.id.clone());
        assert_eq!(
            id("expectation: m12: expected state delivered, got in flight").as_deref(),
            Some("m12")
        );
        assert_eq!(
            id("invariant N2: conn 2 txn 1: ambiguous").as_deref(),
            Some("m12")
        );
        assert_eq!(
            id("invariant N5: nothing named").as_deref(),
            Some("m1"),
            "the first message"
        );
        assert!(failing(&Grouped::default(), &[]).is_none());
    }
}
