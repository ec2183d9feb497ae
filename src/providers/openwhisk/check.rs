//! What the OpenWhisk provider checks before any network call, every problem at once, each
//! naming its manifest key: runtimes it can map, handlers, sequences, events, limits, names,
//! and what `architecture` means for the dependencies installed.

use serde_json::Value as Json;

use super::runtime;
use super::spec::{to_cron, trigger_name};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Function, ProviderKind, Runtime, Service};
use crate::package::deps::Arch;
use crate::providers::Scope;

/// Warns about `architecture: arm64`: in a manifest written for another cloud it is ignored
/// (dependencies are installed for x86_64, what OpenWhisk's runtime images run); in one written
/// for OpenWhisk it selects aarch64 wheels, right only if the invokers run arm64 images.
fn architecture_warnings(service: &Service, warnings: &mut Vec<Diagnostic>) {
    let mut keys = vec![(
        "provider.architecture".to_string(),
        service.provider.architecture.as_deref(),
    )];
    keys.extend(service.functions.values().map(|function| {
        (
            format!("functions.{}.architecture", function.name),
            function.extra.get("architecture").and_then(Json::as_str),
        )
    }));
    let own = service.provider.name == ProviderKind::Openwhisk;
    for (key, value) in keys {
        if Arch::parse(value) != Arch::Arm64 {
            continue;
        }
        let (message, help) = if own {
            (
                "dependencies are installed for Linux aarch64, but the runtime images OpenWhisk publishes run x86_64",
                "keep `architecture: arm64` only if your invokers run arm64 images",
            )
        } else {
            (
                "`architecture: arm64` is Lambda's setting and is ignored on OpenWhisk: dependencies are installed for Linux x86_64, what its runtime images run",
                "nothing to do unless your invokers run arm64 images (then deploy a manifest written for OpenWhisk with `architecture: arm64`)",
            )
        };
        warnings.push(Diagnostic::warning(key, message).help(help));
    }
}

/// OpenWhisk's default largest memory limit, MB (deployments may raise it).
const DEFAULT_MAX_MEMORY_MB: u32 = 512;
/// OpenWhisk's smallest memory limit, MB.
const MIN_MEMORY_MB: u32 = 128;
/// OpenWhisk's default largest timeout, seconds (deployments may raise it).
const DEFAULT_MAX_TIMEOUT_S: u32 = 300;
/// Longest entity name the controller accepts.
const MAX_NAME: usize = 256;

/// The runtime a function runs on: its own, the provider's, else Node.js (as the Serverless
/// OpenWhisk plugin defaults to).
pub fn runtime_of(service: &Service, function: &Function) -> Runtime {
    service
        .effective(function)
        .runtime
        .unwrap_or_else(|| Runtime::parse("nodejs:default"))
}

/// Whether a function is a sequence of other actions.
pub fn is_sequence(function: &Function) -> bool {
    function.extra.contains_key("sequence")
}

