//! The live SMTP proxy's settings: the defaults, then the `--config` file, then the flags,
//! each later one winning. Read at startup and again on `SIGHUP`, so a reload sees exactly
//! what a restart with the same command line would.
//!
//! ```toml
//! listen = ["127.0.0.1:2525", "[::1]:2525"]
//! upstream = ["127.0.0.1:2526", "127.0.0.1:2527"]   # tried in order
//! upstream_connect_timeout = "30s"
//! hold = true
//! grace = "30s"
//!
//! [policy]                  # the keys of a policy file (docs/policy.md); or policy_file = "…"
//! tempfail_deadline = "9m"
//!
//! [limits]                  # the session limits (ProxyConfig, docs/live.md)
//! idle_timeout = "10m"
//! max_recipients = 100
//!
//! [datacenter]
//! analysis_time = "5s"
//! verdicts = "verdicts.json"
//!
//! [log]
//! verbose = true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aptsim_core::duration;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_peers::datacenter::{AnalysisTime, DcConfig, Outage};

use crate::cache_args::CacheArgs;
use crate::ops_args::OpsArgs;
use crate::proxy_command::SmtpArgs;
use crate::remote_datacenter::{RemoteDcArgs, parse_endpoint};
use crate::verdicts::read_verdicts;
use aptsim_live::redis_cache::RedisConfig;

/// Where senders connect when neither the file nor a flag says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2525";
/// Postfix's `smtp_connect_timeout`: how long one upstream address is given to answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long held messages may take to finish after `SIGTERM`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// The built-in data center's time from upload to verdict.
pub const DEFAULT_ANALYSIS_TIME: Duration = Duration::from_secs(5);
/// One message's extraction or rewriting budget.
pub const DEFAULT_WORK_BUDGET: Duration = Duration::from_secs(10);

/// The `--config` file as written. Every key is optional; unknown keys are an error.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: Vec<String>,
    upstream: Vec<String>,
    #[serde(with = "duration::serde_text_opt")]
    upstream_connect_timeout: Option<Duration>,
    hold: Option<bool>,
    #[serde(with = "duration::serde_text_opt")]
    grace: Option<Duration>,
    #[serde(with = "duration::serde_text_opt")]
    work_budget: Option<Duration>,
    workers: Option<u16>,
    io_threads: Option<u16>,
    /// `redis://HOST[:PORT][/DB]` (as --cache).
    cache: Option<String>,
    policy: Option<toml::Table>,
    policy_file: Option<PathBuf>,
    limits: Option<toml::Table>,
    datacenter: DcSection,
    log: LogSection,
    imap: ImapSection,
}

/// `[imap]`: the IMAP proxy's listeners and server, and `[imap.limits]` its session
/// settings (ImapConfig, docs/imap.md).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ImapSection {
    listen: Vec<String>,
    upstream: Vec<String>,
    limits: Option<toml::Table>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DcSection {
    /// A data center that is a separate process: `http://HOST:PORT` (as --datacenter).
    url: Option<String>,
    #[serde(with = "duration::serde_text_opt")]
    timeout: Option<Duration>,
    #[serde(with = "duration::serde_text_opt")]
    analysis_time: Option<Duration>,
    outage: Option<bool>,
    verdicts: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LogSection {
    quiet: Option<bool>,
    verbose: Option<bool>,
    /// `text` or `json` (as --log-format).
    format: Option<String>,
    /// Serve /metrics here (as --metrics).
    metrics: Option<String>,
    /// Keep quarantined messages in this Maildir (as --quarantine).
    quarantine: Option<PathBuf>,
}

/// Everything the proxy runs with, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses to accept senders on.
    pub listen: Vec<String>,
    /// Where IMAP clients connect (none: no IMAP proxy).
    pub imap_listen: Vec<String>,
    /// The IMAP server(s), tried in order.
    pub imap_upstream: Vec<String>,
    /// The IMAP sessions' settings.
    pub imap: ImapConfig,
    /// Upstream servers, tried in order.
    pub upstream: Vec<String>,
    /// How long one upstream address is given to accept a connection.
    pub connect_timeout: Duration,
    /// The policy.
    pub policy: Policy,
    /// Where the policy came from, for the startup line.
    pub policy_source: String,
    /// The session limits (the open-file cap is applied later, by the caller).
    pub limits: ProxyConfig,
    /// The built-in data center.
    pub datacenter: DcConfig,
    /// A data center over HTTP in its place, if one is named.
    pub remote: RemoteDcArgs,
    /// Log format, metrics listener, quarantine folder.
    pub ops: OpsArgs,
    /// Where verdicts are shared (`None`: in memory).
    pub cache: CacheArgs,
    /// Its analysis time and verdict file, for the startup line.
    pub analysis_time: Duration,
    /// The verdict file, if any.
    pub verdicts: Option<PathBuf>,
    /// After `SIGTERM`, how long messages in progress may take to finish.
    pub grace: Duration,
    /// Worker threads (`None`: one per core).
    pub workers: Option<u16>,
    /// Threads serving sockets and sessions.
    pub io_threads: u16,
    /// One job's budget.
    pub work_budget: Duration,
    /// Log only the startup line and warnings.
    pub quiet: bool,
    /// Also log the SMTP dialogue.
    pub verbose: bool,
}

