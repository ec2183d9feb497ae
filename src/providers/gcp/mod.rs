//! The `google` provider (also `gcp`): Cloud Functions (2nd gen) over the v2 REST API.
//!
//! Each function becomes `projects/{p}/locations/{r}/functions/{id}` in environment `GEN_2`,
//! labelled with the service, stage, function and code hash: the cloud is the state, there is
//! no state file. Split by concern: [`config`] (project, region, endpoints, where credentials
//! come from), [`credential`] (tokens), [`client`] (REST calls), [`spec`] (names and desired
//! functions), [`deploy`] (plan / apply), [`events`] (Pub/Sub and Cloud Storage triggers),
//! [`runtime`] (runtimes, generated entry files),
//! [`logs`] (Cloud Logging entries → records).

pub mod client;
pub mod config;
pub mod credential;
pub mod deploy;
pub mod events;
pub mod logs;
pub mod runtime;
pub mod spec;

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use serde_json::Value as Json;

use self::client::GcfClient;
use self::config::GcpConfig;
use super::{
    Applied, ApplyError, FunctionInfo, Invocation, InvokeRequest, LogQuery, LogRecord, Outcome,
    Plan, Provider, Removed, ResourceKind, Scope, ServiceInfo, Target,
};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::http::{self, HttpConfig, Idempotency, PollConfig};
use crate::model::{Event, Function, Language, ProviderKind, Service};
use crate::package::deps::DependencyTarget;
use crate::package::{GeneratedFile, Packaged, SizeLimits};

/// Deploys to one project and region.
#[derive(Debug)]
pub struct GcpProvider {
    client: GcfClient,
    region: String,
}

impl GcpProvider {
    /// Reads the manifest's `provider.*` keys and Application Default Credentials.
    pub fn from_env(service: &Service) -> anyhow::Result<GcpProvider> {
        GcpProvider::new(
            GcpConfig::from_env(service)?,
            HttpConfig::default(),
            PollConfig::default(),
        )
    }

    /// A provider for an explicit configuration (tests pass quick retry and poll policies).
    pub fn new(
        config: GcpConfig,
        http: HttpConfig,
        poll: PollConfig,
    ) -> anyhow::Result<GcpProvider> {
        let region = config.region.clone();
        Ok(GcpProvider {
            client: GcfClient::new(config, http, poll)?,
            region,
        })
    }

    /// The REST client.
    pub fn client(&self) -> &GcfClient {
        &self.client
    }
}

