//! The OpenWhisk provider against the fake controller (tests/fakes/openwhisk.rs): the same
//! scenarios as the other providers — first deploy, no-op redeploy with zero writes, code and
//! config changes, removal of a function, invoke, logs and tail, info, remove — plus faults.

mod fakes;
#[path = "openwhisk/support.rs"]
mod support;

use std::time::{Duration, SystemTime};

use fakes::openwhisk::{FakeOpenWhisk, Fault};
use serde_json::{Value as Json, json};
use stratus::http::HttpConfig;
use stratus::model::{Event, Runtime, ScheduleEvent};
use stratus::providers::openwhisk::OpenWhiskProvider;
use stratus::providers::openwhisk::config::{Credentials, OpenWhiskConfig};
use stratus::providers::{Action, InvokeRequest, LogQuery, Outcome, Provider, Scope};
use support::*;

#[tokio::test]
async fn first_deploy_creates_everything_and_a_redeploy_writes_nothing() {
    let fake = FakeOpenWhisk::start().await;
    fake.seed("actions", "someone-elses-action", json!([]));
    fake.seed("actions", "svc-prod-hello", json!([{"key": "stratus:service", "value": "svc"}, {"key": "stratus:stage", "value": "prod"}]));
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    let (plan, applied) = deploy(&provider, &project).await;
    assert!(
        plan.changes.iter().all(|c| c.action == Action::Create),
        "{plan:#?}"
    );
    assert_eq!(
        plan.changes.len(),
        7 + 1 + 1 + 2 + 2,
        "7 actions, a package, 2 triggers, 2 rules: {plan:#?}"
    );

    let action = fake.entity("actions", "svc-dev-hello").unwrap();
    assert_eq!(action["exec"]["kind"], "python:3");
    assert_eq!(action["exec"]["binary"], true);
    assert_eq!(action["limits"]["memory"], 256);
    assert_eq!(action["limits"]["timeout"], 10_000);
    let annotations = action["annotations"].as_array().unwrap();
    let has = |key: &str, value: Json| {
        annotations
            .iter()
            .any(|a| a["key"] == key && a["value"] == value)
    };
    assert!(
        has("stratus:service", json!("svc"))
            && has("stratus:stage", json!("dev"))
            && has("note", json!("kept"))
    );
    let sha = annotations
        .iter()
        .find(|a| a["key"] == "stratus:code-sha256")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sha.len(), 64);
    let chain = fake.entity("actions", "svc-dev-chain").unwrap();
    assert_eq!(
        chain["exec"]["components"],
        json!([
            "/guest/svc-dev-split",
            "/guest/svc-dev-reverse",
            "/guest/svc-dev-join"
        ])
    );
    let alarm = fake
        .state
        .lock()
        .unwrap()
        .alarms
        .get("/guest/svc-dev-hello-schedule-1")
        .cloned()
        .expect("alarm registered");
    assert_eq!(alarm["cron"], "*/5 * * * *");
    assert_eq!(alarm["trigger_payload"], json!({"name": "cron"}));
    assert!(
        fake.entity("rules", "svc-dev-hello-schedule-1-rule")
            .is_some()
    );
    assert!(fake.entity("triggers", "my_trigger").is_some());
    assert!(fake.entity("packages", "svc-shared").is_some());

    // The web action answers on the printed URL.
    let endpoint = applied
        .endpoints
        .iter()
        .find(|e| e.function == "time")
        .unwrap();
    assert_eq!(
        endpoint.url,
        format!("{}/api/v1/web/guest/default/svc-dev-time/time", fake.url)
    );
    let body = reqwest::get(&endpoint.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "time at /time");

    // No-op redeploy: every change unchanged, not one write request.
    let writes = fake.writes();
    let (plan, applied) = deploy(&provider, &project).await;
    assert!(!plan.has_changes(), "{plan:#?}");
    assert!(applied.done.is_empty());
    assert_eq!(fake.writes(), writes, "a no-op redeploy must not write");
    // Other tools' and other stages' actions are untouched.
    assert!(fake.entity("actions", "someone-elses-action").is_some());
    assert!(fake.entity("actions", "svc-prod-hello").is_some());
}

