//! Building the provider-neutral [`Service`] from the resolved tree, checking keys and types
//! on the way. Wrong types are errors naming the key and its position; unknown keys are
//! warnings with a "did you mean".

mod events;
mod functions;
mod package;

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Location, ProviderKind, ProviderSettings, Runtime, Service};

use super::document::to_json;
use super::keys;
use super::yaml::{Node, Pos, Value};
use super::{Files, LoadOptions};

/// Collects diagnostics and converts positions while the model is built.
pub(super) struct Checker<'a> {
    files: &'a Files,
    diagnostics: &'a mut Diagnostics,
    /// Where variables failed to resolve (their errors are already recorded).
    failed_variables: Vec<Location>,
}

impl Checker<'_> {
    /// Records an error about `key` written at `pos`.
    /// A value whose variable could not be resolved already has its error: one error per
    /// position, so a failed `${...}` is not also reported as a wrong type.
    fn error(&mut self, key: &str, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        let location = self.files.location(pos);
        if self.failed_variables.contains(&location) {
            return;
        }
        self.diagnostics.push(
            Diagnostic::error(key, message)
                .at(Some(location))
                .help(help),
        );
    }

    /// Records a warning about `key` written at `pos`.
    fn warn(&mut self, key: &str, pos: Pos, message: impl Into<String>, help: Option<String>) {
        let location = self.files.location(pos);
        let mut diagnostic = Diagnostic::warning(key, message).at(Some(location));
        if let Some(help) = help {
            diagnostic = diagnostic.help(help);
        }
        self.diagnostics.push(diagnostic);
    }

    /// Warns about every key of `node` not in `known`.
    fn unknown_keys(&mut self, node: &Node, prefix: &str, known: &[&'static str], what: &str) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        for entry in entries {
            if known.contains(&entry.key.as_str()) {
                continue;
            }
            let key = join(prefix, &entry.key);
            let help = match keys::did_you_mean(&entry.key, known) {
                Some(suggestion) => Some(format!("did you mean `{suggestion}`?")),
                None => Some(format!(
                    "stratus ignores unknown {what} keys; remove it if it is a typo"
                )),
            };
            self.warn(
                &key,
                entry.key_pos,
                format!("unknown key `{}`", entry.key),
                help,
            );
        }
    }

    /// A text value (numbers and booleans written out); an error for lists and mappings.
    fn text(&mut self, node: &Node, key: &str, help: &str) -> Option<String> {
        match node.scalar_text() {
            Some(text) => Some(text),
            None if node.value == Value::Null => None,
            None => {
                self.error(
                    key,
                    node.pos,
                    format!("expected text, found {}", node.kind()),
                    help,
                );
                None
            }
        }
    }

    /// A whole number: an integer, digits in a string, or seconds written `60s` when
    /// `seconds` is set.
    fn number(&mut self, node: &Node, key: &str, seconds: bool, help: &str) -> Option<u32> {
        let parsed = match &node.value {
            Value::Null => return None,
            Value::Int(i) => u32::try_from(*i).ok(),
            Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX) => {
                Some(*f as u32)
            }
            Value::Str(s) => {
                let s = s.trim();
                let digits = if seconds {
                    s.strip_suffix('s').unwrap_or(s)
                } else {
                    s.strip_suffix("MB")
                        .or_else(|| s.strip_suffix("mb"))
                        .unwrap_or(s)
                };
                digits.trim().parse::<u32>().ok()
            }
            _ => None,
        };
        if parsed.is_none() {
            let shown = node
                .scalar_text()
                .map(|t| format!(" `{t}`"))
                .unwrap_or_default();
            self.error(
                key,
                node.pos,
                format!("expected a whole number, found {}{shown}", node.kind()),
                help,
            );
        }
        parsed
    }

    /// A boolean (also `"true"`/`"false"` strings).
    fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match &node.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.error(
                    key,
                    node.pos,
                    format!("expected true or false, found {}", node.kind()),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    /// A `NAME: value` mapping as text values (environment, tags). Null values are skipped
    /// with a warning; CloudFormation functions are kept as their JSON text with a warning.
    fn string_map(&mut self, node: &Node, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let entries = match &node.value {
            Value::Null => return out,
            Value::Map(entries) => entries,
            _ => {
                self.error(
                    key,
                    node.pos,
                    format!("expected a mapping of NAME: value, found {}", node.kind()),
                    "write one `NAME: value` per line under this key",
                );
                return out;
            }
        };
        for entry in entries {
            let entry_key = join(key, &entry.key);
            let value = &entry.value;
            if value.tag.is_some() || matches!(value.value, Value::Map(_) | Value::Seq(_)) {
                let json = to_json(value).to_string();
                self.warn(
                    &entry_key,
                    value.pos,
                    "this value is a CloudFormation function or a structure; stratus passes its JSON text",
                    Some("write the value itself (stratus deploys without CloudFormation)".into()),
                );
                out.insert(entry.key.clone(), json);
                continue;
            }
            match value.scalar_text() {
                Some(text) => {
                    out.insert(entry.key.clone(), text);
                }
                None => self.warn(
                    &entry_key,
                    entry.key_pos,
                    "has no value and is skipped",
                    Some(format!("give `{}` a value, or remove it", entry.key)),
                ),
            }
        }
        out
    }
}