/// Problems with the model, before any network call.
pub fn check(service: &Service, scope: &Scope) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    let at = |key: &str| service.locate(key).cloned();
    for function in service
        .functions
        .values()
        .filter(|f| scope.includes(&f.name))
    {
        let key = format!("functions.{}", function.name);
        if function.image.is_some() || function.handler.is_none() {
            diagnostics.push(
                Diagnostic::error(
                    &key,
                    "Cloud Functions deploys code with a handler; this function has none",
                )
                .at(at(&key))
                .help("give it a `handler: file.function`"),
            );
            continue;
        }
        match service.effective(function).runtime {
            None => diagnostics.push(
                Diagnostic::error(
                    format!("{key}.runtime"),
                    "no runtime is set for this function",
                )
                .at(at(&key))
                .help("set provider.runtime or the function's runtime, e.g. python312 or nodejs20"),
            ),
            Some(runtime) => {
                if let Err(message) = runtime::gcp_runtime(&runtime) {
                    let rk = if function.runtime.is_some() {
                        format!("{key}.runtime")
                    } else {
                        "provider.runtime".into()
                    };
                    diagnostics.push(Diagnostic::error(&rk, message).at(at(&rk)));
                }
                let shimmed = matches!(
                    runtime::entry(service, function),
                    Some(runtime::Entry::Shim { .. })
                );
                if runtime.language == Language::Python
                    && shimmed
                    && service.root.join("main.py").is_file()
                {
                    let hk = format!("{key}.handler");
                    diagnostics.push(
                        Diagnostic::error(&hk, "this `file.function` handler runs through a generated main.py, but the project has its own main.py (Cloud Functions loads only main.py)")
                            .at(at(&hk))
                            .help("define the handler in main.py and name only the function (`handler: fn`, with provider.name: google), or rename main.py"),
                    );
                }
            }
        }
        for (index, event) in function.events.iter().enumerate() {
            let ek = format!("{key}.events.{index}");
            let kind = match event {
                Event::Http(_) => continue,
                Event::Schedule(_) => "schedule".to_string(),
                Event::Other { kind, config } if kind == "event" => {
                    // Validated with a stand-in project: the real one is known at deploy.
                    if let Err(message) = events::trigger(config, "project") {
                        let ek = format!("{ek}.event");
                        diagnostics.push(
                            Diagnostic::error(&ek, message)
                                .at(at(&ek).or_else(|| at(&format!("{key}.events.{index}")))),
                        );
                    }
                    continue;
                }
                Event::Other { kind, .. } => kind.clone(),
            };
            diagnostics.push(
                Diagnostic::error(&ek, format!("`{kind}` events are not supported on Cloud Functions by stratus yet (http, and `event` for Pub/Sub and Cloud Storage)"))
                    .at(at(&ek))
                    .help("remove the event, or deploy this function to another provider"),
            );
        }
        let triggers = events::event_configs(function);
        let http = function.events.iter().any(|e| matches!(e, Event::Http(_)));
        if triggers.len() > 1 || (http && !triggers.is_empty()) {
            let ek = format!("{key}.events.{}", triggers.last().map_or(0, |(i, _)| *i));
            diagnostics.push(
                Diagnostic::error(
                    &ek,
                    "a Cloud Function has one trigger: either http or one `event`",
                )
                .at(at(&ek))
                .help("split the function into one function per trigger"),
            );
        }
        let settings = service.effective(function);
        if !(128..=32768).contains(&settings.memory_size) {
            let mk = format!("{key}.memorySize");
            diagnostics.push(
                Diagnostic::error(
                    &mk,
                    format!(
                        "memorySize {} MB is outside Cloud Functions' 128-32768 MB",
                        settings.memory_size
                    ),
                )
                .at(at(&mk)),
            );
        }
        if !(1..=3600).contains(&settings.timeout) {
            let tk = format!("{key}.timeout");
            diagnostics.push(
                Diagnostic::error(
                    &tk,
                    format!(
                        "timeout {} s is outside Cloud Functions' 1-3600 s",
                        settings.timeout
                    ),
                )
                .at(at(&tk)),
            );
        }
        for (label, value) in spec::user_labels(service, function) {
            let valid_key = label.len() <= 63
                && label.starts_with(|c: char| c.is_ascii_lowercase())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            let valid_value = value.len() <= 63
                && value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !valid_key || !valid_value || label.starts_with("stratus-") {
                let lk = format!("{key}.labels.{label}");
                diagnostics.push(
                    Diagnostic::error(&lk, format!("label `{label}: {value}` is not valid on Google Cloud"))
                        .at(at(&lk).or_else(|| at("provider.labels")))
                        .help("keys start with a lower-case letter; keys and values use [a-z0-9_-], at most 63 characters; stratus-* keys are reserved"),
                );
            }
        }
    }
    diagnostics
}

/// Google Cloud Functions's packaging rules (checks, generated files, dependencies, limits): known without
/// credentials or network, so `stratus package` works anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpTarget;

