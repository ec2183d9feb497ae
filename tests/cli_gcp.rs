//! CLI tests for `--provider gcp`: the real binary against the in-process fake.
//!
//! The binary finds the fake the way gcloud users point tools elsewhere:
//! `GOOGLE_APPLICATION_CREDENTIALS` names the key file (whose `token_uri` is the fake's) and
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS` / `..._LOGGING` the endpoints.

mod common;
#[path = "fakes/mod.rs"]
mod fakes;

use common::Sandbox;
use fakes::gcp::FakeGcp;
use serde_json::Value;

const MANIFEST: &str = r#"
service: clidemo
provider:
  name: aws
  runtime: python3.12
  memorySize: 256
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: POST /hello
"#;

const HANDLER: &str = r#"
def hello(event, context):
    name = event.get("name", "world")
    print("greeting " + name)
    return {"statusCode": 200, "body": "Hello, " + name + "!"}
"#;

async fn run(sandbox: &Sandbox, fake: &FakeGcp, args: &[&str]) -> std::process::Output {
    let mut command = sandbox.stratus(args);
    command
        .args(["--provider", "gcp"])
        .env("GOOGLE_APPLICATION_CREDENTIALS", fake.key_file())
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS", &fake.url)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", &fake.url)
        .env("HOME", sandbox.path(""))
        .env_remove("GCE_METADATA_HOST")
        .env_remove("GOOGLE_CLOUD_PROJECT");
    common::output_while_serving(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_deploys_invokes_and_is_removed_on_gcp() {
    let fake = FakeGcp::start().await;
    let sandbox = Sandbox::empty();
    sandbox.write("serverless.yml", MANIFEST);
    sandbox.write("handler.py", HANDLER);

    let deployed = run(&sandbox, &fake, &["deploy"]).await;
    let text = common::stdout_of(&deployed);
    assert!(
        text.contains(&format!("{}/run/clidemo-dev-hello", fake.url)),
        "the function URL is printed: {text}"
    );
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(
        !stderr.contains("PRIVATE KEY") && !text.contains("ya29."),
        "{stderr}"
    );

    let again = run(&sandbox, &fake, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");

    let invoked = run(
        &sandbox,
        &fake,
        &["invoke", "-f", "hello", "--data", r#"{"name":"Goog"}"#],
    )
    .await;
    let result: Value = serde_json::from_str(&common::stdout_of(&invoked)).unwrap();
    assert_eq!(result["body"], "Hello, Goog!");

    // --log prints the call's own lines (found by its trace) on stderr.
    let logged = run(
        &sandbox,
        &fake,
        &[
            "invoke",
            "-f",
            "hello",
            "--log",
            "--data",
            r#"{"name":"Trace"}"#,
        ],
    )
    .await;
    assert!(common::stdout_of(&logged).contains("Hello, Trace!"));
    let stderr = String::from_utf8_lossy(&logged.stderr);
    assert!(
        stderr.contains("greeting Trace") && !stderr.contains("greeting Goog"),
        "{stderr}"
    );

    let logs = run(&sandbox, &fake, &["logs", "-f", "hello"]).await;
    assert!(common::stdout_of(&logs).contains("greeting Goog"));

    let info = run(&sandbox, &fake, &["info", "--json"]).await;
    let info: Value = serde_json::from_str(&common::stdout_of(&info)).unwrap();
    assert_eq!(info["functions"].as_array().unwrap().len(), 1);
    assert_eq!(info["functions"][0]["state"], "ACTIVE");

    let removed = run(&sandbox, &fake, &["remove", "--yes"]).await;
    assert!(common::stdout_of(&removed).contains("clidemo-dev-hello"));
    assert!(fake.function_ids().is_empty(), "{:?}", fake.function_ids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_say_where_stratus_looked() {
    let sandbox = Sandbox::empty();
    sandbox.write("serverless.yml", MANIFEST);
    sandbox.write("handler.py", HANDLER);
    let mut command = sandbox.stratus(&["deploy", "--provider", "google"]);
    command
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GCE_METADATA_HOST")
        .env_remove("CLOUDSDK_CONFIG")
        .env("HOME", sandbox.path(""));
    let output = common::output_while_serving(command).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GOOGLE_APPLICATION_CREDENTIALS")
            && stderr.contains("application_default_credentials.json"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_handler_written_for_aws_answers_through_the_cli_on_gcp() {
    let fake = FakeGcp::start().await;
    let sandbox = Sandbox::empty();
    sandbox.write(
        "serverless.yml",
        "service: clinode\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handler: handler.hello\n",
    );
    sandbox.write(
        "handler.js",
        "exports.hello = async (event) => { console.log('node greets ' + event.name); \
         return { statusCode: 200, body: 'Hello, ' + event.name + '!' }; };\n",
    );
    let deployed = run(&sandbox, &fake, &["deploy"]).await;
    common::stdout_of(&deployed);
    assert_eq!(
        fake.function("clinode-dev-hello").unwrap()["buildConfig"]["runtime"],
        "nodejs20"
    );
    let invoked = run(
        &sandbox,
        &fake,
        &[
            "invoke",
            "-f",
            "hello",
            "--log",
            "--data",
            r#"{"name":"Node"}"#,
        ],
    )
    .await;
    let result: Value = serde_json::from_str(&common::stdout_of(&invoked)).unwrap();
    assert_eq!(result["body"], "Hello, Node!");
    let stderr = String::from_utf8_lossy(&invoked.stderr);
    assert!(stderr.contains("node greets Node"), "{stderr}");
}
