//! The aws provider against the real third-party emulator moto (started by
//! `support/moto.rs`): first deploy, no-op redeploy (no write calls), code and config changes,
//! function removal, `deploy -f`, invoke, logs (read and follow), info, remove, a large
//! artifact through S3, and injected throttling and failures.
//!
//! Needs moto: `scripts/peers` installs it into `.venv` (the tests fail, never skip, without it).

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/moto.rs"]
mod moto;

use std::time::{Duration, SystemTime};

use serde_json::json;
use stratus::model::{Runtime, Service};
use stratus::package::Packaged;
use stratus::providers::aws::AwsProvider;
use stratus::providers::{
    Action, InvokeRequest, LogQuery, Outcome, Plan, Provider, ResourceKind, Scope,
};
use tempfile::TempDir;

use fixtures::{function, http, other, package, schedule, service, set_events, zip};
use moto::{Fault, FaultyClient, moto};

fn action_of(plan: &Plan, kind: ResourceKind, name: &str) -> Action {
    plan.changes
        .iter()
        .find(|c| c.kind == kind && c.name == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name} in {plan:#?}"))
        .action
}

fn fields_of(plan: &Plan, name: &str) -> Vec<String> {
    plan.changes
        .iter()
        .find(|c| c.kind == ResourceKind::Function && c.name == name)
        .unwrap()
        .fields
        .iter()
        .map(|f| f.field.clone())
        .collect()
}

/// Asserts that the check finds no error in `service`.
fn assert_checks(provider: &AwsProvider, service: &Service) {
    let diagnostics = provider.target().check(service, &Scope::default());
    assert!(!diagnostics.has_errors(), "{diagnostics}");
}

/// Asserts that a plan now finds nothing to do.
async fn assert_settled(provider: &AwsProvider, service: &Service, packaged: &Packaged) {
    let plan = provider
        .plan(service, packaged, &Scope::default())
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
}

async fn provider() -> AwsProvider {
    AwsProvider::with_config(moto().sdk_config().await)
}

async fn deploy(
    provider: &AwsProvider,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
) -> Plan {
    let plan = provider.plan(service, packaged, scope).await.unwrap();
    provider
        .apply(service, packaged, &plan)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    plan
}

#[tokio::test]
async fn deploy_lifecycle_converges_and_writes_only_what_differs() {
    let dir = TempDir::new().unwrap();
    let mut hello = function("hello", vec![http("GET", "/hello")]);
    hello.extra.insert("url".into(), json!(true));
    let mut svc = service(
        "life",
        vec![hello, function("tick", vec![schedule("rate(5 minutes)")])],
    );
    let provider = provider().await;
    assert_checks(&provider, &svc);
    let v1 = package(dir.path(), &svc, "v1");

    // First deploy: everything is created.
    let first = provider.plan(&svc, &v1, &Scope::default()).await.unwrap();
    assert_eq!(
        action_of(&first, ResourceKind::Role, "execution role"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Function, "hello"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Function, "tick"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Api, "http api"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Route, "GET /hello"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Trigger, "hello url"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Trigger, "tick rate(5 minutes)"),
        Action::Create
    );
    let applied = provider.apply(&svc, &v1, &first).await.unwrap();
    assert_eq!(applied.done.len(), 7, "{:#?}", applied.done);
    let routes: Vec<_> = applied
        .endpoints
        .iter()
        .map(|e| (e.function.as_str(), e.method.as_str()))
        .collect();
    assert!(
        routes.contains(&("hello", "GET")),
        "{:?}",
        applied.endpoints
    );
    assert!(
        routes.contains(&("hello", "ANY")),
        "{:?}",
        applied.endpoints
    );
    assert!(
        applied.endpoints.iter().any(|e| e.url.ends_with("/hello")),
        "{:?}",
        applied.endpoints
    );

    // No-op redeploy: nothing differs, and not one write call is made.
    provider.call_log().clear();
    let again = provider.plan(&svc, &v1, &Scope::default()).await.unwrap();
    assert!(!again.has_changes(), "{again:#?}");
    let applied = provider.apply(&svc, &v1, &again).await.unwrap();
    assert!(applied.done.is_empty());
    assert!(!provider.call_log().calls().is_empty());
    assert_eq!(provider.call_log().writes(), Vec::<String>::new());

    // Code change of one function: only its code is uploaded.
    let mut v2 = package(dir.path(), &svc, "v1");
    v2.artifacts[0] = {
        let mut artifact = zip(
            dir.path(),
            "hello-v2.zip",
            "def main(e, c):\n    return 2\n",
            0,
        );
        artifact.functions = vec!["hello".into()];
        artifact
    };
    provider.call_log().clear();
    let code = deploy(&provider, &svc, &v2, &Scope::default()).await;
    assert_eq!(fields_of(&code, "hello"), vec!["code"]);
    assert_eq!(
        action_of(&code, ResourceKind::Function, "tick"),
        Action::Unchanged
    );
    assert_eq!(
        provider.call_log().writes(),
        vec!["Lambda:UpdateFunctionCode"]
    );

    // Configuration change: field by field, secrets masked, no code upload.
    let hello = svc.functions.get_mut("hello").unwrap();
    hello.memory_size = Some(256);
    hello
        .environment
        .insert("API_TOKEN".into(), "s3cret-v2".into());
    provider.call_log().clear();
    let config = deploy(&provider, &svc, &v2, &Scope::default()).await;
    assert_eq!(
        fields_of(&config, "hello"),
        vec!["memorySize", "environment.API_TOKEN"]
    );
    let change = config.changes.iter().find(|c| c.name == "hello").unwrap();
    assert_eq!(change.fields[0].old.as_deref(), Some("128"));
    assert_eq!(change.fields[0].new.as_deref(), Some("256"));
    assert!(change.fields[1].sensitive);
    assert!(!serde_json::to_string(&config).unwrap().contains("s3cret"));
    assert_eq!(
        provider.call_log().writes(),
        vec!["Lambda:UpdateFunctionConfiguration"]
    );

    // deploy -f tick: only tick is planned and written, even though hello's code differs too.
    let v3 = package(dir.path(), &svc, "v3");
    let only_tick = Scope {
        functions: Some(vec!["tick".into()]),
    };
    provider.call_log().clear();
    let scoped = deploy(&provider, &svc, &v3, &only_tick).await;
    let functions: Vec<_> = scoped
        .changes
        .iter()
        .filter(|c| c.kind == ResourceKind::Function)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(functions, vec!["tick"]);
    assert_eq!(
        provider.call_log().writes(),
        vec!["Lambda:UpdateFunctionCode"]
    );
    let full = provider.plan(&svc, &v3, &Scope::default()).await.unwrap();
    assert_eq!(fields_of(&full, "hello"), vec!["code"]);
    assert_eq!(
        action_of(&full, ResourceKind::Function, "tick"),
        Action::Unchanged
    );

    // Removing a function from the manifest deletes it and its schedule.
    svc.functions.shift_remove("tick");
    let removal = deploy(&provider, &svc, &v3, &Scope::default()).await;
    assert_eq!(
        action_of(&removal, ResourceKind::Function, "tick"),
        Action::Delete
    );
    assert!(
        removal
            .changes
            .iter()
            .any(|c| c.kind == ResourceKind::Trigger
                && c.deployed_name == "life-dev-tick-schedule-1"
                && c.action == Action::Delete),
        "{removal:#?}"
    );

    // info: what is deployed, with its endpoints.
    let info = provider.info(&svc).await.unwrap();
    let names: Vec<_> = info.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["hello"]);
    assert_eq!(info.functions[0].memory_size, Some(256));
    assert_eq!(
        info.functions[0].code_sha256.as_deref(),
        Some(v3.artifacts[0].sha256.as_str())
    );
    assert!(info.endpoints.iter().any(|e| e.url.ends_with("/hello")));
    assert!(info.details.contains_key("role"));

    // remove: functions, API, role, log groups of this service only.
    let removed = provider.remove(&svc).await.unwrap();
    let kinds: Vec<_> = removed.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&ResourceKind::Function), "{removed:?}");
    assert!(kinds.contains(&ResourceKind::Api), "{removed:?}");
    assert!(kinds.contains(&ResourceKind::Role), "{removed:?}");
    let after = provider.info(&svc).await.unwrap();
    assert!(after.functions.is_empty() && after.endpoints.is_empty());
    let fresh = provider.plan(&svc, &v3, &Scope::default()).await.unwrap();
    assert_eq!(
        action_of(&fresh, ResourceKind::Function, "hello"),
        Action::Create
    );
}

