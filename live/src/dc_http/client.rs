//! The live proxy's client of an HTTP data center (`aptsim proxy smtp --datacenter URL`).
//!
//! Each upload is a tokio task: `POST /v1/files` with the file's bytes, then, while the
//! answer is `202`, `GET /v1/files/{md5}?wait_ms=…` (a long poll: the server answers at the
//! verdict) until a verdict. Its one answer — the same [`DcAnswer`] the built-in data center
//! gives — goes to the coordinator over a channel. What is not a verdict makes the file
//! *unreachable*, and the proxy's outage policy decides (S7): a refused connection, a
//! timeout, an answer other than `200`/`202`, a body that is not a [`FileStatus`] for that
//! file; a `404` while polling (the server forgot the file: it restarted); polls failing
//! more than [`ClientConfig::failures_allowed`] times in a row (the server died mid-analysis);
//! and a file still queued after [`ClientConfig::give_up`] (a data center that never answers,
//! X3: the sessions' own `analysis_timeout` has decided by then).
//!
//! Bounded: at most [`ClientConfig::max_requests`] requests at once (the others wait their
//! turn), each with a timeout, answers read up to [`MAX_ANSWER_BYTES`]; one connection per
//! request (no pool: on a loopback or LAN a connection costs less than a stale pooled one).
//! A task holds its file's bytes only until the `POST` is sent.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;
use aptsim_peers::datacenter::{Basis, DcAnswer};
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::{ApiError, FileStatus, Status, basis_from_str};
use crate::log::{Log, escape, secs};

/// The largest answer read: a [`FileStatus`] is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// File names are sent for the server's log only; longer ones are cut.
const MAX_NAME_BYTES: usize = 256;

/// Where the data center is: `http://HOST:PORT` (no TLS, no path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST:PORT`, to connect to and for the `Host` header.
    authority: String,
}

impl Endpoint {
    /// `HOST:PORT`.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

impl FromStr for Endpoint {
    type Err = String;

    /// `http://HOST[:PORT][/]`; the port defaults to 80.
    fn from_str(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "{text:?}: https is not supported; the data center speaks plain HTTP, \
                     for a loopback or trusted network"
                ));
            }
            _ => return Err(format!("{text:?}: expected http://HOST:PORT")),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?}: no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "{text:?}: expected http://HOST:PORT, without a path"
            ));
        }
        let port = uri.port_u16().unwrap_or(80);
        Ok(Endpoint {
            authority: format!("{host}:{port}"),
        })
    }
}

/// How the client talks to the data center. Defaults on each field.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The data center.
    pub endpoint: Endpoint,
    /// A request's time to connect, send and be answered (a long poll gets its wait on top).
    /// Default 30 s, as the proxy's upstream connect timeout.
    pub timeout: Duration,
    /// How long the server may hold one poll for a verdict (`wait_ms`). Default 10 s.
    pub poll_wait: Duration,
    /// The least time between the starts of two polls of one file (for a server that
    /// answers `202` at once), and the pause after a failed poll. Default 500 ms.
    pub poll_interval: Duration,
    /// Failed polls in a row tolerated before the file is unreachable. Default 2: a server
    /// that is gone fails three polls in about a second; one restarting in that time
    /// answers `404` (it forgot the file), also unreachable.
    pub failures_allowed: u32,
    /// Stop polling a file after this long and call it unreachable. Default 1 h; the proxy
    /// sets it to its policy's `analysis_timeout`, by when X3 has decided its sessions.
    pub give_up: Duration,
    /// Requests at once, polls included; more wait their turn. Default 64.
    pub max_requests: usize,
}

impl ClientConfig {
    /// The defaults, for `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        ClientConfig {
            endpoint,
            timeout: Duration::from_secs(30),
            poll_wait: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            failures_allowed: 2,
            give_up: Duration::from_secs(3600),
            max_requests: 64,
        }
    }
}

/// The client: starts a task per upload; answers come out of [`RemoteClient::take_answers`].
#[derive(Debug)]
pub struct RemoteClient {
    ctx: Arc<Ctx>,
    answers: mpsc::UnboundedSender<DcAnswer>,
    receiver: Option<mpsc::UnboundedReceiver<DcAnswer>>,
}

#[derive(Debug)]
struct Ctx {
    config: ClientConfig,
    turns: Semaphore,
    log: Log,
}

/// Why a request got no usable answer.
type Failure = String;

