//! Tests of the live proxy's metrics: counts from the node's outputs and the data
//! center's answers, and the gauges sampled from the node.

use super::*;
use std::sync::Arc;
use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::inspect::FileOutcome;
use aptsim_core::policy::{Action, Policy};
use aptsim_core::smtp::proxy::{ProxyConfig, TxnLog, TxnResult};
use aptsim_core::verdict::{ThreatLevel, Verdict};

/// The value of the sample line `name{labels}` (or `name`), if it is there.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn file(source: Source, level: ThreatLevel) -> FileOutcome {
    FileOutcome {
        file: 0,
        md5: Md5::of(b"f"),
        name: "f".into(),
        level,
        score: 0,
        threat: None,
        action: Action::Allow,
        source,
    }
}

#[test]
fn counts_what_the_node_and_the_data_center_report() {
    let m = Metrics::new();
    let node = Node::new(
        Gateway::new(Arc::new(Policy::default())),
        Arc::new(ProxyConfig::default()),
    );
    let ev = |event| NodeOutput::Event { conn: 1, event };
    let txn = |result, action, held: Option<u64>, files| {
        ev(Event::Transaction(Box::new(TxnLog {
            txn: 1,
            from: "a@x".into(),
            rcpts: vec!["b@y".into()],
            files,
            action,
            result,
            held: held.map(Duration::from_millis),
            reply: None,
        })))
    };
    let outputs = [
        ev(Event::HoldStarted { txn: 1 }),
        txn(
            TxnResult::Denied,
            Action::Deny,
            Some(1_500),
            vec![file(Source::Analysis, ThreatLevel::High)],
        ),
        txn(
            TxnResult::Denied,
            Action::Deny,
            None,
            vec![file(Source::Cache, ThreatLevel::High)],
        ),
        txn(
            TxnResult::Delivered,
            Action::Allow,
            None,
            vec![file(Source::Released, ThreatLevel::Clean)],
        ),
        NodeOutput::Upload {
            md5: Md5::of(b"f"),
            name: "f".into(),
            bytes: None,
        },
        NodeOutput::Submitted {
            conn: 2,
            txn: 1,
            md5: Md5::of(b"f"),
            name: "f".into(),
            upload: false,
        },
        ev(Event::Exposure {
            txn: 1,
            md5: Md5::of(b"f"),
            level: ThreatLevel::High,
            window: Duration::from_secs(7),
        }),
        NodeOutput::Finished { conn: 1 },
    ];
    for out in &outputs {
        m.observe(out, &node);
    }
    m.datacenter(&DcAnswer::Verdict {
        md5: Md5::of(b"f"),
        verdict: Verdict {
            score: 70,
            level: ThreatLevel::High,
            threat: None,
        },
        basis: Basis::Eicar,
        analysed: Some(Duration::from_secs(5)),
    });
    m.datacenter(&DcAnswer::Unreachable {
        md5: Md5::of(b"f"),
        refused: true,
    });
    m.quarantined(true);
    let text = m.render();
    let expect = [
        (
            r#"aptsim_messages_total{result="denied",action="deny"}"#,
            2.0,
        ),
        (
            r#"aptsim_messages_total{result="delivered",action="allow"}"#,
            1.0,
        ),
        ("aptsim_holds_total", 1.0),
        ("aptsim_hold_seconds_count", 1.0),
        ("aptsim_hold_seconds_sum", 1.5),
        (r#"aptsim_hold_seconds_bucket{le="1.0"}"#, 0.0),
        (r#"aptsim_hold_seconds_bucket{le="2.0"}"#, 1.0),
        (r#"aptsim_files_total{level="high",source="analysis"}"#, 1.0),
        (
            r#"aptsim_files_total{level="unjudged",source="released"}"#,
            1.0,
        ),
        ("aptsim_cache_hits_total", 1.0),
        ("aptsim_cache_entries", 0.0),
        ("aptsim_uploads_total", 1.0),
        ("aptsim_upload_waits_total", 1.0),
        (r#"aptsim_verdicts_total{level="high"}"#, 1.0),
        (r#"aptsim_datacenter_errors_total{kind="unreachable"}"#, 1.0),
        (r#"aptsim_exposures_total{level="high"}"#, 1.0),
        (r#"aptsim_exposure_window_seconds_bucket{le="5.0"}"#, 0.0),
        (r#"aptsim_exposure_window_seconds_bucket{le="10.0"}"#, 1.0),
        ("aptsim_sessions_finished_total", 1.0),
        ("aptsim_connections", 0.0),
        (r#"aptsim_quarantined_total{stored="true"}"#, 1.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn gauges_follow_the_node() {
    let m = Metrics::new();
    let mut gw = Gateway::new(Arc::new(Policy::default()));
    gw.cache.insert(
        Md5::of(b"x"),
        Verdict {
            score: 0,
            level: ThreatLevel::Clean,
            threat: None,
        },
        aptsim_core::clock::Timestamp::ZERO,
    );
    let node = Node::new(gw, Arc::new(ProxyConfig::default()));
    let _slot = node.gateway().usage.try_connect(10);
    m.observe(&NodeOutput::VerdictRecorded { md5: Md5::of(b"x") }, &node);
    let text = m.render();
    assert_eq!(sample(&text, "aptsim_cache_entries"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "aptsim_connections"), Some(1.0), "{text}");
}

#[test]
fn imap_messages_count_by_result_and_action_with_their_files() {
    use aptsim_core::imap::proxy::{ImapEvent, MessageLog, MessageResult};
    use aptsim_core::inspect::FileOutcome;
    let m = Metrics::new();
    let node = Node::new(
        Gateway::new(Arc::new(Policy::default())),
        Arc::new(ProxyConfig::default()),
    );
    let message = |result, action, source| NodeOutput::ImapEvent {
        conn: 1,
        event: ImapEvent::Message(Box::new(MessageLog {
            uid: 1,
            size: 10,
            files: vec![FileOutcome {
                file: 0,
                md5: Md5::of(b"f"),
                name: "f".into(),
                level: ThreatLevel::High,
                score: 70,
                threat: None,
                action,
                source,
            }],
            action,
            result,
            held: Duration::from_millis(2_500),
            fail_open: false,
            served_size: None,
            message: Arc::from(&b"x"[..]),
        })),
    };
    m.observe(
        &message(MessageResult::Notice, Action::Deny, Source::Analysis),
        &node,
    );
    m.observe(
        &message(MessageResult::Notice, Action::Deny, Source::Cache),
        &node,
    );
    let text = m.render();
    for (series, value) in [
        (
            r#"aptsim_imap_messages_total{result="notice",action="deny"}"#,
            2.0,
        ),
        ("aptsim_imap_hold_seconds_count", 2.0),
        ("aptsim_imap_hold_seconds_sum", 5.0),
        (r#"aptsim_files_total{level="high",source="analysis"}"#, 1.0),
        ("aptsim_cache_hits_total", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
}
