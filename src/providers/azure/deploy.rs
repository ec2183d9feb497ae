//! `plan` (live state read through ARM, diffed with the desired bodies of [`spec`]) and
//! `apply` (that plan carried out in order: resource group, storage account and deployment
//! container, Application Insights, Flex Consumption plan, function app and its settings, then
//! the app package published once for all functions, then the per-function tags).
//!
//! A plan only reads. Every ARM write is skipped when the desired fields equal the live ones,
//! and the publish is skipped when the package's sha256 equals the one tagged on the app, so a
//! no-op redeploy makes no write at all.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::{Value as Json, json};

use super::app::{self, CODE_TAG, CONFIG_TAG, Names, PACKAGE_TAG, api};
use super::arm::ArmClient;
use super::bindings;
use super::config::AzureConfig;
pub use super::functions::{endpoints, list_functions};
use super::publish;
use super::spec::{self, AppRuntime, KNOWN_AFTER_APPLY};
use crate::http::redact::is_secret_key;
use crate::http::register_secret;
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::{
    Action, Applied, ApplyError, Change, FieldChange, Plan, ResourceKind, Scope,
};

/// Everything live for one service and stage.
#[derive(Debug, Default)]
pub struct Live {
    /// The resource group record.
    pub group: Option<Json>,
    /// The storage account.
    pub storage: Option<Json>,
    /// The deployment container.
    pub container: Option<Json>,
    /// The Application Insights component.
    pub insights: Option<Json>,
    /// The plan.
    pub plan: Option<Json>,
    /// The function app.
    pub app: Option<Json>,
    /// The app's settings.
    pub settings: BTreeMap<String, String>,
}

/// Reads what is live (GETs, plus the read-only `appsettings/list`).
pub async fn read_live(arm: &ArmClient, names: &Names) -> anyhow::Result<Live> {
    let mut live = Live {
        group: arm.get(&names.group_path, api::GROUPS).await?,
        ..Live::default()
    };
    if live.group.is_none() {
        return Ok(live);
    }
    live.storage = arm.get(&names.storage_path(), api::STORAGE).await?;
    if live.storage.is_some() {
        live.container = arm.get(&names.container_path(), api::STORAGE).await?;
    }
    live.insights = arm.get(&names.insights_path(), api::INSIGHTS).await?;
    live.plan = arm.get(&names.plan_path(), api::WEB).await?;
    live.app = arm.get(&names.app_path(), api::WEB).await?;
    if live.app.is_some() {
        let path = format!("{}/config/appsettings/list", names.app_path());
        let answer = arm.post(&path, api::WEB, None, true).await?;
        live.settings = string_map(answer.get("properties"));
        live.settings.values().for_each(|v| {
            if v.contains("AccountKey=") || v.contains("InstrumentationKey=") {
                register_secret(v);
            }
        });
    }
    Ok(live)
}

fn string_map(value: Option<&Json>) -> BTreeMap<String, String> {
    value
        .and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The app's runtime and instance memory, from the functions (check made sure they agree).
pub fn app_runtime(service: &Service) -> anyhow::Result<AppRuntime> {
    let mut memory = 0;
    let mut runtime = None;
    for function in service.functions.values() {
        let effective = service.effective(function);
        memory = memory.max(effective.memory_size);
        if runtime.is_none() {
            runtime = effective.runtime;
        }
    }
    let (language, version) = runtime
        .map(|r| (r.language, r.version))
        .unwrap_or((crate::model::Language::Python, String::new()));
    let (name, version) = app::flex_runtime(&language, &version).map_err(anyhow::Error::msg)?;
    let instance_memory = app::instance_memory(memory)
        .with_context(|| format!("memorySize {memory} exceeds Flex Consumption's 4096 MB"))?;
    Ok(AppRuntime {
        name,
        version,
        instance_memory,
    })
}

/// The storage connection string, from the account's keys.
async fn storage_connection(arm: &ArmClient, names: &Names) -> anyhow::Result<String> {
    let path = format!("{}/listKeys", names.storage_path());
    let keys = arm.post(&path, api::STORAGE, None, true).await?;
    let key = keys
        .pointer("/keys/0/value")
        .and_then(Json::as_str)
        .context("the storage account listed no keys")?;
    register_secret(key);
    let connection = format!(
        "DefaultEndpointsProtocol=https;AccountName={};AccountKey={key};EndpointSuffix=core.windows.net",
        names.storage
    );
    register_secret(&connection);
    Ok(connection)
}

/// The app settings the service wants; `None` inputs show as known after apply.
pub fn desired_settings(
    service: &Service,
    storage: Option<&str>,
    insights: Option<&Json>,
) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for function in service.functions.values() {
        settings.extend(function.environment.clone());
    }
    settings.extend(service.provider.environment.clone());
    let storage = storage.unwrap_or(KNOWN_AFTER_APPLY).to_string();
    settings.insert("AzureWebJobsStorage".into(), storage.clone());
    settings.insert("DEPLOYMENT_STORAGE_CONNECTION_STRING".into(), storage);
    let insights = insights
        .and_then(|i| i.pointer("/properties/ConnectionString"))
        .and_then(Json::as_str)
        .unwrap_or(KNOWN_AFTER_APPLY)
        .to_string();
    settings.insert("APPLICATIONINSIGHTS_CONNECTION_STRING".into(), insights);
    settings
}

