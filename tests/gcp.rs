//! The gcp provider against the fake Cloud Functions v2 API: faults and retries, operations
//! that fail, pagination, credentials (service account and gcloud's authorized_user), token
//! caching, update masks, long ids, and the AWS-style shim answering real HTTP calls under
//! Google's Functions Framework.

mod common;
#[path = "fakes/mod.rs"]
mod fakes;
#[path = "gcp/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use fakes::gcp::{FakeGcp, Fault};
use serde_json::json;
use stratus::manifest::{self, LoadOptions};
use stratus::model::Service;
use stratus::providers::gcp::GcpProvider;
use stratus::providers::gcp::config::GcpConfig;
use stratus::providers::{Action, Outcome, Provider, Scope};
use support::{deploy, invoke, try_deploy};

const HANDLER: &str = r#"
import json

def hello(event, context):
    print("hello called")
    return {"message": "Hello, " + event.get("name", "world") + "!"}

def web(event, context):
    return {"statusCode": 201, "headers": {"x-answer": "42"},
            "body": json.dumps({"method": event["requestContext"]["http"]["method"],
                                "path": event["rawPath"], "query": event["rawQueryString"],
                                "body": event["body"]})}

def fail(event, context):
    raise ValueError("no " + event.get("what", "thing"))
"#;

fn manifest(service: &str, memory: u32) -> String {
    format!(
        "service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n  memorySize: {memory}\n\
         functions:\n  hello:\n    handler: handler.hello\n  web:\n    handler: handler.web\n    events:\n      - httpApi: GET /web\n  fail:\n    handler: handler.fail\n"
    )
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(service: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("serverless.yml"), manifest(service, 256)).unwrap();
        std::fs::write(dir.path().join("handler.py"), HANDLER).unwrap();
        Project { dir }
    }

    fn load(&self) -> Service {
        support::load(self.dir.path())
    }
}

#[tokio::test]
async fn faults_are_retried_and_a_failed_operation_is_reported() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let project = Project::new("faulty");
    let service = project.load();
    fake.inject(Some("/functions"), Fault::Status(503, None));
    fake.inject(Some(":generateUploadUrl"), Fault::Status(429, Some(0)));
    fake.inject(Some("/upload/"), Fault::Drop);
    fake.inject(Some("/operations/"), Fault::Status(500, None));
    fake.inject(
        Some("/operations/"),
        Fault::Slow(Duration::from_millis(300)),
    );
    let plan = deploy(&provider, &service).await;
    assert_eq!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count(),
        3
    );
    assert_eq!(fake.pending_faults(), 0, "every fault was met and survived");
    assert_eq!(fake.function_ids().len(), 3);

    std::fs::write(
        project.dir.path().join("handler.py"),
        HANDLER.replace("Hello, ", "Hey, "),
    )
    .unwrap();
    fake.state().fail_next_operation =
        Some("Build failed: pip could not install requirements".into());
    let (_, applied) = try_deploy(&provider, &project.load()).await;
    let error = applied.unwrap_err().to_string();
    assert!(
        error.contains("Build failed: pip could not install requirements"),
        "{error}"
    );
    assert!(error.contains("FAILED"), "{error}");
}

#[tokio::test]
async fn lists_follow_page_tokens_and_foreign_functions_are_left_alone() {
    let fake = FakeGcp::start().await;
    for n in 0..5 {
        fake.seed(
            &format!("other-{n}"),
            json!({"stratus-service": "someone-else", "stratus-stage": "dev"}),
        );
    }
    let provider = fake.provider();
    let project = Project::new("paged");
    let service = project.load();
    deploy(&provider, &service).await;
    let info = provider.info(&service).await.unwrap();
    let mut names: Vec<_> = info.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["fail", "hello", "web"], "found on later pages too");
    assert!(
        fake.state()
            .requests
            .iter()
            .any(|r| r.contains("pageToken=p")),
        "pages were followed"
    );
    assert_eq!(info.endpoints.len(), 1);
    assert_eq!(
        info.endpoints[0].url,
        format!("{}/run/paged-dev-web", fake.url)
    );
    let removed = provider.remove(&service).await.unwrap();
    assert_eq!(removed.len(), 3);
    assert_eq!(
        fake.function_ids().len(),
        5,
        "only this service's functions are removed"
    );
}

