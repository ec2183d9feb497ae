//! HTTP routes and the API Gateway v2 (payload format 2.0) mapping used by `stratus serve`.
//!
//! A route comes from an `http` / `httpApi` event: a method (or `ANY`) and a path whose
//! `{name}` segments match one segment and whose `{proxy+}` segment matches the rest. A request
//! becomes the event API Gateway HTTP APIs send; the handler's answer is read the way they
//! read it: an object with `statusCode` is a response, anything else is a `200` JSON body.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value as Json, json};

/// One route of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The function it calls.
    pub function: String,
    /// Upper-case method or `ANY`.
    pub method: String,
    /// The path as written (`/users/{id}`).
    pub path: String,
}

impl Route {
    /// `GET /users/{id}`, as API Gateway writes route keys.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `method` and `path` match this route.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let mut wanted = segments(&self.path);
        let mut got = segments(path);
        let mut params = BTreeMap::new();
        loop {
            match (wanted.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(pattern), Some(segment)) => {
                    if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix("+}"))
                    {
                        let rest: Vec<&str> = std::iter::once(segment).chain(got).collect();
                        params.insert(name.to_string(), percent_decode(&rest.join("/")));
                        return wanted.next().is_none().then_some(params);
                    }
                    if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
                    {
                        params.insert(name.to_string(), percent_decode(segment));
                    } else if pattern != segment {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }

    /// Sort key: literal segments before parameters, parameters before greedy tails, exact
    /// methods before `ANY`.
    fn specificity(&self) -> (usize, usize, bool) {
        let parts: Vec<&str> = segments(&self.path).collect();
        let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
        let greedy = parts.iter().any(|p| p.ends_with("+}"));
        (
            usize::from(greedy),
            usize::MAX - literal,
            self.method == "ANY",
        )
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Orders routes so the first match is the most specific one.
pub fn sort_routes(routes: &mut [Route]) {
    routes.sort_by_key(Route::specificity);
}

/// The first route that matches, with its path parameters.
pub fn find_route<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    routes
        .iter()
        .find_map(|route| route.matches(method, path).map(|params| (route, params)))
}

/// What the server knows about one request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The query, without `?`.
    pub query: String,
    /// Headers in order; names as received.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The client's address.
    pub source_ip: String,
}

/// The API Gateway v2 event for `request` on `route`.
pub fn api_gateway_event(
    request: &HttpRequest,
    route: &Route,
    params: &BTreeMap<String, String>,
    stage: &str,
    request_id: &str,
) -> Json {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    let mut user_agent = String::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()));
            continue;
        }
        if name == "user-agent" {
            user_agent = value.clone();
        }
        match headers.get_mut(&name) {
            Some(Json::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, Json::String(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        match query.get_mut(&key) {
            Some(Json::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key, Json::String(value));
            }
        }
    }
    let (body, is_base64) = match std::str::from_utf8(&request.body) {
        _ if request.body.is_empty() => (Json::Null, false),
        Ok(text) => (Json::String(text.to_string()), false),
        Err(_) => (
            Json::String(base64::engine::general_purpose::STANDARD.encode(&request.body)),
            true,
        ),
    };
    let now = SystemTime::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or(Json::String("127.0.0.1".into())),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": stage,
            "time": clf_time(now),
            "timeEpoch": now.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        },
        "isBase64Encoded": is_base64,
    });
    let object = event
        .as_object_mut()
        .expect("invariant: the event literal above is an object");
    if !cookies.is_empty() {
        object.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        object.insert("queryStringParameters".into(), Json::Object(query));
    }
    if !params.is_empty() {
        object.insert("pathParameters".into(), json!(params));
    }
    if !body.is_null() {
        object.insert("body".into(), body);
    }
    event
}

/// An HTTP answer built from a handler's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers (a name may repeat, e.g. `set-cookie`).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// A JSON `{"message": ...}` answer, as API Gateway gives for its own errors.
    pub fn message(status: u16, message: &str) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({ "message": message }).to_string().into_bytes(),
        }
    }
}

