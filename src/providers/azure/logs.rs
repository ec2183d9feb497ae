//! Log records from the Application Insights query API: `traces` and `exceptions` of one
//! function (`operation_Name`), from `--since`, containing `--filter`, oldest first.
//! `POST {endpoint}/v1/apps/{appId}/query` answers `{"tables": [{"columns", "rows"}]}`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use reqwest::Url;
use serde_json::{Value as Json, json};

use super::arm::ArmClient;
use crate::http::{self, Idempotency};
use crate::providers::{LogQuery, LogRecord};

fn kql_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The KQL query for `query`.
pub fn kql(query: &LogQuery) -> String {
    let mut lines = vec!["union traces, exceptions".to_string()];
    if let Some(since) = query.since {
        let stamp = humantime::format_rfc3339_millis(since);
        lines.push(format!("| where timestamp >= datetime({stamp})"));
    }
    lines.push(format!(
        "| where operation_Name =~ {}",
        kql_string(&query.function)
    ));
    lines.push(
        "| extend text = iff(itemType == 'exception', strcat(type, ': ', outerMessage), message)"
            .to_string(),
    );
    if let Some(filter) = &query.filter {
        lines.push(format!("| where text contains {}", kql_string(filter)));
    }
    lines.push("| project timestamp, itemId, operation_Id, itemType, text".to_string());
    lines.push("| order by timestamp asc".to_string());
    lines.join("\n")
}

/// Runs the query against the component whose `AppId` is `app_id`.
pub async fn query(
    arm: &ArmClient,
    endpoint: &Url,
    scope: &str,
    app_id: &str,
    query: &LogQuery,
) -> anyhow::Result<Vec<LogRecord>> {
    let url = endpoint
        .join(&format!("v1/apps/{app_id}/query"))
        .context("building the Application Insights URL")?;
    let token = arm.credential().token(scope).await?;
    let request = arm
        .http()
        .inner()
        .post(url)
        .bearer_auth(&token)
        .json(&json!({ "query": kql(query) }));
    let response = arm.http().send(request, Idempotency::Safe).await?;
    let response = http::error_for_status(response, "POST")
        .await
        .context("querying Application Insights")?;
    let answer: Json = response
        .json()
        .await
        .context("reading the Application Insights answer")?;
    Ok(records(&query.function, &answer, query))
}

/// The records of a query answer (the first table), filtered again here.
pub fn records(function: &str, answer: &Json, query: &LogQuery) -> Vec<LogRecord> {
    let Some(table) = answer.pointer("/tables/0") else {
        return Vec::new();
    };
    let columns: Vec<&str> = table
        .get("columns")
        .and_then(Json::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|c| c.get("name").and_then(Json::as_str))
                .collect()
        })
        .unwrap_or_default();
    let index = |name: &str| columns.iter().position(|c| *c == name);
    let since_ms = query
        .since
        .and_then(|s| s.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64);
    let mut out = Vec::new();
    for row in table
        .get("rows")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let cell = |name: &str| {
            index(name)
                .and_then(|i| row.get(i))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let message = cell("text").or_else(|| cell("message")).unwrap_or_default();
        if query
            .filter
            .as_ref()
            .is_some_and(|f| !message.contains(f.as_str()))
        {
            continue;
        }
        let timestamp_ms = cell("timestamp")
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok())
            .and_then(|t: SystemTime| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        if since_ms.is_some_and(|since| timestamp_ms < since) {
            continue;
        }
        let stream = if cell("itemType").as_deref() == Some("exception") {
            "stderr"
        } else {
            "stdout"
        };
        out.push(LogRecord {
            id: cell("itemId").unwrap_or_else(|| format!("{timestamp_ms}:{message}")),
            timestamp_ms,
            function: function.to_string(),
            request_id: cell("operation_Id"),
            stream: stream.to_string(),
            message,
        });
    }
    out.sort_by_key(|r| r.timestamp_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_function_filter_and_window() {
        let text = kql(&LogQuery {
            function: "hel'lo".into(),
            since: Some(UNIX_EPOCH),
            filter: Some("boom".into()),
        });
        assert!(text.contains("operation_Name =~ 'hel\\'lo'"), "{text}");
        assert!(
            text.contains("datetime(1970-01-01T00:00:00.000Z)"),
            "{text}"
        );
        assert!(text.contains("contains 'boom'"), "{text}");
    }
}
