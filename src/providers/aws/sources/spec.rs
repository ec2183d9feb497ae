//! What the manifest asks for: `sqs` and `stream` events parsed as Serverless writes them
//! (an ARN, or `{arn, batchSize, maximumBatchingWindow, enabled, startingPosition,
//! functionResponseType}`), checked with every problem naming its key, and the role
//! statements polling them needs.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Service};

/// What polls the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An SQS queue (`sqs`).
    Sqs,
    /// A DynamoDB stream (`stream`, `type: dynamodb` or a `dynamodb` ARN).
    Dynamodb,
    /// A Kinesis stream (`stream`, `type: kinesis` or a `kinesis` ARN).
    Kinesis,
}

impl SourceKind {
    /// The event key it is written with.
    pub(super) fn event(self) -> &'static str {
        match self {
            SourceKind::Sqs => "sqs",
            SourceKind::Dynamodb | SourceKind::Kinesis => "stream",
        }
    }
}

/// One queue or stream trigger the manifest asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// The function's manifest name.
    pub function: String,
    /// The change name: `{function} sqs {queue}` / `{function} stream {table or stream}`.
    pub name: String,
    /// The queue's or stream's ARN.
    pub arn: String,
    /// What it is.
    pub kind: SourceKind,
    /// `batchSize`.
    pub batch_size: Option<i32>,
    /// `maximumBatchingWindow`, seconds.
    pub batching_window: Option<i32>,
    /// `enabled` (default true).
    pub enabled: bool,
    /// Streams: `startingPosition` (default `TRIM_HORIZON`, as Serverless).
    pub starting_position: Option<String>,
    /// `functionResponseType: ReportBatchItemFailures`.
    pub report_failures: bool,
}

/// The readable name of a source ARN: the queue name, the table or stream name.
pub(super) fn resource_name(arn: &str) -> &str {
    let tail = arn.rsplit(':').next().unwrap_or(arn);
    // table/{name}/stream/{label} (DynamoDB), stream/{name} (Kinesis), {name} (SQS).
    match tail.split('/').collect::<Vec<_>>().as_slice() {
        ["table", name, ..] | ["stream", name, ..] => name,
        _ => tail,
    }
}

/// The kind an ARN names, from its service part.
pub(super) fn kind_of(arn: &str) -> Option<SourceKind> {
    match arn.split(':').nth(2)? {
        "sqs" => Some(SourceKind::Sqs),
        "dynamodb" => Some(SourceKind::Dynamodb),
        "kinesis" => Some(SourceKind::Kinesis),
        _ => None,
    }
}

/// Every queue and stream trigger of the manifest; malformed ones (see [`check`]) are skipped.
pub fn desired(service: &Service) -> Vec<SourceSpec> {
    parse_all(service).0
}

/// Problems with `sqs` / `stream` events, each naming its key.
pub fn check(service: &Service) -> Diagnostics {
    parse_all(service).1
}