/// Checks `service` for the functions in `scope`.
pub fn check(service: &Service, scope: &Scope) -> Diagnostics {
    let mut found = Diagnostics::default();
    let mut push = |key: String, message: String, help: Option<&str>| {
        let mut diagnostic =
            Diagnostic::error(key.clone(), message).at(service.locate(&key).cloned());
        if let Some(help) = help {
            diagnostic = diagnostic.help(help);
        }
        found.push(diagnostic);
    };
    let mut warnings = Vec::new();
    for key in ["namespace", "apihost"] {
        if let Some(value) = service.provider.extra.get(key)
            && !value.is_string()
        {
            push(
                format!("provider.{key}"),
                format!("`{key}` must be a string"),
                None,
            );
        }
    }
    if let Some(value) = service.provider.extra.get("ignore_certs")
        && !value.is_boolean()
    {
        push(
            "provider.ignore_certs".into(),
            "`ignore_certs` must be true or false".into(),
            None,
        );
    }
    for function in service
        .functions
        .values()
        .filter(|f| scope.includes(&f.name))
    {
        let base = format!("functions.{}", function.name);
        let deployed = service.deployed_name(&function.name);
        if deployed.len() > MAX_NAME
            || !deployed
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ' '))
        {
            push(
                base.clone(),
                format!(
                    "the action name `{deployed}` is not a valid OpenWhisk name (letters, digits, _ - . @ and spaces, at most {MAX_NAME})"
                ),
                Some("rename the service or function"),
            );
        }
        if function.image.is_some() {
            push(
                format!("{base}.image"),
                "container-image (docker) actions are not supported by stratus's OpenWhisk provider".into(),
                Some("deploy the code with a `handler` and a python or nodejs runtime"),
            );
            continue;
        }
        if is_sequence(function) {
            check_sequence(service, function, &base, &mut push);
        } else {
            let runtime = runtime_of(service, function);
            let key = if function.runtime.is_some() {
                format!("{base}.runtime")
            } else {
                "provider.runtime".to_string()
            };
            match runtime::action_kind(&runtime) {
                Err(why) => push(
                    key,
                    why,
                    Some("use python:3 / python3.12 or nodejs:20 / nodejs20.x"),
                ),
                Ok(kind) if runtime::substitute(&runtime).as_deref() == Some(kind.as_str()) => {
                    warnings.push(Diagnostic::warning(
                        key,
                        format!(
                            "OpenWhisk has no `{runtime}` runtime; `{}` runs on `{kind}`",
                            function.name
                        ),
                    ));
                }
                Ok(_) => {}
            }
            if function
                .handler_parts()
                .is_none_or(|(file, name)| file.is_empty() || name.is_empty())
            {
                push(
                    format!("{base}.handler"),
                    format!(
                        "the handler `{}` is not of the form file.function",
                        function.handler.as_deref().unwrap_or("")
                    ),
                    Some(
                        "write e.g. `handler: handler.main` for main() in handler.py / handler.js",
                    ),
                );
            }
        }
        let settings = service.effective(function);
        if settings.memory_size < MIN_MEMORY_MB {
            push(
                format!("{base}.memory"),
                format!(
                    "{} MB is below OpenWhisk's minimum of {MIN_MEMORY_MB} MB",
                    settings.memory_size
                ),
                None,
            );
        } else if settings.memory_size > DEFAULT_MAX_MEMORY_MB {
            warnings.push(Diagnostic::warning(
                format!("{base}.memory"),
                format!("{} MB is above OpenWhisk's default limit of {DEFAULT_MAX_MEMORY_MB} MB; the deploy fails unless your deployment allows it", settings.memory_size),
            ));
        }
        if settings.timeout == 0 {
            push(
                format!("{base}.timeout"),
                "the timeout must be at least 1 second".into(),
                None,
            );
        } else if settings.timeout > DEFAULT_MAX_TIMEOUT_S {
            warnings.push(Diagnostic::warning(
                format!("{base}.timeout"),
                format!(
                    "{} s is above OpenWhisk's default limit of {DEFAULT_MAX_TIMEOUT_S} s",
                    settings.timeout
                ),
            ));
        }
        for key in ["parameters", "annotations"] {
            if let Some(value) = function.extra.get(key)
                && !value.is_object()
            {
                push(
                    format!("{base}.{key}"),
                    format!("`{key}` must be a map of names to values"),
                    None,
                );
            }
        }
        for (index, event) in function.events.iter().enumerate() {
            let key = format!("{base}.events.{index}");
            match event {
                Event::Http(_) => {}
                Event::Schedule(schedule) => {
                    if let Err(why) = to_cron(&schedule.expression) {
                        push(
                            format!("{key}.schedule"),
                            why,
                            Some("write `schedule: cron(*/5 * * * *)` or `rate(5 minutes)`"),
                        );
                    }
                }
                Event::Other { kind, config } if kind == "trigger" => match trigger_name(config) {
                    None => push(
                        format!("{key}.trigger"),
                        "a trigger event needs a name".into(),
                        Some("write `trigger: my_trigger`"),
                    ),
                    Some(name) if name.ends_with("-rule") => push(
                        format!("{key}.trigger"),
                        format!(
                            "trigger names ending in `-rule` are reserved for stratus's rules (`{name}`)"
                        ),
                        None,
                    ),
                    Some(_) => {}
                },
                Event::Other { kind, .. } => push(
                    format!("{key}.{kind}"),
                    format!("the `{kind}` event cannot be mapped to OpenWhisk"),
                    Some("OpenWhisk functions take http, schedule and trigger events"),
                ),
            }
        }
    }
    architecture_warnings(service, &mut warnings);
    for warning in warnings {
        let location = warning
            .key
            .as_deref()
            .and_then(|key| service.locate(key))
            .cloned();
        found.push(warning.at(location));
    }
    found
}

