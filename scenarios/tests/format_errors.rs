//! Scenario files deserialize straight into the simulator's own types (`DcConfig`,
//! `ReceiverConfig`, `Fault`): a mistake is refused at parse time with a message that says
//! what is wrong, and every key a user may write lands in the type the world runs.

use std::time::Duration;

use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::datacenter::AnalysisTime;
use aptsim_scenarios::format::Scenario;
use aptsim_simulator::faults::{FaultAction, LinkName};

fn refused(text: &str) -> String {
    match Scenario::from_toml(text, "bad.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn mistakes_are_refused_with_a_reason() {
    let cases = [
        (
            "[[fault]]\nat = \"1s\"\nkind = \"link_cut\"\n",
            "needs `link",
        ),
        (
            "[[fault]]\nat = \"1s\"\nkind = \"cache_flush\"\nlink = \"client\"\n",
            "goes only with kind `link_cut`",
        ),
        (
            "[[fault]]\nat = \"1s\"\nkind = \"link_cut\"\nlink = \"sideways\"\n",
            "sideways",
        ),
        (
            "[[fault]]\nat = \"1s\"\nkind = \"meteor\"\n",
            "unknown fault kind \"meteor\"",
        ),
        (
            "[[fault]]\nat = \"1s\"\nkind = \"cache_flush\"\nfor_ = \"1s\"\n",
            "for_",
        ),
        ("[world.datacenter]\nworkerz = 3\n", "workerz"),
        (
            "[world.datacenter]\nanalysis = { min = \"1m\" }\n",
            "analysis",
        ),
        (
            "[world.server]\ncommand_timout = \"1s\"\n",
            "command_timout",
        ),
        ("[world]\nmta = \"qmail\"\n", "unknown mta preset \"qmail\""),
        (
            "[[message]]\nid = \"m\"\n[[expect]]\nmessage = \"m\"\naction = \"smite\"\n",
            "smite",
        ),
        (
            "[[message]]\nid = \"m\"\n[[expect]]\nmessage = \"m\"\nverdicts_from = \"oracle\"\n",
            "oracle",
        ),
    ];
    for (text, want) in cases {
        let got = refused(text);
        assert!(got.contains(want), "{text}\nwanted {want:?} in: {got}");
        assert!(got.starts_with("bad.toml"), "error names the file: {got}");
    }
}

#[test]
fn keys_land_in_the_simulators_types() {
    let s = Scenario::from_toml(
        r#"
[world.datacenter]
analysis = { min = "1m", max = "4m" }
workers = 3
default_level = "medium"
high_fraction = 0.25
remember = 10

[world.server]
command_timeout = "10s"
max_recipients = 2

[[fault]]
at = "1s"
kind = "link_cut"
link = "upstream"
for = "30s"

[[fault]]
id = "flush"
at = "2s"
kind = "cache_flush"
"#,
        "good.toml",
    )
    .expect("valid");
    let dc = &s.world.datacenter;
    assert_eq!(
        dc.analysis,
        AnalysisTime::Uniform {
            min: Duration::from_secs(60),
            max: Duration::from_secs(240)
        }
    );
    assert_eq!(
        (dc.workers, dc.default_level, dc.high_fraction, dc.remember),
        (3, ThreatLevel::Medium, 0.25, 10)
    );
    assert_eq!(
        dc.medium_fraction, 0.0,
        "unset keys keep the type's default"
    );
    assert_eq!(s.world.server.command_timeout, Duration::from_secs(10));
    assert_eq!(s.world.server.max_recipients, 2);
    assert_eq!(s.faults.len(), 2);
    assert_eq!(s.faults[0].id, "fault-1", "an unnamed fault is numbered");
    assert_eq!(s.faults[0].action, FaultAction::LinkCut(LinkName::Upstream));
    assert_eq!(s.faults[0].duration, Some(Duration::from_secs(30)));
    assert_eq!(s.faults[1].id, "flush");
    assert_eq!(s.faults[1].action, FaultAction::CacheFlush);
    assert_eq!(s.faults[1].duration, None);
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../docs/scenarios.md");
    let start = doc.find("```toml\n").expect("an example") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("closed");
    let s = Scenario::from_toml(&doc[start..end], "example.toml").expect("the example is valid");
    assert_eq!(s.faults[0].action, FaultAction::DatacenterUnreachable);
    assert_eq!(s.world.datacenter.remember, 100_000);
}
