//! Dependencies on OpenWhisk: a service whose Python action imports `six` and MarkupSafe's
//! compiled `_speedups` (from `requirements.txt`) and whose Node.js action requires `is-number`
//! (from `package.json`) is packaged exactly as `stratus deploy` packages it (real pip and npm,
//! for Linux on this CPU and the runtime's Python version), deployed to the fake controller,
//! and answers through it with the dependency's result. The fake loads zip actions as the real
//! runtimes do (see `fakes/openwhisk_exec.rs`), so the answers also prove where the dependencies
//! were found: the vendored copies in the action's directory, not anything installed on this
//! machine.

mod fakes;
#[path = "support/packaging.rs"]
mod packaging;
#[path = "openwhisk/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;

use fakes::openwhisk::FakeOpenWhisk;
use serde_json::{Value as Json, json};
use stratus::model::Service;
use stratus::package::Packaged;
use stratus::providers::openwhisk::OpenWhiskProvider;
use stratus::providers::{Outcome, Provider, Scope};

/// `runtime` and `architecture` are filled in with this machine's python3 and CPU (the fake runs
/// this machine's python3 as the action's runtime), so the compiled wheel pip picks for the
/// runtime is one the fake can load.
const MANIFEST: &str = r#"
service: deps
provider:
  name: openwhisk
  runtime: python:3.MINOR
  memorySize: 256
  architecture: ARCH
functions:
  six:
    handler: handler.main
  num:
    handler: num.main
    runtime: nodejs:20
"#;

/// Answers with six's version, MarkupSafe's compiled escape, and where both were loaded from,
/// relative to the action's directory.
const HANDLER_PY: &str = r#"
import os
import six
import markupsafe
from markupsafe import _speedups

def main(params):
    here = os.path.dirname(os.path.abspath(__file__))
    where = lambda module: os.path.relpath(os.path.abspath(module.__file__), here)
    return {"six": six.__version__, "from": where(six),
            "escaped": str(markupsafe.escape("<b>")), "compiled": where(_speedups)}
"#;

const REQUIREMENTS: &str = "six==1.16.0\nMarkupSafe==3.0.2\n";

/// The manifest for this machine's python3 and architecture, and the file name of MarkupSafe's
/// compiled module for them.
fn manifest() -> (String, String) {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .expect("python3 runs");
    let minor = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        minor.parse::<u32>().is_ok_and(|m| (10..=13).contains(&m)),
        "python3 is 3.{minor}; OpenWhisk offers python:3.10 to python:3.13"
    );
    let (arch, wheel) = match std::env::consts::ARCH {
        "aarch64" => ("arm64", "aarch64"),
        _ => ("x86_64", "x86_64"),
    };
    (
        MANIFEST.replace("MINOR", &minor).replace("ARCH", arch),
        format!("markupsafe/_speedups.cpython-3{minor}-{wheel}-linux-gnu.so"),
    )
}

/// Answers with is-number's verdicts and the file it was loaded from.
const NUM_JS: &str = r#"
const path = require('path');
const isNumber = require('is-number');
exports.main = (p) => ({
  verdicts: [isNumber(p.value), isNumber('five')],
  from: path.relative(__dirname, require.resolve('is-number')),
});
"#;

const PACKAGE_JSON: &str =
    r#"{"name": "deps", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}"#;

/// Writes `files` into a new project directory and loads its manifest.
fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let service = stratus::manifest::load(&stratus::manifest::LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("manifest loads: {e}"))
    .service;
    (dir, service)
}

/// Packages as `stratus package --provider openwhisk` does, with the cache in `cache`.
fn package(provider: &OpenWhiskProvider, service: &Service, cache: &Path) -> Packaged {
    packaging::package(provider.target(), service, cache)
        .unwrap_or_else(|e| panic!("package: {e:#}"))
}

