//! Faults a scenario injects: what each does, and when. The world applies them (and writes a
//! trace record when each takes effect, N9).

use std::time::Duration;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The data center refuses connections.
    DatacenterUnreachable,
    /// The data center accepts uploads and never answers.
    DatacenterSlow,
    /// The receiving server is down (open connections drop, new ones are refused).
    ServerDown,
    /// The gateway's verdict cache is emptied.
    CacheFlush,
    /// A link drops everything sent on it (a partition), in both directions.
    LinkCut(LinkName),
}

/// The links a fault can cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkName {
    /// Sending MTA ↔ SMTP proxy.
    Client,
    /// SMTP proxy ↔ mail server.
    Upstream,
    /// SMTP proxy ↔ data center.
    Datacenter,
}

/// A fault is written by its name (`link_cut_client`, …), in the trace as in scenario files.
impl serde::Serialize for FaultAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FaultAction {
    /// The name used in scenario files and the trace.
    pub fn name(self) -> &'static str {
        match self {
            FaultAction::DatacenterUnreachable => "datacenter_unreachable",
            FaultAction::DatacenterSlow => "datacenter_slow",
            FaultAction::ServerDown => "server_down",
            FaultAction::CacheFlush => "cache_flush",
            FaultAction::LinkCut(LinkName::Client) => "link_cut_client",
            FaultAction::LinkCut(LinkName::Upstream) => "link_cut_upstream",
            FaultAction::LinkCut(LinkName::Datacenter) => "link_cut_datacenter",
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Its id, shown in the trace when it takes effect (N9).
    pub id: String,
    /// When it starts.
    pub at: Duration,
    /// What it does.
    pub action: FaultAction,
    /// How long it lasts; `None` for instant faults or until the end.
    pub duration: Option<Duration>,
}
