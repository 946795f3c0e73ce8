//! The IMAP proxy's wire layer: framing of commands and responses (lines, literals, `+ `
//! continuations, size bounds) and the FETCH classifier, sans-IO.
//!
//! Parsing and serialising are imap-codec's (docs/imap.md, "The wire codec"); its types stay
//! behind this module's own, so the session depends on these types only.
//!
//! - [`framing`]: size bounds ([`WireLimits`]) and wire errors ([`WireError`]).
//! - [`client`]: [`CommandReader`], a client's commands with their literals.
//! - [`server`]: [`ResponseReader`], a server's responses, and [`FetchResponse`] to read and
//!   rewrite a FETCH response.
//! - [`fetch`]: [`fetch_content`], what a FETCH asks for.
//! - [`proxy`]: [`proxy::ImapSession`], the proxy session on top of them.

pub mod client;
pub mod fetch;
pub mod framing;
pub mod proxy;
pub mod server;

pub use client::{ClientCommand, CommandEvent, CommandReader};
pub use fetch::{
    ContentFetch, ContentItem, FetchRequest, ItemName, Partial, SectionSpec, SectionText, SeqBound,
    SeqRange, fetch_content,
};
pub use framing::{WireError, WireLimits};
pub use server::{
    FetchResponse, FetchedContent, ResponseKind, ResponseReader, RewriteError, ServerResponse,
};
