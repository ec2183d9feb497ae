//! The Azure Resource Manager client: bearer-token requests with `api-version`, ARM's error
//! bodies (`{"error": {"code", "message"}}`) turned into readable errors, and long-running
//! operations followed to their end.
//!
//! A `PUT`, `PATCH`, `DELETE` or `POST` that answers `201` or `202` is still running: it is
//! polled at its `Azure-AsyncOperation` URL (whose body says `InProgress`, `Succeeded`,
//! `Failed` or `Canceled`), else at its `Location` URL (`202` while running, then the result),
//! waiting what `Retry-After` asks between polls. A failed operation fails with its own error.

use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value as Json;

use super::credential::Credential;
use crate::http::{self, HttpClient, Idempotency};

/// The longest a long-running operation is followed.
const LRO_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// An ARM client for one subscription.
#[derive(Debug)]
pub struct ArmClient {
    http: HttpClient,
    credential: Credential,
    base: Url,
    scope: String,
    /// Wait between polls when the server gives no `Retry-After`.
    pub poll_interval: Duration,
}

/// A failed ARM request, with ARM's own code when it gave one.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {code}: {message}")]
pub struct ArmError {
    /// What was attempted (`PUT .../sites/app`).
    pub what: String,
    /// ARM's error code (`ResourceGroupNotFound`), or the status.
    pub code: String,
    /// ARM's message.
    pub message: String,
}

impl ArmClient {
    /// A client on `base` (the Resource Manager endpoint) using `credential` for `scope`.
    pub fn new(http: HttpClient, credential: Credential, base: Url, scope: String) -> ArmClient {
        ArmClient {
            http,
            credential,
            base,
            scope,
            poll_interval: Duration::from_secs(2),
        }
    }