impl Target for GcpTarget {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Google
    }

    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics {
        check(service, scope)
    }

    fn generated_files(
        &self,
        service: &Service,
        function: &Function,
    ) -> anyhow::Result<Vec<GeneratedFile>> {
        match runtime::entry(service, function) {
            Some(runtime::Entry::Shim { .. }) => {
                let language = service
                    .effective(function)
                    .runtime
                    .map_or(Language::Other, |r| r.language);
                runtime::entry_files(language, &service.root)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn dependencies(&self, _: &Service, _: &Function) -> DependencyTarget {
        // Google's build installs requirements.txt / package.json itself (buildpacks), for
        // exactly the runtime it runs: stratus only makes sure the file is at the root.
        DependencyTarget::Remote
    }

    fn size_limits(&self) -> Option<SizeLimits> {
        // Source uploads of 2nd gen functions: 100 MB zipped, 500 MB unzipped.
        Some(SizeLimits {
            zipped: 100 * 1024 * 1024,
            unzipped: 500 * 1024 * 1024,
        })
    }
}

#[async_trait]
impl Provider for GcpProvider {
    fn target(&self) -> &dyn Target {
        &GcpTarget
    }

    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan> {
        deploy::plan(&self.client, service, packaged, scope, &self.region).await
    }

    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError> {
        deploy::apply(&self.client, service, packaged, plan).await
    }

    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let id = spec::function_id(&service.name, &service.stage, &request.function);
        let function = self.client.get_function(&id).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "function {id} is not deployed in {}\n  help: run `stratus deploy` first",
                self.client.parent
            )
        })?;
        let url = function
            .pointer("/serviceConfig/uri")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "function {id} has no URL yet (state {})",
                    function
                        .get("state")
                        .and_then(Json::as_str)
                        .unwrap_or("unknown")
                )
            })?
            .to_string();
        let token = self.client.tokens().id_token(&url).await?;
        let started = std::time::Instant::now();
        let http = self.client.http();
        // An event function is called the way its trigger calls it: with a CloudEvent.
        let event = function
            .get("eventTrigger")
            .and_then(events::Trigger::from_live)
            .map(|trigger| {
                let time = humantime::format_rfc3339_millis(std::time::SystemTime::now());
                let id = uuid::Uuid::new_v4().to_string();
                trigger.invoke_event(&request.payload, &id, &time.to_string())
            });
        let body = event
            .as_ref()
            .map_or_else(|| request.payload.clone(), |event| event.body.clone());
        let mut call = http
            .inner()
            .post(url.as_str())
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("x-stratus-invoke", "direct")
            .body(body);
        for (name, value) in event.iter().flat_map(|event| &event.headers) {
            call = call.header(name.as_str(), value.as_str());
        }
        // With --log the call carries its own trace, by which its log entries are found.
        let trace = request.with_logs.then(logs::new_trace);
        if let Some((_, header)) = &trace {
            call = call.header(logs::TRACE_HEADER, header);
        }
        let response = http
            .send(call, Idempotency::ByMethod)
            .await
            .with_context(|| format!("invoking {id}"))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("function-execution-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.unwrap_or_default();
        let outcome = if (200..300).contains(&status) {
            Outcome::Success
        } else {
            let json: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            Outcome::FunctionError {
                kind: json
                    .get("errorType")
                    .and_then(Json::as_str)
                    .map_or_else(|| format!("HTTP {status}"), str::to_string),
                message: json.get("errorMessage").and_then(Json::as_str).map_or_else(
                    || format!("HTTP {status}: {}", http::redact(&body)),
                    str::to_string,
                ),
                stack: json
                    .get("stackTrace")
                    .and_then(Json::as_array)
                    .map(|frames| {
                        frames
                            .iter()
                            .filter_map(Json::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).ok();
        let logs = match &trace {
            Some((trace, _)) => logs::call_records(
                &self.client,
                &request.function,
                &id,
                trace,
                request_id.as_deref(),
            )
            .await
            .with_context(|| format!("reading the log entries of this call to {id}"))?
            .into_iter()
            .map(|record| record.message)
            .collect(),
            None => Vec::new(),
        };
        Ok(Invocation {
            request_id,
            outcome,
            payload: body,
            logs,
            duration_ms,
        })
    }

    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        let id = spec::function_id(&service.name, &service.stage, &query.function);
        let filter = logs::filter(&id, query.since, query.filter.as_deref());
        let entries = self.client.list_entries(&filter).await?;
        Ok(logs::records(
            &query.function,
            &entries,
            query.filter.as_deref(),
        ))
    }

    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo> {
        let live = deploy::read_live(&self.client, service).await?;
        let functions = live
            .iter()
            .map(|(id, f)| {
                let text = |p: &str| f.pointer(p).and_then(Json::as_str).map(str::to_string);
                FunctionInfo {
                    name: text(&format!("/labels/{}", spec::FUNCTION_LABEL))
                        .unwrap_or_else(|| id.clone()),
                    deployed_name: id.clone(),
                    runtime: text("/buildConfig/runtime"),
                    memory_size: text("/serviceConfig/availableMemory")
                        .and_then(|m| spec::memory_mb(&m))
                        .and_then(|m| u32::try_from(m).ok()),
                    timeout: f
                        .pointer("/serviceConfig/timeoutSeconds")
                        .and_then(|t| t.as_u64().or_else(|| t.as_str()?.parse().ok()))
                        .and_then(|t| u32::try_from(t).ok()),
                    code_sha256: text(&format!("/labels/{}", spec::CODE_LABEL))
                        .and_then(|l| spec::code_from_label(&l)),
                    last_modified: text("/updateTime"),
                    version: text("/serviceConfig/revision"),
                    state: text("/state"),
                }
            })
            .collect();
        let endpoints = deploy::endpoints(&self.client, service).await?;
        let mut details = BTreeMap::new();
        details.insert("project".to_string(), self.client.project.clone());
        Ok(ServiceInfo {
            provider: "google".into(),
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: Some(self.region.clone()),
            functions,
            endpoints,
            details,
        })
    }

    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>> {
        let live = deploy::read_live(&self.client, service).await?;
        let deletes = live.keys().map(|id| async move {
            if let Some(operation) = self.client.delete(id).await? {
                self.client
                    .wait(&operation)
                    .await
                    .with_context(|| format!("deleting {id}"))?;
                return anyhow::Ok(Some(Removed {
                    kind: ResourceKind::Function,
                    name: id.clone(),
                }));
            }
            anyhow::Ok(None)
        });
        let mut removed = Vec::new();
        for result in http::bounded(deletes.collect(), super::CONCURRENCY).await {
            if let Some(done) = result? {
                removed.push(done);
            }
        }
        Ok(removed)
    }
}
