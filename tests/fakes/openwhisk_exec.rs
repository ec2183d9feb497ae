//! Runs an action of the fake OpenWhisk controller the way the action proxies do: the zip is
//! unpacked into the action's directory, init parameters become environment variables (with
//! `__OW_ACTION_NAME`, `__OW_ACTIVATION_ID`, `__OW_DEADLINE`), the time limit is enforced and
//! stdout and stderr become timestamped log lines.
//!
//! Code is loaded as the real runtimes load a zip action, so what a deployed package needs
//! (its vendored dependencies above all) is what it needs here:
//! - Python (the ActionLoop `python:3.x` images): `__main__.py` is renamed `main__.py` and a
//!   launcher `exec__.py` written beside it runs from the action's directory, so that directory
//!   is `sys.path[0]` (packages vendored at the zip root import, ahead of the interpreter's own
//!   site-packages); a `virtualenv/` directory is activated with its `bin/activate_this.py`;
//!   `from main__ import <main>`; an exception from `main` is the result `{"error": str(e)}`.
//! - Node.js (`nodejs:N`): the zip must hold `package.json` or `index.js` at its root; the
//!   process changes into the directory and `require`s the directory itself (so `package.json`'s
//!   `main`, else `index.js`), and `node_modules/` resolves from there; `undefined` is `{}`.

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The Python launcher, written to `exec__.py` in the action's directory and run from there.
const PYTHON_LAUNCHER: &str = r#"
import json, os, sys, traceback
venv = os.path.abspath("./virtualenv")
if os.path.isdir(venv):
    activate = os.path.join(venv, "bin", "activate_this.py")
    if not os.path.exists(activate):
        sys.stderr.write("Invalid virtualenv. Zip file does not include /virtualenv/bin/activate_this.py\n")
        sys.exit(1)
    with open(activate) as f:
        exec(compile(f.read(), activate, "exec"), dict(__file__=activate))
main = getattr(__import__("main__"), sys.argv[1])
params = json.loads(sys.stdin.read())
try:
    result = main(params)
except Exception as error:
    traceback.print_exc()
    result = {"error": str(error)}
with open(sys.argv[2], "w") as out:
    json.dump(result, out)
"#;

/// The Node.js launcher: `require`s the action's directory, as the runtime's `runner.js` does.
const NODE_HARNESS: &str = r#"
const fs = require('fs'); const path = require('path');
const here = process.argv[1];
if (!fs.existsSync(path.join(here, 'package.json')) && !fs.existsSync(path.join(here, 'index.js'))) {
  console.error('Zipped actions must contain either package.json or index.js at the root.');
  process.exit(1);
}
process.chdir(here);
const main = require(here)[process.argv[2]];
if (typeof main !== 'function') { console.error("Action entrypoint '" + process.argv[2] + "' is not a function."); process.exit(1); }
const params = JSON.parse(fs.readFileSync(0, 'utf8'));
Promise.resolve(main(params)).then(
  (r) => fs.writeFileSync(process.argv[3], JSON.stringify(r === undefined ? {} : r)),
  (e) => { console.error(String(e && e.stack || e)); process.exit(1); });
"#;

/// How a run ended, in the activation record's terms.
pub struct RunResult {
    /// `success`, `application error`, `action developer error`.
    pub status: &'static str,
    /// The result object.
    pub result: Json,
    /// `2024-...Z stdout: line`.
    pub logs: Vec<String>,
}

/// Runs the code action `action` (its stored record) with `params`.
pub async fn run_action(
    action: &Json,
    params: Json,
    fq_name: &str,
    activation_id: &str,
) -> RunResult {
    match run(action, params, fq_name, activation_id).await {
        Ok(result) => result,
        Err(error) => RunResult {
            status: "action developer error",
            result: json!({"error": format!("The action failed to run: {error}")}),
            logs: Vec::new(),
        },
    }
}

