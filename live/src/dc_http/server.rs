//! The HTTP data center (`aptsim datacenter serve`): the simulator's data-center model
//! behind the routes of [`super`], on wall time.
//!
//! One [`DataCenter`] behind a mutex, held only for a look-up or an upload (never across an
//! `await`). Its clock is the time since the server started, as the proxy's built-in one is
//! since the proxy started. One task ([`drive`]) sleeps until the model's next analysis ends
//! (`poll_timeout`), calls `handle_timeout`, and wakes the long polls waiting on a verdict;
//! an upload that starts an analysis wakes it to re-arm. The model answers nobody directly
//! (its reply token is `()`): answers go into its own MD5 memory (bounded by `remember`),
//! where `GET` finds them; the server keeps only the set of files whose analysis runs.
//!
//! Memory is bounded three ways: bodies are read only under one of `max_uploads` permits and
//! only up to `max_file_bytes` (a `Content-Length` beyond is refused before reading), the
//! model keeps verdicts and never bytes, and at most `max_analyses` files are queued.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_peers::datacenter::{DataCenter, DcAnswer, DcEvent, Outage};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use super::listen::{self, ConnLimits};
use super::{ApiError, FileStatus, MAX_WAIT, Status};
use crate::log::{Log, escape, secs};

/// The farthest the model's task sleeps at once (an `Instant` must hold it).
const FAR: Duration = Duration::from_secs(30 * 86_400);

/// The server's limits. Defaults on each field.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Largest file accepted; beyond it `413`. Default 32 MiB, the proxy's largest message.
    pub max_file_bytes: usize,
    /// Uploads whose bodies are read at once; more wait for a turn. Default 16: with
    /// `max_file_bytes`, 512 MiB of bodies at most, the proxy's `--max-held-bytes`.
    pub max_uploads: usize,
    /// Files being analysed at once; one more gets `429`. Default 10,000.
    pub max_analyses: usize,
    /// Connections served at once; more wait to be accepted. Default 256.
    pub max_connections: usize,
    /// A request body must arrive within this, else `408`. Default 60 s.
    pub body_timeout: Duration,
    /// A request head must arrive within this, else the connection closes (idle keep-alive
    /// connections too). Default 30 s, hyper's.
    pub header_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_file_bytes: 32 << 20,
            max_uploads: 16,
            max_analyses: 10_000,
            max_connections: 256,
            body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// The model and the files it is analysing.
struct Model {
    dc: DataCenter<()>,
    /// Files whose analysis has not ended.
    queued: BTreeMap<Md5, Timestamp>,
}

impl Model {
    fn status(&self, md5: Md5) -> FileStatus {
        if let Some((verdict, basis)) = self.dc.lookup(&md5) {
            FileStatus::done(md5, verdict.clone(), basis)
        } else if self.queued.contains_key(&md5) {
            FileStatus::without_verdict(md5, Status::Queued)
        } else {
            FileStatus::without_verdict(md5, Status::Unknown)
        }
    }

    /// Takes in the model's events: ended analyses leave the queue (their verdicts stay in
    /// the model's memory). True when a verdict arrived, so long polls should look again.
    fn drain(&mut self, log: &Log, now: Timestamp) -> bool {
        let mut judged = false;
        while let Some(event) = self.dc.poll_event() {
            match event {
                DcEvent::Started { .. } => {}
                DcEvent::Answer {
                    answer:
                        DcAnswer::Verdict {
                            md5,
                            verdict,
                            basis,
                            analysed,
                        },
                    ..
                } => {
                    self.queued.remove(&md5);
                    judged = true;
                    let text = format!(
                        "md5={} level={} score={} threat={} basis={} analysed={}",
                        md5.to_hex(),
                        verdict.level,
                        verdict.score,
                        verdict.threat.as_deref().map_or("-".to_owned(), escape),
                        basis.as_str(),
                        analysed.map_or("-".to_owned(), secs),
                    );
                    log.info(now, "verdict", &text);
                }
                DcEvent::Answer {
                    answer: DcAnswer::Unreachable { md5, .. },
                    ..
                } => {
                    // An outage swallowed the analysis: the file is unknown from now on.
                    self.queued.remove(&md5);
                    judged = true;
                }
            }
        }
        judged
    }
}

