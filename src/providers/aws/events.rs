//! Events: one HTTP API (API Gateway v2) per service and stage with a route per `http` /
//! `httpApi` event, function URLs (`url: true`), and EventBridge rules for `schedule` events.
//!
//! Each is planned as its own change (api, route, trigger) and read back from what is live, so
//! a re-run converges like the functions do.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_apigatewayv2::types::{IntegrationType, ProtocolType};
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_lambda::types::FunctionUrlAuthType;

use super::config::Clients;
use super::describe;
use super::functions::{TAG_SERVICE, TAG_STAGE};
use crate::model::{Event, Function, Service};
use crate::providers::{Action, Change, Endpoint, FieldChange, ResourceKind};

/// One HTTP route the manifest asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `GET /hello` (or `ANY /hello`).
    pub route_key: String,
    /// The function's manifest name.
    pub function: String,
}

/// One schedule the manifest asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// `{service}-{stage}-{function}-schedule-{n}`.
    pub rule: String,
    /// The function's manifest name.
    pub function: String,
    /// `rate(...)` / `cron(...)`.
    pub expression: String,
    /// `enabled`.
    pub enabled: bool,
    /// The payload sent, as JSON text.
    pub input: Option<String>,
}

/// The HTTP API's name for this service and stage.
pub fn api_name(service: &Service) -> String {
    format!("{}-{}", service.name, service.stage)
}

/// Every HTTP route of the manifest, in manifest order.
pub fn routes(service: &Service) -> Vec<RouteSpec> {
    let mut routes = Vec::new();
    for (name, function) in &service.functions {
        for event in &function.events {
            if let Event::Http(http) = event {
                let method = if http.method == "*" {
                    "ANY"
                } else {
                    &http.method
                };
                routes.push(RouteSpec {
                    route_key: format!("{method} {}", http.path),
                    function: name.clone(),
                });
            }
        }
    }
    routes
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
                    enabled: schedule.enabled,
                    input: schedule.input.as_ref().map(|input| input.to_string()),
                });
            }
        }
    }
    schedules
}

/// Whether the function asks for a function URL (`url: true` or `url: {...}`).
pub fn wants_url(function: &Function) -> bool {
    match function.extra.get("url") {
        Some(serde_json::Value::Bool(flag)) => *flag,
        Some(serde_json::Value::Object(_)) => true,
        _ => false,
    }
}

/// The live HTTP API of this service and stage.
#[derive(Debug, Clone, Default)]
pub struct LiveApi {
    /// API id.
    pub id: String,
    /// `https://{id}.execute-api.{region}.amazonaws.com`.
    pub endpoint: String,
    /// route key → (route id, function name the route's integration calls).
    pub routes: BTreeMap<String, (String, Option<String>)>,
    /// integration id → function ARN.
    pub integrations: BTreeMap<String, String>,
}

/// Reads the HTTP API named for this service and stage, `None` when there is none.
pub async fn live_api(clients: &Clients, service: &Service) -> anyhow::Result<Option<LiveApi>> {
    let name = api_name(service);
    let mut token = None;
    let api = loop {
        let page = clients
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(describe)
            .context("listing HTTP APIs")?;
        let found = page.items().iter().find(|api| {
            api.name() == Some(name.as_str())
                && api.tags().is_none_or(|tags| {
                    tags.get(TAG_SERVICE).is_none_or(|s| s == &service.name)
                        && tags.get(TAG_STAGE).is_none_or(|s| s == &service.stage)
                })
        });
        if let Some(api) = found {
            break api.clone();
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(None),
        }
    };
    let id = api.api_id().unwrap_or_default().to_string();
    let mut live = LiveApi {
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        id: id.clone(),
        ..LiveApi::default()
    };
    let integrations = clients
        .apigw
        .get_integrations()
        .api_id(&id)
        .send()
        .await
        .map_err(describe)
        .context("listing the HTTP API's integrations")?;
    for integration in integrations.items() {
        if let (Some(iid), Some(uri)) =
            (integration.integration_id(), integration.integration_uri())
        {
            live.integrations.insert(iid.to_string(), uri.to_string());
        }
    }
    let routes = clients
        .apigw
        .get_routes()
        .api_id(&id)
        .send()
        .await
        .map_err(describe)
        .context("listing the HTTP API's routes")?;
    for route in routes.items() {
        let function = route
            .target()
            .and_then(|t| t.strip_prefix("integrations/"))
            .and_then(|iid| live.integrations.get(iid))
            .map(|arn| arn_function_name(arn).to_string());
        live.routes.insert(
            route.route_key().unwrap_or_default().to_string(),
            (route.route_id().unwrap_or_default().to_string(), function),
        );
    }
    Ok(Some(live))
}

/// `arn:aws:lambda:r:1:function:name` → `name` (a plain name stays as is).
pub fn arn_function_name(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        [_, _, _, _, _, "function", name, ..] => name,
        _ => arn,
    }
}

/// The function URL of `deployed`, when it has one.
pub async fn live_url(clients: &Clients, deployed: &str) -> anyhow::Result<Option<String>> {
    match clients
        .lambda
        .get_function_url_config()
        .function_name(deployed)
        .send()
        .await
    {
        Ok(output) => Ok(Some(output.function_url().to_string())),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(error) => {
            Err(describe(error)).with_context(|| format!("reading the URL config of {deployed}"))
        }
    }
}

