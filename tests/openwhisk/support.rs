//! The service, packages and provider the OpenWhisk tests deploy: a Python and Node.js
//! project with a sequence, an HTTP function, a schedule, a trigger and a package.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Value as Json, json};
use sha2::Digest;
use stratus::http::{HttpConfig, RetryConfig};
use stratus::model::{
    Event, Function, FunctionPackage, HttpEvent, PackageSettings, ProviderKind, ProviderSettings,
    Runtime, ScheduleEvent, Service,
};
use stratus::package::{Artifact, Packaged};
use stratus::providers::openwhisk::OpenWhiskProvider;
use stratus::providers::openwhisk::config::{Credentials, OpenWhiskConfig};
use stratus::providers::{Invocation, InvokeRequest, Plan, Provider, Scope};

use crate::fakes::openwhisk::FakeOpenWhisk;

/// The Python handlers (OpenWhisk style: `main(params)` returns a dict).
pub const HANDLER_PY: &str = r#"
def hello(params):
    name = params.get("name", "world")
    print("saying hello to " + name)
    return {"greeting": "hello " + name, "greeting_param": params.get("greeting_param")}

def fail(params):
    raise ValueError("no " + params.get("what", "thing"))

def endpoint(params):
    return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "time at " + params["__ow_path"]}
"#;

/// The Node.js handlers.
pub const UTILS_JS: &str = r#"
exports.split = (p) => { console.log('splitting'); return { words: String(p.text || '').split(' ') }; };
exports.reverse = (p) => ({ words: p.words.slice().reverse() });
exports.join = (p) => ({ text: p.words.join(' ') });
exports.env = () => ({ table: process.env.TABLE });
"#;

/// A project directory and its service.
pub struct Project {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// The service.
    pub service: Service,
}

/// A function with a handler and an optional runtime.
pub fn function(name: &str, handler: Option<&str>, runtime: Option<&str>) -> Function {
    Function {
        name: name.into(),
        handler: handler.map(str::to_string),
        image: None,
        runtime: runtime.map(Runtime::parse),
        memory_size: None,
        timeout: None,
        description: None,
        environment: BTreeMap::new(),
        events: Vec::new(),
        package: FunctionPackage::default(),
        extra: Default::default(),
    }
}

/// The project on disk and its service `svc`, stage `dev`.
pub fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("handler.py"), HANDLER_PY).unwrap();
    std::fs::write(dir.path().join("utils.js"), UTILS_JS).unwrap();
    let mut functions = IndexMap::new();
    let mut hello = function("hello", Some("handler.hello"), None);
    hello
        .extra
        .insert("parameters".into(), json!({"greeting_param": "hi"}));
    hello
        .extra
        .insert("annotations".into(), json!({"note": "kept"}));
    hello.events.push(Event::Schedule(ScheduleEvent {
        expression: "rate(5 minutes)".into(),
        enabled: true,
        input: Some(json!({"name": "cron"})),
    }));
    hello.events.push(Event::Other {
        kind: "trigger".into(),
        config: json!("my_trigger"),
    });
    functions.insert("hello".into(), hello);
    let mut fail = function("fail", Some("handler.fail"), None);
    // Shares `my_trigger` with hello: one trigger, two rules.
    fail.events.push(Event::Other {
        kind: "trigger".into(),
        config: json!({"name": "my_trigger"}),
    });
    functions.insert("fail".into(), fail);
    let mut time = function("time", Some("handler.endpoint"), None);
    time.events.push(Event::Http(HttpEvent {
        source: "http".into(),
        method: "GET".into(),
        path: "/time".into(),
        extra: Default::default(),
    }));
    functions.insert("time".into(), time);
    for name in ["split", "reverse", "join"] {
        functions.insert(
            name.into(),
            function(name, Some(&format!("utils.{name}")), Some("nodejs:20")),
        );
    }
    let mut env = function("env", Some("utils.env"), Some("nodejs20.x"));
    env.environment.insert("TABLE".into(), "orders".into());
    env.environment
        .insert("API_TOKEN".into(), "tok-secret-1".into());
    functions.insert("env".into(), env);
    let mut chain = function("chain", None, None);
    chain
        .extra
        .insert("sequence".into(), json!(["split", "reverse", "join"]));
    functions.insert("chain".into(), chain);
    let service = Service {
        name: "svc".into(),
        stage: "dev".into(),
        region: None,
        framework_version: None,
        provider: ProviderSettings {
            name: ProviderKind::Openwhisk,
            runtime: Some(Runtime::parse("python:3")),
            memory_size: Some(256),
            timeout: Some(10),
            environment: BTreeMap::new(),
            tags: BTreeMap::new(),
            architecture: None,
            extra: Default::default(),
        },
        functions,
        package: PackageSettings::default(),
        custom: Json::Null,
        plugins: vec![],
        resources: Some(json!({"packages": {"svc-shared": {"parameters": {"region": "eu"}}}})),
        root: dir.path().to_path_buf(),
        manifest: PathBuf::from("serverless.yml"),
        locations: BTreeMap::new(),
    };
    Project { dir, service }
}

