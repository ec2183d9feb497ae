//! Google credentials: service-account keys (an RS256-signed JWT exchanged at the key's own
//! `token_uri`), gcloud's `authorized_user` ADC file (the refresh-token flow) and the metadata
//! server. Access tokens (scope `cloud-platform`) are cached until shortly before they expire;
//! ID tokens (for calling a function's URL) are fetched per audience. Every key, secret and
//! token is registered with the redactor as soon as it is read, and `Debug` never shows one.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use reqwest::Url;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value as Json, json};

use crate::http::{self, HttpClient, Idempotency, TemporaryToken, TokenCache, register_secret};

/// The OAuth scope every call uses.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// One source of tokens.
pub enum Credential {
    /// A service-account key file.
    ServiceAccount {
        /// `client_email`.
        email: String,
        /// The parsed private key.
        key: Box<RsaKeyPair>,
        /// `token_uri`.
        token_uri: String,
        /// `project_id`.
        project_id: Option<String>,
    },
    /// gcloud's `authorized_user` ADC file.
    AuthorizedUser {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: String,
        /// `refresh_token`.
        refresh_token: String,
        /// `token_uri` (Google's when absent).
        token_uri: String,
        /// `quota_project_id`.
        project_id: Option<String>,
    },
    /// The metadata server at this base URL.
    Metadata {
        /// `http://169.254.169.254/` or `GCE_METADATA_HOST`.
        base: Url,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ServiceAccount { email, .. } => {
                write!(f, "ServiceAccount({email}, key redacted)")
            }
            Credential::AuthorizedUser { .. } => f.write_str("AuthorizedUser(redacted)"),
            Credential::Metadata { base } => write!(f, "Metadata({base})"),
        }
    }
}

fn field(json: &Json, key: &str, path: &Path) -> anyhow::Result<String> {
    json.get(key)
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("{} has no `{key}`", path.display()))
}

/// PEM text → DER bytes of its first block.
pub fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----") && !line.is_empty())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .context("the private key is not valid PEM")
}

