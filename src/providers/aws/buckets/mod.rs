//! S3 triggers: each `s3` event becomes one entry of its bucket's notification configuration
//! (`LambdaFunctionConfigurations`, Id `stratus-{function}-s3-{n}`) with the permission that lets
//! S3 invoke the function; entries of others on the same bucket are kept as they are. A bucket
//! named without `existing: true` is created when missing (tagged with the service and stage),
//! as Serverless does; `remove` deletes such a bucket only when it is empty, so no object is ever
//! lost. What is live is read back from the buckets of the manifest and the buckets the
//! functions' own permissions name, so a trigger that left the manifest is found and removed.
//! [`spec`] reads and checks the manifest's events.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Event as S3Event, FilterRule,
    FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter, Tag, Tagging,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value as Json;

use super::config::Clients;
use super::events::allow_invoke;
use super::functions::{TAG_SERVICE, TAG_STAGE};
use super::{describe, found};

mod spec;

use crate::model::Service;
use crate::providers::{Action, CONCURRENCY, Change, FieldChange, Removed, ResourceKind};
pub use spec::{S3Spec, check, desired};

/// Statement ids of the S3 invoke permissions start with this.
const SID_PREFIX: &str = "stratus-s3-";

/// One Lambda entry of a bucket's live notification configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LiveEntry {
    id: String,
    function_arn: String,
    events: BTreeSet<String>,
    prefix: Option<String>,
    suffix: Option<String>,
}

async fn bucket_exists(clients: &Clients, bucket: &str) -> anyhow::Result<bool> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(error)
            if error.as_service_error().is_some_and(|e| e.is_not_found())
                || error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(false)
        }
        Err(error) => Err(describe(error)).with_context(|| format!("looking for bucket {bucket}")),
    }
}

/// The bucket's whole notification configuration and its Lambda entries.
async fn notifications(
    clients: &Clients,
    bucket: &str,
) -> anyhow::Result<(NotificationConfiguration, Vec<LiveEntry>)> {
    let answer = match clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(answer) => answer,
        // A bucket with no notifications may be answered (by S3-compatible servers) with a
        // bare document the SDK does not read; a successful answer is an empty configuration.
        Err(error)
            if error
                .raw_response()
                .is_some_and(|r| r.status().is_success()) =>
        {
            return Ok((NotificationConfiguration::builder().build(), Vec::new()));
        }
        Err(error) => {
            return Err(describe(error))
                .with_context(|| format!("reading the notifications of bucket {bucket}"));
        }
    };
    let entries = answer
        .lambda_function_configurations()
        .iter()
        .map(|config| {
            let rule = |name: FilterRuleName| {
                config
                    .filter()
                    .and_then(|f| f.key())
                    .and_then(|k| k.filter_rules().iter().find(|r| r.name() == Some(&name)))
                    .and_then(|r| r.value())
                    .map(str::to_string)
            };
            LiveEntry {
                id: config.id().unwrap_or_default().to_string(),
                function_arn: config.lambda_function_arn().to_string(),
                events: config
                    .events()
                    .iter()
                    .map(|e| e.as_str().to_string())
                    .collect(),
                prefix: rule(FilterRuleName::Prefix),
                suffix: rule(FilterRuleName::Suffix),
            }
        })
        .collect();
    let whole = NotificationConfiguration::builder()
        .set_topic_configurations(Some(answer.topic_configurations().to_vec()))
        .set_queue_configurations(Some(answer.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(answer.lambda_function_configurations().to_vec()))
        .set_event_bridge_configuration(answer.event_bridge_configuration().cloned())
        .build();
    Ok((whole, entries))
}

/// The buckets `deployed`'s own invoke permissions name (how a trigger that left the manifest
/// is found again).
async fn permitted_buckets(clients: &Clients, deployed: &str) -> anyhow::Result<Vec<String>> {
    let answer = clients
        .lambda
        .get_policy()
        .function_name(deployed)
        .send()
        .await;
    let Some(answer) =
        found(answer).with_context(|| format!("reading the policy of {deployed}"))?
    else {
        return Ok(Vec::new());
    };
    let policy = answer.policy().unwrap_or_default().to_string();
    let document: Json = serde_json::from_str(&policy).unwrap_or(Json::Null);
    Ok(document
        .get("Statement")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|statement| statement.get("Sid")?.as_str()?.strip_prefix(SID_PREFIX))
        .map(str::to_string)
        .collect())
}

