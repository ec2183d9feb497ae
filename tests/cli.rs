//! CLI tests: the real binary, run as a user would, on copies of the example service.
//!
//! Every test gets its own service directory and its own local state directory, so they run
//! in parallel. python3 and node must be installed (`scripts/test` installs them).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;
use predicates::prelude::*;
use serde_json::Value;

#[test]
fn version_and_help_explain_themselves() {
    let sandbox = Sandbox::example();
    sandbox
        .stratus(&["--version"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("stratus "));
    for command in [
        "deploy",
        "plan",
        "package",
        "invoke",
        "logs",
        "info",
        "remove",
        "print",
        "create",
        "serve",
        "completions",
    ] {
        sandbox
            .stratus(&[command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
    sandbox
        .stratus(&["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_stratus()"));
    sandbox
        .stratus(&["frobnicate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
}

#[test]
fn print_resolves_variables_from_options_env_and_self() {
    let sandbox = Sandbox::example();
    let output = sandbox
        .stratus(&["print", "--json", "--path", "provider.environment"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let environment: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(environment["STAGE"], "dev");
    assert_eq!(environment["GREETING"], "Hello");
    assert_eq!(environment["SERVICE_LABEL"], "stratus-example-dev");

    let output = sandbox
        .stratus(&["print", "--json", "--stage", "prod"])
        .env("GREETING", "Bonjour")
        .output()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(manifest["provider"]["environment"]["STAGE"], "prod");
    assert_eq!(manifest["provider"]["environment"]["GREETING"], "Bonjour");
    assert_eq!(
        manifest["provider"]["memorySize"], 256,
        "a number stays a number"
    );

    sandbox
        .stratus(&["print"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "SERVICE_LABEL: stratus-example-dev",
        ));
    sandbox
        .stratus(&["print", "--path", "provider.nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no key `provider.nope`"));
}

#[test]
fn a_broken_manifest_names_file_line_column_and_key() {
    let sandbox = Sandbox::example();
    sandbox.write(
        "serverless.yml",
        "service: broken\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n  hello:\n    handler: example/hello.hello\n    timeout: soon\n",
    );
    sandbox
        .stratus(&["print"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("serverless.yml:8:"))
        .stderr(predicate::str::contains("functions.hello.timeout"));

    sandbox.write(
        "serverless.yml",
        "service: broken\nprovider:\n  name: aws\n  stage: ${env:STRATUS_TEST_UNSET_VARIABLE}\n",
    );
    sandbox
        .stratus(&["print"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("serverless.yml:4:"))
        .stderr(predicate::str::contains("STRATUS_TEST_UNSET_VARIABLE"));

    fs::remove_file(sandbox.path("serverless.yml")).unwrap();
    sandbox
        .stratus(&["print"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no serverless.yml"));
}

#[test]
fn package_is_deterministic_and_reports_sha256() {
    let sandbox = Sandbox::example();
    let first = sandbox.json_local(&["package", "--json"]);
    let artifact = &first["artifacts"][0];
    let sha = artifact["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    let path = artifact["path"].as_str().unwrap();
    assert!(std::path::Path::new(path).exists(), "{path}");
    let names = common::zip_names(std::path::Path::new(path));
    assert_eq!(names, vec!["example/hello.py", "example/world.js"]);

    // Touch every file: new mtimes, same bytes, same hash.
    std::thread::sleep(Duration::from_millis(20));
    let hello = sandbox.read("example/hello.py");
    sandbox.write("example/hello.py", &hello);
    let second = sandbox.json_local(&["package", "--json"]);
    assert_eq!(second["artifacts"][0]["sha256"], sha.as_str());

    sandbox
        .local(&["package"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("sha256:{sha}")));
}

#[test]
fn package_needs_no_credentials_for_any_target() {
    let sandbox = Sandbox::empty();
    sandbox.write(
        "serverless.yml",
        "service: offline\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n  hello:\n    handler: handler.main\n",
    );
    sandbox.write("handler.py", "def main(event, context):\n    return 1\n");
    let home = tempfile::tempdir().unwrap();
    for provider in ["aws", "azure", "gcp", "openwhisk", "local"] {
        let mut command = sandbox.stratus(&["package", "--json", "--provider", provider]);
        command.env("HOME", home.path());
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AZURE_SUBSCRIPTION_ID",
            "AZURE_CLIENT_ID",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "OW_APIHOST",
            "OW_AUTH",
        ] {
            command.env_remove(name);
        }
        let output = command.output().unwrap();
        let answer: Value = serde_json::from_str(&common::stdout_of(&output)).unwrap();
        assert!(
            !answer["artifacts"].as_array().unwrap().is_empty(),
            "{provider}: {answer}"
        );
    }
}

#[test]
fn deploy_plan_converge_and_delete_on_the_local_provider() {
    let sandbox = Sandbox::example();
    sandbox
        .local(&["plan", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("+ create function hello"))
        .stdout(predicate::str::contains("+ create function world"));

    sandbox
        .local(&["deploy"])
        .assert()
        .success()
        .stderr(predicate::str::contains("+ create function hello"))
        .stdout(predicate::str::contains("Deployed stratus-example"))
        .stdout(predicate::str::contains("/hello/{name}"));

    sandbox
        .local(&["deploy"])
        .assert()
        .success()
        .stderr(predicate::str::contains("= unchanged function hello"))
        .stdout(predicate::str::contains("nothing was changed"));
    sandbox
        .local(&["plan", "--detailed-exitcode"])
        .assert()
        .code(0);

    // A code change updates one function only.
    let hello = sandbox.read("example/hello.py");
    sandbox.write("example/hello.py", &format!("{hello}\n# changed\n"));
    let plan = sandbox.json_local(&["plan", "--json"]);
    let changes = plan["changes"].as_array().unwrap();
    let hello_change = changes.iter().find(|c| c["name"] == "hello").unwrap();
    let world_change = changes.iter().find(|c| c["name"] == "world").unwrap();
    // The service-wide artifact changed, so both functions' code changed.
    assert_eq!(hello_change["action"], "update");
    assert_eq!(hello_change["fields"][0]["field"], "code");
    assert_eq!(world_change["action"], "update");

    // A function that left the manifest is deleted.
    let manifest = sandbox.read("serverless.yml");
    let without_world = manifest.split("\n  world:").next().unwrap().to_string();
    sandbox.write("serverless.yml", &without_world);
    sandbox
        .local(&["deploy"])
        .assert()
        .success()
        .stderr(predicate::str::contains("- delete function world"));
    sandbox
        .local(&["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

#[test]
fn invoke_prints_the_result_logs_and_errors() {
    let sandbox = Sandbox::example();
    sandbox.local(&["deploy"]).assert().success();

    let result = sandbox.json_local(&["invoke", "-f", "hello", "--data", r#"{"name":"Ada"}"#]);
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello, Ada!");
    assert_eq!(body["stage"], "dev");
    assert_eq!(body["function"], "stratus-example-dev-hello");

    sandbox
        .local(&[
            "invoke",
            "-f",
            "hello",
            "--data",
            r#"{"name":"Bo"}"#,
            "--log",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("greeting Bo on stage dev"));

    sandbox.write("event.json", r#"{"name":"File"}"#);
    sandbox
        .local(&["invoke", "-f", "hello", "--path", "event.json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Hello, File!"));

    sandbox
        .local(&["invoke", "-f", "hello"])
        .write_stdin(r#"{"name":"Stdin"}"#)
        .assert()
        .success()
        .stdout(predicate::str::contains("Hello, Stdin!"));

    sandbox
        .local(&["invoke", "-f", "world"])
        .assert()
        .success()
        .stdout(predicate::str::contains("in Node.js v"));

    sandbox
        .local(&["invoke", "-f", "hello", "--data", "not json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not valid JSON"));
    sandbox
        .local(&["invoke", "-f", "helo"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `hello`"));
}

#[test]
fn a_failing_handler_shows_type_message_stack_and_exits_non_zero() {
    let sandbox = Sandbox::example();
    sandbox.write(
        "example/hello.py",
        "def hello(event, context):\n    return helper(event)\n\ndef helper(event):\n    raise ValueError('no greeting for ' + event['name'])\n",
    );
    sandbox.local(&["deploy"]).assert().success();
    sandbox
        .local(&["invoke", "-f", "hello", "--data", r#"{"name":"Eve"}"#])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ValueError: no greeting for Eve"))
        .stderr(predicate::str::contains("helper"));
}

#[test]
fn invoke_local_runs_the_working_tree_without_deploying() {
    let sandbox = Sandbox::example();
    sandbox
        .local(&[
            "invoke",
            "local",
            "-f",
            "hello",
            "--data",
            r#"{"name":"Local"}"#,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Hello, Local!"));
    // Nothing was deployed.
    sandbox
        .local(&["info", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"functions\": []"));
}

#[test]
fn logs_info_and_remove() {
    let sandbox = Sandbox::example();
    sandbox.local(&["deploy"]).assert().success();
    for name in ["One", "Two"] {
        sandbox
            .local(&[
                "invoke",
                "-f",
                "hello",
                "--data",
                &format!(r#"{{"name":"{name}"}}"#),
            ])
            .assert()
            .success();
    }
    sandbox
        .local(&["logs", "-f", "hello"])
        .assert()
        .success()
        .stdout(predicate::str::contains("greeting One"))
        .stdout(predicate::str::contains("greeting Two"));
    sandbox
        .local(&["logs", "-f", "hello", "--filter", "Two", "--since", "10m"])
        .assert()
        .success()
        .stdout(predicate::str::contains("greeting Two"))
        .stdout(predicate::str::contains("greeting One").not());

    let info = sandbox.json_local(&["info", "--json"]);
    let functions = info["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2);
    let hello = functions.iter().find(|f| f["name"] == "hello").unwrap();
    assert_eq!(hello["runtime"], "python3.12");
    assert_eq!(hello["memory_size"], 256);
    assert_eq!(hello["code_sha256"].as_str().unwrap().len(), 64);

    sandbox
        .local(&["remove"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    sandbox
        .local(&["remove", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("hello"));
    sandbox
        .local(&["info", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"functions\": []"));
}

#[test]
fn logs_tail_follows_new_invocations() {
    let sandbox = Sandbox::example();
    sandbox.local(&["deploy"]).assert().success();
    let mut tail = KillOnDrop(
        sandbox
            .local_std(&["logs", "-f", "hello", "--tail"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    sandbox
        .local(&["invoke", "-f", "hello", "--data", r#"{"name":"Tailed"}"#])
        .assert()
        .success();
    let stdout = tail.0.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
            let found = line.contains("greeting Tailed");
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("--tail did not show the new invocation; saw {seen:?}");
}

#[test]
fn serve_routes_http_events_to_functions() {
    let sandbox = Sandbox::example();
    sandbox.local(&["deploy"]).assert().success();
    let mut server = KillOnDrop(
        sandbox
            .local_std(&["serve", "--port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = server.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(at) = line.find("http://127.0.0.1:") {
            let rest = &line[at + "http://".len()..];
            break rest
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap()
                .to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let (status, body) = http_get(&address, "/hello/Ada");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["message"], "Hello, Ada!");

    let (status, body) = http_get(&address, "/world");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Node.js"), "{body}");

    let (status, _) = http_get(&address, "/nowhere");
    assert_eq!(status, 404);
}

#[test]
fn create_starts_a_service_that_deploys() {
    let sandbox = Sandbox::empty();
    sandbox
        .stratus(&["create", "--template", "python", "--path", "svc"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created service `svc`"));
    let svc = sandbox.path("svc");
    sandbox
        .stratus(&["deploy", "--provider", "local"])
        .current_dir(&svc)
        .assert()
        .success();
    sandbox
        .stratus(&[
            "invoke",
            "--provider",
            "local",
            "-f",
            "hello",
            "--data",
            r#"{"name":"New"}"#,
        ])
        .current_dir(&svc)
        .assert()
        .success()
        .stdout(predicate::str::contains("Hello, New!"));
    assert!(svc.join("requirements.txt").is_file());
    // The Node.js template too, with its (empty) package.json: nothing to install, it deploys.
    sandbox
        .stratus(&["create", "--template", "node", "--path", "nodesvc"])
        .assert()
        .success();
    let node = sandbox.path("nodesvc");
    assert!(node.join("package.json").is_file());
    sandbox
        .stratus(&["deploy", "--provider", "local"])
        .current_dir(&node)
        .assert()
        .success();
    sandbox
        .stratus(&["invoke", "--provider", "local", "-f", "hello"])
        .current_dir(&node)
        .assert()
        .success();
    sandbox
        .stratus(&["create", "--template", "cobol"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("python, node"));
}

#[test]
fn unknown_providers_are_refused() {
    let sandbox = Sandbox::example();
    sandbox
        .stratus(&["deploy", "--provider", "kubeless"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot deploy to provider `kubeless`",
        ));
}

/// A child process killed when the test ends, whatever happens.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal HTTP/1.1 GET: (status, body).
fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}