/// `a.b` joined with `c`.
pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Records where every key (and list item) was written.
fn record_locations(
    node: &Node,
    prefix: &str,
    files: &Files,
    out: &mut BTreeMap<String, Location>,
) {
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                let key = join(prefix, &entry.key);
                out.insert(key.clone(), files.location(entry.key_pos));
                record_locations(&entry.value, &key, files, out);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = join(prefix, &i.to_string());
                out.insert(key.clone(), files.location(item.pos));
                record_locations(item, &key, files, out);
            }
        }
        _ => {}
    }
}

/// Builds the model from the resolved tree; problems go to `diagnostics`.
pub(super) fn service(
    root: &Node,
    files: &Files,
    options: &LoadOptions,
    service_dir: &Path,
    manifest: &Path,
    diagnostics: &mut Diagnostics,
) -> Service {
    let failed_variables = diagnostics
        .errors()
        .filter_map(|d| d.location.clone())
        .collect();
    let mut check = Checker {
        files,
        diagnostics,
        failed_variables,
    };
    check.unknown_keys(root, "", keys::TOP_LEVEL, "top-level");
    let name = service_name(root, &mut check);
    let provider_node = root.get("provider");
    let provider = provider_settings(root, provider_node, &mut check);
    let stage = options
        .stage
        .clone()
        .or_else(|| provider_node?.get("stage")?.scalar_text())
        .unwrap_or_else(|| "dev".to_string());
    let region = options.region.clone().or_else(|| {
        let provider = provider_node?;
        provider
            .get("region")
            .and_then(Node::scalar_text)
            .or_else(|| provider.get("location").and_then(Node::scalar_text))
    });
    let functions = match root.get("functions") {
        Some(node) => functions::functions(node, &provider, &mut check),
        None => IndexMap::new(),
    };
    let package = match root.get("package") {
        Some(node) => package::service_package(node, &mut check),
        None => package::service_package(&Node::new(Value::Null, root.pos), &mut check),
    };
    let plugins = root
        .get("plugins")
        .map(|n| plugins(n, &mut check))
        .unwrap_or_default();
    let mut locations = BTreeMap::new();
    record_locations(root, "", files, &mut locations);
    Service {
        name: name.unwrap_or_default(),
        stage,
        region,
        framework_version: root.get("frameworkVersion").and_then(Node::scalar_text),
        provider,
        functions,
        package,
        custom: root.get("custom").map(to_json).unwrap_or(Json::Null),
        plugins,
        resources: root.get("resources").map(to_json),
        root: service_dir.to_path_buf(),
        manifest: manifest.to_path_buf(),
        locations,
    }
}

fn service_name(root: &Node, check: &mut Checker<'_>) -> Option<String> {
    let help = "name the service: `service: my-service`";
    let Some(node) = root.get("service") else {
        check.error("service", root.pos, "the manifest has no `service`", help);
        return None;
    };
    let name = match &node.value {
        Value::Map(_) => match node.get("name") {
            Some(name) => check.text(name, "service.name", help),
            None => None,
        },
        _ => check.text(node, "service", help),
    };
    if name.as_deref().is_none_or(str::is_empty) {
        check.error("service", node.pos, "the service has no name", help);
    }
    name
}

