//! Which dependencies each artifact carries: the function's requirements file or `package.json`
//! (beside its handler, else at the service root), the plugin-compatible settings, and one
//! content-keyed install spec per distinct set, installed once whatever the number of functions
//! sharing it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::cache::{self, Installed};
use super::sources::{
    NodeSource, PythonSettings, PythonSource, dir_prefix, included_files, node_source, parent_rel,
    python_settings, python_source,
};
use super::{Arch, DependencyBuild, DependencyOptions, DependencyTarget, Platform};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Function, Language, Service};
use crate::package::GeneratedFile;

/// Bumped when what an install produces changes, so old cache entries are not reused.
const CACHE_FORMAT: &str = "stratus-deps-1";

/// Python or Node.js.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Python,
    Node,
}

/// What to install, independent of where it lands in a zip.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub kind: Kind,
    /// The file it comes from, relative to the service root (`requirements.txt`, `src/package.json`).
    pub source: String,
    /// The same, on disk.
    pub source_path: PathBuf,
    /// Python: the requirement lines pip gets (the file's text, or pyproject's dependencies).
    pub requirements: String,
    /// Whether `requirements` is the file itself (so `-r` includes resolve beside it).
    pub from_requirements_file: bool,
    /// Node: the lockfile beside `package.json`, if any.
    pub lockfile: Option<PathBuf>,
    /// Node: leave devDependencies out.
    pub omit_dev: bool,
    pub platform: Platform,
    /// Python version pip targets (`3.12`); `None` on the host.
    pub python_version: Option<String>,
    /// Content hash of everything that decides the installed files.
    pub key: String,
}

/// Files to leave out of a Python install (`slim`, `noDeploy`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PythonFilters {
    pub slim: bool,
    pub no_deploy: Vec<String>,
}

/// One installed set placed into an artifact.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    /// Zip path prefix (`""`, `.python_packages/lib/site-packages/`, `src/node_modules/`).
    pub prefix: String,
    pub installed: Installed,
    pub filters: PythonFilters,
}

/// What dependencies add to one artifact.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArtifactDeps {
    /// Installed sets to add.
    pub placements: Vec<Placement>,
    /// Tree paths under these prefixes are replaced by the installed sets (`node_modules/`).
    pub replaced_prefixes: Vec<String>,
    /// Files the platform's own build reads (Google: `requirements.txt` at the root).
    pub generated: Vec<GeneratedFile>,
}

/// Everything dependencies add to a package run.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// By artifact name.
    pub artifacts: BTreeMap<String, ArtifactDeps>,
    pub builds: Vec<DependencyBuild>,
    pub warnings: Vec<Diagnostic>,
}

/// A spec wanted at a zip prefix of one artifact, before it is installed.
struct Wanted {
    prefix: String,
    spec: Spec,
    filters: PythonFilters,
}

/// Resolves and installs the dependencies of every artifact in `artifacts` (name, functions).
pub(crate) fn prepare(
    service: &Service,
    artifacts: &[(String, Vec<String>)],
    options: &DependencyOptions,
) -> anyhow::Result<Prepared> {
    let mut prepared = Prepared::default();
    if options.targets.is_empty() {
        return Ok(prepared);
    }
    let settings = python_settings(service, &mut prepared.warnings)?;
    let Collected { wanted, users } =
        collect(service, artifacts, options, &settings, &mut prepared)?;
    let cache_dir = match &options.cache_dir {
        Some(dir) => dir.clone(),
        None => super::default_cache_dir(),
    };
    // Distinct specs, in manifest order; installed a few at a time (pip and npm spend most of
    // their time waiting on the network), each into its own temporary directory.
    let mut distinct: Vec<&Spec> = Vec::new();
    for Wanted { spec, .. } in wanted.iter().flat_map(|(_, placements)| placements) {
        if !distinct.iter().any(|known| known.key == spec.key) {
            distinct.push(spec);
        }
    }
    let mut installed: BTreeMap<String, (Installed, bool)> = BTreeMap::new();
    for batch in distinct.chunks(crate::providers::CONCURRENCY) {
        let results: Vec<anyhow::Result<(Installed, bool)>> = std::thread::scope(|scope| {
            let running: Vec<_> = batch
                .iter()
                .map(|spec| scope.spawn(|| cache::ensure(&cache_dir, spec, options)))
                .collect();
            running
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("internal error: an install panicked"))
                    })
                })
                .collect()
        });
        for (spec, result) in batch.iter().zip(results) {
            let result = result?;
            if let Some(warning) = native_addons_warning(spec, &result.0) {
                prepared.warnings.push(warning);
            }
            let functions: Vec<String> = users
                .get(&spec.key)
                .map(|names| names.iter().cloned().collect())
                .unwrap_or_default();
            prepared.builds.push(DependencyBuild {
                language: match spec.kind {
                    Kind::Python => "python",
                    Kind::Node => "node",
                }
                .to_string(),
                source: spec.source.clone(),
                platform: spec.platform,
                cached: result.1,
                functions,
                files: result.0.files.len(),
            });
            installed.insert(spec.key.clone(), result);
        }
    }
    for (artifact, placements) in wanted {
        let deps = prepared.artifacts.entry(artifact).or_default();
        for Wanted {
            prefix,
            spec,
            filters,
        } in placements
        {
            if spec.kind == Kind::Node {
                deps.replaced_prefixes.push(prefix.clone());
            }
            deps.placements.push(Placement {
                prefix,
                installed: installed[&spec.key].0.clone(),
                filters,
            });
        }
    }
    Ok(prepared)
}

