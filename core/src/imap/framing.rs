//! Framing: splits an IMAP byte stream into whole messages (a line plus any literals it
//! announces), with bounded line, literal and message sizes.
//!
//! The splitting itself is imap-codec's [`Fragmentizer`], which already knows that a literal's
//! bytes are never a line (so a literal that contains `\r\nA1 LOGOUT\r\n` cannot be mistaken for a
//! command). This wrapper adds what the proxy needs on top: separate limits for a line and for a
//! literal, checked as soon as the line that announces a literal ends (before the proxy says
//! `+ ` to a synchronising literal, and before any of its bytes are buffered), and typed errors.

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::core::LiteralMode;

/// Size bounds on what one peer may send. Defaults follow Dovecot and imap-next
/// (`reference/IMAP.md` §6, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Longest line (one line of a message, literals excluded), CRLF included. Default 64 KiB,
    /// Dovecot's `imap_max_line_length`.
    pub max_line: usize,
    /// Largest single literal. Default 100 MiB, imap-next's response bound; a message the
    /// gateway can hold.
    pub max_literal: u32,
    /// Largest whole message (lines plus literals). Default 100 MiB + 64 KiB.
    pub max_message: u32,
}

impl Default for WireLimits {
    fn default() -> Self {
        Self {
            max_line: 64 * 1024,
            max_literal: 100 * 1024 * 1024,
            max_message: 100 * 1024 * 1024 + 64 * 1024,
        }
    }
}

/// What went wrong on the wire. Every variant names the limit that was passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A line grew past [`WireLimits::max_line`] before its end was seen. The stream cannot be
    /// resynchronised (the rest of the line might announce a literal): the connection must end.
    #[error("line longer than {limit} bytes (seen {seen} without its end)")]
    LineTooLong {
        /// Bytes of the line seen so far.
        seen: usize,
        /// The limit.
        limit: usize,
    },
    /// A literal announced more bytes than [`WireLimits::max_literal`] allows.
    ///
    /// When `synchronising` is true the peer waits for `+ ` before it sends the bytes, so the
    /// reader has dropped the message and goes on with the next line: the caller answers the
    /// command `tag` with a tagged NO/BAD. A non-synchronising literal (`{n+}`, or any literal
    /// from a server) is already on its way: the connection must end.
    #[error("literal of {announced} bytes is larger than the limit of {limit} bytes")]
    LiteralTooLarge {
        /// The size the peer announced.
        announced: u32,
        /// The limit.
        limit: u32,
        /// Whether the literal was synchronising (`{n}`), so the stream is still usable.
        synchronising: bool,
        /// The tag of the message, when one could be read (to answer it).
        tag: Option<String>,
    },
    /// The lines and literals of one message add up to more than [`WireLimits::max_message`].
    #[error("message larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit.
        limit: u32,
    },
}

impl WireError {
    /// Whether the reader can go on after this error (only a refused synchronising literal).
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            WireError::LiteralTooLarge {
                synchronising: true,
                ..
            }
        )
    }
}

/// One step of the framer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameStep {
    /// A line announced a literal within the limits; its bytes come next.
    LiteralAnnounced {
        /// Whether the peer waits for `+ ` before sending it.
        synchronising: bool,
        /// The tag of the message, when it could be read.
        tag: Option<String>,
    },
    /// A whole message: its lines and literals, byte for byte as received.
    Message(Vec<u8>),
}

/// The incremental framer shared by the command and the response reader.
#[derive(Debug, Clone)]
pub(crate) struct Framer {
    fragmentizer: Fragmentizer,
    limits: WireLimits,
    /// Whether the peer waits for `+ ` before a synchronising literal (a client does; a server
    /// never waits, so every literal from it is already on its way).
    peer_waits: bool,
    /// Where the line being read starts in the current message, when a line is being read
    /// (`None` while a literal's bytes are being read).
    line_start: Option<usize>,
    /// A fatal error, repeated on every later call.
    failed: Option<WireError>,
}

impl Framer {
    /// A framer for one peer; `peer_waits` is true for a client (see [`Framer::peer_waits`]).
    pub(crate) fn new(limits: WireLimits, peer_waits: bool) -> Self {
        Self {
            fragmentizer: Fragmentizer::new(limits.max_message),
            limits,
            peer_waits,
            line_start: Some(0),
            failed: None,
        }
    }

