//! `plan` (live state read from the controller, diffed with [`spec::desired`]) and `apply`
//! (that same plan carried out in order: packages, actions, sequences, triggers and their alarm
//! feeds, rules; then deletions in reverse dependency order).
//!
//! A plan only reads. An unchanged action — same `stratus:code-sha256`, kind, limits,
//! parameters and annotations — is never written, so a redeploy of an unchanged service makes
//! no write request at all.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use base64::Engine;
use serde_json::{Value as Json, json};

use super::client::{Collection, OwClient};
use super::config::Credentials;
use super::spec::{self, DesiredAction, DesiredEntity, FUNCTION_ANNOTATION, belongs_to};
use super::triggers::ALARM_FEED;
use crate::http;
use crate::model::{Event, Service};
use crate::package::Packaged;
use crate::providers::{
    Action, Applied, ApplyError, CONCURRENCY, Change, Endpoint, Plan, ResourceKind, Scope,
};

/// The entities of this service and stage that are live, by name.
#[derive(Debug, Default)]
pub struct Live {
    /// Actions (brief records).
    pub actions: BTreeMap<String, Json>,
    /// Triggers (brief records).
    pub triggers: BTreeMap<String, Json>,
    /// Rules (brief records).
    pub rules: BTreeMap<String, Json>,
    /// Packages (brief records).
    pub packages: BTreeMap<String, Json>,
    /// `collection/name` of every other entity in the namespace (not this service's and stage's).
    pub foreign: BTreeSet<String>,
}

/// Reads every entity that carries this service's and stage's annotations.
pub async fn read_live(client: &OwClient, service: &Service) -> anyhow::Result<Live> {
    let mut live = Live::default();
    for (collection, into) in [
        (Collection::Actions, &mut live.actions),
        (Collection::Triggers, &mut live.triggers),
        (Collection::Rules, &mut live.rules),
        (Collection::Packages, &mut live.packages),
    ] {
        let listed = client
            .list(collection)
            .await
            .with_context(|| format!("listing the {} of the namespace", collection.segment()))?;
        for entity in listed {
            let Some(name) = entity.get("name").and_then(Json::as_str) else {
                continue;
            };
            if belongs_to(&entity, service) {
                into.insert(name.to_string(), entity);
            } else {
                live.foreign
                    .insert(format!("{}/{name}", collection.segment()));
            }
        }
    }
    Ok(live)
}

fn name_of_action(record: &Json) -> String {
    spec::annotation(record, FUNCTION_ANNOTATION)
        .and_then(Json::as_str)
        .unwrap_or_else(|| record.get("name").and_then(Json::as_str).unwrap_or(""))
        .to_string()
}

