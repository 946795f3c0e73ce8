//! Tests of the invariants N1–N9 on hand-made traces: each check passes a clean trace and
//! catches the one record that breaks it.

use super::*;

fn line(t: u64, record: Record) -> TraceLine {
    TraceLine {
        t,
        actor: "test",
        record,
    }
}

fn ctx() -> CheckContext {
    CheckContext {
        cache_ttl: Duration::from_secs(3_600),
        cache_capacity: 100_000,
        dedupe_in_flight: true,
        analysis_timeout: Duration::from_secs(1_200),
        proactive_tempfail: false,
        non_allow_levels: [ThreatLevel::Medium, ThreatLevel::High].into(),
        faults: vec![],
    }
}

fn ids(trace: &[TraceLine], ctx: &CheckContext) -> Vec<&'static str> {
    check(trace, ctx).1.iter().map(|v| v.id).collect()
}

fn delivered(t: u64, msg: &str, files: &[&str]) -> TraceLine {
    line(
        t,
        Record::Delivered {
            msg: msg.into(),
            rcpts: vec![],
            size: 1,
            files: files.iter().map(|f| f.to_string()).collect(),
        },
    )
}

fn attempt(t: u64, msg: &str, attempt: u32, conn: u64) -> TraceLine {
    line(
        t,
        Record::AttemptStarted {
            msg: msg.into(),
            attempt,
            conn,
        },
    )
}

fn submission(t: u64, txn: u64, md5: &str) -> TraceLine {
    line(
        t,
        Record::Submission {
            conn: 1,
            txn,
            md5: md5.into(),
            name: String::new(),
            upload: true,
        },
    )
}

#[test]
fn a_clean_trace_passes_and_counts() {
    let trace = vec![
        line(0, Record::Queued { msg: "m1".into() }),
        line(0, Record::Queued { msg: "m2".into() }),
        delivered(5, "m1", &[]),
    ];
    let (states, violations) = check(&trace, &ctx());
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        (states.submitted, states.delivered, states.in_flight),
        (2, 1, 1)
    );
}

