//! A fake Azure on 127.0.0.1 that follows the published contracts: the Entra ID
//! client-credentials token endpoint (`/{tenant}/oauth2/v2.0/token`), Resource Manager paths
//! with `api-version` required and `Authorization: Bearer` checked, long-running operations
//! (201/202 with `Azure-AsyncOperation` or `Location`, several polls, `Retry-After`), ARM error
//! bodies `{"error": {"code", "message"}}`, 404 `ResourceGroupNotFound`, storage account name
//! rules, and the Application Insights query API. Each function app gets its own SCM and
//! function host listeners ([`super::azure_host`]), which run the deployed Python code.
//! Faults can be injected: statuses (429 with `Retry-After`, 500), dropped connections, slow
//! answers, failed operations and failed deployments.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use super::azure_host::AppHost;

/// The tenant, client and secret the token endpoint accepts.
pub const TENANT: &str = "72f988bf-0000-4000-8000-00000000cafe";
/// The service principal's client id.
pub const CLIENT: &str = "0b1c2d3e-0000-4000-8000-00000000beef";
/// The service principal's secret.
pub const SECRET: &str = "fake~client~secret~Zq8";
/// The subscription.
pub const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
/// The storage key the fake hands out.
pub const STORAGE_KEY: &str = "ZmFrZS1zdG9yYWdlLWtleQ==";

/// A fault the next matching ARM request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (with a `Retry-After` of this many seconds when given).
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Drop,
    /// Answer normally after this long.
    Slow(Duration),
}

/// A long-running operation.
pub struct Operation {
    polls_left: u32,
    error: Option<(String, String)>,
    result: Json,
}

/// What the fake holds.
#[derive(Default)]
pub struct State {
    /// Resources by lower-cased ARM path.
    pub resources: BTreeMap<String, Json>,
    /// App settings by lower-cased app path.
    pub settings: BTreeMap<String, Json>,
    /// Running apps by name.
    pub apps: BTreeMap<String, Arc<AppHost>>,
    /// Trace records (Application Insights rows), oldest first.
    pub traces: Vec<Json>,
    /// Requests that change state.
    pub writes: usize,
    /// Token requests answered.
    pub token_requests: usize,
    /// Every request, `METHOD /path`.
    pub requests: Vec<String>,
    /// Tokens handed out.
    pub tokens: Vec<String>,
    operations: BTreeMap<String, Operation>,
    faults: VecDeque<(Option<String>, Fault)>,
    /// The next long-running operation fails with this code and message.
    pub fail_operation: Option<(String, String)>,
    /// The next deployment fails.
    pub fail_deployment: bool,
}

/// A running fake.
pub struct FakeAzure {
    /// `http://127.0.0.1:PORT` (authority, ARM and Application Insights endpoint at once).
    pub url: String,
    /// Its state.
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A handler's answer; an error drops the connection.
pub use super::{Reply, serve};

/// A JSON answer.
pub fn reply(status: u16, body: &Json) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("valid status");
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    Ok(response)
}

/// An ARM error answer.
pub fn arm_error(status: u16, code: &str, message: &str) -> Reply {
    reply(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

impl FakeAzure {
    /// Starts the fake.
    pub async fn start() -> FakeAzure {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = (state.clone(), url.clone());
        let task = serve(listener, move |request| {
            let (state, url) = shared.clone();
            async move { handle(state, url, request).await }
        });
        FakeAzure { url, state, task }
    }

    /// The next ARM request (of `method`, when given) meets `fault`.
    pub fn inject(&self, method: Option<&str>, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.map(str::to_string), fault));
    }

    /// Faults not met yet.
    pub fn pending_faults(&self) -> usize {
        self.state.lock().unwrap().faults.len()
    }

    /// Requests that changed state so far.
    pub fn writes(&self) -> usize {
        self.state.lock().unwrap().writes
    }

    /// A resource by ARM path.
    pub fn resource(&self, path: &str) -> Option<Json> {
        self.state
            .lock()
            .unwrap()
            .resources
            .get(&path.to_ascii_lowercase())
            .cloned()
    }

    /// Every request seen.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn query_pairs(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` text.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a request changes state (reads done by POST — keys, lists, tokens, queries — do not).
fn is_write(method: &str, path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    match method {
        "GET" | "HEAD" => false,
        "POST" => {
            !(lower.ends_with("/listkeys")
                || lower.ends_with("/list")
                || lower.ends_with("/token")
                || lower.ends_with("/query"))
        }
        _ => true,
    }
}

async fn handle(state: Arc<Mutex<State>>, base: String, request: Request<Incoming>) -> Reply {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = query_pairs(request.uri().query());
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if path.ends_with("/oauth2/v2.0/token") {
        return token(&state, &path, &body);
    }
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {path}"));
        let position = s
            .faults
            .iter()
            .position(|(m, _)| m.as_deref().is_none_or(|m| m == method));
        position.and_then(|i| s.faults.remove(i)).map(|(_, f)| f)
    };
    match fault {
        Some(Fault::Drop) => return Err(std::io::Error::other("dropped by fault injection")),
        Some(Fault::Status(status, retry_after)) => {
            let mut response = arm_error(
                status,
                if status == 429 {
                    "TooManyRequests"
                } else {
                    "InternalServerError"
                },
                "injected fault",
            )?;
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().expect("digits"));
            }
            return Ok(response);
        }
        Some(Fault::Slow(pause)) => tokio::time::sleep(pause).await,
        None => {}
    }
    let known = bearer.is_some_and(|t| state.lock().unwrap().tokens.contains(&t));
    if !known {
        return arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing or invalid.",
        );
    }
    if let Some(app_id) = path
        .strip_prefix("/v1/apps/")
        .and_then(|r| r.strip_suffix("/query"))
    {
        let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        return insights_query(&state, app_id, &body);
    }
    if !query.contains_key("api-version") {
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if is_write(&method, &path) {
        state.lock().unwrap().writes += 1;
    }
    if let Some(id) = path.strip_prefix("/operations/") {
        return poll(&state, id, query.get("kind").map(String::as_str));
    }
    let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    super::azure_arm::route(&state, &base, &method, &path, body).await
}

