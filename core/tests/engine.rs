//! The decision engine against the behaviour catalogue: S1–S7, I1–I4, A1, X1–X3, and the
//! engine properties N5, N6, N7 (proptest).

mod common;

use std::time::Duration;

use aptsim_core::cache::{MemoryCache, VerdictCache};
use aptsim_core::digest::Md5;
use aptsim_core::inspect::{Decision, Flavour, Source};
use aptsim_core::mime::{self, MimeLimits};
use aptsim_core::policy::{Action, OutagePolicy, Policy};
use aptsim_core::rewrite;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use common::*;
use proptest::prelude::*;

fn verdict(level: ThreatLevel) -> Verdict {
    Verdict::from_level(level, &Thresholds::default())
}

/// The message the recipient gets when `bad` is known high and high's action is `action`:
/// the rewrite the decision plans, applied.
fn rewritten_for_high(raw: &[u8], bad: &[u8], action: Action) -> Vec<u8> {
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(bad), verdict(ThreatLevel::High), t(0));
    let mut policy = hold_policy();
    policy.levels.high.action = action;
    let outcome = inspect(Flavour::Smtp, raw, &policy, &cache, t(0))
        .poll_outcome()
        .expect("the file is known");
    let Decision::DeliverRewritten(plan) = outcome.decision else {
        panic!("{action} rewrites");
    };
    plan.apply(raw, &policy.limits)
}

#[test]
fn s1_release_delivers_at_once_and_submits_in_background() {
    let raw = message(&[("a.pdf", content("a", 500))]);
    let cache = MemoryCache::default();
    let mut m = inspect(Flavour::Smtp, &raw, &Policy::default(), &cache, t(0));
    let outcome = m.poll_outcome().expect("S1 decides at once");
    assert_eq!(outcome.decision, Decision::Deliver);
    assert!(outcome.released);
    assert_eq!(outcome.files[0].source, Source::Released);
    let sub = m.poll_submission(&cache, t(0)).expect("background upload");
    assert_eq!(sub.files[0].md5, Md5::of(&content("a", 500)));
    assert!(!m.is_finished());
    assert!(m.handle_verdict(&sub.files[0].md5, &verdict(ThreatLevel::High), t(180)));
    assert!(m.is_finished());
    assert!(m.poll_outcome().is_none(), "an outcome is given once");
}

#[test]
fn s6_known_bad_file_is_acted_on_even_in_release_mode() {
    let bytes = content("bad", 300);
    let raw = message(&[("bad.exe", bytes.clone())]);
    let mut cache = MemoryCache::default();
    cache.insert(
        Md5::of(&bytes),
        verdict(ThreatLevel::High).with_threat("Trojan.X"),
        t(0),
    );
    let mut m = inspect(Flavour::Smtp, &raw, &Policy::default(), &cache, t(1));
    let outcome = m.poll_outcome().expect("decided");
    assert_eq!(outcome.action, Action::Deny);
    assert!(
        !outcome.released,
        "a refusal is not a release (issue 8, item 8)"
    );
    match outcome.decision {
        Decision::Reject(text) => {
            assert!(text.starts_with("5.7.1"), "{text}");
            assert!(text.contains("bad.exe"), "{text}");
        }
        other => panic!("expected a 554 reject, got {other:?}"),
    }
    assert!(
        m.poll_submission(&cache, t(1)).is_none(),
        "N7: a cached file is not uploaded"
    );
}