/// Plans and applies `packaged`.
async fn deploy(provider: &OpenWhiskProvider, service: &Service, packaged: &Packaged) {
    let plan = provider
        .plan(service, packaged, &Scope::default())
        .await
        .unwrap();
    provider
        .apply(service, packaged, &plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The names in the zip of `function`.
fn zip_names(packaged: &Packaged, function: &str) -> Vec<String> {
    let artifact = packaged.for_function(function).unwrap();
    let archive = zip::ZipArchive::new(std::fs::File::open(&artifact.path).unwrap()).unwrap();
    archive
        .file_names()
        .map(|name| name.unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn actions_import_their_vendored_dependencies_and_answer() {
    let fake = FakeOpenWhisk::start().await;
    let provider = support::provider_for(&fake, &fake.auth);
    let cache = tempfile::tempdir().unwrap();
    let (manifest, compiled) = manifest();
    let (_dir, service) = project(&[
        ("serverless.yml", &manifest),
        ("handler.py", HANDLER_PY),
        ("requirements.txt", REQUIREMENTS),
        ("num.js", NUM_JS),
        ("package.json", PACKAGE_JSON),
    ]);
    let packaged = package(&provider, &service, cache.path());

    // Vendored at the zip root: Python packages beside __main__.py, node_modules beside
    // package.json, which is where the runtimes load the action from.
    let names = zip_names(&packaged, "six");
    for expected in [
        "__main__.py",
        "six.py",
        &compiled,
        "package.json",
        "node_modules/is-number/index.js",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    // Installed now (the cache is new), once each, for the whole service's one zip.
    let mut builds: Vec<(&str, bool)> = packaged
        .dependencies
        .iter()
        .map(|b| (b.language.as_str(), b.cached))
        .collect();
    builds.sort();
    assert_eq!(builds, [("node", false), ("python", false)]);

    deploy(&provider, &service, &packaged).await;

    let answer = support::invoke(&provider, &service, "six", json!({}), true).await;
    assert_eq!(answer.outcome, Outcome::Success, "{answer:?}");
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    // 1.16.0 is the pinned version (this machine's own python3 may have another), loaded from
    // the action's directory; so is the compiled module of the wheel chosen for the invoker.
    assert_eq!(
        payload,
        json!({"six": "1.16.0", "from": "six.py", "escaped": "&lt;b&gt;", "compiled": compiled})
    );

    let answer = support::invoke(&provider, &service, "num", json!({"value": "42"}), true).await;
    assert_eq!(answer.outcome, Outcome::Success, "{answer:?}");
    let payload: Json = serde_json::from_str(&answer.payload).unwrap();
    assert_eq!(
        payload,
        json!({"verdicts": [true, false], "from": "node_modules/is-number/index.js"})
    );

    // A second package with nothing changed takes both sets from the cache, byte-identical.
    let again = package(&provider, &service, cache.path());
    assert!(again.dependencies.iter().all(|b| b.cached), "{again:?}");
    assert_eq!(
        again.artifacts[0].sha256, packaged.artifacts[0].sha256,
        "the same inputs give the same zip"
    );
    let plan = provider
        .plan(&service, &again, &Scope::default())
        .await
        .unwrap();
    assert!(!plan.has_changes(), "nothing to redeploy: {plan:#?}");
}

#[tokio::test]
async fn without_the_dependency_installed_the_action_cannot_load_it() {
    // The control for the test above: the fake resolves modules only from the action itself.
    let fake = FakeOpenWhisk::start().await;
    let provider = support::provider_for(&fake, &fake.auth);
    let cache = tempfile::tempdir().unwrap();
    let (manifest, _) = manifest();
    let (_dir, service) = project(&[
        ("serverless.yml", &manifest),
        ("handler.py", HANDLER_PY),
        ("num.js", NUM_JS),
        ("package.json", r#"{"name": "deps", "version": "1.0.0"}"#),
    ]);
    let packaged = package(&provider, &service, cache.path());
    assert!(
        packaged.dependencies.is_empty(),
        "{:?}",
        packaged.dependencies
    );
    assert!(
        !zip_names(&packaged, "num")
            .iter()
            .any(|n| n.starts_with("node_modules/")),
        "nothing to install"
    );
    deploy(&provider, &service, &packaged).await;

    let answer = support::invoke(&provider, &service, "num", json!({"value": "42"}), true).await;
    let text = format!("{:?} {}", answer.outcome, answer.logs.join("\n"));
    assert!(
        !matches!(answer.outcome, Outcome::Success),
        "is-number cannot be found: {answer:?}"
    );
    assert!(
        text.contains("Cannot find module 'is-number'"),
        "the error names the module: {text}"
    );
}
