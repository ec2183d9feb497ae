//! The `local` provider: functions installed and run on this machine, no cloud.
//!
//! `deploy` extracts each function's package under a state directory (see [`state`]) and
//! records its settings; `invoke` runs the installed code in a fresh `python3` / `node`
//! process ([`runner`]); every line it writes becomes a log record ([`logs`]); `serve` answers
//! the manifest's HTTP routes ([`serve`], [`event`]). The state root is `STRATUS_STATE_DIR`,
//! else `$XDG_STATE_HOME/stratus`, else `~/.local/state/stratus`; see `docs/providers/local.md`.

pub mod check;
pub mod deploy;
pub mod event;
pub mod logs;
pub mod runner;
pub mod serve;
pub mod state;

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;

use super::*;
use crate::model::Function;
use crate::package::Packaged;
use crate::package::deps::{DependencyOptions, DependencyTarget, Platform};
use logs::LogStore;
use runner::RunSpec;
use state::StageDir;

/// The env var naming the port endpoints are reported on (default 3000).
pub const SERVE_PORT_ENV: &str = "STRATUS_SERVE_PORT";
/// The port endpoints are reported on when `STRATUS_SERVE_PORT` is not set.
pub const DEFAULT_SERVE_PORT: u16 = 3000;

/// Runs functions as python3 / node processes under a state directory.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    root: PathBuf,
    port: u16,
}

impl LocalProvider {
    /// Reads `STRATUS_STATE_DIR` (else `$XDG_STATE_HOME/stratus`, else
    /// `~/.local/state/stratus`) and `STRATUS_SERVE_PORT`.
    pub fn from_env() -> anyhow::Result<LocalProvider> {
        Ok(LocalProvider::with_state_dir(state::default_root()?))
    }

    /// A provider keeping its state under `root` (the serve port still from the environment).
    pub fn with_state_dir(root: impl Into<PathBuf>) -> LocalProvider {
        let port = std::env::var(SERVE_PORT_ENV)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(DEFAULT_SERVE_PORT);
        LocalProvider {
            root: root.into(),
            port,
        }
    }

    /// The same provider reporting endpoints on `port`.
    pub fn with_serve_port(mut self, port: u16) -> LocalProvider {
        self.port = port;
        self
    }

    /// The state root.
    pub fn state_root(&self) -> &Path {
        &self.root
    }

    /// The state of `service`'s stage.
    pub fn stage_dir(&self, service: &Service) -> StageDir {
        StageDir::new(&self.root, service)
    }

    /// Takes the deploy lock of `service`'s stage, as `deploy` and `remove` do; fails at once
    /// when another process holds it.
    pub fn lock(&self, service: &Service, operation: &str) -> anyhow::Result<state::StageLock> {
        self.stage_dir(service).lock(operation)
    }

    /// How to run the deployed `function` of `service`.
    fn deployed_spec(&self, service: &Service, function: &str) -> anyhow::Result<RunSpec> {
        let stage = self.stage_dir(service);
        let installed = stage.read_function(function)?.with_context(|| {
            format!(
                "function {function} of service {} stage {} is not deployed locally \
                 (nothing in {}); run `stratus deploy --provider local` first, or \
                 `stratus invoke local -f {function}` to run the working tree",
                service.name,
                service.stage,
                stage.path.display()
            )
        })?;
        let code_dir = stage.code_dir(&installed.code_sha256);
        if !code_dir.is_dir() {
            anyhow::bail!(
                "the code of function {function} is missing from {}; run `stratus deploy` again",
                code_dir.display()
            );
        }
        Ok(RunSpec {
            function: function.to_string(),
            deployed_name: installed.deployed_name,
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: service.region.clone(),
            language: crate::model::Runtime::parse(&installed.runtime).language,
            runtime: installed.runtime,
            handler: installed.handler,
            memory_size: installed.memory_size,
            timeout: installed.timeout,
            environment: installed.environment,
            code_dir,
            logs: Some(LogStore::new(stage.logs_dir())),
            module_paths: Vec::new(),
        })
    }

    /// How to run `function` from the service's working tree.
    fn working_tree_spec(&self, service: &Service, function: &str) -> anyhow::Result<RunSpec> {
        let manifest_function = service
            .functions
            .get(function)
            .with_context(|| format!("function {function} is not in the manifest"))?;
        let settings = service.effective(manifest_function);
        let runtime = settings.runtime.with_context(|| {
            format!("functions.{function}.runtime: no runtime set; set provider.runtime or the function's runtime")
        })?;
        Ok(RunSpec {
            function: function.to_string(),
            deployed_name: service.deployed_name(function),
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: service.region.clone(),
            language: runtime.language,
            runtime: runtime.raw,
            handler: manifest_function
                .handler
                .clone()
                .with_context(|| format!("functions.{function}.handler: no handler set"))?,
            memory_size: settings.memory_size,
            timeout: settings.timeout,
            environment: manifest_function.environment.clone(),
            code_dir: service.root.clone(),
            logs: None,
            module_paths: Vec::new(),
        })
    }

    /// Runs a handler from the service's working tree, without deploying (`invoke local`).
    /// Its output is returned (with `with_logs`) but not stored as log records.
    pub async fn invoke_working_tree(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let mut spec = self.working_tree_spec(service, &request.function)?;
        // The working tree has no vendored dependencies: install them for this machine (or
        // take them from the cache) and put them on the module path.
        let options = DependencyOptions {
            targets: [(
                request.function.clone(),
                DependencyTarget::vendor(Platform::Host),
            )]
            .into(),
            ..DependencyOptions::default()
        };
        spec.module_paths =
            crate::package::deps::module_paths(service, &request.function, &options)?;
        run_request(spec, request).await
    }

