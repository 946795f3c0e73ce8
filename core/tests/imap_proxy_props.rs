//! Properties of the IMAP proxy session over generated mailboxes and fetch sequences:
//! - no byte of a bad attachment reaches the client, whatever the fetch form, the byte
//!   split, the order of verdicts, or clients that leave and come back (I1, I6);
//! - N6: every unknown file of a message is submitted in one go, before any verdict on it
//!   (I2): each submission is exactly the message's files not yet judged.

mod common;

use std::collections::BTreeSet;

use aptsim_core::digest::Md5;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::policy::Policy;
use aptsim_core::verdict::ThreatLevel;
use common::imap_world::ImapWorld;
use common::{b64, message, noise};
use proptest::prelude::*;

/// Files: the first `BAD` are judged high (denied), the rest clean.
const FILES: usize = 6;
const BAD: usize = 2;

fn file(i: usize) -> Vec<u8> {
    noise(300 + 37 * i, 1000 + i as u64)
}

/// A client step.
#[derive(Debug, Clone)]
enum Step {
    /// A fetch command (one of `FORMS`, on message `n`, or on all of them).
    Fetch { form: usize, target: Option<u32> },
    /// The data center answers every file it was asked about, in this rotation of order.
    Verdicts { rotate: usize },
    /// The client leaves and a new one logs in.
    Reconnect,
}

const FORMS: &[&str] = &[
    "UID FETCH {} (UID RFC822.SIZE BODY[])",
    "FETCH {} BODY.PEEK[]",
    "FETCH {} RFC822",
    "UID FETCH {} (UID RFC822.SIZE RFC822.PEEK)",
    "FETCH {} BODY.PEEK[TEXT]",
    "FETCH {} RFC822.HEADER",
    "UID FETCH {} (UID BODY.PEEK[]<0.200>)",
    "UID FETCH {} (UID BODY.PEEK[]<200.100000>)",
    "FETCH {} (FLAGS RFC822.SIZE)",
    // K-9: the structure, the text part (served before the verdicts: it holds no file),
    // an attachment's part (held).
    "UID FETCH {} (UID BODYSTRUCTURE)",
    "UID FETCH {} (UID BODY.PEEK[1])",
    "UID FETCH {} (UID BODY.PEEK[2])",
    "FETCH {} (BODY.PEEK[3] BODY.PEEK[1])",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..FORMS.len(), prop::option::of(1u32..5))
            .prop_map(|(form, target)| Step::Fetch { form, target }),
        3 => (0usize..4).prop_map(|rotate| Step::Verdicts { rotate }),
        1 => Just(Step::Reconnect),
    ]
}

/// Mailboxes of 1–4 messages, each with 0–3 of the files.
fn mailbox() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(prop::collection::btree_set(0..FILES, 0..=3), 1..=4)
        .prop_map(|ms| ms.into_iter().map(|s| s.into_iter().collect()).collect())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn bad_bytes_never_reach_the_client_and_files_go_all_at_once(
        mailbox in mailbox(),
        steps in prop::collection::vec(step(), 1..10),
        chunk in prop_oneof![Just(1usize), 2usize..40, Just(usize::MAX)],
    ) {
        let files: Vec<Vec<u8>> = (0..FILES).map(file).collect();
        let md5s: Vec<Md5> = files.iter().map(|f| Md5::of(f)).collect();
        let messages: Vec<Vec<u8>> = mailbox
            .iter()
            .map(|ids| {
                let parts: Vec<(String, Vec<u8>)> =
                    ids.iter().map(|&i| (format!("f{i}.bin"), files[i].clone())).collect();
                let parts: Vec<(&str, Vec<u8>)> =
                    parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
                message(&parts)
            })
            .collect();
        // What of a bad file would show in a message: its bytes, or the first line of its
        // base64 (how mail-builder writes an octet-stream part).
        let bad_marks: Vec<Vec<u8>> = (0..BAD)
            .flat_map(|i| {
                let line = b64(&files[i][..57]).into_bytes();
                [files[i][..64].to_vec(), line]
            })
            .collect();
        let mut w = ImapWorld::ready(&messages, Policy::default(), ImapConfig::default(), chunk);
        let mut judged: BTreeSet<Md5> = BTreeSet::new();
        let mut groups_seen = 0;
        let mut tag = 0;
        for step in steps {
            match step {
                Step::Fetch { form, target } => {
                    tag += 1;
                    let set = target.map_or("1:*".to_owned(), |n| n.to_string());
                    let command = format!("t{tag} {}\r\n", FORMS[form].replace("{}", &set));
                    w.client(command.as_bytes());
                }
                Step::Verdicts { rotate } => {
                    let mut asked: Vec<Md5> = w.uploads.iter().copied()
                        .filter(|m| !judged.contains(m)).collect();
                    asked.dedup();
                    let n = asked.len();
                    if n > 0 {
                        asked.rotate_left(rotate % n);
                    }
                    for md5 in asked {
                        let i = md5s.iter().position(|m| *m == md5).expect("a known file");
                        let level = if i < BAD { ThreatLevel::High } else { ThreatLevel::Clean };
                        judged.insert(md5);
                        w.verdict(md5, level);
                        check_groups(&w, &mailbox, &md5s, &judged, &mut groups_seen)?;
                    }
                }
                Step::Reconnect => {
                    w.client_leaves();
                    w.reconnect();
                }
            }
            check_groups(&w, &mailbox, &md5s, &judged, &mut groups_seen)?;
            let out = w.take_client();
            for mark in &bad_marks {
                prop_assert!(!contains(&out, mark), "bad bytes reached the client");
            }
        }
    }
}

