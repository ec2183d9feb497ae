//! Entra ID access tokens, found the way Azure's own identity libraries look for them: a
//! service principal with a secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`), then workload identity / GitHub OIDC (`AZURE_FEDERATED_TOKEN_FILE`
//! sent as a client assertion), then the Azure CLI (`az account get-access-token`).
//!
//! Tokens are cached per scope until five minutes before they expire, registered with the
//! redactor as soon as they arrive, and never printed (`Debug` shows the method only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use reqwest::Url;
use serde_json::Value as Json;
use tokio::sync::Mutex;

use super::config::env;
use crate::http::{self, HttpClient, Idempotency, TemporaryToken, TokenCache, register_secret};

/// How tokens are obtained.
#[derive(Clone)]
pub enum Method {
    /// Client-credentials grant with a secret.
    Secret {
        /// Tenant id.
        tenant: String,
        /// Application (client) id.
        client: String,
        /// The secret.
        secret: String,
    },
    /// Client-credentials grant with a federated token read from a file.
    Federated {
        /// Tenant id.
        tenant: String,
        /// Application (client) id.
        client: String,
        /// The file holding the assertion (re-read for every token: it rotates).
        file: PathBuf,
    },
    /// `az account get-access-token`, with the `az` found on `PATH`.
    AzureCli {
        /// The `az` program.
        program: PathBuf,
    },
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Method {
    /// What the method is, for messages.
    pub fn label(&self) -> &'static str {
        match self {
            Method::Secret { .. } => "service principal (client secret)",
            Method::Federated { .. } => "workload identity (federated token file)",
            Method::AzureCli { .. } => "Azure CLI",
        }
    }

    /// The first method the environment offers, in the identity libraries' order.
    pub fn from_env() -> anyhow::Result<Method> {
        let tenant = env("AZURE_TENANT_ID");
        let client = env("AZURE_CLIENT_ID");
        if let (Some(tenant), Some(client)) = (tenant.clone(), client.clone()) {
            if let Some(secret) = env("AZURE_CLIENT_SECRET") {
                register_secret(&secret);
                return Ok(Method::Secret {
                    tenant,
                    client,
                    secret,
                });
            }
            if let Some(file) = env("AZURE_FEDERATED_TOKEN_FILE") {
                return Ok(Method::Federated {
                    tenant,
                    client,
                    file: PathBuf::from(file),
                });
            }
        }
        if let Some(program) = az_on_path() {
            return Ok(Method::AzureCli { program });
        }
        anyhow::bail!(
            "no Azure credentials found\n  help: set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_CLIENT_SECRET (a service principal), or AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_FEDERATED_TOKEN_FILE (workload identity, GitHub OIDC), or install the Azure \
             CLI and run `az login`"
        )
    }
}

fn az_on_path() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("az"))
        .find(|az| az.is_file())
}

/// Fetches and caches tokens per scope. `Debug` shows the method and authority, never a token.
pub struct Credential {
    method: Method,
    authority: Url,
    client: HttpClient,
    caches: Mutex<BTreeMap<String, Arc<TokenCache<String>>>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("method", &self.method)
            .field("authority", &self.authority.as_str())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// A credential using `method` against `authority`.
    pub fn new(method: Method, authority: Url, client: HttpClient) -> Credential {
        Credential {
            method,
            authority,
            client,
            caches: Mutex::new(BTreeMap::new()),
        }
    }

    /// How tokens are obtained.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// A bearer token for `scope` (`https://management.azure.com/.default`).
    pub async fn token(&self, scope: &str) -> anyhow::Result<String> {
        let cache = {
            let mut caches = self.caches.lock().await;
            caches
                .entry(scope.to_string())
                .or_insert_with(|| Arc::new(TokenCache::new(Duration::from_secs(300))))
                .clone()
        };
        cache
            .get_or_insert_with(|| self.fetch(scope))
            .await
            .with_context(|| format!("getting an Azure token ({})", self.method.label()))
    }

    /// Forgets the token of `scope` (after a 401).
    pub async fn invalidate(&self, scope: &str) {
        if let Some(cache) = self.caches.lock().await.get(scope) {
            cache.invalidate().await;
        }
    }

    async fn fetch(&self, scope: &str) -> anyhow::Result<TemporaryToken<String>> {
        let (tenant, client, proof) = match &self.method {
            Method::AzureCli { program } => return az_token(program, scope).await,
            Method::Secret {
                tenant,
                client,
                secret,
            } => (tenant, client, vec![("client_secret", secret.clone())]),
            Method::Federated {
                tenant,
                client,
                file,
            } => {
                let assertion = std::fs::read_to_string(file).with_context(|| {
                    format!("reading AZURE_FEDERATED_TOKEN_FILE {}", file.display())
                })?;
                let assertion = assertion.trim().to_string();
                register_secret(&assertion);
                (
                    tenant,
                    client,
                    vec![
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                        ),
                        ("client_assertion", assertion),
                    ],
                )
            }
        };
        let url = self
            .authority
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .context("building the token URL")?;
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client.clone()),
            ("scope", scope.to_string()),
        ];
        form.extend(proof);
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .client
            .inner()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let response = self.client.send(request, Idempotency::Safe).await?;
        let response = http::error_for_status(response, "POST").await?;
        let answer: Json = response.json().await.context("reading the token answer")?;
        let token = answer
            .get("access_token")
            .and_then(Json::as_str)
            .context("the token answer has no access_token")?
            .to_string();
        register_secret(&token);
        let expires_in = answer
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3600);
        Ok(TemporaryToken {
            token,
            expiry: Some(Instant::now() + Duration::from_secs(expires_in)),
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

async fn az_token(program: &Path, scope: &str) -> anyhow::Result<TemporaryToken<String>> {
    let resource = scope.trim_end_matches(".default");
    let output = tokio::process::Command::new(program)
        .args([
            "account",
            "get-access-token",
            "--resource",
            resource,
            "-o",
            "json",
        ])
        .output()
        .await
        .context("running `az account get-access-token`")?;
    anyhow::ensure!(
        output.status.success(),
        "`az account get-access-token` failed: {}\n  help: run `az login`",
        http::redact(String::from_utf8_lossy(&output.stderr).trim())
    );
    let answer: Json =
        serde_json::from_slice(&output.stdout).context("reading the Azure CLI's token")?;
    let token = answer
        .get("accessToken")
        .and_then(Json::as_str)
        .context("the Azure CLI's answer has no accessToken")?
        .to_string();
    register_secret(&token);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expiry = answer
        .get("expires_on")
        .and_then(Json::as_u64)
        .map(|at| Instant::now() + Duration::from_secs(at.saturating_sub(now)));
    Ok(TemporaryToken { token, expiry })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("a b&c=/"), "a+b%26c%3D%2F");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let method = Method::Secret {
            tenant: "t".into(),
            client: "c".into(),
            secret: "hunter2-secret".into(),
        };
        assert!(!format!("{method:?}").contains("hunter2"));
    }
}
