//! The OpenWhisk provider against the fake controller (tests/fakes/openwhisk.rs): the same
//! scenarios as the other providers — first deploy, no-op redeploy with zero writes, code and
//! config changes, removal of a function, invoke, logs and tail, info, remove — plus faults.

mod fakes;
#[path = "openwhisk/support.rs"]
mod support;

use fakes::openwhisk::{FakeOpenWhisk, Fault};
use serde_json::{Value as Json, json};
use stratus::http::HttpConfig;
use stratus::model::{Event, Runtime, ScheduleEvent};
use stratus::providers::openwhisk::OpenWhiskProvider;
use stratus::providers::openwhisk::config::{Credentials, OpenWhiskConfig};
use stratus::providers::{Action, Provider, Scope};
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
        8 + 1 + 2 + 3,
        "8 actions, a package, 2 triggers, 3 rules: {plan:#?}"
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
    // Firing the shared trigger runs both functions through their rules.
    let (user, key) = fake.auth.split_once(':').unwrap();
    let fired = stratus::http::bare_client()
        .post(format!(
            "{}/api/v1/namespaces/guest/triggers/my_trigger",
            fake.url
        ))
        .basic_auth(user, Some(key))
        .json(&json!({"name": "event"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), 202);
    let ran: Vec<(String, Json)> = fake
        .state
        .lock()
        .unwrap()
        .activations
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["response"]["result"].clone(),
            )
        })
        .collect();
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.contains(&(
        "svc-dev-hello".into(),
        json!({"greeting": "hello event", "greeting_param": "hi"})
    )));
    assert!(ran.iter().any(
        |(name, result)| name == "svc-dev-fail" && result["error"]["errorType"] == "ValueError"
    ));
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
    let body = stratus::http::bare_client()
        .get(&endpoint.url)
        .send()
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
    assert_eq!(fields, ["environment.API_TOKEN", "memorySize"], "{env:#?}");
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
        fake.entity("triggers", "my_trigger").is_some(),
        "fail still listens on it"
    );
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
    assert_eq!(removed.len(), 8 + 3 + 2 + 1, "{removed:#?}");
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
    let diagnostics = provider.target().check(&project.service, &Scope::default());
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
        credentials: Credentials::parse("user:DebugMustNotShowThisKey").unwrap(),
        namespace: "_".into(),
        ignore_certs: false,
        sources: vec![],
    };
    let provider = OpenWhiskProvider::new(config, HttpConfig::default()).unwrap();
    let debug = format!("{provider:?}");
    assert!(!debug.contains("DebugMustNotShowThisKey"), "{debug}");
    assert!(
        !debug.contains("dXNlcjpEZWJ1Z011c3"),
        "no base64 of it either: {debug}"
    );
    let service = &project.service;
    let files = |name: &str| {
        provider
            .target()
            .generated_files(service, &service.functions[name])
            .unwrap()
    };
    assert_eq!(files("split"), files("join"));
    assert_eq!(files("hello")[0].path, "__main__.py");
    assert!(files("chain").is_empty(), "sequences have no code");
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
