//! The Resource Manager routes of the fake Azure: resource groups, storage accounts and blob
//! containers, Application Insights components, Flex Consumption plans, function apps with
//! their settings, functions and keys — with the answers, long-running operations and errors
//! ARM documents.

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::azure::{Reply, STORAGE_KEY, State, arm_error, operation_fails, reply, start_operation};
use super::azure_host::AppHost;

fn merge_record(path: &str, name: &str, kind: &str, body: &Json, old: Option<&Json>) -> Json {
    let mut record = old.cloned().unwrap_or_else(|| json!({}));
    record["id"] = json!(path);
    record["name"] = json!(name);
    record["type"] = json!(kind);
    for key in ["location", "tags", "kind", "sku"] {
        if let Some(value) = body.get(key) {
            record[key] = value.clone();
        }
    }
    let mut properties = record
        .get("properties")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(given) = body.get("properties").and_then(Json::as_object) {
        for (k, v) in given {
            properties[k] = v.clone();
        }
    }
    properties["provisioningState"] = json!("Succeeded");
    record["properties"] = properties;
    record
}

fn with_operation(status: u16, header: &str, base: &str, id: &str, record: &Json) -> Reply {
    let kind = if header == "location" {
        "location"
    } else {
        "async"
    };
    let mut response = reply(status, record)?;
    let url = format!("{base}/operations/{id}?api-version=2024-04-01&kind={kind}");
    response.headers_mut().insert(
        if header == "location" {
            "location"
        } else {
            "azure-asyncoperation"
        },
        url.parse().expect("url"),
    );
    response
        .headers_mut()
        .insert("retry-after", "0".parse().expect("digit"));
    Ok(response)
}

