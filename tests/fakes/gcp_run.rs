//! The fake's function hosts, in the place of Cloud Run: a deployed revision runs from its
//! build (`gcp_build`) under Google's real Functions Framework — PyPI `functions-framework` for
//! `python*` runtimes, npm `@google-cloud/functions-framework` for `nodejs*` (its own CLI entry,
//! with a preload pinning its listener to 127.0.0.1) — one process per revision, killed on
//! drop. `POST /run/{id}` checks the ID token, gives the request an execution id and a trace
//! (`X-Cloud-Trace-Context` as sent, else a new one, as Cloud Run's front end does) and
//! forwards it. What the process prints becomes log entries the way Cloud Run's logging agent
//! makes them: a JSON line is a structured entry (`jsonPayload`, `labels` from
//! `logging.googleapis.com/labels`, `severity`, `spanId`), any other line a `textPayload`; a
//! line labelled with a request's execution id carries that request's `trace`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use serde_json::{Value as Json, json};
use tokio::io::AsyncBufReadExt;

use super::gcp::{Reply, Shared, State, reply};
use super::gcp_build::{self, Build};

/// One deployed revision running under the Functions Framework.
pub struct Host {
    /// What it runs (object, runtime, entry point, environment).
    pub fingerprint: String,
    /// Its port.
    pub port: u16,
    _child: tokio::process::Child,
    _build: Arc<Build>,
}

const LABELS: &str = "logging.googleapis.com/labels";
const SPAN: &str = "logging.googleapis.com/spanId";
const TRACE: &str = "logging.googleapis.com/trace";

fn new_entry(state: &mut State, project: &str, id: &str, log: &str) -> Json {
    let n = state.next();
    json!({
        "insertId": format!("e{n:08}"),
        "timestamp": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        "logName": format!("projects/{project}/logs/run.googleapis.com%2F{log}"),
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": id, "location": "us-central1", "project_id": project}},
    })
}

/// Cloud Run's request log of one served call, which arrives a little late, as real entries do.
pub fn push_request_entry(
    state: Arc<Mutex<State>>,
    project: String,
    id: String,
    http_request: Json,
    trace: String,
) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut state = state.lock().unwrap();
        let mut entry = new_entry(&mut state, &project, &id, "requests");
        entry["httpRequest"] = http_request;
        entry["severity"] = json!("INFO");
        entry["trace"] = json!(format!("projects/{project}/traces/{trace}"));
        state.entries.push(entry);
    });
}

/// The entry Cloud Run's agent makes of one printed line.
pub fn push_entry(state: &Arc<Mutex<State>>, project: &str, id: &str, stream: &str, line: &str) {
    let mut state = state.lock().unwrap();
    let mut entry = new_entry(&mut state, project, id, stream);
    match serde_json::from_str::<Json>(line) {
        Ok(Json::Object(mut payload)) => {
            if let Some(labels) = payload.remove(LABELS) {
                entry["labels"] = labels;
            }
            if let Some(span) = payload.remove(SPAN) {
                entry["spanId"] = span;
            }
            if let Some(trace) = payload.remove(TRACE) {
                entry["trace"] = trace;
            }
            if let Some(severity) = payload.remove("severity") {
                entry["severity"] = severity;
            }
            entry["jsonPayload"] = Json::Object(payload);
        }
        _ => entry["textPayload"] = json!(line),
    }
    let execution = entry
        .pointer("/labels/execution_id")
        .and_then(Json::as_str)
        .map(str::to_string);
    if entry.get("trace").is_none()
        && let Some(trace) = execution.and_then(|e| state.traces.get(&e).cloned())
    {
        entry["trace"] = json!(format!("projects/{project}/traces/{trace}"));
    }
    state.entries.push(entry);
}