fn sensitive(key: &str) -> bool {
    is_secret_key(key) || key.contains("CONNECTION_STRING") || key == "AzureWebJobsStorage"
}

fn diff(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    secret: impl Fn(&str) -> bool,
) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = current.keys().chain(desired.keys()).collect();
    keys.into_iter()
        .filter(|key| current.get(*key) != desired.get(*key))
        .map(|key| {
            let change = FieldChange::new(key.clone(), current.get(key), desired.get(key));
            if secret(key) {
                change.sensitive()
            } else {
                change
            }
        })
        .collect()
}

fn change(kind: ResourceKind, name: &str, current: Option<&Json>, desired: &Json) -> Change {
    let Some(current) = current else {
        return Change::new(kind, name.to_string(), name.to_string(), Action::Create);
    };
    let fields = diff(&spec::fields(current), &spec::fields(desired), |_| false);
    let action = if fields.is_empty() {
        Action::Unchanged
    } else {
        Action::Update
    };
    Change::new(kind, name.to_string(), name.to_string(), action).with_fields(fields)
}

/// The per-function code hash and settings recorded as app tags.
pub fn function_tags(service: &Service, packaged: &Packaged) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for function in service.functions.values() {
        if let Some(artifact) = packaged.for_function(&function.name) {
            tags.insert(
                format!("{CODE_TAG}{}", function.name),
                artifact.sha256.clone(),
            );
        }
        tags.insert(
            format!("{CONFIG_TAG}{}", function.name),
            app::encode_settings(&app::function_settings(service, function)),
        );
    }
    tags
}

/// The functions recorded on a live app: name → fields (`code`, `runtime`, ...).
pub fn live_functions(app: Option<&Json>) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let tags = app.map(spec::tags_of).unwrap_or_default();
    for (key, value) in &tags {
        if let Some(name) = key.strip_prefix(CODE_TAG) {
            out.entry(name.to_string())
                .or_default()
                .insert("code".into(), value.clone());
        }
    }
    for (key, value) in &tags {
        if let Some(name) = key.strip_prefix(CONFIG_TAG)
            && let Some(fields) = out.get_mut(name)
        {
            fields.extend(app::decode_settings(value));
        }
    }
    out
}

