//! aptsim-live: the gateway node ([`aptsim_core::node`]) on real TCP sockets, so that real
//! mail software (swaks, Python's smtplib, Postfix, smtp-sink) can sit on either side
//! (ARCHITECTURE.md, "Live mode"). tokio only: no actix, no simulator.
//!
//! # Design: one coordinator, thin socket tasks, worker threads
//! One coordinator task ([`smtp::serve`]) owns the node — every session, the gateway and its
//! verdict cache — and the built-in data center (the simulator's model,
//! [`aptsim_peers::datacenter`]). Each TCP connection, client or upstream, is a task that
//! owns only its socket: it sends what it reads to the coordinator over one shared bounded
//! channel (readers wait when the coordinator is behind) and writes what the coordinator
//! sends it over its own unbounded channel (the coordinator never waits on a socket). The
//! runtime serves those tasks on every core. A message's heavy work — extracting its files,
//! writing the body it relays — runs on [`workers`], under a time budget.
//!
//! Why not `Arc<Mutex<Node>>` and a task per session: a verdict must reach *every*
//! session, including sessions whose client has gone but whose analysis goes on (S5); with
//! one owner that is a loop over a map, and the simulator's proxy actor drives the node the
//! same way. Time: `now` is milliseconds since the proxy started (tokio's `Instant`).
//!
//! # Layout
//! - [`smtp`]: the coordinator.
//! - `sockets`: the socket tasks, one per TCP connection.
//! - `read_ahead` (in [`smtp`]): backpressure, a client socket not read while its session
//!   holds 64 KiB unread, so that TCP stops a client that sends far ahead of its replies.
//! - [`control`]: reload and graceful shutdown, asked for by signals.
//! - [`workers`]: the worker threads that run sessions' heavy work.
//! - [`log`]: the transaction log line and the other log lines.
//! - [`sandbox`]: the data center as the coordinator sees it, built in or over HTTP.
//! - [`dc_http`]: the data center as a separate process — its HTTP API, the server
//!   (`aptsim datacenter serve`) and the proxy's client of it.
//! - [`log`]: the transaction log line and the other log lines, as tracing events.
//! - [`log_format`]: their two forms, text and JSON (`--log-format`).
//! - [`metrics`]: counts of what the node reports, for `/metrics`.
//! - [`metrics_server`]: `/metrics` over HTTP (`--metrics ADDR`).
//! - [`ops`]: the coordinator's one call for metrics and quarantine per node output.
//! - [`quarantine`]: quarantined messages in a Maildir with their decisions
//!   (`--quarantine DIR`); [`quarantine_folder`]: listing them and releasing each once;
//!   [`reinject`]: sending a released message to an SMTP server.
//! - [`redis_cache`]: `--cache redis://`, the verdict cache and X1 claims shared by several
//!   gateways.

pub mod control;
pub mod dc_http;
mod imap_log;
pub mod log;
pub mod log_format;
pub mod metrics;
pub mod metrics_server;
pub mod ops;
pub mod quarantine;
pub mod quarantine_folder;
pub mod redis_cache;
pub mod reinject;
pub mod sandbox;
pub mod smtp;
mod sockets;
pub mod workers;
