//! The routes without a socket (tower's `oneshot`), on tokio's paused clock: the model's
//! analyses end when the clock is advanced, so the tests take no wall time.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_peers::datacenter::{AnalysisTime, DcConfig, EICAR, Judgement};
use axum::body::Bytes;
use axum::http::Request;
use hyper::body::Frame;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tower::ServiceExt;

use super::*;

const ANALYSIS: Duration = Duration::from_secs(5);

/// Past the end of an analysis started now: the model's task and the test wake at the same
/// instant otherwise, in either order.
const PAST: Duration = Duration::from_millis(1);

fn quiet() -> Log {
    Log {
        quiet: true,
        verbose: false,
        wall_start: SystemTime::now(),
    }
}

fn model(outage: Outage, oracle: BTreeMap<Md5, Judgement>) -> DataCenter<()> {
    let config = DcConfig {
        workers: usize::MAX,
        analysis: AnalysisTime::Fixed(ANALYSIS),
        oracle,
        outage,
        ..DcConfig::default()
    };
    DataCenter::new(config, ChaCha8Rng::seed_from_u64(0))
}

/// A server with its model's task running.
fn server(config: ServerConfig, dc: DataCenter<()>) -> Router {
    let shared = Shared::new(dc, config, quiet());
    tokio::spawn(drive(shared.clone()));
    router(shared)
}

fn working() -> Router {
    server(
        ServerConfig::default(),
        model(Outage::None, BTreeMap::new()),
    )
}

/// Sends one request; the status code and the JSON body.
async fn call(app: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let code = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a whole body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{code}: not JSON ({e}): {bytes:?}"));
    (code, json)
}

async fn post(app: &Router, query: &str, body: &[u8]) -> (StatusCode, serde_json::Value) {
    let request = Request::post(format!("/v1/files{query}"))
        .body(Body::from(body.to_vec()))
        .expect("request");
    call(app, request).await
}

async fn get(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get(path).body(Body::empty()).expect("request");
    call(app, request).await
}

fn eicar_md5() -> String {
    Md5::of(EICAR).to_hex()
}

#[tokio::test(start_paused = true)]
async fn an_upload_is_queued_then_judged_then_known() {
    let app = working();
    let md5 = eicar_md5();
    let (code, body) = post(&app, "?name=eicar.com", EICAR).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, serde_json::json!({"md5": md5, "status": "queued"}));
    let (code, _) = get(&app, &format!("/v1/files/{md5}")).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let (code, body) = get(&app, &format!("/v1/md5/{md5}")).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown")),
        "a look-up knows judged files only"
    );
    tokio::time::sleep(ANALYSIS + PAST).await;
    let done = serde_json::json!({"md5": md5, "status": "done", "basis": "eicar",
        "verdict": {"level": "high", "score": 70, "threat": "EICAR-Test-File"}});
    assert_eq!(
        get(&app, &format!("/v1/files/{md5}")).await,
        (StatusCode::OK, done.clone())
    );
    assert_eq!(
        get(&app, &format!("/v1/md5/{md5}")).await,
        (StatusCode::OK, done.clone())
    );
    // Known now: a second upload is a look-up, answered at once.
    assert_eq!(post(&app, "", EICAR).await, (StatusCode::OK, done));
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_at_the_verdict_or_after_its_wait() {
    let app = working();
    let md5 = Md5::of(b"clean file").to_hex();
    assert_eq!(post(&app, "", b"clean file").await.0, StatusCode::ACCEPTED);
    let t0 = Instant::now();
    let (code, _) = get(&app, &format!("/v1/files/{md5}?wait_ms=1000")).await;
    assert_eq!(code, StatusCode::ACCEPTED, "still queued after the wait");
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    let (code, body) = get(&app, &format!("/v1/files/{md5}?wait_ms=600000")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"]["level"], "clean");
    assert_eq!(body["basis"], "scan");
    assert_eq!(t0.elapsed(), ANALYSIS, "answered when the analysis ended");
}

#[tokio::test(start_paused = true)]
async fn waits_are_capped_at_max_wait() {
    let mut oracle = BTreeMap::new();
    let md5 = Md5::of(b"slow");
    let verdict = Verdict::from_level(ThreatLevel::Medium, &Thresholds::default());
    let analysis = Some(MAX_WAIT * 3);
    oracle.insert(md5, Judgement { verdict, analysis });
    let app = server(ServerConfig::default(), model(Outage::None, oracle));
    assert_eq!(post(&app, "", b"slow").await.0, StatusCode::ACCEPTED);
    let t0 = Instant::now();
    let (code, _) = get(&app, &format!("/v1/files/{}?wait_ms=3600000", md5.to_hex())).await;
    assert_eq!((code, t0.elapsed()), (StatusCode::ACCEPTED, MAX_WAIT));
    tokio::time::sleep(MAX_WAIT * 2 + PAST).await;
    let (code, body) = get(&app, &format!("/v1/files/{}", md5.to_hex())).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (&body["verdict"]["level"], &body["basis"]),
        (
            &serde_json::json!("medium"),
            &serde_json::json!("verdict-file")
        ),
        "the oracle's verdict, after the oracle's analysis time"
    );
}

