//! The `aws` provider: Lambda through the official AWS SDK for Rust.
//!
//! "The cloud is the state": every plan is read from what is live — the execution role,
//! functions tagged `stratus:service` / `stratus:stage`, the HTTP API named
//! `{service}-{stage}`, function URLs and EventBridge rules — and diffed with the manifest.
//! Concerns are split by file: [`config`] (credentials, region, endpoint, retries, the call
//! log), [`check`] (Lambda's rules before any call), [`role`], [`functions`], [`events`],
//! [`schedules`], [`plan`], [`deploy`] (apply), [`invoke`], [`logs`], and [`info`] (info and remove).

pub mod buckets;
pub mod check;
pub mod config;
pub mod cors;
pub mod deploy;
pub mod events;
pub mod functions;
pub mod info;
pub mod invoke;
pub mod logs;
pub mod plan;
pub mod role;
pub mod schedules;
pub mod sources;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use self::config::{CallLog, Clients};
use super::{
    Applied, ApplyError, Invocation, InvokeRequest, LogQuery, LogRecord, Plan, Provider, Removed,
    Scope, ServiceInfo, Target,
};
use crate::diagnostic::Diagnostics;
use crate::model::{ProviderKind, Service};
use crate::package::{Packaged, SizeLimits};

/// Lambda's package limits: 50 MB zipped for a direct upload (larger zips go through S3),
/// 250 MB unzipped.
pub const SIZE_LIMITS: SizeLimits = SizeLimits {
    zipped: 50 * 1024 * 1024,
    unzipped: 250 * 1024 * 1024,
};

/// Deploys to AWS Lambda. Clients are built on first use, from the service's region and
/// profile (or from the configuration given to [`AwsProvider::with_config`]).
#[derive(Debug, Default)]
pub struct AwsProvider {
    config: Option<SdkConfig>,
    clients: OnceCell<Clients>,
    log: CallLog,
}

impl AwsProvider {
    /// Resolves credentials, region and endpoint the way the AWS CLI does, on first use.
    pub fn from_env() -> AwsProvider {
        AwsProvider::default()
    }

    /// Uses `config` as is (tests point it at an emulator; embedders bring their own).
    pub fn with_config(config: SdkConfig) -> AwsProvider {
        AwsProvider {
            config: Some(config),
            ..AwsProvider::default()
        }
    }

    /// Every AWS operation this provider has called, as `Service:Operation`.
    pub fn call_log(&self) -> &CallLog {
        &self.log
    }

    async fn clients(&self, service: &Service) -> anyhow::Result<&Clients> {
        self.clients
            .get_or_try_init(|| async {
                let config = match &self.config {
                    Some(config) => config.clone(),
                    None => config::load(service).await,
                };
                Clients::new(&config, &self.log).await
            })
            .await
    }
}

/// Turns an SDK error into one a user can read: AWS's error code and message for service
/// errors (`ResourceNotFoundException: Function not found: ...`), the cause chain otherwise
/// (timeouts, connection failures).
pub(crate) fn describe<E, R>(error: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            anyhow::anyhow!(
                "{}: {}",
                inner.code().unwrap_or("UnknownError"),
                inner.message().unwrap_or("(no message)")
            )
        }
        other => anyhow::anyhow!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        ),
    }
}

/// What an AWS call answered, with "the resource does not exist" (`ResourceNotFoundException`)
/// as `None` and every other error described by [`describe`].
pub(crate) fn found<T, E, R>(result: Result<T, SdkError<E, R>>) -> anyhow::Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error)
            if error.as_service_error().and_then(|e| e.code())
                == Some("ResourceNotFoundException") =>
        {
            Ok(None)
        }
        Err(error) => Err(describe(error)),
    }
}

/// AWS Lambda's packaging rules (checks, generated files, dependencies, limits): known without
/// credentials or network, so `stratus package` works anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsTarget;

impl Target for AwsTarget {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn check(&self, service: &Service, scope: &Scope) -> Diagnostics {
        check::check(service, scope)
    }

    fn size_limits(&self) -> Option<SizeLimits> {
        Some(SIZE_LIMITS)
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn target(&self) -> &dyn Target {
        &AwsTarget
    }

    async fn plan(
        &self,
        service: &Service,
        packaged: &Packaged,
        scope: &Scope,
    ) -> anyhow::Result<Plan> {
        let clients = self.clients(service).await?;
        plan::plan(clients, service, packaged, scope).await
    }

    async fn apply(
        &self,
        service: &Service,
        packaged: &Packaged,
        plan: &Plan,
    ) -> Result<Applied, ApplyError> {
        let clients = match self.clients(service).await {
            Ok(clients) => clients,
            Err(error) => {
                let pending: Vec<super::Change> = plan
                    .changes
                    .iter()
                    .filter(|c| c.action != super::Action::Unchanged)
                    .cloned()
                    .collect();
                if pending.is_empty() {
                    return Ok(Applied::default());
                }
                return Err(ApplyError {
                    cause: Some(error),
                    done: Vec::new(),
                    failed: Vec::new(),
                    pending,
                });
            }
        };
        deploy::apply(clients, service, packaged, plan).await
    }

    async fn invoke(
        &self,
        service: &Service,
        request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        let clients = self.clients(service).await?;
        invoke::invoke(clients, &service.deployed_name(&request.function), request).await
    }

    async fn logs(&self, service: &Service, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        let clients = self.clients(service).await?;
        logs::read(clients, &service.deployed_name(&query.function), query).await
    }

    async fn info(&self, service: &Service) -> anyhow::Result<ServiceInfo> {
        let clients = self.clients(service).await?;
        info::info(clients, service).await
    }

    async fn remove(&self, service: &Service) -> anyhow::Result<Vec<Removed>> {
        let clients = self.clients(service).await?;
        info::remove(clients, service).await
    }
}
