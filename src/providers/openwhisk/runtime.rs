//! Runtime kinds and the entry files each OpenWhisk runtime needs in the action's zip.
//!
//! A zipped Python action runs `__main__.py`; a zipped Node.js action runs the file that
//! `package.json`'s `main` names (the project's own `package.json` is kept, `main` replaced). stratus generates those entry files (`shims/`): they load the
//! user's `file.function` handler, named by the `STRATUS_HANDLER` init parameter (OpenWhisk
//! passes parameters marked `init: true` to the action as environment variables), and call it
//! in the style of the provider the manifest was written for. The files are the same for every
//! function of a service, so one service-wide zip serves them all and adding a function does not
//! change the code hash of the others.

use std::path::Path;

use crate::model::{Language, ProviderKind, Runtime, Service};
use crate::package::GeneratedFile;

/// The init parameter (environment variable) that names the handler.
pub const HANDLER_ENV: &str = "STRATUS_HANDLER";
/// The init parameter that says how to call it: `openwhisk` (`main(params)`) or `aws`.
pub const STYLE_ENV: &str = "STRATUS_HANDLER_STYLE";
/// The function `exec.main` names in the entry file.
pub const ENTRY_FUNCTION: &str = "main";

const PYTHON_MAIN: &str = include_str!("shims/__main__.py");
const NODE_MAIN: &str = include_str!("shims/__stratus__.cjs");
/// The Node.js entry file; `.cjs` so it stays CommonJS under `"type": "module"`.
pub const NODE_ENTRY: &str = "__stratus__.cjs";

/// Runtime kinds the OpenWhisk project publishes images for (`runtimes.json` of a default
/// deployment); other spellings are refused by [`action_kind`].
pub const KNOWN_KINDS: &[&str] = &[
    "nodejs:default",
    "nodejs:18",
    "nodejs:20",
    "nodejs:22",
    "python:default",
    "python:3",
    "python:3.10",
    "python:3.11",
    "python:3.12",
    "python:3.13",
];

/// The OpenWhisk `exec.kind` for a runtime, in either spelling (`python:3`, `python3.12`,
/// `nodejs:20`, `nodejs20.x`), or why it cannot be mapped.
pub fn action_kind(runtime: &Runtime) -> Result<String, String> {
    let kind = match runtime.language {
        Language::Python if runtime.version.is_empty() => "python:default".to_string(),
        Language::Python => match (runtime.major(), runtime.minor()) {
            (Some(3), None) => "python:3".to_string(),
            (Some(3), Some(minor)) => format!("python:3.{minor}"),
            _ => return Err(format!("Python `{runtime}` has no OpenWhisk runtime")),
        },
        Language::Node if runtime.version.is_empty() => "nodejs:default".to_string(),
        Language::Node => match runtime.major() {
            Some(major) => format!("nodejs:{major}"),
            None => return Err(format!("Node.js `{runtime}` has no OpenWhisk runtime")),
        },
        Language::Other => {
            return Err(format!(
                "runtime `{runtime}` is not one stratus can deploy to OpenWhisk (it packages Python and Node.js actions)"
            ));
        }
    };
    if KNOWN_KINDS.contains(&kind.as_str()) {
        return Ok(kind);
    }
    substitute(runtime).ok_or_else(|| {
        format!(
            "runtime `{runtime}` maps to the OpenWhisk kind `{kind}`, which OpenWhisk does not offer (known: {})",
            KNOWN_KINDS.join(", ")
        )
    })
}

/// The kind an older runtime that OpenWhisk no longer offers runs on instead, so a manifest
/// written for another cloud deploys: Python 3.6–3.9 on `python:3`, Node.js 12–16 on
/// `nodejs:18`. `check` warns about it.
pub fn substitute(runtime: &Runtime) -> Option<String> {
    match (runtime.language, runtime.major(), runtime.minor()) {
        (Language::Python, Some(3), Some(6..=9)) => Some("python:3".to_string()),
        (Language::Node, Some(12..=17), _) => Some("nodejs:18".to_string()),
        _ => None,
    }
}

/// The handler style a service's handlers are written in.
pub fn handler_style(service: &Service) -> &'static str {
    match service.provider.name {
        ProviderKind::Openwhisk => "openwhisk",
        _ => "aws",
    }
}

/// The entry files a zip of `language` needs. For Node.js, `package.json` is the project's own
/// (from `root`, when there is one: dependencies, `"type"` and the rest are kept) with `main`
/// pointing at the entry file.
pub fn entry_files(language: Language, root: &Path) -> anyhow::Result<Vec<GeneratedFile>> {
    crate::providers::shim::entry_files(
        language,
        root,
        &crate::providers::shim::EntryScripts {
            python: ("__main__.py", PYTHON_MAIN),
            node: (NODE_ENTRY, NODE_MAIN),
            node_package_name: "stratus-action",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_map_to_openwhisk_kinds() {
        let cases = [
            ("python:3", "python:3"),
            ("python3.12", "python:3.12"),
            ("python:3.11", "python:3.11"),
            ("nodejs:20", "nodejs:20"),
            ("nodejs20.x", "nodejs:20"),
            ("nodejs:default", "nodejs:default"),
        ];
        for (raw, kind) in cases {
            assert_eq!(
                action_kind(&Runtime::parse(raw)),
                Ok(kind.to_string()),
                "{raw}"
            );
        }
    }

    #[test]
    fn older_runtimes_run_on_the_nearest_offered_kind() {
        assert_eq!(
            action_kind(&Runtime::parse("python3.9")),
            Ok("python:3".into())
        );
        assert_eq!(
            action_kind(&Runtime::parse("nodejs14.x")),
            Ok("nodejs:18".into())
        );
        assert_eq!(substitute(&Runtime::parse("python3.12")), None);
    }

    #[test]
    fn unmappable_runtimes_say_why() {
        let error = action_kind(&Runtime::parse("java8")).unwrap_err();
        assert!(error.contains("Python and Node.js"), "{error}");
        let error = action_kind(&Runtime::parse("nodejs24.x")).unwrap_err();
        assert!(error.contains("nodejs:24"), "{error}");
        let error = action_kind(&Runtime::parse("nodejs10.x")).unwrap_err();
        assert!(error.contains("nodejs:10"), "{error}");
        assert!(action_kind(&Runtime::parse("python2.7")).is_err());
    }

    #[test]
    fn node_zips_get_a_package_json_pointing_at_the_entry() {
        let empty = tempfile::tempdir().unwrap();
        let files = entry_files(Language::Node, empty.path()).unwrap();
        let package = files.iter().find(|f| f.path == "package.json").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&package.contents).unwrap();
        assert_eq!(json["main"], NODE_ENTRY);
        assert!(files.iter().any(|f| f.path == NODE_ENTRY));
        assert_eq!(
            entry_files(Language::Python, empty.path()).unwrap()[0].path,
            "__main__.py"
        );
    }

    #[test]
    fn the_projects_package_json_is_kept_with_main_replaced() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("package.json"),
            r#"{"name": "shop", "type": "module", "main": "index.js", "dependencies": {"left-pad": "1"}}"#,
        )
        .unwrap();
        let files = entry_files(Language::Node, root.path()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&files[1].contents).unwrap();
        assert_eq!(json["main"], NODE_ENTRY);
        assert_eq!(json["type"], "module");
        assert_eq!(json["dependencies"]["left-pad"], "1");
        std::fs::write(root.path().join("package.json"), "[1]").unwrap();
        let error = entry_files(Language::Node, root.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("package.json"), "{error}");
    }
}