fn check_sequence(
    service: &Service,
    function: &Function,
    base: &str,
    push: &mut impl FnMut(String, String, Option<&str>),
) {
    let key = format!("{base}.sequence");
    if function.handler.is_some() {
        push(
            key.clone(),
            "a function is either a `handler` or a `sequence`, not both".into(),
            None,
        );
    }
    match function.extra.get("sequence") {
        Some(Json::Array(items)) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(name) if name == function.name => push(
                        format!("{key}.{index}"),
                        "a sequence cannot contain itself".into(),
                        None,
                    ),
                    Some(name) if service.functions.get(name).is_some_and(is_sequence) => {}
                    Some(_) => {}
                    None => push(
                        format!("{key}.{index}"),
                        "sequence entries are function or action names".into(),
                        None,
                    ),
                }
            }
        }
        _ => push(
            key,
            "`sequence` must be a non-empty list of function or action names".into(),
            Some("write e.g. `sequence: [split, reverse, join]`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{FunctionPackage, ScheduleEvent};
    use crate::providers::openwhisk::test_support::service;

    fn function(name: &str, handler: Option<&str>) -> Function {
        Function {
            name: name.into(),
            handler: handler.map(str::to_string),
            image: None,
            runtime: None,
            memory_size: None,
            timeout: None,
            description: None,
            environment: Default::default(),
            events: Vec::new(),
            package: FunctionPackage::default(),
            extra: Default::default(),
        }
    }

    fn keys(diagnostics: &Diagnostics, errors: bool) -> Vec<String> {
        diagnostics
            .0
            .iter()
            .filter(|d| d.is_error() == errors)
            .filter_map(|d| d.key.clone())
            .collect()
    }

    #[test]
    fn handlers_sequences_and_trigger_names_are_checked() {
        let mut svc = service(&[("ignore_certs", json!("yes"))]);
        svc.functions
            .insert("plain".into(), function("plain", Some("nodot")));
        let mut both = function("both", Some("h.main"));
        both.extra.insert("sequence".into(), json!(["plain", 3]));
        svc.functions.insert("both".into(), both);
        let mut reserved = function("reserved", Some("h.main"));
        reserved.events.push(Event::Other {
            kind: "trigger".into(),
            config: json!({"name": "x-rule"}),
        });
        reserved.events.push(Event::Schedule(ScheduleEvent {
            expression: "cron(*/5 * * * *)".into(),
            enabled: true,
            input: None,
        }));
        svc.functions.insert("reserved".into(), reserved);
        let found = check(&svc, &Scope::default());
        assert_eq!(
            keys(&found, true),
            [
                "provider.ignore_certs",
                "functions.plain.handler",
                "functions.both.sequence",
                "functions.both.sequence.1",
                "functions.reserved.events.0.trigger",
            ],
            "{found}"
        );
    }

    #[test]
    fn limits_above_the_defaults_warn_and_scope_limits_the_check() {
        let mut svc = service(&[]);
        let mut big = function("big", Some("h.main"));
        big.memory_size = Some(2048);
        big.timeout = Some(600);
        svc.functions.insert("big".into(), big);
        svc.functions
            .insert("broken".into(), function("broken", Some("nodot")));
        let scope = Scope {
            functions: Some(vec!["big".into()]),
        };
        let found = check(&svc, &scope);
        assert!(!found.has_errors(), "{found}");
        assert_eq!(
            keys(&found, false),
            ["functions.big.memory", "functions.big.timeout"]
        );
        svc.functions.get_mut("big").unwrap().runtime = Some(Runtime::parse("python3.9"));
        let found = check(&svc, &scope);
        assert!(!found.has_errors(), "{found}");
        assert!(keys(&found, false).contains(&"functions.big.runtime".to_string()));
        // No runtime anywhere: Node.js, as the Serverless OpenWhisk plugin assumes.
        svc.provider.runtime = None;
        svc.functions.get_mut("big").unwrap().runtime = None;
        assert_eq!(
            runtime_of(&svc, &svc.functions["big"]).raw,
            "nodejs:default"
        );
    }

    #[test]
    fn arm64_selects_aarch64_wheels_only_in_a_manifest_written_for_openwhisk() {
        use crate::package::deps::{DependencyTarget, Platform};
        use crate::providers::Target;
        use crate::providers::openwhisk::OpenWhiskTarget;
        let provider = OpenWhiskTarget;
        let mut svc = service(&[]);
        svc.provider.architecture = Some("arm64".into());
        let mut f = function("f", Some("h.main"));
        f.memory_size = Some(256);
        svc.functions.insert("f".into(), f);
        let platform = |svc: &Service| match provider.dependencies(svc, &svc.functions["f"]) {
            DependencyTarget::Vendor {
                platform,
                python_dir,
            } => {
                assert_eq!(python_dir, "", "vendored at the zip root");
                platform
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(platform(&svc), Platform::Linux(Arch::Arm64));
        let found = check(&svc, &Scope::default());
        assert_eq!(keys(&found, false), ["provider.architecture"], "{found}");
        let says =
            |found: &Diagnostics, text: &str| found.0.iter().any(|d| d.message.contains(text));
        assert!(says(&found, "Linux aarch64"), "{found:?}");

        svc.provider.name = ProviderKind::Aws;
        assert_eq!(platform(&svc), Platform::Linux(Arch::X86_64));
        let found = check(&svc, &Scope::default());
        assert!(says(&found, "ignored on OpenWhisk"), "{found:?}");

        svc.provider.architecture = None;
        assert!(keys(&check(&svc, &Scope::default()), false).is_empty());
    }
}
