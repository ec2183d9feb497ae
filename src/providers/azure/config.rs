//! Where the Azure provider finds its subscription, resource group, region and endpoints.
//!
//! `AZURE_SUBSCRIPTION_ID` wins over `provider.subscriptionId`; the resource group is
//! `provider.resourceGroup`, else `rg-{service}-{stage}`; the region comes from
//! `provider.region` / `provider.location` (display names such as `West Europe` and ids such as
//! `westeurope` both work). `AZURE_AUTHORITY_HOST` and `AZURE_RESOURCE_MANAGER_ENDPOINT` point
//! at sovereign clouds or test doubles; plain `http://` is accepted only with
//! `AZURE_ALLOW_HTTP=true` (emulators and tests), with a warning.

use anyhow::Context;
use reqwest::Url;
use serde_json::Value as Json;

use crate::model::Service;

/// The public cloud's Entra ID authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The public cloud's Resource Manager.
pub const DEFAULT_ARM: &str = "https://management.azure.com";
/// The public Application Insights query API.
pub const DEFAULT_INSIGHTS: &str = "https://api.applicationinsights.io";
/// The region used when the manifest names none.
pub const DEFAULT_REGION: &str = "eastus";

/// Everything the provider needs besides credentials.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// The subscription id.
    pub subscription: String,
    /// The resource group name.
    pub resource_group: String,
    /// Whether the resource group is stratus' own (`rg-{service}-{stage}`), so `remove` may
    /// delete it whole.
    pub own_group: bool,
    /// The region id (`westeurope`).
    pub region: String,
    /// Entra ID authority host.
    pub authority: Url,
    /// Resource Manager endpoint.
    pub arm: Url,
    /// Application Insights query endpoint.
    pub insights: Url,
    /// Hosts from ARM answers may be reached over plain http.
    pub allow_http: bool,
    /// `provider.prefix`, prepended to resource names.
    pub prefix: Option<String>,
}

/// Reads a variable, treating an empty value as unset.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn extra_str<'a>(service: &'a Service, key: &str) -> Option<&'a str> {
    service
        .provider
        .extra
        .get(key)
        .and_then(Json::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// A region display name or id as the id ARM uses: `West Europe` → `westeurope`.
pub fn region_id(region: &str) -> String {
    region
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether `region` is spelled the AWS way (`us-east-1`): then it is not an Azure region.
fn looks_like_aws(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() == 3 && parts[2].chars().all(|c| c.is_ascii_digit())
}

impl AzureConfig {
    /// Reads the environment and the manifest.
    pub fn from_env(service: &Service) -> anyhow::Result<AzureConfig> {
        let allow_http = env("AZURE_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let subscription = env("AZURE_SUBSCRIPTION_ID")
            .or_else(|| extra_str(service, "subscriptionId").map(str::to_string))
            .context(
                "no Azure subscription: set AZURE_SUBSCRIPTION_ID or provider.subscriptionId \
                 (`az account show --query id -o tsv` prints yours)",
            )?;
        let endpoint = |var: &str, default: &str| -> anyhow::Result<Url> {
            let text = env(var).unwrap_or_else(|| default.to_string());
            let url = Url::parse(&text).with_context(|| format!("{var} is not a URL: {text}"))?;
            check_scheme(&url, allow_http).with_context(|| format!("{var}={text}"))?;
            Ok(url)
        };
        let (resource_group, own_group) = match extra_str(service, "resourceGroup") {
            Some(group) => (group.to_string(), false),
            None => (format!("rg-{}-{}", service.name, service.stage), true),
        };
        let region = extra_str(service, "region")
            .or_else(|| extra_str(service, "location"))
            .map(str::to_string)
            .or_else(|| service.region.clone().filter(|r| !looks_like_aws(r)))
            .map(|r| region_id(&r))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        if allow_http {
            eprintln!(
                "warning: AZURE_ALLOW_HTTP=true: Azure hosts may be reached over plain http \
                 (meant for emulators and tests only)"
            );
        }
        Ok(AzureConfig {
            subscription,
            resource_group,
            own_group,
            region,
            authority: endpoint("AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY)?,
            arm: endpoint("AZURE_RESOURCE_MANAGER_ENDPOINT", DEFAULT_ARM)?,
            insights: endpoint("AZURE_APPLICATION_INSIGHTS_ENDPOINT", DEFAULT_INSIGHTS)?,
            allow_http,
            prefix: extra_str(service, "prefix").map(str::to_string),
        })
    }

    /// The base URL of a host ARM named (`properties.defaultHostName`...).
    pub fn host_url(&self, host: &str) -> anyhow::Result<Url> {
        let scheme = if self.allow_http { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{host}/"))
            .with_context(|| format!("Azure answered an invalid host name `{host}`"))
    }

    /// The token scope of the Resource Manager (`https://management.azure.com/.default`).
    pub fn arm_scope(&self) -> String {
        format!("{}/.default", self.arm.as_str().trim_end_matches('/'))
    }

    /// The token scope of the Application Insights query API.
    pub fn insights_scope(&self) -> String {
        format!("{}/.default", self.insights.as_str().trim_end_matches('/'))
    }
}

/// Refuses `http://` unless allowed.
pub fn check_scheme(url: &Url, allow_http: bool) -> anyhow::Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => anyhow::bail!(
            "plain http is refused for Azure endpoints\n  help: use https, or set \
             AZURE_ALLOW_HTTP=true for an emulator or test double"
        ),
        other => anyhow::bail!("unsupported URL scheme `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_become_ids_and_aws_regions_are_ignored() {
        assert_eq!(region_id("West Europe"), "westeurope");
        assert_eq!(region_id("westeurope"), "westeurope");
        assert!(looks_like_aws("us-east-1"));
        assert!(!looks_like_aws("westeurope"));
    }

    #[test]
    fn http_is_refused_unless_allowed() {
        let url = Url::parse("http://127.0.0.1:1").unwrap();
        assert!(check_scheme(&url, false).is_err());
        assert!(check_scheme(&url, true).is_ok());
    }
}