fn token(state: &Arc<Mutex<State>>, path: &str, body: &[u8]) -> Reply {
    let form: BTreeMap<String, String> = query_pairs(Some(&String::from_utf8_lossy(body)));
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let secret_ok = form.get("client_secret").map(String::as_str) == Some(SECRET);
    let assertion_ok = form.get("client_assertion_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && form
            .get("client_assertion")
            .is_some_and(|a| a.split('.').count() == 3);
    if tenant != TENANT
        || form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id").map(String::as_str) != Some(CLIENT)
        || !form.contains_key("scope")
        || !(secret_ok || assertion_ok)
    {
        return reply(
            401,
            &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let token = format!("eyJ0eXAiOiJKV1Qi.fake{}.sig", s.token_requests);
    s.tokens.push(token.clone());
    reply(
        200,
        &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
    )
}

/// Registers a long-running operation that takes `polls` polls; answers its id.
pub fn start_operation(state: &Arc<Mutex<State>>, polls: u32, result: Json) -> String {
    let mut s = state.lock().unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let error = s.fail_operation.take();
    s.operations.insert(
        id.clone(),
        Operation {
            polls_left: polls,
            error,
            result,
        },
    );
    id
}

/// Whether the operation will fail (the resource is then not kept).
pub fn operation_fails(state: &Arc<Mutex<State>>, id: &str) -> bool {
    state
        .lock()
        .unwrap()
        .operations
        .get(id)
        .is_some_and(|o| o.error.is_some())
}

fn poll(state: &Arc<Mutex<State>>, id: &str, kind: Option<&str>) -> Reply {
    let mut s = state.lock().unwrap();
    let Some(operation) = s.operations.get_mut(id) else {
        return arm_error(404, "OperationNotFound", "no such operation");
    };
    let by_location = kind == Some("location");
    if operation.polls_left > 0 {
        operation.polls_left -= 1;
        let mut response = if by_location {
            reply(202, &Json::Null)?
        } else {
            reply(200, &json!({"status": "InProgress"}))?
        };
        response
            .headers_mut()
            .insert("retry-after", "0".parse().expect("digit"));
        return Ok(response);
    }
    if let Some((code, message)) = &operation.error {
        if by_location {
            // The Location protocol ends with the operation's own error status.
            return arm_error(409, code, message);
        }
        return reply(
            200,
            &json!({"status": "Failed", "error": {"code": code, "message": message}}),
        );
    }
    if by_location {
        reply(200, &operation.result.clone())
    } else {
        reply(200, &json!({"status": "Succeeded"}))
    }
}

fn quoted_after(query: &str, marker: &str) -> Option<String> {
    let rest = &query[query.find(marker)? + marker.len()..];
    let rest = rest.trim_start().strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// The Application Insights query API over the kept traces: understands the
/// `operation_Name =~ '...'`, `timestamp >= datetime(...)` and `contains '...'` clauses.
pub fn insights_query(state: &Arc<Mutex<State>>, app_id: &str, body: &Json) -> Reply {
    let s = state.lock().unwrap();
    let known = s
        .resources
        .values()
        .any(|r| r.pointer("/properties/AppId").and_then(Json::as_str) == Some(app_id));
    if !known {
        return reply(
            404,
            &json!({"error": {"code": "PathNotFoundError", "message": "The requested path does not exist"}}),
        );
    }
    let Some(query) = body.get("query").and_then(Json::as_str) else {
        return reply(
            400,
            &json!({"error": {"code": "BadArgumentError", "message": "query is required"}}),
        );
    };
    let function = quoted_after(query, "operation_Name =~");
    let filter = quoted_after(query, "contains");
    let since = query
        .find("datetime(")
        .and_then(|i| query[i + 9..].split(')').next())
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    let rows: Vec<Json> = s
        .traces
        .iter()
        .filter(|t| function.as_deref().is_none_or(|f| t["operation_Name"] == f))
        .filter(|t| {
            filter
                .as_deref()
                .is_none_or(|f| t["message"].as_str().is_some_and(|m| m.contains(f)))
        })
        .filter(|t| {
            since.is_none_or(|since| {
                t["timestamp"]
                    .as_str()
                    .and_then(|ts| humantime::parse_rfc3339_weak(ts).ok())
                    .is_some_and(|ts| ts >= since)
            })
        })
        .map(|t| {
            json!([
                t["timestamp"],
                t["itemId"],
                t["operation_Id"],
                t["itemType"],
                t["message"]
            ])
        })
        .collect();
    reply(
        200,
        &json!({"tables": [{
            "name": "PrimaryResult",
            "columns": [
                {"name": "timestamp", "type": "datetime"},
                {"name": "itemId", "type": "string"},
                {"name": "operation_Id", "type": "string"},
                {"name": "itemType", "type": "string"},
                {"name": "text", "type": "string"}
            ],
            "rows": rows
        }]}),
    )
}