/// What the routes and the model's task share.
pub struct Shared {
    model: Mutex<Model>,
    /// The model's time zero.
    start: Instant,
    /// `--dc-outage`: every route answers `503`, as a data center that cannot be reached.
    refusing: bool,
    /// Tells [`drive`] that an analysis started (its next deadline may be earlier).
    wake: Notify,
    /// Counts verdicts; long polls wait for it to change.
    verdicts: watch::Sender<u64>,
    uploads: Semaphore,
    config: ServerConfig,
    log: Log,
}

impl Shared {
    /// The server's state around `dc`; the model's clock starts now, and so does the log's.
    pub fn new(dc: DataCenter<()>, config: ServerConfig, log: Log) -> Arc<Self> {
        let refusing = dc.config().outage == Outage::Unreachable;
        Arc::new(Shared {
            model: Mutex::new(Model {
                dc,
                queued: BTreeMap::new(),
            }),
            start: Instant::now(),
            refusing,
            wake: Notify::new(),
            verdicts: watch::Sender::new(0),
            uploads: Semaphore::new(config.max_uploads.max(1)),
            config,
            log: Log {
                wall_start: SystemTime::now(),
                ..log
            },
        })
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        // A panic while the lock was held left the model as consistent as any single call
        // of it leaves it: go on with it rather than fail every request from then on.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the HTTP data center on `listener` until the process ends.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let limits = ConnLimits {
        max_connections: shared.config.max_connections,
        header_timeout: shared.config.header_timeout,
    };
    let log = shared.log.clone();
    tokio::spawn(drive(shared.clone()));
    listen::serve(listener, router(shared), limits, log).await;
}

/// The routes of [`super`], on `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/files", post(upload))
        .route("/v1/files/{md5}", get(file_status))
        .route("/v1/md5/{md5}", get(lookup))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such route: POST /v1/files, GET /v1/files/{md5}, GET /v1/md5/{md5}",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .with_state(shared)
}

/// Ends the model's analyses as they fall due, and wakes the long polls.
pub async fn drive(s: Arc<Shared>) {
    loop {
        let next = s.model().dc.poll_timeout();
        // Created before it is awaited, and `notify_one` keeps a wake-up for it: an upload
        // between the look at the deadline and the wait is not missed.
        let woken = s.wake.notified();
        match next {
            Some(t) => {
                let far = s.start.elapsed().saturating_add(FAR);
                let at = s.start + Duration::from_millis(t.as_millis()).min(far);
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = woken => {}
                }
            }
            None => woken.await,
        }
        let now = s.now();
        let mut model = s.model();
        model.dc.handle_timeout(now);
        if model.drain(&s.log, now) {
            s.verdicts.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// The query of `POST /v1/files`.
#[derive(Debug, serde::Deserialize)]
struct UploadQuery {
    md5: Option<String>,
    name: Option<String>,
}

/// The query of `GET /v1/files/{md5}`.
#[derive(Debug, serde::Deserialize)]
struct WaitQuery {
    wait_ms: Option<u64>,
}

async fn upload(
    State(s): State<Arc<Shared>>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if s.refusing {
        return outage();
    }
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e}")),
    };
    let claimed = match q.md5.as_deref().map(str::parse::<Md5>).transpose() {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("md5: {e}")),
    };
    let max = s.config.max_file_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    // Bodies in memory at once are bounded by the permits; the semaphore is never closed.
    let Ok(_turn) = s.uploads.acquire().await else {
        return outage();
    };
    let read = Limited::new(body, max).collect();
    let bytes = match tokio::time::timeout(s.config.body_timeout, read).await {
        Err(_) => {
            let text = format!(
                "the body did not arrive within {}",
                secs(s.config.body_timeout)
            );
            return error(StatusCode::REQUEST_TIMEOUT, &text);
        }
        Ok(Err(e)) if e.is::<LengthLimitError>() => return too_large(max),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let actual = Md5::of(&bytes);
    let (md5, with_bytes) = match claimed {
        None => (actual, true),
        Some(m) if m == actual => (m, true),
        // The MD5 alone: the gateway had no bytes to send.
        Some(m) if bytes.is_empty() => (m, false),
        Some(m) => {
            let text = format!("md5 {m} is not the MD5 of the body ({actual})");
            return error(StatusCode::BAD_REQUEST, &text);
        }
    };
    let name = escape(q.name.as_deref().unwrap_or(""));
    let now = s.now();
    let mut model = s.model();
    let before = model.status(md5);
    if before.status != Status::Unknown {
        drop(model);
        let what = match before.status {
            Status::Done => "known, answered at once",
            _ => "already queued",
        };
        let text = format!("md5={} name=\"{name}\" {what}", md5.to_hex());
        s.log.info(now, "upload", &text);
        return answer(before);
    }
    if model.queued.len() >= s.config.max_analyses {
        drop(model);
        let text = format!(
            "{} analyses queued, the most this server takes (--max-analyses); try later",
            s.config.max_analyses
        );
        return error(StatusCode::TOO_MANY_REQUESTS, &text);
    }
    model
        .dc
        .upload(md5, with_bytes.then_some(&bytes[..]), (), now);
    model.queued.insert(md5, now);
    model.drain(&s.log, now);
    let after = model.status(md5);
    drop(model);
    s.wake.notify_one();
    let what = if with_bytes {
        format!("{} bytes", bytes.len())
    } else {
        "no bytes (md5 only)".to_owned()
    };
    let text = format!("md5={} name=\"{name}\" {what} queued", md5.to_hex());
    s.log.info(now, "upload", &text);
    match after.status {
        // The model refused it (an outage of its own).
        Status::Unknown => outage(),
        _ => answer(after),
    }
}

