//! AWS configuration: credentials, region and endpoint exactly as the AWS CLI resolves them.
//!
//! `aws-config` does the resolving (environment, `~/.aws/config` and `credentials` profiles,
//! SSO, `credential_process`, web identity, ECS and IMDS; `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>` variants). stratus adds the profile and region the
//! manifest names, its own HTTP client (rustls with the `ring` crypto provider, so no C
//! toolchain is needed to build), tuned retries, and one clear message when no credential is
//! found. [`Clients`] holds one client per AWS service, all recording the calls they make.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::model::Service;

/// The retry policy for every AWS call: throttling and transient errors (5xx, timeouts,
/// connection resets) are retried with jittered exponential backoff.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// stratus's HTTP client for AWS: hyper with rustls on the `ring` crypto provider and the
/// system's root certificates.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads the shared AWS configuration the way the AWS CLI would, with the manifest's
/// `provider.profile` and region (`--region` / `provider.region`) taking precedence.
pub async fn load(service: &Service) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config());
    if let Some(profile) = profile(service) {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &service.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// `provider.profile`, when the manifest names one (else `AWS_PROFILE` / `default` applies).
pub fn profile(service: &Service) -> Option<String> {
    service
        .provider
        .extra
        .get("profile")
        .and_then(|value| value.as_str())
        .map(str::to_string)
}

/// Makes sure a region and a credential can be found; answers one clear message otherwise.
pub async fn ensure_ready(config: &SdkConfig) -> anyhow::Result<String> {
    let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
        anyhow::anyhow!(
            "no AWS region is set\n  help: pass --region, set provider.region in serverless.yml, \
             set AWS_REGION, or add `region = ...` to the profile in ~/.aws/config"
        )
    })?;
    use aws_credential_types::provider::ProvideCredentials;
    let problem = match config.credentials_provider() {
        None => Some("no credential provider is configured".to_string()),
        Some(provider) => provider
            .provide_credentials()
            .await
            .err()
            .map(|error| error.to_string()),
    };
    if let Some(problem) = problem {
        anyhow::bail!(
            "no AWS credentials found ({problem})\n  stratus looked, like the AWS CLI, at: \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or provider.profile in \
             ~/.aws/credentials and ~/.aws/config (including sso_* and credential_process), \
             AWS_WEB_IDENTITY_TOKEN_FILE, the ECS container endpoint and the EC2 instance \
             metadata service\n  help: run `aws configure` (or `aws sso login --profile NAME`), \
             or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
    }
    Ok(region)
}

/// The operations an AWS client made, as `Service:Operation` (`Lambda:UpdateFunctionCode`).
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    /// The calls that change something (anything but `Get*`, `List*`, `Describe*`, `Filter*`,
    /// `Head*`, `Invoke`).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| is_write(call))
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        if let Ok(mut calls) = self.0.lock() {
            calls.clear();
        }
    }
}

/// Whether `Service:Operation` writes.
pub fn is_write(call: &str) -> bool {
    let operation = call.rsplit(':').next().unwrap_or(call);
    const READS: [&str; 7] = [
        "Get", "List", "Describe", "Filter", "Head", "Invoke", "Lookup",
    ];
    !READS.iter().any(|prefix| operation.starts_with(prefix))
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "stratus-call-log"
    }

    // Runs once per operation (before the retry loop), after the operation's own
    // configuration — which names it — is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>()
            && let Ok(mut calls) = self.0.lock()
        {
            calls.push(format!("{}:{}", metadata.service(), metadata.name()));
        }
        Ok(())
    }
}

/// One client per AWS service stratus talks to, sharing one configuration and call log.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The region in force.
    pub region: String,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// API Gateway v2 (HTTP APIs).
    pub apigw: aws_sdk_apigatewayv2::Client,
    /// EventBridge (schedules).
    pub events: aws_sdk_eventbridge::Client,
    /// S3 (the deployment bucket for large artifacts).
    pub s3: aws_sdk_s3::Client,
    /// STS (the account id, for the default deployment bucket name).
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Builds every client from `config`, each recording its calls in `log`.
    pub async fn new(config: &SdkConfig, log: &CallLog) -> anyhow::Result<Clients> {
        let region = ensure_ready(config).await?;
        // Path-style S3 addressing when an endpoint override points at an emulator.
        let path_style = config.endpoint_url().is_some();
        Ok(Clients {
            region,
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
            apigw: aws_sdk_apigatewayv2::Client::from_conf(
                aws_sdk_apigatewayv2::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(path_style)
                    .interceptor(log.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            ),
        })
    }

    /// The account id of the credentials in use.
    pub async fn account_id(&self) -> anyhow::Result<String> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .context("asking STS which account the credentials belong to")?;
        identity
            .account()
            .map(str::to_string)
            .context("STS GetCallerIdentity answered without an account id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_writes() {
        assert!(!is_write("Lambda:GetFunction"));
        assert!(!is_write("Lambda:ListTags"));
        assert!(!is_write("CloudWatch Logs:FilterLogEvents"));
        assert!(is_write("Lambda:UpdateFunctionCode"));
        assert!(is_write("IAM:CreateRole"));
        assert!(is_write("Lambda:TagResource"));
    }
}
