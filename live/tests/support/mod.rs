//! A real `redis-server` for the shared-cache tests: started on a free loopback port with no
//! persistence, stopped (this child only) when dropped. A missing `redis-server` fails the
//! test, naming the install command: a test that skipped itself would pass without testing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aptsim_live::redis_cache::Notify;

/// Where Debian's redis-server package puts it.
const DEBIAN: &str = "/usr/bin/redis-server";

/// `redis-server` on PATH or where Debian installs it.
fn redis_server() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .chain([PathBuf::from(DEBIAN)])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: the shared-cache tests need a real one. \
                 Install it with `sudo bash scripts/interop/install-deps.sh` \
                 (apt-get install redis-server)"
            )
        })
}

/// A free port on 127.0.0.1 (free when asked; the server start retries if taken since).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running `redis-server` this test started.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
}

impl Server {
    /// Starts one on a free port and waits until it answers `PING`.
    pub fn start() -> Server {
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = Server::start_on(port) {
                return server;
            }
        }
        panic!("redis-server would not start on a free port of 127.0.0.1 (five tries)");
    }

    /// Starts one on `port` (again, after [`Server::kill`]); `None` if it does not answer.
    pub fn start_on(port: u16) -> Option<Server> {
        let child = Command::new(redis_server())
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            // No persistence, no background saving: a test's keys die with it.
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let mut server = Server {
            child: Some(child),
            port,
        };
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if server.client().get_connection().is_ok() {
                return Some(server);
            }
            if server
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.kill();
        None
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// A plain client of database 0, to look at what the gateways wrote.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url(0)).expect("a valid URL")
    }

    /// A connection of that client.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("redis-server answers")
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The log lines a shared cache wrote, as `(kind, text)`.
#[derive(Clone, Default)]
pub struct Notes(Arc<Mutex<Vec<(String, String)>>>);

impl Notes {
    pub fn notify(&self) -> Notify {
        let lines = self.0.clone();
        Arc::new(move |kind: &str, text: &str| {
            lines
                .lock()
                .expect("no test thread panicked holding it")
                .push((kind.to_owned(), text.to_owned()));
        })
    }

    /// The lines of `kind` whose text contains `part`.
    pub fn matching(&self, kind: &str, part: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("no test thread panicked holding it")
            .iter()
            .filter(|(k, t)| k == kind && t.contains(part))
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Waits up to `within` for a line of `kind` containing `part`.
    pub fn wait_for(&self, kind: &str, part: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if !self.matching(kind, part).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}
