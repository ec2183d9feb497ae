//! Cloud Logging entries → log records. A function's output lands under the Cloud Run service
//! that runs it (`resource.type="cloud_run_revision"`, `resource.labels.service_name` = the
//! function id); `--since` becomes a `timestamp>=` clause and `--filter TEXT` a search of
//! `textPayload` or `jsonPayload.message` (the Functions Framework writes structured JSON lines
//! when `LOG_EXECUTION_ID` is on, as it is on gen2 functions; also applied here, so the records
//! shown always contain the text).
//!
//! `invoke --log` finds the call's own entries by its trace: the call carries a generated
//! `X-Cloud-Trace-Context: <32 hex>/<span>;o=1`, Cloud Run puts
//! `trace = "projects/{p}/traces/<32 hex>"` on the entries written while serving it (its request
//! log and what the function printed), and stratus polls for them for a bounded time, since
//! entries arrive late, and in no set order: until the request log of the call is in and no new
//! entry came for [`CALL_LOGS_QUIET`], or the poll times out (at most [`CALL_LOGS_TIMEOUT`]).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use tokio::time::Instant;

use super::client::GcfClient;
use crate::http::{self, PollConfig};
use crate::providers::LogRecord;

/// The longest `invoke --log` waits for the call's entries.
pub const CALL_LOGS_TIMEOUT: Duration = Duration::from_secs(20);

/// How long no new entry of the call must arrive, once its request log is in, to stop reading.
pub const CALL_LOGS_QUIET: Duration = Duration::from_secs(1);

/// The request header that gives a call `trace_id`.
pub const TRACE_HEADER: &str = "x-cloud-trace-context";

/// A new trace id (32 hex digits) and the `X-Cloud-Trace-Context` value carrying it.
pub fn new_trace() -> (String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = fastrand::u64(1..u64::MAX);
    let header = format!("{trace}/{span};o=1");
    (trace, header)
}

/// The Logging filter for the entries of function `id` written while serving trace `trace`
/// (or labelled with the call's execution id, which the Functions Framework puts on what the
/// function printed, when the answer named one).
pub fn call_filter(project: &str, id: &str, trace: &str, execution: Option<&str>) -> String {
    let trace = format!(
        "trace={}",
        quoted(&format!("projects/{project}/traces/{trace}"))
    );
    match execution {
        Some(execution) => format!(
            "{} AND ({trace} OR labels.execution_id={})",
            filter(id, None, None),
            quoted(execution)
        ),
        None => format!("{} AND {trace}", filter(id, None, None)),
    }
}

/// Whether `entry` is Cloud Run's request log (one per served request).
pub fn is_request_log(entry: &Json) -> bool {
    entry.get("httpRequest").is_some()
        || entry
            .get("logName")
            .and_then(Json::as_str)
            .is_some_and(|name| name.ends_with("%2Frequests"))
}

/// The records of function `function` (deployed as `id`) from the call traced as `trace`
/// (execution id `execution`, when known), read until they have settled or the bounded wait
/// is over.
pub async fn call_records(
    client: &GcfClient,
    function: &str,
    id: &str,
    trace: &str,
    execution: Option<&str>,
) -> anyhow::Result<Vec<LogRecord>> {
    let filter = call_filter(&client.project, id, trace, execution);
    let config = PollConfig {
        timeout: client.poll_config().timeout.min(CALL_LOGS_TIMEOUT),
        ..client.poll_config().clone()
    };
    // (entries last read, when their number last changed)
    let seen: Mutex<(Vec<Json>, Option<Instant>)> = Mutex::new((Vec::new(), None));
    let settled = http::poll_until(&config, || async {
        let entries = client.list_entries(&filter).await?;
        let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let changed = match seen.1 {
            Some(since) if seen.0.len() == entries.len() => since,
            _ => now,
        };
        // Settled: the request log is in and nothing new arrived for a while.
        let done = entries.iter().any(is_request_log) && now - changed >= CALL_LOGS_QUIET;
        *seen = (entries, Some(changed));
        anyhow::Ok(done.then_some(()))
    })
    .await?;
    // Settled (`Some`) or timed out (`None`), the call's lines are the ones read last.
    let _: Option<()> = settled;
    let entries = seen
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .0;
    let printed: Vec<Json> = entries.into_iter().filter(|e| !is_request_log(e)).collect();
    Ok(records(function, &printed, None))
}

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

    #[test]
    fn a_call_is_found_by_its_trace() {
        let (trace, header) = new_trace();
        assert_eq!(trace.len(), 32);
        assert!(trace.chars().all(|c| c.is_ascii_hexdigit()), "{trace}");
        let (id, rest) = header.split_once('/').unwrap();
        assert_eq!(id, trace);
        assert!(rest.ends_with(";o=1"), "{header}");
        assert_ne!(new_trace().0, trace);
        let f = call_filter("p", "svc-dev-a", &trace, None);
        assert!(
            f.ends_with(&format!(" AND trace=\"projects/p/traces/{trace}\"")),
            "{f}"
        );
        let f = call_filter("p", "svc-dev-a", &trace, Some("ex1"));
        assert!(
            f.ends_with(&format!(
                " AND (trace=\"projects/p/traces/{trace}\" OR labels.execution_id=\"ex1\")"
            )),
            "{f}"
        );
        assert!(is_request_log(
            &serde_json::json!({"httpRequest": {"status": 200}})
        ));
        assert!(!is_request_log(
            &serde_json::json!({"textPayload": "x", "logName": "projects/p/logs/run.googleapis.com%2Fstdout"})
        ));
    }
}
