//! The provider the Azure tests deploy with, pointed at the fake.

use std::time::Duration;

use reqwest::Url;
use stratus::http::{HttpConfig, RetryConfig};
use stratus::providers::azure::AzureProvider;
use stratus::providers::azure::config::AzureConfig;
use stratus::providers::azure::credential::Method;

use crate::fakes::azure::{CLIENT, FakeAzure, SECRET, SUBSCRIPTION, TENANT};

/// A short retry policy, so fault tests are quick.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(60),
        accept_invalid_certs: false,
        retry: RetryConfig {
            max_retries: 4,
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            total_timeout: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(2),
        },
    }
}

/// The settings for `fake`, resource group `rg-{service}-{stage}`.
pub fn config_for(fake: &FakeAzure, service: &str, stage: &str) -> AzureConfig {
    let url = Url::parse(&fake.url).unwrap();
    AzureConfig {
        subscription: SUBSCRIPTION.into(),
        resource_group: format!("rg-{service}-{stage}"),
        own_group: true,
        region: "westeurope".into(),
        authority: url.clone(),
        arm: url.clone(),
        insights: url,
        allow_http: true,
        prefix: None,
    }
}

/// The service principal the fake accepts.
pub fn principal() -> Method {
    Method::Secret {
        tenant: TENANT.into(),
        client: CLIENT.into(),
        secret: SECRET.into(),
    }
}

/// A provider against `fake`.
pub fn provider_for(fake: &FakeAzure, service: &str, stage: &str) -> AzureProvider {
    AzureProvider::new(config_for(fake, service, stage), principal(), http_config())
        .unwrap()
        .with_poll_interval(Duration::from_millis(10))
}

/// A project directory written from `files` and its loaded service.
pub fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, stratus::model::Service) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let service = load(dir.path());
    (dir, service)
}

/// Loads the manifest in `dir`.
pub fn load(dir: &std::path::Path) -> stratus::model::Service {
    stratus::manifest::load(&stratus::manifest::LoadOptions {
        cwd: dir.to_path_buf(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("manifest loads: {e}"))
    .service
}

/// Checks, packages and plans as `stratus plan` does.
pub async fn plan(
    provider: &AzureProvider,
    service: &stratus::model::Service,
) -> (stratus::package::Packaged, stratus::providers::Plan) {
    use stratus::providers::{Provider, Scope};
    let scope = Scope::default();
    let diagnostics = provider.target().check(service, &scope);
    assert!(!diagnostics.has_errors(), "check: {diagnostics}");
    let request = stratus::providers::package_request(
        provider.target(),
        service,
        &scope,
        service.root.join(".stratus"),
    )
    .unwrap();
    let packaged = stratus::package::package(&request).unwrap();
    let plan = provider.plan(service, &packaged, &scope).await.unwrap();
    (packaged, plan)
}

/// Plans and applies.
pub async fn deploy(
    provider: &AzureProvider,
    service: &stratus::model::Service,
) -> Result<stratus::providers::Applied, stratus::providers::ApplyError> {
    use stratus::providers::Provider;
    let (packaged, plan) = plan(provider, service).await;
    provider.apply(service, &packaged, &plan).await
}
