//! The per-app hosts of the fake Azure: the SCM site (one-deploy `POST /api/publish`,
//! `GET /api/deployments/{id}` and its `/log`) and the function host, which routes
//! `/api/{route}` to the deployed code (checking function keys for `authLevel: function`) and
//! `/admin/functions/{name}` to non-HTTP functions (master key). The code really runs: a Python
//! runner loads the function's `scriptFile`, builds an `azure.functions.HttpRequest` (PyPI
//! `azure-functions`) and maps the response back; what the code prints is kept as Application
//! Insights traces, served by [`insights_query`]. As on the real worker, the app's
//! `.python_packages/lib/site-packages` ([`PYTHON_PACKAGES`]) is on `PYTHONPATH`, ahead of the
//! interpreter's own packages, and the app root is appended to `sys.path`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use super::azure::{Reply, State, reply, serve};

const RUNNER: &str = r#"
import base64, contextlib, importlib.util, io, json, os, sys, traceback
req = json.load(sys.stdin)
os.environ.update(req["env"])
folder = os.path.join(req["dir"], req["function"])
# As the Python worker does: the app's .python_packages/lib/site-packages comes first (on
# PYTHONPATH, ahead of the worker's own packages), the script root is appended.
sys.path.append(req["dir"])
out, err = io.StringIO(), io.StringIO()
result = {"status": 500, "headers": {}, "body": ""}
try:
    import azure.functions as func
except ImportError:
    print(json.dumps({"missing": "azure-functions"}))
    sys.exit(0)
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        spec = importlib.util.spec_from_file_location("__app__." + req["function"], os.path.join(folder, req["scriptFile"]))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        entry = getattr(module, req.get("entryPoint") or "main")
        if req["kind"] == "http":
            r = func.HttpRequest(method=req["method"], url=req["url"], headers=req["headers"],
                                 params=req["params"], route_params=req["route_params"],
                                 body=base64.b64decode(req["body"]))
            answer = entry(r)
            if isinstance(answer, func.HttpResponse):
                result = {"status": answer.status_code, "headers": dict(answer.headers),
                          "body": base64.b64encode(answer.get_body()).decode()}
            elif answer is None:
                result = {"status": 204, "headers": {}, "body": ""}
            else:
                result = {"status": 200, "headers": {}, "body": base64.b64encode(str(answer).encode()).decode()}
        else:
            class Timer:
                past_due = False
            entry(Timer())
            result = {"status": 202, "headers": {}, "body": ""}
except Exception:
    err.write(traceback.format_exc())
result["stdout"] = out.getvalue().splitlines()
result["stderr"] = err.getvalue().splitlines()
print(json.dumps(result))
"#;

/// Where the Python worker finds an app's own packages, relative to the app root
/// (`/home/site/wwwroot`): its launcher puts this directory on `PYTHONPATH`, before its own.
pub const PYTHON_PACKAGES: &str = ".python_packages/lib/site-packages";

/// The interpreter with `azure-functions`: `STRATUS_TEST_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    std::env::var_os("STRATUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// What was published to an app.
pub struct Deployed {
    dir: tempfile::TempDir,
    functions: BTreeMap<String, Json>,
}

/// A deployment: polls left before it completes, whether it succeeds, its log.
type Deployment = (u32, bool, Vec<String>);

