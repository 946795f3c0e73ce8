//! How Dovecot 2.3 reads a message, ported so that what the proxy serves from a rewritten
//! copy is what Dovecot would answer for the same bytes (docs/imap.md, "Serving a rewritten
//! message"): the part tree, header lines, the RFC 822 lexer, MIME parameters, addresses,
//! ENVELOPE and IMAP string quoting. Used by `section`, `binary`, `bodystructure` and `serve`.

pub(super) mod address;
pub(super) mod envelope;
pub(super) mod header;
pub(super) mod params;
pub(super) mod parts;
pub(super) mod quote;
pub(super) mod rfc822;
