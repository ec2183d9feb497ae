//! `functions`: a mapping of name → definition (or a list of such mappings), each with its
//! handler, settings, environment overlaid on the provider's, events and package.

use indexmap::IndexMap;

use crate::model::{Function, ProviderKind, ProviderSettings, Runtime};

use super::super::document::to_json;
use super::super::keys;
use super::super::yaml::{Node, Pos, Value};
use super::events::events;
use super::package::function_package;
use super::{Checker, join};

/// Keys of a function the model holds in its own fields.
const FUNCTION_FIELDS: &[&str] = &[
    "handler",
    "image",
    "runtime",
    "memorySize",
    "memory",
    "timeout",
    "description",
    "environment",
    "events",
    "package",
];

/// All functions, in manifest order.
pub(super) fn functions(
    node: &Node,
    provider: &ProviderSettings,
    check: &mut Checker<'_>,
) -> IndexMap<String, Function> {
    let mut out = IndexMap::new();
    let help = "write `functions:` as a mapping: `hello: {handler: handler.hello}`";
    let entries: Vec<_> = match &node.value {
        Value::Null => return out,
        Value::Map(entries) => entries.iter().collect(),
        // A list of mappings (each holding one or more functions) is accepted too.
        Value::Seq(items) => {
            let mut entries = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match &item.value {
                    Value::Map(map) => entries.extend(map.iter()),
                    Value::Null => {}
                    _ => check.error(
                        &format!("functions.{i}"),
                        item.pos,
                        format!("expected a mapping of functions, found {}", item.kind()),
                        help,
                    ),
                }
            }
            entries
        }
        _ => {
            check.error(
                "functions",
                node.pos,
                format!("expected a mapping of functions, found {}", node.kind()),
                help,
            );
            return out;
        }
    };
    for entry in entries {
        let key = join("functions", &entry.key);
        if out.contains_key(&entry.key) {
            check.error(
                &key,
                entry.key_pos,
                format!("the function `{}` is defined twice", entry.key),
                "rename one of them",
            );
            continue;
        }
        if let Some(function) = function(
            &entry.key,
            &entry.value,
            entry.key_pos,
            &key,
            provider,
            check,
        ) {
            out.insert(entry.key.clone(), function);
        }
    }
    out
}

fn function(
    name: &str,
    node: &Node,
    key_pos: Pos,
    key: &str,
    provider: &ProviderSettings,
    check: &mut Checker<'_>,
) -> Option<Function> {
    let handler_help =
        format!("add `handler: handler.{name}` (file `handler`, function `{name}`) under `{key}`");
    let empty = Vec::new();
    let entries = match &node.value {
        Value::Map(entries) => entries,
        Value::Null => &empty,
        _ => {
            check.error(
                key,
                node.pos,
                format!("expected a mapping, found {}", node.kind()),
                handler_help,
            );
            return None;
        }
    };
    if !matches!(provider.name, ProviderKind::Other(_)) {
        check.unknown_keys(node, key, keys::FUNCTION, "function");
    }
    let mut function = Function {
        name: name.to_string(),
        handler: None,
        image: None,
        runtime: None,
        memory_size: None,
        timeout: None,
        description: None,
        environment: provider.environment.clone(),
        events: Vec::new(),
        package: Default::default(),
        extra: serde_json::Map::new(),
    };
    match node.get("handler") {
        Some(handler) if !matches!(handler.value, Value::Str(_)) => check.error(
            &join(key, "handler"),
            handler.pos,
            format!(
                "expected text such as `handler.{name}`, found {}",
                handler.kind()
            ),
            handler_help.clone(),
        ),
        Some(handler) => function.handler = handler.scalar_text(),
        None => {}
    }
    if let Some(image) = node.get("image") {
        function.image = match &image.value {
            Value::Map(_) => image
                .get("name")
                .and_then(Node::scalar_text)
                .or(Some(to_json(image).to_string())),
            _ => check.text(image, &join(key, "image"), "write the image URI"),
        };
    }
    // Providers stratus does not deploy (cloudflare, fn...) name their code differently.
    let needs_handler = function.image.is_none()
        && node.get("sequence").is_none()
        && !matches!(provider.name, ProviderKind::Other(_));
    if function.handler.is_none() && needs_handler && node.get("handler").is_none() {
        check.error(key, key_pos, "the function has no `handler`", handler_help);
    }
    if let Some(runtime) = node.get("runtime") {
        function.runtime = check
            .text(
                runtime,
                &join(key, "runtime"),
                "write a runtime such as `python3.12` or `nodejs20.x`",
            )
            .map(|r| Runtime::parse(&r));
    }
    for memory_key in ["memorySize", "memory"] {
        if let Some(value) = node.get(memory_key) {
            let help = "write the memory in MB, e.g. `memorySize: 512`";
            function.memory_size = check.number(value, &join(key, memory_key), false, help);
        }
    }
    if let Some(value) = node.get("timeout") {
        let help = "write the timeout in seconds, e.g. `timeout: 10`";
        function.timeout = check.number(value, &join(key, "timeout"), true, help);
    }
    if let Some(value) = node.get("description") {
        if value.tag.is_some() || matches!(value.value, Value::Map(_) | Value::Seq(_)) {
            check.warn(
                &join(key, "description"),
                value.pos,
                "the description is a CloudFormation function or a structure; it is kept only as written",
                Some("write the description as plain text".into()),
            );
            function.extra.insert("description".into(), to_json(value));
        } else {
            function.description =
                check.text(value, &join(key, "description"), "write a short text");
        }
    }
    if let Some(value) = node.get("environment") {
        let own = check.string_map(value, &join(key, "environment"));
        function.environment.extend(own);
    }
    if let Some(value) = node.get("events") {
        function.events = events(value, &join(key, "events"), check);
    }
    if let Some(value) = node.get("package") {
        function.package = function_package(value, &join(key, "package"), check);
    }
    for entry in entries {
        if !FUNCTION_FIELDS.contains(&entry.key.as_str())
            && !function.extra.contains_key(&entry.key)
        {
            function
                .extra
                .insert(entry.key.clone(), to_json(&entry.value));
        }
    }
    Some(function)
}
