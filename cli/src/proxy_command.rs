//! `aptsim proxy smtp`: the live proxy's command line — its flags (over the `--config` file,
//! [`crate::proxy_settings`]), the listeners, the signal handlers ([`crate::signals`]) — handed
//! to [`aptsim_live::smtp::serve`]. How the proxy works is in `aptsim-live`'s crate doc and
//! docs/live.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aptsim_core::clock::Timestamp;
use aptsim_core::duration;
use aptsim_core::smtp::proxy::ProxyConfig;

use crate::limit_args::LimitArgs;
use crate::proxy_settings::Settings;
use crate::remote_datacenter::RemoteDcArgs;
use crate::signals;
use aptsim_live::{log, smtp, workers};
use aptsim_peers::datacenter::DataCenter;

/// Arguments of `aptsim proxy`.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// Which proxy.
    #[command(subcommand)]
    pub protocol: ProxyProtocol,
}

/// The live proxies.
#[derive(clap::Subcommand, Debug)]
pub enum ProxyProtocol {
    /// Run the SMTP proxy between a real sender and a real mail server, with a built-in
    /// data center.
    #[command(
        long_about = "Run the gateway's SMTP proxy on real sockets: senders connect to --listen, \
        the proxy relays the dialogue to --upstream, takes each message after DATA, sends unknown \
        attachments to a built-in data center and acts on the verdicts.\n\n\
        Release mode (S1, the default): a message is delivered at once and its files are analysed \
        in the background; a bad verdict afterwards is logged as an exposure (X5). Hold mode \
        (S2, --hold or release_immediately = false in the policy): no reply to the final dot \
        until every file is judged, then the policy's action (A1: high = deny answers 554, \
        medium = drop replaces the file with a text). --tempfail-deadline answers 451 instead \
        of holding longer (X2). --dc-outage refuses every upload; the default outage policy \
        lets mail through (S7).\n\n\
        The built-in data center calls a file high (threat EICAR-Test-File) when its bytes \
        contain the EICAR test string, and clean otherwise, unless --dc-verdicts says otherwise. \
        One log line per transaction goes to standard error. No TLS, no AUTH: see docs/live.md.",
        after_help = "Examples:\n  smtp-sink -u root 127.0.0.1:2526 100 &\n  \
        aptsim proxy smtp --upstream 127.0.0.1:2526 --hold\n  \
        swaks --server 127.0.0.1:2525 --to b@example.net --attach eicar.com"
    )]
    Smtp(Box<SmtpArgs>),
    /// Run the IMAP proxy between a real IMAP server and real mail clients, with a
    /// built-in data center.
    #[command(
        long_about = "Run the gateway's IMAP proxy on real sockets: mail clients connect to \
        --listen, the proxy relays the dialogue to the IMAP server at --upstream, and holds \
        every FETCH that returns message content until the data center has judged the \
        message's attachments (I1), all submitted at once (I2). An allowed message is served \
        as the server has it; a bad one with the file replaced, or as the deny notice \
        (A1: high = deny), with sizes and structure that match what is served (I6). A client \
        that gives up during a hold finds the verdicts in the cache when it fetches again \
        (I3). --keepalive sends untagged OK lines during a hold (X4). --dc-outage lets mail \
        through (I4).\n\n\
        The policy, data center, logging and cache flags are those of `aptsim proxy smtp`; \
        to run both proxies on one gateway (one cache, X6), give `aptsim proxy smtp` \
        --imap-listen and --imap-upstream. No TLS: see docs/imap.md.",
        after_help = "Examples:\n  \
        aptsim proxy imap --listen 127.0.0.1:1143 --upstream 127.0.0.1:143\n  \
        aptsim proxy smtp --upstream 127.0.0.1:25 --imap-listen 127.0.0.1:1143 \
        --imap-upstream 127.0.0.1:143",
        mut_arg("listen", |a| a.help(
            "Address to accept mail clients on; repeat for several [default: 127.0.0.1:1143]"
        )),
        mut_arg("upstream", |a| a.help(
            "The IMAP server (host:port); repeat for a list tried in order (failover)"
        )),
        mut_arg("upstream_connect_timeout", |a| a.help(
            "How long each IMAP server address is given to accept a connection [default: 30s]"
        )),
        // SMTP only: IMAP always holds (I1), and X2 answers an SMTP sender.
        mut_arg("hold", |a| a.hide(true)),
        mut_arg("tempfail_deadline", |a| a.hide(true)),
        mut_arg("imap_listen", |a| a.hide(true)),
        mut_arg("imap_upstream", |a| a.hide(true)),
        mut_arg("no_received_header", |a| a.hide(true)),
    )]
    Imap(Box<SmtpArgs>),
}

