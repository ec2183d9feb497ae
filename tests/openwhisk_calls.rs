//! Calling deployed OpenWhisk functions through the fake controller: invoke (blocking,
//! asynchronous, application errors, AWS-style handlers), logs and tail, retried faults, and the
//! fake's own fidelity to the controller's answers.

mod fakes;
#[path = "openwhisk/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, SystemTime};

use fakes::openwhisk::{FakeOpenWhisk, Fault};
use serde_json::{Value as Json, json};
use stratus::model::Event;
use stratus::providers::{InvokeRequest, LogQuery, Outcome, Provider, Scope};
use support::*;

#[tokio::test]
async fn invoke_returns_results_application_errors_and_logs() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    deploy(&provider, &project).await;
    let service = &project.service;

    let answer = invoke(&provider, service, "hello", json!({"name": "bob"}), true).await;
    assert_eq!(answer.outcome, Outcome::Success);
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    assert_eq!(
        payload,
        json!({"greeting": "hello bob", "greeting_param": "hi"})
    );
    assert_eq!(answer.logs, ["saying hello to bob"]);
    assert!(answer.request_id.is_some() && answer.duration_ms.is_some());

    let answer = invoke(&provider, service, "fail", json!({"what": "luck"}), true).await;
    match &answer.outcome {
        Outcome::FunctionError {
            kind,
            message,
            stack,
        } => {
            assert_eq!(kind, "ValueError");
            assert_eq!(message, "no luck");
            assert!(stack.iter().any(|f| f.contains("handler.py")), "{stack:?}");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert!(
        answer
            .logs
            .iter()
            .any(|l| l.contains("ValueError: no luck")),
        "{:?}",
        answer.logs
    );

    let answer = invoke(&provider, service, "chain", json!({"text": "a b c"}), false).await;
    assert_eq!(
        serde_json::from_str::<Json>(&answer.payload).unwrap(),
        json!({"text": "c b a"})
    );
    let answer = invoke(&provider, service, "env", json!({}), false).await;
    assert_eq!(
        serde_json::from_str::<Json>(&answer.payload).unwrap(),
        json!({"table": "orders"})
    );

    let error = provider
        .invoke(
            service,
            &InvokeRequest {
                function: "hello".into(),
                payload: "[1]".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("JSON object"), "{error}");
}

#[tokio::test]
async fn logs_come_in_time_order_and_tail_sees_each_record_once() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    deploy(&provider, &project).await;
    let service = &project.service;
    let started = SystemTime::now();
    for name in ["ann", "bob"] {
        invoke(&provider, service, "hello", json!({"name": name}), false).await;
    }
    let query = LogQuery {
        function: "hello".into(),
        since: Some(started - Duration::from_secs(1)),
        filter: None,
    };
    let records = provider.logs(service, &query).await.unwrap();
    let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["saying hello to ann", "saying hello to bob"]);
    assert!(
        records
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
    );
    let filtered = provider
        .logs(
            service,
            &LogQuery {
                filter: Some("bob".into()),
                ..query.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);

    // Tail: ask again from the newest record seen; only the new line is new.
    let seen: std::collections::HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    invoke(&provider, service, "hello", json!({"name": "cy"}), false).await;
    let since =
        SystemTime::UNIX_EPOCH + Duration::from_millis(records.last().unwrap().timestamp_ms as u64);
    let again = provider
        .logs(
            service,
            &LogQuery {
                since: Some(since),
                ..query
            },
        )
        .await
        .unwrap();
    let fresh: Vec<_> = again
        .iter()
        .filter(|r| !seen.contains(&r.id))
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(fresh, ["saying hello to cy"]);
}

#[tokio::test]
async fn faults_are_retried_and_bad_credentials_explained_without_the_key() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    // A function that left the manifest: the deploy deletes it (through a 503).
    fake.seed(
        "actions",
        "svc-dev-old",
        json!([{"key": "stratus:service", "value": "svc"}, {"key": "stratus:stage", "value": "dev"}]),
    );
    fake.inject(Some("GET"), Fault::Status(429, Some(1)));
    fake.inject(Some("PUT"), Fault::Status(502, None));
    fake.inject(Some("PUT"), Fault::Status(500, None));
    fake.inject(Some("GET"), Fault::Drop);
    fake.inject(Some("DELETE"), Fault::Status(503, None));
    fake.inject(Some("GET"), Fault::Slow(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    deploy(&provider, &project).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert!(fake.entity("actions", "svc-dev-hello").is_some());
    assert!(fake.entity("actions", "svc-dev-old").is_none());
    assert_eq!(fake.pending_faults(), 0, "every injected fault was met");
    // A blocking invoke refused with 429 is retried (it never ran).
    fake.inject(Some("POST"), Fault::Status(429, None));
    let answer = invoke(&provider, &project.service, "hello", json!({}), false).await;
    assert_eq!(answer.outcome, Outcome::Success);
    // An invoke that met a 502 from the gateway is not sent twice (it may have run).
    fake.inject(Some("POST"), Fault::Status(502, None));
    let before = fake.state.lock().unwrap().activations.len();
    let error = provider
        .invoke(
            &project.service,
            &InvokeRequest {
                function: "hello".into(),
                payload: "{}".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("502"), "{error:#}");
    assert_eq!(
        fake.state.lock().unwrap().activations.len(),
        before,
        "the faulted POST never reached the action and was not sent again"
    );
    assert_eq!(fake.pending_faults(), 0, "every injected fault was met");

    let wrong = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:WRONGWRONGWRONGWRONGWRONGWRONG";
    let intruder = provider_for(&fake, wrong);
    let packaged = package(&project, &intruder);
    let error = intruder
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("401") && text.contains("The supplied authentication is invalid"),
        "{text}"
    );
    assert!(text.contains("help:"), "{text}");
    assert!(
        !text.contains("WRONGWRONG") && !text.contains(&fake.auth),
        "{text}"
    );
}

#[tokio::test]
async fn aws_style_handlers_run_through_the_generated_shim() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let mut project = project();
    std::fs::write(
        project.dir.path().join("handler.py"),
        r#"
import json, os
def hello(event, context):
    print("event keys", sorted(event.keys()))
    if "rawPath" in event:
        return {"statusCode": 201, "body": json.dumps({"path": event["rawPath"], "method": event["requestContext"]["http"]["method"]})}
    return {"seen": event.get("name"), "fn": context.function_name, "left": context.get_remaining_time_in_millis() > 0}
"#,
    )
    .unwrap();
    std::fs::write(
        project.dir.path().join("utils.js"),
        "exports.split = (event, context, callback) => callback(null, { got: event.text, id: context.awsRequestId.length > 0 });\n",
    )
    .unwrap();
    project.service.provider.name = stratus::model::ProviderKind::Aws;
    let functions = &mut project.service.functions;
    functions.retain(|name, _| name == "hello" || name == "split");
    let hello = functions.get_mut("hello").unwrap();
    hello.events = vec![Event::Http(stratus::model::HttpEvent {
        source: "httpApi".into(),
        method: "POST".into(),
        path: "/greet".into(),
        extra: Default::default(),
    })];
    let (_, applied) = deploy(&provider, &project).await;

    let answer = invoke(
        &provider,
        &project.service,
        "hello",
        json!({"name": "ann"}),
        false,
    )
    .await;
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    assert_eq!(
        payload,
        json!({"seen": "ann", "fn": "/guest/svc-dev-hello", "left": true})
    );
    let answer = invoke(
        &provider,
        &project.service,
        "split",
        json!({"text": "a b"}),
        false,
    )
    .await;
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    assert_eq!(payload, json!({"got": "a b", "id": true}));

    let url = &applied.endpoints[0].url;
    let response = stratus::http::bare_client()
        .post(url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Json = response.json().await.unwrap();
    assert_eq!(body, json!({"path": "/greet", "method": "POST"}));
}

#[tokio::test]
async fn the_fake_answers_like_the_controller() {
    let fake = FakeOpenWhisk::start().await;
    let client = stratus::http::bare_client();
    let url = format!("{}/api/v1/namespaces/guest/actions/a", fake.url);
    let body = json!({"exec": {"kind": "nodejs:20", "code": "x"}});
    let unauthorized = client.put(&url).json(&body).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let error: Json = unauthorized.json().await.unwrap();
    assert_eq!(error["error"], "The supplied authentication is invalid");
    assert!(error["code"].is_string());
    let (user, key) = fake.auth.split_once(':').unwrap();
    let put = |overwrite: bool| {
        client
            .put(format!("{url}?overwrite={overwrite}"))
            .basic_auth(user, Some(key))
            .json(&body)
            .send()
    };
    assert_eq!(put(false).await.unwrap().status(), 200);
    let conflict = put(false).await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        conflict.json::<Json>().await.unwrap()["error"],
        "resource already exists"
    );
    let updated: Json = put(true).await.unwrap().json().await.unwrap();
    assert_eq!(updated["version"], "0.0.2");
    let missing = client
        .get(format!("{url}-missing"))
        .basic_auth(user, Some(key))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Json>().await.unwrap()["error"],
        "The requested resource does not exist."
    );
}

