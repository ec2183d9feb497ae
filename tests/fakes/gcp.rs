//! A fake Google Cloud on 127.0.0.1 that follows the published Cloud Functions v2 and Cloud
//! Logging v2 REST APIs: `v2/projects/{p}/locations/{r}/functions[/{id}]` (list with small
//! pages, get, create with `functionId`, patch with `updateMask`, delete),
//! `functions:generateUploadUrl` and the signed upload URL it hands out, long-running
//! operations that take several polls, `v2/entries:list`, an OAuth token endpoint that verifies
//! the RS256 JWT against the test key, `google.rpc.Status` error bodies, id and label
//! validation as the real API does it, and injectable faults. A create or update builds the
//! source as Google's buildpacks do (`gcp_build`: dependencies from `requirements.txt` /
//! `package.json` installed); deployed Python and Node.js code runs under Google's real
//! Functions Framework from PyPI / npm (`gcp_run`); what it prints becomes log entries.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use super::gcp_build::{self, Build};
use super::gcp_host::{self, TestKey};
use super::gcp_run::{self, Host};

/// A fault the next matching request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (with `Retry-After` seconds when given).
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Drop,
    /// Answer normally after this long.
    Slow(Duration),
}

/// A pending long-running operation.
pub struct Operation {
    /// Polls left before it is done.
    pub polls_left: u32,
    /// `response` when done.
    pub response: Json,
    /// An error it ends with instead.
    pub error: Option<String>,
    /// The build it waits for (create and update); its failure is the operation's error.
    pub build: Option<Arc<Build>>,
}

/// What the fake holds.
#[derive(Default)]
pub struct State {
    /// Functions by id.
    pub functions: BTreeMap<String, Json>,
    /// Upload tokens handed out → object name.
    pub uploads: BTreeMap<String, String>,
    /// Uploaded objects.
    pub objects: BTreeMap<String, Vec<u8>>,
    /// Operations by name.
    pub operations: BTreeMap<String, Operation>,
    /// Valid access tokens.
    pub access_tokens: Vec<String>,
    /// ID tokens → audience.
    pub id_tokens: BTreeMap<String, String>,
    /// Log entries, oldest first.
    pub entries: Vec<Json>,
    /// Requests that change state (uploads, creates, patches, deletes).
    pub writes: usize,
    /// Every request, `METHOD /path?query`.
    pub requests: Vec<String>,
    /// Token requests seen.
    pub token_requests: usize,
    /// Running function hosts by id.
    pub hosts: BTreeMap<String, Arc<Host>>,
    /// Builds by uploaded object and runtime.
    pub builds: BTreeMap<String, Arc<Build>>,
    /// Execution id of each call → its trace id (32 hex digits).
    pub traces: BTreeMap<String, String>,
    /// The next operation ends in this error.
    pub fail_next_operation: Option<String>,
    faults: VecDeque<(Option<String>, Fault)>,
    counter: u64,
}

