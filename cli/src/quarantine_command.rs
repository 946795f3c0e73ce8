//! `aptsim quarantine list|show|release`: the messages a live proxy kept with
//! `--quarantine DIR` (`aptsim_live::quarantine` has the folder's layout). `release` sends
//! a message to an SMTP server with its stored envelope and marks it released, so that it
//! is never sent twice (`aptsim_live::quarantine_folder`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use aptsim_core::duration;
use aptsim_live::log::{escape, utc_rfc3339};
use aptsim_live::quarantine::Released;
use aptsim_live::quarantine_folder::{self, Entry, headers};
use aptsim_live::reinject;

/// Arguments of `aptsim quarantine`.
#[derive(clap::Args, Debug)]
pub struct QuarantineArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: QuarantineAction,
}

/// The quarantine commands.
#[derive(clap::Subcommand, Debug)]
pub enum QuarantineAction {
    /// One line per message, oldest first: id, state (new, seen, releasing, released),
    /// time, envelope, reason.
    List {
        /// The proxy's --quarantine folder.
        dir: PathBuf,
        /// One JSON decision per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// A message's decision and its header fields.
    Show {
        /// The proxy's --quarantine folder.
        dir: PathBuf,
        /// The message's id, or the start of it.
        id: String,
    },
    /// Send a message to an SMTP server with its stored envelope, once: after the server's
    /// 250 it is moved to released/, and a second release is refused.
    Release {
        /// The proxy's --quarantine folder.
        dir: PathBuf,
        /// The message's id, or the start of it.
        id: String,
        /// The SMTP server to deliver to (host:port).
        #[arg(long, value_name = "ADDR")]
        upstream: String,
        /// The name to greet the server with (EHLO).
        #[arg(long, value_name = "NAME", default_value = "localhost")]
        helo: String,
        /// How long each step of the dialogue may take.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration::parse)]
        timeout: Duration,
    },
}

/// Runs `aptsim quarantine …`.
pub fn run(args: &QuarantineArgs) -> Result<ExitCode, String> {
    match &args.action {
        QuarantineAction::List { dir, json } => {
            let entries = quarantine_folder::list(dir).map_err(|e| e.to_string())?;
            let text = if *json {
                entries
                    .iter()
                    .map(|e| serde_json::to_string(&e.record).unwrap_or_default() + "\n")
                    .collect()
            } else {
                table(&entries)
            };
            print!("{text}");
        }
        QuarantineAction::Show { dir, id } => {
            let entry = quarantine_folder::find(dir, id).map_err(|e| e.to_string())?;
            print!("{}", show(&entry)?);
        }
        QuarantineAction::Release {
            dir,
            id,
            upstream,
            helo,
            timeout,
        } => {
            let entry = quarantine_folder::find(dir, id).map_err(|e| e.to_string())?;
            let claim = quarantine_folder::claim(dir, &entry).map_err(|e| e.to_string())?;
            let r = claim.record().clone();
            let sent = claim
                .message()
                .map_err(|e| e.to_string())
                .and_then(|message| {
                    reinject::send(upstream, helo, &r.from, &r.rcpts, &message, *timeout)
                        .map_err(|e| format!("releasing {} to {upstream}: {e}", r.id))
                });
            let delivered = match sent {
                Ok(d) => d,
                Err(e) => {
                    return Err(match claim.abort() {
                        Ok(()) => format!("{e}; it stays quarantined"),
                        Err(back) => format!("{e}; and putting it back failed: {back}"),
                    });
                }
            };
            let released = Released {
                time: utc_rfc3339(SystemTime::now()),
                upstream: upstream.clone(),
                reply: delivered.reply.clone(),
                refused: delivered.refused.clone(),
            };
            claim.finish(released).map_err(|e| {
                format!(
                    "{} was delivered to {upstream} ({}), but marking it released failed: {e}",
                    r.id, delivered.reply
                )
            })?;
            println!(
                "released {} to {upstream}: {}",
                r.id,
                escape(&delivered.reply)
            );
            for refused in &delivered.refused {
                println!("  refused {}", escape(refused));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The listing: a header line, then one line per message, columns separated by two spaces.
fn table(entries: &[Entry]) -> String {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            let r = &e.record;
            [
                r.id.clone(),
                e.state.name().to_owned(),
                r.time.clone(),
                format!("<{}>", escape(&r.from)),
                r.rcpts
                    .iter()
                    .map(|t| format!("<{}>", escape(t)))
                    .collect::<Vec<_>>()
                    .join(","),
                escape(&r.reason),
            ]
        })
        .collect();
    let head = ["ID", "STATE", "TIME", "FROM", "TO", "REASON"].map(str::to_owned);
    let mut widths = head.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no quarantined messages)\n");
    }
    out
}

/// The decision, then the message's header fields (escaped: a header is the sender's text).
fn show(entry: &Entry) -> Result<String, String> {
    let r = &entry.record;
    let mut out = String::new();
    let _ = writeln!(out, "id:       {}", r.id);
    let _ = writeln!(out, "state:    {}", entry.state.name());
    let _ = writeln!(out, "time:     {}", r.time);
    let _ = writeln!(
        out,
        "client:   {} (conn {}, txn {})",
        r.client, r.conn, r.txn
    );
    let _ = writeln!(out, "from:     <{}>", escape(&r.from));
    for rcpt in &r.rcpts {
        let _ = writeln!(out, "to:       <{}>", escape(rcpt));
    }
    let _ = writeln!(out, "action:   {}", r.action);
    let _ = writeln!(out, "reason:   {}", escape(&r.reason));
    let held = r
        .held_seconds
        .map_or("-".to_owned(), |s| format!("{s:.3}s"));
    let _ = writeln!(out, "size:     {} bytes, held {held}", r.size);
    for f in &r.files {
        let threat = f
            .threat
            .as_deref()
            .map_or(String::new(), |t| format!(" {t}"));
        let _ = writeln!(
            out,
            "file:     {} {} {} score {}{threat} -> {} ({})",
            escape(&f.name),
            f.md5,
            f.level,
            f.score,
            f.action,
            f.source
        );
    }
    if let Some(rel) = &r.released {
        let _ = writeln!(
            out,
            "released: {} to {} ({})",
            rel.time,
            rel.upstream,
            escape(&rel.reply)
        );
    }
    let _ = writeln!(out);
    if let Some(path) = &entry.path {
        let message = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in String::from_utf8_lossy(headers(&message)).lines() {
            let _ = writeln!(out, "{}", escape(line));
        }
    } else {
        let _ = writeln!(out, "(the message file is missing)");
    }
    Ok(out)
}
