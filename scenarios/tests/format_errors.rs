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
        (
            "[world]\nmta = \"qmail\"\n",
            "world.mta: unknown mta preset \"qmail\"",
        ),
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

/// One message, for cases whose mistake is found after the messages are counted.
const M: &str = "[[message]]\nid = \"m\"\n";

#[test]
fn out_of_range_values_are_refused_with_their_key_and_bound() {
    let a = "[[message]]\nid = \"m\"\n[[message.attachment]]\nname = \"a\"\n";
    let t = "[[traffic]]\n";
    let cases = [
        (
            format!("[world]\nlatency = \"18446744073709551615\"\n{M}"),
            "bad duration \"18446744073709551615\": over the limit of 36500d".to_owned(),
        ),
        (
            format!("[world]\nlatency = \"2h\"\n{M}"),
            "bad.toml: world.latency: 2h is over the limit of 1h".into(),
        ),
        (
            format!("duration = \"400d\"\n{M}"),
            "bad.toml: duration: 400d is not within 1ms to 366d".into(),
        ),
        (
            format!("{a}size = 100000000000\n"),
            "bad.toml: message[0].attachment[0].size: 100000000000 is over the limit of 64 MiB"
                .into(),
        ),
        (
            format!("{t}count = 20_000_000\nevery = \"1ms\"\n"),
            "bad.toml: traffic[0].count: 20000000 is not within 1 to 10000000".into(),
        ),
        (
            format!("{t}count = 0\n"),
            "traffic[0].count: 0 is not within 1 to 10000000".into(),
        ),
        (
            format!("{t}count = 1\nattachments = 1000000\n"),
            "bad.toml: traffic[0].attachments: 1000000 is over the limit of 1000 per message"
                .into(),
        ),
        (
            format!(
                "{t}count = 6000000\nevery = \"1ms\"\n{t}prefix = \"b\"\ncount = 6000000\nevery = \"1ms\"\n"
            ),
            "bad.toml: message, traffic: 12000000 messages in all is over the limit of 10000000"
                .into(),
        ),
        (
            format!("{t}count = 20000\nattachments = 1000\nsize = 1\n"),
            "20000000 attachments in all is over the limit of 10000000".into(),
        ),
        (
            format!("{t}count = 100\nsize = 67108864\n"),
            "6710886400 attachment bytes in all is over the limit of 4 GiB".into(),
        ),
        (
            format!("{t}count = 1\npool = 0\n"),
            "traffic[0].pool: 0 is not within 1 to 1000000".into(),
        ),
        (
            format!("{a}score = 150\n"),
            "bad.toml: message[0].attachment[0].score: 150 is not within 0 to 100".into(),
        ),
        (
            format!("{a}score = 20\nlevel = \"high\"\n"),
            "message[0].attachment[0].level: high does not match score 20, which the policy's \
             thresholds judge low"
                .into(),
        ),
        (
            format!("{a}content = \"virus\"\n"),
            "message[0].attachment[0].content: \"virus\" is not \"eicar\"".into(),
        ),
        (
            format!("{t}count = 1\nhigh = 0.7\nmedium = 0.5\n"),
            "bad.toml: traffic[0].high + medium: 1.2 is more than 1".into(),
        ),
        (
            format!("{t}count = 1\nhigh = nan\n"),
            "bad.toml: traffic[0].high: NaN is not a fraction between 0 and 1".into(),
        ),
        (
            format!("[world.datacenter]\nmedium_fraction = nan\n{M}"),
            "bad.toml: world.datacenter.medium_fraction: NaN is not a fraction between 0 and 1"
                .into(),
        ),
        (
            format!("[world.datacenter]\nhigh_fraction = 0.6\nmedium_fraction = 0.6\n{M}"),
            "world.datacenter.high_fraction + medium_fraction: 1.2 is more than 1".into(),
        ),
        (
            format!("[world.datacenter]\nanalysis = {{ min = \"4m\", max = \"1m\" }}\n{M}"),
            "bad.toml: world.datacenter.analysis: min 4m is above max 1m".into(),
        ),
        (
            format!("[world.datacenter]\nworkers = 0\n{M}"),
            "world.datacenter.workers: must be at least 1".into(),
        ),
        (
            format!("[world.datacenter]\nremember = 0\n{M}"),
            "world.datacenter.remember: must be at least 1".into(),
        ),
        (
            format!("{M}[[fault]]\nat = \"1s\"\nkind = \"cache_flush\"\nfor = \"1m\"\n"),
            "`for` does not go with kind \"cache_flush\": it takes effect once".into(),
        ),
        (
            format!("{t}count = 3\nevery = \"4d\"\n"),
            "traffic[0].every: the last message would be queued at 8d, after the scenario's \
             duration 6d"
                .into(),
        ),
    ];
    for (text, want) in &cases {
        let got = refused(text);
        assert!(
            got.contains(want.as_str()),
            "{text}\nwanted {want:?} in: {got}"
        );
        assert!(got.starts_with("bad.toml"), "error names the file: {got}");
    }
}

