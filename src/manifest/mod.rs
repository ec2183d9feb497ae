//! Loading `serverless.yml` into the provider-neutral [`Service`] model.
//!
//! Three steps, each its own module: `yaml` reads the file into a tree that remembers the
//! line and column of every node (CloudFormation short tags such as `!Ref` kept as tags);
//! `variables` resolves `${...}` references; `validate` checks keys and types and builds the
//! model. Every problem is a [`Diagnostic`] naming `file:line:column`, the key path and the
//! fix; all of them are reported at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as Json;
use thiserror::Error;

use crate::diagnostic::Diagnostics;
use crate::model::Service;

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
pub struct Document {}

impl Document {
    /// As JSON (a tagged value `!Ref x` becomes `{"Ref": "x"}`, as CloudFormation's JSON form).
    pub fn to_json(&self) -> Json {
        Json::Null
    }

    /// As YAML text, tags kept.
    pub fn to_yaml(&self) -> String {
        String::new()
    }

    /// The sub-tree at a dotted path (`provider.environment`), if present.
    pub fn select(&self, path: &str) -> Option<Document> {
        let _ = path;
        None
    }
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

/// Loads and resolves a manifest.
pub fn load(options: &LoadOptions) -> Result<Loaded, LoadError> {
    let _ = options;
    Err(LoadError::Invalid(Diagnostics(vec![
        crate::diagnostic::Diagnostic::error("", "manifest loading is not built yet"),
    ])))
}
