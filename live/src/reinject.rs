//! Sending one stored message to an SMTP server with its stored envelope: what
//! `aptsim quarantine release` does. A blocking client (the command sends one message and
//! exits), over the same reply parser and dot-stuffing the proxy uses
//! (`core/src/smtp/wire/`).
//!
//! The dialogue: greeting, `EHLO` (`HELO` if the server refuses it), `MAIL FROM` with
//! `BODY=8BITMIME` when the message has 8-bit bytes and the server offers it, and `SMTPUTF8`
//! when an address is not ASCII and the server offers it; one `RCPT TO` per recipient,
//! `DATA`, the dot-stuffed message with CRLF line ends, `QUIT`. Recipients the server
//! refuses are reported and the others still get the message; if it refuses them all, or
//! anything else, nothing is sent and the error says which step and what it answered.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use aptsim_core::smtp::wire::data::dot_stuff;
use aptsim_core::smtp::wire::reply::{Reply, ReplyError, ReplyParser};

/// What went wrong sending a message.
#[derive(Debug, thiserror::Error)]
pub enum ReinjectError {
    /// The server could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The server.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The connection broke, or timed out.
    #[error("{step}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The server closed the connection.
    #[error("{0}: the server closed the connection")]
    Closed(&'static str),
    /// The server sent something that is no SMTP reply.
    #[error("{step}: {source}")]
    Protocol {
        /// What was being done.
        step: &'static str,
        /// What was wrong.
        source: ReplyError,
    },
    /// The server refused a step.
    #[error("{step}: the server answered {reply}")]
    Refused {
        /// What was refused.
        step: &'static str,
        /// Its reply.
        reply: String,
    },
    /// Every recipient was refused.
    #[error("every recipient was refused: {}", .0.join("; "))]
    NoRecipient(Vec<String>),
    /// An address of the envelope that cannot be sent as it is (a tampered decision).
    #[error("address {0:?} has characters that cannot go into an SMTP command")]
    BadAddress(String),
}

/// The server took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Its reply to the data (`250 …`).
    pub reply: String,
    /// Each refused recipient with the server's reply.
    pub refused: Vec<String>,
}