#[test]
fn durations_faults_ids_and_times_are_checked() {
    let cases = [
        (
            format!("duration = \"1.5ms\"\n{M}"),
            "bad duration \"1.5ms\": 1.5ms is not a whole number of milliseconds",
        ),
        (
            format!("duration = \"1h30\"\n{M}"),
            "bad duration \"1h30\": 30 has no unit",
        ),
        (
            format!("{M}[[fault]]\nid = \"\"\nat = \"1s\"\nkind = \"cache_flush\"\n"),
            "a fault's `id` cannot be empty",
        ),
        (
            format!("{M}[[fault]]\nid = \"cut\"\nat = \"1s\"\nkind = \"link_cut\"\n"),
            "fault \"cut\": kind `link_cut` needs",
        ),
        (
            format!(
                "{M}[[fault]]\nid = \"fault-2\"\nat = \"1s\"\nkind = \"cache_flush\"\n\
                 [[fault]]\nat = \"1s\"\nkind = \"cache_flush\"\n"
            ),
            "bad.toml: fault[1].id: \"fault-2\" is used twice",
        ),
        (
            format!("{M}[[fault]]\nat = \"7d\"\nkind = \"server_down\"\n"),
            "bad.toml: fault[0].at: 7d is after the scenario's duration 6d",
        ),
        (
            "[[message]]\nid = \"m\"\nat = \"7d\"\n".to_owned(),
            "bad.toml: message[0].at: 7d is after the scenario's duration 6d",
        ),
        (
            format!("{M}{M}"),
            "bad.toml: message[1].id: \"m\" is used twice",
        ),
        (
            format!("{M}[[expect]]\nmessage = \"n\"\n"),
            "bad.toml: expect[0].message: unknown message \"n\"",
        ),
        (
            format!("{M}[[expect]]\nmessage = \"m\"\nstate = \"lost\"\n"),
            "bad.toml: expect[0].state: unknown state \"lost\"",
        ),
        (
            format!(
                "{M}[[expect]]\nmessage = \"m\"\ndecided_after = \"5m\"\ndecided_before = \"1m\"\n"
            ),
            "bad.toml: expect[0].decided_after: 5m is after decided_before 1m",
        ),
        (String::new(), "bad.toml: the file is empty"),
        (
            "# nothing but a comment\n[world]\nmta = \"exim\"\n".to_owned(),
            "bad.toml: no [[message]] and no [[traffic]]: the scenario would check nothing",
        ),
    ];
    for (text, want) in &cases {
        let got = refused(text);
        assert!(got.contains(want), "{text}\nwanted {want:?} in: {got}");
        assert!(got.starts_with("bad.toml"), "error names the file: {got}");
    }
}

#[test]
fn a_tempfail_deadline_the_sender_never_waits_for_is_a_warning() {
    let scenario = |world: &str| {
        Scenario::from_toml(&format!("[world]\n{world}\n{M}"), "w.toml").expect("valid")
    };
    let late = scenario("policy = { release_immediately = false, tempfail_deadline = \"11m\" }");
    assert_eq!(
        late.warnings(),
        [
            "world.policy.tempfail_deadline: 11m is not before the postfix sender's DATA timeout \
          of 10m: the sender gives up first, so X2 would never fire"
        ]
    );
    let early = scenario("policy = { release_immediately = false, tempfail_deadline = \"9m\" }");
    assert!(early.warnings().is_empty());
    let longer_sender = scenario(
        "data_done_timeout = \"20m\"\npolicy = { release_immediately = false, tempfail_deadline = \"11m\" }",
    );
    assert!(longer_sender.warnings().is_empty());
}

#[test]
fn keys_land_in_the_simulators_types() {
    let s = Scenario::from_toml(
        r#"
duration = "8.5m"

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

[[fault]]
at = "3s"
kind = "sender_restart"

[[fault]]
at = "4s"
kind = "sender_restart"
for = "2m"

[[message]]
id = "m"
"#,
        "good.toml",
    )
    .expect("valid");
    assert_eq!(s.duration, Duration::from_secs(510), "8.5 minutes");
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
    assert_eq!(s.faults.len(), 4);
    assert_eq!(s.faults[0].id, "fault-1", "an unnamed fault is numbered");
    assert_eq!(s.faults[0].action, FaultAction::LinkCut(LinkName::Upstream));
    assert_eq!(s.faults[0].duration, Some(Duration::from_secs(30)));
    assert_eq!(s.faults[1].id, "flush");
    assert_eq!(s.faults[1].action, FaultAction::CacheFlush);
    assert_eq!(s.faults[1].duration, None);
    assert_eq!(s.faults[2].action, FaultAction::SenderRestart);
    assert_eq!(
        s.faults[2].duration,
        Some(Duration::ZERO),
        "a restart without `for` is down for no time"
    );
    assert_eq!(s.faults[3].duration, Some(Duration::from_secs(120)));
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