/// Maps a handler's result the way API Gateway v2 does.
pub fn map_result(result: &Json) -> HttpAnswer {
    let Some(object) = result.as_object().filter(|o| o.contains_key("statusCode")) else {
        return HttpAnswer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: result.to_string().into_bytes(),
        };
    };
    let status = match &object["statusCode"] {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    };
    let Some(status) = status
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
    else {
        return HttpAnswer::message(500, "Internal Server Error");
    };
    let mut headers = Vec::new();
    if let Some(Json::Object(map)) = object.get("headers") {
        for (name, value) in map {
            headers.push((name.to_ascii_lowercase(), scalar(value)));
        }
    }
    if let Some(Json::Object(map)) = object.get("multiValueHeaders") {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten() {
                headers.push((name.to_ascii_lowercase(), scalar(value)));
            }
        }
    }
    if let Some(Json::Array(cookies)) = object.get("cookies") {
        for cookie in cookies {
            headers.push(("set-cookie".into(), scalar(cookie)));
        }
    }
    let text = match object.get("body") {
        None | Some(Json::Null) => String::new(),
        Some(value) => scalar(value),
    };
    let body = if object.get("isBase64Encoded") == Some(&Json::Bool(true)) {
        match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
            Ok(bytes) => bytes,
            Err(_) => return HttpAnswer::message(500, "Internal Server Error"),
        }
    } else {
        text.into_bytes()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// A JSON value as header / body text: strings as they are, anything else as JSON.
fn scalar(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Decodes `%XX` escapes (and `+` is left as is, as API Gateway does for paths).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `23/Nov/2026:11:22:38 +0000`, the format of `requestContext.time`.
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let rfc =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string();
    // rfc: 2026-11-23T11:22:38Z
    let month = rfc
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}/{month}/{}:{} +0000",
        rfc.get(8..10).unwrap_or("01"),
        rfc.get(0..4).unwrap_or("1970"),
        rfc.get(11..19).unwrap_or("00:00:00")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            function: "f".into(),
            method: method.into(),
            path: path.into(),
        }
    }

    #[test]
    fn routes_match_params_and_greedy_tails() {
        let users = route("GET", "/users/{id}");
        assert_eq!(
            users.matches("GET", "/users/42").unwrap()["id"],
            "42".to_string()
        );
        assert!(users.matches("POST", "/users/42").is_none());
        assert!(users.matches("GET", "/users/42/x").is_none());
        assert!(users.matches("GET", "/users").is_none());
        let proxy = route("ANY", "/files/{proxy+}");
        assert_eq!(
            proxy.matches("DELETE", "/files/a/b%20c").unwrap()["proxy"],
            "a/b c"
        );
        let mut routes = vec![proxy, users, route("GET", "/users/me")];
        sort_routes(&mut routes);
        let (found, params) = find_route(&routes, "GET", "/users/me").unwrap();
        assert_eq!(found.path, "/users/me");
        assert!(params.is_empty());
    }

    #[test]
    fn event_has_the_v2_shape() {
        let request = HttpRequest {
            method: "POST".into(),
            path: "/users/7".into(),
            query: "a=1&a=2&b=x%20y".into(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Cookie".into(), "s=1; t=2".into()),
            ],
            body: vec![0xff, 0x00],
            source_ip: "127.0.0.1".into(),
        };
        let route = route("POST", "/users/{id}");
        let params = route.matches("POST", "/users/7").unwrap();
        let event = api_gateway_event(&request, &route, &params, "dev", "req-1");
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "POST /users/{id}");
        assert_eq!(event["headers"]["content-type"], "text/plain");
        assert_eq!(event["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(event["queryStringParameters"]["a"], "1,2");
        assert_eq!(event["queryStringParameters"]["b"], "x y");
        assert_eq!(event["pathParameters"]["id"], "7");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["stage"], "dev");
        let time = event["requestContext"]["time"].as_str().unwrap();
        assert!(time.ends_with(" +0000") && time.len() == 26, "{time}");
    }

    #[test]
    fn results_map_like_api_gateway() {
        let answer = map_result(&json!({
            "statusCode": 201,
            "headers": {"X-Thing": 1},
            "cookies": ["a=b"],
            "body": "aGk=",
            "isBase64Encoded": true
        }));
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body, b"hi");
        assert!(answer.headers.contains(&("x-thing".into(), "1".into())));
        assert!(
            answer
                .headers
                .contains(&("set-cookie".into(), "a=b".into()))
        );
        let plain = map_result(&json!({"hello": "x"}));
        assert_eq!(plain.status, 200);
        assert_eq!(plain.body, br#"{"hello":"x"}"#);
        assert_eq!(map_result(&json!({"statusCode": "abc"})).status, 500);
    }
}
