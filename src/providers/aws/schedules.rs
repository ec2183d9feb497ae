//! Schedules and event rules: one EventBridge rule (on the default bus) per `schedule` event
//! (`{service}-{stage}-{function}-schedule-{n}`) and per `eventBridge` event with a `pattern`
//! (`{service}-{stage}-{function}-rule-{n}`), the function as its target, and the permission
//! that lets EventBridge invoke it. Read back from what is live, so a re-run converges.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_eventbridge::types::{RuleState, Target};

use super::config::Clients;
use super::describe;
use super::events::{allow_invoke, arn_function_name};
use super::functions::{TAG_SERVICE, TAG_STAGE};
use crate::model::{Event, Service};
use crate::providers::{Action, Change, FieldChange, ResourceKind};

/// One schedule or event rule the manifest asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// `{service}-{stage}-{function}-schedule-{n}` / `...-rule-{n}`.
    pub rule: String,
    /// The function's manifest name.
    pub function: String,
    /// `rate(...)` / `cron(...)`; empty for an event rule.
    pub expression: String,
    /// The event pattern of an `eventBridge` event.
    pub pattern: Option<serde_json::Value>,
    /// `enabled`.
    pub enabled: bool,
    /// The payload sent, as JSON text.
    pub input: Option<String>,
}

/// Every schedule of the manifest.
pub fn schedules(service: &Service) -> Vec<ScheduleSpec> {
    let mut schedules = Vec::new();
    for (name, function) in &service.functions {
        let mut index = 0;
        for event in &function.events {
            if let Event::Schedule(schedule) = event {
                index += 1;
                schedules.push(ScheduleSpec {
                    rule: format!("{}-schedule-{index}", service.deployed_name(name)),
                    function: name.clone(),
                    expression: schedule.expression.clone(),
                    pattern: None,
                    enabled: schedule.enabled,
                    input: schedule.input.as_ref().map(|input| input.to_string()),
                });
            }
        }
        let mut rules = 0;
        for event in &function.events {
            let Event::Other { kind, config } = event else {
                continue;
            };
            if kind != "eventBridge" {
                continue;
            }
            rules += 1;
            // Malformed ones and custom buses are reported by `check_event_rules`.
            let Some(pattern) = config.get("pattern").filter(|p| p.is_object()) else {
                continue;
            };
            if !on_default_bus(config) {
                continue;
            }
            schedules.push(ScheduleSpec {
                rule: format!("{}-rule-{rules}", service.deployed_name(name)),
                function: name.clone(),
                expression: String::new(),
                pattern: Some(pattern.clone()),
                enabled: config
                    .get("enabled")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(true),
                input: config.get("input").map(|input| input.to_string()),
            });
        }
    }
    schedules
}

/// Whether an `eventBridge` event listens on the default bus (no `eventBus`, or `default`).
fn on_default_bus(config: &serde_json::Value) -> bool {
    match config.get("eventBus") {
        None => true,
        Some(serde_json::Value::String(bus)) => {
            bus == "default" || bus.ends_with(":event-bus/default")
        }
        Some(_) => false,
    }
}

/// Problems with `eventBridge` events: a missing or malformed `pattern` is an error; a custom
/// `eventBus` (which stratus does not create or subscribe) a warning, the rule left out.
pub fn check_event_rules(service: &Service) -> crate::diagnostic::Diagnostics {
    use crate::diagnostic::Diagnostic;
    let mut diagnostics = crate::diagnostic::Diagnostics::default();
    for (name, function) in &service.functions {
        for (index, event) in function.events.iter().enumerate() {
            let Event::Other { kind, config } = event else {
                continue;
            };
            if kind != "eventBridge" {
                continue;
            }
            let key = format!("functions.{name}.events.{index}.eventBridge");
            if !config
                .get("pattern")
                .is_some_and(serde_json::Value::is_object)
            {
                let help = if config.get("schedule").is_some() {
                    "write the schedule as its own `schedule:` event"
                } else {
                    "write e.g. `pattern: {source: [my.app], detail-type: [OrderPlaced]}`"
                };
                diagnostics.push(
                    Diagnostic::error(
                        &key,
                        "expected a `pattern` mapping (an EventBridge event pattern)",
                    )
                    .help(help),
                );
            } else if !on_default_bus(config) {
                diagnostics.push(
                    Diagnostic::warning(
                        format!("{key}.eventBus"),
                        "rules on a custom event bus are not wired by stratus yet; this trigger is left out",
                    )
                    .help("use the default bus (leave eventBus out), or wire the rule by hand"),
                );
            }
        }
    }
    diagnostics
}

/// A live rule: (schedule expression, enabled, target input, event pattern as JSON text).
pub type LiveRule = (Option<String>, bool, Option<String>, Option<String>);

