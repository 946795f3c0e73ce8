//! `smtp_proxy_session`: the proxy session driven by a script of events, its outputs checked.
//! This file reads the script; `proxy_driver` plays the two peers and checks the outputs.

use super::proxy_driver::Driver;
use super::*;

/// A message with one base64 attachment, dot-stuffed and terminated.
const MESSAGE_ONE: &[u8] = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: one\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n..a dot line\r\n\
--XX\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAA=\r\n--XX--\r\n.\r\n";

/// A message with two attachments (one quoted-printable), dot-stuffed and terminated.
const MESSAGE_TWO: &[u8] = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: two\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"YY\"\r\n\r\n\
--YY\r\nContent-Type: text/plain\r\n\r\nsee both\r\n\
--YY\r\nContent-Disposition: attachment; filename=b.txt\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nb=3D1\r\n\
--YY\r\nContent-Type: application/pdf; name=c.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--YY--\r\n.\r\n";

/// Client lines the script can send by number, so that the fuzzer reaches whole dialogues.
const CLIENT_LINES: [&[u8]; 14] = [
    b"EHLO client.example\r\n",
    b"HELO client.example\r\n",
    b"MAIL FROM:<alice@example.com>\r\n",
    b"MAIL FROM:<alice@example.com> SIZE=1000\r\n",
    b"RCPT TO:<bob@example.net>\r\n",
    b"DATA\r\n",
    MESSAGE_ONE,
    MESSAGE_TWO,
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"VRFY bob\r\n",
    b"STARTTLS\r\n",
    b"Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\n",
];

/// The outputs of the session for script `data`, one line each, for reading what a fuzz input
/// does; it runs the same checks as [`smtp_proxy_session`], and ends with the panic message
/// where that panics.
pub fn smtp_proxy_trace(data: &[u8]) -> Vec<String> {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_script(data, Some(trace.clone()));
    }));
    let mut lines = trace.take();
    if let Err(e) = result {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        lines.push(format!("PANIC: {msg}"));
    }
    lines
}

/// Reads the script: a flags byte (policy and limits), then operations.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte()).min(self.0.len());
        let (chunk, rest) = self.0.split_at(n);
        self.0 = rest;
        chunk
    }
}

/// A `ProxySession` driven by a script of client and upstream bytes, connections opening
/// and closing, time passing, verdicts and failed jobs (docs/fuzzing.md has the format).
/// Checked: no panic; what goes upstream is either a clean command line or, after a 354, a
/// body that is exactly one canonical message for a transaction decided for delivery whose
/// client is still there; never two upstream connections at once; no timer livelock; the
/// idle timeout never closes a client sooner than `idle_timeout` after it last sent or was
/// answered; at the end, with both sides closed, the session finishes and holds nothing.
pub fn smtp_proxy_session(data: &[u8]) {
    run_script(data, None);
}

fn run_script(data: &[u8], trace: Option<Rc<RefCell<Vec<String>>>>) {
    let mut script = Script(data);
    let flags = script.byte();
    let mut d = Driver::new(flags, trace.clone());
    let note = |what: String| {
        if let Some(t) = &trace {
            t.borrow_mut().push(format!("-- {what}"));
        }
    };
    while !script.0.is_empty() {
        let before = script.0.len();
        match script.byte() % 12 {
            0 => {
                let c = script.chunk();
                d.client(c);
            }
            1 => {
                let c = script.chunk();
                d.upstream_bytes(c);
            }
            2 => {
                let line = CLIENT_LINES[usize::from(script.byte()) % CLIENT_LINES.len()];
                d.client(line);
            }
            3 => {
                let kind = script.byte();
                d.auto_reply(kind);
            }
            4 => d.upstream_connected(),
            5 => d.upstream_connect_failed(),
            6 => d.upstream_closed(),
            7 => d.client_closed(),
            8 => {
                let b = script.byte();
                let secs = if b < 128 {
                    u64::from(b)
                } else {
                    u64::from(b - 127) * 60
                };
                d.advance(Duration::from_secs(secs));
            }
            9 => {
                let (index, level) = (script.byte(), script.byte());
                d.verdict(index, level);
            }
            10 => {
                let index = script.byte();
                d.unreachable(index);
            }
            _ => d.fail_next_work(),
        }
        d.fire_timers();
        let op = &data[data.len() - before..data.len() - script.0.len()];
        note(format!("after op {:?}", String::from_utf8_lossy(op)));
    }
    d.finish();
    note("finished".into());
}