/// Diffs the desired service with what is live.
pub async fn plan(
    client: &OwClient,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
) -> anyhow::Result<Plan> {
    let namespace = client.resolved_namespace().await?;
    let desired = spec::desired(service, packaged, scope.functions.as_deref(), &namespace)?;
    let live = read_live(client, service).await?;
    refuse_foreign(&desired, &live, service)?;
    let mut changes = Vec::new();

    for package in &desired.packages {
        changes.push(entity_change(
            ResourceKind::Group,
            package,
            live.packages.get(&package.name),
        ));
    }
    let reads = desired.actions.iter().map(|action| async {
        if !live.actions.contains_key(&action.name) {
            return Ok(None);
        }
        client
            .get(Collection::Actions, &action.name)
            .await
            .with_context(|| format!("reading action {}", action.name))
    });
    let current = http::bounded(reads.collect(), CONCURRENCY).await;
    for (action, current) in desired.actions.iter().zip(current) {
        changes.push(action_change(action, current?.as_ref()));
    }
    for trigger in &desired.triggers {
        changes.push(entity_change(
            ResourceKind::Trigger,
            trigger,
            live.triggers.get(&trigger.name),
        ));
    }
    for rule in &desired.rules {
        changes.push(entity_change(
            ResourceKind::Trigger,
            rule,
            live.rules.get(&rule.name),
        ));
    }

    if scope.deletes_allowed() {
        let wanted = |list: &[DesiredEntity]| -> BTreeSet<String> {
            list.iter().map(|entity| entity.name.clone()).collect()
        };
        let delete = |kind, name: &str, shown: String| {
            Change::new(kind, shown, name.to_string(), Action::Delete)
        };
        let rules = wanted(&desired.rules);
        for name in live.rules.keys().filter(|name| !rules.contains(*name)) {
            changes.push(delete(ResourceKind::Trigger, name, name.clone()));
        }
        let triggers = wanted(&desired.triggers);
        for name in live
            .triggers
            .keys()
            .filter(|name| !triggers.contains(*name))
        {
            changes.push(delete(ResourceKind::Trigger, name, name.clone()));
        }
        let actions: BTreeSet<&str> = desired.actions.iter().map(|a| a.name.as_str()).collect();
        // Sequences first: they refer to the other actions.
        let mut gone: Vec<(&String, &Json)> = live
            .actions
            .iter()
            .filter(|(name, _)| !actions.contains(name.as_str()))
            .collect();
        gone.sort_by_key(|(_, record)| {
            record.pointer("/exec/kind").and_then(Json::as_str) != Some("sequence")
        });
        for (name, record) in gone {
            changes.push(delete(ResourceKind::Function, name, name_of_action(record)));
        }
        let packages = wanted(&desired.packages);
        for name in live
            .packages
            .keys()
            .filter(|name| !packages.contains(*name))
        {
            changes.push(delete(ResourceKind::Group, name, name.clone()));
        }
    }
    Ok(Plan {
        provider: "openwhisk".into(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: None,
        changes,
    })
}

/// Fails when a name the service needs is taken by an entity it did not create: overwriting
/// it would destroy someone else's work.
fn refuse_foreign(desired: &spec::Desired, live: &Live, service: &Service) -> anyhow::Result<()> {
    let wanted = desired
        .packages
        .iter()
        .map(|p| format!("packages/{}", p.name))
        .chain(
            desired
                .actions
                .iter()
                .map(|a| format!("actions/{}", a.name)),
        )
        .chain(
            desired
                .triggers
                .iter()
                .map(|t| format!("triggers/{}", t.name)),
        )
        .chain(desired.rules.iter().map(|r| format!("rules/{}", r.name)));
    let taken: Vec<String> = wanted.filter(|key| live.foreign.contains(key)).collect();
    anyhow::ensure!(
        taken.is_empty(),
        "{} already exist(s) in the namespace but do(es) not belong to service `{}` stage `{}`\n  \
         help: delete or rename them (`wsk action delete NAME`), or deploy under another service name or stage",
        taken.join(", "),
        service.name,
        service.stage
    );
    Ok(())
}

fn action_change(action: &DesiredAction, live: Option<&Json>) -> Change {
    let change = |verb| {
        Change::new(
            ResourceKind::Function,
            action.function.clone(),
            action.name.clone(),
            verb,
        )
    };
    let Some(live) = live else {
        return change(Action::Create);
    };
    let desired = action.fields();
    let current = spec::action_fields(live, None);
    let fields = crate::providers::diff_fields(&current, &desired);
    if fields.is_empty() {
        change(Action::Unchanged)
    } else {
        change(Action::Update).with_fields(fields)
    }
}

fn entity_change(kind: ResourceKind, entity: &DesiredEntity, live: Option<&Json>) -> Change {
    let shown = match &entity.function {
        Some(function) => format!("{} ({function})", entity.name),
        None => entity.name.clone(),
    };
    let change = |verb| Change::new(kind, shown.clone(), entity.name.clone(), verb);
    let Some(live) = live else {
        return change(Action::Create);
    };
    let current: BTreeMap<String, (String, bool)> = spec::live_spec(live)
        .into_iter()
        .map(|(k, v)| (k, (v, false)))
        .collect();
    let desired: BTreeMap<String, (String, bool)> = entity
        .spec
        .iter()
        .map(|(k, v)| (k.clone(), (v.clone(), false)))
        .collect();
    let fields = crate::providers::diff_fields(&current, &desired);
    if fields.is_empty() {
        change(Action::Unchanged)
    } else {
        change(Action::Update).with_fields(fields)
    }
}

/// Carries out `plan`.
pub async fn apply(
    client: &OwClient,
    credentials: &Credentials,
    service: &Service,
    packaged: &Packaged,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let mut done = Vec::new();
    let prepared = async {
        let namespace = client.resolved_namespace().await?;
        let desired = spec::desired(service, packaged, None, &namespace)?;
        anyhow::Ok((namespace, desired))
    }
    .await;
    let (namespace, desired) = match prepared {
        Ok(ready) => ready,
        Err(error) => {
            let pending: Vec<Change> = plan
                .changes
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .cloned()
                .collect();
            if pending.is_empty() {
                return Ok(Applied {
                    done,
                    endpoints: Vec::new(),
                });
            }
            return Err(ApplyError {
                cause: Some(error),
                done,
                failed: Vec::new(),
                pending,
            });
        }
    };
    let pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    let mut start = 0;
    while start < pending.len() {
        // Consecutive changes of one phase are independent: run them side by side.
        let phase = phase_of(pending[start], &desired);
        let mut end = start + 1;
        while phase.is_some() && end < pending.len() && phase_of(pending[end], &desired) == phase {
            end += 1;
        }
        let batch = &pending[start..end];
        let work = batch
            .iter()
            .map(|change| apply_one(client, credentials, &namespace, &desired, change));
        let results = http::bounded(work.collect(), CONCURRENCY).await;
        let mut failed = Vec::new();
        for (change, result) in batch.iter().zip(results) {
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
                pending: pending[end..].iter().map(|c| (*c).clone()).collect(),
            });
        }
        start = end;
    }
    let endpoints = endpoints(client, service, &namespace);
    Ok(Applied { done, endpoints })
}

