//! The client side: reads commands from a client's bytes, assembling literals and saying when
//! the proxy must answer a synchronising literal with `+ `.

use super::framing::{FrameStep, Framer, WireError, WireLimits};

/// One complete message from the client, byte for byte as received: usually a command (its line
/// and literals), but also the lines that are not commands (`DONE` after IDLE, SASL data after
/// AUTHENTICATE), which only the session can tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCommand {
    raw: Vec<u8>,
}

impl ClientCommand {
    /// Wraps bytes already known to be one whole message (tests, replays).
    pub fn from_bytes(raw: impl Into<Vec<u8>>) -> Self {
        Self { raw: raw.into() }
    }

    /// The bytes as received, to forward unchanged.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The first word of the line (the tag of a command), when it is printable ASCII.
    pub fn tag(&self) -> Option<&str> {
        let end = self
            .raw
            .iter()
            .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
        let tag = std::str::from_utf8(&self.raw[..end]).ok()?;
        (!tag.is_empty() && tag.bytes().all(|b| b.is_ascii_graphic())).then_some(tag)
    }
}

/// What the command reader has for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEvent {
    /// The client announced a synchronising literal (`{n}`) within the limits and waits: send
    /// `+ ` (a continuation request) now, or the client never sends the literal.
    SendContinuation {
        /// The tag of the command being read, when it could be read.
        tag: Option<String>,
    },
    /// A whole command with its literals.
    Command(ClientCommand),
}

/// Incremental, sans-IO reader of a client's commands.
///
/// Call [`CommandReader::push`] with the bytes read from the socket, then
/// [`CommandReader::next_event`] until it returns `Ok(None)`. A synchronising literal larger than
/// the limit comes back as a recoverable [`WireError::LiteralTooLarge`] (answer its tag with NO and
/// go on); every other error is final and repeats on every later call.
#[derive(Debug, Clone)]
pub struct CommandReader {
    framer: Framer,
}

impl CommandReader {
    /// A reader with the given limits.
    pub fn new(limits: WireLimits) -> Self {
        Self {
            framer: Framer::new(limits, true),
        }
    }

    /// Queues bytes received from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// The next event, or `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<CommandEvent>, WireError> {
        loop {
            match self.framer.next_step()? {
                None => return Ok(None),
                Some(FrameStep::LiteralAnnounced {
                    synchronising: true,
                    tag,
                }) => {
                    return Ok(Some(CommandEvent::SendContinuation { tag }));
                }
                // LITERAL+: the bytes follow without waiting; nothing to tell the session.
                Some(FrameStep::LiteralAnnounced {
                    synchronising: false,
                    ..
                }) => {}
                Some(FrameStep::Message(raw)) => {
                    return Ok(Some(CommandEvent::Command(ClientCommand { raw })));
                }
            }
        }
    }
}
