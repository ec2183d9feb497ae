//! The `azure` provider: Azure Functions runtime 4 on the Flex Consumption plan, through the
//! Resource Manager.
//!
//! A service and stage become a resource group (`rg-{service}-{stage}` unless
//! `provider.resourceGroup`), a storage account with a deployment container, an Application
//! Insights component, a Flex Consumption plan (FC1) and one Linux function app whose package
//! holds every function (`{function}/function.json`). Everything is tagged `stratus-service` /
//! `stratus-stage`: the cloud is the state. Split by concern: [`config`], [`credential`],
//! [`arm`] (long-running operations), [`app`] (names, runtime, tags), [`spec`] (desired
//! bodies), [`check`], [`deploy`] (plan / apply), [`bindings`] (package, function.json, shims),
//! [`publish`] (one-deploy), [`logs`] (Application Insights).

pub mod app;
pub mod arm;
pub mod bindings;
pub mod check;
pub mod config;
pub mod credential;
pub mod deploy;
pub mod functions;
pub mod logs;
pub mod publish;
pub mod spec;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::{Value as Json, json};

use self::app::{Names, api};
use self::arm::ArmClient;
use self::config::AzureConfig;
use self::credential::{Credential, Method};
use super::{
    Applied, ApplyError, FunctionInfo, Invocation, InvokeRequest, LogQuery, LogRecord, Outcome,
    Plan, Provider, Removed, ResourceKind, Scope, ServiceInfo, Target,
};
use crate::diagnostic::Diagnostics;
use crate::http::{self, HttpClient, HttpConfig, Idempotency, register_secret};
use crate::model::{Function, ProviderKind, Service};
use crate::package::deps::{Arch, DependencyTarget, Platform};
use crate::package::{GeneratedFile, Packaged, SizeLimits};

/// Deploys to one subscription.
#[derive(Debug)]
pub struct AzureProvider {
    config: AzureConfig,
    arm: ArmClient,
}

impl AzureProvider {
    /// Reads credentials and settings from the environment and the manifest.
    pub fn from_env(service: &Service) -> anyhow::Result<AzureProvider> {
        let config = AzureConfig::from_env(service)?;
        AzureProvider::new(config, Method::from_env()?, HttpConfig::default())
    }

    /// A provider for explicit settings (tests pass a short retry policy).
    pub fn new(
        config: AzureConfig,
        method: Method,
        http: HttpConfig,
    ) -> anyhow::Result<AzureProvider> {
        let client = HttpClient::new(&http)?;
        let credential = Credential::new(method, config.authority.clone(), client.clone());
        let arm = ArmClient::new(client, credential, config.arm.clone(), config.arm_scope());
        Ok(AzureProvider { config, arm })
    }

    /// Sets the wait between long-running-operation polls when the server gives no
    /// `Retry-After` (tests shorten it).
    pub fn with_poll_interval(mut self, interval: std::time::Duration) -> AzureProvider {
        self.arm.poll_interval = interval;
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    /// The log lines of one invocation (`operation_Id`), waiting a little for ingestion;
    /// empty when Application Insights has not received them yet.
    async fn invocation_logs(&self, service: &Service, function: &str, id: &str) -> Vec<String> {
        let query = LogQuery {
            function: function.to_string(),
            since: Some(std::time::SystemTime::now() - std::time::Duration::from_secs(600)),
            filter: None,
        };
        for attempt in 0..4u64 {
            if let Ok(records) = self.logs(service, &query).await {
                let lines: Vec<String> = records
                    .into_iter()
                    .filter(|r| r.request_id.as_deref() == Some(id))
                    .map(|r| r.message)
                    .collect();
                if !lines.is_empty() {
                    return lines;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500 * (attempt + 1))).await;
        }
        Vec::new()
    }

    async fn keyed_url(&self, url: &str) -> anyhow::Result<Url> {
        let url = Url::parse(url).with_context(|| format!("ARM answered an invalid URL {url}"))?;
        config::check_scheme(&url, self.config.allow_http)?;
        Ok(url)
    }
}

/// Azure Functions's packaging rules (checks, generated files, dependencies, limits): known without
/// credentials or network, so `stratus package` works anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureTarget;

impl Target for AzureTarget {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics {
        check::check(service, scope)
    }

    fn generated_files(
        &self,
        service: &Service,
        function: &Function,
    ) -> anyhow::Result<Vec<GeneratedFile>> {
        Ok(bindings::shim_files(service, function))
    }

