//! aptsim-peers: sans-IO models of everyone around the gateway, driven by the simulator's
//! actors on virtual time and — where a live stand-in is useful — by the live proxy.
//!
//! # Layout
//! - [`datacenter`]: the sandbox: MD5 look-ups, analyses of drawn or fixed length under a
//!   concurrency limit, verdicts from an oracle, a content rule (EICAR) or a seeded draw,
//!   outages. One model for the simulated and the live data center.
//! - [`smtp`]: the sending MTA's client and its presets (Postfix, Exim, Sendmail, Exchange),
//!   and the receiving mail server.
//! - [`imap`]: the IMAP server behind the IMAP proxy (Dovecot 2.3's answers and timers)
//!   and its mail store.
//! - [`mail_client`]: mail clients with real habits (Thunderbird, Thunderbird for Android,
//!   Outlook, mbsync, fetchmail) that check, fetch and time out as the real programs do.
#![warn(missing_docs)]

pub mod datacenter;
pub mod imap;
pub mod mail_client;
pub mod smtp;
