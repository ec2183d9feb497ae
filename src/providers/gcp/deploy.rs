//! `plan` (the labelled functions of the region, diffed field by field with [`spec::desired`])
//! and `apply` (uploads and writes side by side, bounded; each write's long-running operation
//! awaited). An unchanged function — same code label, runtime, entry, memory, timeout,
//! environment and labels — is neither uploaded nor written.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::{Value as Json, json};

use super::client::GcfClient;
use super::spec::{self, Desired};
use crate::http;
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::{
    Action, Applied, ApplyError, CONCURRENCY, Change, Endpoint, Plan, ResourceKind, Scope,
};

/// The live functions of this service and stage, by id.
pub async fn read_live(
    client: &GcfClient,
    service: &Service,
) -> anyhow::Result<BTreeMap<String, Json>> {
    Ok(client
        .list_functions()
        .await?
        .into_iter()
        .filter(|f| spec::belongs_to(f, service))
        .map(|f| (spec::short_id(&f), f))
        .collect())
}

/// The desired functions in scope.
pub fn desired_all(
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
    project: &str,
) -> anyhow::Result<Vec<Desired>> {
    service
        .functions
        .values()
        .filter(|f| scope.includes(&f.name))
        .map(|function| {
            let artifact = packaged
                .for_function(&function.name)
                .ok_or_else(|| anyhow::anyhow!("function {} was not packaged", function.name))?;
            spec::desired(service, function, &artifact.sha256, project)
        })
        .collect()
}

/// Diffs the desired service with what is live.
pub async fn plan(
    client: &GcfClient,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
    region: &str,
) -> anyhow::Result<Plan> {
    let desired = desired_all(service, packaged, scope, &client.project)?;
    let live = read_live(client, service).await?;
    let mut changes = Vec::new();
    for want in &desired {
        let change = |verb| {
            Change::new(
                ResourceKind::Function,
                want.function.clone(),
                want.id.clone(),
                verb,
            )
        };
        changes.push(match live.get(&want.id) {
            None => change(Action::Create),
            Some(current) => {
                let fields = crate::providers::diff_fields(
                    &spec::live_fields(current, &want.fields),
                    &want.fields,
                );
                if fields.is_empty() {
                    change(Action::Unchanged)
                } else {
                    change(Action::Update).with_fields(fields)
                }
            }
        });
    }
    if scope.deletes_allowed() {
        let wanted: BTreeSet<&str> = desired.iter().map(|d| d.id.as_str()).collect();
        for (id, function) in live.iter().filter(|(id, _)| !wanted.contains(id.as_str())) {
            let shown = function
                .pointer(&format!("/labels/{}", spec::FUNCTION_LABEL))
                .and_then(Json::as_str)
                .unwrap_or(id);
            changes.push(Change::new(
                ResourceKind::Function,
                shown.to_string(),
                id.clone(),
                Action::Delete,
            ));
        }
    }
    Ok(Plan {
        provider: "google".into(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: Some(region.to_string()),
        changes,
    })
}

/// Carries out `plan`.
pub async fn apply(
    client: &GcfClient,
    service: &Service,
    packaged: &Packaged,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    let desired = match desired_all(service, packaged, &Scope::default(), &client.project) {
        Ok(desired) => desired,
        Err(error) => {
            return Err(ApplyError {
                cause: Some(error),
                done: Vec::new(),
                failed: Vec::new(),
                pending: pending.into_iter().cloned().collect(),
            });
        }
    };
    let work = pending
        .iter()
        .map(|change| apply_one(client, packaged, &desired, change));
    let results = http::bounded(work.collect(), CONCURRENCY).await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (change, result) in pending.iter().zip(results) {
        match result {
            Ok(()) => done.push((*change).clone()),
            Err(error) => failed.push(((*change).clone(), error)),
        }
    }
    if !failed.is_empty() {
        return Err(ApplyError {
            cause: None,
            done,
            failed,
            pending: Vec::new(),
        });
    }
    match endpoints(client, service).await {
        Ok(endpoints) => Ok(Applied { done, endpoints }),
        Err(error) => Err(ApplyError {
            cause: Some(error),
            done,
            failed,
            pending: Vec::new(),
        }),
    }
}

async fn apply_one(
    client: &GcfClient,
    packaged: &Packaged,
    desired: &[Desired],
    change: &Change,
) -> anyhow::Result<()> {
    let id = change.deployed_name.as_str();
    if change.action == Action::Delete {
        if let Some(operation) = client.delete(id).await? {
            client
                .wait(&operation)
                .await
                .with_context(|| format!("deleting {id}"))?;
        }
        return Ok(());
    }
    let want = desired.iter().find(|d| d.id == id).ok_or_else(|| {
        anyhow::anyhow!(
            "function {} is no longer in the manifest; plan again",
            change.name
        )
    })?;
    let mut body = want.body.clone();
    body["name"] = json!(format!("{}/functions/{id}", client.parent));
    let needs_code =
        change.action == Action::Create || change.fields.iter().any(|f| f.field == "code");
    if needs_code {
        let artifact = packaged
            .for_function(&want.function)
            .ok_or_else(|| anyhow::anyhow!("function {} was not packaged", want.function))?;
        let zip = tokio::fs::read(&artifact.path)
            .await
            .with_context(|| format!("reading the package {}", artifact.path.display()))?;
        let upload = client.generate_upload_url().await?;
        let url = upload
            .get("uploadUrl")
            .and_then(Json::as_str)
            .ok_or_else(|| anyhow::anyhow!("generateUploadUrl answered no uploadUrl"))?;
        client.upload(url, zip).await?;
        body["buildConfig"]["source"] =
            json!({ "storageSource": upload.get("storageSource").cloned().unwrap_or(Json::Null) });
    }
    let operation = if change.action == Action::Create {
        client.create(id, &body).await?
    } else {
        let mut paths: Vec<&str> = change
            .fields
            .iter()
            .flat_map(|f| spec::mask_paths(&f.field).iter().copied())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        client.patch(id, &body, &paths.join(",")).await?
    };
    client
        .wait(&operation)
        .await
        .with_context(|| format!("{} {id}", change.action.verb()))?;
    Ok(())
}

/// The URL of every HTTP function of the service, as the API reports it.
pub async fn endpoints(client: &GcfClient, service: &Service) -> anyhow::Result<Vec<Endpoint>> {
    let live = read_live(client, service).await?;
    let mut endpoints = Vec::new();
    for function in service.functions.values() {
        let http = function
            .events
            .iter()
            .any(|e| matches!(e, crate::model::Event::Http(_)));
        let id = spec::function_id(&service.name, &service.stage, &function.name);
        if let (true, Some(url)) = (
            http,
            live.get(&id)
                .and_then(|f| f.pointer("/serviceConfig/uri"))
                .and_then(Json::as_str),
        ) {
            endpoints.push(Endpoint {
                function: function.name.clone(),
                method: "ANY".into(),
                url: url.to_string(),
            });
        }
    }
    Ok(endpoints)
}