fn parse_all(service: &Service) -> (Vec<SourceSpec>, Diagnostics) {
    let mut specs: Vec<SourceSpec> = Vec::new();
    let mut problems = Diagnostics::default();
    for (name, function) in &service.functions {
        for (index, event) in function.events.iter().enumerate() {
            let Event::Other { kind, config } = event else {
                continue;
            };
            if kind != "sqs" && kind != "stream" {
                continue;
            }
            let key = format!("functions.{name}.events.{index}.{kind}");
            match parse(name, kind, config, &key) {
                Ok(spec) => {
                    if specs.iter().any(|other| other.name == spec.name) {
                        problems.push(
                            Diagnostic::error(
                                &key,
                                format!("{} is already a trigger of {name}", spec.arn),
                            )
                            .help("list each queue or stream once per function"),
                        );
                    } else {
                        specs.push(spec);
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    (specs, problems)
}

/// One `sqs` / `stream` event.
fn parse(function: &str, event: &str, config: &Json, key: &str) -> Result<SourceSpec, Diagnostic> {
    let empty = serde_json::Map::new();
    let (arn_value, settings) = match config {
        Json::Object(object) => (object.get("arn"), object),
        other => (Some(other), &empty),
    };
    let arn = match arn_value {
        Some(Json::String(arn)) if arn.starts_with("arn:") => arn.clone(),
        Some(Json::Object(_)) => {
            // A reference to a resource of `resources:` (CloudFormation), which stratus does not
            // create: the function deploys without this trigger, and the user is told.
            return Err(Diagnostic::warning(
                format!("{key}.arn"),
                "a CloudFormation reference (Fn::GetAtt, Ref) cannot be resolved without CloudFormation: the function deploys without this trigger",
            )
            .help("write the ARN itself, e.g. from ${param:queueArn} or ${env:QUEUE_ARN}"));
        }
        _ => {
            return Err(Diagnostic::error(key, "expected the queue's or stream's ARN").help(
                "write `sqs: arn:aws:sqs:REGION:ACCOUNT:QUEUE` or `stream: {arn: ..., batchSize: 100}`",
            ));
        }
    };
    let kind = match (event, kind_of(&arn)) {
        ("sqs", Some(SourceKind::Sqs)) => SourceKind::Sqs,
        ("stream", Some(kind @ (SourceKind::Dynamodb | SourceKind::Kinesis))) => kind,
        _ => {
            let wanted = if event == "sqs" {
                "an SQS queue ARN"
            } else {
                "a DynamoDB or Kinesis stream ARN"
            };
            return Err(
                Diagnostic::error(key, format!("`{arn}` is not {wanted}")).help(
                    "sqs takes arn:aws:sqs:...; stream takes \
                     arn:aws:dynamodb:...:table/T/stream/... or arn:aws:kinesis:...:stream/S",
                ),
            );
        }
    };
    let number =
        |field: &str, range: std::ops::RangeInclusive<i64>| -> Result<Option<i32>, Diagnostic> {
            match settings.get(field) {
                None => Ok(None),
                Some(value) => value
                    .as_i64()
                    .filter(|n| range.contains(n))
                    .and_then(|n| i32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| {
                        Diagnostic::error(
                            format!("{key}.{field}"),
                            format!(
                                "expected a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            }
        };
    let batch_size = number("batchSize", 1..=10_000)?;
    let batching_window = number("maximumBatchingWindow", 0..=300)?;
    let enabled = match settings.get("enabled") {
        None => true,
        Some(Json::Bool(flag)) => *flag,
        Some(_) => {
            return Err(Diagnostic::error(
                format!("{key}.enabled"),
                "expected true or false",
            ));
        }
    };
    let starting_position = match (kind, settings.get("startingPosition")) {
        (SourceKind::Sqs, _) => None,
        (_, None) => Some("TRIM_HORIZON".to_string()),
        (_, Some(Json::String(position)))
            if matches!(
                position.to_ascii_uppercase().as_str(),
                "LATEST" | "TRIM_HORIZON"
            ) =>
        {
            Some(position.to_ascii_uppercase())
        }
        (_, Some(_)) => {
            return Err(Diagnostic::error(
                format!("{key}.startingPosition"),
                "expected LATEST or TRIM_HORIZON",
            ));
        }
    };
    let report_failures = match settings.get("functionResponseType") {
        None => false,
        Some(Json::String(kind)) if kind == "ReportBatchItemFailures" => true,
        Some(_) => {
            return Err(Diagnostic::error(
                format!("{key}.functionResponseType"),
                "expected ReportBatchItemFailures",
            ));
        }
    };
    Ok(SourceSpec {
        function: function.to_string(),
        name: format!("{function} {} {}", kind.event(), resource_name(&arn)),
        arn,
        kind,
        batch_size,
        batching_window,
        enabled,
        starting_position,
        report_failures,
    })
}

/// What the execution role needs so Lambda can poll the manifest's queues and streams.
pub fn role_statements(service: &Service) -> Vec<Json> {
    let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for spec in desired(service) {
        let kind = match spec.kind {
            SourceKind::Sqs => "sqs",
            SourceKind::Dynamodb => "dynamodb",
            SourceKind::Kinesis => "kinesis",
        };
        let arns = by_kind.entry(kind).or_default();
        if !arns.contains(&spec.arn) {
            arns.push(spec.arn);
        }
    }
    by_kind
        .into_iter()
        .map(|(kind, arns)| {
            let actions: &[&str] = match kind {
                "sqs" => &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ],
                "dynamodb" => &[
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:DescribeStream",
                    "dynamodb:ListStreams",
                ],
                _ => &[
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:ListStreams",
                ],
            };
            json!({"Effect": "Allow", "Action": actions, "Resource": arns})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Function, ProviderKind};

    fn service(events: Vec<(&str, Json)>) -> Service {
        let mut function = Function::new("worker", Some("w.main"));
        for (kind, config) in events {
            function.events.push(Event::Other {
                kind: kind.into(),
                config,
            });
        }
        Service::new("svc", ProviderKind::Aws, std::path::PathBuf::from("."))
            .with_function(function)
    }

    #[test]
    fn sqs_and_stream_events_parse_as_serverless_writes_them() {
        let svc = service(vec![
            ("sqs", json!("arn:aws:sqs:us-east-1:123456789012:jobs")),
            (
                "stream",
                json!({"arn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024", "batchSize": 100, "startingPosition": "latest"}),
            ),
        ]);
        let specs = desired(&svc);
        assert_eq!(specs.len(), 2, "{}", check(&svc));
        assert_eq!(specs[0].name, "worker sqs jobs");
        assert_eq!(specs[0].kind, SourceKind::Sqs);
        assert_eq!(specs[0].starting_position, None);
        assert_eq!(specs[1].name, "worker stream orders");
        assert_eq!(specs[1].starting_position.as_deref(), Some("LATEST"));
        assert_eq!(specs[1].batch_size, Some(100));
        let statements = role_statements(&svc);
        assert_eq!(statements.len(), 2);
        assert!(
            statements
                .iter()
                .any(|s| s["Resource"][0] == "arn:aws:sqs:us-east-1:123456789012:jobs")
        );
    }

    #[test]
    fn malformed_triggers_are_errors_naming_the_key() {
        let svc = service(vec![
            ("sqs", json!({"arn": {"Fn::GetAtt": ["Q", "Arn"]}})),
            ("sqs", json!("arn:aws:kinesis:us-east-1:1:stream/s")),
            (
                "stream",
                json!({"arn": "arn:aws:kinesis:us-east-1:1:stream/s", "batchSize": 0}),
            ),
        ]);
        let problems = check(&svc);
        let keys: Vec<&str> = problems.0.iter().filter_map(|d| d.key.as_deref()).collect();
        assert_eq!(
            keys,
            [
                "functions.worker.events.0.sqs.arn",
                "functions.worker.events.1.sqs",
                "functions.worker.events.2.stream.batchSize"
            ]
        );
        assert!(desired(&svc).is_empty());
        assert!(
            !problems.0[0].is_error(),
            "a CloudFormation reference only warns"
        );
        assert!(problems.0[1].is_error() && problems.0[2].is_error());
    }
}
