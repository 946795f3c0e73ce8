//! An SMTP proxy session driven by a client that pipelines whole messages, against an
//! upstream that answers at once: what the `session_input` bench times.
//!
//! A compliant client waits for `354` after `DATA` (RFC 2920 §3.1), so each message comes
//! in segments of its own. A hostile one sends many whole messages in one segment, and the
//! session must still read each byte once: the cost per message must not grow with what
//! else waits unread behind it. [`relay`] drives both, through the real `ProxySession`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aptsim_core::clock::Timestamp;
use aptsim_core::gateway::Gateway;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Output, ProxyConfig, ProxySession};

/// How the client sends its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// Every message's commands and data in one segment, sent before any reply.
    OneSegment,
    /// Each message in a segment of its own, sent once the previous one is answered.
    SegmentPerMessage,
}

/// One small message, its envelope and its end: about 110 bytes.
pub fn message(i: usize) -> Vec<u8> {
    format!(
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n\
         Subject: {i}\r\n\r\nmessage {i}\r\n.\r\n"
    )
    .into_bytes()
}

/// Sends `messages` through a release-mode session; returns how many the upstream took.
pub fn relay(messages: usize, sending: Sending) -> usize {
    let gw = Gateway::new(Arc::new(Policy::default()));
    let mut d = Driver {
        s: ProxySession::new(
            Arc::new(ProxyConfig::default()),
            "192.0.2.7",
            &gw,
            Timestamp::ZERO,
        ),
        gw,
        upstream: Vec::new(),
        queued: 0,
    };
    d.s.handle_upstream_connected(&mut d.gw, Timestamp::ZERO);
    d.upstream_sends(b"220 mx.example ESMTP\r\n");
    d.client_sends(b"EHLO client.example\r\n");
    // The EHLO the proxy relayed is answered here, not by `answer`.
    d.upstream.clear();
    d.upstream_sends(b"250-mx.example\r\n250 PIPELINING\r\n");
    match sending {
        Sending::OneSegment => {
            let segment: Vec<u8> = (0..messages).flat_map(message).collect();
            d.client_sends(&segment);
        }
        Sending::SegmentPerMessage => {
            for i in 0..messages {
                d.client_sends(&message(i));
            }
        }
    }
    d.queued
}

struct Driver {
    s: ProxySession,
    gw: Gateway,
    /// What the proxy sent upstream and the upstream has not answered yet.
    upstream: Vec<u8>,
    queued: usize,
}

impl Driver {
    fn client_sends(&mut self, bytes: &[u8]) {
        self.s
            .handle_client_bytes(bytes, &mut self.gw, Timestamp::ZERO);
        self.drain();
    }

    fn upstream_sends(&mut self, bytes: &[u8]) {
        self.s
            .handle_upstream_bytes(bytes, &mut self.gw, Timestamp::ZERO);
        self.drain();
    }

    /// Takes the session's output until it has nothing more, answering each command and
    /// each body the proxy sent upstream.
    fn drain(&mut self) {
        loop {
            while let Some(o) = self.s.poll_output() {
                match o {
                    Output::ToUpstream(b) => self.upstream.extend_from_slice(&b),
                    Output::Work { id, job } => {
                        let result = job.run(&AtomicBool::new(false));
                        self.s
                            .handle_work_done(id, result, &mut self.gw, Timestamp::ZERO);
                    }
                    _ => {}
                }
            }
            let Some(reply) = self.answer() else {
                return;
            };
            self.s
                .handle_upstream_bytes(reply, &mut self.gw, Timestamp::ZERO);
        }
    }

    /// The upstream's reply to the first complete command or body it was sent.
    fn answer(&mut self) -> Option<&'static [u8]> {
        let pending = &self.upstream[..];
        let (reply, used): (&'static [u8], usize) =
            if pending.starts_with(b"MAIL ") || pending.starts_with(b"RCPT ") {
                let end = first_crlf(pending)?;
                (b"250 2.1.0 Ok\r\n", end + 2)
            } else if pending.starts_with(b"DATA\r\n") {
                (b"354 go\r\n", 6)
            } else {
                let end = pending.windows(5).position(|w| w == b"\r\n.\r\n")?;
                self.queued += 1;
                (b"250 2.0.0 Ok: queued\r\n", end + 5)
            };
        self.upstream.drain(..used);
        Some(reply)
    }
}

fn first_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_relayed_however_it_is_sent() {
        assert_eq!(relay(300, Sending::OneSegment), 300);
        assert_eq!(relay(300, Sending::SegmentPerMessage), 300);
    }

    #[test]
    fn the_largest_segment_the_bench_sends_is_within_the_unread_limit() {
        let bytes: usize = (0..8_000).map(|i| message(i).len()).sum();
        assert!(bytes < ProxyConfig::default().max_unread_bytes, "{bytes}");
    }
}
