//! Desired ARM bodies for the service's resources and the fields `plan` compares (desired
//! vs live), so an update lists field by field what differs and an unchanged resource is never
//! written.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::app::{self, CONTAINER, Names, SERVICE_TAG, STAGE_TAG};
use super::config::AzureConfig;
use crate::model::Service;

/// Shown for values Azure assigns on creation (keys, connection strings).
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// The tags every resource carries: the manifest's `provider.tags` plus service and stage.
pub fn base_tags(service: &Service) -> BTreeMap<String, String> {
    let mut tags = service.provider.tags.clone();
    tags.insert(SERVICE_TAG.into(), service.name.clone());
    tags.insert(STAGE_TAG.into(), service.stage.clone());
    tags
}

/// The resource group body.
pub fn group(service: &Service, config: &AzureConfig) -> Json {
    json!({"location": config.region, "tags": base_tags(service)})
}

/// The storage account body.
pub fn storage(service: &Service, config: &AzureConfig) -> Json {
    json!({
        "location": config.region,
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS"},
        "tags": base_tags(service),
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false}
    })
}

/// The deployment container body.
pub fn container() -> Json {
    json!({"properties": {"publicAccess": "None"}})
}

/// The Application Insights component body.
pub fn insights(service: &Service, config: &AzureConfig) -> Json {
    json!({
        "location": config.region,
        "kind": "web",
        "tags": base_tags(service),
        "properties": {"Application_Type": "web"}
    })
}

/// The Flex Consumption plan body.
pub fn plan(service: &Service, config: &AzureConfig) -> Json {
    json!({
        "location": config.region,
        "kind": "functionapp",
        "sku": {"name": "FC1", "tier": "FlexConsumption"},
        "tags": base_tags(service),
        "properties": {"reserved": true}
    })
}

/// What the function app runs: runtime, instance memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRuntime {
    /// `python` / `node`.
    pub name: String,
    /// `3.11` / `20`.
    pub version: String,
    /// 2048 or 4096.
    pub instance_memory: u32,
}

/// The function app body; `tags` are the full tag set to write, `blob` the deployment
/// container URL.
pub fn site(
    config: &AzureConfig,
    names: &Names,
    runtime: &AppRuntime,
    tags: &BTreeMap<String, String>,
    blob: &str,
) -> Json {
    json!({
        "location": config.region,
        "kind": "functionapp,linux",
        "tags": tags,
        "properties": {
            "serverFarmId": names.plan_path(),
            "httpsOnly": true,
            "functionAppConfig": {
                "deployment": {"storage": {
                    "type": "blobContainer",
                    "value": blob,
                    "authentication": {
                        "type": "StorageAccountConnectionString",
                        "storageAccountConnectionStringName": "DEPLOYMENT_STORAGE_CONNECTION_STRING"
                    }
                }},
                "runtime": {"name": runtime.name, "version": runtime.version},
                "scaleAndConcurrency": {
                    "instanceMemoryMB": runtime.instance_memory,
                    "maximumInstanceCount": 100
                }
            }
        }
    })
}

/// The deployment container's URL from the storage account's blob endpoint.
pub fn container_url(storage: Option<&Json>) -> String {
    storage
        .and_then(|s| s.pointer("/properties/primaryEndpoints/blob"))
        .and_then(Json::as_str)
        .map(|blob| format!("{}/{CONTAINER}", blob.trim_end_matches('/')))
        .unwrap_or_else(|| KNOWN_AFTER_APPLY.to_string())
}

fn text(value: Option<&Json>) -> Option<String> {
    match value? {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The compared fields of a resource record (desired body or live record): `location`, `sku`,
/// `kind`, `tags.KEY`, and for apps `runtime`, `instanceMemoryMB`, `maximumInstanceCount`,
/// `deploymentStorage`, `plan`. Function tags (code, settings, package) are left out: they are
/// the functions' fields.
pub fn fields(record: &Json) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(location) = record.get("location").and_then(Json::as_str) {
        // Microsoft.Web answers display names (`West Europe`), other providers ids.
        out.insert("location".into(), super::config::region_id(location));
    }
    let mut put = |key: &str, pointer: &str| {
        if let Some(value) = text(record.pointer(pointer)) {
            out.insert(key.to_string(), value);
        }
    };
    put("kind", "/kind");
    put("sku", "/sku/name");
    put("applicationType", "/properties/Application_Type");
    put("runtime", "/properties/functionAppConfig/runtime/name");
    put(
        "runtimeVersion",
        "/properties/functionAppConfig/runtime/version",
    );
    put(
        "instanceMemoryMB",
        "/properties/functionAppConfig/scaleAndConcurrency/instanceMemoryMB",
    );
    put(
        "maximumInstanceCount",
        "/properties/functionAppConfig/scaleAndConcurrency/maximumInstanceCount",
    );
    put(
        "deploymentStorage",
        "/properties/functionAppConfig/deployment/storage/value",
    );
    if let Some(plan) = record
        .pointer("/properties/serverFarmId")
        .and_then(Json::as_str)
    {
        out.insert("plan".into(), plan.to_ascii_lowercase());
    }
    if let Some(tags) = record.get("tags").and_then(Json::as_object) {
        for (key, value) in tags {
            if key == app::PACKAGE_TAG
                || key.starts_with("hidden-")
                || key.starts_with(app::CODE_TAG)
                || key.starts_with(app::CONFIG_TAG)
            {
                continue;
            }
            if let Some(value) = value.as_str() {
                out.insert(format!("tags.{key}"), value.to_string());
            }
        }
    }
    out
}

/// The tags of a record.
pub fn tags_of(record: &Json) -> BTreeMap<String, String> {
    record
        .get("tags")
        .and_then(Json::as_object)
        .map(|tags| {
            tags.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a record carries this service's and stage's tags.
pub fn belongs_to(record: &Json, service: &Service) -> bool {
    let tags = tags_of(record);
    tags.get(SERVICE_TAG) == Some(&service.name) && tags.get(STAGE_TAG) == Some(&service.stage)
}
