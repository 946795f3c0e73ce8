//! `mime_extract`: extraction invariants, and fail-closed through the engine and the rewrite.

use super::*;

/// `mime::extract` and `mime::extract_with_contents` under the default and small limits:
/// structural invariants of the extraction, then the fail-closed property of the decision
/// and the rewrite ([`fail_closed`]).
pub fn mime_extract(data: &[u8]) {
    for limits in [MimeLimits::default(), small_mime_limits()] {
        let x = mime::extract(data, &limits);
        check_extraction(data, &x, &limits, false);
        let with = mime::extract_with_contents(data, &limits);
        check_extraction(data, &with, &limits, true);
        let mut stripped = with.clone();
        for f in &mut stripped.files {
            f.content = None;
        }
        assert_eq!(
            stripped, x,
            "extract and extract_with_contents disagree beyond the contents"
        );
        // The one-pass walk (delimiters found as parts are read) against the two-pass
        // reference (every delimiter found first).
        assert_eq!(
            x,
            mime::extract_two_pass(data, &limits, false),
            "extract and the two-pass reference disagree"
        );
        assert_eq!(
            with,
            mime::extract_two_pass(data, &limits, true),
            "extract_with_contents and the two-pass reference disagree"
        );
        fail_closed(data, &limits);
    }
}

/// What holds for any extraction of `raw`.
pub fn check_extraction(raw: &[u8], x: &Extraction, limits: &MimeLimits, with_contents: bool) {
    // Spans lie within the message, and two spans are either the same piece (files of one
    // encoded attached message) or disjoint: the rewrite's splice relies on it.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, a) in x.attachments.iter().enumerate() {
        assert!(
            a.span.start <= a.span.end && a.span.end <= raw.len(),
            "attachment {i} span {:?} outside the message of {} bytes",
            a.span,
            raw.len()
        );
        if a.unwalked {
            assert_eq!(a.name, mime::UNWALKED_NAME, "unwalked piece {i} name");
            assert_eq!(
                a.md5,
                Md5::of(&raw[a.span.clone()]),
                "unwalked piece {i}: MD5 is not that of its raw bytes"
            );
            assert_eq!(a.size, a.span.len() as u64, "unwalked piece {i} size");
        }
        if !a.span.is_empty() {
            spans.push((a.span.start, a.span.end));
        }
    }
    spans.sort_unstable();
    spans.dedup();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "attachment spans overlap without being equal: {:?} and {:?}",
            w[0].0..w[0].1,
            w[1].0..w[1].1
        );
    }
    assert_eq!(
        x.is_incomplete(),
        x.attachments.iter().any(|a| a.unwalked),
        "is_incomplete"
    );

    let mut last_attachment = 0;
    let (mut member_bytes, mut members) = (0u64, 0u64);
    for (i, f) in x.files.iter().enumerate() {
        assert!(
            f.attachment < x.attachments.len(),
            "file {i} names attachment {} of {}",
            f.attachment,
            x.attachments.len()
        );
        assert!(
            f.attachment >= last_attachment,
            "files out of attachment order"
        );
        last_attachment = f.attachment;
        let a = &x.attachments[f.attachment];
        if a.unwalked {
            assert!(
                f.unscannable.is_some(),
                "file {i} of an unwalked piece is scannable"
            );
        }
        if f.archive.is_some() {
            member_bytes += f.size;
            members += 1;
        }
        match &f.content {
            Some(content) => {
                assert!(with_contents, "file {i} kept its bytes in a plain extract");
                assert_eq!(
                    f.md5,
                    Md5::of(content),
                    "file {i}: MD5 is not its content's"
                );
                assert_eq!(f.size, content.len() as u64, "file {i}: size");
            }
            None => assert!(
                !with_contents || f.unscannable.is_some(),
                "file {i} is scannable but extract_with_contents kept no bytes"
            ),
        }
    }
    // The archive budgets are shared by all the archives of the message.
    assert!(
        member_bytes <= limits.archive.max_total_bytes,
        "archive members hold {member_bytes} bytes, over max_total_bytes {}",
        limits.archive.max_total_bytes
    );
    assert!(
        members <= u64::from(limits.archive.max_members),
        "{members} archive members, over max_members {}",
        limits.archive.max_members
    );
    // A walked attachment that is not an archive is its own one file.
    for (i, a) in x.attachments.iter().enumerate() {
        if a.unwalked || a.archive.is_some() {
            continue;
        }
        let own: Vec<_> = x.files.iter().filter(|f| f.attachment == i).collect();
        assert_eq!(own.len(), 1, "attachment {i} is not exactly one file");
        assert_eq!((own[0].md5, own[0].size), (a.md5, a.size), "attachment {i}");
    }
}

