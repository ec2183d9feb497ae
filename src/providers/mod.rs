//! The Provider interface and target selection.
//!
//! Every target (local, aws, azure, gcp, openwhisk) implements [`Provider`]. What crosses the
//! interface is provider-neutral data — [`Plan`], [`Invocation`], [`LogRecord`],
//! [`ServiceInfo`], [`Removed`] — so the CLI prints every target the same way and one
//! conformance suite (`tests/conformance.rs`) runs unchanged against all of them.
//!
//! The life of a deploy: [`Provider::check`] looks at the model before any network call and
//! reports every problem at once; [`Provider::generated_files`] says what the package must
//! carry besides the user's code (bootstraps, shims); the packager builds the artifacts;
//! [`Provider::plan`] diffs them with live state; [`Provider::apply`] runs that same plan.
//! "The cloud is the state": a plan is always computed from what is live, never from a file
//! of our own, so a re-run after any failure converges.

pub mod aws;
pub mod azure;
pub mod gcp;
pub mod local;
pub mod openwhisk;
pub mod plan;
pub mod shim;

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;

use crate::diagnostic::Diagnostics;
use crate::model::{Function, ProviderKind, Service};
use crate::package::deps::{Arch, DependencyOptions, DependencyTarget, Platform};
use crate::package::{GeneratedFile, PackageRequest, Packaged, SizeLimits};
pub use plan::{Action, Change, FieldChange, Fields, Plan, ResourceKind, diff_fields};

/// How many functions are planned or applied at once, for every provider.
pub const CONCURRENCY: usize = 4;

/// Which functions a command is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `Some` for `deploy -f NAME`: only these functions, and nothing is deleted.
    pub functions: Option<Vec<String>>,
}

impl Scope {
    /// Whether `function` is in scope.
    pub fn includes(&self, function: &str) -> bool {
        self.functions
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == function))
    }

    /// Whether resources that left the manifest may be deleted (only on a whole-service deploy).
    pub fn deletes_allowed(&self) -> bool {
        self.functions.is_none()
    }
}

/// What `apply` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// The changes that were carried out (unchanged ones are not listed).
    pub done: Vec<Change>,
    /// Where the functions answer now.
    pub endpoints: Vec<Endpoint>,
}

/// An `apply` that stopped midway: what was and was not carried out, and why.
#[derive(Debug)]
pub struct ApplyError {
    /// Why the whole apply stopped, when it is not about one change (a lock held, lost
    /// credentials).
    pub cause: Option<anyhow::Error>,
    /// Changes that completed before the failure.
    pub done: Vec<Change>,
    /// Changes that failed, with their error.
    pub failed: Vec<(Change, anyhow::Error)>,
    /// Changes never started.
    pub pending: Vec<Change>,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "deploy stopped: {} change(s) applied, {} failed, {} not started",
            self.done.len(),
            self.failed.len(),
            self.pending.len()
        )?;
        if let Some(cause) = &self.cause {
            writeln!(f, "  cause: {cause:#}")?;
        }
        for change in &self.done {
            writeln!(
                f,
                "  applied   {} {} {}",
                change.action.verb(),
                change.kind.label(),
                change.name
            )?;
        }
        for (change, error) in &self.failed {
            writeln!(
                f,
                "  FAILED    {} {} {}: {error:#}",
                change.action.verb(),
                change.kind.label(),
                change.name
            )?;
        }
        for change in &self.pending {
            writeln!(
                f,
                "  pending   {} {} {}",
                change.action.verb(),
                change.kind.label(),
                change.name
            )?;
        }
        write!(
            f,
            "Run the same deploy again: it converges from what is live."
        )
    }
}

impl std::error::Error for ApplyError {}

/// A URL a function answers on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The function's manifest name.
    pub function: String,
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// The full URL.
    pub url: String,
}