#[tokio::test]
async fn remove_leaves_other_services_and_stages_alone() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let ours = service("keep", vec![function("a", vec![])]);
    let mut other_stage = ours.clone();
    other_stage.stage = "prod".into();
    let neighbour = service("keeper", vec![function("a", vec![])]);
    for svc in [&ours, &other_stage, &neighbour] {
        let packaged = package(dir.path(), svc, "v1");
        deploy(&provider, svc, &packaged, &Scope::default()).await;
    }
    provider.remove(&ours).await.unwrap();
    assert!(provider.info(&ours).await.unwrap().functions.is_empty());
    assert_eq!(
        provider.info(&other_stage).await.unwrap().functions.len(),
        1
    );
    assert_eq!(provider.info(&neighbour).await.unwrap().functions.len(), 1);
}

#[tokio::test]
async fn invoke_returns_the_payload_and_accepts_async_calls() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let svc = service("callme", vec![function("echo", vec![])]);
    let packaged = package(dir.path(), &svc, "v1");
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    // moto without Docker answers from a queue of canned results instead of running the code.
    let (status, body) = moto()
        .request(
            "POST",
            "/moto-api/static/lambda-simple/response",
            r#"{"results": ["{\"answer\": 42}"], "region": "us-east-1"}"#,
        )
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let request = InvokeRequest {
        function: "echo".into(),
        payload: r#"{"name": "you"}"#.into(),
        with_logs: true,
        asynchronous: false,
    };
    let invocation = provider.invoke(&svc, &request).await.unwrap();
    assert_eq!(invocation.outcome, Outcome::Success);
    assert_eq!(invocation.payload, r#"{"answer": 42}"#);
    assert!(invocation.request_id.is_some());

    let queued = InvokeRequest {
        asynchronous: true,
        ..request.clone()
    };
    let accepted = provider.invoke(&svc, &queued).await.unwrap();
    assert_eq!(accepted.outcome, Outcome::Accepted);
}

