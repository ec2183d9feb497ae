//! The AWS model check: what Lambda can run, before any network call.
//!
//! Runtimes are mapped from the neutral model (`python3.12`, `python:3.12`, `nodejs20`,
//! `node:20`) to Lambda ids; memory, timeout and name lengths are checked against Lambda's
//! limits; events Lambda cannot be given by stratus are reported. Every problem is reported at
//! once, each naming its manifest key.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Language, ProviderKind, Runtime, Service};
use crate::providers::Scope;

/// Python minor versions Lambda runs (`python3.9` ... `python3.14`).
const PYTHON_MINORS: std::ops::RangeInclusive<u32> = 9..=14;
/// Node.js major versions Lambda runs.
const NODE_MAJORS: [u32; 4] = [18, 20, 22, 24];
/// Other Lambda runtime ids, passed through as written.
const OTHER_RUNTIMES: [&str; 11] = [
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "provided",
    "provided.al2",
    "provided.al2023",
];
/// Lambda's memory range, MB.
pub const MEMORY_RANGE: std::ops::RangeInclusive<u32> = 128..=10240;
/// Lambda's longest timeout, seconds.
pub const MAX_TIMEOUT: u32 = 900;
/// Lambda's longest function name.
pub const MAX_NAME: usize = 64;

/// The Lambda runtime id for `runtime`, or why there is none.
pub fn lambda_runtime(runtime: &Runtime) -> Result<String, String> {
    match runtime.language {
        Language::Python => match (runtime.major(), runtime.minor()) {
            (Some(3), Some(minor)) if PYTHON_MINORS.contains(&minor) => {
                Ok(format!("python3.{minor}"))
            }
            (Some(3), None) => Err(format!(
                "`{runtime}` does not name a Python minor version; Lambda needs one \
                 (python3.9 ... python3.14)"
            )),
            _ => Err(format!(
                "Lambda has no runtime for `{runtime}` (it runs python3.9 ... python3.14)"
            )),
        },
        Language::Node => match runtime.major() {
            Some(major) if NODE_MAJORS.contains(&major) => Ok(format!("nodejs{major}.x")),
            _ => Err(format!(
                "Lambda has no runtime for `{runtime}` (it runs nodejs18.x, nodejs20.x, \
                 nodejs22.x, nodejs24.x)"
            )),
        },
        Language::Other => {
            let raw = runtime.raw.to_ascii_lowercase();
            if OTHER_RUNTIMES.contains(&raw.as_str()) {
                Ok(raw)
            } else {
                Err(format!(
                    "Lambda has no runtime `{runtime}` that stratus can map (known: python3.x, \
                     nodejsNN.x, {})",
                    OTHER_RUNTIMES.join(", ")
                ))
            }
        }
    }
}

