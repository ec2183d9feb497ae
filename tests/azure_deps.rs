//! Dependencies on Azure: a Python function importing `six` (from `requirements.txt`, installed
//! by real pip for Linux x86_64 / Python 3.11) is packaged as `stratus deploy` packages it,
//! published to the fake, and answers through the fake's function host with the version it
//! imported — from the app root's `.python_packages/lib/site-packages`, the one directory the
//! real Python worker (and the fake, which copies it) puts on the path. Node.js functions: the
//! fake does not run Node, so the app package's layout is checked (one shared `node_modules/`
//! at the app root) and `is-number` resolved from each function's folder with this machine's
//! node. Two functions whose vendored packages
//! disagree cannot share one app: the plan says so before anything is written.

#[path = "fakes/mod.rs"]
mod fakes;
#[path = "support/packaging.rs"]
mod packaging;
#[path = "azure/support.rs"]
#[allow(dead_code)]
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use fakes::azure::FakeAzure;
use serde_json::{Value as Json, json};
use stratus::model::Service;
use stratus::package::Packaged;
use stratus::providers::azure::AzureProvider;
use stratus::providers::{InvokeRequest, Outcome, Plan, Provider, Scope};

const PYTHON_MANIFEST: &str = r#"
service: pydeps
provider:
  name: azure
  region: West Europe
  runtime: python3.11
functions:
  six:
    handler: handler.main
    events:
      - http: true
        methods: [GET, POST]
  again:
    handler: handler.main
    events:
      - http: true
        methods: [GET, POST]
        x-azure-settings:
          route: again
"#;

/// Answers with six's version and where it was imported from, relative to the app root.
const HANDLER_PY: &str = r#"
import json, os
import azure.functions as func
import six

def main(req: func.HttpRequest) -> func.HttpResponse:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = os.path.relpath(os.path.abspath(six.__file__), root)
    return func.HttpResponse(json.dumps({"six": six.__version__, "from": found}), status_code=200)
"#;

const NODE_MANIFEST: &str = r#"
service: nodedeps
provider:
  name: azure
  region: West Europe
  runtime: nodejs20
functions:
  num:
    handler: num.main
  odd:
    handler: num.main
"#;

const NUM_JS: &str = r#"
const isNumber = require('is-number');
module.exports.main = async function (context, req) { context.res = { body: String(isNumber(req.body)) }; };
"#;

/// Checks, packages (dependency cache in `cache`) and plans, as `stratus plan` does.
async fn plan(
    provider: &AzureProvider,
    service: &Service,
    cache: &Path,
) -> anyhow::Result<(Packaged, Plan)> {
    let packaged = packaging::package(provider.target(), service, cache)?;
    let plan = provider.plan(service, &packaged, &Scope::default()).await?;
    Ok((packaged, plan))
}