async fn put_events(group: &str, stream: &str, messages: &[(i64, &str)]) {
    let config = moto().sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let _ = logs.create_log_group().log_group_name(group).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let mut request = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (timestamp, message) in messages {
        request = request.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
}

#[tokio::test]
async fn logs_are_read_filtered_and_followed_without_duplicates() {
    let provider = provider().await;
    let svc = service("logsvc", vec![function("fn", vec![])]);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let id = "8f5a2c1e-1234-4d3a-9b7e-0123456789ab";
    let start = format!("START RequestId: {id} Version: $LATEST");
    let line = format!("2026-11-23T10:00:00.000Z\t{id}\tINFO\thello from fn");
    put_events(
        "/aws/lambda/logsvc-dev-fn",
        "2026/11/23/[$LATEST]a",
        &[
            (now - 60_000, "old line"),
            (now - 2_000, &start),
            (now - 1_000, &line),
        ],
    )
    .await;
    let query = LogQuery {
        function: "fn".into(),
        since: Some(SystemTime::now() - Duration::from_secs(30)),
        filter: None,
    };
    let records = provider.logs(&svc, &query).await.unwrap();
    let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, vec![start.as_str(), line.as_str()]);
    assert!(records.iter().all(|r| r.request_id.as_deref() == Some(id)));
    assert!(records.iter().all(|r| r.function == "fn"));

    let filtered = provider
        .logs(
            &svc,
            &LogQuery {
                filter: Some("hello from".into()),
                since: None,
                ..query.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].message, line);

    // Following: a later poll (overlapping in time, as `--tail` does) shows only new ids.
    let seen: std::collections::HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    put_events(
        "/aws/lambda/logsvc-dev-fn",
        "2026/11/23/[$LATEST]a",
        &[(now + 500, "a new line")],
    )
    .await;
    let polled = provider.logs(&svc, &query).await.unwrap();
    let new: Vec<_> = polled
        .iter()
        .filter(|r| !seen.contains(&r.id))
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(new, vec!["a new line"]);
    assert_eq!(polled.len(), 3);

    // A function that never logged has no group yet: no records, no error.
    let quiet = provider
        .logs(
            &svc,
            &LogQuery {
                function: "quiet".into(),
                ..query
            },
        )
        .await
        .unwrap();
    assert!(quiet.is_empty());
}

