//! The gateway node: two sessions on one node, routed by connection and upstream id; a file
//! both submit is uploaded once (X1) and its verdict reaches both; jobs run inline or come
//! out for the transport; deadlines form one table; finished sessions are forgotten; a
//! verdict is handed only to the sessions that have the file.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::node::{ConnId, Node, NodeOutput, UpstreamId};
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use common::harness::EHLO_REPLY;
use common::{content, hold_policy, message};

/// What came out of the node, sorted by kind.
#[derive(Default)]
struct Seen {
    to_client: Vec<(ConnId, String)>,
    to_upstream: Vec<(UpstreamId, String)>,
    connects: Vec<(ConnId, UpstreamId)>,
    submitted: Vec<(ConnId, Md5, bool)>,
    uploads: Vec<Md5>,
    work: usize,
    finished: Vec<ConnId>,
    recorded: Vec<Md5>,
    /// The sessions that had a turn (each turn ends with its deadline).
    turns: Vec<ConnId>,
}

fn drain(node: &mut Node) -> Seen {
    let mut seen = Seen::default();
    while let Some(out) = node.poll_output() {
        match out {
            NodeOutput::ToClient { conn, bytes } => seen
                .to_client
                .push((conn, String::from_utf8_lossy(&bytes).into_owned())),
            NodeOutput::ToUpstream { up, bytes } => seen
                .to_upstream
                .push((up, String::from_utf8_lossy(&bytes).into_owned())),
            NodeOutput::Connect { conn, up } => seen.connects.push((conn, up)),
            NodeOutput::Submitted {
                conn, md5, upload, ..
            } => seen.submitted.push((conn, md5, upload)),
            NodeOutput::Upload { md5, .. } => seen.uploads.push(md5),
            NodeOutput::Work { .. } => seen.work += 1,
            NodeOutput::Finished { conn } => seen.finished.push(conn),
            NodeOutput::VerdictRecorded { md5 } => seen.recorded.push(md5),
            NodeOutput::CloseUpstream { .. }
            | NodeOutput::CloseClient { .. }
            | NodeOutput::Event { .. }
            | NodeOutput::ImapEvent { .. } => {}
            NodeOutput::Deadline { conn, .. } => seen.turns.push(conn),
        }
    }
    seen
}

/// A session through greeting, EHLO, MAIL and RCPT, up to its DATA.
fn open(node: &mut Node, conn: ConnId, up: UpstreamId, now: Timestamp) {
    node.accept(conn, format!("192.0.2.{conn}"), now);
    node.handle_upstream_connected(up, now);
    node.handle_upstream_bytes(up, b"220 mx.example ESMTP\r\n", now);
    node.handle_client_bytes(conn, b"EHLO c.example\r\n", now);
    node.handle_upstream_bytes(up, EHLO_REPLY, now);
    node.handle_client_bytes(conn, b"MAIL FROM:<a@example.com>\r\n", now);
    node.handle_upstream_bytes(up, b"250 2.1.0 Ok\r\n", now);
    node.handle_client_bytes(conn, b"RCPT TO:<b@example.net>\r\n", now);
    node.handle_upstream_bytes(up, b"250 2.1.5 Ok\r\n", now);
    node.handle_client_bytes(conn, b"DATA\r\n", now);
}

fn send(node: &mut Node, conn: ConnId, raw: &[u8], now: Timestamp) {
    node.handle_client_bytes(conn, &aptsim_core::smtp::wire::data::dot_stuff(raw), now);
}

