//! `info` and `remove` on AWS: what this service and stage has deployed, and deleting exactly
//! that — functions (with their URLs), schedule rules, the HTTP API, log groups, the managed
//! role and the service's objects in the deployment bucket. Nothing else is touched.

use std::collections::BTreeMap;

use anyhow::Context;
use base64::Engine;

use super::buckets;
use super::config::Clients;
use super::deploy::{self, object_prefix};
use super::describe;
use super::events;
use super::functions;
use super::logs;
use super::role::{self, RoleSpec};
use super::schedules;
use crate::model::Service;
use crate::providers::{FunctionInfo, Removed, ResourceKind, ServiceInfo};

/// What is deployed for this service and stage.
pub async fn info(clients: &Clients, service: &Service) -> anyhow::Result<ServiceInfo> {
    let mut details = BTreeMap::new();
    let mut infos = Vec::new();
    for (name, deployed, _) in functions::list_deployed(clients, service).await? {
        let Some(live) = functions::live(clients, &deployed).await? else {
            continue;
        };
        let code_sha256 = live.code_sha256.as_deref().and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .map(hex::encode)
        });
        infos.push(FunctionInfo {
            name,
            deployed_name: deployed,
            runtime: live.runtime,
            memory_size: live.memory_size.map(|m| m as u32),
            timeout: live.timeout.map(|t| t as u32),
            code_sha256,
            last_modified: live.last_modified,
            version: live.version,
            state: live.state,
        });
    }
    if let Some(api) = events::live_api(clients, service).await? {
        details.insert("http api".to_string(), api.id.clone());
    }
    if let RoleSpec::Managed { name, .. } = role::desired(service, &clients.region)
        && let Some((arn, _)) = role::live(clients, &name).await?
    {
        details.insert("role".to_string(), arn);
    }
    let rules = schedules::live_rules(clients, service).await?;
    if !rules.is_empty() {
        details.insert(
            "rules".to_string(),
            rules.keys().cloned().collect::<Vec<_>>().join(", "),
        );
    }
    Ok(ServiceInfo {
        provider: "aws".to_string(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: Some(clients.region.clone()),
        functions: infos,
        endpoints: deploy::endpoints(clients, service).await?,
        details,
    })
}

/// Deletes everything this service and stage created; answers what was deleted.
pub async fn remove(clients: &Clients, service: &Service) -> anyhow::Result<Vec<Removed>> {
    let mut removed = Vec::new();
    for rule in schedules::live_rules(clients, service).await?.keys() {
        schedules::delete_schedule(clients, rule).await?;
        removed.push(Removed {
            kind: ResourceKind::Trigger,
            name: rule.clone(),
        });
    }
    if let Some(api) = events::live_api(clients, service).await? {
        clients
            .apigw
            .delete_api()
            .api_id(&api.id)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("deleting HTTP API {}", api.id))?;
        removed.push(Removed {
            kind: ResourceKind::Api,
            name: events::api_name(service),
        });
    }
    let mut deployed: Vec<String> = functions::list_deployed(clients, service)
        .await?
        .into_iter()
        .map(|(_, deployed, _)| deployed)
        .collect();
    for deployed_name in &deployed {
        functions::delete(clients, deployed_name).await?;
        removed.push(Removed {
            kind: ResourceKind::Function,
            name: deployed_name.clone(),
        });
    }
    // Log groups of functions in the manifest too: a function deleted earlier leaves its group.
    for name in service.functions.keys() {
        let deployed_name = service.deployed_name(name);
        if !deployed.contains(&deployed_name) {
            deployed.push(deployed_name);
        }
    }
    for deployed_name in &deployed {
        if logs::remove_group(clients, deployed_name).await? {
            removed.push(Removed {
                kind: ResourceKind::Other,
                name: logs::group_name(deployed_name),
            });
        }
    }
    if let RoleSpec::Managed { name, .. } = role::desired(service, &clients.region)
        && role::remove(clients, service, &name).await?
    {
        removed.push(Removed {
            kind: ResourceKind::Role,
            name,
        });
    }
    removed.extend(remove_objects(clients, service).await?);
    removed.extend(buckets::remove_buckets(clients, service).await?);
    Ok(removed)
}

/// Deletes this service's and stage's artifacts from the deployment bucket (never the bucket).
async fn remove_objects(clients: &Clients, service: &Service) -> anyhow::Result<Vec<Removed>> {
    let bucket = match deploy::configured_bucket(service) {
        Some(bucket) => bucket,
        None => match deploy::bucket_name(clients, service).await {
            Ok(bucket) => bucket,
            // No account id: no default bucket could have been made by this identity.
            Err(_) => return Ok(Vec::new()),
        },
    };
    if clients
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .is_err()
    {
        return Ok(Vec::new());
    }
    let prefix = object_prefix(service);
    let mut removed = Vec::new();
    let mut pages = clients
        .s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(describe)
            .with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    for key in keys {
        clients
            .s3
            .delete_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("deleting s3://{bucket}/{key}"))?;
        removed.push(Removed {
            kind: ResourceKind::Storage,
            name: format!("s3://{bucket}/{key}"),
        });
    }
    Ok(removed)
}
