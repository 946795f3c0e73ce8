//! A mail client wired to the scripted server ([`super::imap_responder`]) on virtual time:
//! the client's outputs go to the server at once and its answers come back at once, whole
//! or one byte per call (`bytewise`). Records every line the client wrote, every event,
//! and every connection opened and closed.

use std::collections::VecDeque;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_peers::mail_client::{
    ClientConfig, ClientEvent, ClientOutput, ClientPreset, ConnId, MailClient, MessageKey, Step,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::imap_responder::Responder;

/// What happens to the client's connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectMode {
    Accept,
    Refuse,
    /// Never answered (a black-holed server).
    Hang,
}

pub struct World {
    pub client: MailClient,
    pub server: Responder,
    pub now: Timestamp,
    pub conn: Option<ConnId>,
    pub bytewise: bool,
    pub connect: ConnectMode,
    /// `(connection, line)` for every line the client wrote.
    pub sent: Vec<(ConnId, String)>,
    pub events: Vec<(Timestamp, ClientEvent)>,
    pub connects: Vec<ConnId>,
    pub closes: Vec<ConnId>,
    to_client: VecDeque<Vec<u8>>,
}

/// A configuration of `preset` for bob/pw.
pub fn config(preset: ClientPreset) -> ClientConfig {
    ClientConfig::new(preset, "bob", "pw")
}

pub fn secs(s: u64) -> Timestamp {
    Timestamp::from_millis(s * 1_000)
}

/// Runs `story` with whole and with byte-by-byte server answers; both must give the same
/// lines and events. Returns the whole run.
pub fn both(story: impl Fn(bool) -> World) -> World {
    let whole = story(false);
    let split = story(true);
    assert_eq!(whole.lines(), split.lines(), "lines differ when split");
    assert_eq!(whole.events(), split.events(), "events differ when split");
    whole
}

/// `(seconds, step)` of every timeout.
pub fn timed_out(w: &World) -> Vec<(u64, Step)> {
    w.events
        .iter()
        .filter_map(|(t, e)| match e {
            ClientEvent::TimedOut { what, .. } => Some((t.as_millis() / 1000, what.clone())),
            _ => None,
        })
        .collect()
}

impl World {
    pub fn new(config: ClientConfig, messages: &[Vec<u8>], bytewise: bool) -> Self {
        let client = MailClient::new(config, ChaCha8Rng::seed_from_u64(7)).expect("valid config");
        World {
            client,
            server: Responder::new(messages),
            now: Timestamp::ZERO,
            conn: None,
            bytewise,
            connect: ConnectMode::Accept,
            sent: Vec::new(),
            events: Vec::new(),
            connects: Vec::new(),
            closes: Vec::new(),
            to_client: VecDeque::new(),
        }
    }

    /// Runs every deadline up to `t`, then stands at `t`.
    pub fn run_until(&mut self, t: Timestamp) {
        for _ in 0..100_000 {
            self.flush();
            match self.client.poll_timeout() {
                Some(due) if due <= t => {
                    self.now = self.now.max(due);
                    self.client.handle_timeout(self.now);
                }
                _ => {
                    self.now = self.now.max(t);
                    self.flush();
                    return;
                }
            }
        }
        panic!("the client keeps asking for timeouts before {t}");
    }

    /// Runs `d` further.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Bytes from the server now, besides its answers (a keepalive, an unsolicited line).
    pub fn push(&mut self, bytes: &[u8]) {
        self.to_client.push_back(bytes.to_vec());
        self.flush();
    }

    /// The server answers what it held.
    pub fn release(&mut self) {
        let answer = self.server.release();
        self.to_client.push_back(answer);
        self.flush();
    }

    /// The server hangs up.
    pub fn hang_up(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.to_client.clear();
            self.client.handle_closed(conn, self.now);
            self.flush();
        }
    }

    /// Moves outputs to the server and answers to the client until both rest.
    pub fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                moved = true;
                self.output(out);
            }
            if let Some(bytes) = self.to_client.pop_front() {
                moved = true;
                self.deliver(&bytes);
            }
            if !moved {
                return;
            }
        }
    }

    fn output(&mut self, out: ClientOutput) {
        match out {
            ClientOutput::Connect { conn } => {
                self.connects.push(conn);
                match self.connect {
                    ConnectMode::Accept => {
                        self.conn = Some(conn);
                        self.server.reset_connection();
                        self.to_client.clear();
                        self.client.handle_connected(conn, self.now);
                        self.to_client.push_back(self.server.greeting.clone());
                    }
                    ConnectMode::Refuse => self.client.handle_connect_failed(conn, self.now),
                    ConnectMode::Hang => self.conn = Some(conn),
                }
            }
            ClientOutput::Send { conn, bytes } => {
                let text = String::from_utf8_lossy(&bytes);
                for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                    self.sent.push((conn, line.to_owned()));
                }
                if self.conn == Some(conn) {
                    let answer = self.server.receive(&bytes);
                    if !answer.is_empty() {
                        self.to_client.push_back(answer);
                    }
                }
            }
            ClientOutput::Close { conn } => {
                self.closes.push(conn);
                if self.conn == Some(conn) {
                    self.conn = None;
                    self.to_client.clear();
                    self.server.reset_connection();
                }
            }
            ClientOutput::Event(e) => self.events.push((self.now, e)),
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        let Some(conn) = self.conn else { return };
        if self.bytewise {
            for b in bytes {
                self.client
                    .handle_bytes(conn, std::slice::from_ref(b), self.now);
            }
        } else {
            self.client.handle_bytes(conn, bytes, self.now);
        }
    }

    /// The lines the client wrote, with their tags.
    pub fn lines(&self) -> Vec<String> {
        self.sent.iter().map(|(_, l)| l.clone()).collect()
    }

    /// The lines the client wrote without their tags, from the `n`-th on.
    pub fn commands_from(&self, n: usize) -> Vec<String> {
        self.sent[n..]
            .iter()
            .map(|(_, l)| l.split_once(' ').map_or(l.as_str(), |(_, c)| c).to_owned())
            .collect()
    }

    /// The events, without their times.
    pub fn events(&self) -> Vec<ClientEvent> {
        self.events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Events of the given kind.
    pub fn events_where(&self, f: impl Fn(&ClientEvent) -> bool) -> Vec<(Timestamp, ClientEvent)> {
        self.events.iter().filter(|(_, e)| f(e)).cloned().collect()
    }

    /// `(key, bytes, attempts)` of every Fetched event, in order.
    pub fn fetched(&self) -> Vec<(MessageKey, usize, u32)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                ClientEvent::Fetched {
                    key,
                    bytes,
                    attempts,
                } => Some((*key, *bytes, *attempts)),
                _ => None,
            })
            .collect()
    }
}

/// A message of about `size` bytes with CRLF line ends.
pub fn message(subject: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: alice@example.com\r\nTo: bob@example.net\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\n\r\n"
    )
    .into_bytes();
    let line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    while m.len() < size {
        m.push(b'.');
    }
    m
}

/// A multipart message: a text part, an HTML part (both `alternative`), and a PDF attachment
/// of `attachment` bytes (base64 lines).
pub fn with_attachment(subject: &str, attachment: usize) -> Vec<u8> {
    let mut m = format!(
        "From: alice@example.com\r\nTo: bob@example.net\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
         --inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the report.\r\n\
         --inner\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>See the report.</p>\r\n\
         --inner--\r\n\
         --outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    let line = b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0\r\n";
    let mut n = 0;
    while n < attachment {
        m.extend_from_slice(line);
        n += line.len();
    }
    m.extend_from_slice(b"--outer--\r\n");
    m
}