#[test]
fn routes_sessions_dedupes_uploads_and_fans_verdicts_out() {
    let gw = Gateway::new(Arc::new(hold_policy()));
    let mut node = Node::new(gw, Arc::new(ProxyConfig::default())).with_first_upstream(100);
    let t0 = Timestamp::ZERO;
    open(&mut node, 1, 100, t0);
    open(&mut node, 2, 101, t0);
    let seen = drain(&mut node);
    assert_eq!(seen.connects, [(1, 100), (2, 101)], "upstream ids from 100");
    assert!(
        seen.to_client
            .iter()
            .any(|(c, r)| *c == 2 && r.starts_with("354"))
    );
    assert!(
        seen.to_upstream
            .iter()
            .any(|(u, l)| *u == 101 && l.starts_with("RCPT TO:")),
        "each session's commands go to its own upstream"
    );

    // Both hold a message with the same file: one upload (X1), both wait on it.
    let file = content("shared", 500);
    let md5 = Md5::of(&file);
    send(&mut node, 1, &message(&[("a.pdf", file.clone())]), t0);
    send(&mut node, 2, &message(&[("b.pdf", file)]), t0);
    let seen = drain(&mut node);
    assert_eq!(seen.submitted, [(1, md5, true), (2, md5, false)]);
    assert_eq!(seen.uploads, [md5]);
    assert_eq!(seen.work, 0, "jobs ran inline");

    // The verdict goes into the cache first, then to both sessions, which relay.
    let later = Timestamp::from_millis(60_000);
    let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
    node.handle_verdict(md5, &clean, later);
    let seen = drain(&mut node);
    assert_eq!(seen.recorded, [md5]);
    assert!(node.gateway().cache.get(&md5, later).is_some());
    let data: Vec<UpstreamId> = seen
        .to_upstream
        .iter()
        .filter(|(_, l)| l == "DATA\r\n")
        .map(|(u, _)| *u)
        .collect();
    assert_eq!(data, [100, 101], "both released, in connection order");

    // Both sessions end: client gone, upstream closed, nothing left to follow.
    for (conn, up) in [(1, 100), (2, 101)] {
        node.handle_client_closed(conn, later);
        node.handle_upstream_closed(up, later);
    }
    assert_eq!(drain(&mut node).finished, [1, 2]);
    assert_eq!(node.sessions(), 0);
}

#[test]
fn hands_jobs_out_when_asked_and_takes_their_results_back() {
    let gw = Gateway::new(Arc::new(hold_policy()));
    let mut node = Node::new(gw, Arc::new(ProxyConfig::default())).with_inline_work(false);
    let t0 = Timestamp::ZERO;
    open(&mut node, 7, 1, t0);
    drain(&mut node);
    send(&mut node, 7, &message(&[("a.pdf", content("a", 100))]), t0);
    let mut jobs = Vec::new();
    while let Some(out) = node.poll_output() {
        if let NodeOutput::Work { conn, id, job } = out {
            jobs.push((conn, id, job));
        }
    }
    assert_eq!(jobs.len(), 1, "the extraction");
    let (conn, id, job) = jobs.pop().expect("one");
    let result = job.run(&AtomicBool::new(false));
    node.handle_work_done(conn, id, result, t0);
    let seen = drain(&mut node);
    assert_eq!(seen.uploads.len(), 1, "extracted, then submitted");
}

#[test]
fn deadlines_are_one_table() {
    let config = ProxyConfig {
        idle_timeout: Duration::from_secs(60),
        ..ProxyConfig::default()
    };
    let gw = Gateway::new(Arc::new(hold_policy()));
    let mut node = Node::new(gw, Arc::new(config));
    let t0 = Timestamp::ZERO;
    open(&mut node, 1, 1, t0);
    let t10 = Timestamp::from_millis(10_000);
    node.accept(2, "192.0.2.2", t10);
    node.handle_upstream_connected(2, t10);
    node.handle_upstream_bytes(2, b"220 mx ESMTP\r\n", t10);
    drain(&mut node);
    // Session 1 is in DATA since t0: its idle deadline (60 s) comes first.
    assert_eq!(node.poll_timeout(), Some(Timestamp::from_millis(60_000)));
    node.handle_timeout(Timestamp::from_millis(60_000));
    let seen = drain(&mut node);
    assert!(
        seen.to_client
            .iter()
            .any(|(c, r)| *c == 1 && r.starts_with("421")),
        "session 1 timed out"
    );
    assert!(
        seen.to_client.iter().all(|(c, _)| *c == 1),
        "session 2 did not"
    );
    assert_eq!(node.poll_timeout(), Some(Timestamp::from_millis(70_000)));
}