/// Serves one ARM request (api-version and token already checked).
pub async fn route(
    state: &Arc<Mutex<State>>,
    base: &str,
    method: &str,
    path: &str,
    body: Json,
) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.len() < 4
        || !segments[0].eq_ignore_ascii_case("subscriptions")
        || !segments[2].eq_ignore_ascii_case("resourcegroups")
    {
        return arm_error(404, "InvalidResourceType", "unknown resource path");
    }
    let key = path.to_ascii_lowercase();
    let group_key = format!("/{}", segments[..4].join("/")).to_ascii_lowercase();
    if segments.len() == 4 {
        return group(state, base, method, path, &key, segments[3], body);
    }
    if !state.lock().unwrap().resources.contains_key(&group_key) {
        return arm_error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{}' could not be found.", segments[3]),
        );
    }
    let rest: Vec<String> = segments[4..]
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let name = segments.get(7).copied().unwrap_or("");
    match (method, rest.as_slice()) {
        (
            "POST",
            [
                "providers",
                "microsoft.storage",
                "storageaccounts",
                _,
                "listkeys",
            ],
        ) => {
            let account = format!("/{}", segments[..8].join("/")).to_ascii_lowercase();
            if !state.lock().unwrap().resources.contains_key(&account) {
                return arm_error(404, "ResourceNotFound", "no such storage account");
            }
            reply(
                200,
                &json!({"keys": [{"keyName": "key1", "value": STORAGE_KEY, "permissions": "FULL"}]}),
            )
        }
        ("PUT", ["providers", "microsoft.storage", "storageaccounts", _]) => {
            let valid = (3..=24).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !valid {
                return arm_error(
                    400,
                    "AccountNameInvalid",
                    &format!(
                        "{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
                    ),
                );
            }
            let mut s = state.lock().unwrap();
            let old = s.resources.get(&key).cloned();
            let mut record = merge_record(
                path,
                name,
                "Microsoft.Storage/storageAccounts",
                &body,
                old.as_ref(),
            );
            record["properties"]["primaryEndpoints"] =
                json!({"blob": format!("https://{name}.blob.core.windows.net/")});
            s.resources.insert(key, record.clone());
            drop(s);
            if old.is_some() {
                return reply(200, &record);
            }
            let id = start_operation(state, 2, record.clone());
            with_operation(202, "location", base, &id, &Json::Null)
        }
        (
            "PUT",
            [
                "providers",
                "microsoft.storage",
                "storageaccounts",
                _,
                "blobservices",
                "default",
                "containers",
                container,
            ],
        ) => {
            let account = format!("/{}", segments[..8].join("/")).to_ascii_lowercase();
            let mut s = state.lock().unwrap();
            if !s.resources.contains_key(&account) {
                return arm_error(404, "ResourceNotFound", "no such storage account");
            }
            let old = s.resources.get(&key).cloned();
            let record = merge_record(
                path,
                container,
                "Microsoft.Storage/storageAccounts/blobServices/containers",
                &body,
                old.as_ref(),
            );
            s.resources.insert(key, record.clone());
            reply(if old.is_some() { 200 } else { 201 }, &record)
        }
        ("PUT", ["providers", "microsoft.insights", "components", _]) => {
            let mut s = state.lock().unwrap();
            let old = s.resources.get(&key).cloned();
            let mut record = merge_record(
                path,
                name,
                "microsoft.insights/components",
                &body,
                old.as_ref(),
            );
            if old.is_none() {
                let ikey = uuid::Uuid::new_v4().to_string();
                record["properties"]["AppId"] = json!(uuid::Uuid::new_v4().to_string());
                record["properties"]["InstrumentationKey"] = json!(ikey);
                record["properties"]["ConnectionString"] = json!(format!(
                    "InstrumentationKey={ikey};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"
                ));
            }
            s.resources.insert(key, record.clone());
            reply(if old.is_some() { 200 } else { 201 }, &record)
        }
        ("PUT", ["providers", "microsoft.web", "serverfarms", _]) => {
            if body.pointer("/sku/name").and_then(Json::as_str) != Some("FC1") {
                return arm_error(
                    400,
                    "InvalidSku",
                    "this fake serves Flex Consumption (FC1) plans",
                );
            }
            let mut s = state.lock().unwrap();
            let old = s.resources.get(&key).cloned();
            let record = merge_record(path, name, "Microsoft.Web/serverfarms", &body, old.as_ref());
            s.resources.insert(key, record.clone());
            drop(s);
            let id = start_operation(state, 2, record.clone());
            with_operation(
                if old.is_some() { 200 } else { 201 },
                "async",
                base,
                &id,
                &record,
            )
        }
        ("PUT", ["providers", "microsoft.web", "sites", _]) => {
            site_put(state, base, path, &key, name, body).await
        }
        ("PATCH", ["providers", "microsoft.web", "sites", _]) => {
            let mut s = state.lock().unwrap();
            let Some(old) = s.resources.get(&key).cloned() else {
                return arm_error(404, "ResourceNotFound", "no such site");
            };
            let record = merge_record(path, name, "Microsoft.Web/sites", &body, Some(&old));
            s.resources.insert(key, record.clone());
            reply(200, &record)
        }
        (
            "PUT",
            [
                "providers",
                "microsoft.web",
                "sites",
                _,
                "config",
                "appsettings",
            ],
        ) => {
            let mut s = state.lock().unwrap();
            let site = key.trim_end_matches("/config/appsettings").to_string();
            if !s.resources.contains_key(&site) {
                return arm_error(404, "ResourceNotFound", "no such site");
            }
            let properties = body.get("properties").cloned().unwrap_or(json!({}));
            s.settings.insert(site, properties.clone());
            reply(
                200,
                &json!({"name": "appsettings", "properties": properties}),
            )
        }
        (
            "POST",
            [
                "providers",
                "microsoft.web",
                "sites",
                _,
                "config",
                "appsettings",
                "list",
            ],
        ) => {
            let s = state.lock().unwrap();
            let site = key.trim_end_matches("/config/appsettings/list");
            if !s.resources.contains_key(site) {
                return arm_error(404, "ResourceNotFound", "no such site");
            }
            let properties = s.settings.get(site).cloned().unwrap_or(json!({}));
            reply(
                200,
                &json!({"name": "appsettings", "properties": properties}),
            )
        }
        ("GET", ["providers", "microsoft.web", "sites", _, "functions"]) => {
            let host = app_host(state, name);
            let Some(host) = host else {
                return arm_error(404, "ResourceNotFound", "no such site");
            };
            reply(200, &json!({"value": host.function_records(path)}))
        }
        (
            "POST",
            [
                "providers",
                "microsoft.web",
                "sites",
                _,
                "functions",
                function,
                "listkeys",
            ],
        ) => {
            let Some(host) = app_host(state, name) else {
                return arm_error(404, "ResourceNotFound", "no such site");
            };
            if !host.has_function(function) {
                return arm_error(404, "NotFound", "no such function");
            }
            reply(200, &json!({"default": host.function_key}))
        }
        (
            "POST",
            [
                "providers",
                "microsoft.web",
                "sites",
                _,
                "host",
                "default",
                "listkeys",
            ],
        ) => {
            let Some(host) = app_host(state, name) else {
                return arm_error(404, "ResourceNotFound", "no such site");
            };
            reply(
                200,
                &json!({"masterKey": host.master_key, "functionKeys": {"default": host.function_key}, "systemKeys": {}}),
            )
        }
        ("GET", _) => match state.lock().unwrap().resources.get(&key) {
            Some(record) => reply(200, record),
            None => arm_error(
                404,
                "ResourceNotFound",
                &format!("The Resource '{}' was not found.", rest.join("/")),
            ),
        },
        ("DELETE", _) => {
            let mut s = state.lock().unwrap();
            if !s.resources.contains_key(&key) {
                return reply(204, &Json::Null);
            }
            let prefix = format!("{key}/");
            s.resources
                .retain(|k, _| k != &key && !k.starts_with(&prefix));
            s.settings.retain(|k, _| k != &key);
            if rest.get(2) == Some(&"sites") && rest.len() == 4 {
                s.apps.remove(name);
            }
            reply(200, &Json::Null)
        }
        _ => arm_error(
            400,
            "BadRequest",
            &format!("{method} is not served on {path}"),
        ),
    }
}

