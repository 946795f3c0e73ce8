//! The connection to Redis: synchronous, with short timeouts, and what happens when it fails.
//!
//! Every command runs on the coordinator's thread, under a read and write timeout of
//! [`IO_TIMEOUT`]. A failure of the connection itself (refused, reset, timed out, a reply
//! that does not parse) drops it: from then on every command fails at once, without I/O, so
//! the callers treat Redis as an empty cache, and a reconnecting thread tries again every
//! [`RETRY`] until a `PING` is answered. So a dead or silent Redis costs the event loop one
//! timeout per outage, never one per message. An error reply from a working server (`OOM`,
//! `READONLY`, `LOADING`, a key of the wrong type) fails that command only.
//!
//! Both are logged once per episode, not once per message: when the link goes down and when
//! it is back, when the server starts answering errors and when a command succeeds again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError};

/// Bound on each command's write and read. Loopback Redis answers in tens of µs (23 µs
/// median for GET, SET and PING on this project's 2-core machine, `redis-benchmark -c 1`;
/// the proxy logs its own measured round trip at start) and a LAN one in well under a
/// millisecond, so 100 ms is thousands of answers late: the server is gone or stalled, and
/// one message waiting that long, once per outage, is the price of noticing.
pub const IO_TIMEOUT: Duration = Duration::from_millis(100);

/// Bound on opening a connection (on the reconnecting thread, or once at start).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Time between reconnection attempts while Redis is unreachable.
pub const RETRY: Duration = Duration::from_secs(1);

/// Where the link's log lines go: `(kind, text)`.
pub type Notify = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Why a command gave no answer.
#[derive(Debug)]
pub enum Failed {
    /// Redis is unreachable (now, or since an earlier failure): no command was sent.
    Down,
    /// The server answered this command with an error (logged once per episode).
    Refused,
}

/// How the link is doing, for the once-per-episode log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    None,
    /// The connection is gone since then.
    Down(Instant),
    /// The server answers errors since then.
    Refusing(Instant),
}

struct State {
    conn: Option<Connection>,
    trouble: Trouble,
    reconnecting: bool,
    outages: u64,
}

/// One connection to one Redis database, shared by the cache, the claims and the poller.
pub struct Link {
    client: Arc<redis::Client>,
    /// `redis://HOST:PORT/DB`, never with a password: what log lines call it.
    name: String,
    notify: Notify,
    state: Mutex<State>,
}

impl Link {
    /// A link to `client`'s server, connected at once if it answers within
    /// [`CONNECT_TIMEOUT`]; otherwise down, and reconnecting.
    pub fn open(client: Arc<redis::Client>, name: String, notify: Notify) -> Arc<Link> {
        let link = Arc::new(Link {
            client,
            name,
            notify,
            state: Mutex::new(State {
                conn: None,
                trouble: Trouble::None,
                reconnecting: false,
                outages: 0,
            }),
        });
        match link.connect(CONNECT_TIMEOUT) {
            Ok((conn, rtt)) => {
                let text = format!(
                    "{} connected: verdicts and in-flight claims shared through it \
                     (PING round trip {}µs)",
                    link.name,
                    rtt.as_micros()
                );
                (link.notify)("cache", &text);
                link.lock().conn = Some(conn);
            }
            Err(e) => link.went_down(&mut link.lock(), &e),
        }
        link
    }

