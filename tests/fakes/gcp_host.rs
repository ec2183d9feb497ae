//! The fake's OAuth token endpoint (RS256 JWTs verified against a key generated per run), its
//! function host (the deployed zip run by Google's real Functions Framework, one process per
//! deployed revision, killed on drop) and Cloud Logging `entries:list` over what it printed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use ring::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value as Json, json};
use tokio::io::AsyncBufReadExt;

use super::gcp::{Reply, Shared, State, reply, rpc_error};

/// The refresh token of the fake's `authorized_user`.
pub const USER_REFRESH_TOKEN: &str = "1//fake-refresh-token-abcdef";
/// Its client secret.
pub const USER_CLIENT_SECRET: &str = "fake-client-secret-123";
/// The service account's email.
pub const SA_EMAIL: &str = "deployer@stratus-test.iam.gserviceaccount.com";

/// The TEST-ONLY RSA key in tests/fixtures/gcp-test-only-key.pem (made once with `openssl
/// genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`; ring signs and verifies but does not
/// generate RSA keys). It grants nothing anywhere but in the fake.
pub struct TestKey {
    /// The key pair.
    pub pair: RsaKeyPair,
    /// PKCS#8 PEM of the private key.
    pub pem: String,
}

impl TestKey {
    /// The test key the fake trusts.
    pub fn load() -> TestKey {
        TestKey::from_pem(include_str!("../fixtures/gcp-test-only-key.pem"))
    }

    /// Another TEST-ONLY key (tests/fixtures/gcp-test-only-other-key.pem), which the fake does
    /// not trust.
    pub fn other() -> TestKey {
        TestKey::from_pem(include_str!("../fixtures/gcp-test-only-other-key.pem"))
    }

    fn from_pem(pem: &str) -> TestKey {
        let pem = pem.to_string();
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("the fixture is PEM");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("the fixture is a PKCS#8 RSA key");
        TestKey { pair, pem }
    }

    /// A service-account key file for `project` whose token endpoint is `token_uri`.
    pub fn key_file(&self, project: &str, token_uri: &str) -> Json {
        json!({"type": "service_account", "project_id": project, "private_key_id": "test-only",
               "private_key": self.pem, "client_email": SA_EMAIL, "client_id": "1", "token_uri": token_uri})
    }
}