    /// Queues bytes received from the peer.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.fragmentizer.enqueue_bytes(bytes);
        }
    }

    /// The next step, or `Ok(None)` when more bytes are needed.
    pub(crate) fn next_step(&mut self) -> Result<Option<FrameStep>, WireError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.advance();
        if let Err(error) = &result
            && !error.is_recoverable()
        {
            self.failed = Some(error.clone());
        }
        result
    }

    fn advance(&mut self) -> Result<Option<FrameStep>, WireError> {
        loop {
            let Some(fragment) = self.fragmentizer.progress() else {
                // Everything queued is consumed; a line without its end yet must stay in bounds.
                if let Some(start) = self.line_start {
                    let seen = self
                        .fragmentizer
                        .message_bytes()
                        .len()
                        .saturating_sub(start);
                    if seen > self.limits.max_line {
                        return Err(WireError::LineTooLong {
                            seen,
                            limit: self.limits.max_line,
                        });
                    }
                }
                if self.fragmentizer.is_max_message_size_exceeded() {
                    return Err(WireError::MessageTooLarge {
                        limit: self.limits.max_message,
                    });
                }
                return Ok(None);
            };
            match fragment {
                FragmentInfo::Line {
                    start,
                    end,
                    announcement,
                    ..
                } => {
                    if end - start > self.limits.max_line {
                        return Err(WireError::LineTooLong {
                            seen: end - start,
                            limit: self.limits.max_line,
                        });
                    }
                    if self.fragmentizer.is_max_message_size_exceeded() {
                        return Err(WireError::MessageTooLarge {
                            limit: self.limits.max_message,
                        });
                    }
                    let Some(announcement) = announcement else {
                        let line = &self.fragmentizer.message_bytes()[start..end];
                        if let Some(synchronising) = overflowing_literal(line) {
                            // `{n}` past what imap-codec reads (u32): a literal no limit
                            // allows. Taken for a line, its bytes would be read as commands.
                            let synchronising = synchronising && self.peer_waits;
                            let tag = self.fragmentizer.decode_tag().map(|t| t.inner().to_owned());
                            if synchronising {
                                self.fragmentizer.skip_message();
                                self.line_start = Some(0);
                            }
                            return Err(WireError::LiteralTooLarge {
                                announced: u32::MAX,
                                limit: self.limits.max_literal,
                                synchronising,
                                tag,
                            });
                        }
                        self.line_start = Some(0);
                        return Ok(Some(FrameStep::Message(
                            self.fragmentizer.message_bytes().to_vec(),
                        )));
                    };
                    let synchronising = self.peer_waits && announcement.mode == LiteralMode::Sync;
                    if announcement.length > self.limits.max_literal {
                        let tag = self.fragmentizer.decode_tag().map(|t| t.inner().to_owned());
                        if synchronising {
                            // The peer waits for `+ `, so no literal byte follows: drop the
                            // message and read the next line (imap-codec's documented use).
                            self.fragmentizer.skip_message();
                            self.line_start = Some(0);
                        }
                        return Err(WireError::LiteralTooLarge {
                            announced: announcement.length,
                            limit: self.limits.max_literal,
                            synchronising,
                            tag,
                        });
                    }
                    let total = end as u64 + u64::from(announcement.length);
                    if total > u64::from(self.limits.max_message) {
                        return Err(WireError::MessageTooLarge {
                            limit: self.limits.max_message,
                        });
                    }
                    self.line_start = None;
                    let tag = synchronising
                        .then(|| self.fragmentizer.decode_tag().map(|t| t.inner().to_owned()))
                        .flatten();
                    return Ok(Some(FrameStep::LiteralAnnounced { synchronising, tag }));
                }
                FragmentInfo::Literal { end, .. } => self.line_start = Some(end),
            }
        }
    }
}

/// For a line that ends in a literal announcement (`{n}`, `{n+}`, `{n-}`, `~{n}`) whose
/// number does not fit in 32 bits: whether it is synchronising. `None` for any other line.
fn overflowing_literal(line: &[u8]) -> Option<bool> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let inner = &inner[open + 1..];
    let (digits, synchronising) = match inner.last() {
        Some(b'+' | b'-') => (&inner[..inner.len() - 1], false),
        _ => (inner, true),
    };
    let all_digits = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    let overflows = std::str::from_utf8(digits)
        .ok()
        .is_some_and(|d| d.parse::<u32>().is_err());
    (all_digits && overflows).then_some(synchronising)
}