/// Sends `message` (LF or CRLF line ends) from `from` to `rcpts` through the SMTP server at
/// `addr`, greeting it as `helo`; each read and write may take `timeout`.
pub fn send(
    addr: &str,
    helo: &str,
    from: &str,
    rcpts: &[String],
    message: &[u8],
    timeout: Duration,
) -> Result<Delivered, ReinjectError> {
    for a in std::iter::once(from).chain(rcpts.iter().map(String::as_str)) {
        if a.chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | ' '))
        {
            return Err(ReinjectError::BadAddress(a.to_owned()));
        }
    }
    let connect = |source| ReinjectError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let target = addr
        .to_socket_addrs()
        .map_err(connect)?
        .next()
        .ok_or_else(|| connect(std::io::ErrorKind::NotFound.into()))?;
    let stream = TcpStream::connect_timeout(&target, timeout).map_err(connect)?;
    let io = |step| move |source| ReinjectError::Io { step, source };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(io("connect"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io("connect"))?;
    let mut s = Session {
        stream,
        parser: ReplyParser::default(),
    };
    s.expect("greeting", None, 2)?;
    let ehlo = s.command("EHLO", &format!("EHLO {helo}"))?;
    let extensions: Vec<String> = if ehlo.is_positive() {
        ehlo.lines()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect()
    } else {
        s.expect("HELO", Some(&format!("HELO {helo}")), 2)?;
        Vec::new()
    };
    let offers = |ext: &str| extensions.iter().any(|l| l.split(' ').next() == Some(ext));
    let mut mail = format!("MAIL FROM:<{from}>");
    if message.iter().any(|&b| b >= 0x80) && offers("8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    if !std::iter::once(from)
        .chain(rcpts.iter().map(String::as_str))
        .all(|a| a.is_ascii())
        && offers("SMTPUTF8")
    {
        mail.push_str(" SMTPUTF8");
    }
    s.expect("MAIL FROM", Some(&mail), 2)?;
    let mut refused = Vec::new();
    for rcpt in rcpts {
        let reply = s.command("RCPT TO", &format!("RCPT TO:<{rcpt}>"))?;
        if !reply.is_positive() {
            refused.push(format!("<{rcpt}>: {}", one_line(&reply)));
        }
    }
    if refused.len() == rcpts.len() {
        s.quit();
        return Err(ReinjectError::NoRecipient(refused));
    }
    s.expect("DATA", Some("DATA"), 3)?;
    s.stream
        .write_all(&dot_stuff(message))
        .map_err(io("sending the message"))?;
    let reply = s.expect("end of data", None, 2)?;
    s.quit();
    Ok(Delivered {
        reply: one_line(&reply),
        refused,
    })
}

/// `250 2.0.0 Ok` (a multi-line reply's lines joined by ` / `).
fn one_line(reply: &Reply) -> String {
    let lines: Vec<&str> = reply.lines().collect();
    format!("{} {}", reply.code, lines.join(" / "))
}

struct Session {
    stream: TcpStream,
    parser: ReplyParser,
}

impl Session {
    /// Sends `line` and reads the reply, whatever it is.
    fn command(&mut self, step: &'static str, line: &str) -> Result<Reply, ReinjectError> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.stream
            .write_all(&bytes)
            .map_err(|source| ReinjectError::Io { step, source })?;
        self.reply(step)
    }

    /// Sends `line` (if any) and reads a reply of class `class` (2 or 3), else an error.
    fn expect(
        &mut self,
        step: &'static str,
        line: Option<&str>,
        class: u16,
    ) -> Result<Reply, ReinjectError> {
        let reply = match line {
            Some(line) => self.command(step, line)?,
            None => self.reply(step)?,
        };
        if reply.code / 100 == class {
            Ok(reply)
        } else {
            self.quit();
            Err(ReinjectError::Refused {
                step,
                reply: one_line(&reply),
            })
        }
    }

    fn reply(&mut self, step: &'static str) -> Result<Reply, ReinjectError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(source) => return Err(ReinjectError::Protocol { step, source }),
            }
            let n = self
                .stream
                .read(&mut buf)
                .map_err(|source| ReinjectError::Io { step, source })?;
            if n == 0 {
                return Err(ReinjectError::Closed(step));
            }
            self.parser.push(&buf[..n]);
        }
    }

    /// Says goodbye; the message's fate is settled already, so its answer does not matter.
    fn quit(&mut self) {
        if self.stream.write_all(b"QUIT\r\n").is_ok() {
            let _ = self.reply("QUIT");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::thread;

    /// A server that answers each command from `script` (by its first word) and returns
    /// what it received.
    fn server(replies: fn(&str) -> &'static str) -> (String, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut out = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut seen = Vec::new();
            out.write_all(b"220 test ESMTP\r\n").expect("greet");
            let mut in_data = false;
            loop {
                let mut line = Vec::new();
                if reader.read_until(b'\n', &mut line).expect("read") == 0 {
                    return seen;
                }
                seen.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line).into_owned();
                if in_data {
                    if text == ".\r\n" {
                        in_data = false;
                        out.write_all(replies(".").as_bytes()).expect("write");
                    }
                    continue;
                }
                let verb = text.split([' ', ':', '\r']).next().unwrap_or("").to_owned();
                let reply = replies(&verb);
                out.write_all(reply.as_bytes()).expect("write");
                if verb == "DATA" && reply.starts_with("354") {
                    in_data = true;
                }
                if verb == "QUIT" {
                    return seen;
                }
            }
        });
        (addr, handle)
    }

    fn ok(verb: &str) -> &'static str {
        match verb {
            "EHLO" => "250-test\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
            "DATA" => "354 go on\r\n",
            "QUIT" => "221 bye\r\n",
            "RCPT" => "250 ok\r\n",
            "." => "250 2.0.0 queued as X\r\n",
            _ => "250 ok\r\n",
        }
    }

    #[test]
    fn sends_the_envelope_and_the_message_dot_stuffed_in_crlf() {
        let (addr, server) = server(ok);
        let rcpts = vec!["b@y".to_owned(), "c@y".to_owned()];
        let message = "Subject: é\n\n.dot\nend\n".as_bytes();
        let d = send(
            &addr,
            "gw.test",
            "a@x",
            &rcpts,
            message,
            Duration::from_secs(5),
        )
        .expect("delivered");
        assert_eq!(d.reply, "250 2.0.0 queued as X");
        assert!(d.refused.is_empty());
        let seen = String::from_utf8(server.join().expect("server")).expect("utf-8");
        assert_eq!(
            seen,
            "EHLO gw.test\r\nMAIL FROM:<a@x> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\n\
             RCPT TO:<c@y>\r\nDATA\r\nSubject: é\r\n\r\n..dot\r\nend\r\n.\r\nQUIT\r\n"
        );
    }

    #[test]
    fn some_recipients_refused_the_rest_still_get_it() {
        fn replies(verb: &str) -> &'static str {
            match verb {
                "RCPT" => "550 5.1.1 no such user\r\n",
                v => ok(v),
            }
        }
        let (addr, server) = server(replies);
        let e = send(
            &addr,
            "gw",
            "a@x",
            &["b@y".to_owned()],
            b"x\n",
            Duration::from_secs(5),
        )
        .expect_err("nobody left");
        assert!(
            matches!(&e, ReinjectError::NoRecipient(r) if r[0].contains("550 5.1.1")),
            "{e}"
        );
        let seen = String::from_utf8(server.join().expect("server")).expect("utf-8");
        assert!(!seen.contains("DATA"), "{seen}");
    }

    #[test]
    fn a_refused_message_and_a_bad_address_are_errors() {
        fn replies(verb: &str) -> &'static str {
            match verb {
                "." => "554 5.7.1 rejected\r\n",
                v => ok(v),
            }
        }
        let (addr, server) = server(replies);
        let e = send(
            &addr,
            "gw",
            "a@x",
            &["b@y".to_owned()],
            b"x\n",
            Duration::from_secs(5),
        )
        .expect_err("refused");
        assert_eq!(
            e.to_string(),
            "end of data: the server answered 554 5.7.1 rejected"
        );
        server.join().expect("server");
        let e = send(&addr, "gw", "a@x\r\nRSET", &[], b"", Duration::from_secs(1))
            .expect_err("bad address");
        assert!(matches!(e, ReinjectError::BadAddress(_)), "{e}");
    }
}
