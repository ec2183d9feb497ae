//! The dependency cache: one directory per install spec under `<cache>/deps/<key>/`, built in a
//! temporary sibling and renamed into place only when pip or npm succeeded, so a failed or
//! interrupted install leaves nothing that a later run could mistake for a good one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;

use super::resolve::{Kind, Spec};
use super::{DependencyOptions, node, python, tool};
use crate::package::walk::{self, TreeFile};

/// Marks a cache entry as complete (written last, inside the temporary directory).
const COMPLETE: &str = "stratus-complete";

/// The cache directory: `$STRATUS_CACHE_DIR`, else the user's cache directory
/// (`~/.cache/stratus` on Linux), else one under the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRATUS_CACHE_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .map(|dir| dir.join("stratus"))
        .unwrap_or_else(|| std::env::temp_dir().join("stratus-cache"))
}

/// An installed set, ready to add to zips.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    /// The directory holding them (a `site-packages`-like tree, or a `node_modules`).
    pub root: PathBuf,
    /// Its files, sorted by `rel`.
    pub files: Vec<TreeFile>,
}

/// The installed set for `spec`: from the cache, or installed now. Answers whether it was cached.
pub(crate) fn ensure(
    cache_dir: &Path,
    spec: &Spec,
    options: &DependencyOptions,
) -> anyhow::Result<(Installed, bool)> {
    let root = cache_dir.join("deps");
    let entry = root.join(&spec.key);
    if entry.join(COMPLETE).is_file() {
        return Ok((list(&entry.join("content"))?, true));
    }
    fs::create_dir_all(&root)
        .with_context(|| format!("cannot create the cache directory {}", root.display()))?;
    sweep_abandoned(&root);
    let temp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", &spec.key[..16]))
        .tempdir_in(&root)
        .with_context(|| format!("cannot create a directory in {}", root.display()))?;
    let content = temp.path().join("content");
    if let Some(progress) = &options.progress {
        (progress.0)(&describe(spec));
    }
    match spec.kind {
        Kind::Python => python::install(spec, temp.path(), &content, options.verbose)?,
        Kind::Node => node::install(spec, temp.path(), &content, options.verbose)?,
    }
    fs::create_dir_all(&content).with_context(|| format!("cannot create {}", content.display()))?;
    fs::write(temp.path().join(COMPLETE), describe(spec))
        .with_context(|| format!("cannot write into {}", temp.path().display()))?;
    if entry.exists() {
        // A half-made entry from an older crash (no marker), or one another run just finished.
        if entry.join(COMPLETE).is_file() {
            return Ok((list(&entry.join("content"))?, false));
        }
        fs::remove_dir_all(&entry)
            .with_context(|| format!("cannot clear the stale cache entry {}", entry.display()))?;
    }
    let temp_path = temp.keep();
    if let Err(error) = fs::rename(&temp_path, &entry) {
        let _ = fs::remove_dir_all(&temp_path);
        if !entry.join(COMPLETE).is_file() {
            return Err(error)
                .with_context(|| format!("cannot move the install into {}", entry.display()));
        }
    }
    Ok((list(&entry.join("content"))?, false))
}

/// Removes temporary install directories that a killed run left behind (older than a day, so a
/// concurrent run's are never touched). Best effort: the cache works without it.
fn sweep_abandoned(root: &Path) {
    const ABANDONED: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_string_lossy().starts_with(".tmp-");
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > ABANDONED);
        if is_temp && old {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// What an install is, for progress and the marker file.
fn describe(spec: &Spec) -> String {
    match (spec.kind, &spec.python_version) {
        (Kind::Python, Some(version)) => format!(
            "Installing Python requirements from {} for {} / Python {version} (pip)",
            spec.source, spec.platform
        ),
        (Kind::Python, None) => format!(
            "Installing Python requirements from {} for {} (pip)",
            spec.source, spec.platform
        ),
        (Kind::Node, _) => format!(
            "Installing Node.js dependencies from {} for {} (npm)",
            spec.source, spec.platform
        ),
    }
}

/// Every file of the installed set in `dir`, sorted, listed by the packager's own walk (symlinks
/// followed inside the set; anything pointing outside it is left out: an installed set must not
/// carry files from elsewhere).
fn list(dir: &Path) -> anyhow::Result<Installed> {
    let files = if dir.exists() {
        walk::walk(dir, &[])?.files
    } else {
        Vec::new()
    };
    Ok(Installed {
        root: dir.to_path_buf(),
        files,
    })
}

/// What identifies this machine's interpreter (Python) or node, for host installs: a new
/// interpreter version gets a new cache entry. Asked once per run.
pub(crate) fn host_fingerprint(kind: Kind) -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    static NODE: OnceLock<String> = OnceLock::new();
    let (cell, program, args): (_, &str, &[&str]) = match kind {
        Kind::Python => (
            &PYTHON,
            "python3",
            &[
                "-c",
                "import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())",
            ],
        ),
        Kind::Node => (
            &NODE,
            "node",
            &[
                "-p",
                "process.version + ' ' + process.platform + ' ' + process.arch",
            ],
        ),
    };
    cell.get_or_init(|| {
        tool::quick_output(program, args).unwrap_or_else(|| format!("{program}: unknown"))
    })
    .clone()
}
