//! The shared verdict cache (`aptsim_live::redis_cache`) against a real `redis-server`, started
//! by each test on a free loopback port: two gateways sharing verdicts and X1 claims, the
//! key layout and expiries as written, and what happens when Redis is unreachable, comes
//! back, answers errors or holds values no gateway wrote.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::{Gateway, UploadDecision};
use aptsim_core::policy::Policy;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_live::redis_cache::{Learned, POLL_INTERVAL, RedisConfig, SharedCache, keys};
use support::{Notes, Server};

fn policy() -> Arc<Policy> {
    let mut p = Policy::default();
    p.cache.ttl = Duration::from_secs(3_600);
    p.analysis_timeout = Duration::from_secs(600);
    Arc::new(p)
}

/// A gateway whose tables are on `url`, and the notes its cache logged.
fn gateway(url: &str) -> (Gateway, SharedCache, Notes) {
    let mut gw = Gateway::new(policy());
    let notes = Notes::default();
    let config = RedisConfig::parse(url).expect("a valid URL");
    let shared = SharedCache::attach_notifying(&mut gw, config, notes.notify());
    (gw, shared, notes)
}

fn high() -> Verdict {
    Verdict::from_score(70, &Thresholds::default()).with_threat("EICAR-Test-File")
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn get(conn: &mut redis::Connection, cmd: &str, key: &str) -> redis::Value {
    redis::cmd(cmd)
        .arg(key)
        .query(conn)
        .expect("redis-server answers")
}

fn pttl(conn: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(conn)
        .expect("redis-server answers")
}

#[test]
fn a_verdict_stored_by_one_gateway_decides_at_another() {
    let server = Server::start();
    let (mut a, _sa, notes_a) = gateway(&server.url(3));
    let (b, _sb, _) = gateway(&server.url(3));
    let (other_db, _so, _) = gateway(&server.url(4));
    let connected = notes_a.matching("cache", "connected");
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert!(connected[0].contains(&format!("redis://127.0.0.1:{}/3", server.port)));
    println!("at start: {}", connected[0]);

    let md5 = Md5::of(b"judged at A");
    assert!(b.cache.get(&md5, t(0)).is_none());
    a.record_verdict(md5, &high(), t(10));
    assert_eq!(b.cache.get(&md5, t(20)), Some(high()));
    assert!(
        other_db.cache.get(&md5, t(20)).is_none(),
        "database 4 must not see database 3"
    );

    // As written: readable JSON, expiring with the policy's cache TTL.
    let mut conn = server.conn();
    redis::cmd("SELECT")
        .arg(3)
        .query::<()>(&mut conn)
        .expect("SELECT 3");
    let key = keys::verdict_key(&md5);
    let value = get(&mut conn, "GET", &key);
    assert_eq!(
        value,
        redis::Value::BulkString(
            br#"{"score":70,"level":"high","threat":"EICAR-Test-File"}"#.to_vec()
        )
    );
    let left = pttl(&mut conn, &key);
    assert!(
        (3_590_000..=3_600_000).contains(&left),
        "PTTL {left} ms, expected the policy's 1 h"
    );

    // A miss is one round trip; print what it costs here (informative, not a bound).
    let misses = 1_000;
    let start = Instant::now();
    for i in 0..misses {
        let unknown = Md5::of(format!("unknown {i}").as_bytes());
        assert!(b.cache.get(&unknown, t(30)).is_none());
    }
    println!(
        "a cache miss (MULTI GET PTTL) took {:.1} µs on average",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(misses)
    );
}

#[test]
fn a_claim_makes_the_other_gateway_wait_and_learn_the_verdict() {
    let server = Server::start();
    let (mut a, _sa, _) = gateway(&server.url(0));
    let (mut b, sb, notes_b) = gateway(&server.url(0));
    let md5 = Md5::of(b"in flight at A");
    let mut conn = server.conn();

    assert_eq!(a.claim_upload(md5, t(0)), UploadDecision::Upload);
    // A second message at A waits without asking Redis; at B too, on A's claim.
    assert_eq!(a.claim_upload(md5, t(1)), UploadDecision::Wait);
    assert_eq!(b.claim_upload(md5, t(5)), UploadDecision::Wait);
    let claim = keys::claim_key(&md5);
    let left = pttl(&mut conn, &claim);
    assert!(
        (590_000..=600_000).contains(&left),
        "claim PTTL {left} ms, expected the analysis timeout (10 min)"
    );

    // B polls while it waits; nothing to learn before A's verdict.
    let due = t(5) + POLL_INTERVAL;
    assert_eq!(sb.poll_timeout(), Some(due));
    assert!(
        sb.handle_timeout(t(6)).is_empty(),
        "polled before it was due"
    );
    assert!(sb.handle_timeout(due).is_empty());
    let due = due + POLL_INTERVAL;
    assert_eq!(sb.poll_timeout(), Some(due));

    a.record_verdict(md5, &high(), t(300));
    assert_eq!(get(&mut conn, "EXISTS", &claim), redis::Value::Int(0));
    let learned = sb.handle_timeout(due);
    assert_eq!(
        learned,
        vec![Learned::Verdict {
            md5,
            verdict: high()
        }]
    );
    assert_eq!(notes_b.matching("verdict", "basis=shared-cache").len(), 1);
    // What the node does with it: record it, which ends B's wait and writes nothing.
    redis::cmd("DEL")
        .arg(keys::verdict_key(&md5))
        .query::<()>(&mut conn)
        .expect("DEL");
    b.record_verdict(md5, &high(), due);
    assert_eq!(
        get(&mut conn, "EXISTS", &keys::verdict_key(&md5)),
        redis::Value::Int(0),
        "B wrote back a verdict it had only read"
    );
    assert_eq!(b.cache.get(&md5, due), Some(high()), "B's mirror keeps it");
    assert!(b.in_flight.is_empty());
    assert!(sb.handle_timeout(due + POLL_INTERVAL).is_empty());
    assert_eq!(
        sb.poll_timeout(),
        None,
        "B polls while it waits, and only then"
    );
}

#[test]
fn an_analysis_that_fails_elsewhere_ends_the_wait() {
    let server = Server::start();
    let (mut a, _sa, _) = gateway(&server.url(0));
    let (mut b, sb, notes_b) = gateway(&server.url(0));
    let md5 = Md5::of(b"upload refused at A");
    assert_eq!(a.claim_upload(md5, t(0)), UploadDecision::Upload);
    assert_eq!(b.claim_upload(md5, t(0)), UploadDecision::Wait);
    a.record_failure(&md5);
    let learned = sb.handle_timeout(t(0) + POLL_INTERVAL);
    assert_eq!(learned, vec![Learned::Ended { md5 }]);
    assert_eq!(notes_b.matching("verdict", "without a verdict").len(), 1);
    b.record_failure(&md5);
    // Free again: the next message uploads.
    assert_eq!(b.claim_upload(md5, t(400)), UploadDecision::Upload);
}

#[test]
fn a_gateway_deletes_only_its_own_claim() {
    let server = Server::start();
    let (mut a, _sa, _) = gateway(&server.url(0));
    let md5 = Md5::of(b"claim taken over");
    let claim = keys::claim_key(&md5);
    let mut conn = server.conn();
    assert_eq!(a.claim_upload(md5, t(0)), UploadDecision::Upload);
    // A's claim expired and another gateway took the file.
    redis::cmd("SET")
        .arg(&claim)
        .arg("someone else")
        .query::<()>(&mut conn)
        .expect("SET");
    a.record_failure(&md5);
    assert_eq!(
        get(&mut conn, "GET", &claim),
        redis::Value::BulkString(b"someone else".to_vec())
    );
}

#[test]
fn unreachable_redis_is_an_empty_cache_but_known_verdicts_still_apply() {
    let mut server = Server::start();
    let port = server.port;
    let (mut a, sa, notes_a) = gateway(&server.url(0));
    let (b, sb, _) = gateway(&server.url(0));
    let bad = Md5::of(b"known bad at A");
    a.record_verdict(bad, &high(), t(0));

    server.kill();
    // Several look-ups and claims during the outage: one log line, no long waits.
    let start = Instant::now();
    assert_eq!(
        a.cache.get(&bad, t(10)),
        Some(high()),
        "failed open on a known verdict"
    );
    let new = Md5::of(b"new during the outage");
    assert!(a.cache.get(&new, t(10)).is_none());
    assert_eq!(a.claim_upload(new, t(10)), UploadDecision::Upload);
    assert_eq!(
        a.claim_upload(new, t(11)),
        UploadDecision::Wait,
        "X1 within A"
    );
    let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
    a.record_verdict(new, &clean, t(20));
    assert_eq!(a.cache.get(&new, t(30)), Some(clean.clone()));
    for i in 0..20 {
        assert!(a.cache.get(&Md5::of(&[i]), t(30)).is_none());
    }
    let took = start.elapsed();
    assert!(!sa.is_up());
    assert_eq!(sa.outages(), 1);
    let down = notes_a.matching("warning", "unreachable");
    assert_eq!(down.len(), 1, "one line per outage, got {down:?}");
    assert!(
        took < Duration::from_secs(2),
        "the outage blocked for {took:?}"
    );

    // Back (empty: it kept nothing): logged, and sharing again.
    let _server = Server::start_on(port).expect("redis-server restarts on its port");
    assert!(
        notes_a.wait_for("cache", "reachable again", Duration::from_secs(5)),
        "no 'reachable again' line within 5 s"
    );
    assert!(sa.is_up());
    let later = Md5::of(b"judged after the outage");
    a.record_verdict(later, &high(), t(5_000));
    // B's connection died with the old server while B was idle: it reconnects at its next
    // command, which is no outage.
    assert_eq!(b.cache.get(&later, t(5_001)), Some(high()));
    assert_eq!(sb.outages(), 0);
    assert_eq!(notes_a.matching("warning", "unreachable").len(), 1);
}

#[test]
fn a_gateway_started_without_redis_decides_alone_and_joins_when_it_comes() {
    let server = Server::start();
    let port = server.port;
    drop(server);
    let (mut a, sa, notes_a) = gateway(&format!("redis://127.0.0.1:{port}"));
    assert!(!sa.is_up());
    assert_eq!(notes_a.matching("warning", "unreachable").len(), 1);
    let md5 = Md5::of(b"before redis");
    assert!(a.cache.get(&md5, t(0)).is_none());
    assert_eq!(a.claim_upload(md5, t(0)), UploadDecision::Upload);
    let _server = Server::start_on(port).expect("redis-server starts on the port");
    assert!(notes_a.wait_for("cache", "reachable again", Duration::from_secs(5)));
    let (b, _sb, _) = gateway(&format!("redis://127.0.0.1:{port}"));
    let after = Md5::of(b"after redis");
    a.record_verdict(after, &high(), t(3_000));
    assert_eq!(b.cache.get(&after, t(3_001)), Some(high()));
}

#[test]
fn a_value_no_gateway_wrote_is_a_miss_logged_once_and_overwritten() {
    let server = Server::start();
    let (mut a, _sa, notes_a) = gateway(&server.url(0));
    let md5 = Md5::of(b"poisoned");
    let mut conn = server.conn();
    redis::cmd("SET")
        .arg(keys::verdict_key(&md5))
        .arg(r#"{"score":250,"level":"clean"}"#)
        .query::<()>(&mut conn)
        .expect("SET");
    assert!(a.cache.get(&md5, t(0)).is_none());
    assert!(a.cache.get(&md5, t(1)).is_none());
    assert_eq!(notes_a.matching("warning", "not a verdict").len(), 1);
    // The file is analysed again, and its verdict replaces the value.
    assert_eq!(a.claim_upload(md5, t(2)), UploadDecision::Upload);
    a.record_verdict(md5, &high(), t(3));
    let (b, _sb, _) = gateway(&server.url(0));
    assert_eq!(b.cache.get(&md5, t(4)), Some(high()));
}

#[test]
fn an_error_reply_is_a_miss_and_the_link_stays_up() {
    let server = Server::start();
    let (a, sa, notes_a) = gateway(&server.url(0));
    let md5 = Md5::of(b"wrong type");
    let mut conn = server.conn();
    redis::cmd("LPUSH")
        .arg(keys::verdict_key(&md5))
        .arg("x")
        .query::<()>(&mut conn)
        .expect("LPUSH");
    assert!(a.cache.get(&md5, t(0)).is_none());
    assert!(a.cache.get(&md5, t(1)).is_none());
    assert!(sa.is_up(), "an error reply is not an outage");
    assert_eq!(sa.outages(), 0);
    let refusing = notes_a.matching("warning", "answered an error");
    assert_eq!(refusing.len(), 1, "once per episode: {refusing:?}");
    assert!(a.cache.get(&Md5::of(b"fine"), t(2)).is_none());
    assert_eq!(notes_a.matching("cache", "answers commands again").len(), 1);
}

#[test]
fn only_plain_redis_urls_are_accepted_and_passwords_never_shown() {
    let ok = RedisConfig::parse("redis://127.0.0.1:6390/2").expect("valid");
    assert_eq!(ok.name(), "redis://127.0.0.1:6390/2");
    let default = RedisConfig::parse("redis://localhost").expect("valid");
    assert_eq!(default.name(), "redis://localhost:6379/0");
    let secret = RedisConfig::parse("redis://:hunter2@127.0.0.1:6390/1").expect("valid");
    assert!(!format!("{secret:?} {}", secret.name()).contains("hunter2"));
    for bad in [
        "rediss://127.0.0.1:6390",
        "127.0.0.1:6379",
        "http://127.0.0.1",
        "redis://:hunter2@127.0.0.1:notaport",
    ] {
        let e = RedisConfig::parse(bad).expect_err(bad);
        assert!(!e.contains("hunter2"), "{e}");
        assert!(!e.is_empty());
    }
}