#[tokio::test]
async fn a_large_artifact_goes_through_the_deployment_bucket() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let svc = service("bigsvc", vec![function("big", vec![])]);
    let mut artifact = zip(
        dir.path(),
        "big.zip",
        "def main(e, c):\n    return 1\n",
        51 << 20,
    );
    artifact.functions = vec!["big".into()];
    assert!(artifact.size > stratus::providers::aws::SIZE_LIMITS.zipped);
    let packaged = Packaged {
        artifacts: vec![artifact.clone()],
        warnings: vec![],
        dependencies: vec![],
    };
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let writes = provider.call_log().writes();
    assert!(writes.contains(&"S3:PutObject".to_string()), "{writes:?}");
    assert!(writes.contains(&"Lambda:CreateFunction".to_string()));
    let info = provider.info(&svc).await.unwrap();
    assert_eq!(
        info.functions[0].code_sha256.as_deref(),
        Some(artifact.sha256.as_str())
    );
    assert_settled(&provider, &svc, &packaged).await;
    let removed = provider.remove(&svc).await.unwrap();
    assert!(
        removed.iter().any(|r| r.kind == ResourceKind::Storage
            && r.name.ends_with(&format!("{}.zip", artifact.sha256))),
        "{removed:?}"
    );
}

#[tokio::test]
async fn throttling_is_retried_and_a_failed_deploy_names_what_was_applied_then_converges() {
    let dir = TempDir::new().unwrap();
    let faults = FaultyClient::new(vec![
        Fault {
            method: "POST",
            path_contains: "/functions".into(),
            body_contains: r#""FunctionName":"flaky-dev-a""#.into(),
            status: 429,
            error_type: "TooManyRequestsException",
            times: 2,
        },
        Fault {
            method: "POST",
            path_contains: "/functions".into(),
            body_contains: r#""FunctionName":"flaky-dev-b""#.into(),
            status: 500,
            error_type: "ServiceException",
            times: usize::MAX,
        },
    ]);
    let provider = AwsProvider::with_config(moto().sdk_config_with(faults.shared()).await);
    let svc = service(
        "flaky",
        vec![
            function("a", vec![]),
            function("b", vec![http("POST", "/b")]),
        ],
    );
    let packaged = package(dir.path(), &svc, "v1");
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    let error = provider.apply(&svc, &packaged, &plan).await.unwrap_err();
    let done: Vec<_> = error.done.iter().map(|c| c.name.as_str()).collect();
    assert!(
        done.contains(&"execution role") && done.contains(&"a"),
        "{error}"
    );
    assert_eq!(error.failed.len(), 1, "{error}");
    assert_eq!(error.failed[0].0.name, "b");
    let pending: Vec<_> = error.pending.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(pending, vec!["http api", "POST /b"], "{error}");
    let shown = error.to_string();
    assert!(shown.contains("FAILED    create function b"), "{shown}");
    assert!(shown.contains("ServiceException"), "{shown}");
    assert!(shown.contains("pending   create route POST /b"), "{shown}");
    // a was throttled twice, then created; b was tried once plus three retries.
    assert_eq!(faults.injected(), 2 + 4);

    faults.heal();
    let rerun = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    assert_eq!(
        action_of(&rerun, ResourceKind::Function, "a"),
        Action::Unchanged
    );
    assert_eq!(
        action_of(&rerun, ResourceKind::Function, "b"),
        Action::Create
    );
    provider.apply(&svc, &packaged, &rerun).await.unwrap();
    assert_settled(&provider, &svc, &packaged).await;
}

