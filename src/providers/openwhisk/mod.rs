//! The `openwhisk` provider: Apache OpenWhisk over its REST API v1.
//!
//! Each function becomes an action `{service}-{stage}-{function}` (a zip with a generated entry
//! file, or a sequence), `http` events make it a web action, `schedule` events a trigger fed by
//! the alarm feed plus a rule, `trigger` events a trigger plus a rule; `resources.packages`
//! become packages. Everything carries `stratus:service` / `stratus:stage` annotations: the
//! namespace is the state. Split by concern: [`config`] (credentials), [`client`] (REST
//! calls), [`spec`] (desired entities), [`check`], [`deploy`] (plan / apply), [`runtime`]
//! (kinds, generated files), [`logs`] (activations → records).

pub mod check;
pub mod client;
pub mod config;
pub mod deploy;
pub mod logs;
pub mod runtime;
pub mod spec;
pub mod triggers;

#[cfg(test)]
pub(crate) mod test_support;

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use serde_json::Value as Json;

use self::client::{Collection, OwClient};
use self::config::OpenWhiskConfig;
use super::{
    Applied, ApplyError, FunctionInfo, Invocation, InvokeRequest, LogQuery, LogRecord, Outcome,
    Plan, Provider, Removed, ResourceKind, Scope, ServiceInfo, Target,
};
use crate::diagnostic::Diagnostics;
use crate::http::HttpConfig;
use crate::model::{Function, ProviderKind, Service};
use crate::package::deps::{Arch, DependencyTarget, Platform};
use crate::package::{GeneratedFile, Packaged, SizeLimits};

/// The longest an activation runs under OpenWhisk's default limits (5 minutes), in ms.
const LONGEST_ACTIVATION_MS: i64 = 300_000;

/// Deploys to one OpenWhisk namespace.
#[derive(Debug)]
pub struct OpenWhiskProvider {
    config: OpenWhiskConfig,
    client: OwClient,
}

impl OpenWhiskProvider {
    /// Reads `~/.wskprops` / `WSK_CONFIG_FILE`, the `OW_*` variables and the manifest's
    /// `provider.namespace` / `apihost` / `ignore_certs`.
    pub fn from_env(service: &Service) -> anyhow::Result<OpenWhiskProvider> {
        OpenWhiskProvider::new(OpenWhiskConfig::from_env(service)?, HttpConfig::default())
    }

    /// A provider for an explicit configuration (tests pass a short retry policy).
    pub fn new(config: OpenWhiskConfig, http: HttpConfig) -> anyhow::Result<OpenWhiskProvider> {
        let client = OwClient::new(&config, http)?;
        Ok(OpenWhiskProvider { config, client })
    }

    /// The REST client.
    pub fn client(&self) -> &OwClient {
        &self.client
    }
}

/// OpenWhisk's packaging rules (checks, generated files, dependencies, limits): known without
/// credentials or network, so `stratus package` works anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenWhiskTarget;

impl Target for OpenWhiskTarget {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openwhisk
    }

    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics {
        check::check(service, scope)
    }

    fn generated_files(
        &self,
        service: &Service,
        function: &Function,
    ) -> anyhow::Result<Vec<GeneratedFile>> {
        if check::is_sequence(function) || function.image.is_some() {
            return Ok(Vec::new());
        }
        runtime::entry_files(check::runtime_of(service, function).language, &service.root)
    }

    fn dependencies(&self, service: &Service, function: &Function) -> DependencyTarget {
        // Vendored at the zip root: the runtimes load a zip action from its unzipped directory
        // (Python's first sys.path entry; node_modules resolves from there). The runtime images
        // OpenWhisk publishes run x86_64; `architecture` is honoured only in a manifest written
        // for OpenWhisk (invokers running arm64 images), not one written for Lambda.
        let arch = match service.provider.name {
            ProviderKind::Openwhisk => super::architecture(service, function),
            _ => Arch::X86_64,
        };
        DependencyTarget::vendor(Platform::Linux(arch))
    }

    fn size_limits(&self) -> Option<SizeLimits> {
        // The controller's default action size limit is 48 MB of base64 text.
        Some(SizeLimits {
            zipped: 36 * 1024 * 1024,
            unzipped: 512 * 1024 * 1024,
        })
    }
}

