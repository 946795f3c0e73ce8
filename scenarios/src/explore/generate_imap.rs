//! The IMAP side of a generated world: one or two mail clients (any preset) reading the
//! recipient's mailbox through the gateway's IMAP proxy, optionally with X4 keepalives.
//! Messages reach the mailbox through the SMTP proxy, or straight (`via = "mailbox"`, drawn
//! per message in [`super::generate`]); the IMAP faults (`client_restart`,
//! `imap_server_down`, `link_cut` on `imap_client` and `imap_server`) are among the
//! generator's fault kinds and drawn only in worlds that have clients.
//!
//! Small-first as the rest: one client, checking within the first minutes, shrinking to the
//! preset's own interval.

use std::fmt::Write;
use std::time::Duration;

use aptsim_core::duration::format as show;
use aptsim_peers::mail_client::presets::PRESETS;
use proptest::prelude::*;

/// One mail client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCase {
    /// Its preset (one of the mail clients' [`PRESETS`]).
    pub preset: &'static str,
    /// Its first check.
    pub first_check: Duration,
    /// Its time between checks, or the preset's.
    pub check_every: Option<Duration>,
    /// The user opens every message's attachments this long after it arrives (K-9 fetches
    /// attachment parts only then).
    pub opens_attachments: Option<Duration>,
}

/// The IMAP side of a world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapCase {
    /// The clients, all reading `bob` (the default recipient's account).
    pub clients: Vec<ClientCase>,
    /// X4: the IMAP proxy's keepalive interval during a hold.
    pub keepalive: Option<Duration>,
}

fn client() -> impl Strategy<Value = ClientCase> {
    (
        prop::sample::select(PRESETS.to_vec()),
        (0u64..600).prop_map(Duration::from_secs),
        prop::option::of((60u64..3_600).prop_map(Duration::from_secs)),
        prop::option::weighted(0.3, (1u64..300).prop_map(Duration::from_secs)),
    )
        .prop_map(
            |(preset, first_check, check_every, opens_attachments)| ClientCase {
                preset,
                first_check,
                check_every,
                opens_attachments,
            },
        )
}

/// The IMAP side as drawn (a world without clients drops it).
pub fn imap() -> impl Strategy<Value = ImapCase> {
    (
        prop::collection::vec(client(), 1..=2),
        prop::option::weighted(0.3, (10u64..120).prop_map(Duration::from_secs)),
    )
        .prop_map(|(clients, keepalive)| ImapCase { clients, keepalive })
}

/// The `[world.imap.proxy]` table of `imap`, if it has settings (written after `[world]`'s
/// own keys).
pub fn write_proxy(out: &mut String, imap: &ImapCase) -> std::fmt::Result {
    if let Some(k) = imap.keepalive {
        writeln!(out, "\n[world.imap.proxy]\nkeepalive = \"{}\"", show(k))?;
    }
    Ok(())
}

/// The `[[client]]` tables of `imap`.
pub fn write_clients(out: &mut String, imap: &ImapCase) -> std::fmt::Result {
    for (i, c) in imap.clients.iter().enumerate() {
        writeln!(
            out,
            "\n[[client]]\nname = \"c{}\"\npreset = \"{}\"\naccount = \"bob\"\nfirst_check = \"{}\"",
            i + 1,
            c.preset,
            show(c.first_check)
        )?;
        if let Some(every) = c.check_every {
            writeln!(out, "check_every = \"{}\"", show(every))?;
        }
        if let Some(delay) = c.opens_attachments {
            writeln!(
                out,
                "attachments = {{ probability = 1.0, delay = \"{}\" }}",
                show(delay)
            )?;
        }
    }
    Ok(())
}
