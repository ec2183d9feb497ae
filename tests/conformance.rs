//! The conformance suite: the same scenarios, unchanged, against every provider.
//!
//! Each target brings its provider (pointed at its peer: real processes for `local`, the fake
//! controller for `openwhisk`, moto for `aws`...) and a way to count the writes the peer saw,
//! so "a no-op redeploy writes nothing" is measured, not assumed. The service is a real
//! manifest loaded with `manifest::load` and packaged with `package::package`, exactly as the
//! CLI does it; its handlers are AWS-style, so every target runs the same code, and one imports a
//! dependency from requirements.txt, so every target's way of shipping dependencies is proven.

#[path = "azure/support.rs"]
#[allow(dead_code)]
mod azure_support;
mod common;
#[path = "fakes/mod.rs"]
mod fakes;
#[path = "support/moto.rs"]
mod moto;
#[path = "openwhisk/support.rs"]
#[allow(dead_code)]
mod openwhisk_support;
#[path = "support/packaging.rs"]
mod packaging;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use stratus::manifest::{self, LoadOptions};
use stratus::model::Service;
use stratus::package::Packaged;
use stratus::providers::local::LocalProvider;
use stratus::providers::{
    Action, InvokeRequest, LogQuery, Outcome, Plan, Provider, ResourceKind, Scope,
};
use tempfile::TempDir;

/// One provider under test, with its peer.
#[async_trait]
trait Target: Send + Sync {
    /// The provider, configured for its peer.
    fn provider(&self) -> &dyn Provider;
    /// How many writes the peer has seen so far (requests that change state).
    fn writes(&self) -> usize;
    /// Whether the peer runs the deployed code (moto's Lambda does not without Docker).
    fn runs_code(&self) -> bool {
        true
    }
    /// For a peer that does not run code: writes `line` to the function's log as the platform
    /// would have, so the log scenarios still read real records through the provider.
    async fn log_as_platform(&self, deployed_name: &str, line: &str) {
        let _ = (deployed_name, line);
    }
}

/// The local provider, writing into its own state directory.
struct LocalTarget {
    provider: LocalProvider,
    state: TempDir,
}

impl LocalTarget {
    fn new() -> LocalTarget {
        let state = tempfile::tempdir().unwrap();
        LocalTarget {
            provider: LocalProvider::with_state_dir(state.path()),
            state,
        }
    }
}

#[async_trait]
impl Target for LocalTarget {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }

    /// Every file of the state directory whose content or mtime changed counts as a write;
    /// the count is cumulative, like a peer's request counter.
    fn writes(&self) -> usize {
        static SNAPSHOTS: std::sync::Mutex<BTreeMap<PathBuf, (usize, Vec<String>)>> =
            std::sync::Mutex::new(BTreeMap::new());
        let now = snapshot(self.state.path());
        let mut all = SNAPSHOTS.lock().unwrap();
        let entry = all
            .entry(self.state.path().to_path_buf())
            .or_insert((0, Vec::new()));
        if entry.1 != now {
            entry.0 += 1;
            entry.1 = now;
        }
        entry.0
    }
}

/// OpenWhisk, against the fake controller (which runs the actions with python3 / node).
struct OpenWhiskTarget {
    fake: fakes::openwhisk::FakeOpenWhisk,
    provider: stratus::providers::openwhisk::OpenWhiskProvider,
}

impl OpenWhiskTarget {
    async fn new() -> OpenWhiskTarget {
        let fake = fakes::openwhisk::FakeOpenWhisk::start().await;
        let provider = openwhisk_support::provider_for(&fake, &fake.auth.clone());
        OpenWhiskTarget { fake, provider }
    }
}

#[async_trait]
impl Target for OpenWhiskTarget {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }

    fn writes(&self) -> usize {
        self.fake.writes()
    }
}

/// Azure, against the fake Resource Manager (whose function hosts run the Python code).
struct AzureTarget {
    fake: fakes::azure::FakeAzure,
    provider: stratus::providers::azure::AzureProvider,
}

impl AzureTarget {
    async fn new() -> AzureTarget {
        let fake = fakes::azure::FakeAzure::start().await;
        let provider = azure_support::provider_for(&fake, "conform", "dev");
        AzureTarget { fake, provider }
    }
}

#[async_trait]
impl Target for AzureTarget {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }

    fn writes(&self) -> usize {
        self.fake.writes()
    }
}

/// Google Cloud Functions, against the fake (which runs the code under the real Functions
/// Framework).
struct GcpTarget {
    fake: fakes::gcp::FakeGcp,
    provider: stratus::providers::gcp::GcpProvider,
}