impl State {
    /// A fresh number for names.
    pub fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// What every connection shares.
pub struct Shared {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The project.
    pub project: String,
    /// The region.
    pub region: String,
    /// The test key.
    pub key: TestKey,
    /// The state.
    pub state: Arc<Mutex<State>>,
}

/// A running fake.
pub struct FakeGcp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The project it serves.
    pub project: String,
    /// The region.
    pub region: String,
    /// Everything shared with the server.
    pub shared: Arc<Shared>,
    /// Holds the key file.
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGcp {
    fn drop(&mut self) {
        self.task.abort();
        // Dropping the hosts kills their processes.
        if let Ok(mut state) = self.shared.state.lock() {
            state.hosts.clear();
        }
    }
}

pub use super::Reply;

/// A JSON answer.
pub fn reply(status: u16, body: &Json) -> Reply {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response"))
}

/// A `google.rpc.Status` error body.
pub fn rpc_error(status: u16, message: &str) -> Reply {
    let code = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    reply(
        status,
        &json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

impl FakeGcp {
    /// Starts the fake for project `stratus-test`, region `us-central1`, and writes a
    /// service-account key file (a key generated now) whose `token_uri` points at it.
    pub async fn start() -> FakeGcp {
        gcp_build::require_functions_frameworks();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let dir = tempfile::tempdir().unwrap();
        let key = TestKey::load();
        std::fs::write(
            dir.path().join("key.json"),
            key.key_file("stratus-test", &format!("{url}/token"))
                .to_string(),
        )
        .unwrap();
        let shared = Arc::new(Shared {
            url: url.clone(),
            project: "stratus-test".into(),
            region: "us-central1".into(),
            key,
            state: Arc::new(Mutex::new(State::default())),
        });
        let server = shared.clone();
        let task = super::serve(listener, move |request| handle(server.clone(), request));
        FakeGcp {
            url,
            project: "stratus-test".into(),
            region: "us-central1".into(),
            shared,
            dir,
            task,
        }
    }

    /// A provider pointed at this fake with its key file, quick retries and quick polls.
    pub fn provider(&self) -> stratus::providers::gcp::GcpProvider {
        use stratus::http::{HttpConfig, PollConfig, RetryConfig};
        use stratus::providers::gcp::config::{GcpConfig, base_url};
        use stratus::providers::gcp::credential::Credential;
        let config = GcpConfig {
            project: self.project.clone(),
            region: self.region.clone(),
            functions_endpoint: base_url(&self.url, "test").unwrap(),
            logging_endpoint: base_url(&self.url, "test").unwrap(),
            credential: Credential::from_file(&self.key_file()).unwrap(),
            source: "test".into(),
        };
        let http = HttpConfig {
            request_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(3),
            retry: RetryConfig {
                max_retries: 4,
                base: Duration::from_millis(10),
                max_backoff: Duration::from_millis(100),
                total_timeout: Duration::from_secs(30),
                max_retry_after: Duration::from_secs(5),
            },
            ..HttpConfig::default()
        };
        let poll = PollConfig {
            interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(50),
            timeout: Duration::from_secs(30),
        };
        stratus::providers::gcp::GcpProvider::new(config, http, poll).unwrap()
    }

    /// The service-account key file.
    pub fn key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("key.json")
    }

    /// The state.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// The next request whose path contains `path` (any, when `None`) meets `fault`.
    pub fn inject(&self, path: Option<&str>, fault: Fault) {
        self.state()
            .faults
            .push_back((path.map(str::to_string), fault));
    }

    /// Faults not met yet.
    pub fn pending_faults(&self) -> usize {
        self.state().faults.len()
    }

    /// How many writes were made.
    pub fn writes(&self) -> usize {
        self.state().writes
    }

    /// Ids of the stored functions.
    pub fn function_ids(&self) -> Vec<String> {
        self.state().functions.keys().cloned().collect()
    }

    /// A stored function.
    pub fn function(&self, id: &str) -> Option<Json> {
        self.state().functions.get(id).cloned()
    }

    /// Stores a function directly (another tool's, or another stage's).
    pub fn seed(&self, id: &str, labels: Json) {
        let name = format!(
            "projects/{}/locations/{}/functions/{id}",
            self.project, self.region
        );
        self.state().functions.insert(
            id.to_string(),
            json!({"name": name, "state": "ACTIVE", "environment": "GEN_2", "labels": labels,
                   "buildConfig": {"runtime": "python312", "entryPoint": "main"},
                   "serviceConfig": {"availableMemory": "256M", "timeoutSeconds": 60}}),
        );
    }
}

impl FakeGcp {
    /// Publishes `message` to Pub/Sub topic `topic` of this project: every function whose
    /// trigger listens to it gets the CloudEvent Eventarc sends. Each one's id and answer status.
    pub async fn publish(&self, topic: &str, message: &str) -> Vec<(String, u16)> {
        use base64::Engine;
        let topic = format!("projects/{}/topics/{topic}", self.project);
        let n = self.state().next();
        let event = gcp_run::CloudEvent {
            event_type: "google.cloud.pubsub.topic.v1.messagePublished".into(),
            source: format!("//pubsub.googleapis.com/{topic}"),
            subject: None,
            data: json!({
                "message": {
                    "data": base64::engine::general_purpose::STANDARD.encode(message),
                    "messageId": n.to_string(),
                    "publishTime": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                },
                "subscription": format!("projects/{}/subscriptions/eventarc-{n}", self.project),
            }),
        };
        self.deliver_where(&event, |trigger| trigger["pubsubTopic"] == topic.as_str())
            .await
    }

    /// Finalizes object `name` in bucket `bucket`: every function whose trigger listens to
    /// `google.cloud.storage.object.v1.finalized` on it gets the CloudEvent.
    pub async fn upload(&self, bucket: &str, name: &str, size: usize) -> Vec<(String, u16)> {
        let event = gcp_run::CloudEvent {
            event_type: "google.cloud.storage.object.v1.finalized".into(),
            source: format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
            subject: Some(format!("objects/{name}")),
            data: json!({"bucket": bucket, "name": name, "size": size.to_string(),
                         "kind": "storage#object", "contentType": "application/octet-stream"}),
        };
        self.deliver_where(&event, |trigger| {
            trigger["eventType"] == event.event_type.as_str()
                && trigger["eventFilters"].as_array().is_some_and(|f| {
                    f.iter()
                        .any(|f| f["attribute"] == "bucket" && f["value"] == bucket)
                })
        })
        .await
    }

    async fn deliver_where(
        &self,
        event: &gcp_run::CloudEvent,
        listens: impl Fn(&Json) -> bool,
    ) -> Vec<(String, u16)> {
        let targets: Vec<String> = self
            .state()
            .functions
            .iter()
            .filter(|(_, f)| f.get("eventTrigger").is_some_and(&listens))
            .map(|(id, _)| id.clone())
            .collect();
        let mut answers = Vec::new();
        for id in targets {
            let status = gcp_run::deliver(&self.shared, &id, event)
                .await
                .unwrap_or_else(|e| panic!("delivering to {id}: {e}"));
            answers.push((id, status));
        }
        answers
    }
}

fn take_fault(state: &mut State, path: &str) -> Option<Fault> {
    let index = state
        .faults
        .iter()
        .position(|(filter, _)| filter.as_deref().is_none_or(|f| path.contains(f)))?;
    state.faults.remove(index).map(|(_, fault)| fault)
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Reply {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let fault = {
        let mut state = shared.state.lock().unwrap();
        state.requests.push(format!("{method} {path}?{query}"));
        take_fault(&mut state, &path)
    };
    match fault {
        Some(Fault::Drop) => return Err(std::io::Error::other("connection dropped (injected)")),
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Status(status, retry_after)) => {
            let mut response = rpc_error(status, "injected fault")?;
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(
                    "retry-after",
                    seconds.to_string().parse().expect("a header value"),
                );
            }
            return Ok(response);
        }
        None => {}
    }
    let headers = request.headers().clone();
    let bearer = headers
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
    if path == "/token" {
        return gcp_host::token(&shared, &body);
    }
    if path.starts_with("/computeMetadata/v1/instance/service-accounts/default/") {
        return gcp_host::metadata(&shared, &path, &query, &headers);
    }
    if let Some(token) = path.strip_prefix("/upload/") {
        return upload(&shared, token, &headers, &body);
    }
    if let Some(id) = path.strip_prefix("/run/") {
        return gcp_run::run(
            &shared,
            id,
            &method,
            &query,
            &headers,
            bearer.as_deref(),
            body,
        )
        .await;
    }
    let authorized =
        bearer.is_some_and(|token| shared.state.lock().unwrap().access_tokens.contains(&token));
    if !authorized {
        return rpc_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    if path == "/v2/entries:list" && method == "POST" {
        return gcp_host::list_entries(&shared, &body);
    }
    super::gcp_api::route(&shared, &method, &path, &query, &body)
}

fn upload(shared: &Shared, token: &str, headers: &hyper::HeaderMap, body: &[u8]) -> Reply {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/zip") {
        return reply(
            400,
            &json!({"error": "signed URL expects content-type application/zip"}),
        );
    }
    let mut state = shared.state.lock().unwrap();
    let Some(object) = state.uploads.get(token).cloned() else {
        return reply(403, &json!({"error": "SignatureDoesNotMatch"}));
    };
    state.writes += 1;
    state.objects.insert(object, body.to_vec());
    reply(200, &json!({}))
}
