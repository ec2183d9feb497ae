//! The Cloud Functions v2 resource routes of the fake (see `gcp`): functions, uploads and
//! operations, validated as the real API does it.

use serde_json::{Value as Json, json};

use std::sync::Arc;

use super::gcp::{Operation, Reply, Shared, reply, rpc_error};
use super::gcp_build::Build;

/// Functions per page, kept small so clients must follow `nextPageToken`.
pub const PAGE: usize = 2;
/// Polls before an operation is done.
pub const POLLS: u32 = 3;

fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !id.is_empty()
        && id.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn label_problem(labels: &Json) -> Option<String> {
    let map = labels.as_object()?;
    for (key, value) in map {
        let value = value.as_str().unwrap_or("");
        let ok = |s: &str| {
            s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        if !ok(key) || !key.starts_with(|c: char| c.is_ascii_lowercase()) || !ok(value) {
            return Some(format!("Invalid label {key}: {value}"));
        }
    }
    None
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            value
                .replace("%2C", ",")
                .replace("%2F", "/")
                .replace("%2c", ",")
        })
    })
}

fn new_operation(shared: &Shared, target: &str, response: Json, build: Option<Arc<Build>>) -> Json {
    let mut state = shared.state.lock().unwrap();
    let n = state.next();
    let name = format!(
        "projects/{}/locations/{}/operations/operation-{n}",
        shared.project, shared.region
    );
    let error = state.fail_next_operation.take();
    state.operations.insert(
        name.clone(),
        Operation {
            polls_left: POLLS,
            response,
            error,
            build,
        },
    );
    json!({"name": name, "done": false, "metadata": {"target": target}})
}

fn set_path(target: &mut Json, path: &str, value: Option<&Json>) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut node = target;
    for part in parts {
        if !node.get(part).is_some_and(Json::is_object) {
            node[part] = json!({});
        }
        node = &mut node[part];
    }
    if let Some(map) = node.as_object_mut() {
        match value {
            Some(value) => {
                map.insert(last.to_string(), value.clone());
            }
            None => {
                map.remove(last);
            }
        }
    }
}

fn get_path<'a>(value: &'a Json, path: &str) -> Option<&'a Json> {
    value.pointer(&format!("/{}", path.replace('.', "/")))
}

const MASKABLE: &[&str] = &[
    "description",
    "labels",
    "buildConfig.source",
    "buildConfig.runtime",
    "buildConfig.entryPoint",
    "serviceConfig.availableMemory",
    "serviceConfig.timeoutSeconds",
    "serviceConfig.environmentVariables",
    "serviceConfig.serviceAccountEmail",
    "serviceConfig.minInstanceCount",
    "serviceConfig.maxInstanceCount",
    "eventTrigger",
];

const STORAGE_TYPES: &[&str] = &[
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.storage.object.v1.deleted",
    "google.cloud.storage.object.v1.archived",
    "google.cloud.storage.object.v1.metadataUpdated",
];

/// What the v2 API would refuse in an `eventTrigger` (Pub/Sub and Cloud Storage types).
fn trigger_problem(trigger: &Json) -> Option<String> {
    let map = trigger.as_object()?;
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "eventType"
                | "trigger"
                | "eventFilters"
                | "pubsubTopic"
                | "retryPolicy"
                | "triggerRegion"
                | "serviceAccountEmail"
                | "channel"
                | "service"
        ) {
            return Some(format!(
                "Invalid JSON payload received. Unknown name \"{key}\" at 'function.event_trigger'"
            ));
        }
    }
    let event_type = trigger
        .get("eventType")
        .and_then(Json::as_str)
        .unwrap_or("");
    if let Some(policy) = trigger.get("retryPolicy").and_then(Json::as_str)
        && !matches!(policy, "RETRY_POLICY_RETRY" | "RETRY_POLICY_DO_NOT_RETRY")
    {
        return Some(format!("Invalid value for retryPolicy: {policy}"));
    }
    let filters = trigger.get("eventFilters").and_then(Json::as_array);
    if event_type == "google.cloud.pubsub.topic.v1.messagePublished" {
        let topic = trigger
            .get("pubsubTopic")
            .and_then(Json::as_str)
            .unwrap_or("");
        let parts: Vec<&str> = topic.split('/').collect();
        let valid = matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty() && !p.contains('*'));
        if !valid {
            return Some(format!(
                "eventTrigger.pubsubTopic must be projects/{{project}}/topics/{{topic}}, got '{topic}'"
            ));
        }
        if filters.is_some_and(|f| !f.is_empty()) {
            return Some("eventFilters are not allowed with a Pub/Sub trigger".into());
        }
        return None;
    }
    if STORAGE_TYPES.contains(&event_type) {
        if trigger.get("pubsubTopic").is_some() {
            return Some("pubsubTopic is only allowed with a Pub/Sub trigger".into());
        }
        let bucket = filters.and_then(|filters| {
            let [filter] = filters.as_slice() else {
                return None;
            };
            (filter.get("attribute").and_then(Json::as_str) == Some("bucket"))
                .then(|| filter.get("value").and_then(Json::as_str))?
        });
        return match bucket {
            Some(bucket) if !bucket.is_empty() => None,
            _ => Some(
                "A Cloud Storage trigger needs exactly one event filter, attribute 'bucket'".into(),
            ),
        };
    }
    Some(format!("Invalid event type: '{event_type}'"))
}