impl GcpTarget {
    async fn new() -> GcpTarget {
        let fake = fakes::gcp::FakeGcp::start().await;
        let provider = fake.provider();
        GcpTarget { fake, provider }
    }
}

#[async_trait]
impl Target for GcpTarget {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }

    fn writes(&self) -> usize {
        self.fake.writes()
    }
}

/// AWS, against moto (one server per test binary).
struct AwsTarget {
    provider: stratus::providers::aws::AwsProvider,
}

impl AwsTarget {
    async fn new() -> AwsTarget {
        let config = moto::moto().sdk_config().await;
        AwsTarget {
            provider: stratus::providers::aws::AwsProvider::with_config(config),
        }
    }
}

#[async_trait]
impl Target for AwsTarget {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }

    fn writes(&self) -> usize {
        self.provider.call_log().writes().len()
    }

    fn runs_code(&self) -> bool {
        false
    }

    async fn log_as_platform(&self, deployed_name: &str, line: &str) {
        let config = moto::moto().sdk_config().await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        let group = format!("/aws/lambda/{deployed_name}");
        let stream = "2026/11/23/[$LATEST]conformance";
        let _ = logs.create_log_group().log_group_name(&group).send().await;
        let _ = logs
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name(stream)
            .send()
            .await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        logs.put_log_events()
            .log_group_name(&group)
            .log_stream_name(stream)
            .log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(now)
                    .message(line)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// (path, size, mtime) of every file under `dir`, except logs (invocations write those).
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if path.file_name().is_some_and(|n| n != "logs") {
                    stack.push(path);
                }
            } else {
                out.push(format!(
                    "{} {} {:?}",
                    path.display(),
                    meta.len(),
                    meta.modified().ok()
                ));
            }
        }
    }
    out.sort();
    out
}

/// The service every scenario deploys: two Python functions, packaged individually.
struct Fixture {
    dir: TempDir,
}

const MANIFEST: &str = r#"
service: conform
provider:
  name: aws
  runtime: python3.12
  memorySize: 256
  timeout: 10
  environment:
    GREETING: Hello
package:
  individually: true
functions:
  hello:
    handler: hello.handler
    package:
      patterns: ["!bye.py"]
    events:
      - httpApi: GET /hello
  bye:
    handler: bye.handler
    package:
      patterns: ["!hello.py"]
"#;

const HELLO: &str = r#"
import six


def handler(event, context):
    name = event.get("name", "world")
    print("greeting " + name)
    return {"message": "Hello, " + name + "!", "six": six.__version__}
"#;

/// hello's dependency: pure Python, an older release than the one test machines tend to have
/// installed, so the answer proves the deployed copy was imported.
const REQUIREMENTS: &str = "six==1.16.0\n";

const BYE: &str = r#"
def handler(event, context):
    return {"message": "Bye!"}
"#;

impl Fixture {
    fn new() -> Fixture {
        common::require_tool("python3", "apt-get install python3");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("serverless.yml"), MANIFEST).unwrap();
        std::fs::write(dir.path().join("hello.py"), HELLO).unwrap();
        std::fs::write(dir.path().join("bye.py"), BYE).unwrap();
        std::fs::write(dir.path().join("requirements.txt"), REQUIREMENTS).unwrap();
        Fixture { dir }
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    fn load(&self) -> Service {
        let loaded = manifest::load(&LoadOptions {
            cwd: self.dir.path().to_path_buf(),
            ..LoadOptions::default()
        })
        .unwrap_or_else(|e| panic!("the fixture manifest loads: {e}"));
        loaded.service
    }
}

/// Checks, packages and plans, as `stratus plan` does.
async fn plan(target: &dyn Target, service: &Service) -> (Packaged, Plan) {
    let provider = target.provider();
    let packaged =
        packaging::package(provider.target(), service, packaging::shared_cache()).unwrap();
    let plan = provider
        .plan(service, &packaged, &Scope::default())
        .await
        .unwrap();
    (packaged, plan)
}

