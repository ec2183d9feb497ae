//! Provider-specific manifest shapes (Google, Azure, OpenWhisk) and the less common forms
//! Serverless accepts: functions as a list, `service: {name}`, `plugins: {modules}`,
//! `serverless.json`, anchors and merge keys, region precedence, type errors.

use stratus::manifest::{LoadError, LoadOptions, Loaded, load};
use stratus::model::{Event, ProviderKind};

/// Writes `text` as `name` in a fresh directory and loads it (default lookup when `name` is a
/// default manifest name).
fn load_text(
    name: &str,
    text: &str,
    tweak: impl FnOnce(&mut LoadOptions),
) -> Result<Loaded, LoadError> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(name), text).expect("write manifest");
    let mut options = LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..LoadOptions::default()
    };
    tweak(&mut options);
    load(&options)
}

fn ok(text: &str) -> Loaded {
    load_text("serverless.yml", text, |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match load_text("serverless.yml", text, |_| {}) {
        Err(LoadError::Invalid(d)) => d.errors().map(ToString::to_string).collect(),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("should fail"),
    }
}

#[test]
fn google_shapes() {
    let service = ok("service: g\nprovider:\n  name: google\n  runtime: python312\n  project: p1\n  timeout: 60s\n  labels:\n    team: core\nfunctions:\n  first:\n    handler: http\n    memorySize: 256\n    events:\n      - http: path\n").service;
    assert_eq!(service.provider.name, ProviderKind::Google);
    assert_eq!(service.provider.timeout, Some(60));
    assert_eq!(service.provider.tags["team"], "core");
    assert_eq!(service.provider.extra["project"], "p1");
    assert_eq!(
        service
            .provider
            .runtime
            .as_ref()
            .map(|r| r.version.as_str()),
        Some("3.12")
    );
    let first = &service.functions["first"];
    assert_eq!(first.handler.as_deref(), Some("http"));
    assert_eq!(first.handler_parts(), None);
    assert_eq!(first.memory_size, Some(256));
}

#[test]
fn openwhisk_shapes() {
    let service = ok("service: ow\nprovider:\n  name: openwhisk\n  memory: 128\nfunctions:\n  time:\n    handler: handler.time\n    memory: 256\n    parameters:\n      greeting: hi\n    events:\n      - http: GET time\n  chain:\n    sequence:\n      - time\n").service;
    assert_eq!(service.provider.memory_size, Some(128));
    let time = &service.functions["time"];
    assert_eq!(time.memory_size, Some(256));
    assert_eq!(time.extra["parameters"]["greeting"], "hi");
    let Event::Http(http) = &time.events[0] else {
        panic!("http")
    };
    assert_eq!((http.method.as_str(), http.path.as_str()), ("GET", "/time"));
    let chain = &service.functions["chain"];
    assert_eq!(chain.handler, None);
    assert_eq!(chain.extra["sequence"][0], "time");
}

#[test]
fn azure_shapes() {
    let service = ok("service: az\nprovider:\n  name: azure\n  location: West Europe\n  region: ignored-when-region-given\nfunctions:\n  hello:\n    handler: src/handlers/hello.handler\n    events:\n      - http: true\n        methods:\n          - GET\n          - post\n        authLevel: anonymous\n      - http: true\n        x-azure-settings:\n          direction: out\n          name: res\n  tick:\n    handler: src/tick.handler\n    events:\n      - timer:\n          schedule: '0 */5 * * * *'\n").service;
    assert_eq!(service.region.as_deref(), Some("ignored-when-region-given"));
    let hello = &service.functions["hello"];
    let routes: Vec<_> = hello
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Http(h) => Some((h.method.clone(), h.extra["authLevel"].clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        vec![
            ("GET".to_string(), "anonymous".into()),
            ("POST".to_string(), "anonymous".into())
        ]
    );
    assert!(matches!(&hello.events[2], Event::Other { kind, .. } if kind == "http"));
    let Event::Schedule(tick) = &service.functions["tick"].events[0] else {
        panic!("schedule")
    };
    assert_eq!(tick.expression, "0 */5 * * * *");
}

#[test]
fn region_and_stage_precedence() {
    let text = "service: s\nprovider:\n  name: azure\n  location: West US\n  stage: qa\n";
    let loaded = load_text("serverless.yml", text, |_| {}).expect("loads");
    assert_eq!(loaded.service.region.as_deref(), Some("West US"));
    assert_eq!(loaded.service.stage, "qa");
    let loaded = load_text("serverless.yml", text, |o| {
        o.region = Some("eastus".into());
        o.stage = Some("prod".into());
    })
    .expect("loads");
    assert_eq!(loaded.service.region.as_deref(), Some("eastus"));
    assert_eq!(loaded.service.stage, "prod");
    assert_eq!(
        loaded
            .document
            .select("provider.stage")
            .map(|d| d.to_json()),
        Some("prod".into())
    );
}

#[test]
fn uncommon_but_valid_forms() {
    let service = ok("service:\n  name: named\nprovider:\n  name: local\n  runtime: python3.12\nplugins:\n  modules:\n    - serverless-offline\nx-base: &base\n  handler: h.base\n  timeout: 3\nfunctions:\n  - one:\n      <<: *base\n      timeout: 9\n  - two:\n      <<: *base\n      events:\n").service;
    assert_eq!(service.name, "named");
    assert_eq!(service.plugins, vec!["serverless-offline"]);
    assert_eq!(service.functions.len(), 2);
    assert_eq!(service.functions["one"].timeout, Some(9));
    assert_eq!(service.functions["two"].handler.as_deref(), Some("h.base"));
    assert_eq!(service.functions["two"].timeout, Some(3));
    assert!(service.functions["two"].events.is_empty());
    let empty = ok("service: e\nprovider:\n  name: aws\nfunctions:\n");
    assert!(empty.service.functions.is_empty());
}

#[test]
fn serverless_json_is_found_by_default() {
    let loaded = load_text(
        "serverless.json",
        r#"{"service": "j", "provider": {"name": "aws", "timeout": 5}, "functions": {"f": {"handler": "h.f"}}}"#,
        |_| {},
    )
    .expect("loads");
    assert_eq!(loaded.service.provider.timeout, Some(5));
    assert_eq!(loaded.service.manifest.to_string_lossy(), "serverless.json");
}

#[test]
fn null_environment_values_are_skipped_with_a_warning() {
    let loaded = ok("service: s\nprovider:\n  name: aws\n  environment:\n    EMPTY:\n    SET: 1\n");
    assert_eq!(loaded.service.provider.environment.len(), 1);
    let warning = loaded
        .warnings
        .warnings()
        .next()
        .expect("a warning")
        .to_string();
    assert_eq!(
        warning,
        "serverless.yml:5:5: provider.environment.EMPTY: has no value and is skipped\n  help: give `EMPTY` a value, or remove it"
    );
}

#[test]
fn structural_errors_name_the_key() {
    assert_eq!(
        errors("service: s\nprovider:\n  name: aws\nfunctions: [1]\n"),
        vec![
            "serverless.yml:4:13: functions.0: expected a mapping of functions, found a number\n  help: write `functions:` as a mapping: `hello: {handler: handler.hello}`"
        ]
    );
    assert_eq!(
        errors("service: s\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: [a]\n"),
        vec![
            "serverless.yml:6:14: functions.f.handler: expected text such as `handler.f`, found a list\n  help: add `handler: handler.f` (file `handler`, function `f`) under `functions.f`"
        ]
    );
    assert_eq!(
        errors("service: s\nprovider:\n  runtime: python3.12\n"),
        vec![
            "serverless.yml:3:3: provider.name: the provider has no `name`\n  help: add `provider:` with `name: aws` (or azure, google, openwhisk, local)"
        ]
    );
    assert_eq!(
        errors(
            "service: s\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n    events: {http: GET /}\n"
        ),
        vec![
            "serverless.yml:7:13: functions.f.events: expected a list of events, found a mapping\n  help: write each event as a list item: `- httpApi: GET /hello`"
        ]
    );
}

#[test]
fn a_failed_variable_is_not_also_a_type_error() {
    assert_eq!(
        errors("service: s\nprovider:\n  name: aws\n  memorySize: ${env:MEM}\n"),
        vec![
            "serverless.yml:4:15: provider.memorySize: cannot resolve `${env:MEM}`: the environment variable MEM is not set\n  help: set the environment variable MEM, or add a fallback: `${env:MEM, 'default'}`"
        ]
    );
}

#[test]
fn every_missing_top_level_key_is_reported() {
    let errors = errors("custom: {}\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("serverless.yml:1:1: service: the manifest has no `service`"));
    assert!(errors[1].starts_with("serverless.yml:1:1: provider: the manifest has no `provider`"));
}
