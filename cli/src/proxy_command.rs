//! `aptsim proxy smtp`: the live proxy's command line — its flags, the policy, verdict file
//! and data center they make, the session limits, the startup line — handed to
//! [`aptsim_live::smtp::serve`] on a multi-threaded tokio runtime. How the proxy works is in
//! `aptsim-live`'s crate doc and docs/live.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aptsim_core::clock::Timestamp;
use aptsim_core::duration;
use aptsim_core::policy::{Policy, PolicyError};
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::smtp::wire::data::BareNewline;

use crate::verdicts::read_verdicts;
use aptsim_live::{log, smtp, workers};
use aptsim_peers::datacenter::{AnalysisTime, DataCenter, DcConfig, Judgement, Outage};

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
    Smtp(SmtpArgs),
}

/// Arguments of `aptsim proxy smtp`.
#[derive(clap::Args, Debug)]
pub struct SmtpArgs {
    /// Address to accept senders on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2525")]
    pub listen: String,
    /// The receiving mail server (host:port).
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,
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
    /// Built-in data center: time from upload to verdict.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub analysis_time: Duration,
    /// Built-in data center: refuse every upload, as when it cannot be reached (S7); the
    /// policy's outage setting decides (default allow).
    #[arg(long)]
    pub dc_outage: bool,
    /// Built-in data center: verdicts by MD5, as for `aptsim inspect --verdicts`: a JSON
    /// object mapping MD5 (hex) to "clean" | "low" | "medium" | "high", a score 0-100, or
    /// {"score": N, "threat": "name"}. They override the EICAR rule.
    #[arg(long, value_name = "FILE")]
    pub dc_verdicts: Option<PathBuf>,
    /// Client connections served at once; one more is answered 421 4.7.0 and closed
    /// [default: 500, capped by the open-file limit].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Bytes held in memory by all sessions together (messages arriving, held, relayed,
    /// files kept until submitted); past it new messages get 451 4.3.1. Accepts K, M and G
    /// suffixes (binary) [default: 512M].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_held_bytes: Option<usize>,
    /// Largest message accepted (advertised as SIZE) [default: 32M].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_message_bytes: Option<usize>,
    /// Close a client that sends nothing for this long [default: 10m, the reference
    /// gateway's idle timeout].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub idle_timeout: Option<Duration>,
    /// A command line must be complete this long after its first byte [default: 5m,
    /// Postfix smtpd_timeout, Exim smtp_receive_timeout].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub command_timeout: Option<Duration>,
    /// The message data's time budget; it gains 1/min-data-rate seconds per byte received
    /// [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub data_timeout: Option<Duration>,
    /// Bytes per second that keep the data budget from running out [default: 500, Postfix
    /// smtpd_min_data_rate].
    #[arg(long, value_name = "BYTES_PER_S")]
    pub min_data_rate: Option<u32>,
    /// Bare LF or CR in message data: `normalize` accepts it and relays CRLF (Postfix 3.9's
    /// default), `reject` answers 550 5.5.2. Neither lets a smuggled second message through.
    #[arg(long, value_name = "MODE", default_value = "normalize")]
    pub bare_newline: BareNewline,
    /// Worker threads that extract and rewrite messages [default: one per core, at least 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// How long one message's extraction or rewriting may take; past it the work is
    /// cancelled and the message is unscannable as a whole.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse)]
    pub work_budget: Duration,
    #[command(flatten)]
    pub hop: crate::hop_args::HopArgs,
    /// Log only the startup line and warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also log the SMTP dialogue on both sides.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
}

/// Runs `aptsim proxy …` until the process is stopped.
pub fn run(args: &ProxyArgs) -> Result<ExitCode, String> {
    match &args.protocol {
        ProxyProtocol::Smtp(a) => run_smtp(a),
    }
}