/// What every artifact wants where, and which functions use each spec (by key).
struct Collected {
    wanted: Vec<(String, Vec<Wanted>)>,
    users: BTreeMap<String, BTreeSet<String>>,
}

/// Finds each function's spec and where it goes in its artifact; for a platform that builds
/// itself, adds the files its build reads to `prepared` instead.
fn collect(
    service: &Service,
    artifacts: &[(String, Vec<String>)],
    options: &DependencyOptions,
    settings: &PythonSettings,
    prepared: &mut Prepared,
) -> anyhow::Result<Collected> {
    let mut wanted: Vec<(String, Vec<Wanted>)> = Vec::new();
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut remote_warned = false;
    for (artifact, functions) in artifacts {
        let mut placements: Vec<Wanted> = Vec::new();
        let deps = prepared.artifacts.entry(artifact.clone()).or_default();
        for name in functions {
            let Some(function) = service.functions.get(name) else {
                continue;
            };
            let Some(target) = options.targets.get(name) else {
                continue;
            };
            let Some(spec) = spec_for(service, function, target, settings)? else {
                continue;
            };
            match target {
                DependencyTarget::Remote => {
                    remote(service, &spec, deps, &mut prepared.warnings);
                    if !remote_warned
                        && (settings.filters.slim || !settings.filters.no_deploy.is_empty())
                    {
                        remote_warned = true;
                        prepared.warnings.push(
                            Diagnostic::warning(
                                "custom.pythonRequirements",
                                "`slim` and `noDeploy` do not apply here: the platform installs the requirements itself",
                            )
                            .at(service.locate("custom.pythonRequirements").cloned()),
                        );
                    }
                }
                DependencyTarget::Vendor { python_dir, .. } => {
                    let prefix = match spec.kind {
                        Kind::Python => dir_prefix(python_dir),
                        Kind::Node => {
                            let dir = parent_rel(&spec.source);
                            format!("{}node_modules/", dir_prefix(&dir))
                        }
                    };
                    if let Some(other) = placements.iter().find(|w| w.prefix == prefix) {
                        if other.spec.key != spec.key {
                            return Err(
                                conflict(service, artifact, &prefix, &other.spec, &spec).into()
                            );
                        }
                    } else {
                        let filters = match spec.kind {
                            Kind::Python => settings.filters.clone(),
                            Kind::Node => PythonFilters::default(),
                        };
                        placements.push(Wanted {
                            prefix,
                            spec: spec.clone(),
                            filters,
                        });
                    }
                    users
                        .entry(spec.key.clone())
                        .or_default()
                        .insert(name.clone());
                }
            }
        }
        wanted.push((artifact.clone(), placements));
    }
    Ok(Collected { wanted, users })
}

