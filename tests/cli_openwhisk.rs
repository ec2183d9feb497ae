//! CLI tests for `--provider openwhisk`: the real binary against the fake controller.
//!
//! The fake runs in this test process; the binary finds it through `OW_APIHOST` / `OW_AUTH`,
//! the way a user points the `wsk` CLI at a controller.

mod common;
#[path = "fakes/mod.rs"]
mod fakes;

use common::Sandbox;
use fakes::openwhisk::FakeOpenWhisk;
use serde_json::Value;

/// Runs the binary (blocking) while the fake keeps serving on the runtime's other threads.
async fn run(sandbox: &Sandbox, fake: &FakeOpenWhisk, args: &[&str]) -> std::process::Output {
    let mut command = sandbox.stratus(args);
    command
        .args(["--provider", "openwhisk"])
        .env("OW_APIHOST", &fake.url)
        .env("OW_AUTH", &fake.auth)
        .env("WSK_CONFIG_FILE", sandbox.path("no-wskprops"));
    common::output_while_serving(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_deploys_invokes_and_is_removed_on_openwhisk() {
    let fake = FakeOpenWhisk::start().await;
    let sandbox = Sandbox::example();

    let deployed = run(&sandbox, &fake, &["deploy"]).await;
    let text = common::stdout_of(&deployed);
    assert!(text.contains("Deployed stratus-example"), "{text}");
    assert!(
        text.contains("/api/v1/web/"),
        "web action URLs are printed: {text}"
    );
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(stderr.contains("+ create function hello"), "{stderr}");
    assert!(!stderr.contains(&fake.auth), "the key is never printed");

    let again = run(&sandbox, &fake, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");

    let invoked = run(
        &sandbox,
        &fake,
        &["invoke", "-f", "hello", "--data", r#"{"name":"Whisk"}"#],
    )
    .await;
    let result: Value = serde_json::from_str(&common::stdout_of(&invoked)).unwrap();
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello, Whisk!");

    let logs = run(&sandbox, &fake, &["logs", "-f", "hello"]).await;
    assert!(common::stdout_of(&logs).contains("greeting Whisk"));

    let info = run(&sandbox, &fake, &["info", "--json"]).await;
    let info: Value = serde_json::from_str(&common::stdout_of(&info)).unwrap();
    assert_eq!(info["functions"].as_array().unwrap().len(), 2);

    let removed = run(&sandbox, &fake, &["remove", "--yes"]).await;
    assert!(common::stdout_of(&removed).contains("stratus-example-dev-hello"));
    assert!(
        fake.names("actions").is_empty(),
        "{:?}",
        fake.names("actions")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_say_where_stratus_looked() {
    let sandbox = Sandbox::example();
    let mut command = sandbox.stratus(&["deploy", "--provider", "openwhisk"]);
    command
        .env_remove("OW_APIHOST")
        .env_remove("OW_AUTH")
        .env("HOME", sandbox.path(""))
        .env("WSK_CONFIG_FILE", sandbox.path("no-wskprops"));
    let output = common::output_while_serving(command).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OW_APIHOST"), "{stderr}");
}
