//! Queue and stream triggers: `sqs` and `stream` events become Lambda event source mappings
//! (SQS queues, DynamoDB streams, Kinesis streams), planned per function against the mappings
//! that are live, updated in place (batch size, batching window, enabled, partial batch
//! responses), and given the role permissions Lambda needs to poll them, as Serverless does.
//! The source itself (queue, table, stream) is the user's: it is named by its ARN and never
//! created or deleted.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionResponseType};
use serde_json::{Value as Json, json};

use super::config::Clients;
use super::describe;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Service};
use crate::providers::{Action, Change, FieldChange, ResourceKind};

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
    fn event(self) -> &'static str {
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
fn resource_name(arn: &str) -> &str {
    let tail = arn.rsplit(':').next().unwrap_or(arn);
    // table/{name}/stream/{label} (DynamoDB), stream/{name} (Kinesis), {name} (SQS).
    match tail.split('/').collect::<Vec<_>>().as_slice() {
        ["table", name, ..] | ["stream", name, ..] => name,
        _ => tail,
    }
}

/// The kind an ARN names, from its service part.
fn kind_of(arn: &str) -> Option<SourceKind> {
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
            return Err(Diagnostic::error(
                format!("{key}.arn"),
                "a CloudFormation reference (Fn::GetAtt, Ref) cannot be resolved: stratus deploys without CloudFormation",
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
            return Err(Diagnostic::error(
                key,
                format!("`{arn}` is not {}", if event == "sqs" { "an SQS queue ARN" } else { "a DynamoDB or Kinesis stream ARN" }),
            )
            .help("sqs takes arn:aws:sqs:...; stream takes arn:aws:dynamodb:...:table/T/stream/... or arn:aws:kinesis:...:stream/S"));
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

/// A live event source mapping of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMapping {
    /// Its id.
    pub uuid: String,
    /// The source ARN.
    pub arn: String,
    /// Batch size.
    pub batch_size: Option<i32>,
    /// Batching window, seconds.
    pub batching_window: Option<i32>,
    /// Whether it polls (`Enabled`, `Enabling`, `Creating`...).
    pub enabled: bool,
    /// Partial batch responses.
    pub report_failures: bool,
}

/// The event source mappings of the function `deployed`.
pub async fn live(clients: &Clients, deployed: &str) -> anyhow::Result<Vec<LiveMapping>> {
    let mut mappings = Vec::new();
    let mut marker = None;
    loop {
        let page = clients
            .lambda
            .list_event_source_mappings()
            .function_name(deployed)
            .set_marker(marker)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("listing the queue and stream triggers of {deployed}"))?;
        for mapping in page.event_source_mappings() {
            let state = mapping.state().unwrap_or_default().to_ascii_lowercase();
            mappings.push(LiveMapping {
                uuid: mapping.uuid().unwrap_or_default().to_string(),
                arn: mapping.event_source_arn().unwrap_or_default().to_string(),
                batch_size: mapping.batch_size(),
                batching_window: mapping.maximum_batching_window_in_seconds(),
                enabled: !matches!(state.as_str(), "disabled" | "disabling"),
                report_failures: mapping
                    .function_response_types()
                    .contains(&FunctionResponseType::ReportBatchItemFailures),
            });
        }
        match page.next_marker() {
            Some(next) => marker = Some(next.to_string()),
            None => return Ok(mappings),
        }
    }
}

/// The field differences between a wanted trigger and its live mapping (only what the API can
/// update in place; a default left unset in the manifest is not a difference).
fn diff(spec: &SourceSpec, live: &LiveMapping) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    if let Some(size) = spec.batch_size
        && live.batch_size != Some(size)
    {
        fields.push(FieldChange::new("batchSize", live.batch_size, Some(size)));
    }
    if let Some(window) = spec.batching_window
        && live.batching_window.unwrap_or(0) != window
    {
        fields.push(FieldChange::new(
            "maximumBatchingWindow",
            live.batching_window,
            Some(window),
        ));
    }
    if spec.enabled != live.enabled {
        fields.push(FieldChange::new(
            "enabled",
            Some(live.enabled),
            Some(spec.enabled),
        ));
    }
    if spec.report_failures != live.report_failures {
        let shown = |on: bool| {
            if on {
                "ReportBatchItemFailures"
            } else {
                "(none)"
            }
        };
        fields.push(FieldChange::new(
            "functionResponseType",
            Some(shown(live.report_failures)),
            Some(shown(spec.report_failures)),
        ));
    }
    fields
}

/// The trigger changes of the manifest function `function` (deployed as `deployed`), given
/// what is live for it.
pub fn plan(
    specs: &[SourceSpec],
    function: &str,
    deployed: &str,
    live: &[LiveMapping],
) -> Vec<Change> {
    let mut changes = Vec::new();
    for spec in specs.iter().filter(|spec| spec.function == function) {
        let change = match live.iter().find(|mapping| mapping.arn == spec.arn) {
            None => Change::new(ResourceKind::Trigger, &spec.name, deployed, Action::Create),
            Some(mapping) => {
                let fields = diff(spec, mapping);
                let action = if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                Change::new(ResourceKind::Trigger, &spec.name, deployed, action).with_fields(fields)
            }
        };
        changes.push(change);
    }
    for mapping in live {
        if !specs
            .iter()
            .any(|spec| spec.function == function && spec.arn == mapping.arn)
        {
            let kind = kind_of(&mapping.arn).unwrap_or(SourceKind::Sqs);
            let name = format!(
                "{function} {} {}",
                kind.event(),
                resource_name(&mapping.arn)
            );
            changes.push(Change::new(
                ResourceKind::Trigger,
                name,
                deployed,
                Action::Delete,
            ));
        }
    }
    changes
}