#[tokio::test]
async fn updates_name_only_the_changed_fields_and_tokens_are_cached() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let project = Project::new("masks");
    deploy(&provider, &project.load()).await;
    std::fs::write(
        project.dir.path().join("serverless.yml"),
        manifest("masks", 512),
    )
    .unwrap();
    let plan = deploy(&provider, &project.load()).await;
    let change = plan.changes.iter().find(|c| c.name == "hello").unwrap();
    assert_eq!(change.action, Action::Update);
    let fields: Vec<_> = change.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["memorySize"]);
    assert_eq!(
        fake.function("masks-dev-hello").unwrap()["serviceConfig"]["availableMemory"],
        "512M"
    );
    let state = fake.state();
    let patches: Vec<_> = state
        .requests
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    assert_eq!(patches.len(), 3, "{patches:?}");
    assert!(
        patches
            .iter()
            .all(|p| p.contains("updateMask=serviceConfig.availableMemory")
                && !p.contains("buildConfig")),
        "{patches:?}"
    );
    assert_eq!(
        state.token_requests, 1,
        "one access token served every call"
    );
}

#[tokio::test]
async fn the_aws_shim_answers_http_calls_and_errors_under_the_functions_framework() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let project = Project::new("shim");
    let service = project.load();
    deploy(&provider, &service).await;

    support::assert_fails(
        &provider,
        &service,
        "fail",
        json!({"what": "luck"}),
        "ValueError",
        "no luck",
    )
    .await;
    // A plain HTTP call through the function URL gets an API Gateway v2 event.
    support::assert_http_calls_are_mapped(&fake.url, &provider, "shim-dev-web").await;
    let url = format!("{}/run/shim-dev-web", fake.url);
    let other = stratus::http::bare_client()
        .post(&url)
        .bearer_auth("idt-forged")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 401, "the ID token is checked");
}

#[tokio::test]
async fn long_names_get_a_valid_hashed_id() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let project = Project::new("A_Very_Long_Service_Name_That_Keeps_Going_And_Going_Beyond_Limits");
    let service = project.load();
    deploy(&provider, &service).await;
    let ids = fake.function_ids();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter()
            .all(|id| id.len() <= 63 && id.starts_with("a-very-long")),
        "{ids:?}"
    );
    let again = deploy(&provider, &service).await;
    assert!(!again.has_changes(), "{again:#?}");
    let answer = invoke(&provider, &service, "hello", json!({"name": "Long"})).await;
    assert!(answer.payload.contains("Hello, Long!"), "{answer:?}");
}

fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |name: &str| vars.get(name).cloned()
}

#[tokio::test]
async fn credentials_follow_adc_order_and_are_never_shown() {
    let fake = FakeGcp::start().await;
    let project = Project::new("creds");
    let service = project.load();
    let home = tempfile::tempdir().unwrap();

    let error = GcpConfig::resolve(&service, &lookup(&[]), Some(home.path()))
        .unwrap_err()
        .to_string();
    for place in [
        "provider.credentials",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "application_default_credentials.json",
        "metadata server",
    ] {
        assert!(error.contains(place), "{place} in {error}");
    }

    let key = fake.key_file().display().to_string();
    let config = GcpConfig::resolve(
        &service,
        &lookup(&[("GOOGLE_APPLICATION_CREDENTIALS", key.clone())]),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(config.project, "stratus-test", "project from the key file");
    assert_eq!(config.region, "us-central1");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("PRIVATE KEY") && !shown.contains(&fake.shared.key.pem[40..80]),
        "{shown}"
    );

    // gcloud's ADC file (authorized_user) with endpoint overrides: a refresh-token flow.
    let gcloud = home.path().join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        json!({"type": "authorized_user", "client_id": "cid", "client_secret": fakes::gcp_host::USER_CLIENT_SECRET,
               "refresh_token": fakes::gcp_host::USER_REFRESH_TOKEN, "token_uri": format!("{}/token", fake.url)})
        .to_string(),
    )
    .unwrap();
    let vars = [
        ("GOOGLE_CLOUD_PROJECT", "stratus-test".to_string()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS",
            fake.url.clone(),
        ),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", fake.url.clone()),
    ];
    let config = GcpConfig::resolve(&service, &lookup(&vars), Some(home.path())).unwrap();
    assert!(config.source.contains("gcloud ADC"), "{}", config.source);
    assert!(!format!("{config:?}").contains(fakes::gcp_host::USER_REFRESH_TOKEN));
    let provider = GcpProvider::new(config, Default::default(), Default::default()).unwrap();
    deploy(&provider, &service).await;
    let answer = invoke(&provider, &service, "hello", json!({"name": "User"})).await;
    assert!(answer.payload.contains("Hello, User!"), "{answer:?}");

    // A key the token endpoint does not accept: a clear error, no secret in it.
    std::fs::write(
        project.dir.path().join("bad.json"),
        fakes::gcp_host::TestKey::other()
            .key_file("p", &format!("{}/token", fake.url))
            .to_string(),
    )
    .unwrap();
    let bad = GcpConfig::resolve(
        &service,
        &lookup(&[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            project.dir.path().join("bad.json").display().to_string(),
        )]),
        None,
    )
    .unwrap();
    let provider = GcpProvider::new(bad, Default::default(), Default::default()).unwrap();
    let error = format!("{:#}", provider.info(&service).await.unwrap_err());
    assert!(
        error.contains("token request was refused") && error.contains("Invalid JWT Signature"),
        "{error}"
    );
}

