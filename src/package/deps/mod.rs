//! Dependencies: a function's `requirements.txt` / `pyproject.toml` or `package.json`, installed
//! for the platform that will run it and carried in its package.
//!
//! Each provider says per function how its platform wants them ([`DependencyTarget`]): vendored
//! into the zip for a Linux architecture (AWS, OpenWhisk, Azure — the latter under its Python
//! worker's `.python_packages/lib/site-packages`), vendored for this machine's own interpreter
//! and node (local), or left to the platform's own build (Google), which only needs the
//! requirements file at the package root.
//!
//! Map: [`sources`] finds each function's dependency files and settings
//! (`custom.pythonRequirements`, `package.excludeDevDependencies`); [`resolve`] turns them into
//! install specs keyed by content; [`cache`] installs a spec once into the user's cache
//! directory, atomically, with [`python`] (pip) or [`node`] (npm) run by [`tool`]; a second run
//! with nothing changed runs neither. The packager then adds the cached files to the artifact
//! (sorted, fixed timestamps, like every entry).
//! User-facing docs: `docs/packaging.md` ("Dependencies").

mod cache;
mod node;
mod python;
mod resolve;
mod sources;
mod tool;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub use cache::default_cache_dir;
pub(crate) use resolve::{ArtifactDeps, prepare};

/// The CPU architecture a Linux platform runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// x86_64 (amd64).
    X86_64,
    /// arm64 (aarch64, Graviton).
    Arm64,
}

impl Arch {
    /// The architecture the manifest asks for (`architecture: arm64`), x86_64 by default.
    pub fn parse(value: Option<&str>) -> Arch {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("arm64" | "aarch64") => Arch::Arm64,
            _ => Arch::X86_64,
        }
    }

    /// `x86_64` / `aarch64`, as wheel platform tags spell it.
    pub fn wheel_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// `x64` / `arm64`, as npm's `--cpu` spells it.
    pub fn npm_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Which machine the installed dependencies must run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "arch")]
pub enum Platform {
    /// This machine, with the `python3` and `node` on PATH (the local provider).
    Host,
    /// Linux with glibc on this architecture (manylinux2014 wheels; npm `--os linux`).
    Linux(Arch),
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Platform::Host => f.write_str("this machine"),
            Platform::Linux(arch) => write!(f, "Linux {}", arch.wheel_name()),
        }
    }
}

/// How a function's platform wants its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyTarget {
    /// stratus installs them into the package.
    Vendor {
        /// The machine they must run on.
        platform: Platform,
        /// Zip directory for Python packages (`""` for the package root).
        python_dir: String,
    },
    /// The platform installs them itself from the requirements file / `package.json` at the
    /// package root (Google's build); stratus makes sure the file is there.
    Remote,
}

impl DependencyTarget {
    /// Vendored at the package root for `platform`.
    pub fn vendor(platform: Platform) -> DependencyTarget {
        DependencyTarget::Vendor {
            platform,
            python_dir: String::new(),
        }
    }
}

/// Reports what the packager is doing while pip or npm run (a spinner's message on a terminal).
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&str) + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}

/// The dependency side of a [`super::PackageRequest`].
#[derive(Debug, Clone, Default)]
pub struct DependencyOptions {
    /// How each function gets its dependencies; a function not listed gets none installed.
    pub targets: BTreeMap<String, DependencyTarget>,
    /// Where installed dependencies are kept between runs (default [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Show pip's and npm's own output as they run (`-v`); otherwise it is shown on failure only.
    pub verbose: bool,
    /// Progress messages.
    pub progress: Option<Progress>,
}

/// One dependency set a package run installed or took from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyBuild {
    /// `python` or `node`.
    pub language: String,
    /// The file it was built from, relative to the service root.
    pub source: String,
    /// The platform it was built for.
    pub platform: Platform,
    /// Whether it came from the cache (no pip / npm run).
    pub cached: bool,
    /// The functions whose packages carry it.
    pub functions: Vec<String>,
    /// Files installed.
    pub files: usize,
}

/// The directories holding `function`'s dependencies, installed as `options` says (or taken from
/// the cache): what `invoke local` puts on `PYTHONPATH` / `NODE_PATH` to run the working tree
/// with them. Empty when the function has none.
pub fn module_paths(
    service: &crate::model::Service,
    function: &str,
    options: &DependencyOptions,
) -> anyhow::Result<Vec<PathBuf>> {
    let artifact = (function.to_string(), vec![function.to_string()]);
    let prepared = prepare(service, &[artifact], options)?;
    Ok(prepared
        .artifacts
        .into_values()
        .flat_map(|deps| deps.placements)
        .map(|placement| placement.installed.root)
        .collect())
}

/// The files of `installed` that `filters` leave out of a package (Python's `slim`, `noDeploy`).
pub(crate) fn excluded(
    filters: &resolve::PythonFilters,
    installed: &cache::Installed,
) -> std::collections::BTreeSet<String> {
    python::excluded(filters, &installed.files)
}
