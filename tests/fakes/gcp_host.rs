//! The fake's OAuth token endpoint (RS256 JWTs verified against the TEST-ONLY key), its
//! metadata server, and Cloud Logging `entries:list` over what the functions printed (the
//! function hosts themselves are in `gcp_run`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use ring::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value as Json, json};

use super::gcp::{Reply, Shared, reply, rpc_error};

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

/// `POST v2/entries:list` with the filter clauses stratus writes, in small pages.
pub fn list_entries(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(body) = serde_json::from_slice::<Json>(body) else {
        return rpc_error(400, "Invalid JSON payload received.");
    };
    if body["resourceNames"] != json!([format!("projects/{}", shared.project)]) {
        return rpc_error(400, "resourceNames must name the project");
    }
    // Clauses joined by AND, each one comparison or a parenthesised OR of comparisons.
    let mut clauses: Vec<Vec<(String, &str, String)>> = Vec::new();
    for clause in body["filter"].as_str().unwrap_or("").split(" AND ") {
        let inner = clause
            .strip_prefix('(')
            .and_then(|c| c.strip_suffix(')'))
            .unwrap_or(clause);
        let mut any = Vec::new();
        for term in inner.split(" OR ") {
            let parsed = [">=", "=", ":"].iter().find_map(|op| {
                let (key, value) = term.split_once(op)?;
                let value = value
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\");
                Some((key.to_string(), *op, value))
            });
            match parsed {
                Some(term) => any.push(term),
                None => return rpc_error(400, &format!("Unparseable filter clause: {clause}")),
            }
        }
        clauses.push(any);
    }
    let matches = |entry: &Json| {
        clauses.iter().all(|any| {
            any.iter().any(|(key, op, value)| {
                let field = match key.as_str() {
                    "resource.type" => entry.pointer("/resource/type"),
                    "resource.labels.service_name" => {
                        entry.pointer("/resource/labels/service_name")
                    }
                    "timestamp" => entry.get("timestamp"),
                    "textPayload" => entry.get("textPayload"),
                    "jsonPayload.message" => entry.pointer("/jsonPayload/message"),
                    "trace" => entry.get("trace"),
                    "labels.execution_id" => entry.pointer("/labels/execution_id"),
                    _ => None,
                }
                .and_then(Json::as_str);
                let Some(field) = field else { return false };
                match *op {
                    "=" => field == value,
                    ":" => field.contains(value.as_str()),
                    _ => {
                        humantime::parse_rfc3339_weak(field).ok()
                            >= humantime::parse_rfc3339_weak(value).ok()
                    }
                }
            })
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
