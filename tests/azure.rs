//! The Azure provider against the fake: what it writes through ARM, how it follows
//! long-running operations, survives faults, reports failed operations and deployments,
//! runs native Azure handlers, and keeps credentials out of every message.

#[path = "fakes/mod.rs"]
mod fakes;
#[path = "azure/support.rs"]
mod support;

use std::time::Duration;

use fakes::azure::{FakeAzure, Fault, SECRET, STORAGE_KEY, SUBSCRIPTION};
use stratus::providers::azure::AzureProvider;
use stratus::providers::azure::credential::Method;
use stratus::providers::{Action, InvokeRequest, LogQuery, Outcome, Provider, ResourceKind};

const AWS_MANIFEST: &str = r#"
service: shop
provider:
  name: aws
  runtime: python3.12
  memorySize: 3000
  environment:
    TABLE: orders
functions:
  orders:
    handler: orders.handler
    events:
      - httpApi: GET /orders/{id}
"#;

const ORDERS: &str = r#"
import os
def handler(event, context):
    print("order " + event["pathParameters"]["id"])
    return {"statusCode": 200, "headers": {"content-type": "text/plain"},
            "body": "order " + event["pathParameters"]["id"] + " in " + os.environ["TABLE"]}
"#;

fn site_path(service: &str, stage: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-{service}-{stage}/providers/Microsoft.Web/sites/{service}-{stage}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_writes_a_flex_consumption_app_through_long_running_operations() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "shop", "dev");
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    let applied = support::deploy(&provider, &service).await.unwrap();
    assert!(
        applied
            .endpoints
            .iter()
            .any(|e| e.url.ends_with("/api/orders/{id}")),
        "{applied:#?}"
    );

    let site = fake
        .resource(&site_path("shop", "dev"))
        .expect("the app exists");
    assert_eq!(site["kind"], "functionapp,linux");
    let config = &site["properties"]["functionAppConfig"];
    assert_eq!(config["runtime"]["name"], "python");
    assert_eq!(config["runtime"]["version"], "3.12");
    assert_eq!(
        config["scaleAndConcurrency"]["instanceMemoryMB"], 4096,
        "3000 MB rounds up"
    );
    assert_eq!(site["tags"]["stratus-service"], "shop");
    assert_eq!(
        site["tags"]["stratus-code-orders"].as_str().map(str::len),
        Some(64)
    );
    let requests = fake.requests();
    let polls = requests
        .iter()
        .filter(|r| r.starts_with("GET /operations/"))
        .count();
    assert!(
        polls >= 6,
        "operations are polled several times: {requests:#?}"
    );
    assert_eq!(
        fake.state.lock().unwrap().token_requests,
        1,
        "one token, cached"
    );
    let settings = fake
        .state
        .lock()
        .unwrap()
        .settings
        .get(&site_path("shop", "dev").to_ascii_lowercase())
        .cloned()
        .unwrap();
    assert_eq!(settings["TABLE"], "orders");
    assert!(
        settings["AzureWebJobsStorage"]
            .as_str()
            .unwrap()
            .contains(STORAGE_KEY)
    );
    assert!(
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]
            .as_str()
            .unwrap()
            .starts_with("InstrumentationKey=")
    );

    // The AWS handler answers through its generated shim, with path parameters.
    let url = applied.endpoints[0].url.replace("{id}", "42");
    let answer = stratus::http::bare_client().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "order 42 in orders");

    let (_, again) = support::plan(&provider, &service).await;
    assert!(!again.has_changes(), "{again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_and_the_deploy_completes() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "shop", "dev");
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    fake.inject(Some("PUT"), Fault::Status(429, Some(1)));
    fake.inject(Some("GET"), Fault::Status(500, None));
    fake.inject(Some("PUT"), Fault::Drop);
    fake.inject(Some("GET"), Fault::Slow(Duration::from_millis(300)));
    support::deploy(&provider, &service).await.unwrap();
    assert_eq!(fake.pending_faults(), 0);
    assert!(fake.resource(&site_path("shop", "dev")).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_fails_with_its_error_and_a_rerun_converges() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "shop", "dev");
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    fake.state.lock().unwrap().fail_operation = Some((
        "StorageQuotaExceeded".into(),
        "the subscription has too many accounts".into(),
    ));
    let error = support::deploy(&provider, &service).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("StorageQuotaExceeded"), "{text}");
    assert!(text.contains("too many accounts"), "{text}");
    assert!(!error.pending.is_empty(), "{text}");
    support::deploy(&provider, &service).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_shows_its_log_and_is_published_again() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "shop", "dev");
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    fake.state.lock().unwrap().fail_deployment = true;
    let error = support::deploy(&provider, &service).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("worker failed to index"), "{text}");
    let (_, plan) = support::plan(&provider, &service).await;
    let orders = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::Function)
        .unwrap();
    assert_eq!(
        orders.action,
        Action::Create,
        "nothing recorded for a failed publish"
    );
    support::deploy(&provider, &service).await.unwrap();
    let (_, plan) = support::plan(&provider, &service).await;
    assert!(!plan.has_changes(), "{plan:#?}");
}

const NATIVE_MANIFEST: &str = r#"
service: native
provider:
  name: azure
  region: West Europe
  runtime: python3.11
functions:
  hello:
    handler: hello.main
    events:
      - http: true
        methods: [GET, POST]
        x-azure-settings:
          authLevel: function
  tick:
    handler: tick.main
    events:
      - timer:
          schedule: "0 */5 * * * *"
"#;