async fn apply_one(
    client: &OwClient,
    credentials: &Credentials,
    namespace: &str,
    desired: &spec::Desired,
    change: &Change,
) -> anyhow::Result<()> {
    let name = change.deployed_name.as_str();
    let find = |list: &[DesiredEntity]| list.iter().find(|e| e.name == name).cloned();
    match (change.kind, change.action) {
        (_, Action::Unchanged) => Ok(()),
        (ResourceKind::Function, Action::Delete) => {
            client.delete(Collection::Actions, name).await.map(drop)
        }
        (ResourceKind::Function, _) => {
            let action = desired
                .actions
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| not_in_manifest(name))?;
            let code = match &action.code {
                spec::ActionCode::Zip { path, .. } => {
                    let bytes = tokio::fs::read(path)
                        .await
                        .with_context(|| format!("reading the package {}", path.display()))?;
                    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                spec::ActionCode::Sequence(_) => None,
            };
            client
                .put(Collection::Actions, name, &action.body(code))
                .await
                .map(drop)
        }
        (ResourceKind::Group, Action::Delete) => {
            client.delete(Collection::Packages, name).await.map(drop)
        }
        (ResourceKind::Group, _) => {
            let package = find(&desired.packages).ok_or_else(|| not_in_manifest(name))?;
            client
                .put(Collection::Packages, name, &package.body)
                .await
                .map(drop)
        }
        (_, action) if name.ends_with("-rule") => {
            if action == Action::Delete {
                return client.delete(Collection::Rules, name).await.map(drop);
            }
            let rule = find(&desired.rules).ok_or_else(|| not_in_manifest(name))?;
            client
                .put(Collection::Rules, name, &rule.body)
                .await
                .map(drop)
        }
        (_, Action::Delete) => delete_trigger(client, credentials, namespace, name).await,
        (_, action) => {
            let trigger = find(&desired.triggers).ok_or_else(|| not_in_manifest(name))?;
            if action == Action::Update && trigger.alarm.is_some() {
                // The alarm's schedule lives in the feed: forget the old one first.
                let _ = feed(client, credentials, namespace, name, "DELETE", None).await;
            }
            client
                .put(Collection::Triggers, name, &trigger.body)
                .await?;
            if let Some((cron, payload)) = &trigger.alarm {
                feed(
                    client,
                    credentials,
                    namespace,
                    name,
                    "CREATE",
                    Some((cron, payload.as_ref())),
                )
                .await?;
            }
            Ok(())
        }
    }
}

