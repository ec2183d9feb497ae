//! Local provider: plan, apply, lock, crash safety, info, remove, check.

mod local_support;

use local_support::*;
use stratus::diagnostic::Severity;
use stratus::providers::local::LocalProvider;
use stratus::providers::{Action, InvokeRequest, Outcome, Provider, ResourceKind, Scope};

const PY: &str = "def hello(event, context):\n    return {'v': 1}\n";
const JS: &str = "exports.world = async (event) => ({ w: 1 });\n";

struct Fixture {
    root: tempfile::TempDir,
    out: tempfile::TempDir,
    state: tempfile::TempDir,
}

fn fixture() -> Fixture {
    require_interpreters();
    let fixture = Fixture {
        root: tempfile::tempdir().unwrap(),
        out: tempfile::tempdir().unwrap(),
        state: tempfile::tempdir().unwrap(),
    };
    write_files(fixture.root.path(), &[("handler.py", PY), ("world.js", JS)]);
    fixture
}

fn two_functions(f: &Fixture) -> stratus::model::Service {
    let mut hello = function("hello", "handler.hello", "python3.12");
    hello.events.push(http("GET", "/hello"));
    let world = function("world", "world.world", "nodejs20.x");
    service(f.root.path(), "svc", vec![hello, world])
}

fn actions(plan: &stratus::providers::Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.name.clone(), c.action))
        .collect()
}

