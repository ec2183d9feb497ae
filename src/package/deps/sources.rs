//! Where stratus looks for a function's dependencies: `custom.pythonRequirements.fileName`,
//! `requirements.txt` or `pyproject.toml` (`[project].dependencies`) beside the handler, then at
//! the service root, for Python; the nearest `package.json` with dependencies to install (and
//! its lockfile) for Node.js. Also the plugin-compatible settings under
//! `custom.pythonRequirements`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::resolve::PythonFilters;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::model::{Location, Service};

/// `custom.pythonRequirements` keys stratus honours; every other key is accepted and ignored.
const HONOURED: [&str; 3] = ["fileName", "slim", "noDeploy"];

/// The plugin settings under `custom.pythonRequirements`.
pub(crate) struct PythonSettings {
    pub file_name: Option<String>,
    pub filters: PythonFilters,
}

/// Reads `custom.pythonRequirements`, warning about keys stratus does not act on.
pub(crate) fn python_settings(
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

/// A Python function's requirements.
pub(crate) struct PythonSource {
    /// The file, relative to the service root.
    pub source: String,
    /// The requirement lines.
    pub requirements: String,
    /// Whether `requirements` is the file's own text (so `-r` includes resolve beside it).
    pub from_file: bool,
}

/// A Node.js function's `package.json`.
pub(crate) struct NodeSource {
    /// Relative to the service root.
    pub source: String,
    /// On disk.
    pub source_path: PathBuf,
    /// Its text.
    pub text: String,
    /// `package-lock.json` or `npm-shrinkwrap.json` beside it.
    pub lockfile: Option<PathBuf>,
}

/// The first `package.json` in `dirs` with dependencies to install (`devDependencies` count
/// unless `omit_dev`).
pub(crate) fn node_source(
    service: &Service,
    dirs: &[String],
    omit_dev: bool,
) -> anyhow::Result<Option<NodeSource>> {
    for dir in dirs {
        let source = format!("{}package.json", dir_prefix(dir));
        let source_path = service.root.join(&source);
        let Ok(text) = fs::read_to_string(&source_path) else {
            continue;
        };
        let manifest: Json = serde_json::from_str(&text).map_err(|error| {
            Diagnostics(vec![Diagnostic {
                severity: Severity::Error,
                location: Some(Location {
                    file: source_path.clone(),
                    line: error.line(),
                    column: error.column(),
                }),
                key: None,
                message: format!("{source} is not valid JSON: {error}"),
                help: Some(
                    "fix the JSON, or remove the file if the function has no Node.js dependencies"
                        .to_string(),
                ),
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
        return Ok(Some(NodeSource {
            source,
            source_path,
            text,
            lockfile,
        }));
    }
    Ok(None)
}

/// The requirements of a Python function. `fileName` wins; else `requirements.txt` then `pyproject.toml` beside the
/// handler, then at the root.
pub(crate) fn python_source(
    service: &Service,
    dirs: &[String],
    settings: &PythonSettings,
) -> anyhow::Result<Option<PythonSource>> {
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
            return Ok(
                pyproject_dependencies(&path, &text)?.map(|requirements| PythonSource {
                    source: name,
                    requirements,
                    from_file: false,
                }),
            );
        }
        return Ok(has_requirements(&text).then_some(PythonSource {
            source: name,
            requirements: text,
            from_file: true,
        }));
    }
    for dir in dirs {
        let source = format!("{}requirements.txt", dir_prefix(dir));
        if let Ok(text) = fs::read_to_string(service.root.join(&source)) {
            if has_requirements(&text) {
                return Ok(Some(PythonSource {
                    source,
                    requirements: text,
                    from_file: true,
                }));
            }
            continue;
        }
        let source = format!("{}pyproject.toml", dir_prefix(dir));
        let path = service.root.join(&source);
        if let Ok(text) = fs::read_to_string(&path)
            && let Some(deps) = pyproject_dependencies(&path, &text)?
        {
            return Ok(Some(PythonSource {
                source,
                requirements: deps,
                from_file: false,
            }));
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
            severity: Severity::Error,
            location: Some(Location {
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
pub(crate) fn included_files(file: &Path, text: &str, depth: usize) -> Vec<PathBuf> {
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

/// `dir/` for a non-empty directory, `""` for the root.
pub(crate) fn dir_prefix(dir: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// The directory part of a `/`-separated relative path (`""` at the root).
pub(crate) fn parent_rel(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(dir, _)| dir.to_string())
        .unwrap_or_default()
}
