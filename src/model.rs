//! The provider-neutral service model.
//!
//! `manifest` turns a `serverless.yml` into a [`Service`]; providers, the packager and the CLI
//! only ever read this model. It knows nothing of YAML (positions are kept as plain
//! [`Location`]s in [`Service::locations`]) and nothing of any one cloud: keys that only one
//! provider understands stay as JSON in the `extra` maps, for that provider to read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value as Json;

/// A place in a manifest file, 1-based, for error messages (`serverless.yml:12:5`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as the user named it (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A whole service: one manifest resolved for one stage and region.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// `service` (or `service.name`).
    pub name: String,
    /// The stage in force: `--stage`, else `provider.stage`, else `dev`.
    pub stage: String,
    /// The region in force: `--region`, else `provider.region` / `provider.location`, if any.
    pub region: Option<String>,
    /// `frameworkVersion`, kept for information.
    pub framework_version: Option<String>,
    /// Provider-wide settings.
    pub provider: ProviderSettings,
    /// Functions in manifest order, keyed by their manifest name.
    pub functions: IndexMap<String, Function>,
    /// Service-wide `package` settings.
    pub package: PackageSettings,
    /// `custom`, resolved.
    pub custom: Json,
    /// `plugins`, accepted and ignored (the CLI warns).
    pub plugins: Vec<String>,
    /// `resources`, resolved but otherwise opaque; passed through where an adapter supports it.
    pub resources: Option<Json>,
    /// The directory that holds the manifest: every relative path is relative to it.
    pub root: PathBuf,
    /// The manifest file, as the user named it.
    pub manifest: PathBuf,
    /// Where each key path (`functions.hello.timeout`) was written, for diagnostics.
    #[serde(skip)]
    pub locations: BTreeMap<String, Location>,
}

impl Service {
    /// A service named `name`, stage `dev`, for `provider`, rooted at `root` (manifest
    /// `root/serverless.yml`), with no functions and default settings: the starting point
    /// for building a model by hand (tests, benchmarks).
    pub fn new(
        name: impl Into<String>,
        provider: ProviderKind,
        root: impl Into<PathBuf>,
    ) -> Service {
        let root = root.into();
        Service {
            name: name.into(),
            stage: "dev".into(),
            region: None,
            framework_version: None,
            provider: ProviderSettings::new(provider),
            functions: IndexMap::new(),
            package: PackageSettings::default(),
            custom: Json::Null,
            plugins: Vec::new(),
            resources: None,
            manifest: root.join("serverless.yml"),
            root,
            locations: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a function, keyed by its name.
    pub fn with_function(mut self, function: Function) -> Service {
        self.functions.insert(function.name.clone(), function);
        self
    }

    /// Where `key` (a dotted key path) was written, or the nearest parent key that was.
    pub fn locate(&self, key: &str) -> Option<&Location> {
        let mut key = key;
        loop {
            if let Some(location) = self.locations.get(key) {
                return Some(location);
            }
            key = key.rsplit_once('.')?.0;
        }
    }

    /// The name every cloud resource of a function gets: `{service}-{stage}-{function}`.
    pub fn deployed_name(&self, function: &str) -> String {
        format!("{}-{}-{}", self.name, self.stage, function)
    }
}

/// Which provider a manifest names in `provider.name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Amazon Web Services (Lambda).
    Aws,
    /// Microsoft Azure (Functions).
    Azure,
    /// Google Cloud (Cloud Functions); written `google` (or `gcp`).
    Google,
    /// Apache OpenWhisk.
    Openwhisk,
    /// This machine.
    Local,
    /// Any other name (kubeless, tencent, ...): loads, but cannot be deployed as is.
    #[serde(untagged)]
    Other(String),
}

impl ProviderKind {
    /// Parses a `provider.name` / `--provider` value.
    pub fn parse(name: &str) -> ProviderKind {
        match name.trim().to_ascii_lowercase().as_str() {
            "aws" => ProviderKind::Aws,
            "azure" => ProviderKind::Azure,
            "google" | "gcp" => ProviderKind::Google,
            "openwhisk" => ProviderKind::Openwhisk,
            "local" => ProviderKind::Local,
            other => ProviderKind::Other(other.to_string()),
        }
    }