    /// The credential (other hosts — SCM, Application Insights — need tokens too).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The token scope of ARM.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn url(&self, path: &str, api_version: &str) -> anyhow::Result<Url> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .with_context(|| format!("building the ARM URL for {path}"))?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Json>,
        idempotency: Idempotency,
    ) -> anyhow::Result<Response> {
        let mut renewed = false;
        loop {
            let token = self.credential.token(&self.scope).await?;
            let mut request = self
                .http
                .inner()
                .request(method.clone(), url.clone())
                .bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = self.http.send(request, idempotency).await?;
            // A token revoked or expired early: fetch a new one, once.
            if response.status() == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                self.credential.invalidate(&self.scope).await;
                continue;
            }
            return Ok(response);
        }
    }

    /// `GET path`; `None` on 404.
    pub async fn get(&self, path: &str, api_version: &str) -> anyhow::Result<Option<Json>> {
        let url = self.url(path, api_version)?;
        let response = self
            .send(Method::GET, url, None, Idempotency::ByMethod)
            .await?;
        if http::is_not_found(response.status()) {
            return Ok(None);
        }
        let response = checked(response, "GET", path).await?;
        Ok(Some(json_of(response).await?))
    }

    /// `PUT path` with `body`, followed to its end; answers the resource.
    pub async fn put(&self, path: &str, api_version: &str, body: &Json) -> anyhow::Result<Json> {
        self.write(
            Method::PUT,
            path,
            api_version,
            Some(body),
            Idempotency::ByMethod,
        )
        .await
    }

    /// `PATCH path` with `body`, followed to its end.
    pub async fn patch(&self, path: &str, api_version: &str, body: &Json) -> anyhow::Result<Json> {
        self.write(
            Method::PATCH,
            path,
            api_version,
            Some(body),
            Idempotency::Safe,
        )
        .await
    }

    /// `POST path` (an action such as `listKeys`); `safe` when it only reads.
    pub async fn post(
        &self,
        path: &str,
        api_version: &str,
        body: Option<&Json>,
        safe: bool,
    ) -> anyhow::Result<Json> {
        let idempotency = if safe {
            Idempotency::Safe
        } else {
            Idempotency::ByMethod
        };
        self.write(Method::POST, path, api_version, body, idempotency)
            .await
    }

    /// `DELETE path`, followed to its end; `false` when it was not there.
    pub async fn delete(&self, path: &str, api_version: &str) -> anyhow::Result<bool> {
        let url = self.url(path, api_version)?;
        let response = self
            .send(Method::DELETE, url, None, Idempotency::ByMethod)
            .await?;
        if http::is_not_found(response.status()) || response.status() == StatusCode::NO_CONTENT {
            return Ok(response.status() == StatusCode::NO_CONTENT);
        }
        let response = checked(response, "DELETE", path).await?;
        self.follow(response, "DELETE", path).await?;
        Ok(true)
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Json>,
        idempotency: Idempotency,
    ) -> anyhow::Result<Json> {
        let url = self.url(path, api_version)?;
        let verb = method.to_string();
        let response = self.send(method, url, body, idempotency).await?;
        let response = checked(response, &verb, path).await?;
        let result = self.follow(response, &verb, path).await?;
        match result {
            Some(result) => Ok(result),
            // The operation's status document is not the resource: read it once done.
            None if verb == "PUT" || verb == "PATCH" => {
                Ok(self.get(path, api_version).await?.unwrap_or(Json::Null))
            }
            None => Ok(Json::Null),
        }
    }

    /// Follows a long-running operation; `Some(body)` when the answer carries the result.
    async fn follow(
        &self,
        response: Response,
        verb: &str,
        path: &str,
    ) -> anyhow::Result<Option<Json>> {
        let status = response.status();
        if status != StatusCode::CREATED && status != StatusCode::ACCEPTED {
            return Ok(Some(json_of(response).await?));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let async_op = header("azure-asyncoperation");
        let location = header("location");
        let mut wait = retry_after(&response).unwrap_or(self.poll_interval);
        let first = json_of(response).await.unwrap_or(Json::Null);
        let (poll, by_status) = match (async_op, location) {
            (Some(url), _) => (url, true),
            (None, Some(url)) => (url, false),
            // 201 without a poll URL: the resource is in the answer, provisioning continues.
            (None, None) => return Ok(Some(first).filter(|v| !v.is_null())),
        };
        let poll = Url::parse(&poll)
            .or_else(|_| self.base.join(&poll))
            .with_context(|| format!("{verb} {path}: invalid operation URL"))?;
        let started = Instant::now();
        loop {
            anyhow::ensure!(
                started.elapsed() < LRO_TIMEOUT,
                "{verb} {path} was still running after {} minutes; run the command again later",
                LRO_TIMEOUT.as_secs() / 60
            );
            tokio::time::sleep(wait).await;
            let response = self
                .send(Method::GET, poll.clone(), None, Idempotency::ByMethod)
                .await?;
            let response = checked(response, verb, path).await?;
            wait = retry_after(&response).unwrap_or(self.poll_interval);
            if !by_status {
                if response.status() == StatusCode::ACCEPTED {
                    continue;
                }
                let body = json_of(response).await?;
                return Ok(Some(body).filter(|v| !v.is_null()));
            }
            let body = json_of(response).await?;
            match body.get("status").and_then(Json::as_str).unwrap_or("") {
                "Succeeded" => return Ok(None),
                "Failed" | "Canceled" | "Cancelled" => {
                    let (code, message) = error_parts(&body)
                        .unwrap_or_else(|| ("OperationFailed".into(), body.to_string()));
                    return Err(ArmError {
                        what: format!("{verb} {path}"),
                        code,
                        message,
                    }
                    .into());
                }
                _ => continue,
            }
        }
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    http::retry::parse_retry_after(value, std::time::SystemTime::now())
}

async fn json_of(response: Response) -> anyhow::Result<Json> {
    let text = response.text().await.context("reading an ARM answer")?;
    if text.trim().is_empty() {
        return Ok(Json::Null);
    }
    serde_json::from_str(&text).context("ARM answered something that is not JSON")
}

fn error_parts(body: &Json) -> Option<(String, String)> {
    let error = body.get("error")?;
    let code = error.get("code").and_then(Json::as_str)?.to_string();
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    Some((code, message))
}

async fn checked(response: Response, verb: &str, path: &str) -> anyhow::Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let parsed = serde_json::from_str::<Json>(&text).ok();
    let (code, message) = parsed
        .as_ref()
        .and_then(error_parts)
        .unwrap_or_else(|| (status.to_string(), http::redact(text.trim())));
    Err(ArmError {
        what: format!("{verb} {path} answered {status}"),
        code,
        message: http::redact(&message),
    }
    .into())
}