#[test]
fn s6_known_file_denied_settles_a_hold_at_once() {
    let bad = content("bad", 300);
    let unknown = content("new", 300);
    let raw = message(&[("bad.exe", bad.clone()), ("new.pdf", unknown.clone())]);
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(&bad), verdict(ThreatLevel::High), t(0));
    for flavour in [Flavour::Smtp, Flavour::Imap] {
        let mut m = inspect(flavour, &raw, &hold_policy(), &cache, t(1));
        let outcome = m.poll_outcome().expect("deny needs no further verdict");
        assert_eq!(outcome.action, Action::Deny, "{flavour:?}");
        let sub = m
            .poll_submission(&cache, t(1))
            .expect("the unknown file is still analysed");
        assert_eq!(sub.files[0].md5, Md5::of(&unknown));
    }
    // Quarantine is not final: a later file could still deny, so a hold waits.
    let mut q = hold_policy();
    q.levels.high.action = Action::Quarantine;
    let mut m = inspect(Flavour::Smtp, &raw, &q, &cache, t(1));
    assert!(m.poll_outcome().is_none());
}

#[test]
fn s2_s3_hold_submits_one_file_at_a_time() {
    let files = [
        ("a.pdf", content("a", 100)),
        ("b.doc", content("b", 100)),
        ("c.xls", content("c", 100)),
    ];
    let raw = message(&files);
    let cache = MemoryCache::default();
    let mut m = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0));
    assert!(m.poll_outcome().is_none(), "S2 holds");
    let mut now = 0;
    for (i, (_, bytes)) in files.iter().enumerate() {
        let sub = m.poll_submission(&cache, t(now)).expect("next file");
        assert_eq!(sub.files.len(), 1, "S3: one at a time");
        assert_eq!(sub.files[0].md5, Md5::of(bytes));
        assert!(
            m.poll_submission(&cache, t(now)).is_none(),
            "N5: nothing more until the verdict"
        );
        assert!(m.poll_outcome().is_none(), "held after {i} verdicts");
        now += 240;
        m.handle_verdict(&sub.files[0].md5, &verdict(ThreatLevel::Clean), t(now));
    }
    let outcome = m.poll_outcome().expect("decided after the last verdict");
    assert_eq!(outcome.decision, Decision::Deliver);
    assert!(!outcome.released);
}

#[test]
fn s4_archive_members_go_together() {
    let members = [
        ("1.txt", content("x", 50)),
        ("2.txt", content("y", 50)),
        ("3.txt", content("z", 50)),
    ];
    let raw = message(&[
        ("bundle.zip", zip(&members)),
        ("after.pdf", content("p", 80)),
    ]);
    let cache = MemoryCache::default();
    let mut m = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0));
    let first = m.poll_submission(&cache, t(0)).expect("archive group");
    let md5s: Vec<Md5> = members.iter().map(|(_, b)| Md5::of(b)).collect();
    assert_eq!(first.files.iter().map(|f| f.md5).collect::<Vec<_>>(), md5s);
    assert!(m.poll_submission(&cache, t(0)).is_none());
    for md5 in &md5s {
        m.handle_verdict(md5, &verdict(ThreatLevel::Clean), t(300));
    }
    let second = m
        .poll_submission(&cache, t(300))
        .expect("then the lone file");
    assert_eq!(second.files.len(), 1);
}

#[test]
fn s7_unreachable_data_center_allows_and_says_so() {
    let raw = message(&[("a.pdf", content("a", 100))]);
    let cache = MemoryCache::default();
    let mut m = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0));
    let sub = m.poll_submission(&cache, t(0)).expect("upload");
    m.handle_unreachable(&sub.files[0].md5, t(0));
    let outcome = m.poll_outcome().expect("decided");
    assert_eq!(outcome.decision, Decision::Deliver);
    assert!(outcome.fail_open);
    assert_eq!(outcome.files[0].source, Source::Unreachable);
}

