//! Turning artifact plans into zips: select files with the patterns, add the provider's
//! generated files, warn about secrets and limits, write, hash.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::deps::{self, ArtifactDeps};
use super::patterns::Patterns;
use super::plan::ArtifactPlan;
use super::walk::{self, Tree};
use super::writer::{self, EntrySource, ZipEntry};
use super::{Artifact, GeneratedFile, PackageRequest, Packaged, limits, secrets};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Language, Service};

/// Builds every planned artifact.
pub fn build_all(request: &PackageRequest<'_>, plans: &[ArtifactPlan]) -> anyhow::Result<Packaged> {
    let service = request.service;
    let mut packaged = Packaged::default();
    let needs_tree = plans
        .iter()
        .any(|plan| matches!(plan, ArtifactPlan::Build { .. }));
    let tree = if needs_tree {
        fs::create_dir_all(&request.out_dir).with_context(|| {
            format!(
                "cannot create the output directory {}",
                request.out_dir.display()
            )
        })?;
        let out_dir = fs::canonicalize(&request.out_dir)
            .with_context(|| format!("cannot open {}", request.out_dir.display()))?;
        walk::walk(&service.root, &[out_dir])?
    } else {
        Tree::default()
    };
    let to_build: Vec<(String, Vec<String>)> = plans
        .iter()
        .filter_map(|plan| match plan {
            ArtifactPlan::Build {
                name, functions, ..
            } => Some((name.clone(), functions.clone())),
            ArtifactPlan::Prebuilt { .. } => None,
        })
        .collect();
    // Dependencies are installed (or found in the cache) before any zip is written, so a
    // failing pip or npm leaves the output directory as it was.
    let mut prepared = deps::prepare(service, &to_build, &request.dependencies)?;
    packaged.warnings.append(&mut prepared.warnings);
    packaged.dependencies = std::mem::take(&mut prepared.builds);
    // Secret-looking file → (what it looks like, artifacts it went into).
    let mut secrets_found: BTreeMap<String, (&'static str, Vec<String>)> = BTreeMap::new();
    for plan in plans {
        match plan {
            ArtifactPlan::Prebuilt {
                name,
                functions,
                path,
                key,
            } => {
                let (artifact, files) = prebuilt(service, name, functions, path, key)?;
                if let Some(limits) = request.limits {
                    packaged
                        .warnings
                        .extend(limits::check(&artifact, &files, limits, service));
                }
                packaged.artifacts.push(artifact);
            }
            ArtifactPlan::Build {
                name,
                functions,
                patterns,
            } => {
                let patterns = Patterns::compile(service, patterns)
                    .map_err(|problem| Diagnostics(vec![problem]))?;
                let file_name = format!("{name}.zip");
                let artifact_deps = prepared.artifacts.remove(name).unwrap_or_default();
                let mut generated = generated_for(request, functions, &file_name)?;
                for file in &artifact_deps.generated {
                    generated.entry(file.path.clone()).or_insert(file);
                }
                let (entries, from_deps) = select(
                    &tree,
                    &patterns,
                    &generated,
                    &artifact_deps,
                    service,
                    &file_name,
                )?;
                for entry in &entries {
                    if let EntrySource::Disk(_) = entry.source
                        && !from_deps.contains(&entry.name)
                        && let Some(kind) = secrets::looks_like_secret(&entry.name)
                    {
                        secrets_found
                            .entry(entry.name.clone())
                            .or_insert((kind, Vec::new()))
                            .1
                            .push(file_name.clone());
                    }
                }
                packaged
                    .warnings
                    .extend(missing_handlers(service, functions, &entries, &file_name));
                let dest = request.out_dir.join(&file_name);
                let written = writer::write_zip(&entries, &dest)
                    .with_context(|| format!("cannot write {}", dest.display()))?;
                let artifact = Artifact {
                    name: name.clone(),
                    path: dest,
                    sha256: written.sha256,
                    size: written.size,
                    unzipped_size: written.unzipped_size,
                    entries: written.entries,
                    functions: functions.clone(),
                };
                if let Some(limits) = request.limits {
                    let files: Vec<(String, u64)> =
                        entries.iter().map(|e| (e.name.clone(), e.size)).collect();
                    packaged
                        .warnings
                        .extend(limits::check(&artifact, &files, limits, service));
                }
                packaged.artifacts.push(artifact);
                packaged
                    .warnings
                    .extend(ignored_function_patterns(service, name, functions));
            }
        }
    }
    for (path, (kind, artifacts)) in secrets_found {
        packaged
            .warnings
            .push(secret_warning(service, &path, kind, &artifacts));
    }
    Ok(packaged)
}

/// A warning for each function whose handler file is not in its artifact (for the languages
/// whose handler names a file: Python and Node.js).
fn missing_handlers(
    service: &Service,
    functions: &[String],
    entries: &[ZipEntry<'_>],
    artifact: &str,
) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for function in functions
        .iter()
        .filter_map(|name| service.functions.get(name))
    {
        let Some((file, _)) = function.handler_parts() else {
            continue;
        };
        let extensions: &[&str] = match service.effective(function).runtime.map(|r| r.language) {
            Some(Language::Python) => &["py"],
            Some(Language::Node) => &["js", "mjs", "cjs"],
            _ => continue,
        };
        let file = file.trim_start_matches("./");
        let present = extensions.iter().any(|extension| {
            let path = format!("{file}.{extension}");
            entries
                .binary_search_by(|entry| entry.name.as_str().cmp(path.as_str()))
                .is_ok()
        });
        if !present {
            let key = format!("functions.{}.handler", function.name);
            let expected = format!("{file}.{}", extensions[0]);
            warnings.push(
                Diagnostic::warning(
                    &key,
                    format!("the handler file `{expected}` is not in {artifact}: the function will fail to start"),
                )
                .at(service.locate(&key).cloned())
                .help(format!(
                    "create {expected} in {}, or add \"{expected}\" at the end of package.patterns if a `!` pattern leaves it out",
                    service.root.display()
                )),
            );
        }
    }
    warnings
}

/// The warning for one secret-looking file.
fn secret_warning(service: &Service, path: &str, kind: &str, artifacts: &[String]) -> Diagnostic {
    Diagnostic::warning(
        "package.patterns",
        format!(
            "`{path}` looks like a secret ({kind}) and is packaged into {}",
            artifacts.join(", ")
        ),
    )
    .at(service.locate("package.patterns").cloned())
    .help(format!(
        "add \"!{}\" to package.patterns to leave it out (keep secrets in the provider's secret store or environment)",
        escape_glob(path)
    ))
}

/// `path` as a glob that matches exactly it.
fn escape_glob(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Function patterns only apply to individually packaged functions: say so when they are set
/// on a function that shares the service artifact.
fn ignored_function_patterns(
    service: &Service,
    artifact: &str,
    functions: &[String],
) -> Vec<Diagnostic> {
    if artifact != service.name || functions.len() == 1 && functions[0] == artifact {
        return Vec::new();
    }
    functions
        .iter()
        .filter_map(|name| service.functions.get(name))
        .filter(|function| !function.package.patterns.is_empty())
        .map(|function| {
            let key = format!("functions.{}.package.patterns", function.name);
            Diagnostic::warning(
                &key,
                "these patterns are ignored: the function shares the service-wide artifact",
            )
            .at(service.locate(&key).cloned())
            .help("set `package.individually: true` on the function (or the service) to give it its own artifact, or move the patterns to the service's package.patterns")
        })
        .collect()
}

/// The generated files of `functions`, by zip path; two different files at one path is an error.
fn generated_for<'r>(
    request: &'r PackageRequest<'_>,
    functions: &[String],
    artifact: &str,
) -> anyhow::Result<BTreeMap<String, &'r GeneratedFile>> {
    let mut by_path: BTreeMap<String, &GeneratedFile> = BTreeMap::new();
    for function in functions {
        for file in request.generated.get(function).into_iter().flatten() {
            let path = file.path.trim_start_matches("./").to_string();
            if path.is_empty()
                || path.starts_with('/')
                || path.contains('\\')
                || path.split('/').any(|part| part == ".." || part.is_empty())
            {
                anyhow::bail!(
                    "internal error: the provider generated `{}` for {function}, which is not a relative `/`-separated path",
                    file.path
                );
            }
            if let Some(previous) = by_path.get(&path)
                && (previous.contents != file.contents || previous.executable != file.executable)
            {
                anyhow::bail!(
                    "{artifact} would hold two different generated files at `{path}` (for different functions); package these functions individually (package.individually: true)"
                );
            }
            by_path.insert(path, file);
        }
    }
    Ok(by_path)
}

