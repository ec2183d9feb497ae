//! Deployed code on the fake Google Cloud: Node.js functions under Google's npm Functions
//! Framework (a Google-style entry point, a `file.function` handler and an AWS-style handler
//! through the generated shim), `invoke --log` reading back the call's own log entries by its
//! trace, and dependencies installed by the (fake) remote build from `requirements.txt` /
//! `package.json`.

mod common;
#[path = "fakes/mod.rs"]
mod fakes;
#[path = "gcp/support.rs"]
mod support;

use std::path::Path;

use fakes::gcp::FakeGcp;
use serde_json::{Value as Json, json};
use stratus::providers::{Action, Outcome, Provider};
use support::{call, deploy, invoke, load};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const GOOGLE_NODE: &str = "service: nodeg\nprovider:\n  name: google\n  project: stratus-test\n  runtime: nodejs20\n\
functions:\n  native:\n    handler: greet\n    events:\n      - http: path\n";

const DOTTED_NODE: &str = "service: noded\nprovider:\n  name: google\n  project: stratus-test\n  runtime: nodejs20\n\
functions:\n  dotted:\n    handler: lib/other.hello\n    events:\n      - http: path\n";

const AWS_NODE: &str = "service: nodea\nprovider:\n  name: aws\n  runtime: nodejs20.x\n\
functions:\n  hello:\n    handler: handler.hello\n  web:\n    handler: handler.web\n    events:\n      - httpApi: GET /web\n  fail:\n    handler: handler.fail\n";

const AWS_HANDLER: &str = r#"
exports.hello = async (event, context) => {
  console.log('hello called for ' + event.name);
  return { message: 'Hello, ' + event.name + '!', fn: context.functionName };
};
exports.web = async (event) => ({
  statusCode: 201,
  headers: { 'x-answer': '42' },
  body: JSON.stringify({ method: event.requestContext.http.method, path: event.rawPath,
                         query: event.rawQueryString, body: event.body }),
});
exports.fail = async (event) => { throw new TypeError('no ' + event.what); };
"#;

#[tokio::test]
async fn google_style_node_handlers_run_under_the_npm_functions_framework() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("serverless.yml", GOOGLE_NODE),
            (
                "index.js",
                "exports.greet = (req, res) => res.send('native ' + req.body.name + ' on ' + process.version);\n",
            ),
        ],
    );
    let service = load(dir.path());
    assert!(
        provider
            .target()
            .generated_files(&service, &service.functions["native"])
            .unwrap()
            .is_empty(),
        "an entry point name uses the user's own index.js"
    );
    deploy(&provider, &service).await;
    let stored = fake.function("nodeg-dev-native").unwrap();
    assert_eq!(stored["buildConfig"]["runtime"], "nodejs20");
    assert_eq!(stored["buildConfig"]["entryPoint"], "greet");
    let answer = invoke(&provider, &service, "native", json!({"name": "A"})).await;
    assert_eq!(answer.outcome, Outcome::Success, "{answer:?}");
    assert!(answer.payload.starts_with("native A on v"), "{answer:?}");

    // The framework's server listens on 127.0.0.1 only, not on every interface.
    let port = fake.state().hosts["nodeg-dev-native"].port;
    assert!(
        tokio::net::TcpStream::connect(("::1", port)).await.is_err(),
        "the npm Functions Framework must not listen beyond 127.0.0.1"
    );

    // A google-style `file.function` handler runs through the generated __stratus__.cjs,
    // which package.json's `main` names.
    let dotted = tempfile::tempdir().unwrap();
    write(
        dotted.path(),
        &[
            ("serverless.yml", DOTTED_NODE),
            (
                "lib/other.js",
                "exports.hello = (req, res) => res.status(202).send('dotted ' + req.body.name);\n",
            ),
        ],
    );
    let other = load(dotted.path());
    deploy(&provider, &other).await;
    assert_eq!(
        fake.function("noded-dev-dotted").unwrap()["buildConfig"]["entryPoint"],
        "stratus_entry"
    );
    let answer = invoke(&provider, &other, "dotted", json!({"name": "B"})).await;
    assert_eq!(answer.payload, "dotted B", "{answer:?}");

    // Both forms in one service share one zip, whose package.json `main` is the generated
    // entry: the entry point of the user's own index.js is still found through it.
    write(
        dotted.path(),
        &[
            (
                "serverless.yml",
                &format!(
                    "{DOTTED_NODE}  native:\n    handler: greet\n    events:\n      - http: path\n"
                ),
            ),
            (
                "index.js",
                "exports.greet = (req, res) => res.send('native ' + req.body.name);\n",
            ),
        ],
    );
    let both = load(dotted.path());
    deploy(&provider, &both).await;
    let native = invoke(&provider, &both, "native", json!({"name": "C"})).await;
    assert_eq!(native.payload, "native C", "{native:?}");
    let answer = invoke(&provider, &both, "dotted", json!({"name": "D"})).await;
    assert_eq!(answer.payload, "dotted D", "{answer:?}");
}