fn app_host(state: &Arc<Mutex<State>>, name: &str) -> Option<Arc<AppHost>> {
    state.lock().unwrap().apps.get(name).cloned()
}

async fn site_put(
    state: &Arc<Mutex<State>>,
    base: &str,
    path: &str,
    key: &str,
    name: &str,
    body: Json,
) -> Reply {
    let plan = body
        .pointer("/properties/serverFarmId")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if !state.lock().unwrap().resources.contains_key(&plan) {
        return arm_error(404, "ServerFarmNotFound", "The server farm was not found.");
    }
    if body
        .pointer("/properties/functionAppConfig/runtime/name")
        .is_none()
    {
        return arm_error(
            400,
            "FunctionAppConfigRequired",
            "Flex Consumption apps need properties.functionAppConfig.",
        );
    }
    let old = state.lock().unwrap().resources.get(key).cloned();
    let mut record = merge_record(path, name, "Microsoft.Web/sites", &body, old.as_ref());
    if old.is_none() {
        let host = AppHost::start(state.clone(), name, key).await;
        record["properties"]["defaultHostName"] = json!(host.host());
        record["properties"]["hostNameSslStates"] = json!([
            {"name": host.host(), "hostType": "Standard", "sslState": "Disabled"},
            {"name": host.scm(), "hostType": "Repository", "sslState": "Disabled"}
        ]);
        record["properties"]["state"] = json!("Running");
        state.lock().unwrap().apps.insert(name.to_string(), host);
    }
    record["properties"]["lastModifiedTimeUtc"] = json!("2026-11-23T12:00:00.000Z");
    let id = start_operation(state, 3, record.clone());
    if operation_fails(state, &id) {
        state.lock().unwrap().apps.remove(name);
    } else {
        state
            .lock()
            .unwrap()
            .resources
            .insert(key.to_string(), record.clone());
    }
    with_operation(
        if old.is_some() { 200 } else { 201 },
        "async",
        base,
        &id,
        &record,
    )
}

fn group(
    state: &Arc<Mutex<State>>,
    base: &str,
    method: &str,
    path: &str,
    key: &str,
    name: &str,
    body: Json,
) -> Reply {
    let mut s = state.lock().unwrap();
    match method {
        "GET" => match s.resources.get(key) {
            Some(record) => reply(200, record),
            None => arm_error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{name}' could not be found."),
            ),
        },
        "PUT" => {
            let old = s.resources.get(key).cloned();
            let record = merge_record(
                path,
                name,
                "Microsoft.Resources/resourceGroups",
                &body,
                old.as_ref(),
            );
            s.resources.insert(key.to_string(), record.clone());
            reply(if old.is_some() { 200 } else { 201 }, &record)
        }
        "DELETE" => {
            if !s.resources.contains_key(key) {
                return arm_error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{name}' could not be found."),
                );
            }
            let prefix = format!("{key}/");
            let apps: Vec<String> = s
                .resources
                .iter()
                .filter(|(k, r)| {
                    k.starts_with(&prefix) && r.get("type") == Some(&json!("Microsoft.Web/sites"))
                })
                .filter_map(|(_, r)| r.get("name").and_then(Json::as_str).map(str::to_string))
                .collect();
            for app in apps {
                s.apps.remove(&app);
            }
            s.resources
                .retain(|k, _| k != key && !k.starts_with(&prefix));
            s.settings.retain(|k, _| !k.starts_with(&prefix));
            drop(s);
            let id = start_operation(state, 3, Json::Null);
            with_operation(202, "location", base, &id, &Json::Null)
        }
        _ => arm_error(405, "MethodNotAllowed", "not allowed"),
    }
}
