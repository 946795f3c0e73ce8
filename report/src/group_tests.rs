//! Tests of [`super`]: the S5 trace as one story, records linked to messages through their
//! connection, transaction or file, the IMAP proxy's uploads, faults.

use super::*;
use crate::line::parse;

const S5: &str = include_str!("../tests/fixtures/s5-sender-timeout-retry.jsonl");

fn s5() -> Grouped {
    group(&parse(S5).expect("the fixture parses"))
}

#[test]
fn the_sender_timeout_retry_is_one_story_with_two_attempts_and_the_cache_decision() {
    let g = s5();
    assert_eq!(g.stories.len(), 1);
    let m1 = &g.stories[0];
    assert_eq!(m1.id, "m1");
    assert_eq!(m1.attempts(), 2);
    assert_eq!(m1.uploads(), 3, "three files, each uploaded once");
    assert_eq!(m1.count("verdict"), 3);
    assert_eq!(m1.count("timeout"), 1);
    assert_eq!(m1.count("retry"), 1);
    assert_eq!(
        m1.count("cache_decision"),
        1,
        "the retry is decided from the cache"
    );
    assert_eq!(
        m1.count("reply4"),
        1,
        "the server's 421 on the idle upstream"
    );
    assert_eq!(m1.state(), "delivered");
    assert_eq!(m1.delivery_ms(), Some(1_200_111));
    // The first attempt's hold ends with the sender gone, 10 minutes in.
    let hold = &m1.spans[0];
    assert_eq!((hold.kind, hold.start, hold.end), ("hold", 96, 600_096));
    assert!(hold.text.contains("sender gone"), "{}", hold.text);
    // Every upload is in the first attempt: before the retry's connection opens.
    let retry_at = m1
        .steps
        .iter()
        .filter(|s| s.kind == "attempt")
        .nth(1)
        .map(|s| s.t);
    assert!(
        m1.steps
            .iter()
            .filter(|s| s.kind == "upload")
            .all(|s| Some(s.t) < retry_at)
    );
    assert_eq!(g.uploads, 3);
}

#[test]
fn records_without_a_message_go_to_the_message_of_their_connection() {
    let text = r#"{"t":0,"actor":"a","event":"attempt_started","msg":"m1","attempt":1,"conn":1}
{"t":0,"actor":"a","event":"attempt_started","msg":"m2","attempt":1,"conn":2}
{"t":1,"actor":"p","event":"submission","conn":2,"txn":1,"md5":"f","name":"x.pdf","upload":true}
{"t":1,"actor":"p","event":"submission","conn":1,"txn":1,"md5":"f","name":"x.pdf","upload":false}
{"t":1,"actor":"p","event":"hold_start","conn":1,"txn":1}
{"t":5,"actor":"dc","event":"verdict","md5":"f","level":"high","score":90,"analysis_ms":4}
{"t":6,"actor":"p","event":"decision","conn":1,"txn":1,"msg":"m1","action":"deny","decision":"reject","held_ms":5,"released":false,"fail_open":false,"files":[]}
{"t":6,"actor":"p","event":"smtp_reply","conn":1,"side":"client","code":554,"text":"5.7.1 no"}
{"t":9,"actor":"f","event":"fault","id":"cut","kind":"link_cut_client","detail":"for 1s"}
{"t":12,"actor":"f","event":"fault","id":"flush","kind":"cache_flush","detail":"once"}"#;
    let g = group(&parse(text).expect("parses"));
    let [m1, m2] = &g.stories[..] else {
        panic!("two stories: {:?}", g.stories);
    };
    assert_eq!(m1.count("wait"), 1);
    assert_eq!(
        m1.count("verdict"),
        1,
        "the verdict answers the message that waited too"
    );
    assert_eq!(m2.count("verdict"), 1);
    assert_eq!(m1.count("reply5"), 1);
    assert_eq!(m1.state(), "rejected");
    assert_eq!(m1.hold_ms(), Some(5));
    assert_eq!(m2.state(), "in flight");
    assert_eq!(g.faults.len(), 2);
    let imap = r#"{"t":0,"actor":"imap_server","event":"mailbox_stored","msg":"m1","account":"bob","uid":1}
{"t":10,"actor":"imap_proxy","event":"imap_hold_start","conn":7,"tag":"4","messages":1}
{"t":11,"actor":"imap_proxy","event":"submission","conn":7,"txn":1,"md5":"f","name":"r.pdf","upload":true}
{"t":50,"actor":"datacenter","event":"verdict","md5":"f","level":"clean","score":0,"analysis_ms":39}
{"t":51,"actor":"imap_proxy","event":"imap_decision","conn":7,"uid":1,"msg":"m1","action":"allow","result":"unchanged","held_ms":41,"fail_open":false,"files":[{"name":"r.pdf","md5":"f","level":"clean","action":"allow","source":"analysis"}]}
{"t":51,"actor":"imap_proxy","event":"imap_decision","conn":7,"uid":2,"msg":"m2","action":"allow","result":"unchanged","held_ms":41,"fail_open":false,"files":[]}"#;
    let gi = group(&parse(imap).expect("parses"));
    let m1 = &gi.stories[0];
    let upload = m1
        .steps
        .iter()
        .find(|s| s.kind == "upload")
        .expect("the IMAP upload");
    assert_eq!(
        (upload.from, upload.to),
        (Lane::ImapProxy, Some(Lane::Datacenter))
    );
    let verdict = m1
        .steps
        .iter()
        .find(|s| s.kind == "verdict")
        .expect("its verdict");
    assert_eq!(verdict.to, Some(Lane::ImapProxy));
    assert_eq!(m1.count("hold"), 1);
    assert_eq!(m1.hold_ms(), Some(41));
    let m2 = &gi.stories[1];
    assert_eq!(m2.id, "m2");
    assert_eq!(
        m2.count("upload"),
        0,
        "held by the same fetch, without that file"
    );
    assert_eq!(m2.count("hold"), 1);
    assert_eq!(
        (g.faults[0].start, g.faults[0].end),
        (9, 12),
        "no /end: until the end"
    );
    assert_eq!((g.faults[1].start, g.faults[1].end), (12, 12), "once");
}
