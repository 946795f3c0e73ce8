//! A verdict cache shared by several gateways through Redis (`--cache redis://HOST:PORT[/DB]`):
//! a file judged by one proxy is decided at once by every other, and a file under analysis
//! at one is not uploaded again by another (X1 across gateways).
//!
//! # What it is
//! [`SharedCache::attach`] replaces the gateway's two tables — core's [`VerdictCache`] and
//! [`InFlightTable`] traits — with ones on Redis ([`RedisVerdicts`], [`RedisClaims`]), and
//! gives the coordinator a handle to poll with. Core stays sans-IO: it only sees the traits.
//! The key layout is in `keys.rs`: the verdict for the policy's `cache.ttl`, the claim for
//! its `analysis_timeout`.
//!
//! # Synchronous calls, a local mirror
//! The node calls its tables synchronously (a session looks a file up while it handles the
//! end of DATA), so the choice was between a synchronous connection with short timeouts and
//! an async design where the coordinator reads Redis ahead of each submission on a task.
//! This is the first: loopback Redis answers a GET in about 23 µs (median, measured with
//! `redis-benchmark -c 1` on this project's machine; the proxy logs its own `PING` round
//! trip at start and on every reconnection), less than the MD5 of a 100 kB attachment takes,
//! so a look-up per file does not slow the event loop, while the async design would need a
//! new wait state in every session between "files found" and "files submitted" — in core,
//! for a live-only concern. Every command is bounded by `link::IO_TIMEOUT` (100 ms); a
//! failure drops the connection and no further command is sent until a background thread
//! has reconnected, so an outage costs one timeout, not one per message (`link.rs`).
//!
//! Every verdict stored or read also goes into a local mirror (`mirror.rs`), which is read
//! first: it saves a round trip for a file seen again, and it keeps every verdict this
//! gateway knows in force while Redis is unreachable — a file it knows is bad is refused
//! whatever Redis says or fails to say.
//!
//! # Learning another gateway's verdict: polling
//! A session waiting on another gateway's claim must hear of the verdict. This gateway polls
//! (`claims.rs`): every [`POLL_INTERVAL`], only while it waits on some file, one `MULTI` for
//! all of them. Rather than keyspace notifications, which need `notify-keyspace-events` set
//! on the server (managed Redis services often forbid `CONFIG SET`) and are lost while
//! disconnected, or pub/sub, which needs a second connection on a thread of its own and is
//! lost while disconnected too: a poll reads the state, so nothing published during an
//! outage is missed, and it costs nothing while no file is waited on. 250 ms is small beside
//! any analysis (seconds to minutes) and the poll is one round trip.
//!
//! # When Redis is unreachable or erroring
//! The policy decides, as with an empty cache: an unknown file is uploaded by this gateway
//! (held in hold mode), including one it was waiting on another gateway for; verdicts in the
//! mirror still apply. The outage is logged once, and again when Redis is back. Verdicts
//! judged during an outage stay in this gateway's mirror; they are not written to Redis
//! later.
//!
//! # The `redis` crate
//! `redis` 1.8 (redis-rs, the de facto Rust client; 1.x is the current stable line, MSRV
//! 1.88), with `default-features = false`: its synchronous `Connection` with read and write
//! timeouts, `MULTI` pipelines and plain `EVAL` are in the base crate, so neither the async
//! runtime integration (`aio`, `tokio-comp`), nor TLS, cluster, `script` (its EVALSHA
//! helper), `acl`, `streams`, `geospatial` nor `num-bigint` are built.

mod claims;
pub mod keys;
mod link;
mod mirror;
mod verdicts;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aptsim_core::cache::{InFlightTable, VerdictCache};
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::node::Node;
use aptsim_core::verdict::Verdict;

pub use claims::RedisClaims;
pub use link::{CONNECT_TIMEOUT, IO_TIMEOUT, Notify, RETRY};
pub use verdicts::RedisVerdicts;

