//! Reading a trace file back (`aptsim run --trace FILE` wrote it): JSON Lines, one
//! [`TraceLine`] at a time, fed to an [`Observer`] as it is read, so that re-checking a
//! million-message day holds what is in flight, not the file.
//!
//! The file is the trace as [`crate::observe::JsonlSink`] wrote it, and each line reads back
//! equal to the line written (a test holds every record kind to it). Anything else is
//! refused with the line number and what is wrong: not JSON, an unknown event or field, a
//! field of the wrong type, an actor no simulation has, a line longer than any trace writes.

use std::io::{BufRead, Read};

use aptsim_core::verdict::ThreatLevel;
use aptsim_peers::smtp::sender::Phase;
use serde::{Deserialize, Deserializer};

use crate::observe::Observer;
use crate::trace::{FileLevel, Record, TraceLine};

/// The actors that write the trace (`Recorder::record`'s `actor` in `aptsim-actors`). A
/// line read back names one of them; another name is an error, not a new actor.
pub const ACTORS: &[&str] = &[
    "sending_mta",
    "smtp_proxy",
    "imap_proxy",
    "datacenter",
    "mail_server",
    "imap_server",
    "mail_client",
    "faults",
];

/// Longest line read: far beyond any record (the longest carry an SMTP line or a list of
/// recipients or files), small enough that a file without line ends cannot exhaust memory.
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a trace file could not be read; each names the line (from 1).
#[derive(Debug, thiserror::Error)]
pub enum TraceFileError {
    /// Reading the file failed.
    #[error("line {line}: {source}")]
    Read {
        /// The line being read.
        line: u64,
        /// What the reader said.
        source: std::io::Error,
    },
    /// The line is not a trace line: not JSON, or not one of the records.
    #[error("line {line}, column {column}: {what}")]
    Line {
        /// The line.
        line: u64,
        /// Where in the line serde_json stopped.
        column: usize,
        /// What is wrong.
        what: String,
    },
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes")]
    TooLong {
        /// The line.
        line: u64,
    },
}

/// The lines of a trace file, in order; stops at the first error.
pub struct TraceReader<R> {
    input: R,
    line: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> TraceReader<R> {
    /// Reads `input` (buffer it).
    pub fn new(input: R) -> Self {
        TraceReader {
            input,
            line: 0,
            buf: Vec::new(),
            failed: false,
        }
    }

    /// Lines read so far, blank ones included.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn next_line(&mut self) -> Result<Option<TraceLine>, TraceFileError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let line = self.line;
            let n = self
                .input
                .by_ref()
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| TraceFileError::Read { line, source })?;
            if n == 0 {
                self.line -= 1;
                return Ok(None);
            }
            if n as u64 > MAX_LINE_BYTES {
                return Err(TraceFileError::TooLong { line });
            }
            // A blank line (an editor's final newline) is no record.
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&self.buf)
                .map(Some)
                .map_err(|e| json_error(line, &e));
        }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<TraceLine, TraceFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_line();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// Feeds every line of `input` to `observer`, in order; the number of trace lines read.
/// On an error the observer has read the lines before it.
pub fn feed(input: impl BufRead, observer: &mut dyn Observer) -> Result<u64, TraceFileError> {
    let mut lines = 0;
    for line in TraceReader::new(input) {
        observer.observe(&line?);
        lines += 1;
    }
    Ok(lines)
}

/// serde_json's message without its position (always line 1 of a one-line text), and the
/// column apart.
fn json_error(line: u64, e: &serde_json::Error) -> TraceFileError {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    TraceFileError::Line {
        line,
        column: e.column(),
        what: text
            .strip_suffix(&position)
            .map_or_else(|| text.clone(), str::to_owned),
    }
}

/// A trace line as the file has it: [`TraceLine`] but for the actor's name.
#[derive(Deserialize)]
struct Line {
    t: u64,
    actor: Actor,
    #[serde(flatten)]
    record: Record,
}

/// One of [`ACTORS`], as the static name the actors write.
struct Actor(&'static str);

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match ACTORS.iter().find(|a| **a == name) {
            Some(a) => Ok(Actor(a)),
            None => Err(serde::de::Error::custom(format!(
                "unknown actor {name:?} (one of {})",
                ACTORS.join(", ")
            ))),
        }
    }
}

/// A trace line reads back as it was written; its actor is one of [`ACTORS`].
impl<'de> Deserialize<'de> for TraceLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Line { t, actor, record } = Line::deserialize(d)?;
        Ok(TraceLine {
            t,
            actor: actor.0,
            record,
        })
    }
}

/// The sender's [`Phase`], written by its variant name. Described here rather than derived
/// on the type, which belongs to the peers crate; in tests the serialising half is derived
/// too, which matches on every variant, so a new phase does not compile until it is here.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(remote = "Phase")]
enum PhaseDef {
    Greeting,
    Ehlo,
    Mail,
    Rcpt,
    DataInit,
    DataDone,
    Quit,
}

/// `Record::SenderTimeout::phase`.
pub(crate) fn phase<'de, D: Deserializer<'de>>(d: D) -> Result<Phase, D::Error> {
    PhaseDef::deserialize(d)
}

/// A file's level reads back as it is written: a level, or `unjudged`.
impl<'de> Deserialize<'de> for FileLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "unjudged" {
            return Ok(FileLevel::Unjudged);
        }
        let level: Result<ThreatLevel, serde::de::value::Error> =
            ThreatLevel::deserialize(serde::de::value::StrDeserializer::new(&text));
        level.map(FileLevel::Judged).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown file level {text:?} (a threat level or \"unjudged\")"
            ))
        })
    }
}

#[cfg(test)]
#[path = "trace_file_tests.rs"]
mod tests;