#[tokio::test]
async fn google_style_handlers_run_as_written() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serverless.yml"),
        "service: native\nprovider:\n  name: google\n  project: stratus-test\n  runtime: python312\n  timeout: 60s\n\
         functions:\n  first:\n    handler: http_entry\n    events:\n      - http: path\n  second:\n    handler: other.greet\n    events:\n      - http: path\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.py"),
        "def http_entry(request):\n    return 'native ' + request.get_json()['name']\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other.py"),
        "def greet(request):\n    return ('greet ' + request.get_json()['name'], 202)\n",
    )
    .unwrap();
    let service = manifest::load(&LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..LoadOptions::default()
    })
    .unwrap()
    .service;
    assert!(
        provider
            .target()
            .generated_files(&service, &service.functions["first"])
            .unwrap()
            .is_empty(),
        "a plain entry point uses the user's own main.py"
    );
    // `other.greet` would need a generated main.py beside the user's own: refused up front.
    let diagnostics = provider.target().check(&service, &Scope::default());
    let text = diagnostics.to_string();
    assert!(
        diagnostics.has_errors() && text.contains("functions.second.handler"),
        "{text}"
    );
    let mut service = service;
    service.functions.shift_remove("second");
    let plan = deploy(&provider, &service).await;
    assert_eq!(plan.region.as_deref(), Some("us-central1"));
    let first = invoke(&provider, &service, "first", json!({"name": "A"})).await;
    assert_eq!(first.payload, "native A");

    // Without a main.py of its own, a google-style `file.function` handler gets the Flask request.
    std::fs::remove_file(dir.path().join("main.py")).unwrap();
    std::fs::write(
        dir.path().join("serverless.yml"),
        "service: native2\nprovider:\n  name: google\n  project: stratus-test\n  runtime: python312\n\
         functions:\n  second:\n    handler: other.greet\n    events:\n      - http: path\n",
    )
    .unwrap();
    let other = manifest::load(&LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..LoadOptions::default()
    })
    .unwrap()
    .service;
    deploy(&provider, &other).await;
    let second = invoke(&provider, &other, "second", json!({"name": "B"})).await;
    assert_eq!(second.payload, "greet B");
    let stored = fake.function("native-dev-first").unwrap();
    assert_eq!(stored["buildConfig"]["entryPoint"], "http_entry");
    assert_eq!(stored["serviceConfig"]["timeoutSeconds"], 60);
}

#[tokio::test]
async fn the_metadata_server_is_the_last_resort() {
    let fake = FakeGcp::start().await;
    let project = Project::new("meta");
    let service = project.load();
    let home = tempfile::tempdir().unwrap();
    let host = fake.url.trim_start_matches("http://").to_string();
    let vars = [
        ("GCE_METADATA_HOST", host),
        ("GOOGLE_CLOUD_PROJECT", "stratus-test".to_string()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS",
            fake.url.clone(),
        ),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", fake.url.clone()),
    ];
    let config = GcpConfig::resolve(&service, &lookup(&vars), Some(home.path())).unwrap();
    assert_eq!(config.source, "metadata server");
    let provider = GcpProvider::new(config, Default::default(), Default::default()).unwrap();
    deploy(&provider, &service).await;
    let answer = invoke(&provider, &service, "hello", json!({"name": "Meta"})).await;
    assert!(answer.payload.contains("Hello, Meta!"), "{answer:?}");
}

const EVENTS: &str = r#"
service: events
provider:
  name: google
  project: stratus-test
  runtime: python312