/// The trigger and bucket changes of the service's `s3` events against what is live.
/// `deployed` names the service's functions that exist.
pub async fn plan(
    clients: &Clients,
    service: &Service,
    deployed: &[String],
) -> anyhow::Result<Vec<Change>> {
    let specs = desired(service);
    let mut buckets: BTreeSet<String> = specs.iter().map(|s| s.bucket.clone()).collect();
    // Each function's permissions, read concurrently: the buckets that still notify it.
    let permitted: Vec<Vec<String>> = stream::iter(deployed.to_vec())
        .map(|deployed_name| async move { permitted_buckets(clients, &deployed_name).await })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    buckets.extend(permitted.into_iter().flatten());
    let ours = format!("stratus-{}-{}-", service.name, service.stage);
    let mut changes = Vec::new();
    for bucket in &buckets {
        let wanted: Vec<&S3Spec> = specs.iter().filter(|s| &s.bucket == bucket).collect();
        let live = if bucket_exists(clients, bucket).await? {
            notifications(clients, bucket).await?.1
        } else {
            if let Some(spec) = wanted.iter().find(|s| s.existing) {
                anyhow::bail!(
                    "bucket {bucket} does not exist, and {} says `existing: true`; create it, or drop `existing` to let stratus create it",
                    spec.name
                );
            }
            if !wanted.is_empty() {
                changes.push(Change::new(
                    ResourceKind::Storage,
                    format!("bucket {bucket}"),
                    bucket,
                    Action::Create,
                ));
            }
            Vec::new()
        };
        for spec in &wanted {
            let deployed_name = service.deployed_name(&spec.function);
            let change = match live.iter().find(|entry| entry.id == spec.id) {
                None => Change::new(ResourceKind::Trigger, &spec.name, &spec.id, Action::Create),
                Some(entry) => {
                    let fields = diff(spec, entry, &deployed_name);
                    let action = if fields.is_empty() {
                        Action::Unchanged
                    } else {
                        Action::Update
                    };
                    Change::new(ResourceKind::Trigger, &spec.name, &spec.id, action)
                        .with_fields(fields)
                }
            };
            changes.push(change);
        }
        for entry in &live {
            if entry.id.starts_with(&ours) && !wanted.iter().any(|s| s.id == entry.id) {
                let function = entry
                    .id
                    .strip_prefix(&ours)
                    .and_then(|rest| rest.rsplit_once("-s3-"))
                    .map_or("?", |(function, _)| function);
                changes.push(Change::new(
                    ResourceKind::Trigger,
                    format!("{function} s3 {bucket}"),
                    &entry.id,
                    Action::Delete,
                ));
            }
        }
    }
    Ok(changes)
}

fn diff(spec: &S3Spec, live: &LiveEntry, deployed: &str) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
    if spec.events != live.events {
        fields.push(FieldChange::new(
            "event",
            Some(join(&live.events)),
            Some(join(&spec.events)),
        ));
    }
    if spec.prefix != live.prefix {
        fields.push(FieldChange::new(
            "prefix",
            live.prefix.as_deref(),
            spec.prefix.as_deref(),
        ));
    }
    if spec.suffix != live.suffix {
        fields.push(FieldChange::new(
            "suffix",
            live.suffix.as_deref(),
            spec.suffix.as_deref(),
        ));
    }
    if !live
        .function_arn
        .ends_with(&format!(":function:{deployed}"))
    {
        fields.push(FieldChange::new(
            "function",
            Some(&live.function_arn),
            Some(deployed),
        ));
    }
    fields
}

/// Whether a change is one of this module's.
pub fn is_s3_change(change: &Change) -> bool {
    (change.kind == ResourceKind::Trigger && change.name.split(' ').nth(1) == Some("s3"))
        || (change.kind == ResourceKind::Storage && change.name.starts_with("bucket "))
}

/// The function (deployed name) a create or update from [`plan`] points its bucket at; `None`
/// for a bucket or a removal.
pub fn target_function(service: &Service, change: &Change) -> Option<String> {
    if change.kind != ResourceKind::Trigger || change.action == Action::Delete {
        return None;
    }
    desired(service)
        .into_iter()
        .find(|spec| spec.id == change.deployed_name)
        .map(|spec| service.deployed_name(&spec.function))
}

/// Carries out one change from [`plan`]; `function_arn` is the ARN of its
/// [`target_function`], when it has one.
pub async fn apply(
    clients: &Clients,
    service: &Service,
    change: &Change,
    function_arn: Option<&str>,
) -> anyhow::Result<()> {
    if change.kind == ResourceKind::Storage {
        return create_bucket(clients, service, &change.deployed_name).await;
    }
    let bucket = change
        .name
        .split(' ')
        .nth(2)
        .context("internal error: an s3 change names its bucket")?
        .to_string();
    let (whole, _) = notifications(clients, &bucket).await?;
    let mut entries: Vec<LambdaFunctionConfiguration> = whole
        .lambda_function_configurations()
        .iter()
        .filter(|config| config.id() != Some(change.deployed_name.as_str()))
        .cloned()
        .collect();
    if change.action != Action::Delete {
        let spec = desired(service)
            .into_iter()
            .find(|spec| spec.id == change.deployed_name)
            .with_context(|| {
                format!(
                    "{} is not in the manifest any more; plan again",
                    change.name
                )
            })?;
        let deployed = service.deployed_name(&spec.function);
        let arn = function_arn.with_context(|| format!("internal error: no ARN for {deployed}"))?;
        allow_invoke(
            clients,
            &deployed,
            &format!("{SID_PREFIX}{bucket}"),
            "s3.amazonaws.com",
            Some(&format!("arn:aws:s3:::{bucket}")),
            false,
        )
        .await?;
        entries.push(entry(&spec, arn)?);
    }
    put(clients, &bucket, &whole, entries).await
}

