//! A function's `events`: HTTP routes (`http`, `httpApi`, Azure's `http: true`, Google's
//! `http: path`), schedules (`schedule`, Azure's `timer`), and everything else kept as
//! written.

use serde_json::Value as Json;

use crate::model::{Event, HttpEvent, ScheduleEvent};

use super::super::document::to_json;
use super::super::yaml::{Entry, Node, Value};
use super::{Checker, join};

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// All events of one function.
pub(super) fn events(node: &Node, key: &str, check: &mut Checker<'_>) -> Vec<Event> {
    let items = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items,
        _ => {
            check.error(
                key,
                node.pos,
                format!("expected a list of events, found {}", node.kind()),
                "write each event as a list item: `- httpApi: GET /hello`",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}.{i}");
        match &item.value {
            Value::Str(kind) => out.push(Event::Other {
                kind: kind.clone(),
                config: Json::Null,
            }),
            Value::Map(entries) if !entries.is_empty() => {
                if let Some((first, siblings)) = entries.split_first() {
                    event(first, siblings, item, &item_key, check, &mut out);
                }
            }
            _ => check.error(
                &item_key,
                item.pos,
                format!(
                    "expected an event such as `httpApi: GET /hello`, found {}",
                    item.kind()
                ),
                "write each event as `- <kind>: <settings>`",
            ),
        }
    }
    out
}

fn event(
    first: &Entry,
    siblings: &[Entry],
    item: &Node,
    key: &str,
    check: &mut Checker<'_>,
    out: &mut Vec<Event>,
) {
    let kind = first.key.as_str();
    let key = join(key, kind);
    match kind {
        "http" | "httpApi" => http(kind, &first.value, siblings, &key, check, out),
        "schedule" => schedule(&first.value, &key, check, out),
        "timer" => {
            let expression = first
                .value
                .get("schedule")
                .or_else(|| {
                    siblings
                        .iter()
                        .find(|e| e.key == "x-azure-settings")?
                        .value
                        .get("schedule")
                })
                .and_then(Node::scalar_text);
            match expression {
                Some(expression) => out.push(Event::Schedule(ScheduleEvent {
                    expression,
                    enabled: true,
                    input: None,
                })),
                None => check.error(
                    &key,
                    first.value.pos,
                    "the timer has no `schedule`",
                    "write `timer: {schedule: '0 */5 * * * *'}`",
                ),
            }
        }
        _ => {
            let config = if siblings.is_empty() {
                to_json(&first.value)
            } else {
                to_json(item)
            };
            out.push(Event::Other {
                kind: kind.to_string(),
                config,
            });
        }
    }
}

fn method_of(text: &str) -> String {
    let upper = text.trim().to_ascii_uppercase();
    if upper == "*" { "ANY".into() } else { upper }
}

fn path_of(text: &str) -> String {
    let text = text.trim();
    if text == "*" {
        "/{proxy+}".into()
    } else if text.starts_with('/') {
        text.to_string()
    } else {
        format!("/{text}")
    }
}

fn http(
    kind: &str,
    value: &Node,
    siblings: &[Entry],
    key: &str,
    check: &mut Checker<'_>,
    out: &mut Vec<Event>,
) {
    let mut extra = serde_json::Map::new();
    for sibling in siblings {
        extra.insert(sibling.key.clone(), to_json(&sibling.value));
    }
    let azure = siblings
        .iter()
        .find(|e| e.key == "x-azure-settings")
        .map(|e| &e.value);
    // Azure's response binding (`direction: out`) is not a route.
    if azure
        .and_then(|a| a.get("direction"))
        .and_then(Node::as_str)
        == Some("out")
    {
        out.push(Event::Other {
            kind: kind.to_string(),
            config: Json::Object(extra),
        });
        return;
    }
    let help = "write `GET /path`, or `{method: get, path: /path}`";
    let (methods, path): (Vec<String>, String) = match &value.value {
        // `http: true` / `http:` (Azure): every method, at the function's own path.
        Value::Bool(true) | Value::Null => (Vec::new(), "/".into()),
        Value::Str(text) => {
            let mut words = text.split_whitespace();
            match (words.next(), words.next()) {
                (Some(method), Some(path)) => (vec![method_of(method)], path_of(path)),
                (Some("*"), None) => (vec!["ANY".into()], "/{proxy+}".into()),
                (Some(only), None) if HTTP_METHODS.contains(&method_of(only).as_str()) => {
                    (vec![method_of(only)], "/".into())
                }
                (Some(only), None) => (Vec::new(), path_of(only)),
                _ => {
                    check.error(key, value.pos, "the HTTP event is empty", help);
                    return;
                }
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                if entry.key != "method" && entry.key != "path" {
                    extra.insert(entry.key.clone(), to_json(&entry.value));
                }
            }
            let method = value
                .get("method")
                .and_then(|m| check.text(m, &join(key, "method"), help))
                .map(|m| method_of(&m));
            let path = value
                .get("path")
                .and_then(|p| check.text(p, &join(key, "path"), help))
                .map(|p| path_of(&p))
                .unwrap_or_else(|| "/".into());
            (method.into_iter().collect(), path)
        }
        _ => {
            check.error(
                key,
                value.pos,
                format!("expected an HTTP route, found {}", value.kind()),
                help,
            );
            return;
        }
    };
    let methods = if methods.is_empty() {
        listed_methods(siblings, azure)
    } else {
        methods
    };
    for method in methods {
        out.push(Event::Http(HttpEvent {
            source: kind.to_string(),
            method,
            path: path.clone(),
            extra: extra.clone(),
        }));
    }
}

/// Azure lists methods beside the event or in `x-azure-settings`; none means any.
fn listed_methods(siblings: &[Entry], azure: Option<&Node>) -> Vec<String> {
    let list = siblings
        .iter()
        .find(|e| e.key == "methods")
        .map(|e| &e.value)
        .or_else(|| azure?.get("methods"));
    let methods: Vec<String> = match list.map(|l| &l.value) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(Node::scalar_text)
            .map(|m| method_of(&m))
            .collect(),
        _ => Vec::new(),
    };
    if methods.is_empty() {
        vec!["ANY".into()]
    } else {
        methods
    }
}

fn schedule(value: &Node, key: &str, check: &mut Checker<'_>, out: &mut Vec<Event>) {
    let help = "write `schedule: rate(5 minutes)` or `schedule: {rate: cron(0 12 * * ? *)}`";
    let (rates, enabled, input) = match &value.value {
        Value::Str(text) => (vec![text.clone()], true, None),
        Value::Map(_) => {
            let rates = match value.get("rate").map(|r| &r.value) {
                Some(Value::Str(text)) => vec![text.clone()],
                Some(Value::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
                _ => {
                    check.error(key, value.pos, "the schedule has no `rate`", help);
                    return;
                }
            };
            let enabled = value
                .get("enabled")
                .and_then(|e| check.boolean(e, &join(key, "enabled")))
                .unwrap_or(true);
            (rates, enabled, value.get("input").map(to_json))
        }
        _ => {
            check.error(
                key,
                value.pos,
                format!("expected a schedule, found {}", value.kind()),
                help,
            );
            return;
        }
    };
    for expression in rates {
        out.push(Event::Schedule(ScheduleEvent {
            expression,
            enabled,
            input: input.clone(),
        }));
    }
}
