//! The gateway's verdict cache on Redis ([`VerdictCache`]): the local mirror first, then
//! Redis; every verdict stored goes to both (write-through).

use std::sync::Arc;

use aptsim_core::cache::VerdictCache;
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;

use super::{Shared, keys};

/// The cache [`super::SharedCache::attach`] puts into the gateway.
pub struct RedisVerdicts(pub(super) Arc<Shared>);

impl VerdictCache for RedisVerdicts {
    /// The mirror's verdict if it has one (a known verdict is used even while Redis is
    /// unreachable); else Redis's, which the mirror then keeps for as long as Redis does.
    /// Unreachable, an error, or a value that is not a verdict: none (the policy's path for
    /// an unknown file).
    fn get(&self, md5: &Md5, now: Timestamp) -> Option<Verdict> {
        let shared = &self.0;
        let mut local = shared.local();
        if let Some(v) = local.mirror.get(md5, now) {
            return Some(v.clone());
        }
        let key = keys::verdict_key(md5);
        let read = shared.link.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(&key)
                .cmd("PTTL")
                .arg(&key)
                .query::<(Option<Vec<u8>>, i64)>(c)
        });
        let Ok((Some(value), pttl)) = read else {
            return None;
        };
        match keys::decode(&value) {
            Ok(verdict) => {
                let expires = now + shared.remaining(pttl);
                local.mirror.insert(*md5, verdict.clone(), expires, now);
                Some(verdict)
            }
            Err(e) => {
                shared.bad_value(&mut local, md5, &e);
                None
            }
        }
    }

    /// Into the mirror and Redis, for the policy's cache TTL. A verdict the mirror already
    /// holds unchanged (one just read from Redis) is not written again, so that reading a
    /// verdict never extends its life.
    fn insert(&mut self, md5: Md5, verdict: Verdict, now: Timestamp) {
        let shared = &self.0;
        let mut local = shared.local();
        if local.mirror.get(&md5, now) == Some(&verdict) {
            return;
        }
        local
            .mirror
            .insert(md5, verdict.clone(), now + shared.ttl, now);
        let value = keys::encode(&verdict);
        let ttl_ms = Shared::millis(shared.ttl);
        // Unreachable or refused: the verdict stays in the mirror only (logged by the link).
        let _ = shared.link.run(|c| {
            redis::cmd("SET")
                .arg(keys::verdict_key(&md5))
                .arg(&value)
                .arg("PX")
                .arg(ttl_ms)
                .query::<()>(c)
        });
    }

    /// Forgets this gateway's mirror only: one gateway's fault must not erase what a fleet
    /// has judged.
    fn flush(&mut self) {
        self.0.local().mirror.clear();
    }
}
