//! The gateway fails closed: content that a limit kept the extractor from seeing never
//! reaches the recipient unchanged. For each limit (MIME depth, attached-message depth,
//! parts, message size, header size and parameters, decoded copies, archive depth, archive
//! members, archive bytes) an EICAR attachment sits just past it, and the test asserts what
//! is *delivered* — in release mode, hold mode and IMAP — not only what is reported.

mod common;

use aptsim_core::archive::ArchiveLimits;
use aptsim_core::cache::MemoryCache;
use aptsim_core::inspect::{Decision, Flavour, Source};
use aptsim_core::mime::{self, Malformed, MimeLimits, UNWALKED_NAME};
use aptsim_core::policy::{Action, Policy};
use aptsim_core::unscannable::{LimitExceeded, Unscannable};
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use common::{EICAR, b64, generous_limits, hold_policy, inspect, noise, t, zip};

/// What the recipient gets for `raw` under `policy`: every file the extractor found is judged
/// clean, so only what it could not see can stop the message. `None` when nothing is
/// delivered (SMTP deny or quarantine).
fn delivered(raw: &[u8], policy: &Policy, flavour: Flavour) -> Option<Vec<u8>> {
    let cache = MemoryCache::default();
    let mut m = inspect(flavour, raw, policy, &cache, t(0));
    let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
    while let Some(sub) = m.poll_submission(&cache, t(1)) {
        for f in sub.files {
            let md5 = f.md5;
            m.handle_verdict(&md5, &clean, t(2));
        }
    }
    let outcome = m.poll_outcome().expect("every file judged");
    match outcome.decision {
        Decision::Deliver => Some(raw.to_vec()),
        Decision::DeliverRewritten(rewrite) => Some(rewrite.apply(raw, &policy.limits)),
        Decision::Quarantine | Decision::Reject(_) => None,
        Decision::Tempfail(t) => panic!("unexpected tempfail {t}"),
    }
}

/// True when EICAR is in `bytes`: raw, base64-encoded at any alignment (line breaks
/// ignored), or in any file a generous extraction finds.
fn carries_eicar(bytes: &[u8]) -> bool {
    if memchr::memmem::find(bytes, EICAR).is_some() {
        return true;
    }
    let flat: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    // Whatever precedes it, 63 bytes of EICAR starting at one of its first three bytes
    // line up with base64's 3-byte groups.
    for skip in 0..3 {
        let encoded = b64(&EICAR[skip..skip + 63]).replace("\r\n", "");
        if memchr::memmem::find(&flat, encoded.as_bytes()).is_some() {
            return true;
        }
    }
    let generous = generous_limits();
    mime::extract_with_contents(bytes, &generous)
        .files
        .iter()
        .filter_map(|f| f.content.as_deref())
        .any(|c| memchr::memmem::find(c, EICAR).is_some())
}

/// Checks one over-limit message in every mode: the limit is reported, the EICAR file is
/// not among the files found, and no mode delivers it.
fn assert_fails_closed(raw: &[u8], limits: MimeLimits, reported: Malformed) {
    assert!(carries_eicar(raw), "the test message must carry EICAR");
    let x = mime::extract(raw, &limits);
    assert!(
        x.malformed.contains(&reported),
        "{reported:?} not in {:?}",
        x.malformed
    );
    assert!(x.is_incomplete());
    let release = Policy {
        limits: limits.clone(),
        ..Policy::default()
    };
    let hold = Policy {
        limits,
        ..hold_policy()
    };
    for (label, policy, flavour) in [
        ("smtp release", &release, Flavour::Smtp),
        ("smtp hold", &hold, Flavour::Smtp),
        ("imap", &release, Flavour::Imap),
    ] {
        let out = delivered(raw, policy, flavour);
        let out = out.unwrap_or_else(|| panic!("{label}: drop delivers the rest"));
        assert!(!carries_eicar(&out), "{label}: EICAR delivered");
        assert!(
            String::from_utf8_lossy(&out).contains("could not be scanned"),
            "{label}: the deny notice stands in for what was removed"
        );
    }
}

