//! Runtimes, entry points and the generated entry files of a Cloud Function.
//!
//! With `provider.name: google` a handler without a dot is the entry point itself: the code is
//! the user's `main.py` (Python) or `index.js` / `package.json` `main` (Node.js), called with the
//! Functions Framework signature. Any `file.function` handler — and every handler written for
//! AWS (`provider.name: aws` deployed with `--provider gcp`) — runs through a generated entry
//! file (`shims/`): `main.py` or `__stratus__.cjs` with the entry point `stratus_entry`, which
//! loads the handler named by the `STRATUS_HANDLER` variable and calls it in its style. The
//! files are the same for every function, so one service-wide zip serves them all.

use std::path::Path;

use crate::model::{Function, Language, ProviderKind, Runtime, Service};
use crate::package::GeneratedFile;

/// The variable naming the handler for the generated entry file.
pub const HANDLER_ENV: &str = "STRATUS_HANDLER";
/// The variable saying how to call it: `google` or `aws`.
pub const STYLE_ENV: &str = "STRATUS_HANDLER_STYLE";
/// The entry point of the generated files.
pub const SHIM_ENTRY: &str = "stratus_entry";
/// The Node.js generated entry file.
pub const NODE_ENTRY: &str = "__stratus__.cjs";

const PYTHON_MAIN: &str = include_str!("shims/main.py");
const NODE_MAIN: &str = include_str!("shims/__stratus__.cjs");

/// Runtimes Cloud Functions (2nd gen) offers for the languages stratus packages.
pub const KNOWN: &[&str] = &[
    "python38",
    "python39",
    "python310",
    "python311",
    "python312",
    "python313",
    "nodejs18",
    "nodejs20",
    "nodejs22",
];

/// The Cloud Functions runtime id for a runtime in any spelling (`python3.12`, `python312`,
/// `nodejs20.x`, `nodejs20`), or why there is none.
pub fn gcp_runtime(runtime: &Runtime) -> Result<String, String> {
    let id = match (runtime.language, runtime.major(), runtime.minor()) {
        (Language::Python, Some(3), Some(minor)) => format!("python3{minor}"),
        (Language::Node, Some(major), _) => format!("nodejs{major}"),
        _ => {
            return Err(format!(
                "runtime `{runtime}` cannot be mapped to a Cloud Functions runtime (stratus deploys Python 3.x and Node.js, e.g. python312 or nodejs20)"
            ));
        }
    };
    if KNOWN.contains(&id.as_str()) {
        Ok(id)
    } else {
        Err(format!(
            "runtime `{runtime}` maps to `{id}`, which Cloud Functions does not offer (offered: {})",
            KNOWN.join(", ")
        ))
    }
}

/// How a function is entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The handler is the entry point of the user's own `main.py` / `index.js`.
    Native(String),
    /// Through the generated file, with this handler (`file.function`) and style.
    Shim {
        /// `file.function`.
        handler: String,
        /// `google` or `aws`.
        style: &'static str,
    },
}

impl Entry {
    /// The entry point Cloud Functions calls.
    pub fn entry_point(&self) -> &str {
        match self {
            Entry::Native(name) => name,
            Entry::Shim { .. } => SHIM_ENTRY,
        }
    }
}

/// How `function` is entered; `None` without a handler.
pub fn entry(service: &Service, function: &Function) -> Option<Entry> {
    let handler = function.handler.as_deref()?;
    let google = service.provider.name == ProviderKind::Google;
    Some(match handler.rsplit_once('.') {
        None if google => Entry::Native(handler.to_string()),
        _ => Entry::Shim {
            handler: handler.to_string(),
            style: if google { "google" } else { "aws" },
        },
    })
}

/// The `package.json` key under which the Node.js `main` the project had is kept.
pub const USER_MAIN_KEY: &str = "stratusUserMain";

/// The generated files for a function of `language` entered through the shim.
///
/// For Node.js the generated `package.json` points `main` at [`NODE_ENTRY`] and keeps the
/// project's own `main` (default `index.js`) under [`USER_MAIN_KEY`]: the generated entry
/// re-exports that module, so a plain entry point of the project (`handler: fn`) packed in the
/// same zip is still found.
pub fn entry_files(language: Language, root: &Path) -> anyhow::Result<Vec<GeneratedFile>> {
    let mut files = crate::providers::shim::entry_files(
        language,
        root,
        &crate::providers::shim::EntryScripts {
            python: ("main.py", PYTHON_MAIN),
            node: (NODE_ENTRY, NODE_MAIN),
            node_package_name: "stratus-function",
        },
    )?;
    if language == Language::Node {
        let user_main = std::fs::read_to_string(root.join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|package| package.get("main")?.as_str().map(str::to_string))
            .unwrap_or_else(|| "index.js".to_string());
        for file in files.iter_mut().filter(|f| f.path == "package.json") {
            let mut package: serde_json::Value = serde_json::from_slice(&file.contents)?;
            package[USER_MAIN_KEY] = serde_json::Value::String(user_main.clone());
            let mut text = serde_json::to_string_pretty(&package)?;
            text.push('\n');
            file.contents = text.into_bytes();
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_map_to_gcp_runtimes() {
        for (raw, id) in [
            ("python3.12", "python312"),
            ("python312", "python312"),
            ("nodejs20.x", "nodejs20"),
            ("nodejs20", "nodejs20"),
        ] {
            assert_eq!(
                gcp_runtime(&Runtime::parse(raw)),
                Ok(id.to_string()),
                "{raw}"
            );
        }
        assert!(gcp_runtime(&Runtime::parse("java8")).is_err());
        let error = gcp_runtime(&Runtime::parse("nodejs10.x")).unwrap_err();
        assert!(error.contains("nodejs10"), "{error}");
    }

    #[test]
    fn node_entry_gets_a_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let files = entry_files(Language::Node, dir.path()).unwrap();
        let package: serde_json::Value = serde_json::from_slice(&files[1].contents).unwrap();
        assert_eq!(package["main"], NODE_ENTRY);
        assert_eq!(package[USER_MAIN_KEY], "index.js");
        std::fs::write(dir.path().join("package.json"), r#"{"main": "app.js"}"#).unwrap();
        let files = entry_files(Language::Node, dir.path()).unwrap();
        let package: serde_json::Value = serde_json::from_slice(&files[1].contents).unwrap();
        assert_eq!(package[USER_MAIN_KEY], "app.js");
        assert_eq!(
            entry_files(Language::Python, dir.path()).unwrap()[0].path,
            "main.py"
        );
    }
}
