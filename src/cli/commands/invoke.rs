//! `stratus invoke` (a deployed function) and `stratus invoke local` (the working tree).

use std::io::{IsTerminal, Read};

use anyhow::Context;

use super::{Session, unknown_function};
use crate::cli::output::Style;
use crate::cli::{ExitWith, InvocationType, InvokeArgs, InvokeCall, InvokeLocal};
use crate::providers::local::LocalProvider;
use crate::providers::{Invocation, InvokeRequest, Outcome};

/// Runs `invoke` or `invoke local`.
pub async fn run(session: &Session, args: InvokeArgs) -> anyhow::Result<()> {
    let (call, local) = match args.local {
        Some(InvokeLocal::Local(call)) => (call, true),
        None => (args.call, false),
    };
    let loaded = session.load()?;
    let service = &loaded.service;
    let function = call.function.clone().unwrap_or_default();
    if !service.functions.contains_key(&function) {
        return Err(unknown_function(service, &function));
    }
    let request = InvokeRequest {
        function,
        payload: read_payload(&call)?,
        with_logs: call.log,
        asynchronous: args.invocation_type == InvocationType::Event,
    };
    let invocation = if local {
        LocalProvider::from_env()?
            .invoke_working_tree(service, &request)
            .await?
    } else {
        session.provider(service)?.invoke(service, &request).await?
    };
    let reported = report(session, &invocation, call.log);
    // An `--type Event` call runs inside this process on the local provider: let it finish
    // (and log) before the process exits. Nothing to wait for otherwise.
    crate::providers::local::wait_for_background_runs().await;
    reported
}

/// The event: `--data`, else `--path`, else standard input when it is not a terminal, else `{}`.
fn read_payload(call: &InvokeCall) -> anyhow::Result<String> {
    let text = if let Some(data) = &call.data {
        data.clone()
    } else if let Some(path) = &call.path {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the event from {}", path.display()))?
    } else if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the event from standard input")?;
        if text.trim().is_empty() {
            "{}".to_string()
        } else {
            text
        }
    } else {
        "{}".to_string()
    };
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&text) {
        return Err(ExitWith {
            code: 2,
            message: format!(
                "the event is not valid JSON ({error})\n  help: pass a JSON document, e.g. --data '{{\"name\": \"you\"}}'"
            ),
        }
        .into());
    }
    Ok(text)
}

fn report(session: &Session, invocation: &Invocation, show_logs: bool) -> anyhow::Result<()> {
    let out = &session.out;
    if show_logs && !out.is_json() {
        for line in &invocation.logs {
            eprintln!("{}", out.paint(Style::Dim, line));
        }
    }
    let payload: serde_json::Value = serde_json::from_str(&invocation.payload)
        .unwrap_or_else(|_| serde_json::Value::String(invocation.payload.clone()));
    let document = serde_json::json!({
        "requestId": invocation.request_id,
        "outcome": invocation.outcome,
        "payload": payload,
        "logs": invocation.logs,
        "durationMs": invocation.duration_ms,
    });
    match &invocation.outcome {
        Outcome::Success => {
            out.result(&document, || pretty(&payload, &invocation.payload));
            Ok(())
        }
        Outcome::Accepted => {
            out.result(&document, || {
                format!(
                    "accepted{}",
                    invocation
                        .request_id
                        .as_deref()
                        .map(|id| format!(" (request {id})"))
                        .unwrap_or_default()
                )
            });
            Ok(())
        }
        Outcome::FunctionError {
            kind,
            message,
            stack,
        } => {
            if out.is_json() {
                out.result(&document, String::new);
            } else {
                eprintln!("{} {kind}: {message}", out.paint(Style::Red, "error:"));
                for frame in stack {
                    eprintln!("  {frame}");
                }
            }
            Err(ExitWith {
                code: 1,
                message: String::new(),
            }
            .into())
        }
    }
}

fn pretty(payload: &serde_json::Value, raw: &str) -> String {
    match payload {
        serde_json::Value::String(_) if serde_json::from_str::<serde_json::Value>(raw).is_err() => {
            raw.to_string()
        }
        value => serde_json::to_string_pretty(value).unwrap_or_else(|_| raw.to_string()),
    }
}
