//! The Cloud Functions v2 and Cloud Logging v2 REST calls stratus makes, over the shared HTTP
//! layer: `Authorization: Bearer` with a cached access token (refreshed once on a 401),
//! retries on 429/5xx and dropped connections, `nextPageToken` followed to the end, uploads to
//! the URL `generateUploadUrl` answers (used exactly as returned), long-running operations
//! polled with backoff, and errors that quote the API's `google.rpc.Status` message.

use anyhow::Context;
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value as Json, json};

use super::config::GcpConfig;
use super::credential::Tokens;
use crate::http::{self, HttpClient, HttpConfig, Idempotency, PollConfig};

/// Largest page asked for.
const PAGE_SIZE: usize = 100;
/// At most this many pages are read from one listing.
const MAX_PAGES: usize = 1000;

/// A client for one project and region.
#[derive(Debug)]
pub struct GcfClient {
    http: HttpClient,
    tokens: Tokens,
    functions: Url,
    logging: Url,
    /// `projects/{project}/locations/{region}`.
    pub parent: String,
    /// The project id.
    pub project: String,
    poll: PollConfig,
}

/// The API's own message from a `google.rpc.Status` body, else the raw body.
fn api_message(body: &str) -> String {
    serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|json| {
            let error = json.get("error")?;
            Some(format!(
                "{} ({})",
                error.get("message")?.as_str()?,
                error
                    .get("status")
                    .and_then(Json::as_str)
                    .unwrap_or("error")
            ))
        })
        .unwrap_or_else(|| body.to_string())
}

fn help_for(status: u16) -> &'static str {
    match status {
        401 => {
            "\n  help: the credentials were refused; check the key file or run `gcloud auth application-default login`"
        }
        403 => {
            "\n  help: the account lacks permission or the Cloud Functions API is disabled (`gcloud services enable cloudfunctions.googleapis.com`)"
        }
        404 => "\n  help: check provider.project and provider.region",
        _ => "",
    }
}

impl GcfClient {
    /// A client for `config` (its credential moves into the client).
    pub fn new(
        config: GcpConfig,
        http_config: HttpConfig,
        poll: PollConfig,
    ) -> anyhow::Result<GcfClient> {
        let http = HttpClient::new(&http_config)?;
        let parent = format!("projects/{}/locations/{}", config.project, config.region);
        Ok(GcfClient {
            tokens: Tokens::new(config.credential, http.clone()),
            http,
            functions: config.functions_endpoint,
            logging: config.logging_endpoint,
            parent,
            project: config.project,
            poll,
        })
    }

    /// The token source (for ID tokens).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// How long-running things are polled (operations, a call's late log entries).
    pub fn poll_config(&self) -> &PollConfig {
        &self.poll
    }

    fn functions_url(&self, path: &str) -> anyhow::Result<Url> {
        self.functions
            .join(&format!("v2/{path}"))
            .context("building a Cloud Functions URL")
    }

