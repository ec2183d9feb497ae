//! `apply` on AWS: carries out exactly the plan that was shown — the role first, then the
//! functions concurrently (bounded by [`CONCURRENCY`]), then the HTTP API, routes, URLs and
//! schedules. When something fails, the answer names what was applied, what failed and what
//! was never started; re-running the deploy converges from what is live.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::stream::{self, StreamExt};

use super::buckets;
use super::config::Clients;
use super::describe;
use super::events;
use super::functions::{self, CodeSource, FunctionSpec};
use super::plan::{ROLE_CHANGE, URL_SUFFIX};
use super::role::{self, RoleSpec};
use super::schedules;
use super::sources;
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::{
    Action, Applied, ApplyError, CONCURRENCY, Change, Endpoint, Plan, ResourceKind,
};

/// Zips larger than this go through the S3 deployment bucket (Lambda's direct-upload limit).
pub const DIRECT_UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;

/// Carries out `plan`; see the module documentation.
pub async fn apply(
    clients: &Clients,
    service: &Service,
    packaged: &Packaged,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let (role_changes, rest): (Vec<&Change>, Vec<&Change>) = plan
        .changes
        .iter()
        .partition(|c| c.kind == ResourceKind::Role && c.name == ROLE_CHANGE);
    let (function_changes, event_changes): (Vec<&Change>, Vec<&Change>) = rest
        .into_iter()
        .partition(|c| c.kind == ResourceKind::Function);

    let role = match ensure_role(clients, service, role_changes.first().copied()).await {
        Ok(role) => {
            done.extend(
                role_changes
                    .iter()
                    .filter(|c| c.action != Action::Unchanged)
                    .map(|c| (*c).clone()),
            );
            role
        }
        Err(error) => {
            let role_change = role_changes
                .first()
                .map(|c| (*c).clone())
                .unwrap_or_else(|| {
                    Change::new(ResourceKind::Role, ROLE_CHANGE, "", Action::Unchanged)
                });
            return Err(ApplyError {
                cause: None,
                done,
                failed: vec![(role_change, error)],
                pending: pending(&[function_changes.as_slice(), event_changes.as_slice()].concat()),
            });
        }
    };

    let work: Vec<Change> = function_changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| (*c).clone())
        .collect();
    let role = role.as_str();
    let results: Vec<(Change, anyhow::Result<()>)> = stream::iter(work)
        .map(|change| async move {
            let result = apply_function(clients, service, packaged, &change, role).await;
            (change, result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (change, result) in results {
        match result {
            Ok(()) => done.push(change),
            Err(error) => failed.push((change, error)),
        }
    }
    if !failed.is_empty() {
        return Err(ApplyError {
            cause: None,
            done,
            failed,
            pending: pending(&event_changes),
        });
    }

    let mut remaining = event_changes
        .into_iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect::<Vec<_>>()
        .into_iter();
    let mut api: Option<events::LiveApi> = None;
    let mut arns = BTreeMap::new();
    while let Some(change) = remaining.next() {
        match apply_event(clients, service, change, &mut api, &mut arns).await {
            Ok(()) => done.push(change.clone()),
            Err(error) => {
                return Err(ApplyError {
                    cause: None,
                    done,
                    failed: vec![(change.clone(), error)],
                    pending: pending(remaining.as_slice()),
                });
            }
        }
    }
    let endpoints = match endpoints(clients, service).await {
        Ok(endpoints) => endpoints,
        Err(error) => {
            let change = Change::new(ResourceKind::Api, "endpoints", "", Action::Unchanged);
            return Err(ApplyError {
                cause: None,
                done,
                failed: vec![(change, error.context("reading the endpoints back"))],
                pending: Vec::new(),
            });
        }
    };
    Ok(Applied { done, endpoints })
}

fn pending(changes: &[&Change]) -> Vec<Change> {
    let mut out = Vec::new();
    for change in changes {
        if change.action != Action::Unchanged {
            out.push((*change).clone());
        }
    }
    out
}

/// Creates or updates the managed role as planned; answers the role ARN functions run as.
async fn ensure_role(
    clients: &Clients,
    service: &Service,
    change: Option<&Change>,
) -> anyhow::Result<String> {
    match role::desired(service, &clients.region) {
        RoleSpec::Existing(existing) => role::existing_arn(clients, &existing).await,
        RoleSpec::Managed { name, statements } => {
            let action = change.map(|c| c.action).unwrap_or(Action::Unchanged);
            match (action, role::live(clients, &name).await?) {
                (Action::Create, None) | (_, None) => {
                    role::create(clients, service, &name, &statements).await
                }
                (Action::Update, Some((arn, live))) => {
                    role::update(clients, &name, &statements, &live).await?;
                    Ok(arn)
                }
                (_, Some((arn, _))) => Ok(arn),
            }
        }
    }
}

async fn apply_function(
    clients: &Clients,
    service: &Service,
    packaged: &Packaged,
    change: &Change,
    role: &str,
) -> anyhow::Result<()> {
    match change.action {
        Action::Unchanged => Ok(()),
        Action::Delete => {
            functions::delete(clients, &change.deployed_name).await?;
            super::logs::delete_group(clients, &change.deployed_name).await
        }
        Action::Create => {
            let spec = functions::desired(service, packaged, &change.name)?;
            let code = code_source(clients, service, &spec).await?;
            functions::create(clients, &spec, role, code)
                .await
                .map(|_| ())
        }
        Action::Update => {
            let spec = functions::desired(service, packaged, &change.name)?;
            let live = functions::live(clients, &spec.deployed_name)
                .await?
                .with_context(|| format!("{} disappeared during the deploy", spec.deployed_name))?;
            let code = if change.fields.iter().any(|f| f.field == "code") {
                Some(code_source(clients, service, &spec).await?)
            } else {
                None
            };
            functions::update(clients, &spec, &live.arn, &change.fields, role, code).await
        }
    }
}

/// The zip bytes, or — above the direct-upload limit — the object it was uploaded to.
async fn code_source(
    clients: &Clients,
    service: &Service,
    spec: &FunctionSpec,
) -> anyhow::Result<CodeSource> {
    if spec.artifact_size <= DIRECT_UPLOAD_LIMIT {
        let bytes = tokio::fs::read(&spec.artifact)
            .await
            .with_context(|| format!("reading {}", spec.artifact.display()))?;
        return Ok(CodeSource::Zip(bytes));
    }
    let bucket = deployment_bucket(clients, service).await?;
    let key = format!("{}{}.zip", object_prefix(service), spec.sha256_hex);
    let exists = clients
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .is_ok();
    if !exists {
        let body = ByteStream::from_path(&spec.artifact)
            .await
            .with_context(|| format!("reading {}", spec.artifact.display()))?;
        clients
            .s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(describe)
            .with_context(|| {
                format!(
                    "uploading {} to s3://{bucket}/{key}",
                    spec.artifact.display()
                )
            })?;
    }
    Ok(CodeSource::S3 { bucket, key })
}

/// Where this service's and stage's artifacts live in the deployment bucket.
pub fn object_prefix(service: &Service) -> String {
    format!("stratus/{}/{}/", service.name, service.stage)
}

/// `provider.deploymentBucket` (a name or `{name: ...}`), when the manifest names one.
pub fn configured_bucket(service: &Service) -> Option<String> {
    let value = service.provider.extra.get("deploymentBucket")?;
    value
        .as_str()
        .or_else(|| value.get("name").and_then(|n| n.as_str()))
        .map(str::to_string)
}

/// The deployment bucket's name: configured, else `stratus-deployments-{account}-{region}`.
pub async fn bucket_name(clients: &Clients, service: &Service) -> anyhow::Result<String> {
    match configured_bucket(service) {
        Some(bucket) => Ok(bucket),
        None => Ok(format!(
            "stratus-deployments-{}-{}",
            clients.account_id().await?,
            clients.region
        )),
    }
}

/// The deployment bucket, created when it does not exist yet.
async fn deployment_bucket(clients: &Clients, service: &Service) -> anyhow::Result<String> {
    let bucket = bucket_name(clients, service).await?;
    if clients
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .is_ok()
    {
        return Ok(bucket);
    }
    let mut request = clients.s3.create_bucket().bucket(&bucket);
    if clients.region != "us-east-1" {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(clients.region.as_str().into())
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(bucket),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(bucket)
        }
        Err(error) => Err(describe(error)).with_context(|| {
            format!(
                "creating the deployment bucket {bucket} (set provider.deploymentBucket to use \
                 one of yours)"
            )
        }),
    }
}

async fn function_arn(
    clients: &Clients,
    arns: &mut BTreeMap<String, String>,
    deployed: &str,
) -> anyhow::Result<String> {
    if let Some(arn) = arns.get(deployed) {
        return Ok(arn.clone());
    }
    let arn = functions::live(clients, deployed)
        .await?
        .with_context(|| format!("{deployed} does not exist"))?
        .arn;
    arns.insert(deployed.to_string(), arn.clone());
    Ok(arn)
}

async fn apply_event(
    clients: &Clients,
    service: &Service,
    change: &Change,
    api: &mut Option<events::LiveApi>,
    arns: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    match (change.kind, change.action) {
        (ResourceKind::Api, Action::Create) => {
            *api = Some(events::create_api(clients, service).await?);
        }
        (ResourceKind::Api, Action::Update) => {
            events::put_cors(clients, service, &change.deployed_name).await?;
        }
        (ResourceKind::Api, Action::Delete) => {
            clients
                .apigw
                .delete_api()
                .api_id(&change.deployed_name)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("deleting HTTP API {}", change.deployed_name))?;
        }
        (ResourceKind::Route, Action::Create | Action::Update) => {
            if api.is_none() {
                *api = events::live_api(clients, service).await?;
            }
            let live = api.as_mut().context("the HTTP API does not exist")?;
            let arn = function_arn(clients, arns, &change.deployed_name).await?;
            events::put_route(clients, live, &change.name, &arn).await?;
        }
        (ResourceKind::Route, Action::Delete) => {
            if api.is_none() {
                *api = events::live_api(clients, service).await?;
            }
            let live = api.as_mut().context("the HTTP API does not exist")?;
            if let Some((route_id, _)) = live.routes.remove(&change.name) {
                clients
                    .apigw
                    .delete_route()
                    .api_id(&live.id)
                    .route_id(route_id)
                    .send()
                    .await
                    .map_err(describe)
                    .with_context(|| format!("deleting route {}", change.name))?;
            }
        }
        _ if buckets::is_s3_change(change) => {
            let arn = match buckets::target_function(service, change) {
                Some(deployed) => Some(function_arn(clients, arns, &deployed).await?),
                None => None,
            };
            buckets::apply(clients, service, change, arn.as_deref()).await?;
        }
        (ResourceKind::Trigger, _) if sources::is_source_change(change) => {
            sources::apply(clients, service, change).await?;
        }
        (ResourceKind::Trigger, action) if change.name.ends_with(URL_SUFFIX) => match action {
            Action::Create => {
                events::create_url(clients, &change.deployed_name).await?;
            }
            Action::Delete => events::delete_url(clients, &change.deployed_name).await?,
            _ => {}
        },
        (ResourceKind::Trigger, Action::Create | Action::Update) => {
            let spec = schedules::schedules(service)
                .into_iter()
                .find(|s| s.rule == change.deployed_name)
                .with_context(|| format!("rule {} is not in the manifest", change.deployed_name))?;
            let arn = function_arn(clients, arns, &service.deployed_name(&spec.function)).await?;
            schedules::put_schedule(clients, service, &spec, &arn).await?;
        }
        (ResourceKind::Trigger, Action::Delete) => {
            schedules::delete_schedule(clients, &change.deployed_name).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Every endpoint of the service: the HTTP API's routes and the function URLs.
pub async fn endpoints(clients: &Clients, service: &Service) -> anyhow::Result<Vec<Endpoint>> {
    let mut endpoints = match events::live_api(clients, service).await? {
        Some(api) => events::api_endpoints(service, &api),
        None => Vec::new(),
    };
    for (name, function) in &service.functions {
        if events::wants_url(function)
            && let Some(url) = events::live_url(clients, &service.deployed_name(name)).await?
        {
            endpoints.push(Endpoint {
                function: name.clone(),
                method: "ANY".to_string(),
                url,
            });
        }
    }
    Ok(endpoints)
}