/// Each new submission is the files of one message that were not judged when it went out.
fn check_groups(
    w: &ImapWorld,
    mailbox: &[Vec<usize>],
    md5s: &[Md5],
    judged: &BTreeSet<Md5>,
    seen: &mut usize,
) -> Result<(), TestCaseError> {
    for group in &w.submissions[*seen..] {
        let group: BTreeSet<Md5> = group.iter().copied().collect();
        let fits = mailbox.iter().any(|ids| {
            let unjudged: BTreeSet<Md5> = ids
                .iter()
                .map(|&i| md5s[i])
                .filter(|m| !judged.contains(m))
                .collect();
            unjudged == group
        });
        prop_assert!(
            fits,
            "a submission that is not one message's unjudged files: {group:?}"
        );
    }
    *seen = w.submissions.len();
    Ok(())
}

/// Bytes that look like IMAP: pieces of real commands and responses, literals with lying
/// lengths, and noise.
fn imapish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"a1 FETCH 1:* (BODY.PEEK[] RFC822.SIZE)\r\n".to_vec()),
        Just(b"* 1 FETCH (UID 1 BODY[] {5}\r\nab".to_vec()),
        Just(b"* 2 FETCH (UID 7 RFC822.SIZE 3)\r\n".to_vec()),
        Just(b"aptsim1 OK done\r\n".to_vec()),
        Just(b"aptsim2 OK done\r\n".to_vec()),
        Just(b"+ go\r\n".to_vec()),
        Just(b"{3}\r\n".to_vec()),
        Just(b"{99999999999}\r\n".to_vec()),
        Just(b"* 1 EXPUNGE\r\n".to_vec()),
        Just(b"a2 IDLE\r\nDONE\r\n".to_vec()),
        Just(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Hostile bytes from either side, in any interleaving, with verdicts and timeouts in
    /// between: the session never panics and always ends once both sides are closed.
    #[test]
    fn hostile_bytes_on_either_side_never_panic(
        steps in prop::collection::vec((0u8..5, imapish()), 1..12),
    ) {
        use aptsim_core::gateway::Gateway;
        use aptsim_core::node::{Node, NodeOutput};
        use aptsim_core::smtp::proxy::ProxyConfig;
        use std::sync::Arc;
        use std::time::Duration;

        let mut node = Node::new(Gateway::new(Arc::new(Policy::default())), Arc::new(ProxyConfig::default()));
        let mut now = aptsim_core::clock::Timestamp::ZERO;
        node.accept_imap(1, "192.0.2.1", now);
        let mut up = None;
        let mut uploads = Vec::new();
        let drain = |node: &mut Node, up: &mut Option<u64>, uploads: &mut Vec<Md5>| {
            while let Some(o) = node.poll_output() {
                match o {
                    NodeOutput::Connect { up: u, .. } => *up = Some(u),
                    NodeOutput::Upload { md5, .. } => uploads.push(md5),
                    _ => {}
                }
            }
        };
        drain(&mut node, &mut up, &mut uploads);
        if let Some(u) = up {
            node.handle_upstream_connected(u, now);
        }
        for (what, bytes) in steps {
            match (what, up) {
                (0, _) => node.handle_client_bytes(1, &bytes, now),
                (1, Some(u)) => node.handle_upstream_bytes(u, &bytes, now),
                (2, _) => {
                    for md5 in uploads.drain(..) {
                        let v = aptsim_core::verdict::Verdict::from_level(
                            ThreatLevel::High,
                            &aptsim_core::verdict::Thresholds::default(),
                        );
                        node.handle_verdict(md5, &v, now);
                    }
                }
                (3, _) => {
                    now += Duration::from_secs(700);
                    node.handle_timeout(now);
                }
                _ => node.handle_client_bytes(1, &bytes, now),
            }
            drain(&mut node, &mut up, &mut uploads);
        }
        node.handle_client_closed(1, now);
        if let Some(u) = up {
            node.handle_upstream_closed(u, now);
        }
        now += Duration::from_secs(3 * 3600);
        node.handle_timeout(now);
        drain(&mut node, &mut up, &mut uploads);
        prop_assert_eq!(node.sessions(), 0, "the session ends once both sides are gone");
    }
}
