//! The HTTP layer every cloud adapter shares: one `reqwest` client (rustls, timeouts, the
//! `stratus/<version>` user agent), retries with jittered exponential backoff that honour
//! `Retry-After` ([`retry`], [`backoff`]), cached tokens ([`token`]), redaction of secrets in
//! everything printed ([`redact`]) and offset pagination ([`paginate`]).
//!
//! Errors ([`HttpError`]) carry the method, a redacted URL, the status and a redacted, shortened
//! body — never a request header, so an `Authorization` value cannot leak through them.

pub mod backoff;
pub mod concurrency;
pub mod paging;
pub mod redact;
pub mod retry;
pub mod token;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

pub use concurrency::bounded;
pub use paging::{PollConfig, paginate_tokens, poll_until};
pub use redact::{redact, register_secret};
pub use retry::{Idempotency, RetryConfig, send_with_retry, set_verbosity};
pub use token::{TemporaryToken, TokenCache};

/// The user agent of every request: `stratus/<version>`.
pub const USER_AGENT: &str = concat!("stratus/", env!("CARGO_PKG_VERSION"));

/// How to build the client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response.
    pub read_timeout: Duration,
    /// Time allowed for a whole request (blocking invokes wait up to a minute).
    pub request_timeout: Duration,
    /// Accept any TLS certificate (OpenWhisk's `ignore_certs`, for self-signed dev hosts).
    pub accept_invalid_certs: bool,
    /// Retry policy.
    pub retry: RetryConfig,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(120),
            accept_invalid_certs: false,
            retry: RetryConfig::default(),
        }
    }
}

/// A failed HTTP exchange. Its text never contains a request header or a known secret.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server answered with an error status.
    #[error("{method} {url} answered {status}{}: {body}", retried(*.retries))]
    Status {
        /// `GET`, `PUT`...
        method: String,
        /// The URL, redacted.
        url: String,
        /// The status.
        status: u16,
        /// The body (redacted, at most 2,000 characters).
        body: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// No answer at all: connection refused or reset, timeout, TLS failure.
    #[error("{method} {url}: {message}{}", retried(*.retries))]
    Transport {
        /// `GET`, `PUT`...
        method: String,
        /// The URL, redacted.
        url: String,
        /// What went wrong, redacted.
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// The client could not be built.
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
}

fn retried(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => " (after 1 retry)".to_string(),
        n => format!(" (after {n} retries)"),
    }
}

impl HttpError {
    /// The status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A `reqwest` client with its retry policy.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retry: RetryConfig,
}

/// Makes ring rustls' process-wide crypto provider, once; reqwest's TLS uses it. Every client
/// built through [`HttpClient::new`] calls this; code that builds a bare `reqwest::Client`
/// (tests) must call it first.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A plain `reqwest` client with the crypto provider in place, for one-off calls outside the
/// retry policy (tests calling a fake or a function URL directly).
pub fn bare_client() -> reqwest::Client {
    ensure_crypto_provider();
    reqwest::Client::new()
}

impl HttpClient {
    /// Builds the shared client from `config`.
    pub fn new(config: &HttpConfig) -> Result<HttpClient, HttpError> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.request_timeout)
            .tls_danger_accept_invalid_certs(config.accept_invalid_certs)
            .build()
            .map_err(|error| HttpError::Setup(redact(&error.to_string())))?;
        Ok(HttpClient {
            client,
            retry: config.retry.clone(),
        })
    }

    /// The underlying client, to start requests.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// The retry policy in force.
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// Sends `request` with retries; any status comes back as a response.
    pub async fn send(
        &self,
        request: RequestBuilder,
        idempotency: Idempotency,
    ) -> Result<Response, HttpError> {
        let request = request.build().map_err(|error| HttpError::Transport {
            method: String::new(),
            url: error.url().map(redact::redact_url).unwrap_or_default(),
            message: redact(&format!("invalid request: {error}")),
            retries: 0,
        })?;
        send_with_retry(&self.client, request, &self.retry, idempotency).await
    }
}

/// Turns a non-success response into [`HttpError::Status`] (reading its body).
pub async fn error_for_status(response: Response, method: &str) -> Result<Response, HttpError> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(status_error(response, method).await)
}

/// The [`HttpError::Status`] for `response`, whatever its status.
pub async fn status_error(response: Response, method: &str) -> HttpError {
    let status = response.status();
    let url = redact::redact_url(response.url());
    let body = response.text().await.unwrap_or_default();
    HttpError::Status {
        method: method.to_string(),
        url,
        status: status.as_u16(),
        body: shorten(&redact(body.trim()), 2000),
        retries: 0,
    }
}

/// Whether a status means "not there".
pub fn is_not_found(status: StatusCode) -> bool {
    status == StatusCode::NOT_FOUND
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// Collects every item of an offset-paginated listing (`limit` / `skip`).
///
/// `fetch(skip, limit)` returns one page; a page shorter than `limit` ends the listing. At
/// most `max_pages` pages are read, so a server that keeps answering full pages cannot loop us.
pub async fn paginate<T, F, Fut, E>(
    limit: usize,
    max_pages: usize,
    mut fetch: F,
) -> Result<Vec<T>, E>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
{
    let mut items = Vec::new();
    for page in 0..max_pages {
        let batch = fetch(page * limit, limit).await?;
        let last = batch.len() < limit;
        items.extend(batch);
        if last {
            break;
        }
    }
    Ok(items)
}
