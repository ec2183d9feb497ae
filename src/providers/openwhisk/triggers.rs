//! The desired triggers, rules and packages of a service: `schedule` events become a trigger
//! fed by the alarm feed (`/whisk.system/alarms/alarm`, cron syntax) and a rule; `trigger`
//! events a trigger and a rule; `resources.packages` (Serverless OpenWhisk syntax) packages.
//! Rule names always end in `-rule`, which is how `apply` tells rules from triggers.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::spec::DesiredEntity;
use crate::model::{Event, Function, Service};

/// The alarm feed that schedules fire through.
pub const ALARM_FEED: &str = "/whisk.system/alarms/alarm";

/// The packages of `resources.packages`.
pub fn packages(service: &Service) -> Vec<DesiredEntity> {
    let Some(Json::Object(packages)) = service
        .resources
        .as_ref()
        .and_then(|resources| resources.get("packages"))
    else {
        return Vec::new();
    };
    packages
        .iter()
        .map(|(name, config)| {
            let key_values = |key: &str| -> Vec<Json> {
                match config.get(key) {
                    Some(Json::Object(map)) => map
                        .iter()
                        .map(|(k, v)| json!({"key": k, "value": v}))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let parameters = key_values("parameters");
            let annotations = key_values("annotations");
            let publish = config
                .get("shared")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            let mut spec = BTreeMap::new();
            spec.insert(
                "parameters".to_string(),
                Json::Array(parameters.clone()).to_string(),
            );
            spec.insert(
                "annotations".to_string(),
                Json::Array(annotations.clone()).to_string(),
            );
            spec.insert("shared".to_string(), publish.to_string());
            let body =
                json!({"publish": publish, "parameters": parameters, "annotations": annotations});
            DesiredEntity::new(service, name.clone(), None, body, spec)
        })
        .collect()
}

/// The triggers and rules of one function's `schedule` and `trigger` events.
pub fn triggers_and_rules(
    service: &Service,
    function: &Function,
    namespace: &str,
) -> (Vec<DesiredEntity>, Vec<DesiredEntity>) {
    let action = format!("/{namespace}/{}", service.deployed_name(&function.name));
    let mut triggers = Vec::new();
    let mut rules = Vec::new();
    let mut schedules = 0;
    for event in &function.events {
        match event {
            Event::Schedule(schedule) => {
                schedules += 1;
                if !schedule.enabled {
                    continue;
                }
                let Ok(cron) = to_cron(&schedule.expression) else {
                    continue; // check() reported it.
                };
                let name = format!(
                    "{}-schedule-{schedules}",
                    service.deployed_name(&function.name)
                );
                let mut spec = BTreeMap::new();
                spec.insert("cron".to_string(), cron.clone());
                if let Some(input) = &schedule.input {
                    spec.insert("payload".to_string(), input.to_string());
                }
                let body = json!({"annotations": [{"key": "feed", "value": ALARM_FEED}]});
                let mut trigger = DesiredEntity::new(
                    service,
                    name.clone(),
                    Some(function.name.clone()),
                    body,
                    spec,
                );
                trigger.alarm = Some((cron, schedule.input.clone()));
                rules.push(rule(
                    service,
                    function,
                    &name,
                    &format!("{name}-rule"),
                    namespace,
                    &action,
                ));
                triggers.push(trigger);
            }
            Event::Other { kind, config } if kind == "trigger" => {
                let Some(trigger_name) = trigger_name(config) else {
                    continue; // check() reported it.
                };
                let name = trigger_name.to_string();
                let rule_name = format!(
                    "{}-{}-{name}-{}-rule",
                    service.name, service.stage, function.name
                );
                let mut spec = BTreeMap::new();
                spec.insert("kind".to_string(), "trigger".to_string());
                let body = json!({"annotations": []});
                if !triggers.iter().any(|t: &DesiredEntity| t.name == name) {
                    triggers.push(DesiredEntity::new(service, name.clone(), None, body, spec));
                }
                rules.push(rule(
                    service, function, &name, &rule_name, namespace, &action,
                ));
            }
            _ => {}
        }
    }
    (triggers, rules)
}

/// The trigger name of a `trigger:` event (`trigger: name` or `trigger: {name: ...}`).
pub fn trigger_name(config: &Json) -> Option<&str> {
    match config {
        Json::String(name) => Some(name.as_str()),
        Json::Object(map) => map.get("name").and_then(Json::as_str),
        _ => None,
    }
    .filter(|name| !name.trim().is_empty())
}

fn rule(
    service: &Service,
    function: &Function,
    trigger: &str,
    name: &str,
    namespace: &str,
    action: &str,
) -> DesiredEntity {
    let trigger_path = format!("/{namespace}/{trigger}");
    let mut spec = BTreeMap::new();
    spec.insert("trigger".to_string(), trigger_path.clone());
    spec.insert("action".to_string(), action.to_string());
    let body = json!({"trigger": trigger_path, "action": action, "annotations": []});
    DesiredEntity::new(
        service,
        name.to_string(),
        Some(function.name.clone()),
        body,
        spec,
    )
}

/// A `schedule` expression as the 5-field cron the alarm feed takes:
/// `rate(5 minutes)` → `*/5 * * * *`, `cron(0 12 * * ? *)` (AWS, 6 fields) → `0 12 * * *`,
/// `cron(* * * * *)` kept.
pub fn to_cron(expression: &str) -> Result<String, String> {
    let expression = expression.trim();
    if let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))
    {
        let mut parts = inner.split_whitespace();
        let amount: u32 = parts
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{expression}`: the rate needs a positive number"))?;
        let unit = parts.next().unwrap_or("").trim_end_matches('s');
        return match (unit, amount) {
            ("minute", n) if n < 60 => Ok(if n == 1 {
                "* * * * *".into()
            } else {
                format!("*/{n} * * * *")
            }),
            ("hour", n) if n < 24 => Ok(if n == 1 {
                "0 * * * *".into()
            } else {
                format!("0 */{n} * * *")
            }),
            ("day", 1) => Ok("0 0 * * *".into()),
            _ => Err(format!(
                "`{expression}` cannot be written as a cron schedule (use minutes < 60, hours < 24 or 1 day)"
            )),
        };
    }
    let inner = expression
        .strip_prefix("cron(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expression);
    let fields: Vec<&str> = inner.split_whitespace().collect();
    match fields.len() {
        5 => Ok(fields.join(" ")),
        6 => Ok(fields[..5]
            .iter()
            .map(|field| if *field == "?" { "*" } else { field })
            .collect::<Vec<_>>()
            .join(" ")),
        _ => Err(format!(
            "`{expression}` is neither rate(...) nor a 5-field cron expression"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_become_five_field_crons() {
        assert_eq!(to_cron("rate(5 minutes)").unwrap(), "*/5 * * * *");
        assert_eq!(to_cron("rate(1 minute)").unwrap(), "* * * * *");
        assert_eq!(to_cron("rate(2 hours)").unwrap(), "0 */2 * * *");
        assert_eq!(to_cron("rate(1 day)").unwrap(), "0 0 * * *");
        assert_eq!(to_cron("cron(* * * * *)").unwrap(), "* * * * *");
        assert_eq!(to_cron("cron(0 12 * * ? *)").unwrap(), "0 12 * * *");
        assert!(to_cron("rate(7 days)").is_err());
        assert!(to_cron("cron(1 2)").is_err());
    }
}