/// The Python that runs the Functions Framework: `STRATUS_TEST_PYTHON` or `<repo>/.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("STRATUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// Fails (never skips) when the Functions Framework is not installed.
pub fn require_functions_framework() {
    let python = python();
    let ok = std::process::Command::new(&python)
        .args(["-c", "import functions_framework"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the GCP tests need Google's Functions Framework in {}: run `scripts/test`, or \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements-gcp.txt` \
         (or set STRATUS_TEST_PYTHON)",
        python.display()
    );
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn form(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ");
        let mut out = Vec::new();
        let raw = bytes.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%'
                && i + 2 < raw.len()
                && let Ok(b) =
                    u8::from_str_radix(std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(raw[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn oauth_error(error: &str) -> Reply {
    reply(400, &json!({"error": error, "error_description": error}))
}

/// `POST /token`: the JWT-bearer grant (signature verified) and the refresh-token grant.
pub fn token(shared: &Shared, body: &[u8]) -> Reply {
    let form = form(body);
    let mut state = shared.state.lock().unwrap();
    state.token_requests += 1;
    let n = state.next();
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else {
                return oauth_error("invalid_request");
            };
            let parts: Vec<&str> = assertion.split('.').collect();
            if parts.len() != 3 {
                return oauth_error("invalid_grant");
            }
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let (Ok(header), Ok(claims), Ok(signature)) = (
                b64.decode(parts[0]),
                b64.decode(parts[1]),
                b64.decode(parts[2]),
            ) else {
                return oauth_error("invalid_grant");
            };
            let public = UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                shared.key.pair.public_key().as_ref(),
            );
            if public
                .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
                .is_err()
            {
                return oauth_error("invalid_grant: Invalid JWT Signature.");
            }
            let header: Json = serde_json::from_slice(&header).unwrap_or(Json::Null);
            let claims: Json = serde_json::from_slice(&claims).unwrap_or(Json::Null);
            let token_uri = format!("{}/token", shared.url);
            let exp = claims["exp"].as_u64().unwrap_or(0);
            if header["alg"] != "RS256"
                || claims["iss"] != SA_EMAIL
                || claims["aud"] != token_uri.as_str()
                || exp < now_secs()
                || exp > now_secs() + 3700
            {
                return oauth_error("invalid_grant: bad claims");
            }
            if let Some(audience) = claims["target_audience"].as_str() {
                let id_token = format!("idt-{n}-{}", uuid::Uuid::new_v4().simple());
                state
                    .id_tokens
                    .insert(id_token.clone(), audience.to_string());
                return reply(200, &json!({"id_token": id_token}));
            }
            if !claims["scope"]
                .as_str()
                .unwrap_or("")
                .contains("https://www.googleapis.com/auth/cloud-platform")
            {
                return oauth_error("invalid_scope");
            }
            let access = format!("ya29.fake-{n}-{}", uuid::Uuid::new_v4().simple());
            state.access_tokens.push(access.clone());
            reply(
                200,
                &json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
            )
        }
        Some("refresh_token") => {
            if form.get("refresh_token").map(String::as_str) != Some(USER_REFRESH_TOKEN)
                || form.get("client_secret").map(String::as_str) != Some(USER_CLIENT_SECRET)
            {
                return oauth_error("invalid_grant");
            }
            let access = format!("ya29.user-{n}");
            let id_token = format!("idt-user-{n}");
            state.access_tokens.push(access.clone());
            state.id_tokens.insert(id_token.clone(), "*".into());
            reply(
                200,
                &json!({"access_token": access, "expires_in": 3599, "id_token": id_token}),
            )
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

/// The metadata server's token and identity routes (`Metadata-Flavor: Google` required).
pub fn metadata(shared: &Shared, path: &str, query: &str, headers: &hyper::HeaderMap) -> Reply {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return reply(
            403,
            &json!({"error": "Missing Metadata-Flavor:Google header."}),
        );
    }
    let mut state = shared.state.lock().unwrap();
    state.token_requests += 1;
    let n = state.next();
    if path.ends_with("/token") {
        let access = format!("ya29.metadata-{n}");
        state.access_tokens.push(access.clone());
        return reply(
            200,
            &json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
        );
    }
    let audience = query
        .split('&')
        .find_map(|p| p.strip_prefix("audience="))
        .map(|a| a.replace("%3A", ":").replace("%2F", "/"))
        .unwrap_or_default();
    let id_token = format!("idt-metadata-{n}");
    state.id_tokens.insert(id_token.clone(), audience);
    Ok(Response::builder()
        .status(200)
        .body(Full::new(Bytes::from(id_token)))
        .expect("a valid response"))
}

/// One deployed revision running under the Functions Framework.
pub struct Host {
    /// What it runs (object, entry point, environment).
    pub fingerprint: String,
    /// Its port.
    pub port: u16,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

fn push_entry(state: &Arc<Mutex<State>>, project: &str, id: &str, stream: &str, line: String) {
    let mut state = state.lock().unwrap();
    let n = state.next();
    state.entries.push(json!({
        "insertId": format!("e{n:08}"),
        "timestamp": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        "logName": format!("projects/{project}/logs/run.googleapis.com%2F{stream}"),
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": id, "location": "us-central1", "project_id": project}},
        "textPayload": line,
    }));
}

async fn start_host(
    shared: &Shared,
    id: &str,
    function: &Json,
    fingerprint: String,
    zip: Vec<u8>,
) -> std::io::Result<Host> {
    let dir = tempfile::tempdir()?;
    let zip_path = dir.path().join("source.zip");
    std::fs::write(&zip_path, zip)?;
    let code = dir.path().join("code");
    stratus::package::extract(&zip_path, &code)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let entry = function
        .pointer("/buildConfig/entryPoint")
        .and_then(Json::as_str)
        .unwrap_or("main");
    let mut command = tokio::process::Command::new(python());
    command
        .args([
            "-m",
            "functions_framework",
            "--target",
            entry,
            "--source",
            "main.py",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(&code)
        .env("PYTHONUNBUFFERED", "1")
        .env("K_SERVICE", id)
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
    for (pipe, stream) in [
        (
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            "stdout",
        ),
        (
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            "stderr",
        ),
    ] {
        let Some(pipe) = pipe else { continue };
        let state = shared.state.clone();
        let (project, id) = (shared.project.clone(), id.to_string());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                push_entry(&state, &project, &id, stream, line);
            }
        });
    }
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Host {
                fingerprint,
                port,
                _child: child,
                _dir: dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(std::io::Error::other(
        "the Functions Framework did not start within 10 s",
    ))
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
    let object = function
        .pointer("/buildConfig/source/storageSource/object")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let fingerprint = format!(
        "{object}|{}|{}",
        function["buildConfig"]["entryPoint"], function["serviceConfig"]["environmentVariables"]
    );
    let existing = shared
        .state
        .lock()
        .unwrap()
        .hosts
        .get(id)
        .filter(|h| h.fingerprint == fingerprint)
        .cloned();
    let host = match existing {
        Some(host) => host,
        None => {
            let zip = shared
                .state
                .lock()
                .unwrap()
                .objects
                .get(&object)
                .cloned()
                .unwrap_or_default();
            let host = match start_host(shared, id, &function, fingerprint, zip).await {
                Ok(host) => Arc::new(host),
                Err(error) => return reply(500, &json!({"error": error.to_string()})),
            };
            shared
                .state
                .lock()
                .unwrap()
                .hosts
                .insert(id.to_string(), host.clone());
            host
        }
    };
    let execution = uuid::Uuid::new_v4().simple().to_string();
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
        if !matches!(name.as_str(), "host" | "authorization" | "content-length") {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => return reply(502, &json!({"error": error.to_string()})),
    };
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

/// `POST v2/entries:list` with the filter clauses stratus writes, in small pages.
pub fn list_entries(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(body) = serde_json::from_slice::<Json>(body) else {
        return rpc_error(400, "Invalid JSON payload received.");
    };
    if body["resourceNames"] != json!([format!("projects/{}", shared.project)]) {
        return rpc_error(400, "resourceNames must name the project");
    }
    let mut clauses = Vec::new();
    for clause in body["filter"].as_str().unwrap_or("").split(" AND ") {
        let parsed = [">=", "=", ":"].iter().find_map(|op| {
            let (key, value) = clause.split_once(op)?;
            let value = value
                .strip_prefix('"')?
                .strip_suffix('"')?
                .replace("\\\"", "\"")
                .replace("\\\\", "\\");
            Some((key.to_string(), *op, value))
        });
        match parsed {
            Some(clause) => clauses.push(clause),
            None => return rpc_error(400, &format!("Unparseable filter clause: {clause}")),
        }
    }
    let matches = |entry: &Json| {
        clauses.iter().all(|(key, op, value)| {
            let field = match key.as_str() {
                "resource.type" => entry.pointer("/resource/type"),
                "resource.labels.service_name" => entry.pointer("/resource/labels/service_name"),
                "timestamp" => entry.get("timestamp"),
                "textPayload" => entry.get("textPayload"),
                _ => None,
            }
            .and_then(Json::as_str)
            .unwrap_or("");
            match *op {
                "=" => field == value,
                ":" => field.contains(value.as_str()),
                _ => {
                    humantime::parse_rfc3339_weak(field).ok()
                        >= humantime::parse_rfc3339_weak(value).ok()
                }
            }
        })
    };
    let state = shared.state.lock().unwrap();
    let all: Vec<&Json> = state.entries.iter().filter(|e| matches(e)).collect();
    let size = body["pageSize"].as_u64().unwrap_or(2).min(2) as usize;
    let start: usize = body["pageToken"]
        .as_str()
        .and_then(|t| t.strip_prefix('t')?.parse().ok())
        .unwrap_or(0);
    let mut answer = json!({"entries": all.iter().skip(start).take(size).collect::<Vec<_>>()});
    if start + size < all.len() {
        answer["nextPageToken"] = json!(format!("t{}", start + size));
    }
    reply(200, &answer)
}