impl RemoteClient {
    /// A client for `config`; failures are logged on `log` as warnings.
    pub fn new(config: ClientConfig, log: Log) -> Self {
        let (answers, receiver) = mpsc::unbounded_channel();
        RemoteClient {
            ctx: Arc::new(Ctx {
                turns: Semaphore::new(config.max_requests.max(1)),
                config,
                log,
            }),
            answers,
            receiver: Some(receiver),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ClientConfig {
        &self.ctx.config
    }

    /// Where the answers arrive, one per upload: once (the coordinator owns it).
    pub fn take_answers(&mut self) -> Option<mpsc::UnboundedReceiver<DcAnswer>> {
        self.receiver.take()
    }

    /// Submits a file and waits for its verdict on a task of the current runtime.
    pub fn upload(&self, md5: Md5, name: &str, bytes: Option<Vec<u8>>) {
        let ctx = self.ctx.clone();
        let answers = self.answers.clone();
        let name = cut(name, MAX_NAME_BYTES).to_owned();
        tokio::spawn(async move {
            let answer = ctx.submit_and_wait(md5, &name, bytes).await;
            // The coordinator is gone only when the proxy is ending.
            let _ = answers.send(answer);
        });
    }
}

impl Ctx {
    async fn submit_and_wait(&self, md5: Md5, name: &str, bytes: Option<Vec<u8>>) -> DcAnswer {
        let started = Instant::now();
        let path = format!("/v1/files?md5={}&name={}", md5.to_hex(), percent(name));
        let body = Bytes::from(bytes.unwrap_or_default());
        let posted = self
            .request(Method::POST, &path, body, self.config.timeout)
            .await;
        match posted.and_then(|(code, body)| read_status(md5, code, &body)) {
            Ok(Answer::Judged(verdict, basis)) => {
                return DcAnswer::Verdict {
                    md5,
                    verdict,
                    basis,
                    analysed: None,
                };
            }
            Ok(Answer::Queued) => {}
            Ok(Answer::Unknown) => {
                self.warn(
                    md5,
                    "POST /v1/files: 404, the file unknown right after its upload",
                );
                return DcAnswer::Unreachable { md5, refused: true };
            }
            Err(why) => {
                self.warn(md5, &format!("POST /v1/files: {why}"));
                return DcAnswer::Unreachable { md5, refused: true };
            }
        }
        let path = format!(
            "/v1/files/{}?wait_ms={}",
            md5.to_hex(),
            self.config.poll_wait.as_millis()
        );
        let mut failures = 0;
        loop {
            if started.elapsed() >= self.config.give_up {
                let text = format!("still queued after {}: given up", secs(self.config.give_up));
                self.warn(md5, &text);
                return DcAnswer::Unreachable {
                    md5,
                    refused: false,
                };
            }
            let next = Instant::now() + self.config.poll_interval;
            let timeout = self.config.timeout + self.config.poll_wait;
            let polled = self
                .request(Method::GET, &path, Bytes::new(), timeout)
                .await;
            let get = format!("GET /v1/files/{}", md5.to_hex());
            match polled.and_then(|(code, body)| read_status(md5, code, &body)) {
                Ok(Answer::Judged(verdict, basis)) => {
                    return DcAnswer::Verdict {
                        md5,
                        verdict,
                        basis,
                        analysed: Some(started.elapsed()),
                    };
                }
                Ok(Answer::Queued) => failures = 0,
                Ok(Answer::Unknown) => {
                    let why = format!(
                        "{get}: 404, the data center no longer knows the file \
                                       (restarted during its analysis?)"
                    );
                    self.warn(md5, &why);
                    return DcAnswer::Unreachable {
                        md5,
                        refused: false,
                    };
                }
                Err(why) => {
                    failures += 1;
                    if failures > self.config.failures_allowed {
                        let why = format!("{get}: {why} ({failures} failures in a row)");
                        self.warn(md5, &why);
                        return DcAnswer::Unreachable {
                            md5,
                            refused: false,
                        };
                    }
                }
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// One request on a connection of its own, within `timeout` and a turn.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let Ok(_turn) = self.turns.acquire().await else {
            return Err("the client is closed".to_owned());
        };
        let authority = self.config.endpoint.authority();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))?;
        let exchange = async {
            let stream = TcpStream::connect(authority)
                .await
                .map_err(|e| format!("connecting to {authority}: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
            let ask = async move {
                let answer = sender.send_request(request).await?;
                let code = answer.status();
                // Dropping the sender at the end lets the connection close.
                let body = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((code, body.to_bytes()))
            };
            // The connection runs beside the exchange and ends once the sender is dropped.
            let (answer, _) = tokio::join!(ask, conn);
            answer.map_err(|e| format!("no answer: {e}"))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}", secs(timeout))))
    }

    fn warn(&self, md5: Md5, why: &str) {
        let since = self.log.wall_start.elapsed().unwrap_or_default();
        let now = Timestamp::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        let text = format!(
            "data center {}: md5={} {}; the file is unreachable (S7)",
            self.config.endpoint,
            md5.to_hex(),
            escape(why)
        );
        self.log.always(now, "warning", &text);
    }
}

/// What the data center said about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// `200`: its verdict.
    Judged(Verdict, Basis),
    /// `202`: its analysis runs.
    Queued,
    /// `404` with a file status: never submitted, or forgotten.
    Unknown,
}

/// Reads an answer about `md5`; anything but a [`FileStatus`] about it that agrees with its
/// status code is a failure, named.
fn read_status(md5: Md5, code: StatusCode, body: &[u8]) -> Result<Answer, Failure> {
    let Ok(status) = serde_json::from_slice::<FileStatus>(body) else {
        let said = serde_json::from_slice::<ApiError>(body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(cut_bytes(body, 200)).into_owned());
        return Err(format!("{} {said}", code.as_u16()));
    };
    if status.md5 != md5 {
        return Err(format!("an answer about another file ({})", status.md5));
    }
    match (code, status.status, status.verdict) {
        (StatusCode::OK, Status::Done, Some(v)) if v.score <= 100 => {
            Ok(Answer::Judged(v, basis_from_str(status.basis.as_deref())))
        }
        (StatusCode::ACCEPTED, Status::Queued, _) => Ok(Answer::Queued),
        (StatusCode::NOT_FOUND, Status::Unknown, _) => Ok(Answer::Unknown),
        (code, s, v) => Err(format!(
            "{} with status {s:?} and verdict {v:?}: not a verdict",
            code.as_u16()
        )),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, byte by byte.
fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn cut_bytes(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
