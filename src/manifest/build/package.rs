//! `package` settings, service-wide and per function: `patterns`, legacy `include` /
//! `exclude`, `individually`, `artifact`, `excludeDevDependencies`.

use std::path::PathBuf;

use crate::model::{FunctionPackage, PackageSettings};

use super::super::yaml::{Node, Value};
use super::{Checker, join};

/// Keys a `package` mapping may hold.
const PACKAGE_KEYS: &[&str] = &[
    "patterns",
    "include",
    "exclude",
    "individually",
    "artifact",
    "excludeDevDependencies",
];

/// The patterns of a `package` mapping: `patterns`, then `exclude` as `!` patterns, then
/// `include` as plain ones (later entries win, so a legacy `include` re-adds what an
/// `exclude` dropped).
fn patterns(node: &Node, prefix: &str, check: &mut Checker<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, negate) in [("patterns", false), ("exclude", true), ("include", false)] {
        let Some(list) = node.get(key) else { continue };
        let key = join(prefix, key);
        let help = "write a list of glob patterns, e.g. `- '!node_modules/**'`";
        match &list.value {
            Value::Null => {}
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(pattern) = check.text(item, &format!("{key}.{i}"), help) {
                        if negate {
                            out.push(format!("!{pattern}"));
                        } else {
                            out.push(pattern);
                        }
                    }
                }
            }
            _ => check.error(
                &key,
                list.pos,
                format!("expected a list, found {}", list.kind()),
                help,
            ),
        }
    }
    out
}

fn artifact(node: &Node, prefix: &str, check: &mut Checker<'_>) -> Option<PathBuf> {
    let value = node.get("artifact")?;
    check
        .text(
            value,
            &join(prefix, "artifact"),
            "write the path of a prebuilt .zip",
        )
        .map(PathBuf::from)
}

/// Service-wide `package`.
pub(super) fn service_package(node: &Node, check: &mut Checker<'_>) -> PackageSettings {
    let mut settings = PackageSettings {
        exclude_dev_dependencies: true,
        ..PackageSettings::default()
    };
    match &node.value {
        Value::Null => return settings,
        Value::Map(_) => {}
        _ => {
            check.error(
                "package",
                node.pos,
                format!("expected a mapping, found {}", node.kind()),
                "write `package:` with `patterns:` and the like under it",
            );
            return settings;
        }
    }
    check.unknown_keys(node, "package", PACKAGE_KEYS, "package");
    settings.patterns = patterns(node, "package", check);
    settings.artifact = artifact(node, "package", check);
    if let Some(value) = node.get("individually") {
        settings.individually = check
            .boolean(value, "package.individually")
            .unwrap_or(false);
    }
    if let Some(value) = node.get("excludeDevDependencies") {
        settings.exclude_dev_dependencies = check
            .boolean(value, "package.excludeDevDependencies")
            .unwrap_or(true);
    }
    settings
}

/// A function's `package`.
pub(super) fn function_package(
    node: &Node,
    prefix: &str,
    check: &mut Checker<'_>,
) -> FunctionPackage {
    let mut settings = FunctionPackage::default();
    match &node.value {
        Value::Null => return settings,
        Value::Map(_) => {}
        _ => {
            check.error(
                prefix,
                node.pos,
                format!("expected a mapping, found {}", node.kind()),
                "write `package:` with `patterns:` and the like under it",
            );
            return settings;
        }
    }
    check.unknown_keys(node, prefix, PACKAGE_KEYS, "package");
    settings.patterns = patterns(node, prefix, check);
    settings.artifact = artifact(node, prefix, check);
    if let Some(value) = node.get("individually") {
        settings.individually = check.boolean(value, &join(prefix, "individually"));
    }
    settings
}