/// Which changes may run side by side: creates and updates of code actions, of sequences,
/// of rules; deletions of rules. `None`: one at a time (order matters, or feeds are involved).
fn phase_of(change: &Change, desired: &spec::Desired) -> Option<(u8, bool)> {
    let is_rule = change.deployed_name.ends_with("-rule");
    let upsert = change.action != Action::Delete;
    match change.kind {
        ResourceKind::Function if upsert => {
            let sequence = desired.actions.iter().any(|a| {
                a.name == change.deployed_name && matches!(a.code, spec::ActionCode::Sequence(_))
            });
            Some((1, sequence))
        }
        ResourceKind::Trigger if is_rule => Some((2, upsert)),
        _ => None,
    }
}

fn not_in_manifest(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`{name}` is not in the manifest any more; run `stratus plan` again and apply the new plan"
    )
}

/// Deletes a trigger, first telling its feed (if any) to stop firing it.
pub async fn delete_trigger(
    client: &OwClient,
    credentials: &Credentials,
    namespace: &str,
    name: &str,
) -> anyhow::Result<()> {
    if let Some(trigger) = client.get(Collection::Triggers, name).await?
        && spec::annotation(&trigger, "feed").and_then(Json::as_str) == Some(ALARM_FEED)
    {
        feed(client, credentials, namespace, name, "DELETE", None).await?;
    }
    client.delete(Collection::Triggers, name).await.map(drop)
}

async fn feed(
    client: &OwClient,
    credentials: &Credentials,
    namespace: &str,
    trigger: &str,
    event: &str,
    schedule: Option<(&String, Option<&Json>)>,
) -> anyhow::Result<()> {
    let mut body = json!({
        "lifecycleEvent": event,
        "triggerName": format!("/{namespace}/{trigger}"),
        "authKey": credentials.auth_string(),
    });
    if let Some((cron, payload)) = schedule {
        body["cron"] = json!(cron);
        if let Some(payload) = payload {
            body["trigger_payload"] = payload.clone();
        }
    }
    client
        .call_feed(ALARM_FEED, &body)
        .await
        .with_context(|| format!("{} the alarm of trigger {trigger}", event.to_lowercase()))
}

/// The web URLs of the service's HTTP functions.
pub fn endpoints(client: &OwClient, service: &Service, namespace: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for function in service.functions.values() {
        for event in &function.events {
            if let Event::Http(http) = event {
                out.push(Endpoint {
                    function: function.name.clone(),
                    method: http.method.clone(),
                    url: web_url(
                        client,
                        namespace,
                        &service.deployed_name(&function.name),
                        &http.path,
                    ),
                });
            }
        }
    }
    out
}

/// `{apihost}/api/v1/web/{namespace}/default/{action}{path}`.
pub fn web_url(client: &OwClient, namespace: &str, action: &str, path: &str) -> String {
    let base = client.api().as_str().trim_end_matches('/');
    let path = if path.is_empty() || path == "/" {
        String::new()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!("{base}/web/{namespace}/default/{action}{path}")
}
