//! The desired Cloud Function of each manifest function, its plan fields, and the same fields
//! read back from a live function.
//!
//! Names: the function id is `{service}-{stage}-{function}` made valid for Cloud Functions —
//! lower case, `[a-z0-9-]`, starting with a letter, not ending with `-`, at most 63 characters;
//! a name that had to be cut keeps its first 54 characters and gets `-` and 8 hex characters of
//! the full name's sha256, so two long names stay distinct. Labels `stratus-service`,
//! `stratus-stage` and `stratus-function` (values made valid the same way, `_` allowed) mark
//! what stratus owns; `stratus-code` carries the artifact's sha256 in lower-case base32 (52
//! characters: a hex sha256 is 64, over the 63 a label value may hold).

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::events;
use super::runtime::{self, Entry};
use crate::http::redact::is_secret_key;
use crate::model::{Function, Service};

/// Label naming the service.
pub const SERVICE_LABEL: &str = "stratus-service";
/// Label naming the stage.
pub const STAGE_LABEL: &str = "stratus-stage";
/// Label naming the manifest function.
pub const FUNCTION_LABEL: &str = "stratus-function";
/// Label carrying the code hash (base32).
pub const CODE_LABEL: &str = "stratus-code";

/// Makes `name` valid: lower case, allowed characters, at most 63 (hash suffix when cut).
fn valid(name: &str, allow_underscore: bool) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            '_' if allow_underscore => c,
            _ => '-',
        })
        .collect();
    if mapped.len() <= 63 {
        return mapped;
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}-{}", mapped[..54].trim_end_matches('-'), &hash[..8])
}

/// The Cloud Functions id of a manifest function.
pub fn function_id(service: &str, stage: &str, function: &str) -> String {
    let mut id = valid(&format!("{service}-{stage}-{function}"), false);
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id = valid(&format!("f-{id}"), false);
    }
    id.trim_end_matches('-').to_string()
}

/// A valid label value.
pub fn label_value(value: &str) -> String {
    valid(value, true)
}

