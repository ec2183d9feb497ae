//! What the generated entry files of the REST adapters share.
//!
//! OpenWhisk and Google run a zip through an entry file of their own (`__main__.py`,
//! `main.py`, a Node.js module named by `package.json`'s `main`); each adapter supplies its
//! entry scripts and this module lays them out the same way. For Node.js the project's own
//! `package.json` is kept (dependencies, `"type"`...) with only `main` pointed at the entry.

use std::path::Path;

use serde_json::Value as Json;

use crate::model::Language;
use crate::package::GeneratedFile;

/// One adapter's entry scripts: (zip path, contents) for each language.
#[derive(Debug, Clone, Copy)]
pub struct EntryScripts<'a> {
    /// The Python entry, e.g. (`__main__.py`, ...).
    pub python: (&'a str, &'a str),
    /// The Node.js entry, e.g. (`__stratus__.cjs`, ...).
    pub node: (&'a str, &'a str),
    /// The package name written when the project has no `package.json`.
    pub node_package_name: &'a str,
}

/// The generated files a zip of `language` needs to enter through `scripts`.
pub fn entry_files(
    language: Language,
    root: &Path,
    scripts: &EntryScripts<'_>,
) -> anyhow::Result<Vec<GeneratedFile>> {
    let file = |path: &str, contents: Vec<u8>| GeneratedFile {
        path: path.to_string(),
        contents,
        executable: false,
    };
    Ok(match language {
        Language::Python => vec![file(scripts.python.0, scripts.python.1.as_bytes().to_vec())],
        Language::Node => vec![
            file(scripts.node.0, scripts.node.1.as_bytes().to_vec()),
            file(
                "package.json",
                package_json_with_main(root, scripts.node.0, scripts.node_package_name)?,
            ),
        ],
        Language::Other => Vec::new(),
    })
}

/// The project's `package.json` (from `root`, when there is one) with `main` set to `entry`;
/// a minimal private one named `default_name` otherwise.
pub fn package_json_with_main(
    root: &Path,
    entry: &str,
    default_name: &str,
) -> anyhow::Result<Vec<u8>> {
    let path = root.join("package.json");
    let mut package = match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(map)) => map,
            _ => anyhow::bail!(
                "{} is not a JSON object; fix it so stratus can point its `main` at the entry file",
                path.display()
            ),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut map = serde_json::Map::new();
            map.insert("name".into(), Json::String(default_name.into()));
            map.insert("private".into(), Json::Bool(true));
            map
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("reading {}", path.display())));
        }
    };
    package.insert("main".into(), Json::String(entry.into()));
    let mut text = serde_json::to_string_pretty(&Json::Object(package))?;
    text.push('\n');
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_package_json_is_kept_with_main_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fresh: Json =
            serde_json::from_slice(&package_json_with_main(dir.path(), "entry.cjs", "fn").unwrap())
                .unwrap();
        assert_eq!(fresh["main"], "entry.cjs");
        assert_eq!(fresh["name"], "fn");
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"name":"mine","type":"module","main":"index.js","dependencies":{"uuid":"9"}}"#,
        )
        .unwrap();
        let kept: Json =
            serde_json::from_slice(&package_json_with_main(dir.path(), "entry.cjs", "fn").unwrap())
                .unwrap();
        assert_eq!(kept["main"], "entry.cjs");
        assert_eq!(kept["name"], "mine");
        assert_eq!(kept["type"], "module");
        assert_eq!(kept["dependencies"]["uuid"], "9");
        std::fs::write(dir.path().join("package.json"), "[1]").unwrap();
        assert!(package_json_with_main(dir.path(), "e", "fn").is_err());
    }
}