#[tokio::test]
async fn code_and_config_changes_update_only_what_changed() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let mut project = project();
    deploy(&provider, &project).await;

    std::fs::write(
        project.dir.path().join("handler.py"),
        HANDLER_PY.replace("hello \" + name", "howdy \" + name"),
    )
    .unwrap();
    project
        .service
        .functions
        .get_mut("env")
        .unwrap()
        .memory_size = Some(512);
    project
        .service
        .functions
        .get_mut("env")
        .unwrap()
        .environment
        .insert("API_TOKEN".into(), "tok-secret-2".into());
    let packaged = package(&project, &provider);
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    let hello = action_of(&plan, "svc-dev-hello");
    assert_eq!(hello.action, Action::Update);
    assert_eq!(
        hello
            .fields
            .iter()
            .map(|f| f.field.as_str())
            .collect::<Vec<_>>(),
        ["code"]
    );
    let env = action_of(&plan, "svc-dev-env");
    let fields: Vec<_> = env.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["environment.API_TOKEN", "memory"], "{env:#?}");
    assert!(
        env.fields[0].sensitive,
        "secret-looking environment values are sensitive"
    );
    assert_eq!(env.fields[1].old.as_deref(), Some("256"));
    assert_eq!(action_of(&plan, "svc-dev-join").action, Action::Unchanged);
    assert_eq!(
        action_of(&plan, "svc-dev-hello-schedule-1").action,
        Action::Unchanged
    );
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains("tok-secret"), "{json}");

    provider
        .apply(&project.service, &packaged, &plan)
        .await
        .unwrap();
    let answer = invoke(
        &provider,
        &project.service,
        "hello",
        json!({"name": "ann"}),
        false,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Json>(&answer.payload).unwrap()["greeting"],
        "howdy ann"
    );
    assert_eq!(
        fake.entity("actions", "svc-dev-env").unwrap()["limits"]["memory"],
        512
    );
}

#[tokio::test]
async fn a_function_removed_from_the_manifest_is_deleted_with_its_triggers() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let mut project = project();
    deploy(&provider, &project).await;
    project.service.functions.shift_remove("hello");
    let packaged = package(&project, &provider);
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    let deleted: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.deployed_name.as_str())
        .collect();
    assert_eq!(
        deleted,
        [
            "svc-dev-hello-schedule-1-rule",
            "svc-dev-my_trigger-hello-rule",
            "my_trigger",
            "svc-dev-hello-schedule-1",
            "svc-dev-hello"
        ]
    );
    provider
        .apply(&project.service, &packaged, &plan)
        .await
        .unwrap();
    assert!(fake.entity("actions", "svc-dev-hello").is_none());
    assert!(
        fake.state.lock().unwrap().alarms.is_empty(),
        "the alarm was unregistered"
    );
    // `deploy -f` never deletes.
    project.service.functions.shift_remove("fail");
    let scope = Scope {
        functions: Some(vec!["time".into()]),
    };
    let plan = provider
        .plan(&project.service, &packaged, &scope)
        .await
        .unwrap();
    assert!(
        plan.changes.iter().all(|c| c.action == Action::Unchanged),
        "{plan:#?}"
    );
}

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
async fn info_lists_deployed_functions_and_remove_deletes_only_ours() {
    let fake = FakeOpenWhisk::start().await;
    // More foreign entities than one page holds: listings must read every page.
    for index in 0..230 {
        fake.seed("actions", &format!("other-{index:03}"), json!([]));
    }
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    deploy(&provider, &project).await;
    let info = provider.info(&project.service).await.unwrap();
    let mut names: Vec<_> = info.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "chain", "env", "fail", "hello", "join", "reverse", "split", "time"
        ]
    );
    let hello = info.functions.iter().find(|f| f.name == "hello").unwrap();
    assert_eq!(hello.runtime.as_deref(), Some("python:3"));
    assert_eq!((hello.memory_size, hello.timeout), (Some(256), Some(10)));
    assert_eq!(hello.version.as_deref(), Some("0.0.1"));
    assert!(hello.code_sha256.is_some() && hello.last_modified.is_some());
    assert_eq!(info.endpoints.len(), 1);
    assert!(
        info.endpoints[0]
            .url
            .ends_with("/api/v1/web/guest/default/svc-dev-time/time")
    );
    assert_eq!(info.details["namespace"], "guest");

    let removed = provider.remove(&project.service).await.unwrap();
    assert_eq!(removed.len(), 8 + 2 + 2 + 1, "{removed:#?}");
    assert_eq!(fake.names("actions").len(), 230);
    assert!(
        fake.names("triggers").is_empty()
            && fake.names("rules").is_empty()
            && fake.names("packages").is_empty()
    );
    assert!(fake.state.lock().unwrap().alarms.is_empty());
    assert!(
        provider
            .info(&project.service)
            .await
            .unwrap()
            .functions
            .is_empty()
    );
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
async fn check_reports_every_unmappable_key() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let mut project = project();
    let functions = &mut project.service.functions;
    functions.get_mut("hello").unwrap().runtime = Some(Runtime::parse("java8"));
    functions.get_mut("fail").unwrap().image = Some("repo/image:1".into());
    functions
        .get_mut("time")
        .unwrap()
        .events
        .push(Event::Other {
            kind: "s3".into(),
            config: json!("bucket"),
        });
    functions
        .get_mut("join")
        .unwrap()
        .events
        .push(Event::Schedule(ScheduleEvent {
            expression: "rate(3 days)".into(),
            enabled: true,
            input: None,
        }));
    functions
        .get_mut("chain")
        .unwrap()
        .extra
        .insert("sequence".into(), json!([]));
    functions.get_mut("split").unwrap().memory_size = Some(64);
    let diagnostics = provider.check(&project.service, &Scope::default());
    let keys: Vec<_> = diagnostics
        .errors()
        .filter_map(|d| d.key.as_deref())
        .collect();
    assert_eq!(
        keys,
        [
            "functions.hello.runtime",
            "functions.fail.image",
            "functions.time.events.1.s3",
            "functions.split.memory",
            "functions.join.events.0.schedule",
            "functions.chain.sequence",
        ],
        "{diagnostics}"
    );
}