/// Arguments of `aptsim proxy smtp`. Each overrides the same setting of the `--config`
/// file, which overrides the default (cli/src/proxy_settings.rs).
#[derive(clap::Args, Debug, Clone)]
pub struct SmtpArgs {
    /// Configuration file (TOML): listen, upstream, policy, limits, data center, logging;
    /// see docs/live.md. Flags override it; SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to accept senders on; repeat for several [default: 127.0.0.1:2525].
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// The receiving mail server (host:port); repeat for a list tried in order (failover).
    #[arg(long, value_name = "ADDR")]
    pub upstream: Vec<String>,
    /// How long each upstream address is given to accept a connection before the next is
    /// tried [default: 30s, Postfix smtp_connect_timeout].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub upstream_connect_timeout: Option<Duration>,
    /// Policy file (TOML, see docs/policy.md); unknown keys are an error. Without it, the
    /// default policy: release mode (S1), high = deny, medium = drop, outage = allow (S7).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Hold mode (S2): answer the final dot only once every file is judged (sets the
    /// policy's release_immediately = false).
    #[arg(long)]
    pub hold: bool,
    /// X2: in hold mode, answer 451 4.7.0 when a message is still held this long after
    /// its data ended (e.g. 9m; 90s). Overrides the policy's tempfail_deadline.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub tempfail_deadline: Option<Duration>,
    /// Built-in data center: time from upload to verdict [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub analysis_time: Option<Duration>,
    /// Built-in data center: refuse every upload, as when it cannot be reached (S7); the
    /// policy's outage setting decides (default allow).
    #[arg(long)]
    pub dc_outage: bool,
    /// Built-in data center: verdicts by MD5, as for `aptsim inspect --verdicts`: a JSON
    /// object mapping MD5 (hex) to "clean" | "low" | "medium" | "high", a score 0-100, or
    /// {"score": N, "threat": "name"}. They override the EICAR rule.
    #[arg(long, value_name = "FILE")]
    pub dc_verdicts: Option<PathBuf>,
    /// Session limits and timeouts.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Worker threads that extract and rewrite large messages [default: one per core, at
    /// least 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Threads serving the sockets and the sessions. 1 (the default) runs them all on one
    /// thread, which measured cheapest per message on a 2-core machine
    /// (docs/performance.md); more spreads socket reads and writes over several cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub io_threads: Option<u16>,
    /// How long one message's extraction or rewriting may take; past it the work is
    /// cancelled and the message is unscannable as a whole [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub work_budget: Option<Duration>,
    /// After SIGTERM or SIGINT: how long messages in progress may take to finish before
    /// they are answered 421 4.3.2 [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub grace: Option<Duration>,
    /// A data center that is a separate process (HTTP).
    #[command(flatten)]
    pub remote: RemoteDcArgs,
    /// The proxy's own hop: the `Received:` header.
    #[command(flatten)]
    pub hop: crate::hop_args::HopArgs,
    /// Log only the startup line and warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also log the SMTP dialogue on both sides.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    #[command(flatten)]
    pub ops: crate::ops_args::OpsArgs,
    /// A verdict cache shared with other gateways.
    #[command(flatten)]
    pub cache: crate::cache_args::CacheArgs,
    /// The IMAP proxy in the same process.
    #[command(flatten)]
    pub imap: crate::imap_args::ImapArgs,
}

