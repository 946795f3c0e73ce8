//! Finding and reading scenario files: the built-in catalogue, folders of `.toml` files.

use std::path::{Path, PathBuf};

use crate::format::Scenario;

/// The built-in catalogue, relative to the repository root.
pub const CATALOGUE: &str = "scenarios/suite";

/// Scenario files under `paths` (folders: their `.toml` files, sorted), or the catalogue.
/// A folder without any is an error, so that a run pointed at the wrong folder fails
/// instead of passing with nothing run.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let defaults = [PathBuf::from(CATALOGUE)];
    let paths = if paths.is_empty() {
        &defaults[..]
    } else {
        paths
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{}: no scenario files (*.toml) in this folder",
                    p.display()
                ));
            }
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else if paths == defaults {
            return Err(format!(
                "{}: no such folder; run from the repository root, or name scenario files or folders",
                p.display()
            ));
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    Ok(out)
}

/// Reads and checks one scenario file.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Scenario::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())
}
