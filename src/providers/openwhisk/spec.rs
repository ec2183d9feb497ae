//! The desired OpenWhisk entities of a service: actions (code or sequence), packages,
//! triggers (with the alarm feed for `schedule` events) and rules, each with the PUT body it is
//! written with and the fields a plan compares.
//!
//! Every entity carries the annotations `stratus:service`, `stratus:stage` (what `remove` and
//! the deletion of functions that left the manifest look for) and, for actions,
//! `stratus:function` and `stratus:code-sha256`. Triggers, rules and packages also carry
//! `stratus:spec`: their compared fields as JSON, so a plan can diff them without guessing.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::runtime::{self, ENTRY_FUNCTION, HANDLER_ENV, STYLE_ENV};
use crate::http::redact::is_secret_key;
use crate::model::{Event, Function, Service};
use crate::package::Packaged;

/// The alarm feed that schedules fire through.
pub const ALARM_FEED: &str = "/whisk.system/alarms/alarm";
/// The annotation that names the service.
pub const SERVICE_ANNOTATION: &str = "stratus:service";
/// The annotation that names the stage.
pub const STAGE_ANNOTATION: &str = "stratus:stage";
/// The annotation that names the manifest function.
pub const FUNCTION_ANNOTATION: &str = "stratus:function";
/// The annotation that carries the package's sha256.
pub const CODE_ANNOTATION: &str = "stratus:code-sha256";
/// The annotation that lists the HTTP routes (`GET /time`) of a web action.
pub const HTTP_ANNOTATION: &str = "stratus:http";
/// The annotation that carries the compared fields of triggers, rules and packages.
pub const SPEC_ANNOTATION: &str = "stratus:spec";

/// What an action runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionCode {
    /// A zip from the packager, with its sha256 and path.
    Zip {
        /// `exec.kind`.
        kind: String,
        /// sha256 of the zip.
        sha256: String,
        /// Where the zip is.
        path: std::path::PathBuf,
    },
    /// A sequence of other actions, fully qualified.
    Sequence(Vec<String>),
}

/// One action as it should be.
#[derive(Debug, Clone)]
pub struct DesiredAction {
    /// The manifest function.
    pub function: String,
    /// `{service}-{stage}-{function}`.
    pub name: String,
    /// What it runs.
    pub code: ActionCode,
    /// `limits`, unless a sequence.
    pub limits: Option<Json>,
    /// `parameters` (init parameters included).
    pub parameters: Vec<Json>,
    /// `annotations`.
    pub annotations: Vec<Json>,
    /// HTTP routes (`GET /time`), when it is a web action.
    pub routes: Vec<String>,
}

impl DesiredAction {
    /// The sha256 stored in the `stratus:code-sha256` annotation.
    pub fn code_sha256(&self) -> String {
        match &self.code {
            ActionCode::Zip { sha256, .. } => sha256.clone(),
            ActionCode::Sequence(components) => sha256_hex(components.join("\n").as_bytes()),
        }
    }

    /// The PUT body; `code_base64` is the zip for code actions.
    pub fn body(&self, code_base64: Option<String>) -> Json {
        let exec = match &self.code {
            ActionCode::Zip { kind, .. } => json!({
                "kind": kind,
                "code": code_base64.unwrap_or_default(),
                "binary": true,
                "main": ENTRY_FUNCTION,
            }),
            ActionCode::Sequence(components) => {
                json!({"kind": "sequence", "components": components})
            }
        };
        let mut annotations = self.annotations.clone();
        annotations.push(json!({"key": CODE_ANNOTATION, "value": self.code_sha256()}));
        let mut body = json!({
            "exec": exec,
            "parameters": self.parameters,
            "annotations": annotations,
        });
        if let Some(limits) = &self.limits {
            body["limits"] = limits.clone();
        }
        body
    }

