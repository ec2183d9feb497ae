//! Unit tests over real manifests: `check` and the generated `function.json` / shims.

use serde_json::json;

use super::{bindings, check};
use crate::manifest::{self, LoadOptions};
use crate::model::Service;
use crate::package::writer::{EntrySource, ZipEntry, write_zip};
use crate::package::{Artifact, Packaged};
use crate::providers::Scope;

fn load(manifest: &str) -> Service {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("serverless.yml"), manifest).unwrap();
    let loaded = manifest::load(&LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    loaded.service
}

#[test]
fn native_http_functions_bind_methods_route_and_auth_level() {
    let service = load(
        r#"
service: s
provider: {name: azure, runtime: python3.11}
functions:
  hello:
    handler: src/hello.main
    events:
      - http: true
        methods: [GET, POST]
        x-azure-settings:
          authLevel: function
          route: greet/{name}
"#,
    );
    let function = &service.functions["hello"];
    assert!(bindings::shim_files(&service, function).is_empty());
    let doc = bindings::function_json(&service, function).unwrap();
    assert_eq!(doc["scriptFile"], "src/hello.py");
    assert_eq!(doc["entryPoint"], "main");
    assert_eq!(
        doc["bindings"][0],
        json!({"authLevel": "function", "type": "httpTrigger", "direction": "in", "name": "req",
               "route": "greet/{name}", "methods": ["get", "post"]})
    );
    assert_eq!(doc["bindings"][1]["type"], "http");
    assert_eq!(doc["bindings"][1]["name"], "$return");
}

#[test]
fn aws_handlers_get_a_shim_and_schedules_become_timers() {
    let service = load(
        r#"
service: s
provider: {name: aws, runtime: nodejs20.x}
functions:
  api:
    handler: handler.api
    events:
      - httpApi: GET /items/{proxy+}
  cron:
    handler: handler.cron
    events:
      - schedule: rate(10 minutes)
"#,
    );
    let api = &service.functions["api"];
    let shim = bindings::shim_files(&service, api);
    assert_eq!(shim[0].path, "__stratus_azure_api.js");
    let text = String::from_utf8(shim[0].contents.clone()).unwrap();
    assert!(text.contains("const HANDLER = 'handler.api';"), "{text}");
    let doc = bindings::function_json(&service, api).unwrap();
    assert_eq!(doc["scriptFile"], "__stratus_azure_api.js");
    assert_eq!(doc["bindings"][0]["route"], "items/{*proxy}");
    assert_eq!(doc["bindings"][1]["name"], "res");
    let cron = bindings::function_json(&service, &service.functions["cron"]).unwrap();
    assert_eq!(cron["bindings"][0]["type"], "timerTrigger");
    assert_eq!(cron["bindings"][0]["schedule"], "0 */10 * * * *");
}

#[test]
fn check_reports_mixed_runtimes_big_memory_and_unbindable_events_at_once() {
    let service = load(
        r#"
service: s
provider: {name: aws, runtime: python3.12, memorySize: 512}
functions:
  a:
    handler: a.handler
  b:
    handler: b.handler
    runtime: nodejs20.x
    memorySize: 8192
  c:
    handler: c.handler
    events:
      - sqs: arn:aws:sqs:eu-west-1:1:q
"#,
    );
    let diagnostics = check::check(&service, &Scope::default());
    let text = diagnostics.to_string();
    assert!(text.contains("one runtime"), "{text}");
    assert!(text.contains("exceeds Flex Consumption"), "{text}");
    assert!(text.contains("`sqs` event has no Azure binding"), "{text}");
    assert!(
        diagnostics
            .warnings()
            .any(|w| w.message.contains("rounded up to a 2048 MB")),
        "{diagnostics:?}"
    );
    let scoped = check::check(
        &service,
        &Scope {
            functions: Some(vec!["a".into()]),
        },
    );
    assert!(scoped.to_string().contains("deploy -f"), "{scoped}");
}

#[test]
fn dependencies_are_for_x86_64_and_arm64_is_warned_as_ignored() {
    use crate::package::deps::{Arch, DependencyTarget, Platform};
    use crate::providers::Target;
    let service = load(
        r#"
service: s
provider: {name: aws, runtime: python3.12, architecture: arm64}
functions:
  a:
    handler: a.handler
"#,
    );
    let provider = super::AzureTarget;
    assert_eq!(
        provider.dependencies(&service, &service.functions["a"]),
        DependencyTarget::Vendor {
            platform: Platform::Linux(Arch::X86_64),
            python_dir: ".python_packages/lib/site-packages".into(),
        }
    );
    let diagnostics = check::check(&service, &Scope::default());
    let warning = diagnostics
        .warnings()
        .find(|w| w.message.contains("arm64"))
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(warning.key.as_deref(), Some("provider.architecture"));
    assert!(!diagnostics.has_errors(), "{diagnostics}");
}

