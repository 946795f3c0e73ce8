//! The SMTP wire format, as both sides of a proxy read and write it.
//!
//! - [`command`]: command lines (RFC 5321 §4.1) and the reader that splits a client's
//!   stream into them.
//! - [`reply`]: replies, written and parsed incrementally (RFC 5321 §4.2).
//! - [`data`]: message data after DATA: dot-unstuffing, strict line ends, size and line
//!   limits; and the dot-stuffed form sent on.
//! - [`date`]: dates as mail headers write them (RFC 5322), for the proxy's `Received:`.

pub mod command;
pub mod data;
pub mod date;
pub mod reply;
