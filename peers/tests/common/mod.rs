//! Helpers for the peers' tests: the wired SMTP parties (`peers`), a scripted IMAP server
//! (`imap_responder`) and a mail client wired to it (`mail_world`), and the test messages
//! shared with the core crate's tests.
#![allow(dead_code, unused_imports)]

pub mod imap_responder;
pub mod mail_world;
#[path = "../../../core/tests/common/messages.rs"]
mod messages;
pub mod peers;

pub use messages::{content, message, t};
