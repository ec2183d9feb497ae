//! `stratus logs`: print a function's log records, or follow them with `--tail`.
//!
//! Following is the same for every provider: ask again with `since` set a little before the
//! newest record shown, and drop records whose id was already printed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Session, unknown_function};
use crate::cli::output::Style;
use crate::cli::{ExitWith, LogsArgs};
use crate::providers::{LogQuery, LogRecord};

/// How far back a `--tail` poll looks before the newest record seen, for late arrivals.
const TAIL_OVERLAP: Duration = Duration::from_secs(5);

/// Prints records, and with `--tail` keeps polling until Ctrl-C.
pub async fn run(session: &Session, args: &LogsArgs) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let service = &loaded.service;
    if !service.functions.contains_key(&args.function) {
        return Err(unknown_function(service, &args.function));
    }
    let provider = session.provider(service)?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let mut query = LogQuery {
        function: args.function.clone(),
        since,
        filter: args.filter.clone(),
    };
    let mut seen = HashSet::new();
    let records = provider.logs(service, &query).await?;
    if !args.tail {
        session.out.result(&records, || {
            records
                .iter()
                .map(|r| line(session, r))
                .collect::<Vec<_>>()
                .join("\n")
        });
        return Ok(());
    }
    let mut newest = print_new(session, &records, &mut seen);
    let interval = Duration::from_millis(args.interval.max(50));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        if let Some(newest) = newest {
            let from = UNIX_EPOCH + Duration::from_millis(newest.max(0) as u64);
            query.since = Some(from.checked_sub(TAIL_OVERLAP).unwrap_or(from));
        }
        let records = provider.logs(service, &query).await?;
        newest = print_new(session, &records, &mut seen).max(newest);
    }
}

/// Prints records not seen yet (one JSON object a line with `--json`); returns the newest time.
fn print_new(session: &Session, records: &[LogRecord], seen: &mut HashSet<String>) -> Option<i64> {
    let mut newest = None;
    for record in records {
        newest = newest.max(Some(record.timestamp_ms));
        if !seen.insert(record.id.clone()) {
            continue;
        }
        if session.out.is_json() {
            println!("{}", serde_json::to_string(record).unwrap_or_default());
        } else {
            println!("{}", line(session, record));
        }
    }
    newest
}

fn line(session: &Session, record: &LogRecord) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(record.timestamp_ms.max(0) as u64);
    let stamp = humantime::format_rfc3339_millis(time).to_string();
    let request = record
        .request_id
        .as_deref()
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    format!(
        "{}{} {}",
        session.out.paint(Style::Dim, &stamp),
        session.out.paint(Style::Dim, &request),
        record.message
    )
}

/// `10m`, `2h`, `1d`, `30s` ago, or an RFC 3339 time.
pub fn parse_since(raw: &str) -> anyhow::Result<SystemTime> {
    if let Ok(duration) = humantime::parse_duration(raw) {
        return Ok(SystemTime::now()
            .checked_sub(duration)
            .unwrap_or(UNIX_EPOCH));
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(raw) {
        return Ok(time);
    }
    Err(ExitWith {
        code: 2,
        message: format!(
            "--since `{raw}` is neither a duration (10m, 2h, 1d) nor a time (2026-11-23T10:00:00Z)"
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let ten_minutes_ago = parse_since("10m").unwrap();
        let age = SystemTime::now().duration_since(ten_minutes_ago).unwrap();
        assert!(age >= Duration::from_secs(600) && age < Duration::from_secs(610));
        assert_eq!(
            parse_since("2026-11-23T10:00:00Z").unwrap(),
            humantime::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
        );
        assert!(parse_since("yesterday-ish").is_err());
    }
}
