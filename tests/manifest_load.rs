//! Loading a complete example manifest: the model, `--stage`/`--param`, and `print`'s
//! YAML / JSON / `--path` output.

use std::path::{Path, PathBuf};

use serde_json::json;
use stratus::manifest::{LoadOptions, Loaded, load};
use stratus::model::{Event, ProviderKind};

fn options() -> LoadOptions {
    LoadOptions {
        config: Some(PathBuf::from("example.yml")),
        cwd: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests"),
        ..LoadOptions::default()
    }
}

fn example(options: &LoadOptions) -> Loaded {
    load(options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn example_model() {
    let loaded = example(&options());
    let service = &loaded.service;
    assert_eq!(service.name, "demo");
    assert_eq!(service.stage, "dev");
    assert_eq!(service.provider.name, ProviderKind::Aws);
    assert_eq!(service.provider.memory_size, Some(256));
    assert_eq!(service.provider.environment["DEBUG"], "true");
    assert_eq!(service.provider.environment["REGION"], "${AWS::Region}");
    let hello = &service.functions["hello"];
    assert_eq!(hello.handler_parts(), Some(("src/handler", "hello")));
    assert_eq!(hello.environment["LEVEL"], "info-fn");
    assert_eq!(hello.environment["TABLE"], "demo-dev");
    let routes: Vec<(String, String)> = hello
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Http(h) => Some((h.method.clone(), h.path.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        vec![
            ("GET".to_string(), "/hello/{name}".to_string()),
            ("POST".to_string(), "/items".to_string()),
            ("ANY".to_string(), "/{proxy+}".to_string()),
        ]
    );
    let schedules: Vec<_> = hello
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Schedule(s) => Some((s.expression.as_str(), s.enabled)),
            _ => None,
        })
        .collect();
    assert_eq!(
        schedules,
        vec![("rate(5 minutes)", false), ("cron(0 12 * * ? *)", false)]
    );
    assert!(matches!(&hello.events[5], Event::Other { kind, .. } if kind == "sqs"));
    let image = &service.functions["image"];
    assert_eq!(image.handler, None);
    assert!(
        image
            .image
            .as_deref()
            .is_some_and(|i| i.ends_with("app:latest"))
    );
    assert_eq!(
        service.package.patterns,
        vec!["!tests/**", "!node_modules/**", "src/**"]
    );
    assert!(service.package.exclude_dev_dependencies);
    let runtime = service.effective(hello).runtime.expect("provider runtime");
    assert_eq!(runtime.version, "3.12");
    let location = service.locate("functions.hello.timeout").expect("located");
    assert_eq!(location.to_string(), "example.yml:24:5");
}

#[test]
fn stage_and_params_from_the_command_line() {
    let mut options = options();
    options.stage = Some("prod".into());
    let loaded = example(&options);
    assert_eq!(loaded.service.stage, "prod");
    assert_eq!(loaded.service.provider.memory_size, Some(1024));
    assert_eq!(loaded.service.provider.environment["LEVEL"], "warn");
    assert_eq!(loaded.service.provider.environment["TABLE"], "demo-prod");
    options.params.push(("logLevel".into(), "debug".into()));
    options.env.insert("APP_NAME".into(), "renamed".into());
    let loaded = example(&options);
    assert_eq!(loaded.service.provider.environment["LEVEL"], "debug");
    assert_eq!(loaded.service.name, "renamed");
}

#[test]
fn print_as_json_yaml_and_path() {
    let loaded = example(&options());
    let json = loaded.document.to_json();
    assert_eq!(json["provider"]["memorySize"], json!(256));
    assert_eq!(
        json["resources"]["Resources"]["Bucket"]["Properties"]["BucketName"],
        json!({"Fn::Sub": "${AWS::StackName}-demo"})
    );
    assert_eq!(
        json["resources"]["Resources"]["Policy"]["Value"],
        json!({"Fn::GetAtt": ["Bucket", "Arn"]})
    );
    let yaml = loaded.document.to_yaml();
    assert!(yaml.contains("Value: !GetAtt Bucket.Arn"), "{yaml}");
    assert!(yaml.contains("memorySize: 256"), "{yaml}");
    let environment = loaded
        .document
        .select("provider.environment")
        .expect("present");
    assert_eq!(
        environment.to_json(),
        json!({"TABLE": "demo-dev", "LEVEL": "info", "DEBUG": true, "REGION": "${AWS::Region}"})
    );
    assert_eq!(
        loaded
            .document
            .select("functions.hello.events.0")
            .map(|d| d.to_json()),
        Some(json!({"httpApi": "GET /hello/{name}"}))
    );
    assert!(loaded.document.select("provider.nothing").is_none());
}
