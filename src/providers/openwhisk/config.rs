//! Where the OpenWhisk provider finds its API host, credentials and namespace.
//!
//! The order follows the `wsk` CLI and the Serverless OpenWhisk plugin, later sources winning:
//! the properties file (`WSK_CONFIG_FILE`, else `~/.wskprops`: `APIHOST`, `AUTH`, `NAMESPACE`,
//! `IGNORE_CERTS`), then the `OW_APIHOST`, `OW_AUTH`, `OW_NAMESPACE` (and `OW_IGNORE_CERTS`)
//! environment variables, then the manifest's `provider.namespace`, `provider.apihost` and
//! `provider.ignore_certs`. `AUTH` is `uuid:key`, sent as HTTP Basic auth; it is registered with
//! the redactor as soon as it is read, so it is never printed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::Url;
use serde_json::Value as Json;

use crate::http::register_secret;
use crate::model::Service;

/// A `uuid:key` pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The part before the colon.
    pub user: String,
    /// The part after it.
    pub key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials((redacted))")
    }
}

impl Credentials {
    /// Parses `uuid:key`.
    pub fn parse(auth: &str) -> Option<Credentials> {
        let (user, key) = auth.trim().split_once(':')?;
        (!user.is_empty() && !key.is_empty()).then(|| Credentials {
            user: user.to_string(),
            key: key.to_string(),
        })
    }

    /// The `uuid:key` text (for the alarm feed, which takes the key in its body).
    pub fn auth_string(&self) -> String {
        format!("{}:{}", self.user, self.key)
    }
}

/// Everything needed to talk to one OpenWhisk deployment.
#[derive(Debug, Clone)]
pub struct OpenWhiskConfig {
    /// The API host as a base URL (`https://openwhisk.example`), without `/api/v1`.
    pub apihost: Url,
    /// Basic-auth credentials.
    pub credentials: Credentials,
    /// The namespace; `_` means the credentials' default namespace.
    pub namespace: String,
    /// Skip TLS certificate checks (self-signed development hosts only).
    pub ignore_certs: bool,
    /// Where the settings came from, for messages (never the values).
    pub sources: Vec<String>,
}

/// Reads environment variables; a function so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl OpenWhiskConfig {
    /// Resolves the settings for `service` from the process environment and home directory.
    pub fn from_env(service: &Service) -> anyhow::Result<OpenWhiskConfig> {
        let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        OpenWhiskConfig::resolve(service, &lookup, dirs::home_dir().as_deref())
    }

    /// Resolves the settings from `env` and the properties file under `home`.
    pub fn resolve(
        service: &Service,
        env: EnvLookup<'_>,
        home: Option<&Path>,
    ) -> anyhow::Result<OpenWhiskConfig> {
        let mut apihost: Option<String> = None;
        let mut auth: Option<String> = None;
        let mut namespace: Option<String> = None;
        let mut ignore_certs = false;
        let mut sources = Vec::new();

        let props_path: Option<PathBuf> = env("WSK_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home.map(|home| home.join(".wskprops")));
        if let Some(path) = &props_path
            && path.exists()
        {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading OpenWhisk properties from {}", path.display()))?;
            for (key, value) in parse_properties(&text) {
                match key.as_str() {
                    "APIHOST" => apihost = Some(value),
                    "AUTH" => {
                        register_secret(&value);
                        auth = Some(value);
                    }
                    "NAMESPACE" => namespace = Some(value),
                    "IGNORE_CERTS" => ignore_certs = is_true(&value),
                    _ => {}
                }
            }
            sources.push(path.display().to_string());
        }
        if let Some(value) = env("OW_APIHOST") {
            apihost = Some(value);
            sources.push("OW_APIHOST".into());
        }
        if let Some(value) = env("OW_AUTH") {
            register_secret(&value);
            auth = Some(value);
            sources.push("OW_AUTH".into());
        }
        if let Some(value) = env("OW_NAMESPACE") {
            namespace = Some(value);
            sources.push("OW_NAMESPACE".into());
        }
        if let Some(value) = env("OW_IGNORE_CERTS") {
            ignore_certs = is_true(&value);
        }
        let extra = &service.provider.extra;
        if let Some(value) = extra.get("apihost").and_then(Json::as_str) {
            apihost = Some(value.to_string());
            sources.push("provider.apihost".into());
        }
        if let Some(value) = extra.get("namespace").and_then(Json::as_str) {
            namespace = Some(value.to_string());
        }
        match extra.get("ignore_certs") {
            Some(Json::Bool(value)) => ignore_certs = *value,
            Some(Json::String(value)) => ignore_certs = is_true(value),
            _ => {}
        }
        if let Some(value) = extra.get("auth").and_then(Json::as_str) {
            register_secret(value);
            auth = Some(value.to_string());
        }

        let where_looked = format!(
            "looked in {} and the OW_APIHOST / OW_AUTH environment variables",
            props_path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.wskprops (no home directory)".into())
        );
        let Some(apihost) = apihost else {
            anyhow::bail!(
                "no OpenWhisk API host is configured ({where_looked})\n  help: run `wsk property set --apihost HOST --auth UUID:KEY`, \
                 or write APIHOST=... and AUTH=... to ~/.wskprops, or export OW_APIHOST and OW_AUTH"
            );
        };
        let Some(auth) = auth else {
            anyhow::bail!(
                "no OpenWhisk credentials are configured ({where_looked})\n  help: set AUTH=uuid:key in ~/.wskprops \
                 (or the file WSK_CONFIG_FILE names), or export OW_AUTH=uuid:key"
            );
        };
        let credentials = Credentials::parse(&auth).ok_or_else(|| {
            anyhow::anyhow!(
                "the OpenWhisk AUTH value is not of the form uuid:key (from {})\n  help: copy it from `wsk property get --auth`",
                sources.join(", ")
            )
        })?;
        // The key alone is as secret as the pair.
        register_secret(&credentials.key);
        let apihost = parse_apihost(&apihost)?;
        Ok(OpenWhiskConfig {
            apihost,
            credentials,
            namespace: namespace
                .filter(|ns| !ns.trim().is_empty())
                .unwrap_or_else(|| "_".to_string()),
            ignore_certs,
            sources,
        })
    }
}

