//! The live proxy's signal handlers: `SIGHUP` reads the configuration again — the
//! `--config` file and the files it names, under the same flags — and hands the new policy
//! and limits to the running proxy, or logs why not and changes nothing; `SIGTERM` and
//! `SIGINT` start a graceful shutdown (a second one ends the grace period at once).

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_live::control::Control;
use aptsim_live::log::Log;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;

use crate::proxy_command::{SmtpArgs, within_open_files};
use crate::proxy_settings::Settings;

/// Turns signals into [`Control`] requests until the proxy stops listening to them.
pub async fn watch(args: SmtpArgs, grace: Duration, to: UnboundedSender<Control>, log: Log) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log.always(Timestamp::ZERO, "warning", "signal handlers unavailable");
        return;
    };
    let mut listen = Settings::load(&args).map(|s| s.listen).unwrap_or_default();
    loop {
        let request = tokio::select! {
            _ = hup.recv() => reload(&args, &mut listen, &log),
            _ = term.recv() => Control::Shutdown { why: "SIGTERM", grace },
            _ = int.recv() => Control::Shutdown { why: "SIGINT", grace },
        };
        if to.send(request).is_err() {
            return;
        }
    }
}

/// The configuration read again, as a reload request; or why it cannot be used.
fn reload(args: &SmtpArgs, listen: &mut Vec<String>, log: &Log) -> Control {
    match Settings::load(args) {
        Ok(s) => {
            let mut summary = s.summary();
            // What the running proxy takes on a reload: policy, limits, upstreams. The data
            // center (its verdicts, analysis time, outage), the grace period and the log
            // settings are set up once, at start.
            summary
                .push_str("; data-center, grace and log settings take effect at the next restart");
            if s.listen != *listen {
                summary.push_str(&format!(
                    "; listen addresses {} need a restart (still {})",
                    s.listen.join(", "),
                    listen.join(", ")
                ));
            }
            Control::Reload {
                policy: Arc::new(s.policy),
                config: Arc::new(within_open_files(s.limits, log)),
                upstream: s.upstream,
                connect_timeout: s.connect_timeout,
                imap_config: Arc::new(s.imap),
                imap_upstream: s.imap_upstream,
                summary,
            }
        }
        Err(e) => Control::ReloadFailed(e),
    }
}