#[tokio::test]
async fn missing_credentials_say_where_stratus_looked() {
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(stratus::providers::aws::config::http_client())
        .build();
    let provider = AwsProvider::with_config(config);
    let svc = service("nocreds", vec![function("a", vec![])]);
    let error = provider
        .plan(&svc, &Packaged::default(), &Scope::default())
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("no AWS credentials found"), "{text}");
    assert!(text.contains("~/.aws/credentials"), "{text}");
    assert!(text.contains("aws configure"), "{text}");
}

#[test]
fn check_reports_every_problem_at_once_naming_the_key() {
    let mut bad = function("bad", vec![]);
    bad.memory_size = Some(64);
    bad.timeout = Some(1000);
    bad.runtime = Some(Runtime::parse("python2.7"));
    let long = function(&"x".repeat(60), vec![]);
    let svc = service("checks", vec![bad, long]);
    let diagnostics = AwsProvider::from_env()
        .target()
        .check(&svc, &Scope::default());
    let keys: Vec<_> = diagnostics
        .errors()
        .map(|d| d.key.clone().unwrap_or_default())
        .collect();
    assert!(
        keys.contains(&"functions.bad.memorySize".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"functions.bad.timeout".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"functions.bad.runtime".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("functions.{}", "x".repeat(60))),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 4, "{diagnostics}");
}

#[tokio::test]
async fn role_statements_and_schedules_are_updated_in_place() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let mut svc = service(
        "perms",
        vec![function("job", vec![schedule("rate(1 hour)")])],
    );
    let statement = |action: &str| json!({"Effect": "Allow", "Action": [action], "Resource": "*"});
    svc.provider.extra.insert(
        "iam".into(),
        json!({"role": {"statements": [statement("s3:GetObject")]}}),
    );
    let packaged = package(dir.path(), &svc, "v1");
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_settled(&provider, &svc, &packaged).await;

    svc.provider.extra.insert(
        "iam".into(),
        json!({"role": {"statements": [statement("s3:PutObject")]}}),
    );
    let Some(stratus::model::Event::Schedule(rule)) =
        svc.functions.get_mut("job").unwrap().events.get_mut(0)
    else {
        panic!("the fixture has a schedule");
    };
    rule.expression = "rate(2 hours)".into();
    rule.enabled = false;
    provider.call_log().clear();
    let changed = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let role = changed
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::Role)
        .unwrap();
    assert_eq!(role.action, Action::Update);
    assert_eq!(role.fields[0].field, "iam.role.statements");
    assert!(
        role.fields[0]
            .new
            .as_deref()
            .unwrap()
            .contains("s3:PutObject")
    );
    let trigger = changed
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::Trigger)
        .unwrap();
    assert_eq!(trigger.action, Action::Update);
    let fields: Vec<_> = trigger.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["schedule", "enabled"]);
    let writes = provider.call_log().writes();
    assert!(
        writes.contains(&"IAM:PutRolePolicy".to_string()),
        "{writes:?}"
    );
    assert!(
        writes.contains(&"EventBridge:PutRule".to_string()),
        "{writes:?}"
    );
    assert!(
        !writes.iter().any(|w| w.starts_with("Lambda:Update")),
        "{writes:?}"
    );
    assert_settled(&provider, &svc, &packaged).await;

    // An existing role named in the manifest is used as is and never removed.
    let mut borrowed = service("borrow", vec![function("f", vec![])]);
    borrowed.provider.extra.insert(
        "iam".into(),
        json!({"role": "perms-dev-us-east-1-lambdaRole"}),
    );
    let packaged = package(dir.path(), &borrowed, "v1");
    let plan = deploy(&provider, &borrowed, &packaged, &Scope::default()).await;
    assert!(!plan.changes.iter().any(|c| c.kind == ResourceKind::Role));
    let removed = provider.remove(&borrowed).await.unwrap();
    assert!(
        !removed.iter().any(|r| r.kind == ResourceKind::Role),
        "{removed:?}"
    );
    let info = provider.info(&svc).await.unwrap();
    assert!(info.details.contains_key("role"));
}