/// One zip per function: the project files plus the provider's generated entry files.
pub fn package(project: &Project, provider: &OpenWhiskProvider) -> Packaged {
    let mut artifacts = Vec::new();
    for function in project.service.functions.values() {
        let generated = provider
            .target()
            .generated_files(&project.service, function)
            .unwrap();
        if generated.is_empty() {
            continue;
        }
        let path = project
            .dir
            .path()
            .join(".stratus")
            .join(format!("{}.zip", function.name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Individually packaged: the handler's own file (any extension) and the generated ones.
        let module = function
            .handler
            .as_deref()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let mut entries: Vec<(String, Vec<u8>)> = std::fs::read_dir(project.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file() && path.file_stem().unwrap() == module)
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        entries.extend(generated.into_iter().map(|g| (g.path, g.contents)));
        entries.sort();
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
        for (name, contents) in &entries {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(contents).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        std::fs::write(&path, &bytes).unwrap();
        artifacts.push(Artifact {
            name: function.name.clone(),
            path,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            unzipped_size: entries.iter().map(|(_, c)| c.len() as u64).sum(),
            entries: entries.len(),
            functions: vec![function.name.clone()],
        });
    }
    Packaged {
        artifacts,
        warnings: Vec::new(),
        dependencies: Vec::new(),
    }
}

/// A provider talking to `fake` with these credentials and a quick retry policy.
pub fn provider_for(fake: &FakeOpenWhisk, auth: &str) -> OpenWhiskProvider {
    let config = OpenWhiskConfig {
        apihost: fake.url.parse().unwrap(),
        credentials: Credentials::parse(auth).unwrap(),
        namespace: "_".into(),
        ignore_certs: false,
        sources: vec![],
    };
    let http = HttpConfig {
        request_timeout: Duration::from_secs(20),
        read_timeout: Duration::from_secs(3),
        retry: RetryConfig {
            max_retries: 4,
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            total_timeout: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(5),
        },
        ..HttpConfig::default()
    };
    OpenWhiskProvider::new(config, http).unwrap()
}

/// check + package + plan + apply, as `stratus deploy` does.
pub async fn deploy(
    provider: &OpenWhiskProvider,
    project: &Project,
) -> (Plan, stratus::providers::Applied) {
    let diagnostics = provider.target().check(&project.service, &Scope::default());
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    let packaged = package(project, provider);
    let plan = provider
        .plan(&project.service, &packaged, &Scope::default())
        .await
        .unwrap();
    let applied = provider
        .apply(&project.service, &packaged, &plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (plan, applied)
}

/// The change of `name` in `plan`.
pub fn action_of<'a>(plan: &'a Plan, name: &str) -> &'a stratus::providers::Change {
    plan.changes
        .iter()
        .find(|c| c.deployed_name == name)
        .unwrap_or_else(|| panic!("{name} not in {plan:#?}"))
}

/// A blocking invoke of `function`.
pub async fn invoke(
    provider: &OpenWhiskProvider,
    service: &Service,
    function: &str,
    payload: Json,
    logs: bool,
) -> Invocation {
    provider
        .invoke(
            service,
            &InvokeRequest {
                function: function.into(),
                payload: payload.to_string(),
                with_logs: logs,
                asynchronous: false,
            },
        )
        .await
        .unwrap()
}
