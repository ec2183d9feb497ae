//! The OpenWhisk REST API v1 calls stratus makes (`/api/v1/namespaces/{ns}/...`), over the
//! shared HTTP layer: Basic auth with the `uuid:key` credentials, retries on 429/5xx and
//! connection errors, `limit`/`skip` pagination, and errors that quote the controller's own
//! `{"error": ..., "code": ...}` message (redacted) with what to do about it.

use anyhow::Context;
use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value as Json;
use tokio::sync::OnceCell;

use super::config::OpenWhiskConfig;
use crate::http::{self, HttpClient, HttpConfig, Idempotency};

/// Largest page the controller serves (`limit` 0-200).
pub const PAGE_SIZE: usize = 200;
/// At most this many pages are read from one listing.
const MAX_PAGES: usize = 100;

/// The entity collections of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `actions`.
    Actions,
    /// `triggers`.
    Triggers,
    /// `rules`.
    Rules,
    /// `packages`.
    Packages,
}

impl Collection {
    /// The path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Collection::Actions => "actions",
            Collection::Triggers => "triggers",
            Collection::Rules => "rules",
            Collection::Packages => "packages",
        }
    }
}

/// The answer to an action invocation.
#[derive(Debug, Clone)]
pub struct InvokeAnswer {
    /// HTTP status (200 success, 202 accepted / still running, 502 application error).
    pub status: u16,
    /// The activation id (`x-openwhisk-activation-id` header or the body's `activationId`).
    pub activation_id: Option<String>,
    /// The body: the result (`result=true`) or the activation record.
    pub body: Json,
}

/// A client for one OpenWhisk deployment and namespace.
#[derive(Debug)]
pub struct OwClient {
    http: HttpClient,
    api: Url,
    authorization: HeaderValue,
    namespace: String,
    resolved_namespace: OnceCell<String>,
}