/// Plans and applies; answers the app package's path.
async fn deploy(provider: &AzureProvider, service: &Service, cache: &Path) -> PathBuf {
    let (packaged, plan) = plan(provider, service, cache)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    provider
        .apply(service, &packaged, &plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    service
        .root
        .join(".stratus")
        .join(format!("{}-azure-app.zip", service.name))
}

/// The entries of a zip: name -> contents.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

async fn invoke(provider: &AzureProvider, service: &Service, function: &str) -> Json {
    let invocation = provider
        .invoke(
            service,
            &InvokeRequest {
                function: function.into(),
                payload: "{}".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(invocation.outcome, Outcome::Success, "{invocation:#?}");
    serde_json::from_str(&invocation.payload)
        .unwrap_or_else(|e| panic!("{e}: {}", invocation.payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_function_imports_its_vendored_dependency_and_answers() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "pydeps", "dev");
    let cache = tempfile::tempdir().unwrap();
    let (_dir, service) = support::project(&[
        ("serverless.yml", PYTHON_MANIFEST),
        ("handler.py", HANDLER_PY),
        ("requirements.txt", "six==1.16.0\n"),
    ]);
    let app = deploy(&provider, &service, cache.path()).await;

    // One copy, at the app root, for both functions; none left in their folders.
    let names: Vec<String> = entries(&app).into_iter().map(|(name, _)| name).collect();
    let six: Vec<&String> = names.iter().filter(|n| n.ends_with("/six.py")).collect();
    assert_eq!(
        six,
        [".python_packages/lib/site-packages/six.py"],
        "{names:#?}"
    );
    assert!(names.iter().any(|n| n == "six/handler.py"), "{names:#?}");
    assert!(
        names.iter().any(|n| n == "again/function.json"),
        "{names:#?}"
    );

    // This machine's interpreter has no six (or another version): 1.16.0 from the app root
    // proves the vendored copy was imported.
    for function in ["six", "again"] {
        assert_eq!(
            invoke(&provider, &service, function).await,
            json!({"six": "1.16.0", "from": ".python_packages/lib/site-packages/six.py"}),
            "{function}"
        );
    }

    // Nothing changed: the redeploy plan is empty (same app package, dependencies cached).
    let (packaged, plan) = plan(&provider, &service, cache.path()).await.unwrap();
    assert!(
        packaged.dependencies.iter().all(|b| b.cached),
        "{packaged:?}"
    );
    assert!(!plan.has_changes(), "{plan:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_functions_share_one_node_modules_at_the_app_root() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "nodedeps", "dev");
    let cache = tempfile::tempdir().unwrap();
    let (_dir, service) = support::project(&[
        ("serverless.yml", NODE_MANIFEST),
        ("num.js", NUM_JS),
        (
            "package.json",
            r#"{"name": "nodedeps", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}"#,
        ),
    ]);
    let app = deploy(&provider, &service, cache.path()).await;
    let names: Vec<String> = entries(&app).into_iter().map(|(name, _)| name).collect();
    for expected in [
        "num/num.js",
        "num/package.json",
        "odd/num.js",
        "node_modules/is-number/index.js",
        "node_modules/is-number/package.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected}: {names:#?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("/node_modules/") || n.starts_with(".python_packages/")),
        "one copy, at the root: {names:#?}"
    );

    // Each function's scriptFile loads and finds the module the way Node resolves it on the
    // worker (up from the function's folder).
    let unpacked = tempfile::tempdir().unwrap();
    for (name, bytes) in entries(&app) {
        let path = unpacked.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for function in ["num", "odd"] {
        let folder = unpacked.path().join(function);
        let config: Json =
            serde_json::from_slice(&std::fs::read(folder.join("function.json")).unwrap()).unwrap();
        let script = folder.join(config["scriptFile"].as_str().unwrap());
        let output = std::process::Command::new("node")
            .arg("-e")
            .arg(
                "const path = require('path'); const [script] = process.argv.slice(1); \
                 require(script); \
                 const found = require.resolve('is-number', { paths: [path.dirname(script)] }); \
                 console.log(path.relative(path.dirname(script), found));",
            )
            .arg(&script)
            .current_dir(unpacked.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "../node_modules/is-number/index.js",
            "{function}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_needing_different_packages_cannot_share_an_app() {
    let fake = FakeAzure::start().await;
    let provider = support::provider_for(&fake, "split", "dev");
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serverless.yml"),
        r#"
service: split
provider:
  name: azure
  region: West Europe
  runtime: python3.11
package:
  individually: true
functions:
  old:
    handler: old/handler.main
  new:
    handler: new/handler.main
"#,
    )
    .unwrap();
    for (folder, version) in [("old", "1.16.0"), ("new", "1.17.0")] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("handler.py"), HANDLER_PY).unwrap();
        std::fs::write(
            dir.path().join(folder).join("requirements.txt"),
            format!("six=={version}\n"),
        )
        .unwrap();
    }
    let service = support::load(dir.path());
    let error = plan(&provider, &service, cache.path())
        .await
        .expect_err("the plan fails");
    let message = format!("{error:#}");
    assert!(
        message.contains("`new`")
            && message.contains("`old`")
            && message.contains(".python_packages/lib/site-packages/six.py")
            && message.contains("help:"),
        "{message}"
    );
    assert_eq!(fake.writes(), 0, "nothing was written");
}
