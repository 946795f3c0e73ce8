//! A generated [`Case`] as a scenario file: the text `aptsim run` reads. The explorer runs
//! every case from this text (parsed back with [`Scenario::from_toml`]), so the file it
//! writes for a failure is exactly the world that failed.

use std::fmt::Write;

use aptsim_core::duration::format as show;
use aptsim_core::policy::OutagePolicy;

use super::generate::{Case, FaultKind};
use crate::format::{Scenario, ScenarioError};

/// A TOML string literal, escaped.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The scenario file for `case`, with `description` (one line).
pub fn to_toml(case: &Case, name: &str, description: &str) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_case(&mut out, case, name, description);
    out
}

fn write_case(out: &mut String, case: &Case, name: &str, description: &str) -> std::fmt::Result {
    writeln!(out, "name = {}", quote(name))?;
    writeln!(out, "description = {}", quote(description))?;
    writeln!(out, "seed = {}", case.seed)?;
    writeln!(out, "duration = \"{}\"", show(case.simulated()))?;
    writeln!(out, "\n[world]\nmta = \"{}\"", case.mta)?;
    let mut policy = vec![
        format!("release_immediately = {}", !case.hold),
        format!("dedupe_in_flight = {}", case.dedupe),
        format!(
            "outage = \"{}\"",
            match case.outage {
                OutagePolicy::Allow => "allow",
                OutagePolicy::Tempfail => "tempfail",
                OutagePolicy::Apply => "apply",
            }
        ),
    ];
    if let Some(d) = case.tempfail_deadline {
        policy.push(format!("tempfail_deadline = \"{}\"", show(d)));
    }
    if let Some((ttl, capacity)) = case.cache {
        policy.push(format!(
            "cache = {{ ttl = \"{}\", capacity = {capacity} }}",
            show(ttl)
        ));
    }
    if let Some([low, medium, high]) = case.actions {
        policy.push(format!(
            "levels = {{ low = {{ action = \"{low}\" }}, medium = {{ action = \"{medium}\" }}, \
             high = {{ action = \"{high}\" }} }}"
        ));
    }
    writeln!(out, "policy = {{ {} }}", policy.join(", "))?;
    if let Some(imap) = &case.imap {
        super::generate_imap::write_proxy(out, imap)?;
    }
    for (i, f) in case.faults.iter().enumerate() {
        let (kind, link) = match f.kind {
            FaultKind::DatacenterUnreachable => ("datacenter_unreachable", None),
            FaultKind::DatacenterSlow => ("datacenter_slow", None),
            FaultKind::ServerDown => ("server_down", None),
            FaultKind::CacheFlush => ("cache_flush", None),
            FaultKind::CutClient => ("link_cut", Some("client")),
            FaultKind::CutUpstream => ("link_cut", Some("upstream")),
            FaultKind::CutDatacenter => ("link_cut", Some("datacenter")),
            FaultKind::ClientRestart => ("client_restart", None),
            FaultKind::ImapServerDown => ("imap_server_down", None),
            FaultKind::CutImapClient => ("link_cut", Some("imap_client")),
            FaultKind::CutImapServer => ("link_cut", Some("imap_server")),
            FaultKind::SenderRestart => ("sender_restart", None),
        };
        writeln!(out, "\n[[fault]]\nid = \"f{}\"", i + 1)?;
        writeln!(out, "at = \"{}\"\nkind = \"{kind}\"", show(f.at))?;
        if let Some(link) = link {
            writeln!(out, "link = \"{link}\"")?;
        }
        if f.kind.lasts() {
            writeln!(out, "for = \"{}\"", show(f.lasts))?;
        }
    }
    for (i, m) in case.messages.iter().enumerate() {
        writeln!(
            out,
            "\n[[message]]\nid = \"m{}\"\nat = \"{}\"",
            i + 1,
            show(m.at)
        )?;
        if m.mailbox {
            writeln!(out, "via = \"mailbox\"")?;
        }
        let mut in_archive = Vec::new();
        for (j, &k) in m.files.iter().enumerate() {
            let k = k % case.files.len();
            let file = &case.files[k];
            write!(
                out,
                "[[message.attachment]]\nname = {}\nanalysis = \"{}\"\n",
                quote(&file.name),
                show(file.analysis)
            )?;
            if file.size != 2_000 {
                writeln!(out, "size = {}", file.size)?;
            }
            if let Some(level) = file.level {
                writeln!(out, "level = \"{level}\"")?;
            }
            // A zip holds a name once: the same file again stays outside the archive.
            if m.archived.get(j) == Some(&true) && !in_archive.contains(&k) {
                in_archive.push(k);
                writeln!(out, "archive = \"bundle.zip\"")?;
            }
        }
    }
    if let Some(imap) = &case.imap {
        super::generate_imap::write_clients(out, imap)?;
    }
    Ok(())
}

/// The case as a parsed scenario (through its text, as `aptsim run` would read it).
pub fn scenario(case: &Case, name: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml(&to_toml(case, name, "generated"), &format!("{name}.toml"))
}