/// Diffs the service with what is live.
pub async fn plan(
    arm: &ArmClient,
    config: &AzureConfig,
    service: &Service,
    packaged: &Packaged,
    scope: &Scope,
) -> anyhow::Result<Plan> {
    // Before any call: vendored Python packages that cannot share the app root stop the plan.
    bindings::check_python_packages(packaged)?;
    let names = Names::new(service, config);
    let live = read_live(arm, &names).await?;
    if let Some(app) = &live.app {
        anyhow::ensure!(
            spec::belongs_to(app, service),
            "the function app {} exists in resource group {} but does not belong to service `{}` \
             stage `{}`\n  help: use another provider.prefix, service name or stage",
            names.app,
            names.group,
            service.name,
            service.stage
        );
    }
    let runtime = app_runtime(service)?;
    let mut group = change(
        ResourceKind::Group,
        &names.group,
        live.group.as_ref(),
        &spec::group(service, config),
    );
    if !config.own_group && live.group.is_some() {
        // A group named by provider.resourceGroup that exists is someone's: never re-tagged.
        group = Change::new(
            ResourceKind::Group,
            names.group.clone(),
            names.group.clone(),
            Action::Unchanged,
        );
    }
    let mut changes = vec![
        group,
        change(
            ResourceKind::Storage,
            &names.storage,
            live.storage.as_ref(),
            &spec::storage(service, config),
        ),
        change(
            ResourceKind::Storage,
            &format!("{}/{}", names.storage, app::CONTAINER),
            live.container.as_ref(),
            &spec::container(),
        ),
        change(
            ResourceKind::Other,
            &names.insights,
            live.insights.as_ref(),
            &spec::insights(service, config),
        ),
        change(
            ResourceKind::App,
            &names.plan,
            live.plan.as_ref(),
            &spec::plan(service, config),
        ),
    ];
    let connection = match &live.storage {
        Some(_) => Some(storage_connection(arm, &names).await?),
        None => None,
    };
    let site = spec::site(
        config,
        &names,
        &runtime,
        &spec::base_tags(service),
        &spec::container_url(live.storage.as_ref()),
    );
    let mut app_change = change(ResourceKind::App, &names.app, live.app.as_ref(), &site);
    if live.app.is_some() {
        let settings = desired_settings(service, connection.as_deref(), live.insights.as_ref());
        let mut fields = app_change.fields.clone();
        for field in diff(&live.settings, &settings, sensitive) {
            fields.push(FieldChange {
                field: format!("environment.{}", field.field),
                ..field
            });
        }
        if !fields.is_empty() {
            app_change = Change::new(
                ResourceKind::App,
                names.app.clone(),
                names.app.clone(),
                Action::Update,
            )
            .with_fields(fields);
        }
    }
    changes.push(app_change);

    let recorded = live_functions(live.app.as_ref());
    let desired_tags = function_tags(service, packaged);
    for function in service.functions.values() {
        if !scope.includes(&function.name) {
            continue;
        }
        let mut desired = app::function_settings(service, function);
        if let Some(code) = desired_tags.get(&format!("{CODE_TAG}{}", function.name)) {
            desired.insert("code".into(), code.clone());
        }
        let deployed = format!("{}/{}", names.app, function.name);
        let change = match recorded.get(&function.name) {
            None => Change::new(
                ResourceKind::Function,
                function.name.clone(),
                deployed,
                Action::Create,
            ),
            Some(current) => {
                let mut fields = diff(current, &desired, |_| false);
                // `code` first, as every provider lists it.
                fields.sort_by_key(|f| f.field != "code");
                let action = if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                Change::new(
                    ResourceKind::Function,
                    function.name.clone(),
                    deployed,
                    action,
                )
                .with_fields(fields)
            }
        };
        changes.push(change);
    }
    if scope.deletes_allowed() {
        for name in recorded.keys() {
            if !service.functions.contains_key(name) {
                changes.push(Change::new(
                    ResourceKind::Function,
                    name.clone(),
                    format!("{}/{name}", names.app),
                    Action::Delete,
                ));
            }
        }
    }
    Ok(Plan {
        provider: "azure".into(),
        service: service.name.clone(),
        stage: service.stage.clone(),
        region: Some(config.region.clone()),
        changes,
    })
}

/// Carries out `plan`.
pub async fn apply(
    arm: &ArmClient,
    config: &AzureConfig,
    service: &Service,
    packaged: &Packaged,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let names = Names::new(service, config);
    let pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    let mut done = Vec::new();
    let infra: Vec<&Change> = pending
        .iter()
        .copied()
        .filter(|c| c.kind != ResourceKind::Function)
        .collect();
    let functions: Vec<&Change> = pending
        .iter()
        .copied()
        .filter(|c| c.kind == ResourceKind::Function)
        .collect();
    for (index, change) in infra.iter().enumerate() {
        if let Err(error) = apply_infra(arm, config, &names, service, change).await {
            return Err(ApplyError {
                cause: None,
                done,
                failed: vec![((*change).clone(), error)],
                pending: infra[index + 1..]
                    .iter()
                    .chain(functions.iter())
                    .map(|c| (*c).clone())
                    .collect(),
            });
        }
        done.push((*change).clone());
    }
    if !functions.is_empty()
        && let Err(error) = apply_functions(arm, config, &names, service, packaged).await
    {
        return Err(ApplyError {
            cause: Some(error),
            done,
            failed: Vec::new(),
            pending: functions.iter().map(|c| (*c).clone()).collect(),
        });
    }
    done.extend(functions.into_iter().cloned());
    let endpoints = endpoints(arm, &names, service).await.unwrap_or_default();
    Ok(Applied { done, endpoints })
}