/// The install spec of `function`, if it has dependencies to install.
fn spec_for(
    service: &Service,
    function: &Function,
    target: &DependencyTarget,
    settings: &PythonSettings,
) -> anyhow::Result<Option<Spec>> {
    let Some(runtime) = service.effective(function).runtime else {
        return Ok(None);
    };
    let platform = match target {
        DependencyTarget::Vendor { platform, .. } => *platform,
        // The platform's build decides; the key only identifies the file.
        DependencyTarget::Remote => Platform::Host,
    };
    let handler_dir = function
        .handler_parts()
        .map(|(file, _)| parent_rel(file.trim_start_matches("./")))
        .unwrap_or_default();
    let mut dirs = vec![handler_dir];
    if !dirs[0].is_empty() {
        dirs.push(String::new());
    }
    match runtime.language {
        Language::Python => {
            let Some(PythonSource {
                source,
                requirements,
                from_file,
            }) = python_source(service, &dirs, settings)?
            else {
                return Ok(None);
            };
            let python_version = match (platform, target) {
                (Platform::Linux(_), DependencyTarget::Vendor { .. }) => {
                    match (runtime.major(), runtime.minor()) {
                        (Some(major), Some(minor)) => Some(format!("{major}.{minor}")),
                        _ => {
                            let key = if function.runtime.is_some() {
                                format!("functions.{}.runtime", function.name)
                            } else {
                                "provider.runtime".to_string()
                            };
                            return Err(Diagnostics(vec![
                                Diagnostic::error(
                                    &key,
                                    format!(
                                        "`{}` does not say which Python version runs {}: pip needs it to pick wheels",
                                        runtime.raw, source
                                    ),
                                )
                                .at(service.locate(&key).cloned())
                                .help("name the minor version: `python3.12` (AWS, Azure, local), `python:3.12` (OpenWhisk)"),
                            ])
                            .into());
                        }
                    }
                }
                _ => None,
            };
            let source_path = service.root.join(&source);
            let mut hasher = Sha256::new();
            for part in [CACHE_FORMAT, "python", &format!("{platform:?}")] {
                hash_part(&mut hasher, part.as_bytes());
            }
            hash_part(
                &mut hasher,
                python_version.as_deref().unwrap_or("host").as_bytes(),
            );
            if platform == Platform::Host && matches!(target, DependencyTarget::Vendor { .. }) {
                hash_part(
                    &mut hasher,
                    cache::host_fingerprint(Kind::Python).as_bytes(),
                );
            }
            hash_part(&mut hasher, requirements.as_bytes());
            if from_file {
                for included in included_files(&source_path, &requirements, 0) {
                    hash_part(&mut hasher, &fs::read(&included).unwrap_or_default());
                }
            }
            Ok(Some(Spec {
                kind: Kind::Python,
                source,
                source_path,
                requirements,
                from_requirements_file: from_file,
                lockfile: None,
                omit_dev: false,
                platform,
                python_version,
                key: hex::encode(hasher.finalize()),
            }))
        }
        Language::Node => {
            let omit_dev = service.package.exclude_dev_dependencies;
            let Some(found) = node_source(service, &dirs, omit_dev)? else {
                return Ok(None);
            };
            let NodeSource {
                source,
                source_path,
                text,
                lockfile,
            } = found;
            let mut hasher = Sha256::new();
            for part in [CACHE_FORMAT, "node", &format!("{platform:?}")] {
                hash_part(&mut hasher, part.as_bytes());
            }
            if platform == Platform::Host && matches!(target, DependencyTarget::Vendor { .. }) {
                hash_part(&mut hasher, cache::host_fingerprint(Kind::Node).as_bytes());
            }
            hash_part(
                &mut hasher,
                if omit_dev { b"omit-dev" } else { b"with-dev" },
            );
            hash_part(&mut hasher, text.as_bytes());
            if let Some(lockfile) = &lockfile {
                let lock = fs::read(lockfile)
                    .with_context(|| format!("cannot read {}", lockfile.display()))?;
                hash_part(&mut hasher, &lock);
            }
            Ok(Some(Spec {
                kind: Kind::Node,
                source,
                source_path,
                requirements: String::new(),
                from_requirements_file: false,
                lockfile,
                omit_dev,
                platform,
                python_version: None,
                key: hex::encode(hasher.finalize()),
            }))
        }
        Language::Other => Ok(None),
    }
}

/// Adds one length-prefixed part to a cache key.
fn hash_part(hasher: &mut Sha256, part: &[u8]) {
    hasher.update((part.len() as u64).to_le_bytes());
    hasher.update(part);
}

