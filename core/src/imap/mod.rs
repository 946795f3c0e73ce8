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
//!
//! Serving a rewritten message (I6; docs/imap.md, "Serving a rewritten message"): what a
//! server (Dovecot 2.3) returns for each FETCH item, computed from the message's bytes.
//!
//! - [`section`]: [`section_bytes`] (`BODY[section]`) and [`partial`] (`<offset.length>`).
//! - [`binary`]: [`binary_bytes`] (`BINARY[part]`, RFC 3516) and [`BinaryError`].
//! - [`mod@bodystructure`]: [`bodystructure()`] and [`body()`], as imap-types values.
//! - [`serve`]: [`FetchResponse::serve_from`], every content item of a response rewritten
//!   from the served copy, and [`ServeError`].
//!
//! They share `message`, a port of Dovecot's part tree, header reading, RFC 822 lexer,
//! address parser, ENVELOPE and string quoting, because the answers must be Dovecot's for
//! the same bytes.

pub mod binary;
pub mod bodystructure;
pub mod client;
pub mod fetch;
pub mod framing;
mod message;
pub mod proxy;
pub mod section;
pub mod serve;
pub mod server;

pub use binary::{BinaryError, binary_bytes};
pub use bodystructure::{body, bodystructure};
pub use client::{ClientCommand, CommandEvent, CommandReader};
pub use fetch::{
    ContentFetch, ContentItem, FetchRequest, ItemName, Partial, SectionSpec, SectionText, SeqBound,
    SeqRange, fetch_content,
};
pub use framing::{WireError, WireLimits};
pub use section::{part_spans, partial, section_bytes};
pub use serve::ServeError;
pub use server::{
    FetchResponse, FetchedContent, ResponseKind, ResponseReader, RewriteError, ServerResponse,
};
