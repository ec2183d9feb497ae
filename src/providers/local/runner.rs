//! Runs one invocation of a handler in a fresh `python3` / `node` process.
//!
//! The process gets an embedded bootstrap script (`bootstrap/`, passed with `-c` / `-e`), runs
//! in the code dir, with a clean environment: `PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR`,
//! `USER` (and version managers' settings) from stratus's own, then AWS-like variables (`AWS_LAMBDA_FUNCTION_NAME`...,
//! `STRATUS_STAGE`...), then the function's environment. The event goes on stdin; the result
//! comes back through a file named in an env var, so stdout and stderr are the handler's alone:
//! each line is logged as it arrives. At the timeout the whole process group is killed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::logs::{LogStore, now_ms};
use crate::model::Language;
use crate::providers::{Invocation, Outcome};

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/bootstrap.js");

/// Variables passed from stratus's own environment to every handler: the basics, and the
/// settings of version managers whose shims stand for `python3` / `node` on PATH.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "USER",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "ASDF_DIR",
    "ASDF_DATA_DIR",
    "NVM_DIR",
    "VOLTA_HOME",
];

/// How long to wait for output still in the pipes once the process has ended.
const DRAIN: Duration = Duration::from_secs(1);

/// Everything needed to run one function once.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Manifest name (log file name).
    pub function: String,
    /// `{service}-{stage}-{function}` (the context's function name).
    pub deployed_name: String,
    /// Service name.
    pub service: String,
    /// Stage.
    pub stage: String,
    /// Region, if the manifest names one.
    pub region: Option<String>,
    /// Python or Node.
    pub language: Language,
    /// Runtime id as written, for messages.
    pub runtime: String,
    /// `file.function`.
    pub handler: String,
    /// MB, exposed to the handler.
    pub memory_size: u32,
    /// Seconds; the process is killed after that.
    pub timeout: u32,
    /// The function's environment.
    pub environment: BTreeMap<String, String>,
    /// Where the code is: the working dir of the process.
    pub code_dir: PathBuf,
    /// Where to log; `None` keeps the lines in memory only (`invoke local`).
    pub logs: Option<LogStore>,
    /// Directories with installed dependencies, put on `PYTHONPATH` / `NODE_PATH` (`invoke
    /// local`: the working tree carries none; a deployed package carries its own).
    pub module_paths: Vec<PathBuf>,
}

/// The interpreter for `language`: its program name and how to pass a script.
pub fn interpreter(language: Language) -> Option<(&'static str, &'static str, &'static str)> {
    match language {
        Language::Python => Some(("python3", "-c", PYTHON_BOOTSTRAP)),
        Language::Node => Some(("node", "-e", NODE_BOOTSTRAP)),
        Language::Other => None,
    }
}

/// How to install the interpreter a language needs.
pub fn install_hint(language: Language) -> &'static str {
    match language {
        Language::Python => {
            "install Python 3 (e.g. `apt install python3`, `brew install python`) and put `python3` on PATH"
        }
        Language::Node => {
            "install Node.js (e.g. `apt install nodejs`, `brew install node`) and put `node` on PATH"
        }
        Language::Other => "use a python3.x or nodejs*.x runtime",
    }
}

/// Finds `program` on `PATH`, like `which`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum ResultDocument {
    Ok(serde_json::Value),
    Error(ErrorDocument),
}

#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(rename = "type")]
    kind: String,
    message: String,
    #[serde(default)]
    stack: Vec<String>,
}

/// What a run collects while the process writes.
struct Capture {
    spec: Arc<RunSpec>,
    request_id: String,
    seq: AtomicU64,
    lines: Mutex<Vec<String>>,
}

impl Capture {
    fn record(&self, stream: &str, message: &str) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        if let Some(logs) = &self.spec.logs
            && let Err(error) =
                logs.append(&self.spec.function, &self.request_id, stream, seq, message)
        {
            eprintln!("warning: could not write the log record: {error:#}");
        }
        if stream != "platform" {
            self.lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(message.to_string());
        }
    }
}

/// Runs `spec` once with `payload` (JSON text) as the event; returns the outcome and, when
/// `with_logs`, the lines it wrote.
pub async fn run(spec: RunSpec, payload: &str, with_logs: bool) -> anyhow::Result<Invocation> {
    let request_id = uuid::Uuid::new_v4().to_string();
    run_with_id(Arc::new(spec), request_id, payload.to_string(), with_logs).await
}