#[tokio::test]
async fn plan_shows_create_unchanged_update_and_delete() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path()).with_serve_port(3000);
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    assert_eq!(
        actions(&plan),
        [
            ("hello".into(), Action::Create),
            ("world".into(), Action::Create)
        ]
    );
    assert_eq!(plan.changes[0].kind, ResourceKind::Function);
    assert_eq!(plan.changes[0].deployed_name, "svc-dev-hello");
    let applied = provider.apply(&svc, &packaged, &plan).await.unwrap();
    assert_eq!(applied.done.len(), 2);
    assert_eq!(applied.endpoints.len(), 1);
    assert_eq!(applied.endpoints[0].url, "http://127.0.0.1:3000/hello");
    assert_eq!(applied.endpoints[0].method, "GET");

    // Same manifest, same code: nothing to do, and applying does nothing.
    let again = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    assert!(!again.has_changes(), "{again:?}");
    let applied = provider.apply(&svc, &packaged, &again).await.unwrap();
    assert!(applied.done.is_empty());

    // Change world's settings and a secret, drop hello, add fresh.
    let mut svc2 = two_functions(&f);
    svc2.functions.shift_remove("hello");
    let world = svc2.functions.get_mut("world").unwrap();
    world.memory_size = Some(256);
    world
        .environment
        .insert("API_TOKEN".into(), "s3cr3t-value".into());
    world.environment.insert("TABLE".into(), "users".into());
    svc2.functions.insert(
        "fresh".into(),
        function("fresh", "handler.hello", "python3.12"),
    );
    let packaged2 = package(&svc2, f.out.path());
    let plan = provider
        .plan(&svc2, &packaged2, &Scope::default())
        .await
        .unwrap();
    assert_eq!(
        actions(&plan),
        [
            ("world".into(), Action::Update),
            ("fresh".into(), Action::Create),
            ("hello".into(), Action::Delete)
        ]
    );
    let fields: Vec<_> = plan.changes[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["memorySize", "environment.API_TOKEN", "environment.TABLE"]
    );
    let token = &plan.changes[0].fields[1];
    assert!(token.sensitive);
    assert_eq!(token.shown_new(), Some("(sensitive)"));
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains("s3cr3t-value"), "{json}");
    assert_eq!(plan.changes[0].fields[0].old.as_deref(), Some("1024"));
    assert_eq!(plan.changes[0].fields[0].new.as_deref(), Some("256"));

    // A scoped deploy never deletes.
    let scoped = Scope {
        functions: Some(vec!["world".into()]),
    };
    let plan_scoped = provider.plan(&svc2, &packaged2, &scoped).await.unwrap();
    assert_eq!(actions(&plan_scoped), [("world".into(), Action::Update)]);

    provider.apply(&svc2, &packaged2, &plan).await.unwrap();
    let info = provider.info(&svc2).await.unwrap();
    let names: Vec<_> = info.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["fresh", "world"]);
    let world = info.functions.iter().find(|f| f.name == "world").unwrap();
    assert_eq!(world.memory_size, Some(256));
    assert_eq!(
        world.code_sha256.as_deref(),
        Some(packaged2.artifacts[0].sha256.as_str())
    );
    assert!(world.last_modified.as_deref().unwrap().ends_with('Z'));
    assert!(info.details["state dir"].ends_with("svc/dev"));
    assert!(
        !provider
            .plan(&svc2, &packaged2, &Scope::default())
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn code_changes_update_and_old_code_is_collected() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    write_files(
        f.root.path(),
        &[("handler.py", "def hello(e, c):\n    return {'v': 2}\n")],
    );
    let packaged2 = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged2, &Scope::default())
        .await
        .unwrap();
    assert_eq!(plan.changes[0].action, Action::Update);
    assert_eq!(plan.changes[0].fields[0].field, "code");
    assert_eq!(
        plan.changes[0].fields[0].new.as_deref(),
        Some(packaged2.artifacts[0].sha256.as_str())
    );
    provider.apply(&svc, &packaged2, &plan).await.unwrap();
    let code_dirs: Vec<_> = std::fs::read_dir(f.state.path().join("svc/dev/code"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(code_dirs, [packaged2.artifacts[0].sha256.clone()]);
    let result = invoke(&provider, &svc, "hello").await;
    assert_eq!(result, r#"{"v":2}"#);
}

async fn invoke(provider: &LocalProvider, svc: &stratus::model::Service, name: &str) -> String {
    let invocation = provider
        .invoke(
            svc,
            &InvokeRequest {
                function: name.into(),
                payload: "{}".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(invocation.outcome, Outcome::Success, "{invocation:?}");
    invocation.payload
}

#[tokio::test]
async fn a_second_deploy_is_refused_while_the_lock_is_held() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    let held = provider.lock(&svc, "deploy").unwrap();
    let error = provider.apply(&svc, &packaged, &plan).await.unwrap_err();
    let message = format!("{:#}", error.cause.as_ref().expect("the lock is the cause"));
    assert!(error.failed.is_empty());
    assert_eq!(error.pending.len(), 2);
    assert!(error.to_string().contains("cause: another stratus deploy"));
    let expected = format!(
        "another stratus deploy of service svc stage dev is running (pid {})",
        std::process::id()
    );
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains(".lock"), "{message}");
    assert!(error.done.is_empty());
    assert!(!f.state.path().join("svc/dev/functions").exists());
    let removal = provider.remove(&svc).await.unwrap_err();
    assert!(
        format!("{removal:#}").contains("another stratus deploy"),
        "{removal:#}"
    );
    drop(held);
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    assert_eq!(invoke(&provider, &svc, "hello").await, r#"{"v":1}"#);
}

#[tokio::test]
async fn a_failed_apply_keeps_the_previous_version_and_the_next_one_converges() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    let state_file = f.state.path().join("svc/dev/functions/hello.json");
    let before = std::fs::read(&state_file).unwrap();

    write_files(
        f.root.path(),
        &[("handler.py", "def hello(e, c):\n    return {'v': 3}\n")],
    );
    let good = package(&svc, f.out.path());
    let mut broken = good.clone();
    let corrupt = f.out.path().join("corrupt.zip");
    std::fs::write(&corrupt, b"PK\x03\x04 truncated").unwrap();
    broken.artifacts[0].path = corrupt;
    let plan = provider
        .plan(&svc, &broken, &Scope::default())
        .await
        .unwrap();
    let error = provider.apply(&svc, &broken, &plan).await.unwrap_err();
    // Both functions share the one broken package: both fail, nothing is half-done.
    assert_eq!(error.failed.len(), 2);
    assert!(error.done.is_empty() && error.pending.is_empty());
    let text = error.to_string();
    assert!(text.contains("FAILED    update function hello"), "{text}");
    assert!(text.contains("not a readable zip"), "{text}");
    assert_eq!(
        std::fs::read(&state_file).unwrap(),
        before,
        "state untouched"
    );
    assert_eq!(invoke(&provider, &svc, "hello").await, r#"{"v":1}"#);
    let leftovers: Vec<_> = std::fs::read_dir(f.state.path().join("svc/dev/code"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no half-extracted code left: {leftovers:?}"
    );

    let plan = provider.plan(&svc, &good, &Scope::default()).await.unwrap();
    assert_eq!(plan.counts(), (0, 2, 0, 0));
    provider.apply(&svc, &good, &plan).await.unwrap();
    assert_eq!(invoke(&provider, &svc, "hello").await, r#"{"v":3}"#);
    assert!(
        !provider
            .plan(&svc, &good, &Scope::default())
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn missing_code_is_redeployed() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    std::fs::remove_dir_all(f.state.path().join("svc/dev/code")).unwrap();
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    assert_eq!(plan.counts(), (0, 2, 0, 0));
    assert!(
        plan.changes[0].fields[0]
            .old
            .as_deref()
            .unwrap()
            .contains("files missing")
    );
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    assert_eq!(invoke(&provider, &svc, "hello").await, r#"{"v":1}"#);
}

#[tokio::test]
async fn remove_deletes_the_stage_and_says_what() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let packaged = package(&svc, f.out.path());
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&svc, &packaged, &plan).await.unwrap();
    let removed = provider.remove(&svc).await.unwrap();
    let names: Vec<_> = removed.iter().map(|r| (r.kind, r.name.clone())).collect();
    let stage_dir = f.state.path().join("svc").join("dev");
    assert_eq!(
        names,
        [
            (ResourceKind::Function, "svc-dev-hello".to_string()),
            (ResourceKind::Function, "svc-dev-world".to_string()),
            (ResourceKind::Storage, stage_dir.display().to_string()),
        ]
    );
    assert!(!stage_dir.exists());
    assert!(provider.info(&svc).await.unwrap().functions.is_empty());
    assert!(provider.remove(&svc).await.unwrap().is_empty());
    let error = provider
        .invoke(
            &svc,
            &InvokeRequest {
                function: "hello".into(),
                payload: "{}".into(),
                with_logs: false,
                asynchronous: false,
            },
        )
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("is not deployed locally"),
        "{error:#}"
    );
}

#[test]
fn check_reports_every_problem_with_its_key() {
    let f = fixture();
    let mut java = function("java", "com.Example::handle", "java17");
    java.events.push(stratus::model::Event::Other {
        kind: "s3".into(),
        config: serde_json::json!({"bucket": "b"}),
    });
    let mut s3 = function("s3", "handler.hello", "python3.12");
    s3.events.push(stratus::model::Event::Other {
        kind: "s3".into(),
        config: serde_json::json!({"bucket": "b"}),
    });
    let services = service(
        f.root.path(),
        "svc",
        vec![
            java,
            function("nofile", "missing.main", "nodejs20.x"),
            function("noform", "handler", "python3.12"),
            s3,
            function("ok", "world.world", "nodejs20.x"),
        ],
    );
    let provider = LocalProvider::with_state_dir(f.state.path());
    let diagnostics = provider.target().check(&services, &Scope::default());
    let found: Vec<_> = diagnostics
        .0
        .iter()
        .map(|d| (d.severity, d.key.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        found,
        [
            (Severity::Error, "functions.java.runtime".to_string()),
            (Severity::Error, "functions.nofile.handler".to_string()),
            (Severity::Error, "functions.noform.handler".to_string()),
            (Severity::Warning, "functions.s3.events.0".to_string()),
        ]
    );
    let text = diagnostics.to_string();
    assert!(
        text.contains("runtime `java17` cannot run locally"),
        "{text}"
    );
    assert!(
        text.contains("missing.js, missing.mjs, missing.cjs"),
        "{text}"
    );
    assert!(diagnostics.0.iter().all(|d| d.help.is_some()));
    let only_ok = Scope {
        functions: Some(vec!["ok".into()]),
    };
    assert!(provider.target().check(&services, &only_ok).0.is_empty());
}

#[tokio::test]
async fn one_broken_package_does_not_stop_the_others() {
    let f = fixture();
    let provider = LocalProvider::with_state_dir(f.state.path());
    let svc = two_functions(&f);
    let mut packaged = package(&svc, f.out.path());
    let corrupt = f.out.path().join("world.zip");
    std::fs::write(&corrupt, b"not a zip at all").unwrap();
    let mut world = packaged.artifacts[0].clone();
    world.name = "world".into();
    world.path = corrupt;
    world.sha256 = "0".repeat(64);
    world.functions = vec!["world".into()];
    packaged.artifacts[0].functions = vec!["hello".into()];
    packaged.artifacts.push(world);
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    let error = provider.apply(&svc, &packaged, &plan).await.unwrap_err();
    let done: Vec<_> = error.done.iter().map(|c| c.name.as_str()).collect();
    let failed: Vec<_> = error.failed.iter().map(|(c, _)| c.name.as_str()).collect();
    assert_eq!((done, failed), (vec!["hello"], vec!["world"]));
    assert_eq!(invoke(&provider, &svc, "hello").await, r#"{"v":1}"#);
    let code: Vec<_> = std::fs::read_dir(f.state.path().join("svc/dev/code"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(code, [packaged.artifacts[0].sha256.clone()]);
    let plan = provider
        .plan(&svc, &packaged, &Scope::default())
        .await
        .unwrap();
    assert_eq!(plan.counts(), (1, 0, 0, 1), "world is still to create");
}