use crate::log::Log;
use link::Link;
use mirror::Mirror;

/// How often a gateway that waits on another gateway's analysis reads Redis for its verdict.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Values that were not verdicts, logged once per file up to this many files.
const MAX_WARNED: usize = 1_000;

/// Where the shared cache is: a parsed `--cache` URL.
#[derive(Clone)]
pub struct RedisConfig {
    /// Shared: a client is a few hundred bytes, and flags are cloned.
    client: Arc<redis::Client>,
    name: String,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RedisConfig").field(&self.name).finish()
    }
}

impl RedisConfig {
    /// `redis://HOST[:PORT][/DB]` (port 6379 and database 0 by default; a password as
    /// `redis://:PASSWORD@HOST`). TLS (`rediss://`) and Unix sockets are not built in.
    pub fn parse(url: &str) -> Result<RedisConfig, String> {
        // The URL may hold a password: errors and log lines show the host part only.
        let shown = match url.rsplit_once('@') {
            Some((_, host)) => format!("redis://…@{host}"),
            None => url.to_owned(),
        };
        if !url.starts_with("redis://") {
            return Err(format!(
                "{shown}: expected redis://HOST[:PORT][/DB] (TLS rediss:// and Unix sockets \
                 are not supported)"
            ));
        }
        let client = redis::Client::open(url).map_err(|e| format!("{shown}: {e}"))?;
        let info = client.get_connection_info();
        let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(format!("{shown}: expected a TCP address"));
        };
        let name = format!("redis://{host}:{port}/{}", info.redis_settings().db());
        Ok(RedisConfig {
            client: Arc::new(client),
            name,
        })
    }

    /// `redis://HOST:PORT/DB`, without a password.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a poll found about a file this gateway waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// Another gateway's verdict: hand it to the node (`Node::handle_verdict`).
    Verdict {
        /// The file.
        md5: Md5,
        /// Its verdict.
        verdict: Verdict,
    },
    /// The other gateway's analysis ended without a verdict (its upload failed, or it
    /// stopped and its claim expired): the outage policy decides (`Node::handle_unreachable`).
    Ended {
        /// The file.
        md5: Md5,
    },
}

impl Learned {
    /// Hands it to the node: the verdict to every session waiting on the file, or an ended
    /// analysis as an unreachable data center.
    pub fn apply(self, node: &mut Node, now: Timestamp) {
        match self {
            Learned::Verdict { md5, verdict } => node.handle_verdict(md5, &verdict, now),
            Learned::Ended { md5 } => node.handle_unreachable(md5, now),
        }
    }
}

/// The coordinator's handle on the shared cache: when to poll, and what a poll found.
pub struct SharedCache {
    shared: Arc<Shared>,
}

impl SharedCache {
    /// Connects to Redis (or starts reconnecting, logged) and puts the shared tables into
    /// `gw`, before any session starts. Log lines go to `log`, whose `Timestamp::ZERO` is
    /// `epoch` (the coordinator's start), so that they fall in order among its own.
    pub fn attach(gw: &mut Gateway, config: RedisConfig, log: &Log, epoch: Instant) -> SharedCache {
        let log = log.clone();
        let notify: Notify = Arc::new(move |kind: &str, text: &str| {
            let now = Timestamp::from_millis(
                u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
            match kind {
                "verdict" => log.info(now, kind, text),
                _ => log.always(now, kind, text),
            }
        });
        SharedCache::attach_notifying(gw, config, notify)
    }

    /// [`SharedCache::attach`] with log lines given to `notify` as `(kind, text)`.
    pub fn attach_notifying(gw: &mut Gateway, config: RedisConfig, notify: Notify) -> SharedCache {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let shared = Arc::new(Shared {
            link: Link::open(config.client, config.name, notify.clone()),
            notify,
            ttl: gw.policy.cache.ttl,
            claim_ttl: gw.policy.analysis_timeout,
            token: format!("{}.{nanos}", std::process::id()),
            local: Mutex::new(Local {
                mirror: Mirror::new(gw.policy.cache.capacity),
                claims: claims::Claims::new(),
                next_poll: None,
                warned: BTreeSet::new(),
            }),
        });
        let cache: Box<dyn VerdictCache + Send> = Box::new(RedisVerdicts(shared.clone()));
        let in_flight: Box<dyn InFlightTable + Send> = Box::new(RedisClaims(shared.clone()));
        gw.share_tables(cache, in_flight);
        SharedCache { shared }
    }

    /// When [`SharedCache::handle_timeout`] is next due: while this gateway waits on another
    /// gateway's analysis, every [`POLL_INTERVAL`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.shared.local().next_poll
    }

