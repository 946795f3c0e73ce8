//! The client against real sockets on 127.0.0.1: a real server in a runtime of its own (shut
//! down at once to play a process killed with `-9`, then started again on the same port), a
//! port nobody listens on, a listener that never answers; and its reading of answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::datacenter::{AnalysisTime, Basis, DataCenter, DcConfig, EICAR};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

use super::*;
use crate::dc_http::server::{self, ServerConfig, Shared};

fn quiet() -> Log {
    Log {
        quiet: true,
        verbose: false,
        wall_start: SystemTime::now(),
    }
}

/// An `aptsim datacenter serve` in a runtime of its own.
struct RealServer {
    addr: SocketAddr,
    runtime: Runtime,
}

impl RealServer {
    /// Serves on `addr` (port 0: any), retrying for a while when the port is still taken by
    /// a server just shut down.
    fn start(addr: SocketAddr, analysis: Duration) -> Self {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let std_listener = loop {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("binding {addr}: {e}"),
            }
        };
        std_listener.set_nonblocking(true).expect("non-blocking");
        let addr = std_listener.local_addr().expect("address");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let config = DcConfig {
            workers: usize::MAX,
            analysis: AnalysisTime::Fixed(analysis),
            oracle: BTreeMap::new(),
            ..DcConfig::default()
        };
        let dc = DataCenter::new(config, ChaCha8Rng::seed_from_u64(0));
        let shared: Arc<Shared> = Shared::new(dc, ServerConfig::default(), quiet());
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(std_listener).expect("a tokio listener")
        };
        runtime.spawn(server::serve(listener, shared));
        RealServer { addr, runtime }
    }

    /// Ends it as `kill -9` would: every task dropped, every socket closed, nothing answered.
    fn kill(self) -> SocketAddr {
        self.runtime.shutdown_background();
        self.addr
    }
}

fn config(addr: SocketAddr) -> ClientConfig {
    let endpoint = format!("http://{addr}").parse().expect("an endpoint");
    ClientConfig {
        timeout: Duration::from_secs(2),
        poll_wait: Duration::from_secs(1),
        poll_interval: Duration::from_millis(50),
        ..ClientConfig::new(endpoint)
    }
}

async fn next(answers: &mut mpsc::UnboundedReceiver<DcAnswer>) -> DcAnswer {
    tokio::time::timeout(Duration::from_secs(10), answers.recv())
        .await
        .expect("an answer within 10 s")
        .expect("the channel is open")
}

fn client(config: ClientConfig) -> (RemoteClient, mpsc::UnboundedReceiver<DcAnswer>) {
    let mut c = RemoteClient::new(config, quiet());
    let answers = c.take_answers().expect("the receiver, once");
    assert!(c.take_answers().is_none());
    (c, answers)
}

#[tokio::test]
async fn a_verdict_comes_after_the_analysis_then_at_once() {
    let server = RealServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_millis(300),
    );
    let (c, mut answers) = client(config(server.addr));
    let md5 = Md5::of(EICAR);
    c.upload(md5, "eicar.com", Some(EICAR.to_vec()));
    let DcAnswer::Verdict {
        md5: got,
        verdict,
        basis,
        analysed,
    } = next(&mut answers).await
    else {
        panic!("not a verdict");
    };
    assert_eq!(
        (got, verdict.level, basis),
        (md5, ThreatLevel::High, Basis::Eicar)
    );
    assert!(
        analysed.is_some_and(|d| d >= Duration::from_millis(300)),
        "{analysed:?}"
    );
    c.upload(md5, "again.com", None);
    assert!(
        matches!(
            next(&mut answers).await,
            DcAnswer::Verdict { analysed: None, .. }
        ),
        "known: answered at once"
    );
    server.kill();
}

#[tokio::test]
async fn nobody_listening_is_unreachable_at_once() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (c, mut answers) = client(config(addr));
    let t0 = Instant::now();
    c.upload(Md5::of(b"f"), "f", Some(b"f".to_vec()));
    assert_eq!(
        next(&mut answers).await,
        DcAnswer::Unreachable {
            md5: Md5::of(b"f"),
            refused: true
        }
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Connections complete in the kernel's backlog; nothing ever reads them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let (c, mut answers) = client(ClientConfig {
        timeout: Duration::from_millis(300),
        ..config(addr)
    });
    let t0 = Instant::now();
    c.upload(Md5::of(b"f"), "f", Some(b"f".to_vec()));
    assert!(matches!(
        next(&mut answers).await,
        DcAnswer::Unreachable { refused: true, .. }
    ));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    drop(silent);
}

#[tokio::test]
async fn a_server_killed_mid_analysis_makes_the_file_unreachable() {
    let server = RealServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(60),
    );
    let (c, mut answers) = client(config(server.addr));
    c.upload(Md5::of(b"f"), "f", Some(b"f".to_vec()));
    // Submitted and polling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(answers.is_empty(), "no answer while the analysis runs");
    let t0 = Instant::now();
    server.kill();
    assert_eq!(
        next(&mut answers).await,
        DcAnswer::Unreachable {
            md5: Md5::of(b"f"),
            refused: false
        }
    );
    // Three failed polls, 50 ms apart: well within the 60 s analysis.
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_restarted_server_forgot_the_file_then_analyses_anew() {
    let server = RealServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(60),
    );
    let (c, mut answers) = client(ClientConfig {
        // Polls fail while it is down; the restarted server's 404 must decide.
        failures_allowed: 1_000,
        ..config(server.addr)
    });
    c.upload(Md5::of(b"f"), "f", Some(b"f".to_vec()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = server.kill();
    let server = RealServer::start(addr, Duration::from_millis(100));
    assert_eq!(
        next(&mut answers).await,
        DcAnswer::Unreachable {
            md5: Md5::of(b"f"),
            refused: false
        },
        "the restarted server answers 404 for the file"
    );
    c.upload(Md5::of(b"g"), "g", Some(b"g".to_vec()));
    assert!(matches!(
        next(&mut answers).await,
        DcAnswer::Verdict {
            basis: Basis::Clean,
            analysed: Some(_),
            ..
        }
    ));
    server.kill();
}

#[tokio::test]
async fn a_file_queued_past_give_up_is_unreachable() {
    let server = RealServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(60),
    );
    let (c, mut answers) = client(ClientConfig {
        give_up: Duration::from_millis(400),
        poll_wait: Duration::from_millis(100),
        ..config(server.addr)
    });
    let t0 = Instant::now();
    c.upload(Md5::of(b"f"), "f", Some(b"f".to_vec()));
    assert!(matches!(
        next(&mut answers).await,
        DcAnswer::Unreachable { refused: false, .. }
    ));
    assert!(t0.elapsed() >= Duration::from_millis(400));
    server.kill();
}