fn header(extra: &str) -> String {
    format!(
        "From: a@example.com\r\nTo: b@example.net\r\nSubject: limits\r\nMIME-Version: 1.0\r\n{extra}"
    )
}

fn eicar_part() -> String {
    format!(
        "Content-Type: application/octet-stream; name=\"eicar.com\"\r\n\
         Content-Disposition: attachment; filename=\"eicar.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(EICAR)
    )
}

/// EICAR inside `levels` nested multiparts (the message itself is the outermost).
fn nested_multiparts(levels: usize) -> Vec<u8> {
    let mut inner = eicar_part();
    for level in (1..levels).rev() {
        inner = format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n{inner}\r\n--b{level}--\r\n"
        );
    }
    format!(
        "{}Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b0\r\n{inner}\r\n--b0--\r\n",
        header("")
    )
    .into_bytes()
}

/// EICAR inside `levels` nested attached messages.
fn nested_messages(levels: usize) -> Vec<u8> {
    let mut inner = format!(
        "{}Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n{}\r\n--in--\r\n",
        header(""),
        eicar_part()
    );
    for _ in 0..levels {
        inner = format!("{}Content-Type: message/rfc822\r\n\r\n{inner}", header(""));
    }
    inner.into_bytes()
}

fn multipart_of(parts: &[String]) -> Vec<u8> {
    let mut raw = header("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for part in parts {
        raw.push_str("--p\r\n");
        raw.push_str(part);
        raw.push_str("\r\n");
    }
    raw.push_str("--p--\r\n");
    raw.into_bytes()
}

fn plain_part(i: usize) -> String {
    format!("Content-Type: text/plain\r\n\r\npart {i}\r\n")
}

#[test]
fn depth_limit_the_first_level_past_it_is_dropped() {
    let limits = MimeLimits::default();
    let depth = limits.max_depth as usize;
    // At the limit the file is seen (and judged); one level deeper it is not.
    let x = mime::extract(&nested_multiparts(depth), &limits);
    assert!(x.files.iter().any(|f| f.name == "eicar.com"), "{x:?}");
    let raw = nested_multiparts(depth + 1);
    let x = mime::extract(&raw, &limits);
    assert!(!x.files.iter().any(|f| f.name == "eicar.com"));
    let unwalked: Vec<_> = x.files.iter().filter(|f| f.name == UNWALKED_NAME).collect();
    assert_eq!(unwalked.len(), 1, "{x:?}");
    assert_eq!(
        unwalked[0].unscannable,
        Some(Unscannable::OverLimit(LimitExceeded::MimeDepth(32)))
    );
    assert_fails_closed(&raw, limits, Malformed::DepthLimit);
}

#[test]
fn attached_message_depth_limit() {
    let limits = MimeLimits::default();
    let x = mime::extract(&nested_messages(31), &limits);
    assert!(x.files.iter().any(|f| f.name == "eicar.com"));
    for levels in [32, 40] {
        assert_fails_closed(
            &nested_messages(levels),
            limits.clone(),
            Malformed::DepthLimit,
        );
    }
}

#[test]
fn part_limit_part_2001_and_the_ones_after() {
    let limits = MimeLimits::default();
    // The message is entity 1, so parts 1..=1999 are walked and part 2000 is the first one
    // past the limit; EICAR as part 2,000 and 2,001, and followed by more parts.
    for eicar_at in [2_000, 2_001] {
        let mut parts: Vec<String> = (1..2_100).map(plain_part).collect();
        parts[eicar_at - 1] = eicar_part();
        let raw = multipart_of(&parts);
        assert_fails_closed(&raw, limits.clone(), Malformed::PartLimit);
    }
    // The limit reached inside a nested multipart: its later parts and the outer ones after
    // it are all unwalked.
    let small = MimeLimits {
        max_parts: 4,
        ..MimeLimits::default()
    };
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n{}\r\n--q\r\n{}\r\n--q\r\n{}\r\n--q--\r\n",
        plain_part(1),
        plain_part(2),
        eicar_part()
    );
    let raw = multipart_of(&[plain_part(0), inner, eicar_part()]);
    assert_fails_closed(&raw, small, Malformed::PartLimit);
}

