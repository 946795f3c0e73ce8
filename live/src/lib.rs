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
//! - [`smtp`]: the coordinator and the socket tasks.
//! - [`workers`]: the worker threads that run sessions' heavy work.
//! - [`log`]: the transaction log line and the other log lines.
//! - [`redis_cache`]: `--cache redis://`, the verdict cache and X1 claims shared by several
//!   gateways.

pub mod log;
pub mod redis_cache;
pub mod smtp;
pub mod workers;