#[test]
fn generated_entry_files_do_not_depend_on_the_function() {
    let project = project();
    let config = OpenWhiskConfig {
        apihost: "http://127.0.0.1:9".parse().unwrap(),
        credentials: Credentials::parse("a:b").unwrap(),
        namespace: "_".into(),
        ignore_certs: false,
        sources: vec![],
    };
    let provider = OpenWhiskProvider::new(config, HttpConfig::default()).unwrap();
    let service = &project.service;
    let files = |name: &str| {
        provider
            .generated_files(service, &service.functions[name])
            .unwrap()
    };
    assert_eq!(files("split"), files("join"));
    assert_eq!(files("hello")[0].path, "__main__.py");
    assert!(files("chain").is_empty(), "sequences have no code");
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
    let response = reqwest::Client::new()
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
async fn a_failed_apply_reports_what_ran_and_a_rerun_converges() {
    let fake = FakeOpenWhisk::start().await;
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    let packaged = package(&project, &provider);
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    // The first write (the package) is refused with a status that is not retried.
    fake.inject(Some("PUT"), Fault::Status(400, None));
    let error = provider
        .apply(&project.service, &packaged, &plan)
        .await
        .unwrap_err();
    assert_eq!(error.failed.len(), 1, "{error}");
    assert!(!error.pending.is_empty(), "{error}");
    assert!(
        error.to_string().contains("Run the same deploy again"),
        "{error}"
    );
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    assert!(plan.has_changes());
    provider
        .apply(&project.service, &packaged, &plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
}

#[tokio::test]
async fn names_taken_by_entities_of_others_are_not_overwritten() {
    let fake = FakeOpenWhisk::start().await;
    fake.seed(
        "actions",
        "svc-dev-hello",
        json!([{"key": "owner", "value": "someone"}]),
    );
    let provider = provider_for(&fake, &fake.auth);
    let project = project();
    let packaged = package(&project, &provider);
    let error = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("actions/svc-dev-hello") && error.contains("help:"),
        "{error}"
    );
    assert_eq!(fake.writes(), 0);
}

#[tokio::test]
async fn the_fake_answers_like_the_controller() {
    let fake = FakeOpenWhisk::start().await;
    let client = reqwest::Client::new();
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