functions:
  onmessage:
    handler: on_message
    events:
      - event:
          eventType: providers/cloud.pubsub/eventTypes/topic.publish
          resource: projects/*/topics/TOPIC
  onupload:
    handler: on_upload
    events:
      - event:
          eventType: google.storage.object.finalize
          resource: projects/_/buckets/uploads
"#;

const BAD_EVENTS: &str = r#"
service: events
provider:
  name: google
  runtime: python312
functions:
  a:
    handler: a
    events:
      - event:
          eventType: google.firestore.document.write
          resource: x
  b:
    handler: b
    events:
      - event:
          eventType: google.pubsub.topic.publish
          resource: goog-topic
  c:
    handler: c
    events:
      - http: path
      - event:
          eventType: google.pubsub.topic.publish
          resource: t-1
"#;

#[tokio::test]
async fn pubsub_and_storage_events_become_event_triggers() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.py"),
        "import base64\n\ndef on_message(cloud_event):\n    print('message ' + base64.b64decode(cloud_event.data['message']['data']).decode())\n\n\
         def on_upload(cloud_event):\n    print('uploaded ' + cloud_event.data['name'] + ' to ' + cloud_event.data['bucket'])\n",
    )
    .unwrap();
    let write = |topic: &str| {
        std::fs::write(
            dir.path().join("serverless.yml"),
            EVENTS.replace("TOPIC", topic),
        )
        .unwrap();
    };
    write("orders");
    let service = support::load(dir.path());
    let plan = deploy(&provider, &service).await;
    assert_eq!(plan.changes.len(), 2, "{plan:#?}");
    let message = fake.function("events-dev-onmessage").unwrap();
    assert_eq!(
        message["eventTrigger"]["eventType"],
        "google.cloud.pubsub.topic.v1.messagePublished"
    );
    assert_eq!(
        message["eventTrigger"]["pubsubTopic"],
        "projects/stratus-test/topics/orders"
    );
    let upload = fake.function("events-dev-onupload").unwrap();
    assert_eq!(
        upload["eventTrigger"]["eventType"],
        "google.cloud.storage.object.v1.finalized"
    );
    assert_eq!(
        upload["eventTrigger"]["eventFilters"],
        json!([{"attribute": "bucket", "value": "uploads"}])
    );
    assert!(
        !provider.info(&service).await.unwrap().functions.is_empty(),
        "info lists event functions"
    );

    // A message on the topic and an upload to the bucket reach the handlers as CloudEvents.
    assert_eq!(
        fake.publish("orders", "one order").await,
        [("events-dev-onmessage".to_string(), 200)]
    );
    assert_eq!(
        fake.upload("uploads", "a.txt", 3).await,
        [("events-dev-onupload".to_string(), 200)]
    );
    assert!(fake.publish("elsewhere", "x").await.is_empty());
    // `invoke` calls an event function the way its trigger does: with a CloudEvent whose
    // message data is the payload (Pub/Sub), or whose object is the payload (Cloud Storage).
    let invoked = invoke(&provider, &service, "onmessage", json!({"order": 8})).await;
    assert_eq!(invoked.outcome, Outcome::Success, "{invoked:?}");
    let invoked = invoke(&provider, &service, "onupload", json!({"name": "b.txt"})).await;
    assert_eq!(invoked.outcome, Outcome::Success, "{invoked:?}");
    for (function, line) in [
        ("onmessage", "message one order"),
        ("onupload", "uploaded a.txt to uploads"),
        ("onmessage", r#"message {"order":8}"#),
        ("onupload", "uploaded b.txt to uploads"),
    ] {
        let found = support::eventually_logged(&provider, &service, function, line).await;
        assert!(found, "{function} logged `{line}`");
    }

    // Unchanged: nothing written. A new topic: only the trigger is updated.
    let writes = fake.writes();
    let again = deploy(&provider, &service).await;
    assert!(!again.has_changes(), "{again:#?}");
    assert_eq!(fake.writes(), writes);
    write("invoices");
    let service = support::load(dir.path());
    let moved = deploy(&provider, &service).await;
    let change = moved
        .changes
        .iter()
        .find(|c| c.name == "onmessage")
        .unwrap();
    assert_eq!(change.action, Action::Update);
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["event.resource"], "{moved:#?}");
    assert!(
        fake.state()
            .requests
            .iter()
            .any(|r| r.contains("/functions/events-dev-onmessage?updateMask=eventTrigger")),
        "the update names only eventTrigger"
    );
    assert_eq!(
        fake.function("events-dev-onmessage").unwrap()["eventTrigger"]["pubsubTopic"],
        "projects/stratus-test/topics/invoices"
    );

    // Unsupported types, bad resources and two triggers on one function are refused up front.
    std::fs::write(dir.path().join("serverless.yml"), BAD_EVENTS).unwrap();
    let bad = support::load(dir.path());
    let text = provider.target().check(&bad, &Scope::default()).to_string();
    for want in [
        "functions.a.events.0",
        "not supported on Cloud Functions",
        "functions.b.events.0",
        "not a valid Pub/Sub topic",
        "functions.c.events.1",
        "one trigger",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}
