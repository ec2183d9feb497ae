//! The fake controller's activations: blocking and non-blocking invocations that run the code
//! (`openwhisk_exec`), sequences, trigger fires through rules, web actions, and the
//! `activations` listing with `since`, `name`, `docs` and pagination.

use std::collections::BTreeMap;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value as Json, json};

use super::openwhisk::{Reply, Shared, error, now_ms, page, reply};
use super::openwhisk_exec::run_action;

/// Runs an action and stores its activation record.
pub async fn execute(shared: &Shared, name: &str, params: Json) -> Option<Json> {
    let action = shared
        .state
        .lock()
        .unwrap()
        .entities
        .get("actions")
        .and_then(|m| m.get(name))
        .cloned()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let start = now_ms();
    let fq = format!("/{}/{name}", shared.namespace);
    let (status, result, logs) =
        if action.pointer("/exec/kind").and_then(Json::as_str) == Some("sequence") {
            let mut value = params;
            let mut ids = Vec::new();
            let mut status = "success";
            for component in action
                .pointer("/exec/components")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let short = component
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .split_once('/')
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_default();
                let Some(record) = Box::pin(execute(shared, &short, value.clone())).await else {
                    status = "application error";
                    value = json!({"error": format!("Sequence component does not exist: {short}")});
                    break;
                };
                ids.push(json!(record["activationId"]));
                value = record
                    .pointer("/response/result")
                    .cloned()
                    .unwrap_or(Json::Null);
                if record.pointer("/response/success") != Some(&json!(true)) {
                    status = "application error";
                    break;
                }
            }
            (status, value, ids)
        } else {
            let run = run_action(&action, params, &fq, &id).await;
            (
                run.status,
                run.result,
                run.logs.into_iter().map(Json::String).collect(),
            )
        };
    let end = now_ms();
    let record = json!({
        "namespace": shared.namespace, "name": name, "version": action["version"], "subject": "guest", "publish": false,
        "activationId": id, "start": start, "end": end, "duration": end - start,
        "response": {"status": status, "statusCode": 0, "success": status == "success", "result": result},
        "logs": logs,
        "annotations": [{"key": "path", "value": format!("{}/{name}", shared.namespace)}, {"key": "kind", "value": action.pointer("/exec/kind").cloned().unwrap_or(Json::Null)}],
    });
    shared
        .state
        .lock()
        .unwrap()
        .activations
        .push(record.clone());
    Some(record)
}

/// Serves `invoke`.
pub async fn invoke(
    shared: &Arc<Shared>,
    name: &str,
    query: &BTreeMap<String, String>,
    body: Json,
) -> Reply {
    if shared
        .state
        .lock()
        .unwrap()
        .entities
        .get("actions")
        .and_then(|m| m.get(name))
        .is_none()
    {
        return error(404, "The requested resource does not exist.");
    }
    let params = if body.is_object() { body } else { json!({}) };
    if query.get("blocking").map(String::as_str) != Some("true") {
        let shared = shared.clone();
        let name = name.to_string();
        let id = uuid::Uuid::new_v4().simple().to_string();
        tokio::spawn(async move { execute(&shared, &name, params).await });
        return reply(202, &json!({"activationId": id}));
    }
    let Some(record) = execute(shared, name, params).await else {
        return error(404, "The requested resource does not exist.");
    };
    let success = record.pointer("/response/success") == Some(&json!(true));
    let status = if success { 200 } else { 502 };
    let body = if query.get("result").map(String::as_str) == Some("true") {
        record
            .pointer("/response/result")
            .cloned()
            .unwrap_or(Json::Null)
    } else {
        record.clone()
    };
    let mut response = reply(status, &body)?;
    let id = record["activationId"].as_str().unwrap_or("").to_string();
    response
        .headers_mut()
        .insert("x-openwhisk-activation-id", id.parse().expect("hex id"));
    Ok(response)
}

/// Serves `fire`.
pub async fn fire(shared: &Arc<Shared>, trigger: &str, body: Json) -> Reply {
    let rules: Vec<Json> = {
        let state = shared.state.lock().unwrap();
        if state
            .entities
            .get("triggers")
            .and_then(|m| m.get(trigger))
            .is_none()
        {
            return error(404, "The requested resource does not exist.");
        }
        state
            .entities
            .get("rules")
            .map(|m| {
                m.values()
                    .filter(|r| r.pointer("/trigger/name").and_then(Json::as_str) == Some(trigger))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    for rule in rules {
        let action = rule
            .pointer("/action/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        execute(shared, &action, body.clone()).await;
    }
    reply(
        202,
        &json!({"activationId": uuid::Uuid::new_v4().simple().to_string()}),
    )
}

/// Serves `list_activations`.
pub fn list_activations(shared: &Shared, query: &BTreeMap<String, String>) -> Reply {
    let state = shared.state.lock().unwrap();
    let since = query
        .get("since")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let docs = query.get("docs").map(String::as_str) == Some("true");
    let items: Vec<Json> = state
        .activations
        .iter()
        .rev()
        .filter(|a| {
            query
                .get("name")
                .is_none_or(|n| a["name"].as_str() == Some(n))
        })
        .filter(|a| a["start"].as_u64().unwrap_or(0) >= since)
        .map(|a| {
            let mut a = a.clone();
            if !docs {
                a.as_object_mut().map(|m| m.remove("logs"));
            }
            a
        })
        .collect();
    reply(200, &Json::Array(page(items, query)))
}

/// Serves `get_activation`.
pub fn get_activation(shared: &Shared, path: &str) -> Reply {
    let (id, logs_only) = match path.strip_suffix("/logs") {
        Some(id) => (id, true),
        None => (path, false),
    };
    let state = shared.state.lock().unwrap();
    match state
        .activations
        .iter()
        .find(|a| a["activationId"].as_str() == Some(id))
    {
        Some(record) if logs_only => reply(200, &json!({"logs": record["logs"]})),
        Some(record) => reply(200, record),
        None => error(404, "The requested resource does not exist."),
    }
}

/// Serves `web`.
pub async fn web(
    shared: &Arc<Shared>,
    method: &str,
    rest: &str,
    query: &BTreeMap<String, String>,
    body: Json,
) -> Reply {
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    if parts.len() < 3 || parts[1] != "default" {
        return error(404, "The requested resource does not exist.");
    }
    let action = parts[2];
    let path = parts.get(3).map(|p| format!("/{p}")).unwrap_or_default();
    let exported = shared
        .state
        .lock()
        .unwrap()
        .entities
        .get("actions")
        .and_then(|m| m.get(action))
        .is_some_and(|a| {
            a["annotations"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|e| e["key"] == "web-export" && e["value"] == json!(true))
            })
        });
    if !exported {
        return error(404, "The requested resource does not exist.");
    }
    let mut params = json!({"__ow_method": method.to_lowercase(), "__ow_path": path, "__ow_headers": {},
        "__ow_query": query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")});
    if !body.is_null() {
        params["__ow_body"] = json!(body.to_string());
    }
    let Some(record) = execute(shared, action, params).await else {
        return error(404, "The requested resource does not exist.");
    };
    let result = record
        .pointer("/response/result")
        .cloned()
        .unwrap_or(Json::Null);
    if record.pointer("/response/success") != Some(&json!(true)) {
        return reply(502, &result);
    }
    let status = result
        .get("statusCode")
        .and_then(Json::as_u64)
        .unwrap_or(200) as u16;
    let text = match result.get("body") {
        Some(Json::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Ok(Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .body(Full::new(Bytes::from(text)))
        .expect("valid response"))
}
