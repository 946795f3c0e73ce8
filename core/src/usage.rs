//! What a gateway's sessions take from the machine, counted across all of them: open client
//! connections, and the bytes held in memory (messages being received, held for a verdict
//! or relayed, and files kept until they are submitted).
//!
//! The counts are shared by every session of a gateway and kept by guards: a session holds
//! a [`ConnectionSlot`] while its client is connected and one [`Reservation`] sized to what
//! it holds, and dropping either gives its share back, so no path can leak a count. They are
//! atomics so that the live proxy may step sessions on several threads; the simulator steps
//! them on one, where they cost nothing and change nothing in the trace.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The counts one gateway keeps. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    connections: Arc<AtomicUsize>,
    held_bytes: Arc<AtomicUsize>,
}

impl Usage {
    /// Client connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Bytes held now by every session.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes.load(Ordering::Relaxed)
    }

    /// Takes a connection slot if fewer than `max` are open.
    pub fn try_connect(&self, max: usize) -> Option<ConnectionSlot> {
        self.connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot {
                count: self.connections.clone(),
            })
    }

    /// An empty reservation of held bytes.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            total: self.held_bytes.clone(),
            mine: 0,
        }
    }
}

/// One open client connection; the count drops when this does.
#[derive(Debug)]
pub struct ConnectionSlot {
    count: Arc<AtomicUsize>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One session's share of the held bytes; the total drops by it when this is dropped.
#[derive(Debug)]
pub struct Reservation {
    total: Arc<AtomicUsize>,
    mine: usize,
}

impl Reservation {
    /// Makes this share `bytes`, whatever it was.
    pub fn set(&mut self, bytes: usize) {
        if bytes > self.mine {
            self.total.fetch_add(bytes - self.mine, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(self.mine - bytes, Ordering::Relaxed);
        }
        self.mine = bytes;
    }

    /// This share.
    pub fn bytes(&self) -> usize {
        self.mine
    }

    /// The held bytes of every session of the gateway, this one's included.
    pub fn gateway_total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.total.fetch_sub(self.mine, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_reservations_give_back_what_they_took() {
        let usage = Usage::default();
        let a = usage.try_connect(2).expect("room");
        let b = usage.try_connect(2).expect("room");
        assert!(usage.try_connect(2).is_none(), "full at two");
        drop(a);
        assert_eq!(usage.connections(), 1);
        let _c = usage.try_connect(2).expect("a slot came back");
        drop(b);

        let mut r = usage.reservation();
        r.set(1_000);
        let mut s = usage.reservation();
        s.set(500);
        assert_eq!(usage.held_bytes(), 1_500);
        r.set(200);
        assert_eq!(usage.held_bytes(), 700);
        drop(s);
        assert_eq!(usage.held_bytes(), 200);
        drop(r);
        assert_eq!(usage.held_bytes(), 0);
    }
}