/// How to call a function.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The function's manifest name.
    pub function: String,
    /// The event, as JSON text.
    pub payload: String,
    /// Also return what the function logged during this call.
    pub with_logs: bool,
    /// Fire and forget (`--type Event`): return as soon as the call is accepted.
    pub asynchronous: bool,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    /// The handler returned.
    Success,
    /// The call was accepted and runs on its own (`--type Event`).
    Accepted,
    /// The handler raised, or the platform stopped it (timeout, crash).
    FunctionError {
        /// Error type (`ValueError`, `TypeError`, `Timeout`...).
        kind: String,
        /// Its message.
        message: String,
        /// The stack, one frame a line, when known.
        stack: Vec<String>,
    },
}

/// The answer to an invoke.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// The platform's request / activation id.
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// What the handler returned, as text (usually JSON).
    pub payload: String,
    /// Log lines of this call, when asked for.
    pub logs: Vec<String>,
    /// Wall time, when the platform says.
    pub duration_ms: Option<u64>,
}

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// The function's manifest name.
    pub function: String,
    /// Only records at or after this time.
    pub since: Option<SystemTime>,
    /// Only records whose message contains this text.
    pub filter: Option<String>,
}

/// One log line, from any provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    /// Stable identity, so `--tail` shows each record once.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The function's manifest name.
    pub function: String,
    /// The call it belongs to, when known.
    pub request_id: Option<String>,
    /// `stdout`, `stderr`, or the platform's stream name.
    pub stream: String,
    /// The line.
    pub message: String,
}

/// What is deployed.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    /// Provider name.
    pub provider: String,
    /// Service name.
    pub service: String,
    /// Stage.
    pub stage: String,
    /// Region, where there is one.
    pub region: Option<String>,
    /// One row per deployed function of this service and stage.
    pub functions: Vec<FunctionInfo>,
    /// Endpoints, all functions together.
    pub endpoints: Vec<Endpoint>,
    /// Provider-specific facts worth showing (`api id`, `resource group`, `state dir`...).
    pub details: BTreeMap<String, String>,
}

/// One deployed function.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionInfo {
    /// Manifest name.
    pub name: String,
    /// Name in the cloud.
    pub deployed_name: String,
    /// Runtime id as deployed.
    pub runtime: Option<String>,
    /// Memory, MB.
    pub memory_size: Option<u32>,
    /// Timeout, seconds.
    pub timeout: Option<u32>,
    /// sha256 of the deployed package, hex.
    pub code_sha256: Option<String>,
    /// Last deploy, RFC 3339.
    pub last_modified: Option<String>,
    /// Version / revision, where the platform has one.
    pub version: Option<String>,
    /// Platform state (`Active`, `ACTIVE`...), where the platform has one.
    pub state: Option<String>,
}

/// One resource `remove` deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// What kind.
    pub kind: ResourceKind,
    /// Its name in the cloud (or path, locally).
    pub name: String,
}

/// What a target asks of a package, known without credentials or network: the model checks,
/// the files it generates, how dependencies reach it, its size limits. `stratus package` needs
/// only this ([`target_for`]); every [`Provider`] hands out its own ([`Provider::target`]).
pub trait Target: Send + Sync {
    /// `local`, `aws`, `azure`, `google`, `openwhisk`.
    fn kind(&self) -> ProviderKind;

    /// Checks the model before any network call: runtimes it can run, events it can map, names
    /// and sizes within limits. Answers every problem at once, each naming the manifest key.
    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics;

    /// Files the package of `function` must carry besides the user's code (bootstraps, shims
    /// that adapt a handler written for another provider). Paths are zip paths (`/`-separated,
    /// relative) and must not collide across the functions of one service.
    fn generated_files(
        &self,
        service: &Service,
        function: &Function,
    ) -> anyhow::Result<Vec<GeneratedFile>> {
        let _ = (service, function);
        Ok(Vec::new())
    }

    /// The target's package size limits, for early warnings.
    fn size_limits(&self) -> Option<SizeLimits> {
        None
    }

    /// How `function`'s Python / Node.js dependencies reach its platform. By default they are
    /// vendored at the package root for Linux on the function's architecture (what runs a zip
    /// as it is: Lambda, OpenWhisk).
    fn dependencies(&self, service: &Service, function: &Function) -> DependencyTarget {
        DependencyTarget::vendor(Platform::Linux(architecture(service, function)))
    }
}