#[tokio::test]
async fn an_asynchronous_invoke_is_accepted_and_runs() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    deploy(&provider, &project).await;
    let answer = provider
        .invoke(
            &project.service,
            &InvokeRequest {
                function: "hello".into(),
                payload: r#"{"name": "later"}"#.into(),
                with_logs: false,
                asynchronous: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Accepted);
    assert!(answer.request_id.is_some());
    let query = LogQuery {
        function: "hello".into(),
        since: None,
        filter: Some("later".into()),
    };
    let mut found = Vec::new();
    for _ in 0..50 {
        found = provider.logs(&project.service, &query).await.unwrap();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "the accepted call ran and logged");
}

#[tokio::test]
async fn es_module_handlers_and_the_projects_package_json_work() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let mut project = project();
    std::fs::write(
        project.dir.path().join("package.json"),
        r#"{"name": "shop", "type": "module", "dependencies": {}}"#,
    )
    .unwrap();
    std::fs::write(
        project.dir.path().join("esm.js"),
        "export const hi = async (params) => ({ hi: params.name, meta: typeof import.meta });\n",
    )
    .unwrap();
    let esm = function("esm", Some("esm.hi"), Some("nodejs20.x"));
    project.service.functions.clear();
    project.service.functions.insert("esm".into(), esm);
    project.service.resources = None;
    deploy(&provider, &project).await;
    let answer = invoke(
        &provider,
        &project.service,
        "esm",
        json!({"name": "ann"}),
        false,
    )
    .await;
    assert_eq!(answer.outcome, Outcome::Success, "{}", answer.payload);
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    assert_eq!(payload, json!({"hi": "ann", "meta": "object"}));
    let deployed = fake.entity("actions", "svc-dev-esm").unwrap();
    assert_eq!(deployed["exec"]["kind"], "nodejs:20");
    // The zip carries the project's package.json with `main` pointing at the entry file.
    use base64::Engine;
    let code = base64::engine::general_purpose::STANDARD
        .decode(deployed["exec"]["code"].as_str().unwrap())
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(code)).unwrap();
    let package: Json = serde_json::from_reader(archive.by_name("package.json").unwrap()).unwrap();
    assert_eq!(package["type"], "module");
    assert_eq!(package["main"], "__stratus__.cjs");
}
