//! A fake OpenWhisk controller on 127.0.0.1 that follows the REST API v1 (apiv1swagger.json):
//! `/api/v1/namespaces/{ns}/{actions|triggers|rules|packages}[/{name}]` with `limit`/`skip`
//! pagination and `overwrite` semantics, blocking and non-blocking invocations that really run
//! the action's code (python3 / node, see `openwhisk_exec`), activation records with logs, the
//! alarm feed's lifecycle calls, web actions under `/api/v1/web/...`, Basic auth, the
//! controller's error bodies (`{"error": ..., "code": ...}`), and injectable faults.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use super::openwhisk_invoke::{fire, get_activation, invoke, list_activations, web};

/// A fault the next matching request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (429 with a `Retry-After` of this many seconds when given).
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Drop,
    /// Answer normally after this long.
    Slow(Duration),
}

/// What the fake holds.
#[derive(Default)]
pub struct State {
    /// Entities by collection then name.
    pub entities: BTreeMap<String, BTreeMap<String, Json>>,
    /// Activation records, oldest first.
    pub activations: Vec<Json>,
    /// Alarm registrations by fully qualified trigger name.
    pub alarms: BTreeMap<String, Json>,
    /// Requests that are not GET.
    pub writes: usize,
    /// Every API request, `METHOD /path?query`.
    pub requests: Vec<String>,
    faults: VecDeque<(Option<String>, Fault)>,
}

/// A running fake controller.
pub struct FakeOpenWhisk {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The valid `uuid:key`.
    pub auth: String,
    /// The namespace it serves.
    pub namespace: String,
    /// Its state.
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenWhisk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every connection shares.
pub struct Shared {
    /// The valid `uuid:key`.
    pub auth: String,
    /// The namespace.
    pub namespace: String,
    /// The state.
    pub state: Arc<Mutex<State>>,
}

pub use super::Reply;

impl FakeOpenWhisk {
    /// Starts a controller for namespace `guest`.
    pub async fn start() -> FakeOpenWhisk {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let auth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP".to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::new(Shared {
            auth: auth.clone(),
            namespace: "guest".into(),
            state: state.clone(),
        });
        let task = super::serve(listener, move |request| handle(shared.clone(), request));
        FakeOpenWhisk {
            url,
            auth,
            namespace: "guest".into(),
            state,
            task,
        }
    }

    /// The next request (of `method`, when given) meets `fault`.
    pub fn inject(&self, method: Option<&str>, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.map(str::to_string), fault));
    }

    /// Faults injected but not met yet.
    pub fn pending_faults(&self) -> usize {
        self.state.lock().unwrap().faults.len()
    }

    /// How many non-GET requests were made.
    pub fn writes(&self) -> usize {
        self.state.lock().unwrap().writes
    }

    /// A stored entity.
    pub fn entity(&self, collection: &str, name: &str) -> Option<Json> {
        self.state
            .lock()
            .unwrap()
            .entities
            .get(collection)?
            .get(name)
            .cloned()
    }

    /// Names in a collection.
    pub fn names(&self, collection: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .entities
            .get(collection)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an entity directly (another tool's, or another stage's).
    pub fn seed(&self, collection: &str, name: &str, annotations: Json) {
        let record = json!({"namespace": "guest", "name": name, "version": "0.0.1", "publish": false,
            "annotations": annotations, "exec": {"kind": "nodejs:20", "binary": false}, "limits": {"timeout": 60000, "memory": 256},
            "parameters": [], "updated": now_ms()});
        let mut state = self.state.lock().unwrap();
        state
            .entities
            .entry(collection.to_string())
            .or_default()
            .insert(name.to_string(), record);
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// A JSON answer.
pub fn reply(status: u16, body: &Json) -> Reply {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response"))
}

/// The controller's error body.
pub fn error(status: u16, message: &str) -> Reply {
    let code = uuid::Uuid::new_v4().simple().to_string();
    reply(status, &json!({"error": message, "code": code}))
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Reply {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query: BTreeMap<String, String> = request.uri().query().map(url_pairs).unwrap_or_default();
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .is_some_and(|decoded| decoded == shared.auth.as_bytes());
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);

    if let Some(rest) = path.strip_prefix("/api/v1/web/") {
        return web(&shared, &method, rest, &query, body).await;
    }
    let fault = {
        let mut state = shared.state.lock().unwrap();
        state.requests.push(format!("{method} {path}"));
        let position = state
            .faults
            .iter()
            .position(|(m, _)| m.as_deref().is_none_or(|m| m == method));
        position
            .and_then(|i| state.faults.remove(i))
            .map(|(_, fault)| fault)
    };
    match fault {
        Some(Fault::Drop) => {
            return Err(std::io::Error::other(
                "connection dropped by fault injection",
            ));
        }
        Some(Fault::Status(429, retry_after)) => {
            let mut response = error(
                429,
                "Too many requests in the last minute (count: 61, allowed: 60).",
            )?;
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().expect("digits"));
            }
            return Ok(response);
        }
        Some(Fault::Status(502, _)) => {
            return error(
                502,
                "The server is currently unavailable (because it is overloaded or down for maintenance).",
            );
        }
        Some(Fault::Status(status, _)) => {
            return error(status, "The server encountered an internal error.");
        }
        Some(Fault::Slow(pause)) => tokio::time::sleep(pause).await,
        None => {}
    }
    if !authorized {
        return error(401, "The supplied authentication is invalid");
    }
    if method != "GET" {
        shared.state.lock().unwrap().writes += 1;
    }
    let Some(rest) = path.strip_prefix("/api/v1/namespaces") else {
        return error(404, "The requested resource does not exist.");
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return reply(200, &json!([shared.namespace]));
    }
    let namespace = segments[0];
    if namespace == "whisk.system"
        && segments.get(1) == Some(&"actions")
        && segments[2..].join("/") == "alarms/alarm"
    {
        return alarm(&shared, body);
    }
    if namespace != "_" && namespace != shared.namespace {
        return error(
            403,
            &format!("The supplied authentication is not authorized to access '{namespace}'."),
        );
    }
    let Some(collection) = segments.get(1).copied() else {
        return error(404, "The requested resource does not exist.");
    };
    let name = segments[2..].join("/");
    match (collection, method.as_str(), name.is_empty()) {
        ("activations", "GET", true) => list_activations(&shared, &query),
        ("activations", "GET", false) => get_activation(&shared, &name),
        ("actions" | "triggers" | "rules" | "packages", "GET", true) => {
            list(&shared, collection, &query)
        }
        ("actions" | "triggers" | "rules" | "packages", "GET", false) => {
            let found = shared
                .state
                .lock()
                .unwrap()
                .entities
                .get(collection)
                .and_then(|m| m.get(&name))
                .cloned();
            match found {
                Some(mut record) => {
                    if query.get("code").map(String::as_str) == Some("false")
                        && let Some(exec) = record.get_mut("exec").and_then(Json::as_object_mut)
                    {
                        exec.remove("code");
                    }
                    reply(200, &record)
                }
                None => error(404, "The requested resource does not exist."),
            }
        }
        ("actions" | "triggers" | "rules" | "packages", "PUT", false) => {
            put(&shared, collection, &name, &query, body)
        }
        ("actions" | "triggers" | "rules" | "packages", "DELETE", false) => {
            let removed = shared
                .state
                .lock()
                .unwrap()
                .entities
                .get_mut(collection)
                .and_then(|m| m.remove(&name));
            match removed {
                Some(record) => reply(200, &record),
                None => error(404, "The requested resource does not exist."),
            }
        }
        ("actions", "POST", false) => invoke(&shared, &name, &query, body).await,
        ("triggers", "POST", false) => fire(&shared, &name, body).await,
        _ => error(405, "Method not allowed."),
    }
}

fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One `limit`/`skip` page (limit 0 or above 200 means 200, default 30).
pub fn page(items: Vec<Json>, query: &BTreeMap<String, String>) -> Vec<Json> {
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(30);
    let limit = if limit == 0 || limit > 200 {
        200
    } else {
        limit
    };
    let skip = query
        .get("skip")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    items.into_iter().skip(skip).take(limit).collect()
}

fn list(shared: &Shared, collection: &str, query: &BTreeMap<String, String>) -> Reply {
    let state = shared.state.lock().unwrap();
    let items: Vec<Json> = state
        .entities
        .get(collection)
        .map(|m| {
            m.values()
                .map(|record| {
                    // Listings are brief: no code, parameters or limits.
                    let mut brief = json!({});
                    for key in ["namespace", "name", "version", "publish", "annotations", "updated"] {
                        if let Some(value) = record.get(key) {
                            brief[key] = value.clone();
                        }
                    }
                    if collection == "actions" {
                        brief["exec"] = json!({"binary": record.pointer("/exec/binary").cloned().unwrap_or(json!(false))});
                    }
                    brief
                })
                .collect()
        })
        .unwrap_or_default();
    reply(200, &Json::Array(page(items, query)))
}

const KINDS: &[&str] = &[
    "nodejs:18",
    "nodejs:20",
    "nodejs:22",
    "nodejs:default",
    "python:3",
    "python:3.10",
    "python:3.11",
    "python:3.12",
    "python:default",
    "sequence",
];

