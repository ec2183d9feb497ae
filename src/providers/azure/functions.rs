//! The functions of a deployed app as ARM lists them (`GET .../sites/{app}/functions`), and
//! the endpoints (`invoke_url_template`) deploy and info print.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::app::{Names, api};
use super::arm::ArmClient;
use super::bindings;
use crate::model::Service;
use crate::providers::Endpoint;

/// The HTTP functions' URLs as ARM lists them (`invoke_url_template`).
pub async fn endpoints(
    arm: &ArmClient,
    names: &Names,
    service: &Service,
) -> anyhow::Result<Vec<Endpoint>> {
    let listed = list_functions(arm, names).await?;
    let mut out = Vec::new();
    for (name, record) in listed {
        let Some(url) = record
            .pointer("/properties/invoke_url_template")
            .and_then(Json::as_str)
        else {
            continue;
        };
        let methods = service
            .functions
            .get(&name)
            .and_then(bindings::http_trigger)
            .map(|t| t.methods)
            .unwrap_or_default();
        let method = if methods.is_empty() {
            "ANY".to_string()
        } else {
            methods.join(",").to_ascii_uppercase()
        };
        out.push(Endpoint {
            function: name,
            method,
            url: url.to_string(),
        });
    }
    Ok(out)
}

/// `GET .../sites/{app}/functions`: function name → record.
pub async fn list_functions(
    arm: &ArmClient,
    names: &Names,
) -> anyhow::Result<BTreeMap<String, Json>> {
    let path = format!("{}/functions", names.app_path());
    let listed = arm.get(&path, api::WEB).await?.unwrap_or(Json::Null);
    let mut out = BTreeMap::new();
    for record in listed
        .get("value")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let name = record
            .get("name")
            .and_then(Json::as_str)
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_string());
        if let Some(name) = name {
            out.insert(name, record);
        }
    }
    Ok(out)
}