#[async_trait]
impl Provider for OpenWhiskProvider {
    fn target(&self) -> &dyn Target {
        &OpenWhiskTarget
    }

    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan> {
        deploy::plan(&self.client, service, packaged, scope).await
    }

    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError> {
        deploy::apply(
            &self.client,
            &self.config.credentials,
            service,
            packaged,
            plan,
        )
        .await
    }

    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let action = service.deployed_name(&request.function);
        let payload: Json =
            serde_json::from_str(&request.payload).context("the event is not valid JSON")?;
        anyhow::ensure!(
            payload.is_object(),
            "OpenWhisk actions take a JSON object as parameters, not {payload}\n  help: pass e.g. --data '{{\"value\": 1}}'"
        );
        if request.asynchronous {
            let answer = self.client.invoke(&action, &payload, false, false).await?;
            return Ok(Invocation {
                request_id: answer.activation_id,
                outcome: Outcome::Accepted,
                payload: String::new(),
                logs: Vec::new(),
                duration_ms: None,
            });
        }
        let answer = self
            .client
            .invoke(&action, &payload, true, true)
            .await
            .with_context(|| format!("invoking {action}"))?;
        let outcome = match answer.status {
            200 => Outcome::Success,
            202 => Outcome::Accepted,
            _ => logs::function_error(&answer.body),
        };
        let mut invocation = Invocation {
            request_id: answer.activation_id.clone(),
            outcome,
            payload: answer.body.to_string(),
            logs: Vec::new(),
            duration_ms: None,
        };
        if request.with_logs
            && let Some(id) = &answer.activation_id
            && let Some(record) = self.activation_record(id).await?
        {
            invocation.duration_ms = record.get("duration").and_then(Json::as_u64);
            invocation.logs =
                logs::records(&request.function, std::slice::from_ref(&record), None, None)
                    .into_iter()
                    .map(|r| r.message)
                    .collect();
        }
        Ok(invocation)
    }

    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        let action = service.deployed_name(&query.function);
        let since_ms = query
            .since
            .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
            .and_then(|since| i64::try_from(since.as_millis()).ok());
        // `since` filters activations by their start; one that started earlier may still have
        // logged after it, so look back one maximum action time and filter the lines here.
        let started_since = since_ms.map(|since| since - LONGEST_ACTIVATION_MS);
        let activations = self
            .client
            .activations(&action, started_since)
            .await
            .with_context(|| format!("listing the activations of {action}"))?;
        Ok(logs::records(
            &query.function,
            &activations,
            query.filter.as_deref(),
            since_ms,
        ))
    }

    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo> {
        let namespace = self.client.resolved_namespace().await?;
        let live = deploy::read_live(&self.client, service).await?;
        let mut functions = Vec::new();
        let mut endpoints = Vec::new();
        let reads = live
            .actions
            .keys()
            .map(|name| self.client.get(Collection::Actions, name));
        let records = crate::http::bounded(reads.collect(), super::CONCURRENCY).await;
        for (name, record) in live.actions.keys().zip(records) {
            let Some(record) = record? else {
                continue;
            };
            let function = spec::annotation(&record, spec::FUNCTION_ANNOTATION)
                .and_then(Json::as_str)
                .unwrap_or(name)
                .to_string();
            if let Some(routes) =
                spec::annotation(&record, spec::HTTP_ANNOTATION).and_then(Json::as_array)
            {
                for route in routes.iter().filter_map(Json::as_str) {
                    let (method, path) = route.split_once(' ').unwrap_or(("ANY", route));
                    endpoints.push(super::Endpoint {
                        function: function.clone(),
                        method: method.to_string(),
                        url: deploy::web_url(&self.client, &namespace, name, path),
                    });
                }
            }
            functions.push(FunctionInfo {
                name: function,
                deployed_name: name.clone(),
                runtime: record
                    .pointer("/exec/kind")
                    .and_then(Json::as_str)
                    .map(str::to_string),
                memory_size: record
                    .pointer("/limits/memory")
                    .and_then(Json::as_u64)
                    .and_then(|m| u32::try_from(m).ok()),
                timeout: record
                    .pointer("/limits/timeout")
                    .and_then(Json::as_u64)
                    .and_then(|ms| u32::try_from(ms / 1000).ok()),
                code_sha256: spec::annotation(&record, spec::CODE_ANNOTATION)
                    .and_then(Json::as_str)
                    .map(str::to_string),
                last_modified: record.get("updated").and_then(Json::as_u64).map(|ms| {
                    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms))
                        .to_string()
                }),
                version: record
                    .get("version")
                    .and_then(Json::as_str)
                    .map(str::to_string),
                state: None,
            });
        }
        let mut details = BTreeMap::new();
        details.insert("apihost".to_string(), self.config.apihost.to_string());
        details.insert("namespace".to_string(), namespace);
        if !live.triggers.is_empty() {
            details.insert(
                "triggers".to_string(),
                live.triggers.keys().cloned().collect::<Vec<_>>().join(", "),
            );
        }
        if !live.rules.is_empty() {
            details.insert(
                "rules".to_string(),
                live.rules.keys().cloned().collect::<Vec<_>>().join(", "),
            );
        }
        if !live.packages.is_empty() {
            details.insert(
                "packages".to_string(),
                live.packages.keys().cloned().collect::<Vec<_>>().join(", "),
            );
        }
        Ok(ServiceInfo {
            provider: "openwhisk".into(),
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: None,
            functions,
            endpoints,
            details,
        })
    }

    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>> {
        let namespace = self.client.resolved_namespace().await?;
        let live = deploy::read_live(&self.client, service).await?;
        let mut removed = Vec::new();
        for name in live.rules.keys() {
            if self.client.delete(Collection::Rules, name).await? {
                removed.push(Removed {
                    kind: ResourceKind::Trigger,
                    name: name.clone(),
                });
            }
        }
        for name in live.triggers.keys() {
            deploy::delete_trigger(&self.client, &self.config.credentials, &namespace, name)
                .await?;
            removed.push(Removed {
                kind: ResourceKind::Trigger,
                name: name.clone(),
            });
        }
        let mut actions: Vec<(&String, &Json)> = live.actions.iter().collect();
        actions.sort_by_key(|(_, record)| {
            record.pointer("/exec/kind").and_then(Json::as_str) != Some("sequence")
        });
        for (name, _) in actions {
            if self.client.delete(Collection::Actions, name).await? {
                removed.push(Removed {
                    kind: ResourceKind::Function,
                    name: name.clone(),
                });
            }
        }
        for name in live.packages.keys() {
            if self.client.delete(Collection::Packages, name).await? {
                removed.push(Removed {
                    kind: ResourceKind::Group,
                    name: name.clone(),
                });
            }
        }
        Ok(removed)
    }
}

impl OpenWhiskProvider {
    /// The activation record, waiting briefly: the controller stores it just after answering.
    async fn activation_record(&self, id: &str) -> anyhow::Result<Option<Json>> {
        for attempt in 0..10u32 {
            if let Some(record) = self.client.activation(id).await? {
                return Ok(Some(record));
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt + 1))).await;
        }
        Ok(None)
    }
}