async fn run(
    action: &Json,
    mut params: Json,
    fq_name: &str,
    activation_id: &str,
) -> Result<RunResult, String> {
    let kind = action
        .pointer("/exec/kind")
        .and_then(Json::as_str)
        .unwrap_or("");
    let main = action
        .pointer("/exec/main")
        .and_then(Json::as_str)
        .unwrap_or("main")
        .to_string();
    let code = action
        .pointer("/exec/code")
        .and_then(Json::as_str)
        .unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(code)
        .map_err(|e| format!("code is not base64: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip: {e}"))?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        let Some(relative) = entry.enclosed_name() else {
            continue;
        };
        let target = dir.path().join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut contents = Vec::new();
        entry
            .read_to_end(&mut contents)
            .map_err(|e| e.to_string())?;
        std::fs::write(&target, contents).map_err(|e| e.to_string())?;
    }
    let timeout_ms = action
        .pointer("/limits/timeout")
        .and_then(Json::as_u64)
        .unwrap_or(60_000);
    let mut env: Vec<(String, String)> = Vec::new();
    for parameter in action
        .get("parameters")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let key = parameter
            .get("key")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let value = parameter.get("value").cloned().unwrap_or(Json::Null);
        if parameter.get("init").and_then(Json::as_bool) == Some(true) {
            env.push((
                key,
                value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            ));
        } else if let Some(map) = params.as_object_mut() {
            map.entry(key).or_insert(value);
        }
    }
    // Outside the action's directory, so the action's own files are exactly the zip's.
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result_file = scratch.path().join("result.json");
    let mut command = if kind.starts_with("python") {
        let here = dir.path();
        if here.join("__main__.py").is_file() {
            std::fs::rename(here.join("__main__.py"), here.join("main__.py"))
                .map_err(|e| e.to_string())?;
        }
        std::fs::write(here.join("exec__.py"), PYTHON_LAUNCHER).map_err(|e| e.to_string())?;
        let mut command = tokio::process::Command::new("python3");
        command
            .arg("exec__.py")
            .arg(&main)
            .arg(&result_file)
            .current_dir(here);
        command
    } else if kind.starts_with("nodejs") {
        let mut command = tokio::process::Command::new("node");
        command
            .arg("-e")
            .arg(NODE_HARNESS)
            .arg(dir.path())
            .arg(&main)
            .arg(&result_file);
        command
    } else {
        return Err(format!("kind {kind} cannot run here"));
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + u128::from(timeout_ms);
    command
        .envs(env)
        .env("__OW_ACTION_NAME", fq_name)
        .env("__OW_ACTIVATION_ID", activation_id)
        .env("__OW_DEADLINE", deadline.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the {kind} runtime: {e}"))?;
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(collect(
            BufReader::new(stdout),
            "stdout",
            logs.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(collect(
            BufReader::new(stderr),
            "stderr",
            logs.clone(),
        )));
    }
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(params.to_string().as_bytes()).await;
    }
    let waited = tokio::time::timeout(Duration::from_millis(timeout_ms), child.wait()).await;
    let timed_out = waited.is_err();
    if timed_out {
        let _ = child.kill().await;
    }
    for reader in readers {
        let _ = reader.await;
    }
    let logs = logs.lock().unwrap().clone();
    if timed_out {
        return Ok(RunResult {
            status: "action developer error",
            result: json!({"error": format!("The action exceeded its time limits of {timeout_ms} milliseconds.")}),
            logs,
        });
    }
    let Ok(text) = std::fs::read_to_string(&result_file) else {
        return Ok(RunResult {
            status: "action developer error",
            result: json!({"error": "The action did not produce a valid response and exited unexpectedly."}),
            logs,
        });
    };
    let result: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
    if !result.is_object() {
        return Ok(RunResult {
            status: "action developer error",
            result: json!({"error": "The action did not return a dictionary."}),
            logs,
        });
    }
    let status = if result.get("error").is_some() {
        "application error"
    } else {
        "success"
    };
    Ok(RunResult {
        status,
        result,
        logs,
    })
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    stream: &'static str,
    into: Arc<Mutex<Vec<String>>>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let stamp = humantime::format_rfc3339_nanos(SystemTime::now());
        into.lock()
            .unwrap()
            .push(format!("{stamp} {stream}: {line}"));
    }
}