impl Settings {
    /// Reads the `--config` file (if any) and applies the flags over it.
    pub fn load(args: &SmtpArgs) -> Result<Settings, String> {
        let (file, base) = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let file: FileConfig =
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (file, base)
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        let here = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let config_name = args
            .config
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string());

        let (mut policy, policy_source) = match (&args.policy, &file.policy_file, &file.policy) {
            (Some(path), _, _) => (read_policy(path)?, path.display().to_string()),
            (None, Some(_), Some(_)) => {
                return Err(format!(
                    "{config_name}: policy_file and [policy] both given; keep one"
                ));
            }
            (None, Some(path), None) => {
                let path = here(path);
                (read_policy(&path)?, path.display().to_string())
            }
            (None, None, Some(table)) => {
                let text = toml::to_string(table).map_err(|e| e.to_string())?;
                let policy = Policy::from_toml(&text)
                    .map_err(|e| format!("{config_name}: [policy]: {e}"))?;
                (policy, format!("{config_name} [policy]"))
            }
            (None, None, None) => (Policy::default(), "default".to_owned()),
        };
        if args.hold || file.hold == Some(true) {
            policy.release_immediately = false;
        }
        if let Some(d) = args.tempfail_deadline {
            policy.tempfail_deadline = Some(d);
        }
        policy.validate().map_err(|e| e.to_string())?;

        let mut limits = match &file.limits {
            Some(table) => toml::Value::Table(table.clone())
                .try_into::<ProxyConfig>()
                .map_err(|e| format!("{config_name}: [limits]: {e}"))?,
            None => ProxyConfig::default(),
        };
        args.limits.apply(&mut limits);
        args.hop.apply(&mut limits);
        limits.validate().map_err(|e| format!("limits: {e}"))?;

        let verdicts_path = args
            .dc_verdicts
            .clone()
            .or_else(|| file.datacenter.verdicts.as_deref().map(here));
        let verdicts = match &verdicts_path {
            Some(path) => read_verdicts(path, &policy)?,
            None => BTreeMap::new(),
        };
        let analysis_time = args
            .analysis_time
            .or(file.datacenter.analysis_time)
            .unwrap_or(DEFAULT_ANALYSIS_TIME);
        let outage = args.dc_outage || file.datacenter.outage == Some(true);
        let datacenter = DcConfig {
            // A live stand-in: no queue of its own.
            workers: usize::MAX,
            analysis: AnalysisTime::Fixed(analysis_time),
            oracle: crate::verdicts::oracle(verdicts),
            outage: if outage {
                Outage::Unreachable
            } else {
                Outage::None
            },
            thresholds: policy.thresholds,
            ..DcConfig::default()
        };