/// The sorted entries of one artifact: the tree's included files, the installed dependencies
/// over them (a built `node_modules/` replaces the tree's), then generated files over both.
/// Also answers which entries came from the dependencies.
fn select<'a>(
    tree: &'a Tree,
    patterns: &Patterns,
    generated: &BTreeMap<String, &'a GeneratedFile>,
    deps: &ArtifactDeps,
    service: &Service,
    artifact: &str,
) -> anyhow::Result<(Vec<ZipEntry<'a>>, BTreeSet<String>)> {
    let problems: Vec<Diagnostic> = tree
        .problems
        .iter()
        .filter(|problem| {
            if problem.is_dir {
                patterns.may_include_under(&problem.rel)
            } else {
                patterns.includes(&problem.rel)
            }
        })
        .map(|problem| Diagnostic::error("package", problem.message.clone()))
        .collect();
    if !problems.is_empty() {
        return Err(Diagnostics(problems).into());
    }
    let mut by_name: BTreeMap<String, ZipEntry<'a>> = tree
        .files
        .iter()
        .filter(|file| {
            patterns.includes(&file.rel)
                && !deps
                    .replaced_prefixes
                    .iter()
                    .any(|prefix| file.rel.starts_with(prefix.as_str()))
        })
        .map(|file| {
            let entry = ZipEntry {
                name: file.rel.clone(),
                source: EntrySource::Disk(file.source.clone()),
                size: file.size,
                executable: file.executable,
            };
            (file.rel.clone(), entry)
        })
        .collect();
    let mut from_deps = BTreeSet::new();
    for placement in &deps.placements {
        let left_out = deps::excluded(&placement.filters, &placement.installed);
        for file in &placement.installed.files {
            if left_out.contains(&file.rel) {
                continue;
            }
            let name = format!("{}{}", placement.prefix, file.rel);
            from_deps.insert(name.clone());
            let entry = ZipEntry {
                name: name.clone(),
                source: EntrySource::Disk(file.source.clone()),
                size: file.size,
                executable: file.executable,
            };
            by_name.insert(name, entry);
        }
    }
    for (path, file) in generated {
        from_deps.remove(path);
        let entry = ZipEntry {
            name: path.clone(),
            source: EntrySource::Memory(&file.contents),
            size: file.contents.len() as u64,
            executable: file.executable,
        };
        by_name.insert(path.clone(), entry);
    }
    let entries: Vec<ZipEntry<'a>> = by_name.into_values().collect();
    if entries.is_empty() {
        let problem = Diagnostic::error(
            "package.patterns",
            format!(
                "{artifact} would be empty: package.patterns leave out every file of {}",
                service.root.display()
            ),
        )
        .at(service.locate("package.patterns").cloned())
        .help("include the handler's files, e.g. add \"handler.py\" or \"src/**\" after the `!` patterns");
        return Err(Diagnostics(vec![problem]).into());
    }
    Ok((entries, from_deps))
}