#[tokio::test]
async fn http_api_cors_is_created_updated_and_removed_only_when_it_differs() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let mut svc = service("corsy", vec![function("api", vec![http("GET", "/items")])]);
    svc.provider
        .extra
        .insert("httpApi".into(), json!({"cors": true}));
    let packaged = package(dir.path(), &svc, "v1");
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let live_cors = || async {
        let apis = moto().sdk_config().await;
        let client = aws_sdk_apigatewayv2::Client::new(&apis);
        let page = client.get_apis().send().await.unwrap();
        page.items()
            .iter()
            .find(|api| api.name() == Some("corsy-dev"))
            .expect("the HTTP API exists")
            .cors_configuration()
            .cloned()
    };
    let cors = live_cors().await.expect("CORS set at creation");
    assert_eq!(cors.allow_origins(), ["*"]);
    let mut methods = cors.allow_methods().to_vec();
    methods.sort();
    assert_eq!(methods, ["GET", "OPTIONS"]);
    assert_settled(&provider, &svc, &packaged).await;

    // New settings: the API is updated in place, one field.
    svc.provider.extra.insert(
        "httpApi".into(),
        json!({"cors": {"allowedOrigins": ["https://app.example"], "allowCredentials": true, "maxAge": 600}}),
    );
    provider.call_log().clear();
    let changed = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let api = changed
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::Api)
        .unwrap();
    assert_eq!(api.action, Action::Update);
    assert_eq!(api.fields[0].field, "cors");
    assert!(
        api.fields[0]
            .new
            .as_deref()
            .unwrap()
            .contains("https://app.example")
    );
    assert_eq!(
        provider.call_log().writes(),
        vec!["ApiGatewayV2:UpdateApi".to_string()]
    );
    let cors = live_cors().await.unwrap();
    assert_eq!(cors.allow_origins(), ["https://app.example"]);
    assert_eq!(cors.allow_credentials(), Some(true));
    assert_eq!(cors.max_age(), Some(600));
    assert_settled(&provider, &svc, &packaged).await;

    // No more CORS: removed from the API.
    svc.provider.extra.remove("httpApi");
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert!(live_cors().await.is_none());
    provider.remove(&svc).await.unwrap();
}

#[tokio::test]
async fn sqs_triggers_are_mapped_updated_and_removed_with_their_function() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let queue = moto().sqs_queue("stratus-jobs");
    let mut svc = service("queued", vec![function("worker", vec![])]);
    let set_trigger = |svc: &mut Service, config: serde_json::Value| {
        set_events(svc, "worker", vec![other("sqs", config)]);
    };
    set_trigger(&mut svc, json!({"arn": queue, "batchSize": 5}));
    assert_checks(&provider, &svc);
    let packaged = package(dir.path(), &svc, "v1");
    let first = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(
        action_of(&first, ResourceKind::Trigger, "worker sqs stratus-jobs"),
        Action::Create
    );
    let lambda = aws_sdk_lambda::Client::new(&moto().sdk_config().await);
    let mappings = || async {
        lambda
            .list_event_source_mappings()
            .function_name("queued-dev-worker")
            .send()
            .await
            .unwrap()
            .event_source_mappings()
            .to_vec()
    };
    let live = mappings().await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].event_source_arn(), Some(queue.as_str()));
    assert_eq!(live[0].batch_size(), Some(5));
    // The role may poll the queue.
    let iam = aws_sdk_iam::Client::new(&moto().sdk_config().await);
    let policy = iam
        .get_role_policy()
        .role_name("queued-dev-us-east-1-lambdaRole")
        .policy_name("stratus-statements")
        .send()
        .await
        .unwrap();
    let document = policy.policy_document();
    assert!(
        document.contains("sqs%3AReceiveMessage") || document.contains("sqs:ReceiveMessage"),
        "{document}"
    );
    assert!(document.contains("stratus-jobs"), "{document}");
    assert_settled(&provider, &svc, &packaged).await;

    // A new batch size is one in-place update.
    set_trigger(&mut svc, json!({"arn": queue, "batchSize": 7}));
    provider.call_log().clear();
    let updated = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let trigger = updated
        .changes
        .iter()
        .find(|c| c.name == "worker sqs stratus-jobs")
        .unwrap();
    assert_eq!(trigger.action, Action::Update);
    assert_eq!(trigger.fields[0].field, "batchSize");
    let writes = provider.call_log().writes();
    assert!(
        writes.contains(&"Lambda:UpdateEventSourceMapping".to_string()),
        "{writes:?}"
    );
    assert_eq!(mappings().await[0].batch_size(), Some(7));

    // Removed from the manifest: the mapping goes; removing the service leaves none behind.
    svc.functions.get_mut("worker").unwrap().events.clear();
    let dropped = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(
        action_of(&dropped, ResourceKind::Trigger, "worker sqs stratus-jobs"),
        Action::Delete
    );
    assert!(mappings().await.is_empty());
    set_trigger(&mut svc, json!(queue));
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(mappings().await.len(), 1);
    provider.remove(&svc).await.unwrap();
    let all = lambda.list_event_source_mappings().send().await.unwrap();
    assert!(
        !all.event_source_mappings()
            .iter()
            .any(|m| m.event_source_arn() == Some(queue.as_str())),
        "remove left a trigger behind"
    );
}