const HELLO: &str = r#"
import azure.functions as func
def main(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name") or (req.get_json() or {}).get("name", "world")
    print("native hello " + name)
    return func.HttpResponse("hello " + name, status_code=200)
"#;

const TICK: &str = r#"
def main(timer):
    print("tick fired")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_handlers_run_with_keys_and_timers_through_the_admin_endpoint() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "native", "dev");
    let (_dir, service) = support::project(&[
        ("serverless.yml", NATIVE_MANIFEST),
        ("hello.py", HELLO),
        ("tick.py", TICK),
    ]);
    let applied = support::deploy(&provider, &service).await.unwrap();
    let url = &applied
        .endpoints
        .iter()
        .find(|e| e.function == "hello")
        .unwrap()
        .url;
    let anonymous = stratus::http::bare_client()
        .get(format!("{url}?name=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "authLevel function needs a key");

    let invocation = provider
        .invoke(
            &service,
            &InvokeRequest {
                function: "hello".into(),
                payload: r#"{"name":"Ada"}"#.into(),
                with_logs: true,
                asynchronous: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(invocation.outcome, Outcome::Success, "{invocation:#?}");
    assert_eq!(invocation.payload, "hello Ada", "{invocation:#?}");
    assert_eq!(invocation.logs, ["native hello Ada"], "{invocation:#?}");

    let tick = provider
        .invoke(
            &service,
            &InvokeRequest {
                function: "tick".into(),
                payload: "{}".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(tick.outcome, Outcome::Accepted, "{tick:#?}");
    let records = provider
        .logs(
            &service,
            &LogQuery {
                function: "tick".into(),
                since: None,
                filter: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].message, "tick fired");
    // A later window shows nothing new (what --tail relies on).
    let later = provider
        .logs(
            &service,
            &LogQuery {
                function: "tick".into(),
                since: Some(std::time::SystemTime::now() + Duration::from_secs(60)),
                filter: None,
            },
        )
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:#?}");

    let info = provider.info(&service).await.unwrap();
    assert_eq!(info.region.as_deref(), Some("westeurope"));
    assert_eq!(info.details["runtime"], "python 3.11");
    assert!(
        info.endpoints
            .iter()
            .any(|e| e.function == "hello" && e.method == "GET,POST"),
        "{info:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_token_file_is_sent_as_a_client_assertion() {
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "eyJhbGciOi.eyJzdWIiOi.c2ln\n").unwrap();
    let method = Method::Federated {
        tenant: fakes::azure::TENANT.into(),
        client: fakes::azure::CLIENT.into(),
        file,
    };
    let provider = AzureProvider::new(
        support::config_for(&fake, "shop", "dev"),
        method,
        support::http_config(),
    )
    .unwrap();
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    let info = provider.info(&service).await.unwrap();
    assert!(info.functions.is_empty());
    assert_eq!(fake.state.lock().unwrap().token_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_reported_without_being_printed() {
    let fake = FakeAzure::start().await;
    let wrong = "definitely-wrong-secret-81234";
    let provider = AzureProvider::new(
        support::config_for(&fake, "shop", "dev"),
        Method::Secret {
            tenant: fakes::azure::TENANT.into(),
            client: fakes::azure::CLIENT.into(),
            secret: wrong.into(),
        },
        support::http_config(),
    )
    .unwrap();
    stratus::http::register_secret(wrong);
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    let error = provider.info(&service).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("service principal"), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(SECRET), "{text}");
    assert!(!format!("{provider:?}").contains(wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_in_a_shared_group_deletes_only_what_is_tagged() {
    let fake = FakeAzure::start().await;
    let mut config = support::config_for(&fake, "shop", "dev");
    config.resource_group = "shared".into();
    config.own_group = false;
    let provider = AzureProvider::new(config, support::principal(), support::http_config())
        .unwrap()
        .with_poll_interval(Duration::from_millis(10));
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    support::deploy(&provider, &service).await.unwrap();
    let removed = provider.remove(&service).await.unwrap();
    let kinds: Vec<ResourceKind> = removed.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&ResourceKind::Function), "{removed:#?}");
    assert!(
        !kinds.contains(&ResourceKind::Group),
        "a shared group stays: {removed:#?}"
    );
    let group = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/shared");
    assert!(fake.resource(&group).is_some());
    let app = format!("{group}/providers/Microsoft.Web/sites/shop-dev");
    assert!(fake.resource(&app).is_none());
    let again = provider.remove(&service).await.unwrap();
    assert!(again.is_empty(), "{again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_cli_is_asked_for_a_token_per_scope() {
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let az = dir.path().join("az");
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho '{{\"accessToken\": \"cli-token-123\", \"expires_on\": {expires}, \"tokenType\": \"Bearer\"}}'\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fake.state
        .lock()
        .unwrap()
        .tokens
        .push("cli-token-123".into());
    let provider = AzureProvider::new(
        support::config_for(&fake, "shop", "dev"),
        Method::AzureCli { program: az },
        support::http_config(),
    )
    .unwrap();
    let (_dir, service) =
        support::project(&[("serverless.yml", AWS_MANIFEST), ("orders.py", ORDERS)]);
    provider.info(&service).await.unwrap();
    provider.info(&service).await.unwrap();
    let calls = std::fs::read_to_string(calls).unwrap();
    assert_eq!(calls.lines().count(), 1, "cached: {calls}");
    assert!(
        calls.contains(&format!(
            "account get-access-token --resource {}/ -o json",
            fake.url
        )),
        "{calls}"
    );
}