    /// The fields a plan compares (`field` → (value, sensitive)).
    pub fn fields(&self) -> BTreeMap<String, (String, bool)> {
        let exec_kind = match &self.code {
            ActionCode::Zip { kind, .. } => kind.clone(),
            ActionCode::Sequence(_) => "sequence".to_string(),
        };
        let body = self.body(None);
        let mut live_like = body.clone();
        live_like["exec"] = json!({"kind": exec_kind});
        action_fields(&live_like, Some(&self.code_sha256()))
    }
}

/// The compared fields of an action record (live, or desired): code hash, kind, limits,
/// parameters, environment (init parameters, sensitive when they look secret), annotations.
pub fn action_fields(action: &Json, code_sha: Option<&str>) -> BTreeMap<String, (String, bool)> {
    let mut fields = BTreeMap::new();
    let code = code_sha.map(str::to_string).or_else(|| {
        annotation(action, CODE_ANNOTATION).and_then(|v| v.as_str().map(str::to_string))
    });
    if let Some(code) = code {
        fields.insert("code".to_string(), (code, false));
    }
    let kind = action.pointer("/exec/kind").and_then(Json::as_str);
    if let Some(kind) = kind {
        fields.insert("kind".to_string(), (kind.to_string(), false));
    }
    // A sequence's limits are the controller's defaults, not ours to compare.
    if kind != Some("sequence") {
        if let Some(memory) = action.pointer("/limits/memory") {
            fields.insert("memory".to_string(), (memory.to_string(), false));
        }
        if let Some(timeout) = action.pointer("/limits/timeout") {
            fields.insert("timeout".to_string(), (timeout.to_string(), false));
        }
    }
    for parameter in action
        .get("parameters")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let Some(key) = parameter.get("key").and_then(Json::as_str) else {
            continue;
        };
        let value = parameter.get("value").cloned().unwrap_or(Json::Null);
        let shown = match &value {
            Json::String(text) => text.clone(),
            other => other.to_string(),
        };
        let init = parameter.get("init").and_then(Json::as_bool) == Some(true);
        let field = match (init, key) {
            (true, HANDLER_ENV) => "handler".to_string(),
            (true, STYLE_ENV) => "handlerStyle".to_string(),
            (true, _) => format!("environment.{key}"),
            (false, _) => format!("parameters.{key}"),
        };
        fields.insert(field, (shown, is_secret_key(key)));
    }
    for entry in action
        .get("annotations")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let Some(key) = entry.get("key").and_then(Json::as_str) else {
            continue;
        };
        if key == CODE_ANNOTATION || CONTROLLER_ANNOTATIONS.contains(&key) {
            continue;
        }
        let value = entry.get("value").cloned().unwrap_or(Json::Null);
        fields.insert(format!("annotations.{key}"), (value.to_string(), false));
    }
    fields
}

/// Annotations the controller adds on its own; never compared.
const CONTROLLER_ANNOTATIONS: &[&str] = &["exec", "provide-api-key"];

/// The value of annotation `key` on an entity record.
pub fn annotation<'a>(entity: &'a Json, key: &str) -> Option<&'a Json> {
    entity
        .get("annotations")?
        .as_array()?
        .iter()
        .find(|entry| entry.get("key").and_then(Json::as_str) == Some(key))?
        .get("value")
}

/// Whether an entity record carries this service's and stage's annotations.
pub fn belongs_to(entity: &Json, service: &Service) -> bool {
    annotation(entity, SERVICE_ANNOTATION).and_then(Json::as_str) == Some(service.name.as_str())
        && annotation(entity, STAGE_ANNOTATION).and_then(Json::as_str)
            == Some(service.stage.as_str())
}

/// A trigger, rule or package as it should be.
#[derive(Debug, Clone)]
pub struct DesiredEntity {
    /// Its name in the namespace.
    pub name: String,
    /// The manifest function it serves, if any.
    pub function: Option<String>,
    /// The PUT body (annotations include `stratus:spec`).
    pub body: Json,
    /// The compared fields.
    pub spec: BTreeMap<String, String>,
    /// For schedule triggers: the alarm feed's `cron` and `trigger_payload`.
    pub alarm: Option<(String, Option<Json>)>,
}