#[test]
fn x3_outage_tempfail_and_apply() {
    let raw = message(&[("a.pdf", content("a", 100))]);
    let cache = MemoryCache::default();
    let tempfail = Policy {
        outage: OutagePolicy::Tempfail,
        ..hold_policy()
    };
    let mut m = inspect(Flavour::Smtp, &raw, &tempfail, &cache, t(0));
    let sub = m.poll_submission(&cache, t(0)).expect("upload");
    m.handle_unreachable(&sub.files[0].md5, t(0));
    assert!(matches!(
        m.poll_outcome().map(|o| o.decision),
        Some(Decision::Tempfail(_))
    ));

    let apply = Policy {
        outage: OutagePolicy::Apply,
        ..hold_policy()
    };
    let mut m = inspect(Flavour::Smtp, &raw, &apply, &cache, t(0));
    let sub = m.poll_submission(&cache, t(0)).expect("upload");
    m.handle_unreachable(&sub.files[0].md5, t(0));
    let outcome = m.poll_outcome().expect("decided");
    assert_eq!(
        outcome.action,
        Action::Deny,
        "apply treats the file as high"
    );
    assert!(!outcome.fail_open);
}

#[test]
fn slow_data_center_times_out_into_the_outage_policy() {
    let raw = message(&[("a.pdf", content("a", 100))]);
    let cache = MemoryCache::default();
    let policy = hold_policy();
    let mut m = inspect(Flavour::Smtp, &raw, &policy, &cache, t(0));
    m.poll_submission(&cache, t(0)).expect("upload");
    let due = m.poll_timeout().expect("analysis timeout armed");
    assert_eq!(due, t(0) + policy.analysis_timeout);
    m.handle_timeout(t(60));
    assert!(m.poll_outcome().is_none(), "not yet due");
    m.handle_timeout(due);
    let outcome = m.poll_outcome().expect("decided at the timeout");
    assert_eq!(outcome.files[0].source, Source::Slow);
    assert!(outcome.fail_open);
}

#[test]
fn x2_deadline_answers_tempfail_before_the_sender_gives_up() {
    let raw = message(&[("a.pdf", content("a", 100))]);
    let cache = MemoryCache::default();
    let policy = Policy {
        tempfail_deadline: Some(Duration::from_secs(540)),
        ..hold_policy()
    };
    let mut m = inspect(Flavour::Smtp, &raw, &policy, &cache, t(10));
    m.poll_submission(&cache, t(10)).expect("upload");
    assert_eq!(m.poll_timeout(), Some(t(550)));
    m.handle_timeout(t(550));
    match m.poll_outcome().map(|o| o.decision) {
        Some(Decision::Tempfail(text)) => assert!(text.starts_with("4.7.0"), "{text}"),
        other => panic!("expected a 451 tempfail, got {other:?}"),
    }
}

#[test]
fn x1_a_file_sent_twice_is_submitted_once_however_many_files_a_message_has() {
    // The engine looks for a digest seen before along its list while a message has few
    // files, in a set past that: copies on both sides of the change, and a copy of the
    // first file long after it.
    for distinct in [3, 15, 16, 17, 40] {
        let names: Vec<String> = (0..distinct).map(|i| format!("f{i}.bin")).collect();
        let mut files: Vec<(&str, Vec<u8>)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), content(n, 50 + i)))
            .collect();
        let copies: Vec<(&str, Vec<u8>)> = files.iter().rev().step_by(2).cloned().collect();
        files.extend(copies);
        let raw = message(&files);
        let cache = MemoryCache::default();
        let mut m = inspect(Flavour::Imap, &raw, &Policy::default(), &cache, t(0));
        let sub = m.poll_submission(&cache, t(0)).expect("all at once");
        let submitted: Vec<Md5> = sub.files.iter().map(|f| f.md5).collect();
        let expected: Vec<Md5> = files[..distinct].iter().map(|(_, b)| Md5::of(b)).collect();
        assert_eq!(submitted, expected, "{distinct} distinct files");
        for md5 in &submitted {
            m.handle_verdict(md5, &verdict(ThreatLevel::Clean), t(60));
        }
        let outcome = m.poll_outcome().expect("every file judged");
        assert_eq!(
            outcome.files.len(),
            files.len(),
            "{distinct} distinct files"
        );
    }
}

