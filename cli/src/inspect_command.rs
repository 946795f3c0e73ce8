//! `aptsim inspect`: the files the gateway finds in messages and, given a policy or known
//! verdicts, what its SMTP and IMAP engines would do next. One JSON object per message.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aptsim_core::cache::{MemoryCache, VerdictCache};
use aptsim_core::clock::Timestamp;
use aptsim_core::inspect::{Decision, Flavour, Inspection};
use aptsim_core::mime::{self, Extraction};
use aptsim_core::policy::Policy;
use serde_json::{Value, json};

use crate::verdicts::read_verdicts;

/// Arguments of `aptsim inspect`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  aptsim inspect samples/\n  aptsim inspect --policy samples/policy.toml \
    --verdicts samples/verdicts.json samples/\n  cat msg.eml | aptsim inspect -"
)]
pub struct InspectArgs {
    /// Message files (RFC 5322), folders of `.eml` files, or `-` for standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Policy file (TOML); unknown keys are an error. Without it, the default policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Known verdicts: a JSON object mapping MD5 (hex) to a level ("clean", "low",
    /// "medium", "high"), a score (0-100), or {"score": N, "threat": "name"}.
    #[arg(long, value_name = "FILE")]
    pub verdicts: Option<PathBuf>,
    /// Write rewritten messages (drop, block, lock; IMAP deny and quarantine) into this
    /// folder as NAME.smtp.eml and NAME.imap.eml.
    #[arg(long, value_name = "DIR")]
    pub rewrite: Option<PathBuf>,
}

/// Runs the command; the exit code is 0 when every input could be read.
pub fn run(args: &InspectArgs) -> Result<ExitCode, String> {
    let policy = match &args.policy {
        Some(path) => {
            let text = read_text(path)?;
            Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Policy::default(),
    };
    let policy = Arc::new(policy);
    let mut cache = MemoryCache::new(policy.cache.clone());
    if let Some(path) = &args.verdicts {
        load_verdicts(path, &policy, &mut cache)?;
    }
    let engines = args.policy.is_some() || args.verdicts.is_some();
    if let Some(dir) = &args.rewrite {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let inputs = expand_inputs(&args.files)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for input in inputs {
        let raw = match read_input(&input) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("aptsim: {}: {e}", input.display());
                failed = true;
                continue;
            }
        };
        let mut record = describe(&input, &raw, &policy);
        if engines {
            let raw: Arc<[u8]> = Arc::from(raw);
            for flavour in [Flavour::Smtp, Flavour::Imap] {
                let (view, rewritten) = engine_view(flavour, &raw, &policy, &cache);
                if let (Some(dir), Some(bytes)) = (&args.rewrite, rewritten) {
                    let path = rewrite_path(dir, &input, flavour);
                    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                record[flavour_key(flavour)] = view;
            }
        }
        writeln!(out, "{record}").map_err(|e| format!("writing output: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing output: {e}"))?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn flavour_key(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::Smtp => "smtp",
        Flavour::Imap => "imap",
    }
}

/// The extraction as JSON: `path`, `size`, `files`, `malformed`.
pub fn describe(path: &Path, raw: &[u8], policy: &Policy) -> Value {
    let x = mime::extract(raw, &policy.limits);
    extraction_json(path, raw.len(), &x)
}

fn extraction_json(path: &Path, size: usize, x: &Extraction) -> Value {
    json!({
        "path": path.display().to_string(),
        "size": size,
        "files": x.files,
        "malformed": x.malformed,
    })
}

/// What one engine does next: the upload groups still to come and, if decided, the decision.
fn engine_view(
    flavour: Flavour,
    raw: &Arc<[u8]>,
    policy: &Arc<Policy>,
    cache: &MemoryCache,
) -> (Value, Option<Vec<u8>>) {
    let now = Timestamp::ZERO;
    let mut m = Inspection::new(flavour, raw, policy.clone(), cache, now);
    let mode = if m.holds() { "hold" } else { "release" };
    let uploads: Vec<Value> = m
        .planned_groups()
        .iter()
        .map(|g| {
            Value::Array(
                g.files
                    .iter()
                    .map(|f| json!({"md5": f.md5.to_hex(), "name": f.name}))
                    .collect(),
            )
        })
        .collect();
    // Drive the machine as far as it goes without the data center: submissions are only
    // recorded (no verdicts come), so a hold stays undecided.
    while m.poll_submission(cache, now).is_some() {}
    let mut rewritten = None;
    let decided = m.poll_outcome().map(|o| {
        let (decision, reply) = match &o.decision {
            Decision::Deliver => ("deliver", None),
            Decision::DeliverRewritten(plan) => {
                rewritten = Some(plan.apply(raw, &policy.limits));
                ("deliver_rewritten", None)
            }
            Decision::Quarantine => ("quarantine", None),
            Decision::Reject(text) => ("reject", Some(format!("554 {text}"))),
            Decision::Tempfail(text) => ("tempfail", Some(format!("451 {text}"))),
        };
        json!({
            "action": o.action,
            "decision": decision,
            "reply": reply,
            "alarm": o.alarm,
            "log": o.log,
            "block_for_s": o.block_for.map(|d| d.as_secs()),
            "files": o.files.iter().map(|f| json!({
                "name": f.name, "md5": f.md5.to_hex(), "level": f.level,
                "action": f.action, "source": f.source,
            })).collect::<Vec<_>>(),
        })
    });
    (
        json!({"mode": mode, "uploads": uploads, "decided": decided}),
        rewritten,
    )
}

fn rewrite_path(dir: &Path, input: &Path, flavour: Flavour) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && s != "-")
        .unwrap_or_else(|| "stdin".to_owned());
    dir.join(format!("{stem}.{}.eml", flavour_key(flavour)))
}

/// Files as given; folders give their `.eml` files, sorted, recursively.
fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() != "-" && p.is_dir() {
            let mut found = Vec::new();
            collect_eml(p, &mut found).map_err(|e| format!("{}: {e}", p.display()))?;
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn collect_eml(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_eml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
    Ok(())
}

fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads a verdict file into the cache.
fn load_verdicts(path: &Path, policy: &Policy, cache: &mut MemoryCache) -> Result<(), String> {
    for (md5, verdict) in read_verdicts(path, policy)? {
        cache.insert(md5, verdict, Timestamp::ZERO);
    }
    Ok(())
}
