//! The world: builds the actors of one gateway and its peers, runs them on virtual time, and
//! returns the trace.
//!
//! ```text
//! SendingMta ──link──▶ SmtpProxy ──link──▶ MailServer ──delivers──▶ ImapServer
//!                      (gateway)                                        ▲
//!                       │  ▲  ▲                                         │ link
//!                  link ▼  │  └──────────── IMAP sessions ──────────────┘
//!                   DataCenter  ▲
//!                               └──link── MailClient (one per [[client]])
//! ```
//!
//! The gateway actor runs one node for both proxies, so the SMTP and IMAP sessions share one
//! verdict cache (X6). The IMAP side (server, clients, mailbox messages) exists only when the
//! spec has one ([`ImapSide`]).
//!
//! The actix `System` runs the world on its own timeline (`aptsim_simulator::timeline`):
//! whenever every actor waits, time jumps to the next timer, so days of queue retries take
//! milliseconds (ARCHITECTURE.md, principle 3). Nothing in a run reads the wall clock, touches a socket or
//! a file, or spawns a thread, so the same spec and seed give the same trace (N8).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::datacenter::{DataCenter, SetOutage};
use crate::imap_server::{ImapServer, MailboxDelivery, SetImapDown};
use crate::mail_client::{MailClientActor, Restart};
use crate::mail_server::{MailServer, SetDown};
use crate::originals::Originals;
use crate::outgoing::Outgoing;
use crate::sending_mta::{SendingMta, SetStopped};
use crate::smtp_proxy::{FIRST_UPSTREAM, ImapPeers, ProxyPeers, SmtpProxy};
use actix::prelude::*;
use aptsim_core::gateway::Gateway;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::node::Node;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_peers::datacenter::{DcConfig, Outage};
use aptsim_peers::imap::ImapServerConfig;
use aptsim_peers::mail_client::{ClientConfig, MailClient};
use aptsim_peers::smtp::presets::SenderPreset;
use aptsim_peers::smtp::receiver::ReceiverConfig;
use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::Link;
use aptsim_simulator::timeline;
use aptsim_simulator::trace::{Record, Recorder, TraceLine};

use aptsim_simulator::faults::{Fault, FaultAction, LinkName};
use aptsim_simulator::rng::{self, streams};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// The run's seed.
    pub seed: u64,
    /// Virtual time to simulate.
    pub horizon: Duration,
    /// One-way latency of every link.
    pub latency: Duration,
    /// The gateway's policy.
    pub policy: Policy,
    /// The SMTP proxy's settings.
    pub proxy: ProxyConfig,
    /// The sending MTA's preset.
    pub sender: SenderPreset,
    /// The receiving server's settings.
    pub server: ReceiverConfig,
    /// The data center.
    pub datacenter: DcConfig,
    /// Messages to send, in queue order, made as the sender needs them.
    pub messages: Outgoing,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// The IMAP side: the IMAP server, its accounts and the mail clients, behind the
    /// gateway's IMAP proxy; `None` for an SMTP-only world.
    pub imap: Option<ImapSide>,
}

/// The IMAP half of a world: the server the mail server delivers into, and the
/// mail clients that read it through the gateway's IMAP proxy.
#[derive(Debug, Clone)]
pub struct ImapSide {
    /// The IMAP proxy's settings.
    pub proxy: ImapConfig,
    /// The IMAP server's settings (Dovecot 2.3 by default).
    pub server: ImapServerConfig,
    /// Accounts: user and password; a recipient's local part names its account.
    pub accounts: Vec<(String, String)>,
    /// Mail clients, each with its name.
    pub clients: Vec<(String, ClientConfig)>,
    /// Messages put straight into a mailbox at a time (not through SMTP): when, the
    /// recipient (or account), the message.
    pub mailbox_messages: Vec<(Duration, String, Vec<u8>)>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The trace, in order.
    pub trace: Vec<TraceLine>,
}

/// Runs the world to its horizon, keeping its whole trace.
pub fn run(spec: WorldSpec) -> RunResult {
    let trace = Recorder::default();
    run_recorded(spec, &trace);
    RunResult {
        trace: trace.take_lines(),
    }
}

/// Runs the world to its horizon, writing its trace to `trace` (which may keep it, stream
/// it to observers, or both).
pub fn run_recorded(spec: WorldSpec, trace: &Recorder) {
    let recorder = trace.clone();
    timeline::block_on(populate_and_wait(spec, recorder));
}