#[tokio::test(start_paused = true)]
async fn an_md5_without_bytes_is_judged_unseen() {
    let app = working();
    let md5 = Md5::of(b"bytes the gateway did not keep").to_hex();
    let (code, _) = post(&app, &format!("?md5={md5}"), b"").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    tokio::time::sleep(ANALYSIS + PAST).await;
    let (code, body) = get(&app, &format!("/v1/files/{md5}")).await;
    assert_eq!(
        (code, &body["basis"]),
        (StatusCode::OK, &serde_json::json!("unseen"))
    );
}

#[tokio::test(start_paused = true)]
async fn bad_requests_get_a_named_error() {
    let app = working();
    let cases = [
        (
            post(&app, "?md5=00000000000000000000000000000000", EICAR).await,
            StatusCode::BAD_REQUEST,
            "is not the MD5 of the body",
        ),
        (
            post(&app, "?md5=xyz", EICAR).await,
            StatusCode::BAD_REQUEST,
            "not an MD5",
        ),
        (
            get(&app, "/v1/files/not-an-md5").await,
            StatusCode::BAD_REQUEST,
            "not an MD5",
        ),
        (
            get(&app, "/v1/md5/0123").await,
            StatusCode::BAD_REQUEST,
            "not an MD5",
        ),
        (
            get(&app, &format!("/v1/files/{}?wait_ms=soon", eicar_md5())).await,
            StatusCode::BAD_REQUEST,
            "query",
        ),
        (
            get(&app, "/v2/anything").await,
            StatusCode::NOT_FOUND,
            "no such route",
        ),
        (
            get(&app, "/v1/files").await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
        ),
    ];
    for ((code, body), want, text) in cases {
        assert_eq!(code, want, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(text), "{error:?} lacks {text:?}");
    }
    let (code, body) = get(&app, &format!("/v1/files/{}", eicar_md5())).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown")),
        "nothing was queued by the bad requests"
    );
}

#[tokio::test(start_paused = true)]
async fn a_file_over_the_limit_gets_413_declared_or_not() {
    let config = ServerConfig {
        max_file_bytes: 10,
        ..ServerConfig::default()
    };
    let app = server(config, model(Outage::None, BTreeMap::new()));
    assert_eq!(post(&app, "", b"0123456789").await.0, StatusCode::ACCEPTED);
    let (code, body) = post(&app, "", b"0123456789A").await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Declared too large: refused before anything is read.
    let request = Request::post("/v1/files")
        .header(header::CONTENT_LENGTH, "1000000")
        .body(Body::new(Never))
        .expect("request");
    let (code, _) = call(&app, request).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_gets_408() {
    let app = working();
    let t0 = Instant::now();
    let request = Request::post("/v1/files")
        .body(Body::new(Never))
        .expect("request");
    let (code, body) = call(&app, request).await;
    assert_eq!(code, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(t0.elapsed(), ServerConfig::default().body_timeout);
}

#[tokio::test(start_paused = true)]
async fn analyses_are_bounded_and_a_queued_file_is_not_analysed_twice() {
    let config = ServerConfig {
        max_analyses: 1,
        ..ServerConfig::default()
    };
    let app = server(config, model(Outage::None, BTreeMap::new()));
    assert_eq!(post(&app, "", b"first").await.0, StatusCode::ACCEPTED);
    let (code, body) = post(&app, "", b"first").await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued")),
        "the same file again: queued already, no second analysis"
    );
    let (code, body) = post(&app, "", b"second").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    tokio::time::sleep(ANALYSIS + PAST).await;
    assert_eq!(post(&app, "", b"second").await.0, StatusCode::ACCEPTED);
}

#[tokio::test(start_paused = true)]
async fn an_outage_refuses_every_route_with_503() {
    let app = server(
        ServerConfig::default(),
        model(Outage::Unreachable, BTreeMap::new()),
    );
    let md5 = eicar_md5();
    for (code, body) in [
        post(&app, "", EICAR).await,
        get(&app, &format!("/v1/files/{md5}")).await,
        get(&app, &format!("/v1/md5/{md5}")).await,
    ] {
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("outage")));
    }
}

/// A request body that never sends anything.
struct Never;

impl hyper::body::Body for Never {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}
