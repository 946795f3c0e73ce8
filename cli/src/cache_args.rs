//! `aptsim proxy smtp --cache`: where the live proxy keeps its verdicts and in-flight claims.
//! In memory by default; `redis://…` shares them with every proxy that names the same Redis
//! database (`aptsim_live::redis_cache`, docs/live.md "A cache shared by several gateways").

use aptsim_live::redis_cache::RedisConfig;

/// The cache flags of `aptsim proxy smtp`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheArgs {
    /// Keep verdicts and in-flight claims in Redis, shared with every proxy that names the
    /// same server and database: a file judged by one proxy is decided at once by the
    /// others, and a file under analysis at one is not uploaded by another (X1). Verdicts
    /// live for the policy's cache.ttl, claims for its analysis_timeout. Redis unreachable:
    /// files are decided as with an empty cache, and verdicts this proxy holds still apply
    /// [default: in memory, this proxy only].
    #[arg(long = "cache", value_name = "redis://HOST[:PORT][/DB]", value_parser = RedisConfig::parse)]
    pub redis: Option<RedisConfig>,
}