/// A live schedule rule: (expression, enabled, target input).
pub type LiveRule = (Option<String>, bool, Option<String>);

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
            if !name.contains("-schedule-") {
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
        let name = format!("{} {}", spec.function, spec.expression);
        let change = match live.get(&spec.rule) {
            None => Change::new(ResourceKind::Trigger, name, &spec.rule, Action::Create),
            Some((expression, enabled, input)) => {
                let mut fields = Vec::new();
                if expression.as_deref() != Some(spec.expression.as_str()) {
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

/// Lets `principal` invoke the function; an identical statement already there is fine.
pub async fn allow_invoke(
    clients: &Clients,
    deployed: &str,
    statement: &str,
    principal: &str,
    source_arn: Option<&str>,
    url: bool,
) -> anyhow::Result<()> {
    let mut request = clients
        .lambda
        .add_permission()
        .function_name(deployed)
        .statement_id(statement)
        .principal(principal)
        .set_source_arn(source_arn.map(str::to_string));
    request = if url {
        request
            .action("lambda:InvokeFunctionUrl")
            .function_url_auth_type(FunctionUrlAuthType::None)
    } else {
        request.action("lambda:InvokeFunction")
    };
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(describe(error))
            .with_context(|| format!("allowing {principal} to invoke {deployed}")),
    }
}

/// Creates the HTTP API with its `$default` auto-deployed stage; answers the live API.
pub async fn create_api(clients: &Clients, service: &Service) -> anyhow::Result<LiveApi> {
    let name = api_name(service);
    let api = clients
        .apigw
        .create_api()
        .name(&name)
        .protocol_type(ProtocolType::Http)
        .tags(TAG_SERVICE, &service.name)
        .tags(TAG_STAGE, &service.stage)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating HTTP API {name}"))?;
    let id = api.api_id().unwrap_or_default().to_string();
    clients
        .apigw
        .create_stage()
        .api_id(&id)
        .stage_name("$default")
        .auto_deploy(true)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating the $default stage of HTTP API {name}"))?;
    Ok(LiveApi {
        id,
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        ..LiveApi::default()
    })
}

/// Points `route_key` at `function_arn` (creating the integration and route as needed).
pub async fn put_route(
    clients: &Clients,
    api: &mut LiveApi,
    route_key: &str,
    function_arn: &str,
) -> anyhow::Result<()> {
    let existing = api
        .integrations
        .iter()
        .find(|(_, uri)| uri.as_str() == function_arn)
        .map(|(id, _)| id.clone());
    let integration = match existing {
        Some(id) => id,
        None => {
            let created = clients
                .apigw
                .create_integration()
                .api_id(&api.id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(function_arn)
                .payload_format_version("2.0")
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("creating the integration for {route_key}"))?;
            let id = created.integration_id().unwrap_or_default().to_string();
            api.integrations
                .insert(id.clone(), function_arn.to_string());
            id
        }
    };
    let target = format!("integrations/{integration}");
    match api.routes.get(route_key) {
        Some((route_id, _)) => {
            clients
                .apigw
                .update_route()
                .api_id(&api.id)
                .route_id(route_id)
                .target(target)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("updating route {route_key}"))?;
        }
        None => {
            let created = clients
                .apigw
                .create_route()
                .api_id(&api.id)
                .route_key(route_key)
                .target(target)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("creating route {route_key}"))?;
            api.routes.insert(
                route_key.to_string(),
                (created.route_id().unwrap_or_default().to_string(), None),
            );
        }
    }
    let account = function_arn.split(':').nth(4).unwrap_or("*");
    let source = format!(
        "arn:aws:execute-api:{}:{account}:{}/*",
        clients.region, api.id
    );
    allow_invoke(
        clients,
        arn_function_name(function_arn),
        &format!("stratus-http-api-{}", api.id),
        "apigateway.amazonaws.com",
        Some(&source),
        false,
    )
    .await
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
        .schedule_expression(&spec.expression)
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

/// Gives `deployed` a public function URL; answers it.
pub async fn create_url(clients: &Clients, deployed: &str) -> anyhow::Result<String> {
    let created = clients
        .lambda
        .create_function_url_config()
        .function_name(deployed)
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating the function URL of {deployed}"))?;
    allow_invoke(clients, deployed, "stratus-function-url", "*", None, true).await?;
    Ok(created.function_url().to_string())
}

/// Removes the function URL of `deployed`.
pub async fn delete_url(clients: &Clients, deployed: &str) -> anyhow::Result<()> {
    clients
        .lambda
        .delete_function_url_config()
        .function_name(deployed)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("deleting the function URL of {deployed}"))?;
    Ok(())
}

/// Endpoints of the live API's routes, by the function each calls (`prefix` + manifest name).
pub fn api_endpoints(service: &Service, api: &LiveApi) -> Vec<Endpoint> {
    let prefix = format!("{}-{}-", service.name, service.stage);
    api.routes
        .iter()
        .filter_map(|(key, (_, function))| {
            let function = function.as_deref()?.strip_prefix(&prefix)?.to_string();
            let (method, path) = key.split_once(' ')?;
            Some(Endpoint {
                function,
                method: method.to_string(),
                url: format!("{}{}", api.endpoint.trim_end_matches('/'), path),
            })
        })
        .collect()
}