impl DesiredEntity {
    fn new(
        service: &Service,
        name: String,
        function: Option<String>,
        mut body: Json,
        spec: BTreeMap<String, String>,
    ) -> DesiredEntity {
        let mut annotations = body
            .get("annotations")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        annotations.extend(ownership(service));
        annotations.push(json!({"key": SPEC_ANNOTATION, "value": spec}));
        body["annotations"] = Json::Array(annotations);
        DesiredEntity {
            name,
            function,
            body,
            spec,
            alarm: None,
        }
    }
}

/// The live `stratus:spec` of an entity record.
pub fn live_spec(entity: &Json) -> BTreeMap<String, String> {
    annotation(entity, SPEC_ANNOTATION)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default()
}

fn ownership(service: &Service) -> Vec<Json> {
    vec![
        json!({"key": SERVICE_ANNOTATION, "value": service.name}),
        json!({"key": STAGE_ANNOTATION, "value": service.stage}),
    ]
}

/// Everything a service wants in its namespace.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Packages (`resources.packages`).
    pub packages: Vec<DesiredEntity>,
    /// Actions with code first, then sequences (which need their components).
    pub actions: Vec<DesiredAction>,
    /// Triggers.
    pub triggers: Vec<DesiredEntity>,
    /// Rules (their names end in `-rule`).
    pub rules: Vec<DesiredEntity>,
}

/// Builds the desired entities of the functions in `functions` (all when `None`).
/// `namespace` is the resolved namespace, for fully qualified names.
pub fn desired(
    service: &Service,
    packaged: &Packaged,
    functions: Option<&[String]>,
    namespace: &str,
) -> anyhow::Result<Desired> {
    let mut out = Desired::default();
    let in_scope = |name: &str| functions.is_none_or(|names| names.iter().any(|n| n == name));
    if functions.is_none() {
        out.packages = packages(service);
    }
    let mut sequences = Vec::new();
    for function in service.functions.values().filter(|f| in_scope(&f.name)) {
        let action = desired_action(service, packaged, function, namespace)?;
        if matches!(action.code, ActionCode::Sequence(_)) {
            sequences.push(action);
        } else {
            out.actions.push(action);
        }
        let (triggers, rules) = triggers_and_rules(service, function, namespace);
        out.triggers.extend(triggers);
        out.rules.extend(rules);
    }
    out.actions.extend(sequences);
    Ok(out)
}

fn desired_action(
    service: &Service,
    packaged: &Packaged,
    function: &Function,
    namespace: &str,
) -> anyhow::Result<DesiredAction> {
    let name = service.deployed_name(&function.name);
    let settings = service.effective(function);
    let mut parameters: Vec<Json> = Vec::new();
    if let Some(Json::Object(map)) = function.extra.get("parameters") {
        for (key, value) in map {
            parameters.push(json!({"key": key, "value": value}));
        }
    }
    let mut annotations: Vec<Json> = Vec::new();
    if let Some(Json::Object(map)) = function.extra.get("annotations") {
        for (key, value) in map {
            annotations.push(json!({"key": key, "value": value}));
        }
    }
    let routes: Vec<String> = function
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Http(http) => Some(format!("{} {}", http.method, http.path)),
            _ => None,
        })
        .collect();
    if !routes.is_empty() {
        annotations.push(json!({"key": "web-export", "value": true}));
        annotations.push(json!({"key": "final", "value": true}));
        annotations.push(json!({"key": HTTP_ANNOTATION, "value": routes}));
    }
    annotations.extend(ownership(service));
    annotations.push(json!({"key": FUNCTION_ANNOTATION, "value": function.name}));

    let (code, limits) = if let Some(sequence) = function.extra.get("sequence") {
        let components = sequence
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(|component| qualify(service, component, namespace))
            .collect();
        (ActionCode::Sequence(components), None)
    } else {
        let artifact = packaged.for_function(&function.name).ok_or_else(|| {
            anyhow::anyhow!(
                "no package was built for function `{}`; run the deploy again (it packages first)",
                function.name
            )
        })?;
        let runtime = super::check::runtime_of(service, function);
        let kind = runtime::action_kind(&runtime).map_err(|why| anyhow::anyhow!(why))?;
        let handler = function.handler.clone().unwrap_or_default();
        parameters.push(json!({"key": HANDLER_ENV, "value": handler, "init": true}));
        parameters.push(
            json!({"key": STYLE_ENV, "value": runtime::handler_style(service), "init": true}),
        );
        for (key, value) in &function.environment {
            parameters.push(json!({"key": key, "value": value, "init": true}));
        }
        let limits = json!({
            "timeout": u64::from(settings.timeout) * 1000,
            "memory": settings.memory_size,
        });
        (
            ActionCode::Zip {
                kind,
                sha256: artifact.sha256.clone(),
                path: artifact.path.clone(),
            },
            Some(limits),
        )
    };
    Ok(DesiredAction {
        function: function.name.clone(),
        name,
        code,
        limits,
        parameters,
        annotations,
        routes,
    })
}