/// Whether a trigger change is one of this module's.
pub fn is_source_change(change: &Change) -> bool {
    change.kind == ResourceKind::Trigger
        && [" sqs ", " stream "]
            .iter()
            .any(|part| change.name.contains(part))
}

/// Carries out one trigger change from [`plan`].
pub async fn apply(clients: &Clients, service: &Service, change: &Change) -> anyhow::Result<()> {
    let deployed = change.deployed_name.as_str();
    let live = live(clients, deployed).await?;
    let spec = desired(service)
        .into_iter()
        .find(|spec| spec.name == change.name);
    match (change.action, spec) {
        (Action::Create, Some(spec)) => {
            let request = clients
                .lambda
                .create_event_source_mapping()
                .function_name(deployed)
                .event_source_arn(&spec.arn)
                .enabled(spec.enabled)
                .set_batch_size(spec.batch_size)
                .set_maximum_batching_window_in_seconds(spec.batching_window)
                .set_starting_position(
                    spec.starting_position
                        .as_deref()
                        .map(EventSourcePosition::from),
                )
                .set_function_response_types(
                    spec.report_failures
                        .then(|| vec![FunctionResponseType::ReportBatchItemFailures]),
                );
            request
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("creating the trigger {}", change.name))?;
        }
        (Action::Update, Some(spec)) => {
            let mapping = live
                .iter()
                .find(|mapping| mapping.arn == spec.arn)
                .with_context(|| format!("the trigger {} is gone; deploy again", change.name))?;
            clients
                .lambda
                .update_event_source_mapping()
                .uuid(&mapping.uuid)
                .enabled(spec.enabled)
                .set_batch_size(spec.batch_size)
                .set_maximum_batching_window_in_seconds(spec.batching_window)
                .set_function_response_types(Some(if spec.report_failures {
                    vec![FunctionResponseType::ReportBatchItemFailures]
                } else {
                    Vec::new()
                }))
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("updating the trigger {}", change.name))?;
        }
        (Action::Delete, _) => {
            for mapping in live.iter().filter(|mapping| {
                let kind = kind_of(&mapping.arn).unwrap_or(SourceKind::Sqs);
                change.name.ends_with(&format!(
                    " {} {}",
                    kind.event(),
                    resource_name(&mapping.arn)
                ))
            }) {
                delete_mapping(clients, &mapping.uuid).await?;
            }
        }
        (_, None) => anyhow::bail!(
            "the trigger {} is not in the manifest any more; plan again",
            change.name
        ),
        (Action::Unchanged, _) => {}
    }
    Ok(())
}

/// Deletes every queue and stream trigger of `deployed` (before the function goes); a function
/// that is already gone has none.
pub async fn delete_all(clients: &Clients, deployed: &str) -> anyhow::Result<()> {
    let page = match clients
        .lambda
        .list_event_source_mappings()
        .function_name(deployed)
        .send()
        .await
    {
        Ok(page) => page,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(());
        }
        Err(error) => {
            return Err(describe(error))
                .with_context(|| format!("listing the queue and stream triggers of {deployed}"));
        }
    };
    for mapping in page.event_source_mappings() {
        delete_mapping(clients, mapping.uuid().unwrap_or_default()).await?;
    }
    if page.next_marker().is_some() {
        // More than one page of triggers on one function: list again for the rest.
        for mapping in live(clients, deployed).await? {
            delete_mapping(clients, &mapping.uuid).await?;
        }
    }
    Ok(())
}

async fn delete_mapping(clients: &Clients, uuid: &str) -> anyhow::Result<()> {
    match clients
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(describe(error)).with_context(|| format!("deleting the trigger {uuid}")),
    }
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
    }

    #[test]
    fn plans_create_update_and_delete_against_live_mappings() {
        let svc = service(vec![(
            "sqs",
            json!({"arn": "arn:aws:sqs:us-east-1:1:jobs", "batchSize": 5}),
        )]);
        let specs = desired(&svc);
        let live = |arn: &str, batch: i32| LiveMapping {
            uuid: "u".into(),
            arn: arn.into(),
            batch_size: Some(batch),
            batching_window: None,
            enabled: true,
            report_failures: false,
        };
        let created = plan(&specs, "worker", "svc-dev-worker", &[]);
        assert_eq!(created[0].action, Action::Create);
        let same = plan(
            &specs,
            "worker",
            "svc-dev-worker",
            &[live("arn:aws:sqs:us-east-1:1:jobs", 5)],
        );
        assert_eq!(same[0].action, Action::Unchanged);
        let updated = plan(
            &specs,
            "worker",
            "svc-dev-worker",
            &[live("arn:aws:sqs:us-east-1:1:jobs", 10)],
        );
        assert_eq!(updated[0].action, Action::Update);
        assert_eq!(updated[0].fields[0].field, "batchSize");
        let gone = plan(
            &specs,
            "worker",
            "svc-dev-worker",
            &[live("arn:aws:sqs:us-east-1:1:old", 10)],
        );
        let actions: Vec<(String, Action)> =
            gone.iter().map(|c| (c.name.clone(), c.action)).collect();
        assert_eq!(
            actions,
            [
                ("worker sqs jobs".to_string(), Action::Create),
                ("worker sqs old".to_string(), Action::Delete)
            ]
        );
        assert!(gone.iter().all(is_source_change));
    }
}
