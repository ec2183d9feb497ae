//! `plan` on AWS: reads what is live (role, functions, HTTP API, URLs, rules) and diffs it with
//! the manifest, without writing anything. Functions are read concurrently, bounded by
//! [`CONCURRENCY`].

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::buckets;
use super::config::Clients;
use super::cors::{self, CorsSpec};
use super::events::{self, wants_url};
use super::functions::{self, FunctionSpec};
use super::role::{self, RoleSpec};
use super::schedules;
use super::sources;
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::{Action, CONCURRENCY, Change, Plan, ResourceKind, Scope};

/// The name of the role change in a plan.
pub const ROLE_CHANGE: &str = "execution role";
/// The suffix of a function-URL change's name (`hello url`).
pub const URL_SUFFIX: &str = " url";

/// Diffs `service` (with `packaged`) against what is live; see the module documentation.
pub async fn plan(
    clients: &Clients,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
) -> anyhow::Result<Plan> {
    let mut changes = Vec::new();
    let role_name = match role::desired(service, &clients.region) {
        RoleSpec::Existing(existing) => existing,
        RoleSpec::Managed { name, statements } => {
            let change = match role::live(clients, &name).await? {
                None => Change::new(ResourceKind::Role, ROLE_CHANGE, &name, Action::Create),
                Some((_, live)) => {
                    let fields = role::diff(&live, &statements);
                    let action = if fields.is_empty() {
                        Action::Unchanged
                    } else {
                        Action::Update
                    };
                    Change::new(ResourceKind::Role, ROLE_CHANGE, &name, action).with_fields(fields)
                }
            };
            changes.push(change);
            name
        }
    };

    let specs: Vec<FunctionSpec> = service
        .functions
        .keys()
        .filter(|name| scope.includes(name))
        .map(|name| functions::desired(service, packaged, name))
        .collect::<anyhow::Result<_>>()?;
    let role_name = role_name.as_str();
    let function_changes: Vec<Change> = stream::iter(specs)
        .map(|spec| async move { plan_function(clients, &spec, role_name).await })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    changes.extend(function_changes);

    if !scope.deletes_allowed() {
        return Ok(finish(service, clients, changes));
    }
    let deployed = functions::list_deployed(clients, service).await?;
    for (name, deployed_name, _) in &deployed {
        if !service.functions.contains_key(name) {
            changes.push(Change::new(
                ResourceKind::Function,
                name,
                deployed_name,
                Action::Delete,
            ));
        }
    }
    changes.extend(plan_api(clients, service).await?);
    for (name, function) in &service.functions {
        let deployed_name = service.deployed_name(name);
        let exists = deployed.iter().any(|(n, _, _)| n == name);
        let live_url = if exists {
            events::live_url(clients, &deployed_name).await?
        } else {
            None
        };
        let change_name = format!("{name}{URL_SUFFIX}");
        match (wants_url(function), live_url) {
            (true, None) => changes.push(Change::new(
                ResourceKind::Trigger,
                change_name,
                &deployed_name,
                Action::Create,
            )),
            (true, Some(_)) => changes.push(Change::new(
                ResourceKind::Trigger,
                change_name,
                &deployed_name,
                Action::Unchanged,
            )),
            (false, Some(_)) => changes.push(Change::new(
                ResourceKind::Trigger,
                change_name,
                &deployed_name,
                Action::Delete,
            )),
            (false, None) => {}
        }
    }
    // Queue and stream triggers: each live function's mappings, read concurrently.
    let source_specs = sources::desired(service);
    let names: Vec<String> = service.functions.keys().cloned().collect();
    let source_changes: Vec<Vec<Change>> = stream::iter(names)
        .map(|name| {
            let exists = deployed.iter().any(|(n, _, _)| *n == name);
            let specs = &source_specs;
            async move {
                let deployed_name = service.deployed_name(&name);
                let live = if exists {
                    sources::live(clients, &deployed_name).await?
                } else {
                    Vec::new()
                };
                anyhow::Ok(sources::plan(specs, &name, &deployed_name, &live))
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    changes.extend(source_changes.into_iter().flatten());
    let existing: Vec<String> = deployed
        .iter()
        .map(|(_, deployed_name, _)| deployed_name.clone())
        .collect();
    changes.extend(buckets::plan(clients, service, &existing).await?);
    let live_rules = schedules::live_rules(clients, service).await?;
    changes.extend(schedules::plan_schedules(
        service,
        &schedules::schedules(service),
        &live_rules,
    ));
    Ok(finish(service, clients, changes))
}

fn finish(service: &Service, clients: &Clients, changes: Vec<Change>) -> Plan {
    Plan {
        provider: "aws".to_string(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: Some(clients.region.clone()),
        changes,
    }
}

async fn plan_function(
    clients: &Clients,
    spec: &FunctionSpec,
    role: &str,
) -> anyhow::Result<Change> {
    let live = functions::live(clients, &spec.deployed_name)
        .await
        .with_context(|| format!("planning function {}", spec.name))?;
    Ok(match live {
        None => Change::new(
            ResourceKind::Function,
            &spec.name,
            &spec.deployed_name,
            Action::Create,
        ),
        Some(live) => {
            let fields = functions::diff(spec, &live, role);
            let action = if fields.is_empty() {
                Action::Unchanged
            } else {
                Action::Update
            };
            Change::new(
                ResourceKind::Function,
                &spec.name,
                &spec.deployed_name,
                action,
            )
            .with_fields(fields)
        }
    })
}

async fn plan_api(clients: &Clients, service: &Service) -> anyhow::Result<Vec<Change>> {
    let desired = events::routes(service);
    let live = events::live_api(clients, service).await?;
    let api_name = events::api_name(service);
    let mut changes = Vec::new();
    match (&live, desired.is_empty()) {
        (None, true) => return Ok(changes),
        (Some(api), true) => {
            changes.push(Change::new(
                ResourceKind::Api,
                "http api",
                &api.id,
                Action::Delete,
            ));
            return Ok(changes);
        }
        (None, false) => changes.push(Change::new(
            ResourceKind::Api,
            "http api",
            &api_name,
            Action::Create,
        )),
        (Some(api), false) => {
            let desired_cors = cors::desired(service);
            let change = if desired_cors == api.cors {
                Change::new(ResourceKind::Api, "http api", &api.id, Action::Unchanged)
            } else {
                Change::new(ResourceKind::Api, "http api", &api.id, Action::Update).with_fields(
                    vec![crate::providers::FieldChange::new(
                        "cors",
                        api.cors.as_ref().map(CorsSpec::summary),
                        desired_cors.as_ref().map(CorsSpec::summary),
                    )],
                )
            };
            changes.push(change);
        }
    }
    for route in &desired {
        let target = service.deployed_name(&route.function);
        let live_route = live
            .as_ref()
            .and_then(|api| api.routes.get(&route.route_key));
        let change = match live_route {
            None => Change::new(
                ResourceKind::Route,
                &route.route_key,
                &target,
                Action::Create,
            ),
            Some((_, function)) if function.as_deref() == Some(target.as_str()) => Change::new(
                ResourceKind::Route,
                &route.route_key,
                &target,
                Action::Unchanged,
            ),
            Some((_, function)) => Change::new(
                ResourceKind::Route,
                &route.route_key,
                &target,
                Action::Update,
            )
            .with_fields(vec![crate::providers::FieldChange::new(
                "function",
                function.as_deref(),
                Some(&target),
            )]),
        };
        changes.push(change);
    }
    if let Some(api) = &live {
        for (key, (_, function)) in &api.routes {
            if !desired.iter().any(|route| &route.route_key == key) {
                changes.push(Change::new(
                    ResourceKind::Route,
                    key,
                    function.clone().unwrap_or_default(),
                    Action::Delete,
                ));
            }
        }
    }
    Ok(changes)
}
