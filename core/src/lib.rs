//! aptsim-core: the sans-IO logic of an email gateway that sends attachments to a cloud
//! sandbox ("data center") before it lets them through.
//!
//! Nothing here reads a clock, opens a socket or draws a random number: the simulator's actors
//! and the live TCP proxy drive the same code, passing time in and carrying requests out.
//!
//! # Layout
//! - [`mime`]: the files in a raw message (attachments, transfer-decoded, archives expanded).
//! - [`archive`]: zip, gzip and tar members, with bomb limits; encrypted means unscannable.
//! - [`unscannable`]: why a file cannot be analysed (a limit, encryption, corruption).
//! - [`digest`]: [`digest::Md5`], a file's identity.
//! - [`clock`]: [`clock::Timestamp`], time as passed in by the driver.
//! - [`verdict`]: threat levels, scores and thresholds.
//! - [`cache`]: the verdict cache (TTL, capacity) and the in-flight table (X1).
//! - [`policy`]: actions per level (A1) and the named options (S1, X1–X3), from TOML.
//! - [`inspect`]: the decision engine, one machine per message, SMTP and IMAP flavours.
//! - [`rewrite`]: the rewritten message for drop, block and lock, and the deny message.
//! - [`gateway`]: what one gateway's sessions share (cache, in-flight table, blocked sites).
//! - [`node`]: the gateway node: every session by connection, X1, verdict fan-out, deadlines;
//!   what both transports (simulated and live) drive.
//! - [`usage`]: connections and held bytes, counted across a gateway's sessions.
//! - [`imap`]: the IMAP proxy session, its wire layer (framing, literals, the FETCH
//!   classifier), and what a server returns for each FETCH item of a message (sections,
//!   BINARY, BODYSTRUCTURE), to serve a rewritten message consistently.
//! - [`smtp`]: the SMTP proxy session and its parts (commands, replies, data).
//! - [`session_output`]: what a session of either proxy asks its driver to do.
//! - [`work`]: the heavy work (extraction, writing the relayed body) sessions hand their
//!   driver, to run inline or on a worker thread.
//! - [`duration`]: `10m`-style durations in configuration.
#![warn(missing_docs)]

pub mod archive;
pub mod cache;
pub mod clock;
pub mod conn_map;
pub mod digest;
pub mod duration;
pub mod gateway;
pub mod imap;
pub mod inspect;
pub mod mime;
pub mod node;
pub mod policy;
pub mod rewrite;
pub mod session_output;
pub mod smtp;
pub mod unscannable;
pub mod usage;
pub mod verdict;
pub mod work;

#[cfg(test)]
mod test_bytes;