/// sha256 hex → base32 label value.
pub fn code_label(sha256_hex: &str) -> String {
    let bytes = hex::decode(sha256_hex).unwrap_or_default();
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// base32 label value → sha256 hex (`None` when it is not one).
pub fn code_from_label(label: &str) -> Option<String> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in label.bytes() {
        let value = match c {
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    (out.len() == 32).then(|| hex::encode(out))
}

/// Whether a live function carries this service's and stage's labels.
pub fn belongs_to(function: &Json, service: &Service) -> bool {
    let label = |key: &str| {
        function
            .pointer(&format!("/labels/{key}"))
            .and_then(Json::as_str)
    };
    label(SERVICE_LABEL) == Some(label_value(&service.name).as_str())
        && label(STAGE_LABEL) == Some(label_value(&service.stage).as_str())
}

/// The short id of a live function (last segment of its `name`).
pub fn short_id(function: &Json) -> String {
    function
        .get("name")
        .and_then(Json::as_str)
        .and_then(|name| name.rsplit('/').next())
        .unwrap_or("")
        .to_string()
}

/// Plan fields: `field` → (shown value, sensitive).
pub use crate::providers::Fields;

/// One function as it should be.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Manifest name.
    pub function: String,
    /// Cloud Functions id.
    pub id: String,
    /// Plan fields.
    pub fields: Fields,
    /// The resource body, without `buildConfig.source`.
    pub body: Json,
    /// Whether an HTTP event names it.
    pub http: bool,
}

fn opt_u64(function: &Function, service: &Service, key: &str) -> Option<u64> {
    function
        .extra
        .get(key)
        .or_else(|| service.provider.extra.get(key))
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
}

fn opt_str(function: &Function, service: &Service, key: &str) -> Option<String> {
    function
        .extra
        .get(key)
        .or_else(|| service.provider.extra.get(key))
        .and_then(Json::as_str)
        .map(str::to_string)
}

/// Labels of the manifest (`provider.labels` / tags, then the function's `labels`).
pub fn user_labels(service: &Service, function: &Function) -> BTreeMap<String, String> {
    let mut labels = service.provider.tags.clone();
    if let Some(Json::Object(own)) = function.extra.get("labels") {
        for (key, value) in own {
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            labels.insert(key.clone(), value);
        }
    }
    labels
}

/// The desired function; `code` is the artifact's sha256.
pub fn desired(
    service: &Service,
    function: &Function,
    code: &str,
    project: &str,
) -> anyhow::Result<Desired> {
    let settings = service.effective(function);
    let runtime = settings
        .runtime
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("function {} has no runtime", function.name))
        .and_then(|r| runtime::gcp_runtime(r).map_err(anyhow::Error::msg))?;
    let entry = runtime::entry(service, function)
        .ok_or_else(|| anyhow::anyhow!("function {} has no handler", function.name))?;
    let id = function_id(&service.name, &service.stage, &function.name);
    let mut fields = Fields::new();
    let mut put = |key: String, value: String, sensitive: bool| {
        fields.insert(key, (value, sensitive));
    };
    put("code".into(), code.to_string(), false);
    put("runtime".into(), runtime.clone(), false);
    put(
        "handler".into(),
        function.handler.clone().unwrap_or_default(),
        false,
    );
    put("memorySize".into(), settings.memory_size.to_string(), false);
    put("timeout".into(), settings.timeout.to_string(), false);
    if let Some(description) = &function.description {
        put("description".into(), description.clone(), false);
    }
    for (key, value) in &function.environment {
        put(
            format!("environment.{key}"),
            value.clone(),
            is_secret_key(key),
        );
    }
    let user_labels = user_labels(service, function);
    for (key, value) in &user_labels {
        put(format!("labels.{key}"), value.clone(), false);
    }
    let account = opt_str(function, service, "serviceAccountEmail");
    let min = opt_u64(function, service, "minInstances");
    let max = opt_u64(function, service, "maxInstances");
    if let Some(account) = &account {
        put("serviceAccountEmail".into(), account.clone(), false);
    }
    if let Some(min) = min {
        put("minInstances".into(), min.to_string(), false);
    }
    if let Some(max) = max {
        put("maxInstances".into(), max.to_string(), false);
    }
    let trigger = match events::event_configs(function).first() {
        Some((_, config)) => Some(
            events::trigger(config, project)
                .map_err(|message| anyhow::anyhow!("functions.{}: {message}", function.name))?,
        ),
        None => None,
    };
    if let Some(trigger) = &trigger {
        put("event.type".into(), trigger.event_type.clone(), false);
        put("event.resource".into(), trigger.resource.clone(), false);
    }
    let mut env: serde_json::Map<String, Json> = function
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    if let Entry::Shim { handler, style } = &entry {
        env.insert(runtime::HANDLER_ENV.into(), Json::String(handler.clone()));
        env.insert(runtime::STYLE_ENV.into(), Json::String((*style).into()));
        env.insert(
            "STRATUS_MEMORY_MB".into(),
            json!(settings.memory_size.to_string()),
        );
        env.insert(
            "STRATUS_TIMEOUT_S".into(),
            json!(settings.timeout.to_string()),
        );
    }
    let mut labels: serde_json::Map<String, Json> = user_labels
        .into_iter()
        .map(|(k, v)| (k, Json::String(v)))
        .collect();
    labels.insert(SERVICE_LABEL.into(), json!(label_value(&service.name)));
    labels.insert(STAGE_LABEL.into(), json!(label_value(&service.stage)));
    labels.insert(FUNCTION_LABEL.into(), json!(label_value(&function.name)));
    labels.insert(CODE_LABEL.into(), json!(code_label(code)));
    let mut service_config = json!({
        "availableMemory": format!("{}M", settings.memory_size),
        "timeoutSeconds": settings.timeout,
        "environmentVariables": env,
        "ingressSettings": "ALLOW_ALL",
    });
    if let Some(account) = account {
        service_config["serviceAccountEmail"] = json!(account);
    }
    if let Some(min) = min {
        service_config["minInstanceCount"] = json!(min);
    }
    if let Some(max) = max {
        service_config["maxInstanceCount"] = json!(max);
    }
    let mut body = json!({
        "environment": "GEN_2",
        "labels": labels,
        "buildConfig": {"runtime": runtime, "entryPoint": entry.entry_point()},
        "serviceConfig": service_config,
    });
    if let Some(description) = &function.description {
        body["description"] = json!(description);
    }
    if let Some(trigger) = &trigger {
        body["eventTrigger"] = trigger.body();
    }
    Ok(Desired {
        function: function.name.clone(),
        id,
        fields,
        body,
        http: function
            .events
            .iter()
            .any(|e| matches!(e, crate::model::Event::Http(_))),
    })
}

/// Megabytes from `availableMemory` (`256M`, `256Mi`, `1G`, `1Gi`).
pub fn memory_mb(text: &str) -> Option<u64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let number: u64 = digits.parse().ok()?;
    Some(match &text[digits.len()..] {
        "G" | "Gi" => number * 1024,
        "k" | "Ki" => number / 1024,
        "" => number / (1024 * 1024),
        _ => number,
    })
}

