//! Sending a request with retries: jittered exponential backoff on 429, 500, 502, 503, 504 and
//! connection errors or timeouts, honouring the server's `Retry-After`.
//!
//! Idempotency decides what may be retried. `GET`, `HEAD`, `PUT`, `DELETE` and `OPTIONS` are
//! retried on every retryable failure. A `POST` (an invoke, a trigger fire) is retried only when
//! it provably never reached the server — the connection could not be made — or when the server
//! refused it unprocessed with 429, unless the caller marks it [`Idempotency::Safe`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, Request, Response, StatusCode};

use super::backoff::Backoff;
use super::{HttpError, redact};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Sets how much the HTTP layer tells on stderr: 0 nothing, 1 retries, 2 every request
/// (the CLI passes its `-v` count). Every line is redacted.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

fn trace(level: u8, line: impl FnOnce() -> String) {
    if VERBOSITY.load(Ordering::Relaxed) >= level {
        eprintln!("{}", redact::redact(&line()));
    }
}

/// How hard to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles with each retry.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub total_timeout: Duration,
    /// A server's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            max_retries: 5,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
            total_timeout: Duration::from_secs(180),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Decide from the method (`POST` and `PATCH` are not idempotent).
    ByMethod,
    /// The caller knows a repeat is harmless (e.g. a `POST` that only reads).
    Safe,
}

/// Whether the status is worth another try.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

fn method_is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Sends `request` with `client`, retrying as [`RetryConfig`] and `idempotency` allow.
///
/// Returns the first response that is not retried (any status: callers decide what a 404 or a
/// 409 means), or the last one when retries run out on a retryable status. Fails only when no
/// response could be had at all.
pub async fn send_with_retry(
    client: &reqwest::Client,
    request: Request,
    config: &RetryConfig,
    idempotency: Idempotency,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let method = request.method().clone();
    let url = redact::redact_url(request.url());
    let idempotent = idempotency == Idempotency::Safe || method_is_idempotent(&method);
    let mut backoff = Backoff::new(config.base, config.max_backoff);
    let mut retries = 0u32;
    let mut pending = Some(request);
    loop {
        let Some(this) = pending.take() else {
            // Invariant: `pending` is refilled before every `continue` below.
            return Err(HttpError::Transport {
                method: method.to_string(),
                url,
                message: "the request body cannot be replayed".into(),
                retries,
            });
        };
        let spare = this.try_clone();
        let attempt_started = Instant::now();
        let outcome = client.execute(this).await;
        trace(2, || match &outcome {
            Ok(response) => format!(
                "http: {method} {url} -> {} ({} ms)",
                response.status().as_u16(),
                attempt_started.elapsed().as_millis()
            ),
            Err(error) => format!("http: {method} {url} -> {}", describe(error)),
        });
        let can_retry = retries < config.max_retries && spare.is_some();
        let out_of_time = |delay: Duration| started.elapsed() + delay > config.total_timeout;
        let delay = match outcome {
            Ok(response) => {
                let status = response.status();
                let refused_unprocessed = status == StatusCode::TOO_MANY_REQUESTS;
                if !is_retryable_status(status)
                    || !can_retry
                    || !(idempotent || refused_unprocessed)
                {
                    return Ok(response);
                }
                let hinted = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                let jittered = backoff.next_delay();
                let delay = match hinted {
                    Some(hint) if hint > config.max_retry_after => return Ok(response),
                    Some(hint) => hint,
                    None => jittered,
                };
                if out_of_time(delay) {
                    return Ok(response);
                }
                delay
            }
            Err(error) => {
                let never_sent = error.is_connect();
                let retryable = never_sent || error.is_timeout() || error.is_request();
                let delay = backoff.next_delay();
                if !can_retry || !retryable || !(idempotent || never_sent) || out_of_time(delay) {
                    return Err(HttpError::Transport {
                        method: method.to_string(),
                        url,
                        message: redact::redact(&describe(&error)),
                        retries,
                    });
                }
                delay
            }
        };
        trace(1, || {
            format!(
                "http: {method} {url}: retrying in {} ms (retry {} of {})",
                delay.as_millis(),
                retries + 1,
                config.max_retries
            )
        });
        tokio::time::sleep(delay).await;
        retries += 1;
        pending = spare;
    }
}

/// The error and its causes, one sentence.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