    /// What log lines call the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on the connection. A broken connection is dropped (and reconnected in the
    /// background); while there is none, `f` is not run.
    ///
    /// A connection the server had closed (it restarted, or dropped an idle client) gets one
    /// fresh connection, within [`IO_TIMEOUT`], and `f` runs again: the command never reached
    /// the server that listens now, so running it again cannot apply it twice. A timeout is
    /// not retried (the command may have been applied).
    pub fn run<T>(
        self: &Arc<Self>,
        mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failed> {
        let mut state = self.lock();
        let conn = state.conn.as_mut().ok_or(Failed::Down)?;
        let mut result = f(conn);
        if result
            .as_ref()
            .is_err_and(|e| e.is_connection_dropped() && !e.is_timeout())
        {
            state.conn = None;
            result = self.connect(IO_TIMEOUT).and_then(|(mut conn, _)| {
                let again = f(&mut conn);
                state.conn = Some(conn);
                again
            });
        }
        match result {
            Ok(value) => {
                if let Trouble::Refusing(since) = state.trouble {
                    state.trouble = Trouble::None;
                    let text = format!(
                        "{} answers commands again after {:.1}s of errors",
                        self.name,
                        since.elapsed().as_secs_f64()
                    );
                    (self.notify)("cache", &text);
                }
                Ok(value)
            }
            Err(e) if e.is_io_error() || e.is_unrecoverable_error() => {
                state.conn = None;
                self.went_down(&mut state, &e);
                Err(Failed::Down)
            }
            Err(e) => {
                if state.trouble == Trouble::None {
                    state.trouble = Trouble::Refusing(Instant::now());
                    let text = format!(
                        "{} answered an error ({e}): treated as a cache miss; logged once \
                         until a command succeeds",
                        self.name
                    );
                    (self.notify)("warning", &text);
                }
                Err(Failed::Refused)
            }
        }
    }

    /// True while a connection is open.
    pub fn is_up(&self) -> bool {
        self.lock().conn.is_some()
    }

    /// Outages seen so far (each logged once).
    pub fn outages(&self) -> u64 {
        self.lock().outages
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left at worst a stale connection; a command on it
        // fails and is handled like any other failure.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection (opened within `timeout`) with the command timeouts set, and its
    /// `PING` round trip.
    fn connect(&self, timeout: Duration) -> redis::RedisResult<(Connection, Duration)> {
        let mut conn = self.client.get_connection_with_timeout(timeout)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        let sent = Instant::now();
        redis::cmd("PING").query::<String>(&mut conn)?;
        Ok((conn, sent.elapsed()))
    }

    /// Logs the outage (once) and starts the reconnecting thread (once).
    fn went_down(self: &Arc<Self>, state: &mut State, e: &RedisError) {
        if !matches!(state.trouble, Trouble::Down(_)) {
            state.trouble = Trouble::Down(Instant::now());
            state.outages += 1;
            let text = format!(
                "{} unreachable ({e}): files are decided as with an empty cache (uploaded, or \
                 held for their analysis) and verdicts this gateway holds still apply, until \
                 it is back",
                self.name
            );
            (self.notify)("warning", &text);
        }
        if !state.reconnecting {
            state.reconnecting = true;
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("redis-reconnect".into())
                .spawn(move || reconnect(weak));
            if let Err(e) = spawned {
                // No thread: the link stays down, which is the empty-cache path.
                state.reconnecting = false;
                let text = format!("{}: cannot start reconnecting: {e}", self.name);
                (self.notify)("error", &text);
            }
        }
    }
}

/// Tries every [`RETRY`] until Redis answers, then hands the connection to the link; ends
/// early when the link is dropped (the proxy stopped).
fn reconnect(weak: Weak<Link>) {
    loop {
        std::thread::sleep(RETRY);
        let Some(link) = weak.upgrade() else {
            return;
        };
        // Connect without the lock: commands fail fast meanwhile.
        let Ok((conn, rtt)) = link.connect(CONNECT_TIMEOUT) else {
            continue;
        };
        let mut state = link.lock();
        let down_for = match state.trouble {
            Trouble::Down(since) => since.elapsed(),
            _ => Duration::ZERO,
        };
        state.conn = Some(conn);
        state.trouble = Trouble::None;
        state.reconnecting = false;
        let text = format!(
            "{} reachable again after {:.1}s (PING round trip {}µs): verdicts shared again",
            link.name,
            down_for.as_secs_f64(),
            rtt.as_micros()
        );
        (link.notify)("cache", &text);
        return;
    }
}
