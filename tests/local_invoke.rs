//! Local provider: running real python3 / node handlers, errors, timeouts, logs.

mod local_support;

use std::time::{Duration, Instant, SystemTime};

use local_support::*;
use stratus::model::Service;
use stratus::providers::local::LocalProvider;
use stratus::providers::{Invocation, InvokeRequest, LogQuery, Outcome, Provider, Scope};

const PYTHON: &str = r#"
import os, sys, time

def hello(event, context):
    print("hello from python", event.get("name"))
    print("to stderr", file=sys.stderr)
    return {
        "name": event["name"],
        "function": context.function_name,
        "requestId": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "greeting": os.environ.get("GREETING"),
        "timeoutVar": os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT"),
        "stage": os.environ.get("STRATUS_STAGE"),
        "internal": [k for k in os.environ if k.startswith("_STRATUS")],
    }

def fail(event, context):
    raise ValueError("bad name: " + str(event.get("name")))

def slow(event, context):
    import subprocess
    child = subprocess.Popen(["sleep", "30"])
    print("child", child.pid, flush=True)
    print("going to sleep", flush=True)
    time.sleep(30)

def stream(event, context):
    print("first line", flush=True)
    time.sleep(1.5)
    print("second line")
    return "done"

def unserializable(event, context):
    return {"s": {1, 2}}
"#;

const NODE_CJS: &str = r#"
exports.hello = async (event, context) => {
  console.log('hello from node', event.name);
  return {
    name: event.name,
    function: context.functionName,
    requestId: context.awsRequestId,
    remaining: context.getRemainingTimeInMillis(),
    memory: context.memoryLimitInMB,
    greeting: process.env.GREETING,
  };
};
exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { via: 'callback', name: event.name }), 10);
};
exports.fail = async () => {
  throw new TypeError('not a number');
};
exports.quit = async () => {
  console.error('leaving early');
  process.exit(2);
};
"#;

const NODE_ESM: &str =
    "export const handler = async (event) => ({ esm: true, name: event.name });\n";

struct Fixture {
    root: tempfile::TempDir,
    out: tempfile::TempDir,
    state: tempfile::TempDir,
    service: Service,
    provider: LocalProvider,
}

async fn deployed() -> Fixture {
    require_interpreters();
    let root = tempfile::tempdir().unwrap();
    write_files(
        root.path(),
        &[
            ("src/py_handler.py", PYTHON),
            ("node_handler.js", NODE_CJS),
            ("esm.mjs", NODE_ESM),
        ],
    );
    let mut functions = Vec::new();
    for (name, handler, runtime) in [
        ("py", "src/py_handler.hello", "python3.12"),
        ("pyfail", "src/py_handler.fail", "python3.12"),
        ("pyslow", "src/py_handler.slow", "python3.12"),
        ("pybad", "src/py_handler.unserializable", "python3.12"),
        ("pystream", "src/py_handler.stream", "python3.12"),
        ("node", "node_handler.hello", "nodejs20.x"),
        ("nodecb", "node_handler.callback", "nodejs20.x"),
        ("nodefail", "node_handler.fail", "nodejs20.x"),
        ("nodequit", "node_handler.quit", "nodejs20.x"),
        ("nofn", "node_handler.missing", "nodejs20.x"),
        ("esm", "esm.handler", "nodejs22.x"),
    ] {
        let mut f = function(name, handler, runtime);
        f.environment.insert("GREETING".into(), "hi there".into());
        f.memory_size = Some(512);
        if name == "pyslow" {
            f.timeout = Some(2);
        }
        functions.push(f);
    }
    let service = service(root.path(), "inv", functions);
    let out = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let provider = LocalProvider::with_state_dir(state.path());
    let packaged = package(&service, out.path());
    let plan = provider
        .plan(&service, &packaged, &Scope::default())
        .await
        .unwrap();
    provider.apply(&service, &packaged, &plan).await.unwrap();
    Fixture {
        root,
        out,
        state,
        service,
        provider,
    }
}

fn request(function: &str, payload: &str) -> InvokeRequest {
    InvokeRequest {
        function: function.into(),
        payload: payload.into(),
        with_logs: true,
        asynchronous: false,
    }
}