#[test]
fn i1_i2_imap_holds_and_submits_everything_at_once() {
    let files = [
        ("a.pdf", content("a", 100)),
        ("b.zip", zip(&[("m.txt", content("m", 40))])),
        ("c.doc", content("c", 90)),
    ];
    let raw = message(&files);
    let cache = MemoryCache::default();
    // Release mode is an SMTP option: IMAP holds regardless (I1).
    let mut m = inspect(Flavour::Imap, &raw, &Policy::default(), &cache, t(0));
    assert!(m.poll_outcome().is_none());
    let sub = m.poll_submission(&cache, t(0)).expect("all at once");
    assert_eq!(sub.files.len(), 3);
    assert!(m.poll_submission(&cache, t(0)).is_none());
    for md5 in sub.files.iter().map(|f| &f.md5) {
        assert!(m.poll_outcome().is_none());
        m.handle_verdict(md5, &verdict(ThreatLevel::Clean), t(120));
    }
    assert_eq!(
        m.poll_outcome().map(|o| o.decision),
        Some(Decision::Deliver)
    );
}

#[test]
fn a1_drop_replaces_the_attachment_and_keeps_the_rest() {
    let bad = content("bad", 200);
    let good = content("good", 300);
    let raw = message(&[("bad.exe", bad.clone()), ("good.pdf", good.clone())]);
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(&bad), verdict(ThreatLevel::Medium), t(0));
    cache.insert(Md5::of(&good), verdict(ThreatLevel::Clean), t(0));
    let mut m = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0));
    let outcome = m.poll_outcome().expect("all known");
    assert_eq!(outcome.action, Action::Drop);
    assert!(outcome.alarm && outcome.log);
    let Decision::DeliverRewritten(plan) = outcome.decision else {
        panic!("drop rewrites");
    };
    let new = plan.apply(&raw, &MimeLimits::default());
    let x = mime::extract(&new, &MimeLimits::default());
    let md5s: Vec<Md5> = x.files.iter().map(|f| f.md5).collect();
    assert_eq!(
        md5s,
        [Md5::of(&good)],
        "the bad file is gone, the good one intact"
    );
    let text = String::from_utf8_lossy(&new);
    assert!(
        text.contains("The attachment \"bad.exe\" was removed"),
        "{text}"
    );
    assert!(text.contains("APT threat level medium"), "{text}");
    assert!(!text.contains("%("), "every variable filled: {text}");
    assert!(text.contains("Subject: Report"));
}

#[test]
fn a1_block_refuses_the_site_and_lock_keeps_a_locked_copy() {
    let bad = content("bad", 200);
    let raw = message(&[("bad.exe", bad.clone())]);
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(&bad), verdict(ThreatLevel::High), t(0));

    let mut block = hold_policy();
    block.levels.high.action = Action::Block;
    let outcome = inspect(Flavour::Smtp, &raw, &block, &cache, t(0))
        .poll_outcome()
        .expect("known");
    assert_eq!(outcome.block_for, Some(Duration::from_secs(1_200)));
    assert!(matches!(outcome.decision, Decision::DeliverRewritten(_)));

    let new = rewritten_for_high(&raw, &bad, Action::Lock);
    let x = mime::extract_with_contents(&new, &MimeLimits::default());
    assert_eq!(x.files.len(), 1);
    assert_eq!(x.files[0].name, "bad.exe.locked");
    assert_eq!(x.files[0].content_type, "application/octet-stream");
    let locked = x.files[0].content.as_deref().expect("kept");
    assert_eq!(rewrite::unlock(locked), Some(bad));
}