/// Checks `service` against Lambda's rules; see the module documentation.
pub fn check(service: &Service, scope: &Scope) -> Diagnostics {
    let mut diagnostics = super::cors::check(service);
    diagnostics.0.extend(super::sources::check(service).0);
    diagnostics.0.extend(super::buckets::check(service).0);
    diagnostics
        .0
        .extend(super::schedules::check_event_rules(service).0);
    if service.provider.name != ProviderKind::Aws {
        diagnostics.push(
            Diagnostic::warning(
                "provider.name",
                format!(
                    "the handlers are written for `{}`; on AWS they are called Lambda-style \
                     (event, context)",
                    service.provider.name
                ),
            )
            .help("check that each handler accepts an AWS Lambda event"),
        );
    }
    for (name, function) in &service.functions {
        if !scope.includes(name) {
            continue;
        }
        let key = format!("functions.{name}");
        let settings = service.effective(function);
        let deployed = service.deployed_name(name);
        if deployed.len() > MAX_NAME {
            diagnostics.push(
                Diagnostic::error(
                    key.clone(),
                    format!(
                        "the Lambda name `{deployed}` is {} characters; Lambda allows {MAX_NAME}",
                        deployed.len()
                    ),
                )
                .help("shorten the service, stage or function name"),
            );
        }
        if function.image.is_some() {
            diagnostics.push(
                Diagnostic::error(
                    format!("{key}.image"),
                    "container-image functions are not deployed by stratus yet",
                )
                .help("use a handler and runtime instead"),
            );
        } else if function.handler.is_none() {
            diagnostics.push(
                Diagnostic::error(format!("{key}.handler"), "a handler is required")
                    .help("write e.g. `handler: handler.hello` (file handler, function hello)"),
            );
        }
        match &settings.runtime {
            None if function.image.is_none() => diagnostics.push(
                Diagnostic::error(format!("{key}.runtime"), "no runtime is set")
                    .help("set provider.runtime or the function's runtime, e.g. python3.12"),
            ),
            None => {}
            Some(runtime) => {
                if let Err(message) = lambda_runtime(runtime) {
                    let runtime_key = if function.runtime.is_some() {
                        format!("{key}.runtime")
                    } else {
                        "provider.runtime".to_string()
                    };
                    diagnostics.push(
                        Diagnostic::error(runtime_key, message)
                            .help("use e.g. python3.12 or nodejs20.x"),
                    );
                }
            }
        }
        if !MEMORY_RANGE.contains(&settings.memory_size) {
            let memory_key = if function.memory_size.is_some() {
                format!("{key}.memorySize")
            } else {
                "provider.memorySize".to_string()
            };
            diagnostics.push(
                Diagnostic::error(
                    memory_key,
                    format!(
                        "memorySize {} MB is outside Lambda's range of 128 to 10240 MB",
                        settings.memory_size
                    ),
                )
                .help("set memorySize between 128 and 10240"),
            );
        }
        if settings.timeout == 0 || settings.timeout > MAX_TIMEOUT {
            let timeout_key = if function.timeout.is_some() {
                format!("{key}.timeout")
            } else {
                "provider.timeout".to_string()
            };
            diagnostics.push(
                Diagnostic::error(
                    timeout_key,
                    format!(
                        "timeout {} s is outside Lambda's range of 1 to {MAX_TIMEOUT} seconds",
                        settings.timeout
                    ),
                )
                .help("set timeout between 1 and 900"),
            );
        }
        for (index, event) in function.events.iter().enumerate() {
            if let Event::Http(http) = event {
                // Route options stratus does not configure on the HTTP API yet.
                for option in ["cors", "authorizer", "private", "request", "integration"] {
                    if http.extra.contains_key(option) {
                        let help = if option == "cors" {
                            "an HTTP API sets CORS for the whole API: write `provider.httpApi.cors: true` (or its settings) instead"
                        } else {
                            "configure it on the HTTP API by hand, or remove the key to silence this warning"
                        };
                        diagnostics.push(
                            Diagnostic::warning(
                                format!("{key}.events.{index}.{}.{option}", http.source),
                                format!("`{option}` on an HTTP route is not applied by stratus on AWS yet; the route is public and deployed without it"),
                            )
                            .help(help),
                        );
                    }
                }
            }
            if let Event::Other { kind, .. } = event
                && !matches!(kind.as_str(), "sqs" | "stream" | "s3" | "eventBridge")
            {
                diagnostics.push(
                    Diagnostic::warning(
                        format!("{key}.events.{index}.{kind}"),
                        format!("`{kind}` events are not wired by stratus on AWS yet; ignored"),
                    )
                    .help("http, httpApi, schedule, eventBridge, s3, sqs and stream events are deployed"),
                );
            }
        }
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_runtimes_map_to_lambda_ids() {
        let map = |raw: &str| lambda_runtime(&Runtime::parse(raw));
        assert_eq!(map("python3.12").unwrap(), "python3.12");
        assert_eq!(map("python312").unwrap(), "python3.12");
        assert_eq!(map("nodejs:20").unwrap(), "nodejs20.x");
        assert_eq!(map("nodejs22.x").unwrap(), "nodejs22.x");
        assert_eq!(map("provided.al2023").unwrap(), "provided.al2023");
        assert!(map("python:3").unwrap_err().contains("minor version"));
        assert!(map("python2.7").is_err());
        assert!(map("nodejs12.x").is_err());
        assert!(map("cobol85").unwrap_err().contains("cobol85"));
    }

    #[test]
    fn route_options_stratus_does_not_apply_are_warned_about() {
        let mut http = crate::model::HttpEvent {
            source: "http".into(),
            method: "GET".into(),
            path: "/hello".into(),
            extra: serde_json::Map::new(),
        };
        http.extra
            .insert("cors".into(), serde_json::Value::Bool(true));
        let mut function = crate::model::Function::new("hello", Some("handler.hello"));
        function.runtime = Some(Runtime::parse("python3.12"));
        function.events.push(Event::Http(http));
        let service = Service::new("svc", ProviderKind::Aws, "/tmp").with_function(function);
        let diagnostics = check(&service, &Scope::default());
        assert!(!diagnostics.has_errors(), "{diagnostics}");
        let warning = diagnostics.warnings().next().expect("a warning about cors");
        assert_eq!(
            warning.key.as_deref(),
            Some("functions.hello.events.0.http.cors")
        );
    }
}
