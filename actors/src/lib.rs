//! aptsim-actors: the actix actors of a simulated world, each a thin shell around a core
//! machine or a role model. Protocol decisions live in `aptsim-core`; actors move bytes over
//! [`wire::Link`]s, keep timers on virtual time, and write the [`record`] trace.
//!
//! # Layout
//! - [`clock`]: virtual time since the world started.
//! - [`record`]: the typed trace records and the recorder.
//! - [`timer`]: timers that stay cheap by the thousand.
//! - [`wire`]: connection events between actors, and links with latency and cuts.
//! - [`datacenter`]: the sandbox: lookups, queued analyses, oracle, outages.
//! - [`smtp_proxy`]: the SMTP proxy, running core proxy sessions.
//! - [`sending_mta`]: the sending MTA: queue, delivery attempts, preset retry schedule.
//! - [`mail_server`]: the receiving server and its mailbox store.

pub mod clock;
pub mod datacenter;
pub mod mail_server;
pub mod record;
pub mod sending_mta;
pub mod smtp_proxy;
pub mod timer;
pub mod wire;
