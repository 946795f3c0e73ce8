//! `aptsim`: run scenario suites on virtual time, inspect messages as the gateway would, and
//! run the live proxy. `aptsim --help` lists the commands.
//!
//! # Layout
//! - [`cache_args`]: `--cache`, the live proxy's shared verdict cache.
//! - [`run_command`]: `aptsim run` and `aptsim list`.
//! - [`check_command`]: `aptsim check`, a trace file re-checked against its scenario.
//! - [`report_command`]: `aptsim report`, `aptsim run --report`, a failure's text timeline.
//! - [`explore_command`]: `aptsim explore`, generated worlds checked and shrunk.
//! - [`inspect_command`]: `aptsim inspect`, the gateway's view of messages on disk.
//! - [`proxy_command`]: `aptsim proxy smtp`, the live proxy's flags.
//! - [`remote_datacenter`]: `aptsim proxy smtp --datacenter URL`, an HTTP data center.
//! - [`datacenter_command`]: `aptsim datacenter serve`, the data center over HTTP.
//! - [`ops_args`]: its operator flags: log format, metrics, quarantine.
//! - [`quarantine_command`]: `aptsim quarantine list|show|release`.
//! - [`hop_args`]: its flags on the proxy's `Received:` header.
//! - [`verdicts`]: reading a verdict file (`--verdicts`, `--dc-verdicts`).

mod cache_args;
mod check_command;
mod datacenter_command;
mod explore_command;
mod hop_args;
mod imap_args;
mod inspect_command;
mod limit_args;
mod ops_args;
mod proxy_command;
mod proxy_settings;
mod quarantine_command;
mod remote_datacenter;
mod report_command;
mod run_command;
mod signals;
mod verdicts;

use std::process::ExitCode;

/// mimalloc rather than the system allocator: simulations make and free tens of millions of
/// small values, and the live proxy a few per message (docs/performance.md, "A day of mail").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

use inspect_command::InspectArgs;
use proxy_command::ProxyArgs;
use run_command::RunArgs;

#[derive(Parser)]
#[command(
    name = "aptsim",
    version,
    about = "Simulate, test and measure an email gateway that sandboxes attachments",
    long_about = "Simulate, test and measure an email security gateway that sends attachments \
                  to a cloud sandbox before it lets them through.\n\nBehaviour ids (S1-S7, \
                  I1-I5, A1, X1-X6, N1-N9) refer to the behaviour catalogue; see docs/."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files or folders (default: the catalogue in scenarios/suite) on virtual
    /// time, check their expectations and the invariants N1-N9, and print a summary.
    ///
    /// A line per run as it ends goes to standard error; a run that lasts longer than ten
    /// seconds of wall time (a million-message day) also tells there, every ten seconds, how
    /// far it has got: virtual time reached, messages queued and delivered.
    Run(RunArgs),
    /// List the catalogue with the behaviour ids each scenario covers.
    List {
        /// Scenario files or folders (default: scenarios/suite).
        paths: Vec<std::path::PathBuf>,
    },
    /// Print the files the gateway finds in messages (JSON Lines), and with --policy or
    /// --verdicts what its SMTP and IMAP engines would do next.
    Inspect(InspectArgs),
    /// Run a live proxy on real sockets between real mail software (`proxy smtp`), with a
    /// built-in data center.
    Proxy(ProxyArgs),
    /// Run the data center as a process of its own, over HTTP/JSON (`datacenter serve`).
    Datacenter(datacenter_command::DatacenterArgs),
    /// List, show and release the messages a proxy kept with `--quarantine DIR`.
    Quarantine(quarantine_command::QuarantineArgs),
    /// Generate whole worlds, run them, check N1-N9, determinism and X1 on vs off; shrink a
    /// failing one to a scenario file that `aptsim run` reproduces.
    Explore(explore_command::ExploreArgs),
    // Its help is ReportArgs' own (about, long_about, examples).
    Report(report_command::ReportArgs),
    // Its help is CheckArgs' own (about, examples, exit status).
    Check(check_command::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_command::run(&args),
        Command::List { paths } => run_command::list(&paths),
        Command::Inspect(args) => inspect_command::run(&args),
        Command::Proxy(args) => proxy_command::run(&args),
        Command::Datacenter(args) => datacenter_command::run(&args),
        Command::Quarantine(args) => quarantine_command::run(&args),
        Command::Explore(args) => explore_command::run(&args),
        Command::Report(args) => report_command::run(&args),
        Command::Check(args) => check_command::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aptsim: {e}");
            ExitCode::from(2)
        }
    }
}
