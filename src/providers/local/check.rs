//! The local provider's model check: what this machine can run, reported all at once.

use std::collections::BTreeSet;

use super::runner::{find_on_path, install_hint, interpreter};
use super::state::is_path_safe;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Language, Service};
use crate::providers::Scope;

/// The source files a handler's file part may be, per language.
pub fn handler_files(language: Language, file: &str) -> Vec<String> {
    match language {
        Language::Python => vec![format!("{file}.py"), format!("{file}/__init__.py")],
        Language::Node => ["js", "mjs", "cjs"]
            .iter()
            .map(|ext| format!("{file}.{ext}"))
            .collect(),
        Language::Other => Vec::new(),
    }
}

/// Checks every function in `scope`: runtime, handler, handler file, interpreter, events.
pub fn check(service: &Service, scope: &Scope) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (key, value) in [
        ("service", &service.name),
        ("provider.stage", &service.stage),
    ] {
        if !is_path_safe(value) {
            diagnostics.push(
                Diagnostic::error(
                    key,
                    format!("`{value}` cannot name a local state directory"),
                )
                .help("use letters, digits, `-` and `_`"),
            );
        }
    }
    let mut missing_interpreters = BTreeSet::new();
    for (name, function) in service.functions.iter().filter(|(n, _)| scope.includes(n)) {
        let key = |field: &str| format!("functions.{name}.{field}");
        if !is_path_safe(name) {
            diagnostics.push(
                Diagnostic::error(
                    format!("functions.{name}"),
                    format!("function name `{name}` cannot name a local state file"),
                )
                .help("use letters, digits, `-` and `_`"),
            );
            continue;
        }
        if function.image.is_some() && function.handler.is_none() {
            diagnostics.push(
                Diagnostic::error(key("image"), "container-image functions cannot run locally")
                    .help("give the function a `handler` and a python3.x or nodejs*.x runtime"),
            );
            continue;
        }
        let language = match service.effective(function).runtime {
            None => {
                diagnostics.push(
                    Diagnostic::error(key("runtime"), "no runtime: the local provider must know which interpreter to start")
                        .help("set `provider.runtime` or this function's `runtime`, e.g. `python3.12` or `nodejs20.x`"),
                );
                None
            }
            Some(runtime) if runtime.language == Language::Other => {
                diagnostics.push(
                    Diagnostic::error(
                        key("runtime"),
                        format!("runtime `{}` cannot run locally", runtime.raw),
                    )
                    .help("the local provider runs python3.x and nodejs*.x handlers; deploy this function to a cloud provider instead"),
                );
                None
            }
            Some(runtime) => Some(runtime.language),
        };
        let handler = function.handler.as_deref().unwrap_or_default();
        let parts = function
            .handler_parts()
            .filter(|(file, func)| !file.is_empty() && !func.is_empty());
        let Some((file, _)) = parts else {
            let message = if handler.is_empty() {
                "no handler".to_string()
            } else {
                format!("handler `{handler}` is not of the form `file.function`")
            };
            diagnostics.push(
                Diagnostic::error(key("handler"), message)
                    .help("write the handler as the file path without extension, a dot, and the function name, e.g. `handler.hello` or `src/api.main`"),
            );
            continue;
        };
        let Some(language) = language else { continue };
        let prebuilt = function.package.artifact.is_some() || service.package.artifact.is_some();
        let candidates = handler_files(language, file);
        if !prebuilt && !candidates.iter().any(|c| service.root.join(c).is_file()) {
            diagnostics.push(
                Diagnostic::error(
                    key("handler"),
                    format!(
                        "handler file not found: looked for {} in {}",
                        candidates.join(", "),
                        service.root.display()
                    ),
                )
                .help("fix the handler path (relative to the directory of serverless.yml) or create the file"),
            );
        }
        if let Some((program, _, _)) = interpreter(language)
            && find_on_path(program).is_none()
            && missing_interpreters.insert(program)
        {
            diagnostics.push(
                Diagnostic::error(
                    key("runtime"),
                    format!("`{program}` is not installed (not found on PATH)"),
                )
                .help(install_hint(language)),
            );
        }
        for (index, event) in function.events.iter().enumerate() {
            if let Event::Other { kind, .. } = event {
                diagnostics.push(
                    Diagnostic::warning(
                        format!("functions.{name}.events.{index}"),
                        format!("`{kind}` events are not triggered by the local provider"),
                    )
                    .help("invoke the function with `stratus invoke -f NAME --path event.json` to test it"),
                );
            }
        }
    }
    diagnostics
}