impl OwClient {
    /// A client for `config`, with the shared HTTP settings (`ignore_certs` honoured).
    pub fn new(config: &OpenWhiskConfig, http_config: HttpConfig) -> anyhow::Result<OwClient> {
        let http = HttpClient::new(&HttpConfig {
            accept_invalid_certs: config.ignore_certs,
            ..http_config
        })?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(config.credentials.auth_string().as_bytes());
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}"))
            .context("the OpenWhisk AUTH value has characters a header cannot carry")?;
        authorization.set_sensitive(true);
        let api = config
            .apihost
            .join("api/v1/")
            .context("building the OpenWhisk API URL")?;
        Ok(OwClient {
            http,
            api,
            authorization,
            namespace: config.namespace.clone(),
            resolved_namespace: OnceCell::new(),
        })
    }

    /// The namespace as configured (`_` for the default one).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The API base, `https://host/api/v1/`.
    pub fn api(&self) -> &Url {
        &self.api
    }

    fn url(&self, namespace: &str, collection: &str, name: Option<&str>) -> Url {
        let mut url = self.api.clone();
        {
            // Invariant: `api` was built by joining onto an http(s) base URL, which can have
            // path segments.
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().push("namespaces").push(namespace);
                if !collection.is_empty() {
                    segments.push(collection);
                }
                if let Some(name) = name {
                    segments.extend(name.split('/'));
                }
            }
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Json>,
        idempotency: Idempotency,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .inner()
            .request(method, url)
            .header(AUTHORIZATION, self.authorization.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(self.http.send(request, idempotency).await?)
    }

    async fn expect_json(&self, response: reqwest::Response, method: &str) -> anyhow::Result<Json> {
        if !response.status().is_success() {
            return Err(controller_error(response, method).await);
        }
        let url = http::redact::redact_url(response.url());
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer of {method} {url}"))?;
        if text.trim().is_empty() {
            return Ok(Json::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {url} answered something that is not JSON"))
    }

    /// Every entity of `collection` (brief records), reading all pages.
    pub async fn list(&self, collection: Collection) -> anyhow::Result<Vec<Json>> {
        http::paginate(PAGE_SIZE, MAX_PAGES, |skip, limit| async move {
            let mut url = self.url(&self.namespace, collection.segment(), None);
            url.query_pairs_mut()
                .append_pair("limit", &limit.to_string())
                .append_pair("skip", &skip.to_string());
            let response = self
                .send(Method::GET, url, None, Idempotency::ByMethod)
                .await?;
            let page = self.expect_json(response, "GET").await?;
            match page {
                Json::Array(items) => Ok(items),
                other => anyhow::bail!(
                    "listing {} answered {} instead of a list",
                    collection.segment(),
                    short(&other)
                ),
            }
        })
        .await
    }

    /// One entity, or `None` when it does not exist.
    pub async fn get(&self, collection: Collection, name: &str) -> anyhow::Result<Option<Json>> {
        let mut url = self.url(&self.namespace, collection.segment(), Some(name));
        if collection == Collection::Actions {
            url.query_pairs_mut().append_pair("code", "false");
        }
        let response = self
            .send(Method::GET, url, None, Idempotency::ByMethod)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.expect_json(response, "GET").await.map(Some)
    }

    /// Creates or replaces an entity (`PUT ...?overwrite=true`).
    pub async fn put(
        &self,
        collection: Collection,
        name: &str,
        body: &Json,
    ) -> anyhow::Result<Json> {
        let mut url = self.url(&self.namespace, collection.segment(), Some(name));
        url.query_pairs_mut().append_pair("overwrite", "true");
        let response = self
            .send(Method::PUT, url, Some(body), Idempotency::ByMethod)
            .await?;
        self.expect_json(response, "PUT").await
    }

    /// Deletes an entity; `false` when it was already gone.
    pub async fn delete(&self, collection: Collection, name: &str) -> anyhow::Result<bool> {
        let url = self.url(&self.namespace, collection.segment(), Some(name));
        let response = self
            .send(Method::DELETE, url, None, Idempotency::ByMethod)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.expect_json(response, "DELETE").await.map(|_| true)
    }

    /// Invokes an action with `payload` as its parameters.
    pub async fn invoke(
        &self,
        name: &str,
        payload: &Json,
        blocking: bool,
        result_only: bool,
    ) -> anyhow::Result<InvokeAnswer> {
        let mut url = self.url(&self.namespace, "actions", Some(name));
        url.query_pairs_mut()
            .append_pair("blocking", if blocking { "true" } else { "false" })
            .append_pair("result", if result_only { "true" } else { "false" });
        let response = self
            .send(Method::POST, url, Some(payload), Idempotency::ByMethod)
            .await?;
        let status = response.status().as_u16();
        let header_id = response
            .headers()
            .get("x-openwhisk-activation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        // A 502 without an activation id comes from a gateway, not from the action.
        let from_action = status != 502 || header_id.is_some();
        if !matches!(status, 200 | 202 | 502) || !from_action {
            return Err(controller_error(response, "POST").await);
        }
        let text = response
            .text()
            .await
            .context("reading the invocation's answer")?;
        let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
        let activation_id = header_id.or_else(|| {
            body.get("activationId")
                .and_then(Json::as_str)
                .map(str::to_string)
        });
        Ok(InvokeAnswer {
            status,
            activation_id,
            body,
        })
    }

    /// Calls a feed action (`/whisk.system/alarms/alarm`) with a lifecycle event, blocking.
    pub async fn call_feed(&self, feed: &str, body: &Json) -> anyhow::Result<()> {
        let trimmed = feed.trim_start_matches('/');
        let (namespace, action) = trimmed.split_once('/').ok_or_else(|| {
            anyhow::anyhow!("feed `{feed}` is not of the form /namespace/package/action")
        })?;
        let mut url = self.url(namespace, "actions", Some(action));
        url.query_pairs_mut().append_pair("blocking", "true");
        // Feed lifecycle calls are idempotent by design (CREATE re-registers, DELETE forgets).
        let response = self
            .send(Method::POST, url, Some(body), Idempotency::Safe)
            .await?;
        let answer = self.expect_json(response, "POST").await?;
        let failed = answer.pointer("/response/success").and_then(Json::as_bool) == Some(false);
        anyhow::ensure!(
            !failed,
            "the feed {feed} refused the {} request: {}",
            body.get("lifecycleEvent")
                .and_then(Json::as_str)
                .unwrap_or("lifecycle"),
            http::redact(&short(
                answer.pointer("/response/result").unwrap_or(&Json::Null)
            ))
        );
        Ok(())
    }

    /// Activation records of `action` since `since_ms`, newest first, with their logs.
    pub async fn activations(
        &self,
        action: &str,
        since_ms: Option<i64>,
    ) -> anyhow::Result<Vec<Json>> {
        http::paginate(PAGE_SIZE, MAX_PAGES, |skip, limit| async move {
            let mut url = self.url(&self.namespace, "activations", None);
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("name", action)
                    .append_pair("docs", "true")
                    .append_pair("limit", &limit.to_string())
                    .append_pair("skip", &skip.to_string());
                if let Some(since) = since_ms {
                    query.append_pair("since", &since.to_string());
                }
            }
            let response = self
                .send(Method::GET, url, None, Idempotency::ByMethod)
                .await?;
            match self.expect_json(response, "GET").await? {
                Json::Array(items) => Ok(items),
                other => anyhow::bail!("listing activations answered {}", short(&other)),
            }
        })
        .await
    }

    /// One activation record, or `None` when it is not (yet) stored.
    pub async fn activation(&self, id: &str) -> anyhow::Result<Option<Json>> {
        let url = self.url(&self.namespace, "activations", Some(id));
        let response = self
            .send(Method::GET, url, None, Idempotency::ByMethod)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.expect_json(response, "GET").await.map(Some)
    }

    /// The log lines of one activation.
    pub async fn activation_logs(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let url = self.url(&self.namespace, "activations", Some(&format!("{id}/logs")));
        let response = self
            .send(Method::GET, url, None, Idempotency::ByMethod)
            .await?;
        let body = self.expect_json(response, "GET").await?;
        Ok(body
            .get("logs")
            .and_then(Json::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The namespace's real name (`_` resolved through `GET /namespaces`), for URLs and
    /// fully qualified entity names.
    pub async fn resolved_namespace(&self) -> anyhow::Result<String> {
        if self.namespace != "_" {
            return Ok(self.namespace.clone());
        }
        self.resolved_namespace
            .get_or_try_init(|| async {
                let mut url = self.api.clone();
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments.pop_if_empty().push("namespaces");
                }
                let response = self.send(Method::GET, url, None, Idempotency::ByMethod).await?;
                let names = self.expect_json(response, "GET").await?;
                names
                    .as_array()
                    .and_then(|names| names.first())
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "OpenWhisk lists no namespace for these credentials\n  help: set NAMESPACE in ~/.wskprops or provider.namespace"
                        )
                    })
            })
            .await
            .cloned()
    }
}

/// The controller's error, with its message and what to do.
async fn controller_error(response: reqwest::Response, method: &str) -> anyhow::Error {
    let status = response.status().as_u16();
    let error = http::status_error(response, method).await;
    let (url, body) = match &error {
        http::HttpError::Status { url, body, .. } => (url.clone(), body.clone()),
        other => return anyhow::anyhow!("{other}"),
    };
    let detail = match parse_error_body(&body) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message,
        _ if body.is_empty() => "no details".to_string(),
        _ => body,
    };
    let help = match status {
        401 => "\n  help: the AUTH credentials were refused; check AUTH in ~/.wskprops or OW_AUTH",
        403 => {
            "\n  help: these credentials may not use this namespace; check NAMESPACE or provider.namespace"
        }
        404 => "\n  help: check the namespace and that the entity exists (`stratus info`)",
        409 => "\n  help: another deploy changed it at the same time; run the deploy again",
        413 => {
            "\n  help: the action is larger than the controller accepts; trim the package (package.patterns)"
        }
        429 => {
            "\n  help: the namespace's rate limit was hit; wait a minute and run the command again"
        }
        _ => "",
    };
    anyhow::Error::new(ControllerError {
        status,
        method: method.to_string(),
        url,
        detail,
        help,
    })
}

/// An error answer of the controller (its message redacted), with what to do.
#[derive(Debug, thiserror::Error)]
#[error("OpenWhisk answered {status} to {method} {url}: {detail}{help}")]
pub struct ControllerError {
    /// The HTTP status.
    pub status: u16,
    /// The request method.
    pub method: String,
    /// The URL, redacted.
    pub url: String,
    /// The controller's `error` message (and `code`), redacted.
    pub detail: String,
    /// What to do, starting with a newline, or empty.
    pub help: &'static str,
}

/// The `error` and `code` fields of a controller error body.
fn parse_error_body(body: &str) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_str::<Json>(body) else {
        return (None, None);
    };
    (
        json.get("error").and_then(Json::as_str).map(http::redact),
        json.get("code").map(|code| match code {
            Json::String(text) => text.clone(),
            other => other.to_string(),
        }),
    )
}

fn short(value: &Json) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}