/// Plans and applies, as `stratus deploy` does; returns the plan.
async fn deploy(target: &dyn Target, service: &Service) -> Plan {
    let (packaged, plan) = plan(target, service).await;
    target
        .provider()
        .apply(service, &packaged, &plan)
        .await
        .unwrap_or_else(|e| panic!("apply: {e}"));
    plan
}

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
        .map(|c| c.fields.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

/// Every scenario, in order, against one target.
async fn conformance(target: &dyn Target) {
    let fixture = Fixture::new();
    let service = fixture.load();
    let provider = target.provider();

    // First deploy: everything is created.
    let first = deploy(target, &service).await;
    assert_eq!(
        action_of(&first, ResourceKind::Function, "hello"),
        Action::Create
    );
    assert_eq!(
        action_of(&first, ResourceKind::Function, "bye"),
        Action::Create
    );

    // A redeploy with nothing changed plans nothing and writes nothing.
    let before = target.writes();
    let again = deploy(target, &service).await;
    assert!(
        !again.has_changes(),
        "no-op redeploy planned changes: {again:#?}"
    );
    assert_eq!(
        target.writes(),
        before,
        "a no-op redeploy wrote to the target"
    );

    // Invoke runs the deployed code.
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
    if target.runs_code() {
        let payload: serde_json::Value = serde_json::from_str(&invocation.payload).unwrap();
        assert_eq!(payload["message"], "Hello, Ada!");
        // requirements.txt reached the platform: the deployed copy of six answers.
        assert_eq!(payload["six"], "1.16.0", "{payload}");
    } else {
        target
            .log_as_platform(&service.deployed_name("hello"), "greeting Ada")
            .await;
    }

    // Its output is in the logs, once.
    let records = provider
        .logs(
            &service,
            &LogQuery {
                function: "hello".into(),
                since: None,
                filter: Some("greeting".into()),
            },
        )
        .await
        .unwrap();
    let greetings: Vec<_> = records
        .iter()
        .filter(|r| r.message.contains("greeting Ada"))
        .collect();
    assert_eq!(greetings.len(), 1, "{records:#?}");
    assert!(records.iter().all(|r| r.message.contains("greeting")));

    // A code change updates that function's code only.
    fixture.edit("hello.py", "Hello, ", "Hi, ");
    let service = fixture.load();
    let code = deploy(target, &service).await;
    assert_eq!(
        action_of(&code, ResourceKind::Function, "hello"),
        Action::Update
    );
    assert_eq!(fields_of(&code, "hello"), ["code"]);
    assert_eq!(
        action_of(&code, ResourceKind::Function, "bye"),
        Action::Unchanged
    );
    let invocation = provider
        .invoke(
            &service,
            &InvokeRequest {
                function: "hello".into(),
                payload: r#"{"name":"Bo"}"#.into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(invocation.outcome, Outcome::Success, "{invocation:#?}");
    if target.runs_code() {
        assert!(invocation.payload.contains("Hi, Bo!"), "{invocation:#?}");
    }

    // A configuration change updates that field only.
    fixture.edit(
        "serverless.yml",
        "    handler: bye.handler\n",
        "    handler: bye.handler\n    memorySize: 512\n",
    );
    let service = fixture.load();
    let config = deploy(target, &service).await;
    assert_eq!(
        action_of(&config, ResourceKind::Function, "bye"),
        Action::Update
    );
    assert_eq!(fields_of(&config, "bye"), ["memorySize"]);
    assert_eq!(
        action_of(&config, ResourceKind::Function, "hello"),
        Action::Unchanged
    );

    // A function that left the manifest is deleted.
    let manifest = std::fs::read_to_string(fixture.dir.path().join("serverless.yml")).unwrap();
    let without_bye = manifest.split("  bye:").next().unwrap().to_string();
    std::fs::write(fixture.dir.path().join("serverless.yml"), without_bye).unwrap();
    let service = fixture.load();
    let removal = deploy(target, &service).await;
    assert_eq!(
        action_of(&removal, ResourceKind::Function, "bye"),
        Action::Delete
    );
    let info = provider.info(&service).await.unwrap();
    let names: Vec<_> = info.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["hello"]);
    let hello = &info.functions[0];
    assert_eq!(hello.memory_size, Some(256));
    assert_eq!(hello.code_sha256.as_deref().map(str::len), Some(64));

    // Remove deletes what this service deployed; a second remove finds nothing.
    let removed = provider.remove(&service).await.unwrap();
    assert!(
        removed
            .iter()
            .any(|r| r.kind == ResourceKind::Function && r.name.contains("hello")),
        "{removed:#?}"
    );
    let info = provider.info(&service).await.unwrap();
    assert!(info.functions.is_empty(), "{info:#?}");
    let removed = provider.remove(&service).await.unwrap();
    assert!(
        removed.iter().all(|r| r.kind != ResourceKind::Function),
        "second remove: {removed:#?}"
    );
}

#[tokio::test]
async fn local_conforms() {
    conformance(&LocalTarget::new()).await;
}

#[tokio::test]
async fn openwhisk_conforms() {
    conformance(&OpenWhiskTarget::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_conforms() {
    conformance(&AzureTarget::new().await).await;
}

#[tokio::test]
async fn aws_conforms() {
    conformance(&AwsTarget::new().await).await;
}

#[tokio::test]
async fn gcp_conforms() {
    conformance(&GcpTarget::new().await).await;
}
