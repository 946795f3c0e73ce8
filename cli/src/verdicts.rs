//! Verdict files: a JSON object mapping MD5 (hex) to a level (`"high"`), a score (`85`) or
//! `{"score": 85, "threat": "name"}`, read the same way for `aptsim inspect --verdicts` and
//! `aptsim proxy smtp --dc-verdicts`.

use std::collections::BTreeMap;
use std::path::Path;

use aptsim_core::digest::Md5;
use aptsim_core::policy::Policy;
use aptsim_core::verdict::{ThreatLevel, Verdict};
use aptsim_peers::datacenter::Judgement;
use serde_json::Value;

/// A verdict file as the data center's oracle: each listed file judged as listed, after the
/// analysis time like any other (`--dc-verdicts`, for the proxy's built-in data center and
/// for `aptsim datacenter serve`).
pub fn oracle(verdicts: BTreeMap<Md5, Verdict>) -> BTreeMap<Md5, Judgement> {
    verdicts
        .into_iter()
        .map(|(md5, verdict)| {
            let analysis = None;
            (md5, Judgement { verdict, analysis })
        })
        .collect()
}

/// Reads a verdict file: `{"<md5>": "high" | 85 | {"score": 85, "threat": "name"}}`
/// (`aptsim inspect --verdicts`, `aptsim proxy smtp --dc-verdicts`).
pub fn read_verdicts(path: &Path, policy: &Policy) -> Result<BTreeMap<Md5, Verdict>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let map: BTreeMap<String, Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let md5: Md5 = key
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let verdict = parse_verdict(&value, policy).ok_or_else(|| {
            format!(
                "{}: {key}: expected a level, a score 0-100, or {{\"score\": N}}, got {value}",
                path.display()
            )
        })?;
        out.insert(md5, verdict);
    }
    Ok(out)
}

pub fn parse_verdict(value: &Value, policy: &Policy) -> Option<Verdict> {
    let from_score = |n: &Value| {
        n.as_u64()
            .filter(|s| *s <= 100)
            .map(|s| Verdict::from_score(s as u8, &policy.thresholds))
    };
    match value {
        Value::String(level) => {
            let level: ThreatLevel = serde_json::from_value(Value::String(level.clone())).ok()?;
            Some(Verdict::from_level(level, &policy.thresholds))
        }
        Value::Number(_) => from_score(value),
        Value::Object(o) => {
            let mut v = from_score(o.get("score")?)?;
            if let Some(name) = o.get("threat").and_then(Value::as_str) {
                v = v.with_threat(name);
            }
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdict_forms() {
        let p = Policy::default();
        assert_eq!(
            parse_verdict(&json!("high"), &p).map(|v| v.level),
            Some(ThreatLevel::High)
        );
        assert_eq!(
            parse_verdict(&json!(45), &p).map(|v| v.level),
            Some(ThreatLevel::Medium)
        );
        let v = parse_verdict(&json!({"score": 90, "threat": "Emotet"}), &p).expect("object");
        assert_eq!(v.threat.as_deref(), Some("Emotet"));
        assert!(parse_verdict(&json!("severe"), &p).is_none());
        assert!(parse_verdict(&json!(101), &p).is_none());
    }
}