/// Reports a prebuilt `package.artifact`: hash, sizes, entries; an error if it is missing.
fn prebuilt(
    service: &Service,
    name: &str,
    functions: &[String],
    path: &Path,
    key: &str,
) -> anyhow::Result<(Artifact, Vec<(String, u64)>)> {
    let problem = |message: String, help: &str| -> anyhow::Error {
        Diagnostics(vec![
            Diagnostic::error(key, message)
                .at(service.locate(key).cloned())
                .help(help.to_string()),
        ])
        .into()
    };
    if !path.is_file() {
        return Err(problem(
            format!("the prebuilt artifact {} does not exist", path.display()),
            "build the zip first, or remove package.artifact to let stratus package the code",
        ));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| {
        problem(
            format!(
                "the prebuilt artifact {} is not a readable zip: {error}",
                path.display()
            ),
            "point package.artifact at a .zip file",
        )
    })?;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if !entry.is_dir() {
            files.push((entry.name()?.to_string(), entry.size()));
        }
    }
    let sha256 =
        super::sha256_file(path).with_context(|| format!("cannot read {}", path.display()))?;
    let artifact = Artifact {
        name: name.to_string(),
        path: PathBuf::from(path),
        sha256,
        size: fs::metadata(path)?.len(),
        unzipped_size: files.iter().map(|(_, size)| size).sum(),
        entries: files.len(),
        functions: functions.to_vec(),
    };
    Ok((artifact, files))
}