/// A function artifact zip holding `files`.
fn artifact(dir: &std::path::Path, function: &str, files: &[(&str, &str)]) -> Artifact {
    let path = dir.join(format!("{function}.zip"));
    let mut files = files.to_vec();
    files.sort();
    let entries: Vec<ZipEntry<'_>> = files
        .iter()
        .map(|(name, text)| ZipEntry {
            name: name.to_string(),
            source: EntrySource::Memory(text.as_bytes()),
            size: text.len() as u64,
            executable: false,
        })
        .collect();
    let written = write_zip(&entries, &path).unwrap();
    Artifact {
        name: function.into(),
        path,
        sha256: written.sha256,
        size: 0,
        unzipped_size: 0,
        entries: files.len(),
        functions: vec![function.into()],
    }
}

#[test]
fn python_packages_are_lifted_to_the_app_root_once_and_conflicts_refused() {
    let service = load(
        r#"
service: s
provider: {name: azure, runtime: python3.11}
package: {individually: true}
functions:
  a:
    handler: a.main
  b:
    handler: b.main
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let six = ".python_packages/lib/site-packages/six.py";
    let packaged = Packaged {
        artifacts: vec![
            artifact(dir.path(), "a", &[("a.py", "A"), (six, "six 1")]),
            artifact(dir.path(), "b", &[("b.py", "B"), (six, "six 1")]),
        ],
        ..Packaged::default()
    };
    bindings::check_python_packages(&packaged).unwrap();
    let app = bindings::build_app_package(&service, &packaged).unwrap();
    let archive = zip::ZipArchive::new(std::fs::File::open(&app.path).unwrap()).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    assert!(has(six), "{names:?}");
    assert!(has("a/a.py") && has("b/b.py"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with(six) && *n != six),
        "none left in the function folders: {names:?}"
    );

    let packaged = Packaged {
        artifacts: vec![
            artifact(dir.path(), "a", &[("a.py", "A"), (six, "six 1")]),
            artifact(dir.path(), "b", &[("b.py", "B"), (six, "six 2")]),
        ],
        ..Packaged::default()
    };
    for error in [
        bindings::check_python_packages(&packaged).unwrap_err(),
        bindings::build_app_package(&service, &packaged).unwrap_err(),
    ] {
        let text = error.to_string();
        assert!(
            text.contains("`a` and `b`") && text.contains(six) && text.contains("help:"),
            "{text}"
        );
    }
}

#[test]
fn node_modules_go_to_the_app_root_only_when_every_function_shares_them() {
    let service = load(
        r#"
service: s
provider: {name: azure, runtime: nodejs20}
package: {individually: true}
functions:
  a:
    handler: a.main
  b:
    handler: b.main
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let module = "node_modules/m/index.js";
    let names_of = |packaged: &Packaged| -> Vec<String> {
        let app = bindings::build_app_package(&service, packaged).unwrap();
        let archive = zip::ZipArchive::new(std::fs::File::open(&app.path).unwrap()).unwrap();
        archive
            .file_names()
            .map(|n| n.unwrap().to_string())
            .collect()
    };
    let same = Packaged {
        artifacts: vec![
            artifact(dir.path(), "a", &[("a.js", "A"), (module, "m1")]),
            artifact(dir.path(), "b", &[("b.js", "B"), (module, "m1")]),
        ],
        ..Packaged::default()
    };
    let names = names_of(&same);
    assert!(names.iter().any(|n| n == module), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with(module) && n != module),
        "{names:?}"
    );
    let different = Packaged {
        artifacts: vec![
            artifact(dir.path(), "a", &[("a.js", "A"), (module, "m1")]),
            artifact(dir.path(), "b", &[("b.js", "B"), (module, "m2")]),
        ],
        ..Packaged::default()
    };
    let names = names_of(&different);
    for expected in ["a/node_modules/m/index.js", "b/node_modules/m/index.js"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert!(!names.iter().any(|n| n == module), "{names:?}");
}
