//! Activation records → provider-neutral log records and invocation outcomes.
//!
//! An activation's `logs` are lines of the form `2024-05-01T10:00:00.123456789Z stdout: text`;
//! each becomes a [`LogRecord`] whose id (`activationId:index`) is stable, so `--tail` shows
//! every line once.

use serde_json::Value as Json;

use crate::providers::{LogRecord, Outcome};

/// Splits one activation log line into (milliseconds since the epoch, stream, message).
pub fn parse_log_line(line: &str) -> Option<(i64, String, String)> {
    let (stamp, rest) = line.split_once(' ')?;
    let when = humantime::parse_rfc3339_weak(stamp).ok()?;
    let millis = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    let (stream, message) = match rest.split_once(": ") {
        Some((stream, message)) if matches!(stream, "stdout" | "stderr") => (stream, message),
        _ => ("stdout", rest.strip_suffix(':').unwrap_or(rest)),
    };
    Some((
        i64::try_from(millis).ok()?,
        stream.to_string(),
        message.to_string(),
    ))
}

/// The log records of `activations` for `function`, oldest first, keeping lines that contain
/// `filter` (when given) and are at or after `since_ms`.
pub fn records(
    function: &str,
    activations: &[Json],
    filter: Option<&str>,
    since_ms: Option<i64>,
) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for activation in activations {
        let id = activation
            .get("activationId")
            .and_then(Json::as_str)
            .unwrap_or("");
        let start = activation.get("start").and_then(Json::as_i64).unwrap_or(0);
        let lines = activation.get("logs").and_then(Json::as_array);
        for (index, line) in lines.into_iter().flatten().enumerate() {
            let Some(line) = line.as_str() else { continue };
            let (timestamp_ms, stream, message) =
                parse_log_line(line).unwrap_or((start, "stdout".to_string(), line.to_string()));
            if since_ms.is_some_and(|since| timestamp_ms < since) {
                continue;
            }
            if filter.is_some_and(|text| !message.contains(text)) {
                continue;
            }
            out.push(LogRecord {
                id: format!("{id}:{index}"),
                timestamp_ms,
                function: function.to_string(),
                request_id: Some(id.to_string()).filter(|id| !id.is_empty()),
                stream,
                message,
            });
        }
    }
    out.sort_by(|a, b| {
        a.timestamp_ms
            .cmp(&b.timestamp_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

/// The outcome of an application error result (`{"error": ...}`).
pub fn function_error(result: &Json) -> Outcome {
    let error = result.get("error").unwrap_or(result);
    match error {
        Json::Object(map) => Outcome::FunctionError {
            kind: map
                .get("errorType")
                .and_then(Json::as_str)
                .unwrap_or("ApplicationError")
                .to_string(),
            message: map
                .get("errorMessage")
                .or_else(|| map.get("message"))
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_else(|| error.to_string()),
            stack: map
                .get("stackTrace")
                .and_then(Json::as_array)
                .map(|frames| {
                    frames
                        .iter()
                        .map(|f| {
                            f.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| f.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        Json::String(message) => Outcome::FunctionError {
            kind: "ApplicationError".into(),
            message: message.clone(),
            stack: Vec::new(),
        },
        other => Outcome::FunctionError {
            kind: "ApplicationError".into(),
            message: other.to_string(),
            stack: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn log_lines_split_into_time_stream_and_message() {
        let (ms, stream, message) =
            parse_log_line("2024-05-01T10:00:00.123456789Z stderr: boom: it broke").unwrap();
        assert_eq!(ms, 1_714_557_600_123);
        assert_eq!(stream, "stderr");
        assert_eq!(message, "boom: it broke");
        assert!(parse_log_line("no timestamp here").is_none());
    }

    #[test]
    fn records_are_filtered_and_sorted_oldest_first() {
        let activations = vec![
            json!({"activationId": "b", "start": 2, "logs": ["2024-05-01T10:00:02Z stdout: second"]}),
            json!({"activationId": "a", "start": 1, "logs": [
                "2024-05-01T10:00:01Z stdout: first",
                "2024-05-01T10:00:01.5Z stderr: noise"
            ]}),
        ];
        let all = records("f", &activations, None, None);
        let messages: Vec<_> = all.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["first", "noise", "second"]);
        assert_eq!(all[0].id, "a:0");
        assert_eq!(all[0].request_id.as_deref(), Some("a"));
        let filtered = records("f", &activations, Some("sec"), None);
        assert_eq!(filtered.len(), 1);
        let recent = records("f", &activations, None, Some(1_714_557_601_400));
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn application_errors_keep_type_message_and_stack() {
        let outcome = function_error(
            &json!({"error": {"errorType": "ValueError", "errorMessage": "bad", "stackTrace": ["a", "b"]}}),
        );
        assert_eq!(
            outcome,
            Outcome::FunctionError {
                kind: "ValueError".into(),
                message: "bad".into(),
                stack: vec!["a".into(), "b".into()]
            }
        );
        let outcome = function_error(&json!({"error": "The action did not return a dictionary."}));
        assert!(
            matches!(outcome, Outcome::FunctionError { message, .. } if message.contains("dictionary"))
        );
    }
}
