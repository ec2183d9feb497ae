//! `plan` and `apply` for the local provider: diff the manifest with the state dir, then
//! install packages and write function states.
//!
//! Apply order per function: extract the package into `code/{sha256}/` (temp dir + rename),
//! then replace `functions/{name}.json` atomically. A failure in between leaves the old state
//! file pointing at the old code, which is only garbage-collected after every state file is
//! written; so the previous version stays invocable and the next deploy converges.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use super::logs::now_ms;
use super::state::{FunctionState, RouteState, StageDir, install_code};
use crate::model::{Event, Service};
use crate::package::Packaged;
use crate::providers::{
    Action, Applied, ApplyError, CONCURRENCY, Change, Endpoint, FieldChange, Plan, ResourceKind,
    Scope,
};

pub use crate::http::redact::is_secret_key as is_sensitive_key;

/// The HTTP routes a function's events declare.
pub fn routes_of(function: &crate::model::Function) -> Vec<RouteState> {
    function
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Http(http) => Some(RouteState {
                method: http.method.to_ascii_uppercase(),
                path: http.path.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The state `name` should have once deployed with `packaged` (deploy time left empty).
pub fn desired_state(
    service: &Service,
    name: &str,
    packaged: &Packaged,
) -> anyhow::Result<FunctionState> {
    let function = service
        .functions
        .get(name)
        .with_context(|| format!("function {name} is not in the manifest"))?;
    let settings = service.effective(function);
    let artifact = packaged.for_function(name).with_context(|| {
        format!("no package was built for function {name}; run `stratus package` and retry")
    })?;
    Ok(FunctionState {
        name: name.to_string(),
        deployed_name: service.deployed_name(name),
        runtime: settings
            .runtime
            .map(|r| r.raw)
            .with_context(|| format!("functions.{name}.runtime: no runtime set"))?,
        handler: function
            .handler
            .clone()
            .with_context(|| format!("functions.{name}.handler: no handler set"))?,
        memory_size: settings.memory_size,
        timeout: settings.timeout,
        description: function.description.clone(),
        environment: function.environment.clone(),
        routes: routes_of(function),
        code_sha256: artifact.sha256.clone(),
        deployed_at: String::new(),
    })
}

/// The fields that differ between what is installed and what is wanted.
pub fn diff(
    live: &FunctionState,
    live_code_present: bool,
    want: &FunctionState,
) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    if live.code_sha256 != want.code_sha256 || !live_code_present {
        let old = if live_code_present {
            live.code_sha256.clone()
        } else {
            format!("{} (files missing)", live.code_sha256)
        };
        fields.push(FieldChange::new("code", Some(old), Some(&want.code_sha256)));
    }
    let mut scalar = |field: &str, old: String, new: String| {
        if old != new {
            fields.push(FieldChange::new(field, Some(old), Some(new)));
        }
    };
    scalar("runtime", live.runtime.clone(), want.runtime.clone());
    scalar("handler", live.handler.clone(), want.handler.clone());
    scalar(
        "memorySize",
        live.memory_size.to_string(),
        want.memory_size.to_string(),
    );
    scalar(
        "timeout",
        live.timeout.to_string(),
        want.timeout.to_string(),
    );
    if live.description != want.description {
        fields.push(FieldChange::new(
            "description",
            live.description.as_ref(),
            want.description.as_ref(),
        ));
    }
    let keys: std::collections::BTreeSet<&String> = live
        .environment
        .keys()
        .chain(want.environment.keys())
        .collect();
    for key in keys {
        let (old, new) = (live.environment.get(key), want.environment.get(key));
        if old != new {
            let change = FieldChange::new(format!("environment.{key}"), old, new);
            fields.push(if is_sensitive_key(key) {
                change.sensitive()
            } else {
                change
            });
        }
    }
    if live.routes != want.routes {
        let render = |routes: &[RouteState]| {
            routes
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
                .join(", ")
        };
        fields.push(FieldChange::new(
            "events.http",
            Some(render(&live.routes)).filter(|s| !s.is_empty()),
            Some(render(&want.routes)).filter(|s| !s.is_empty()),
        ));
    }
    fields
}

/// Diffs `service` (in `scope`) with what is installed in `stage`.
pub fn plan_changes(
    stage: &StageDir,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
) -> anyhow::Result<Plan> {
    for name in [&service.name, &service.stage]
        .into_iter()
        .chain(service.functions.keys())
    {
        if !super::state::is_path_safe(name) {
            anyhow::bail!(
                "`{name}` cannot name a local state directory or file; use letters, digits, `-` and `_`"
            );
        }
    }
    let installed = stage.read_functions()?;
    let mut changes = Vec::new();
    for name in service.functions.keys().filter(|name| scope.includes(name)) {
        let want = desired_state(service, name, packaged)?;
        let deployed_name = service.deployed_name(name);
        let change = match installed.get(name) {
            None => Change::new(ResourceKind::Function, name, deployed_name, Action::Create),
            Some(live) => {
                let present = stage.code_dir(&live.code_sha256).is_dir();
                let fields = diff(live, present, &want);
                let action = if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                Change::new(ResourceKind::Function, name, deployed_name, action).with_fields(fields)
            }
        };
        changes.push(change);
    }
    if scope.deletes_allowed() {
        for (name, live) in &installed {
            if !service.functions.contains_key(name) {
                changes.push(Change::new(
                    ResourceKind::Function,
                    name,
                    &live.deployed_name,
                    Action::Delete,
                ));
            }
        }
    }
    Ok(Plan {
        provider: "local".into(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: None,
        changes,
    })
}

/// Carries out `plan` under the stage lock: installs each distinct package once (up to
/// [`CONCURRENCY`] at a time), then writes the state of every function whose code is in
/// place, then deletes, then garbage-collects. A function whose package fails is reported as
/// failed and keeps its previous state; the others are still applied.
pub fn apply_plan(
    stage: &StageDir,
    service: &Service,
    packaged: &Packaged,
    plan: &Plan,
    port: u16,
) -> Result<Applied, ApplyError> {
    let todo: Vec<Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .cloned()
        .collect();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    if !todo.is_empty() {
        let _lock = match stage.lock("deploy") {
            Ok(lock) => lock,
            Err(error) => {
                return Err(ApplyError {
                    cause: Some(error),
                    done,
                    failed: Vec::new(),
                    pending: todo,
                });
            }
        };
        let mut writes = Vec::new();
        let mut deletes = Vec::new();
        for change in todo {
            match change.action {
                Action::Create | Action::Update => match wanted(service, packaged, &change.name) {
                    Ok((state, zip)) => writes.push((change, state, zip)),
                    Err(error) => failed.push((change, error)),
                },
                Action::Delete => deletes.push(change),
                Action::Unchanged => {}
            }
        }
        let codes: BTreeMap<String, PathBuf> = writes
            .iter()
            .map(|(_, state, zip)| (state.code_sha256.clone(), zip.clone()))
            .collect();
        let installed = install_all(stage, codes);
        for (change, mut state, _) in writes {
            let result = match installed.get(&state.code_sha256) {
                Some(Ok(())) => {
                    state.deployed_at = rfc3339_now();
                    stage.write_function(&state)
                }
                Some(Err(message)) => Err(anyhow::anyhow!("{message}")),
                None => Err(anyhow::anyhow!("the package was not installed")),
            };
            match result {
                Ok(()) => done.push(change),
                Err(error) => failed.push((change, error)),
            }
        }
        for change in deletes {
            match delete_function(stage, &change.name) {
                Ok(()) => done.push(change),
                Err(error) => failed.push((change, error)),
            }
        }
        if let Err(error) = stage.collect_garbage() {
            eprintln!("warning: could not delete unused local code: {error:#}");
        }
    }
    if !failed.is_empty() {
        return Err(ApplyError {
            cause: None,
            done,
            failed,
            pending: Vec::new(),
        });
    }
    let endpoints = match stage.read_functions() {
        Ok(installed) => endpoints(&installed, port),
        Err(_) => Vec::new(),
    };
    Ok(Applied { done, endpoints })
}

/// The state `name` should have, and the zip its code comes from.
fn wanted(
    service: &Service,
    packaged: &Packaged,
    name: &str,
) -> anyhow::Result<(FunctionState, PathBuf)> {
    let state = desired_state(service, name, packaged)?;
    let artifact = packaged
        .for_function(name)
        .with_context(|| format!("no package was built for function {name}"))?;
    Ok((state, artifact.path.clone()))
}

/// Extracts every package into `code/{sha256}/`, [`CONCURRENCY`] at a time; the outcome per
/// sha256 (errors as text, since several functions may share one package).
fn install_all(
    stage: &StageDir,
    codes: BTreeMap<String, PathBuf>,
) -> BTreeMap<String, Result<(), String>> {
    let codes: Vec<(String, PathBuf)> = codes.into_iter().collect();
    let mut results = BTreeMap::new();
    for chunk in codes.chunks(CONCURRENCY) {
        std::thread::scope(|scope| {
            let running: Vec<_> = chunk
                .iter()
                .map(|(sha, zip)| {
                    let dest = stage.code_dir(sha);
                    (sha, scope.spawn(move || install_code(zip, &dest)))
                })
                .collect();
            for (sha, handle) in running {
                let outcome = match handle.join() {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(format!("{error:#}")),
                    Err(_) => Err("extracting the package stopped unexpectedly".to_string()),
                };
                results.insert(sha.clone(), outcome);
            }
        });
    }
    results
}

/// Uninstalls a function: its state file and its logs (its code goes with the next collection).
fn delete_function(stage: &StageDir, name: &str) -> anyhow::Result<()> {
    stage.delete_function(name)?;
    for suffix in ["jsonl", "jsonl.1"] {
        let _ = std::fs::remove_file(stage.logs_dir().join(format!("{name}.{suffix}")));
    }
    Ok(())
}

/// Where the installed functions answer under `stratus serve --port {port}`.
pub fn endpoints(installed: &BTreeMap<String, FunctionState>, port: u16) -> Vec<Endpoint> {
    installed
        .values()
        .flat_map(|function| {
            function.routes.iter().map(move |route| Endpoint {
                function: function.name.clone(),
                method: route.method.clone(),
                url: format!("http://127.0.0.1:{port}{}", route.path),
            })
        })
        .collect()
}

fn rfc3339_now() -> String {
    let millis = u64::try_from(now_ms()).unwrap_or(0);
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_keys_are_sensitive() {
        for key in [
            "API_TOKEN",
            "db_password",
            "SecretThing",
            "AWS_ACCESS_KEY_ID",
            "GITHUB_TOKEN",
            "auth",
        ] {
            assert!(is_sensitive_key(key), "{key}");
        }
        for key in ["TABLE", "STAGE", "LOG_LEVEL"] {
            assert!(!is_sensitive_key(key), "{key}");
        }
    }
}