async fn populate_and_wait(spec: WorldSpec, trace: Recorder) {
    let clock = Clock::start();
    let gateway = Gateway::new(Arc::new(spec.policy.clone()));
    let mut node =
        Node::new(gateway, Arc::new(spec.proxy.clone())).with_first_upstream(FIRST_UPSTREAM);
    if let Some(imap) = &spec.imap {
        node.set_imap_config(Arc::new(imap.proxy.clone()));
    }
    let node = Rc::new(RefCell::new(node));
    let imap_client_link = Link::new(spec.latency);
    let imap_server_link = Link::new(spec.latency);
    let imap_server = spec.imap.as_ref().map(|imap| {
        ImapServer::new(
            imap.server.clone(),
            &imap.accounts,
            imap_server_link.clone(),
            clock,
            trace.clone(),
        )
        .start()
    });
    let dc_link = Link::new(spec.latency);
    let server_link = Link::new(spec.latency);
    let client_link = Link::new(spec.latency);
    let (client_link_for_faults, server_link_for_faults, dc_link_for_faults) =
        (client_link.clone(), server_link.clone(), dc_link.clone());

    let datacenter = DataCenter::new(
        spec.datacenter.clone(),
        dc_link.clone(),
        clock,
        trace.clone(),
        rng::stream(spec.seed, streams::DATACENTER),
    )
    .start();
    let originals = Originals::default();
    let mut mail_server = MailServer::new(
        spec.server.clone(),
        server_link.clone(),
        clock,
        trace.clone(),
    )
    .with_originals(originals.clone());
    if let Some(imap) = &imap_server {
        mail_server = mail_server.delivering_to(imap.clone().recipient());
    }
    let server = mail_server.start();
    let proxy = SmtpProxy::new(
        node.clone(),
        ProxyPeers {
            imap: imap_server.as_ref().map(|s| ImapPeers {
                server: Rc::new(s.clone().recipient()),
                server_link: imap_server_link.clone(),
                client_link: imap_client_link.clone(),
            }),
            upstream: Rc::new(server.clone().recipient()),
            upstream_link: server_link,
            client_link: client_link.clone(),
            datacenter: datacenter.clone(),
            datacenter_link: dc_link,
        },
        clock,
        trace.clone(),
    )
    .start();
    let mut clients = Vec::new();
    if let Some(imap) = &spec.imap {
        for (i, (name, config)) in imap.clients.iter().enumerate() {
            let rng = rng::stream(spec.seed, streams::CLIENTS + i as u64);
            // The scenario's checks caught a bad client configuration already.
            let Ok(client) = MailClient::new(config.clone(), rng) else {
                continue;
            };
            clients.push(
                MailClientActor::new(
                    name.clone(),
                    i as u64,
                    client,
                    proxy.clone().recipient(),
                    imap_client_link.clone(),
                    clock,
                    trace.clone(),
                )
                .start(),
            );
        }
        for (at, rcpt, message) in imap.mailbox_messages.clone() {
            let to = imap_server.clone();
            actix::spawn(async move {
                timeline::sleep(at).await;
                if let Some(to) = to {
                    to.do_send(MailboxDelivery {
                        rcpt,
                        message: message.into(),
                    });
                }
            });
        }
    }
    let mta = SendingMta::new(
        spec.sender.clone(),
        "192.0.2.10",
        proxy.recipient(),
        client_link,
        clock,
        trace.clone(),
        &spec.messages,
    )
    .with_originals(originals)
    .start();

    for fault in spec.faults.clone() {
        let (dc, server, node, trace) = (
            datacenter.clone(),
            server.clone(),
            node.clone(),
            trace.clone(),
        );
        let (imap, clients, mta) = (imap_server.clone(), clients.clone(), mta.clone());
        let link = match fault.action {
            FaultAction::LinkCut(LinkName::Client) => Some(client_link_for_faults.clone()),
            FaultAction::LinkCut(LinkName::Upstream) => Some(server_link_for_faults.clone()),
            FaultAction::LinkCut(LinkName::Datacenter) => Some(dc_link_for_faults.clone()),
            FaultAction::LinkCut(LinkName::ImapClient) => Some(imap_client_link.clone()),
            FaultAction::LinkCut(LinkName::ImapServer) => Some(imap_server_link.clone()),
            _ => None,
        };
        actix::spawn(async move {
            timeline::sleep(fault.at).await;
            let apply = |on: bool| match fault.action {
                FaultAction::DatacenterUnreachable => dc.do_send(SetOutage(if on {
                    Outage::Unreachable
                } else {
                    Outage::None
                })),
                FaultAction::DatacenterSlow => {
                    dc.do_send(SetOutage(if on { Outage::Slow } else { Outage::None }))
                }
                FaultAction::ServerDown => server.do_send(SetDown(on)),
                FaultAction::CacheFlush => {
                    if on {
                        node.borrow_mut().gateway_mut().cache.flush();
                    }
                }
                FaultAction::LinkCut(_) => {
                    if let Some(l) = &link {
                        l.set_cut(on);
                    }
                }
                FaultAction::ImapServerDown => {
                    if let Some(s) = &imap {
                        s.do_send(SetImapDown(on));
                    }
                }
                FaultAction::ClientRestart => {
                    if on {
                        for c in &clients {
                            c.do_send(Restart);
                        }
                    }
                }
                FaultAction::SenderRestart => mta.do_send(SetStopped(on)),
            };
            apply(true);
            let detail = match fault.duration {
                Some(d) => format!("for {}", aptsim_core::duration::format(d)),
                None if fault.action.lasts() => "until the end".to_owned(),
                None => "once".to_owned(),
            };
            trace.record(
                clock.now(),
                "faults",
                Record::Fault {
                    id: fault.id.clone(),
                    kind: fault.action,
                    detail,
                },
            );
            if let Some(d) = fault.duration {
                timeline::sleep(d).await;
                apply(false);
                trace.record(
                    clock.now(),
                    "faults",
                    Record::Fault {
                        id: format!("{}/end", fault.id),
                        kind: fault.action,
                        detail: "repaired".to_owned(),
                    },
                );
            }
        });
    }
    timeline::sleep(spec.horizon).await;
}
