//! What TCP does with a connection whose path is cut: it retransmits the oldest unacknowledged
//! segment on an exponential backoff, so whatever was sent during the cut — bytes, a FIN —
//! arrives at the first retransmission after the path is back; and it gives up after a fixed
//! number of retransmissions, reporting the connection as broken (`ETIMEDOUT`) to the side
//! that was sending.
//!
//! The schedules are Linux's defaults (tcp(7), `net/ipv4/tcp_timer.c`):
//! - data (and FIN): the retransmission timeout starts at `TCP_RTO_MIN` (200 ms; a LAN's
//!   round trip is far shorter, so the minimum applies), doubles each time (RFC 6298 §5.5) up
//!   to `TCP_RTO_MAX` (120 s), and after `tcp_retries2` = 15 retransmissions the connection
//!   is aborted: 924.6 s after the first send;
//! - a connection attempt (SYN): the initial timeout is 1 s (RFC 6298 §2.1), doubling, and
//!   after `tcp_syn_retries` = 6 retransmissions `connect()` fails: 127 s after the first.

use std::time::Duration;

/// Data segments: first RTO, cap, retransmissions before giving up.
const DATA: Schedule = Schedule {
    first: Duration::from_millis(200),
    cap: Duration::from_secs(120),
    retries: 15,
};

/// A SYN: first RTO, cap, retransmissions before `connect()` fails.
const SYN: Schedule = Schedule {
    first: Duration::from_secs(1),
    cap: Duration::from_secs(120),
    retries: 6,
};

/// A retransmission schedule.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first: Duration,
    cap: Duration,
    retries: u32,
}

impl Schedule {
    /// The times after the first send at which the segment is sent again, then the time at
    /// which the stack gives up (the last expiry, with no retransmission).
    fn offsets(self) -> (Vec<Duration>, Duration) {
        let mut at = Duration::ZERO;
        let mut rto = self.first;
        let mut sends = Vec::with_capacity(self.retries as usize);
        for _ in 0..self.retries {
            at += rto;
            sends.push(at);
            rto = (rto * 2).min(self.cap);
        }
        (sends, at + rto)
    }
}

/// When a segment first sent at offset zero is sent again (`retransmissions`), and when its
/// sender gives up (`give_up`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Offsets of the retransmissions from the first send.
    pub retransmissions: Vec<Duration>,
    /// Offset at which the connection is aborted (or `connect()` fails).
    pub give_up: Duration,
}

impl Backoff {
    /// For data and FIN segments.
    pub fn data() -> Self {
        let (retransmissions, give_up) = DATA.offsets();
        Backoff {
            retransmissions,
            give_up,
        }
    }

    /// For a connection attempt.
    pub fn syn() -> Self {
        let (retransmissions, give_up) = SYN.offsets();
        Backoff {
            retransmissions,
            give_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults() {
        let data = Backoff::data();
        assert_eq!(data.retransmissions.len(), 15);
        assert_eq!(data.retransmissions[0], Duration::from_millis(200));
        assert_eq!(data.retransmissions[9], Duration::from_millis(204_600));
        assert_eq!(data.retransmissions[10], Duration::from_millis(324_600));
        // tcp(7): "about 924.6 seconds" with tcp_retries2 = 15.
        assert_eq!(data.give_up, Duration::from_millis(924_600));
        let syn = Backoff::syn();
        assert_eq!(
            syn.retransmissions,
            [1, 3, 7, 15, 31, 63].map(Duration::from_secs)
        );
        assert_eq!(syn.give_up, Duration::from_secs(127));
    }
}