/// A sequence component: a manifest function becomes its deployed action, anything else
/// (`/whisk.system/utils/echo`, `pkg/action`) is qualified with the namespace as needed.
fn qualify(service: &Service, component: &str, namespace: &str) -> String {
    if service.functions.contains_key(component) {
        format!("/{namespace}/{}", service.deployed_name(component))
    } else if component.starts_with('/') {
        component.to_string()
    } else {
        format!("/{namespace}/{component}")
    }
}

fn packages(service: &Service) -> Vec<DesiredEntity> {
    let Some(Json::Object(packages)) = service
        .resources
        .as_ref()
        .and_then(|resources| resources.get("packages"))
    else {
        return Vec::new();
    };
    packages
        .iter()
        .map(|(name, config)| {
            let key_values = |key: &str| -> Vec<Json> {
                match config.get(key) {
                    Some(Json::Object(map)) => map
                        .iter()
                        .map(|(k, v)| json!({"key": k, "value": v}))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let parameters = key_values("parameters");
            let annotations = key_values("annotations");
            let publish = config
                .get("shared")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            let mut spec = BTreeMap::new();
            spec.insert(
                "parameters".to_string(),
                Json::Array(parameters.clone()).to_string(),
            );
            spec.insert(
                "annotations".to_string(),
                Json::Array(annotations.clone()).to_string(),
            );
            spec.insert("shared".to_string(), publish.to_string());
            let body =
                json!({"publish": publish, "parameters": parameters, "annotations": annotations});
            DesiredEntity::new(service, name.clone(), None, body, spec)
        })
        .collect()
}

fn triggers_and_rules(
    service: &Service,
    function: &Function,
    namespace: &str,
) -> (Vec<DesiredEntity>, Vec<DesiredEntity>) {
    let action = format!("/{namespace}/{}", service.deployed_name(&function.name));
    let mut triggers = Vec::new();
    let mut rules = Vec::new();
    let mut schedules = 0;
    for event in &function.events {
        match event {
            Event::Schedule(schedule) => {
                schedules += 1;
                if !schedule.enabled {
                    continue;
                }
                let Ok(cron) = to_cron(&schedule.expression) else {
                    continue; // check() reported it.
                };
                let name = format!(
                    "{}-schedule-{schedules}",
                    service.deployed_name(&function.name)
                );
                let mut spec = BTreeMap::new();
                spec.insert("cron".to_string(), cron.clone());
                if let Some(input) = &schedule.input {
                    spec.insert("payload".to_string(), input.to_string());
                }
                let body = json!({"annotations": [{"key": "feed", "value": ALARM_FEED}]});
                let mut trigger = DesiredEntity::new(
                    service,
                    name.clone(),
                    Some(function.name.clone()),
                    body,
                    spec,
                );
                trigger.alarm = Some((cron, schedule.input.clone()));
                rules.push(rule(
                    service,
                    function,
                    &name,
                    &format!("{name}-rule"),
                    namespace,
                    &action,
                ));
                triggers.push(trigger);
            }
            Event::Other { kind, config } if kind == "trigger" => {
                let Some(trigger_name) = trigger_name(config) else {
                    continue; // check() reported it.
                };
                let name = trigger_name.to_string();
                let rule_name = format!(
                    "{}-{}-{name}-{}-rule",
                    service.name, service.stage, function.name
                );
                let mut spec = BTreeMap::new();
                spec.insert("kind".to_string(), "trigger".to_string());
                let body = json!({"annotations": []});
                if !triggers.iter().any(|t: &DesiredEntity| t.name == name) {
                    triggers.push(DesiredEntity::new(service, name.clone(), None, body, spec));
                }
                rules.push(rule(
                    service, function, &name, &rule_name, namespace, &action,
                ));
            }
            _ => {}
        }
    }
    (triggers, rules)
}

/// The trigger name of a `trigger:` event (`trigger: name` or `trigger: {name: ...}`).
pub fn trigger_name(config: &Json) -> Option<&str> {
    match config {
        Json::String(name) => Some(name.as_str()),
        Json::Object(map) => map.get("name").and_then(Json::as_str),
        _ => None,
    }
    .filter(|name| !name.trim().is_empty())
}

fn rule(
    service: &Service,
    function: &Function,
    trigger: &str,
    name: &str,
    namespace: &str,
    action: &str,
) -> DesiredEntity {
    let trigger_path = format!("/{namespace}/{trigger}");
    let mut spec = BTreeMap::new();
    spec.insert("trigger".to_string(), trigger_path.clone());
    spec.insert("action".to_string(), action.to_string());
    let body = json!({"trigger": trigger_path, "action": action, "annotations": []});
    DesiredEntity::new(
        service,
        name.to_string(),
        Some(function.name.clone()),
        body,
        spec,
    )
}

/// A `schedule` expression as the 5-field cron the alarm feed takes:
/// `rate(5 minutes)` → `*/5 * * * *`, `cron(0 12 * * ? *)` (AWS, 6 fields) → `0 12 * * *`,
/// `cron(* * * * *)` kept.
pub fn to_cron(expression: &str) -> Result<String, String> {
    let expression = expression.trim();
    if let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))
    {
        let mut parts = inner.split_whitespace();
        let amount: u32 = parts
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{expression}`: the rate needs a positive number"))?;
        let unit = parts.next().unwrap_or("").trim_end_matches('s');
        return match (unit, amount) {
            ("minute", n) if n < 60 => Ok(if n == 1 {
                "* * * * *".into()
            } else {
                format!("*/{n} * * * *")
            }),
            ("hour", n) if n < 24 => Ok(if n == 1 {
                "0 * * * *".into()
            } else {
                format!("0 */{n} * * *")
            }),
            ("day", 1) => Ok("0 0 * * *".into()),
            _ => Err(format!(
                "`{expression}` cannot be written as a cron schedule (use minutes < 60, hours < 24 or 1 day)"
            )),
        };
    }
    let inner = expression
        .strip_prefix("cron(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expression);
    let fields: Vec<&str> = inner.split_whitespace().collect();
    match fields.len() {
        5 => Ok(fields.join(" ")),
        6 => Ok(fields[..5]
            .iter()
            .map(|field| if *field == "?" { "*" } else { field })
            .collect::<Vec<_>>()
            .join(" ")),
        _ => Err(format!(
            "`{expression}` is neither rate(...) nor a 5-field cron expression"
        )),
    }
}

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_become_five_field_crons() {
        assert_eq!(to_cron("rate(5 minutes)").unwrap(), "*/5 * * * *");
        assert_eq!(to_cron("rate(1 minute)").unwrap(), "* * * * *");
        assert_eq!(to_cron("rate(2 hours)").unwrap(), "0 */2 * * *");
        assert_eq!(to_cron("rate(1 day)").unwrap(), "0 0 * * *");
        assert_eq!(to_cron("cron(* * * * *)").unwrap(), "* * * * *");
        assert_eq!(to_cron("cron(0 12 * * ? *)").unwrap(), "0 12 * * *");
        assert!(to_cron("rate(7 days)").is_err());
        assert!(to_cron("cron(1 2)").is_err());
    }
}