    fn dependencies(&self, _: &Service, _: &Function) -> DependencyTarget {
        // The Python worker puts <app root>/.python_packages/lib/site-packages on PYTHONPATH
        // (the app package lifts each artifact's copy there); Node finds node_modules beside
        // package.json, in the function's folder. Flex Consumption runs Linux on x86_64 only,
        // whatever `architecture` says (`check` warns that arm64 is ignored).
        DependencyTarget::Vendor {
            platform: Platform::Linux(Arch::X86_64),
            python_dir: bindings::PYTHON_PACKAGES.to_string(),
        }
    }

    fn size_limits(&self) -> Option<SizeLimits> {
        // One-deploy takes the zip in one request body: warn from 100 MB zipped; Flex
        // Consumption instances give an app 1.5 GB of package space unzipped.
        Some(SizeLimits {
            zipped: 100 * 1024 * 1024,
            unzipped: 1536 * 1024 * 1024,
        })
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn target(&self) -> &dyn Target {
        &AzureTarget
    }

    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan> {
        deploy::plan(&self.arm, &self.config, service, packaged, scope).await
    }

    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError> {
        deploy::apply(&self.arm, &self.config, service, packaged, plan).await
    }

    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let names = Names::new(service, &self.config);
        let function = service
            .functions
            .get(&request.function)
            .with_context(|| format!("function `{}` is not in the manifest", request.function))?;
        let listed = deploy::list_functions(&self.arm, &names).await?;
        let record = listed.get(&request.function).with_context(|| {
            format!(
                "function `{}` is not deployed in app {}; run `stratus deploy`",
                request.function, names.app
            )
        })?;
        let trigger = bindings::http_trigger(function);
        let client = self.arm.http();
        let (url, key, body) = match (
            &trigger,
            record
                .pointer("/properties/invoke_url_template")
                .and_then(Json::as_str),
        ) {
            (Some(_), Some(template)) => {
                let path = format!("{}/functions/{}/listkeys", names.app_path(), function.name);
                let keys = self.arm.post(&path, api::WEB, None, true).await?;
                let key = keys
                    .get("default")
                    .and_then(Json::as_str)
                    .or_else(|| keys.as_object()?.values().find_map(Json::as_str))
                    .unwrap_or_default()
                    .to_string();
                (
                    self.keyed_url(template).await?,
                    key,
                    request.payload.clone(),
                )
            }
            _ => {
                let app = self
                    .arm
                    .get(&names.app_path(), api::WEB)
                    .await?
                    .context("the function app is gone")?;
                let host = app
                    .pointer("/properties/defaultHostName")
                    .and_then(Json::as_str)
                    .context("the function app has no defaultHostName")?;
                let path = format!("{}/host/default/listkeys", names.app_path());
                let keys = self.arm.post(&path, api::WEB, None, true).await?;
                let key = keys
                    .get("masterKey")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string();
                let url = self
                    .config
                    .host_url(host)?
                    .join(&format!("admin/functions/{}", function.name))?;
                let body = json!({ "input": request.payload }).to_string();
                (url, key, body)
            }
        };
        register_secret(&key);
        let method = trigger
            .as_ref()
            .and_then(|t| t.methods.first().cloned())
            .map(|m| m.to_ascii_uppercase())
            .unwrap_or_else(|| "POST".into());
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut builder = client
            .inner()
            .request(method, url)
            .header("x-functions-key", &key)
            .header("content-type", "application/json");
        if !app::native_handlers(service) {
            builder = builder.header("x-stratus-invoke", "event");
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let response = client.send(builder, Idempotency::ByMethod).await?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-ms-invocation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let payload = response.text().await.unwrap_or_default();
        let outcome = if status.as_u16() == 202 && trigger.is_none() {
            Outcome::Accepted
        } else if status.is_success() {
            Outcome::Success
        } else {
            Outcome::FunctionError {
                kind: format!("HTTP {}", status.as_u16()),
                message: http::redact(&payload),
                stack: Vec::new(),
            }
        };
        let mut logs = Vec::new();
        if request.with_logs
            && let Some(id) = &request_id
        {
            logs = self.invocation_logs(service, &request.function, id).await;
        }
        Ok(Invocation {
            request_id,
            outcome,
            payload,
            logs,
            duration_ms: None,
        })
    }

    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        let names = Names::new(service, &self.config);
        let insights = self
            .arm
            .get(&names.insights_path(), api::INSIGHTS)
            .await?
            .with_context(|| {
                format!(
                    "no Application Insights component {} in {}; deploy first",
                    names.insights, names.group
                )
            })?;
        let app_id = insights
            .pointer("/properties/AppId")
            .and_then(Json::as_str)
            .context("the Application Insights component has no AppId")?;
        logs::query(
            &self.arm,
            &self.config.insights,
            &self.config.insights_scope(),
            app_id,
            query,
        )
        .await
    }

    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo> {
        let names = Names::new(service, &self.config);
        let mut info = ServiceInfo {
            provider: "azure".into(),
            service: service.name.clone(),
            stage: service.stage.clone(),
            region: Some(self.config.region.clone()),
            functions: Vec::new(),
            endpoints: Vec::new(),
            details: BTreeMap::new(),
        };
        info.details
            .insert("resource group".into(), names.group.clone());
        let group = self.arm.get(&names.group_path, api::GROUPS).await?;
        let app = match group {
            Some(_) => self.arm.get(&names.app_path(), api::WEB).await?,
            None => None,
        };
        let Some(app) = app.filter(|a| spec::belongs_to(a, service)) else {
            return Ok(info);
        };
        info.details.insert("app".into(), names.app.clone());
        info.details.insert("plan".into(), names.plan.clone());
        let runtime = app
            .pointer("/properties/functionAppConfig/runtime")
            .map(|r| {
                format!(
                    "{} {}",
                    r.get("name").and_then(Json::as_str).unwrap_or("?"),
                    r.get("version").and_then(Json::as_str).unwrap_or("?")
                )
            });
        if let Some(runtime) = &runtime {
            info.details.insert("runtime".into(), runtime.clone());
        }
        if let Some(memory) =
            app.pointer("/properties/functionAppConfig/scaleAndConcurrency/instanceMemoryMB")
        {
            info.details
                .insert("instance memory MB".into(), memory.to_string());
        }
        if let Some(host) = app
            .pointer("/properties/defaultHostName")
            .and_then(Json::as_str)
        {
            info.details.insert("host".into(), host.to_string());
        }
        let last_modified = app
            .pointer("/properties/lastModifiedTimeUtc")
            .and_then(Json::as_str)
            .map(str::to_string);
        let state = app
            .pointer("/properties/state")
            .and_then(Json::as_str)
            .map(str::to_string);
        for (name, fields) in deploy::live_functions(Some(&app)) {
            info.functions.push(FunctionInfo {
                deployed_name: format!("{}/{name}", names.app),
                name,
                runtime: fields.get("runtime").cloned(),
                memory_size: fields.get("memorySize").and_then(|m| m.parse().ok()),
                timeout: fields.get("timeout").and_then(|t| t.parse().ok()),
                code_sha256: fields.get("code").cloned(),
                last_modified: last_modified.clone(),
                version: None,
                state: state.clone(),
            });
        }
        info.endpoints = deploy::endpoints(&self.arm, &names, service).await?;
        Ok(info)
    }

    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>> {
        let names = Names::new(service, &self.config);
        let Some(group) = self.arm.get(&names.group_path, api::GROUPS).await? else {
            return Ok(Vec::new());
        };
        let app = self.arm.get(&names.app_path(), api::WEB).await?;
        let app = app.filter(|a| spec::belongs_to(a, service));
        let mut removed: Vec<Removed> = deploy::live_functions(app.as_ref())
            .into_keys()
            .map(|name| Removed {
                kind: ResourceKind::Function,
                name: format!("{}/{name}", names.app),
            })
            .collect();
        if self.config.own_group && spec::belongs_to(&group, service) {
            self.arm.delete(&names.group_path, api::GROUPS).await?;
            if app.is_some() {
                removed.push(Removed {
                    kind: ResourceKind::App,
                    name: names.app.clone(),
                });
            }
            removed.push(Removed {
                kind: ResourceKind::Group,
                name: names.group.clone(),
            });
            return Ok(removed);
        }
        let resources = [
            (
                ResourceKind::App,
                names.app_path(),
                api::WEB,
                names.app.clone(),
            ),
            (
                ResourceKind::App,
                names.plan_path(),
                api::WEB,
                names.plan.clone(),
            ),
            (
                ResourceKind::Other,
                names.insights_path(),
                api::INSIGHTS,
                names.insights.clone(),
            ),
            (
                ResourceKind::Storage,
                names.storage_path(),
                api::STORAGE,
                names.storage.clone(),
            ),
        ];
        for (kind, path, version, name) in resources {
            let Some(record) = self.arm.get(&path, version).await? else {
                continue;
            };
            if spec::belongs_to(&record, service) && self.arm.delete(&path, version).await? {
                removed.push(Removed { kind, name });
            }
        }
        Ok(removed)
    }
}