    /// Polls Redis if it is due: the verdicts (and ended analyses) of the files this gateway
    /// waits on, each logged. Hand them to the node.
    pub fn handle_timeout(&self, now: Timestamp) -> Vec<Learned> {
        let learned = claims::poll(&self.shared, now);
        for l in &learned {
            let text = match l {
                Learned::Verdict { md5, verdict } => format!(
                    "md5={} level={} score={} threat={} basis=shared-cache (judged by another \
                     gateway, {})",
                    md5.to_hex(),
                    verdict.level,
                    verdict.score,
                    verdict
                        .threat
                        .as_deref()
                        .map_or("-".into(), crate::log::escape),
                    self.shared.link.name()
                ),
                Learned::Ended { md5 } => format!(
                    "md5={} another gateway's analysis ended without a verdict ({}): the \
                     outage policy decides (S7)",
                    md5.to_hex(),
                    self.shared.link.name()
                ),
            };
            (self.shared.notify)("verdict", &text);
        }
        learned
    }

    /// True while connected to Redis.
    pub fn is_up(&self) -> bool {
        self.shared.link.is_up()
    }

    /// Outages so far, each logged once.
    pub fn outages(&self) -> u64 {
        self.shared.link.outages()
    }
}

/// What the cache, the claims and the poller share.
pub(crate) struct Shared {
    link: Arc<Link>,
    notify: Notify,
    /// The policy's `cache.ttl`: a verdict's life in Redis and in the mirror.
    ttl: Duration,
    /// The policy's `analysis_timeout`: a claim's life.
    claim_ttl: Duration,
    /// This gateway's claims hold this value.
    token: String,
    local: Mutex<Local>,
}

/// This gateway's own state. Lock order: `local`, then the link's.
struct Local {
    mirror: Mirror,
    claims: claims::Claims,
    next_poll: Option<Timestamp>,
    /// Files whose stored value was not a verdict, already logged.
    warned: BTreeSet<Md5>,
}

impl Shared {
    fn local(&self) -> MutexGuard<'_, Local> {
        // Only the coordinator's thread takes it; a panic there ended the proxy anyway.
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds for `PX` (which refuses 0).
    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// How long a verdict read from Redis stays in the mirror: as long as Redis keeps it
    /// (`PTTL`), never longer than the policy's TTL; without an expiry (`-1`, a key not
    /// written by a gateway) the policy's TTL.
    fn remaining(&self, pttl: i64) -> Duration {
        match u64::try_from(pttl) {
            Ok(ms) => Duration::from_millis(ms).min(self.ttl),
            Err(_) if pttl == -1 => self.ttl,
            Err(_) => Duration::ZERO,
        }
    }

    /// Logs, once per file, a stored value that is not a verdict.
    fn bad_value(&self, local: &mut Local, md5: &Md5, e: &keys::DecodeError) {
        if local.warned.len() < MAX_WARNED && local.warned.insert(*md5) {
            let text = format!(
                "{} holds a value that is not a verdict at {}: {e}; the file counts as unknown",
                self.link.name(),
                keys::verdict_key(md5)
            );
            (self.notify)("warning", &text);
        }
    }
}
