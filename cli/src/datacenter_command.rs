//! `aptsim datacenter serve`: the data center as a process of its own — the model the
//! simulator and the proxy's built-in data center use, behind the HTTP/JSON API of
//! [`aptsim_live::dc_http`] — so that a proxy (`aptsim proxy smtp --datacenter URL`) reaches
//! it over the network, and it can be stopped, killed and restarted under a running proxy.
//! Its flags for the model are the proxy's built-in ones (`--analysis-time`,
//! `--dc-verdicts`, `--dc-outage`); the API and the limits are in docs/live.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use aptsim_core::clock::Timestamp;
use aptsim_core::duration;
use aptsim_core::policy::Policy;
use aptsim_live::dc_http::server::{self, ServerConfig, Shared};
use aptsim_live::log::Log;
use aptsim_peers::datacenter::{AnalysisTime, DataCenter, DcConfig, Outage};

use crate::limit_args::parse_size;
use crate::verdicts::read_verdicts;

/// Arguments of `aptsim datacenter`.
#[derive(clap::Args, Debug)]
pub struct DatacenterArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DatacenterCommand,
}

/// The data center's commands.
#[derive(clap::Subcommand, Debug)]
pub enum DatacenterCommand {
    /// Serve the data-center model over HTTP/JSON, for `aptsim proxy smtp --datacenter`.
    #[command(
        long_about = "Serve the data center over HTTP/JSON: the same model as the simulator's \
        and the proxy's built-in data center, in a process of its own, so that proxies reach it \
        with --datacenter http://ADDR and it can be stopped or killed under them (S7).\n\n\
        A file whose bytes contain the EICAR test string is high (threat EICAR-Test-File), \
        anything else clean, unless --dc-verdicts names its MD5. An upload is judged \
        --analysis-time after it arrives; a file judged before is answered at once.\n\n\
        API (docs/live.md, \"A data center in its own process\"):\n  \
        POST /v1/files?md5=HEX&name=NAME   body: the file. 200 verdict (known) | 202 queued\n  \
        GET  /v1/files/{md5}[?wait_ms=N]   200 verdict | 202 queued | 404 unknown\n  \
        GET  /v1/md5/{md5}                 200 verdict | 404 unknown (look-up only)\n\
        Errors: 400 bad request, 408 slow body, 413 file too large, 429 too many analyses, \
        503 --dc-outage; bodies {\"error\": \"...\"}.\n\n\
        Plain HTTP, no TLS, no authentication: listen on loopback or a trusted network. \
        One log line per upload and verdict goes to standard error.",
        after_help = "Examples:\n  \
        aptsim datacenter serve --listen 127.0.0.1:8480 --analysis-time 30s\n  \
        aptsim proxy smtp --upstream 127.0.0.1:2526 --hold --datacenter http://127.0.0.1:8480\n  \
        curl -s --data-binary @eicar.com 'http://127.0.0.1:8480/v1/files?name=eicar.com'\n  \
        curl -s 'http://127.0.0.1:8480/v1/files/44d88612fea8a8f36de82e1278abb02f?wait_ms=30000'"
    )]
    Serve(ServeArgs),
}

/// Arguments of `aptsim datacenter serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to serve HTTP on; port 0 picks a free one (the startup line shows which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8480")]
    pub listen: String,
    /// Time from upload to verdict.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub analysis_time: Duration,
    /// Refuse everything with 503, as a data center in an outage; proxies treat their files
    /// as unreachable and their outage policy decides (S7).
    #[arg(long)]
    pub dc_outage: bool,
    /// Verdicts by MD5, as for `aptsim proxy smtp --dc-verdicts`: a JSON object mapping MD5
    /// (hex) to "clean" | "low" | "medium" | "high", a score 0-100, or {"score": N, "threat":
    /// "name"}. They override the EICAR rule.
    #[arg(long, value_name = "FILE")]
    pub dc_verdicts: Option<PathBuf>,
    /// Largest file accepted; larger ones get 413. K, M and G suffixes [default: 32M].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_file_bytes: Option<usize>,
    /// Uploads whose bodies are read at once; more wait their turn [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_uploads: Option<u32>,
    /// Files being analysed at once; one more gets 429 [default: 10000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_analyses: Option<u32>,
    /// Connections served at once; more wait to be accepted [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Verdicts remembered for look-ups; the oldest are forgotten first [default: 100000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub remember: Option<u32>,
    /// Log only the startup line and warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `aptsim datacenter …` until the process is stopped.
pub fn run(args: &DatacenterArgs) -> Result<ExitCode, String> {
    // Log lines are tracing events: without a subscriber they would go nowhere.
    aptsim_live::log_format::install(aptsim_live::log_format::LogFormat::Text)?;
    match &args.command {
        DatacenterCommand::Serve(a) => serve(a),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    // The default thresholds turn levels in the verdict file into scores; the answers carry
    // both, so a proxy with other thresholds reads the level as given.
    let policy = Policy::default();
    let verdicts = match &args.dc_verdicts {
        Some(path) => read_verdicts(path, &policy)?,
        None => BTreeMap::new(),
    };
    let dc = DcConfig {
        // A live stand-in: no queue of its own (`--max-analyses` bounds what it takes).
        workers: usize::MAX,
        analysis: AnalysisTime::Fixed(args.analysis_time),
        remember: args
            .remember
            .map_or(DcConfig::default().remember, |n| n as usize),
        oracle: crate::verdicts::oracle(verdicts),
        outage: if args.dc_outage {
            Outage::Unreachable
        } else {
            Outage::None
        },
        thresholds: policy.thresholds,
        ..DcConfig::default()
    };
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        max_file_bytes: args.max_file_bytes.unwrap_or(defaults.max_file_bytes),
        max_uploads: args
            .max_uploads
            .map_or(defaults.max_uploads, |n| n as usize),
        max_analyses: args
            .max_analyses
            .map_or(defaults.max_analyses, |n| n as usize),
        max_connections: args
            .max_connections
            .map_or(defaults.max_connections, |n| n as usize),
        ..defaults
    };
    let summary = summary(args, &dc, &config);
    // Nothing is drawn at random (no fractions, a fixed analysis time): the seed does not
    // matter.
    let model = DataCenter::new(dc, aptsim_simulator::rng::stream(0, 0));
    let log = Log {
        quiet: args.quiet,
        verbose: false,
        wall_start: SystemTime::now(),
    };
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
        let shared = Shared::new(model, config, log.clone());
        log.always(
            Timestamp::ZERO,
            "start",
            &format!("aptsim datacenter serve listening on http://{bound}; {summary}"),
        );
        server::serve(listener, shared).await;
        Ok::<(), String>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The model and the limits in one line.
fn summary(args: &ServeArgs, dc: &DcConfig, config: &ServerConfig) -> String {
    let model = if dc.outage == Outage::Unreachable {
        "OUTAGE: every request refused with 503 (S7)".to_owned()
    } else {
        format!(
            "analysis {}, {} verdict(s) from {}",
            duration::format(args.analysis_time),
            dc.oracle.len(),
            args.dc_verdicts
                .as_ref()
                .map_or("no file".to_owned(), |p| p.display().to_string())
        )
    };
    format!(
        "{model}; files up to {} bytes, {} uploads read at once, {} analyses, {} connections, \
         {} verdicts remembered",
        config.max_file_bytes,
        config.max_uploads,
        config.max_analyses,
        config.max_connections,
        dc.remember
    )
}
