//! Local provider: `serve` answers real HTTP requests on 127.0.0.1 with deployed functions.

mod local_support;

use std::net::SocketAddr;

use local_support::*;
use stratus::providers::local::LocalProvider;
use stratus::providers::local::serve::Server;
use stratus::providers::{Provider, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PYTHON: &str = r#"
import json

def user(event, context):
    return {
        "statusCode": 201,
        "headers": {"X-Route": event["routeKey"]},
        "cookies": ["seen=1"],
        "body": json.dumps({
            "id": event["pathParameters"]["id"],
            "query": event.get("queryStringParameters"),
            "method": event["requestContext"]["http"]["method"],
            "version": event["version"],
            "stage": event["requestContext"]["stage"],
            "header": event["headers"].get("x-custom"),
        }),
    }

def boom(event, context):
    raise RuntimeError("kaput")
"#;

const NODE: &str = r#"
exports.echo = async (event) => ({ got: event.body, b64: event.isBase64Encoded, rest: (event.pathParameters || {}).proxy });
"#;

/// Sends one HTTP/1.1 request and returns (status, headers, body).
async fn send(address: SocketAddr, raw: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Custom: yes\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn routes_requests_to_deployed_functions() {
    require_interpreters();
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("api.py", PYTHON), ("echo.js", NODE)]);
    let mut user = function("user", "api.user", "python3.12");
    user.events.push(http("GET", "/users/{id}"));
    let mut boom = function("boom", "api.boom", "python3.12");
    boom.events.push(http("GET", "/boom"));
    let mut echo = function("echo", "echo.echo", "nodejs20.x");
    echo.events.push(http("POST", "/echo"));
    echo.events.push(http("ANY", "/files/{proxy+}"));
    let svc = service(root.path(), "web", vec![user, boom, echo]);
    let out = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let provider = LocalProvider::with_state_dir(state.path());
    let packaged = package(&svc, out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&svc, &packaged, &plan).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::new(provider.clone(), svc.clone(), false).unwrap();
    assert!(server.describe(address.port())[0].contains(&format!("127.0.0.1:{}", address.port())));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async {
        let _ = stopped.await;
    }));

    let (status, head, body) = send(address, &get("/users/42?x=1&y=two")).await;
    assert_eq!(status, 201, "{head}\n{body}");
    assert!(head.contains("x-route: get /users/{id}"), "{head}");
    assert!(head.contains("set-cookie: seen=1"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "id": "42", "query": {"x": "1", "y": "two"}, "method": "GET",
            "version": "2.0", "stage": "dev", "header": "yes"
        })
    );

    let post =
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let (status, head, body) = send(address, post).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"got": "hello", "b64": false})
    );

    let (status, _, body) = send(address, &get("/files/a/b.txt")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["rest"],
        "a/b.txt"
    );

    let (status, _, body) = send(address, &get("/boom")).await;
    assert_eq!(
        (status, body.as_str()),
        (502, r#"{"message":"Internal Server Error"}"#)
    );
    let (status, _, body) = send(address, &get("/nowhere")).await;
    assert_eq!((status, body.as_str()), (404, r#"{"message":"Not Found"}"#));
    let (status, _, _) = send(address, &get("/echo")).await;
    assert_eq!(status, 404, "wrong method");

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "stopped listening"
    );
}

#[test]
fn a_service_without_http_events_has_nothing_to_serve() {
    let root = tempfile::tempdir().unwrap();
    let svc = service(
        root.path(),
        "quiet",
        vec![function("f", "h.f", "python3.12")],
    );
    let error = Server::new(LocalProvider::with_state_dir(root.path()), svc, false).unwrap_err();
    assert!(error.to_string().contains("nothing to serve"), "{error}");
}