#[test]
fn oversized_message_is_replaced_as_a_whole() {
    let limits = MimeLimits::default();
    let filler = "x".repeat(998) + "\r\n";
    let mut body = String::with_capacity(limits.max_message_bytes + 4096);
    while body.len() <= limits.max_message_bytes {
        body.push_str(&filler);
    }
    let raw = multipart_of(&[
        format!("Content-Type: text/plain\r\n\r\n{body}"),
        eicar_part(),
    ]);
    assert!(raw.len() > limits.max_message_bytes);
    assert_fails_closed(&raw, limits, Malformed::TooLarge);
}

#[test]
fn oversized_or_overparameterised_headers_are_not_parsed() {
    let limits = MimeLimits::default();
    // 200 RFC 2231 continuations of the file name, each line well under 998 octets.
    let continuations: String = (0..200)
        .map(|i| format!(";\r\n filename*{i}=\"part{i}\""))
        .collect();
    let part = format!(
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment{continuations}\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(EICAR)
    );
    let raw = multipart_of(&[plain_part(0), part]);
    let x = mime::extract(&raw, &limits);
    assert_eq!(
        x.files.last().and_then(|f| f.unscannable.clone()),
        Some(Unscannable::OverLimit(LimitExceeded::Parameters(100)))
    );
    assert_fails_closed(&raw, limits.clone(), Malformed::HeaderLimit);

    // Continuations separated by folds alone, without a `;`: mail-parser still reads each
    // as a parameter.
    let folded: String = (0..5_000).map(|i| format!("\r\n filename*{i}=x")).collect();
    let part = format!(
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;{folded}\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(EICAR)
    );
    let raw = multipart_of(&[plain_part(0), part]);
    assert_fails_closed(&raw, limits.clone(), Malformed::HeaderLimit);

    // Encoded words that never end: each would make mail-parser rescan the rest of the
    // field (RFC 2047, quadratic); past the message's budget the entity is not parsed.
    let unfinished = " =?AB?q?x".repeat(20_000);
    let part = format!(
        "Content-Type: application/octet-stream; name=\"eicar.com\"\r\n\
         Content-Description:{unfinished}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(EICAR)
    );
    let raw = multipart_of(&[plain_part(0), part]);
    let x = mime::extract(&raw, &limits);
    assert!(matches!(
        x.files.last().and_then(|f| f.unscannable.clone()),
        Some(Unscannable::OverLimit(LimitExceeded::ParseWork(_)))
    ));
    assert_fails_closed(&raw, limits.clone(), Malformed::HeaderLimit);

    // A header block over max_header_bytes.
    let padding: String = (0..400)
        .map(|i| format!("X-Padding-{i}: {}\r\n", "y".repeat(900)))
        .collect();
    let part = format!("{padding}{}", eicar_part());
    let raw = multipart_of(&[plain_part(0), part]);
    assert_fails_closed(&raw, limits, Malformed::HeaderLimit);
}

#[test]
fn decoded_copies_of_attached_messages_are_bounded() {
    // A base64 attached message inside a base64 attached message: each level is decoded
    // into a copy of its own. With room for one copy only, the inner one is unwalked.
    let inner = format!(
        "{}Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n{}\r\n--in--\r\n",
        header(""),
        eicar_part()
    );
    let middle = format!(
        "{}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        header(""),
        b64(inner.as_bytes())
    );
    let raw = format!(
        "{}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        header(""),
        b64(middle.as_bytes())
    )
    .into_bytes();
    let generous = mime::extract(&raw, &MimeLimits::default());
    assert!(generous.files.iter().any(|f| f.name == "eicar.com"));
    let limits = MimeLimits {
        max_decoded_bytes: middle.len() + 10,
        ..MimeLimits::default()
    };
    assert_fails_closed(&raw, limits, Malformed::DecodedLimit);
}