/// The live schedule rules of this service and stage, by name.
pub async fn live_rules(
    clients: &Clients,
    service: &Service,
) -> anyhow::Result<BTreeMap<String, LiveRule>> {
    let prefix = format!("{}-{}-", service.name, service.stage);
    let mut rules = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .events
            .list_rules()
            .name_prefix(&prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(describe)
            .context("listing EventBridge rules")?;
        for rule in page.rules() {
            let Some(name) = rule.name() else { continue };
            if !name.contains("-schedule-") && !name.contains("-rule-") {
                continue;
            }
            let targets = clients
                .events
                .list_targets_by_rule()
                .rule(name)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("reading the targets of rule {name}"))?;
            let input = targets
                .targets()
                .first()
                .and_then(|t| t.input())
                .map(str::to_string);
            rules.insert(
                name.to_string(),
                (
                    rule.schedule_expression().map(str::to_string),
                    rule.state() == Some(&RuleState::Enabled),
                    input,
                    rule.event_pattern().map(str::to_string),
                ),
            );
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(rules),
        }
    }
}

/// The schedule changes: create, update (expression, state, input), unchanged, delete.
pub fn plan_schedules(
    service: &Service,
    desired: &[ScheduleSpec],
    live: &BTreeMap<String, LiveRule>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for spec in desired {
        let name = match &spec.pattern {
            None => format!("{} {}", spec.function, spec.expression),
            Some(_) => format!(
                "{} eventBridge {}",
                spec.function,
                spec.rule.rsplit('-').next().unwrap_or("1")
            ),
        };
        let change = match live.get(&spec.rule) {
            None => Change::new(ResourceKind::Trigger, name, &spec.rule, Action::Create),
            Some((expression, enabled, input, pattern)) => {
                let mut fields = Vec::new();
                if let Some(wanted) = &spec.pattern {
                    let live_pattern = pattern
                        .as_deref()
                        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
                    if live_pattern.as_ref() != Some(wanted) {
                        fields.push(FieldChange::new(
                            "pattern",
                            pattern.as_deref(),
                            Some(wanted.to_string()),
                        ));
                    }
                } else if expression.as_deref() != Some(spec.expression.as_str()) {
                    fields.push(FieldChange::new(
                        "schedule",
                        expression.as_deref(),
                        Some(&spec.expression),
                    ));
                }
                if *enabled != spec.enabled {
                    fields.push(FieldChange::new(
                        "enabled",
                        Some(enabled),
                        Some(spec.enabled),
                    ));
                }
                let same_input = match (input, &spec.input) {
                    (Some(a), Some(b)) => {
                        serde_json::from_str::<serde_json::Value>(a).ok()
                            == serde_json::from_str::<serde_json::Value>(b).ok()
                    }
                    (a, b) => a == b,
                };
                if !same_input {
                    fields.push(FieldChange::new(
                        "input",
                        input.as_deref(),
                        spec.input.as_deref(),
                    ));
                }
                let action = if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                Change::new(ResourceKind::Trigger, name, &spec.rule, action).with_fields(fields)
            }
        };
        changes.push(change);
    }
    let prefix = format!("{}-{}-", service.name, service.stage);
    for rule in live.keys() {
        if !desired.iter().any(|spec| &spec.rule == rule) {
            let name = rule.strip_prefix(&prefix).unwrap_or(rule);
            changes.push(Change::new(
                ResourceKind::Trigger,
                name,
                rule,
                Action::Delete,
            ));
        }
    }
    changes
}

/// Creates or updates a schedule rule and its target.
pub async fn put_schedule(
    clients: &Clients,
    service: &Service,
    spec: &ScheduleSpec,
    function_arn: &str,
) -> anyhow::Result<()> {
    let tag = |key: &str, value: &str| {
        aws_sdk_eventbridge::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .context("building an EventBridge tag")
    };
    let rule = clients
        .events
        .put_rule()
        .name(&spec.rule)
        .set_schedule_expression(spec.pattern.is_none().then(|| spec.expression.clone()))
        .set_event_pattern(spec.pattern.as_ref().map(|pattern| pattern.to_string()))
        .state(if spec.enabled {
            RuleState::Enabled
        } else {
            RuleState::Disabled
        })
        .tags(tag(TAG_SERVICE, &service.name)?)
        .tags(tag(TAG_STAGE, &service.stage)?)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("writing rule {}", spec.rule))?;
    let target = Target::builder()
        .id("stratus")
        .arn(function_arn)
        .set_input(spec.input.clone())
        .build()
        .context("building an EventBridge target")?;
    clients
        .events
        .put_targets()
        .rule(&spec.rule)
        .targets(target)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("pointing rule {} at its function", spec.rule))?;
    allow_invoke(
        clients,
        arn_function_name(function_arn),
        &format!("stratus-{}", spec.rule),
        "events.amazonaws.com",
        rule.rule_arn(),
        false,
    )
    .await
}

/// Deletes a schedule rule and its targets.
pub async fn delete_schedule(clients: &Clients, rule: &str) -> anyhow::Result<()> {
    let targets = clients
        .events
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("reading the targets of rule {rule}"))?;
    let ids: Vec<String> = targets
        .targets()
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    if !ids.is_empty() {
        clients
            .events
            .remove_targets()
            .rule(rule)
            .set_ids(Some(ids))
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("removing the targets of rule {rule}"))?;
    }
    clients
        .events
        .delete_rule()
        .name(rule)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("deleting rule {rule}"))?;
    Ok(())
}
