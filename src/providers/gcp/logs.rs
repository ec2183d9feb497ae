//! Cloud Logging entries → log records. A function's output lands under the Cloud Run service
//! that runs it (`resource.type="cloud_run_revision"`, `resource.labels.service_name` = the
//! function id); `--since` becomes a `timestamp>=` clause and `--filter TEXT` a search of
//! `textPayload` or `jsonPayload.message` (the Functions Framework writes structured JSON lines
//! when `LOG_EXECUTION_ID` is on, as it is on gen2 functions; also applied here, so the records
//! shown always contain the text).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

use crate::providers::LogRecord;

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Logging filter for function `id`.
pub fn filter(id: &str, since: Option<SystemTime>, text: Option<&str>) -> String {
    let mut clauses = vec![
        "resource.type=\"cloud_run_revision\"".to_string(),
        format!("resource.labels.service_name={}", quoted(id)),
    ];
    if let Some(since) = since {
        clauses.push(format!(
            "timestamp>={}",
            quoted(&humantime::format_rfc3339_millis(since).to_string())
        ));
    }
    if let Some(text) = text {
        let text = quoted(text);
        clauses.push(format!(
            "(textPayload:{text} OR jsonPayload.message:{text})"
        ));
    }
    clauses.join(" AND ")
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn millis(timestamp: &str) -> Option<i64> {
    let time = humantime::parse_rfc3339_weak(timestamp).ok()?;
    i64::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// The records of `entries` for `function`, keeping only those containing `text`.
pub fn records(function: &str, entries: &[Json], text: Option<&str>) -> Vec<LogRecord> {
    entries
        .iter()
        .filter_map(|entry| {
            let message = entry
                .get("textPayload")
                .and_then(Json::as_str)
                .map(str::to_string)
                .or_else(|| {
                    let payload = entry.get("jsonPayload")?;
                    Some(
                        payload
                            .get("message")
                            .and_then(Json::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| payload.to_string()),
                    )
                })?;
            if text.is_some_and(|text| !message.contains(text)) {
                return None;
            }
            let log_name = entry.get("logName").and_then(Json::as_str).unwrap_or("");
            let stream = if log_name.ends_with("stderr") {
                "stderr"
            } else {
                "stdout"
            };
            Some(LogRecord {
                id: entry
                    .get("insertId")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                timestamp_ms: entry
                    .get("timestamp")
                    .and_then(Json::as_str)
                    .and_then(millis)
                    .unwrap_or(0),
                function: function.to_string(),
                request_id: entry
                    .pointer("/labels/execution_id")
                    .and_then(Json::as_str)
                    .map(str::to_string),
                stream: stream.to_string(),
                message: message.trim_end().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_and_entries_map() {
        let f = filter("svc-dev-a", Some(UNIX_EPOCH), Some("say \"hi\""));
        assert!(
            f.contains("resource.labels.service_name=\"svc-dev-a\""),
            "{f}"
        );
        assert!(f.contains("timestamp>=\"1970-01-01T00:00:00.000Z\""), "{f}");
        assert!(
            f.ends_with(
                "(textPayload:\"say \\\"hi\\\"\" OR jsonPayload.message:\"say \\\"hi\\\"\")"
            ),
            "{f}"
        );
        let entries = vec![
            serde_json::json!({"insertId": "1", "timestamp": "2026-01-01T00:00:00.5Z", "textPayload": "hello\n", "logName": "projects/p/logs/run.googleapis.com%2Fstderr"}),
            serde_json::json!({"insertId": "2", "timestamp": "2026-01-01T00:00:01Z", "textPayload": "other"}),
        ];
        let records = records("a", &entries, Some("hello"));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "hello");
        assert_eq!(records[0].stream, "stderr");
        assert_eq!(records[0].timestamp_ms, 1_767_225_600_500);
    }
}
