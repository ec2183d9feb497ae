//! Unit tests over real manifests: `check` and the generated `function.json` / shims.

use serde_json::json;

use super::{bindings, check};
use crate::manifest::{self, LoadOptions};
use crate::model::Service;
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
