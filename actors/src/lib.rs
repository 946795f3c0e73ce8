//! aptsim-actors: the cast of a simulated world — one actix actor per party, each a thin
//! shell around a sans-IO model (`aptsim-core`'s gateway node, `aptsim-peers`' sender,
//! server and data center) — and the world that assembles them on virtual time.
//!
//! The machinery they run on (virtual clock, timers, links, the trace, faults, seeded
//! streams) is `aptsim-simulator`'s; the world sits here because it instantiates the cast.
//!
//! # Layout
//! - [`smtp_proxy`]: the gateway node's actor (its SMTP and IMAP proxy sessions);
//!   `imap_records` turns the IMAP sessions' events into trace records.
//! - [`sending_mta`]: the sending MTA: queue, delivery attempts, preset retry schedule;
//!   [`outgoing`] its messages, made one at a time in queue order.
//! - [`mail_server`]: the receiving server; [`originals`] the messages as sent, so that it
//!   knows the files of one stored unchanged without taking it apart.
//! - [`imap_server`]: the IMAP server (Dovecot's model) and the accounts' mail store.
//! - [`mail_client`]: a mail client program (Thunderbird, K-9, Outlook, mbsync, fetchmail).
//! - [`datacenter`]: the sandbox.
//! - `me`: an actor's own address for the links, made once.
//! - [`world`]: builds the actors of one gateway and its peers, runs them, returns the trace.

pub mod datacenter;
mod imap_records;
pub mod imap_server;
pub mod mail_client;
pub mod mail_server;
mod me;
pub mod originals;
pub mod outgoing;
pub mod sending_mta;
pub mod smtp_proxy;
pub mod world;
