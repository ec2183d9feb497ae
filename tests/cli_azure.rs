//! CLI tests for `--provider azure`: the real binary against the in-process fake, found
//! through the variables Azure's SDKs read (`AZURE_AUTHORITY_HOST`,
//! `AZURE_RESOURCE_MANAGER_ENDPOINT`, `AZURE_TENANT_ID`...).

mod common;
#[path = "fakes/mod.rs"]
mod fakes;

use common::Sandbox;
use fakes::azure::{CLIENT, FakeAzure, SECRET, SUBSCRIPTION, TENANT};
use serde_json::Value;

const MANIFEST: &str = r#"
service: clidemo
provider:
  name: aws
  runtime: python3.12
  environment:
    GREETING: Hello
functions:
  hello:
    handler: hello.handler
    events:
      - httpApi: POST /hello
"#;

const HELLO: &str = r#"
import json, os
def handler(event, context):
    name = event.get("name", "world")
    print("greeting " + name)
    return {"message": os.environ["GREETING"] + ", " + name + "!"}
"#;

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::empty();
    sandbox.write("serverless.yml", MANIFEST);
    sandbox.write("hello.py", HELLO);
    sandbox
}

async fn run(sandbox: &Sandbox, fake: &FakeAzure, args: &[&str]) -> std::process::Output {
    let mut command = sandbox.stratus(args);
    command
        .args(["--provider", "azure"])
        .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .env("AZURE_AUTHORITY_HOST", &fake.url)
        .env("AZURE_RESOURCE_MANAGER_ENDPOINT", &fake.url)
        .env("AZURE_APPLICATION_INSIGHTS_ENDPOINT", &fake.url)
        .env("AZURE_ALLOW_HTTP", "true");
    common::output_while_serving(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_deploys_invokes_and_is_removed_on_azure() {
    let fake = FakeAzure::start().await;
    let sandbox = sandbox();

    let deployed = run(&sandbox, &fake, &["deploy"]).await;
    let text = common::stdout_of(&deployed);
    assert!(text.contains("/api/hello"), "the URL is printed: {text}");
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(!stderr.contains(SECRET) && !text.contains(SECRET));

    let again = run(&sandbox, &fake, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");

    let invoked = run(
        &sandbox,
        &fake,
        &["invoke", "-f", "hello", "--data", r#"{"name":"Azure"}"#],
    )
    .await;
    assert!(common::stdout_of(&invoked).contains("Hello, Azure!"));

    let logs = run(&sandbox, &fake, &["logs", "-f", "hello"]).await;
    assert!(common::stdout_of(&logs).contains("greeting Azure"));

    let info = run(&sandbox, &fake, &["info", "--json"]).await;
    let info: Value = serde_json::from_str(&common::stdout_of(&info)).unwrap();
    assert_eq!(info["functions"].as_array().unwrap().len(), 1, "{info}");

    let removed = run(&sandbox, &fake, &["remove", "--yes"]).await;
    assert!(common::stdout_of(&removed).contains("clidemo-dev"));
    let group = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-clidemo-dev");
    assert!(fake.resource(&group).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_say_where_stratus_looked() {
    let sandbox = sandbox();
    let mut command = sandbox.stratus(&["deploy", "--provider", "azure"]);
    command
        .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env("PATH", sandbox.path("no-bin"));
    let output = common::output_while_serving(command).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AZURE_CLIENT_SECRET"), "{stderr}");
    assert!(stderr.contains("az login"), "{stderr}");
}