        let ops = OpsArgs {
            log_format: match (args.ops.log_format, &file.log.format) {
                (Some(f), _) => Some(f),
                (None, Some(name)) => Some(
                    name.parse()
                        .map_err(|e| format!("{config_name}: [log] format: {e}"))?,
                ),
                (None, None) => None,
            },
            metrics: args.ops.metrics.clone().or(file.log.metrics.clone()),
            quarantine: args
                .ops
                .quarantine
                .clone()
                .or_else(|| file.log.quarantine.as_deref().map(here)),
        };
        let cache = CacheArgs {
            redis: match (&args.cache.redis, &file.cache) {
                (Some(c), _) => Some(c.clone()),
                (None, Some(url)) => Some(
                    RedisConfig::parse(url).map_err(|e| format!("{config_name}: cache: {e}"))?,
                ),
                (None, None) => None,
            },
        };
        let remote = RemoteDcArgs {
            datacenter: match (&args.remote.datacenter, &file.datacenter.url) {
                (Some(url), _) => Some(url.clone()),
                (None, Some(url)) => Some(
                    parse_endpoint(url)
                        .map_err(|e| format!("{config_name}: [datacenter] url: {e}"))?,
                ),
                (None, None) => None,
            },
            dc_timeout: args.remote.dc_timeout.or(file.datacenter.timeout),
        };
        let (listen, upstream) = if args.imap.imap_only {
            (Vec::new(), Vec::new())
        } else {
            let listen = pick(&args.listen, &file.listen, || {
                vec![DEFAULT_LISTEN.to_owned()]
            });
            let upstream = pick(&args.upstream, &file.upstream, Vec::new);
            if upstream.is_empty() {
                return Err(
                    "no upstream server: give --upstream HOST:PORT (or `upstream` in \
                            the --config file)"
                        .to_owned(),
                );
            }
            (listen, upstream)
        };
        let imap_listen = pick(&args.imap.imap_listen, &file.imap.listen, || {
            if args.imap.imap_only {
                vec![crate::imap_args::DEFAULT_IMAP_LISTEN.to_owned()]
            } else {
                Vec::new()
            }
        });
        let imap_upstream = pick(&args.imap.imap_upstream, &file.imap.upstream, Vec::new);
        if !imap_listen.is_empty() && imap_upstream.is_empty() {
            return Err(if args.imap.imap_only {
                "no IMAP server: give --upstream HOST:PORT (or `upstream` under [imap] in the \
                 --config file)"
            } else {
                "no IMAP server: give --imap-upstream HOST:PORT with --imap-listen (or \
                 `upstream` under [imap] in the --config file)"
            }
            .to_owned());
        }
        let mut imap = match &file.imap.limits {
            Some(table) => toml::Value::Table(table.clone())
                .try_into::<ImapConfig>()
                .map_err(|e| format!("{config_name}: [imap.limits]: {e}"))?,
            None => ImapConfig::default(),
        };
        args.imap.apply(&mut imap);
        Ok(Settings {
            listen,
            imap_listen,
            imap_upstream,
            imap,
            upstream,
            connect_timeout: args
                .upstream_connect_timeout
                .or(file.upstream_connect_timeout)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            policy,
            policy_source,
            limits,
            datacenter,
            remote,
            ops,
            cache,
            analysis_time,
            verdicts: verdicts_path,
            grace: args.grace.or(file.grace).unwrap_or(DEFAULT_GRACE),
            workers: args.workers.or(file.workers),
            io_threads: args.io_threads.or(file.io_threads).unwrap_or(1).max(1),
            work_budget: args
                .work_budget
                .or(file.work_budget)
                .unwrap_or(DEFAULT_WORK_BUDGET),
            quiet: args.quiet || file.log.quiet == Some(true),
            verbose: args.verbose || (!args.quiet && file.log.verbose == Some(true)),
        })
    }

    /// The policy and data center in one line: what a newcomer needs to know the mode.
    pub fn summary(&self) -> String {
        let policy = &self.policy;
        let mode = if policy.release_immediately {
            "release (S1: deliver at once, analyse in the background)"
        } else {
            "hold (S2: answer after the verdicts)"
        };
        let deadline = policy
            .tempfail_deadline
            .map_or("off".to_owned(), duration::format);
        let outage = serde_json::to_value(policy.outage)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{:?}", policy.outage));
        let l = &policy.levels;
        let dc = if let Some(remote) = self.remote.describe() {
            remote
        } else if self.datacenter.outage == Outage::Unreachable {
            "built-in, OUTAGE: every upload refused (S7)".to_owned()
        } else {
            format!(
                "built-in, analysis {}, {} verdict(s) from {}",
                duration::format(self.analysis_time),
                self.datacenter.oracle.len(),
                self.verdicts
                    .as_ref()
                    .map_or("no file".to_owned(), |p| p.display().to_string())
            )
        };
        format!(
            "policy {}: {mode}; clean={} low={} medium={} high={}; X2 deadline {deadline}; \
             outage {outage}; data center {dc}",
            self.policy_source, l.clean.action, l.low.action, l.medium.action, l.high.action,
        )
    }
}

/// The flag's values if given, else the file's, else the default.
fn pick(flag: &[String], file: &[String], default: impl FnOnce() -> Vec<String>) -> Vec<String> {
    if !flag.is_empty() {
        flag.to_vec()
    } else if !file.is_empty() {
        file.to_vec()
    } else {
        default()
    }
}

fn read_policy(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[path = "proxy_settings_tests.rs"]
mod tests;
