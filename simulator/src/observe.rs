//! Reading the trace as it is written: the [`Observer`]s a [`crate::trace::Recorder`] feeds
//! every line to, so that checks, metrics and files need not wait for (or keep) the whole
//! trace.
//!
//! A million-message run writes tens of millions of lines; kept, they are most of its
//! memory. Observed, each line is read once by the online checks
//! ([`crate::invariants::Checker`], [`crate::metrics::Accumulator`]) and written to a file
//! ([`JsonlSink`]) or hashed ([`TraceDigest`]) if asked, and then dropped. The batch checks
//! are the same observers fed a kept trace, so a check from a trace file and the online check
//! of the run agree by construction (and a test holds them to it).

use std::cell::RefCell;
use std::hash::Hasher;
use std::io::Write;
use std::rc::Rc;

use crate::trace::TraceLine;

/// Something that reads every trace line as it is recorded.
pub trait Observer {
    /// One line, in trace order.
    fn observe(&mut self, line: &TraceLine);

    /// True when this observer reads the SMTP command and reply lines on the proxy's two
    /// sides (the bulk of the trace). When no observer does and nothing keeps the trace, the
    /// actors do not build those records at all; they are still counted.
    fn wants_wire(&self) -> bool {
        false
    }
}

/// A shared observer: the run feeds it, and whoever made it reads its result afterwards.
impl<T: Observer> Observer for Rc<RefCell<T>> {
    fn observe(&mut self, line: &TraceLine) {
        self.borrow_mut().observe(line);
    }

    fn wants_wire(&self) -> bool {
        self.borrow().wants_wire()
    }
}

/// Writes the trace as JSON Lines while it happens (`aptsim run --trace FILE`), so a trace
/// never has to fit in memory. The first write error is kept and every later line dropped;
/// [`JsonlSink::finish`] reports it.
pub struct JsonlSink<W: Write> {
    out: W,
    error: Option<std::io::Error>,
}

impl<W: Write> JsonlSink<W> {
    /// A sink writing to `out` (buffer it: one write per line otherwise).
    pub fn new(out: W) -> Self {
        JsonlSink { out, error: None }
    }

    /// Flushes the output; the first error met on the way, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

impl<W: Write> Observer for JsonlSink<W> {
    fn observe(&mut self, line: &TraceLine) {
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    fn wants_wire(&self) -> bool {
        true
    }
}

/// A fingerprint of the trace as JSON Lines, byte for byte, without keeping it: two runs
/// agree on N8 when their digests do (`aptsim run --check-determinism`).
#[derive(Default)]
pub struct TraceDigest {
    hasher: std::collections::hash_map::DefaultHasher,
    buf: Vec<u8>,
    lines: u64,
}

impl TraceDigest {
    /// The digest so far and the lines it covers.
    pub fn value(&self) -> (u64, u64) {
        (self.hasher.finish(), self.lines)
    }
}

impl Observer for TraceDigest {
    fn observe(&mut self, line: &TraceLine) {
        self.buf.clear();
        // Serialising plain data into a Vec cannot fail.
        if serde_json::to_writer(&mut self.buf, line).is_ok() {
            self.hasher.write(&self.buf);
            self.hasher.write_u8(b'\n');
            self.lines += 1;
        }
    }

    fn wants_wire(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Record;

    fn line(t: u64, msg: &str) -> TraceLine {
        TraceLine {
            t,
            actor: "t",
            record: Record::Queued { msg: msg.into() },
        }
    }

    #[test]
    fn the_sink_writes_json_lines() {
        let mut sink = JsonlSink::new(Vec::new());
        sink.observe(&line(1, "a"));
        sink.observe(&line(2, "b"));
        sink.finish().expect("a Vec never fails");
        assert_eq!(
            String::from_utf8_lossy(&sink.out),
            "{\"t\":1,\"actor\":\"t\",\"event\":\"queued\",\"msg\":\"a\"}\n\
             {\"t\":2,\"actor\":\"t\",\"event\":\"queued\",\"msg\":\"b\"}\n"
        );
    }

    #[test]
    fn a_write_error_is_reported_once_and_stops_the_sink() {
        struct Broken(u32);
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                self.0 += 1;
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = JsonlSink::new(Broken(0));
        sink.observe(&line(1, "a"));
        sink.observe(&line(2, "b"));
        assert_eq!(sink.out.0, 1, "nothing written after the first error");
        let err = sink.finish().expect_err("the error comes back");
        assert!(err.to_string().contains("disk full"));
    }

    #[test]
    fn digests_differ_when_one_line_does() {
        let digest = |lines: &[TraceLine]| {
            let mut d = TraceDigest::default();
            lines.iter().for_each(|l| d.observe(l));
            d.value()
        };
        let a = [line(1, "a"), line(2, "b")];
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&[line(1, "a"), line(3, "b")]));
        assert_eq!(digest(&a).1, 2);
    }
}