    /// The canonical name, as `provider.name` writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ProviderKind::Aws => "aws",
            ProviderKind::Azure => "azure",
            ProviderKind::Google => "google",
            ProviderKind::Openwhisk => "openwhisk",
            ProviderKind::Local => "local",
            ProviderKind::Other(name) => name,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Provider-wide settings (`provider:` in the manifest).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSettings {
    /// `provider.name`, as written in the manifest (what handlers are written for).
    pub name: ProviderKind,
    /// `provider.runtime`: the default for every function.
    pub runtime: Option<Runtime>,
    /// `provider.memorySize` (or OpenWhisk's `memory`), MB.
    pub memory_size: Option<u32>,
    /// `provider.timeout`, seconds.
    pub timeout: Option<u32>,
    /// `provider.environment`, merged under each function's own.
    pub environment: BTreeMap<String, String>,
    /// `provider.tags` (or `labels`).
    pub tags: BTreeMap<String, String>,
    /// `provider.architecture` (`x86_64` or `arm64`).
    pub architecture: Option<String>,
    /// Every other `provider` key, resolved (`project`, `credentials`, `namespace`, `iam`...).
    pub extra: serde_json::Map<String, Json>,
}

impl ProviderSettings {
    /// Settings for `name` with nothing else set.
    pub fn new(name: ProviderKind) -> ProviderSettings {
        ProviderSettings {
            name,
            runtime: None,
            memory_size: None,
            timeout: None,
            environment: BTreeMap::new(),
            tags: BTreeMap::new(),
            architecture: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// One function (`functions.<name>`).
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// The manifest key.
    pub name: String,
    /// `handler`, e.g. `handler.hello` (file `handler`, function `hello`). `None` for image functions.
    pub handler: Option<String>,
    /// `image`, for container-image functions (kept; no provider builds images yet).
    pub image: Option<String>,
    /// `runtime`, else the provider's.
    pub runtime: Option<Runtime>,
    /// `memorySize`, else the provider's.
    pub memory_size: Option<u32>,
    /// `timeout` in seconds, else the provider's.
    pub timeout: Option<u32>,
    /// `description`.
    pub description: Option<String>,
    /// Provider environment overlaid with the function's own.
    pub environment: BTreeMap<String, String>,
    /// `events`, in order.
    pub events: Vec<Event>,
    /// The function's own `package` settings.
    pub package: FunctionPackage,
    /// Every other key, resolved (`parameters`, `annotations`, `sequence`, `labels`, `url`...).
    pub extra: serde_json::Map<String, Json>,
}

impl Function {
    /// A function with this handler and nothing else set (settings fall back to the provider's).
    pub fn new(name: impl Into<String>, handler: Option<&str>) -> Function {
        Function {
            name: name.into(),
            handler: handler.map(str::to_string),
            image: None,
            runtime: None,
            memory_size: None,
            timeout: None,
            description: None,
            environment: BTreeMap::new(),
            events: Vec::new(),
            package: FunctionPackage::default(),
            extra: serde_json::Map::new(),
        }
    }

    /// The handler split at its last dot: `src/handler.hello` → (`src/handler`, `hello`).
    pub fn handler_parts(&self) -> Option<(&str, &str)> {
        self.handler.as_deref()?.rsplit_once('.')
    }
}

/// Resolved defaults the providers need: a function's settings with the provider's as fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveSettings {
    /// The runtime in force, if any.
    pub runtime: Option<Runtime>,
    /// Memory in MB (default 1024, as Serverless does for AWS).
    pub memory_size: u32,
    /// Timeout in seconds (default 6, as Serverless does).
    pub timeout: u32,
}

/// Default memory when neither function nor provider says (MB).
pub const DEFAULT_MEMORY_MB: u32 = 1024;
/// Default timeout when neither function nor provider says (seconds).
pub const DEFAULT_TIMEOUT_S: u32 = 6;

impl Service {
    /// A function's runtime, memory and timeout with the provider's values as fallback.
    pub fn effective(&self, function: &Function) -> EffectiveSettings {
        EffectiveSettings {
            runtime: function
                .runtime
                .clone()
                .or_else(|| self.provider.runtime.clone()),
            memory_size: function
                .memory_size
                .or(self.provider.memory_size)
                .unwrap_or(DEFAULT_MEMORY_MB),
            timeout: function
                .timeout
                .or(self.provider.timeout)
                .unwrap_or(DEFAULT_TIMEOUT_S),
        }
    }
}

/// A language runtime, parsed from any provider's spelling
/// (`python3.12`, `python312`, `python:3`, `nodejs20.x`, `nodejs20`, `nodejs:20`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    /// What the manifest wrote.
    pub raw: String,
    /// The language family.
    pub language: Language,
    /// The version as dotted numbers (`3.12`, `20`), empty when the spelling has none.
    pub version: String,
}

/// Language families stratus knows how to run and package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// CPython.
    Python,
    /// Node.js.
    Node,
    /// Anything else (java, go, provided, dotnet, ruby...): kept, providers say what they can map.
    Other,
}

impl Runtime {
    /// Parses a runtime id in any of the spellings the providers use.
    pub fn parse(raw: &str) -> Runtime {
        let trimmed = raw.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (language, rest) = if let Some(rest) = lower.strip_prefix("python") {
            (Language::Python, rest)
        } else if let Some(rest) = lower.strip_prefix("nodejs") {
            (Language::Node, rest)
        } else if let Some(rest) = lower.strip_prefix("node") {
            (Language::Node, rest)
        } else {
            (Language::Other, "")
        };
        let rest = rest.trim_start_matches(':').trim_end_matches(".x");
        let version = match language {
            // `python312` / `python39` (GCP) → 3.12 / 3.9.
            Language::Python if !rest.contains('.') && rest.len() > 1 => {
                let (major, minor) = rest.split_at(1);
                format!("{major}.{minor}")
            }
            Language::Other => String::new(),
            _ => rest.to_string(),
        };
        let version = if version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            version
        } else {
            String::new()
        };
        Runtime {
            raw: trimmed.to_string(),
            language,
            version,
        }
    }