#[test]
fn a_limit_inside_an_encoded_attached_message_replaces_that_message() {
    // The part limit is reached inside a base64 attached message: its pieces cannot be
    // spliced alone, so the whole attached message goes.
    let inner = multipart_of(&[plain_part(0), plain_part(1), plain_part(2), eicar_part()]);
    let part = format!(
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(&inner)
    );
    let raw = multipart_of(&[plain_part(9), part, plain_part(10)]);
    let limits = MimeLimits {
        max_parts: 5,
        ..MimeLimits::default()
    };
    assert_fails_closed(&raw, limits, Malformed::PartLimit);
}

fn attach(name: &str, bytes: &[u8]) -> Vec<u8> {
    multipart_of(&[
        plain_part(0),
        format!(
            "Content-Type: application/zip; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ),
    ])
}

/// The archive limits already made over-limit archives unscannable; these pin what is
/// delivered: the archive attachment replaced by the notice.
fn assert_archive_dropped(raw: &[u8], limits: MimeLimits) {
    let policy = Policy {
        limits,
        ..Policy::default()
    };
    for flavour in [Flavour::Smtp, Flavour::Imap] {
        let x = mime::extract(raw, &policy.limits);
        assert!(x.files.iter().any(|f| f.unscannable.is_some()), "{x:?}");
        let out = delivered(raw, &policy, flavour).expect("drop delivers the rest");
        assert!(!carries_eicar(&out), "{flavour:?}: EICAR delivered");
    }
}

#[test]
fn archive_depth_members_and_bytes() {
    // Four zips deep, the default limit being three.
    let mut nested = zip(&[("eicar.com", EICAR.to_vec())]);
    for level in 0..3 {
        nested = zip(&[(&format!("level{level}.zip"), nested)]);
    }
    assert_archive_dropped(&attach("deep.zip", &nested), MimeLimits::default());

    // One member more than max_members, EICAR last.
    let mut members: Vec<(String, Vec<u8>)> = (0..1_000)
        .map(|i| (format!("f{i}.txt"), format!("file {i}").into_bytes()))
        .collect();
    members.push(("eicar.com".into(), EICAR.to_vec()));
    let refs: Vec<(&str, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    assert_archive_dropped(&attach("many.zip", &zip(&refs)), MimeLimits::default());

    // Past the byte budget: 2 MiB of incompressible bytes before EICAR, a 1 MiB budget.
    let noise = noise(2 << 20, 0x9e37_79b9_7f4a_7c15);
    let big = zip(&[("noise.bin", noise), ("eicar.com", EICAR.to_vec())]);
    let limits = MimeLimits {
        archive: ArchiveLimits {
            max_total_bytes: 1 << 20,
            ..ArchiveLimits::default()
        },
        ..MimeLimits::default()
    };
    assert_archive_dropped(&attach("big.zip", &big), limits);
}

#[test]
fn the_unscannable_level_decides_lock_and_deny_too() {
    let raw = nested_multiparts(40);
    // lock: the piece is replaced by a locked copy of its raw bytes.
    let mut policy = Policy::default();
    policy.levels.medium.action = Action::Lock;
    let out = delivered(&raw, &policy, Flavour::Smtp).expect("lock delivers");
    assert!(!carries_eicar(&out));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(&format!("{UNWALKED_NAME}.locked")), "{text}");
    // A high unscannable level with the default high = deny: SMTP refuses, IMAP gets the
    // notice instead of the message.
    let policy = Policy {
        unscannable_level: ThreatLevel::High,
        ..Policy::default()
    };
    assert_eq!(delivered(&raw, &policy, Flavour::Smtp), None);
    let out = delivered(&raw, &policy, Flavour::Imap).expect("imap replaces");
    assert!(!carries_eicar(&out));
    // The outcome names the unscannable piece and its source.
    let cache = MemoryCache::default();
    let outcome = inspect(Flavour::Smtp, &raw, &policy, &cache, t(0))
        .poll_outcome()
        .expect("decided at once: the piece is judged on sight");
    let piece = outcome
        .files
        .iter()
        .find(|f| f.name == UNWALKED_NAME)
        .expect("listed");
    assert_eq!(piece.source, Source::Unscannable);
    assert_eq!(piece.action, Action::Deny);
}
