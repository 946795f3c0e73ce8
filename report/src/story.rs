//! A message's story: the steps of the trace that concern it, placed on the lanes of a
//! swimlane (sender, SMTP proxy, data center, mail server, IMAP proxy, IMAP server, mail
//! client), its holds as spans, and what it came to. [`crate::group`] builds them.

/// A lane of the swimlane: one party a message passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// The sending MTA.
    Sender,
    /// The SMTP proxy (the gateway).
    Proxy,
    /// The data center (the sandbox).
    Datacenter,
    /// The receiving mail server.
    Server,
    /// The IMAP proxy.
    ImapProxy,
    /// The IMAP server.
    ImapServer,
    /// A mail client.
    Client,
}

impl Lane {
    /// The key the page knows the lane by.
    pub fn key(self) -> &'static str {
        match self {
            Lane::Sender => "sender",
            Lane::Proxy => "proxy",
            Lane::Datacenter => "dc",
            Lane::Server => "server",
            Lane::ImapProxy => "imap_proxy",
            Lane::ImapServer => "imap_server",
            Lane::Client => "client",
        }
    }
}

/// One step of a story: a marker on a lane, or an arrow from one lane to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Virtual milliseconds.
    pub t: u64,
    /// What it is (`attempt`, `upload`, `verdict`, `decision`, `cache_decision`, …): the page
    /// draws each kind in its own way.
    pub kind: &'static str,
    /// The lane it starts on.
    pub from: Lane,
    /// The lane an arrow goes to; none for a marker.
    pub to: Option<Lane>,
    /// What a reader is told.
    pub text: String,
}

/// Something that lasts: a hold, an exposure window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Virtual milliseconds, start.
    pub start: u64,
    /// Virtual milliseconds, end.
    pub end: u64,
    /// The lane it lies on.
    pub lane: Lane,
    /// `hold` or `exposure`.
    pub kind: &'static str,
    /// What a reader is told.
    pub text: String,
}

/// A fault of the run, from its `fault` record to its `/end` record (or the end of the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpan {
    /// The fault's id in the scenario.
    pub id: String,
    /// Its kind (`datacenter_unreachable`, `link_cut_client`, …).
    pub kind: String,
    /// Virtual milliseconds, start.
    pub start: u64,
    /// Virtual milliseconds, end (the start for a fault that takes effect once).
    pub end: u64,
}

/// One message's story.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Story {
    /// The message id (`X-Aptsim-Id`).
    pub id: String,
    /// Its steps in time order.
    pub steps: Vec<Step>,
    /// Its holds and exposure windows.
    pub spans: Vec<Span>,
    /// When it was queued (or first seen).
    pub queued_at: u64,
    /// Times the mail server stored it.
    pub deliveries: u32,
    /// When it was first delivered.
    pub delivered_at: Option<u64>,
    /// Quarantined by the proxy.
    pub quarantined: bool,
    /// Given up by the sender's queue.
    pub bounced: bool,
    /// The last SMTP decision (`deliver`, `reject`, …).
    pub decision: Option<String>,
    /// The last IMAP result (`unchanged`, `withheld`, …).
    pub imap_result: Option<String>,
    /// A mail client holds it.
    pub fetched: bool,
}

impl Story {
    /// What the message came to, one word.
    pub fn state(&self) -> &'static str {
        if self.deliveries > 1 {
            "duplicate"
        } else if self.deliveries == 1 {
            "delivered"
        } else if self.quarantined {
            "quarantined"
        } else if self.bounced {
            "bounced"
        } else if self.decision.as_deref() == Some("reject") {
            "rejected"
        } else if let Some(r @ ("withheld" | "notice" | "abandoned")) = self.imap_result.as_deref()
        {
            match r {
                "withheld" => "withheld",
                "notice" => "notice",
                _ => "abandoned",
            }
        } else if self.fetched {
            "fetched"
        } else {
            "in flight"
        }
    }

    /// Steps of one kind.
    pub fn count(&self, kind: &str) -> usize {
        self.steps.iter().filter(|s| s.kind == kind).count()
    }

    /// Delivery attempts (connections the sender opened for it).
    pub fn attempts(&self) -> usize {
        self.count("attempt")
    }

    /// Files sent to the data center for it (not counting waits on another's upload).
    pub fn uploads(&self) -> usize {
        self.count("upload")
    }

    /// Time held, all holds together (overlapping holds, two IMAP fetches of one message
    /// held at once, count once); none when never held.
    pub fn hold_ms(&self) -> Option<u64> {
        let mut holds: Vec<(u64, u64)> = self
            .spans
            .iter()
            .filter(|s| s.kind == "hold")
            .map(|s| (s.start, s.end))
            .collect();
        holds.sort_unstable();
        let mut total = None;
        let mut covered = 0;
        for (start, end) in holds {
            let from = start.max(covered);
            *total.get_or_insert(0) += end.saturating_sub(from);
            covered = covered.max(end);
        }
        total
    }

    /// The longest exposure window (a file released unjudged, judged harmful later).
    pub fn exposure_ms(&self) -> Option<u64> {
        self.spans
            .iter()
            .filter(|s| s.kind == "exposure")
            .map(|s| s.end - s.start)
            .max()
    }

    /// From queued to first delivered.
    pub fn delivery_ms(&self) -> Option<u64> {
        self.delivered_at
            .map(|at| at.saturating_sub(self.queued_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_in_order_of_what_matters_most() {
        let mut s = Story::default();
        assert_eq!(s.state(), "in flight");
        s.fetched = true;
        assert_eq!(s.state(), "fetched");
        s.imap_result = Some("withheld".into());
        assert_eq!(s.state(), "withheld");
        s.bounced = true;
        assert_eq!(s.state(), "bounced");
        s.deliveries = 2;
        assert_eq!(s.state(), "duplicate");
    }

    #[test]
    fn hold_time_is_the_time_under_any_hold() {
        let span = |start, end, kind| Span {
            start,
            end,
            lane: Lane::Proxy,
            kind,
            text: String::new(),
        };
        let mut s = Story::default();
        assert_eq!(s.hold_ms(), None);
        s.spans = vec![
            span(10, 20, "hold"),
            span(30, 35, "hold"),
            span(0, 99, "exposure"),
        ];
        assert_eq!(s.hold_ms(), Some(15));
        s.spans.push(span(15, 25, "hold"));
        s.spans.push(span(31, 32, "hold"));
        assert_eq!(s.hold_ms(), Some(20), "overlaps count once");
        assert_eq!(s.exposure_ms(), Some(99));
    }
}