/// A policy whose every level drops, so that every file the engine sees is removed.
pub fn drop_everything(limits: &MimeLimits) -> Policy {
    let drop = LevelPolicy {
        action: Action::Drop,
        alarm: false,
        log: false,
    };
    Policy {
        levels: Levels {
            clean: drop,
            low: drop,
            medium: drop,
            high: drop,
        },
        unscannable_level: ThreatLevel::Medium,
        limits: limits.clone(),
        ..Policy::default()
    }
}

/// Fail closed: the IMAP engine with a policy that drops every level, every submitted file
/// judged medium, must decide; when it rewrites the message, re-extracting the rewritten
/// message (under the default limits) finds no file at all — in particular none with the MD5 of a file the decision did
/// not allow (a dropped file that survived), and none the engine never judged (content that
/// the rewrite brought to light).
pub fn fail_closed(raw: &[u8], limits: &MimeLimits) {
    let policy = Arc::new(drop_everything(limits));
    let cache = MemoryCache::default();
    let t0 = Timestamp::ZERO;
    let mut m = Inspection::new(Flavour::Imap, raw, policy, &cache, t0);
    let medium = Verdict::from_level(ThreatLevel::Medium, &Thresholds::default());
    let mut rounds = 0;
    while let Some(sub) = m.poll_submission(&cache, t0) {
        rounds += 1;
        assert!(rounds <= 1, "IMAP submits more than one group");
        for f in sub.files {
            assert!(m.handle_verdict(&f.md5, &medium, t0), "verdict not taken");
        }
    }
    let outcome = m
        .poll_outcome()
        .expect("IMAP decides once every file is judged");
    assert!(m.poll_outcome().is_none(), "outcome given twice");
    let extraction = m.extraction().clone();
    assert_eq!(
        outcome.files.len(),
        extraction.files.len(),
        "one outcome per file"
    );
    for f in &outcome.files {
        assert_eq!(f.action, Action::Drop, "file {} not dropped: {f:?}", f.file);
    }
    let plan = match outcome.decision {
        Decision::Deliver => {
            assert!(
                extraction.files.is_empty(),
                "delivered unchanged with files to drop"
            );
            return;
        }
        Decision::DeliverRewritten(plan) => plan,
        other => panic!("IMAP drop decided {other:?}"),
    };
    let out = plan.apply(raw, limits);
    // Read as the recipient's side would, under the default limits: under the small ones
    // a rewritten message that grew past `max_message_bytes` would be one unscannable piece.
    // With the work budget the original was read with (or the rewritten message's own, if
    // larger), and room for the notices' own fields (a few units each): the budget follows
    // a message's size, so a shorter rewrite would otherwise run out of it on a part the
    // gateway parsed and kept, which is no content left unjudged (docs/fuzzing.md, finding
    // 4).
    let budget = mime::work_budget(raw.len()).max(mime::work_budget(out.len()))
        + 64 * extraction.files.len() as u64;
    // Under the default limits as they are: a rewrite keeps every header block ending where
    // the gateway read it to end (docs/fuzzing.md, findings 5 and 6).
    let again = mime::extract_with_work_budget(&out, &MimeLimits::default(), budget);
    let not_allowed: BTreeSet<Md5> = outcome
        .files
        .iter()
        .filter(|f| f.action != Action::Allow)
        .map(|f| f.md5)
        .collect();
    for f in &again.files {
        assert!(
            !not_allowed.contains(&f.md5),
            "fail-closed: a dropped file survived the rewrite: {:?} ({} bytes, md5 {})",
            f.name,
            f.size,
            f.md5.to_hex()
        );
    }
    assert!(
        again.files.is_empty(),
        "the rewritten message carries files the engine never judged: {:?}",
        again
            .files
            .iter()
            .map(|f| (
                &f.name,
                f.size,
                f.unscannable.as_ref().map(|u| u.to_string())
            ))
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------
// archive_expand
// ---------------------------------------------------------------------------------------