/// The live proxy's mode: a small message's jobs run on the spot, unless an archive in it
/// inflates past the cap — then the extraction is handed out to run uncapped.
#[test]
fn small_jobs_run_on_the_spot_and_a_big_archive_is_handed_out() {
    let jobs_of = |raw: &[u8]| {
        let gw = Gateway::new(Arc::new(hold_policy()));
        let mut node = Node::new(gw, Arc::new(ProxyConfig::default()))
            .with_inline_work_up_to(64 * 1024, 1 << 20);
        open(&mut node, 7, 1, Timestamp::ZERO);
        drain(&mut node);
        send(&mut node, 7, raw, Timestamp::ZERO);
        let mut jobs = Vec::new();
        let mut uploads = 0;
        while let Some(out) = node.poll_output() {
            match out {
                NodeOutput::Work { job, .. } => jobs.push(job),
                NodeOutput::Upload { .. } => uploads += 1,
                _ => {}
            }
        }
        (jobs, uploads)
    };
    let (jobs, uploads) = jobs_of(&message(&[("a.pdf", content("a", 100))]));
    assert!(jobs.is_empty(), "extracted on the spot");
    assert_eq!(uploads, 1);
    // 4 MiB of zeros deflate to a few KiB: small on the wire, big when inflated.
    let bomb = common::zip(&[("zeros.bin", vec![0u8; 4 << 20])]);
    let raw = message(&[("z.zip", bomb)]);
    assert!(raw.len() < 64 * 1024);
    let (jobs, uploads) = jobs_of(&raw);
    assert_eq!(jobs.len(), 1, "handed out after reaching the cap");
    assert_eq!(uploads, 0, "nothing decided from the capped run");
    let done = jobs[0].run(&AtomicBool::new(false)).expect("runs");
    // Two archives that pass the cap only together: the second reports what was left of
    // the budget, and the job is handed out all the same.
    let half = common::zip(&[("a.bin", vec![0u8; 600 << 10])]);
    let other = common::zip(&[("b.bin", vec![1u8; 600 << 10])]);
    let (jobs, _) = jobs_of(&message(&[("a.zip", half), ("b.zip", other)]));
    assert_eq!(jobs.len(), 1, "the second archive's stop counts too");
    assert!(!done.hit_archive_cap(), "the uncapped run goes further");
}

#[test]
fn a_verdict_or_an_outage_is_handed_only_to_the_sessions_that_have_the_file() {
    let gw = Gateway::new(Arc::new(hold_policy()));
    let mut node = Node::new(gw, Arc::new(ProxyConfig::default())).with_first_upstream(100);
    let t0 = Timestamp::ZERO;
    // Session 1 holds file A, session 2 file B, session 3 nothing yet.
    for (conn, up) in [(1, 100), (2, 101), (3, 102)] {
        open(&mut node, conn, up, t0);
    }
    let (a, b) = (content("file a", 500), content("file b", 500));
    let (md5_a, md5_b) = (Md5::of(&a), Md5::of(&b));
    send(&mut node, 1, &message(&[("a.pdf", a)]), t0);
    send(&mut node, 2, &message(&[("b.pdf", b)]), t0);
    drain(&mut node);

    let later = Timestamp::from_millis(60_000);
    let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
    node.handle_verdict(md5_a, &clean, later);
    let seen = drain(&mut node);
    assert_eq!(seen.turns, [1], "only the session holding A is told");
    assert!(seen.to_upstream.iter().all(|(up, _)| *up == 100));

    // An outage of a file nobody has reaches nobody; one of B reaches session 2 only.
    node.handle_unreachable(Md5::of(b"nobody's"), later);
    assert!(drain(&mut node).turns.is_empty());
    node.handle_unreachable(md5_b, later);
    assert_eq!(drain(&mut node).turns, [2]);

    // Session 1 relayed its message: A is no longer its file, a late verdict passes it by.
    node.handle_verdict(md5_a, &clean, later);
    let seen = drain(&mut node);
    assert_eq!(seen.recorded, [md5_a], "the cache still takes it");
    assert!(seen.turns.is_empty());
}
