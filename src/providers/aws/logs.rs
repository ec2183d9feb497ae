//! Logs: reads `/aws/lambda/{name}` with FilterLogEvents (every page, `--since`, `--filter`),
//! turns events into neutral [`LogRecord`]s (request id parsed from the runtime's line
//! formats), and deletes a function's log group on removal.

use std::time::UNIX_EPOCH;

use anyhow::Context;

use super::config::Clients;
use super::found;
use crate::providers::{LogQuery, LogRecord};

/// The log group of a deployed function.
pub fn group_name(deployed: &str) -> String {
    format!("/aws/lambda/{deployed}")
}

/// The request id a Lambda log line carries: `START RequestId: ID ...`, `END`/`REPORT`
/// likewise, or the runtimes' `TIME\tID\tLEVEL\tmessage` format.
pub fn request_id(message: &str) -> Option<String> {
    for marker in ["START RequestId: ", "END RequestId: ", "REPORT RequestId: "] {
        if let Some(rest) = message.strip_prefix(marker) {
            return rest.split_whitespace().next().map(str::to_string);
        }
    }
    let mut parts = message.split('\t');
    let _time = parts.next()?;
    let id = parts.next()?;
    let looks_like_uuid = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    looks_like_uuid.then(|| id.to_string())
}

/// The records of function `deployed` (manifest name `function`) matching `query`, oldest
/// first. A function that never ran has no log group yet: that is an empty answer.
pub async fn read(
    clients: &Clients,
    deployed: &str,
    query: &LogQuery,
) -> anyhow::Result<Vec<LogRecord>> {
    let group = group_name(deployed);
    let since = query
        .since
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64);
    let pattern = query
        .filter
        .as_ref()
        .map(|text| format!("\"{}\"", text.replace('"', "\\\"")));
    let mut pages = clients
        .logs
        .filter_log_events()
        .log_group_name(&group)
        .set_start_time(since)
        .set_filter_pattern(pattern)
        .into_paginator()
        .send();
    let mut records = Vec::new();
    while let Some(page) = pages.next().await {
        let Some(page) = found(page).with_context(|| format!("reading {group}"))? else {
            return Ok(Vec::new());
        };
        for event in page.events() {
            let message = event.message().unwrap_or_default().trim_end().to_string();
            if let Some(filter) = &query.filter
                && !message.contains(filter.as_str())
            {
                continue;
            }
            let timestamp_ms = event.timestamp().unwrap_or_default();
            let stream = event.log_stream_name().unwrap_or_default().to_string();
            let id = event
                .event_id()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{stream}/{timestamp_ms}/{message}"));
            records.push(LogRecord {
                id,
                timestamp_ms,
                function: query.function.clone(),
                request_id: request_id(&message),
                stream,
                message,
            });
        }
    }
    records.sort_by_key(|record| record.timestamp_ms);
    Ok(records)
}

/// Deletes the log group of `deployed` (already gone counts as deleted); answers whether one
/// was deleted.
pub async fn delete_group(clients: &Clients, deployed: &str) -> anyhow::Result<()> {
    remove_group(clients, deployed).await.map(|_| ())
}

/// Deletes the log group of `deployed`; answers whether one existed.
pub async fn remove_group(clients: &Clients, deployed: &str) -> anyhow::Result<bool> {
    let group = group_name(deployed);
    let answer = clients
        .logs
        .delete_log_group()
        .log_group_name(&group)
        .send()
        .await;
    Ok(found(answer)
        .with_context(|| format!("deleting {group}"))?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_come_from_every_line_format() {
        let id = "8f5a2c1e-1234-4d3a-9b7e-0123456789ab";
        assert_eq!(
            request_id(&format!("START RequestId: {id} Version: $LATEST")).as_deref(),
            Some(id)
        );
        assert_eq!(
            request_id(&format!("2026-11-23T10:00:00.000Z\t{id}\tINFO\thello")).as_deref(),
            Some(id)
        );
        assert_eq!(request_id("just a line"), None);
    }
}