async fn call(f: &Fixture, function: &str) -> Invocation {
    f.provider
        .invoke(&f.service, &request(function, r#"{"name":"x"}"#))
        .await
        .unwrap()
}

fn payload(invocation: &Invocation) -> serde_json::Value {
    assert_eq!(invocation.outcome, Outcome::Success, "{invocation:?}");
    serde_json::from_str(&invocation.payload).unwrap()
}

#[tokio::test]
async fn python_handler_gets_event_context_and_environment() {
    let f = deployed().await;
    let invocation = call(&f, "py").await;
    let result = payload(&invocation);
    assert_eq!(result["name"], "x");
    assert_eq!(result["function"], "inv-dev-py");
    assert_eq!(
        result["requestId"].as_str(),
        invocation.request_id.as_deref()
    );
    let remaining = result["remaining"].as_i64().unwrap();
    assert!(remaining > 1000 && remaining <= 6000, "{remaining}");
    assert_eq!(result["memory"], 512);
    assert_eq!(result["greeting"], "hi there");
    assert_eq!(result["timeoutVar"], "6");
    assert_eq!(result["stage"], "dev");
    assert_eq!(result["internal"], serde_json::json!([]));
    assert!(
        invocation.logs.contains(&"hello from python x".to_string()),
        "{:?}",
        invocation.logs
    );
    assert!(invocation.logs.contains(&"to stderr".to_string()));

    let records = f
        .provider
        .logs(
            &f.service,
            &LogQuery {
                function: "py".into(),
                since: None,
                filter: None,
            },
        )
        .await
        .unwrap();
    let hello = records
        .iter()
        .find(|r| r.message == "hello from python x")
        .expect("the printed line is logged");
    assert_eq!(hello.stream, "stdout");
    assert_eq!(hello.request_id, invocation.request_id);
    assert!(
        records
            .iter()
            .any(|r| r.stream == "stderr" && r.message == "to stderr")
    );
    assert!(
        records
            .first()
            .unwrap()
            .message
            .starts_with("START RequestId: ")
    );
    assert!(
        records
            .last()
            .unwrap()
            .message
            .starts_with("REPORT RequestId: ")
    );
}

#[tokio::test]
async fn node_handlers_commonjs_esm_and_callback() {
    let f = deployed().await;
    let invocation = call(&f, "node").await;
    let result = payload(&invocation);
    assert_eq!(result["name"], "x");
    assert_eq!(result["function"], "inv-dev-node");
    assert_eq!(
        result["requestId"].as_str(),
        invocation.request_id.as_deref()
    );
    assert_eq!(result["memory"], "512");
    assert_eq!(result["greeting"], "hi there");
    assert!(result["remaining"].as_i64().unwrap() > 1000);
    assert_eq!(invocation.logs, ["hello from node x"]);
    assert_eq!(
        payload(&call(&f, "esm").await),
        serde_json::json!({"esm": true, "name": "x"})
    );
    assert_eq!(
        payload(&call(&f, "nodecb").await),
        serde_json::json!({"via": "callback", "name": "x"})
    );
}

#[tokio::test]
async fn errors_carry_type_message_and_stack() {
    let f = deployed().await;
    let invocation = call(&f, "pyfail").await;
    let Outcome::FunctionError {
        kind,
        message,
        stack,
    } = &invocation.outcome
    else {
        panic!("{invocation:?}");
    };
    assert_eq!(kind, "ValueError");
    assert_eq!(message, "bad name: x");
    assert!(
        stack
            .iter()
            .any(|frame| frame.contains("src/py_handler.py") && frame.contains("in fail")),
        "{stack:?}"
    );
    assert!(
        !stack.iter().any(|frame| frame.contains("<string>")),
        "{stack:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&invocation.payload).unwrap();
    assert_eq!(body["errorType"], "ValueError");

    let invocation = call(&f, "nodefail").await;
    let Outcome::FunctionError {
        kind,
        message,
        stack,
    } = &invocation.outcome
    else {
        panic!("{invocation:?}");
    };
    assert_eq!(
        (kind.as_str(), message.as_str()),
        ("TypeError", "not a number")
    );
    assert!(
        stack.iter().any(|frame| frame.contains("node_handler.js")),
        "{stack:?}"
    );

    let invocation = call(&f, "nodequit").await;
    let Outcome::FunctionError { kind, message, .. } = &invocation.outcome else {
        panic!("{invocation:?}");
    };
    assert_eq!(kind, "Runtime.ExitError");
    assert!(message.contains("exited (exit status: 2)"), "{message}");
    assert_eq!(invocation.logs, ["leaving early"]);

    let invocation = call(&f, "nofn").await;
    let Outcome::FunctionError { kind, message, .. } = &invocation.outcome else {
        panic!("{invocation:?}");
    };
    assert_eq!(kind, "ImportModuleError");
    assert!(
        message.contains("does not export a function missing"),
        "{message}"
    );

    let invocation = call(&f, "pybad").await;
    let Outcome::FunctionError { kind, message, .. } = &invocation.outcome else {
        panic!("{invocation:?}");
    };
    assert_eq!(kind, "ResultNotSerializable");
    assert!(message.contains("not JSON-serializable"), "{message}");
}

#[tokio::test]
async fn a_handler_past_its_timeout_is_killed() {
    let f = deployed().await;
    let started = Instant::now();
    let invocation = call(&f, "pyslow").await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let Outcome::FunctionError { kind, message, .. } = &invocation.outcome else {
        panic!("{invocation:?}");
    };
    assert_eq!(kind, "Timeout");
    assert!(message.contains("timed out after 2 s"), "{message}");
    assert_eq!(invocation.logs.len(), 2, "{:?}", invocation.logs);
    assert_eq!(invocation.logs[1], "going to sleep");
    let grandchild: u32 = invocation.logs[0]
        .strip_prefix("child ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !is_alive(grandchild),
        "the handler's own child was killed too"
    );
    let records = f
        .provider
        .logs(
            &f.service,
            &LogQuery {
                function: "pyslow".into(),
                since: None,
                filter: Some("timed out".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].stream, "platform");
}

#[tokio::test]
async fn logs_filter_by_time_and_text() {
    let f = deployed().await;
    call(&f, "py").await;
    // Records have millisecond times: keep the two calls apart.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = f
        .provider
        .invoke(&f.service, &request("py", r#"{"name":"second"}"#))
        .await
        .unwrap();
    let query = |since, filter: Option<&str>| LogQuery {
        function: "py".into(),
        since,
        filter: filter.map(str::to_string),
    };
    let all = f
        .provider
        .logs(&f.service, &query(None, Some("hello from python")))
        .await
        .unwrap();
    let messages: Vec<_> = all.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        ["hello from python x", "hello from python second"]
    );
    let recent = f
        .provider
        .logs(&f.service, &query(Some(between), None))
        .await
        .unwrap();
    assert!(
        recent.iter().all(|r| r.request_id == second.request_id),
        "{recent:?}"
    );
    assert!(
        recent
            .iter()
            .any(|r| r.message == "hello from python second")
    );
    let ids: std::collections::HashSet<_> = recent.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), recent.len(), "ids are unique");
    let again = f
        .provider
        .logs(&f.service, &query(Some(between), None))
        .await
        .unwrap();
    assert_eq!(again, recent, "ids and records are stable");
}

#[tokio::test]
async fn asynchronous_calls_return_at_once_and_still_log() {
    let f = deployed().await;
    let mut request = request("py", r#"{"name":"later"}"#);
    request.asynchronous = true;
    let invocation = f.provider.invoke(&f.service, &request).await.unwrap();
    assert_eq!(invocation.outcome, Outcome::Accepted);
    let request_id = invocation.request_id.unwrap();
    let ended = |records: &[stratus::providers::LogRecord]| {
        records
            .iter()
            .any(|r| r.request_id.as_deref() == Some(&request_id))
    };
    let query = LogQuery {
        function: "py".into(),
        since: None,
        filter: Some("END RequestId".into()),
    };
    let records = f.provider.logs(&f.service, &query).await.unwrap();
    assert!(!ended(&records), "invoke returned before the run ended");
    stratus::providers::local::wait_for_background_runs().await;
    let records = f.provider.logs(&f.service, &query).await.unwrap();
    assert!(
        ended(&records),
        "the run was logged to its end: {records:?}"
    );
    let lines = f
        .provider
        .logs(
            &f.service,
            &LogQuery {
                function: "py".into(),
                since: None,
                filter: Some("hello from python later".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(lines.len(), 1);
}

#[tokio::test]
async fn invoke_local_runs_the_working_tree_without_deploying() {
    let f = deployed().await;
    write_files(
        f.root.path(),
        &[(
            "node_handler.js",
            "exports.hello = async (e) => ({ fromTree: e.name });\n",
        )],
    );
    let fresh_state = tempfile::tempdir().unwrap();
    let provider = LocalProvider::with_state_dir(fresh_state.path());
    let invocation = provider
        .invoke_working_tree(&f.service, &request("node", r#"{"name":"tree"}"#))
        .await
        .unwrap();
    assert_eq!(
        payload(&invocation),
        serde_json::json!({"fromTree": "tree"})
    );
    assert_eq!(
        std::fs::read_dir(fresh_state.path()).unwrap().count(),
        0,
        "invoke local writes no state"
    );
    // The deployed copy is still the old code.
    assert_eq!(payload(&call(&f, "node").await)["name"], "x");
    let _ = (&f.out, &f.state);
}

#[tokio::test]
async fn lines_are_logged_while_the_handler_still_runs() {
    let f = deployed().await;
    let provider = f.provider.clone();
    let service = f.service.clone();
    let running = tokio::spawn(async move {
        provider
            .invoke(&service, &request("pystream", "{}"))
            .await
            .unwrap()
    });
    let query = LogQuery {
        function: "pystream".into(),
        since: None,
        filter: Some("line".into()),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        let records = f.provider.logs(&f.service, &query).await.unwrap();
        if !records.is_empty() {
            break records;
        }
        assert!(Instant::now() < deadline, "the first line was never logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen.len(), 1, "only the first line so far: {seen:?}");
    assert_eq!(seen[0].message, "first line");
    assert!(!running.is_finished());
    let invocation = running.await.unwrap();
    assert_eq!(payload(&invocation), "done");
    let all = f.provider.logs(&f.service, &query).await.unwrap();
    let messages: Vec<_> = all.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["first line", "second line"]);
}

/// Whether `pid` is a live process (zombies waiting for a reaper count as dead).
fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
    !matches!(state, Some("Z") | Some("X"))
}
