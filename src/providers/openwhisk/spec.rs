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
use super::triggers;
pub use super::triggers::{to_cron, trigger_name};
use crate::http::redact::is_secret_key;
use crate::model::{Event, Function, Service};
use crate::package::Packaged;

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
        fields.insert("runtime".to_string(), (kind.to_string(), false));
    }
    // A sequence's limits are the controller's defaults, not ours to compare.
    if kind != Some("sequence") {
        if let Some(memory) = action.pointer("/limits/memory") {
            fields.insert("memorySize".to_string(), (memory.to_string(), false));
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
    /// An entity with this service's ownership annotations and `stratus:spec` added.
    pub fn new(
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
        out.packages = triggers::packages(service);
    }
    let mut sequences = Vec::new();
    for function in service.functions.values().filter(|f| in_scope(&f.name)) {
        let action = desired_action(service, packaged, function, namespace)?;
        if matches!(action.code, ActionCode::Sequence(_)) {
            sequences.push(action);
        } else {
            out.actions.push(action);
        }
        let (triggers, rules) = triggers::triggers_and_rules(service, function, namespace);
        // Functions may share a trigger: it is created once.
        for trigger in triggers {
            if !out.triggers.iter().any(|known| known.name == trigger.name) {
                out.triggers.push(trigger);
            }
        }
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

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