/// Keys of `provider` the model holds in its own fields.
const PROVIDER_FIELDS: &[&str] = &[
    "name",
    "runtime",
    "memorySize",
    "memory",
    "timeout",
    "environment",
    "tags",
    "architecture",
    "stage",
    "region",
];

fn provider_settings(
    root: &Node,
    node: Option<&Node>,
    check: &mut Checker<'_>,
) -> ProviderSettings {
    let mut settings = ProviderSettings::new(ProviderKind::Local);
    let name_help = "add `provider:` with `name: aws` (or azure, google, openwhisk, local)";
    let Some(node) = node.filter(|n| matches!(n.value, Value::Map(_))) else {
        let pos = node.map_or(root.pos, |n| n.pos);
        let message = match node {
            Some(n) => format!(
                "expected a mapping with at least `name`, found {}",
                n.kind()
            ),
            None => "the manifest has no `provider`".into(),
        };
        check.error("provider", pos, message, name_help);
        return settings;
    };
    match node.get("name") {
        Some(name) => {
            if let Some(text) = check.text(name, "provider.name", name_help) {
                settings.name = ProviderKind::parse(&text);
            }
        }
        None => check.error(
            "provider.name",
            node.pos,
            "the provider has no `name`",
            name_help,
        ),
    }
    let ours = !matches!(settings.name, ProviderKind::Other(_));
    if ours {
        check.unknown_keys(node, "provider", keys::PROVIDER, "provider");
    }
    if let Some(runtime) = node.get("runtime") {
        settings.runtime = check
            .text(
                runtime,
                "provider.runtime",
                "write a runtime such as `python3.12` or `nodejs20.x`",
            )
            .map(|r| Runtime::parse(&r));
    }
    for key in ["memorySize", "memory"] {
        if let Some(value) = node.get(key) {
            let help = "write the memory in MB, e.g. `memorySize: 512`";
            settings.memory_size = check.number(value, &format!("provider.{key}"), false, help);
        }
    }
    if let Some(value) = node.get("timeout") {
        let help = "write the timeout in seconds, e.g. `timeout: 10`";
        settings.timeout = check.number(value, "provider.timeout", true, help);
    }
    if let Some(value) = node.get("environment") {
        // Other providers (twilio...) may give `environment` another meaning: kept in `extra`.
        if ours || matches!(value.value, Value::Map(_)) {
            settings.environment = check.string_map(value, "provider.environment");
        }
    }
    if let Some(value) = node.get("tags") {
        settings.tags = check.string_map(value, "provider.tags");
    }
    if settings.name == ProviderKind::Google
        && let Some(value) = node.get("labels")
    {
        settings
            .tags
            .extend(check.string_map(value, "provider.labels"));
    }
    if let Some(value) = node.get("architecture") {
        settings.architecture =
            check.text(value, "provider.architecture", "write `x86_64` or `arm64`");
    }
    if let Value::Map(entries) = &node.value {
        for entry in entries {
            let environment_elsewhere =
                entry.key == "environment" && !ours && !matches!(entry.value.value, Value::Map(_));
            if !PROVIDER_FIELDS.contains(&entry.key.as_str()) || environment_elsewhere {
                settings
                    .extra
                    .insert(entry.key.clone(), to_json(&entry.value));
            }
        }
    }
    settings
}

fn plugins(node: &Node, check: &mut Checker<'_>) -> Vec<String> {
    let list = match &node.value {
        Value::Map(_) => node.get("modules"),
        _ => Some(node),
    };
    let help = "list plugin names: `plugins: [serverless-offline]`";
    match list.map(|n| &n.value) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Seq(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| check.text(item, &format!("plugins.{i}"), help))
            .collect(),
        Some(_) => {
            check.error(
                "plugins",
                node.pos,
                format!("expected a list, found {}", node.kind()),
                help,
            );
            Vec::new()
        }
    }
}