async fn apply_infra(
    arm: &ArmClient,
    config: &AzureConfig,
    names: &Names,
    service: &Service,
    change: &Change,
) -> anyhow::Result<()> {
    let name = change.deployed_name.as_str();
    if name == names.group {
        arm.put(
            &names.group_path,
            api::GROUPS,
            &spec::group(service, config),
        )
        .await?;
    } else if name == names.storage {
        arm.put(
            &names.storage_path(),
            api::STORAGE,
            &spec::storage(service, config),
        )
        .await?;
    } else if name == format!("{}/{}", names.storage, app::CONTAINER) {
        arm.put(&names.container_path(), api::STORAGE, &spec::container())
            .await?;
    } else if name == names.insights {
        arm.put(
            &names.insights_path(),
            api::INSIGHTS,
            &spec::insights(service, config),
        )
        .await?;
    } else if name == names.plan {
        arm.put(&names.plan_path(), api::WEB, &spec::plan(service, config))
            .await?;
    } else if name == names.app {
        apply_app(arm, config, names, service, change).await?;
    } else {
        anyhow::bail!("`{name}` is not a resource of this service; run `stratus plan` again");
    }
    Ok(())
}

async fn apply_app(
    arm: &ArmClient,
    config: &AzureConfig,
    names: &Names,
    service: &Service,
    change: &Change,
) -> anyhow::Result<()> {
    let storage = arm.get(&names.storage_path(), api::STORAGE).await?;
    let insights = arm.get(&names.insights_path(), api::INSIGHTS).await?;
    let live = arm.get(&names.app_path(), api::WEB).await?;
    let runtime = app_runtime(service)?;
    let mut tags = spec::base_tags(service);
    // Keep the functions' tags: they change only once their code is published.
    for (key, value) in live.as_ref().map(spec::tags_of).unwrap_or_default() {
        if key == PACKAGE_TAG || key.starts_with(CODE_TAG) || key.starts_with(CONFIG_TAG) {
            tags.insert(key, value);
        }
    }
    let site = spec::site(
        config,
        names,
        &runtime,
        &tags,
        &spec::container_url(storage.as_ref()),
    );
    let site_fields_differ = live
        .as_ref()
        .is_none_or(|live| spec::fields(live) != spec::fields(&site));
    if site_fields_differ {
        arm.put(&names.app_path(), api::WEB, &site).await?;
    }
    let connection = storage_connection(arm, names).await?;
    let settings = desired_settings(service, Some(&connection), insights.as_ref());
    let current = if change.action == Action::Create {
        BTreeMap::new()
    } else {
        let path = format!("{}/config/appsettings/list", names.app_path());
        string_map(
            arm.post(&path, api::WEB, None, true)
                .await?
                .get("properties"),
        )
    };
    if current != settings {
        let path = format!("{}/config/appsettings", names.app_path());
        arm.put(&path, api::WEB, &json!({"properties": settings}))
            .await?;
    }
    Ok(())
}

async fn apply_functions(
    arm: &ArmClient,
    config: &AzureConfig,
    names: &Names,
    service: &Service,
    packaged: &Packaged,
) -> anyhow::Result<()> {
    let app = arm
        .get(&names.app_path(), api::WEB)
        .await?
        .with_context(|| format!("the function app {} is gone; deploy again", names.app))?;
    let package = bindings::build_app_package(service, packaged)?;
    let live_tags = spec::tags_of(&app);
    if live_tags.get(PACKAGE_TAG) != Some(&package.sha256) {
        let scm = publish::scm_host(&app)
            .context("the function app's record names no SCM (Repository) host")?;
        let scm = config.host_url(&scm)?;
        let zip = tokio::fs::read(&package.path)
            .await
            .with_context(|| format!("reading {}", package.path.display()))?;
        publish::publish(arm, &scm, zip).await?;
    }
    let mut tags = spec::base_tags(service);
    tags.extend(function_tags(service, packaged));
    tags.insert(PACKAGE_TAG.into(), package.sha256);
    if tags != live_tags {
        arm.patch(&names.app_path(), api::WEB, &json!({"tags": tags}))
            .await?;
    }
    Ok(())
}
