//! The data-center model on its own: verdicts by oracle, bytes and draw; analysis times and
//! the worker limit; outages, including one that begins during an analysis; MD5 look-ups of
//! files analysed before.

use std::collections::BTreeMap;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_peers::datacenter::{
    AnalysisTime, Basis, DataCenter, DcAnswer, DcConfig, DcEvent, EICAR, EICAR_THREAT, Judgement,
    Outage,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn answers(d: &mut DataCenter<u8>) -> Vec<(u8, DcAnswer)> {
    std::iter::from_fn(|| d.poll_event())
        .filter_map(|e| match e {
            DcEvent::Answer { reply, answer } => Some((reply, answer)),
            DcEvent::Started { .. } => None,
        })
        .collect()
}

#[test]
fn eicar_is_high_after_the_analysis_time_then_known() {
    let config = DcConfig {
        analysis: AnalysisTime::Fixed(Duration::from_secs(5)),
        ..DcConfig::default()
    };
    let mut d = DataCenter::new(config, ChaCha8Rng::seed_from_u64(1));
    let mut file = b"prefix ".to_vec();
    file.extend_from_slice(EICAR);
    let md5 = Md5::of(&file);
    d.upload(md5, Some(&file), 7, at(1_000));
    assert!(answers(&mut d).is_empty());
    assert_eq!(d.poll_timeout(), Some(at(6_000)));
    d.handle_timeout(at(5_999));
    assert!(answers(&mut d).is_empty());
    d.handle_timeout(at(6_000));
    let got = answers(&mut d);
    let [
        (
            7,
            DcAnswer::Verdict {
                verdict,
                basis,
                analysed,
                ..
            },
        ),
    ] = got.as_slice()
    else {
        panic!("{got:?}");
    };
    assert_eq!(verdict.level, ThreatLevel::High);
    assert_eq!(verdict.threat.as_deref(), Some(EICAR_THREAT));
    assert_eq!(
        (*basis, *analysed),
        (Basis::Eicar, Some(Duration::from_secs(5)))
    );
    // Known now: a look-up answers at once, even without the bytes.
    d.upload(md5, None, 8, at(7_000));
    assert!(matches!(
        answers(&mut d).as_slice(),
        [(8, DcAnswer::Verdict { analysed: None, .. })]
    ));
}

#[test]
fn oracle_scan_and_unseen() {
    let named = Md5::of(b"named");
    let mut oracle = BTreeMap::new();
    oracle.insert(
        named,
        Judgement {
            verdict: Verdict::from_level(ThreatLevel::Medium, &Thresholds::default()),
            analysis: Some(Duration::from_secs(1)),
        },
    );
    let config = DcConfig {
        oracle,
        analysis: AnalysisTime::Fixed(Duration::from_secs(5)),
        ..DcConfig::default()
    };
    let mut d = DataCenter::new(config, ChaCha8Rng::seed_from_u64(1));
    d.upload(Md5::of(b"plain"), Some(b"plain"), 0, at(0));
    d.upload(named, Some(b"named"), 0, at(0));
    d.upload(Md5::of(b"unseen"), None, 0, at(0));
    d.handle_timeout(at(5_000));
    let got: Vec<(ThreatLevel, Basis)> = answers(&mut d)
        .into_iter()
        .map(|(_, a)| match a {
            DcAnswer::Verdict { verdict, basis, .. } => (verdict.level, basis),
            DcAnswer::Unreachable { .. } => panic!("no outage"),
        })
        .collect();
    // The oracle's own 1 s analysis ends first.
    assert_eq!(
        got,
        [
            (ThreatLevel::Medium, Basis::Oracle),
            (ThreatLevel::Clean, Basis::Clean),
            (ThreatLevel::Clean, Basis::Unseen),
        ]
    );
}

#[test]
fn outages_refuse_or_swallow() {
    let mut d = DataCenter::new(DcConfig::default(), ChaCha8Rng::seed_from_u64(1));
    d.set_outage(Outage::Unreachable);
    let md5 = Md5::of(b"x");
    d.upload(md5, None, 1, at(0));
    assert_eq!(
        answers(&mut d),
        [(1, DcAnswer::Unreachable { md5, refused: true })]
    );
    d.set_outage(Outage::None);
    d.upload(md5, None, 2, at(0));
    d.set_outage(Outage::Slow);
    d.handle_timeout(at(200_000));
    assert!(
        answers(&mut d).is_empty(),
        "a slow data center never answers"
    );
    assert_eq!(d.running(), 0);
}

#[test]
fn workers_bound_what_runs_and_the_rest_waits() {
    let config = DcConfig {
        workers: 1,
        analysis: AnalysisTime::Fixed(Duration::from_secs(10)),
        ..DcConfig::default()
    };
    let mut d = DataCenter::new(config, ChaCha8Rng::seed_from_u64(1));
    d.upload(Md5::of(b"a"), None, 1, at(0));
    d.upload(Md5::of(b"b"), None, 2, at(0));
    assert_eq!(d.running(), 1);
    d.handle_timeout(at(10_000));
    assert_eq!(answers(&mut d).len(), 1);
    assert_eq!(
        d.poll_timeout(),
        Some(at(20_000)),
        "the second starts after the first"
    );
}

#[test]
fn remembers_a_bounded_number_of_verdicts() {
    let config = DcConfig {
        remember: 2,
        analysis: AnalysisTime::Fixed(Duration::ZERO),
        ..DcConfig::default()
    };
    let mut d = DataCenter::new(config, ChaCha8Rng::seed_from_u64(1));
    for f in [b"a", b"b", b"c"] {
        d.upload(Md5::of(f), None, 0, at(0));
        d.handle_timeout(at(0));
    }
    answers(&mut d);
    d.upload(Md5::of(b"a"), None, 0, at(1));
    assert!(
        answers(&mut d).is_empty(),
        "the oldest was forgotten: analysed again"
    );
    d.upload(Md5::of(b"c"), None, 0, at(1));
    assert_eq!(answers(&mut d).len(), 1, "a recent one is answered at once");
}

#[test]
fn lookup_knows_only_finished_analyses_and_uploads_nothing() {
    let config = DcConfig {
        remember: 1,
        analysis: AnalysisTime::Fixed(Duration::from_secs(5)),
        ..DcConfig::default()
    };
    let mut d = DataCenter::new(config, ChaCha8Rng::seed_from_u64(1));
    let md5 = Md5::of(EICAR);
    assert_eq!(d.lookup(&md5), None, "never uploaded");
    d.upload(md5, Some(EICAR), 0, at(0));
    assert_eq!(d.lookup(&md5), None, "still being analysed");
    d.handle_timeout(at(5_000));
    answers(&mut d);
    let (verdict, basis) = d.lookup(&md5).expect("known after its analysis");
    assert_eq!((verdict.level, basis), (ThreatLevel::High, Basis::Eicar));
    assert_eq!(d.running(), 0);
    assert!(d.poll_event().is_none(), "a look-up answers nobody");
    // Forgotten like any remembered verdict.
    d.upload(Md5::of(b"other"), Some(b"other"), 0, at(5_000));
    d.handle_timeout(at(10_000));
    assert_eq!(d.lookup(&md5), None);
}