/// For a platform that builds itself: make sure its requirements file sits at the package root.
fn remote(service: &Service, spec: &Spec, deps: &mut ArtifactDeps, warnings: &mut Vec<Diagnostic>) {
    match spec.kind {
        Kind::Python => {
            if spec.source != "requirements.txt"
                && !deps
                    .generated
                    .iter()
                    .any(|file| file.path == "requirements.txt")
            {
                deps.generated.push(GeneratedFile {
                    path: "requirements.txt".to_string(),
                    contents: spec.requirements.clone().into_bytes(),
                    executable: false,
                });
            }
        }
        Kind::Node => {
            if spec.source != "package.json" {
                warnings.push(
                    Diagnostic::warning(
                        "package",
                        format!(
                            "{} is not at the service root: the platform installs dependencies from the root package.json only",
                            spec.source
                        ),
                    )
                    .help(format!(
                        "move the dependencies of {} into {}",
                        spec.source,
                        service.root.join("package.json").display()
                    )),
                );
            }
        }
    }
}

/// A Node.js set for another machine that holds addons compiled here (node-gyp's
/// `build/Release/*.node`): npm's `--os`/`--cpu` pick prebuilt packages, but a package that
/// compiles at install time compiled for this machine.
fn native_addons_warning(spec: &Spec, installed: &Installed) -> Option<Diagnostic> {
    let Platform::Linux(arch) = spec.platform else {
        return None;
    };
    let here = std::env::consts::OS == "linux"
        && Arch::parse(Some(std::env::consts::ARCH)) == arch
        && matches!(std::env::consts::ARCH, "x86_64" | "aarch64");
    if here {
        return None;
    }
    let packages: BTreeSet<&str> = installed
        .files
        .iter()
        .filter(|file| file.rel.ends_with(".node") && file.rel.contains("/build/Release/"))
        .filter_map(|file| file.rel.split("/build/Release/").next())
        .collect();
    if packages.is_empty() {
        return None;
    }
    let list: Vec<&str> = packages.into_iter().collect();
    Some(
        Diagnostic::warning(
            "package",
            format!(
                "{} compiled native addons on this machine ({} {}), which may not load on {}: {}",
                spec.source,
                std::env::consts::OS,
                std::env::consts::ARCH,
                spec.platform,
                list.join(", ")
            ),
        )
        .help("use versions that ship prebuilt binaries for the target, or package on a machine of the target's OS and CPU"),
    )
}

/// Two functions of one artifact need different dependency sets at the same place.
fn conflict(
    service: &Service,
    artifact: &str,
    prefix: &str,
    first: &Spec,
    second: &Spec,
) -> Diagnostics {
    let place = if prefix.is_empty() {
        "the package root"
    } else {
        prefix
    };
    Diagnostics(vec![
        Diagnostic::error(
            "package",
            format!(
                "{artifact}.zip would need two different dependency sets at {place}: {} and {} ({} / {})",
                first.source, second.source, first.platform, second.platform
            ),
        )
        .at(service.locate("package").cloned())
        .help("package these functions individually (`package.individually: true`) or give them one requirements file and runtime"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::walk::TreeFile;

    fn node_spec(platform: Platform) -> Spec {
        Spec {
            kind: Kind::Node,
            source: "package.json".into(),
            source_path: PathBuf::from("package.json"),
            requirements: String::new(),
            from_requirements_file: false,
            lockfile: None,
            omit_dev: true,
            platform,
            python_version: None,
            key: "k".into(),
        }
    }

    #[test]
    fn addons_compiled_here_are_warned_only_for_another_machine() {
        let file = |rel: &str| TreeFile {
            rel: rel.into(),
            source: PathBuf::from(rel),
            size: 1,
            executable: false,
        };
        let installed = Installed {
            root: PathBuf::new(),
            files: vec![
                file("bcrypt/build/Release/bcrypt_lib.node"),
                file("bcrypt/index.js"),
                file("esbuild-linux-arm64/bin/esbuild"),
            ],
        };
        let here = Arch::parse(Some(std::env::consts::ARCH));
        let other = match here {
            Arch::X86_64 => Arch::Arm64,
            Arch::Arm64 => Arch::X86_64,
        };
        let warning = native_addons_warning(&node_spec(Platform::Linux(other)), &installed)
            .expect("a warning for another CPU");
        assert!(warning.message.contains("bcrypt"), "{warning}");
        assert!(!warning.message.contains("esbuild"), "{warning}");
        assert!(native_addons_warning(&node_spec(Platform::Host), &installed).is_none());
        if std::env::consts::OS == "linux" {
            assert!(native_addons_warning(&node_spec(Platform::Linux(here)), &installed).is_none());
        }
    }
}
