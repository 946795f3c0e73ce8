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
    /// The IMAP server is down (open connections drop, new ones are refused).
    ImapServerDown,
    /// The user restarts every mail client (I5: a stalled Outlook syncs again).
    ClientRestart,
    /// The sending MTA is stopped, and started again when the fault ends (`for` is how long
    /// it stays down; without `for` it starts again at once, as `systemctl restart` does).
    SenderRestart,
}

/// The links a fault can cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkName {
    /// Sending MTA ↔ SMTP proxy.
    Client,
    /// SMTP proxy ↔ mail server.
    Upstream,
    /// SMTP proxy ↔ data center.
    Datacenter,
    /// Mail clients ↔ IMAP proxy.
    #[serde(rename = "imap_client")]
    ImapClient,
    /// IMAP proxy ↔ IMAP server.
    #[serde(rename = "imap_server")]
    ImapServer,
}

/// A fault is written by its name (`link_cut_client`, …), in the trace as in scenario files.
impl serde::Serialize for FaultAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A trace file names a fault as the trace writes it ([`FaultAction::name`]).
impl<'de> serde::Deserialize<'de> for FaultAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        FaultAction::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = FaultAction::ALL.iter().map(|a| a.name()).collect();
                serde::de::Error::custom(format!(
                    "unknown fault {name:?} (one of {})",
                    known.join(", ")
                ))
            })
    }
}

impl FaultAction {
    /// Every fault, each link cut apart: what a trace can name.
    pub const ALL: [FaultAction; 12] = [
        FaultAction::DatacenterUnreachable,
        FaultAction::DatacenterSlow,
        FaultAction::ServerDown,
        FaultAction::CacheFlush,
        FaultAction::LinkCut(LinkName::Client),
        FaultAction::LinkCut(LinkName::Upstream),
        FaultAction::LinkCut(LinkName::Datacenter),
        FaultAction::LinkCut(LinkName::ImapClient),
        FaultAction::LinkCut(LinkName::ImapServer),
        FaultAction::ImapServerDown,
        FaultAction::ClientRestart,
        FaultAction::SenderRestart,
    ];

    /// True for a state that holds until it ends (`for`, or the end of the run); false for
    /// one that takes effect once (emptying the cache).
    pub fn lasts(self) -> bool {
        !matches!(self, FaultAction::CacheFlush | FaultAction::ClientRestart)
    }

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
            FaultAction::LinkCut(LinkName::ImapClient) => "link_cut_imap_client",
            FaultAction::LinkCut(LinkName::ImapServer) => "link_cut_imap_server",
            FaultAction::ImapServerDown => "imap_server_down",
            FaultAction::ClientRestart => "client_restart",
            FaultAction::SenderRestart => "sender_restart",
        }
    }
}

/// One scheduled fault: a `[[fault]]` table of a scenario file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(try_from = "FaultTable")]
pub struct Fault {
    /// Its id, shown in the trace when it takes effect (N9). Scenario files may leave it
    /// out; the scenario then names it `fault-N`.
    pub id: String,
    /// When it starts.
    pub at: Duration,
    /// What it does.
    pub action: FaultAction,
    /// How long it lasts; `None` for instant faults or until the end.
    pub duration: Option<Duration>,
}

/// A `[[fault]]` table as written: `kind` names the action and `link` completes `link_cut`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultTable {
    id: Option<String>,
    #[serde(with = "aptsim_core::duration::serde_text")]
    at: Duration,
    kind: String,
    link: Option<LinkName>,
    #[serde(
        default,
        rename = "for",
        with = "aptsim_core::duration::serde_text_opt"
    )]
    duration: Option<Duration>,
}

impl TryFrom<FaultTable> for Fault {
    type Error = String;

    fn try_from(t: FaultTable) -> Result<Fault, String> {
        // Name the fault in its errors when it has a name: the parser points at the table,
        // and with several faults the id says which one is meant.
        let named = |why: String| match &t.id {
            Some(id) => format!("fault {id:?}: {why}"),
            None => why,
        };
        let id = match t.id.as_deref() {
            Some("") => {
                return Err(
                    "a fault's `id` cannot be empty; leave it out to have it numbered".to_owned(),
                );
            }
            Some(id) => id.to_owned(),
            // The scenario numbers unnamed faults (`fault-N`).
            None => String::new(),
        };
        let action = match (t.kind.as_str(), t.link) {
            ("link_cut", Some(link)) => FaultAction::LinkCut(link),
            ("link_cut", None) => {
                return Err(named(
                    "kind `link_cut` needs `link = \"client\" | \"upstream\" | \"datacenter\" | \
                     \"imap_client\" | \"imap_server\"`"
                        .to_owned(),
                ));
            }
            (kind, link) => {
                let action = match kind {
                    "datacenter_unreachable" => FaultAction::DatacenterUnreachable,
                    "datacenter_slow" => FaultAction::DatacenterSlow,
                    "server_down" => FaultAction::ServerDown,
                    "cache_flush" => FaultAction::CacheFlush,
                    "imap_server_down" => FaultAction::ImapServerDown,
                    "client_restart" => FaultAction::ClientRestart,
                    "sender_restart" => FaultAction::SenderRestart,
                    other => {
                        return Err(named(format!(
                            "unknown fault kind {other:?} (datacenter_unreachable, \
                             datacenter_slow, server_down, cache_flush, link_cut, \
                             imap_server_down, client_restart, sender_restart)"
                        )));
                    }
                };
                if link.is_some() {
                    return Err(named(format!(
                        "`link` goes only with kind `link_cut`, not {kind:?}"
                    )));
                }
                action
            }
        };
        if !action.lasts() && t.duration.is_some() {
            return Err(named(format!(
                "`for` does not go with kind {:?}: it takes effect once and has no duration",
                t.kind
            )));
        }
        // A restart without `for` is down for no time at all: stopped and started at once.
        let duration = match (action, t.duration) {
            (FaultAction::SenderRestart, None) => Some(Duration::ZERO),
            (_, d) => d,
        };
        Ok(Fault {
            id,
            at: t.at,
            action,
            duration,
        })
    }
}