#[test]
fn a1_quarantine_and_deny_differ_between_smtp_and_imap() {
    let bad = content("bad", 200);
    let raw = message(&[("bad.exe", bad.clone()), ("ok.pdf", content("ok", 99))]);
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(&bad), verdict(ThreatLevel::High), t(0));
    let mut q = hold_policy();
    q.levels.high.action = Action::Quarantine;
    let smtp = inspect(Flavour::Smtp, &raw, &q, &cache, t(0)).poll_submission(&cache, t(0));
    assert!(smtp.is_some(), "the clean file is still unknown");
    let mut m = inspect(Flavour::Smtp, &raw, &q, &cache, t(0));
    let sub = m.poll_submission(&cache, t(0)).expect("ok.pdf");
    m.handle_verdict(&sub.files[0].md5, &verdict(ThreatLevel::Clean), t(1));
    assert_eq!(
        m.poll_outcome().map(|o| o.decision),
        Some(Decision::Quarantine)
    );

    let mut m = inspect(Flavour::Imap, &raw, &Policy::default(), &cache, t(0));
    let sub = m.poll_submission(&cache, t(0)).expect("ok.pdf");
    m.handle_verdict(&sub.files[0].md5, &verdict(ThreatLevel::Clean), t(1));
    let outcome = m.poll_outcome().expect("decided");
    assert_eq!(outcome.action, Action::Deny);
    let Decision::DeliverRewritten(plan) = outcome.decision else {
        panic!("IMAP deny replaces the message");
    };
    let new = plan.apply(&raw, &MimeLimits::default());
    let x = mime::extract(&new, &MimeLimits::default());
    assert!(x.files.is_empty(), "nothing of the original survives");
    let text = String::from_utf8_lossy(&new);
    assert!(
        text.contains("Subject: Report") && text.contains("bad.exe"),
        "{text}"
    );
}

#[test]
fn a1_message_wide_action_wins() {
    let (m1, h1) = (content("medium", 100), content("high", 100));
    let raw = message(&[("m.doc", m1.clone()), ("h.exe", h1.clone())]);
    let mut cache = MemoryCache::default();
    cache.insert(Md5::of(&m1), verdict(ThreatLevel::Medium), t(0));
    cache.insert(Md5::of(&h1), verdict(ThreatLevel::High), t(0));
    let outcome = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0))
        .poll_outcome()
        .expect("known");
    assert_eq!(outcome.action, Action::Deny);
    let actions: Vec<Action> = outcome.files.iter().map(|f| f.action).collect();
    assert_eq!(actions, [Action::Drop, Action::Deny]);
}

#[test]
fn unscannable_files_get_the_unscannable_level_without_upload() {
    let limits = Policy {
        limits: MimeLimits {
            max_parts: 2,
            ..MimeLimits::default()
        },
        ..hold_policy()
    };
    let raw = message(&[("a.pdf", content("a", 10)), ("b.pdf", content("b", 10))]);
    let cache = MemoryCache::default();
    let mut m = inspect(Flavour::Smtp, &raw, &limits, &cache, t(0));
    assert!(m.extraction().is_incomplete());
    while let Some(sub) = m.poll_submission(&cache, t(0)) {
        for f in sub.files {
            let md5 = f.md5;
            m.handle_verdict(&md5, &verdict(ThreatLevel::Clean), t(1));
        }
    }
    let outcome = m.poll_outcome().expect("decided");
    assert_eq!(
        outcome.action,
        Action::Drop,
        "an incomplete walk gets unscannable_level (medium)"
    );
}

/// One generated attachment: plain bytes, or a zip of members.
#[derive(Debug, Clone)]
enum Gen {
    Plain(Vec<u8>),
    Zip(Vec<Vec<u8>>),
}

fn gen_attachment() -> impl Strategy<Value = Gen> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 1..300).prop_map(Gen::Plain),
        1 => proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..4).prop_map(Gen::Zip),
    ]
}