#[test]
fn n1_two_end_states() {
    let trace = vec![
        line(0, Record::Queued { msg: "m1".into() }),
        delivered(5, "m1", &[]),
        line(6, Record::Quarantined { msg: "m1".into() }),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N1"]);
}

#[test]
fn n2_duplicates_unless_ambiguous() {
    let mut trace = vec![
        line(0, Record::Queued { msg: "m1".into() }),
        attempt(0, "m1", 1, 9),
        delivered(5, "m1", &[]),
        delivered(9, "m1", &[]),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N2"]);
    // The sender says the first attempt may have delivered it...
    trace.insert(
        3,
        line(
            6,
            Record::MayBeDeliveredMultipleTimes {
                msg: "m1".into(),
                attempt: 1,
                conn: 9,
            },
        ),
    );
    assert_eq!(
        ids(&trace, &ctx()),
        ["N2"],
        "but the proxy never relayed it"
    );
    // ...and the proxy did relay its body: ambiguous, not a violation.
    trace.insert(2, line(4, Record::BodyRelayed { conn: 9, txn: 1 }));
    assert!(ids(&trace, &ctx()).is_empty());
    let x2 = CheckContext {
        proactive_tempfail: true,
        ..ctx()
    };
    assert_eq!(ids(&trace, &x2), ["N2"]);
    // A relay after the proxy saw the sender leave is never excused (S5).
    trace.insert(
        2,
        line(
            3,
            Record::ClientGone {
                conn: 9,
                txn: Some(1),
                after_body_sent: false,
            },
        ),
    );
    let found = check(&trace, &ctx()).1;
    assert!(
        found
            .iter()
            .any(|v| v.detail.contains("after its sender left")),
        "{found:?}"
    );
}

#[test]
fn n3_held_bad_file_reaching_the_recipient() {
    let decision = |fail_open| {
        line(
            3,
            Record::Decision {
                conn: 1,
                txn: 1,
                msg: "m1".into(),
                action: aptsim_core::policy::Action::Allow,
                decision: crate::trace::DecisionKind::Deliver,
                held_ms: None,
                released: false,
                fail_open,
                files: vec![],
            },
        )
    };
    let verdict = line(
        2,
        Record::Verdict {
            md5: "aa".into(),
            level: ThreatLevel::High,
            score: 90,
            analysis_ms: 1,
        },
    );
    let hold = line(1, Record::HoldStart { conn: 1, txn: 1 });
    let trace = vec![
        hold.clone(),
        verdict.clone(),
        decision(false),
        delivered(4, "m1", &["aa"]),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N3"]);
    let trace = vec![
        hold,
        verdict.clone(),
        decision(true),
        delivered(4, "m1", &["aa"]),
    ];
    assert!(ids(&trace, &ctx()).is_empty(), "fail-open is excepted");
    let trace = vec![verdict, decision(false), delivered(4, "m1", &["aa"])];
    assert!(ids(&trace, &ctx()).is_empty(), "no hold, no N3");
}

#[test]
fn n5_two_groups_in_flight() {
    let trace = vec![
        submission(0, 1, "a"),
        submission(0, 1, "b"),
        submission(5, 1, "c"),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N5"]);
    let trace = vec![
        submission(0, 1, "a"),
        line(4, Record::CacheStored { md5: "a".into() }),
        submission(5, 1, "c"),
    ];
    assert!(ids(&trace, &ctx()).is_empty());
}

#[test]
fn n7_cached_upload_and_double_analysis() {
    let trace = vec![
        submission(0, 1, "a"),
        line(4, Record::CacheStored { md5: "a".into() }),
        submission(10, 2, "a"),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N7"]);
    let trace = vec![submission(0, 1, "a"), submission(1, 2, "a")];
    assert_eq!(ids(&trace, &ctx()), ["N7"]);
    let off = CheckContext {
        dedupe_in_flight: false,
        ..ctx()
    };
    assert!(ids(&trace, &off).is_empty());
}

#[test]
fn n9_fault_that_never_fired() {
    let c = CheckContext {
        faults: vec!["outage".into()],
        ..ctx()
    };
    assert_eq!(ids(&[], &c), ["N9"]);
    let fired = vec![line(
        1,
        Record::Fault {
            id: "outage".into(),
            kind: FaultAction::DatacenterUnreachable,
            detail: String::new(),
        },
    )];
    assert!(ids(&fired, &c).is_empty());
}

#[test]
fn n2_with_x2_excuses_only_attempts_that_lived_through_a_client_cut_or_a_stop() {
    let x2 = CheckContext {
        proactive_tempfail: true,
        ..ctx()
    };
    let cut = |t, id: &str| {
        line(
            t,
            Record::Fault {
                id: id.into(),
                kind: FaultAction::LinkCut(crate::faults::LinkName::Client),
                detail: String::new(),
            },
        )
    };
    let ambiguous_attempt = |start: u64, end: u64| {
        vec![
            line(
                start,
                Record::AttemptStarted {
                    msg: "m1".into(),
                    attempt: 1,
                    conn: 9,
                },
            ),
            line(start + 1, Record::BodyRelayed { conn: 9, txn: 1 }),
            line(
                end,
                Record::MayBeDeliveredMultipleTimes {
                    msg: "m1".into(),
                    attempt: 1,
                    conn: 9,
                },
            ),
        ]
    };
    // The attempt lived through the cut: the network's doing.
    let mut trace = vec![cut(100, "c")];
    trace.extend(ambiguous_attempt(50, 700));
    trace.push(cut(900, "c/end"));
    trace.sort_by_key(|l| l.t);
    assert!(ids(&trace, &x2).is_empty(), "{:?}", check(&trace, &x2).1);
    // A cut long before the attempt excuses nothing.
    let mut trace = vec![cut(10, "c"), cut(20, "c/end")];
    trace.extend(ambiguous_attempt(50, 700));
    assert_eq!(ids(&trace, &x2), ["N2"]);
    // A stop of the sending MTA killed the attempt after its dot: the MTA's doing...
    let stop = |t, id: &str| {
        line(
            t,
            Record::Fault {
                id: id.into(),
                kind: FaultAction::SenderRestart,
                detail: String::new(),
            },
        )
    };
    let mut trace = ambiguous_attempt(50, 700);
    trace.insert(2, stop(700, "r"));
    trace.push(stop(760, "r/end"));
    assert!(ids(&trace, &x2).is_empty(), "{:?}", check(&trace, &x2).1);
    // ...but a stop before the attempt, or its start again, excuses nothing.
    let mut trace = vec![stop(10, "r"), stop(700, "r/end")];
    trace.extend(ambiguous_attempt(50, 700));
    assert_eq!(ids(&trace, &x2), ["N2"]);
}

#[test]
fn n6_an_imap_message_submits_its_files_in_one_go() {
    let imap = |t: u64, txn: u64, md5: &str| TraceLine {
        actor: "imap_proxy",
        ..submission(t, txn, md5)
    };
    let trace = vec![imap(10, 1, "a"), imap(10, 1, "b"), imap(20, 2, "c")];
    assert!(
        ids(&trace, &ctx()).is_empty(),
        "two messages, each in one go"
    );
    let late = vec![imap(10, 1, "a"), imap(15, 1, "b")];
    assert!(ids(&late, &ctx()).contains(&"N6"));
    // The SMTP proxy submits one file at a time (S3): not N6's business.
    let smtp = vec![submission(10, 1, "a"), submission(15, 1, "b")];
    assert!(!ids(&smtp, &ctx()).contains(&"N6"));
}

#[test]
fn n3_a_mail_client_never_holds_a_bad_file_unless_the_proxy_failed_open() {
    let verdict = line(
        5,
        Record::Verdict {
            md5: "bad".into(),
            level: ThreatLevel::High,
            score: 70,
            analysis_ms: 5,
        },
    );
    let fetched = |msg: &str| {
        line(
            9,
            Record::ImapFetched {
                client: "tb".into(),
                uid: Some(1),
                seq: None,
                msg: msg.into(),
                size: 10,
                files: vec!["bad".into()],
                attempts: 1,
            },
        )
    };
    // (No mailbox stored these messages in the hand-made traces: N1 says so too.)
    assert!(ids(&[verdict.clone(), fetched("m1")], &ctx()).contains(&"N3"));
    let part = line(
        9,
        Record::ImapPartFetched {
            client: "k9".into(),
            uid: 1,
            part: "2".into(),
            md5: "bad".into(),
            attempts: 1,
        },
    );
    assert!(ids(&[verdict.clone(), part], &ctx()).contains(&"N3"));
    // I4: the proxy let it through because the data center failed, and says so.
    let fail_open = line(
        8,
        Record::ImapDecision {
            conn: 1,
            uid: 1,
            msg: "m1".into(),
            action: aptsim_core::policy::Action::Allow,
            result: aptsim_core::imap::proxy::MessageResult::Unchanged,
            held_ms: 0,
            fail_open: true,
            files: vec![],
        },
    );
    assert!(!ids(&[verdict, fail_open, fetched("m1")], &ctx()).contains(&"N3"));
}

#[test]
fn n1_mailboxes_count_each_stored_message_once_and_refuse_invented_ones() {
    let stored = |msg: &str, uid: u32| {
        line(
            0,
            Record::MailboxStored {
                msg: msg.into(),
                account: "bob".into(),
                uid,
            },
        )
    };
    let fetched = |msg: &str, uid: u32| {
        line(
            5,
            Record::ImapFetched {
                client: "tb".into(),
                uid: Some(uid),
                seq: None,
                msg: msg.into(),
                size: 1,
                files: vec![],
                attempts: 1,
            },
        )
    };
    let trace = vec![stored("m1", 1), stored("m2", 2), fetched("m1", 1)];
    let (states, violations) = check(&trace, &ctx());
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        (
            states.mailbox,
            states.fetched,
            states.replaced,
            states.unfetched
        ),
        (2, 1, 0, 1)
    );
    let invented = vec![stored("m1", 1), fetched("m9", 7)];
    assert_eq!(ids(&invented, &ctx()), ["N1"]);
}

#[test]
fn an_upload_given_up_at_the_analysis_timeout_or_lost_in_an_outage_is_over() {
    // The same file uploaded again at the analysis timeout (20 min here): not N7.
    let again = vec![submission(0, 1, "a"), submission(1_200_000, 2, "a")];
    assert!(ids(&again, &ctx()).is_empty());
    let early = vec![submission(0, 1, "a"), submission(1_199_999, 2, "a")];
    assert_eq!(ids(&early, &ctx()), ["N7"]);
    // The next file of one hold after the first was lost in an outage: not N5.
    let lost = vec![
        submission(0, 1, "a"),
        line(10, Record::AnalysisLost { md5: "a".into() }),
        submission(20, 1, "b"),
    ];
    assert!(ids(&lost, &ctx()).is_empty());
    let open = vec![submission(0, 1, "a"), submission(20, 1, "b")];
    assert_eq!(ids(&open, &ctx()), ["N5"]);
}

#[test]
fn n1_a_delivery_the_sender_never_heard_of_may_be_followed_by_a_refusal() {
    let mut trace = vec![
        line(0, Record::Queued { msg: "m1".into() }),
        attempt(0, "m1", 1, 9),
        line(4, Record::BodyRelayed { conn: 9, txn: 1 }),
        delivered(5, "m1", &[]),
        line(
            9,
            Record::Bounced {
                msg: "m1".into(),
                reason: "554 5.7.1 refused".into(),
            },
        ),
    ];
    assert_eq!(
        ids(&trace, &ctx()),
        ["N1"],
        "delivered and denied: two ends"
    );
    // The sender timed out after its final dot: it never heard of the delivery, so its
    // retry's refusal is no second end for the recipient.
    trace.insert(
        3,
        line(
            3,
            Record::MayBeDeliveredMultipleTimes {
                msg: "m1".into(),
                attempt: 1,
                conn: 9,
            },
        ),
    );
    let (states, violations) = check(&trace, &ctx());
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!((states.delivered, states.denied), (1, 0));
}

#[test]
fn n1_a_quarantine_for_a_sender_that_left_unseen_is_not_a_second_end() {
    let decision = |t, conn| {
        line(
            t,
            Record::Decision {
                conn,
                txn: 1,
                msg: "m1".into(),
                action: aptsim_core::policy::Action::Quarantine,
                decision: crate::trace::DecisionKind::Quarantine,
                held_ms: Some(1),
                released: false,
                fail_open: true,
                files: vec![],
            },
        )
    };
    let quarantined = |t| line(t, Record::Quarantined { msg: "m1".into() });
    let mut trace = vec![
        line(0, Record::Queued { msg: "m1".into() }),
        attempt(0, "m1", 1, 9),
        decision(20, 9),
        quarantined(20),
        attempt(30, "m1", 2, 10),
        delivered(31, "m1", &[]),
    ];
    assert_eq!(ids(&trace, &ctx()), ["N1"], "quarantined and delivered");
    // Exim gave up at its final-dot timeout, unseen: the quarantine kept a copy nobody
    // waited for, and the retry's delivery is the message's end.
    let unanswered = line(
        10,
        Record::MayBeDeliveredMultipleTimes {
            msg: "m1".into(),
            attempt: 1,
            conn: 9,
        },
    );
    trace.insert(3, unanswered);
    let (states, violations) = check(&trace, &ctx());
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!((states.delivered, states.quarantined), (1, 0));
    // A quarantine on an attempt the sender did hear of is an end, whatever came before.
    trace.push(decision(40, 10));
    trace.push(quarantined(40));
    assert_eq!(ids(&trace, &ctx()), ["N1"]);
}

#[test]
fn n7_a_verdict_pushed_out_of_a_full_cache_may_be_uploaded_again() {
    let stored = |t, md5: &str| line(t, Record::CacheStored { md5: md5.into() });
    let trace = vec![
        submission(0, 1, "a"),
        stored(4, "a"),
        submission(5, 2, "b"),
        stored(6, "b"),
        submission(10, 3, "a"),
    ];
    let small = |capacity| CheckContext {
        cache_capacity: capacity,
        ..ctx()
    };
    assert!(ids(&trace, &small(1)).is_empty(), "b pushed a out");
    assert_eq!(ids(&trace, &small(2)), ["N7"], "room for both: a was live");
    assert!(
        ids(&trace, &small(0)).is_empty(),
        "a cache that keeps nothing"
    );
}