fn put(
    shared: &Shared,
    collection: &str,
    name: &str,
    query: &BTreeMap<String, String>,
    body: Json,
) -> Reply {
    let mut state = shared.state.lock().unwrap();
    let existing = state
        .entities
        .get(collection)
        .and_then(|m| m.get(name))
        .cloned();
    let overwrite = query.get("overwrite").map(String::as_str) == Some("true");
    if existing.is_some() && !overwrite {
        return error(409, "resource already exists");
    }
    let version = existing
        .as_ref()
        .and_then(|e| e.get("version").and_then(Json::as_str))
        .and_then(|v| v.rsplit('.').next().and_then(|p| p.parse::<u32>().ok()))
        .map(|patch| format!("0.0.{}", patch + 1))
        .unwrap_or_else(|| "0.0.1".into());
    let mut record = json!({
        "namespace": shared.namespace, "name": name, "version": version,
        "publish": body.get("publish").cloned().unwrap_or(json!(false)),
        "annotations": body.get("annotations").cloned().unwrap_or(json!([])),
        "parameters": body.get("parameters").cloned().unwrap_or(json!([])),
        "updated": now_ms(),
    });
    match collection {
        "actions" => {
            let kind = body
                .pointer("/exec/kind")
                .and_then(Json::as_str)
                .unwrap_or("");
            if !KINDS.contains(&kind) {
                return error(
                    400,
                    &format!("kind '{kind}' not in Set({})", KINDS.join(", ")),
                );
            }
            if kind == "sequence" {
                for component in body
                    .pointer("/exec/components")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let component = component.as_str().unwrap_or("");
                    let short = component
                        .trim_start_matches('/')
                        .split_once('/')
                        .map(|(_, n)| n)
                        .unwrap_or("");
                    if state
                        .entities
                        .get("actions")
                        .and_then(|m| m.get(short))
                        .is_none()
                    {
                        return error(400, "Sequence component does not exist.");
                    }
                }
            }
            let memory = body
                .pointer("/limits/memory")
                .and_then(Json::as_u64)
                .unwrap_or(256);
            if !(128..=512).contains(&memory) {
                return error(
                    400,
                    &format!(
                        "memory {memory} MB below allowed threshold of 128 MB or exceeds allowed threshold of 512 MB"
                    ),
                );
            }
            let timeout = body
                .pointer("/limits/timeout")
                .and_then(Json::as_u64)
                .unwrap_or(60000);
            record["exec"] = body.get("exec").cloned().unwrap_or(json!({}));
            record["limits"] =
                json!({"timeout": timeout, "memory": memory, "logs": 10, "concurrency": 1});
            let language = kind.split(':').next().unwrap_or(kind);
            if let Some(annotations) = record["annotations"].as_array_mut() {
                annotations.push(json!({"key": "exec", "value": language}));
                annotations.push(json!({"key": "provide-api-key", "value": false}));
            }
        }
        "rules" => {
            let short = |field: &str| {
                body.get(field)
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .split_once('/')
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_default()
            };
            let (trigger, action) = (short("trigger"), short("action"));
            if state
                .entities
                .get("triggers")
                .and_then(|m| m.get(&trigger))
                .is_none()
                || state
                    .entities
                    .get("actions")
                    .and_then(|m| m.get(&action))
                    .is_none()
            {
                return error(404, "The requested resource does not exist.");
            }
            record["trigger"] =
                json!({"namespace": shared.namespace, "name": trigger, "path": shared.namespace});
            record["action"] =
                json!({"namespace": shared.namespace, "name": action, "path": shared.namespace});
            record["status"] = json!("active");
        }
        "triggers" => record["limits"] = json!({}),
        _ => {}
    }
    state
        .entities
        .entry(collection.to_string())
        .or_default()
        .insert(name.to_string(), record.clone());
    if let Some(exec) = record.get_mut("exec").and_then(Json::as_object_mut) {
        exec.remove("code");
    }
    reply(200, &record)
}

fn alarm(shared: &Shared, body: Json) -> Reply {
    let mut state = shared.state.lock().unwrap();
    if body.get("authKey").and_then(Json::as_str) != Some(shared.auth.as_str()) {
        return reply(
            200,
            &json!({"response": {"success": false, "status": "application error", "result": {"error": "The supplied authKey is invalid"}}}),
        );
    }
    let trigger = body
        .get("triggerName")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    match body.get("lifecycleEvent").and_then(Json::as_str) {
        Some("CREATE") => {
            if body.get("cron").and_then(Json::as_str).is_none() {
                return reply(
                    200,
                    &json!({"response": {"success": false, "status": "application error", "result": {"error": "alarms trigger feed is missing the cron parameter"}}}),
                );
            }
            state.alarms.insert(trigger, body);
        }
        Some("DELETE") => {
            state.alarms.remove(&trigger);
        }
        _ => {}
    }
    reply(
        200,
        &json!({"response": {"success": true, "status": "success", "result": {}}}),
    )
}