/// `KEY=value` lines; `#` comments and blank lines skipped.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            (
                key.trim().to_ascii_uppercase(),
                value.trim().trim_matches('"').to_string(),
            )
        })
        .collect()
}

fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    )
}

/// `host`, `host:port` or a full URL → base URL (HTTPS unless a scheme says otherwise).
pub fn parse_apihost(apihost: &str) -> anyhow::Result<Url> {
    let trimmed = apihost.trim().trim_end_matches('/');
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme)
        .with_context(|| format!("the OpenWhisk API host `{trimmed}` is not a host name or URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        "the OpenWhisk API host `{trimmed}` must be an http(s) URL or a host name"
    );
    let base = url.as_str().trim_end_matches('/');
    let base = base.strip_suffix("/api/v1").unwrap_or(base);
    Url::parse(base).with_context(|| format!("the OpenWhisk API host `{trimmed}` is invalid"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::providers::openwhisk::test_support::service;

    const AUTH: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkcc";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_wskprops_from_home_and_env_overrides_it() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".wskprops"),
            format!("# comment\nAPIHOST=ow.example:8443\nAUTH={AUTH}\nNAMESPACE=team\n"),
        )
        .unwrap();
        let svc = service(&[]);
        let vars = env(&[]);
        let lookup = |name: &str| vars.get(name).cloned();
        let config = OpenWhiskConfig::resolve(&svc, &lookup, Some(home.path())).unwrap();
        assert_eq!(config.apihost.as_str(), "https://ow.example:8443/");
        assert_eq!(config.credentials.auth_string(), AUTH);
        assert_eq!(config.namespace, "team");
        assert!(!config.ignore_certs);

        let vars = env(&[
            ("OW_APIHOST", "http://127.0.0.1:3233"),
            ("OW_NAMESPACE", "other"),
        ]);
        let lookup = |name: &str| vars.get(name).cloned();
        let config = OpenWhiskConfig::resolve(&svc, &lookup, Some(home.path())).unwrap();
        assert_eq!(config.apihost.as_str(), "http://127.0.0.1:3233/");
        assert_eq!(config.namespace, "other");
        assert!(
            !format!("{config:?}").contains("123zO3"),
            "Debug never shows the key"
        );
    }

    #[test]
    fn wsk_config_file_and_manifest_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("props");
        std::fs::write(
            &file,
            format!("APIHOST=https://a.test/api/v1\nAUTH={AUTH}\n"),
        )
        .unwrap();
        let vars = env(&[("WSK_CONFIG_FILE", file.to_str().unwrap())]);
        let lookup = |name: &str| vars.get(name).cloned();
        let svc = service(&[("namespace", "ns1".into()), ("ignore_certs", true.into())]);
        let config = OpenWhiskConfig::resolve(&svc, &lookup, None).unwrap();
        assert_eq!(config.apihost.as_str(), "https://a.test/");
        assert_eq!(config.namespace, "ns1");
        assert!(config.ignore_certs);
    }

    #[test]
    fn missing_credentials_say_where_we_looked_and_what_to_do() {
        let home = tempfile::tempdir().unwrap();
        let vars = env(&[]);
        let lookup = |name: &str| vars.get(name).cloned();
        let error = OpenWhiskConfig::resolve(&service(&[]), &lookup, Some(home.path()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(".wskprops") && error.contains("OW_APIHOST"),
            "{error}"
        );
        let vars = env(&[("OW_APIHOST", "ow.test"), ("OW_AUTH", "no-colon-here")]);
        let lookup = |name: &str| vars.get(name).cloned();
        let error = OpenWhiskConfig::resolve(&service(&[]), &lookup, Some(home.path()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("uuid:key") && !error.contains("no-colon-here"),
            "{error}"
        );
    }
}