fn source_problem(shared: &Shared, body: &Json) -> Option<String> {
    let object = body
        .pointer("/buildConfig/source/storageSource/object")
        .and_then(Json::as_str)?;
    (!shared.state.lock().unwrap().objects.contains_key(object))
        .then(|| format!("Storage source object {object} was not uploaded"))
}

/// Routes one authorized `v2/...` request.
pub fn route(shared: &Shared, method: &str, path: &str, query: &str, body: &[u8]) -> Reply {
    let parent = format!(
        "/v2/projects/{}/locations/{}",
        shared.project, shared.region
    );
    let Some(rest) = path.strip_prefix(&parent) else {
        if path.starts_with("/v2/projects/") {
            return rpc_error(
                403,
                "Permission denied on resource project (or it may not exist).",
            );
        }
        return rpc_error(404, "Method not found.");
    };
    let body: Json = if body.is_empty() {
        Json::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(json) => json,
            Err(_) => return rpc_error(400, "Invalid JSON payload received."),
        }
    };
    match (method, rest) {
        ("GET", "/functions") => list(shared, query),
        ("POST", "/functions:generateUploadUrl") => {
            let mut state = shared.state.lock().unwrap();
            state.writes += 1;
            let n = state.next();
            let token = format!("up-{n}");
            let object = format!("{token}.zip");
            state.uploads.insert(token.clone(), object.clone());
            reply(
                200,
                &json!({
                    "uploadUrl": format!("{}/upload/{token}?GoogleAccessId=fake&Signature=sig%2Bn{n}", shared.url),
                    "storageSource": {"bucket": format!("gcf-v2-uploads-{}", shared.project), "object": object},
                }),
            )
        }
        ("POST", "/functions") => create(shared, query, body),
        (_, rest) if rest.starts_with("/functions/") => {
            let id = &rest["/functions/".len()..];
            match method {
                "GET" => match shared.state.lock().unwrap().functions.get(id) {
                    Some(function) => reply(200, function),
                    None => rpc_error(404, &format!("Resource '{id}' was not found")),
                },
                "PATCH" => patch(shared, id, query, body),
                "DELETE" => {
                    let removed = {
                        let mut state = shared.state.lock().unwrap();
                        let removed = state.functions.remove(id);
                        if removed.is_some() {
                            state.writes += 1;
                            state.hosts.remove(id);
                        }
                        removed
                    };
                    match removed {
                        Some(_) => reply(200, &new_operation(shared, id, json!({}), None)),
                        None => rpc_error(404, &format!("Resource '{id}' was not found")),
                    }
                }
                _ => rpc_error(404, "Method not found."),
            }
        }
        ("GET", rest) if rest.starts_with("/operations/") => {
            let name = path.trim_start_matches("/v2/");
            let mut guard = shared.state.lock().unwrap();
            let state = &mut *guard;
            let Some(operation) = state.operations.get_mut(name) else {
                return rpc_error(404, &format!("Operation {name} not found"));
            };
            operation.polls_left = operation.polls_left.saturating_sub(1);
            let built = operation.build.as_ref().map(|b| b.outcome());
            if operation.polls_left > 0 || matches!(built, Some(None)) {
                return reply(200, &json!({"name": name, "done": false}));
            }
            if let Some(Some(Err(message))) = built {
                operation.error.get_or_insert(message);
            }
            let answer = match &operation.error {
                Some(message) => {
                    json!({"name": name, "done": true, "error": {"code": 3, "message": message}})
                }
                None => json!({"name": name, "done": true, "response": operation.response}),
            };
            let settled = if operation.error.is_none() {
                "ACTIVE"
            } else {
                "FAILED"
            };
            if let Some(id) = operation
                .response
                .get("name")
                .and_then(Json::as_str)
                .and_then(|n| n.rsplit('/').next())
                && let Some(function) = state.functions.get_mut(id)
            {
                function["state"] = json!(settled);
            }
            reply(200, &answer)
        }
        _ => rpc_error(404, "Method not found."),
    }
}