#[tokio::test]
async fn s3_triggers_share_buckets_politely_and_created_buckets_go_with_the_service() {
    use aws_sdk_s3::types::{
        Event as S3Event, LambdaFunctionConfiguration, NotificationConfiguration,
    };
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto().sdk_config().await)
            .force_path_style(true)
            .build(),
    );
    // A bucket of the user's, already notifying someone else.
    s3.create_bucket()
        .bucket("shared-uploads")
        .send()
        .await
        .unwrap();
    let mut svc = service("pics", vec![function("thumbs", vec![])]);
    let set_s3 = |svc: &mut Service, configs: Vec<serde_json::Value>| {
        let events = configs.into_iter().map(|c| other("s3", c)).collect();
        set_events(svc, "thumbs", events);
    };
    set_s3(&mut svc, vec![]);
    let packaged = package(dir.path(), &svc, "v1");
    deploy(&provider, &svc, &packaged, &Scope::default()).await;
    // Another tool's entry (its own Id) on the user's bucket.
    let other_arn = "arn:aws:lambda:us-east-1:123456789012:function:pics-dev-thumbs";
    let foreign = LambdaFunctionConfiguration::builder()
        .id("someone-else")
        .lambda_function_arn(other_arn)
        .events(S3Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("shared-uploads")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(foreign)
                .build(),
        )
        .send()
        .await
        .unwrap();

    set_s3(
        &mut svc,
        vec![
            json!("pics-originals"),
            json!({"bucket": "shared-uploads", "existing": true, "rules": [{"prefix": "in/"}]}),
        ],
    );
    assert_checks(&provider, &svc);
    let first = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(
        action_of(&first, ResourceKind::Storage, "bucket pics-originals"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Trigger, "thumbs s3 shared-uploads"),
        Action::Create
    );
    let ids = |bucket: &'static str| {
        let s3 = s3.clone();
        async move {
            let mut ids: Vec<String> = s3
                .get_bucket_notification_configuration()
                .bucket(bucket)
                .send()
                .await
                .unwrap()
                .lambda_function_configurations()
                .iter()
                .filter_map(|c| c.id().map(str::to_string))
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        ids("pics-originals").await,
        ["stratus-pics-dev-thumbs-s3-1"]
    );
    assert_eq!(
        ids("shared-uploads").await,
        ["someone-else", "stratus-pics-dev-thumbs-s3-2"]
    );
    assert_settled(&provider, &svc, &packaged).await;

    // A new prefix updates that entry only; the other service's entry stays.
    set_s3(
        &mut svc,
        vec![
            json!("pics-originals"),
            json!({"bucket": "shared-uploads", "existing": true, "rules": [{"prefix": "new/"}]}),
        ],
    );
    let updated = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let change = updated
        .changes
        .iter()
        .find(|c| c.name == "thumbs s3 shared-uploads")
        .unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.fields[0].field, "prefix");
    assert_eq!(
        ids("shared-uploads").await,
        ["someone-else", "stratus-pics-dev-thumbs-s3-2"]
    );

    // The event leaves the manifest: found through the function's permission and removed.
    set_s3(&mut svc, vec![json!("pics-originals")]);
    let dropped = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(
        action_of(&dropped, ResourceKind::Trigger, "thumbs s3 shared-uploads"),
        Action::Delete
    );
    assert_eq!(ids("shared-uploads").await, ["someone-else"]);

    // remove: the empty bucket stratus created goes; the user's bucket and its entry stay.
    let removed = provider.remove(&svc).await.unwrap();
    assert!(
        removed
            .iter()
            .any(|r| r.kind == ResourceKind::Storage && r.name == "pics-originals"),
        "{removed:?}"
    );
    let buckets: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(
        !buckets.contains(&"pics-originals".to_string()),
        "{buckets:?}"
    );
    assert!(buckets.contains(&"shared-uploads".to_string()));
    assert_eq!(ids("shared-uploads").await, ["someone-else"]);
}