/// One function app's hosts.
pub struct AppHost {
    /// The app name.
    pub name: String,
    /// The app's lower-case ARM path (its settings are keyed by it).
    pub path: String,
    /// The `default` function key.
    pub function_key: String,
    /// The master key.
    pub master_key: String,
    host_addr: String,
    scm_addr: String,
    deployed: Mutex<Option<Deployed>>,
    deployments: Mutex<BTreeMap<String, Deployment>>,
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AppHost {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl AppHost {
    /// Starts the SCM and function host listeners of a new app.
    pub async fn start(state: Arc<Mutex<State>>, name: &str, path: &str) -> Arc<AppHost> {
        let host = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let scm = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host_addr = host.local_addr().expect("address").to_string();
        let scm_addr = scm.local_addr().expect("address").to_string();
        Arc::new_cyclic(|weak: &std::sync::Weak<AppHost>| {
            let for_host = weak.clone();
            let for_scm = weak.clone();
            let host_task = serve(host, move |request| {
                let app = for_host.upgrade();
                async move {
                    match app {
                        Some(app) => app.serve_host(request).await,
                        None => reply(503, &Json::Null),
                    }
                }
            });
            let scm_task = serve(scm, move |request| {
                let app = for_scm.upgrade();
                async move {
                    match app {
                        Some(app) => app.serve_scm(request).await,
                        None => reply(503, &Json::Null),
                    }
                }
            });
            AppHost {
                name: name.to_string(),
                path: path.to_string(),
                function_key: format!("fnkey-{}", uuid::Uuid::new_v4().simple()),
                master_key: format!("master-{}", uuid::Uuid::new_v4().simple()),
                host_addr,
                scm_addr,
                deployed: Mutex::new(None),
                deployments: Mutex::new(BTreeMap::new()),
                state: state.clone(),
                tasks: vec![host_task, scm_task],
            }
        })
    }

    /// The function host's `host:port`.
    pub fn host(&self) -> String {
        self.host_addr.clone()
    }

    /// The SCM site's `host:port`.
    pub fn scm(&self) -> String {
        self.scm_addr.clone()
    }

    /// Whether the deployed package has `function`.
    pub fn has_function(&self, function: &str) -> bool {
        self.deployed
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|d| d.functions.contains_key(function))
    }

    /// The `GET .../functions` records.
    pub fn function_records(&self, site_path: &str) -> Vec<Json> {
        let deployed = self.deployed.lock().unwrap();
        let Some(deployed) = deployed.as_ref() else {
            return Vec::new();
        };
        deployed
            .functions
            .iter()
            .map(|(name, config)| {
                let mut properties = json!({"name": name, "config": config, "isDisabled": false});
                if let Some(route) = http_binding(config)
                    .and_then(|b| b.get("route"))
                    .and_then(Json::as_str)
                {
                    properties["invoke_url_template"] =
                        json!(format!("http://{}/api/{route}", self.host_addr));
                }
                json!({
                    "id": format!("{site_path}/{name}"),
                    "name": format!("{}/{name}", self.name),
                    "type": "Microsoft.Web/sites/functions",
                    "properties": properties
                })
            })
            .collect()
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let known = self.state.lock().unwrap().tokens.clone();
        request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| known.iter().any(|k| k == t))
    }

    async fn serve_scm(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        if !self.authorized(&request) {
            return reply(401, &json!({"Message": "Unauthorized"}));
        }
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if method == "POST" && path == "/api/publish" {
            if !query.contains("RemoteBuild=false") {
                return reply(400, &json!({"Message": "RemoteBuild=false expected"}));
            }
            self.state.lock().unwrap().writes += 1;
            let id = uuid::Uuid::new_v4().to_string();
            let failing = std::mem::take(&mut self.state.lock().unwrap().fail_deployment);
            let log = match (failing, self.unpack(&body)) {
                (true, _) => (
                    false,
                    vec![
                        "Extracting package".into(),
                        "Error: the worker failed to index functions".into(),
                    ],
                ),
                (false, Err(e)) => (false, vec![format!("Error: {e}")]),
                (false, Ok(())) => (
                    true,
                    vec!["Extracting package".into(), "Deployment successful.".into()],
                ),
            };
            self.deployments
                .lock()
                .unwrap()
                .insert(id.clone(), (2, log.0, log.1));
            let mut response = reply(202, &json!({"id": id}))?;
            response.headers_mut().insert(
                "location",
                format!("http://{}/api/deployments/{id}", self.scm_addr)
                    .parse()
                    .expect("url"),
            );
            return Ok(response);
        }
        if method == "GET"
            && let Some(rest) = path.strip_prefix("/api/deployments/")
        {
            let (id, log) = match rest.strip_suffix("/log") {
                Some(id) => (id.to_string(), true),
                None => (rest.to_string(), false),
            };
            let mut deployments = self.deployments.lock().unwrap();
            let Some(entry) = deployments.get_mut(&id) else {
                return reply(404, &json!({"Message": "no such deployment"}));
            };
            if log {
                let lines: Vec<Json> = entry
                    .2
                    .iter()
                    .map(|m| json!({"message": m, "log_time": "2026-11-23T12:00:00Z"}))
                    .collect();
                return reply(200, &Json::Array(lines));
            }
            if entry.0 > 0 {
                entry.0 -= 1;
                return reply(
                    200,
                    &json!({"id": id, "status": 1, "complete": false, "status_text": "Building"}),
                );
            }
            let (status, text) = if entry.1 {
                (4, "")
            } else {
                (3, "Deployment failed")
            };
            return reply(
                200,
                &json!({"id": id, "status": status, "complete": true, "status_text": text}),
            );
        }
        reply(404, &json!({"Message": "not found"}))
    }