fn run_smtp(args: &SmtpArgs) -> Result<ExitCode, String> {
    let mut policy = match &args.policy {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Policy::default(),
    };
    if args.hold {
        policy.release_immediately = false;
    }
    if let Some(d) = args.tempfail_deadline {
        policy.tempfail_deadline = Some(d);
    }
    policy.validate().map_err(|e: PolicyError| e.to_string())?;
    let verdicts = match &args.dc_verdicts {
        Some(path) => read_verdicts(path, &policy)?,
        None => BTreeMap::new(),
    };
    let dc = DcConfig {
        // A live stand-in: no queue of its own.
        workers: usize::MAX,
        analysis: AnalysisTime::Fixed(args.analysis_time),
        oracle: verdicts
            .into_iter()
            .map(|(md5, verdict)| {
                (
                    md5,
                    Judgement {
                        verdict,
                        analysis: None,
                    },
                )
            })
            .collect(),
        outage: if args.dc_outage {
            Outage::Unreachable
        } else {
            Outage::None
        },
        thresholds: policy.thresholds,
        ..DcConfig::default()
    };
    let summary = startup_summary(args, &policy, &dc);
    // Nothing is drawn at random (no fractions, fixed analysis time): the seed does not
    // matter.
    let datacenter = DataCenter::new(dc, aptsim_simulator::rng::stream(0, 0));
    let log = log::Log {
        quiet: args.quiet,
        verbose: args.verbose,
        wall_start: SystemTime::now(),
    };
    let config = session_config(args, &log);
    let worker_threads = args
        .workers
        .map_or_else(workers::Workers::default_threads, usize::from);
    // Sockets are served on every core; the coordinator steps the sessions (cheaply: the
    // heavy work is on the workers).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("listening on {}: {e}", args.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("listening on {}: {e}", args.listen))?;
        log.always(
            Timestamp::ZERO,
            "start",
            &format!(
                "aptsim proxy smtp listening on {bound}, upstream {}; {summary}",
                args.upstream
            ),
        );
        let live = smtp::SmtpLive {
            upstream: args.upstream.clone(),
            policy: Arc::new(policy),
            config: Arc::new(config),
            datacenter,
            log,
            worker_threads,
            work_budget: args.work_budget,
        };
        smtp::serve(listener, live)
            .await
            .map_err(|e| format!("starting the worker threads: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The session limits: the defaults, with what the flags override, and the connection limit
/// kept within what the process may open (two sockets per session, and some to spare).
fn session_config(args: &SmtpArgs, log: &log::Log) -> ProxyConfig {
    let mut c = ProxyConfig::default();
    if let Some(n) = args.max_connections {
        c.max_connections = n;
    }
    if let Some(n) = args.max_held_bytes {
        c.max_held_bytes = n;
    }
    if let Some(n) = args.max_message_bytes {
        c.max_message_bytes = n;
    }
    if let Some(d) = args.idle_timeout {
        c.idle_timeout = d;
    }
    if let Some(d) = args.command_timeout {
        c.command_timeout = d;
    }
    if let Some(d) = args.data_timeout {
        c.data_timeout = d;
    }
    if let Some(r) = args.min_data_rate {
        c.min_data_rate = r;
    }
    c.bare_newline = args.bare_newline;
    args.hop.apply(&mut c);
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

/// `512M`, `64K`, `1G` (binary multiples) or a plain number of bytes.
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512M, 64K, 1048576)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// The policy and data center in one line: what a newcomer needs to know the mode.
fn startup_summary(args: &SmtpArgs, policy: &Policy, dc: &DcConfig) -> String {
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
    let dc_text = if dc.outage == Outage::Unreachable {
        "built-in, OUTAGE: every upload refused (S7)".to_owned()
    } else {
        format!(
            "built-in, analysis {}, {} verdict(s) from {}",
            duration::format(args.analysis_time),
            dc.oracle.len(),
            args.dc_verdicts
                .as_ref()
                .map_or("no file".to_owned(), |p| p.display().to_string())
        )
    };
    format!(
        "policy {}: {mode}; clean={} low={} medium={} high={}; X2 deadline {deadline}; \
         outage {outage}; data center {dc_text}",
        args.policy
            .as_ref()
            .map_or("default".to_owned(), |p| p.display().to_string()),
        l.clean.action,
        l.low.action,
        l.medium.action,
        l.high.action,
    )
}
