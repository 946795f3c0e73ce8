//! The IMAP side of a scenario's world: accounts (every client's, every recipient's), the
//! mail clients built from their presets, and the messages that go straight into a mailbox.

use std::collections::BTreeSet;

use aptsim_actors::imap_server::account_of;
use aptsim_actors::world::ImapSide;
use aptsim_peers::mail_client::{self, Account, ClientConfig};

use crate::build::BuiltMessage;
use crate::format::Scenario;
use crate::imap_format::{ClientSpec, PASSWORD};

/// The scenario's IMAP side, or `None` when it has no clients, no mailbox messages and no
/// IMAP accounts (an SMTP-only world, as every scenario before issue 12).
pub fn imap_side(
    s: &Scenario,
    mailbox: &[&BuiltMessage],
    recipients: &BTreeSet<String>,
) -> Result<Option<ImapSide>, String> {
    let mailbox_messages: Vec<_> = mailbox
        .iter()
        .flat_map(|m| m.to.iter().map(|rcpt| (m.at, rcpt.clone(), m.raw.clone())))
        .collect();
    if s.clients.is_empty() && mailbox_messages.is_empty() && s.world.imap.accounts.is_empty() {
        return Ok(None);
    }
    let mut accounts: BTreeSet<String> = s.world.imap.accounts.iter().cloned().collect();
    accounts.extend(s.clients.iter().map(|c| c.account.clone()));
    accounts.extend(recipients.iter().map(|r| account_of(r).to_owned()));
    let clients = s
        .clients
        .iter()
        .enumerate()
        .map(|(i, c)| Ok((client_name(c, i), client_config(c)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Some(ImapSide {
        proxy: s.world.imap.proxy.clone(),
        server: s.world.imap.server.clone(),
        accounts: accounts
            .into_iter()
            .map(|a| (a, PASSWORD.to_owned()))
            .collect(),
        clients,
        mailbox_messages,
    }))
}

/// A client's name: its own, or `client-N` (from 1).
pub fn client_name(c: &ClientSpec, index: usize) -> String {
    if c.name.is_empty() {
        format!("client-{}", index + 1)
    } else {
        c.name.clone()
    }
}

/// The client's configuration: its preset with the scenario's overrides.
pub fn client_config(c: &ClientSpec) -> Result<ClientConfig, String> {
    let mut preset = mail_client::preset(&c.preset).ok_or_else(|| {
        format!(
            "unknown client preset {:?} ({})",
            c.preset,
            mail_client::presets::PRESETS.join(", ")
        )
    })?;
    if let Some(every) = c.check_every {
        preset.check_interval = Some(every);
    }
    if let Some(on) = c.offline_sync {
        match &mut preset.program {
            mail_client::Program::Thunderbird(p) => p.offline_sync = on,
            _ => {
                return Err(format!(
                    "client {:?}: offline_sync is Thunderbird's",
                    c.name
                ));
            }
        }
    }
    if let Some(t) = c.read_timeout {
        preset.timeouts.read = Some(t);
    }
    let mut config = ClientConfig::new(preset, &c.account, PASSWORD);
    config.account = Account {
        user: c.account.clone(),
        password: PASSWORD.to_owned(),
        mailbox: "INBOX".to_owned(),
    };
    config.first_check = c.first_check;
    config.opens = c.opens.clone();
    config.attachments = c.attachments.clone();
    Ok(config)
}
