//! The local state directory: where deployed functions live, and how it is written safely.
//!
//! Layout, per service and stage (`{root}/{service}/{stage}/`):
//!
//! * `functions/{name}.json` — one [`FunctionState`] per installed function (desired config,
//!   code sha256, deploy time), replaced atomically (write a temp file, fsync, rename);
//! * `code/{sha256}/` — content-addressed extracted packages, extracted to a temp dir and
//!   renamed into place, garbage-collected when no function points to them any more;
//! * `logs/{name}.jsonl` — log records (see `logs.rs`);
//! * `.lock` — held (`File::try_lock`) by a deploy or remove for its whole run.
//!
//! A crash at any point leaves each `functions/*.json` either old or new, never torn, and an
//! old one always points at a code dir that still exists, because code dirs are only deleted
//! after every state file has been written.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::model::Service;

/// The env var that overrides the state root.
pub const STATE_DIR_ENV: &str = "STRATUS_STATE_DIR";

/// The state root from the environment: `STRATUS_STATE_DIR`, else `$XDG_STATE_HOME/stratus`,
/// else `~/.local/state/stratus`.
pub fn default_root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("stratus"));
    }
    let home = dirs::home_dir().context(
        "cannot find the home directory for the local state; set STRATUS_STATE_DIR to a directory",
    )?;
    Ok(home.join(".local").join("state").join("stratus"))
}

/// Whether `name` can be one component of a path under the state root (no separators, not
/// `.` or `..`, not hidden).
pub fn is_path_safe(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0', ':'])
}

/// One HTTP route of an installed function, as it was deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteState {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path with `{param}` segments.
    pub path: String,
}

/// What `functions/{name}.json` holds: one installed function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionState {
    /// The manifest name.
    pub name: String,
    /// `{service}-{stage}-{function}`.
    pub deployed_name: String,
    /// Runtime id as written (`python3.12`, `nodejs20.x`).
    pub runtime: String,
    /// `file.function`.
    pub handler: String,
    /// Memory, MB (exposed to the handler, not enforced).
    pub memory_size: u32,
    /// Timeout, seconds (enforced).
    pub timeout: u32,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
    /// The function's environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// HTTP routes it answers on under `stratus serve`.
    #[serde(default)]
    pub routes: Vec<RouteState>,
    /// sha256 of the package it runs, the name of its dir under `code/`.
    pub code_sha256: String,
    /// When it was last deployed, RFC 3339.
    pub deployed_at: String,
}

/// The state of one service and stage.
#[derive(Debug, Clone)]
pub struct StageDir {
    /// `{root}/{service}/{stage}`.
    pub path: PathBuf,
    /// The service name.
    pub service: String,
    /// The stage.
    pub stage: String,
}

impl StageDir {
    /// The stage dir of `service` under `root`.
    pub fn new(root: &Path, service: &Service) -> StageDir {
        StageDir {
            path: root.join(&service.name).join(&service.stage),
            service: service.name.clone(),
            stage: service.stage.clone(),
        }
    }

    /// `functions/`.
    pub fn functions_dir(&self) -> PathBuf {
        self.path.join("functions")
    }

    /// `functions/{name}.json`.
    pub fn function_file(&self, name: &str) -> PathBuf {
        self.functions_dir().join(format!("{name}.json"))
    }

    /// `code/`.
    pub fn code_root(&self) -> PathBuf {
        self.path.join("code")
    }

    /// `code/{sha256}/`.
    pub fn code_dir(&self, sha256: &str) -> PathBuf {
        self.code_root().join(sha256)
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// `.lock`.
    pub fn lock_file(&self) -> PathBuf {
        self.path.join(".lock")
    }

    /// Reads one installed function, `None` when it is not installed.
    pub fn read_function(&self, name: &str) -> anyhow::Result<Option<FunctionState>> {
        let path = self.function_file(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        let state = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a stratus function state file; delete it and deploy again",
                path.display()
            )
        })?;
        Ok(Some(state))
    }

    /// Every installed function, by manifest name.
    pub fn read_functions(&self) -> anyhow::Result<BTreeMap<String, FunctionState>> {
        let dir = self.functions_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BTreeMap::new());
            }
            Err(error) => return Err(error).with_context(|| format!("listing {}", dir.display())),
        };
        let mut functions = BTreeMap::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if let Some(state) = self.read_function(name)? {
                functions.insert(state.name.clone(), state);
            }
        }
        Ok(functions)
    }

    /// Writes one function's state atomically.
    pub fn write_function(&self, state: &FunctionState) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(state).context("encoding the function state")?;
        write_atomic(&self.function_file(&state.name), &text)
    }

    /// Deletes one function's state (not its code or logs).
    pub fn delete_function(&self, name: &str) -> anyhow::Result<()> {
        let path = self.function_file(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error).with_context(|| format!("deleting {}", path.display())),
        }
    }

    /// Deletes code dirs no installed function points to, and leftovers of interrupted writes.
    pub fn collect_garbage(&self) -> anyhow::Result<()> {
        let used: Vec<String> = self
            .read_functions()?
            .into_values()
            .map(|f| f.code_sha256)
            .collect();
        let root = self.code_root();
        let Ok(entries) = fs::read_dir(&root) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                fs::remove_dir_all(entry.path())
                    .with_context(|| format!("deleting unused code {}", entry.path().display()))?;
            }
        }
        if let Ok(entries) = fs::read_dir(self.functions_dir()) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Takes the deploy lock, or fails at once naming the process that holds it.
    pub fn lock(&self, operation: &str) -> anyhow::Result<StageLock> {
        fs::create_dir_all(&self.path)
            .with_context(|| format!("creating the state dir {}", self.path.display()))?;
        let path = self.lock_file();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let mut words = holder.split_whitespace();
                let pid = words.next().unwrap_or("unknown");
                let what = words.next().unwrap_or("deploy");
                anyhow::bail!(
                    "another stratus {what} of service {} stage {} is running (pid {pid}); \
                     wait for it to finish, or remove {} if no such process is running",
                    self.service,
                    self.stage,
                    path.display()
                );
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("locking {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{} {operation}", std::process::id()))
            .and_then(|()| file.flush())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(StageLock { _file: file })
    }
}

/// The deploy lock of one service and stage; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StageLock {
    _file: File,
}

/// Writes `contents` to `path` atomically: a temp file in the same dir, fsync, rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Extracts `zip_path` into `dest` (which must not exist yet) via a temp dir and a rename, so
/// `dest` either holds the whole package or does not exist.
pub fn install_code(zip_path: &Path, dest: &Path) -> anyhow::Result<()> {
    if dest.is_dir() {
        return Ok(());
    }
    let parent = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let temp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = crate::package::extract(zip_path, &temp).and_then(|()| {
        fs::rename(&temp, dest).with_context(|| format!("renaming into {}", dest.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
        if dest.is_dir() {
            // Another deploy installed the same content meanwhile.
            return Ok(());
        }
    }
    result
}

/// Extracts a zip into a new directory.
///
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_become_paths() {
        for ok in ["hello", "my-service", "dev_2", "Name.With.Dots"] {
            assert!(is_path_safe(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "c:"] {
            assert!(!is_path_safe(bad), "{bad}");
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
    }

    #[test]
    fn a_broken_zip_leaves_no_code_dir() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("bad.zip");
        fs::write(&zip, b"not a zip").unwrap();
        let dest = dir.path().join("code").join("abc");
        let error = install_code(&zip, &dest).unwrap_err();
        assert!(
            format!("{error:#}").contains("not a readable zip"),
            "{error:#}"
        );
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path().join("code")).unwrap().count(), 0);
    }
}