fn framework_command(
    runtime: &str,
    entry: &str,
    signature: &str,
    code: &Path,
    port: u16,
) -> tokio::process::Command {
    if runtime.starts_with("nodejs") {
        let mut command = tokio::process::Command::new("node");
        command
            .arg("--require")
            .arg(gcp_build::loopback_preload())
            .arg(gcp_build::node_framework())
            .args(["--target", entry, "--signature-type", signature, "--source"])
            .arg(code)
            .args(["--port", &port.to_string()])
            .env("NODE_ENV", "production")
            .env("FUNCTION_TARGET", entry)
            .env("FUNCTION_SIGNATURE_TYPE", signature);
        return command;
    }
    let mut command = tokio::process::Command::new(gcp_build::python());
    command.args([
        "-m",
        "functions_framework",
        "--target",
        entry,
        "--signature-type",
        signature,
        "--source",
        "main.py",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
    command.env("PYTHONUNBUFFERED", "1");
    command
}

async fn start_host(
    shared: &Shared,
    id: &str,
    function: &Json,
    fingerprint: String,
    build: Arc<Build>,
) -> std::io::Result<Host> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let text = |pointer: &str, default: &'static str| {
        function
            .pointer(pointer)
            .and_then(Json::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let entry = text("/buildConfig/entryPoint", "main");
    let runtime = text("/buildConfig/runtime", "python312");
    let code = build.code();
    // As Cloud Functions does: a function with an event trigger gets CloudEvents.
    let signature = if function.get("eventTrigger").is_some() {
        "cloudevent"
    } else {
        "http"
    };
    let mut command = framework_command(&runtime, &entry, signature, &code, port);
    command
        .current_dir(&code)
        .env("PYTHONPATH", build.site())
        .env("PORT", port.to_string())
        .env("K_SERVICE", id)
        .env("K_REVISION", text("/serviceConfig/revision", ""))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(Json::Object(env)) = function.pointer("/serviceConfig/environmentVariables") {
        for (key, value) in env {
            command.env(key, value.as_str().unwrap_or(""));
        }
    }
    let mut child = command.spawn()?;
    let pipes: [(Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>, &str); 2] = [
        (child.stdout.take().map(|p| Box::new(p) as _), "stdout"),
        (child.stderr.take().map(|p| Box::new(p) as _), "stderr"),
    ];
    for (pipe, stream) in pipes {
        let Some(pipe) = pipe else { continue };
        let state = shared.state.clone();
        let (project, id) = (shared.project.clone(), id.to_string());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                push_entry(&state, &project, &id, stream, &line);
            }
        });
    }
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(std::io::Error::other(format!(
                "the Functions Framework for {runtime} exited with {status} (see the function's logs)"
            )));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Host {
                fingerprint,
                port,
                _child: child,
                _build: build,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(std::io::Error::other(
        "the Functions Framework did not start within 10 s",
    ))
}

/// The key under which the build of `function`'s source for its runtime is kept.
pub fn build_key(function: &Json) -> String {
    format!(
        "{}|{}",
        function
            .pointer("/buildConfig/source/storageSource/object")
            .and_then(Json::as_str)
            .unwrap_or(""),
        function
            .pointer("/buildConfig/runtime")
            .and_then(Json::as_str)
            .unwrap_or("")
    )
}

/// The build of `function`'s source, started now (in the background) unless one exists.
pub fn ensure_build(shared: &Shared, function: &Json) -> std::io::Result<Arc<Build>> {
    let key = build_key(function);
    let mut state = shared.state.lock().unwrap();
    if let Some(build) = state.builds.get(&key) {
        return Ok(build.clone());
    }
    let build = Arc::new(Build::new()?);
    let object = key.split('|').next().unwrap_or("").to_string();
    let zip = state.objects.get(&object).cloned().unwrap_or_default();
    let runtime = key.split('|').nth(1).unwrap_or("").to_string();
    state.builds.insert(key, build.clone());
    let running = build.clone();
    tokio::spawn(async move { running.run(zip, &runtime).await });
    Ok(build)
}

async fn host_for(shared: &Shared, id: &str, function: &Json) -> Result<Arc<Host>, String> {
    let fingerprint = format!(
        "{}|{}|{}",
        build_key(function),
        function["buildConfig"]["entryPoint"],
        function["serviceConfig"]["environmentVariables"]
    );
    let existing = shared
        .state
        .lock()
        .unwrap()
        .hosts
        .get(id)
        .filter(|h| h.fingerprint == fingerprint)
        .cloned();
    if let Some(host) = existing {
        return Ok(host);
    }
    let build = shared
        .state
        .lock()
        .unwrap()
        .builds
        .get(&build_key(function))
        .cloned()
        .ok_or_else(|| format!("function {id} has no build"))?;
    match build.outcome() {
        Some(Ok(())) => {}
        Some(Err(message)) => return Err(message),
        None => return Err(format!("function {id} is still being built")),
    }
    let host = start_host(shared, id, function, fingerprint, build)
        .await
        .map(Arc::new)
        .map_err(|e| e.to_string())?;
    shared
        .state
        .lock()
        .unwrap()
        .hosts
        .insert(id.to_string(), host.clone());
    Ok(host)
}