    /// The major version number, if any (`3` for `python3.12`, `20` for `nodejs20.x`).
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next()?.parse().ok()
    }

    /// The minor version number, if any (`12` for `python3.12`).
    pub fn minor(&self) -> Option<u32> {
        self.version.split('.').nth(1)?.parse().ok()
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A function trigger (`events:` entry).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// `http` (API Gateway v1 style), `httpApi` (v2), or a provider's own HTTP trigger.
    Http(HttpEvent),
    /// `schedule` (`rate(5 minutes)`, `cron(...)`) or Azure's `timer`.
    Schedule(ScheduleEvent),
    /// Anything else (`s3`, `sqs`, `stream`, `trigger`, `event`...), kept as written.
    Other {
        /// The event key (`s3`, `sqs`, ...).
        kind: String,
        /// Its configuration, resolved.
        config: Json,
    },
}

/// An HTTP route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpEvent {
    /// Which manifest key wrote it: `http` or `httpApi`.
    pub source: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// The path, starting with `/`; `{name}` segments are parameters, `{proxy+}` a greedy tail.
    pub path: String,
    /// `cors`, `authorizer`, `authLevel`, `private`... as written.
    pub extra: serde_json::Map<String, Json>,
}

/// A timed trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleEvent {
    /// `rate(...)`, `cron(...)`, or another provider's expression, as written.
    pub expression: String,
    /// `enabled: false` turns it off.
    pub enabled: bool,
    /// `input`, the payload sent, if any.
    pub input: Option<Json>,
}

/// Service-wide `package` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageSettings {
    /// `patterns` (globs; a leading `!` excludes; later entries win), with legacy
    /// `exclude` appended as `!` patterns and `include` as plain ones.
    pub patterns: Vec<String>,
    /// `individually`: one artifact per function.
    pub individually: bool,
    /// `artifact`: a prebuilt zip to deploy instead of packaging.
    pub artifact: Option<PathBuf>,
    /// `excludeDevDependencies` (default true).
    pub exclude_dev_dependencies: bool,
}

/// A function's own `package` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FunctionPackage {
    /// Patterns applied after the service-wide ones.
    pub patterns: Vec<String>,
    /// `package.individually` for this function only.
    pub individually: Option<bool>,
    /// `package.artifact`: a prebuilt zip for this function.
    pub artifact: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_parse_in_every_spelling() {
        let cases = [
            ("python3.12", Language::Python, "3.12"),
            ("python312", Language::Python, "3.12"),
            ("python:3", Language::Python, "3"),
            ("nodejs20.x", Language::Node, "20"),
            ("nodejs20", Language::Node, "20"),
            ("nodejs:20", Language::Node, "20"),
            ("nodejs:default", Language::Node, ""),
            ("java8", Language::Other, ""),
            ("provided.al2", Language::Other, ""),
        ];
        for (raw, language, version) in cases {
            let runtime = Runtime::parse(raw);
            assert_eq!(runtime.language, language, "{raw}");
            assert_eq!(runtime.version, version, "{raw}");
        }
        assert_eq!(Runtime::parse("python3.12").minor(), Some(12));
        assert_eq!(Runtime::parse("nodejs18.x").major(), Some(18));
    }

    #[test]
    fn locate_falls_back_to_the_parent_key() {
        let mut service = Service::new("s", ProviderKind::Local, ".");
        let here = Location {
            file: "serverless.yml".into(),
            line: 3,
            column: 3,
        };
        service
            .locations
            .insert("functions.hello".into(), here.clone());
        assert_eq!(service.locate("functions.hello.events.0.http"), Some(&here));
        assert_eq!(service.locate("provider"), None);
        assert_eq!(service.deployed_name("hello"), "s-dev-hello");
    }
}
