//! Where the gcp provider finds its project, region, endpoints and credentials.
//!
//! Credentials follow Application Default Credentials, the order Google's client libraries
//! use: the manifest's `provider.credentials` (a key file path, `~` expanded), then
//! `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's ADC file
//! (`~/.config/gcloud/application_default_credentials.json`, or under `CLOUDSDK_CONFIG`), then
//! the metadata server (when `GCE_METADATA_HOST` names one or the machine is a Google Compute
//! Engine VM). The project is `provider.project`, else the key file's `project_id`, else
//! `GOOGLE_CLOUD_PROJECT`. Endpoints default to Google's and follow gcloud's
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS` / `..._LOGGING` variables.

use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::Url;
use serde_json::Value as Json;

use super::credential::Credential;
use crate::model::{ProviderKind, Service};

/// Cloud Functions' default endpoint.
pub const FUNCTIONS_ENDPOINT: &str = "https://cloudfunctions.googleapis.com/";
/// Cloud Logging's default endpoint.
pub const LOGGING_ENDPOINT: &str = "https://logging.googleapis.com/";
/// The region when the manifest names none.
pub const DEFAULT_REGION: &str = "us-central1";

/// Everything needed to talk to one project and region.
#[derive(Debug)]
pub struct GcpConfig {
    /// The project id.
    pub project: String,
    /// The region (`us-central1`).
    pub region: String,
    /// Cloud Functions base URL (ends with `/`; `v2/...` is appended).
    pub functions_endpoint: Url,
    /// Cloud Logging base URL (ends with `/`).
    pub logging_endpoint: Url,
    /// The credential.
    pub credential: Credential,
    /// Where the credential came from, for messages (never its content).
    pub source: String,
}

/// A base URL that ends with `/`, so `join("v2/...")` appends.
pub fn base_url(text: &str, variable: &str) -> anyhow::Result<Url> {
    let with_slash = format!("{}/", text.trim().trim_end_matches('/'));
    let url = Url::parse(&with_slash)
        .with_context(|| format!("{variable} `{text}` is not a URL (e.g. https://host/)"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "{variable} `{text}` must be an http(s) URL"
    );
    Ok(url)
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

impl GcpConfig {
    /// Reads the process environment and the home directory.
    pub fn from_env(service: &Service) -> anyhow::Result<GcpConfig> {
        let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        GcpConfig::resolve(service, &lookup, dirs::home_dir().as_deref())
    }

    /// Resolves the configuration from `service`, variables (`lookup`) and `home`.
    pub fn resolve(
        service: &Service,
        lookup: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> anyhow::Result<GcpConfig> {
        let extra = &service.provider.extra;
        let mut looked = Vec::new();
        let mut found: Option<(Credential, String)> = None;
        let manifest_key = extra.get("credentials").and_then(Json::as_str);
        let mut candidates: Vec<(PathBuf, String)> = Vec::new();
        match manifest_key {
            Some(path) => {
                let path = expand_home(path, home);
                let path = if path.is_relative() {
                    service.root.join(path)
                } else {
                    path
                };
                candidates.push((path, "provider.credentials".into()));
            }
            None => looked.push("provider.credentials (not set)".to_string()),
        }
        match lookup("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(path) => candidates.push((
                expand_home(&path, home),
                "GOOGLE_APPLICATION_CREDENTIALS".into(),
            )),
            None => looked.push("GOOGLE_APPLICATION_CREDENTIALS (not set)".to_string()),
        }
        // The first two must exist when named: a wrong path is a mistake worth stopping on.
        if let Some((path, source)) = candidates.first() {
            let credential = Credential::from_file(path)
                .with_context(|| format!("reading the key file {source} names"))?;
            found = Some((credential, format!("{source} ({})", path.display())));
        }
        if found.is_none() {
            let gcloud = lookup("CLOUDSDK_CONFIG")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".config/gcloud")));
            if let Some(dir) = gcloud {
                let adc = dir.join("application_default_credentials.json");
                if adc.is_file() {
                    let credential = Credential::from_file(&adc)?;
                    found = Some((credential, format!("gcloud ADC file ({})", adc.display())));
                } else {
                    looked.push(format!("{} (missing)", adc.display()));
                }
            }
        }
        if found.is_none() {
            let host = lookup("GCE_METADATA_HOST").or_else(|| {
                std::fs::read_to_string("/sys/class/dmi/id/product_name")
                    .ok()
                    .filter(|name| name.contains("Google"))
                    .map(|_| "169.254.169.254".to_string())
            });
            match host {
                Some(host) => {
                    let base = base_url(&format!("http://{host}"), "GCE_METADATA_HOST")?;
                    found = Some((Credential::Metadata { base }, "metadata server".into()));
                }
                None => looked.push(
                    "the metadata server (not on Google Compute Engine, GCE_METADATA_HOST not set)"
                        .to_string(),
                ),
            }
        }
        let Some((credential, source)) = found else {
            anyhow::bail!(
                "no Google Cloud credentials found; stratus looked at:\n  - {}\n  help: set \
                 provider.credentials to a service-account key file, export \
                 GOOGLE_APPLICATION_CREDENTIALS=/path/key.json, or run \
                 `gcloud auth application-default login`",
                looked.join("\n  - ")
            );
        };
        let project = extra
            .get("project")
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| credential.project_id())
            .or_else(|| lookup("GOOGLE_CLOUD_PROJECT"))
            .filter(|p| !p.trim().is_empty());
        let Some(project) = project else {
            anyhow::bail!(
                "no Google Cloud project is set (credentials from {source})\n  help: set \
                 provider.project in the manifest, or export GOOGLE_CLOUD_PROJECT"
            );
        };
        let region = match service.provider.name {
            ProviderKind::Google => service.region.clone(),
            // A manifest written for another cloud names that cloud's region.
            _ => None,
        }
        .or_else(|| lookup("CLOUDSDK_FUNCTIONS_REGION"))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let functions_endpoint = match lookup("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS") {
            Some(url) => base_url(&url, "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS")?,
            None => base_url(FUNCTIONS_ENDPOINT, "the default endpoint")?,
        };
        let logging_endpoint = match lookup("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING") {
            Some(url) => base_url(&url, "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING")?,
            None => base_url(LOGGING_ENDPOINT, "the default endpoint")?,
        };
        Ok(GcpConfig {
            project,
            region,
            functions_endpoint,
            logging_endpoint,
            credential,
            source,
        })
    }
}
