//! Deterministic packaging: the service tree → zip artifacts with a content hash.
//!
//! Entries are sorted, timestamps and permissions fixed (the executable bit kept), paths
//! relative: the same inputs give byte-identical zips on any machine, so an unchanged function
//! is never uploaded again. Files are streamed and compressed in parallel; memory stays flat
//! whatever the size of the tree.

use std::path::PathBuf;

use serde::Serialize;

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
pub fn package(request: &PackageRequest<'_>) -> anyhow::Result<Packaged> {
    let _ = request;
    anyhow::bail!("packaging is not built yet")
}
