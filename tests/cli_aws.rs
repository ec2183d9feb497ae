//! CLI tests for the `aws` provider: the real binary against moto, found through the standard
//! `AWS_ENDPOINT_URL`, with dummy credentials in the environment as a CI job would have them.

mod common;
#[path = "support/moto.rs"]
mod moto;

use common::Sandbox;
use serde_json::Value;

/// `stratus ARGS` pointed at moto.
fn aws(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    let moto = moto::moto();
    sandbox
        .stratus(args)
        .args(["--region", moto::REGION])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", sandbox.path("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            sandbox.path("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[test]
fn the_example_deploys_converges_and_is_removed_on_aws() {
    let sandbox = Sandbox::example();
    // A stage of its own: the moto server is shared by the tests of this binary.
    let deployed = aws(&sandbox, &["deploy", "--stage", "cli"]);
    let text = common::stdout_of(&deployed);
    assert!(text.contains("Deployed stratus-example"), "{text}");
    assert!(
        text.contains("/hello"),
        "the HTTP API routes are printed: {text}"
    );
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(stderr.contains("+ create function hello"), "{stderr}");
    assert!(
        !stderr.contains("wJalrXUtnFEMI"),
        "the secret key is never printed"
    );

    let plan = aws(&sandbox, &["plan", "--stage", "cli", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");

    common::stdout_of(&aws(
        &sandbox,
        &["invoke", "--stage", "cli", "-f", "hello", "--data", "{}"],
    ));

    let info: Value = serde_json::from_str(&common::stdout_of(&aws(
        &sandbox,
        &["info", "--stage", "cli", "--json"],
    )))
    .unwrap();
    let names: Vec<&str> = info["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["deployed_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{info}");
    assert!(names.contains(&"stratus-example-cli-hello"), "{names:?}");

    let removed = common::stdout_of(&aws(&sandbox, &["remove", "--stage", "cli", "--yes"]));
    assert!(removed.contains("stratus-example-cli-hello"), "{removed}");
    let info: Value = serde_json::from_str(&common::stdout_of(&aws(
        &sandbox,
        &["info", "--stage", "cli", "--json"],
    )))
    .unwrap();
    assert!(info["functions"].as_array().unwrap().is_empty(), "{info}");
}

#[test]
fn missing_credentials_say_where_stratus_looked() {
    let sandbox = Sandbox::example();
    let output = sandbox
        .stratus(&["deploy", "--region", "us-east-1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", sandbox.path("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            sandbox.path("no-aws-credentials"),
        )
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
}