#[tokio::test]
async fn an_aws_style_node_handler_answers_on_gcp_through_the_shim() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("serverless.yml", AWS_NODE), ("handler.js", AWS_HANDLER)],
    );
    let service = load(dir.path());
    deploy(&provider, &service).await;

    let hello = invoke(&provider, &service, "hello", json!({"name": "Node"})).await;
    assert_eq!(hello.outcome, Outcome::Success, "{hello:?}");
    let body: Json = serde_json::from_str(&hello.payload).unwrap();
    assert_eq!(
        body,
        json!({"message": "Hello, Node!", "fn": "nodea-dev-hello"})
    );

    support::assert_fails(
        &provider,
        &service,
        "fail",
        json!({"what": "luck"}),
        "TypeError",
        "no luck",
    )
    .await;
    // A plain HTTP call through the function URL gets an API Gateway v2 event, and the
    // handler's {statusCode, headers, body} is the HTTP answer.
    support::assert_http_calls_are_mapped(&fake.url, &provider, "nodea-dev-web").await;
}

#[tokio::test]
async fn invoke_with_log_returns_the_lines_of_that_call_only() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("serverless.yml", AWS_NODE),
            ("handler.js", AWS_HANDLER),
            (
                "talk.py",
                "def talk(event, context):\n    print('python says ' + event['name'])\n    return {'ok': True}\n",
            ),
        ],
    );
    write(
        dir.path(),
        &[(
            "serverless.yml",
            &format!("{AWS_NODE}  talk:\n    handler: talk.talk\n    runtime: python3.12\n"),
        )],
    );
    let service = load(dir.path());
    deploy(&provider, &service).await;

    let quiet = invoke(&provider, &service, "hello", json!({"name": "Quiet"})).await;
    assert!(quiet.logs.is_empty(), "no logs unless asked: {quiet:?}");
    let first = call(&provider, &service, "hello", json!({"name": "First"}), true).await;
    let second = call(
        &provider,
        &service,
        "hello",
        json!({"name": "Second"}),
        true,
    )
    .await;
    assert_eq!(first.outcome, Outcome::Success, "{first:?}");
    assert_eq!(first.logs, ["hello called for First"], "{first:?}");
    assert_eq!(second.logs, ["hello called for Second"], "{second:?}");

    // The entries of a call carry its trace, which the call itself sent.
    let traced: Vec<Json> = fake
        .state()
        .entries
        .iter()
        .filter(|e| e["jsonPayload"]["message"] == "hello called for First\n")
        .cloned()
        .collect();
    assert_eq!(traced.len(), 1, "{traced:?}");
    let trace = traced[0]["trace"].as_str().unwrap();
    assert!(
        trace.starts_with("projects/stratus-test/traces/") && trace.len() == 29 + 32,
        "{trace}"
    );
    assert_eq!(
        traced[0]["labels"]["execution_id"].as_str(),
        first.request_id.as_deref()
    );

    let python = call(&provider, &service, "talk", json!({"name": "Py"}), true).await;
    assert_eq!(python.logs, ["python says Py"], "{python:?}");
}