async fn file_status(
    State(s): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> Response {
    if s.refusing {
        return outage();
    }
    let md5 = match parse_path(path) {
        Ok(md5) => md5,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let wait = match query {
        Ok(Query(q)) => Duration::from_millis(q.wait_ms.unwrap_or(0)).min(MAX_WAIT),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e}")),
    };
    let deadline = Instant::now() + wait;
    // Subscribed before the look, so a verdict between the look and the wait is not missed.
    let mut verdicts = s.verdicts.subscribe();
    loop {
        let status = s.model().status(md5);
        if status.status != Status::Queued || Instant::now() >= deadline {
            return answer(status);
        }
        match tokio::time::timeout_at(deadline, verdicts.changed()).await {
            // A verdict (maybe another file's), or the wait is over: look again.
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(_)) => return answer(status),
        }
    }
}

async fn lookup(
    State(s): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    if s.refusing {
        return outage();
    }
    let md5 = match parse_path(path) {
        Ok(md5) => md5,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let mut status = s.model().status(md5);
    if status.status == Status::Queued {
        // A look-up knows judged files only.
        status.status = Status::Unknown;
    }
    answer(status)
}

/// The MD5 in the path, or why not (a `400`).
fn parse_path(path: Result<Path<String>, PathRejection>) -> Result<Md5, String> {
    let Path(text) = path.map_err(|e| format!("path: {e}"))?;
    text.parse().map_err(|e| format!("md5: {e}"))
}

/// `200` done, `202` queued, `404` unknown.
fn answer(status: FileStatus) -> Response {
    let code = match status.status {
        Status::Done => StatusCode::OK,
        Status::Queued => StatusCode::ACCEPTED,
        Status::Unknown => StatusCode::NOT_FOUND,
    };
    json(code, &status)
}

fn outage() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "data center in an outage (--dc-outage): nothing is analysed or looked up",
    )
}

fn too_large(max: usize) -> Response {
    let text = format!("the file is over {max} bytes, the most this server takes");
    error(StatusCode::PAYLOAD_TOO_LARGE, &text)
}

fn error(code: StatusCode, text: &str) -> Response {
    json(
        code,
        &ApiError {
            error: text.to_owned(),
        },
    )
}

fn json<T: serde::Serialize>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        // Plain structs of strings and numbers: serialising them does not fail.
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