fn list(shared: &Shared, query: &str) -> Reply {
    let state = shared.state.lock().unwrap();
    let size = query_param(query, "pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(PAGE)
        .min(PAGE);
    let start: usize = query_param(query, "pageToken")
        .and_then(|s| s.strip_prefix("p").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let all: Vec<&Json> = state.functions.values().collect();
    let page: Vec<&Json> = all.iter().skip(start).take(size).copied().collect();
    let mut answer = json!({"functions": page});
    if start + size < all.len() {
        answer["nextPageToken"] = json!(format!("p{}", start + size));
    }
    reply(200, &answer)
}

fn stamp(shared: &Shared, id: &str, function: &mut Json) {
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    function["name"] = json!(format!(
        "projects/{}/locations/{}/functions/{id}",
        shared.project, shared.region
    ));
    function["updateTime"] = json!(now);
    function["state"] = json!("DEPLOYING");
    function["serviceConfig"]["uri"] = json!(format!("{}/run/{id}", shared.url));
    function["serviceConfig"]["service"] = json!(format!(
        "projects/{}/locations/{}/services/{id}",
        shared.project, shared.region
    ));
    let revision = shared.state.lock().unwrap().next();
    function["serviceConfig"]["revision"] = json!(format!("{id}-{revision:05}"));
    if let Some(trigger) = function
        .get_mut("eventTrigger")
        .and_then(Json::as_object_mut)
    {
        trigger.insert(
            "trigger".into(),
            json!(format!(
                "projects/{}/locations/{}/triggers/{id}-{revision:06}",
                shared.project, shared.region
            )),
        );
        trigger
            .entry("triggerRegion")
            .or_insert_with(|| json!(shared.region));
        trigger
            .entry("retryPolicy")
            .or_insert_with(|| json!("RETRY_POLICY_DO_NOT_RETRY"));
    }
    // Like the real API, gen2 functions get LOG_EXECUTION_ID added to their environment.
    function["serviceConfig"]["environmentVariables"]["LOG_EXECUTION_ID"] = json!("true");
    if get_path(function, "serviceConfig.maxInstanceCount").is_none() {
        function["serviceConfig"]["maxInstanceCount"] = json!(100);
    }
    if get_path(function, "serviceConfig.serviceAccountEmail").is_none() {
        function["serviceConfig"]["serviceAccountEmail"] =
            json!("123-compute@developer.gserviceaccount.com");
    }
}

fn create(shared: &Shared, query: &str, mut body: Json) -> Reply {
    let Some(id) = query_param(query, "functionId") else {
        return rpc_error(400, "functionId is required");
    };
    if !valid_id(&id) {
        return rpc_error(
            400,
            &format!(
                "Invalid function id '{id}': must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ and be at most 63 characters"
            ),
        );
    }
    if body.get("environment").and_then(Json::as_str) != Some("GEN_2") {
        return rpc_error(400, "environment must be GEN_2");
    }
    if let Some(problem) = label_problem(body.get("labels").unwrap_or(&Json::Null)) {
        return rpc_error(400, &problem);
    }
    if body.pointer("/buildConfig/source/storageSource").is_none() {
        return rpc_error(400, "buildConfig.source is required");
    }
    if let Some(problem) = body.get("eventTrigger").and_then(trigger_problem) {
        return rpc_error(400, &problem);
    }
    if let Some(problem) = source_problem(shared, &body) {
        return rpc_error(400, &problem);
    }
    if shared.state.lock().unwrap().functions.contains_key(&id) {
        return rpc_error(409, &format!("Function {id} already exists"));
    }
    stamp(shared, &id, &mut body);
    let mut state = shared.state.lock().unwrap();
    state.writes += 1;
    state.functions.insert(id.clone(), body.clone());
    drop(state);
    let build = match super::gcp_run::ensure_build(shared, &body) {
        Ok(build) => build,
        Err(error) => return rpc_error(500, &error.to_string()),
    };
    reply(200, &new_operation(shared, &id, body, Some(build)))
}

fn patch(shared: &Shared, id: &str, query: &str, body: Json) -> Reply {
    let Some(mut current) = shared.state.lock().unwrap().functions.get(id).cloned() else {
        return rpc_error(404, &format!("Resource '{id}' was not found"));
    };
    let Some(mask) = query_param(query, "updateMask") else {
        return rpc_error(
            400,
            "updateMask is required by this fake (stratus always names the fields)",
        );
    };
    let had_trigger = current.get("eventTrigger").is_some();
    for path in mask.split(',') {
        if !MASKABLE.contains(&path) {
            return rpc_error(400, &format!("Invalid field mask path: {path}"));
        }
        set_path(&mut current, path, get_path(&body, path));
    }
    if had_trigger != current.get("eventTrigger").is_some() {
        return rpc_error(
            400,
            "Changing the trigger type of a function (HTTP and event) is not allowed",
        );
    }
    if let Some(problem) = current.get("eventTrigger").and_then(trigger_problem) {
        return rpc_error(400, &problem);
    }
    if let Some(problem) = label_problem(current.get("labels").unwrap_or(&Json::Null)) {
        return rpc_error(400, &problem);
    }
    if let Some(problem) = source_problem(shared, &current) {
        return rpc_error(400, &problem);
    }
    stamp(shared, id, &mut current);
    let mut state = shared.state.lock().unwrap();
    state.writes += 1;
    state.functions.insert(id.to_string(), current.clone());
    drop(state);
    let build = match super::gcp_run::ensure_build(shared, &current) {
        Ok(build) => build,
        Err(error) => return rpc_error(500, &error.to_string()),
    };
    reply(200, &new_operation(shared, id, current, Some(build)))
}
