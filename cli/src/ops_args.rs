//! The live proxy's operator flags — `--log-format`, `--metrics`, `--quarantine` — and
//! what they start: the log's subscriber, the `/metrics` listener, the quarantine folder.
//! Flattened into `aptsim proxy smtp`'s arguments; the pieces are in `aptsim-live`
//! (`log_format`, `metrics_server`, `quarantine`, `ops`) and documented in docs/live.md.

use std::path::PathBuf;
use std::sync::Arc;

use aptsim_live::log_format::{self, LogFormat};
use aptsim_live::metrics::Metrics;
use aptsim_live::metrics_server;
use aptsim_live::ops::Ops;
use aptsim_live::quarantine::Quarantine;

/// The operator's flags of `aptsim proxy smtp`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OpsArgs {
    /// Log lines as `text` (TIME KIND key=value …) or `json` (one object per line, the
    /// same fields, numbers as numbers) [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464) [default:
    /// not served].
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Keep quarantined messages in this Maildir (made if missing), each with its decision
    /// in DIR/decisions/ID.json; see `aptsim quarantine`. Without it they are logged only.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
}

impl OpsArgs {
    /// Makes the log take the chosen form; before anything is logged.
    pub fn install_log(&self) -> Result<(), String> {
        log_format::install(self.log_format.unwrap_or_default())
    }

    /// Opens the quarantine and starts the metrics listener (on the running tokio
    /// runtime); returns them with what to add to the startup line.
    pub async fn start(&self) -> Result<(Ops, String), String> {
        let mut summary = String::new();
        let quarantine = match &self.quarantine {
            Some(dir) => {
                let q = Quarantine::open(dir).map_err(|e| format!("--quarantine: {e}"))?;
                summary.push_str(&format!("; quarantine in {}", dir.display()));
                Some(q)
            }
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        if let Some(addr) = &self.metrics {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("--metrics: listening on {addr}: {e}"))?;
            let bound = listener
                .local_addr()
                .map_err(|e| format!("--metrics: listening on {addr}: {e}"))?;
            summary.push_str(&format!(
                "; metrics at http://{bound}{}",
                metrics_server::PATH
            ));
            tokio::spawn(metrics_server::serve(listener, metrics.clone()));
        }
        Ok((
            Ops {
                metrics,
                quarantine,
            },
            summary,
        ))
    }
}
