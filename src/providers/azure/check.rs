//! Checks before any network call: one runtime for the whole app (Azure runs an app on one
//! runtime), a runtime Flex Consumption offers, memory within its instance sizes (rounding
//! said out loud), events it can bind, function names Azure accepts; `architecture: arm64` is
//! warned as ignored (Flex Consumption runs x86_64, dependencies are installed for it).

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Service};
use crate::package::deps::Arch;
use crate::providers::Scope;

use super::app::{flex_runtime, instance_memory};
use super::bindings::ncrontab;

fn valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Every problem of `service` for Azure, at once.
pub fn check(service: &Service, scope: &Scope) -> Diagnostics {
    let mut out = Diagnostics::default();
    let mut error = |key: String, message: String, help: &str| {
        out.push(
            Diagnostic::error(key.clone(), message)
                .at(service.locate(&key).cloned())
                .help(help.to_string()),
        );
    };
    if scope.functions.is_some() {
        error(
            "functions".into(),
            "`deploy -f` cannot deploy one function to Azure: a function app is published as \
             one package"
                .into(),
            "deploy the whole service (`stratus deploy`); unchanged parts are not written",
        );
    }
    let mut first: Option<(String, String, String)> = None;
    let mut warnings = Vec::new();
    for function in service.functions.values() {
        let base = format!("functions.{}", function.name);
        if !valid_function_name(&function.name) {
            error(
                base.clone(),
                format!("`{}` is not a valid Azure function name", function.name),
                "start with a letter; use letters, digits, `-` and `_` (at most 128)",
            );
        }
        if function.image.is_some() {
            error(
                format!("{base}.image"),
                "container-image functions are not deployed to Azure by stratus".into(),
                "use a handler with a Python or Node.js runtime",
            );
            continue;
        }
        if function.handler_parts().is_none() {
            error(
                format!("{base}.handler"),
                "the handler must be `file.function`".into(),
                "e.g. `handler: src/handler.main`",
            );
        }
        let effective = service.effective(function);
        let runtime_key = if function.runtime.is_some() {
            format!("{base}.runtime")
        } else {
            "provider.runtime".into()
        };
        if let Some(runtime) = &effective.runtime {
            match flex_runtime(&runtime.language, &runtime.version) {
                Err(message) => error(
                    runtime_key.clone(),
                    format!("runtime `{}`: {message}", runtime.raw),
                    "use python3.10–3.12 or nodejs20 / nodejs22",
                ),
                Ok((name, version)) => match &first {
                    None => first = Some((name, version, function.name.clone())),
                    Some((n, v, other)) if (n, v) != (&name, &version) => error(
                        runtime_key.clone(),
                        format!(
                            "function {} runs {name} {version} but {other} runs {n} {v}; an Azure \
                             function app runs one runtime",
                            function.name
                        ),
                        "give every function the same runtime, or split the service",
                    ),
                    _ => {}
                },
            }
        }
        match instance_memory(effective.memory_size) {
            None => error(
                format!("{base}.memorySize"),
                format!(
                    "memorySize {} exceeds Flex Consumption's largest instance (4096 MB)",
                    effective.memory_size
                ),
                "use 4096 or less",
            ),
            Some(size) if size != effective.memory_size => warnings.push(
                Diagnostic::warning(
                    format!("{base}.memorySize"),
                    format!(
                        "memorySize {} is rounded up to a {size} MB Flex Consumption instance",
                        effective.memory_size
                    ),
                )
                .at(service.locate(&format!("{base}.memorySize")).cloned()),
            ),
            Some(_) => {}
        }
        let paths: std::collections::BTreeSet<&str> = function
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Http(h) => Some(h.path.as_str()),
                _ => None,
            })
            .collect();
        if paths.len() > 1 {
            let first = function
                .events
                .iter()
                .find_map(|e| match e {
                    Event::Http(h) => Some(h.path.as_str()),
                    _ => None,
                })
                .unwrap_or("/");
            warnings.push(
                Diagnostic::warning(
                    format!("{base}.events"),
                    format!(
                        "an Azure function has one HTTP route; {} answers every listed method at \
                         `{first}` only",
                        function.name
                    ),
                )
                .at(service.locate(&format!("{base}.events")).cloned())
                .help("split the routes into separate functions to keep them apart"),
            );
        }
        for (index, event) in function.events.iter().enumerate() {
            let key = format!("{base}.events[{index}]");
            match event {
                Event::Http(_) => {}
                Event::Schedule(schedule) => {
                    if let Err(message) = ncrontab(&schedule.expression) {
                        error(
                            key,
                            message,
                            "write rate(5 minutes), cron(...) or an NCRONTAB",
                        );
                    }
                }
                Event::Other { kind, .. } => error(
                    key,
                    format!("the `{kind}` event has no Azure binding in stratus"),
                    "use http or timer/schedule events",
                ),
            }
        }
    }
    let mut architectures: Vec<(String, Option<&str>)> = vec![(
        "provider.architecture".into(),
        service.provider.architecture.as_deref(),
    )];
    architectures.extend(service.functions.values().map(|function| {
        (
            format!("functions.{}.architecture", function.name),
            function.extra.get("architecture").and_then(|v| v.as_str()),
        )
    }));
    for (key, value) in architectures {
        if Arch::parse(value) == Arch::Arm64 {
            warnings.push(
                Diagnostic::warning(
                    key.clone(),
                    "Azure Functions' Flex Consumption runs on x86_64: `architecture: arm64` is \
                     ignored, and dependencies are installed for Linux x86_64",
                )
                .at(service.locate(&key).cloned())
                .help("remove `architecture`, or keep it for the other providers"),
            );
        }
    }
    for warning in warnings {
        out.push(warning);
    }
    out
}