fn entry(spec: &S3Spec, arn: &str) -> anyhow::Result<LambdaFunctionConfiguration> {
    let mut rules = Vec::new();
    for (name, value) in [
        (FilterRuleName::Prefix, &spec.prefix),
        (FilterRuleName::Suffix, &spec.suffix),
    ] {
        if let Some(value) = value {
            rules.push(FilterRule::builder().name(name).value(value).build());
        }
    }
    let filter = (!rules.is_empty()).then(|| {
        NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
            .build()
    });
    LambdaFunctionConfiguration::builder()
        .id(&spec.id)
        .lambda_function_arn(arn)
        .set_events(Some(
            spec.events
                .iter()
                .map(|e| S3Event::from(e.as_str()))
                .collect(),
        ))
        .set_filter(filter)
        .build()
        .context("internal error: an S3 notification entry without its function")
}

async fn put(
    clients: &Clients,
    bucket: &str,
    whole: &NotificationConfiguration,
    lambdas: Vec<LambdaFunctionConfiguration>,
) -> anyhow::Result<()> {
    let config = NotificationConfiguration::builder()
        .set_topic_configurations(Some(whole.topic_configurations().to_vec()))
        .set_queue_configurations(Some(whole.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(lambdas))
        .set_event_bridge_configuration(whole.event_bridge_configuration().cloned())
        .build();
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("setting the notifications of bucket {bucket}"))?;
    Ok(())
}

async fn create_bucket(clients: &Clients, service: &Service, bucket: &str) -> anyhow::Result<()> {
    let mut request = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(clients.region.as_str()))
                .build(),
        );
    }
    request.send().await.map_err(describe).with_context(|| {
        format!("creating bucket {bucket} (name it with `existing: true` if it is yours already)")
    })?;
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let tagging = Tagging::builder()
        .tag_set(tag(TAG_SERVICE, &service.name)?)
        .tag_set(tag(TAG_STAGE, &service.stage)?)
        .build()?;
    clients
        .s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("tagging bucket {bucket}"))?;
    Ok(())
}

/// Takes `deployed`'s entries out of every bucket its permissions name (before it is deleted).
pub async fn detach(clients: &Clients, deployed: &str) -> anyhow::Result<()> {
    let prefix = format!("stratus-{deployed}-s3-");
    for bucket in permitted_buckets(clients, deployed).await? {
        if !bucket_exists(clients, &bucket).await? {
            continue;
        }
        let (whole, entries) = notifications(clients, &bucket).await?;
        if !entries.iter().any(|e| e.id.starts_with(&prefix)) {
            continue;
        }
        let kept = whole
            .lambda_function_configurations()
            .iter()
            .filter(|c| !c.id().is_some_and(|id| id.starts_with(&prefix)))
            .cloned()
            .collect();
        put(clients, &bucket, &whole, kept).await?;
    }
    Ok(())
}

/// Deletes the manifest's buckets that stratus created for this service and stage, when empty.
pub async fn remove_buckets(clients: &Clients, service: &Service) -> anyhow::Result<Vec<Removed>> {
    let mut removed = Vec::new();
    let buckets: BTreeSet<String> = desired(service)
        .into_iter()
        .filter(|s| !s.existing)
        .map(|s| s.bucket)
        .collect();
    for bucket in buckets {
        if !bucket_exists(clients, &bucket).await? {
            continue;
        }
        let tags: BTreeMap<String, String> =
            match clients.s3.get_bucket_tagging().bucket(&bucket).send().await {
                Ok(answer) => answer
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                Err(_) => BTreeMap::new(),
            };
        if tags.get(TAG_SERVICE) != Some(&service.name)
            || tags.get(TAG_STAGE) != Some(&service.stage)
        {
            continue;
        }
        let listing = clients
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("listing bucket {bucket}"))?;
        if listing.key_count().unwrap_or(0) > 0 {
            continue;
        }
        clients
            .s3
            .delete_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("deleting bucket {bucket}"))?;
        removed.push(Removed {
            kind: ResourceKind::Storage,
            name: bucket,
        });
    }
    Ok(removed)
}
