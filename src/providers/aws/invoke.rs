//! `invoke` on AWS: Lambda Invoke (RequestResponse, or Event with `--type Event`), the payload
//! as text, the decoded log tail with `--log`, and a function error turned into its type,
//! message and stack.

use anyhow::Context;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;

use super::config::Clients;
use super::describe;
use crate::providers::{Invocation, InvokeRequest, Outcome};

/// Calls `deployed` with `request`.
pub async fn invoke(
    clients: &Clients,
    deployed: &str,
    request: &InvokeRequest,
) -> anyhow::Result<Invocation> {
    let mut call = clients
        .lambda
        .invoke()
        .function_name(deployed)
        .payload(Blob::new(request.payload.as_bytes().to_vec()));
    if request.asynchronous {
        call = call.invocation_type(InvocationType::Event);
    } else {
        call = call.invocation_type(InvocationType::RequestResponse);
        if request.with_logs {
            call = call.log_type(LogType::Tail);
        }
    }
    let output = call.send().await.map_err(describe).with_context(|| {
        format!(
            "invoking {deployed} (is it deployed? `stratus deploy` creates it, `stratus info` \
             lists what is)"
        )
    })?;
    let payload = output
        .payload()
        .map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned())
        .unwrap_or_default();
    let logs = output
        .log_result()
        .map(decode_log_tail)
        .transpose()?
        .unwrap_or_default();
    let outcome = if let Some(kind) = output.function_error() {
        function_error(kind, &payload)
    } else if request.asynchronous {
        Outcome::Accepted
    } else {
        Outcome::Success
    };
    Ok(Invocation {
        request_id: output.request_id().map(str::to_string),
        outcome,
        payload,
        logs,
        duration_ms: None,
    })
}

/// The `LogResult` header: base64 of the last 4 KB of the call's log.
pub fn decode_log_tail(encoded: &str) -> anyhow::Result<Vec<String>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("Lambda's LogResult is not base64")?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect())
}

/// A function error from Lambda's `{errorType, errorMessage, stackTrace}` payload.
pub fn function_error(header: &str, payload: &str) -> Outcome {
    let body: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let stack = match body.get("stackTrace") {
        Some(serde_json::Value::Array(frames)) => frames
            .iter()
            .map(|frame| match frame {
                serde_json::Value::String(line) => line.trim_end().to_string(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Outcome::FunctionError {
        kind: text("errorType").unwrap_or_else(|| header.to_string()),
        message: text("errorMessage").unwrap_or_else(|| payload.to_string()),
        stack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_keep_type_message_and_stack() {
        let payload = r#"{"errorType":"ValueError","errorMessage":"bad input","stackTrace":["  File \"h.py\", line 3\n"]}"#;
        assert_eq!(
            function_error("Unhandled", payload),
            Outcome::FunctionError {
                kind: "ValueError".into(),
                message: "bad input".into(),
                stack: vec!["  File \"h.py\", line 3".into()],
            }
        );
        let Outcome::FunctionError { kind, .. } = function_error("Unhandled", "not json") else {
            panic!("expected a function error");
        };
        assert_eq!(kind, "Unhandled");
    }

    #[test]
    fn log_tail_is_decoded() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("START x\nhello\n");
        assert_eq!(decode_log_tail(&encoded).unwrap(), vec!["START x", "hello"]);
    }
}