#[tokio::test]
async fn the_remote_build_installs_declared_dependencies() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();

    // Python: requirements.txt at the root, installed by the build, importable at run time.
    let py = tempfile::tempdir().unwrap();
    write(
        py.path(),
        &[
            (
                "serverless.yml",
                "service: pydeps\nprovider:\n  name: google\n  project: stratus-test\n  runtime: python312\n\
                 functions:\n  version:\n    handler: version\n    events:\n      - http: path\n",
            ),
            (
                "main.py",
                "import six\n\ndef version(request):\n    return 'six ' + six.__version__\n",
            ),
            ("requirements.txt", "six==1.16.0\n"),
        ],
    );
    let service = load(py.path());
    deploy(&provider, &service).await;
    let answer = invoke(&provider, &service, "version", json!({})).await;
    assert_eq!(answer.payload, "six 1.16.0", "{answer:?}");
    let zip = std::fs::read(py.path().join(".stratus/pydeps.zip")).unwrap();
    let names = zip_names(&zip);
    assert!(
        names.contains(&"requirements.txt".to_string())
            && !names.iter().any(|n| n.starts_with("six")),
        "the zip carries requirements.txt, not the installed package: {names:?}"
    );

    // Node.js (an AWS-style handler through the shim): package.json's dependencies, installed
    // by the build with `npm install --omit=dev`.
    let node = tempfile::tempdir().unwrap();
    write(
        node.path(),
        &[
            (
                "serverless.yml",
                "service: nodedeps\nprovider:\n  name: aws\n  runtime: nodejs20.x\n\
                 functions:\n  check:\n    handler: handler.check\n",
            ),
            (
                "package.json",
                r#"{"name": "nodedeps", "private": true, "dependencies": {"is-number": "7.0.0"}}"#,
            ),
            (
                "handler.js",
                "const isNumber = require('is-number');\n\
                 exports.check = async (event) => ({ value: event.value, number: isNumber(event.value),\n\
                   version: require('is-number/package.json').version });\n",
            ),
        ],
    );
    let service = load(node.path());
    deploy(&provider, &service).await;
    let answer = invoke(&provider, &service, "check", json!({"value": "42"})).await;
    let body: Json = serde_json::from_str(&answer.payload).unwrap_or(Json::Null);
    assert_eq!(
        body,
        json!({"value": "42", "number": true, "version": "7.0.0"}),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_failing_install_fails_the_deploy_with_the_installer_message() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "serverless.yml",
                "service: broken\nprovider:\n  name: google\n  project: stratus-test\n  runtime: python312\n\
                 functions:\n  hello:\n    handler: hello\n    events:\n      - http: path\n",
            ),
            ("main.py", "def hello(request):\n    return 'hi'\n"),
            // Not a valid requirement: pip refuses it without looking anything up.
            ("requirements.txt", "six===[not a version\n"),
        ],
    );
    let service = load(dir.path());
    let (_, applied) = support::try_deploy(&provider, &service).await;
    let error = applied.unwrap_err().to_string();
    assert!(
        error.contains("Build failed") && error.contains("pip"),
        "{error}"
    );
    assert!(
        error.contains("six===[not a version"),
        "pip's own words: {error}"
    );
    assert_eq!(
        fake.function("broken-dev-hello").unwrap()["state"],
        "FAILED"
    );

    // The failed function runs none of that code: deploying the same source builds it again
    // (and fails again), and with the requirement fixed it serves.
    let (retry, applied) = support::try_deploy(&provider, &service).await;
    assert_eq!(retry.changes[0].action, Action::Update, "{retry:#?}");
    assert!(
        retry.changes[0].fields.iter().any(|f| f.field == "code"),
        "{retry:#?}"
    );
    assert!(applied.is_err());
    write(dir.path(), &[("requirements.txt", "six==1.16.0\n")]);
    let service = load(dir.path());
    let plan = deploy(&provider, &service).await;
    let change = &plan.changes[0];
    assert_eq!(change.action, Action::Update, "{plan:#?}");
    assert!(change.fields.iter().any(|f| f.field == "code"), "{plan:#?}");
    assert_eq!(
        fake.function("broken-dev-hello").unwrap()["state"],
        "ACTIVE"
    );
    let answer = invoke(&provider, &service, "hello", json!({})).await;
    assert_eq!(answer.payload, "hi");
    let again = deploy(&provider, &service).await;
    assert!(!again.has_changes(), "{again:#?}");
}

fn zip_names(zip: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    std::fs::write(&path, zip).unwrap();
    let out = dir.path().join("x");
    stratus::package::extract(&path, &out).unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&out).unwrap() {
        names.push(entry.unwrap().file_name().to_string_lossy().into_owned());
    }
    names.sort();
    names
}

const AWS_EVENTS: &str = r#"
service: awsevents
provider:
  name: aws
  runtime: nodejs20.x
functions:
  nodemsg:
    handler: handler.onMessage
    events:
      - event:
          eventType: google.pubsub.topic.publish
          resource: jobs
  pymsg:
    handler: consumer.on_message
    runtime: python3.12
    events:
      - event:
          eventType: google.pubsub.topic.publish
          resource: jobs
"#;

#[tokio::test]
async fn aws_style_handlers_get_cloud_events_through_the_shims() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("serverless.yml", AWS_EVENTS),
            (
                "handler.js",
                "exports.onMessage = async (event, context) => {\n\
                   console.log('node got ' + Buffer.from(event.data.message.data, 'base64') + ' as ' + event.type + ' ' + (context.awsRequestId === event.id));\n\
                 };\n",
            ),
            (
                "consumer.py",
                "import base64\n\ndef on_message(event, context):\n\
                 \x20   text = base64.b64decode(event['data']['message']['data']).decode()\n\
                 \x20   print('python got ' + text + ' from ' + event['source'] + ' ' + str(context.aws_request_id == event['id']))\n",
            ),
        ],
    );
    let service = load(dir.path());
    deploy(&provider, &service).await;
    // Both frameworks acknowledge the event with a 2xx (Node's with 204 No Content).
    let mut answers = fake.publish("jobs", "job 7").await;
    answers.sort();
    let ids: Vec<&str> = answers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["awsevents-dev-nodemsg", "awsevents-dev-pymsg"]);
    assert!(
        answers
            .iter()
            .all(|(_, status)| (200..300).contains(status)),
        "{answers:?}"
    );
    let node = "node got job 7 as google.cloud.pubsub.topic.v1.messagePublished true";
    assert!(
        support::eventually_logged(&provider, &service, "nodemsg", node).await,
        "{:#?}",
        fake.state().entries
    );
    let python =
        "python got job 7 from //pubsub.googleapis.com/projects/stratus-test/topics/jobs True";
    assert!(
        support::eventually_logged(&provider, &service, "pymsg", python).await,
        "{:#?}",
        fake.state().entries
    );
}
