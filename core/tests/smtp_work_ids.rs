//! Jobs the proxy session hands out to worker threads (a message's extraction, then its
//! body prepared for relaying) come back by their id: a result reaches the job that asked
//! for it, and a result for a job no longer out — late, or reported twice — is ignored.
//! While a job is out, the session's state is what it says (a message decided from the
//! cache is not counted as held while its body is prepared).

mod common;

use std::sync::atomic::AtomicBool;

use aptsim_core::digest::Md5;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::TxnResult;
use aptsim_core::work::Job;
use common::harness::Harness;
use common::{content, message};

/// The one job out, run.
fn run_the_job(h: &mut Harness, want: &str) -> (aptsim_core::work::WorkId, Job) {
    let mut jobs = std::mem::take(&mut h.work);
    assert_eq!(jobs.len(), 1, "one job out at a time");
    let (id, job) = jobs.remove(0);
    let kind = match &job {
        Job::Extract { .. } => "extract",
        Job::SmtpBody { .. } => "body",
        _ => "other",
    };
    assert_eq!(kind, want);
    (id, job)
}

#[test]
fn a_late_result_of_a_job_no_longer_out_is_not_taken_for_the_next_one() {
    // Release mode (S1): the files are extracted, then the body is prepared and relayed.
    let mut h = Harness::ready(Policy::default());
    h.inline_work = false;
    h.envelope();
    let file = content("a", 3_000);
    h.send_message(&message(&[("a.pdf", file.clone())]));
    let (extract_id, extract) = run_the_job(&mut h, "extract");
    let extracted = || extract.run(&AtomicBool::new(false));
    h.s.handle_work_done(extract_id, extracted(), &mut h.gw, h.now);
    h.drain();
    assert_eq!(
        h.submits,
        [vec![Md5::of(&file)]],
        "the file went to analysis"
    );
    let (body_id, body) = run_the_job(&mut h, "body");
    assert_ne!(body_id, extract_id, "each job its own id");
    // The extraction reported again while the body is being prepared: ignored.
    h.s.handle_work_done(extract_id, extracted(), &mut h.gw, h.now);
    h.drain();
    assert_eq!(h.take_client(), "", "no failure answered");
    h.s.handle_work_done(body_id, body.run(&AtomicBool::new(false)), &mut h.gw, h.now);
    h.drain();
    assert_eq!(h.take_upstream(), "DATA\r\n");
    h.upstream(b"354 go\r\n");
    assert!(h.take_upstream().ends_with("\r\n.\r\n"));
    h.upstream(b"250 2.0.0 Ok\r\n");
    assert_eq!(h.take_client(), "250 2.0.0 Ok\r\n");
    assert_eq!(h.transactions(), [TxnResult::Delivered]);
    assert_eq!(h.submits.len(), 1, "the file went to analysis once");
}

#[test]
fn a_message_whose_files_are_known_is_not_counted_as_held_while_its_body_is_prepared() {
    use aptsim_core::smtp::proxy::Event;
    use aptsim_core::verdict::ThreatLevel;
    let mut h = Harness::ready(common::hold_policy());
    h.inline_work = false;
    let file = content("a", 3_000);
    // Judged before (S6): the cache decides at once.
    h.verdict(Md5::of(&file), ThreatLevel::Clean);
    h.envelope();
    h.send_message(&message(&[("a.pdf", file.clone())]));
    let (id, extract) = run_the_job(&mut h, "extract");
    h.s.handle_work_done(id, extract.run(&AtomicBool::new(false)), &mut h.gw, h.now);
    h.drain();
    // Decided: the body is being prepared on its thread, nothing waits for a verdict.
    let _ = run_the_job(&mut h, "body");
    assert!(h.submits.is_empty(), "nothing to analyse");
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::HoldStarted { .. })),
        "{:?}",
        h.events
    );
}