/// The plan fields of a live function, limited to optional fields `desired` names.
pub fn live_fields(live: &Json, desired: &Fields) -> Fields {
    let mut fields = Fields::new();
    let text = |pointer: &str| {
        live.pointer(pointer)
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            fields.insert(key.to_string(), (value, false));
        }
    };
    // A function whose last build failed (state FAILED) runs none of the labelled code: its
    // code counts as missing, so the next deploy uploads and builds it again.
    let failed = text("/state").as_deref() == Some("FAILED");
    put(
        "code",
        text(&format!("/labels/{CODE_LABEL}"))
            .and_then(|l| code_from_label(&l))
            .filter(|_| !failed),
    );
    put("runtime", text("/buildConfig/runtime"));
    put(
        "handler",
        text(&format!(
            "/serviceConfig/environmentVariables/{}",
            runtime::HANDLER_ENV
        ))
        .or_else(|| text("/buildConfig/entryPoint")),
    );
    put(
        "memorySize",
        text("/serviceConfig/availableMemory")
            .and_then(|m| memory_mb(&m))
            .map(|m| m.to_string()),
    );
    put(
        "timeout",
        live.pointer("/serviceConfig/timeoutSeconds")
            .map(|t| match t {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            }),
    );
    put(
        "description",
        text("/description").filter(|d| !d.is_empty()),
    );
    if let Some(trigger) = live
        .get("eventTrigger")
        .and_then(events::Trigger::from_live)
    {
        put("event.type", Some(trigger.event_type));
        put("event.resource", Some(trigger.resource));
    }
    if let Some(Json::Object(env)) = live.pointer("/serviceConfig/environmentVariables") {
        // The API adds LOG_EXECUTION_ID itself: compare it only when the manifest sets it.
        let ours = |k: &String| {
            !k.starts_with("STRATUS_")
                && (k != "LOG_EXECUTION_ID" || desired.contains_key("environment.LOG_EXECUTION_ID"))
        };
        for (key, value) in env.iter().filter(|(k, _)| ours(k)) {
            fields.insert(
                format!("environment.{key}"),
                (
                    value.as_str().unwrap_or_default().to_string(),
                    is_secret_key(key),
                ),
            );
        }
    }
    if let Some(Json::Object(labels)) = live.get("labels") {
        for (key, value) in labels
            .iter()
            .filter(|(k, _)| !k.starts_with("stratus-") && !k.starts_with("goog-"))
        {
            fields.insert(
                format!("labels.{key}"),
                (value.as_str().unwrap_or_default().to_string(), false),
            );
        }
    }
    for (key, pointer) in [
        ("serviceAccountEmail", "/serviceConfig/serviceAccountEmail"),
        ("minInstances", "/serviceConfig/minInstanceCount"),
        ("maxInstances", "/serviceConfig/maxInstanceCount"),
    ] {
        // The API fills these in with defaults: compare only what the manifest sets.
        if desired.contains_key(key)
            && let Some(value) = live.pointer(pointer)
        {
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            fields.insert(key.to_string(), (value, false));
        }
    }
    fields
}

/// The `updateMask` paths a changed plan field needs.
pub fn mask_paths(field: &str) -> &'static [&'static str] {
    match field {
        "code" => &["buildConfig.source", "labels"],
        "runtime" => &["buildConfig.runtime"],
        "handler" => &[
            "buildConfig.entryPoint",
            "serviceConfig.environmentVariables",
        ],
        "memorySize" => &[
            "serviceConfig.availableMemory",
            "serviceConfig.environmentVariables",
        ],
        "timeout" => &[
            "serviceConfig.timeoutSeconds",
            "serviceConfig.environmentVariables",
        ],
        "description" => &["description"],
        "event.type" | "event.resource" => &["eventTrigger"],
        "serviceAccountEmail" => &["serviceConfig.serviceAccountEmail"],
        "minInstances" => &["serviceConfig.minInstanceCount"],
        "maxInstances" => &["serviceConfig.maxInstanceCount"],
        f if f.starts_with("environment.") => &["serviceConfig.environmentVariables"],
        f if f.starts_with("labels.") => &["labels"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_long_ones_get_a_hash() {
        assert_eq!(function_id("My_Svc", "dev", "hello"), "my-svc-dev-hello");
        assert_eq!(function_id("1svc", "dev", "f"), "f-1svc-dev-f");
        let long = "x".repeat(80);
        let a = function_id(&long, "dev", "a");
        let b = function_id(&long, "dev", "b");
        assert!(a.len() <= 63 && b.len() <= 63, "{a}");
        assert_ne!(a, b);
        assert_eq!(label_value("Shop_API"), "shop_api");
    }

    #[test]
    fn code_labels_round_trip_within_63_characters() {
        let sha = hex::encode(Sha256::digest(b"zip"));
        let label = code_label(&sha);
        assert!(
            label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_eq!(code_from_label(&label), Some(sha));
        assert_eq!(code_from_label("not-base32!"), None);
    }

    #[test]
    fn memory_spellings() {
        assert_eq!(memory_mb("256M"), Some(256));
        assert_eq!(memory_mb("256Mi"), Some(256));
        assert_eq!(memory_mb("1Gi"), Some(1024));
    }
}
