//! Deterministic packaging: the service tree → zip artifacts with a content hash.
//!
//! Entries are sorted, timestamps and permissions fixed (the executable bit kept), paths
//! relative: the same inputs give byte-identical zips on any machine, so an unchanged function
//! is never uploaded again. Files are streamed and compressed in parallel; memory stays flat
//! whatever the size of the tree.
//!
//! Map: `plan` decides which artifacts a request needs (service-wide, individually, prebuilt);
//! [`walk`] lists the service tree once; [`patterns`] selects files per artifact; `build`
//! assembles each artifact (generated files, [`deps`] installed for the target, [`secrets`] and
//! `limits` warnings); [`writer`]
//! writes the deterministic zip in parallel; [`extract`] unpacks one safely. User-facing docs:
//! `docs/packaging.md`.

mod build;
pub mod deps;
mod extract;
mod limits;
pub mod patterns;
mod plan;
pub mod secrets;
pub mod walk;
pub mod writer;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use extract::extract;
pub use limits::LAMBDA_LIMITS;

use crate::diagnostic::Diagnostic;
use crate::model::Service;

/// A file a provider adds to a package (bootstrap, shim), beside the user's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Zip path: relative, `/`-separated.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Whether it gets the executable bit.
    pub executable: bool,
}

/// A target's package size limits, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest zip the target accepts directly (Lambda: 50 MB).
    pub zipped: u64,
    /// Largest unzipped size (Lambda: 250 MB).
    pub unzipped: u64,
}

/// What to package.
#[derive(Debug, Clone)]
pub struct PackageRequest<'a> {
    /// The service.
    pub service: &'a Service,
    /// Where artifacts go (default `<service root>/.stratus`).
    pub out_dir: PathBuf,
    /// Only these functions (`deploy -f`); `None` for all.
    pub functions: Option<Vec<String>>,
    /// Provider-generated files per function name.
    pub generated: std::collections::BTreeMap<String, Vec<GeneratedFile>>,
    /// The target's limits, for warnings.
    pub limits: Option<SizeLimits>,
    /// How functions get their dependencies installed (none when empty).
    pub dependencies: deps::DependencyOptions,
}

/// One zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// The service name (service-wide artifact) or the function name (individually).
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// sha256 of the zip bytes, lower-case hex.
    pub sha256: String,
    /// Zip size in bytes.
    pub size: u64,
    /// Sum of the entries' uncompressed sizes.
    pub unzipped_size: u64,
    /// Number of file entries.
    pub entries: usize,
    /// The functions this artifact serves.
    pub functions: Vec<String>,
}

/// The result of packaging.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Packaged {
    /// Every artifact built.
    pub artifacts: Vec<Artifact>,
    /// Things worth knowing (files that look like secrets, size limits near).
    pub warnings: Vec<Diagnostic>,
    /// Dependency sets installed or taken from the cache.
    pub dependencies: Vec<deps::DependencyBuild>,
}

impl Packaged {
    /// The artifact that serves `function`.
    pub fn for_function(&self, function: &str) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|artifact| artifact.functions.iter().any(|f| f == function))
    }
}

/// Builds the artifacts for `request`.
///
/// One `<service>.zip` serves every function in scope that is not packaged individually;
/// each function with `package.individually` (its own or the service's) gets `<function>.zip`;
/// a `package.artifact` is hashed and reported as is. Artifacts are written into
/// `request.out_dir` (created if missing); artifacts of functions not in scope are left alone.
/// Problems in the manifest's package settings come back as a [`crate::diagnostic::Diagnostics`]
/// error (each naming its key path); I/O problems as plain errors saying what failed.
pub fn package(request: &PackageRequest<'_>) -> anyhow::Result<Packaged> {
    let plans = plan::plan_artifacts(request)?;
    build::build_all(request, &plans)
}

/// The sha256 of the file at `path`, lower-case hex, read in a streaming way.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<String> {
    let mut file = File::open(path.as_ref())?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