    fn unpack(&self, zip: &[u8]) -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
            .map_err(|e| format!("not a zip: {e}"))?;
        let mut functions = BTreeMap::new();
        let mut has_host = false;
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
            let name = entry.name().map_err(|e| e.to_string())?.to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            let target = dir.path().join(&name);
            std::fs::create_dir_all(target.parent().expect("file has a parent"))
                .map_err(|e| e.to_string())?;
            std::fs::write(&target, &bytes).map_err(|e| e.to_string())?;
            has_host |= name == "host.json";
            if let Some(function) = name
                .strip_suffix("/function.json")
                .filter(|f| !f.contains('/'))
            {
                let config: Json =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))?;
                functions.insert(function.to_string(), config);
            }
        }
        if !has_host {
            return Err("the package has no host.json".into());
        }
        *self.deployed.lock().unwrap() = Some(Deployed { dir, functions });
        Ok(())
    }

    async fn serve_host(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let key = request
            .headers()
            .get("x-functions-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix("code="))
                    .map(str::to_string)
            });
        let headers: BTreeMap<String, String> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if let Some(function) = path.strip_prefix("/admin/functions/") {
            if key.as_deref() != Some(&self.master_key) {
                return reply(401, &Json::Null);
            }
            if !self.has_function(function) {
                return reply(404, &Json::Null);
            }
            let run = self.run(function, "timer", json!({})).await;
            return match run {
                Ok(_) => reply(202, &Json::Null),
                Err(e) => reply(500, &json!({"error": e})),
            };
        }
        let Some(route) = path.strip_prefix("/api/") else {
            return reply(404, &Json::Null);
        };
        let found = {
            let deployed = self.deployed.lock().unwrap();
            deployed.as_ref().and_then(|d| {
                d.functions.iter().find_map(|(name, config)| {
                    let binding = http_binding(config)?;
                    match_route(binding.get("route")?.as_str()?, route)?;
                    Some((name.clone(), binding.clone()))
                })
            })
        };
        let Some((function, binding)) = found else {
            return reply(404, &Json::Null);
        };
        if let Some(methods) = binding.get("methods").and_then(Json::as_array)
            && !methods
                .iter()
                .any(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case(&method)))
        {
            return reply(405, &Json::Null);
        }
        let level = binding
            .get("authLevel")
            .and_then(Json::as_str)
            .unwrap_or("function");
        let key_ok = match level {
            "anonymous" => true,
            "admin" => key.as_deref() == Some(&self.master_key),
            _ => {
                key.as_deref() == Some(&self.function_key)
                    || key.as_deref() == Some(&self.master_key)
            }
        };
        if !key_ok {
            return reply(401, &Json::Null);
        }
        let params: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), super::azure::decode(v)))
            .collect();
        let request = json!({
            "method": method,
            "url": format!("http://{}{path}{}", self.host_addr, if query.is_empty() { String::new() } else { format!("?{query}") }),
            "headers": headers,
            "params": params,
            "route_params": route_params_json(&binding, route),
            "body": base64::engine::general_purpose::STANDARD.encode(&body),
        });
        match self.run(&function, "http", request).await {
            Ok(result) => {
                let body = result
                    .get("body")
                    .and_then(Json::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .unwrap_or_default();
                let status = result.get("status").and_then(Json::as_u64).unwrap_or(500) as u16;
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = hyper::StatusCode::from_u16(status)
                    .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                if let Some(headers) = result.get("headers").and_then(Json::as_object) {
                    for (k, v) in headers {
                        if let (Ok(name), Some(Ok(value))) = (
                            k.parse::<hyper::header::HeaderName>(),
                            v.as_str().map(|v| v.parse()),
                        ) {
                            response.headers_mut().insert(name, value);
                        }
                    }
                }
                if let Some(id) = result.get("invocationId").and_then(Json::as_str) {
                    response
                        .headers_mut()
                        .insert("x-ms-invocation-id", id.parse().expect("uuid"));
                }
                Ok(response)
            }
            Err(e) => reply(500, &json!({"error": e})),
        }
    }

    /// Runs `function` with the Python runner; keeps its output as traces.
    async fn run(&self, function: &str, kind: &str, request: Json) -> Result<Json, String> {
        let (dir, config) = {
            let deployed = self.deployed.lock().unwrap();
            let deployed = deployed.as_ref().ok_or("nothing deployed")?;
            let config = deployed
                .functions
                .get(function)
                .ok_or("no such function")?
                .clone();
            (deployed.dir.path().to_path_buf(), config)
        };
        let env = self
            .state
            .lock()
            .unwrap()
            .settings
            .get(&self.path)
            .cloned()
            .unwrap_or(json!({}));
        let mut input = request;
        input["dir"] = json!(dir);
        input["function"] = json!(function);
        input["kind"] = json!(kind);
        input["env"] = env;
        input["scriptFile"] = config
            .get("scriptFile")
            .cloned()
            .unwrap_or(json!("__init__.py"));
        input["entryPoint"] = config.get("entryPoint").cloned().unwrap_or(json!("main"));
        let mut child = tokio::process::Command::new(python())
            .args(["-c", RUNNER])
            .env("PYTHONPATH", dir.join(PYTHON_PACKAGES))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/test (or python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements-azure.txt)", python().display()));
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(input.to_string().as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        drop(stdin);
        let output = child.wait_with_output().await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        let result: Json =
            serde_json::from_str(text.lines().last().unwrap_or("")).map_err(|e| {
                format!(
                    "runner output: {e}: {text} {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        assert!(
            result.get("missing").is_none(),
            "the Python package azure-functions is missing from {}: run scripts/test, or .venv/bin/pip install -r tests/peers/requirements-azure.txt",
            python().display()
        );
        let operation = uuid::Uuid::new_v4().to_string();
        let mut state = self.state.lock().unwrap();
        for (stream, item) in [("stdout", "trace"), ("stderr", "exception")] {
            for line in result
                .get(stream)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
            {
                state.traces.push(json!({
                    "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
                    "itemId": uuid::Uuid::new_v4().to_string(),
                    "operation_Id": operation,
                    "operation_Name": function,
                    "itemType": item,
                    "message": line,
                }));
            }
        }
        let mut result = result;
        result["invocationId"] = json!(operation);
        Ok(result)
    }
}

fn http_binding(config: &Json) -> Option<&Json> {
    config
        .get("bindings")?
        .as_array()?
        .iter()
        .find(|b| b.get("type").and_then(Json::as_str) == Some("httpTrigger"))
}

fn match_route(template: &str, path: &str) -> Option<()> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, segment) in t.iter().enumerate() {
        if segment.starts_with("{*") {
            return Some(());
        }
        let part = p.get(i)?;
        if !(segment.starts_with('{') || segment.eq_ignore_ascii_case(part)) {
            return None;
        }
    }
    (t.len() == p.len()).then_some(())
}

fn route_params_json(binding: &Json, path: &str) -> Json {
    let template = binding.get("route").and_then(Json::as_str).unwrap_or("");
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut out = serde_json::Map::new();
    for (i, segment) in template.trim_matches('/').split('/').enumerate() {
        if let Some(name) = segment.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
            out.insert(name.into(), json!(p[i.min(p.len())..].join("/")));
        } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            out.insert(name.into(), json!(p.get(i).copied().unwrap_or("")));
        }
    }
    Json::Object(out)
}