    /// Sends an authorized request; a 401 refreshes the token and tries once more.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Json>,
    ) -> anyhow::Result<(u16, Json)> {
        for attempt in 0..2 {
            let token = self.tokens.access_token().await?;
            let mut request = self
                .http
                .inner()
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, format!("Bearer {token}"));
            if let Some(body) = body {
                request = request.json(body);
            }
            let idempotency = match method {
                // Listing entries only reads.
                Method::POST if url.path().ends_with("entries:list") => Idempotency::Safe,
                Method::POST if url.path().ends_with(":generateUploadUrl") => Idempotency::Safe,
                _ => Idempotency::ByMethod,
            };
            let response = self.http.send(request, idempotency).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.tokens.invalidate().await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let json = if text.trim().is_empty() {
                    Json::Null
                } else {
                    serde_json::from_str(&text).with_context(|| {
                        format!(
                            "{method} {} answered something that is not JSON",
                            http::redact::redact_url(&url)
                        )
                    })?
                };
                return Ok((status.as_u16(), json));
            }
            if status == StatusCode::NOT_FOUND {
                return Ok((404, Json::Null));
            }
            anyhow::bail!(
                "{method} {} answered {}: {}{}",
                http::redact::redact_url(&url),
                status.as_u16(),
                http::redact(&api_message(&text)),
                help_for(status.as_u16())
            );
        }
        anyhow::bail!("the access token was refused twice{}", help_for(401))
    }

    /// Every function of the region (all pages).
    pub async fn list_functions(&self) -> anyhow::Result<Vec<Json>> {
        http::paginate_tokens(MAX_PAGES, |token| async move {
            let mut url = self.functions_url(&format!("{}/functions", self.parent))?;
            url.query_pairs_mut()
                .append_pair("pageSize", &PAGE_SIZE.to_string());
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let (_, page) = self.call(Method::GET, url, None).await?;
            anyhow::Ok(split_page(&page, "functions"))
        })
        .await
        .context("listing the Cloud Functions of the region")
    }

    /// One function, `None` when it does not exist.
    pub async fn get_function(&self, id: &str) -> anyhow::Result<Option<Json>> {
        let url = self.functions_url(&format!("{}/functions/{id}", self.parent))?;
        let (status, json) = self.call(Method::GET, url, None).await?;
        Ok((status != 404).then_some(json))
    }

    /// `functions:generateUploadUrl`: `{uploadUrl, storageSource}`.
    pub async fn generate_upload_url(&self) -> anyhow::Result<Json> {
        let url = self.functions_url(&format!("{}/functions:generateUploadUrl", self.parent))?;
        let (_, json) = self
            .call(Method::POST, url, Some(&json!({"environment": "GEN_2"})))
            .await?;
        Ok(json)
    }

    /// PUTs the zip at `path` to `upload_url`, exactly as the API returned it.
    pub async fn upload(&self, upload_url: &str, zip: Vec<u8>) -> anyhow::Result<()> {
        let request = self
            .http
            .inner()
            .put(upload_url)
            .header("content-type", "application/zip")
            .body(zip);
        let response = self.http.send(request, Idempotency::ByMethod).await?;
        http::error_for_status(response, "PUT")
            .await
            .context("uploading the package")?;
        Ok(())
    }

    /// Creates function `id`; answers the operation.
    pub async fn create(&self, id: &str, body: &Json) -> anyhow::Result<Json> {
        let mut url = self.functions_url(&format!("{}/functions", self.parent))?;
        url.query_pairs_mut().append_pair("functionId", id);
        Ok(self.call(Method::POST, url, Some(body)).await?.1)
    }

    /// Updates the fields of `mask` (comma-separated paths); answers the operation.
    pub async fn patch(&self, id: &str, body: &Json, mask: &str) -> anyhow::Result<Json> {
        let mut url = self.functions_url(&format!("{}/functions/{id}", self.parent))?;
        url.query_pairs_mut().append_pair("updateMask", mask);
        Ok(self.call(Method::PATCH, url, Some(body)).await?.1)
    }

    /// Deletes function `id`; the operation, or `None` when it was already gone.
    pub async fn delete(&self, id: &str) -> anyhow::Result<Option<Json>> {
        let url = self.functions_url(&format!("{}/functions/{id}", self.parent))?;
        let (status, json) = self.call(Method::DELETE, url, None).await?;
        Ok((status != 404).then_some(json))
    }

    /// Polls `operation` until done; an operation error comes back with its message.
    pub async fn wait(&self, operation: &Json) -> anyhow::Result<Json> {
        let name = operation
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| anyhow::anyhow!("the API answered no operation name"))?
            .to_string();
        let mut first = Some(operation.clone());
        let done = http::poll_until(&self.poll, || {
            let known = first.take();
            let name = name.clone();
            async move {
                let op = match known {
                    Some(op) => op,
                    None => {
                        let url = self.functions_url(&name)?;
                        self.call(Method::GET, url, None).await?.1
                    }
                };
                anyhow::Ok(
                    op.get("done")
                        .and_then(Json::as_bool)
                        .unwrap_or(false)
                        .then_some(op),
                )
            }
        })
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("operation {name} did not finish in time; run the command again later")
        })?;
        if let Some(error) = done.get("error") {
            anyhow::bail!(
                "operation {name} failed: {} (code {})",
                error
                    .get("message")
                    .and_then(Json::as_str)
                    .unwrap_or("no message"),
                error.get("code").and_then(Json::as_i64).unwrap_or(0)
            );
        }
        Ok(done.get("response").cloned().unwrap_or(Json::Null))
    }

    /// Cloud Logging `entries:list` for `filter`, oldest first, every page.
    pub async fn list_entries(&self, filter: &str) -> anyhow::Result<Vec<Json>> {
        let resource = format!("projects/{}", self.project);
        http::paginate_tokens(MAX_PAGES, |token| {
            let resource = resource.clone();
            async move {
                let url = self
                    .logging
                    .join("v2/entries:list")
                    .context("building the Cloud Logging URL")?;
                let mut body = json!({
                    "resourceNames": [resource],
                    "filter": filter,
                    "orderBy": "timestamp asc",
                    "pageSize": PAGE_SIZE,
                });
                if let Some(token) = token {
                    body["pageToken"] = Json::String(token);
                }
                let (_, page) = self.call(Method::POST, url, Some(&body)).await?;
                anyhow::Ok(split_page(&page, "entries"))
            }
        })
        .await
        .context("reading Cloud Logging entries")
    }
}

/// One page of a Google list answer: its `items_key` list and its `nextPageToken`.
fn split_page(page: &Json, items_key: &str) -> (Vec<Json>, Option<String>) {
    let items = page
        .get(items_key)
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let next = page
        .get("nextPageToken")
        .and_then(Json::as_str)
        .map(str::to_string);
    (items, next)
}