fn trace_id(headers: &hyper::HeaderMap) -> String {
    headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('/').next())
        .filter(|t| t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// `POST /run/{id}`: checks the ID token's audience, then forwards to the function's host.
pub async fn run(
    shared: &Shared,
    id: &str,
    method: &str,
    query: &str,
    headers: &hyper::HeaderMap,
    bearer: Option<&str>,
    body: Bytes,
) -> Reply {
    let url = format!("{}/run/{id}", shared.url);
    let (function, audience) = {
        let state = shared.state.lock().unwrap();
        (
            state.functions.get(id).cloned(),
            bearer.and_then(|t| state.id_tokens.get(t).cloned()),
        )
    };
    match audience.as_deref() {
        None => {
            return reply(
                401,
                &json!({"error": "Your client does not have permission: no valid ID token"}),
            );
        }
        Some(aud) if aud != url && aud != "*" => {
            return reply(
                403,
                &json!({"error": format!("ID token audience {aud} is not {url}")}),
            );
        }
        _ => {}
    }
    let Some(function) = function else {
        return reply(404, &json!({"error": "Page not found"}));
    };
    let host = match host_for(shared, id, &function).await {
        Ok(host) => host,
        Err(error) => return reply(500, &json!({"error": error})),
    };
    let execution = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let trace = trace_id(headers);
    shared
        .state
        .lock()
        .unwrap()
        .traces
        .insert(execution.clone(), trace.clone());
    let client = stratus::http::bare_client();
    let target = if query.is_empty() {
        format!("http://127.0.0.1:{}/", host.port)
    } else {
        format!("http://127.0.0.1:{}/?{query}", host.port)
    };
    let mut request = client
        .request(method.parse().unwrap_or(reqwest::Method::POST), target)
        .header("function-execution-id", &execution)
        .body(body.to_vec());
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "host" | "authorization" | "content-length" | "x-cloud-trace-context"
        ) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let span = headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('/'))
        .map_or("1;o=1".to_string(), |(_, span)| span.to_string());
    request = request.header("x-cloud-trace-context", format!("{trace}/{span}"));
    let started = std::time::Instant::now();
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => return reply(502, &json!({"error": error.to_string()})),
    };
    push_request_entry(
        shared.state.clone(),
        shared.project.clone(),
        id.to_string(),
        json!({"requestMethod": method, "requestUrl": url, "status": answer.status().as_u16(),
               "latency": format!("{:.6}s", started.elapsed().as_secs_f64())}),
        trace,
    );
    let mut response = Response::builder()
        .status(answer.status().as_u16())
        .header("function-execution-id", &execution);
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    Ok(response.body(Full::new(bytes)).expect("a valid response"))
}

/// One CloudEvent as Eventarc delivers it (binary content mode).
pub struct CloudEvent {
    /// `ce-type`.
    pub event_type: String,
    /// `ce-source`.
    pub source: String,
    /// `ce-subject`, when there is one.
    pub subject: Option<String>,
    /// The JSON body.
    pub data: Json,
}

/// Delivers `event` to function `id` (started from its build if need be); its HTTP status.
pub async fn deliver(shared: &Shared, id: &str, event: &CloudEvent) -> Result<u16, String> {
    let function = shared
        .state
        .lock()
        .unwrap()
        .functions
        .get(id)
        .cloned()
        .ok_or_else(|| format!("no function {id}"))?;
    let host = host_for(shared, id, &function).await?;
    let execution = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let event_id = {
        let mut state = shared.state.lock().unwrap();
        state.traces.insert(execution.clone(), trace.clone());
        state.next().to_string()
    };
    let mut request = stratus::http::bare_client()
        .post(format!("http://127.0.0.1:{}/", host.port))
        .header("content-type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", &event_id)
        .header("ce-type", &event.event_type)
        .header("ce-source", &event.source)
        .header(
            "ce-time",
            humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        )
        .header("function-execution-id", &execution)
        .header("x-cloud-trace-context", format!("{trace}/1;o=1"))
        .body(event.data.to_string());
    if let Some(subject) = &event.subject {
        request = request.header("ce-subject", subject);
    }
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    push_request_entry(
        shared.state.clone(),
        shared.project.clone(),
        id.to_string(),
        json!({"requestMethod": "POST", "requestUrl": format!("{}/run/{id}", shared.url), "status": status}),
        trace,
    );
    Ok(status)
}
