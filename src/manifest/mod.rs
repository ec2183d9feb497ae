//! Loading `serverless.yml` into the provider-neutral [`Service`] model.
//!
//! Three steps, each its own module: `yaml` reads the file into a tree that remembers the
//! line and column of every node (CloudFormation short tags such as `!Ref` kept as tags);
//! `variables` resolves `${...}` references; `build` checks keys and types and builds the
//! model (`keys` holds the known-key lists). `document` turns the resolved tree into YAML or
//! JSON for `print`. Every problem is a [`Diagnostic`] naming `file:line:column`, the key path
//! and the fix; all of them are reported at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Location, Service};

mod build;
mod document;
mod keys;
mod scalar;
pub(crate) mod variables;
pub mod yaml;

use variables::Resolver;
use yaml::{Entry, Node, Pos, Value};

/// What the command line adds to a manifest.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-c/--config`; default `serverless.yml`, then `serverless.yaml`, in `cwd`.
    pub config: Option<PathBuf>,
    /// The working directory the default and relative paths are looked up in.
    pub cwd: PathBuf,
    /// `--stage`.
    pub stage: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--param key=value`, in order.
    pub params: Vec<(String, String)>,
    /// Every CLI option `${opt:name}` may read (`stage`, `region`, `provider`...).
    pub options: BTreeMap<String, String>,
    /// The environment `${env:NAME}` reads (the process environment in the CLI).
    pub env: BTreeMap<String, String>,
}

/// A loaded manifest.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The model.
    pub service: Service,
    /// The whole manifest with every variable resolved, for `print`.
    pub document: Document,
    /// Unknown keys, ignored plugins, and the like.
    pub warnings: Diagnostics,
}

/// The resolved manifest as a tree (tags kept), for `print`.
#[derive(Debug, Clone)]
pub struct Document {
    root: Node,
}

/// Why a manifest could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// No manifest where we looked.
    #[error(
        "no serverless.yml or serverless.yaml in {dir}\n  help: run stratus in a service directory, pass `-c path/to/serverless.yml`, or start one with `stratus create --template python`"
    )]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest has errors (all of them listed).
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// The files read while loading (the manifest first, then `${file(...)}` ones), to turn node
/// positions into [`Location`]s.
#[derive(Debug, Clone, Default)]
pub(crate) struct Files {
    /// Each file as shown to the user (relative paths stay relative).
    paths: Vec<PathBuf>,
    /// The directory the manifest was named from, as shown (`""` for the cwd).
    base: PathBuf,
}

impl Files {
    /// Adds a file; returns its index.
    pub(crate) fn add(&mut self, display: PathBuf) -> usize {
        self.paths.push(display);
        self.paths.len() - 1
    }

    /// How a file named relative to the manifest directory is shown.
    pub(crate) fn display_for(&self, relative: &str) -> PathBuf {
        let relative = relative.strip_prefix("./").unwrap_or(relative);
        self.base.join(relative)
    }

    /// The location of a position.
    pub(crate) fn location(&self, pos: Pos) -> Location {
        Location {
            file: self.paths.get(pos.file).cloned().unwrap_or_default(),
            line: pos.line,
            column: pos.column,
        }
    }
}

/// Loads and resolves a manifest.
pub fn load(options: &LoadOptions) -> Result<Loaded, LoadError> {
    let (path, display) = find_manifest(options)?;
    let source = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: display.clone(),
        source,
    })?;
    let mut files = Files {
        paths: Vec::new(),
        base: display.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let index = files.add(display.clone());
    let mut root = match yaml::parse(&source, index) {
        Ok(root) => root,
        Err(errors) => {
            let diagnostics = errors
                .into_iter()
                .map(|e| {
                    Diagnostic::error(e.key, e.message)
                        .at(Some(files.location(e.pos)))
                        .help(e.help)
                })
                .collect();
            return Err(LoadError::Invalid(Diagnostics(diagnostics)));
        }
    };
    let mut diagnostics = Diagnostics::default();
    if !matches!(root.value, Value::Map(_)) {
        diagnostics.push(
            Diagnostic::error(
                "",
                format!(
                    "the manifest must be a mapping of keys, not {}",
                    root.kind()
                ),
            )
            .at(Some(files.location(root.pos)))
            .help("start with `service: my-service` and `provider: {name: aws}`"),
        );
        return Err(LoadError::Invalid(diagnostics));
    }
    if let Some(stage) = &options.stage {
        set_provider_stage(&mut root, stage);
    }
    let service_dir = path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| options.cwd.clone());
    let resolver = Resolver::new(root, &mut files, options, service_dir.clone());
    let (root, resolved) = resolver.run();
    diagnostics.0.extend(resolved.0);
    let service = build::service(
        &root,
        &files,
        options,
        &service_dir,
        &display,
        &mut diagnostics,
    );
    if diagnostics.has_errors() {
        return Err(LoadError::Invalid(diagnostics));
    }
    Ok(Loaded {
        service,
        document: Document { root },
        warnings: diagnostics,
    })
}

/// The manifest path to read and its name as shown to the user.
fn find_manifest(options: &LoadOptions) -> Result<(PathBuf, PathBuf), LoadError> {
    if let Some(config) = &options.config {
        let path = if config.is_absolute() {
            config.clone()
        } else {
            options.cwd.join(config)
        };
        if !path.is_file() {
            return Err(LoadError::Io {
                path: config.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        return Ok((path, config.clone()));
    }
    for name in ["serverless.yml", "serverless.yaml", "serverless.json"] {
        let path = options.cwd.join(name);
        if path.is_file() {
            return Ok((path, PathBuf::from(name)));
        }
    }
    Err(LoadError::NotFound {
        dir: options.cwd.clone(),
    })
}

/// Writes `--stage` into `provider.stage` before resolution, as Serverless does, so
/// `${self:provider.stage}` sees it.
fn set_provider_stage(root: &mut Node, stage: &str) {
    let Value::Map(entries) = &mut root.value else {
        return;
    };
    let pos = root.pos;
    let provider = match entries.iter_mut().find(|e| e.key == "provider") {
        Some(entry) => &mut entry.value,
        None => return,
    };
    let Value::Map(provider_entries) = &mut provider.value else {
        return;
    };
    let mut value = Node::new(Value::Str(stage.to_string()), pos);
    value.resolved = true;
    match provider_entries.iter_mut().find(|e| e.key == "stage") {
        Some(entry) => {
            value.pos = entry.value.pos;
            entry.value = value;
        }
        None => provider_entries.push(Entry {
            key: "stage".into(),
            key_pos: provider.pos,
            value,
        }),
    }
}