impl Credential {
    /// Reads a key file (`service_account` or `authorized_user`).
    pub fn from_file(path: &Path) -> anyhow::Result<Credential> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let json: Json = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON key file", path.display()))?;
        Credential::from_json(&json, path)
    }

    /// Parses key-file JSON; `path` is only for messages.
    pub fn from_json(json: &Json, path: &Path) -> anyhow::Result<Credential> {
        match json.get("type").and_then(Json::as_str) {
            Some("service_account") => {
                let pem = field(json, "private_key", path)?;
                register_secret(&pem);
                let der = pem_to_der(&pem)?;
                let key = RsaKeyPair::from_pkcs8(&der).map_err(|error| {
                    anyhow::anyhow!(
                        "the private_key of {} is not an RSA PKCS#8 key ({error})",
                        path.display()
                    )
                })?;
                Ok(Credential::ServiceAccount {
                    email: field(json, "client_email", path)?,
                    key: Box::new(key),
                    token_uri: json
                        .get("token_uri")
                        .and_then(Json::as_str)
                        .unwrap_or(DEFAULT_TOKEN_URI)
                        .to_string(),
                    project_id: json
                        .get("project_id")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                })
            }
            Some("authorized_user") => {
                let client_secret = field(json, "client_secret", path)?;
                let refresh_token = field(json, "refresh_token", path)?;
                register_secret(&client_secret);
                register_secret(&refresh_token);
                Ok(Credential::AuthorizedUser {
                    client_id: field(json, "client_id", path)?,
                    client_secret,
                    refresh_token,
                    token_uri: json
                        .get("token_uri")
                        .and_then(Json::as_str)
                        .unwrap_or(DEFAULT_TOKEN_URI)
                        .to_string(),
                    project_id: json
                        .get("quota_project_id")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                })
            }
            other => anyhow::bail!(
                "{} is a `{}` credential; stratus reads service_account keys and gcloud's authorized_user ADC file\n  help: create a key with `gcloud iam service-accounts keys create`",
                path.display(),
                other.unwrap_or("untyped")
            ),
        }
    }

    /// The project the credential names, if any.
    pub fn project_id(&self) -> Option<String> {
        match self {
            Credential::ServiceAccount { project_id, .. }
            | Credential::AuthorizedUser { project_id, .. } => project_id.clone(),
            Credential::Metadata { .. } => None,
        }
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An RS256 JWT with `claims` (plus `iss`, `aud`, `iat`, `exp`) signed by `key`.
pub fn sign_jwt(
    key: &RsaKeyPair,
    email: &str,
    token_uri: &str,
    claims: &Json,
) -> anyhow::Result<String> {
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let now = now_secs();
    let mut body = json!({"iss": email, "aud": token_uri, "iat": now, "exp": now + 3600});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), claims.as_object()) {
        body.extend(extra.clone());
    }
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(body.to_string().as_bytes())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| anyhow::anyhow!("signing the token request failed"))?;
    Ok(format!("{input}.{}", b64url(&signature)))
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let encoded: String = url_encode(v);
            format!("{k}={encoded}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Access and ID tokens for one credential.
#[derive(Debug)]
pub struct Tokens {
    credential: Credential,
    http: HttpClient,
    access: TokenCache<String>,
}

impl Tokens {
    /// Tokens from `credential`, fetched over `http`.
    pub fn new(credential: Credential, http: HttpClient) -> Tokens {
        Tokens {
            credential,
            http,
            access: TokenCache::new(Duration::from_secs(300)),
        }
    }

    /// A `cloud-platform` access token, cached until five minutes before it expires.
    pub async fn access_token(&self) -> anyhow::Result<String> {
        self.access
            .get_or_insert_with(|| async {
                let answer = self.fetch(None).await?;
                let token = answer
                    .get("access_token")
                    .and_then(Json::as_str)
                    .ok_or_else(|| anyhow::anyhow!("the token endpoint sent no access_token"))?
                    .to_string();
                register_secret(&token);
                let expires = answer
                    .get("expires_in")
                    .and_then(Json::as_u64)
                    .unwrap_or(3600);
                Ok::<_, anyhow::Error>(TemporaryToken {
                    token,
                    expiry: Some(Instant::now() + Duration::from_secs(expires)),
                })
            })
            .await
    }

    /// Forgets the cached access token (after a 401).
    pub async fn invalidate(&self) {
        self.access.invalidate().await;
    }

    /// An ID token whose audience is `audience` (a function URL).
    pub async fn id_token(&self, audience: &str) -> anyhow::Result<String> {
        let answer = self.fetch(Some(audience)).await?;
        let token = answer
            .get("id_token")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the token endpoint sent no id_token\n  help: user credentials need the \
                     `openid` scope: run `gcloud auth application-default login` again"
                )
            })?
            .to_string();
        register_secret(&token);
        Ok(token)
    }

    /// One token request; `audience` asks for an ID token.
    async fn fetch(&self, audience: Option<&str>) -> anyhow::Result<Json> {
        let client = self.http.inner();
        let request = match &self.credential {
            Credential::ServiceAccount {
                email,
                key,
                token_uri,
                ..
            } => {
                let claims = match audience {
                    Some(audience) => json!({ "target_audience": audience }),
                    None => json!({ "scope": SCOPE }),
                };
                let assertion = sign_jwt(key, email, token_uri, &claims)?;
                client
                    .post(token_uri.as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form(&[
                        ("grant_type", JWT_GRANT),
                        ("assertion", &assertion),
                    ]))
            }
            Credential::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => client
                .post(token_uri.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("refresh_token", refresh_token),
                ])),
            Credential::Metadata { base } => {
                let path = match audience {
                    Some(audience) => format!(
                        "computeMetadata/v1/instance/service-accounts/default/identity?audience={}&format=full",
                        url_encode(audience)
                    ),
                    None => "computeMetadata/v1/instance/service-accounts/default/token".into(),
                };
                let url = base.join(&path).context("building the metadata URL")?;
                let response = self
                    .http
                    .send(
                        client.get(url).header("Metadata-Flavor", "Google"),
                        Idempotency::ByMethod,
                    )
                    .await?;
                let response = http::error_for_status(response, "GET").await?;
                let text = response
                    .text()
                    .await
                    .context("reading the metadata answer")?;
                return Ok(match audience {
                    Some(_) => json!({ "id_token": text.trim() }),
                    None => serde_json::from_str(&text)
                        .context("the metadata server's token answer is not JSON")?,
                });
            }
        };
        // A token request only mints a token: repeating it is harmless.
        let response = self.http.send(request, Idempotency::Safe).await?;
        let response = http::error_for_status(response, "POST")
            .await
            .context("the token request was refused (is the key revoked or the clock off?)")?;
        response
            .json()
            .await
            .context("the token endpoint's answer is not JSON")
    }
}