/// One deploy target's live side. See the module documentation for the order of calls.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The packaging rules of this target.
    fn target(&self) -> &dyn Target;

    /// `local`, `aws`, `azure`, `google`, `openwhisk`.
    fn kind(&self) -> ProviderKind {
        self.target().kind()
    }

    /// Diffs the desired service (with its packaged artifacts) against what is live.
    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan>;

    /// Carries out `plan`, which this provider made for the same service and artifacts.
    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError>;

    /// Calls a deployed function.
    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation>;

    /// Reads log records matching `query`, oldest first. `--tail` calls this again with a later
    /// `since` and drops records whose `id` it has shown.
    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>>;

    /// What is deployed for this service and stage.
    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo>;

    /// Deletes everything this service and stage created, and only that.
    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>>;
}

/// The architecture `function` runs on: its own `architecture`, else the provider's, else x86_64.
pub fn architecture(service: &Service, function: &Function) -> Arch {
    Arch::parse(
        function
            .extra
            .get("architecture")
            .and_then(|value| value.as_str())
            .or(service.provider.architecture.as_deref()),
    )
}

/// What to package for `target`: the functions in `scope` with the files it generates, its
/// size limits and how it wants dependencies; artifacts go to `out_dir`.
pub fn package_request<'a>(
    target: &dyn Target,
    service: &'a Service,
    scope: &Scope,
    out_dir: std::path::PathBuf,
) -> anyhow::Result<PackageRequest<'a>> {
    let mut generated = BTreeMap::new();
    let mut targets = BTreeMap::new();
    for (name, function) in &service.functions {
        if scope.includes(name) {
            generated.insert(name.clone(), target.generated_files(service, function)?);
            targets.insert(name.clone(), target.dependencies(service, function));
        }
    }
    Ok(PackageRequest {
        service,
        out_dir,
        functions: scope.functions.clone(),
        generated,
        limits: target.size_limits(),
        dependencies: DependencyOptions {
            targets,
            ..DependencyOptions::default()
        },
    })
}

/// Settings from the command line that providers may need.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// `--provider`, when given: deploy the manifest there instead of `provider.name`.
    pub provider_override: Option<String>,
}

/// The kind of target a command runs against: `--provider`, else `provider.name`.
fn chosen_kind(service: &Service, options: &TargetOptions) -> ProviderKind {
    options
        .provider_override
        .as_deref()
        .map(ProviderKind::parse)
        .unwrap_or_else(|| service.provider.name.clone())
}

/// The packaging rules of the target a command runs against, without credentials or network.
pub fn target_for(service: &Service, options: &TargetOptions) -> anyhow::Result<Box<dyn Target>> {
    match chosen_kind(service, options) {
        ProviderKind::Local => Ok(Box::new(local::LocalTarget)),
        ProviderKind::Openwhisk => Ok(Box::new(openwhisk::OpenWhiskTarget)),
        ProviderKind::Aws => Ok(Box::new(aws::AwsTarget)),
        ProviderKind::Azure => Ok(Box::new(azure::AzureTarget)),
        ProviderKind::Google => Ok(Box::new(gcp::GcpTarget)),
        ProviderKind::Other(name) => Err(unknown_provider(&name)),
    }
}

/// The error for a provider name stratus does not deploy to.
fn unknown_provider(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "stratus cannot deploy to provider `{name}`; it deploys to aws, azure, google, \
         openwhisk and local (retarget with `--provider local`)"
    )
}

/// The provider a command runs against: `--provider`, else `provider.name`.
pub fn select(service: &Service, options: &TargetOptions) -> anyhow::Result<Box<dyn Provider>> {
    match chosen_kind(service, options) {
        ProviderKind::Local => Ok(Box::new(local::LocalProvider::from_env()?)),
        ProviderKind::Openwhisk => Ok(Box::new(openwhisk::OpenWhiskProvider::from_env(service)?)),
        ProviderKind::Aws => Ok(Box::new(aws::AwsProvider::from_env())),
        ProviderKind::Azure => Ok(Box::new(azure::AzureProvider::from_env(service)?)),
        ProviderKind::Google => Ok(Box::new(gcp::GcpProvider::from_env(service)?)),
        ProviderKind::Other(name) => Err(unknown_provider(&name)),
    }
}
