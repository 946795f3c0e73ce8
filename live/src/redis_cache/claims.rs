//! X1 across gateways: the in-flight table on Redis ([`InFlightTable`]), and the poll that
//! tells this gateway when a file another gateway is analysing has its verdict.
//!
//! A claim is `SET aptsim:v1:{MD5}:claim TOKEN NX PX analysis_timeout`: the gateway that sets
//! it uploads, every other one waits (X1), and the expiry frees a claim whose gateway died.
//! This gateway remembers its own claims and the ones it waits on, with when it first saw
//! them; a second message here with a file it claimed waits without a round trip. When its
//! verdict comes the gateway stores it (the cache's write-through) and then deletes its claim
//! if the claim is still its own (a compare-and-delete script), in that order, so that a
//! gateway that finds the claim gone finds the verdict.
//!
//! The waiting gateway learns the verdict by polling: every [`super::POLL_INTERVAL`], while
//! it waits on any file, one `MULTI` reads each such file's verdict, its remaining life and
//! whether the claim is still there. A verdict goes to every session waiting on the file; a
//! claim gone without a verdict (the other gateway's upload failed, or it died and the claim
//! expired) goes to them as an unreachable data center, so the outage policy decides, as it
//! did at the other gateway.
//!
//! With Redis unreachable a claim is this gateway's alone (the empty-cache path: it uploads),
//! including a file it was waiting on: its own upload then answers those sessions too.

use std::collections::BTreeMap;
use std::sync::Arc;

use aptsim_core::cache::{Claim, InFlightTable};
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;

use super::{Learned, POLL_INTERVAL, Shared, keys};

/// Deletes the claim in `KEYS[1]` only if it still holds this gateway's token `ARGV[1]`: a
/// claim that expired and was taken by another gateway is theirs.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

/// A file under analysis, as this gateway knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalClaim {
    /// When this gateway claimed it, or first saw another gateway's claim.
    pub since: Timestamp,
    /// True when this gateway uploads it; false when it waits on another's analysis.
    pub own: bool,
}

/// Local claims by MD5.
pub(super) type Claims = BTreeMap<Md5, LocalClaim>;

/// The in-flight table [`super::SharedCache::attach`] puts into the gateway.
pub struct RedisClaims(pub(super) Arc<Shared>);

impl InFlightTable for RedisClaims {
    fn claim(&mut self, md5: Md5, now: Timestamp) -> Claim {
        let shared = &self.0;
        let mut local = shared.local();
        if let Some(c) = local.claims.get(&md5).filter(|c| c.own) {
            return Claim::AlreadyInFlight(c.since);
        }
        let ttl_ms = Shared::millis(shared.claim_ttl);
        let set = shared.link.run(|c| {
            redis::cmd("SET")
                .arg(keys::claim_key(&md5))
                .arg(&shared.token)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query::<Option<String>>(c)
        });
        match set {
            Ok(None) => {
                let since = local.claims.get(&md5).map_or(now, |c| c.since);
                local.claims.insert(md5, LocalClaim { since, own: false });
                local.next_poll.get_or_insert(now + POLL_INTERVAL);
                Claim::AlreadyInFlight(since)
            }
            // Claimed, or Redis unreachable or refusing: this gateway uploads.
            Ok(Some(_)) | Err(_) => {
                local.claims.insert(
                    md5,
                    LocalClaim {
                        since: now,
                        own: true,
                    },
                );
                Claim::Upload
            }
        }
    }

    fn finish(&mut self, md5: &Md5) -> Option<Timestamp> {
        let shared = &self.0;
        let ended = shared.local().claims.remove(md5)?;
        if ended.own {
            // Unreachable: the claim expires by itself.
            let _ = shared.link.run(|c| {
                redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(keys::claim_key(md5))
                    .arg(&shared.token)
                    .query::<i64>(c)
            });
        }
        Some(ended.since)
    }

    fn started(&self, md5: &Md5) -> Option<Timestamp> {
        self.0.local().claims.get(md5).map(|c| c.since)
    }

    fn len(&self) -> usize {
        self.0.local().claims.len()
    }
}

/// One poll, when it is due: what became of the files this gateway waits on.
pub(super) fn poll(shared: &Shared, now: Timestamp) -> Vec<Learned> {
    let mut local = shared.local();
    if local.next_poll.is_none_or(|at| now < at) {
        return Vec::new();
    }
    let waited: Vec<Md5> = local
        .claims
        .iter()
        .filter(|(_, c)| !c.own)
        .map(|(md5, _)| *md5)
        .collect();
    if waited.is_empty() {
        local.next_poll = None;
        return Vec::new();
    }
    local.next_poll = Some(now + POLL_INTERVAL);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for md5 in &waited {
        let key = keys::verdict_key(md5);
        pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        pipe.cmd("EXISTS").arg(keys::claim_key(md5));
    }
    // Unreachable: try again at the next poll (the link reconnects meanwhile).
    let Ok(replies) = shared.link.run(|c| pipe.query::<Vec<redis::Value>>(c)) else {
        return Vec::new();
    };
    let mut learned = Vec::new();
    for (md5, reply) in waited.iter().zip(replies.chunks(3)) {
        let [value, pttl, claimed] = reply else {
            continue;
        };
        let parsed = (
            redis::from_redis_value_ref::<Option<Vec<u8>>>(value),
            redis::from_redis_value_ref::<i64>(pttl),
            redis::from_redis_value_ref::<bool>(claimed),
        );
        let (Ok(value), Ok(pttl), Ok(claimed)) = parsed else {
            continue;
        };
        let verdict: Option<Verdict> = value.and_then(|v| match keys::decode(&v) {
            Ok(verdict) => Some(verdict),
            Err(e) => {
                shared.bad_value(&mut local, md5, &e);
                None
            }
        });
        match verdict {
            Some(verdict) => {
                let expires = now + shared.remaining(pttl);
                local.mirror.insert(*md5, verdict.clone(), expires, now);
                learned.push(Learned::Verdict { md5: *md5, verdict });
            }
            None if !claimed => learned.push(Learned::Ended { md5: *md5 }),
            None => {}
        }
    }
    learned
}