fn build(attachments: &[Gen]) -> Vec<u8> {
    let named: Vec<(String, Vec<u8>)> = attachments
        .iter()
        .enumerate()
        .map(|(i, a)| match a {
            Gen::Plain(b) => (format!("f{i}.bin"), b.clone()),
            Gen::Zip(members) => {
                let m: Vec<(String, Vec<u8>)> = members
                    .iter()
                    .enumerate()
                    .map(|(j, b)| (format!("m{j}.bin"), b.clone()))
                    .collect();
                let refs: Vec<(&str, Vec<u8>)> =
                    m.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
                (format!("z{i}.zip"), zip(&refs))
            }
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = named.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    message(&refs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// N5: an SMTP hold never has uploads of two groups in flight, and a group of more than
    /// one file is always members of one archive. N7: cached files are never submitted.
    #[test]
    fn n5_n7_smtp_hold_one_group_in_flight(
        attachments in proptest::collection::vec(gen_attachment(), 0..8),
        cached_mask in any::<u16>(),
        levels in proptest::collection::vec(0u8..4, 32),
    ) {
        let raw = build(&attachments);
        let mut cache = MemoryCache::default();
        let x = mime::extract(&raw, &MimeLimits::default());
        for (i, f) in x.files.iter().enumerate() {
            if cached_mask & (1 << (i % 16)) != 0 {
                cache.insert(f.md5, verdict(ThreatLevel::Clean), t(0));
            }
        }
        let mut m = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0));
        let mut step = 0;
        while let Some(sub) = m.poll_submission(&cache, t(step)) {
            prop_assert!(m.poll_submission(&cache, t(step)).is_none(), "N5: a second group while one is in flight");
            let owners: std::collections::BTreeSet<usize> = sub.files.iter()
                .map(|s| x.files.iter().find(|f| f.md5 == s.md5).map(|f| f.attachment).unwrap_or(usize::MAX))
                .collect();
            if sub.files.len() > 1 {
                prop_assert_eq!(owners.len(), 1, "a multi-file group spans attachments");
                prop_assert!(x.files.iter().filter(|f| owners.contains(&f.attachment)).all(|f| f.archive.is_some()));
            }
            for md5 in sub.files.iter().map(|f| &f.md5) {
                prop_assert!(cache.get(md5, t(step)).is_none(), "N7: a cached file was submitted");
            }
            for md5 in sub.files.iter().map(|f| &f.md5) {
                let level = ThreatLevel::ALL[levels[step as usize % levels.len()] as usize];
                m.handle_verdict(md5, &verdict(level), t(step));
                cache.insert(*md5, verdict(level), t(step));
                step += 1;
            }
        }
        prop_assert!(m.poll_outcome().is_some(), "a hold ends when every file is judged");
    }

    /// N6: IMAP uploads every unknown file before any verdict arrives.
    #[test]
    fn n6_imap_submits_all_unknown_files_first(
        attachments in proptest::collection::vec(gen_attachment(), 0..8),
    ) {
        let raw = build(&attachments);
        let cache = MemoryCache::default();
        let x = mime::extract(&raw, &MimeLimits::default());
        // Files the extraction could not read are judged by the unscannable policy, not
        // uploaded (a random "gzip" is one).
        let unknown: std::collections::BTreeSet<Md5> = x
            .files
            .iter()
            .filter(|f| f.unscannable.is_none())
            .map(|f| f.md5)
            .collect();
        let mut m = inspect(Flavour::Imap, &raw, &Policy::default(), &cache, t(0));
        let mut submitted = std::collections::BTreeSet::new();
        while let Some(sub) = m.poll_submission(&cache, t(0)) {
            submitted.extend(sub.files.iter().map(|f| f.md5));
        }
        prop_assert_eq!(&submitted, &unknown);
    }

    /// A rewritten message re-parses: the dropped files are gone, every other file is still
    /// there with the same MD5.
    #[test]
    fn rewritten_messages_reparse(
        attachments in proptest::collection::vec(gen_attachment(), 1..6),
        levels in proptest::collection::vec(0u8..3, 32),
    ) {
        let raw = build(&attachments);
        let x = mime::extract(&raw, &MimeLimits::default());
        let mut cache = MemoryCache::default();
        for (i, f) in x.files.iter().enumerate() {
            cache.insert(f.md5, verdict(ThreatLevel::ALL[levels[i % levels.len()] as usize]), t(0));
        }
        let outcome = inspect(Flavour::Smtp, &raw, &hold_policy(), &cache, t(0)).poll_outcome().expect("all cached");
        let dropped: std::collections::BTreeSet<usize> = outcome.files.iter()
            .filter(|f| f.action == Action::Drop)
            .map(|f| x.files[f.file].attachment)
            .collect();
        let expected: Vec<Md5> = x.files.iter().filter(|f| !dropped.contains(&f.attachment)).map(|f| f.md5).collect();
        let new = match outcome.decision {
            Decision::DeliverRewritten(plan) => plan.apply(&raw, &MimeLimits::default()),
            Decision::Deliver => raw.clone(),
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        };
        let y = mime::extract(&new, &MimeLimits::default());
        prop_assert!(y.malformed.is_empty(), "{:?}", y.malformed);
        let found: Vec<Md5> = y.files.iter().map(|f| f.md5).collect();
        prop_assert_eq!(found, expected);
    }
}

#[test]
fn a1_lock_keeps_the_file_that_was_judged_when_a_part_names_two_encodings() {
    // Extraction reads the first Content-Transfer-Encoding (as Python's `email` does); the
    // locked copy must be decoded the same way, or the recipient unlocks a different file
    // from the one whose MD5 the X-APT-Locked header names.
    let bad = content("bad", 200);
    let encoded = base64_simd::STANDARD.encode_to_string(&bad);
    let raw = format!(
        "From: a@example.com\r\nTo: b@example.net\r\nSubject: two encodings\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
         --XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
         --XX\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"bad.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         {encoded}\r\n--XX--\r\n"
    )
    .into_bytes();
    let new = rewritten_for_high(&raw, &bad, Action::Lock);
    let x = mime::extract_with_contents(&new, &MimeLimits::default());
    let locked = x
        .files
        .iter()
        .find(|f| f.name == "bad.exe.locked")
        .and_then(|f| f.content.as_deref())
        .expect("the locked copy");
    assert_eq!(rewrite::unlock(locked), Some(bad));
}

#[test]
fn a1_a_rewrite_keeps_a_header_block_that_no_empty_line_ended_where_it_ended() {
    // The message has no empty line: its header block ends at the first line that is no
    // header field, what follows (here a field of 150 parameters) is preamble, and the
    // attached file's base64 follows its part's header fields directly. The notice that
    // replaces the file brings an empty line of its own; without one written where the
    // block ended, a reader would run the block on to the notice's, take the preamble for
    // header fields, and find the message over its parameter limit: one unscannable piece,
    // not the message the gateway inspected (docs/fuzzing.md, finding 6).
    let bad = content("bad", 200);
    let many: String = (0..150).map(|i| format!("; p{i}=v")).collect();
    let raw = format!(
        "From: a@example.com\r\nSubject: no empty line\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
         this line is no header field, so the block ends here\r\n\
         Content-Type: multipart/mixed; boundary=\"YY\"{many}\r\n\
         --XX\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"bad.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\n{}\r\n--XX--\r\n",
        base64_simd::STANDARD.encode_to_string(&bad)
    )
    .into_bytes();
    let limits = MimeLimits::default();
    let before = mime::extract(&raw, &limits);
    assert_eq!(before.files.len(), 1, "the file is found: {before:?}");
    assert!(!before.is_incomplete());
    let new = rewritten_for_high(&raw, &bad, Action::Drop);
    let after = mime::extract(&new, &limits);
    assert!(
        after.files.is_empty() && !after.is_incomplete(),
        "the rewritten message reads as the one inspected, less the file: {after:?}"
    );
    let text = String::from_utf8_lossy(&new);
    assert!(
        text.contains("boundary=\"XX\"\r\n\r\nthis line is no header field"),
        "the empty line goes where the block ended: {text}"
    );
}
