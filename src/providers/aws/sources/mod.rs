//! Queue and stream triggers: `sqs` and `stream` events become Lambda event source mappings
//! (SQS queues, DynamoDB streams, Kinesis streams), planned per function against the mappings
//! that are live, updated in place (batch size, batching window, enabled, partial batch
//! responses), and given the role permissions Lambda needs to poll them, as Serverless does.
//! The source itself (queue, table, stream) is the user's: it is named by its ARN and never
//! created or deleted. [`spec`] reads and checks the manifest's events.

use anyhow::Context;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionResponseType};

use super::config::Clients;
use super::{describe, found};

mod spec;

use crate::model::Service;
use crate::providers::{Action, Change, FieldChange, ResourceKind};
pub use spec::{SourceKind, SourceSpec, check, desired, role_statements};
use spec::{kind_of, resource_name};

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
    let answer = clients
        .lambda
        .list_event_source_mappings()
        .function_name(deployed)
        .send()
        .await;
    let Some(page) = found(answer)
        .with_context(|| format!("listing the queue and stream triggers of {deployed}"))?
    else {
        return Ok(());
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
    let answer = clients
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await;
    found(answer).with_context(|| format!("deleting the trigger {uuid}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, Function, ProviderKind};
    use serde_json::json;

    fn service(events: Vec<(&str, serde_json::Value)>) -> Service {
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