    /// Calls the deployed `function` with `payload`, returning the full invocation.
    pub async fn invoke_deployed(
        &self,
        service: &Service,
        function: &str,
        payload: &str,
    ) -> anyhow::Result<Invocation> {
        let spec = self.deployed_spec(service, function)?;
        runner::run(spec, payload, false).await
    }

    /// Serves the manifest's HTTP routes on 127.0.0.1:`port` until Ctrl-C.
    pub async fn serve(
        &self,
        service: &Service,
        port: u16,
        out: &crate::cli::output::Output,
    ) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| {
                format!("cannot listen on 127.0.0.1:{port}; pick another port with --port (0 picks a free one)")
            })?;
        let address = listener.local_addr().context("reading the bound address")?;
        out.status(format!(
            "Serving {} (stage {}) on http://{address} — Ctrl-C to stop",
            service.name, service.stage
        ));
        let server = serve::Server::new(self.clone(), service.clone(), true)?;
        for line in server.describe(address.port()) {
            out.status(line);
        }
        server
            .run(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    }
}

/// Waits for asynchronous invocations (`--type Event`) started by this process to end; call it
/// before the process exits, after printing that the call was accepted.
pub async fn wait_for_background_runs() {
    runner::wait_for_background_runs().await;
}

async fn run_request(spec: RunSpec, request: &InvokeRequest) -> anyhow::Result<Invocation> {
    if request.asynchronous {
        let request_id = runner::spawn(spec, &request.payload);
        return Ok(Invocation {
            request_id: Some(request_id),
            outcome: Outcome::Accepted,
            payload: String::new(),
            logs: Vec::new(),
            duration_ms: None,
        });
    }
    runner::run(spec, &request.payload, request.with_logs).await
}

/// the local provider's packaging rules (checks, generated files, dependencies, limits): known without
/// credentials or network, so `stratus package` works anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTarget;

impl Target for LocalTarget {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics {
        check::check(service, scope)
    }

    fn dependencies(&self, _: &Service, _: &Function) -> DependencyTarget {
        // Handlers run with this machine's python3 and node: build for them.
        DependencyTarget::vendor(Platform::Host)
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn target(&self) -> &dyn Target {
        &LocalTarget
    }

    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan> {
        deploy::plan_changes(&self.stage_dir(service), service, packaged, scope)
    }

    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError> {
        let stage = self.stage_dir(service);
        let (service, packaged, plan, port) =
            (service.clone(), packaged.clone(), plan.clone(), self.port);
        let changes = plan.changes.clone();
        tokio::task::spawn_blocking(move || {
            deploy::apply_plan(&stage, &service, &packaged, &plan, port)
        })
        .await
        .unwrap_or_else(|join_error| {
            let pending: Vec<Change> = changes
                .into_iter()
                .filter(|c| c.action != Action::Unchanged)
                .collect();
            Err(ApplyError {
                cause: Some(anyhow::anyhow!("the deploy task stopped: {join_error}")),
                done: Vec::new(),
                failed: Vec::new(),
                pending,
            })
        })
    }

    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let spec = self.deployed_spec(service, &request.function)?;
        run_request(spec, request).await
    }

    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        LogStore::new(self.stage_dir(service).logs_dir()).read(query)
    }

    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo> {
        let stage = self.stage_dir(service);
        let installed = stage.read_functions()?;
        let functions = installed
            .values()
            .map(|f| FunctionInfo {
                name: f.name.clone(),
                deployed_name: f.deployed_name.clone(),
                runtime: Some(f.runtime.clone()),
                memory_size: Some(f.memory_size),
                timeout: Some(f.timeout),
                code_sha256: Some(f.code_sha256.clone()),
                last_modified: Some(f.deployed_at.clone()),
                version: None,
                state: Some(if stage.code_dir(&f.code_sha256).is_dir() {
                    "installed".to_string()
                } else {
                    "code missing (deploy again)".to_string()
                }),
            })
            .collect();
        let mut details = BTreeMap::new();
        details.insert("state dir".to_string(), stage.path.display().to_string());
        Ok(ServiceInfo {
            provider: "local".into(),
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: None,
            functions,
            endpoints: deploy::endpoints(&installed, self.port),
            details,
        })
    }

    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>> {
        let stage = self.stage_dir(service);
        if !stage.path.exists() {
            return Ok(Vec::new());
        }
        let _lock = stage.lock("remove")?;
        let installed = stage.read_functions()?;
        let mut removed: Vec<Removed> = installed
            .values()
            .map(|f| Removed {
                kind: ResourceKind::Function,
                name: f.deployed_name.clone(),
            })
            .collect();
        std::fs::remove_dir_all(&stage.path)
            .with_context(|| format!("deleting the state dir {}", stage.path.display()))?;
        if let Some(parent) = stage.path.parent() {
            // Only succeeds when no other stage of the service is left.
            let _ = std::fs::remove_dir(parent);
        }
        removed.push(Removed {
            kind: ResourceKind::Storage,
            name: stage.path.display().to_string(),
        });
        Ok(removed)
    }
}