#[tokio::test]
async fn requests_take_turns_and_every_file_is_answered() {
    let server = RealServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_millis(100),
    );
    let (c, mut answers) = client(ClientConfig {
        max_requests: 1,
        ..config(server.addr)
    });
    let files: Vec<Vec<u8>> = (0..4).map(|i| format!("file {i}").into_bytes()).collect();
    for f in &files {
        c.upload(Md5::of(f), "f", Some(f.clone()));
    }
    let mut judged = Vec::new();
    for _ in &files {
        match next(&mut answers).await {
            DcAnswer::Verdict { md5, .. } => judged.push(md5),
            other => panic!("{other:?}"),
        }
    }
    judged.sort();
    let mut want: Vec<Md5> = files.iter().map(|f| Md5::of(f)).collect();
    want.sort();
    assert_eq!(judged, want);
    server.kill();
}

#[test]
fn answers_that_are_not_verdicts_are_failures() {
    let md5 = Md5::of(b"f");
    let hex = md5.to_hex();
    let ok = |code: u16, body: String| {
        read_status(
            md5,
            StatusCode::from_u16(code).expect("code"),
            body.as_bytes(),
        )
    };
    let done = format!(
        r#"{{"md5":"{hex}","status":"done","verdict":{{"score":70,"level":"high"}},"basis":"eicar"}}"#
    );
    assert!(matches!(
        ok(200, done.clone()),
        Ok(Answer::Judged(_, Basis::Eicar))
    ));
    let no_basis =
        format!(r#"{{"md5":"{hex}","status":"done","verdict":{{"score":0,"level":"clean"}}}}"#);
    assert!(matches!(
        ok(200, no_basis),
        Ok(Answer::Judged(_, Basis::Clean))
    ));
    assert_eq!(
        ok(202, format!(r#"{{"md5":"{hex}","status":"queued"}}"#)),
        Ok(Answer::Queued)
    );
    assert_eq!(
        ok(404, format!(r#"{{"md5":"{hex}","status":"unknown"}}"#)),
        Ok(Answer::Unknown)
    );
    let failures = [
        (
            503,
            r#"{"error":"data center in an outage"}"#.to_owned(),
            "503 data center in an outage",
        ),
        (
            404,
            r#"{"error":"no such route"}"#.to_owned(),
            "404 no such route",
        ),
        (500, "<html>oops</html>".to_owned(), "500 <html>oops</html>"),
        (200, "not json".to_owned(), "200 not json"),
        (
            200,
            done.replace(&hex, &Md5::of(b"g").to_hex()),
            "another file",
        ),
        (200, done.replace("70", "101"), "not a verdict"),
        (
            200,
            format!(r#"{{"md5":"{hex}","status":"queued"}}"#),
            "not a verdict",
        ),
        (202, done.clone(), "not a verdict"),
        (201, done, "not a verdict"),
    ];
    for (code, body, want) in failures {
        match ok(code, body.clone()) {
            Err(why) => assert!(why.contains(want), "{code} {body}: {why:?} lacks {want:?}"),
            Ok(a) => panic!("{code} {body}: read as {a:?}"),
        }
    }
}

#[test]
fn endpoints_are_plain_http_urls() {
    let parse = |t: &str| t.parse::<Endpoint>();
    assert_eq!(
        parse("http://127.0.0.1:8480").map(|e| e.to_string()),
        Ok("http://127.0.0.1:8480".into())
    );
    assert_eq!(
        parse("http://localhost/").map(|e| e.authority().to_owned()),
        Ok("localhost:80".into())
    );
    assert_eq!(
        parse("http://[::1]:9").map(|e| e.authority().to_owned()),
        Ok("[::1]:9".into())
    );
    for (bad, why) in [
        ("https://dc.example:443", "https is not supported"),
        ("127.0.0.1:8480", "expected http://"),
        ("http://127.0.0.1:8480/api", "without a path"),
        ("http://127.0.0.1:8480/?x=1", "without a path"),
        ("ftp://h:1", "expected http://"),
        ("not a url", "not a URL"),
    ] {
        match parse(bad) {
            Err(e) => assert!(e.contains(why), "{bad}: {e:?} lacks {why:?}"),
            Ok(e) => panic!("{bad} parsed as {e}"),
        }
    }
}

#[test]
fn names_are_percent_encoded_and_cut_at_a_character() {
    assert_eq!(percent("a b&c=d/é.txt"), "a%20b%26c%3Dd%2F%C3%A9.txt");
    assert_eq!(cut("aé", 2), "a", "é is two bytes: cut before it");
    assert_eq!(cut("abc", 10), "abc");
}
