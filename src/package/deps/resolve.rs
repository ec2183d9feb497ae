//! Which dependencies each artifact carries: the function's requirements file or `package.json`
//! (beside its handler, else at the service root), the plugin-compatible settings, and one
//! content-keyed install spec per distinct set, installed once whatever the number of functions
//! sharing it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::cache::{self, Installed};
use super::{DependencyBuild, DependencyOptions, DependencyTarget, Platform};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Function, Language, Service};
use crate::package::GeneratedFile;

/// `custom.pythonRequirements` keys stratus honours; every other key is accepted and ignored.
const HONOURED: [&str; 3] = ["fileName", "slim", "noDeploy"];

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

/// The plugin settings under `custom.pythonRequirements`.
struct PythonSettings {
    file_name: Option<String>,
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
    // Per artifact, what it wants where; specs are deduplicated by key across artifacts.
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
            let Some(spec) = spec_for(service, function, target, &settings)? else {
                continue;
            };
            match target {
                DependencyTarget::Remote => {
                    remote(service, &spec, &settings, deps, &mut prepared.warnings);
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
    // Install each distinct spec once.
    let cache_dir = match &options.cache_dir {
        Some(dir) => dir.clone(),
        None => super::default_cache_dir(),
    };
    let mut installed: BTreeMap<String, (Installed, bool)> = BTreeMap::new();
    for (_, placements) in &wanted {
        for Wanted { spec, .. } in placements {
            if installed.contains_key(&spec.key) {
                continue;
            }
            let result = cache::ensure(&cache_dir, spec, options)?;
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

/// `dir/` for a non-empty directory, `""` for the root.
fn dir_prefix(dir: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// The directory part of a `/`-separated relative path (`""` at the root).
fn parent_rel(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(dir, _)| dir.to_string())
        .unwrap_or_default()
}

/// Reads `custom.pythonRequirements`, warning about keys stratus does not act on.
fn python_settings(
    service: &Service,
    warnings: &mut Vec<Diagnostic>,
) -> anyhow::Result<PythonSettings> {
    let mut settings = PythonSettings {
        file_name: None,
        filters: PythonFilters::default(),
    };
    let Some(Json::Object(custom)) = service.custom.get("pythonRequirements") else {
        return Ok(settings);
    };
    let mut problems = Diagnostics::default();
    for (key, value) in custom {
        let path = format!("custom.pythonRequirements.{key}");
        let at = service.locate(&path).cloned();
        match key.as_str() {
            "fileName" => match value {
                Json::String(name) if !name.trim().is_empty() => {
                    settings.file_name = Some(name.trim().to_string());
                }
                _ => problems.push(
                    Diagnostic::error(&path, "expected the requirements file's path")
                        .at(at)
                        .help("write e.g. `fileName: requirements-prod.txt` (relative to the service directory)"),
                ),
            },
            "slim" => match value {
                Json::Bool(slim) => settings.filters.slim = *slim,
                Json::String(text) if text == "true" || text == "false" => {
                    settings.filters.slim = text == "true";
                }
                _ => problems.push(
                    Diagnostic::error(&path, "expected true or false")
                        .at(at)
                        .help("write `slim: true` to leave __pycache__, *.pyc, tests and dist-info RECORD files out"),
                ),
            },
            "noDeploy" => match value {
                Json::Array(items) if items.iter().all(Json::is_string) => {
                    settings.filters.no_deploy = items
                        .iter()
                        .filter_map(Json::as_str)
                        .map(str::to_string)
                        .collect();
                }
                _ => problems.push(
                    Diagnostic::error(&path, "expected a list of package names")
                        .at(at)
                        .help("write e.g. `noDeploy: [boto3, botocore]`"),
                ),
            },
            _ => warnings.push(
                Diagnostic::warning(
                    &path,
                    format!("stratus installs requirements itself and ignores `{key}`"),
                )
                .at(at)
                .help(format!("stratus honours {} of custom.pythonRequirements (docs/packaging.md)", HONOURED.join(", "))),
            ),
        }
    }
    if problems.has_errors() {
        return Err(problems.into());
    }
    Ok(settings)
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
            let Some((source, requirements, from_file)) = python_source(service, &dirs, settings)?
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
                                .help("name the minor version, e.g. `python3.12`"),
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
            for dir in &dirs {
                let source = format!("{}package.json", dir_prefix(dir));
                let source_path = service.root.join(&source);
                let Ok(text) = fs::read_to_string(&source_path) else {
                    continue;
                };
                let manifest: Json = serde_json::from_str(&text).map_err(|error| {
                    Diagnostics(vec![Diagnostic {
                        severity: crate::diagnostic::Severity::Error,
                        location: Some(crate::model::Location {
                            file: source_path.clone(),
                            line: error.line(),
                            column: error.column(),
                        }),
                        key: None,
                        message: format!("{source} is not valid JSON: {error}"),
                        help: Some("fix the JSON, or remove the file if the function has no Node.js dependencies".to_string()),
                    }])
                })?;
                let has = |field: &str| {
                    manifest
                        .get(field)
                        .and_then(Json::as_object)
                        .is_some_and(|deps| !deps.is_empty())
                };
                if !has("dependencies") && (omit_dev || !has("devDependencies")) {
                    continue;
                }
                let lockfile = ["package-lock.json", "npm-shrinkwrap.json"]
                    .iter()
                    .map(|name| service.root.join(format!("{}{name}", dir_prefix(dir))))
                    .find(|path| path.is_file());
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
                return Ok(Some(Spec {
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
                }));
            }
            Ok(None)
        }
        Language::Other => Ok(None),
    }
}

/// Adds one length-prefixed part to a cache key.
fn hash_part(hasher: &mut Sha256, part: &[u8]) {
    hasher.update((part.len() as u64).to_le_bytes());
    hasher.update(part);
}

/// The requirements of a Python function: (source, requirement lines, whether they are the
/// file's own text). `fileName` wins; else `requirements.txt` then `pyproject.toml` beside the
/// handler, then at the root.
fn python_source(
    service: &Service,
    dirs: &[String],
    settings: &PythonSettings,
) -> anyhow::Result<Option<(String, String, bool)>> {
    if let Some(name) = &settings.file_name {
        let path = service.root.join(name);
        let text = fs::read_to_string(&path).map_err(|error| {
            let key = "custom.pythonRequirements.fileName";
            Diagnostics(vec![
                Diagnostic::error(key, format!("cannot read {}: {error}", path.display()))
                    .at(service.locate(key).cloned())
                    .help("point fileName at the requirements file, relative to the service directory"),
            ])
        })?;
        let name = name.trim_start_matches("./").to_string();
        if name.ends_with(".toml") {
            return Ok(pyproject_dependencies(&path, &text)?.map(|deps| (name, deps, false)));
        }
        return Ok(has_requirements(&text).then_some((name, text, true)));
    }
    for dir in dirs {
        let source = format!("{}requirements.txt", dir_prefix(dir));
        if let Ok(text) = fs::read_to_string(service.root.join(&source)) {
            if has_requirements(&text) {
                return Ok(Some((source, text, true)));
            }
            continue;
        }
        let source = format!("{}pyproject.toml", dir_prefix(dir));
        let path = service.root.join(&source);
        if let Ok(text) = fs::read_to_string(&path)
            && let Some(deps) = pyproject_dependencies(&path, &text)?
        {
            return Ok(Some((source, deps, false)));
        }
    }
    Ok(None)
}

/// Whether a requirements file names anything to install.
fn has_requirements(text: &str) -> bool {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .any(|line| !line.is_empty())
}

/// `[project].dependencies` of a pyproject.toml as requirement lines, if it has any.
fn pyproject_dependencies(path: &Path, text: &str) -> anyhow::Result<Option<String>> {
    let table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
        let (line, column) = error
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        Diagnostics(vec![Diagnostic {
            severity: crate::diagnostic::Severity::Error,
            location: Some(crate::model::Location {
                file: path.to_path_buf(),
                line,
                column,
            }),
            key: None,
            message: format!("{} is not valid TOML: {}", path.display(), error.message()),
            help: Some("fix the file, or list the dependencies in requirements.txt".to_string()),
        }])
    })?;
    let deps: Vec<&str> = table
        .get("project")
        .and_then(|project| project.get("dependencies"))
        .and_then(|deps| deps.as_array())
        .map(|deps| deps.iter().filter_map(|dep| dep.as_str()).collect())
        .unwrap_or_default();
    if deps.is_empty() {
        return Ok(None);
    }
    Ok(Some(deps.iter().map(|dep| format!("{dep}\n")).collect()))
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

/// Files a requirements file pulls in with `-r` / `-c` (recursively, a few levels deep).
fn included_files(file: &Path, text: &str, depth: usize) -> Vec<PathBuf> {
    if depth > 4 {
        return Vec::new();
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let rest = ["-r", "--requirement", "-c", "--constraint"]
            .iter()
            .find_map(|flag| line.strip_prefix(flag))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(rest) = rest.filter(|rest| !rest.is_empty()) {
            let path = base.join(rest);
            let nested = fs::read_to_string(&path).unwrap_or_default();
            found.push(path.clone());
            found.extend(included_files(&path, &nested, depth + 1));
        }
    }
    found
}

/// For a platform that builds itself: make sure its requirements file sits at the package root.
fn remote(
    service: &Service,
    spec: &Spec,
    settings: &PythonSettings,
    deps: &mut ArtifactDeps,
    warnings: &mut Vec<Diagnostic>,
) {
    let _ = settings;
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