#[tokio::test]
async fn event_bridge_patterns_become_rules_updated_in_place() {
    let dir = TempDir::new().unwrap();
    let provider = provider().await;
    let mut svc = service("ordered", vec![function("onorder", vec![])]);
    let set_pattern = |svc: &mut Service, pattern: serde_json::Value| {
        set_events(
            svc,
            "onorder",
            vec![other("eventBridge", json!({"pattern": pattern}))],
        );
    };
    set_pattern(&mut svc, json!({"source": ["shop.orders"]}));
    assert_checks(&provider, &svc);
    let packaged = package(dir.path(), &svc, "v1");
    let first = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert_eq!(
        action_of(&first, ResourceKind::Trigger, "onorder eventBridge 1"),
        Action::Create
    );
    let events = aws_sdk_eventbridge::Client::new(&moto().sdk_config().await);
    let pattern = || async {
        events
            .describe_rule()
            .name("ordered-dev-onorder-rule-1")
            .send()
            .await
            .ok()
            .and_then(|rule| rule.event_pattern().map(str::to_string))
            .map(|text| serde_json::from_str::<serde_json::Value>(&text).unwrap())
    };
    assert_eq!(pattern().await, Some(json!({"source": ["shop.orders"]})));
    let targets = events
        .list_targets_by_rule()
        .rule("ordered-dev-onorder-rule-1")
        .send()
        .await
        .unwrap();
    assert!(
        targets.targets()[0]
            .arn()
            .ends_with(":function:ordered-dev-onorder")
    );
    assert_settled(&provider, &svc, &packaged).await;

    set_pattern(
        &mut svc,
        json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}),
    );
    let changed = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    let change = changed
        .changes
        .iter()
        .find(|c| c.name == "onorder eventBridge 1")
        .unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.fields[0].field, "pattern");
    assert_eq!(
        pattern().await,
        Some(json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}))
    );

    // A custom bus is warned about and left out; no pattern at all is an error.
    let mut custom = svc.clone();
    let on_bus = json!({"eventBus": "orders-bus", "pattern": {"source": ["x"]}});
    set_events(&mut custom, "onorder", vec![other("eventBridge", on_bus)]);
    let diagnostics = provider.target().check(&custom, &Scope::default());
    assert!(
        !diagnostics.has_errors() && diagnostics.warnings().count() == 1,
        "{diagnostics}"
    );
    let schedule_only = json!({"schedule": "rate(1 hour)"});
    set_events(
        &mut custom,
        "onorder",
        vec![other("eventBridge", schedule_only)],
    );
    assert!(
        provider
            .target()
            .check(&custom, &Scope::default())
            .has_errors()
    );

    svc.functions.get_mut("onorder").unwrap().events.clear();
    let dropped = deploy(&provider, &svc, &packaged, &Scope::default()).await;
    assert!(
        dropped
            .changes
            .iter()
            .any(|c| c.kind == ResourceKind::Trigger && c.action == Action::Delete),
        "{dropped:#?}"
    );
    assert_eq!(pattern().await, None);
    provider.remove(&svc).await.unwrap();
}