/// Runs started with [`spawn`] that may still be going.
static BACKGROUND: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Starts `spec` in the background and returns its request id at once (`--type Event`).
/// The run lives in this process: see [`wait_for_background_runs`].
pub fn spawn(spec: RunSpec, payload: &str) -> String {
    let request_id = uuid::Uuid::new_v4().to_string();
    let id = request_id.clone();
    let payload = payload.to_string();
    let handle = tokio::spawn(async move {
        if let Err(error) = run_with_id(Arc::new(spec), id, payload, false).await {
            eprintln!("warning: asynchronous invocation failed: {error:#}");
        }
    });
    let mut running = BACKGROUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    running.retain(|handle| !handle.is_finished());
    running.push(handle);
    request_id
}

/// Waits until every run started with [`spawn`] has ended (and logged), so a short-lived
/// process (`stratus invoke --type Event`) does not cut them short by exiting.
pub async fn wait_for_background_runs() {
    loop {
        let handles: Vec<_> = std::mem::take(
            &mut *BACKGROUND
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if handles.is_empty() {
            return;
        }
        for handle in handles {
            let _ = handle.await;
        }
    }
}

async fn run_with_id(
    spec: Arc<RunSpec>,
    request_id: String,
    payload: String,
    with_logs: bool,
) -> anyhow::Result<Invocation> {
    let (program, flag, script) = interpreter(spec.language).with_context(|| {
        format!(
            "runtime {} of function {} cannot run locally; {}",
            spec.runtime,
            spec.function,
            install_hint(Language::Other)
        )
    })?;
    let program_path = find_on_path(program).with_context(|| {
        format!(
            "`{program}` is not on PATH (function {} uses {}); {}",
            spec.function,
            spec.runtime,
            install_hint(spec.language)
        )
    })?;
    let result_path = std::env::temp_dir().join(format!(
        "stratus-result-{}.json",
        request_id.replace('-', "")
    ));
    let started = Instant::now();
    let deadline_ms = now_ms() + i64::from(spec.timeout) * 1000;

    let mut command = Command::new(&program_path);
    if spec.language == Language::Python {
        command.arg("-B");
    }
    command.arg(flag).arg(script);
    command
        .current_dir(&spec.code_dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for key in PASSED_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command.envs(platform_env(&spec));
    if !spec.module_paths.is_empty() {
        let variable = match spec.language {
            Language::Node => "NODE_PATH",
            _ => "PYTHONPATH",
        };
        let inherited = std::env::var_os(variable);
        let paths = spec
            .module_paths
            .iter()
            .cloned()
            .chain(inherited.iter().flat_map(std::env::split_paths));
        if let Ok(joined) = std::env::join_paths(paths) {
            command.env(variable, joined);
        }
    }
    command.envs(&spec.environment);
    command
        .env("_STRATUS_HANDLER", &spec.handler)
        .env("_STRATUS_RESULT", &result_path)
        .env("_STRATUS_REQUEST_ID", &request_id)
        .env("_STRATUS_DEADLINE_MS", deadline_ms.to_string());
    #[cfg(unix)]
    command.process_group(0);

    let capture = Arc::new(Capture {
        spec: spec.clone(),
        request_id: request_id.clone(),
        seq: AtomicU64::new(0),
        lines: Mutex::new(Vec::new()),
    });
    capture.record("platform", &format!("START RequestId: {request_id}"));
    let mut child = command.spawn().with_context(|| {
        format!(
            "starting {} for function {} in {}",
            program_path.display(),
            spec.function,
            spec.code_dir.display()
        )
    })?;
    let pid = child.id();
    let stdout = child.stdout.take().map(|s| pump(s, "stdout", &capture));
    let stderr = child.stderr.take().map(|s| pump(s, "stderr", &capture));
    if let Some(mut stdin) = child.stdin.take() {
        // Written beside the wait, so a process that never reads cannot outlive its timeout;
        // one that exits without reading closes the pipe, which is not an error.
        tokio::spawn(async move {
            let _ = stdin.write_all(payload.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }

    let limit = Duration::from_secs(u64::from(spec.timeout));
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Some(status.context("waiting for the handler process")?),
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            None
        }
    };
    for pump in [stdout, stderr].into_iter().flatten() {
        if tokio::time::timeout(DRAIN, pump).await.is_err() {
            // A grandchild in another session still holds the pipe; stop reading it.
        }
    }
    let duration = started.elapsed();
    let document = std::fs::read_to_string(&result_path).ok();
    let _ = std::fs::remove_file(&result_path);

    let (outcome, payload) = match (status, document) {
        (None, _) => {
            let message = format!(
                "function {} timed out after {} s (its timeout); the process was killed",
                spec.function, spec.timeout
            );
            capture.record(
                "platform",
                &format!(
                    "Task timed out after {} seconds (RequestId: {request_id})",
                    spec.timeout
                ),
            );
            error_outcome("Timeout", message, Vec::new())
        }
        (Some(_), Some(text)) => match serde_json::from_str::<ResultDocument>(&text) {
            Ok(ResultDocument::Ok(value)) => (Outcome::Success, value.to_string()),
            Ok(ResultDocument::Error(error)) => {
                capture.record(
                    "platform",
                    &format!("ERROR {}: {}", error.kind, error.message),
                );
                error_outcome(&error.kind, error.message, error.stack)
            }
            Err(error) => error_outcome(
                "Runtime.InvalidResult",
                format!("the bootstrap wrote an unreadable result ({error})"),
                Vec::new(),
            ),
        },
        (Some(status), None) => {
            let message = format!(
                "the {program} process of function {} exited ({status}) before returning a result",
                spec.function
            );
            capture.record("platform", &format!("ERROR {message}"));
            error_outcome("Runtime.ExitError", message, Vec::new())
        }
    };
    capture.record("platform", &format!("END RequestId: {request_id}"));
    capture.record(
        "platform",
        &format!(
            "REPORT RequestId: {request_id} Duration: {} ms Memory Size: {} MB",
            duration.as_millis(),
            spec.memory_size
        ),
    );
    let logs = if with_logs {
        std::mem::take(
            &mut *capture
                .lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    } else {
        Vec::new()
    };
    Ok(Invocation {
        request_id: Some(request_id),
        outcome,
        payload,
        logs,
        duration_ms: Some(duration.as_millis() as u64),
    })
}

/// An error outcome and the AWS-style error payload that goes with it.
fn error_outcome(kind: &str, message: String, stack: Vec<String>) -> (Outcome, String) {
    let payload = serde_json::json!({
        "errorType": kind,
        "errorMessage": message,
        "stackTrace": stack,
    })
    .to_string();
    (
        Outcome::FunctionError {
            kind: kind.to_string(),
            message,
            stack,
        },
        payload,
    )
}

/// The AWS-like variables every handler sees.
fn platform_env(spec: &RunSpec) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", spec.deployed_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", spec.timeout.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.deployed_name),
        ),
        (
            "AWS_EXECUTION_ENV",
            format!("stratus_local_{}", spec.runtime),
        ),
        ("LAMBDA_TASK_ROOT", spec.code_dir.display().to_string()),
        ("_HANDLER", spec.handler.clone()),
        ("STRATUS_PROVIDER", "local".to_string()),
        ("STRATUS_SERVICE", spec.service.clone()),
        ("STRATUS_STAGE", spec.stage.clone()),
        ("STRATUS_FUNCTION", spec.function.clone()),
        ("PYTHONUNBUFFERED", "1".to_string()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_string()),
    ];
    if let Some(region) = &spec.region {
        env.push(("AWS_REGION", region.clone()));
        env.push(("AWS_DEFAULT_REGION", region.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Reads `stream` line by line into the capture.
fn pump(
    stream: impl AsyncRead + Unpin + Send + 'static,
    name: &'static str,
    capture: &Arc<Capture>,
) -> tokio::task::JoinHandle<()> {
    let capture = capture.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer);
                    capture.record(name, line.trim_end_matches(['\n', '\r']));
                }
            }
        }
    })
}

/// Kills the process group led by `pid` (the handler and anything it started).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
        // SAFETY: kill(2) with a negative pid signals the process group we created with
        // process_group(0) for this child; it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}
