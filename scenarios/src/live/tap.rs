//! A read-only tap on one client's byte stream that recovers each message the session
//! receives, so that the built-in data center can see the files' bytes.
//!
//! The session's `Submit` output names files by MD5 only, and the session keeps the message
//! to itself. The tap follows the session from the outside with the same core readers the
//! session uses: a [`LineReader`] for command lines, and from the `354` that answers a
//! `DATA` command a [`DataReceiver`] for the message (dot-unstuffed, strict CRLF). The
//! session's events keep the two in step: each `ClientCommand` event is one complete line
//! taken from the tap's reader (lines too long for the session are skipped there too), and a
//! `354` reply right after a `DATA` command switches the tap to message data, as the session
//! does; what was read past the command line is message data for both.
//!
//! Nothing here decides anything. Should the tap ever lose step with the session, the
//! messages it returns would yield other MD5s than the session submits: the data center
//! then finds no bytes for the uploaded MD5s and says so (its `Basis::Unseen`), it never
//! judges a file by the wrong bytes, since files are matched by MD5.

use aptsim_core::smtp::command::{self, Command, Line, LineReader};
use aptsim_core::smtp::data::DataReceiver;
use aptsim_core::smtp::proxy::Event;

/// Follows one client connection. See the module doc.
#[derive(Debug)]
pub struct DataTap {
    lines: LineReader,
    data: Option<DataReceiver>,
    /// The last command the session read was `DATA`.
    after_data_command: bool,
    max_message: usize,
}

impl DataTap {
    /// A tap for a session with these limits (the session's `max_command_line` and
    /// `max_message_bytes`).
    pub fn new(max_command_line: usize, max_message: usize) -> Self {
        DataTap {
            lines: LineReader::new(max_command_line),
            data: None,
            after_data_command: false,
            max_message,
        }
    }

    /// Bytes from the client, before the session gets them. Returns the messages that
    /// ended in them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        match self.data.as_mut() {
            Some(_) => self.ingest(bytes, &mut done),
            None => self.lines.push(bytes),
        }
        done
    }

    /// An event of the session, in order. Returns the messages that ended.
    pub fn on_event(&mut self, event: &Event) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        match event {
            Event::ClientCommand(_) => {
                // The session read one complete line; take the same one.
                let line = loop {
                    match self.lines.next_line() {
                        Some(Line::Complete(line)) => break Some(line),
                        Some(Line::TooLong) => continue,
                        None => break None,
                    }
                };
                self.after_data_command =
                    line.is_some_and(|l| command::parse(&l) == Ok(Command::Data));
            }
            Event::ClientReply(reply) => {
                if reply.code == 354 && self.after_data_command && self.data.is_none() {
                    self.data = Some(DataReceiver::new(self.max_message));
                    let rest = self.lines.take_rest();
                    self.ingest(&rest, &mut done);
                }
                self.after_data_command = false;
            }
            _ => {}
        }
        done
    }

    fn ingest(&mut self, bytes: &[u8], done: &mut Vec<Vec<u8>>) {
        let mut bytes = bytes;
        while let Some(receiver) = self.data.as_mut() {
            let (used, end) = receiver.ingest(bytes);
            bytes = &bytes[used..];
            if !end {
                return;
            }
            if let Some(receiver) = self.data.take()
                && let Ok(message) = receiver.finish()
            {
                done.push(message);
            }
        }
        // Pipelined commands after the message: back to command lines.
        self.lines.push(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::smtp::reply::Reply;

    fn cmd(t: &mut DataTap, line: &str) -> Vec<Vec<u8>> {
        t.on_event(&Event::ClientCommand(line.to_owned()))
    }

    fn reply(t: &mut DataTap, code: u16) -> Vec<Vec<u8>> {
        t.on_event(&Event::ClientReply(Reply::new(code, "x")))
    }

    #[test]
    fn follows_a_plain_dialogue() {
        let mut t = DataTap::new(2048, 1 << 20);
        assert!(t.feed(b"EHLO a\r\n").is_empty());
        cmd(&mut t, "EHLO a");
        reply(&mut t, 250);
        t.feed(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
        for (line, code) in [("MAIL FROM:<a@x>", 250), ("RCPT TO:<b@y>", 250)] {
            cmd(&mut t, line);
            reply(&mut t, code);
        }
        cmd(&mut t, "DATA");
        assert!(reply(&mut t, 354).is_empty());
        assert!(t.feed(b"Subject: s\r\n\r\n..dot\r\n").is_empty());
        let done = t.feed(b".\r\nQUIT\r\n");
        assert_eq!(done, vec![b"Subject: s\r\n\r\n.dot\r\n".to_vec()]);
        cmd(&mut t, "QUIT");
        assert!(!t.after_data_command);
    }

    #[test]
    fn data_pipelined_with_the_command_and_a_refused_data() {
        let mut t = DataTap::new(2048, 1 << 20);
        t.feed(b"DATA\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nbody\r\n.\r\nRSET\r\n");
        cmd(&mut t, "DATA");
        reply(&mut t, 503);
        cmd(&mut t, "MAIL FROM:<a@x>");
        reply(&mut t, 250);
        cmd(&mut t, "RCPT TO:<b@y>");
        reply(&mut t, 250);
        cmd(&mut t, "DATA");
        assert_eq!(reply(&mut t, 354), vec![b"body\r\n".to_vec()]);
        cmd(&mut t, "RSET");
        assert!(!t.after_data_command);
    }

    #[test]
    fn a_refused_message_yields_nothing() {
        let mut t = DataTap::new(2048, 1 << 20);
        t.feed(b"DATA\r\n");
        cmd(&mut t, "DATA");
        reply(&mut t, 354);
        assert!(t.feed(b"bare\nlf\r\n.\r\n").is_empty());
    }
}
