//! What the gcp provider tests share: loading a project's manifest, deploying it through the
//! provider (check, generated files, package, plan, apply) and invoking one function.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value as Json;
use stratus::manifest::{self, LoadOptions};
use stratus::model::Service;
use stratus::providers::gcp::GcpProvider;
use stratus::providers::{
    Applied, ApplyError, Invocation, InvokeRequest, LogQuery, Plan, Provider, Scope,
};

/// The service of the `serverless.yml` in `dir`.
pub fn load(dir: &Path) -> Service {
    manifest::load(&LoadOptions {
        cwd: dir.to_path_buf(),
        ..LoadOptions::default()
    })
    .unwrap()
    .service
}

/// Checks, packages, plans and applies `service`; the plan and how the apply ended.
pub async fn try_deploy(
    provider: &GcpProvider,
    service: &Service,
) -> (Plan, Result<Applied, ApplyError>) {
    let scope = Scope::default();
    let diagnostics = provider.target().check(service, &scope);
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    let request = stratus::providers::package_request(
        provider.target(),
        service,
        &scope,
        service.root.join(".stratus"),
    )
    .unwrap();
    let packaged = stratus::package::package(&request).unwrap();
    let plan = provider.plan(service, &packaged, &scope).await.unwrap();
    let applied = provider.apply(service, &packaged, &plan).await;
    (plan, applied)
}

/// Deploys `service`, panicking with the error when the apply fails.
pub async fn deploy(provider: &GcpProvider, service: &Service) -> Plan {
    let (plan, applied) = try_deploy(provider, service).await;
    applied.unwrap_or_else(|e| panic!("{e}"));
    plan
}

/// Invokes `function` with `payload`, also fetching its logs when `with_logs`.
pub async fn call(
    provider: &GcpProvider,
    service: &Service,
    function: &str,
    payload: Json,
    with_logs: bool,
) -> Invocation {
    provider
        .invoke(
            service,
            &InvokeRequest {
                function: function.into(),
                payload: payload.to_string(),
                with_logs,
                asynchronous: false,
            },
        )
        .await
        .unwrap()
}

/// Invokes `function` with `payload`.
pub async fn invoke(
    provider: &GcpProvider,
    service: &Service,
    function: &str,
    payload: Json,
) -> Invocation {
    call(provider, service, function, payload, false).await
}

/// Whether `function`'s logs show a line containing `text` within a few seconds (log entries
/// arrive after the call).
pub async fn eventually_logged(
    provider: &GcpProvider,
    service: &Service,
    function: &str,
    text: &str,
) -> bool {
    for _ in 0..50 {
        let records = provider
            .logs(
                service,
                &LogQuery {
                    function: function.into(),
                    since: None,
                    filter: Some(text.into()),
                },
            )
            .await
            .unwrap();
        if records.iter().any(|r| r.message.contains(text)) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Invokes `function` with `payload`; it must fail with `kind` and `message`.
pub async fn assert_fails(
    provider: &GcpProvider,
    service: &Service,
    function: &str,
    payload: Json,
    kind: &str,
    message: &str,
) {
    let failed = invoke(provider, service, function, payload).await;
    match &failed.outcome {
        stratus::providers::Outcome::FunctionError {
            kind: got_kind,
            message: got_message,
            ..
        } => {
            assert_eq!(got_kind, kind);
            assert_eq!(got_message, message);
        }
        other => panic!("{other:?}"),
    }
}

/// A plain HTTP `PUT /?a=1` with body `payload` through the function URL of the deployed
/// function `id` (an AWS-style `web` handler answering 201, `x-answer: 42` and the API Gateway
/// v2 event it got): the shim passes the event and maps `{statusCode, headers, body}` back.
pub async fn assert_http_calls_are_mapped(fake_url: &str, provider: &GcpProvider, id: &str) {
    let url = format!("{fake_url}/run/{id}");
    let token = provider.client().tokens().id_token(&url).await.unwrap();
    let answer = stratus::http::bare_client()
        .put(format!("{url}?a=1"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(answer.headers()["x-answer"], "42");
    let body: Json = answer.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"method": "PUT", "path": "/", "query": "a=1", "body": "payload"})
    );
}