/// Runs `aptsim proxy …` until it is stopped (SIGTERM, SIGINT: drained, see docs/live.md).
pub fn run(args: &ProxyArgs) -> Result<ExitCode, String> {
    match &args.protocol {
        ProxyProtocol::Smtp(a) => run_smtp(a),
        ProxyProtocol::Imap(a) => {
            // `--listen` and `--upstream` are the IMAP proxy's here.
            let mut a = (**a).clone();
            a.imap.imap_listen.append(&mut a.listen);
            a.imap.imap_upstream.append(&mut a.upstream);
            a.imap.imap_only = true;
            run_smtp(&a)
        }
    }
}

fn run_smtp(args: &SmtpArgs) -> Result<ExitCode, String> {
    let settings = Settings::load(args)?;
    settings.ops.install_log()?;
    let summary = settings.summary();
    // Nothing is drawn at random (no fractions, fixed analysis time): the seed does not
    // matter.
    let datacenter = DataCenter::new(
        settings.datacenter.clone(),
        aptsim_simulator::rng::stream(0, 0),
    );
    let log = log::Log {
        quiet: settings.quiet,
        verbose: settings.verbose,
        wall_start: SystemTime::now(),
    };
    let config = within_open_files(settings.limits.clone(), &log);
    let datacenter = settings.remote.sandbox(datacenter, &settings.policy, &log);
    let worker_threads = settings
        .workers
        .map_or_else(workers::Workers::default_threads, usize::from);
    // By default one thread serves the sockets and steps the sessions: on a small machine,
    // waking a second thread for every socket event costs more than it saves
    // (docs/performance.md); large messages' work goes to the worker threads.
    let runtime = match settings.io_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(usize::from(n));
            b
        }
    }
    .enable_all()
    .build()
    .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let mut listeners = Vec::new();
        let mut proxies = Vec::new();
        for (protocol, name, addrs, upstream) in [
            (
                smtp::Protocol::Smtp,
                "smtp",
                &settings.listen,
                &settings.upstream,
            ),
            (
                smtp::Protocol::Imap,
                "imap",
                &settings.imap_listen,
                &settings.imap_upstream,
            ),
        ] {
            let mut bound = Vec::new();
            for addr in addrs {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("listening on {addr}: {e}"))?;
                bound.push(l.local_addr().map_or(addr.clone(), |a| a.to_string()));
                listeners.push((l, protocol));
            }
            if !bound.is_empty() {
                proxies.push(format!(
                    "aptsim proxy {name} listening on {}, upstream {}",
                    bound.join(", "),
                    upstream.join(" then ")
                ));
            }
        }
        let (ops, ops_summary) = settings.ops.start().await?;
        log.always(
            Timestamp::ZERO,
            "start",
            &format!("{}; {summary}{ops_summary}", proxies.join("; ")),
        );
        let (control, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(signals::watch(
            args.clone(),
            settings.grace,
            control,
            log.clone(),
        ));
        let live = smtp::SmtpLive {
            upstream: settings.upstream.clone(),
            connect_timeout: settings.connect_timeout,
            policy: Arc::new(settings.policy.clone()),
            config: Arc::new(config),
            datacenter,
            log,
            worker_threads,
            work_budget: settings.work_budget,
            ops,
            shared_cache: settings.cache.redis.clone(),
            imap_upstream: settings.imap_upstream.clone(),
            imap_config: Arc::new(settings.imap.clone()),
        };
        smtp::serve(listeners, live, requests)
            .await
            .map_err(|e| format!("starting the worker threads: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The session limits with the connection limit kept within what the process may open
/// (two sockets per session, and some to spare).
pub fn within_open_files(mut c: ProxyConfig, log: &log::Log) -> ProxyConfig {
    // Raise the soft limit on open files to the hard one, as servers do.
    if let Ok(files) = rlimit::increase_nofile_limit(u64::MAX) {
        let room = usize::try_from(files.saturating_sub(64) / 2).unwrap_or(usize::MAX);
        if c.max_connections > room {
            log.always(
                Timestamp::ZERO,
                "warning",
                &format!(
                    "max connections lowered from {} to {room}: the process may open {files} files",
                    c.max_connections
                ),
            );
            c.max_connections = room;
        }
    }
    c
}
